// SPDX-License-Identifier: GPL-2.0-only
/*
 * The network provider's parsers (net_pkt.c): metadata, send sections,
 * GPA page lists, VLAN insertion and stripping, the TAP header both ways,
 * the RSS hash, the receive filter and its multicast list, the offloads
 * an INIT is granted.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>

#include "helpers.h"
#include "net_pkt.h"

#define RAM_SIZE	(1u << 20)
#define ALL_OFF		KVMBUS_NET_OFF_ALL

struct env {
	struct guestmem gm;
	uint8_t *ram;
	struct net_buf sb;
	uint8_t pkt[512];
	struct kvmbus_pkt_info pi;
};

static int setup(void **state)
{
	struct guestmem_layout l = { .ram_size = RAM_SIZE,
				     .low_size = RAM_SIZE };
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	e->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(e->ram != MAP_FAILED);
	guestmem_attach(&e->gm, e->ram, &l);
	/* The send buffer: 8 sections of 2 KiB at 64 KiB into RAM. */
	e->sb.base = e->ram + 65536;
	e->sb.section_size = 2048;
	e->sb.nr_sections = 8;
	e->sb.size = 8 * 2048;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	munmap(e->ram, RAM_SIZE);
	free(e);
	return 0;
}

/* Build an INBAND (section) or GPA (ranges) PKT in e->pkt. */
static struct kvmbus_net_pkt *mkpkt(struct env *e, uint16_t type,
				    uint32_t section, uint32_t len,
				    const uint64_t *gpa, const uint32_t *rlen,
				    uint32_t nr)
{
	uint32_t off = sizeof(struct kvmbus_pkt_desc);
	struct kvmbus_gpa_list l = { .nr_ranges = cpu_to_le32(nr) };
	struct kvmbus_net_pkt *np;
	uint32_t i;

	memset(e->pkt, 0, sizeof(e->pkt));
	if (type == KVMBUS_PKT_GPA) {
		memcpy(e->pkt + off, &l, sizeof(l));
		off += sizeof(l);
		for (i = 0; i < nr; i++) {
			struct kvmbus_gpa_range r = {
				.gpa = cpu_to_le64(gpa[i]),
				.len = cpu_to_le32(rlen[i]),
			};

			memcpy(e->pkt + off, &r, sizeof(r));
			off += sizeof(r);
		}
	}
	e->pi.type = type;
	e->pi.data_offset = (uint16_t)off;
	e->pi.data_len = sizeof(*np);
	e->pi.total_len = off + sizeof(*np);
	np = (void *)(e->pkt + off);
	np->hdr.type = cpu_to_le32(KVMBUS_NET_PKT);
	np->section = cpu_to_le32(section);
	np->len = cpu_to_le32(len);
	return np;
}

static int parse(struct env *e, uint32_t granted, struct net_tx *tx)
{
	const char *why = NULL;
	int ret = net_tx_parse(&e->gm, &e->sb, granted, &e->pi, e->pkt, tx,
			       &why);

	if (ret)
		assert_non_null(why);
	return ret;
}

static size_t iov_total(const struct net_tx *tx)
{
	size_t n = 0;
	unsigned int i;

	for (i = 1; i < tx->niov; i++)
		n += tx->iov[i].iov_len;
	return n;
}

static void test_section(void **state)
{
	struct env *e = *state;
	struct net_tx tx;

	mkpkt(e, KVMBUS_PKT_INBAND, 3, 60, NULL, NULL, 0);
	assert_int_equal(parse(e, 0, &tx), 0);
	assert_int_equal(tx.niov, 2);
	assert_ptr_equal(tx.iov[1].iov_base, e->sb.base + 3 * 2048);
	assert_int_equal(tx.iov[1].iov_len, 60);
	assert_int_equal(tx.iov[0].iov_len, sizeof(struct virtio_net_hdr_v1));
	assert_int_equal(tx.vh.flags, 0);
	assert_int_equal(tx.vh.gso_type, VIRTIO_NET_HDR_GSO_NONE);

	/* Last section, full length: fine; one past either: not. */
	mkpkt(e, KVMBUS_PKT_INBAND, 7, 2048, NULL, NULL, 0);
	assert_int_equal(parse(e, 0, &tx), 0);
	mkpkt(e, KVMBUS_PKT_INBAND, 8, 60, NULL, NULL, 0);
	assert_int_equal(parse(e, 0, &tx), -EINVAL);
	mkpkt(e, KVMBUS_PKT_INBAND, 0, 2049, NULL, NULL, 0);
	assert_int_equal(parse(e, 0, &tx), -EINVAL);
	mkpkt(e, KVMBUS_PKT_INBAND, 0, 13, NULL, NULL, 0);
	assert_int_equal(parse(e, 0, &tx), -EINVAL);
	/* INBAND without a section, or GPA with one: malformed. */
	mkpkt(e, KVMBUS_PKT_INBAND, KVMBUS_NET_NO_SECTION, 60, NULL, NULL, 0);
	assert_int_equal(parse(e, 0, &tx), -EINVAL);
	/* No send buffer registered. */
	e->sb.base = NULL;
	mkpkt(e, KVMBUS_PKT_INBAND, 0, 60, NULL, NULL, 0);
	assert_int_equal(parse(e, 0, &tx), -EINVAL);
	/* Short payload and wrong type. */
	e->sb.base = e->ram + 65536;
	mkpkt(e, KVMBUS_PKT_INBAND, 0, 60, NULL, NULL, 0);
	e->pi.data_len = sizeof(struct kvmbus_net_pkt) - 1;
	assert_int_equal(parse(e, 0, &tx), -EINVAL);
	mkpkt(e, KVMBUS_PKT_INBAND, 0, 60, NULL, NULL, 0)->hdr.type =
		cpu_to_le32(KVMBUS_NET_SET);
	assert_int_equal(parse(e, 0, &tx), -EINVAL);
}

static void test_gpa(void **state)
{
	uint64_t gpa[3] = { 4096, 8192 + 100, RAM_SIZE - 1000 };
	uint32_t len[3] = { 1000, 3000, 1000 };
	struct env *e = *state;
	struct net_tx tx;

	mkpkt(e, KVMBUS_PKT_GPA, KVMBUS_NET_NO_SECTION, 5000, gpa, len, 3);
	assert_int_equal(parse(e, 0, &tx), 0);
	assert_int_equal(tx.niov, 4);
	assert_ptr_equal(tx.iov[2].iov_base, e->ram + 8292);
	assert_int_equal(iov_total(&tx), 5000);

	/* Lengths that do not add up, either way. */
	mkpkt(e, KVMBUS_PKT_GPA, KVMBUS_NET_NO_SECTION, 5001, gpa, len, 3);
	assert_int_equal(parse(e, 0, &tx), -EINVAL);
	mkpkt(e, KVMBUS_PKT_GPA, KVMBUS_NET_NO_SECTION, 4999, gpa, len, 3);
	assert_int_equal(parse(e, 0, &tx), -EINVAL);
	/* A range running past guest RAM, or outside it. */
	gpa[2] = RAM_SIZE - 999;
	mkpkt(e, KVMBUS_PKT_GPA, KVMBUS_NET_NO_SECTION, 5000, gpa, len, 3);
	assert_int_equal(parse(e, 0, &tx), -EFAULT);
	gpa[2] = UINT64_MAX - 10;
	mkpkt(e, KVMBUS_PKT_GPA, KVMBUS_NET_NO_SECTION, 5000, gpa, len, 3);
	assert_int_equal(parse(e, 0, &tx), -EFAULT);
	/* A zero-length range, and a GPA packet naming a section. */
	len[1] = 0;
	mkpkt(e, KVMBUS_PKT_GPA, KVMBUS_NET_NO_SECTION, 2000, gpa, len, 3);
	assert_int_equal(parse(e, 0, &tx), -EINVAL);
	mkpkt(e, KVMBUS_PKT_GPA, 0, 1000, gpa, len, 1);
	assert_int_equal(parse(e, 0, &tx), -EINVAL);
}

static void test_gpa_too_many(void **state)
{
	uint64_t gpa[KVMBUS_NET_MAX_RANGES + 1];
	uint32_t len[KVMBUS_NET_MAX_RANGES + 1];
	struct env *e = *state;
	struct net_tx tx;
	uint8_t big[sizeof(struct kvmbus_pkt_desc) + 8 +
		    (KVMBUS_NET_MAX_RANGES + 1) * 16 + 64];
	unsigned int i, nr = KVMBUS_NET_MAX_RANGES + 1;
	uint32_t off = sizeof(struct kvmbus_pkt_desc);
	struct kvmbus_gpa_list l = { .nr_ranges = cpu_to_le32(nr) };
	struct kvmbus_net_pkt np = {
		.hdr.type = cpu_to_le32(KVMBUS_NET_PKT),
		.section = cpu_to_le32(KVMBUS_NET_NO_SECTION),
	};
	const char *why;

	for (i = 0; i < nr; i++) {
		gpa[i] = 4096ull * i;
		len[i] = 100;
	}
	memset(big, 0, sizeof(big));
	memcpy(big + off, &l, sizeof(l));
	off += sizeof(l);
	for (i = 0; i < nr; i++) {
		struct kvmbus_gpa_range r = { .gpa = cpu_to_le64(gpa[i]),
					      .len = cpu_to_le32(len[i]) };

		memcpy(big + off, &r, sizeof(r));
		off += sizeof(r);
	}
	np.len = cpu_to_le32(100 * nr);
	memcpy(big + off, &np, sizeof(np));
	e->pi.type = KVMBUS_PKT_GPA;
	e->pi.data_offset = (uint16_t)off;
	e->pi.data_len = sizeof(np);
	assert_int_equal(net_tx_parse(&e->gm, &e->sb, 0, &e->pi, big, &tx,
				      &why), -EINVAL);
}

/* Build a POST of @nr ranges claiming @claim buffers in e->pkt. */
static void mkpost(struct env *e, const uint64_t *gpa, const uint32_t *rlen,
		   uint32_t nr, uint32_t claim)
{
	struct kvmbus_net_post m = {
		.hdr.type = cpu_to_le32(KVMBUS_NET_POST),
		.nr = cpu_to_le32(claim),
	};

	mkpkt(e, KVMBUS_PKT_GPA, 0, 0, gpa, rlen, nr);
	memcpy(e->pkt + e->pi.data_offset, &m, sizeof(m));
	e->pi.data_len = sizeof(m);
}

static void test_post(void **state)
{
	uint64_t gpa[2] = { 4096, 3 * 4096 };
	uint32_t len[2] = { 4096, 4096 };
	struct net_post_buf b[KVMBUS_NET_MAX_RANGES];
	struct env *e = *state;
	const char *why = NULL;
	uint32_t nr = 0;

	mkpost(e, gpa, len, 2, 2);
	assert_int_equal(net_post_parse(&e->gm, &e->pi, e->pkt, b, &nr, &why),
			 0);
	assert_int_equal(nr, 2);
	assert_ptr_equal(b[1].addr, e->ram + 3 * 4096);
	assert_int_equal(b[1].len, 4096);

	/* nr must repeat the range count. */
	mkpost(e, gpa, len, 2, 1);
	assert_int_equal(net_post_parse(&e->gm, &e->pi, e->pkt, b, &nr, &why),
			 -EINVAL);
	assert_non_null(why);
	/* A buffer outside guest RAM, or running past its end. */
	gpa[1] = UINT64_MAX - 10;
	mkpost(e, gpa, len, 2, 2);
	assert_int_equal(net_post_parse(&e->gm, &e->pi, e->pkt, b, &nr, &why),
			 -EFAULT);
	gpa[1] = RAM_SIZE - 4095;
	mkpost(e, gpa, len, 2, 2);
	assert_int_equal(net_post_parse(&e->gm, &e->pi, e->pkt, b, &nr, &why),
			 -EFAULT);
	/* Empty and oversized buffers. */
	gpa[1] = 8192;
	len[1] = 0;
	mkpost(e, gpa, len, 2, 2);
	assert_int_equal(net_post_parse(&e->gm, &e->pi, e->pkt, b, &nr, &why),
			 -EINVAL);
	len[1] = KVMBUS_NET_POST_BUF_MAX + 1;
	mkpost(e, gpa, len, 2, 2);
	assert_int_equal(net_post_parse(&e->gm, &e->pi, e->pkt, b, &nr, &why),
			 -EINVAL);
	/* No ranges at all, and an INBAND packet. */
	mkpost(e, gpa, len, 0, 0);
	assert_int_equal(net_post_parse(&e->gm, &e->pi, e->pkt, b, &nr, &why),
			 -EINVAL);
	len[1] = 4096;
	mkpost(e, gpa, len, 2, 2);
	e->pi.type = KVMBUS_PKT_INBAND;
	assert_int_equal(net_post_parse(&e->gm, &e->pi, e->pkt, b, &nr, &why),
			 -EINVAL);
}

static void test_meta(void **state)
{
	struct env *e = *state;
	struct kvmbus_net_pkt *np;
	struct net_tx tx;

	/* A checksum to complete, granted and inside the frame. */
	np = mkpkt(e, KVMBUS_PKT_INBAND, 0, 100, NULL, NULL, 0);
	np->meta.flags = KVMBUS_NET_META_NEEDS_CSUM;
	np->meta.csum_start = cpu_to_le16(34);
	np->meta.csum_offset = cpu_to_le16(16);
	assert_int_equal(parse(e, KVMBUS_NET_OFF_TX_CSUM, &tx), 0);
	assert_int_equal(tx.vh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(tx.vh.csum_start, 34);
	assert_int_equal(tx.vh.csum_offset, 16);
	/* Not granted; field past the end. */
	assert_int_equal(parse(e, 0, &tx), -EINVAL);
	np->meta.csum_offset = cpu_to_le16(65);
	assert_int_equal(parse(e, ALL_OFF, &tx), -EINVAL);
	np->meta.csum_offset = cpu_to_le16(16);
	/* DATA_VALID and unknown bits never come from the guest. */
	np->meta.flags |= KVMBUS_NET_META_DATA_VALID;
	assert_int_equal(parse(e, ALL_OFF, &tx), -EINVAL);
	np->meta.flags = 0x80;
	assert_int_equal(parse(e, ALL_OFF, &tx), -EINVAL);

	/* TSO4 with ECN: granted, sizes in range. */
	np->meta.flags = KVMBUS_NET_META_NEEDS_CSUM;
	np->meta.gso_type = KVMBUS_NET_GSO_TCPV4 | KVMBUS_NET_GSO_ECN;
	np->meta.gso_size = cpu_to_le16(50);
	np->meta.hdr_len = cpu_to_le16(54);
	assert_int_equal(parse(e, ALL_OFF, &tx), 0);
	assert_int_equal(tx.vh.gso_type,
			 VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN);
	assert_int_equal(tx.vh.gso_size, 50);
	assert_int_equal(tx.vh.hdr_len, 54);
	assert_int_equal(parse(e, ALL_OFF & ~KVMBUS_NET_OFF_TX_TSO4, &tx),
			 -EINVAL);
	np->meta.gso_size = 0;
	assert_int_equal(parse(e, ALL_OFF, &tx), -EINVAL);
	np->meta.gso_size = cpu_to_le16(101);
	assert_int_equal(parse(e, ALL_OFF, &tx), -EINVAL);
	np->meta.gso_size = cpu_to_le16(50);
	np->meta.hdr_len = cpu_to_le16(101);
	assert_int_equal(parse(e, ALL_OFF, &tx), -EINVAL);
	np->meta.hdr_len = cpu_to_le16(54);
	/* GSO without a checksum to complete; unknown type; ECN alone. */
	np->meta.flags = 0;
	assert_int_equal(parse(e, ALL_OFF, &tx), -EINVAL);
	np->meta.flags = KVMBUS_NET_META_NEEDS_CSUM;
	np->meta.gso_type = 3;
	assert_int_equal(parse(e, ALL_OFF, &tx), -EINVAL);
	np->meta.gso_type = KVMBUS_NET_GSO_TCPV6;
	assert_int_equal(parse(e, KVMBUS_NET_OFF_TX_CSUM |
			       KVMBUS_NET_OFF_TX_TSO6, &tx), 0);
	assert_int_equal(tx.vh.gso_type, VIRTIO_NET_HDR_GSO_TCPV6);
	np->meta.gso_type = KVMBUS_NET_GSO_ECN;
	np->meta.gso_size = 0;
	assert_int_equal(parse(e, ALL_OFF, &tx), -EINVAL);
}

static void test_vlan_tx(void **state)
{
	uint64_t gpa[2] = { 4096, 8192 };
	uint32_t len[2] = { 12, 88 };
	struct env *e = *state;
	struct kvmbus_net_pkt *np;
	struct net_tx tx;

	np = mkpkt(e, KVMBUS_PKT_INBAND, 1, 100, NULL, NULL, 0);
	np->meta.flags = KVMBUS_NET_META_VLAN | KVMBUS_NET_META_NEEDS_CSUM;
	np->meta.vlan_tci = cpu_to_le16(0x2064);
	np->meta.csum_start = cpu_to_le16(34);
	np->meta.csum_offset = cpu_to_le16(6);
	assert_int_equal(parse(e, KVMBUS_NET_OFF_TX_CSUM, &tx), -EINVAL);
	assert_int_equal(parse(e, ALL_OFF, &tx), 0);
	assert_int_equal(tx.niov, 4);
	assert_int_equal(tx.iov[1].iov_len, 12);
	assert_ptr_equal(tx.iov[2].iov_base, tx.tag);
	assert_memory_equal(tx.tag, "\x81\x00\x20\x64", 4);
	assert_ptr_equal(tx.iov[3].iov_base, e->sb.base + 2048 + 12);
	assert_int_equal(tx.iov[3].iov_len, 88);
	assert_int_equal(tx.len, 104);
	assert_int_equal(tx.vh.csum_start, 38);

	/* The tag falls exactly between two ranges. */
	np = mkpkt(e, KVMBUS_PKT_GPA, KVMBUS_NET_NO_SECTION, 100, gpa, len, 2);
	np->meta.flags = KVMBUS_NET_META_VLAN;
	np->meta.vlan_tci = cpu_to_le16(5);
	assert_int_equal(parse(e, ALL_OFF, &tx), 0);
	assert_int_equal(tx.niov, 4);
	assert_int_equal(tx.iov[1].iov_len, 12);
	assert_ptr_equal(tx.iov[2].iov_base, tx.tag);
	assert_ptr_equal(tx.iov[3].iov_base, e->ram + 8192);
	assert_int_equal(iov_total(&tx), 104);
}

static void test_rx_meta(void **state)
{
	struct virtio_net_hdr_v1 vh = { 0 };
	struct kvmbus_net_meta m;

	(void)state;
	assert_int_equal(net_rx_meta(&vh, 60, 0, &m), 0);
	assert_int_equal(m.flags, 0);
	assert_int_equal(net_rx_meta(&vh, 13, 0, &m), -EINVAL);
	assert_int_equal(net_rx_meta(&vh, KVMBUS_NET_MAX_FRAME + 1, 0, &m),
			 -EINVAL);

	vh.flags = VIRTIO_NET_HDR_F_DATA_VALID;
	assert_int_equal(net_rx_meta(&vh, 60, 0, &m), 0);
	assert_int_equal(m.flags, 0);
	assert_int_equal(net_rx_meta(&vh, 60, ALL_OFF, &m), 0);
	assert_int_equal(m.flags, KVMBUS_NET_META_DATA_VALID);

	vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh.csum_start = 34;
	vh.csum_offset = 16;
	vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	vh.gso_size = 1440;
	vh.hdr_len = 74;
	assert_int_equal(net_rx_meta(&vh, 60000, ALL_OFF, &m), 0);
	assert_int_equal(m.gso_type, KVMBUS_NET_GSO_TCPV6);
	assert_int_equal(le16_to_cpu(m.gso_size), 1440);
	assert_int_equal(le16_to_cpu(m.csum_start), 34);
	assert_int_equal(net_rx_meta(&vh, 60000, KVMBUS_NET_OFF_RX_CSUM, &m),
			 -EINVAL);
	assert_int_equal(net_rx_meta(&vh, 51, ALL_OFF, &m), -EINVAL);
	vh.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	assert_int_equal(net_rx_meta(&vh, 60000, ALL_OFF, &m), -EINVAL);
}

static void test_vlan_rx(void **state)
{
	uint8_t f[64] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
			  0x81, 0x00, 0x20, 0x64, 0x08, 0x00 };
	struct kvmbus_net_meta m = { 0 };

	(void)state;
	assert_int_equal(net_rx_vlan_strip(f, sizeof(f), &m), 4);
	assert_int_equal(m.flags, KVMBUS_NET_META_VLAN);
	assert_int_equal(le16_to_cpu(m.vlan_tci), 0x2064);
	assert_memory_equal(f + 4, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x08\x00", 14);
	/* Untagged: untouched. */
	memset(&m, 0, sizeof(m));
	assert_int_equal(net_rx_vlan_strip(f + 4, sizeof(f) - 4, &m), 0);
	assert_int_equal(m.flags, 0);
}

static void test_flow_hash(void **state)
{
	uint8_t a[64] = { [12] = 0x08, [13] = 0x00, [14] = 0x45,
			  [23] = 6, [26] = 10, [29] = 1, [30] = 10, [33] = 2,
			  [34] = 0x13, [35] = 0x88, [36] = 0xc0, [37] = 0x01 };
	uint8_t b[64], v[68];
	uint32_t h;

	(void)state;
	memcpy(b, a, sizeof(a));
	h = net_flow_hash(a, sizeof(a));
	assert_int_not_equal(h, 0);
	/* The same flow hashes the same; another port differs. */
	assert_int_equal(net_flow_hash(b, sizeof(b)), h);
	b[37] = 0x02;
	assert_int_not_equal(net_flow_hash(b, sizeof(b)), h);
	/* A VLAN tag does not move the flow. */
	memcpy(v, a, 12);
	memcpy(v + 12, "\x81\x00\x00\x05", 4);
	memcpy(v + 16, a + 12, sizeof(a) - 12);
	assert_int_equal(net_flow_hash(v, sizeof(v)), h);
	/* Not IP, short, bad header length: 0. */
	b[12] = 0x88;
	assert_int_equal(net_flow_hash(b, sizeof(b)), 0);
	assert_int_equal(net_flow_hash(a, 20), 0);
	a[14] = 0x44;
	assert_int_equal(net_flow_hash(a, sizeof(a)), 0);
}

#define PASS(flg)	(f.flags = (flg), net_rx_filter(&f, fr, sizeof(fr)))

static void test_rx_filter(void **state)
{
	static const uint8_t mine[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
	static const uint8_t grp4[6] = { 0x01, 0x00, 0x5e, 0x01, 0x02, 0x03 };
	static const uint8_t grp6[6] = { 0x33, 0x33, 0x00, 0x00, 0x00, 0x01 };
	const uint32_t uc = KVMBUS_NET_FILTER_UNICAST;
	const uint32_t bc = KVMBUS_NET_FILTER_BROADCAST;
	const uint32_t am = KVMBUS_NET_FILTER_ALLMULTI;
	const uint32_t pr = KVMBUS_NET_FILTER_PROMISC;
	struct net_filter f = { 0 };
	uint8_t fr[NET_ETH_HLEN + 4] = { 0 };

	(void)state;
	memcpy(f.mac, mine, 6);
	/* Unicast to our MAC: only with UNICAST. */
	memcpy(fr, mine, 6);
	assert_true(PASS(uc));
	assert_true(PASS(uc | bc | am));
	assert_false(PASS(0));
	assert_false(PASS(bc | am));
	assert_true(PASS(pr));
	/* Foreign unicast (one bit off): only when promiscuous. */
	fr[5] ^= 1;
	assert_false(PASS(uc | bc | am));
	assert_true(PASS(uc | bc | am | pr));
	fr[5] ^= 1;
	fr[0] ^= 2;
	assert_false(PASS(uc | bc | am));
	/* Broadcast: BROADCAST, not ALLMULTI. */
	memset(fr, 0xff, 6);
	assert_true(PASS(bc));
	assert_false(PASS(uc | am));
	assert_true(PASS(pr));
	/* Multicast without a list: ALLMULTI or PROMISC. */
	memcpy(fr, grp4, 6);
	assert_false(PASS(uc | bc));
	assert_true(PASS(am));
	assert_true(PASS(pr));
	memcpy(fr, grp6, 6);
	assert_false(PASS(uc | bc));
	assert_true(PASS(uc | bc | am));
	/* With a list: the groups on it, and only those. */
	memcpy(f.mc[0], grp4, 6);
	f.nr_mc = 1;
	assert_false(PASS(uc | bc));
	memcpy(f.mc[1], grp6, 6);
	f.nr_mc = 2;
	assert_true(PASS(uc | bc));
	memcpy(fr, grp4, 6);
	assert_true(PASS(uc | bc));
	fr[5] ^= 1;
	assert_false(PASS(uc | bc));
	assert_true(PASS(uc | bc | am));
	/* Almost broadcast is multicast. */
	memset(fr, 0xff, 6);
	fr[5] = 0xfe;
	assert_false(PASS(bc));
	assert_true(PASS(am));
	/* Shorter than an Ethernet header: never, not even promiscuous. */
	memcpy(fr, mine, 6);
	f.flags = uc | pr;
	assert_false(net_rx_filter(&f, fr, NET_ETH_HLEN - 1));
	assert_true(net_rx_filter(&f, fr, NET_ETH_HLEN));
}

#undef PASS

static void test_mcast_parse(void **state)
{
	struct kvmbus_net_set_mcast m = { 0 };
	struct net_filter f = { 0 };
	unsigned int i;

	(void)state;
	for (i = 0; i < KVMBUS_NET_MCAST_MAX; i++) {
		m.mac[i][0] = 0x01;
		m.mac[i][5] = (uint8_t)i;
	}
	m.count = cpu_to_le32(KVMBUS_NET_MCAST_MAX);
	assert_int_equal(net_mcast_parse(&m, &f), 0);
	assert_int_equal(f.nr_mc, KVMBUS_NET_MCAST_MAX);
	assert_memory_equal(f.mc[31], m.mac[31], 6);
	/* Too many, or a unicast entry: refused, the old list stays. */
	m.count = cpu_to_le32(KVMBUS_NET_MCAST_MAX + 1);
	assert_int_equal(net_mcast_parse(&m, &f), -EINVAL);
	m.count = cpu_to_le32(0xffffffffu);
	assert_int_equal(net_mcast_parse(&m, &f), -EINVAL);
	m.count = cpu_to_le32(3);
	m.mac[2][0] = 0x02;
	assert_int_equal(net_mcast_parse(&m, &f), -EINVAL);
	assert_int_equal(f.nr_mc, KVMBUS_NET_MCAST_MAX);
	/* Entries past count are not looked at; 0 empties the list. */
	m.count = cpu_to_le32(2);
	assert_int_equal(net_mcast_parse(&m, &f), 0);
	assert_int_equal(f.nr_mc, 2);
	m.count = 0;
	assert_int_equal(net_mcast_parse(&m, &f), 0);
	assert_int_equal(f.nr_mc, 0);
}

/* What INIT grants: asked for, offered, and with what each needs. */
static void test_offloads_grant(void **state)
{
	const uint32_t tso = KVMBUS_NET_OFF_TX_TSO4 | KVMBUS_NET_OFF_TX_TSO6;

	(void)state;
	assert_int_equal(net_offloads_grant(ALL_OFF, ALL_OFF), ALL_OFF);
	assert_int_equal(net_offloads_grant(0, ALL_OFF), 0);
	assert_int_equal(net_offloads_grant(ALL_OFF, 0), 0);
	/* Only what both name. */
	assert_int_equal(net_offloads_grant(KVMBUS_NET_OFF_VLAN |
					    KVMBUS_NET_OFF_RX_PAGES,
					    KVMBUS_NET_OFF_RX_PAGES),
			 KVMBUS_NET_OFF_RX_PAGES);
	/* A device offered without TSO: everything else. */
	assert_int_equal(net_offloads_grant(ALL_OFF, ALL_OFF & ~tso),
			 ALL_OFF & ~tso);
	/* Segments need their checksum offload, either way. */
	assert_int_equal(net_offloads_grant(ALL_OFF, ALL_OFF &
					    ~KVMBUS_NET_OFF_TX_CSUM),
			 ALL_OFF & ~(KVMBUS_NET_OFF_TX_CSUM | tso));
	assert_int_equal(net_offloads_grant(ALL_OFF & ~KVMBUS_NET_OFF_RX_CSUM,
					    ALL_OFF),
			 ALL_OFF & ~(KVMBUS_NET_OFF_RX_CSUM |
				     KVMBUS_NET_OFF_RX_GSO));
	/* Bits nobody defined are never granted. */
	assert_int_equal(net_offloads_grant(~0u, ~0u), ALL_OFF);
}

static void test_buf_check(void **state)
{
	(void)state;
	assert_int_equal(net_buf_check(1 << 20, 4096, 1 << 20,
				       KVMBUS_NET_SEND_BUF_MAX), 0);
	assert_int_equal(net_buf_check(1 << 20, 4096, (1 << 20) - 1,
				       KVMBUS_NET_SEND_BUF_MAX), -EINVAL);
	assert_int_equal(net_buf_check(1 << 20, 2044, 1 << 20,
				       KVMBUS_NET_SEND_BUF_MAX), -EINVAL);
	assert_int_equal(net_buf_check(1 << 20, 1024, 1 << 20,
				       KVMBUS_NET_SEND_BUF_MAX), -EINVAL);
	assert_int_equal(net_buf_check(32 << 20, 4096, 32 << 20,
				       KVMBUS_NET_SEND_BUF_MAX), -EINVAL);
	assert_int_equal(net_buf_check(0, 4096, 1 << 20,
				       KVMBUS_NET_SEND_BUF_MAX), -EINVAL);
	assert_int_equal(net_buf_check(2048, 4096, 1 << 20,
				       KVMBUS_NET_SEND_BUF_MAX), -EINVAL);
	assert_int_equal(net_buf_check(1 << 20, 1 << 20, 1 << 20,
				       KVMBUS_NET_SEND_BUF_MAX), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_section, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gpa, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gpa_too_many, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_post, setup, teardown),
		cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vlan_tx, setup, teardown),
		cmocka_unit_test(test_rx_meta),
		cmocka_unit_test(test_vlan_rx),
		cmocka_unit_test(test_flow_hash),
		cmocka_unit_test(test_rx_filter),
		cmocka_unit_test(test_mcast_parse),
		cmocka_unit_test(test_offloads_grant),
		cmocka_unit_test(test_buf_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
