// SPDX-License-Identifier: GPL-2.0-only
/*
 * The guest's ring code (drivers/vmbus/ring.c, built through kshim/) as
 * kvmbusd uses it: the guest creates a ring, the host attaches with
 * kvmbus_ring_attach() without touching the header, and both directions
 * carry packets, wrap around, signal by the rules and survive a full
 * ring.  Then the guest turns hostile: garbage indices and descriptors
 * must break the ring, never make the host read or write outside it
 * (valgrind checks every byte: each ring is one exact-size heap block).
 */
#include <errno.h>
#include <stdint.h>

#include "helpers.h"
#include "proto.h"
#include "ring.h"

#define PAGE		KVMBUS_PAGE_SIZE

struct pair {
	uint8_t *mem;			/* header page + data pages */
	uint32_t pages;
	struct kvmbus_ring guest;	/* the guest's side */
	struct kvmbus_ring host;	/* ours */
};

static int attach(struct kvmbus_ring *r, uint8_t *mem, uint32_t pages)
{
	return kvmbus_ring_attach(r, (struct kvmbus_ring_hdr *)mem, mem + PAGE,
				  (pages - 1) * PAGE);
}

/* A ring the guest created, and the host attached to it. */
static void pair_init(struct pair *p, uint32_t pages)
{
	p->pages = pages;
	p->mem = malloc((size_t)pages * PAGE);
	assert_non_null(p->mem);
	memset(p->mem, 0xee, (size_t)pages * PAGE);
	kvmbus_ring_create(&p->guest, (struct kvmbus_ring_hdr *)p->mem,
			   p->mem + PAGE, (pages - 1) * PAGE);
	assert_int_equal(attach(&p->host, p->mem, pages), 0);
}

static void pair_fini(struct pair *p)
{
	free(p->mem);
}

static struct kvmbus_ring_hdr *hdr(struct pair *p)
{
	return (struct kvmbus_ring_hdr *)p->mem;
}

static int put(struct kvmbus_ring *r, const void *data, uint32_t len,
	       uint64_t tid)
{
	struct kvmbus_ring_pkt pkt = {
		.type = KVMBUS_PKT_INBAND,
		.trans_id = tid,
		.data = data,
		.data_len = len,
	};

	return kvmbus_ring_put(r, &pkt);
}

/* Payload byte i of packet n. */
static uint8_t pat(uint32_t n, uint32_t i)
{
	return (uint8_t)(n * 31 + i * 7 + 1);
}

static void fill(uint8_t *buf, uint32_t n, uint32_t len)
{
	uint32_t i;

	for (i = 0; i < len; i++)
		buf[i] = pat(n, i);
}

/* Get one packet and check it is packet @n of @len bytes. */
static void get_check(struct kvmbus_ring *r, uint32_t n, uint32_t len)
{
	uint64_t buf[4096 / 8];
	struct kvmbus_pkt_info pi;
	const uint8_t *d;
	uint32_t i;

	assert_int_equal(kvmbus_ring_get(r, buf, sizeof(buf), &pi), 0);
	assert_int_equal(pi.type, KVMBUS_PKT_INBAND);
	assert_int_equal(pi.data_len, len);
	assert_int_equal(pi.trans_id, 1000 + n);
	d = (const uint8_t *)buf + pi.data_offset;
	for (i = 0; i < len; i++)
		if (d[i] != pat(n, i))
			fail_msg("packet %u byte %u", n, i);
}

/* --- attach ---------------------------------------------------------- */

static void test_attach_reads_only(void **state)
{
	uint8_t before[PAGE];
	struct kvmbus_ring r;
	struct pair p;

	(void)state;
	pair_init(&p, 3);
	assert_int_equal(p.host.size, 2 * PAGE);
	assert_ptr_equal(p.host.hdr, p.mem);
	assert_ptr_equal(p.host.data, p.mem + PAGE);

	/* A ring that is already in use: attach carries on from the
	 * indices it finds and writes nothing. */
	hdr(&p)->read_index = cpu_to_le32(4096 + 64);
	hdr(&p)->write_index = cpu_to_le32(1024);
	memcpy(before, p.mem, PAGE);
	assert_int_equal(attach(&r, p.mem, 3), 0);
	assert_int_equal(r.rd, 4096 + 64);
	assert_int_equal(r.rd_pub, 4096 + 64);
	assert_int_equal(r.wr, 1024);
	assert_int_equal(r.wr_pub, 1024);
	assert_memory_equal(before, p.mem, PAGE);

	/* Indices that are no offset of this ring. */
	hdr(&p)->read_index = cpu_to_le32(2 * PAGE);
	assert_int_equal(attach(&r, p.mem, 3), -EINVAL);
	hdr(&p)->read_index = cpu_to_le32(12);
	assert_int_equal(attach(&r, p.mem, 3), -EINVAL);
	hdr(&p)->read_index = 0;
	hdr(&p)->write_index = cpu_to_le32(UINT32_MAX);
	assert_int_equal(attach(&r, p.mem, 3), -EINVAL);
	hdr(&p)->write_index = 0;
	/* Sizes. */
	assert_int_equal(kvmbus_ring_attach(&r, hdr(&p), p.mem + PAGE, 0),
			 -EINVAL);
	assert_int_equal(kvmbus_ring_attach(&r, hdr(&p), p.mem + PAGE, 4100),
			 -EINVAL);
	assert_int_equal(attach(&r, p.mem, 3), 0);
	pair_fini(&p);
}

/* --- both directions -------------------------------------------------- */

/* Many packets of varying sizes through a 1-page ring: many laps. */
static void stream(struct kvmbus_ring *prod, struct kvmbus_ring *cons)
{
	uint8_t buf[1500];
	uint32_t sent = 0, got = 0, len;
	int ret;

	while (got < 500) {
		/* Fill the ring as far as it goes, one commit per batch. */
		while (sent < 500) {
			len = (sent * 37) % sizeof(buf);
			fill(buf, sent, len);
			ret = put(prod, buf, len, 1000 + sent);
			if (ret == -ENOSPC)
				break;
			assert_int_equal(ret, 0);
			sent++;
		}
		kvmbus_ring_commit(prod);
		assert_true(sent > got);
		while (got < sent) {
			get_check(cons, got, (got * 37) % sizeof(buf));
			got++;
		}
		kvmbus_ring_release(cons);
	}
	assert_false(prod->broken);
	assert_false(cons->broken);
}

static void test_guest_to_host(void **state)
{
	struct pair p;

	(void)state;
	pair_init(&p, 2);
	stream(&p.guest, &p.host);
	pair_fini(&p);
}

static void test_host_to_guest(void **state)
{
	struct pair p;

	(void)state;
	pair_init(&p, 2);
	stream(&p.host, &p.guest);
	pair_fini(&p);
}

/* Signal on empty -> non-empty only, not while masked; unmask finds
 * what came meanwhile. */
static void test_signal_rules(void **state)
{
	uint8_t buf[64] = { 0 };
	struct pair p;

	(void)state;
	pair_init(&p, 2);
	fill(buf, 0, 10);
	assert_int_equal(put(&p.guest, buf, 10, 1000), 0);
	assert_true(kvmbus_ring_commit(&p.guest));	/* was empty */
	fill(buf, 1, 10);
	assert_int_equal(put(&p.guest, buf, 10, 1001), 0);
	assert_false(kvmbus_ring_commit(&p.guest));	/* host is behind */
	assert_false(kvmbus_ring_commit(&p.guest));	/* nothing new */

	kvmbus_ring_mask(&p.host);
	get_check(&p.host, 0, 10);
	get_check(&p.host, 1, 10);
	fill(buf, 2, 10);
	kvmbus_ring_release(&p.host);
	assert_int_equal(put(&p.guest, buf, 10, 1002), 0);
	assert_false(kvmbus_ring_commit(&p.guest));	/* masked */
	assert_true(kvmbus_ring_unmask(&p.host));	/* raced: keep going */
	get_check(&p.host, 2, 10);
	kvmbus_ring_release(&p.host);
	assert_false(kvmbus_ring_unmask(&p.host));
	pair_fini(&p);
}

/* A host producer that finds the ring full asks for a signal, and the
 * guest's consumer gives it when it has made that much room. */
static void test_full_ring(void **state)
{
	uint8_t buf[1000];
	struct pair p;
	uint32_t n = 0;

	(void)state;
	pair_init(&p, 2);
	for (;;) {
		fill(buf, n, sizeof(buf));
		if (put(&p.host, buf, sizeof(buf), 1000 + n) == -ENOSPC)
			break;
		n++;
	}
	/* 24 + 1000 + pad + 8 = 1032 bytes each; 4096 - 8 usable. */
	assert_int_equal(n, 3);
	assert_int_equal(le32_to_cpu(hdr(&p)->pending_send_sz), 1032);
	assert_true(kvmbus_ring_commit(&p.host));

	get_check(&p.guest, 0, sizeof(buf));
	assert_true(kvmbus_ring_release(&p.guest));	/* crossed 1032 */
	fill(buf, 3, sizeof(buf));
	assert_int_equal(put(&p.host, buf, sizeof(buf), 1003), 0);
	assert_int_equal(le32_to_cpu(hdr(&p)->pending_send_sz), 0);
	kvmbus_ring_commit(&p.host);
	for (n = 1; n < 4; n++)
		get_check(&p.guest, n, sizeof(buf));
	assert_false(kvmbus_ring_release(&p.guest));	/* nobody waits */
	/* Too large for this ring, ever. */
	assert_int_equal(put(&p.host, NULL, 4096, 0), -EMSGSIZE);
	pair_fini(&p);
}

/* --- a hostile guest ------------------------------------------------- */

static void expect_broken_get(struct pair *p)
{
	uint64_t buf[4096 / 8];
	struct kvmbus_pkt_info pi;

	assert_int_equal(kvmbus_ring_get(&p->host, buf, sizeof(buf), &pi),
			 -EIO);
	assert_true(p->host.broken);
	/* Broken for good: nothing more is read, nothing published. */
	hdr(p)->write_index = 0;
	assert_int_equal(kvmbus_ring_get(&p->host, buf, sizeof(buf), &pi),
			 -EIO);
	assert_false(kvmbus_ring_release(&p->host));
}

static void test_garbage_write_index(void **state)
{
	const uint32_t bad[] = { 4, 4095, 4096, 4104, 0x80000000u,
				 UINT32_MAX, 0xfffffff8u };
	uint8_t buf[16] = { 0 };
	struct pair p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pair_init(&p, 2);
		assert_int_equal(put(&p.guest, buf, 8, 1), 0);
		kvmbus_ring_commit(&p.guest);
		hdr(&p)->write_index = cpu_to_le32(bad[i]);
		expect_broken_get(&p);
		pair_fini(&p);
	}
}

/* Valid indices, but what lies between them is not a packet. */
static void test_garbage_packets(void **state)
{
	struct kvmbus_pkt_desc *d;
	struct pair p;
	uint8_t buf[16] = { 0 };
	int c;

	(void)state;
	for (c = 0; c < 8; c++) {
		pair_init(&p, 2);
		assert_int_equal(put(&p.guest, buf, 16, 1), 0);
		kvmbus_ring_commit(&p.guest);	/* 24 + 16 + 8 = 48 bytes */
		d = (struct kvmbus_pkt_desc *)(p.mem + PAGE);
		switch (c) {
		case 0:	/* fewer bytes than a descriptor and a trailer */
			hdr(&p)->write_index = cpu_to_le32(24);
			break;
		case 1:	/* a packet longer than what was published */
			d->total_len = cpu_to_le32(4000);
			d->data_len = cpu_to_le32(4000 - 24);
			break;
		case 2:	/* larger than the reader's buffer and the ring */
			d->total_len = cpu_to_le32(0xfffffff8u);
			break;
		case 3:	/* unknown type */
			d->type = cpu_to_le16(9);
			break;
		case 4:	/* payload past the packet end */
			d->data_len = cpu_to_le32(17);
			break;
		case 5:	/* trailer names another start */
			p.mem[PAGE + 40] = 8;
			break;
		case 6:	/* unknown flag */
			d->flags = cpu_to_le16(0x8000);
			break;
		default: /* data_offset inside the descriptor */
			d->data_offset = cpu_to_le16(16);
			break;
		}
		expect_broken_get(&p);
		pair_fini(&p);
	}
}

/* The guest scribbles the read index of the ring the host writes. */
static void test_garbage_read_index(void **state)
{
	uint8_t buf[16] = { 0 };
	struct pair p;

	(void)state;
	pair_init(&p, 2);
	hdr(&p)->read_index = cpu_to_le32(4092);
	assert_int_equal(put(&p.host, buf, 16, 1), -EIO);
	assert_true(p.host.broken);
	hdr(&p)->read_index = 0;
	assert_int_equal(put(&p.host, buf, 16, 1), -EIO);
	assert_false(kvmbus_ring_commit(&p.host));
	pair_fini(&p);
}

/* xorshift: the same "random" garbage on every run. */
static uint32_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)(*s >> 16);
}

/*
 * Random data, then a run of real packets from a random start (wrapping
 * around), then a corrupted byte or index now and then: the host consumer
 * must take the good packets, stop at the first bad one, and terminate
 * every time; valgrind sees every byte it reads.
 */
static void test_random_garbage(void **state)
{
	uint64_t buf[512 / 8], seed = 0x9e3779b97f4a7c15ull;
	uint8_t data[400];
	struct kvmbus_pkt_info pi;
	unsigned int round, n, k, good = 0, broken = 0;
	struct pair p;
	uint32_t i, start;
	int ret;

	(void)state;
	for (round = 0; round < 400; round++) {
		pair_init(&p, 2);
		for (i = 0; i < 4096; i++)
			p.mem[PAGE + i] = (uint8_t)rnd(&seed);
		/* The guest writes k packets from a random start. */
		start = (rnd(&seed) % 512) * 8;
		hdr(&p)->read_index = cpu_to_le32(start);
		p.guest.wr = p.guest.wr_pub = start;
		k = rnd(&seed) % 12;
		for (n = 0; n < k; n++) {
			uint32_t len = rnd(&seed) % sizeof(data);

			fill(data, n, len);
			if (put(&p.guest, data, len, 1000 + n))
				break;
		}
		kvmbus_ring_commit(&p.guest);
		p.host.rd = p.host.rd_pub = start;
		/* Then the guest turns hostile, most of the time. */
		switch (rnd(&seed) % 4) {
		case 0:
			p.mem[PAGE + rnd(&seed) % 4096] ^= (uint8_t)(1 + rnd(&seed) % 255);
			break;
		case 1:
			hdr(&p)->write_index = cpu_to_le32(rnd(&seed));
			break;
		case 2:
			hdr(&p)->write_index = cpu_to_le32((rnd(&seed) % 512) * 8);
			break;
		default:
			break;
		}
		for (n = 0; n < 1000; n++) {
			ret = kvmbus_ring_get(&p.host, buf, sizeof(buf), &pi);
			if (ret)
				break;
			good++;
			assert_true(pi.data_offset + pi.data_len <= pi.total_len);
			assert_true(pi.total_len <= sizeof(buf));
		}
		assert_true(n < 1000);
		assert_true(ret == -EAGAIN || ret == -EIO);
		if (ret == -EIO)
			broken++;
		kvmbus_ring_release(&p.host);
		pair_fini(&p);
	}
	assert_true(good > 400);
	assert_true(broken > 100);
	print_message("random garbage: %u packets accepted, %u of 400 rings broken\n",
		      good, broken);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attach_reads_only),
		cmocka_unit_test(test_guest_to_host),
		cmocka_unit_test(test_host_to_guest),
		cmocka_unit_test(test_signal_rules),
		cmocka_unit_test(test_full_ring),
		cmocka_unit_test(test_garbage_write_index),
		cmocka_unit_test(test_garbage_packets),
		cmocka_unit_test(test_garbage_read_index),
		cmocka_unit_test(test_random_garbage),
	};

	return cmocka_run_group_tests_name("ring", tests, NULL, NULL);
}
