/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * kvmbus wire protocol, version 1: the one definition shared by the guest
 * modules and kvmbusd.  docs/protocol.md is the prose specification; this
 * header is its machine-checked half.  Everything here is little-endian on
 * the wire and laid out with natural alignment, so no structure needs
 * __packed; every size is pinned by a static_assert.
 */
#ifndef _KVMBUS_PROTOCOL_H
#define _KVMBUS_PROTOCOL_H

#include "types.h"

/* Protocol versions are major << 16 | minor. */
#define KVMBUS_VERSION(maj, min)	(((u32)(maj) << 16) | (u32)(min))
#define KVMBUS_VERSION_1_0		KVMBUS_VERSION(1, 0)
#define KVMBUS_VERSION_MIN		KVMBUS_VERSION_1_0
#define KVMBUS_VERSION_MAX		KVMBUS_VERSION_1_0

#define KVMBUS_PAGE_SIZE		4096u

/*
 * BAR2 of the ivshmem-doorbell device: the bootstrap mailbox.
 *
 * The host fills the read-only part before QEMU starts.  The guest
 * allocates the control ring pair in its own RAM, writes its location
 * here and rings doorbell vector 0; from then on everything travels on
 * rings.  Keeping the state here lets a restarted kvmbusd re-attach to a
 * running guest.
 */
#define KVMBUS_BAR_MAGIC		"KVMBUS\x00\x01"
#define KVMBUS_BAR_MAGIC_LEN		8
#define KVMBUS_BAR_LAYOUT_1		1

enum kvmbus_mbox_state {
	KVMBUS_MBOX_IDLE	= 0,	/* nothing published / host let go */
	KVMBUS_MBOX_CONNECT	= 1,	/* guest: control ring is ready */
	KVMBUS_MBOX_ONLINE	= 2,	/* host: control ring accepted */
	KVMBUS_MBOX_ERROR	= 3,	/* host: control ring rejected */
	KVMBUS_MBOX_RESET	= 4,	/* guest: control ring withdrawn */
};

struct kvmbus_bar_hdr {
	/* Written by the host only. */
	u8 magic[KVMBUS_BAR_MAGIC_LEN];
	__le32 layout;			/* KVMBUS_BAR_LAYOUT_1 */
	__le32 bar_size;		/* bytes, a power of two */
	__le32 host_version_min;
	__le32 host_version_max;
	__le32 nr_vectors;		/* MSI-X vectors the host serves */
	__le32 host_state;		/* enum kvmbus_mbox_state */
	__le32 host_error;		/* positive errno when KVMBUS_MBOX_ERROR */
	__le32 host_generation;		/* bumped on every host (re)start */
	__le32 acked_generation;	/* guest_generation host_state answers */
	u8 reserved0[20];
	/* Written by the guest only; read once and validated by the host. */
	__le32 guest_state;		/* enum kvmbus_mbox_state */
	__le32 ctl_ring_pages;		/* pages per direction, incl. header */
	__le64 ctl_gpa;			/* guest->host ring, then host->guest */
	__le32 guest_generation;	/* bumped on every connect */
	u8 reserved1[44];
};

static_assert(sizeof(struct kvmbus_bar_hdr) == 128);

/* Doorbell vector 0 belongs to the control ring; channels get their own. */
#define KVMBUS_CTL_VECTOR		0
#define KVMBUS_MAX_VECTORS		256

/*
 * Ring buffer: one header page then a data area of whole pages.  The
 * producer owns the first cache line, the consumer the second, so the two
 * sides never write the same line.  Indices are byte offsets into the
 * data area, always multiples of 8 and smaller than its size.  The ring is
 * empty when read_index == write_index; a producer never fills the last 8
 * bytes, so full never looks like empty.
 */
struct kvmbus_ring_hdr {
	/* Producer-owned. */
	__le32 write_index;
	__le32 pending_send_sz;		/* signal me when this much is free */
	u8 reserved0[56];
	/* Consumer-owned. */
	__le32 read_index;
	__le32 interrupt_mask;		/* non-zero: do not signal me */
	u8 reserved1[56];
	/* Set by the guest when the ring is created, read-only afterwards. */
	__le32 features;		/* KVMBUS_RING_F_* */
	u8 reserved2[KVMBUS_PAGE_SIZE - 132];
};

static_assert(sizeof(struct kvmbus_ring_hdr) == KVMBUS_PAGE_SIZE);

#define KVMBUS_RING_F_PENDING_SEND	BIT(0)

/* Packet types. */
enum kvmbus_pkt_type {
	KVMBUS_PKT_INBAND	= 1,	/* payload only */
	KVMBUS_PKT_GPA		= 2,	/* GPA range list, then payload */
	KVMBUS_PKT_COMP		= 3,	/* completion of a request */
};

#define KVMBUS_PKT_F_COMP_REQUESTED	BIT(0)
#define KVMBUS_PKT_F_ALL		KVMBUS_PKT_F_COMP_REQUESTED

/*
 * Every packet: descriptor, type-specific header (for KVMBUS_PKT_GPA the
 * range list), payload, zero padding to 8 bytes, then an 8-byte trailer
 * holding the packet's own start offset.
 */
struct kvmbus_pkt_desc {
	__le16 type;			/* enum kvmbus_pkt_type */
	__le16 flags;			/* KVMBUS_PKT_F_* */
	__le16 data_offset;		/* descriptor start to payload, x8 */
	__le16 reserved;
	__le32 total_len;		/* descriptor start to trailer, x8 */
	__le32 data_len;		/* exact payload bytes */
	__le64 trans_id;		/* opaque to the receiver */
};

static_assert(sizeof(struct kvmbus_pkt_desc) == 24);

struct kvmbus_pkt_trailer {
	__le32 start;			/* ring offset of this descriptor */
	__le32 reserved;
};

static_assert(sizeof(struct kvmbus_pkt_trailer) == 8);

/* KVMBUS_PKT_GPA: a list of guest-physical byte ranges. */
struct kvmbus_gpa_list {
	__le32 nr_ranges;
	__le32 reserved;
};

static_assert(sizeof(struct kvmbus_gpa_list) == 8);

struct kvmbus_gpa_range {
	__le64 gpa;
	__le32 len;
	__le32 reserved;
};

static_assert(sizeof(struct kvmbus_gpa_range) == 16);

#define KVMBUS_MAX_GPA_RANGES		256

/*
 * Control messages: the payload of in-band packets on the control ring.
 */
enum kvmbus_ctl_type {
	KVMBUS_CTL_VERSION_REQ		= 1,	/* g->h */
	KVMBUS_CTL_VERSION_RESP		= 2,	/* h->g */
	KVMBUS_CTL_REQUEST_OFFERS	= 3,	/* g->h */
	KVMBUS_CTL_OFFER		= 4,	/* h->g */
	KVMBUS_CTL_ALL_OFFERS_DONE	= 5,	/* h->g */
	KVMBUS_CTL_RESCIND		= 6,	/* h->g */
	KVMBUS_CTL_RELID_RELEASED	= 7,	/* g->h */
	KVMBUS_CTL_GPADL_CREATE		= 8,	/* g->h */
	KVMBUS_CTL_GPADL_BODY		= 9,	/* g->h */
	KVMBUS_CTL_GPADL_CREATED	= 10,	/* h->g */
	KVMBUS_CTL_GPADL_TEARDOWN	= 11,	/* g->h */
	KVMBUS_CTL_GPADL_TORNDOWN	= 12,	/* h->g */
	KVMBUS_CTL_OPEN			= 13,	/* g->h */
	KVMBUS_CTL_OPEN_RESULT		= 14,	/* h->g */
	KVMBUS_CTL_CLOSE		= 15,	/* g->h */
	KVMBUS_CTL_CLOSE_RESULT		= 16,	/* h->g */
	KVMBUS_CTL_REQUEST_SUBCHANNELS	= 17,	/* g->h */
	KVMBUS_CTL_UNLOAD		= 18,	/* g->h */
	KVMBUS_CTL_UNLOAD_RESP		= 19,	/* h->g */
	KVMBUS_CTL_SUBCHANNELS_RESULT	= 20,	/* h->g */
	KVMBUS_CTL_MAX			= KVMBUS_CTL_SUBCHANNELS_RESULT,
};

struct kvmbus_ctl_hdr {
	__le32 type;			/* enum kvmbus_ctl_type */
	__le32 reserved;
};

static_assert(sizeof(struct kvmbus_ctl_hdr) == 8);

struct kvmbus_ctl_version_req {
	struct kvmbus_ctl_hdr hdr;
	__le32 version_min;
	__le32 version_max;
	__le64 features;		/* KVMBUS_F_* the guest supports */
};

static_assert(sizeof(struct kvmbus_ctl_version_req) == 24);

struct kvmbus_ctl_version_resp {
	struct kvmbus_ctl_hdr hdr;
	__le32 version;			/* chosen; 0 = no common version */
	__le32 max_channels;
	__le64 features;		/* the intersection */
};

static_assert(sizeof(struct kvmbus_ctl_version_resp) == 24);

#define KVMBUS_UUID_SIZE		16

/*
 * Device classes.  A class id travels in an offer as 16 bytes in RFC 4122
 * order; the modalias of a device is "kvmbus:" and those bytes in hex.
 * Each class is given in both forms; KUnit checks that they agree.
 */
/* synthetic NIC (kvmbus_netvsc) */
#define KVMBUS_CLASS_NET_HEX	"a43b08b3d5754c869d80cadfd8b870c2"
#define KVMBUS_CLASS_NET_BYTES { \
	0xa4, 0x3b, 0x08, 0xb3, 0xd5, 0x75, 0x4c, 0x86, \
	0x9d, 0x80, 0xca, 0xdf, 0xd8, 0xb8, 0x70, 0xc2 }
/* synthetic SCSI controller (kvmbus_storvsc) */
#define KVMBUS_CLASS_SCSI_HEX	"e4eb1f9ca1f5478c929c85f587df87f7"
#define KVMBUS_CLASS_SCSI_BYTES { \
	0xe4, 0xeb, 0x1f, 0x9c, 0xa1, 0xf5, 0x47, 0x8c, \
	0x92, 0x9c, 0x85, 0xf5, 0x87, 0xdf, 0x87, 0xf7 }
/* dynamic memory (kvmbus_balloon) */
#define KVMBUS_CLASS_BALLOON_HEX	"3f70ca2473e346349b5a779d1cebe767"
#define KVMBUS_CLASS_BALLOON_BYTES { \
	0x3f, 0x70, 0xca, 0x24, 0x73, 0xe3, 0x46, 0x34, \
	0x9b, 0x5a, 0x77, 0x9d, 0x1c, 0xeb, 0xe7, 0x67 }
/* echo/loopback test device (tests/kmod) */
#define KVMBUS_CLASS_ECHO_HEX	"fe7f9a81846347a7af62b5deede655b6"
#define KVMBUS_CLASS_ECHO_BYTES { \
	0xfe, 0x7f, 0x9a, 0x81, 0x84, 0x63, 0x47, 0xa7, \
	0xaf, 0x62, 0xb5, 0xde, 0xed, 0xe6, 0x55, 0xb6 }

#define KVMBUS_OFFER_DATA_MAX		64
#define KVMBUS_OFFER_F_SUBCHANNEL	BIT(0)
/* Sub-channels of one device at most: 64 channels with its primary. */
#define KVMBUS_MAX_SUBCHANNELS		63

struct kvmbus_ctl_offer {
	struct kvmbus_ctl_hdr hdr;
	__le32 relid;			/* host's channel id, never 0 */
	__le16 vector;			/* doorbell / MSI-X vector */
	__le16 flags;			/* KVMBUS_OFFER_F_* */
	u8 class_id[KVMBUS_UUID_SIZE];
	u8 instance_id[KVMBUS_UUID_SIZE];
	__le16 sub_index;		/* 0 for the primary channel */
	__le16 max_subchannels;
	__le32 data_len;		/* valid bytes of data[] */
	u8 data[KVMBUS_OFFER_DATA_MAX];	/* class-specific */
};

static_assert(sizeof(struct kvmbus_ctl_offer) == 120);

struct kvmbus_ctl_relid {		/* RESCIND, RELID_RELEASED, CLOSE */
	struct kvmbus_ctl_hdr hdr;
	__le32 relid;
	__le32 reserved;
};

static_assert(sizeof(struct kvmbus_ctl_relid) == 16);

/* A run of guest pages: compact for the large contiguous runs drivers use. */
struct kvmbus_pfn_range {
	__le64 pfn;
	__le32 nr_pages;
	__le32 reserved;
};

static_assert(sizeof(struct kvmbus_pfn_range) == 16);

#define KVMBUS_GPADL_MAX_PAGES		BIT(20)	/* 4 GiB */

struct kvmbus_ctl_gpadl {		/* GPADL_CREATE and GPADL_BODY */
	struct kvmbus_ctl_hdr hdr;
	__le32 gpadl_id;		/* chosen by the guest, never 0 */
	__le32 total_pages;		/* CREATE: pages in the whole GPADL */
	__le32 nr_ranges;		/* ranges in this message */
	__le32 reserved;
	struct kvmbus_pfn_range ranges[];
};

static_assert(sizeof(struct kvmbus_ctl_gpadl) == 24);

#define KVMBUS_CTL_GPADL_MAX_RANGES	64

struct kvmbus_ctl_gpadl_teardown {
	struct kvmbus_ctl_hdr hdr;
	__le32 gpadl_id;
	__le32 reserved;
};

static_assert(sizeof(struct kvmbus_ctl_gpadl_teardown) == 16);

struct kvmbus_ctl_gpadl_result {	/* GPADL_CREATED, GPADL_TORNDOWN */
	struct kvmbus_ctl_hdr hdr;
	__le32 gpadl_id;
	__le32 status;			/* 0 or a positive errno */
};

static_assert(sizeof(struct kvmbus_ctl_gpadl_result) == 16);

#define KVMBUS_OPEN_DATA_MAX		32

struct kvmbus_ctl_open {
	struct kvmbus_ctl_hdr hdr;
	__le32 relid;
	__le32 ring_gpadl;		/* g->h ring, then h->g ring */
	__le32 g2h_pages;		/* pages of the g->h ring incl. header */
	__le32 reserved;
	u8 data[KVMBUS_OPEN_DATA_MAX];	/* class-specific */
};

static_assert(sizeof(struct kvmbus_ctl_open) == 56);

struct kvmbus_ctl_result {		/* OPEN_RESULT, CLOSE_RESULT */
	struct kvmbus_ctl_hdr hdr;
	__le32 relid;
	__le32 status;			/* 0 or a positive errno */
};

static_assert(sizeof(struct kvmbus_ctl_result) == 16);

struct kvmbus_ctl_subchannels {
	struct kvmbus_ctl_hdr hdr;
	__le32 relid;			/* the primary channel */
	__le32 count;			/* sub-channels wanted */
};

static_assert(sizeof(struct kvmbus_ctl_subchannels) == 16);

/*
 * SUBCHANNELS_RESULT: the answer to REQUEST_SUBCHANNELS, sent after the
 * OFFERs of every sub-channel it granted.  Its first fields are laid out
 * as struct kvmbus_ctl_result.
 */
struct kvmbus_ctl_subchannels_result {
	struct kvmbus_ctl_hdr hdr;
	__le32 relid;			/* the primary channel */
	__le32 status;			/* 0 or a positive errno */
	__le32 count;			/* sub-channels the device has now */
	__le32 reserved;
};

static_assert(sizeof(struct kvmbus_ctl_subchannels_result) == 24);

#endif /* _KVMBUS_PROTOCOL_H */
