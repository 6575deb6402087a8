/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * The synthetic SCSI controller class (KVMBUS_CLASS_SCSI_*): one offered
 * channel is one SCSI host adapter with up to KVMBUS_SCSI_MAX_LUNS logical
 * units on one target; sub-channels are extra queues.  docs/protocol.md
 * section 7.4 is its prose; this is its wire format.
 *
 * Offer data: struct kvmbus_scsi_offer, the controller's limits.
 *
 * Guest to host, on any channel of the controller, every message a
 * request with KVMBUS_PKT_F_COMP_REQUESTED, answered by one COMP packet
 * with the same trans_id:
 * - INIT (INBAND, primary channel, first): the guest's protocol version;
 *   answered with struct kvmbus_scsi_init_resp, which repeats the offer
 *   data (so a guest need not depend on how its bus exposes offer data).
 * - EXECUTE: struct kvmbus_scsi_req, a CDB for one LUN.  INBAND when no
 *   data moves; GPA when it does, the packet's ranges being the data
 *   buffer in order (read by the host for TO_DEVICE, written for
 *   FROM_DEVICE).  Answered with struct kvmbus_scsi_resp.
 * - ABORT, RESET_LUN, RESET_HOST: struct kvmbus_scsi_tmf; answered with
 *   struct kvmbus_scsi_tmf_resp once every request it covers has been
 *   completed (or cancelled) on the channel.
 *
 * Host to guest, INBAND without a completion request, trans_id 0:
 * - LUNS_CHANGED: struct kvmbus_scsi_event: a LUN was added, removed or
 *   resized; the guest rescans (REPORT LUNS, READ CAPACITY).
 */
#ifndef _KVMBUS_STORVSC_H
#define _KVMBUS_STORVSC_H

#include "protocol.h"

#define KVMBUS_SCSI_VERSION_1		1

#define KVMBUS_SCSI_MAX_LUNS		256	/* LUN numbers 0..255 */
#define KVMBUS_SCSI_CDB_MAX		16
#define KVMBUS_SCSI_SENSE_MAX		96	/* SCSI_SENSE_BUFFERSIZE */

/* Offer data: what the guest sizes its Scsi_Host with. */
struct kvmbus_scsi_offer {
	__le32 version;			/* KVMBUS_SCSI_VERSION_1 */
	__le16 max_luns;		/* LUN numbers are below this */
	__le16 max_queues;		/* primary + sub-channels */
	__le32 max_transfer;		/* bytes per request, x4096 */
	__le32 max_segments;		/* GPA ranges per request */
	__le32 flags;			/* none defined yet: 0 */
	__le32 queue_depth;		/* requests in flight per queue */
};

static_assert(sizeof(struct kvmbus_scsi_offer) == 24);
static_assert(sizeof(struct kvmbus_scsi_offer) <= KVMBUS_OFFER_DATA_MAX);

enum kvmbus_scsi_op {
	KVMBUS_SCSI_OP_INIT		= 1,
	KVMBUS_SCSI_OP_EXECUTE		= 2,
	KVMBUS_SCSI_OP_ABORT		= 3,
	KVMBUS_SCSI_OP_RESET_LUN	= 4,
	KVMBUS_SCSI_OP_RESET_HOST	= 5,
	KVMBUS_SCSI_OP_LUNS_CHANGED	= 6,	/* host to guest */
};

/* Every message, both directions, starts with this. */
struct kvmbus_scsi_hdr {
	__le16 op;			/* enum kvmbus_scsi_op */
	__le16 reserved;
	__le32 status;			/* answers: 0 or a positive errno */
};

static_assert(sizeof(struct kvmbus_scsi_hdr) == 8);

struct kvmbus_scsi_init {
	struct kvmbus_scsi_hdr hdr;
	__le32 version;			/* the guest's KVMBUS_SCSI_VERSION_* */
	__le32 reserved;
};

static_assert(sizeof(struct kvmbus_scsi_init) == 16);

struct kvmbus_scsi_init_resp {
	struct kvmbus_scsi_hdr hdr;	/* status EPROTONOSUPPORT: no match */
	__le32 version;			/* the version both speak */
	__le32 luns_generation;		/* as in kvmbus_scsi_event */
	struct kvmbus_scsi_offer limits;	/* the offer data again */
};

static_assert(sizeof(struct kvmbus_scsi_init_resp) == 40);

enum kvmbus_scsi_dir {
	KVMBUS_SCSI_DIR_NONE		= 0,
	KVMBUS_SCSI_DIR_TO_DEVICE	= 1,	/* host reads guest memory */
	KVMBUS_SCSI_DIR_FROM_DEVICE	= 2,	/* host writes guest memory */
};

struct kvmbus_scsi_req {
	struct kvmbus_scsi_hdr hdr;	/* op EXECUTE, status 0 */
	__le16 lun;			/* below max_luns */
	u8 cdb_len;			/* 1..KVMBUS_SCSI_CDB_MAX */
	u8 dir;				/* enum kvmbus_scsi_dir */
	__le32 data_len;		/* bytes: the GPA ranges' sum exactly */
	u8 cdb[KVMBUS_SCSI_CDB_MAX];
};

static_assert(sizeof(struct kvmbus_scsi_req) == 32);

/* struct kvmbus_scsi_resp.host_status: the transport's verdict. */
enum kvmbus_scsi_host_status {
	KVMBUS_SCSI_HS_OK		= 0,	/* scsi_status is the device's */
	KVMBUS_SCSI_HS_NO_LUN		= 1,	/* no such LUN (not INQUIRY) */
	KVMBUS_SCSI_HS_BAD_REQUEST	= 2,	/* malformed request */
	KVMBUS_SCSI_HS_FAULT		= 3,	/* a range outside guest RAM */
	KVMBUS_SCSI_HS_ABORTED		= 4,	/* by ABORT or a reset */
	KVMBUS_SCSI_HS_IO_ERROR		= 5,	/* the backing store failed */
};

struct kvmbus_scsi_resp {
	struct kvmbus_scsi_hdr hdr;	/* op EXECUTE, status 0 */
	u8 host_status;			/* enum kvmbus_scsi_host_status */
	u8 scsi_status;			/* SAM status: GOOD, CHECK CONDITION */
	u8 sense_len;			/* valid bytes of sense[] */
	u8 reserved;
	__le32 residual;		/* data_len minus bytes transferred */
	u8 sense[KVMBUS_SCSI_SENSE_MAX];
};

static_assert(sizeof(struct kvmbus_scsi_resp) == 112);

/* ABORT (one request), RESET_LUN (every request of @lun), RESET_HOST. */
struct kvmbus_scsi_tmf {
	struct kvmbus_scsi_hdr hdr;
	__le64 target_id;		/* ABORT: the request's trans_id */
	__le16 lun;			/* RESET_LUN */
	__le16 reserved[3];
};

static_assert(sizeof(struct kvmbus_scsi_tmf) == 24);

struct kvmbus_scsi_tmf_resp {
	struct kvmbus_scsi_hdr hdr;	/* status: 0, ENOENT (ABORT: not live) */
	__le32 aborted;			/* requests it completed as ABORTED */
	__le32 reserved;
};

static_assert(sizeof(struct kvmbus_scsi_tmf_resp) == 16);

/* LUNS_CHANGED: added, removed or resized; the guest rescans. */
struct kvmbus_scsi_event {
	struct kvmbus_scsi_hdr hdr;
	__le32 luns_generation;		/* bumped by every change */
	__le16 lun;			/* the LUN that changed */
	__le16 reserved;
};

static_assert(sizeof(struct kvmbus_scsi_event) == 16);

#endif /* _KVMBUS_STORVSC_H */
