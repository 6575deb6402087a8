// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for the guest ring (drivers/vmbus/ring.c): a producer and a
 * consumer on one ring in plain memory, plus a "peer" that scribbles on the
 * shared header and data the way a broken or hostile host could.
 */
#include <kunit/test.h>
#include <linux/slab.h>

#include "drivers/vmbus/ring.c"

#define RING_SIZE	8192u	/* two pages of data area */
#define BUF_LEN		4096u

struct ring_fixture {
	struct kvmbus_ring_hdr *hdr;
	u8 *data;
	struct kvmbus_ring prod;	/* the producer's private view */
	struct kvmbus_ring cons;	/* the consumer's private view */
	u8 *buf;
};

static int ring_test_init(struct kunit *test)
{
	struct ring_fixture *f;

	f = kunit_kzalloc(test, sizeof(*f), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, f);
	f->hdr = kunit_kzalloc(test, sizeof(*f->hdr), GFP_KERNEL);
	f->data = kunit_kzalloc(test, RING_SIZE, GFP_KERNEL);
	f->buf = kunit_kzalloc(test, BUF_LEN, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, f->hdr);
	KUNIT_ASSERT_NOT_NULL(test, f->data);
	KUNIT_ASSERT_NOT_NULL(test, f->buf);
	kvmbus_ring_create(&f->prod, f->hdr, f->data, RING_SIZE);
	/* The consumer attaches to the same shared memory. */
	f->cons = f->prod;
	test->priv = f;
	return 0;
}

static void fill(u8 *p, u32 len, u32 seed)
{
	u32 i;

	for (i = 0; i < len; i++)
		p[i] = (u8)(seed * 31 + i);
}

static int put_data(struct kvmbus_ring *r, u32 len, u32 seed, u64 id)
{
	static u8 payload[BUF_LEN];
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.trans_id = id,
		.data = payload,
		.data_len = len,
	};

	fill(payload, len, seed);
	return kvmbus_ring_put(r, &p);
}

/* Get one packet and check it is the one put_data(len, seed, id) sent. */
static void expect_data(struct kunit *test, struct ring_fixture *f, u32 len,
			u32 seed, u64 id)
{
	static u8 want[BUF_LEN];
	struct kvmbus_pkt_info pi;

	KUNIT_ASSERT_EQ(test, kvmbus_ring_get(&f->cons, f->buf, BUF_LEN, &pi),
			0);
	KUNIT_EXPECT_EQ(test, pi.type, KVMBUS_PKT_INBAND);
	KUNIT_EXPECT_EQ(test, pi.data_len, len);
	KUNIT_EXPECT_EQ(test, pi.trans_id, id);
	fill(want, len, seed);
	KUNIT_EXPECT_EQ(test, memcmp(f->buf + pi.data_offset, want, len), 0);
}

static void ring_empty(struct kunit *test)
{
	struct ring_fixture *f = test->priv;
	struct kvmbus_pkt_info pi;

	KUNIT_EXPECT_EQ(test, kvmbus_ring_get(&f->cons, f->buf, BUF_LEN, &pi),
			-EAGAIN);
	KUNIT_EXPECT_FALSE(test, kvmbus_ring_commit(&f->prod));
	KUNIT_EXPECT_FALSE(test, kvmbus_ring_release(&f->cons));
	KUNIT_EXPECT_FALSE(test, kvmbus_ring_unmask(&f->cons));
	KUNIT_EXPECT_EQ(test, le32_to_cpu(f->hdr->features),
			KVMBUS_RING_F_PENDING_SEND);
}

/* Every payload size from 0 to 600 bytes, each checked byte for byte. */
static void ring_roundtrip_sizes(struct kunit *test)
{
	struct ring_fixture *f = test->priv;
	u32 len;

	for (len = 0; len <= 600; len++) {
		KUNIT_ASSERT_EQ(test, put_data(&f->prod, len, len, len + 1), 0);
		kvmbus_ring_commit(&f->prod);
		expect_data(test, f, len, len, len + 1);
		kvmbus_ring_release(&f->cons);
	}
	KUNIT_EXPECT_FALSE(test, f->cons.broken);
}

/* Odd sizes walk the packets across the end of the data area many times. */
static void ring_wrap(struct kunit *test)
{
	struct ring_fixture *f = test->priv;
	u32 i, wraps = 0, last = 0;

	for (i = 0; i < 400; i++) {
		u32 len = 1 + (i * 97) % 1500;

		KUNIT_ASSERT_EQ(test, put_data(&f->prod, len, i, i), 0);
		kvmbus_ring_commit(&f->prod);
		expect_data(test, f, len, i, i);
		kvmbus_ring_release(&f->cons);
		if (f->cons.rd < last)
			wraps++;
		last = f->cons.rd;
	}
	KUNIT_EXPECT_GT(test, wraps, 10u);
	KUNIT_EXPECT_EQ(test, le32_to_cpu(f->hdr->read_index),
			le32_to_cpu(f->hdr->write_index));
}

/* A descriptor split by the wrap point, at every 8-byte offset. */
static void ring_wrap_every_offset(struct kunit *test)
{
	struct ring_fixture *f = test->priv;
	u32 start;

	for (start = RING_SIZE - 64; start < RING_SIZE; start += 8) {
		kvmbus_ring_create(&f->prod, f->hdr, f->data, RING_SIZE);
		f->hdr->read_index = cpu_to_le32(start);
		f->hdr->write_index = cpu_to_le32(start);
		f->prod.wr = start;
		f->prod.wr_pub = start;
		f->cons = f->prod;
		f->cons.rd = start;
		f->cons.rd_pub = start;
		KUNIT_ASSERT_EQ(test, put_data(&f->prod, 77, start, start), 0);
		kvmbus_ring_commit(&f->prod);
		expect_data(test, f, 77, start, start);
	}
}

/* The producer never fills the last 8 bytes; full never looks empty. */
static void ring_full_and_pending(struct kunit *test)
{
	struct ring_fixture *f = test->priv;
	u32 n = 0, len = 1000, pkt = kvmbus_pkt_ring_len(0, len);
	u32 small = kvmbus_pkt_ring_len(0, 64);
	int ret;

	KUNIT_ASSERT_EQ(test, put_data(&f->prod, 64, 100, 100), 0);
	while ((ret = put_data(&f->prod, len, n, n)) == 0)
		n++;
	KUNIT_EXPECT_EQ(test, ret, -ENOSPC);
	KUNIT_EXPECT_EQ(test, n, (RING_SIZE - KVMBUS_RING_GAP - small) / pkt);
	/* The waiting producer asked to hear when a whole packet fits. */
	KUNIT_EXPECT_EQ(test, le32_to_cpu(f->hdr->pending_send_sz), pkt);
	KUNIT_EXPECT_TRUE(test, kvmbus_ring_commit(&f->prod));

	/* Freeing less than the waiting packet needs does not wake it... */
	expect_data(test, f, 64, 100, 100);
	KUNIT_EXPECT_FALSE(test, kvmbus_ring_release(&f->cons));
	KUNIT_EXPECT_LT(test, kvmbus_ring_free(f->prod.wr, f->cons.rd,
					       RING_SIZE), pkt);
	/* ...crossing the line does, once; a later release does not. */
	expect_data(test, f, len, 0, 0);
	KUNIT_EXPECT_TRUE(test, kvmbus_ring_release(&f->cons));
	expect_data(test, f, len, 1, 1);
	KUNIT_EXPECT_FALSE(test, kvmbus_ring_release(&f->cons));

	/* Now it fits, and the stale request is withdrawn. */
	KUNIT_EXPECT_EQ(test, put_data(&f->prod, len, n, n), 0);
	KUNIT_EXPECT_EQ(test, le32_to_cpu(f->hdr->pending_send_sz), 0u);
}

/* Attaching continues from the shared indices, and refuses bad ones. */
static void ring_attach(struct kunit *test)
{
	struct ring_fixture *f = test->priv;
	struct kvmbus_ring late;

	KUNIT_ASSERT_EQ(test, put_data(&f->prod, 40, 5, 5), 0);
	KUNIT_ASSERT_EQ(test, put_data(&f->prod, 41, 6, 6), 0);
	kvmbus_ring_commit(&f->prod);
	expect_data(test, f, 40, 5, 5);
	kvmbus_ring_release(&f->cons);

	/* A consumer that restarts finds the second packet, not the first. */
	KUNIT_ASSERT_EQ(test, kvmbus_ring_attach(&late, f->hdr, f->data,
						 RING_SIZE), 0);
	f->cons = late;
	expect_data(test, f, 41, 6, 6);

	f->hdr->read_index = cpu_to_le32(4);
	KUNIT_EXPECT_EQ(test, kvmbus_ring_attach(&late, f->hdr, f->data,
						 RING_SIZE), -EINVAL);
	f->hdr->read_index = 0;
	f->hdr->write_index = cpu_to_le32(RING_SIZE);
	KUNIT_EXPECT_EQ(test, kvmbus_ring_attach(&late, f->hdr, f->data,
						 RING_SIZE), -EINVAL);
	f->hdr->write_index = 0;
	KUNIT_EXPECT_EQ(test, kvmbus_ring_attach(&late, f->hdr, f->data,
						 RING_SIZE + 8), -EINVAL);
}

/*
 * Running out of room with an unpublished batch: the consumer must judge
 * the request against what the producer sees, or it never signals.
 */
static void ring_full_with_batch(struct kunit *test)
{
	struct ring_fixture *f = test->priv;
	u32 n = 0, pkt = kvmbus_pkt_ring_len(0, 1000);
	bool woke = false;

	while (put_data(&f->prod, 1000, n, n) == 0)
		n++;
	/* The batch went out with the request, and its signal is owed. */
	KUNIT_EXPECT_EQ(test, le32_to_cpu(f->hdr->write_index), f->prod.wr);
	KUNIT_EXPECT_EQ(test, le32_to_cpu(f->hdr->pending_send_sz), pkt);
	KUNIT_EXPECT_TRUE(test, kvmbus_ring_commit(&f->prod));
	KUNIT_EXPECT_FALSE(test, kvmbus_ring_commit(&f->prod));

	/* Draining one packet at a time wakes the producer exactly once. */
	while (n--) {
		expect_data(test, f, 1000, f->cons.rd / pkt, f->cons.rd / pkt);
		if (kvmbus_ring_release(&f->cons)) {
			KUNIT_EXPECT_FALSE(test, woke);
			woke = true;
		}
	}
	KUNIT_EXPECT_TRUE(test, woke);
}

static void ring_too_big(struct kunit *test)
{
	struct ring_fixture *f = test->priv;

	KUNIT_EXPECT_EQ(test, put_data(&f->prod, BUF_LEN, 0, 0), 0);
	kvmbus_ring_create(&f->prod, f->hdr, f->data, KVMBUS_PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, put_data(&f->prod, BUF_LEN, 0, 0), -EMSGSIZE);
	KUNIT_EXPECT_FALSE(test, f->prod.broken);
}

/* One index publish and at most one signal per batch. */
static void ring_batching(struct kunit *test)
{
	struct ring_fixture *f = test->priv;
	u32 i;

	for (i = 0; i < 16; i++)
		KUNIT_ASSERT_EQ(test, put_data(&f->prod, 64, i, i), 0);
	/* Nothing is visible before the commit. */
	KUNIT_EXPECT_EQ(test, le32_to_cpu(f->hdr->write_index), 0u);
	KUNIT_EXPECT_TRUE(test, kvmbus_ring_commit(&f->prod));
	KUNIT_EXPECT_FALSE(test, kvmbus_ring_commit(&f->prod));

	/* The consumer is still behind: a second batch needs no signal. */
	expect_data(test, f, 64, 0, 0);
	kvmbus_ring_release(&f->cons);
	KUNIT_ASSERT_EQ(test, put_data(&f->prod, 64, 99, 99), 0);
	KUNIT_EXPECT_FALSE(test, kvmbus_ring_commit(&f->prod));

	/* Caught up: the empty -> non-empty transition signals again. */
	for (i = 1; i < 16; i++)
		expect_data(test, f, 64, i, i);
	expect_data(test, f, 64, 99, 99);
	kvmbus_ring_release(&f->cons);
	KUNIT_ASSERT_EQ(test, put_data(&f->prod, 64, 7, 7), 0);
	KUNIT_EXPECT_TRUE(test, kvmbus_ring_commit(&f->prod));
}

/*
 * The lost-wakeup window: the producer commits while the consumer holds
 * its last packets unpublished.  It rightly does not signal, so the
 * consumer must find the packet by looking again after its release.
 */
static void ring_more_after_release(struct kunit *test)
{
	struct ring_fixture *f = test->priv;

	KUNIT_ASSERT_EQ(test, put_data(&f->prod, 16, 1, 1), 0);
	KUNIT_EXPECT_TRUE(test, kvmbus_ring_commit(&f->prod));
	expect_data(test, f, 16, 1, 1);
	/* Not yet released: the producer sees us behind. */
	KUNIT_ASSERT_EQ(test, put_data(&f->prod, 16, 2, 2), 0);
	KUNIT_EXPECT_FALSE(test, kvmbus_ring_commit(&f->prod));
	kvmbus_ring_release(&f->cons);
	KUNIT_EXPECT_TRUE(test, kvmbus_ring_more(&f->cons));
	expect_data(test, f, 16, 2, 2);
	kvmbus_ring_release(&f->cons);
	KUNIT_EXPECT_FALSE(test, kvmbus_ring_more(&f->cons));
}

/* A polling consumer is not signalled and re-checks after unmasking. */
static void ring_masking(struct kunit *test)
{
	struct ring_fixture *f = test->priv;

	kvmbus_ring_mask(&f->cons);
	KUNIT_ASSERT_EQ(test, put_data(&f->prod, 10, 1, 1), 0);
	KUNIT_EXPECT_FALSE(test, kvmbus_ring_commit(&f->prod));
	KUNIT_EXPECT_TRUE(test, kvmbus_ring_unmask(&f->cons));
	expect_data(test, f, 10, 1, 1);
	kvmbus_ring_release(&f->cons);
	KUNIT_EXPECT_FALSE(test, kvmbus_ring_unmask(&f->cons));
	KUNIT_ASSERT_EQ(test, put_data(&f->prod, 10, 2, 2), 0);
	KUNIT_EXPECT_TRUE(test, kvmbus_ring_commit(&f->prod));
}

static void expect_broken(struct kunit *test, struct ring_fixture *f)
{
	struct kvmbus_pkt_info pi;

	KUNIT_EXPECT_EQ(test, kvmbus_ring_get(&f->cons, f->buf, BUF_LEN, &pi),
			-EIO);
	KUNIT_EXPECT_TRUE(test, f->cons.broken);
	/* Broken for good, even if the peer puts things right. */
	KUNIT_EXPECT_EQ(test, kvmbus_ring_get(&f->cons, f->buf, BUF_LEN, &pi),
			-EIO);
	KUNIT_EXPECT_FALSE(test, kvmbus_ring_release(&f->cons));
}

struct bad_index_case {
	const char *name;
	u32 write_index;
};

static const struct bad_index_case bad_index_cases[] = {
	{ "unaligned", 12 },
	{ "at_end", RING_SIZE },
	{ "far_out", 0xfffffff8 },
};

static void bad_index_desc(const struct bad_index_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(bad_index, bad_index_cases, bad_index_desc);

static void ring_bad_write_index(struct kunit *test)
{
	const struct bad_index_case *c = test->param_value;
	struct ring_fixture *f = test->priv;

	f->hdr->write_index = cpu_to_le32(c->write_index);
	expect_broken(test, f);
}

static void ring_bad_read_index(struct kunit *test)
{
	const struct bad_index_case *c = test->param_value;
	struct ring_fixture *f = test->priv;

	f->hdr->read_index = cpu_to_le32(c->write_index);
	KUNIT_EXPECT_EQ(test, put_data(&f->prod, 8, 0, 0), -EIO);
	KUNIT_EXPECT_TRUE(test, f->prod.broken);
	KUNIT_EXPECT_FALSE(test, kvmbus_ring_commit(&f->prod));
}

/* What a hostile producer does to one good packet. */
enum corruption {
	BAD_TYPE, BAD_FLAGS, BAD_OFFSET_SMALL, BAD_OFFSET_UNALIGNED,
	BAD_TOTAL_UNALIGNED, BAD_TOTAL_PAST_DATA, BAD_DATA_LEN_LONG,
	BAD_DATA_LEN_SHORT, BAD_TRAILER, BAD_TOO_BIG, BAD_WRITE_MID_PACKET,
};

struct corrupt_case {
	const char *name;
	enum corruption what;
};

static const struct corrupt_case corrupt_cases[] = {
	{ "type", BAD_TYPE },
	{ "flags", BAD_FLAGS },
	{ "data_offset_below_desc", BAD_OFFSET_SMALL },
	{ "data_offset_unaligned", BAD_OFFSET_UNALIGNED },
	{ "total_len_unaligned", BAD_TOTAL_UNALIGNED },
	{ "total_len_past_write_index", BAD_TOTAL_PAST_DATA },
	{ "data_len_past_total", BAD_DATA_LEN_LONG },
	{ "data_len_short_of_padding", BAD_DATA_LEN_SHORT },
	{ "trailer", BAD_TRAILER },
	{ "larger_than_reader_buffer", BAD_TOO_BIG },
	{ "write_index_mid_packet", BAD_WRITE_MID_PACKET },
};

static void corrupt_desc(const struct corrupt_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(corrupt, corrupt_cases, corrupt_desc);

static void ring_malformed_packet(struct kunit *test)
{
	const struct corrupt_case *c = test->param_value;
	struct ring_fixture *f = test->priv;
	struct kvmbus_pkt_desc *d = (void *)f->data;
	struct kvmbus_pkt_info pi;
	u32 total;

	/* A 40-byte payload: descriptor 24 + data 40 = 64, trailer at 64. */
	KUNIT_ASSERT_EQ(test, put_data(&f->prod, 40, 3, 3), 0);
	kvmbus_ring_commit(&f->prod);
	total = le32_to_cpu(d->total_len);
	KUNIT_ASSERT_EQ(test, total, 64u);

	switch (c->what) {
	case BAD_TYPE:
		d->type = cpu_to_le16(9);
		break;
	case BAD_FLAGS:
		d->flags = cpu_to_le16(0x8000);
		break;
	case BAD_OFFSET_SMALL:
		d->data_offset = cpu_to_le16(16);
		break;
	case BAD_OFFSET_UNALIGNED:
		d->data_offset = cpu_to_le16(28);
		break;
	case BAD_TOTAL_UNALIGNED:
		d->total_len = cpu_to_le32(60);
		break;
	case BAD_TOTAL_PAST_DATA:
		d->total_len = cpu_to_le32(RING_SIZE / 2);
		break;
	case BAD_DATA_LEN_LONG:
		d->data_len = cpu_to_le32(41);
		break;
	case BAD_DATA_LEN_SHORT:
		d->data_len = cpu_to_le32(32);
		break;
	case BAD_TRAILER:
		f->data[total] ^= 8;
		break;
	case BAD_TOO_BIG: {
		u32 big = BUF_LEN + 8;

		/* Well-formed and readable, one step larger than the reader
		 * accepts (the buffer holds descriptor to trailer).
		 */
		d->total_len = cpu_to_le32(big);
		d->data_len = cpu_to_le32(big - 24);
		f->hdr->write_index = cpu_to_le32(big + 8);
		break;
	}
	case BAD_WRITE_MID_PACKET:
		f->hdr->write_index = cpu_to_le32(32);
		break;
	}
	KUNIT_EXPECT_EQ(test, kvmbus_ring_get(&f->cons, f->buf, BUF_LEN, &pi),
			-EIO);
	KUNIT_EXPECT_TRUE(test, f->cons.broken);
	/* Nothing was consumed. */
	KUNIT_EXPECT_EQ(test, f->cons.rd, 0u);
}

static struct kunit_case kvmbus_ring_cases[] = {
	KUNIT_CASE(ring_empty),
	KUNIT_CASE(ring_roundtrip_sizes),
	KUNIT_CASE(ring_wrap),
	KUNIT_CASE(ring_wrap_every_offset),
	KUNIT_CASE(ring_full_and_pending),
	KUNIT_CASE(ring_full_with_batch),
	KUNIT_CASE(ring_attach),
	KUNIT_CASE(ring_too_big),
	KUNIT_CASE(ring_batching),
	KUNIT_CASE(ring_masking),
	KUNIT_CASE(ring_more_after_release),
	KUNIT_CASE_PARAM(ring_bad_write_index, bad_index_gen_params),
	KUNIT_CASE_PARAM(ring_bad_read_index, bad_index_gen_params),
	KUNIT_CASE_PARAM(ring_malformed_packet, corrupt_gen_params),
	{}
};

static struct kunit_suite kvmbus_ring_suite = {
	.name = "kvmbus_ring",
	.init = ring_test_init,
	.test_cases = kvmbus_ring_cases,
};

kunit_test_suite(kvmbus_ring_suite);

MODULE_DESCRIPTION("KUnit tests for the kvmbus ring buffer");
MODULE_LICENSE("GPL");
