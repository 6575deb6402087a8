/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * The dynamic memory (balloon) device class (KVMBUS_CLASS_BALLOON_*):
 * its wire format.  docs/protocol.md section 7.2 is the prose.
 *
 * Every message is the payload of an INBAND packet on the device's one
 * channel and starts with struct kvmbus_balloon_hdr.  Page counts and
 * frame numbers are in 4 KiB units (KVMBUS_PAGE_SIZE).
 *
 * Guest to host:
 *   STATUS     every second: the guest's memory figures
 *   INFLATED   pages the guest gave up, as frame ranges (an answer to
 *              INFLATE_REQ, in batches; the last has F_LAST)
 *   DEFLATED   pages the guest took back (an answer to DEFLATE_REQ, or
 *              on its own under memory pressure: F_PRESSURE)
 *   REPORT     free page report: free pages the host may discard; the
 *              guest does not use them until the host answered
 * INFLATED and REPORT request a completion: the host answers with a COMP
 * packet of the same trans_id carrying struct kvmbus_balloon_ack, after
 * it has discarded the pages (status 0) or refused the whole message.
 *
 * Host to guest:
 *   INFLATE_REQ        give up this many pages more
 *   DEFLATE_REQ        take this many pages back
 *   DEFLATE_RANGE_REQ  take back every ballooned page inside this frame
 *                      range (only to a guest whose STATUS carries
 *                      KVMBUS_BALLOON_FEAT_DEFLATE_RANGE)
 */
#ifndef _KVMBUS_BALLOON_H
#define _KVMBUS_BALLOON_H

#include "protocol.h"

enum kvmbus_balloon_type {
	KVMBUS_BALLOON_STATUS		= 1,	/* guest -> host */
	KVMBUS_BALLOON_INFLATE_REQ	= 2,	/* host -> guest */
	KVMBUS_BALLOON_INFLATED		= 3,	/* guest -> host */
	KVMBUS_BALLOON_DEFLATE_REQ	= 4,	/* host -> guest */
	KVMBUS_BALLOON_DEFLATED		= 5,	/* guest -> host */
	KVMBUS_BALLOON_REPORT		= 6,	/* guest -> host */
	KVMBUS_BALLOON_DEFLATE_RANGE_REQ = 7,	/* host -> guest */
};

/* kvmbus_balloon_status.features: what the guest driver understands. */
#define KVMBUS_BALLOON_FEAT_DEFLATE_RANGE	BIT_ULL(0)

/* Ranges in one INFLATED / DEFLATED / REPORT message, at most. */
#define KVMBUS_BALLOON_MAX_RANGES	256
/* Pages in one range, at most (4 GiB): the sum of a message fits 2^40. */
#define KVMBUS_BALLOON_MAX_RANGE_PAGES	BIT_ULL(20)
/* Pages one INFLATE_REQ / DEFLATE_REQ asks for, at most (16 TiB). */
#define KVMBUS_BALLOON_MAX_REQ_PAGES	BIT_ULL(32)

/* kvmbus_balloon_ranges.flags */
#define KVMBUS_BALLOON_F_LAST		BIT(0)	/* ends the answer to a request */
#define KVMBUS_BALLOON_F_PRESSURE	BIT(1)	/* DEFLATED: the guest's own */
#define KVMBUS_BALLOON_F_ALL		(KVMBUS_BALLOON_F_LAST | \
					 KVMBUS_BALLOON_F_PRESSURE)

struct kvmbus_balloon_hdr {
	__le16 type;			/* enum kvmbus_balloon_type */
	__le16 reserved;
	__le32 reserved2;
};

static_assert(sizeof(struct kvmbus_balloon_hdr) == 8);

/* STATUS: 4 KiB pages, as the guest's /proc/meminfo would say. */
struct kvmbus_balloon_status {
	struct kvmbus_balloon_hdr hdr;
	__le64 total;			/* MemTotal (the balloon is not in it) */
	__le64 free;			/* MemFree */
	__le64 available;		/* MemAvailable */
	__le64 committed;		/* Committed_AS */
	__le64 page_cache;		/* Cached */
	__le64 swap_free;		/* SwapFree */
	__le64 balloon;			/* pages in the balloon */
	__le64 floor;			/* inflating stops at this MemAvailable */
	__le64 reported;		/* free pages reported, all time */
	__le64 features;		/* KVMBUS_BALLOON_FEAT_*; absent: 0 */
};

static_assert(sizeof(struct kvmbus_balloon_status) == 88);
/* A STATUS of the first guest drivers ends before @features. */
#define KVMBUS_BALLOON_STATUS_MIN_LEN	80

/* INFLATE_REQ, DEFLATE_REQ. */
struct kvmbus_balloon_req {
	struct kvmbus_balloon_hdr hdr;
	__le64 pages;			/* 1..KVMBUS_BALLOON_MAX_REQ_PAGES */
	__le64 req_id;			/* echoed in the answer, not 0 */
};

static_assert(sizeof(struct kvmbus_balloon_req) == 24);

struct kvmbus_balloon_range {
	__le64 pfn;			/* first 4 KiB frame */
	__le64 nr_pages;		/* 1..KVMBUS_BALLOON_MAX_RANGE_PAGES */
};

static_assert(sizeof(struct kvmbus_balloon_range) == 16);

/*
 * DEFLATE_RANGE_REQ: the guest takes back exactly the ballooned pages
 * inside @range and answers with DEFLATED of @req_id (every range of the
 * answer inside @range; F_LAST on the last batch, status 0, or BADRANGE
 * for a range it refused: then no page moved).
 */
struct kvmbus_balloon_range_req {
	struct kvmbus_balloon_hdr hdr;
	__le64 req_id;			/* echoed in the answer, not 0 */
	struct kvmbus_balloon_range range;	/* 1..MAX_REQ_PAGES pages */
};

static_assert(sizeof(struct kvmbus_balloon_range_req) == 32);

/*
 * INFLATED, DEFLATED, REPORT: followed by nr_ranges ranges.  @pages is
 * the sum of the ranges' pages; only a DEFLATED with F_PRESSURE may
 * carry no ranges and a count alone (the guest freed the pages in its
 * out-of-memory path, where it cannot keep a list).
 */
struct kvmbus_balloon_ranges {
	struct kvmbus_balloon_hdr hdr;
	__le64 req_id;			/* the request answered; 0 for none */
	__le64 pages;			/* pages in this message */
	__le32 nr_ranges;		/* 0..KVMBUS_BALLOON_MAX_RANGES */
	__le16 flags;			/* KVMBUS_BALLOON_F_* */
	__le16 status;			/* F_LAST: 0, or why fewer pages came */
};

static_assert(sizeof(struct kvmbus_balloon_ranges) == 32);

#define KVMBUS_BALLOON_MAX_MSG	(sizeof(struct kvmbus_balloon_ranges) + \
				 KVMBUS_BALLOON_MAX_RANGES * \
				 sizeof(struct kvmbus_balloon_range))

/* The host's completion of INFLATED and REPORT. */
struct kvmbus_balloon_ack {
	__le32 status;			/* 0, or a positive errno: nothing done */
	__le32 reserved;
	__le64 pages;			/* pages accepted */
};

static_assert(sizeof(struct kvmbus_balloon_ack) == 16);

/* Why an answer brought fewer pages than asked (status of F_LAST). */
#define KVMBUS_BALLOON_ST_FLOOR		1	/* the guest's floor */
#define KVMBUS_BALLOON_ST_NOMEM		2	/* allocation failed */
#define KVMBUS_BALLOON_ST_EMPTY		3	/* deflate: balloon empty */
#define KVMBUS_BALLOON_ST_BUSY		4	/* a request is in progress */
#define KVMBUS_BALLOON_ST_BADRANGE	5	/* range deflate: not guest RAM */

/*
 * kvmbus_balloon_msg_type() - check a message's length for its type
 * @buf: a private copy of the message
 * @len: its length
 * @to_host: true for a guest -> host message, false for host -> guest
 *
 * Checks what a header and the fixed part of each type allow: the type
 * belongs to the direction, the message holds its structure, and for
 * range messages holds every range (more bytes are allowed, to grow) and
 * has a valid count and flags; a page count without ranges only in a
 * pressure deflate, and at most KVMBUS_BALLOON_MAX_REQ_PAGES.  Requests
 * must ask for 1 or more pages and carry a request id; a range request's
 * range must not wrap around.  The ranges themselves are the receiver's
 * to check (the host against guest RAM, the guest against its frames).
 *
 * Return: the type, or 0 for a malformed message.
 */
static inline u16 kvmbus_balloon_msg_type(const void *buf, u32 len,
					  bool to_host)
{
	const struct kvmbus_balloon_hdr *h = buf;
	const struct kvmbus_balloon_ranges *r = buf;
	const struct kvmbus_balloon_range_req *rq = buf;
	const struct kvmbus_balloon_req *q = buf;
	u64 pfn, pages;
	u32 nr;
	u16 type;

	if (len < sizeof(*h))
		return 0;
	type = le16_to_cpu(h->type);
	switch (type) {
	case KVMBUS_BALLOON_STATUS:
		if (!to_host || len < KVMBUS_BALLOON_STATUS_MIN_LEN)
			return 0;
		return type;
	case KVMBUS_BALLOON_DEFLATE_RANGE_REQ:
		if (to_host || len < sizeof(*rq) || !le64_to_cpu(rq->req_id))
			return 0;
		pfn = le64_to_cpu(rq->range.pfn);
		pages = le64_to_cpu(rq->range.nr_pages);
		if (!pages || pages > KVMBUS_BALLOON_MAX_REQ_PAGES ||
		    pfn > ~(u64)0 - pages)
			return 0;
		return type;
	case KVMBUS_BALLOON_INFLATE_REQ:
	case KVMBUS_BALLOON_DEFLATE_REQ:
		if (to_host || len < sizeof(*q) || !le64_to_cpu(q->req_id) ||
		    !le64_to_cpu(q->pages) ||
		    le64_to_cpu(q->pages) > KVMBUS_BALLOON_MAX_REQ_PAGES)
			return 0;
		return type;
	case KVMBUS_BALLOON_INFLATED:
	case KVMBUS_BALLOON_DEFLATED:
	case KVMBUS_BALLOON_REPORT:
		if (!to_host || len < sizeof(*r))
			return 0;
		nr = le32_to_cpu(r->nr_ranges);
		if (nr > KVMBUS_BALLOON_MAX_RANGES ||
		    len - sizeof(*r) < nr * sizeof(struct kvmbus_balloon_range) ||
		    (le16_to_cpu(r->flags) & ~KVMBUS_BALLOON_F_ALL))
			return 0;
		/* Only a deflate can be the guest's own decision. */
		if ((le16_to_cpu(r->flags) & KVMBUS_BALLOON_F_PRESSURE) &&
		    type != KVMBUS_BALLOON_DEFLATED)
			return 0;
		if (le64_to_cpu(r->pages) > KVMBUS_BALLOON_MAX_REQ_PAGES ||
		    (!nr && le64_to_cpu(r->pages) &&
		     !(le16_to_cpu(r->flags) & KVMBUS_BALLOON_F_PRESSURE)))
			return 0;
		return type;
	default:
		return 0;
	}
}

#endif /* _KVMBUS_BALLOON_H */
