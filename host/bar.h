/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * BAR2 of the ivshmem-doorbell device: kvmbusd's shared memory, a sealed
 * memfd that starts with struct kvmbus_bar_hdr (the bootstrap mailbox).
 */
#ifndef KVMBUSD_BAR_H
#define KVMBUSD_BAR_H

#include <stdbool.h>
#include <stdint.h>

#include "proto.h"

struct guestmem;

#define BAR_MIN_SIZE		4096u		/* one page: QEMU maps pages */
#define BAR_MAX_SIZE		(1u << 30)
#define BAR_DEFAULT_SIZE	(64u << 10)

struct bar {
	int fd;				/* the memfd handed to QEMU */
	struct kvmbus_bar_hdr *hdr;	/* mapping of the whole BAR */
	uint32_t size;
	uint32_t nr_vectors;
	uint32_t generation;		/* host_generation last published */
};

/* Return: true for a power of two in [BAR_MIN_SIZE, BAR_MAX_SIZE]. */
bool bar_size_ok(uint64_t size);

/*
 * bar_create() - create, seal, map and initialise the BAR2 memfd
 * Return: 0 or -errno (logged).
 */
int bar_create(struct bar *bar, uint64_t size, uint32_t nr_vectors);
void bar_destroy(struct bar *bar);

/*
 * bar_adopt() - map a BAR2 memfd a supervisor created (bar_create())
 * @fd: becomes the bar's; closed by bar_destroy()
 *
 * Nothing is written: the mailbox keeps what the guest and the previous
 * child left in it.
 * Return: 0 or -errno (logged).
 */
int bar_adopt(struct bar *bar, int fd, uint32_t nr_vectors);

/*
 * bar_host_gone() - the supervisor's word that its child died
 *
 * Bumps host_generation and sets host_state IDLE; the caller then raises
 * the control vector (docs/protocol.md section 3, "Backend restart").
 */
void bar_host_gone(struct bar *bar);

/*
 * bar_reset() - zero the BAR and publish a fresh host header with the
 * next host_generation.  Called before every new QEMU gets the memfd.
 */
void bar_reset(struct bar *bar);

/*
 * bar_set_host_state() - answer the guest
 * @state: IDLE, ONLINE or ERROR
 * @error: positive errno for ERROR, else 0
 * @acked_generation: the guest_generation this state answers
 *
 * host_error and acked_generation are visible before host_state.
 */
void bar_set_host_state(struct bar *bar, enum kvmbus_mbox_state state,
			uint32_t error, uint32_t acked_generation);

/* The guest half of the mailbox, copied out of shared memory once. */
struct bar_mbox {
	uint32_t state;		/* enum kvmbus_mbox_state */
	uint32_t ring_pages;	/* per direction, header page included */
	uint64_t ctl_gpa;
	uint32_t generation;
};

/*
 * bar_mbox_read() - snapshot the guest-written fields, each read once
 * @hdr: the shared header (the guest may change it at any time)
 * @m: the private copy every later decision uses
 */
void bar_mbox_read(const struct kvmbus_bar_hdr *hdr, struct bar_mbox *m);

/* Pages per control ring, header included (docs/protocol.md section 3). */
#define BAR_CTL_RING_PAGES_MIN	2
#define BAR_CTL_RING_PAGES_MAX	64

/*
 * bar_mbox_check() - validate a snapshot
 * @m: the private copy
 * @gm: guest memory, to check that the control rings lie in guest RAM
 * @rings: for CONNECT, set to the host address of both control rings
 *	(2 * ring_pages pages, contiguous here); may be NULL
 * @why: set to a short reason on failure
 *
 * The guest may only publish IDLE, CONNECT or RESET.  For CONNECT each
 * control ring must have BAR_CTL_RING_PAGES_MIN..MAX pages, ctl_gpa must be
 * page aligned, and both rings must lie inside one guest RAM region
 * (checked with guestmem_range(), the one range helper).
 *
 * Return: 0; -EINVAL for a state the guest may not write or an unaligned
 * address, -ERANGE for a ring size out of bounds, -EFAULT for rings that
 * are not guest RAM.  The positive value is what the host answers in
 * host_error.
 */
int bar_mbox_check(const struct bar_mbox *m, struct guestmem *gm,
		   void **rings, const char **why);

const char *bar_state_name(uint32_t state);

#endif /* KVMBUSD_BAR_H */
