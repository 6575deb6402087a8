// SPDX-License-Identifier: GPL-2.0-only
/*
 * The network provider's parsers: see net_pkt.h.
 */
#include <errno.h>
#include <string.h>

#include "net_pkt.h"

#define ETH_P_8021Q_	0x8100u
#define ETH_P_IPV4_	0x0800u
#define ETH_P_IPV6_	0x86ddu
#define IPPROTO_TCP_	6u
#define IPPROTO_UDP_	17u

int net_buf_check(uint32_t size, uint32_t section_size, uint64_t gpadl_bytes,
		  uint32_t max)
{
	if (section_size < KVMBUS_NET_SECTION_MIN || section_size % 8 ||
	    section_size > KVMBUS_NET_MAX_FRAME + sizeof(struct kvmbus_net_pkt))
		return -EINVAL;
	if (!size || size > max || size < section_size || size > gpadl_bytes)
		return -EINVAL;
	return 0;
}

uint32_t net_offloads_grant(uint32_t wanted, uint32_t offered)
{
	uint32_t off = wanted & offered & KVMBUS_NET_OFF_ALL;

	if (!(off & KVMBUS_NET_OFF_TX_CSUM))
		off &= ~(uint32_t)(KVMBUS_NET_OFF_TX_TSO4 |
				   KVMBUS_NET_OFF_TX_TSO6);
	if (!(off & KVMBUS_NET_OFF_RX_CSUM))
		off &= ~(uint32_t)KVMBUS_NET_OFF_RX_GSO;
	return off;
}

int net_meta_check(const struct kvmbus_net_meta *m, uint32_t len,
		   uint32_t granted, const char **why)
{
	uint8_t gso = m->gso_type & (uint8_t)~KVMBUS_NET_GSO_ECN;
	uint16_t hdr_len = le16_to_cpu(m->hdr_len);
	uint16_t gso_size = le16_to_cpu(m->gso_size);
	uint32_t start = le16_to_cpu(m->csum_start);
	uint32_t off = le16_to_cpu(m->csum_offset);

	if (len < NET_ETH_HLEN || len > KVMBUS_NET_MAX_FRAME) {
		*why = "frame length out of range";
		return -EINVAL;
	}
	if (m->flags & ~KVMBUS_NET_META_ALL ||
	    m->flags & KVMBUS_NET_META_DATA_VALID) {
		*why = "unknown metadata flags";
		return -EINVAL;
	}
	if (m->flags & KVMBUS_NET_META_NEEDS_CSUM) {
		if (!(granted & KVMBUS_NET_OFF_TX_CSUM)) {
			*why = "checksum offload not granted";
			return -EINVAL;
		}
		/* The 16-bit checksum field lies inside the frame. */
		if (start < NET_ETH_HLEN || start + off + 2 > len) {
			*why = "checksum field outside the frame";
			return -EINVAL;
		}
	}
	if ((m->flags & KVMBUS_NET_META_VLAN) &&
	    !(granted & KVMBUS_NET_OFF_VLAN)) {
		*why = "VLAN offload not granted";
		return -EINVAL;
	}
	switch (gso) {
	case KVMBUS_NET_GSO_NONE:
		if (gso_size || (m->gso_type & KVMBUS_NET_GSO_ECN)) {
			*why = "GSO size without a GSO type";
			return -EINVAL;
		}
		return 0;
	case KVMBUS_NET_GSO_TCPV4:
		if (!(granted & KVMBUS_NET_OFF_TX_TSO4)) {
			*why = "TSO4 not granted";
			return -EINVAL;
		}
		break;
	case KVMBUS_NET_GSO_TCPV6:
		if (!(granted & KVMBUS_NET_OFF_TX_TSO6)) {
			*why = "TSO6 not granted";
			return -EINVAL;
		}
		break;
	default:
		*why = "unknown GSO type";
		return -EINVAL;
	}
	/* A segment to cut: the checksum is always completed per piece. */
	if (!(m->flags & KVMBUS_NET_META_NEEDS_CSUM)) {
		*why = "GSO without checksum offload";
		return -EINVAL;
	}
	if (!gso_size || gso_size > len || hdr_len > len ||
	    hdr_len < NET_ETH_HLEN) {
		*why = "GSO size or header length out of range";
		return -EINVAL;
	}
	return 0;
}

static void net_vh_from_meta(const struct kvmbus_net_meta *m,
			     struct virtio_net_hdr_v1 *vh, uint32_t shift)
{
	uint8_t gso = m->gso_type & (uint8_t)~KVMBUS_NET_GSO_ECN;

	memset(vh, 0, sizeof(*vh));
	if (m->flags & KVMBUS_NET_META_NEEDS_CSUM) {
		vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		vh->csum_start = (uint16_t)(le16_to_cpu(m->csum_start) + shift);
		vh->csum_offset = le16_to_cpu(m->csum_offset);
	}
	if (gso == KVMBUS_NET_GSO_TCPV4)
		vh->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	else if (gso == KVMBUS_NET_GSO_TCPV6)
		vh->gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	if (gso != KVMBUS_NET_GSO_NONE) {
		if (m->gso_type & KVMBUS_NET_GSO_ECN)
			vh->gso_type |= VIRTIO_NET_HDR_GSO_ECN;
		vh->gso_size = le16_to_cpu(m->gso_size);
		vh->hdr_len = (uint16_t)(le16_to_cpu(m->hdr_len) + shift);
	}
	/* The TAP takes the header in its native (little-endian on x86)
	 * order, as a legacy virtio header. */
}

/* Insert the 802.1Q tag after the two MAC addresses: split the iovec. */
static int net_tx_insert_tag(struct net_tx *tx, uint16_t tci)
{
	unsigned int i = 1, n = tx->niov;
	uint32_t at = 12;

	/* Find the iov holding byte 12 of the frame (the frame is >= 14). */
	while (i < n && tx->iov[i].iov_len <= at)
		at -= (uint32_t)tx->iov[i++].iov_len;
	if (i >= n || n + 2 > NET_TX_MAX_IOV)
		return -EINVAL;
	memmove(&tx->iov[i + 2], &tx->iov[i], (n - i) * sizeof(tx->iov[0]));
	tx->tag[0] = ETH_P_8021Q_ >> 8;
	tx->tag[1] = ETH_P_8021Q_ & 0xff;
	tx->tag[2] = (uint8_t)(tci >> 8);
	tx->tag[3] = (uint8_t)tci;
	/* iov[i] = head part, iov[i+1] = tag, iov[i+2] = tail part. */
	tx->iov[i + 2].iov_base = (uint8_t *)tx->iov[i + 2].iov_base + at;
	tx->iov[i + 2].iov_len -= at;
	tx->iov[i].iov_len = at;
	tx->iov[i + 1].iov_base = tx->tag;
	tx->iov[i + 1].iov_len = sizeof(tx->tag);
	tx->niov = n + 2;
	if (!at) {
		/* Byte 12 began iov i: drop the empty head. */
		memmove(&tx->iov[i], &tx->iov[i + 1],
			(tx->niov - i - 1) * sizeof(tx->iov[0]));
		tx->niov--;
	}
	tx->len += NET_VLAN_HLEN;
	return 0;
}

static int net_tx_section(const struct net_buf *sb, uint32_t section,
			  uint32_t len, struct net_tx *tx, const char **why)
{
	if (!sb->base) {
		*why = "no send buffer registered";
		return -EINVAL;
	}
	if (section >= sb->nr_sections || len > sb->section_size) {
		*why = "send section or length out of range";
		return -EINVAL;
	}
	tx->iov[1].iov_base = sb->base + (size_t)section * sb->section_size;
	tx->iov[1].iov_len = len;
	tx->niov = 2;
	return 0;
}

static int net_tx_gpa(struct guestmem *gm, const struct kvmbus_pkt_info *pi,
		      const uint8_t *pkt, uint32_t len, struct net_tx *tx,
		      const char **why)
{
	const uint8_t *ranges = pkt + sizeof(struct kvmbus_pkt_desc) +
				sizeof(struct kvmbus_gpa_list);
	struct kvmbus_gpa_range r;
	struct kvmbus_gpa_list l;
	uint64_t total = 0, gpa;
	uint32_t i, nr, rlen;
	void *p;

	/* Inside the copied packet: data_offset >= 32 (kvmbus_pkt_decode). */
	memcpy(&l, pkt + sizeof(struct kvmbus_pkt_desc), sizeof(l));
	if (kvmbus_gpa_list_decode(&l, pi, &nr) ||
	    nr > KVMBUS_NET_MAX_RANGES) {
		*why = "invalid GPA range list";
		return -EINVAL;
	}
	for (i = 0; i < nr; i++) {
		memcpy(&r, ranges + (size_t)i * sizeof(r), sizeof(r));
		gpa = le64_to_cpu(r.gpa);
		rlen = le32_to_cpu(r.len);
		total += rlen;
		if (!rlen || total > len) {
			*why = "GPA ranges do not add up to the frame";
			return -EINVAL;
		}
		p = guestmem_range(gm, gpa, rlen);
		if (!p) {
			*why = "GPA range is not guest RAM";
			return -EFAULT;
		}
		tx->iov[1 + i].iov_base = p;
		tx->iov[1 + i].iov_len = rlen;
	}
	if (total != len) {
		*why = "GPA ranges do not add up to the frame";
		return -EINVAL;
	}
	tx->niov = 1 + nr;
	return 0;
}

int net_tx_parse(struct guestmem *gm, const struct net_buf *sb,
		 uint32_t granted, const struct kvmbus_pkt_info *pi,
		 const uint8_t *pkt, struct net_tx *tx, const char **why)
{
	struct kvmbus_net_pkt np;
	uint32_t section, len, shift = 0;
	int ret;

	if (pi->data_len < sizeof(np)) {
		*why = "shorter than a PKT";
		return -EINVAL;
	}
	memcpy(&np, pkt + pi->data_offset, sizeof(np));
	if (le32_to_cpu(np.hdr.type) != KVMBUS_NET_PKT) {
		*why = "not a PKT";
		return -EINVAL;
	}
	section = le32_to_cpu(np.section);
	len = le32_to_cpu(np.len);
	ret = net_meta_check(&np.meta, len, granted, why);
	if (ret)
		return ret;

	if (pi->type == KVMBUS_PKT_INBAND && section != KVMBUS_NET_NO_SECTION)
		ret = net_tx_section(sb, section, len, tx, why);
	else if (pi->type == KVMBUS_PKT_GPA &&
		 section == KVMBUS_NET_NO_SECTION)
		ret = net_tx_gpa(gm, pi, pkt, len, tx, why);
	else {
		*why = "section does not match the packet type";
		ret = -EINVAL;
	}
	if (ret)
		return ret;
	tx->len = len;
	if (np.meta.flags & KVMBUS_NET_META_VLAN) {
		if (len + NET_VLAN_HLEN > KVMBUS_NET_MAX_FRAME ||
		    net_tx_insert_tag(tx, le16_to_cpu(np.meta.vlan_tci))) {
			*why = "no room for the VLAN tag";
			return -EINVAL;
		}
		shift = NET_VLAN_HLEN;
	}
	net_vh_from_meta(&np.meta, &tx->vh, shift);
	tx->iov[0].iov_base = &tx->vh;
	tx->iov[0].iov_len = sizeof(tx->vh);
	return 0;
}

int net_rx_meta(const struct virtio_net_hdr_v1 *vh, uint32_t len,
		uint32_t granted, struct kvmbus_net_meta *m)
{
	uint8_t gso = vh->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;

	memset(m, 0, sizeof(*m));
	if (len < NET_ETH_HLEN || len > KVMBUS_NET_MAX_FRAME)
		return -EINVAL;
	if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (!(granted & KVMBUS_NET_OFF_RX_CSUM) ||
		    (uint32_t)vh->csum_start + vh->csum_offset + 2 > len)
			return -EINVAL;
		m->flags |= KVMBUS_NET_META_NEEDS_CSUM;
		m->csum_start = cpu_to_le16(vh->csum_start);
		m->csum_offset = cpu_to_le16(vh->csum_offset);
	} else if (vh->flags & VIRTIO_NET_HDR_F_DATA_VALID) {
		if (granted & KVMBUS_NET_OFF_RX_CSUM)
			m->flags |= KVMBUS_NET_META_DATA_VALID;
	}
	if (gso == VIRTIO_NET_HDR_GSO_NONE)
		return 0;
	if (!(granted & KVMBUS_NET_OFF_RX_GSO) || !vh->gso_size ||
	    !(m->flags & KVMBUS_NET_META_NEEDS_CSUM))
		return -EINVAL;
	if (gso == VIRTIO_NET_HDR_GSO_TCPV4)
		m->gso_type = KVMBUS_NET_GSO_TCPV4;
	else if (gso == VIRTIO_NET_HDR_GSO_TCPV6)
		m->gso_type = KVMBUS_NET_GSO_TCPV6;
	else
		return -EINVAL;	/* UDP fragmentation offload: not asked for */
	if (vh->gso_type & VIRTIO_NET_HDR_GSO_ECN)
		m->gso_type |= KVMBUS_NET_GSO_ECN;
	m->gso_size = cpu_to_le16(vh->gso_size);
	m->hdr_len = cpu_to_le16(vh->hdr_len);
	return 0;
}

int net_post_parse(struct guestmem *gm, const struct kvmbus_pkt_info *pi,
		   const uint8_t *pkt, struct net_post_buf *out, uint32_t *nr,
		   const char **why)
{
	const uint8_t *ranges = pkt + sizeof(struct kvmbus_pkt_desc) +
				sizeof(struct kvmbus_gpa_list);
	struct kvmbus_net_post m;
	struct kvmbus_gpa_range r;
	struct kvmbus_gpa_list l;
	uint32_t i, n, rlen;

	if (pi->type != KVMBUS_PKT_GPA || pi->data_len < sizeof(m)) {
		*why = "POST is not a GPA packet with a POST message";
		return -EINVAL;
	}
	memcpy(&m, pkt + pi->data_offset, sizeof(m));
	/* Inside the copied packet: data_offset >= 32 (kvmbus_pkt_decode). */
	memcpy(&l, pkt + sizeof(struct kvmbus_pkt_desc), sizeof(l));
	if (kvmbus_gpa_list_decode(&l, pi, &n) || !n ||
	    n > KVMBUS_NET_MAX_RANGES || n != le32_to_cpu(m.nr)) {
		*why = "invalid POST range list";
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		memcpy(&r, ranges + (size_t)i * sizeof(r), sizeof(r));
		rlen = le32_to_cpu(r.len);
		if (!rlen || rlen > KVMBUS_NET_POST_BUF_MAX) {
			*why = "POST buffer length out of range";
			return -EINVAL;
		}
		out[i].addr = guestmem_range(gm, le64_to_cpu(r.gpa), rlen);
		if (!out[i].addr) {
			*why = "POST buffer is not guest RAM";
			return -EFAULT;
		}
		out[i].len = rlen;
	}
	*nr = n;
	return 0;
}

uint32_t net_rx_vlan_strip(uint8_t *frame, uint32_t len,
			   struct kvmbus_net_meta *m)
{
	uint16_t start = le16_to_cpu(m->csum_start);

	if (len < NET_ETH_HLEN + NET_VLAN_HLEN ||
	    frame[12] != ETH_P_8021Q_ >> 8 || frame[13] != (ETH_P_8021Q_ & 0xff))
		return 0;
	if ((m->flags & KVMBUS_NET_META_NEEDS_CSUM) &&
	    start < NET_ETH_HLEN + NET_VLAN_HLEN)
		return 0;
	m->flags |= KVMBUS_NET_META_VLAN;
	m->vlan_tci = cpu_to_le16((uint16_t)(frame[14] << 8 | frame[15]));
	memmove(frame + NET_VLAN_HLEN, frame, 12);
	if (m->flags & KVMBUS_NET_META_NEEDS_CSUM)
		m->csum_start = cpu_to_le16(start - NET_VLAN_HLEN);
	if (m->gso_type)
		m->hdr_len = cpu_to_le16((uint16_t)(le16_to_cpu(m->hdr_len) -
						    NET_VLAN_HLEN));
	return NET_VLAN_HLEN;
}

static uint32_t net_mix(uint32_t h, const uint8_t *p, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619u;	/* FNV-1a */
	}
	return h;
}

uint32_t net_flow_hash(const uint8_t *f, uint32_t len)
{
	uint32_t off = 12, l4, h = 2166136261u;
	uint16_t proto;
	uint8_t ipproto;

	if (len < NET_ETH_HLEN)
		return 0;
	proto = (uint16_t)(f[off] << 8 | f[off + 1]);
	if (proto == ETH_P_8021Q_) {
		if (len < NET_ETH_HLEN + NET_VLAN_HLEN)
			return 0;
		off += NET_VLAN_HLEN;
		proto = (uint16_t)(f[off] << 8 | f[off + 1]);
	}
	off += 2;
	if (proto == ETH_P_IPV4_) {
		if (len < off + 20 || (f[off] >> 4) != 4 || (f[off] & 15) < 5)
			return 0;
		ipproto = f[off + 9];
		h = net_mix(h, f + off + 12, 8);
		/* Only the first fragment carries ports. */
		l4 = off + (f[off] & 15u) * 4;
		if ((f[off + 6] & 0x1f) || f[off + 7])
			ipproto = 0;
	} else if (proto == ETH_P_IPV6_) {
		if (len < off + 40)
			return 0;
		ipproto = f[off + 6];
		h = net_mix(h, f + off + 8, 32);
		l4 = off + 40;
	} else {
		return 0;
	}
	if ((ipproto == IPPROTO_TCP_ || ipproto == IPPROTO_UDP_) &&
	    len >= l4 + 4)
		h = net_mix(h, f + l4, 4);
	h = net_mix(h, &ipproto, 1);
	return h ? h : 1;
}

bool net_rx_filter(const struct net_filter *f, const uint8_t *frame,
		   uint32_t len)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint32_t i;

	if (len < NET_ETH_HLEN)
		return false;
	if (f->flags & KVMBUS_NET_FILTER_PROMISC)
		return true;
	if (!memcmp(frame, bcast, sizeof(bcast)))
		return f->flags & KVMBUS_NET_FILTER_BROADCAST;
	if (!(frame[0] & 1))
		return (f->flags & KVMBUS_NET_FILTER_UNICAST) &&
		       !memcmp(frame, f->mac, sizeof(f->mac));
	if (f->flags & KVMBUS_NET_FILTER_ALLMULTI)
		return true;
	for (i = 0; i < f->nr_mc && i < KVMBUS_NET_MCAST_MAX; i++)
		if (!memcmp(frame, f->mc[i], sizeof(f->mc[i])))
			return true;
	return false;
}

int net_mcast_parse(const struct kvmbus_net_set_mcast *m,
		    struct net_filter *f)
{
	uint32_t count = le32_to_cpu(m->count), i;

	if (count > KVMBUS_NET_MCAST_MAX)
		return -EINVAL;
	for (i = 0; i < count; i++)
		if (!(m->mac[i][0] & 1))
			return -EINVAL;
	memcpy(f->mc, m->mac, count * sizeof(m->mac[0]));
	f->nr_mc = count;
	return 0;
}
