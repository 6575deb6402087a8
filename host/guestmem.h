/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Guest RAM, mapped from QEMU's memory-backend-file (share=on), and the
 * one helper that turns a guest-physical range into a host pointer.
 *
 * QEMU's x86 machines place RAM in two pieces:
 *
 *	GPA [0, low_size)                    = file [0, low_size)
 *	GPA [4 GiB, 4 GiB + ram - low_size)  = file [low_size, ram)
 *
 * and nothing else of the file is guest RAM.  Everything between
 * low_size and 4 GiB is the PCI hole.  guestmem_layout() reproduces
 * QEMU 7.2's split for q35 and pc (i440fx).
 */
#ifndef KVMBUSD_GUESTMEM_H
#define KVMBUSD_GUESTMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define GUESTMEM_4G		(1ull << 32)
/* Largest guest RAM accepted: the x86 physical address limit. */
#define GUESTMEM_MAX_RAM	(1ull << 52)

enum guestmem_machine {
	GUESTMEM_Q35,
	GUESTMEM_PC,
};

struct guestmem_layout {
	uint64_t ram_size;	/* bytes of guest RAM, = mapped bytes */
	uint64_t low_size;	/* RAM at GPA 0 */
	uint64_t high_size;	/* RAM at GPA 4 GiB */
};

struct guestmem_stats {
	uint64_t rejected;	/* sum of the counters below */
	uint64_t rej_zero;	/* zero length */
	uint64_t rej_wrap;	/* gpa + len wraps around 2^64 */
	uint64_t rej_cross;	/* starts in RAM, runs past its region */
	uint64_t rej_outside;	/* starts outside guest RAM */
};

struct guestmem {
	uint8_t *base;		/* mapping of file [0, ram_size) */
	struct guestmem_layout layout;
	struct guestmem_stats stats;
	int fd;			/* -1 when the mapping is not ours */
	dev_t dev;		/* identity of the mapped file */
	ino_t ino;
};

/*
 * guestmem_layout() - QEMU's RAM split for a machine type
 * @machine: GUESTMEM_Q35 or GUESTMEM_PC (a current, gigabyte-aligned type)
 * @ram_size: the -m size in bytes
 * @max_below_4g: the machine's max-ram-below-4g property, 0 for unset
 * @out: the layout
 *
 * Return: 0, or -EINVAL for a zero or too large @ram_size or a
 * @max_below_4g above 4 GiB.
 */
int guestmem_layout(enum guestmem_machine machine, uint64_t ram_size,
		    uint64_t max_below_4g, struct guestmem_layout *out);

/*
 * guestmem_layout_fixed() - an explicit split (from `info mtree -f`)
 * @ram_size: bytes of guest RAM
 * @low_size: bytes at GPA 0, 1..4 GiB; clamped to @ram_size
 *
 * Return: 0 or -EINVAL.
 */
int guestmem_layout_fixed(uint64_t ram_size, uint64_t low_size,
			  struct guestmem_layout *out);

/*
 * guestmem_open() - map guest RAM from its backing file
 * @gm: initialised here
 * @path: the memory-backend-file mem-path
 * @layout: the split; layout->ram_size bytes of the file are mapped and
 *	the file must be at least that large
 *
 * Logs a clear reason on failure.
 * Return: 0 or -errno.
 */
int guestmem_open(struct guestmem *gm, const char *path,
		  const struct guestmem_layout *layout);

/*
 * guestmem_open_fd() - map guest RAM from an open file
 * @fd: the file; owned by @gm from now on, closed on failure too
 * @name: the file's name, for messages
 *
 * What guestmem_open() does after open(): the tests and fuzzers hand in
 * a memfd this way, so that views (guestmem_view_map()) work for them.
 * Return: 0 or -errno (logged).
 */
int guestmem_open_fd(struct guestmem *gm, int fd, const char *name,
		     const struct guestmem_layout *layout);

/*
 * guestmem_attach() - use an existing mapping (tests and fuzzers)
 * @base: at least layout->ram_size bytes the caller keeps mapped
 */
void guestmem_attach(struct guestmem *gm, void *base,
		     const struct guestmem_layout *layout);

void guestmem_close(struct guestmem *gm);

/*
 * guestmem_file_size() - size in bytes of the RAM file at @path
 * Return: 0 or -errno (logged).
 */
int guestmem_file_size(const char *path, uint64_t *size);

/*
 * guestmem_same_file() - does @path still name the file that is mapped?
 * Return: true if so (a replaced or deleted file returns false).
 */
bool guestmem_same_file(const struct guestmem *gm, const char *path);

/*
 * guestmem_range() - the host address of guest-physical [@gpa, @gpa+@len)
 * @gm: guest memory
 * @gpa: guest-physical start address
 * @len: bytes, at least 1
 *
 * This is the only way from a guest address to host memory.  The whole
 * range must lie inside one RAM region (low or high): zero lengths,
 * ranges that wrap, that start outside RAM or that run past the end of
 * their region (into the PCI hole or past the end of RAM) are refused
 * and counted in @gm->stats.
 *
 * Return: a pointer to @len contiguous mapped bytes, or NULL.
 */
void *guestmem_range(struct guestmem *gm, uint64_t gpa, uint64_t len);

/*
 * guestmem_file_off() - where guest-physical [@gpa, @gpa+@len) lives in
 * the RAM file
 * @off: set to the file offset of @gpa on success
 *
 * The GPA -> file offset half of guestmem_range(), and the only place
 * besides it that knows the RAM layout: the range is checked (and
 * refusals counted) by guestmem_range() itself.
 * Return: 0, or -EFAULT for a range guestmem_range() refuses.
 */
int guestmem_file_off(struct guestmem *gm, uint64_t gpa, uint64_t len,
		      uint64_t *off);

/* A piece of guest RAM as the file holds it: the unit of a view. */
struct guestmem_run {
	uint64_t off;		/* file offset, page aligned */
	uint64_t len;		/* bytes, whole pages, at least one */
};

/*
 * A virtually contiguous host view of scattered guest pages: the page
 * runs of the RAM file mapped one after the other (MAP_SHARED, so the
 * view and the guest see the same bytes), with an inaccessible guard
 * page after the end.
 */
struct guestmem_view {
	uint8_t *addr;		/* NULL: nothing mapped */
	size_t len;		/* bytes of guest pages at @addr */
	size_t reserved;	/* @len and the guard page */
};

/* Runs of one view at most: each is a mapping (a VMA) of its own. */
#define GUESTMEM_VIEW_MAX_RUNS	512

/*
 * guestmem_view_map() - map @nr runs of the RAM file contiguously
 * @runs: from guestmem_file_off(); checked again here (page aligned,
 *	inside the file), so a view never maps anything but guest RAM
 * @v: the view; unmap with guestmem_view_unmap()
 *
 * Reserves address space first (PROT_NONE), then maps each run over it
 * with MAP_FIXED at the run's file offset.
 * Return: 0; -ENODEV when @gm has no file (guestmem_attach()), -EINVAL
 * for a run that is not whole pages of the file, -E2BIG for more than
 * GUESTMEM_VIEW_MAX_RUNS runs, or mmap()'s -errno.
 */
int guestmem_view_map(struct guestmem *gm, const struct guestmem_run *runs,
		      unsigned int nr, struct guestmem_view *v);

/* Unmap a view (a view that is not mapped is left alone). */
void guestmem_view_unmap(struct guestmem_view *v);

#endif /* KVMBUSD_GUESTMEM_H */
