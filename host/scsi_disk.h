/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The SCSI disk kvmbusd emulates, as pure logic: a CDB goes in, and out
 * comes either the finished answer (status, sense, data-in bytes) or one
 * I/O action for the caller to carry out on the backing store (read,
 * write, flush, unmap, write same).  No file, no guest memory, no
 * threads: everything here is unit-tested and fuzzed on its own, and
 * host/vsp_scsi.c does the I/O.
 *
 * Commands (SBC-3 / SPC-4 subsets): TEST UNIT READY, REQUEST SENSE,
 * INQUIRY (standard data and VPD pages 00, 80, 83, b0, b1, b2), MODE
 * SENSE 6/10 (pages 01, 08, 0a, 3f), START STOP UNIT, READ CAPACITY
 * 10/16, READ and WRITE 6/10/16 (FUA), SYNCHRONIZE CACHE 10/16, UNMAP,
 * WRITE SAME 16 (UNMAP, NDOB), REPORT LUNS (sd_report_luns()).  Anything
 * else is CHECK CONDITION, ILLEGAL REQUEST, INVALID COMMAND OPERATION
 * CODE; a bad field is INVALID FIELD IN CDB with the field pointer; an
 * LBA range past the end is LOGICAL BLOCK ADDRESS OUT OF RANGE; writes
 * to a read-only disk are DATA PROTECT, WRITE PROTECTED.
 *
 * Threading: a disk may serve several queues at once.  The only state a
 * command changes (the pending unit attention) and the only one that
 * changes under it (the size, sd_resize()) are atomics, so sd_execute()
 * needs no lock.
 */
#ifndef KVMBUSD_SCSI_DISK_H
#define KVMBUSD_SCSI_DISK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* SAM status codes. */
#define SD_STATUS_GOOD		0x00
#define SD_STATUS_CHECK		0x02

/* Sense keys. */
#define SD_KEY_NO_SENSE		0x0
#define SD_KEY_NOT_READY	0x2
#define SD_KEY_MEDIUM_ERROR	0x3
#define SD_KEY_HARDWARE_ERROR	0x4
#define SD_KEY_ILLEGAL_REQUEST	0x5
#define SD_KEY_UNIT_ATTENTION	0x6
#define SD_KEY_DATA_PROTECT	0x7
#define SD_KEY_ABORTED_COMMAND	0xb

/* Additional sense code and qualifier, (asc << 8) | ascq. */
#define SD_ASC_NONE			0x0000
#define SD_ASC_UNRECOVERED_READ		0x1100
#define SD_ASC_WRITE_ERROR		0x0c00
#define SD_ASC_PARAM_LIST_LENGTH	0x1a00
#define SD_ASC_INVALID_OPCODE		0x2000
#define SD_ASC_LBA_OUT_OF_RANGE		0x2100
#define SD_ASC_INVALID_FIELD_CDB	0x2400
#define SD_ASC_LUN_NOT_SUPPORTED	0x2500
#define SD_ASC_INVALID_FIELD_PARAM	0x2600
#define SD_ASC_WRITE_PROTECTED		0x2700
#define SD_ASC_CAPACITY_CHANGED		0x2a09
#define SD_ASC_SAVING_NOT_SUPPORTED	0x3900
#define SD_ASC_INTERNAL_TARGET_FAILURE	0x4400

#define SD_SENSE_LEN		18	/* fixed format */
#define SD_DATA_MAX		4096	/* largest emulated data-in */
#define SD_UNMAP_MAX_DESC	64	/* block descriptors per UNMAP */

enum sd_action {
	SD_ACT_NONE = 0,	/* done: status, sense, data[0..xfer) */
	SD_ACT_READ,		/* image -> guest: lba, nblocks */
	SD_ACT_WRITE,		/* guest -> image: lba, nblocks, fua */
	SD_ACT_FLUSH,		/* fdatasync */
	SD_ACT_UNMAP,		/* data-out (xfer bytes): sd_unmap_parse() */
	SD_ACT_WRITE_SAME,	/* one block (xfer, or 0 with NDOB) over
				 * lba, nblocks; unmap allowed if set */
};

enum sd_dir {
	SD_DIR_NONE = 0,
	SD_DIR_OUT,		/* guest -> device */
	SD_DIR_IN,		/* device -> guest */
};

struct sd_cmd {
	enum sd_action act;
	enum sd_dir dir;	/* of the xfer bytes */
	uint8_t status;		/* SD_STATUS_* */
	uint8_t sense_len;	/* 0, or SD_SENSE_LEN */
	uint8_t sense[SD_SENSE_LEN];
	uint64_t lba;
	uint32_t nblocks;
	bool fua;
	bool unmap;
	uint32_t xfer;		/* bytes the command moves */
	uint8_t data[SD_DATA_MAX];	/* SD_ACT_NONE: the data-in */
};

/* One range of an UNMAP parameter list, checked against the size. */
struct sd_extent {
	uint64_t lba;
	uint32_t nblocks;
};

struct sd_disk {
	_Atomic uint64_t nr_blocks;
	atomic_bool ua_capacity;	/* UNIT ATTENTION 2a/09 pending */
	uint32_t block_shift;		/* 9 (512) or 12 (4096) */
	uint32_t max_xfer_blocks;	/* READ / WRITE limit */
	uint32_t max_unmap_blocks;	/* per UNMAP descriptor */
	uint32_t max_ws_blocks;		/* per WRITE SAME */
	bool readonly;
	bool discard;			/* thin: UNMAP, WRITE SAME UNMAP */
	char serial[21];		/* printable ASCII, NUL-terminated */
	uint8_t naa[8];			/* NAA 5 identifier (VPD 83) */
};

/*
 * sd_init() - a disk of @size_bytes
 * @serial: up to 20 printable ASCII characters; the NAA identifier is
 *	derived from it
 * @max_xfer: the controller's bytes per request (>= the block size)
 * Return: 0, or -EINVAL for a block size other than 512 / 4096, a size
 * that is not a whole number of blocks or is zero, or a bad serial.
 */
int sd_init(struct sd_disk *d, uint64_t size_bytes, uint32_t block_size,
	    uint32_t max_xfer, bool readonly, bool discard,
	    const char *serial);

/*
 * sd_resize() - change the size at run time; the next command (but
 * INQUIRY, REPORT LUNS, REQUEST SENSE) reports CAPACITY DATA HAS CHANGED.
 * Return: 0 or -EINVAL (zero, or not a whole number of blocks).
 */
int sd_resize(struct sd_disk *d, uint64_t size_bytes);

static inline uint64_t sd_nr_blocks(const struct sd_disk *d)
{
	return atomic_load(&((struct sd_disk *)d)->nr_blocks);
}

/*
 * sd_execute() - decode and, where it can, answer one CDB
 * @data_len: the bytes of the request's data buffer (the guest's);
 *	data-in is cut to it, and a READ / WRITE larger than it fails
 *	with INVALID FIELD IN CDB
 *
 * Fills all of @c.  For SD_ACT_NONE the command is finished; otherwise
 * the caller does the action, and on failure calls sd_io_error().
 */
void sd_execute(struct sd_disk *d, const uint8_t *cdb, size_t cdb_len,
		uint32_t data_len, struct sd_cmd *c);

/*
 * sd_no_lun() - answer a CDB for a LUN that does not exist: INQUIRY with
 * peripheral qualifier 3, REQUEST SENSE and everything else with
 * LOGICAL UNIT NOT SUPPORTED.  (REPORT LUNS: the caller's sd_report_luns.)
 */
void sd_no_lun(const uint8_t *cdb, size_t cdb_len, uint32_t data_len,
	       struct sd_cmd *c);

/*
 * sd_report_luns() - answer REPORT LUNS with @nr LUN numbers (< 256)
 * Return: true if @cdb is REPORT LUNS (and @c is filled), else false.
 */
bool sd_report_luns(const uint8_t *cdb, size_t cdb_len, uint32_t data_len,
		    const uint16_t *luns, unsigned int nr, struct sd_cmd *c);

/*
 * sd_unmap_parse() - check an UNMAP parameter list (SD_ACT_UNMAP's
 * data-out) against the disk
 * @ext: room for SD_UNMAP_MAX_DESC extents
 * Return: the number of extents (0 is fine: nothing to do), or -1 with
 * @c set to CHECK CONDITION and its sense.
 */
int sd_unmap_parse(const struct sd_disk *d, const uint8_t *buf, size_t len,
		   struct sd_extent *ext, struct sd_cmd *c);

/* The action failed on the backing store: MEDIUM ERROR, or write error. */
void sd_io_error(struct sd_cmd *c, bool write);

/* Set @c to CHECK CONDITION with @key and @asc (SD_ASC_*). */
void sd_check(struct sd_cmd *c, uint8_t key, uint16_t asc);

#endif /* KVMBUSD_SCSI_DISK_H */
