// SPDX-License-Identifier: GPL-2.0-only
/*
 * guestmem: QEMU's RAM layouts and the GPA -> host pointer helper, on
 * sparse files (nothing is allocated but the pages the tests touch).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "helpers.h"
#include "guestmem.h"

#define KiB	(1ull << 10)
#define MiB	(1ull << 20)
#define GiB	(1ull << 30)

/* ---- layouts ---------------------------------------------------------- */

static void check_layout(enum guestmem_machine m, uint64_t ram,
			 uint64_t max_below, uint64_t low, uint64_t high)
{
	struct guestmem_layout l;

	assert_int_equal(guestmem_layout(m, ram, max_below, &l), 0);
	assert_int_equal(l.ram_size, ram);
	assert_int_equal(l.low_size, low);
	assert_int_equal(l.high_size, high);
}

static void test_layout_q35(void **state)
{
	(void)state;
	check_layout(GUESTMEM_Q35, 256 * MiB, 0, 256 * MiB, 0);
	check_layout(GUESTMEM_Q35, 1 * GiB, 0, 1 * GiB, 0);
	check_layout(GUESTMEM_Q35, 2 * GiB, 0, 2 * GiB, 0);
	/* Below 2.75 GiB everything is low ... */
	check_layout(GUESTMEM_Q35, 0xb0000000 - 4096, 0, 0xb0000000 - 4096, 0);
	/* ... from exactly 2.75 GiB on (QEMU: ram_size >= 0xb0000000),
	 * 2 GiB stay low and the rest goes to 4 GiB. */
	check_layout(GUESTMEM_Q35, 0xb0000000, 0, 2 * GiB, 0x30000000);
	check_layout(GUESTMEM_Q35, 4 * GiB, 0, 2 * GiB, 2 * GiB);
	check_layout(GUESTMEM_Q35, 6 * GiB, 0, 2 * GiB, 4 * GiB);
	/* max-ram-below-4g only ever lowers the split: min(). */
	check_layout(GUESTMEM_Q35, 4 * GiB, 1 * GiB, 1 * GiB, 3 * GiB);
	check_layout(GUESTMEM_Q35, 4 * GiB, 3 * GiB, 2 * GiB, 2 * GiB);
	check_layout(GUESTMEM_Q35, 1 * GiB, 512 * MiB, 512 * MiB, 512 * MiB);
	check_layout(GUESTMEM_Q35, 1 * GiB, 4 * GiB, 1 * GiB, 0);
}

static void test_layout_pc(void **state)
{
	(void)state;
	check_layout(GUESTMEM_PC, 1 * GiB, 0, 1 * GiB, 0);
	check_layout(GUESTMEM_PC, 0xe0000000 - 4096, 0, 0xe0000000 - 4096, 0);
	/* QEMU's own examples (hw/i386/pc_piix.c). */
	check_layout(GUESTMEM_PC, 0xe0000000, 0, 3 * GiB, 512 * MiB);
	check_layout(GUESTMEM_PC, 4 * GiB, 0, 3 * GiB, 1 * GiB);
	check_layout(GUESTMEM_PC, 4 * GiB, 2 * GiB, 2 * GiB, 2 * GiB);
	check_layout(GUESTMEM_PC, 3968 * MiB, 4 * GiB, 3968 * MiB, 0);
	check_layout(GUESTMEM_PC, 6 * GiB, 4 * GiB, 3 * GiB, 3 * GiB);
	check_layout(GUESTMEM_PC, 6 * GiB, 0, 3 * GiB, 3 * GiB);
}

static void test_layout_fixed_and_invalid(void **state)
{
	struct guestmem_layout l;

	(void)state;
	assert_int_equal(guestmem_layout_fixed(4 * GiB, 1 * GiB, &l), 0);
	assert_int_equal(l.low_size, 1 * GiB);
	assert_int_equal(l.high_size, 3 * GiB);
	assert_int_equal(guestmem_layout_fixed(1 * GiB, 3 * GiB, &l), 0);
	assert_int_equal(l.low_size, 1 * GiB);
	assert_int_equal(l.high_size, 0);
	assert_int_equal(guestmem_layout_fixed(8 * GiB, 4 * GiB, &l), 0);
	assert_int_equal(l.low_size, 4 * GiB);
	assert_int_equal(l.high_size, 4 * GiB);

	assert_int_equal(guestmem_layout_fixed(1 * GiB, 0, &l), -EINVAL);
	assert_int_equal(guestmem_layout_fixed(8 * GiB, 4 * GiB + 1, &l),
			 -EINVAL);
	assert_int_equal(guestmem_layout_fixed(0, 1 * GiB, &l), -EINVAL);
	assert_int_equal(guestmem_layout(GUESTMEM_Q35, 0, 0, &l), -EINVAL);
	assert_int_equal(guestmem_layout(GUESTMEM_Q35, GUESTMEM_MAX_RAM + 1,
					 0, &l), -EINVAL);
	assert_int_equal(guestmem_layout(GUESTMEM_PC, 1 * GiB, 4 * GiB + 1,
					 &l), -EINVAL);
	assert_int_equal(guestmem_layout((enum guestmem_machine)7, 1 * GiB,
					 0, &l), -EINVAL);
}

/* ---- sparse RAM files --------------------------------------------------- */

struct ramfile {
	char *dir;
	char *path;
	int fd;		/* the test's own fd, for pread/pwrite checks */
	struct guestmem gm;
};

static void ram_open(struct ramfile *rf, uint64_t file_size,
		     const struct guestmem_layout *l)
{
	rf->dir = make_tmpdir();
	rf->path = tmp_path(rf->dir, "ram");
	rf->fd = open(rf->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(rf->fd >= 0);
	assert_int_equal(ftruncate(rf->fd, (off_t)file_size), 0);
	assert_int_equal(guestmem_open(&rf->gm, rf->path, l), 0);
}

static void ram_close(struct ramfile *rf)
{
	guestmem_close(&rf->gm);
	close(rf->fd);
	unlink(rf->path);
	free(rf->path);
	rm_tmpdir(rf->dir);
}

/* Every rejection lands in exactly one reason counter. */
static void check_stats(const struct guestmem *gm, uint64_t zero,
			uint64_t wrap, uint64_t cross, uint64_t outside)
{
	const struct guestmem_stats *s = &gm->stats;

	assert_int_equal(s->rej_zero, zero);
	assert_int_equal(s->rej_wrap, wrap);
	assert_int_equal(s->rej_cross, cross);
	assert_int_equal(s->rej_outside, outside);
	assert_int_equal(s->rejected, zero + wrap + cross + outside);
}

/* A byte written through the pointer must land at @file_off. */
static void check_lands(struct ramfile *rf, uint64_t gpa, uint64_t file_off)
{
	uint8_t *p = guestmem_range(&rf->gm, gpa, 1);
	uint8_t got = 0;

	assert_non_null(p);
	assert_ptr_equal(p, rf->gm.base + file_off);
	*p = (uint8_t)(0x5a ^ (gpa >> 12));
	assert_int_equal(pread(rf->fd, &got, 1, (off_t)file_off), 1);
	assert_int_equal(got, (uint8_t)(0x5a ^ (gpa >> 12)));
}

static void test_range_1g(void **state)
{
	struct guestmem_layout l;
	struct ramfile rf;
	struct guestmem *gm = &rf.gm;

	(void)state;
	assert_int_equal(guestmem_layout(GUESTMEM_Q35, 1 * GiB, 0, &l), 0);
	ram_open(&rf, 1 * GiB, &l);

	assert_ptr_equal(guestmem_range(gm, 0, 1), gm->base);
	assert_ptr_equal(guestmem_range(gm, 0, 1 * GiB), gm->base);
	assert_ptr_equal(guestmem_range(gm, 1 * GiB - 1, 1),
			 gm->base + 1 * GiB - 1);
	assert_ptr_equal(guestmem_range(gm, 1 * GiB - 4096, 4096),
			 gm->base + 1 * GiB - 4096);
	check_stats(gm, 0, 0, 0, 0);

	/* One past the end of RAM, and runs over it. */
	assert_null(guestmem_range(gm, 1 * GiB - 1, 2));
	assert_null(guestmem_range(gm, 0, 1 * GiB + 1));
	check_stats(gm, 0, 0, 2, 0);
	assert_null(guestmem_range(gm, 1 * GiB, 1));
	assert_null(guestmem_range(gm, 4 * GiB, 1));	/* no high RAM */
	assert_null(guestmem_range(gm, UINT64_MAX, 1));
	check_stats(gm, 0, 0, 2, 3);

	/* Zero length, even at a valid address. */
	assert_null(guestmem_range(gm, 0, 0));
	assert_null(guestmem_range(gm, 4096, 0));
	check_stats(gm, 2, 0, 2, 3);

	/* gpa + len wrapping 2^64. */
	assert_null(guestmem_range(gm, UINT64_MAX, 2));
	assert_null(guestmem_range(gm, 2, UINT64_MAX));
	assert_null(guestmem_range(gm, 4096, UINT64_MAX - 4094));
	assert_null(guestmem_range(gm, UINT64_MAX - 4095, 8192));
	check_stats(gm, 2, 4, 2, 3);
	/* The largest lengths that do not wrap (the last byte is at
	 * 2^64 - 1) are "too long", not "wrap". */
	assert_null(guestmem_range(gm, 0, UINT64_MAX));
	assert_null(guestmem_range(gm, 1, UINT64_MAX));
	assert_null(guestmem_range(gm, 4096, UINT64_MAX - 4095));
	check_stats(gm, 2, 4, 5, 3);

	check_lands(&rf, 0, 0);
	check_lands(&rf, 1 * GiB - 1, 1 * GiB - 1);
	ram_close(&rf);
}

static void test_range_4g_q35(void **state)
{
	struct guestmem_layout l;
	struct ramfile rf;
	struct guestmem *gm = &rf.gm;

	(void)state;
	assert_int_equal(guestmem_layout(GUESTMEM_Q35, 4 * GiB, 0, &l), 0);
	ram_open(&rf, 4 * GiB, &l);

	/* Exactly at the split: the last low byte, the hole, 4 GiB. */
	assert_ptr_equal(guestmem_range(gm, 2 * GiB - 4096, 4096),
			 gm->base + 2 * GiB - 4096);
	assert_ptr_equal(guestmem_range(gm, 0, 2 * GiB), gm->base);
	assert_null(guestmem_range(gm, 2 * GiB - 1, 2));	/* cross */
	assert_null(guestmem_range(gm, 2 * GiB - 4096, 2 * GiB + 8192));
	check_stats(gm, 0, 0, 2, 0);
	assert_null(guestmem_range(gm, 2 * GiB, 1));		/* hole */
	assert_null(guestmem_range(gm, 3 * GiB, 4096));
	assert_null(guestmem_range(gm, 4 * GiB - 1, 1));
	assert_null(guestmem_range(gm, 4 * GiB - 1, 2));	/* into high */
	check_stats(gm, 0, 0, 2, 4);

	assert_ptr_equal(guestmem_range(gm, 4 * GiB, 1), gm->base + 2 * GiB);
	assert_ptr_equal(guestmem_range(gm, 4 * GiB, 2 * GiB),
			 gm->base + 2 * GiB);
	assert_ptr_equal(guestmem_range(gm, 6 * GiB - 1, 1),
			 gm->base + 4 * GiB - 1);
	assert_null(guestmem_range(gm, 4 * GiB, 2 * GiB + 1));	/* cross */
	assert_null(guestmem_range(gm, 6 * GiB - 1, 2));	/* cross */
	assert_null(guestmem_range(gm, 6 * GiB, 1));		/* outside */
	assert_null(guestmem_range(gm, 6 * GiB - 1, UINT64_MAX)); /* wrap */
	check_stats(gm, 0, 1, 4, 5);

	check_lands(&rf, 2 * GiB - 1, 2 * GiB - 1);
	check_lands(&rf, 4 * GiB, 2 * GiB);
	check_lands(&rf, 4 * GiB + 12345, 2 * GiB + 12345);
	check_lands(&rf, 6 * GiB - 1, 4 * GiB - 1);
	ram_close(&rf);
}

static void test_range_6g_q35(void **state)
{
	struct guestmem_layout l;
	struct ramfile rf;
	struct guestmem *gm = &rf.gm;

	(void)state;
	assert_int_equal(guestmem_layout(GUESTMEM_Q35, 6 * GiB, 0, &l), 0);
	ram_open(&rf, 6 * GiB, &l);

	assert_ptr_equal(guestmem_range(gm, 4 * GiB, 4 * GiB),
			 gm->base + 2 * GiB);
	assert_ptr_equal(guestmem_range(gm, 8 * GiB - 4096, 4096),
			 gm->base + 6 * GiB - 4096);
	assert_null(guestmem_range(gm, 8 * GiB - 4096, 4097));
	assert_null(guestmem_range(gm, 8 * GiB, 1));
	assert_null(guestmem_range(gm, 2 * GiB, 2 * GiB));
	/* Low start, high end: spans the hole, refused. */
	assert_null(guestmem_range(gm, 2 * GiB - 4096, 2 * GiB + 8192));
	check_stats(gm, 0, 0, 2, 2);

	check_lands(&rf, 4 * GiB, 2 * GiB);
	check_lands(&rf, 8 * GiB - 1, 6 * GiB - 1);
	check_lands(&rf, 1 * GiB, 1 * GiB);
	ram_close(&rf);
}

static void test_range_pc_and_fixed(void **state)
{
	struct guestmem_layout l;
	struct ramfile rf;
	struct guestmem *gm = &rf.gm;

	(void)state;
	assert_int_equal(guestmem_layout(GUESTMEM_PC, 4 * GiB, 0, &l), 0);
	ram_open(&rf, 4 * GiB, &l);
	assert_ptr_equal(guestmem_range(gm, 3 * GiB - 1, 1),
			 gm->base + 3 * GiB - 1);
	assert_null(guestmem_range(gm, 3 * GiB, 1));
	assert_null(guestmem_range(gm, 3 * GiB - 1, 2));
	check_lands(&rf, 4 * GiB, 3 * GiB);
	check_lands(&rf, 5 * GiB - 1, 4 * GiB - 1);
	assert_null(guestmem_range(gm, 5 * GiB, 1));
	check_stats(gm, 0, 0, 1, 2);
	ram_close(&rf);

	/* An explicit split; the file may be larger than the RAM. */
	assert_int_equal(guestmem_layout_fixed(2 * GiB, 1 * GiB, &l), 0);
	ram_open(&rf, 3 * GiB, &l);
	check_lands(&rf, 1 * GiB - 1, 1 * GiB - 1);
	check_lands(&rf, 4 * GiB, 1 * GiB);
	assert_null(guestmem_range(gm, 1 * GiB, 1));
	assert_null(guestmem_range(gm, 5 * GiB, 1));
	check_stats(gm, 0, 0, 0, 2);
	ram_close(&rf);
}

static void test_open_errors(void **state)
{
	struct guestmem_layout l;
	struct guestmem gm;
	char *dir = make_tmpdir();
	char *path = tmp_path(dir, "ram");
	char *moved = tmp_path(dir, "moved");
	int fd, fds = count_fds();

	(void)state;
	assert_int_equal(guestmem_layout(GUESTMEM_Q35, 64 * MiB, 0, &l), 0);
	assert_int_equal(guestmem_open(&gm, path, &l), -ENOENT);
	assert_int_equal(guestmem_open(&gm, dir, &l), -EISDIR);

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 64 * MiB - 4096), 0);
	assert_int_equal(guestmem_open(&gm, path, &l), -EINVAL); /* small */
	assert_int_equal(ftruncate(fd, 64 * MiB), 0);
	assert_int_equal(guestmem_open(&gm, path, &l), 0);
	assert_true(guestmem_same_file(&gm, path));
	assert_int_equal(rename(path, moved), 0);
	assert_false(guestmem_same_file(&gm, path));
	assert_int_equal(rename(moved, path), 0);
	assert_true(guestmem_same_file(&gm, path));
	guestmem_close(&gm);
	assert_false(guestmem_same_file(&gm, path));
	guestmem_close(&gm);	/* twice is harmless */

	close(fd);
	assert_int_equal(count_fds(), fds);
	unlink(path);
	free(path);
	free(moved);
	rm_tmpdir(dir);
}

static void test_file_size(void **state)
{
	char *dir = make_tmpdir();
	char *path = tmp_path(dir, "ram");
	uint64_t size = 1;
	int fd;

	(void)state;
	assert_int_equal(guestmem_file_size(path, &size), -ENOENT);
	assert_int_equal(guestmem_file_size(dir, &size), -EINVAL);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(guestmem_file_size(path, &size), 0);
	assert_int_equal(size, 0);
	assert_int_equal(ftruncate(fd, 6 * GiB), 0);
	assert_int_equal(guestmem_file_size(path, &size), 0);
	assert_int_equal(size, 6 * GiB);
	close(fd);
	unlink(path);
	free(path);
	rm_tmpdir(dir);
}

/* ---- file offsets and views ------------------------------------------ */

static void test_file_off(void **state)
{
	struct guestmem_layout l;
	struct guestmem gm;
	uint8_t dummy;
	uint64_t off = 7;

	(void)state;
	/* Address arithmetic only: nothing is mapped or touched. */
	assert_int_equal(guestmem_layout(GUESTMEM_Q35, 4 * GiB, 0, &l), 0);
	guestmem_attach(&gm, &dummy, &l);
	assert_int_equal(guestmem_file_off(&gm, 0, 4096, &off), 0);
	assert_int_equal(off, 0);
	assert_int_equal(guestmem_file_off(&gm, 2 * GiB - 4096, 4096, &off), 0);
	assert_int_equal(off, 2 * GiB - 4096);
	assert_int_equal(guestmem_file_off(&gm, 4 * GiB, 4096, &off), 0);
	assert_int_equal(off, 2 * GiB);
	assert_int_equal(guestmem_file_off(&gm, 5 * GiB + 12, 1, &off), 0);
	assert_int_equal(off, 3 * GiB + 12);
	/* The same refusals as guestmem_range(), counted the same way. */
	off = 7;
	assert_int_equal(guestmem_file_off(&gm, 2 * GiB - 4096, 8192, &off),
			 -EFAULT);
	assert_int_equal(guestmem_file_off(&gm, 3 * GiB, 1, &off), -EFAULT);
	assert_int_equal(guestmem_file_off(&gm, 6 * GiB, 1, &off), -EFAULT);
	assert_int_equal(guestmem_file_off(&gm, 0, 0, &off), -EFAULT);
	assert_int_equal(guestmem_file_off(&gm, UINT64_MAX, 2, &off), -EFAULT);
	assert_int_equal(off, 7);
	check_stats(&gm, 1, 1, 1, 2);
}

static void test_view(void **state)
{
	struct guestmem_view v = { .addr = (void *)1 };
	struct guestmem_layout l;
	struct guestmem_run runs[GUESTMEM_VIEW_MAX_RUNS + 1];
	struct guestmem gm, plain;
	uint8_t *ram;
	unsigned int i;
	int fd;

	(void)state;
	assert_int_equal(guestmem_layout_fixed(64 * 4096, 64 * 4096, &l), 0);
	fd = memfd_create("ram", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 64 * 4096), 0);
	assert_int_equal(guestmem_open_fd(&gm, fd, "memfd", &l), 0);
	ram = gm.base;
	for (i = 0; i < 64; i++)
		memset(ram + i * 4096, i, 4096);

	/* Pages 9, 2-3, 40, backwards and scattered: one contiguous view. */
	runs[0] = (struct guestmem_run){ 9 * 4096, 4096 };
	runs[1] = (struct guestmem_run){ 2 * 4096, 2 * 4096 };
	runs[2] = (struct guestmem_run){ 40 * 4096, 4096 };
	assert_int_equal(guestmem_view_map(&gm, runs, 3, &v), 0);
	assert_int_equal(v.len, 4 * 4096);
	assert_int_equal(v.addr[0], 9);
	assert_int_equal(v.addr[4095], 9);
	assert_int_equal(v.addr[4096], 2);
	assert_int_equal(v.addr[2 * 4096], 3);
	assert_int_equal(v.addr[4 * 4096 - 1], 40);
	/* The guest's writes show in the view and the view's in the guest. */
	ram[40 * 4096 + 1] = 0xee;
	assert_int_equal(v.addr[3 * 4096 + 1], 0xee);
	v.addr[4096 + 17] = 0x77;
	assert_int_equal(ram[2 * 4096 + 17], 0x77);
	guestmem_view_unmap(&v);
	assert_null(v.addr);

	/* Runs that are not whole pages of the file. */
	runs[0] = (struct guestmem_run){ 4096, 0 };
	assert_int_equal(guestmem_view_map(&gm, runs, 1, &v), -EINVAL);
	runs[0] = (struct guestmem_run){ 100, 4096 };
	assert_int_equal(guestmem_view_map(&gm, runs, 1, &v), -EINVAL);
	runs[0] = (struct guestmem_run){ 0, 4000 };
	assert_int_equal(guestmem_view_map(&gm, runs, 1, &v), -EINVAL);
	runs[0] = (struct guestmem_run){ 63 * 4096, 2 * 4096 };
	assert_int_equal(guestmem_view_map(&gm, runs, 1, &v), -EINVAL);
	runs[0] = (struct guestmem_run){ UINT64_MAX & ~4095ull, 4096 };
	assert_int_equal(guestmem_view_map(&gm, runs, 1, &v), -EINVAL);
	assert_int_equal(guestmem_view_map(&gm, runs, 0, &v), -EINVAL);
	assert_null(v.addr);
	/* Too many runs: each is a mapping of its own. */
	for (i = 0; i <= GUESTMEM_VIEW_MAX_RUNS; i++)
		runs[i] = (struct guestmem_run){ (i % 64) * 4096, 4096 };
	assert_int_equal(guestmem_view_map(&gm, runs,
					   GUESTMEM_VIEW_MAX_RUNS + 1, &v),
			 -E2BIG);
	assert_int_equal(guestmem_view_map(&gm, runs, GUESTMEM_VIEW_MAX_RUNS,
					   &v), 0);
	assert_int_equal(v.addr[GUESTMEM_VIEW_MAX_RUNS * 4096 - 1],
			 (GUESTMEM_VIEW_MAX_RUNS - 1) % 64);
	guestmem_view_unmap(&v);

	/* No file, no view. */
	guestmem_attach(&plain, ram, &l);
	assert_int_equal(guestmem_view_map(&plain, runs, 1, &v), -ENODEV);
	guestmem_close(&gm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_q35),
		cmocka_unit_test(test_layout_pc),
		cmocka_unit_test(test_layout_fixed_and_invalid),
		cmocka_unit_test(test_range_1g),
		cmocka_unit_test(test_range_4g_q35),
		cmocka_unit_test(test_range_6g_q35),
		cmocka_unit_test(test_range_pc_and_fixed),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_file_size),
		cmocka_unit_test(test_file_off),
		cmocka_unit_test(test_view),
	};

	return cmocka_run_group_tests_name("guestmem", tests, NULL, NULL);
}
