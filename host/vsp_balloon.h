/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The balloon VSP: the host end of the dynamic memory class
 * (include/kvmbus/balloon.h, docs/protocol.md section 7.2).
 *
 * Pages the guest gives up (INFLATED) and free pages it reports (REPORT)
 * are punched out of the guest RAM file (fallocate PUNCH_HOLE |
 * KEEP_SIZE), so the host really gets the memory back; the guest's next
 * touch of such a page reads zeroes from a fresh page.  Every range is
 * checked against guest RAM with guestmem_file_off() (guestmem_range())
 * before anything is punched: one bad range refuses the whole message,
 * which is counted and answered with an error, never punched in part.
 *
 * The host keeps a target per device (the guest memory it wants the
 * guest to have: `kvmbusctl set ID target=SIZE`, `kvmbusctl balloon ID
 * SIZE`, `kvmbusd --device balloon,target=SIZE`) and the balloon size the guest's answers add up to, and sends one
 * INFLATE_REQ or DEFLATE_REQ at a time until they agree.  A deflate the
 * guest makes on its own under memory pressure lowers the balloon target
 * to what is left in the balloon: the guest's need wins until someone
 * sets a new target.
 */
#ifndef KVMBUSD_VSP_BALLOON_H
#define KVMBUSD_VSP_BALLOON_H

#include <stdint.h>

#include <kvmbus/balloon.h>

#include "chan.h"

struct device;

extern const struct vsp_ops vsp_balloon_ops;

/* A guest message, read once out of the packet and checked. */
struct balloon_msg {
	uint16_t type;			/* enum kvmbus_balloon_type */
	uint16_t flags;			/* range messages */
	uint16_t status;
	uint64_t req_id;
	uint64_t pages;			/* range messages: all ranges' pages */
	uint64_t lo_pfn, hi_pfn;	/* ... their lowest frame, highest end */
	unsigned int nr_runs;		/* ... as runs of the RAM file, */
	struct guestmem_run runs[KVMBUS_BALLOON_MAX_RANGES];	/* merged */
	struct kvmbus_balloon_status st;	/* STATUS, as received */
};

/*
 * balloon_parse() - check one guest->host balloon message
 * @gm: guest RAM, for the ranges (refusals counted in gm->stats)
 * @buf: the payload, a private copy
 * @len: its length
 * @out: the message; on success, range messages carry their ranges as
 *	runs of the RAM file (adjacent runs merged)
 *
 * Return: 0; -EINVAL for a malformed message (length, type, count,
 * flags, a range of no pages or of more than KVMBUS_BALLOON_MAX_RANGE_PAGES),
 * -EFAULT for a range outside guest RAM.
 */
int balloon_parse(struct guestmem *gm, const uint8_t *buf, uint32_t len,
		  struct balloon_msg *out);

/*
 * vsp_balloon_set_target() - the memory the guest should have
 * @dev: a balloon device
 * @bytes: guest memory wanted; at or above guest RAM empties the balloon
 *
 * The target belongs to the device: a guest driver that binds later is
 * brought to it too.  An open channel gets its request at once.
 * (`kvmbusctl set ID target=SIZE` and `kvmbusctl balloon ID SIZE`.)
 */
void vsp_balloon_set_target(struct device *dev, uint64_t bytes);

/*
 * vsp_balloon_deflate_range() - ask the guest for its pages in a range
 * @dev: a balloon device
 * @pfn: first 4 KiB frame
 * @pages: frames in the range, 1..KVMBUS_BALLOON_MAX_REQ_PAGES
 *
 * The guest returns exactly the ballooned pages inside the range (it may
 * hold none there); the balloon target then follows what is left.  Sent
 * before any other request; the result is in the device's JSON
 * ("deflate_range").  (`kvmbusctl balloon ID deflate GPA SIZE`.)
 *
 * Return: 0; -EINVAL for an empty or wrapping range, -ENOTCONN without an
 * open channel, -EAGAIN before the guest's first STATUS, -EOPNOTSUPP if
 * the guest driver does not deflate by range, -EBUSY while another range
 * deflate is unanswered.
 */
int vsp_balloon_deflate_range(struct device *dev, uint64_t pfn,
			      uint64_t pages);

/* Return: the device's open (or broken) channel, or NULL. */
struct chan *vsp_balloon_chan(const struct device *dev);

/* The class's state and counters (as to_json adds them). */
void vsp_balloon_json(const struct chan *ch, struct json_object *o);

#endif /* KVMBUSD_VSP_BALLOON_H */
