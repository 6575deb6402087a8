// SPDX-License-Identifier: GPL-2.0-only
/*
 * The network provider's parsers (net_pkt.c) as a hostile guest and a
 * surprising TAP drive them: a guest PKT of any shape (INBAND with a send
 * section, GPA with ranges in and around guest RAM, any metadata, any
 * offloads granted), the TAP's vnet header of any value, VLAN stripping
 * and the RSS hash over any frame.
 *
 * Checked: nothing faults (guest RAM is an exact mapping between guard
 * pages); on success every iovec lies inside guest RAM or the parser's
 * own struct, they add up to the frame length, the header was what the
 * offloads granted allow, and a stripped frame stays inside its buffer.
 *
 * Input: [granted][kind][rest: the packet from its descriptor on] with a
 * GPA list or INBAND payload as the guest would put it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "net_pkt.h"

#define RAM_SIZE	(256u << 10)
#define PKT_MAX		4096u

static struct guestmem gm;
static uint8_t *ram;

static void fuzz_init(void)
{
	struct guestmem_layout l = { .ram_size = RAM_SIZE,
				     .low_size = RAM_SIZE };
	uint8_t *m;

	if (ram)
		return;
	/* Guard pages either side: any stray access faults. */
	m = mmap(NULL, RAM_SIZE + 8192, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		abort();
	ram = m + 4096;
	if (mprotect(ram, RAM_SIZE, PROT_READ | PROT_WRITE))
		abort();
	guestmem_attach(&gm, ram, &l);
}

/* Every accepted receive buffer lies inside guest RAM. */
static void check_post(const struct net_post_buf *b, uint32_t nr)
{
	uint32_t i;

	if (!nr || nr > KVMBUS_NET_MAX_RANGES)
		abort();
	for (i = 0; i < nr; i++)
		if (!b[i].len || b[i].len > KVMBUS_NET_POST_BUF_MAX ||
		    b[i].addr < ram || b[i].addr + b[i].len > ram + RAM_SIZE)
			abort();
}

static void check_tx(const struct net_tx *tx, uint32_t granted)
{
	uint64_t total = 0;
	unsigned int i;

	if (tx->niov < 2 || tx->niov > NET_TX_MAX_IOV ||
	    tx->iov[0].iov_base != &tx->vh)
		abort();
	for (i = 1; i < tx->niov; i++) {
		const uint8_t *p = tx->iov[i].iov_base;
		size_t n = tx->iov[i].iov_len;

		if (p == tx->tag) {
			if (n != NET_VLAN_HLEN)
				abort();
		} else if (p < ram || p + n > ram + RAM_SIZE) {
			abort();
		}
		total += n;
	}
	if (total != tx->len || tx->len > KVMBUS_NET_MAX_FRAME ||
	    tx->len < NET_ETH_HLEN)
		abort();
	if ((tx->vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    (!(granted & KVMBUS_NET_OFF_TX_CSUM) ||
	     tx->vh.csum_start + tx->vh.csum_offset + 2u > tx->len))
		abort();
	if (tx->vh.gso_type != VIRTIO_NET_HDR_GSO_NONE &&
	    (!tx->vh.gso_size || !(tx->vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pkt[PKT_MAX];
	struct kvmbus_pkt_desc d;
	struct kvmbus_pkt_info pi;
	struct kvmbus_net_set_mcast mc;
	struct kvmbus_net_meta m;
	struct virtio_net_hdr_v1 vh;
	struct net_filter f;
	struct net_buf sb;
	struct net_post_buf post[KVMBUS_NET_MAX_RANGES];
	struct net_tx tx;
	const char *why;
	uint32_t nr;
	uint32_t granted, len, shift;
	uint8_t kind;

	fuzz_init();
	if (size < 2 + sizeof(d))
		return 0;
	granted = data[0] & KVMBUS_NET_OFF_ALL;
	kind = data[1];
	data += 2;
	size -= 2;
	if (size > PKT_MAX)
		size = PKT_MAX;

	switch (kind % 3) {
	case 0:	/* a guest packet, decoded the way ring.c decodes it */
		memset(pkt, 0, sizeof(pkt));
		memcpy(pkt, data, size);
		memcpy(&d, pkt, sizeof(d));
		if (kvmbus_pkt_decode(&d, PKT_MAX, PKT_MAX, &pi))
			return 0;
		/* The send buffer: the last 8 sections of RAM, any size. */
		sb.section_size = 2048u << (kind >> 6);
		sb.nr_sections = 8;
		sb.size = sb.section_size * 8;
		sb.base = (kind & 8) ? NULL : ram + RAM_SIZE - sb.size;
		if (!net_tx_parse(&gm, &sb, granted, &pi, pkt, &tx, &why))
			check_tx(&tx, granted);
		/* The same packet as a POST of receive buffers (RX_PAGES). */
		if (!net_post_parse(&gm, &pi, pkt, post, &nr, &why))
			check_post(post, nr);
		break;
	case 1:	/* the TAP's header and a frame, received */
		if (size < sizeof(vh) + 4)
			return 0;
		memcpy(&vh, data, sizeof(vh));
		memcpy(&len, data + sizeof(vh), sizeof(len));
		len %= KVMBUS_NET_MAX_FRAME + 16;
		data += sizeof(vh) + 4;
		size -= sizeof(vh) + 4;
		if (net_rx_meta(&vh, len, granted, &m))
			return 0;
		if (m.flags & ~KVMBUS_NET_META_ALL)
			abort();
		if ((m.flags & KVMBUS_NET_META_NEEDS_CSUM) &&
		    le16_to_cpu(m.csum_start) + le16_to_cpu(m.csum_offset) +
		    2u > len)
			abort();
		/* Strip a tag from the bytes we have. */
		memcpy(pkt, data, size);
		shift = net_rx_vlan_strip(pkt, (uint32_t)size, &m);
		if (shift && (shift != NET_VLAN_HLEN || size < 18))
			abort();
		break;
	default:
		(void)net_flow_hash(data, (uint32_t)size);
		/* A guest's SET with a multicast list, then a frame through it. */
		if (size < sizeof(mc))
			break;
		memcpy(&mc, data, sizeof(mc));
		memset(&f, 0, sizeof(f));
		f.flags = le32_to_cpu(mc.set.filter);
		memcpy(f.mac, mc.set.mac, sizeof(f.mac));
		if (!net_mcast_parse(&mc, &f) &&
		    f.nr_mc != le32_to_cpu(mc.count))
			abort();
		if (f.nr_mc > KVMBUS_NET_MCAST_MAX)
			abort();
		(void)net_rx_filter(&f, data + sizeof(mc),
				    (uint32_t)(size - sizeof(mc)));
		break;
	}
	return 0;
}
