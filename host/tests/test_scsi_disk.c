// SPDX-License-Identifier: GPL-2.0-only
/*
 * The emulated SCSI disk (scsi_disk.c): every command, every error.
 */
#include <errno.h>
#include <stdint.h>

#include "helpers.h"
#include "scsi_disk.h"

#define MiB		(1ull << 20)
#define BIG		(1u << 20)	/* a data buffer larger than any answer */

static struct sd_disk disk;
static struct sd_cmd cmd;

static int setup(void **state)
{
	(void)state;
	assert_int_equal(sd_init(&disk, 64 * MiB, 512, 1 << 20, false, true,
				 "KVB0001"), 0);
	memset(&cmd, 0xa5, sizeof(cmd));
	return 0;
}

static void run(const uint8_t *cdb, size_t len, uint32_t data_len)
{
	sd_execute(&disk, cdb, len, data_len, &cmd);
}

#define RUN(data_len, ...) do { \
	const uint8_t cdb_[] = { __VA_ARGS__ }; \
	run(cdb_, sizeof(cdb_), data_len); \
} while (0)

static void expect_good(void)
{
	assert_int_equal(cmd.status, SD_STATUS_GOOD);
	assert_int_equal(cmd.sense_len, 0);
}

static void expect_cc(uint8_t key, uint16_t asc)
{
	assert_int_equal(cmd.status, SD_STATUS_CHECK);
	assert_int_equal(cmd.act, SD_ACT_NONE);
	assert_int_equal(cmd.xfer, 0);
	assert_int_equal(cmd.sense_len, SD_SENSE_LEN);
	assert_int_equal(cmd.sense[0], 0x70);
	assert_int_equal(cmd.sense[2], key);
	assert_int_equal(cmd.sense[7], 10);
	assert_int_equal(cmd.sense[12], asc >> 8);
	assert_int_equal(cmd.sense[13], asc & 0xff);
}

static void expect_field(unsigned int byte)
{
	expect_cc(SD_KEY_ILLEGAL_REQUEST, SD_ASC_INVALID_FIELD_CDB);
	assert_int_equal(cmd.sense[15], 0xc0);	/* SKSV, C/D */
	assert_int_equal(cmd.sense[16] << 8 | cmd.sense[17], byte);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static void test_init_checks(void **state)
{
	struct sd_disk d;

	(void)state;
	assert_int_equal(sd_init(&d, 1 * MiB, 1024, 1 << 20, 0, 0, "s"),
			 -EINVAL);
	assert_int_equal(sd_init(&d, 0, 512, 1 << 20, 0, 0, "s"), -EINVAL);
	assert_int_equal(sd_init(&d, 1000, 512, 1 << 20, 0, 0, "s"), -EINVAL);
	assert_int_equal(sd_init(&d, MiB, 512, 256, 0, 0, "s"), -EINVAL);
	assert_int_equal(sd_init(&d, MiB, 512, 4096, 0, 0, ""), -EINVAL);
	assert_int_equal(sd_init(&d, MiB, 512, 4096, 0, 0, "a b"), -EINVAL);
	assert_int_equal(sd_init(&d, MiB, 512, 4096, 0, 0,
				 "123456789012345678901"), -EINVAL);
	assert_int_equal(sd_init(&d, MiB, 4096, 4096, 0, 0,
				 "12345678901234567890"), 0);
	assert_int_equal(sd_nr_blocks(&d), 256);
	assert_int_equal(sd_resize(&d, 4097), -EINVAL);
	assert_int_equal(sd_resize(&d, 0), -EINVAL);
}

static void test_tur_and_start_stop(void **state)
{
	(void)state;
	RUN(0, 0x00, 0, 0, 0, 0, 0);
	expect_good();
	assert_int_equal(cmd.act, SD_ACT_NONE);
	RUN(0, 0x1b, 0, 0, 0, 0x01, 0);
	expect_good();
}

static void test_inquiry_std(void **state)
{
	(void)state;
	RUN(BIG, 0x12, 0, 0, 0, 96, 0);
	expect_good();
	assert_int_equal(cmd.xfer, 36);
	assert_int_equal(cmd.dir, SD_DIR_IN);
	assert_int_equal(cmd.data[0], 0);	/* disk, connected */
	assert_int_equal(cmd.data[2], 6);	/* SPC-4 */
	assert_int_equal(cmd.data[4], 31);
	assert_memory_equal(&cmd.data[8], "KVMBUS  Virtual Disk    1.0 ", 28);
	/* Cut to the allocation length and to the buffer. */
	RUN(BIG, 0x12, 0, 0, 0, 5, 0);
	assert_int_equal(cmd.xfer, 5);
	RUN(3, 0x12, 0, 0, 0, 96, 0);
	assert_int_equal(cmd.xfer, 3);
	RUN(BIG, 0x12, 0, 0, 0, 0, 0);
	expect_good();
	assert_int_equal(cmd.xfer, 0);
	assert_int_equal(cmd.dir, SD_DIR_NONE);
	/* A page code without EVPD, CmdDt. */
	RUN(BIG, 0x12, 0, 0x80, 0, 96, 0);
	expect_field(2);
	RUN(BIG, 0x12, 0x02, 0, 0, 96, 0);
	expect_field(1);
}

static void inquiry_vpd(uint8_t page)
{
	RUN(BIG, 0x12, 1, page, 0x01, 0, 0);
	expect_good();
	assert_int_equal(cmd.data[1], page);
	assert_int_equal(cmd.xfer, 4 + (cmd.data[2] << 8 | cmd.data[3]));
}

static void test_inquiry_vpd(void **state)
{
	(void)state;
	inquiry_vpd(0x00);
	assert_int_equal(cmd.xfer, 10);
	assert_memory_equal(&cmd.data[4], "\x00\x80\x83\xb0\xb1\xb2", 6);

	inquiry_vpd(0x80);
	assert_int_equal(cmd.xfer, 4 + 7);
	assert_memory_equal(&cmd.data[4], "KVB0001", 7);

	inquiry_vpd(0x83);
	assert_int_equal(cmd.data[4], 0x01);	/* binary */
	assert_int_equal(cmd.data[5], 0x03);	/* NAA */
	assert_int_equal(cmd.data[7], 8);
	assert_int_equal(cmd.data[8] >> 4, 5);	/* NAA 5 */
	assert_int_equal(cmd.data[16], 0x02);	/* ASCII */
	assert_int_equal(cmd.data[17], 0x01);	/* T10 vendor id */
	assert_int_equal(cmd.data[19], 15);
	assert_memory_equal(&cmd.data[20], "KVMBUS  KVB0001", 15);

	inquiry_vpd(0xb0);
	assert_int_equal(cmd.xfer, 64);
	assert_int_equal(cmd.data[4] & 1, 1);			/* WSNZ */
	assert_int_equal(be32(&cmd.data[8]), 2048);		/* 1 MiB */
	assert_int_equal(be32(&cmd.data[20]), disk.max_unmap_blocks);
	assert_int_equal(be32(&cmd.data[24]), SD_UNMAP_MAX_DESC);
	assert_int_equal(be32(&cmd.data[28]), 8);
	assert_int_equal(be64(&cmd.data[36]), disk.max_ws_blocks);

	inquiry_vpd(0xb1);
	assert_int_equal(cmd.data[4] << 8 | cmd.data[5], 1);	/* SSD */

	inquiry_vpd(0xb2);
	assert_int_equal(cmd.data[5], 0xe4);	/* LBPU, LBPWS, LBPWS10, LBPRZ */
	assert_int_equal(cmd.data[6] & 7, 2);	/* thin */

	/* Not supported. */
	RUN(BIG, 0x12, 1, 0x89, 0, 255, 0);
	expect_field(2);
	RUN(BIG, 0x12, 1, 0xb7, 0, 255, 0);
	expect_field(2);
}

static void test_inquiry_thick(void **state)
{
	(void)state;
	assert_int_equal(sd_init(&disk, MiB, 512, 4096, false, false,
				 "x"), 0);
	inquiry_vpd(0xb2);
	assert_int_equal(cmd.data[5], 0);
	inquiry_vpd(0xb0);
	assert_int_equal(be32(&cmd.data[20]), 0);
	RUN(BIG, 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0);
	assert_int_equal(cmd.data[14], 0);	/* no LBPME */
	RUN(BIG, 0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0);
	expect_cc(SD_KEY_ILLEGAL_REQUEST, SD_ASC_INVALID_OPCODE);
	RUN(BIG, 0x93, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0);
	expect_field(1);
}

static void test_read_capacity(void **state)
{
	(void)state;
	RUN(BIG, 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	expect_good();
	assert_int_equal(cmd.xfer, 8);
	assert_int_equal(be32(&cmd.data[0]), 131071);
	assert_int_equal(be32(&cmd.data[4]), 512);
	RUN(BIG, 0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0);
	expect_field(2);

	RUN(BIG, 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0);
	expect_good();
	assert_int_equal(cmd.xfer, 32);
	assert_int_equal(be64(&cmd.data[0]), 131071);
	assert_int_equal(be32(&cmd.data[8]), 512);
	assert_int_equal(cmd.data[13], 3);	/* 4 KiB physical */
	assert_int_equal(cmd.data[14], 0xc0);	/* LBPME, LBPRZ */
	RUN(BIG, 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0);
	assert_int_equal(cmd.xfer, 12);
	RUN(BIG, 0x9e, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0);
	expect_field(1);
}

static void test_read_capacity_huge(void **state)
{
	(void)state;
	assert_int_equal(sd_init(&disk, 4ull << 40, 512, 1 << 20, 0, 0,
				 "x"), 0);
	RUN(BIG, 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	assert_int_equal(be32(&cmd.data[0]), 0xffffffffu);
	RUN(BIG, 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0);
	assert_int_equal(be64(&cmd.data[0]), (4ull << 31) - 1);
}

static void test_rw(void **state)
{
	(void)state;
	/* READ(6): 21-bit LBA, 0 means 256 blocks. */
	RUN(BIG, 0x08, 0x01, 0x02, 0x03, 0, 0);
	expect_good();
	assert_int_equal(cmd.act, SD_ACT_READ);
	assert_int_equal(cmd.dir, SD_DIR_IN);
	assert_int_equal(cmd.lba, 0x10203);
	assert_int_equal(cmd.nblocks, 256);
	assert_int_equal(cmd.xfer, 256 * 512);
	assert_false(cmd.fua);
	RUN(BIG, 0x0a, 0, 0, 8, 2, 0);
	assert_int_equal(cmd.act, SD_ACT_WRITE);
	assert_int_equal(cmd.dir, SD_DIR_OUT);
	assert_int_equal(cmd.lba, 8);
	assert_int_equal(cmd.nblocks, 2);

	/* READ(10) / WRITE(10) with FUA. */
	RUN(BIG, 0x28, 0x08, 0, 0, 0, 16, 0, 0, 4, 0);
	assert_int_equal(cmd.act, SD_ACT_READ);
	assert_true(cmd.fua);
	assert_int_equal(cmd.lba, 16);
	assert_int_equal(cmd.nblocks, 4);
	RUN(BIG, 0x2a, 0x08, 0, 0, 0, 16, 0, 0, 4, 0);
	assert_int_equal(cmd.act, SD_ACT_WRITE);
	assert_true(cmd.fua);
	/* 0 blocks: nothing to do. */
	RUN(BIG, 0x2a, 0, 0, 0, 0, 16, 0, 0, 0, 0);
	expect_good();
	assert_int_equal(cmd.act, SD_ACT_NONE);

	/* READ(16) / WRITE(16): the last block. */
	RUN(BIG, 0x88, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0, 0, 0, 1, 0, 0);
	assert_int_equal(cmd.act, SD_ACT_READ);
	assert_int_equal(cmd.lba, 131071);
	RUN(BIG, 0x8a, 0x08, 0, 0, 0, 0, 0, 1, 0xff, 0xfe, 0, 0, 0, 2, 0, 0);
	assert_int_equal(cmd.act, SD_ACT_WRITE);
	assert_true(cmd.fua);
	assert_int_equal(cmd.xfer, 1024);
}

static void test_rw_errors(void **state)
{
	(void)state;
	/* Past the end, and wrapping 64 bits. */
	RUN(BIG, 0x88, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0, 0, 0, 2, 0, 0);
	expect_cc(SD_KEY_ILLEGAL_REQUEST, SD_ASC_LBA_OUT_OF_RANGE);
	RUN(BIG, 0x88, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0);
	expect_cc(SD_KEY_ILLEGAL_REQUEST, SD_ASC_LBA_OUT_OF_RANGE);
	RUN(BIG, 0x8a, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0, 0, 0, 2, 0, 0);
	expect_cc(SD_KEY_ILLEGAL_REQUEST, SD_ASC_LBA_OUT_OF_RANGE);
	RUN(BIG, 0x28, 0, 0, 2, 0, 0, 0, 0, 1, 0);
	expect_cc(SD_KEY_ILLEGAL_REQUEST, SD_ASC_LBA_OUT_OF_RANGE);
	RUN(BIG, 0x08, 0x1f, 0xff, 0xff, 1, 0);
	expect_cc(SD_KEY_ILLEGAL_REQUEST, SD_ASC_LBA_OUT_OF_RANGE);
	/* Above the transfer limit (2048 blocks). */
	RUN(BIG * 2, 0x28, 0, 0, 0, 0, 0, 0, 0x08, 0x01, 0);
	expect_field(7);
	/* More than the buffer holds. */
	RUN(1024, 0x28, 0, 0, 0, 0, 0, 0, 0, 3, 0);
	expect_field(7);
	RUN(0, 0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0);
	expect_field(10);
	/* Protection information. */
	RUN(BIG, 0x28, 0x20, 0, 0, 0, 0, 0, 0, 1, 0);
	expect_field(1);
	RUN(BIG, 0x8a, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0);
	expect_field(1);
}

static void test_readonly(void **state)
{
	(void)state;
	assert_int_equal(sd_init(&disk, MiB, 512, 1 << 20, true, true, "r"),
			 0);
	RUN(BIG, 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0);
	assert_int_equal(cmd.act, SD_ACT_READ);
	RUN(BIG, 0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0);
	expect_cc(SD_KEY_DATA_PROTECT, SD_ASC_WRITE_PROTECTED);
	RUN(BIG, 0x0a, 0, 0, 0, 1, 0);
	expect_cc(SD_KEY_DATA_PROTECT, SD_ASC_WRITE_PROTECTED);
	RUN(BIG, 0x8a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0);
	expect_cc(SD_KEY_DATA_PROTECT, SD_ASC_WRITE_PROTECTED);
	RUN(BIG, 0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0);
	expect_cc(SD_KEY_DATA_PROTECT, SD_ASC_WRITE_PROTECTED);
	RUN(BIG, 0x93, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0);
	expect_cc(SD_KEY_DATA_PROTECT, SD_ASC_WRITE_PROTECTED);
	/* MODE SENSE reports WP. */
	RUN(BIG, 0x1a, 0x08, 0x3f, 0, 255, 0);
	assert_int_equal(cmd.data[2] & 0x80, 0x80);
}

static void test_sync_cache(void **state)
{
	(void)state;
	RUN(0, 0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	expect_good();
	assert_int_equal(cmd.act, SD_ACT_FLUSH);
	assert_int_equal(cmd.xfer, 0);
	RUN(0, 0x91, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	assert_int_equal(cmd.act, SD_ACT_FLUSH);
	RUN(0, 0x35, 0, 0, 2, 0, 0, 0, 0, 1, 0);
	expect_cc(SD_KEY_ILLEGAL_REQUEST, SD_ASC_LBA_OUT_OF_RANGE);
}

static void test_unmap(void **state)
{
	uint8_t list[8 + 16 * 2] = { 0, 38, 0, 32 };
	struct sd_extent ext[SD_UNMAP_MAX_DESC];

	(void)state;
	RUN(BIG, 0x42, 0, 0, 0, 0, 0, 0, 0, sizeof(list), 0);
	expect_good();
	assert_int_equal(cmd.act, SD_ACT_UNMAP);
	assert_int_equal(cmd.dir, SD_DIR_OUT);
	assert_int_equal(cmd.xfer, sizeof(list));
	list[8 + 7] = 8;		/* lba 8 */
	list[8 + 11] = 16;		/* 16 blocks */
	list[24 + 6] = 1;		/* lba 256 */
	list[24 + 11] = 1;
	assert_int_equal(sd_unmap_parse(&disk, list, sizeof(list), ext, &cmd),
			 2);
	expect_good();
	assert_int_equal(ext[0].lba, 8);
	assert_int_equal(ext[0].nblocks, 16);
	assert_int_equal(ext[1].lba, 256);
	assert_int_equal(ext[1].nblocks, 1);
	/* A block descriptor length longer than the list is cut. */
	list[3] = 200;
	assert_int_equal(sd_unmap_parse(&disk, list, sizeof(list), ext, &cmd),
			 2);
	list[3] = 0;
	assert_int_equal(sd_unmap_parse(&disk, list, sizeof(list), ext, &cmd),
			 0);
	list[3] = 32;
	/* Past the end. */
	list[24 + 5] = 2;
	assert_int_equal(sd_unmap_parse(&disk, list, sizeof(list), ext, &cmd),
			 -1);
	expect_cc(SD_KEY_ILLEGAL_REQUEST, SD_ASC_LBA_OUT_OF_RANGE);
	list[24 + 5] = 0;
	/* Above the per-descriptor limit. */
	list[24 + 8] = 0x7f;
	assert_int_equal(sd_unmap_parse(&disk, list, sizeof(list), ext, &cmd),
			 -1);
	assert_int_equal(cmd.sense[12], 0x26);
	assert_int_equal(cmd.sense[15], 0x80);	/* SKSV, parameter list */
	assert_int_equal(sd_unmap_parse(&disk, list, 7, ext, &cmd), -1);
	expect_cc(SD_KEY_ILLEGAL_REQUEST, SD_ASC_PARAM_LIST_LENGTH);

	/* CDB errors. */
	RUN(BIG, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	expect_good();
	assert_int_equal(cmd.act, SD_ACT_NONE);
	RUN(BIG, 0x42, 0, 0, 0, 0, 0, 0, 0, 4, 0);
	expect_cc(SD_KEY_ILLEGAL_REQUEST, SD_ASC_PARAM_LIST_LENGTH);
	RUN(16, 0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0);
	expect_cc(SD_KEY_ILLEGAL_REQUEST, SD_ASC_PARAM_LIST_LENGTH);
	RUN(BIG, 0x42, 0, 0, 0, 0, 0, 0, 0x10, 0, 0);
	expect_cc(SD_KEY_ILLEGAL_REQUEST, SD_ASC_PARAM_LIST_LENGTH);
	RUN(BIG, 0x42, 1, 0, 0, 0, 0, 0, 0, 24, 0);
	expect_field(1);
}

static void test_write_same(void **state)
{
	(void)state;
	RUN(BIG, 0x93, 0x08, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0, 0, 128, 0, 0);
	expect_good();
	assert_int_equal(cmd.act, SD_ACT_WRITE_SAME);
	assert_true(cmd.unmap);
	assert_int_equal(cmd.lba, 64);
	assert_int_equal(cmd.nblocks, 128);
	assert_int_equal(cmd.xfer, 512);
	assert_int_equal(cmd.dir, SD_DIR_OUT);
	RUN(BIG, 0x93, 0x01, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0, 0, 128, 0, 0);
	assert_int_equal(cmd.act, SD_ACT_WRITE_SAME);
	assert_false(cmd.unmap);
	assert_int_equal(cmd.xfer, 0);		/* NDOB: zeroes */
	assert_int_equal(cmd.dir, SD_DIR_NONE);
	/* 0 blocks (WSNZ), past the end, no data, ANCHOR, too long. */
	RUN(BIG, 0x93, 0x08, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0);
	expect_field(10);
	RUN(BIG, 0x93, 0x08, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0, 0, 0, 2, 0, 0);
	expect_cc(SD_KEY_ILLEGAL_REQUEST, SD_ASC_LBA_OUT_OF_RANGE);
	RUN(100, 0x93, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0);
	expect_field(1);
	RUN(BIG, 0x93, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0);
	expect_field(1);
	RUN(BIG, 0x93, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0, 0, 0);
	expect_field(10);

	/* WRITE SAME(10): what Linux sends for small write zeroes. */
	RUN(BIG, 0x41, 0, 0, 0, 0, 64, 0, 0, 128, 0);
	expect_good();
	assert_int_equal(cmd.act, SD_ACT_WRITE_SAME);
	assert_false(cmd.unmap);
	assert_int_equal(cmd.lba, 64);
	assert_int_equal(cmd.nblocks, 128);
	assert_int_equal(cmd.xfer, 512);
	assert_int_equal(cmd.dir, SD_DIR_OUT);
	RUN(BIG, 0x41, 0x08, 0, 0, 1, 0, 0, 0xff, 0xff, 0);
	expect_good();
	assert_true(cmd.unmap);
	assert_int_equal(cmd.lba, 256);
	assert_int_equal(cmd.nblocks, 65535);
	/* No NDOB in (10); 0 blocks; past the end. */
	RUN(BIG, 0x41, 0x01, 0, 0, 0, 0, 0, 0, 1, 0);
	expect_field(1);
	RUN(BIG, 0x41, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	expect_field(7);
	RUN(BIG, 0x41, 0, 0, 0x01, 0xff, 0xff, 0, 0, 2, 0);
	expect_cc(SD_KEY_ILLEGAL_REQUEST, SD_ASC_LBA_OUT_OF_RANGE);
}

static void test_mode_sense(void **state)
{
	(void)state;
	/* MODE SENSE(6), all pages, with a block descriptor. */
	RUN(BIG, 0x1a, 0, 0x3f, 0, 255, 0);
	expect_good();
	assert_int_equal(cmd.xfer, 4 + 8 + 12 + 20 + 12);
	assert_int_equal(cmd.data[0], cmd.xfer - 1);
	assert_int_equal(cmd.data[2], 0x10);		/* DPOFUA, not WP */
	assert_int_equal(cmd.data[3], 8);
	assert_int_equal(be32(&cmd.data[4]), 131072);
	assert_int_equal(be32(&cmd.data[8]) & 0xffffff, 512);
	assert_int_equal(cmd.data[12], 0x01);
	assert_int_equal(cmd.data[24], 0x08);
	assert_int_equal(cmd.data[26] & 0x04, 0x04);	/* WCE */
	assert_int_equal(cmd.data[44], 0x0a);
	/* Caching page alone, no block descriptors. */
	RUN(BIG, 0x1a, 0x08, 0x08, 0, 255, 0);
	assert_int_equal(cmd.xfer, 4 + 20);
	assert_int_equal(cmd.data[3], 0);
	assert_int_equal(cmd.data[4], 0x08);
	/* Changeable values: WCE is not. */
	RUN(BIG, 0x1a, 0x08, 0x48, 0, 255, 0);
	assert_int_equal(cmd.data[6], 0);
	/* MODE SENSE(10) with a long LBA descriptor. */
	RUN(BIG, 0x5a, 0x10, 0x0a, 0, 0, 0, 0, 1, 0, 0);
	expect_good();
	assert_int_equal(cmd.xfer, 8 + 16 + 12);
	assert_int_equal(cmd.data[0] << 8 | cmd.data[1], cmd.xfer - 2);
	assert_int_equal(cmd.data[4], 1);		/* LONGLBA */
	assert_int_equal(cmd.data[7], 16);
	assert_int_equal(be64(&cmd.data[8]), 131072);
	assert_int_equal(be32(&cmd.data[20]), 512);
	assert_int_equal(cmd.data[24], 0x0a);
	/* Allocation length. */
	RUN(BIG, 0x5a, 0x08, 0x3f, 0, 0, 0, 0, 0, 4, 0);
	assert_int_equal(cmd.xfer, 4);
	/* Errors: saved values, unknown page, subpage, reserved bits. */
	RUN(BIG, 0x1a, 0, 0xc8, 0, 255, 0);
	expect_cc(SD_KEY_ILLEGAL_REQUEST, SD_ASC_SAVING_NOT_SUPPORTED);
	RUN(BIG, 0x1a, 0, 0x1c, 0, 255, 0);
	expect_field(2);
	RUN(BIG, 0x1a, 0, 0x08, 1, 255, 0);
	expect_field(3);
	RUN(BIG, 0x1a, 0, 0x3f, 0xff, 255, 0);
	expect_good();
	RUN(BIG, 0x1a, 0x10, 0x3f, 0, 255, 0);
	expect_field(1);
}

static void test_request_sense(void **state)
{
	(void)state;
	RUN(BIG, 0x03, 0, 0, 0, 252, 0);
	expect_good();
	assert_int_equal(cmd.xfer, 18);
	assert_int_equal(cmd.data[0], 0x70);
	assert_int_equal(cmd.data[2], SD_KEY_NO_SENSE);
	RUN(BIG, 0x03, 1, 0, 0, 252, 0);
	expect_field(1);
}

static void test_unit_attention(void **state)
{
	(void)state;
	assert_int_equal(sd_resize(&disk, 128 * MiB), 0);
	/* INQUIRY does not see it, and does not clear it. */
	RUN(BIG, 0x12, 0, 0, 0, 96, 0);
	expect_good();
	RUN(0, 0x00, 0, 0, 0, 0, 0);
	expect_cc(SD_KEY_UNIT_ATTENTION, SD_ASC_CAPACITY_CHANGED);
	RUN(0, 0x00, 0, 0, 0, 0, 0);
	expect_good();
	RUN(BIG, 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	assert_int_equal(be32(&cmd.data[0]), 262143);
	/* REQUEST SENSE reports it and clears it. */
	assert_int_equal(sd_resize(&disk, 32 * MiB), 0);
	RUN(BIG, 0x03, 0, 0, 0, 252, 0);
	expect_good();
	assert_int_equal(cmd.data[2], SD_KEY_UNIT_ATTENTION);
	assert_int_equal(cmd.data[12], 0x2a);
	assert_int_equal(cmd.data[13], 0x09);
	RUN(BIG, 0x28, 0, 0, 1, 0, 0, 0, 0, 1, 0);
	expect_cc(SD_KEY_ILLEGAL_REQUEST, SD_ASC_LBA_OUT_OF_RANGE);
}

static void test_malformed(void **state)
{
	const uint8_t op[] = { 0x00, 0x2a, 0x88, 0xa0 };
	unsigned int i;

	(void)state;
	/* Unsupported opcodes of every group. */
	RUN(BIG, 0x04, 0, 0, 0, 0, 0);			/* FORMAT UNIT */
	expect_cc(SD_KEY_ILLEGAL_REQUEST, SD_ASC_INVALID_OPCODE);
	RUN(BIG, 0x15, 0, 0, 0, 0, 0);			/* MODE SELECT */
	expect_cc(SD_KEY_ILLEGAL_REQUEST, SD_ASC_INVALID_OPCODE);
	RUN(BIG, 0xa3, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);	/* RSOC */
	expect_cc(SD_KEY_ILLEGAL_REQUEST, SD_ASC_INVALID_OPCODE);
	RUN(BIG, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0, 0);	/* variable */
	expect_cc(SD_KEY_ILLEGAL_REQUEST, SD_ASC_INVALID_OPCODE);
	RUN(BIG, 0xc0, 0, 0, 0, 0, 0);			/* vendor */
	expect_cc(SD_KEY_ILLEGAL_REQUEST, SD_ASC_INVALID_OPCODE);
	RUN(BIG, 0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0);	/* LUNs: caller */
	expect_cc(SD_KEY_ILLEGAL_REQUEST, SD_ASC_INVALID_OPCODE);
	/* Too short for its group. */
	for (i = 0; i < sizeof(op); i++) {
		run(op, 1, BIG);
		expect_field(0);
	}
	run(op, 0, BIG);
	expect_field(0);
	/* NACA / link in the control byte. */
	RUN(0, 0x00, 0, 0, 0, 0, 0x04);
	expect_field(5);
	RUN(BIG, 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0x01);
	expect_field(9);
}

static void test_no_lun(void **state)
{
	const uint8_t inq[] = { 0x12, 0, 0, 0, 96, 0 };
	const uint8_t vpd[] = { 0x12, 1, 0x80, 0, 96, 0 };
	const uint8_t rs[] = { 0x03, 0, 0, 0, 96, 0 };
	const uint8_t tur[] = { 0, 0, 0, 0, 0, 0 };

	(void)state;
	sd_no_lun(inq, sizeof(inq), BIG, &cmd);
	expect_good();
	assert_int_equal(cmd.xfer, 36);
	assert_int_equal(cmd.data[0], 0x7f);
	sd_no_lun(vpd, sizeof(vpd), BIG, &cmd);
	expect_cc(SD_KEY_ILLEGAL_REQUEST, SD_ASC_LUN_NOT_SUPPORTED);
	sd_no_lun(rs, sizeof(rs), BIG, &cmd);
	expect_good();
	assert_int_equal(cmd.data[2], SD_KEY_ILLEGAL_REQUEST);
	assert_int_equal(cmd.data[12], 0x25);
	sd_no_lun(tur, sizeof(tur), BIG, &cmd);
	expect_cc(SD_KEY_ILLEGAL_REQUEST, SD_ASC_LUN_NOT_SUPPORTED);
	sd_no_lun(tur, 2, BIG, &cmd);
	expect_field(1);
}

static void test_report_luns(void **state)
{
	uint8_t cdb[12] = { 0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 };
	const uint16_t luns[] = { 0, 3, 255 };
	uint16_t many[300];
	unsigned int i;

	(void)state;
	assert_false(sd_report_luns(cdb, 0, BIG, luns, 3, &cmd));
	assert_false(sd_report_luns((const uint8_t *)"\x12", 1, BIG, luns, 3,
				    &cmd));
	assert_true(sd_report_luns(cdb, sizeof(cdb), BIG, luns, 3, &cmd));
	expect_good();
	assert_int_equal(cmd.xfer, 8 + 24);
	assert_int_equal(be32(&cmd.data[0]), 24);
	assert_int_equal(cmd.data[8 + 1], 0);
	assert_int_equal(cmd.data[16 + 1], 3);
	assert_int_equal(cmd.data[24 + 1], 255);
	assert_true(sd_report_luns(cdb, sizeof(cdb), BIG, luns, 0, &cmd));
	assert_int_equal(cmd.xfer, 8);
	/* Allocation length cuts the list, not its length field. */
	cdb[8] = 0;
	cdb[9] = 16;
	assert_true(sd_report_luns(cdb, sizeof(cdb), BIG, luns, 3, &cmd));
	assert_int_equal(cmd.xfer, 16);
	assert_int_equal(be32(&cmd.data[0]), 24);
	for (i = 0; i < 300; i++)
		many[i] = (uint16_t)i;
	cdb[8] = 0x10;
	assert_true(sd_report_luns(cdb, sizeof(cdb), BIG, many, 300, &cmd));
	assert_int_equal(cmd.xfer, 8 + 8 * 256);
	/* Errors. */
	cdb[8] = 0;
	cdb[9] = 15;
	assert_true(sd_report_luns(cdb, sizeof(cdb), BIG, luns, 3, &cmd));
	expect_field(6);
	cdb[9] = 16;
	cdb[2] = 0x10;
	assert_true(sd_report_luns(cdb, sizeof(cdb), BIG, luns, 3, &cmd));
	expect_field(2);
	cdb[2] = 0;
	assert_true(sd_report_luns(cdb, 10, BIG, luns, 3, &cmd));
	expect_field(9);
}

static void test_io_error(void **state)
{
	(void)state;
	sd_io_error(&cmd, false);
	expect_cc(SD_KEY_MEDIUM_ERROR, SD_ASC_UNRECOVERED_READ);
	sd_io_error(&cmd, true);
	expect_cc(SD_KEY_MEDIUM_ERROR, SD_ASC_WRITE_ERROR);
}

static void test_4k_disk(void **state)
{
	(void)state;
	assert_int_equal(sd_init(&disk, 64 * MiB, 4096, 1 << 20, 0, 1, "4k"),
			 0);
	RUN(BIG, 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0);
	assert_int_equal(be64(&cmd.data[0]), 16383);
	assert_int_equal(be32(&cmd.data[8]), 4096);
	assert_int_equal(cmd.data[13], 0);
	RUN(BIG, 0x28, 0, 0, 0, 0, 0, 0, 1, 0, 0);	/* 256 blocks = 1 MiB */
	assert_int_equal(cmd.act, SD_ACT_READ);
	assert_int_equal(cmd.xfer, 1 << 20);
	RUN(BIG * 2, 0x28, 0, 0, 0, 0, 0, 0, 1, 1, 0);
	expect_field(7);
	inquiry_vpd(0xb0);
	assert_int_equal(be16toh(*(uint16_t *)&cmd.data[6]), 1);
}

#define T(f) cmocka_unit_test_setup(f, setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_init_checks),
		T(test_tur_and_start_stop),
		T(test_inquiry_std),
		T(test_inquiry_vpd),
		T(test_inquiry_thick),
		T(test_read_capacity),
		T(test_read_capacity_huge),
		T(test_rw),
		T(test_rw_errors),
		T(test_readonly),
		T(test_sync_cache),
		T(test_unmap),
		T(test_write_same),
		T(test_mode_sense),
		T(test_request_sense),
		T(test_unit_attention),
		T(test_malformed),
		T(test_no_lun),
		T(test_report_luns),
		T(test_io_error),
		T(test_4k_disk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
