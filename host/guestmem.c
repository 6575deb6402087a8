// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest RAM: the mapping of QEMU's memory-backend-file and the one
 * GPA -> host pointer helper.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guestmem.h"
#include "log.h"

/* QEMU 7.2, hw/i386/pc_q35.c and pc_piix.c (gigabyte_align machines). */
#define Q35_LOWMEM_SMALL	0xb0000000ull	/* 2.75 GiB */
#define Q35_LOWMEM_SPLIT	0x80000000ull	/* 2 GiB */
#define PC_MAX_BELOW_4G		0xe0000000ull	/* 3.5 GiB */
#define PC_LOWMEM_SPLIT		0xc0000000ull	/* 3 GiB */

static void layout_split(uint64_t ram_size, uint64_t lowmem,
			 struct guestmem_layout *out)
{
	out->ram_size = ram_size;
	out->low_size = ram_size >= lowmem ? lowmem : ram_size;
	out->high_size = ram_size - out->low_size;
}

int guestmem_layout(enum guestmem_machine machine, uint64_t ram_size,
		    uint64_t max_below_4g, struct guestmem_layout *out)
{
	uint64_t lowmem;

	if (!ram_size || ram_size > GUESTMEM_MAX_RAM ||
	    max_below_4g > GUESTMEM_4G)
		return -EINVAL;

	switch (machine) {
	case GUESTMEM_Q35:
		/* The default split, then min(default, max-ram-below-4g). */
		lowmem = ram_size >= Q35_LOWMEM_SMALL ? Q35_LOWMEM_SPLIT :
							Q35_LOWMEM_SMALL;
		if (max_below_4g && lowmem > max_below_4g)
			lowmem = max_below_4g;
		break;
	case GUESTMEM_PC:
		/* max-ram-below-4g (default 3.5 GiB), capped at 3 GiB once
		 * RAM has to be split. */
		lowmem = max_below_4g ? max_below_4g : PC_MAX_BELOW_4G;
		if (ram_size >= lowmem && lowmem > PC_LOWMEM_SPLIT)
			lowmem = PC_LOWMEM_SPLIT;
		break;
	default:
		return -EINVAL;
	}
	layout_split(ram_size, lowmem, out);
	return 0;
}

int guestmem_layout_fixed(uint64_t ram_size, uint64_t low_size,
			  struct guestmem_layout *out)
{
	if (!ram_size || ram_size > GUESTMEM_MAX_RAM || !low_size ||
	    low_size > GUESTMEM_4G)
		return -EINVAL;
	layout_split(ram_size, low_size, out);
	return 0;
}

int guestmem_file_size(const char *path, uint64_t *size)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		int err = errno;

		log_err("guest RAM file %s: %s", path, strerror(err));
		return -err;
	}
	if (!S_ISREG(st.st_mode)) {
		log_err("guest RAM file %s is not a regular file", path);
		return -EINVAL;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

static void guestmem_reset(struct guestmem *gm)
{
	memset(gm, 0, sizeof(*gm));
	gm->fd = -1;
}

void guestmem_attach(struct guestmem *gm, void *base,
		     const struct guestmem_layout *layout)
{
	guestmem_reset(gm);
	gm->base = base;
	gm->layout = *layout;
}

int guestmem_open_fd(struct guestmem *gm, int fd, const char *name,
		     const struct guestmem_layout *layout)
{
	struct stat st;
	void *base;
	int err;

	guestmem_reset(gm);
	if (fstat(fd, &st) < 0) {
		err = errno;
		log_err("cannot stat guest RAM file %s: %s", name,
			strerror(err));
		goto err_close;
	}
	if (!S_ISREG(st.st_mode)) {
		err = EINVAL;
		log_err("guest RAM file %s is not a regular file", name);
		goto err_close;
	}
	if ((uint64_t)st.st_size < layout->ram_size) {
		err = EINVAL;
		log_err("guest RAM file %s has %llu bytes, less than the %llu bytes of guest RAM",
			name, (unsigned long long)st.st_size,
			(unsigned long long)layout->ram_size);
		goto err_close;
	}
	/* MAP_SHARED: QEMU must map it with share=on too, or neither side
	 * sees the other's writes. */
	base = mmap(NULL, layout->ram_size, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (base == MAP_FAILED) {
		err = errno;
		log_err("cannot map guest RAM file %s (%llu bytes): %s", name,
			(unsigned long long)layout->ram_size, strerror(err));
		goto err_close;
	}
	/* Guest memory has no business in a kvmbusd core dump. */
	madvise(base, layout->ram_size, MADV_DONTDUMP);

	gm->base = base;
	gm->layout = *layout;
	gm->fd = fd;
	gm->dev = st.st_dev;
	gm->ino = st.st_ino;
	return 0;

err_close:
	close(fd);
	return -err;
}

int guestmem_open(struct guestmem *gm, const char *path,
		  const struct guestmem_layout *layout)
{
	int fd, err;

	guestmem_reset(gm);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		log_err("cannot open guest RAM file %s: %s", path,
			strerror(err));
		return -err;
	}
	return guestmem_open_fd(gm, fd, path, layout);
}

void guestmem_close(struct guestmem *gm)
{
	if (gm->fd >= 0) {
		munmap(gm->base, gm->layout.ram_size);
		close(gm->fd);
	}
	guestmem_reset(gm);
}

bool guestmem_same_file(const struct guestmem *gm, const char *path)
{
	struct stat st;

	if (gm->fd < 0 || stat(path, &st) < 0)
		return false;
	return st.st_dev == gm->dev && st.st_ino == gm->ino;
}

static void *guestmem_reject(struct guestmem *gm, uint64_t *counter)
{
	/* Atomic: channel workers check ranges too. */
	__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&gm->stats.rejected, 1, __ATOMIC_RELAXED);
	return NULL;
}

void *guestmem_range(struct guestmem *gm, uint64_t gpa, uint64_t len)
{
	const struct guestmem_layout *l = &gm->layout;
	uint64_t off;

	if (!len)
		return guestmem_reject(gm, &gm->stats.rej_zero);
	/* The last byte, gpa + len - 1, must not wrap. */
	if (len - 1 > UINT64_MAX - gpa)
		return guestmem_reject(gm, &gm->stats.rej_wrap);

	if (gpa < l->low_size) {
		if (len > l->low_size - gpa)
			return guestmem_reject(gm, &gm->stats.rej_cross);
		return gm->base + gpa;
	}
	if (gpa >= GUESTMEM_4G && gpa - GUESTMEM_4G < l->high_size) {
		off = gpa - GUESTMEM_4G;
		if (len > l->high_size - off)
			return guestmem_reject(gm, &gm->stats.rej_cross);
		return gm->base + l->low_size + off;
	}
	return guestmem_reject(gm, &gm->stats.rej_outside);
}

int guestmem_file_off(struct guestmem *gm, uint64_t gpa, uint64_t len,
		      uint64_t *off)
{
	uint8_t *p = guestmem_range(gm, gpa, len);

	if (!p)
		return -EFAULT;
	/* @base maps the whole file from offset 0. */
	*off = (uint64_t)(p - gm->base);
	return 0;
}

#define VIEW_PAGE	4096u

/* Each run whole pages of the file; the sum fits a size_t. */
static int view_check(const struct guestmem *gm,
		      const struct guestmem_run *runs, unsigned int nr,
		      size_t *total)
{
	uint64_t sum = 0;
	unsigned int i;

	if (!nr)
		return -EINVAL;
	if (nr > GUESTMEM_VIEW_MAX_RUNS)
		return -E2BIG;
	for (i = 0; i < nr; i++) {
		const struct guestmem_run *r = &runs[i];

		if (!r->len || (r->off | r->len) % VIEW_PAGE ||
		    r->off > gm->layout.ram_size ||
		    r->len > gm->layout.ram_size - r->off)
			return -EINVAL;
		sum += r->len;	/* at most 512 runs of at most 2^52 */
	}
	if (sum > SIZE_MAX - VIEW_PAGE)
		return -E2BIG;
	*total = (size_t)sum;
	return 0;
}

int guestmem_view_map(struct guestmem *gm, const struct guestmem_run *runs,
		      unsigned int nr, struct guestmem_view *v)
{
	size_t total, pos = 0;
	unsigned int i;
	uint8_t *base;
	void *p;
	int ret;

	memset(v, 0, sizeof(*v));
	if (gm->fd < 0)
		return -ENODEV;
	ret = view_check(gm, runs, nr, &total);
	if (ret)
		return ret;

	/* The address space first, so the runs land side by side; the
	 * page after the last run stays PROT_NONE: a guard. */
	p = mmap(NULL, total + VIEW_PAGE, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	base = p;
	for (i = 0; i < nr; i++) {
		p = mmap(base + pos, runs[i].len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED | MAP_NORESERVE, gm->fd,
			 (off_t)runs[i].off);
		if (p == MAP_FAILED) {
			ret = -errno;
			munmap(base, total + VIEW_PAGE);
			return ret;
		}
		pos += runs[i].len;
	}
	madvise(base, total, MADV_DONTDUMP);
	v->addr = base;
	v->len = total;
	v->reserved = total + VIEW_PAGE;
	return 0;
}

void guestmem_view_unmap(struct guestmem_view *v)
{
	if (v->addr)
		munmap(v->addr, v->reserved);
	memset(v, 0, sizeof(*v));
}
