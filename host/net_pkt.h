/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The network provider's parsers (include/kvmbus/netvsc.h, docs/protocol.md
 * section 7.3): pure functions from a guest packet, already copied out of
 * the ring and checked by ring.c, to what a vnet-hdr TAP takes, and back.
 * Nothing here does I/O, so the unit tests and fuzz_net call exactly what
 * kvmbusd calls.
 *
 * Transmit: net_tx_parse() turns one PKT (INBAND with a send-buffer
 * section, or GPA with a page list) into a virtio_net_hdr_v1 and an iovec
 * over guest memory, checking the metadata against the offloads granted
 * and every range with guestmem_range() before anything is touched.
 * Receive: net_rx_meta() turns the TAP's virtio_net_hdr_v1 into the
 * guest's metadata; net_flow_hash() picks the queue (RSS).
 */
#ifndef KVMBUSD_NET_PKT_H
#define KVMBUSD_NET_PKT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <linux/virtio_net.h>

#include <kvmbus/netvsc.h>

#include "guestmem.h"
#include "proto.h"

#define NET_ETH_HLEN		14u
#define NET_VLAN_HLEN		4u
/* The vnet header, the frame's ranges, and a VLAN tag split into one. */
#define NET_TX_MAX_IOV		(1u + KVMBUS_NET_MAX_RANGES + 2u)

/* A registered buffer as the host sees it: a mapped view of its GPADL. */
struct net_buf {
	uint8_t *base;			/* NULL: not registered */
	uint32_t size;			/* whole sections only */
	uint32_t section_size;
	uint32_t nr_sections;
};

/* One frame to transmit, ready for writev() on the TAP. */
struct net_tx {
	struct virtio_net_hdr_v1 vh;
	uint8_t tag[NET_VLAN_HLEN];	/* 802.1Q tag to insert */
	struct iovec iov[NET_TX_MAX_IOV];
	unsigned int niov;
	uint32_t len;			/* frame bytes, tag included */
};

/*
 * net_buf_check() - validate a BUF registration before mapping it
 * @size, @section_size: from the guest's message
 * @gpadl_bytes: bytes the (complete) GPADL holds
 * @max: KVMBUS_NET_SEND_BUF_MAX or KVMBUS_NET_RECV_BUF_MAX
 * Return: 0, or -EINVAL.
 */
int net_buf_check(uint32_t size, uint32_t section_size, uint64_t gpadl_bytes,
		  uint32_t max);

/*
 * net_offloads_grant() - the offloads an INIT is granted
 * @wanted: what the guest asks for
 * @offered: what the device offers (its offloads= parameter)
 *
 * @wanted & @offered, less what would be granted without what it needs:
 * TCP segments either way carry partial checksums, so TX_TSO4 and
 * TX_TSO6 need TX_CSUM, RX_GSO needs RX_CSUM.
 * Return: the KVMBUS_NET_OFF_* bits granted.
 */
uint32_t net_offloads_grant(uint32_t wanted, uint32_t offered);

/*
 * net_meta_check() - is @m valid for a guest frame of @len bytes?
 * @granted: the offloads granted at INIT
 * @why: set to the reason on failure
 * Return: 0, or -EINVAL.
 */
int net_meta_check(const struct kvmbus_net_meta *m, uint32_t len,
		   uint32_t granted, const char **why);

/*
 * net_tx_parse() - one guest PKT to a TAP frame
 * @gm: guest RAM, for GPA packets
 * @sb: the channel's send buffer (for INBAND packets)
 * @granted: the offloads granted at INIT
 * @pi, @pkt: the packet as chan.c hands it to on_packet
 * @tx: filled on success; its iovec points into guest memory and @tx
 * @why: set to the reason on failure
 *
 * Return: 0; -EINVAL for a malformed packet, metadata that was not
 * granted or does not fit the frame, a section or length out of range;
 * -EFAULT for a GPA range that is not guest RAM.
 */
int net_tx_parse(struct guestmem *gm, const struct net_buf *sb,
		 uint32_t granted, const struct kvmbus_pkt_info *pi,
		 const uint8_t *pkt, struct net_tx *tx, const char **why);

/* One posted receive buffer (RX_PAGES), checked against guest RAM. */
struct net_post_buf {
	uint8_t *addr;
	uint32_t len;
};

/*
 * net_post_parse() - the buffers of one POST (a GPA packet)
 * @gm: guest RAM
 * @pi, @pkt: the packet as chan.c hands it to on_packet
 * @out: filled with up to KVMBUS_NET_MAX_RANGES buffers on success
 * @nr: set to how many
 * @why: set to the reason on failure
 *
 * Every range must lie inside guest RAM (guestmem_range()) and hold 1 to
 * KVMBUS_NET_POST_BUF_MAX bytes, and the message's @nr must repeat the
 * range count.  Nothing is taken from a POST that fails.
 * Return: 0; -EINVAL for a malformed packet; -EFAULT for a range that is
 * not guest RAM.
 */
int net_post_parse(struct guestmem *gm, const struct kvmbus_pkt_info *pi,
		   const uint8_t *pkt, struct net_post_buf *out, uint32_t *nr,
		   const char **why);

/*
 * net_rx_meta() - the TAP's header of a received frame as guest metadata
 * @vh: as read from the TAP (the host kernel wrote it)
 * @len: frame bytes after @vh
 * @granted: the offloads granted at INIT (the TAP was told the same)
 * @m: filled on success
 * Return: 0, or -EINVAL for a header the guest cannot take: drop.
 */
int net_rx_meta(const struct virtio_net_hdr_v1 *vh, uint32_t len,
		uint32_t granted, struct kvmbus_net_meta *m);

/*
 * net_rx_vlan_strip() - move an 802.1Q tag from the frame to @m
 * @frame: the frame (writable), @len bytes
 * Return: bytes the frame now starts later (0 or NET_VLAN_HLEN).
 */
uint32_t net_rx_vlan_strip(uint8_t *frame, uint32_t len,
			   struct kvmbus_net_meta *m);

/*
 * net_flow_hash() - RSS: a hash over IP addresses and TCP/UDP ports
 * Return: the hash, 0 for a frame that is not IPv4/IPv6.
 */
uint32_t net_flow_hash(const uint8_t *frame, uint32_t len);

/* The guest's receive filter as SET left it. */
struct net_filter {
	uint32_t flags;			/* KVMBUS_NET_FILTER_* */
	uint8_t mac[6];			/* current: SET MAC, else the offer's */
	uint32_t nr_mc;
	uint8_t mc[KVMBUS_NET_MCAST_MAX][6];
};

/*
 * net_rx_filter() - does the guest's receive filter take this frame?
 * @f: the filter
 * @frame: the frame as the TAP delivered it, @len bytes
 *
 * PROMISC takes everything; broadcast needs BROADCAST; any other
 * multicast needs ALLMULTI or its destination in @f's list; unicast
 * needs UNICAST and a destination equal to @f->mac.
 * Return: true to deliver, false to drop (also for a frame shorter than
 * an Ethernet header).
 */
bool net_rx_filter(const struct net_filter *f, const uint8_t *frame,
		   uint32_t len);

/*
 * net_mcast_parse() - the list of a SET with KVMBUS_NET_SET_MCAST
 * @m: the message, already copied out of the ring
 * @f: its list is replaced on success, untouched on failure
 * Return: 0; -EINVAL for a count above KVMBUS_NET_MCAST_MAX or an entry
 * that is not a multicast address.
 */
int net_mcast_parse(const struct kvmbus_net_set_mcast *m,
		    struct net_filter *f);

#endif /* KVMBUSD_NET_PKT_H */
