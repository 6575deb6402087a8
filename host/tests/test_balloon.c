// SPDX-License-Identifier: GPL-2.0-only
/*
 * The balloon VSP: balloon_parse() against every way a guest message can
 * be wrong, and the provider on an open channel (built by hand: a
 * host->guest ring read with the guest's own ring code) over a memfd of
 * guest RAM split around the hole (2 MiB at GPA 0, 2 MiB at GPA 4 GiB):
 * requests follow the target, inflated and reported pages are really
 * punched out of the file (its allocated blocks drop, the guest reads
 * zeroes), bad messages are refused whole and counted, a pressure deflate
 * lowers the target, an unanswered request is given up, the target
 * outlives the channel.
 */
#include <errno.h>
#include <json.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <kvmbus/balloon.h>

#include "fixture.h"
#include "devices.h"
#include "guestmem.h"
#include "vsp_balloon.h"

#define PAGE		KVMBUS_PAGE_SIZE
#define LOW		(2u << 20)
#define RAM		(4u << 20)
#define HIGH_PFN	((1ull << 32) / PAGE)
#define RAM_PAGES	(RAM / PAGE)
#define TX_SIZE		(16u * PAGE)

struct env {
	struct guestmem gm;
	struct chan_env cenv;
	struct ratelimit rl;
	struct device dev;
	struct chan ch;
	struct kvmbus_ring_hdr *tx_hdr, *rx_hdr;
	uint8_t *tx_data, *rx_data;
	struct kvmbus_ring guest_out;	/* the guest's end of ch.rx (empty) */
	struct kvmbus_ring guest_in;	/* the guest's end of ch.tx */
	uint64_t tid;
	uint8_t msg[KVMBUS_BALLOON_MAX_MSG + 64];
	uint8_t rx[TX_SIZE];
	struct kvmbus_pkt_info rx_pi;
	struct balloon_msg m;
};

static int no_signal(void *opaque, unsigned int vector)
{
	(void)opaque;
	(void)vector;
	return 0;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	guestmem_memfd(&e->gm, RAM, LOW);
	/* Every page of guest RAM holds data. */
	memset(e->gm.base, 0xa5, RAM);

	ratelimit_init(&e->rl, 1000, 100);
	e->cenv = (struct chan_env){ .gm = &e->gm, .signal = no_signal,
				     .rl = &e->rl };
	e->dev.id = 1;
	e->dev.priv = calloc(1, vsp_balloon_ops.dev_priv_size);
	assert_non_null(e->dev.priv);
	e->ch.dev = &e->dev;
	e->ch.env = &e->cenv;
	e->ch.vsp = &vsp_balloon_ops;
	e->ch.state = CHAN_OPEN;
	e->ch.relid = 1;
	ratelimit_init(&e->ch.rl, 1000, 100);
	e->ch.priv = calloc(1, vsp_balloon_ops.priv_size);
	assert_non_null(e->ch.priv);
	e->tx_hdr = aligned_alloc(PAGE, PAGE);
	e->tx_data = calloc(1, TX_SIZE);
	assert_non_null(e->tx_hdr);
	assert_non_null(e->tx_data);
	kvmbus_ring_create(&e->ch.tx, e->tx_hdr, e->tx_data, TX_SIZE);
	/* A guest->host ring too, for passes (chan_poll()) to look at. */
	e->rx_hdr = aligned_alloc(PAGE, PAGE);
	e->rx_data = calloc(1, TX_SIZE);
	e->ch.rxbuf = malloc(vsp_balloon_ops.max_pkt);
	assert_non_null(e->rx_hdr);
	assert_non_null(e->rx_data);
	assert_non_null(e->ch.rxbuf);
	kvmbus_ring_create(&e->guest_out, e->rx_hdr, e->rx_data, TX_SIZE);
	assert_int_equal(kvmbus_ring_attach(&e->ch.rx, e->rx_hdr, e->rx_data,
					    TX_SIZE), 0);
	e->ch.rx_features = e->rx_hdr->features;
	e->ch.tx_features = e->tx_hdr->features;
	assert_int_equal(kvmbus_ring_attach(&e->guest_in, e->tx_hdr,
					    e->tx_data, TX_SIZE), 0);
	assert_int_equal(vsp_balloon_ops.open(&e->ch, NULL), 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	vsp_balloon_ops.close(&e->ch);
	free(e->ch.priv);
	free(e->dev.priv);
	free(e->tx_hdr);
	free(e->tx_data);
	free(e->rx_hdr);
	free(e->rx_data);
	free(e->ch.rxbuf);
	guestmem_close(&e->gm);
	free(e);
	return 0;
}

static uint64_t file_bytes(struct env *e)
{
	struct stat st;

	assert_int_equal(fstat(e->gm.fd, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

/* --- building guest messages ------------------------------------------ */

static uint32_t ranges_msg(struct env *e, uint16_t type, uint16_t flags,
			   uint64_t req_id, const uint64_t (*r)[2],
			   uint32_t nr)
{
	struct kvmbus_balloon_ranges h = {
		.hdr.type = cpu_to_le16(type),
		.req_id = cpu_to_le64(req_id),
		.nr_ranges = cpu_to_le32(nr),
		.flags = cpu_to_le16(flags),
	};
	uint64_t pages = 0;
	uint32_t i;

	for (i = 0; i < nr; i++) {
		struct kvmbus_balloon_range x = {
			.pfn = cpu_to_le64(r[i][0]),
			.nr_pages = cpu_to_le64(r[i][1]),
		};

		memcpy(e->msg + sizeof(h) + i * sizeof(x), &x, sizeof(x));
		pages += r[i][1];
	}
	h.pages = cpu_to_le64(pages);
	memcpy(e->msg, &h, sizeof(h));
	return sizeof(h) + nr * sizeof(struct kvmbus_balloon_range);
}

static uint32_t status_msg(struct env *e)
{
	struct kvmbus_balloon_status s = {
		.hdr.type = cpu_to_le16(KVMBUS_BALLOON_STATUS),
		.total = cpu_to_le64(RAM_PAGES),
		.free = cpu_to_le64(RAM_PAGES / 2),
		.available = cpu_to_le64(RAM_PAGES / 2),
	};

	memcpy(e->msg, &s, sizeof(s));
	return sizeof(s);
}

/* A STATUS of a guest that deflates by range. */
static uint32_t status_range_msg(struct env *e)
{
	struct kvmbus_balloon_status *s = (void *)e->msg;
	uint32_t len = status_msg(e);

	s->features = cpu_to_le64(KVMBUS_BALLOON_FEAT_DEFLATE_RANGE);
	return len;
}

/* Hand @len bytes of e->msg to the VSP as one in-band packet. */
static void deliver(struct env *e, uint32_t len, bool comp)
{
	struct kvmbus_pkt_info pi = {
		.type = KVMBUS_PKT_INBAND,
		.flags = comp ? KVMBUS_PKT_F_COMP_REQUESTED : 0,
		.trans_id = ++e->tid,
		.data_offset = 0,
		.data_len = len,
	};

	assert_true(vsp_balloon_ops.on_packet(&e->ch, &pi, e->msg) >= 1);
	vsp_balloon_ops.flush(&e->ch, CHAN_BUDGET);
	kvmbus_ring_commit(&e->ch.tx);
}

/* The next host->guest packet: 0, or -EAGAIN when there is none. */
static int host_pkt(struct env *e)
{
	return kvmbus_ring_get(&e->guest_in, e->rx, sizeof(e->rx), &e->rx_pi);
}

static void expect_ack(struct env *e, uint32_t status, uint64_t pages)
{
	struct kvmbus_balloon_ack a;

	assert_int_equal(host_pkt(e), 0);
	assert_int_equal(e->rx_pi.type, KVMBUS_PKT_COMP);
	assert_int_equal(e->rx_pi.trans_id, e->tid);
	assert_int_equal(e->rx_pi.data_len, sizeof(a));
	memcpy(&a, e->rx + e->rx_pi.data_offset, sizeof(a));
	assert_int_equal(le32_to_cpu(a.status), status);
	assert_int_equal(le64_to_cpu(a.pages), pages);
}

/* Return: the request id of the INFLATE_REQ / DEFLATE_REQ expected. */
static uint64_t expect_req(struct env *e, uint16_t type, uint64_t pages)
{
	struct kvmbus_balloon_req q;

	assert_int_equal(host_pkt(e), 0);
	assert_int_equal(e->rx_pi.type, KVMBUS_PKT_INBAND);
	assert_int_equal(kvmbus_balloon_msg_type(e->rx + e->rx_pi.data_offset,
						 e->rx_pi.data_len, false),
			 type);
	memcpy(&q, e->rx + e->rx_pi.data_offset, sizeof(q));
	assert_int_equal(le64_to_cpu(q.pages), pages);
	return le64_to_cpu(q.req_id);
}

static void expect_nothing(struct env *e)
{
	assert_int_equal(host_pkt(e), -EAGAIN);
}

/* Move the target to @target bytes and let the VSP act on it. */
static void set_target(struct env *e, uint64_t target)
{
	vsp_balloon_set_target(&e->dev, target);
	vsp_balloon_ops.flush(&e->ch, CHAN_BUDGET);
	kvmbus_ring_commit(&e->ch.tx);
}

/*
 * The guest reports its status, then the target drops by @pages.
 * Return: the id of the INFLATE_REQ for @pages the guest is sent.
 */
static uint64_t ask_inflate(struct env *e, uint64_t pages)
{
	deliver(e, status_msg(e), false);
	set_target(e, RAM - pages * PAGE);
	return expect_req(e, KVMBUS_BALLOON_INFLATE_REQ, pages);
}

static uint64_t counter(struct env *e, const char *key)
{
	struct json_object *o = json_object_new_object(), *b, *n, *v;
	uint64_t val;

	vsp_balloon_json(&e->ch, o);
	assert_true(json_object_object_get_ex(o, "balloon", &b));
	if (!json_object_object_get_ex(b, key, &v)) {
		assert_true(json_object_object_get_ex(b, "counters", &n));
		assert_true(json_object_object_get_ex(n, key, &v));
	}
	val = json_object_get_uint64(v);
	json_object_put(o);
	return val;
}

static bool zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/* --- balloon_parse() -------------------------------------------------- */

static void test_parse_ranges(void **state)
{
	struct env *e = *state;
	const uint64_t r[][2] = {
		{ 16, 4 }, { 20, 2 },		/* adjacent: one run */
		{ 100, 1 },
		{ HIGH_PFN, 512 },		/* file offset LOW */
	};
	uint32_t len = ranges_msg(e, KVMBUS_BALLOON_REPORT, 0, 0, r, 4);

	assert_int_equal(balloon_parse(&e->gm, e->msg, len, &e->m), 0);
	assert_int_equal(e->m.type, KVMBUS_BALLOON_REPORT);
	assert_int_equal(e->m.pages, 519);
	assert_int_equal(e->m.nr_runs, 3);
	assert_int_equal(e->m.runs[0].off, 16 * PAGE);
	assert_int_equal(e->m.runs[0].len, 6 * PAGE);
	assert_int_equal(e->m.runs[1].off, 100 * PAGE);
	assert_int_equal(e->m.runs[2].off, LOW);
	assert_int_equal(e->m.runs[2].len, 512 * PAGE);

	/* The last low page and the first high one are adjacent in the file. */
	{
		const uint64_t x[][2] = { { LOW / PAGE - 1, 1 }, { HIGH_PFN, 1 } };

		len = ranges_msg(e, KVMBUS_BALLOON_REPORT, 0, 0, x, 2);
		assert_int_equal(balloon_parse(&e->gm, e->msg, len, &e->m), 0);
		assert_int_equal(e->m.nr_runs, 1);
	}
	/* A message may be longer than its ranges (room to grow). */
	len = ranges_msg(e, KVMBUS_BALLOON_INFLATED, KVMBUS_BALLOON_F_LAST, 7,
			 r, 1);
	assert_int_equal(balloon_parse(&e->gm, e->msg, len + 16, &e->m), 0);
	assert_int_equal(e->m.req_id, 7);
	assert_int_equal(e->m.flags, KVMBUS_BALLOON_F_LAST);
}

static void test_parse_refuses(void **state)
{
	struct env *e = *state;
	const uint64_t ok[][2] = { { 16, 4 } };
	const uint64_t outside[][2] = { { 16, 4 }, { RAM_PAGES, 1 } };
	const uint64_t past_low[][2] = { { LOW / PAGE - 1, 2 } };
	const uint64_t past_end[][2] = { { HIGH_PFN + 511, 2 } };
	const uint64_t huge_pfn[][2] = { { UINT64_MAX / 2, 1 } };
	const uint64_t no_pages[][2] = { { 16, 0 } };
	const uint64_t too_long[][2] = { { 0, KVMBUS_BALLOON_MAX_RANGE_PAGES + 1 } };
	const uint64_t twice[][2] = { { 16, 4 }, { 16, 4 } };
	const uint64_t overlap[][2] = { { 100, 1 }, { 19, 8 }, { 16, 4 } };
	struct kvmbus_balloon_ranges *h = (void *)e->msg;
	struct kvmbus_balloon_req q = {
		.hdr.type = cpu_to_le16(KVMBUS_BALLOON_INFLATE_REQ),
		.pages = cpu_to_le64(1), .req_id = cpu_to_le64(1),
	};
	uint32_t len;

	/* Too short for anything, for its type, for its ranges. */
	assert_int_equal(balloon_parse(&e->gm, e->msg, 4, &e->m), -EINVAL);
	len = ranges_msg(e, KVMBUS_BALLOON_REPORT, 0, 0, ok, 1);
	assert_int_equal(balloon_parse(&e->gm, e->msg, len - 1, &e->m), -EINVAL);
	assert_int_equal(balloon_parse(&e->gm, e->msg, 24, &e->m), -EINVAL);
	status_msg(e);
	assert_int_equal(balloon_parse(&e->gm, e->msg, 72, &e->m), -EINVAL);
	/* Unknown type; a host->guest type. */
	len = ranges_msg(e, 99, 0, 0, ok, 1);
	assert_int_equal(balloon_parse(&e->gm, e->msg, len, &e->m), -EINVAL);
	memcpy(e->msg, &q, sizeof(q));
	assert_int_equal(balloon_parse(&e->gm, e->msg, sizeof(q), &e->m), -EINVAL);
	/* Unknown flags; pressure on anything but a deflate. */
	len = ranges_msg(e, KVMBUS_BALLOON_REPORT, 0x80, 0, ok, 1);
	assert_int_equal(balloon_parse(&e->gm, e->msg, len, &e->m), -EINVAL);
	len = ranges_msg(e, KVMBUS_BALLOON_INFLATED, KVMBUS_BALLOON_F_PRESSURE,
			 0, ok, 1);
	assert_int_equal(balloon_parse(&e->gm, e->msg, len, &e->m), -EINVAL);
	/* Too many ranges. */
	len = ranges_msg(e, KVMBUS_BALLOON_REPORT, 0, 0, ok, 1);
	h->nr_ranges = cpu_to_le32(KVMBUS_BALLOON_MAX_RANGES + 1);
	assert_int_equal(balloon_parse(&e->gm, e->msg, sizeof(e->msg), &e->m),
			 -EINVAL);
	/* Counts that do not add up. */
	len = ranges_msg(e, KVMBUS_BALLOON_REPORT, 0, 0, ok, 1);
	h->pages = cpu_to_le64(5);
	assert_int_equal(balloon_parse(&e->gm, e->msg, len, &e->m), -EINVAL);
	len = ranges_msg(e, KVMBUS_BALLOON_DEFLATED, 0, 1, ok, 0);
	h->pages = cpu_to_le64(5);	/* a count alone, not under pressure */
	assert_int_equal(balloon_parse(&e->gm, e->msg, len, &e->m), -EINVAL);
	h->flags = cpu_to_le16(KVMBUS_BALLOON_F_PRESSURE);
	assert_int_equal(balloon_parse(&e->gm, e->msg, len, &e->m), 0);
	assert_int_equal(e->m.pages, 5);
	/* Ranges of no pages, too many pages; outside guest RAM. */
	len = ranges_msg(e, KVMBUS_BALLOON_REPORT, 0, 0, no_pages, 1);
	assert_int_equal(balloon_parse(&e->gm, e->msg, len, &e->m), -EINVAL);
	len = ranges_msg(e, KVMBUS_BALLOON_REPORT, 0, 0, too_long, 1);
	assert_int_equal(balloon_parse(&e->gm, e->msg, len, &e->m), -EINVAL);
	len = ranges_msg(e, KVMBUS_BALLOON_REPORT, 0, 0, outside, 2);
	assert_int_equal(balloon_parse(&e->gm, e->msg, len, &e->m), -EFAULT);
	len = ranges_msg(e, KVMBUS_BALLOON_REPORT, 0, 0, past_low, 1);
	assert_int_equal(balloon_parse(&e->gm, e->msg, len, &e->m), -EFAULT);
	len = ranges_msg(e, KVMBUS_BALLOON_REPORT, 0, 0, past_end, 1);
	assert_int_equal(balloon_parse(&e->gm, e->msg, len, &e->m), -EFAULT);
	len = ranges_msg(e, KVMBUS_BALLOON_REPORT, 0, 0, huge_pfn, 1);
	assert_int_equal(balloon_parse(&e->gm, e->msg, len, &e->m), -EFAULT);
	/* The same page twice, in any order, whole or in part. */
	len = ranges_msg(e, KVMBUS_BALLOON_REPORT, 0, 0, twice, 2);
	assert_int_equal(balloon_parse(&e->gm, e->msg, len, &e->m), -EINVAL);
	len = ranges_msg(e, KVMBUS_BALLOON_INFLATED, 0, 1, overlap, 3);
	assert_int_equal(balloon_parse(&e->gm, e->msg, len, &e->m), -EINVAL);
}

/* --- the provider ------------------------------------------------------ */

static void test_no_request_before_status(void **state)
{
	struct env *e = *state;

	set_target(e, RAM / 2);
	expect_nothing(e);
	deliver(e, status_msg(e), false);
	expect_req(e, KVMBUS_BALLOON_INFLATE_REQ, RAM_PAGES / 2);
	/* One request at a time. */
	deliver(e, status_msg(e), false);
	expect_nothing(e);
}

static void test_inflate_punches(void **state)
{
	struct env *e = *state;
	const uint64_t b1[][2] = { { 0, 256 } };
	const uint64_t b2[][2] = { { HIGH_PFN, 256 }, { 256, 256 } };
	uint64_t id, before;
	uint32_t len;

	id = ask_inflate(e, 768);

	before = file_bytes(e);
	len = ranges_msg(e, KVMBUS_BALLOON_INFLATED, 0, id, b1, 1);
	deliver(e, len, true);
	expect_ack(e, 0, 256);
	assert_int_equal(before - file_bytes(e), 256 * PAGE);
	/* Reading a punched page of a shmem file allocates it again. */
	assert_true(zero(e->gm.base, 256 * PAGE));
	assert_int_equal(e->gm.base[256 * PAGE], 0xa5);
	assert_int_equal(counter(e, "balloon"), 256 * PAGE);
	before = file_bytes(e);

	len = ranges_msg(e, KVMBUS_BALLOON_INFLATED, KVMBUS_BALLOON_F_LAST, id,
			 b2, 2);
	deliver(e, len, true);
	expect_ack(e, 0, 512);
	expect_nothing(e);		/* there: no further request */
	assert_int_equal(before - file_bytes(e), 512 * PAGE);
	assert_true(zero(e->gm.base + LOW, 256 * PAGE));
	assert_true(zero(e->gm.base + 256 * PAGE, 256 * PAGE));
	assert_int_equal(counter(e, "balloon"), 768 * PAGE);
	assert_int_equal(counter(e, "punched_bytes"), 768 * PAGE);
	assert_int_equal(counter(e, "rejected"), 0);

	/* Back to full memory: a deflate request for everything. */
	set_target(e, RAM);
	id = expect_req(e, KVMBUS_BALLOON_DEFLATE_REQ, 768);
	len = ranges_msg(e, KVMBUS_BALLOON_DEFLATED, 0, id, b2, 2);
	deliver(e, len, false);
	expect_nothing(e);
	len = ranges_msg(e, KVMBUS_BALLOON_DEFLATED, KVMBUS_BALLOON_F_LAST, id,
			 b1, 1);
	deliver(e, len, false);
	expect_nothing(e);
	assert_int_equal(counter(e, "balloon"), 0);
	assert_int_equal(counter(e, "deflated_pages"), 768);
}

static void test_short_answer_waits_for_status(void **state)
{
	struct env *e = *state;
	const uint64_t b[][2] = { { 0, 10 } };
	struct kvmbus_balloon_ranges *h = (void *)e->msg;
	uint64_t id;
	uint32_t len;

	id = ask_inflate(e, 100);
	len = ranges_msg(e, KVMBUS_BALLOON_INFLATED, KVMBUS_BALLOON_F_LAST, id,
			 b, 1);
	h->status = cpu_to_le16(KVMBUS_BALLOON_ST_FLOOR);
	deliver(e, len, true);
	expect_ack(e, 0, 10);
	expect_nothing(e);		/* not again at once... */
	assert_int_equal(counter(e, "short_answers"), 1);
	deliver(e, status_msg(e), false);
	expect_req(e, KVMBUS_BALLOON_INFLATE_REQ, 90);	/* ...next second */
}

static void test_bad_messages_refused_whole(void **state)
{
	struct env *e = *state;
	const uint64_t in_ram[][2] = { { 0, 16 } };
	const uint64_t half_bad[][2] = { { 0, 16 }, { RAM_PAGES + 5, 1 } };
	uint64_t before = file_bytes(e), id;
	uint32_t len;

	/* Inflated pages nobody asked for. */
	len = ranges_msg(e, KVMBUS_BALLOON_INFLATED, KVMBUS_BALLOON_F_LAST, 1,
			 in_ram, 1);
	deliver(e, len, true);
	expect_ack(e, EINVAL, 0);
	/* A report with one range outside RAM: nothing punched. */
	len = ranges_msg(e, KVMBUS_BALLOON_REPORT, 0, 0, half_bad, 2);
	deliver(e, len, true);
	expect_ack(e, EFAULT, 0);
	assert_int_equal(file_bytes(e), before);
	assert_int_equal(e->gm.base[0], 0xa5);
	assert_int_equal(e->gm.stats.rej_outside, 1);
	/* Deflating more than the balloon holds. */
	len = ranges_msg(e, KVMBUS_BALLOON_DEFLATED, KVMBUS_BALLOON_F_PRESSURE,
			 0, in_ram, 1);
	deliver(e, len, false);
	expect_nothing(e);
	assert_int_equal(counter(e, "rejected"), 3);
	/* More pages than the request asked for. */
	id = ask_inflate(e, 8);
	len = ranges_msg(e, KVMBUS_BALLOON_INFLATED, KVMBUS_BALLOON_F_LAST, id,
			 in_ram, 1);
	deliver(e, len, true);
	expect_ack(e, EINVAL, 0);
	assert_int_equal(file_bytes(e), before);
	/* Garbage: malformed, answered EINVAL when it asked for an answer. */
	memset(e->msg, 0xff, 64);
	deliver(e, 64, true);
	expect_ack(e, EINVAL, 0);
	assert_int_equal(counter(e, "malformed"), 1);
	assert_int_equal(counter(e, "rejected"), 4);
	assert_int_equal(counter(e, "balloon"), 0);
}

static void test_report_punches(void **state)
{
	struct env *e = *state;
	const uint64_t r[][2] = { { HIGH_PFN + 256, 256 } };
	uint64_t before = file_bytes(e);
	uint32_t len;

	len = ranges_msg(e, KVMBUS_BALLOON_REPORT, 0, 0, r, 1);
	deliver(e, len, true);
	expect_ack(e, 0, 256);
	assert_int_equal(before - file_bytes(e), 256 * PAGE);
	assert_true(zero(e->gm.base + LOW + 256 * PAGE, 256 * PAGE));
	assert_int_equal(e->gm.base[LOW + 255 * PAGE], 0xa5);
	assert_int_equal(counter(e, "reported_pages"), 256);
	assert_int_equal(counter(e, "balloon"), 0);	/* not the balloon */
}

static void test_pressure_lowers_target(void **state)
{
	struct env *e = *state;
	const uint64_t b[][2] = { { 0, 64 } };
	struct kvmbus_balloon_ranges *h = (void *)e->msg;
	uint64_t id;
	uint32_t len;

	id = ask_inflate(e, 64);
	len = ranges_msg(e, KVMBUS_BALLOON_INFLATED, KVMBUS_BALLOON_F_LAST, id,
			 b, 1);
	deliver(e, len, true);
	expect_ack(e, 0, 64);
	/* The guest frees 40 pages in its OOM path: a count, no ranges. */
	len = ranges_msg(e, KVMBUS_BALLOON_DEFLATED, KVMBUS_BALLOON_F_PRESSURE,
			 0, b, 0);
	h->pages = cpu_to_le64(40);
	deliver(e, len, false);
	assert_int_equal(counter(e, "balloon"), 24 * PAGE);
	assert_int_equal(counter(e, "balloon_target"), 24 * PAGE);
	assert_int_equal(counter(e, "pressure_pages"), 40);
	deliver(e, status_msg(e), false);
	expect_nothing(e);		/* no fight to re-inflate */
}

static void test_stale_request_given_up(void **state)
{
	struct env *e = *state;
	const uint64_t b[][2] = { { 0, 4 } };
	uint64_t id;
	uint32_t len;
	unsigned int i;

	id = ask_inflate(e, 4);
	for (i = 0; i < 31; i++)
		deliver(e, status_msg(e), false);
	assert_int_equal(counter(e, "stale_requests"), 1);
	/* The next status asked again; the late answer is refused. */
	assert_true(expect_req(e, KVMBUS_BALLOON_INFLATE_REQ, 4) != id);
	len = ranges_msg(e, KVMBUS_BALLOON_INFLATED, KVMBUS_BALLOON_F_LAST, id,
			 b, 1);
	deliver(e, len, true);
	expect_ack(e, EINVAL, 0);
}

/* Inflate @pages at frame 0 (one range) on a channel with a STATUS. */
static void inflated_at_0(struct env *e, uint64_t pages)
{
	const uint64_t b[][2] = { { 0, pages } };
	uint64_t id;

	vsp_balloon_set_target(&e->dev, RAM - pages * PAGE);
	vsp_balloon_ops.flush(&e->ch, CHAN_BUDGET);
	kvmbus_ring_commit(&e->ch.tx);
	id = expect_req(e, KVMBUS_BALLOON_INFLATE_REQ, pages);
	deliver(e, ranges_msg(e, KVMBUS_BALLOON_INFLATED, KVMBUS_BALLOON_F_LAST,
			      id, b, 1), true);
	expect_ack(e, 0, pages);
}

/* Return: the request id of the DEFLATE_RANGE_REQ expected. */
static uint64_t expect_range_req(struct env *e, uint64_t pfn, uint64_t pages)
{
	struct kvmbus_balloon_range_req q;

	kvmbus_ring_commit(&e->ch.tx);
	assert_int_equal(host_pkt(e), 0);
	assert_int_equal(e->rx_pi.type, KVMBUS_PKT_INBAND);
	assert_int_equal(e->rx_pi.data_len, sizeof(q));
	memcpy(&q, e->rx + e->rx_pi.data_offset, sizeof(q));
	assert_int_equal(kvmbus_balloon_msg_type(&q, sizeof(q), false),
			 KVMBUS_BALLOON_DEFLATE_RANGE_REQ);
	assert_int_equal(le64_to_cpu(q.range.pfn), pfn);
	assert_int_equal(le64_to_cpu(q.range.nr_pages), pages);
	return le64_to_cpu(q.req_id);
}

static void test_deflate_range(void **state)
{
	struct env *e = *state;
	const uint64_t in[][2] = { { 16, 8 }, { 40, 4 } };
	uint64_t id;

	deliver(e, status_range_msg(e), false);
	inflated_at_0(e, 64);
	assert_int_equal(vsp_balloon_deflate_range(&e->dev, 16, 32), 0);
	assert_int_equal(vsp_balloon_deflate_range(&e->dev, 0, 1), -EBUSY);
	id = expect_range_req(e, 16, 32);
	/* Fewer pages than the range holds is an answer, not a short one. */
	deliver(e, ranges_msg(e, KVMBUS_BALLOON_DEFLATED, KVMBUS_BALLOON_F_LAST,
			      id, in, 2), false);
	assert_int_equal(counter(e, "balloon"), 52 * PAGE);
	assert_int_equal(counter(e, "balloon_target"), 52 * PAGE);
	assert_int_equal(counter(e, "range_deflated_pages"), 12);
	assert_int_equal(counter(e, "short_answers"), 0);
	assert_int_equal(counter(e, "rejected"), 0);
	deliver(e, status_range_msg(e), false);
	expect_nothing(e);		/* the target followed: no re-inflate */
}

static void test_deflate_range_refused(void **state)
{
	struct env *e = *state;
	const uint64_t out[][2] = { { 8, 16 } };	/* 8..15 outside */
	struct kvmbus_balloon_ranges *h = (void *)e->msg;
	uint64_t id;
	uint32_t len;

	/* Before a STATUS, and to a first-version guest (80-byte STATUS). */
	assert_int_equal(vsp_balloon_deflate_range(&e->dev, 0, 1), -EAGAIN);
	status_msg(e);
	deliver(e, KVMBUS_BALLOON_STATUS_MIN_LEN, false);
	assert_int_equal(counter(e, "statuses"), 1);
	assert_int_equal(counter(e, "malformed"), 0);
	assert_int_equal(vsp_balloon_deflate_range(&e->dev, 0, 1), -EOPNOTSUPP);
	/* Bad ranges from the operator. */
	deliver(e, status_range_msg(e), false);
	assert_int_equal(vsp_balloon_deflate_range(&e->dev, 0, 0), -EINVAL);
	assert_int_equal(vsp_balloon_deflate_range(&e->dev, UINT64_MAX, 2),
			 -EINVAL);
	assert_int_equal(vsp_balloon_deflate_range(&e->dev, 0,
			 KVMBUS_BALLOON_MAX_REQ_PAGES + 1), -EINVAL);
	inflated_at_0(e, 64);
	assert_int_equal(vsp_balloon_deflate_range(&e->dev, 16, 32), 0);
	id = expect_range_req(e, 16, 32);
	/* An answer with pages outside the range is refused whole. */
	deliver(e, ranges_msg(e, KVMBUS_BALLOON_DEFLATED, 0, id, out, 1), false);
	assert_int_equal(counter(e, "rejected"), 1);
	assert_int_equal(counter(e, "balloon"), 64 * PAGE);
	/* The guest refuses the range: BADRANGE, nothing moved, counted. */
	len = ranges_msg(e, KVMBUS_BALLOON_DEFLATED, KVMBUS_BALLOON_F_LAST, id,
			 out, 0);
	h->status = cpu_to_le16(KVMBUS_BALLOON_ST_BADRANGE);
	deliver(e, len, false);
	assert_int_equal(counter(e, "range_refused"), 1);
	assert_int_equal(counter(e, "balloon"), 64 * PAGE);
	/* Done: the next range deflate may go. */
	assert_int_equal(vsp_balloon_deflate_range(&e->dev, 16, 32), 0);
}

/* What the guest checks of a DEFLATE_RANGE_REQ before it looks at it. */
static void test_range_req_format(void **state)
{
	struct kvmbus_balloon_range_req q = {
		.hdr.type = cpu_to_le16(KVMBUS_BALLOON_DEFLATE_RANGE_REQ),
		.req_id = cpu_to_le64(1),
		.range.pfn = cpu_to_le64(16),
		.range.nr_pages = cpu_to_le64(32),
	};

	(void)state;
	assert_int_equal(kvmbus_balloon_msg_type(&q, sizeof(q), false),
			 KVMBUS_BALLOON_DEFLATE_RANGE_REQ);
	/* Host to guest only; the whole structure. */
	assert_int_equal(kvmbus_balloon_msg_type(&q, sizeof(q), true), 0);
	assert_int_equal(kvmbus_balloon_msg_type(&q, sizeof(q) - 1, false), 0);
	q.req_id = 0;
	assert_int_equal(kvmbus_balloon_msg_type(&q, sizeof(q), false), 0);
	q.req_id = cpu_to_le64(1);
	q.range.nr_pages = 0;
	assert_int_equal(kvmbus_balloon_msg_type(&q, sizeof(q), false), 0);
	q.range.nr_pages = cpu_to_le64(KVMBUS_BALLOON_MAX_REQ_PAGES + 1);
	assert_int_equal(kvmbus_balloon_msg_type(&q, sizeof(q), false), 0);
	/* Up to the end of the address space (the end must fit), no wrap. */
	q.range.pfn = cpu_to_le64(UINT64_MAX - 1);
	q.range.nr_pages = cpu_to_le64(1);
	assert_int_equal(kvmbus_balloon_msg_type(&q, sizeof(q), false),
			 KVMBUS_BALLOON_DEFLATE_RANGE_REQ);
	q.range.nr_pages = cpu_to_le64(2);
	assert_int_equal(kvmbus_balloon_msg_type(&q, sizeof(q), false), 0);
}

/* The target is the device's: it outlives the guest driver's channel. */
static void test_target_survives_reopen(void **state)
{
	struct env *e = *state;

	assert_ptr_equal(vsp_balloon_chan(&e->dev), &e->ch);
	vsp_balloon_ops.close(&e->ch);
	assert_null(vsp_balloon_chan(&e->dev));
	vsp_balloon_set_target(&e->dev, RAM - 32 * PAGE);	/* no channel */
	memset(e->ch.priv, 0, vsp_balloon_ops.priv_size);
	assert_int_equal(vsp_balloon_ops.open(&e->ch, NULL), 0);
	deliver(e, status_msg(e), false);
	expect_req(e, KVMBUS_BALLOON_INFLATE_REQ, 32);
	/* A sub-channel is refused. */
	e->ch.sub_index = 1;
	assert_int_equal(vsp_balloon_ops.open(&e->ch, NULL), -EINVAL);
	e->ch.sub_index = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_parse_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_request_before_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflate_punches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_answer_waits_for_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_messages_refused_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report_punches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pressure_lowers_target, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_request_given_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_target_survives_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deflate_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deflate_range_refused, setup, teardown),
		cmocka_unit_test(test_range_req_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
