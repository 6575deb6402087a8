// SPDX-License-Identifier: GPL-2.0-only
/*
 * The emulated SCSI disk (scsi_disk.c) against anything a guest can send:
 * a sequence of commands, each a CDB with the guest's data buffer length,
 * and, for UNMAP, the parameter list the guest would supply.
 *
 * Input: byte 0 picks the disk (block size, read-only, thin, size); then
 * records of [len:1][data_len:4 LE][cdb:len & 31 bytes][list...]: a
 * record's bytes after the CDB up to the next record are the UNMAP list.
 * Record length byte bit 7 set: resize the disk first.
 *
 * Checked after every command: the answer is GOOD or CHECK CONDITION
 * with well-formed fixed sense; data never exceeds the buffer or the
 * answer area; every I/O action lies inside the disk and within the
 * limits the disk advertises; UNMAP extents lie inside the disk.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scsi_disk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sd_cmd cmd;
static struct sd_extent ext[SD_UNMAP_MAX_DESC];

static void check(const struct sd_disk *d, uint32_t data_len)
{
	uint64_t nr = sd_nr_blocks(d);

	if (cmd.status == SD_STATUS_CHECK) {
		if (cmd.sense_len != SD_SENSE_LEN || cmd.sense[0] != 0x70 ||
		    !cmd.sense[2] || cmd.act != SD_ACT_NONE || cmd.xfer)
			abort();
		return;
	}
	if (cmd.status != SD_STATUS_GOOD || cmd.sense_len)
		abort();
	if (cmd.xfer > data_len)
		abort();
	switch (cmd.act) {
	case SD_ACT_NONE:
		if (cmd.xfer > SD_DATA_MAX ||
		    (cmd.xfer && cmd.dir != SD_DIR_IN))
			abort();
		break;
	case SD_ACT_READ:
	case SD_ACT_WRITE:
		if (!cmd.nblocks || cmd.lba >= nr ||
		    cmd.nblocks > nr - cmd.lba ||
		    cmd.nblocks > d->max_xfer_blocks ||
		    cmd.xfer != (uint64_t)cmd.nblocks << d->block_shift ||
		    (cmd.act == SD_ACT_WRITE && d->readonly))
			abort();
		break;
	case SD_ACT_WRITE_SAME:
		if (!cmd.nblocks || cmd.lba >= nr ||
		    cmd.nblocks > nr - cmd.lba || d->readonly ||
		    cmd.nblocks > d->max_ws_blocks ||
		    (cmd.unmap && !d->discard))
			abort();
		break;
	case SD_ACT_UNMAP:
		if (!d->discard || d->readonly || cmd.xfer < 8)
			abort();
		break;
	case SD_ACT_FLUSH:
		if (cmd.xfer)
			abort();
		break;
	default:
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t luns[] = { 0, 1, 7 };
	struct sd_disk d;
	uint32_t data_len;
	size_t len, i;
	int n, j;

	if (size < 1)
		return 0;
	if (sd_init(&d, ((uint64_t)(data[0] >> 4) + 1) << 20,
		    data[0] & 1 ? 4096 : 512, (data[0] & 8) ? 4096 : 1 << 20,
		    data[0] & 2, data[0] & 4, "FUZZ"))
		abort();
	for (i = 1; i + 5 <= size;) {
		len = data[i] & 31;
		if (data[i] & 0x80)
			sd_resize(&d, ((uint64_t)(data[i] & 0x60) + 1) << 16);
		memcpy(&data_len, &data[i + 1], 4);
		i += 5;
		if (len > size - i)
			len = size - i;
		if (!sd_report_luns(&data[i], len, data_len, luns, 3, &cmd))
			sd_execute(&d, &data[i], len, data_len, &cmd);
		check(&d, data_len);
		if (len && (data[i] & 0x0f) == 0x0f)
			sd_no_lun(&data[i], len, data_len, &cmd);
		i += len;
		if (cmd.act == SD_ACT_UNMAP && cmd.status == SD_STATUS_GOOD) {
			len = cmd.xfer < size - i ? cmd.xfer : size - i;
			n = sd_unmap_parse(&d, &data[i], len, ext, &cmd);
			if (n > SD_UNMAP_MAX_DESC)
				abort();
			for (j = 0; j < n; j++)
				if (ext[j].lba >= sd_nr_blocks(&d) ||
				    ext[j].nblocks > sd_nr_blocks(&d) -
						     ext[j].lba)
					abort();
			i += len;
		}
	}
	return 0;
}
