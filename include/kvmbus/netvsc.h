/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * The network device class (KVMBUS_CLASS_NET_*): the synthetic NIC.
 * docs/protocol.md section 7.3 is its prose; this is its wire format,
 * shared by kvmbus_netvsc.ko and kvmbusd's network provider.
 *
 * One NIC is one primary channel plus up to max_queues - 1 sub-channels;
 * every channel is one queue pair and carries its own buffers.  Every
 * message is the payload of a packet and starts with struct kvmbus_net_hdr.
 *
 * Guest to host:
 * - INIT (INBAND, completion requested): version and offloads; the COMP
 *   carries struct kvmbus_net_init_resp.  First message on every channel.
 * - BUF (INBAND, completion requested): register the channel's send or
 *   receive buffer, a GPADL cut into equal sections.  COMP: kvmbus_net_status.
 * - SET (INBAND, completion requested, primary channel only): MAC, MTU,
 *   receive filter, multicast list.  COMP: kvmbus_net_status.
 * - PKT, completion requested: one frame to transmit, either copied into a
 *   send-buffer section (INBAND) or described by the GPA list of a GPA
 *   packet (section KVMBUS_NET_NO_SECTION).  COMP: kvmbus_net_status,
 *   after which the guest may reuse the section or the pages.
 * - POST (GPA packet, no completion; offload RX_PAGES only): receive
 *   buffers (usually pages) the host fills, in the order posted, with the
 *   part of a large received frame that does not fit its section.
 *
 * Host to guest:
 * - PKT (INBAND, completion requested): one received frame in the
 *   receive buffer at @offset; the guest's COMP (no payload) gives the
 *   space back.  Completions may be sent in batches: one signal per batch.
 *   With RX_PAGES, @posted bytes of the frame continue in the oldest
 *   posted buffers, which the guest then owns again.
 * - LINK (INBAND, primary channel): carrier up or down.
 */
#ifndef _KVMBUS_NETVSC_H
#define _KVMBUS_NETVSC_H

#include "protocol.h"

#define KVMBUS_NET_VERSION_1		KVMBUS_VERSION(1, 0)

#define KVMBUS_NET_MTU_MIN		68u
#define KVMBUS_NET_MTU_MAX		65521u
/* The largest frame either way: a 64 KiB GSO segment with its headers. */
#define KVMBUS_NET_MAX_FRAME		(65536u + 128u)
#define KVMBUS_NET_MAX_QUEUES		8u
/* GPA ranges of one transmitted frame. */
#define KVMBUS_NET_MAX_RANGES		64u

/* Buffers, per channel. */
#define KVMBUS_NET_SECTION_MIN		2048u
#define KVMBUS_NET_SEND_BUF_MAX		(16u << 20)
#define KVMBUS_NET_RECV_BUF_MAX		(64u << 20)
#define KVMBUS_NET_NO_SECTION		0xffffffffu

/* Offloads: what the host can do (offer), asked for (INIT), granted. */
#define KVMBUS_NET_OFF_TX_CSUM		BIT(0)	/* guest sends partial csum */
#define KVMBUS_NET_OFF_TX_TSO4		BIT(1)	/* guest sends TCPv4 GSO */
#define KVMBUS_NET_OFF_TX_TSO6		BIT(2)	/* guest sends TCPv6 GSO */
#define KVMBUS_NET_OFF_RX_CSUM		BIT(3)	/* host may send partial/valid csum */
#define KVMBUS_NET_OFF_RX_GSO		BIT(4)	/* host may send TCP GSO segments */
#define KVMBUS_NET_OFF_VLAN		BIT(5)	/* VLAN tag in the metadata */
#define KVMBUS_NET_OFF_RX_PAGES		BIT(6)	/* guest POSTs receive pages */
#define KVMBUS_NET_OFF_ALL		0x7fu

/*
 * RX_PAGES: buffers posted and not yet filled, per channel, at most; the
 * largest one posted buffer (one GPA range) may be.
 */
#define KVMBUS_NET_POST_MAX		1024u
#define KVMBUS_NET_POST_BUF_MAX		65536u

#define KVMBUS_NET_LINK_UP		BIT(0)

/*
 * The offer's class data (struct kvmbus_ctl_offer.data), data_len at
 * least sizeof(struct kvmbus_net_offer).
 */
struct kvmbus_net_offer {
	u8 mac[6];			/* permanent address */
	__le16 max_queues;		/* 1..KVMBUS_NET_MAX_QUEUES */
	__le32 offloads;		/* KVMBUS_NET_OFF_* the host supports */
	__le16 mtu_min;
	__le16 mtu_max;
	__le32 link;			/* KVMBUS_NET_LINK_* at offer time */
	__le32 reserved[3];
};

static_assert(sizeof(struct kvmbus_net_offer) == 32);

enum kvmbus_net_msg_type {
	KVMBUS_NET_INIT		= 1,	/* g->h */
	KVMBUS_NET_INIT_RESP	= 2,	/* h->g, COMP payload */
	KVMBUS_NET_BUF		= 3,	/* g->h */
	KVMBUS_NET_SET		= 4,	/* g->h */
	KVMBUS_NET_STATUS	= 5,	/* COMP payload, both ways */
	KVMBUS_NET_PKT		= 6,	/* both ways */
	KVMBUS_NET_LINK		= 7,	/* h->g */
	KVMBUS_NET_POST		= 8,	/* g->h, GPA packet (RX_PAGES) */
};

struct kvmbus_net_hdr {
	__le32 type;			/* enum kvmbus_net_msg_type */
	__le32 reserved;
};

static_assert(sizeof(struct kvmbus_net_hdr) == 8);

struct kvmbus_net_init {
	struct kvmbus_net_hdr hdr;
	__le32 version_min;
	__le32 version_max;
	__le32 offloads;		/* KVMBUS_NET_OFF_* wanted */
	__le32 reserved;
};

static_assert(sizeof(struct kvmbus_net_init) == 24);

struct kvmbus_net_init_resp {
	struct kvmbus_net_hdr hdr;
	__le32 status;			/* 0, or a positive errno */
	__le32 version;			/* 0: no common version */
	__le32 offloads;		/* granted: wanted & offered */
	__le32 link;			/* KVMBUS_NET_LINK_* now */
};

static_assert(sizeof(struct kvmbus_net_init_resp) == 24);

enum kvmbus_net_buf_kind {
	KVMBUS_NET_BUF_SEND	= 1,	/* guest writes, host reads */
	KVMBUS_NET_BUF_RECV	= 2,	/* host writes, guest reads */
};

/*
 * Register the channel's buffer of @kind: the GPADL @gpadl of @size
 * bytes, cut into sections of @section_size bytes (at least
 * KVMBUS_NET_SECTION_MIN, a multiple of 8).  Once per kind per open.
 */
struct kvmbus_net_buf {
	struct kvmbus_net_hdr hdr;
	__le32 kind;			/* enum kvmbus_net_buf_kind */
	__le32 gpadl;
	__le32 size;
	__le32 section_size;
};

static_assert(sizeof(struct kvmbus_net_buf) == 24);

#define KVMBUS_NET_SET_MAC		BIT(0)
#define KVMBUS_NET_SET_MTU		BIT(1)
#define KVMBUS_NET_SET_FILTER		BIT(2)
#define KVMBUS_NET_SET_MCAST		BIT(3)	/* struct kvmbus_net_set_mcast */

#define KVMBUS_NET_FILTER_UNICAST	BIT(0)	/* our own address */
#define KVMBUS_NET_FILTER_BROADCAST	BIT(1)
#define KVMBUS_NET_FILTER_ALLMULTI	BIT(2)
#define KVMBUS_NET_FILTER_PROMISC	BIT(3)

struct kvmbus_net_set {
	struct kvmbus_net_hdr hdr;
	__le32 what;			/* KVMBUS_NET_SET_* */
	__le32 mtu;
	__le32 filter;			/* KVMBUS_NET_FILTER_* */
	u8 mac[6];
	u8 reserved[2];
};

static_assert(sizeof(struct kvmbus_net_set) == 28);

/* The multicast addresses a SET with KVMBUS_NET_SET_MCAST may list. */
#define KVMBUS_NET_MCAST_MAX		32

/*
 * SET with KVMBUS_NET_SET_MCAST: the multicast destinations the host
 * delivers without KVMBUS_NET_FILTER_ALLMULTI (it replaces the previous
 * list).  @count entries of @mac are used, each a multicast address; a
 * guest with more groups sets ALLMULTI instead.
 */
struct kvmbus_net_set_mcast {
	struct kvmbus_net_set set;
	__le32 count;			/* 0..KVMBUS_NET_MCAST_MAX */
	u8 mac[KVMBUS_NET_MCAST_MAX][6];
};

static_assert(sizeof(struct kvmbus_net_set_mcast) == 224);

struct kvmbus_net_status {
	struct kvmbus_net_hdr hdr;
	__le32 status;			/* 0, or a positive errno */
	__le32 reserved;
};

static_assert(sizeof(struct kvmbus_net_status) == 16);

struct kvmbus_net_link {
	struct kvmbus_net_hdr hdr;
	__le32 link;			/* KVMBUS_NET_LINK_* */
	__le32 reserved;
};

static_assert(sizeof(struct kvmbus_net_link) == 16);

/*
 * POST: the payload of a GPA packet whose ranges (1..KVMBUS_NET_MAX_RANGES,
 * each 1..KVMBUS_NET_POST_BUF_MAX bytes inside guest RAM) are receive
 * buffers, appended in order to the channel's list of posted buffers.
 * @nr repeats the number of ranges.  No completion: a buffer comes back
 * when a received PKT's @posted bytes reach it, or when the channel closes.
 */
struct kvmbus_net_post {
	struct kvmbus_net_hdr hdr;
	__le32 nr;
	__le32 reserved;
};

static_assert(sizeof(struct kvmbus_net_post) == 16);

/*
 * Per-packet metadata, in the spirit of virtio_net_hdr.
 *
 * NEEDS_CSUM: the checksum at csum_start + csum_offset is a pseudo-header
 * sum to complete (TX_CSUM, RX_CSUM).  DATA_VALID (host to guest only):
 * the checksums were checked.  gso_type/gso_size: the frame is a segment
 * to cut into gso_size payload pieces; hdr_len bytes of headers.
 * VLAN: vlan_tci is the tag to insert (TX) or the stripped tag (RX).
 */
#define KVMBUS_NET_META_NEEDS_CSUM	BIT(0)
#define KVMBUS_NET_META_DATA_VALID	BIT(1)
#define KVMBUS_NET_META_VLAN		BIT(2)
#define KVMBUS_NET_META_ALL		0x07u

enum kvmbus_net_gso {
	KVMBUS_NET_GSO_NONE	= 0,
	KVMBUS_NET_GSO_TCPV4	= 1,
	KVMBUS_NET_GSO_TCPV6	= 2,
};

#define KVMBUS_NET_GSO_ECN		0x80u

struct kvmbus_net_meta {
	u8 flags;			/* KVMBUS_NET_META_* */
	u8 gso_type;			/* enum kvmbus_net_gso | GSO_ECN */
	__le16 hdr_len;
	__le16 gso_size;
	__le16 csum_start;
	__le16 csum_offset;
	__le16 vlan_tci;
	__le32 reserved;
};

static_assert(sizeof(struct kvmbus_net_meta) == 16);

/*
 * One frame.  Guest to host: in send-buffer section @section (bytes 0..@len
 * of it, @offset 0), or, with @section == KVMBUS_NET_NO_SECTION, in the
 * GPA packet's ranges, whose lengths add up to @len.  Host to guest: at
 * byte @offset of the receive buffer (a section start), @len - @posted
 * bytes; the last @posted bytes (0 unless RX_PAGES was granted) fill the
 * oldest posted buffers, each completely but the last.  Guest to host
 * @posted is 0.
 */
struct kvmbus_net_pkt {
	struct kvmbus_net_hdr hdr;
	struct kvmbus_net_meta meta;
	__le32 section;
	__le32 offset;
	__le32 len;
	__le32 posted;
};

static_assert(sizeof(struct kvmbus_net_pkt) == 40);

#endif /* _KVMBUS_NETVSC_H */
