/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * The echo device class (KVMBUS_CLASS_ECHO_*): a test device that
 * exercises a channel end to end.  docs/protocol.md section 7.1 is its
 * prose; this is its wire format.
 *
 * Guest to host, on the channel's guest-to-host ring:
 * - INBAND with KVMBUS_PKT_F_COMP_REQUESTED: the host answers with a COMP
 *   packet carrying the same trans_id and the same payload, byte for byte.
 * - INBAND without it: the host consumes and counts it (one-way load).
 * - GPA with a struct kvmbus_echo_gpa_req payload: the host reads
 *   (KVMBUS_ECHO_OP_SUM) or fills (KVMBUS_ECHO_OP_FILL) the listed guest
 *   ranges in place and answers with a COMP packet carrying the same
 *   trans_id and a struct kvmbus_echo_gpa_resp.
 *
 * Every channel of an echo device (the primary and each sub-channel) works
 * the same way.  The host's `subchannels=N` parameter (0..63, default 0)
 * sets the device's max_subchannels.
 *
 * Host to guest, started from kvmbusctl: INBAND packets without a
 * completion request, payload byte i = (seq + i) & 0xff, where seq is the
 * packet's trans_id.
 */
#ifndef _KVMBUS_ECHO_H
#define _KVMBUS_ECHO_H

#include "protocol.h"

enum kvmbus_echo_op {
	KVMBUS_ECHO_OP_SUM	= 1,	/* host reads the ranges */
	KVMBUS_ECHO_OP_FILL	= 2,	/* host writes the ranges */
};

struct kvmbus_echo_gpa_req {
	__le32 op;			/* enum kvmbus_echo_op */
	__le32 seed;			/* FILL: byte i = (seed + i) & 0xff */
};

static_assert(sizeof(struct kvmbus_echo_gpa_req) == 8);

struct kvmbus_echo_gpa_resp {
	__le32 status;			/* 0, or a positive errno */
	__le32 reserved;
	__le64 bytes;			/* bytes read or written */
	__le64 sum;			/* SUM: sum of every byte read */
};

static_assert(sizeof(struct kvmbus_echo_gpa_resp) == 24);

/*
 * The echo device's offer data (struct kvmbus_ctl_offer.data): lets a
 * test check that class data reaches the driver intact.
 */
#define KVMBUS_ECHO_OFFER_MAGIC		0x6f686365u	/* "echo" */

struct kvmbus_echo_offer_data {
	__le32 magic;			/* KVMBUS_ECHO_OFFER_MAGIC */
	__le32 max_subchannels;		/* as the offer's, repeated */
};

static_assert(sizeof(struct kvmbus_echo_offer_data) == 8);

#endif /* _KVMBUS_ECHO_H */
