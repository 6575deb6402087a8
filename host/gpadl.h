/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * GPADLs: the lists of guest pages a guest hands kvmbusd (docs/protocol.md
 * section 6.3), one table per guest connection.
 *
 *	guest: GPADL_CREATE  {gpadl_id, total_pages, nr_ranges, ranges[]}
 *	guest: GPADL_BODY    {gpadl_id, nr_ranges, ranges[]}  (until complete)
 *	host:  GPADL_CREATED {gpadl_id, status}
 *	guest: GPADL_TEARDOWN {gpadl_id}
 *	host:  GPADL_TORNDOWN {gpadl_id, status}
 *
 * Every page run is checked against guest RAM with the one range helper
 * (guestmem_file_off() is guestmem_range() plus the file offset) as it
 * arrives, and stored as the file offsets a view maps (guestmem.h); a
 * run that the file continues merges into the one before it.  Everything is bounded per connection: GPADL_MAX
 * GPADLs, GPADL_CONN_MAX_PAGES pages described, GPADL_CONN_MAX_RUNS runs
 * stored, so a guest cannot make kvmbusd allocate without limit.
 *
 * The table knows nothing about messages being answered: gpadl_create()
 * and friends take the guest's message (already copied out of shared
 * memory) and say what to answer; ctl.c answers.
 */
#ifndef KVMBUSD_GPADL_H
#define KVMBUSD_GPADL_H

#include <stdbool.h>
#include <stdint.h>

#include "guestmem.h"
#include "proto.h"

/* Per connection: GPADLs (complete or being described) ... */
#define GPADL_MAX		512
/* ... pages all of them describe (16 GiB: a page in two GPADLs counts
 * twice) ... */
#define GPADL_CONN_MAX_PAGES	(4u * KVMBUS_GPADL_MAX_PAGES)
/* ... and runs kvmbusd stores for them (16 bytes each: 4 MiB). */
#define GPADL_CONN_MAX_RUNS	(1u << 18)

struct gpadl {
	uint32_t id;			/* 0: a free slot */
	uint32_t total_pages;		/* from GPADL_CREATE */
	uint32_t pages;			/* described so far */
	uint32_t users;			/* open channels using it */
	uint32_t nr_runs;
	uint32_t cap_runs;
	struct guestmem_run *runs;	/* file offsets, merged */
};

struct gpadl_stats {
	uint64_t created;		/* completed: GPADL_CREATED 0 */
	uint64_t failed;		/* GPADL_CREATED with an error */
	uint64_t torn_down;		/* GPADL_TORNDOWN 0 */
	uint64_t teardown_failed;	/* GPADL_TORNDOWN with an error */
	uint64_t ignored;		/* BODY for no GPADL in progress */
};

struct gpadls {
	struct gpadl slot[GPADL_MAX];
	unsigned int count;		/* live slots */
	uint64_t pages;			/* total_pages of the live ones */
	uint64_t runs;			/* nr_runs of the live ones */
	struct gpadl_stats stats;
};

/* What to tell the guest about a GPADL_CREATE or GPADL_BODY. */
enum gpadl_res {
	GPADL_MORE,	/* valid, incomplete: nothing yet */
	GPADL_DONE,	/* complete: GPADL_CREATED, status 0 */
	GPADL_FAIL,	/* GPADL_CREATED with *status; the id is forgotten
			 * (unless the error is that it is in use) */
	GPADL_IGNORE,	/* a BODY for no GPADL in progress: drop, count */
};

void gpadls_init(struct gpadls *gs);

/* Forget every GPADL, in use or not (the caller has closed the channels). */
void gpadls_drop_all(struct gpadls *gs);

/*
 * gpadls_find() - the live GPADL @id (complete or not)
 * @id: as received from the guest: any value is safe
 * Return: the GPADL or NULL.
 */
struct gpadl *gpadls_find(struct gpadls *gs, uint32_t id);

static inline bool gpadl_complete(const struct gpadl *g)
{
	return g->pages == g->total_pages;
}

/*
 * gpadl_create() - a GPADL_CREATE message
 * @gm: guest RAM, to check each run
 * @msg: the message, a private copy of @len bytes, at least the size of
 *	struct kvmbus_ctl_gpadl (ctl.c checks that)
 * @id: set to the message's gpadl_id, for the answer
 * @status: set to a positive errno for GPADL_FAIL:
 *	EINVAL	id 0, no pages, too many ranges for the message or the
 *		protocol, a run of no pages, more pages than total_pages
 *	E2BIG	total_pages above KVMBUS_GPADL_MAX_PAGES
 *	EEXIST	the id is in use (that GPADL is left alone)
 *	EFAULT	a run that is not guest RAM
 *	ENOSPC	the connection's GPADL, page or run budget is used up
 *	ENOMEM	out of memory
 * Return: GPADL_MORE, GPADL_DONE or GPADL_FAIL.
 */
enum gpadl_res gpadl_create(struct gpadls *gs, struct guestmem *gm,
			    const void *msg, uint32_t len, uint32_t *id,
			    uint32_t *status);

/*
 * gpadl_body() - a GPADL_BODY message; arguments as gpadl_create()
 *
 * A BODY for an id that is not being described (unknown, complete, or
 * forgotten after an error: the guest may have sent more BODYs before it
 * saw the answer) is GPADL_IGNORE.  A BODY with no ranges is EINVAL.
 * Return: GPADL_MORE, GPADL_DONE, GPADL_FAIL or GPADL_IGNORE.
 */
enum gpadl_res gpadl_body(struct gpadls *gs, struct guestmem *gm,
			  const void *msg, uint32_t len, uint32_t *id,
			  uint32_t *status);

/*
 * gpadl_teardown() - forget GPADL @id
 *
 * A GPADL that is still being described may be torn down (the guest
 * gave up on it); one in use by an open channel may not.
 * Return: 0, -ENOENT for no such GPADL, -EBUSY while a channel uses it.
 */
int gpadl_teardown(struct gpadls *gs, uint32_t id);

#endif /* KVMBUSD_GPADL_H */
