// SPDX-License-Identifier: GPL-2.0-only
/*
 * The emulated SCSI disk: CDB in, answer or I/O action out.  See
 * scsi_disk.h for what it implements; field layouts follow SPC-4 and
 * SBC-3.  Every CDB byte is read from the caller's private copy, and
 * every field is checked before it is used: the CDB comes from the guest.
 */
#include <errno.h>
#include <string.h>

#include "scsi_disk.h"

#define SD_VENDOR	"KVMBUS  "		/* 8 bytes */
#define SD_PRODUCT	"Virtual Disk    "	/* 16 bytes */
#define SD_REVISION	"1.0 "			/* 4 bytes */
/* NAA 5: IEEE company id 0x000000 is not ours; use a locally made id. */
#define SD_NAA_OUI	0x525400u		/* QEMU's locally administered */

/* Opcodes. */
enum {
	OP_TEST_UNIT_READY	= 0x00,
	OP_REQUEST_SENSE	= 0x03,
	OP_READ_6		= 0x08,
	OP_WRITE_6		= 0x0a,
	OP_INQUIRY		= 0x12,
	OP_MODE_SENSE_6		= 0x1a,
	OP_START_STOP_UNIT	= 0x1b,
	OP_READ_CAPACITY_10	= 0x25,
	OP_READ_10		= 0x28,
	OP_WRITE_10		= 0x2a,
	OP_SYNC_CACHE_10	= 0x35,
	OP_WRITE_SAME_10	= 0x41,
	OP_UNMAP		= 0x42,
	OP_MODE_SENSE_10	= 0x5a,
	OP_READ_16		= 0x88,
	OP_WRITE_16		= 0x8a,
	OP_SYNC_CACHE_16	= 0x91,
	OP_WRITE_SAME_16	= 0x93,
	OP_SERVICE_ACTION_IN_16	= 0x9e,
	OP_REPORT_LUNS		= 0xa0,
};

#define SAI_READ_CAPACITY_16	0x10

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

/* The CDB length SPC-4 gives each opcode group; 0: vendor / reserved. */
static size_t cdb_group_len(uint8_t op)
{
	static const uint8_t len[8] = { 6, 10, 10, 0, 16, 12, 0, 0 };

	return len[op >> 5];
}

void sd_check(struct sd_cmd *c, uint8_t key, uint16_t asc)
{
	c->act = SD_ACT_NONE;
	c->dir = SD_DIR_NONE;
	c->xfer = 0;
	c->status = SD_STATUS_CHECK;
	c->sense_len = SD_SENSE_LEN;
	memset(c->sense, 0, sizeof(c->sense));
	c->sense[0] = 0x70;		/* current error, fixed format */
	c->sense[2] = key;
	c->sense[7] = SD_SENSE_LEN - 8;	/* additional sense length */
	c->sense[12] = (uint8_t)(asc >> 8);
	c->sense[13] = (uint8_t)asc;
}

/* INVALID FIELD IN CDB (or PARAMETER LIST) pointing at byte @byte. */
static void check_field(struct sd_cmd *c, uint16_t asc, unsigned int byte)
{
	sd_check(c, SD_KEY_ILLEGAL_REQUEST, asc);
	/* SKSV; C/D = 1 for the CDB, 0 for the parameter list. */
	c->sense[15] = 0x80 | (asc == SD_ASC_INVALID_FIELD_CDB ? 0x40 : 0);
	put16(&c->sense[16], (uint16_t)byte);
}

static void invalid_cdb(struct sd_cmd *c, unsigned int byte)
{
	check_field(c, SD_ASC_INVALID_FIELD_CDB, byte);
}

static void good(struct sd_cmd *c)
{
	c->act = SD_ACT_NONE;
	c->dir = SD_DIR_NONE;
	c->status = SD_STATUS_GOOD;
	c->sense_len = 0;
	c->xfer = 0;
}

/* Finish a data-in answer of @len bytes, cut to @alloc and @data_len. */
static void data_in(struct sd_cmd *c, uint32_t len, uint32_t alloc,
		    uint32_t data_len)
{
	good(c);
	if (len > alloc)
		len = alloc;
	if (len > data_len)
		len = data_len;
	c->xfer = len;
	c->dir = len ? SD_DIR_IN : SD_DIR_NONE;
}

void sd_io_error(struct sd_cmd *c, bool write)
{
	if (write)
		sd_check(c, SD_KEY_MEDIUM_ERROR, SD_ASC_WRITE_ERROR);
	else
		sd_check(c, SD_KEY_MEDIUM_ERROR, SD_ASC_UNRECOVERED_READ);
}

static uint32_t sd_block_size(const struct sd_disk *d)
{
	return 1u << d->block_shift;
}

/* Physical block exponent: report 4 KiB physical blocks. */
static uint8_t sd_pb_exp(const struct sd_disk *d)
{
	return (uint8_t)(12 - d->block_shift);
}

static bool serial_ok(const char *s)
{
	size_t n = strnlen(s, 21);

	if (n == 0 || n > 20)
		return false;
	for (; *s; s++)
		if (*s <= 0x20 || *s >= 0x7f)
			return false;
	return true;
}

int sd_init(struct sd_disk *d, uint64_t size_bytes, uint32_t block_size,
	    uint32_t max_xfer, bool readonly, bool discard,
	    const char *serial)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */
	const char *s;

	memset(d, 0, sizeof(*d));
	if (block_size == 512)
		d->block_shift = 9;
	else if (block_size == 4096)
		d->block_shift = 12;
	else
		return -EINVAL;
	if (!size_bytes || size_bytes & (block_size - 1) ||
	    max_xfer < block_size || !serial || !serial_ok(serial))
		return -EINVAL;
	atomic_init(&d->nr_blocks, size_bytes >> d->block_shift);
	atomic_init(&d->ua_capacity, false);
	d->max_xfer_blocks = max_xfer >> d->block_shift;
	/* Bounded so one command's hole punch or zeroing stays short. */
	d->max_unmap_blocks = (uint32_t)((1u << 30) >> d->block_shift);
	d->max_ws_blocks = d->max_unmap_blocks;
	d->readonly = readonly;
	d->discard = discard;
	strcpy(d->serial, serial);
	for (s = serial; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	/* NAA 5 (4 bits), OUI (24 bits), vendor specific id (36 bits). */
	put64(d->naa, 5ull << 60 | (uint64_t)SD_NAA_OUI << 36 |
		      (h & ((1ull << 36) - 1)));
	return 0;
}

int sd_resize(struct sd_disk *d, uint64_t size_bytes)
{
	if (!size_bytes || size_bytes & (sd_block_size(d) - 1))
		return -EINVAL;
	atomic_store(&d->nr_blocks, size_bytes >> d->block_shift);
	atomic_store(&d->ua_capacity, true);
	return 0;
}

/* Fixed-format sense data with no error: REQUEST SENSE's NO SENSE. */
static void no_sense(uint8_t *p)
{
	memset(p, 0, SD_SENSE_LEN);
	p[0] = 0x70;
	p[7] = SD_SENSE_LEN - 8;
}

static void cmd_request_sense(struct sd_disk *d, const uint8_t *cdb,
			      uint32_t data_len, struct sd_cmd *c)
{
	if (cdb[1] & 0x01) {		/* DESC: only fixed format here */
		invalid_cdb(c, 1);
		return;
	}
	no_sense(c->data);
	if (d && atomic_exchange(&d->ua_capacity, false)) {
		c->data[2] = SD_KEY_UNIT_ATTENTION;
		c->data[12] = SD_ASC_CAPACITY_CHANGED >> 8;
		c->data[13] = SD_ASC_CAPACITY_CHANGED & 0xff;
	} else if (!d) {
		c->data[2] = SD_KEY_ILLEGAL_REQUEST;
		c->data[12] = SD_ASC_LUN_NOT_SUPPORTED >> 8;
	}
	data_in(c, SD_SENSE_LEN, cdb[4], data_len);
}

static uint32_t inquiry_std(uint8_t *p)
{
	memset(p, 0, 36);
	p[0] = 0x00;			/* connected, direct access block */
	p[2] = 0x06;			/* SPC-4 */
	p[3] = 0x12;			/* HiSup, response data format 2 */
	p[4] = 36 - 5;
	p[7] = 0x02;			/* CmdQue */
	memcpy(&p[8], SD_VENDOR, 8);
	memcpy(&p[16], SD_PRODUCT, 16);
	memcpy(&p[32], SD_REVISION, 4);
	return 36;
}

static const uint8_t vpd_pages[] = { 0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2 };

static uint32_t vpd_00(uint8_t *p)
{
	memcpy(&p[4], vpd_pages, sizeof(vpd_pages));
	return 4 + sizeof(vpd_pages);
}

static uint32_t vpd_80(const struct sd_disk *d, uint8_t *p)
{
	size_t n = strlen(d->serial);

	memcpy(&p[4], d->serial, n);
	return (uint32_t)(4 + n);
}

static uint32_t vpd_83(const struct sd_disk *d, uint8_t *p)
{
	size_t n = strlen(d->serial);
	uint8_t *q = &p[4];

	/* NAA: binary, associated with the LU, type 3, 8 bytes. */
	q[0] = 0x01;
	q[1] = 0x03;
	q[3] = 8;
	memcpy(&q[4], d->naa, 8);
	q += 12;
	/* T10 vendor id: ASCII, LU, type 1: vendor then the serial. */
	q[0] = 0x02;
	q[1] = 0x01;
	q[3] = (uint8_t)(8 + n);
	memcpy(&q[4], SD_VENDOR, 8);
	memcpy(&q[12], d->serial, n);
	q += 12 + n;
	return (uint32_t)(q - p);
}

/* Block limits. */
static uint32_t vpd_b0(const struct sd_disk *d, uint8_t *p)
{
	uint32_t gran = 4096u >> d->block_shift;

	p[4] = 0x01;				/* WSNZ */
	put16(&p[6], (uint16_t)gran);		/* optimal granularity */
	put32(&p[8], d->max_xfer_blocks);
	put32(&p[12], d->max_xfer_blocks);	/* optimal transfer */
	if (d->discard) {
		put32(&p[20], d->max_unmap_blocks);
		put32(&p[24], SD_UNMAP_MAX_DESC);
		put32(&p[28], gran);		/* optimal unmap granularity */
	}
	put64(&p[36], d->max_ws_blocks);
	return 64;
}

/* Block device characteristics. */
static uint32_t vpd_b1(uint8_t *p)
{
	put16(&p[4], 1);			/* non-rotating medium */
	return 64;
}

/* Logical block provisioning. */
static uint32_t vpd_b2(const struct sd_disk *d, uint8_t *p)
{
	if (d->discard) {
		/* LBPU, LBPWS, LBPWS10, LBPRZ = 1 (holes read back as
		 * zeroes). */
		p[5] = 0x80 | 0x40 | 0x20 | 0x04;
		p[6] = 0x02;			/* thin provisioned */
	}
	return 8;
}

static void cmd_inquiry(const struct sd_disk *d, const uint8_t *cdb,
			uint32_t data_len, struct sd_cmd *c)
{
	uint32_t alloc = get16(&cdb[3]);
	uint8_t *p = c->data;
	uint32_t len;

	if (cdb[1] & 0xfe) {			/* CmdDt, reserved bits */
		invalid_cdb(c, 1);
		return;
	}
	memset(p, 0, 256);
	if (!(cdb[1] & 0x01)) {
		if (cdb[2]) {
			invalid_cdb(c, 2);
			return;
		}
		len = inquiry_std(p);
		if (!d)
			p[0] = 0x7f;		/* PQ 3, no device type */
		data_in(c, len, alloc, data_len);
		return;
	}
	if (!d) {			/* VPD of a LUN that is not there */
		sd_check(c, SD_KEY_ILLEGAL_REQUEST, SD_ASC_LUN_NOT_SUPPORTED);
		return;
	}
	switch (cdb[2]) {
	case 0x00:
		len = vpd_00(p);
		break;
	case 0x80:
		len = vpd_80(d, p);
		break;
	case 0x83:
		len = vpd_83(d, p);
		break;
	case 0xb0:
		len = vpd_b0(d, p);
		break;
	case 0xb1:
		len = vpd_b1(p);
		break;
	case 0xb2:
		len = vpd_b2(d, p);
		break;
	default:
		invalid_cdb(c, 2);
		return;
	}
	p[1] = cdb[2];
	put16(&p[2], (uint16_t)(len - 4));
	data_in(c, len, alloc, data_len);
}

/* Mode pages, current values (@changeable: the mask, all zeroes). */
static uint32_t mode_page(uint8_t code, bool changeable, uint8_t *p)
{
	switch (code) {
	case 0x01:			/* read-write error recovery */
		memset(p, 0, 12);
		p[0] = 0x01;
		p[1] = 10;
		return 12;
	case 0x08:			/* caching */
		memset(p, 0, 20);
		p[0] = 0x08;
		p[1] = 18;
		if (!changeable)
			p[2] = 0x04;	/* WCE: volatile cache, flush it */
		return 20;
	case 0x0a:			/* control */
		memset(p, 0, 12);
		p[0] = 0x0a;
		p[1] = 10;
		return 12;
	}
	return 0;
}

static void cmd_mode_sense(const struct sd_disk *d, const uint8_t *cdb,
			   bool ten, uint32_t data_len, struct sd_cmd *c)
{
	static const uint8_t all[] = { 0x01, 0x08, 0x0a };
	uint8_t pc = cdb[2] >> 6, code = cdb[2] & 0x3f, sub = cdb[3];
	bool dbd = cdb[1] & 0x08, llba = ten && (cdb[1] & 0x10);
	uint32_t hdr = ten ? 8 : 4, bdl = 0, len, alloc, i;
	uint64_t nr = sd_nr_blocks(d);
	uint8_t *p = c->data;

	if (cdb[1] & (ten ? 0xe7 : 0xf7)) {
		invalid_cdb(c, 1);
		return;
	}
	if (pc == 3) {
		sd_check(c, SD_KEY_ILLEGAL_REQUEST,
			 SD_ASC_SAVING_NOT_SUPPORTED);
		return;
	}
	if (sub && !(code == 0x3f && sub == 0xff)) {
		invalid_cdb(c, 3);
		return;
	}
	memset(p, 0, 512);
	if (!dbd)
		bdl = llba ? 16 : 8;
	len = hdr;
	if (bdl == 8) {
		/* Short descriptor: blocks capped at 0xffffffff. */
		put32(&p[len], nr > 0xffffffffull ? 0xffffffffu :
			       (uint32_t)nr);
		put32(&p[len + 4], sd_block_size(d));
		p[len + 4] = 0;		/* reserved */
	} else if (bdl == 16) {
		put64(&p[len], nr);
		put32(&p[len + 12], sd_block_size(d));
	}
	len += bdl;
	if (code == 0x3f) {
		for (i = 0; i < sizeof(all); i++)
			len += mode_page(all[i], pc == 1, &p[len]);
	} else {
		i = mode_page(code, pc == 1, &p[len]);
		if (!i) {
			invalid_cdb(c, 2);
			return;
		}
		len += i;
	}
	/* Device-specific parameter: WP, DPOFUA (FUA honoured). */
	if (ten) {
		put16(&p[0], (uint16_t)(len - 2));
		p[3] = (d->readonly ? 0x80 : 0) | 0x10;
		p[4] = llba && bdl ? 0x01 : 0;
		put16(&p[6], (uint16_t)bdl);
		alloc = get16(&cdb[7]);
	} else {
		p[0] = (uint8_t)(len - 1);
		p[2] = (d->readonly ? 0x80 : 0) | 0x10;
		p[3] = (uint8_t)bdl;
		alloc = cdb[4];
	}
	data_in(c, len, alloc, data_len);
}

static void cmd_read_capacity_10(const struct sd_disk *d, const uint8_t *cdb,
				 uint32_t data_len, struct sd_cmd *c)
{
	uint64_t last = sd_nr_blocks(d) - 1;

	/* PMI is obsolete; an LBA without it is invalid. */
	if (!(cdb[8] & 0x01) && get32(&cdb[2])) {
		invalid_cdb(c, 2);
		return;
	}
	put32(&c->data[0], last > 0xffffffffull ? 0xffffffffu :
					      (uint32_t)last);
	put32(&c->data[4], sd_block_size(d));
	data_in(c, 8, 8, data_len);
}

static void cmd_read_capacity_16(const struct sd_disk *d, const uint8_t *cdb,
				 uint32_t data_len, struct sd_cmd *c)
{
	uint8_t *p = c->data;

	if ((cdb[1] & 0x1f) != SAI_READ_CAPACITY_16) {
		invalid_cdb(c, 1);
		return;
	}
	memset(p, 0, 32);
	put64(&p[0], sd_nr_blocks(d) - 1);
	put32(&p[8], sd_block_size(d));
	p[13] = sd_pb_exp(d);
	if (d->discard)
		p[14] = 0x80 | 0x40;		/* LBPME, LBPRZ */
	data_in(c, 32, get32(&cdb[10]), data_len);
}

/* A range of blocks that must lie inside the disk. */
static bool range_ok(const struct sd_disk *d, uint64_t lba, uint64_t n)
{
	uint64_t nr = sd_nr_blocks(d);

	return lba < nr && n <= nr - lba;
}

static void cmd_rw(struct sd_disk *d, const uint8_t *cdb, uint32_t data_len,
		   struct sd_cmd *c)
{
	bool write = cdb[0] == OP_WRITE_6 || cdb[0] == OP_WRITE_10 ||
		     cdb[0] == OP_WRITE_16;
	uint64_t lba, bytes;
	uint32_t n;

	switch (cdb[0]) {
	case OP_READ_6:
	case OP_WRITE_6:
		lba = (uint32_t)(cdb[1] & 0x1f) << 16 | get16(&cdb[2]);
		n = cdb[4] ? cdb[4] : 256;
		break;
	case OP_READ_10:
	case OP_WRITE_10:
		lba = get32(&cdb[2]);
		n = get16(&cdb[7]);
		break;
	default:
		lba = get64(&cdb[2]);
		n = get32(&cdb[10]);
		break;
	}
	/* RDPROTECT / WRPROTECT: no protection information here. */
	if (cdb[0] != OP_READ_6 && cdb[0] != OP_WRITE_6 && (cdb[1] & 0xe0)) {
		invalid_cdb(c, 1);
		return;
	}
	if (write && d->readonly) {
		sd_check(c, SD_KEY_DATA_PROTECT, SD_ASC_WRITE_PROTECTED);
		return;
	}
	if (!range_ok(d, lba, n)) {
		sd_check(c, SD_KEY_ILLEGAL_REQUEST, SD_ASC_LBA_OUT_OF_RANGE);
		return;
	}
	if (n > d->max_xfer_blocks) {
		invalid_cdb(c, cdb[0] < 0x20 ? 4 : cdb[0] < 0x80 ? 7 : 10);
		return;
	}
	bytes = (uint64_t)n << d->block_shift;
	if (bytes > data_len) {		/* the buffer cannot hold it */
		invalid_cdb(c, cdb[0] < 0x20 ? 4 : cdb[0] < 0x80 ? 7 : 10);
		return;
	}
	good(c);
	if (!n)
		return;
	c->act = write ? SD_ACT_WRITE : SD_ACT_READ;
	c->dir = write ? SD_DIR_OUT : SD_DIR_IN;
	c->lba = lba;
	c->nblocks = n;
	c->fua = cdb[0] != OP_READ_6 && cdb[0] != OP_WRITE_6 &&
		 (cdb[1] & 0x08);
	c->xfer = (uint32_t)bytes;
}

static void cmd_sync_cache(const struct sd_disk *d, const uint8_t *cdb,
			   struct sd_cmd *c)
{
	uint64_t lba;
	uint32_t n;

	if (cdb[0] == OP_SYNC_CACHE_10) {
		lba = get32(&cdb[2]);
		n = get16(&cdb[7]);
	} else {
		lba = get64(&cdb[2]);
		n = get32(&cdb[10]);
	}
	if (!range_ok(d, lba, n)) {
		sd_check(c, SD_KEY_ILLEGAL_REQUEST, SD_ASC_LBA_OUT_OF_RANGE);
		return;
	}
	good(c);
	c->act = SD_ACT_FLUSH;
}

static void cmd_unmap(const struct sd_disk *d, const uint8_t *cdb,
		      uint32_t data_len, struct sd_cmd *c)
{
	uint32_t len = get16(&cdb[7]);

	if (!d->discard) {
		sd_check(c, SD_KEY_ILLEGAL_REQUEST, SD_ASC_INVALID_OPCODE);
		return;
	}
	if (cdb[1] & 0x01) {			/* ANCHOR: not supported */
		invalid_cdb(c, 1);
		return;
	}
	if (d->readonly) {
		sd_check(c, SD_KEY_DATA_PROTECT, SD_ASC_WRITE_PROTECTED);
		return;
	}
	if (!len) {
		good(c);
		return;
	}
	if (len < 8 || len > data_len ||
	    len > 8 + 16 * SD_UNMAP_MAX_DESC) {
		sd_check(c, SD_KEY_ILLEGAL_REQUEST, SD_ASC_PARAM_LIST_LENGTH);
		return;
	}
	good(c);
	c->act = SD_ACT_UNMAP;
	c->dir = SD_DIR_OUT;
	c->xfer = len;
}

int sd_unmap_parse(const struct sd_disk *d, const uint8_t *buf, size_t len,
		   struct sd_extent *ext, struct sd_cmd *c)
{
	uint32_t bdl, i, n;
	const uint8_t *q;

	if (len < 8) {
		sd_check(c, SD_KEY_ILLEGAL_REQUEST, SD_ASC_PARAM_LIST_LENGTH);
		return -1;
	}
	bdl = get16(&buf[2]);
	if (bdl > len - 8)
		bdl = (uint32_t)(len - 8);
	n = bdl / 16;
	if (n > SD_UNMAP_MAX_DESC) {
		check_field(c, SD_ASC_INVALID_FIELD_PARAM, 2);
		return -1;
	}
	for (i = 0; i < n; i++) {
		q = &buf[8 + 16 * i];
		ext[i].lba = get64(q);
		ext[i].nblocks = get32(&q[8]);
		if (ext[i].nblocks > d->max_unmap_blocks) {
			check_field(c, SD_ASC_INVALID_FIELD_PARAM,
				    8 + 16 * i + 8);
			return -1;
		}
		if (!range_ok(d, ext[i].lba, ext[i].nblocks)) {
			sd_check(c, SD_KEY_ILLEGAL_REQUEST,
				 SD_ASC_LBA_OUT_OF_RANGE);
			return -1;
		}
	}
	good(c);
	return (int)n;
}

/*
 * WRITE SAME(16), or (10) when @ten: the same but for 32-bit LBAs,
 * 16-bit block counts and no NDOB.  Linux sends (10) for small write
 * zeroes without unmap (fallocate ZERO_RANGE on the disk, as mkfs.ext4
 * does); refusing it makes sd turn write zeroes off for good, and every
 * later zeroing is written out as data.
 */
static void cmd_write_same(const struct sd_disk *d, const uint8_t *cdb,
			   bool ten, uint32_t data_len, struct sd_cmd *c)
{
	bool unmap = cdb[1] & 0x08, ndob = !ten && cdb[1] & 0x01;
	uint64_t lba = ten ? get32(&cdb[2]) : get64(&cdb[2]);
	uint32_t n = ten ? get16(&cdb[7]) : get32(&cdb[10]);

	/* WRPROTECT, ANCHOR, PBDATA, LBDATA (and (10)'s reserved bit 0);
	 * UNMAP only on a thin disk. */
	if (cdb[1] & (ten ? 0xf7 : 0xf6) || (unmap && !d->discard)) {
		invalid_cdb(c, 1);
		return;
	}
	if (d->readonly) {
		sd_check(c, SD_KEY_DATA_PROTECT, SD_ASC_WRITE_PROTECTED);
		return;
	}
	if (!n || n > d->max_ws_blocks) {	/* WSNZ: 0 is invalid */
		invalid_cdb(c, ten ? 7 : 10);
		return;
	}
	if (!range_ok(d, lba, n)) {
		sd_check(c, SD_KEY_ILLEGAL_REQUEST, SD_ASC_LBA_OUT_OF_RANGE);
		return;
	}
	if (!ndob && data_len < sd_block_size(d)) {
		invalid_cdb(c, 1);
		return;
	}
	good(c);
	c->act = SD_ACT_WRITE_SAME;
	c->lba = lba;
	c->nblocks = n;
	c->unmap = unmap;
	c->xfer = ndob ? 0 : sd_block_size(d);
	c->dir = ndob ? SD_DIR_NONE : SD_DIR_OUT;
}

/* Common checks: CDB length, control byte.  False: @c is the answer. */
static bool cdb_ok(const uint8_t *cdb, size_t cdb_len, struct sd_cmd *c)
{
	size_t need;

	if (!cdb_len) {
		invalid_cdb(c, 0);
		return false;
	}
	need = cdb_group_len(cdb[0]);
	if (!need) {
		sd_check(c, SD_KEY_ILLEGAL_REQUEST, SD_ASC_INVALID_OPCODE);
		return false;
	}
	if (cdb_len < need) {
		invalid_cdb(c, (unsigned int)cdb_len - 1);
		return false;
	}
	/* Control byte: NACA and the obsolete link bits are unsupported. */
	if (cdb[need - 1] & 0x07) {
		invalid_cdb(c, (unsigned int)need - 1);
		return false;
	}
	return true;
}

static bool sees_unit_attention(uint8_t op)
{
	return op != OP_INQUIRY && op != OP_REPORT_LUNS &&
	       op != OP_REQUEST_SENSE;
}

void sd_execute(struct sd_disk *d, const uint8_t *cdb, size_t cdb_len,
		uint32_t data_len, struct sd_cmd *c)
{
	c->act = SD_ACT_NONE;
	c->lba = 0;
	c->nblocks = 0;
	c->fua = false;
	c->unmap = false;
	if (!cdb_ok(cdb, cdb_len, c))
		return;
	if (sees_unit_attention(cdb[0]) &&
	    atomic_load(&d->ua_capacity) &&
	    atomic_exchange(&d->ua_capacity, false)) {
		sd_check(c, SD_KEY_UNIT_ATTENTION, SD_ASC_CAPACITY_CHANGED);
		return;
	}
	switch (cdb[0]) {
	case OP_TEST_UNIT_READY:
	case OP_START_STOP_UNIT:
		good(c);
		break;
	case OP_REQUEST_SENSE:
		cmd_request_sense(d, cdb, data_len, c);
		break;
	case OP_INQUIRY:
		cmd_inquiry(d, cdb, data_len, c);
		break;
	case OP_MODE_SENSE_6:
		cmd_mode_sense(d, cdb, false, data_len, c);
		break;
	case OP_MODE_SENSE_10:
		cmd_mode_sense(d, cdb, true, data_len, c);
		break;
	case OP_READ_CAPACITY_10:
		cmd_read_capacity_10(d, cdb, data_len, c);
		break;
	case OP_SERVICE_ACTION_IN_16:
		cmd_read_capacity_16(d, cdb, data_len, c);
		break;
	case OP_READ_6:
	case OP_WRITE_6:
	case OP_READ_10:
	case OP_WRITE_10:
	case OP_READ_16:
	case OP_WRITE_16:
		cmd_rw(d, cdb, data_len, c);
		break;
	case OP_SYNC_CACHE_10:
	case OP_SYNC_CACHE_16:
		cmd_sync_cache(d, cdb, c);
		break;
	case OP_UNMAP:
		cmd_unmap(d, cdb, data_len, c);
		break;
	case OP_WRITE_SAME_10:
	case OP_WRITE_SAME_16:
		cmd_write_same(d, cdb, cdb[0] == OP_WRITE_SAME_10, data_len, c);
		break;
	default:
		sd_check(c, SD_KEY_ILLEGAL_REQUEST, SD_ASC_INVALID_OPCODE);
		break;
	}
}

void sd_no_lun(const uint8_t *cdb, size_t cdb_len, uint32_t data_len,
	       struct sd_cmd *c)
{
	c->act = SD_ACT_NONE;
	if (!cdb_ok(cdb, cdb_len, c))
		return;
	if (cdb[0] == OP_INQUIRY)
		cmd_inquiry(NULL, cdb, data_len, c);
	else if (cdb[0] == OP_REQUEST_SENSE)
		cmd_request_sense(NULL, cdb, data_len, c);
	else
		sd_check(c, SD_KEY_ILLEGAL_REQUEST, SD_ASC_LUN_NOT_SUPPORTED);
}

bool sd_report_luns(const uint8_t *cdb, size_t cdb_len, uint32_t data_len,
		    const uint16_t *luns, unsigned int nr, struct sd_cmd *c)
{
	uint32_t alloc, len, i;
	uint8_t *p = c->data;

	if (!cdb_len || cdb[0] != OP_REPORT_LUNS)
		return false;
	c->act = SD_ACT_NONE;
	if (!cdb_ok(cdb, cdb_len, c))
		return true;
	/* SELECT REPORT 0, 1, 2: all the same here (no well-known LUNs). */
	if (cdb[2] > 2) {
		invalid_cdb(c, 2);
		return true;
	}
	alloc = get32(&cdb[6]);
	if (alloc < 16) {
		invalid_cdb(c, 6);
		return true;
	}
	if (nr > 256)
		nr = 256;
	len = 8 + 8 * nr;
	memset(p, 0, len);
	put32(&p[0], 8 * nr);
	for (i = 0; i < nr; i++)	/* peripheral device addressing */
		put16(&p[8 + 8 * i], luns[i] & 0xff);
	data_in(c, len, alloc, data_len);
	return true;
}
