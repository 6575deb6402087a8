// SPDX-License-Identifier: GPL-2.0-only
/*
 * The control plane against a guest played with the guest's own ring code
 * in plain memory: the mailbox handshake (connect, refuse, reconnect,
 * reset, QEMU leaving), version negotiation, offers, hot add and remove,
 * unload, what a hostile guest can send, back-pressure, batching and the
 * JSON commands.  Everything goes through the functions the daemon calls:
 * ctl_doorbell() for a doorbell, ctl_handle_msg() via ctl_poll().
 */
#include <errno.h>
#include <json.h>
#include <stdint.h>

#include "fixture.h"
#include "ctl.h"
#include "ctl_json.h"
#include "guestmem.h"
#include "params.h"
#include <kvmbus/echo.h>

#define PAGE		KVMBUS_PAGE_SIZE
#define RAM_SIZE	(1u << 20)
#define RING_GPA	0x10000u
#define V1		KVMBUS_VERSION_1_0

struct env {
	uint8_t *ram;
	struct guestmem gm;
	struct bar bar;
	unsigned int signals;
	/* The guest. */
	uint32_t gen;
	struct kvmbus_ring out;		/* guest -> host, the guest produces */
	struct kvmbus_ring in;		/* host -> guest, the guest consumes */
	uint64_t tid;
	struct ctl c;			/* last: it is large */
};

/* Vector 0 only: no test here opens a channel (test_chan.c does). */
static int count_signal(void *opaque, unsigned int vector)
{
	assert_int_equal(vector, KVMBUS_CTL_VECTOR);
	((struct env *)opaque)->signals++;
	return 0;
}

static const struct ctl_ops ops = { .signal = count_signal };

static struct env *env_new(unsigned int vectors)
{
	struct guestmem_layout l;
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	e->ram = calloc(1, RAM_SIZE);
	assert_non_null(e->ram);
	assert_int_equal(guestmem_layout_fixed(RAM_SIZE, RAM_SIZE, &l), 0);
	guestmem_attach(&e->gm, e->ram, &l);
	assert_int_equal(bar_create(&e->bar, 4096, vectors), 0);
	ctl_init(&e->c, &e->bar, &e->gm, vectors, &ops, e);
	return e;
}

static void env_free(struct env *e)
{
	ctl_fini(&e->c);
	bar_destroy(&e->bar);
	free(e->ram);
	free(e);
}

static uint32_t host_state(struct env *e)
{
	return le32_to_cpu(e->bar.hdr->host_state);
}

static uint32_t acked(struct env *e)
{
	return le32_to_cpu(e->bar.hdr->acked_generation);
}

static uint32_t host_error(struct env *e)
{
	return le32_to_cpu(e->bar.hdr->host_error);
}

/* The guest half of the mailbox, state last; then doorbell 0. */
static bool mbox_ring(struct env *e, uint32_t state, uint32_t pages,
		      uint64_t gpa, uint32_t gen)
{
	struct kvmbus_bar_hdr *h = e->bar.hdr;

	h->ctl_ring_pages = cpu_to_le32(pages);
	h->ctl_gpa = cpu_to_le64(gpa);
	h->guest_generation = cpu_to_le32(gen);
	__atomic_store_n(&h->guest_state, cpu_to_le32(state),
			 __ATOMIC_RELEASE);
	return ctl_doorbell(&e->c);
}

/* What kvmbus.ko does: two fresh rings, publish, ring. */
static void guest_connect_at(struct env *e, uint32_t pages, uint64_t gpa)
{
	uint8_t *m = e->ram + gpa;
	uint32_t size = (pages - 1) * PAGE;

	memset(m, 0xcc, 2 * (size_t)pages * PAGE);	/* old contents */
	kvmbus_ring_create(&e->out, (void *)m, m + PAGE, size);
	kvmbus_ring_create(&e->in, (void *)(m + pages * PAGE),
			   m + pages * PAGE + PAGE, size);
	e->gen++;
	mbox_ring(e, KVMBUS_MBOX_CONNECT, pages, gpa, e->gen);
}

static void guest_connect(struct env *e)
{
	unsigned int sig = e->signals;

	guest_connect_at(e, 4, RING_GPA);
	assert_int_equal(host_state(e), KVMBUS_MBOX_ONLINE);
	assert_int_equal(acked(e), e->gen);
	assert_int_equal(e->c.state, CTL_ONLINE);
	assert_int_equal(e->signals, sig + 1);
}

/* Queue one message in the guest->host ring (no commit). */
static void guest_put(struct env *e, const void *msg, uint32_t len)
{
	gctl_put(&e->out, ++e->tid, msg, len);
}

/* Commit what was put and ring the doorbell. */
static void guest_kick(struct env *e)
{
	gctl_kick(&e->c, &e->out);
}

static void guest_send(struct env *e, const void *msg, uint32_t len)
{
	guest_put(e, msg, len);
	guest_kick(e);
}

static void send_type(struct env *e, uint32_t type)
{
	struct kvmbus_ctl_hdr h = { .type = cpu_to_le32(type) };

	guest_send(e, &h, sizeof(h));
}

static void send_relid(struct env *e, uint32_t type, uint32_t relid)
{
	struct kvmbus_ctl_relid m = {
		.hdr.type = cpu_to_le32(type),
		.relid = cpu_to_le32(relid),
	};

	guest_send(e, &m, sizeof(m));
}

static void send_version(struct env *e, uint32_t vmin, uint32_t vmax,
			 uint64_t features)
{
	struct kvmbus_ctl_version_req r = {
		.hdr.type = cpu_to_le32(KVMBUS_CTL_VERSION_REQ),
		.version_min = cpu_to_le32(vmin),
		.version_max = cpu_to_le32(vmax),
		.features = cpu_to_le64(features),
	};

	guest_send(e, &r, sizeof(r));
}

/* The next message from the host: its type, or 0 (gctl_recv()). */
static uint32_t guest_recv(struct env *e, void *msg, uint64_t *tid)
{
	return gctl_recv(&e->c, &e->in, msg, tid);
}

static void expect_none(struct env *e)
{
	uint8_t msg[128];

	assert_int_equal(guest_recv(e, msg, NULL), 0);
}

static void negotiate(struct env *e)
{
	struct kvmbus_ctl_version_resp r;

	send_version(e, V1, V1, 0);
	assert_int_equal(guest_recv(e, &r, NULL), KVMBUS_CTL_VERSION_RESP);
	assert_int_equal(le32_to_cpu(r.version), V1);
	expect_none(e);
}

/* Connected, negotiated, offers asked for: where most tests start. */
static void guest_online(struct env *e)
{
	guest_connect(e);
	negotiate(e);
	send_type(e, KVMBUS_CTL_REQUEST_OFFERS);
}

static struct device *add_echo(struct env *e)
{
	struct device *dev;

	assert_int_equal(ctl_device_add(&e->c, dev_class_find("echo"), &dev),
			 0);
	return dev;
}

static void expect_offer(struct env *e, const struct device *dev)
{
	const uint8_t echo[] = KVMBUS_CLASS_ECHO_BYTES;
	struct kvmbus_ctl_offer o;

	assert_int_equal(guest_recv(e, &o, NULL), KVMBUS_CTL_OFFER);
	assert_int_equal(le32_to_cpu(o.relid), dev->relid);
	assert_int_equal(le16_to_cpu(o.vector), dev->vector);
	assert_memory_equal(o.class_id, echo, 16);
	assert_memory_equal(o.instance_id, dev->instance_id, 16);
	assert_int_equal(le16_to_cpu(o.sub_index), 0);
	assert_int_equal(le16_to_cpu(o.flags), 0);
	assert_int_equal(le16_to_cpu(o.max_subchannels), dev->max_subchannels);
	assert_int_equal(le32_to_cpu(o.data_len), dev->offer_data_len);
	assert_memory_equal(o.data, dev->offer_data, dev->offer_data_len);
}

/* --- the mailbox ------------------------------------------------------ */

static void test_connect(void **state)
{
	struct env *e = env_new(8);

	(void)state;
	assert_int_equal(host_state(e), KVMBUS_MBOX_IDLE);
	guest_connect(e);
	assert_int_equal(e->c.stats.connects, 1);
	assert_int_equal(e->c.mbox.ctl_gpa, RING_GPA);
	/* The host attached without touching the headers. */
	assert_int_equal(le32_to_cpu(e->out.hdr->features),
			 KVMBUS_RING_F_PENDING_SEND);
	/* Another doorbell of the same generation is ring traffic only. */
	assert_false(ctl_doorbell(&e->c));
	assert_int_equal(e->signals, 1);
	assert_int_equal(e->c.stats.connects, 1);
	env_free(e);
}

static void test_connect_refused(void **state)
{
	struct {
		uint32_t pages;
		uint64_t gpa;
		uint32_t err;
	} bad[] = {
		{ 1, RING_GPA, ERANGE },
		{ 0, RING_GPA, ERANGE },
		{ 65, RING_GPA, ERANGE },
		{ 4, RING_GPA + 8, EINVAL },
		{ 4, RAM_SIZE - 7 * PAGE, EFAULT },	/* one page short */
		{ 4, 1ull << 32, EFAULT },
		{ 4, UINT64_MAX & ~0xfffull, EFAULT },
	};
	struct env *e = env_new(8);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mbox_ring(e, KVMBUS_MBOX_CONNECT, bad[i].pages, bad[i].gpa,
			  (uint32_t)i + 1);
		assert_int_equal(host_state(e), KVMBUS_MBOX_ERROR);
		assert_int_equal(host_error(e), bad[i].err);
		assert_int_equal(acked(e), i + 1);
		assert_int_equal(e->signals, i + 1);
		assert_int_equal(e->c.state, CTL_IDLE);
	}
	assert_int_equal(e->c.stats.refused, i);
	assert_int_equal(e->gm.stats.rejected, 3);
	/* The same generation again: answered already, no new signal. */
	ctl_doorbell(&e->c);
	assert_int_equal(e->signals, i);
	/* A guest state the guest may not write: counted, not answered. */
	mbox_ring(e, KVMBUS_MBOX_ONLINE, 4, RING_GPA, 99);
	mbox_ring(e, 77, 4, RING_GPA, 99);
	assert_int_equal(e->signals, i);
	assert_int_equal(e->c.stats.mbox_rejected, i + 2);

	/* A ring header with a bad index of ours is refused too. */
	e->gen = 51;
	kvmbus_ring_create(&e->out, (void *)(e->ram + RING_GPA),
			   e->ram + RING_GPA + PAGE, 3 * PAGE);
	e->out.hdr->read_index = cpu_to_le32(3);
	mbox_ring(e, KVMBUS_MBOX_CONNECT, 4, RING_GPA, e->gen);
	assert_int_equal(host_state(e), KVMBUS_MBOX_ERROR);
	assert_int_equal(host_error(e), EPROTO);
	/* ... and a good one after all that is accepted. */
	guest_connect(e);
	env_free(e);
}

static void test_reconnect_and_reset(void **state)
{
	struct env *e = env_new(8);
	struct device *dev;
	unsigned int sig;

	(void)state;
	dev = add_echo(e);
	guest_online(e);
	expect_offer(e, dev);
	assert_true(dev->sent);

	/* The guest reboots: a new generation at another address. */
	guest_connect_at(e, 2, 0x40000);
	assert_int_equal(host_state(e), KVMBUS_MBOX_ONLINE);
	assert_int_equal(acked(e), e->gen);
	assert_int_equal(e->c.stats.reconnects, 1);
	assert_int_equal(e->c.version, 0);
	assert_false(e->c.offers_requested);
	assert_false(dev->sent);
	/* Before VERSION nothing is taken. */
	send_type(e, KVMBUS_CTL_REQUEST_OFFERS);
	expect_none(e);
	assert_int_equal(e->c.stats.unexpected, 1);
	negotiate(e);
	send_type(e, KVMBUS_CTL_REQUEST_OFFERS);
	expect_offer(e, dev);

	/* Hot remove, then RESET before the guest answers. */
	assert_int_equal(ctl_device_remove(&e->c, dev->id, &(struct device){ 0 }),
			 0);
	assert_int_equal(dev->state, DEV_RELEASING);
	sig = e->signals;
	mbox_ring(e, KVMBUS_MBOX_RESET, 2, 0x40000, e->gen);
	assert_int_equal(host_state(e), KVMBUS_MBOX_IDLE);
	assert_int_equal(acked(e), e->gen);
	assert_int_equal(e->signals, sig + 1);
	assert_int_equal(e->c.state, CTL_IDLE);
	assert_int_equal(e->c.devs.count, 0);	/* the guest let go of it */
	/* The host no longer touches the rings. */
	memset(e->ram + 0x40000, 0x5a, 4 * PAGE);
	assert_false(ctl_poll(&e->c, CTL_BUDGET));
	ctl_doorbell(&e->c);			/* RESET answered once */
	assert_int_equal(e->signals, sig + 1);
	assert_int_equal(e->c.stats.resets, 1);
	env_free(e);
}

static void test_qemu_disconnect(void **state)
{
	struct env *e = env_new(8);
	struct device *dev;

	(void)state;
	dev = add_echo(e);
	guest_online(e);
	expect_offer(e, dev);
	ctl_disconnect(&e->c);
	assert_int_equal(e->c.state, CTL_IDLE);
	assert_false(dev->sent);
	assert_int_equal(dev->state, DEV_OFFERED);	/* still configured */
	/* A new QEMU starts with a fresh mailbox, generation 1 again. */
	bar_reset(&e->bar);
	e->gen = 0;
	guest_connect(e);
	env_free(e);
}

/* --- the control protocol --------------------------------------------- */

static void test_version(void **state)
{
	struct kvmbus_ctl_version_resp r;
	struct env *e = env_new(8);
	uint64_t tid;

	(void)state;
	guest_connect(e);
	/* No common version: answered with 0, nothing else accepted. */
	send_version(e, KVMBUS_VERSION(2, 0), KVMBUS_VERSION(3, 0), 0);
	assert_int_equal(guest_recv(e, &r, &tid), KVMBUS_CTL_VERSION_RESP);
	assert_int_equal(tid, e->tid);
	assert_int_equal(le32_to_cpu(r.version), 0);
	assert_int_equal(le32_to_cpu(r.max_channels), 0);
	send_type(e, KVMBUS_CTL_REQUEST_OFFERS);
	send_type(e, KVMBUS_CTL_UNLOAD);
	expect_none(e);
	assert_int_equal(e->c.stats.unexpected, 2);
	/* An inverted range is no range. */
	send_version(e, KVMBUS_VERSION(1, 5), V1, 0);
	assert_int_equal(guest_recv(e, &r, NULL), KVMBUS_CTL_VERSION_RESP);
	assert_int_equal(le32_to_cpu(r.version), 0);
	/* A newer guest agrees on the host's highest; features intersect. */
	send_version(e, V1, KVMBUS_VERSION(4, 2), ~0ull);
	assert_int_equal(guest_recv(e, &r, &tid), KVMBUS_CTL_VERSION_RESP);
	assert_int_equal(tid, e->tid);
	assert_int_equal(le32_to_cpu(r.version), KVMBUS_VERSION_MAX);
	assert_int_equal(le32_to_cpu(r.max_channels), CHAN_MAX);
	assert_int_equal(le64_to_cpu(r.features), CTL_HOST_FEATURES);
	assert_int_equal(e->c.version, KVMBUS_VERSION_MAX);
	/* Once agreed, a second VERSION_REQ is dropped. */
	send_version(e, V1, V1, 0);
	expect_none(e);
	assert_int_equal(e->c.stats.unexpected, 3);
	assert_int_equal(e->c.stats.pkts_in, 6);
	assert_int_equal(e->c.stats.pkts_out, 3);
	env_free(e);
}

static void test_offers(void **state)
{
	struct kvmbus_ctl_offer o;
	struct device *d1, *d2, *d3;
	struct env *e = env_new(8);
	uint64_t tid;

	(void)state;
	d1 = add_echo(e);
	d2 = add_echo(e);
	assert_int_equal(d1->relid, 1);
	assert_int_equal(d2->relid, 2);
	assert_int_equal(d1->vector, 1);
	assert_int_equal(d2->vector, 2);
	assert_memory_not_equal(d1->instance_id, d2->instance_id, 16);
	assert_int_equal(d1->instance_id[6] >> 4, 4);	/* UUID version 4 */
	assert_int_equal(d1->instance_id[8] >> 6, 2);	/* RFC 4122 */

	guest_connect(e);
	negotiate(e);
	/* Hot add before the guest asked: nothing is sent yet. */
	d3 = add_echo(e);
	expect_none(e);
	assert_false(d3->sent);

	send_type(e, KVMBUS_CTL_REQUEST_OFFERS);
	assert_int_equal(guest_recv(e, &o, &tid), KVMBUS_CTL_OFFER);
	assert_int_equal(tid, e->tid);
	assert_int_equal(le32_to_cpu(o.relid), 1);
	expect_offer(e, d2);
	expect_offer(e, d3);
	assert_int_equal(guest_recv(e, &o, NULL), KVMBUS_CTL_ALL_OFFERS_DONE);
	expect_none(e);
	/* Asked twice: dropped. */
	send_type(e, KVMBUS_CTL_REQUEST_OFFERS);
	expect_none(e);
	assert_int_equal(e->c.stats.unexpected, 1);
	env_free(e);
}

static void test_hot_add_remove(void **state)
{
	struct kvmbus_ctl_relid r;
	struct device *d1, *d2, *d3, gone;
	struct env *e = env_new(8);
	unsigned int sig;
	uint32_t id2;

	(void)state;
	d1 = add_echo(e);
	guest_online(e);
	expect_offer(e, d1);
	assert_int_equal(guest_recv(e, &r, NULL), KVMBUS_CTL_ALL_OFFERS_DONE);

	/* Hot add: an OFFER at once, with a signal. */
	sig = e->signals;
	d2 = add_echo(e);
	id2 = d2->id;
	assert_int_equal(e->signals, sig + 1);
	assert_true(d2->sent);
	expect_offer(e, d2);

	/* Hot remove: RESCIND; releasing until the guest answers. */
	assert_int_equal(ctl_device_remove(&e->c, d1->id, &gone), 0);
	assert_int_equal(gone.state, DEV_RELEASING);
	assert_int_equal(guest_recv(e, &r, NULL), KVMBUS_CTL_RESCIND);
	assert_int_equal(le32_to_cpu(r.relid), 1);
	assert_int_equal(ctl_device_remove(&e->c, d1->id, &gone), -EBUSY);
	/* Its relid is not reused while releasing. */
	d3 = add_echo(e);
	assert_int_equal(d3->relid, 3);
	expect_offer(e, d3);
	/* Releases of what was not rescinded are dropped. */
	send_relid(e, KVMBUS_CTL_RELID_RELEASED, 2);
	send_relid(e, KVMBUS_CTL_RELID_RELEASED, 0);
	send_relid(e, KVMBUS_CTL_RELID_RELEASED, 4);
	send_relid(e, KVMBUS_CTL_RELID_RELEASED, UINT32_MAX);
	assert_int_equal(e->c.stats.unexpected, 4);
	assert_int_equal(d1->state, DEV_RELEASING);
	/* The real one frees relid 1 for the next device. */
	send_relid(e, KVMBUS_CTL_RELID_RELEASED, 1);
	assert_null(devices_by_id(&e->c.devs, 1));
	assert_int_equal(e->c.devs.count, 2);
	assert_int_equal(add_echo(e)->relid, 1);
	send_relid(e, KVMBUS_CTL_RELID_RELEASED, 1);	/* not twice */
	assert_int_equal(e->c.stats.unexpected, 5);

	/* A device the guest never heard of goes at once. */
	mbox_ring(e, KVMBUS_MBOX_RESET, 4, RING_GPA, e->gen);
	assert_int_equal(ctl_device_remove(&e->c, id2, &gone), 0);
	assert_int_equal(gone.state, DEV_FREE);
	assert_int_equal(gone.id, id2);
	assert_int_equal(ctl_device_remove(&e->c, id2, &gone), -ENOENT);
	assert_int_equal(ctl_device_remove(&e->c, 999, &gone), -ENOENT);
	env_free(e);
}

/* A guest that never answers a rescind keeps the slot, nothing more. */
static void test_never_released(void **state)
{
	struct env *e = env_new(8);
	struct device *dev, gone;
	unsigned int i;

	(void)state;
	guest_online(e);
	for (i = 0; i < 200; i++) {
		dev = add_echo(e);
		assert_int_equal(ctl_device_remove(&e->c, dev->id, &gone), 0);
		assert_int_equal(gone.state, DEV_RELEASING);
		/* The guest reads nothing: the ring fills, replies queue. */
		if (i + 1 == DEV_MAX)
			break;
	}
	assert_int_equal(e->c.devs.count, DEV_MAX);
	assert_int_equal(ctl_device_add(&e->c, dev_class_find("echo"), &dev),
			 -ENOSPC);
	assert_int_equal(e->c.state, CTL_ONLINE);
	assert_true(e->c.outq_len <= CTL_OUTQ_LEN);
	assert_true(e->c.stats.ring_full > 0);
	/* Reading everything delivers it all in order. */
	for (i = 0; i < 2 * DEV_MAX + 1; i++) {
		uint8_t msg[128];
		uint32_t t = guest_recv(e, msg, NULL);

		assert_int_equal(t, i == 0 ? KVMBUS_CTL_ALL_OFFERS_DONE :
				    (i % 2 ? KVMBUS_CTL_OFFER :
					     KVMBUS_CTL_RESCIND));
	}
	expect_none(e);
	assert_int_equal(e->c.outq_len, 0);
	env_free(e);
}

static void test_unload(void **state)
{
	struct kvmbus_ctl_hdr h;
	struct device *d1, *d2, gone;
	struct env *e = env_new(8);

	(void)state;
	d1 = add_echo(e);
	d2 = add_echo(e);
	guest_online(e);
	expect_offer(e, d1);
	expect_offer(e, d2);
	assert_int_equal(guest_recv(e, &h, NULL), KVMBUS_CTL_ALL_OFFERS_DONE);
	assert_int_equal(ctl_device_remove(&e->c, d1->id, &gone), 0);
	assert_int_equal(guest_recv(e, &h, NULL), KVMBUS_CTL_RESCIND);

	send_type(e, KVMBUS_CTL_UNLOAD);
	assert_int_equal(guest_recv(e, &h, NULL), KVMBUS_CTL_UNLOAD_RESP);
	assert_int_equal(e->c.devs.count, 1);	/* d1 released by the unload */
	assert_false(d2->sent);
	assert_false(e->c.offers_requested);
	assert_int_equal(e->c.version, 0);	/* as just attached */
	/* Hot add now sends nothing: offers were not asked for again. */
	add_echo(e);
	expect_none(e);
	env_free(e);
}

static void test_bad_messages(void **state)
{
	struct kvmbus_ctl_offer big;
	struct env *e = env_new(8);
	struct kvmbus_ring_pkt p = { .type = KVMBUS_PKT_COMP };
	union {
		struct kvmbus_ctl_result r;
		uint8_t raw[128];	/* any reply fits */
	} u;
	uint8_t msg[64];
	/* Type, size, the reply to an all-zero message (0: none) and its
	 * status: id / relid 0 is never valid. */
	const uint32_t zero[][4] = {
		{ KVMBUS_CTL_GPADL_CREATE, sizeof(struct kvmbus_ctl_gpadl),
		  KVMBUS_CTL_GPADL_CREATED, EINVAL },
		{ KVMBUS_CTL_GPADL_BODY, sizeof(struct kvmbus_ctl_gpadl), 0, 0 },
		{ KVMBUS_CTL_GPADL_TEARDOWN,
		  sizeof(struct kvmbus_ctl_gpadl_teardown),
		  KVMBUS_CTL_GPADL_TORNDOWN, ENOENT },
		{ KVMBUS_CTL_OPEN, sizeof(struct kvmbus_ctl_open),
		  KVMBUS_CTL_OPEN_RESULT, ENODEV },
		{ KVMBUS_CTL_CLOSE, sizeof(struct kvmbus_ctl_relid),
		  KVMBUS_CTL_CLOSE_RESULT, ENODEV },
		{ KVMBUS_CTL_REQUEST_SUBCHANNELS,
		  sizeof(struct kvmbus_ctl_subchannels),
		  KVMBUS_CTL_SUBCHANNELS_RESULT, ENODEV },
	};
	uint32_t host_types[] = { 2, 4, 5, 6, 10, 12, 14, 16, 19, 0, 20,
				  0xffffffff };
	size_t i;

	(void)state;
	guest_connect(e);
	negotiate(e);
	for (i = 0; i < 6; i++) {
		memset(msg, 0, sizeof(msg));
		msg[0] = (uint8_t)zero[i][0];
		/* One byte short: malformed. */
		guest_send(e, msg, zero[i][1] - 1);
		expect_none(e);
		guest_send(e, msg, zero[i][1]);
		if (!zero[i][2]) {
			expect_none(e);
			continue;
		}
		assert_int_equal(guest_recv(e, &u, NULL), zero[i][2]);
		assert_int_equal(le32_to_cpu(u.r.relid), 0);
		assert_int_equal(le32_to_cpu(u.r.status), zero[i][3]);
	}
	assert_int_equal(e->c.stats.malformed, 6);
	assert_int_equal(e->c.stats.unsupported, 0);
	/* BODY, CLOSE, REQUEST_SUBCHANNELS */
	assert_int_equal(e->c.stats.unexpected, 3);
	for (i = 0; i < sizeof(host_types) / sizeof(host_types[0]); i++) {
		memset(&big, 0, sizeof(big));
		big.hdr.type = cpu_to_le32(host_types[i]);
		guest_send(e, &big, sizeof(big));
	}
	assert_int_equal(e->c.stats.malformed, 6 + i);
	/* Short of a header, short of a VERSION_REQ, empty. */
	guest_send(e, msg, 7);
	msg[0] = KVMBUS_CTL_VERSION_REQ;
	guest_send(e, msg, 23);
	guest_send(e, NULL, 0);
	/* A completion packet is not a control message. */
	p.data = msg;
	p.data_len = 16;
	assert_int_equal(kvmbus_ring_put(&e->out, &p), 0);
	guest_kick(e);
	assert_int_equal(e->c.stats.malformed, 6 + i + 4);
	expect_none(e);
	/* Longer than its structure is fine (room to grow). */
	memset(msg, 0, sizeof(msg));
	msg[0] = KVMBUS_CTL_REQUEST_OFFERS;
	guest_send(e, msg, sizeof(msg));
	assert_int_equal(guest_recv(e, msg, NULL), KVMBUS_CTL_ALL_OFFERS_DONE);
	assert_int_equal(e->c.state, CTL_ONLINE);
	env_free(e);
}

/* The fuzz target's entry point, directly, with lengths around each
 * structure and unaligned buffers. */
static void test_handle_msg_direct(void **state)
{
	struct env *e = env_new(8);
	uint8_t buf[200], out[128];
	uint32_t t, len;

	(void)state;
	guest_connect(e);
	memset(buf, 0, sizeof(buf));
	for (t = 0; t <= KVMBUS_CTL_MAX + 1; t++) {
		for (len = 0; len < 130; len++) {
			buf[1] = (uint8_t)t;
			ctl_handle_msg(&e->c, buf + 1, len, t);
			ctl_send(&e->c);
			while (guest_recv(e, out, NULL))
				;
		}
	}
	assert_int_equal(e->c.state, CTL_ONLINE);
	assert_true(e->c.version == V1 || e->c.version == 0);
	env_free(e);
}

/* --- a hostile guest on the rings --------------------------------------- */

static void test_broken_ring(void **state)
{
	struct env *e = env_new(8);
	struct device *dev, gone;
	unsigned int sig;

	(void)state;
	dev = add_echo(e);
	guest_online(e);
	expect_offer(e, dev);
	/* Garbage write index on the guest->host ring. */
	e->out.hdr->write_index = cpu_to_le32(13);
	sig = e->signals;
	ctl_doorbell(&e->c);
	assert_int_equal(e->c.state, CTL_BROKEN);
	assert_int_equal(host_state(e), KVMBUS_MBOX_ONLINE);
	assert_int_equal(e->c.stats.broken, 1);
	assert_string_equal(ctl_state_name(e->c.state), "broken");
	/* Nothing more is processed or sent, nothing crashes. */
	e->out.hdr->write_index = 0;
	ctl_doorbell(&e->c);
	assert_int_equal(ctl_device_remove(&e->c, dev->id, &gone), 0);
	assert_int_equal(gone.state, DEV_RELEASING);
	add_echo(e);
	assert_int_equal(e->signals, sig);
	/* The guest reconnects: everything is fresh again. */
	guest_connect(e);
	assert_int_equal(e->c.devs.count, 1);	/* the releasing one went */
	negotiate(e);

	/* Garbage read index on the host->guest ring: broken on the next
	 * reply. */
	e->in.hdr->read_index = cpu_to_le32(0xfffffff0u);
	send_type(e, KVMBUS_CTL_REQUEST_OFFERS);
	assert_int_equal(e->c.state, CTL_BROKEN);
	assert_int_equal(e->c.stats.broken, 2);
	env_free(e);
}

/* The guest rebooted without a RESET and its new kernel cleared the
 * pages: a hot add must not write into them. */
static void test_silent_reboot(void **state)
{
	struct env *e = env_new(8);
	struct device *dev;
	uint8_t *h2g;

	(void)state;
	add_echo(e);
	guest_online(e);
	h2g = e->ram + RING_GPA + 4 * PAGE;
	memset(h2g, 0, 4 * PAGE);
	assert_int_equal(ctl_device_add(&e->c, dev_class_find("echo"), &dev),
			 0);
	assert_int_equal(e->c.state, CTL_BROKEN);
	assert_int_equal(dev->state, DEV_OFFERED);
	for (size_t i = 0; i < 4 * PAGE; i++)
		if (h2g[i])
			fail_msg("byte %zu of the old ring written", i);
	env_free(e);
}

/* Replies wait for ring space; requests wait for the replies. */
static void test_backpressure(void **state)
{
	struct env *e = env_new(DEV_MAX + 1);
	struct kvmbus_ctl_hdr h;
	unsigned int i, offers = 0;
	uint8_t msg[128];
	uint32_t t;

	(void)state;
	for (i = 0; i < DEV_MAX; i++)
		add_echo(e);
	guest_connect_at(e, 2, RING_GPA);	/* 4 KiB: 26 offers */
	negotiate(e);
	/* REQUEST_OFFERS and UNLOAD in one batch: UNLOAD_RESP must come
	 * after every OFFER and ALL_OFFERS_DONE. */
	h.type = cpu_to_le32(KVMBUS_CTL_REQUEST_OFFERS);
	h.reserved = 0;
	guest_put(e, &h, sizeof(h));
	h.type = cpu_to_le32(KVMBUS_CTL_UNLOAD);
	guest_put(e, &h, sizeof(h));
	guest_kick(e);
	assert_true(ctl_out_pending(&e->c));
	assert_int_equal(e->c.stats.pkts_in, 2);	/* VERSION, REQUEST_OFFERS */
	while ((t = guest_recv(e, msg, NULL)) == KVMBUS_CTL_OFFER)
		offers++;
	assert_int_equal(offers, DEV_MAX);
	assert_int_equal(t, KVMBUS_CTL_ALL_OFFERS_DONE);
	assert_int_equal(guest_recv(e, msg, NULL), KVMBUS_CTL_UNLOAD_RESP);
	expect_none(e);
	assert_int_equal(e->c.stats.pkts_in, 3);
	assert_false(ctl_out_pending(&e->c));
	env_free(e);
}

/* Several requests, one doorbell: one batch of replies, one signal. */
static void test_batching(void **state)
{
	struct kvmbus_ctl_version_req v = {
		.hdr.type = cpu_to_le32(KVMBUS_CTL_VERSION_REQ),
		.version_min = cpu_to_le32(V1),
		.version_max = cpu_to_le32(V1),
	};
	struct kvmbus_ctl_hdr ro = {
		.type = cpu_to_le32(KVMBUS_CTL_REQUEST_OFFERS),
	};
	struct env *e = env_new(8);
	unsigned int sig, n = 0, i;
	uint8_t msg[128];

	(void)state;
	add_echo(e);
	add_echo(e);
	guest_connect(e);
	sig = e->signals;
	guest_put(e, &v, sizeof(v));
	guest_put(e, &ro, sizeof(ro));
	guest_kick(e);
	assert_int_equal(e->signals, sig + 1);
	while (guest_recv(e, msg, NULL))
		n++;
	assert_int_equal(n, 4);		/* VERSION_RESP, 2 OFFERs, DONE */

	/* More packets than one pass takes: the caller is told to come
	 * back, and nothing is lost. */
	send_type(e, KVMBUS_CTL_UNLOAD);
	while (guest_recv(e, msg, NULL))
		;
	for (i = 0; i < CTL_BUDGET + 10; i++) {
		ro.type = cpu_to_le32(KVMBUS_CTL_OPEN);	/* short: dropped */
		guest_put(e, &ro, sizeof(ro));
	}
	kvmbus_ring_commit(&e->out);
	assert_true(ctl_doorbell(&e->c));
	assert_false(ctl_poll(&e->c, CTL_BUDGET));
	assert_int_equal(e->c.stats.malformed, CTL_BUDGET + 10);
	env_free(e);
}

/* A guest that found the ring full is signalled once the host made room. */
static void test_guest_waits_for_room(void **state)
{
	struct kvmbus_ctl_relid rel = {
		/* Not rescinded: dropped without a reply. */
		.hdr.type = cpu_to_le32(KVMBUS_CTL_RELID_RELEASED),
		.relid = cpu_to_le32(1),
	};
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.data = &rel,
		.data_len = sizeof(rel),
	};
	struct env *e = env_new(8);
	unsigned int n = 0, sig;

	(void)state;
	guest_connect_at(e, 2, RING_GPA);
	negotiate(e);
	while (kvmbus_ring_put(&e->out, &p) == 0)
		n++;
	assert_int_equal(n, (4096 - 8) / 48);
	assert_int_not_equal(le32_to_cpu(e->out.hdr->pending_send_sz), 0);
	kvmbus_ring_commit(&e->out);
	sig = e->signals;
	assert_false(ctl_doorbell(&e->c));
	assert_int_equal(e->c.stats.unexpected, n);
	assert_int_equal(e->signals, sig + 1);		/* room: one signal */
	assert_int_equal(kvmbus_ring_put(&e->out, &p), 0);
	assert_int_equal(le32_to_cpu(e->out.hdr->pending_send_sz), 0);
	env_free(e);
}

/* --- devices ------------------------------------------------------------ */

static void test_vectors(void **state)
{
	struct env *e = env_new(4);
	struct device *d[7];
	unsigned int i;

	(void)state;
	for (i = 0; i < 7; i++)
		d[i] = add_echo(e);
	/* 1, 2, 3, then round-robin over the least used. */
	for (i = 0; i < 7; i++)
		assert_int_equal(d[i]->vector, 1 + i % 3);
	devices_free(&e->c.devs, d[1]);
	assert_int_equal(add_echo(e)->vector, 2);
	env_free(e);

	e = env_new(1);		/* vector 0 only: no devices */
	assert_int_equal(ctl_device_add(&e->c, dev_class_find("echo"),
					&d[0]), -ENXIO);
	env_free(e);
}

static void test_device_table(void **state)
{
	struct devices ds;
	struct device *dev;
	char s[DEV_UUID_STR_LEN];
	const uint8_t echo[] = KVMBUS_CLASS_ECHO_BYTES;
	unsigned int i;

	(void)state;
	devices_init(&ds, 256);
	for (i = 0; i < DEV_MAX; i++) {
		assert_int_equal(devices_add(&ds, dev_class_find("echo"), &dev),
				 0);
		assert_int_equal(dev->relid, i + 1);
		assert_int_equal(dev->id, i + 1);
	}
	assert_int_equal(devices_add(&ds, dev_class_find("echo"), &dev),
			 -ENOSPC);
	assert_null(devices_by_relid(&ds, 0));
	assert_null(devices_by_relid(&ds, DEV_MAX + 1));
	assert_null(devices_by_relid(&ds, UINT32_MAX));
	assert_ptr_equal(devices_by_relid(&ds, 5), &ds.slot[4]);
	devices_free(&ds, &ds.slot[4]);
	assert_null(devices_by_relid(&ds, 5));
	assert_int_equal(devices_add(&ds, dev_class_find("echo"), &dev), 0);
	assert_int_equal(dev->relid, 5);
	assert_int_equal(dev->id, DEV_MAX + 1);	/* ids are never reused */
	assert_non_null(dev_class_find("net"));
	assert_null(dev_class_find("disk"));
	assert_null(dev_class_find(""));
	assert_string_equal(dev_class_at(0)->name, "echo");
	/* Every class is found by its name; the list ends. */
	for (i = 0; dev_class_at(i); i++) {
		assert_true(i < 16);
		assert_ptr_equal(dev_class_find(dev_class_at(i)->name),
				 dev_class_at(i));
	}
	assert_non_null(dev_class_find("balloon"));
	uuid_format(echo, s);
	assert_string_equal(s, "fe7f9a81-8463-47a7-af62-b5deede655b6");
}

/* --- JSON commands -------------------------------------------------------- */

static struct json_object *run(struct env *e, const char *req_text,
			       int want)
{
	struct json_object *req = json_tokener_parse(req_text);
	struct json_object *resp = json_object_new_object();
	struct json_object *cmd;
	const char *name;
	int ret;

	assert_non_null(req);
	assert_true(json_object_object_get_ex(req, "cmd", &cmd));
	name = json_object_get_string(cmd);
	if (!strcmp(name, "devices"))
		ret = ctl_cmd_devices(&e->c, req, resp);
	else if (!strcmp(name, "device-add"))
		ret = ctl_cmd_device_add(&e->c, req, resp);
	else if (!strcmp(name, "device-set"))
		ret = ctl_cmd_device_set(&e->c, req, resp);
	else
		ret = ctl_cmd_device_remove(&e->c, req, resp);
	assert_int_equal(ret, want);
	json_object_put(req);
	return resp;
}

static const char *str(struct json_object *o, const char *k1, const char *k2)
{
	struct json_object *v;

	assert_true(json_object_object_get_ex(o, k1, &v));
	if (k2)
		assert_true(json_object_object_get_ex(v, k2, &v));
	return json_object_get_string(v);
}

static void test_json(void **state)
{
	struct env *e = env_new(8);
	struct json_object *r, *list;

	(void)state;
	r = run(e, "{\"cmd\":\"device-add\",\"class\":\"echo\"}", 0);
	assert_string_equal(str(r, "device", "class"), "echo");
	assert_string_equal(str(r, "device", "state"), "offered");
	assert_string_equal(str(r, "device", "class_id"),
			    "fe7f9a81-8463-47a7-af62-b5deede655b6");
	assert_int_equal(strlen(str(r, "device", "instance")), 36);
	json_object_put(r);
	json_object_put(run(e, "{\"cmd\":\"device-add\",\"class\":\"echo\"}", 0));

	r = run(e, "{\"cmd\":\"device-add\",\"class\":\"disk\"}", -EINVAL);
	assert_string_equal(str(r, "error", NULL),
			    "unknown device class \"disk\"");
	json_object_put(r);
	json_object_put(run(e, "{\"cmd\":\"device-add\"}", -EINVAL));
	json_object_put(run(e, "{\"cmd\":\"device-add\",\"class\":1}", -EINVAL));

	r = run(e, "{\"cmd\":\"devices\"}", 0);
	assert_true(json_object_object_get_ex(r, "devices", &list));
	assert_int_equal(json_object_array_length(list), 2);
	json_object_put(r);

	r = run(e, "{\"cmd\":\"device-remove\",\"id\":1}", 0);
	assert_string_equal(str(r, "device", "state"), "removed");
	json_object_put(r);
	r = run(e, "{\"cmd\":\"device-remove\",\"id\":1}", -ENOENT);
	assert_string_equal(str(r, "error", NULL), "no device 1");
	json_object_put(r);
	json_object_put(run(e, "{\"cmd\":\"device-remove\",\"id\":-3}", -ENOENT));
	json_object_put(run(e, "{\"cmd\":\"device-remove\",\"id\":\"2\"}",
			    -EINVAL));
	json_object_put(run(e, "{\"cmd\":\"device-remove\"}", -EINVAL));

	/* Releasing, then removing it again. */
	guest_online(e);
	r = run(e, "{\"cmd\":\"device-remove\",\"id\":2}", 0);
	assert_string_equal(str(r, "device", "state"), "releasing");
	json_object_put(r);
	r = run(e, "{\"cmd\":\"device-remove\",\"id\":2}", -EBUSY);
	assert_string_equal(str(r, "device", "state"), "releasing");
	json_object_put(r);

	r = json_object_new_object();
	ctl_status_json(&e->c, r);
	assert_string_equal(str(r, "ctl", "state"), "online");
	assert_string_equal(str(r, "ctl", "version_str"), "1.0");
	assert_string_equal(str(r, "mailbox", "state"), "connect");
	json_object_put(r);
	env_free(e);
}

/* --- sub-channels and the device level -------------------------------- */

static struct device *add_echo_subs(struct env *e, const char *n)
{
	struct json_object *p = json_object_new_object();
	struct device *dev;
	char err[128];

	json_object_object_add(p, "subchannels", json_object_new_string(n));
	assert_int_equal(ctl_device_add_params(&e->c, dev_class_find("echo"),
					       p, err, sizeof(err), &dev), 0);
	json_object_put(p);
	return dev;
}

static void send_subchannels(struct env *e, uint32_t relid, uint32_t count)
{
	struct kvmbus_ctl_subchannels m = {
		.hdr.type = cpu_to_le32(KVMBUS_CTL_REQUEST_SUBCHANNELS),
		.relid = cpu_to_le32(relid),
		.count = cpu_to_le32(count),
	};

	guest_send(e, &m, sizeof(m));
}

static void expect_sub_result(struct env *e, uint32_t relid,
			      uint32_t status, uint32_t count)
{
	struct kvmbus_ctl_subchannels_result r;

	assert_int_equal(guest_recv(e, &r, NULL),
			 KVMBUS_CTL_SUBCHANNELS_RESULT);
	assert_int_equal(le32_to_cpu(r.relid), relid);
	assert_int_equal(le32_to_cpu(r.status), status);
	assert_int_equal(le32_to_cpu(r.count), count);
}

/* The OFFER of sub-channel @sub of @dev. */
static void expect_sub_offer(struct env *e, const struct device *dev,
			     uint16_t sub)
{
	const struct chan_slot *cs;
	struct kvmbus_ctl_offer o;

	assert_int_equal(guest_recv(e, &o, NULL), KVMBUS_CTL_OFFER);
	assert_int_equal(le32_to_cpu(o.relid), dev->sub_relid[sub - 1]);
	assert_int_equal(le16_to_cpu(o.flags), KVMBUS_OFFER_F_SUBCHANNEL);
	assert_int_equal(le16_to_cpu(o.sub_index), sub);
	assert_int_equal(le16_to_cpu(o.max_subchannels), dev->max_subchannels);
	assert_memory_equal(o.instance_id, dev->instance_id, 16);
	cs = devices_chan(&e->c.devs, le32_to_cpu(o.relid));
	assert_non_null(cs);
	assert_ptr_equal(cs->dev, dev);
	assert_int_equal(cs->sub_index, sub);
	assert_int_equal(le16_to_cpu(o.vector), cs->vector);
}

static void test_subchannels(void **state)
{
	struct env *e = env_new(8);
	struct kvmbus_echo_offer_data od;
	struct device *d1, *d2, gone;
	uint32_t r1, r2, r3;

	(void)state;
	d1 = add_echo_subs(e, "3");
	d2 = add_echo(e);		/* no sub-channels */
	assert_int_equal(d1->max_subchannels, 3);
	assert_int_equal(d1->offer_data_len, sizeof(od));
	memcpy(&od, d1->offer_data, sizeof(od));
	assert_int_equal(le32_to_cpu(od.magic), KVMBUS_ECHO_OFFER_MAGIC);
	assert_int_equal(le32_to_cpu(od.max_subchannels), 3);
	guest_connect(e);
	negotiate(e);

	/* Before its offer went out: no such primary. */
	send_subchannels(e, d1->relid, 1);
	expect_sub_result(e, d1->relid, ENODEV, 0);
	send_type(e, KVMBUS_CTL_REQUEST_OFFERS);
	expect_offer(e, d1);
	expect_offer(e, d2);
	assert_int_equal(guest_recv(e, &od, NULL), KVMBUS_CTL_ALL_OFFERS_DONE);

	/* Two now, then five: capped at three, offered once each. */
	send_subchannels(e, d1->relid, 2);
	expect_sub_offer(e, d1, 1);
	expect_sub_offer(e, d1, 2);
	expect_sub_result(e, d1->relid, 0, 2);
	send_subchannels(e, d1->relid, 5);
	expect_sub_offer(e, d1, 3);
	expect_sub_result(e, d1->relid, 0, 3);
	send_subchannels(e, d1->relid, 1);	/* never shrinks */
	expect_sub_result(e, d1->relid, 0, 3);
	expect_none(e);
	r1 = d1->sub_relid[0];
	r2 = d1->sub_relid[1];
	r3 = d1->sub_relid[2];
	/* Relids are distinct, never 0, spread over the vectors. */
	assert_true(r1 && r1 != d1->relid && r1 != d2->relid && r1 != r2 &&
		    r2 != r3 && r1 != r3);
	assert_int_equal(e->c.devs.nr_chans, 5);
	assert_true(devices_chan(&e->c.devs, r1)->vector !=
		    devices_chan(&e->c.devs, r2)->vector);
	/* A class without sub-channels, and a sub-channel's relid. */
	send_subchannels(e, d2->relid, 4);
	expect_sub_result(e, d2->relid, 0, 0);
	send_subchannels(e, r1, 1);
	expect_sub_result(e, r1, ENODEV, 0);
	send_subchannels(e, 999, 1);
	expect_sub_result(e, 999, ENODEV, 0);
	/* CLOSE of a sub-channel that is not open. */
	send_relid(e, KVMBUS_CTL_CLOSE, r2);
	assert_int_equal(guest_recv(e, &od, NULL), KVMBUS_CTL_CLOSE_RESULT);

	/* Rescind: one RESCIND, for the primary; its sub-channels stay
	 * taken until the guest releases the primary. */
	assert_int_equal(ctl_device_remove(&e->c, d1->id, &gone), 0);
	assert_int_equal(gone.state, DEV_RELEASING);
	assert_int_equal(guest_recv(e, &od, NULL), KVMBUS_CTL_RESCIND);
	expect_none(e);
	assert_ptr_equal(devices_by_relid(&e->c.devs, r3), d1);
	send_relid(e, KVMBUS_CTL_RELID_RELEASED, r1);	/* not the primary */
	assert_ptr_equal(devices_by_relid(&e->c.devs, r1), d1);
	send_relid(e, KVMBUS_CTL_RELID_RELEASED, gone.relid);
	assert_null(devices_by_relid(&e->c.devs, gone.relid));
	assert_null(devices_by_relid(&e->c.devs, r1));
	assert_null(devices_by_relid(&e->c.devs, r3));
	assert_int_equal(e->c.devs.nr_chans, 1);

	/* Unload drops the sub-channels of live devices too. */
	d1 = add_echo_subs(e, "2");
	expect_offer(e, d1);
	send_subchannels(e, d1->relid, 2);
	expect_sub_offer(e, d1, 1);
	expect_sub_offer(e, d1, 2);
	expect_sub_result(e, d1->relid, 0, 2);
	assert_int_equal(e->c.devs.nr_chans, 4);
	send_type(e, KVMBUS_CTL_UNLOAD);
	assert_int_equal(guest_recv(e, &od, NULL), KVMBUS_CTL_UNLOAD_RESP);
	assert_int_equal(d1->nr_subchannels, 0);
	assert_int_equal(e->c.devs.nr_chans, 2);
	env_free(e);
}

/* The channel table is the limit: 256 relids, never 0, reused only after
 * release. */
static void test_channel_table(void **state)
{
	struct env *e = env_new(256);
	struct device *d[4], gone;
	unsigned int i, total = 0;

	(void)state;
	for (i = 0; i < 4; i++)
		d[i] = add_echo_subs(e, "63");
	guest_online(e);
	for (i = 0; i < 4; i++)
		expect_offer(e, d[i]);
	assert_int_equal(guest_recv(e, &gone, NULL),
			 KVMBUS_CTL_ALL_OFFERS_DONE);
	for (i = 0; i < 4; i++) {
		send_subchannels(e, d[i]->relid, 63);
		while (guest_recv(e, &gone, NULL) == KVMBUS_CTL_OFFER)
			;
		total += d[i]->nr_subchannels;
	}
	/* 4 primaries and 252 sub-channels fill the table. */
	assert_int_equal(total, CHAN_MAX - 4);
	assert_int_equal(e->c.devs.nr_chans, CHAN_MAX);
	assert_int_equal(ctl_device_add(&e->c, dev_class_find("echo"),
					&d[0]), -ENOSPC);
	/* Each of vectors 1..255 serves one channel, one serves two. */
	for (i = 1; i < 256; i++)
		assert_true(e->c.devs.vec_users[i] >= 1 &&
			    e->c.devs.vec_users[i] <= 2);
	for (i = 0; i < CHAN_MAX; i++)
		assert_non_null(devices_chan(&e->c.devs, i + 1));
	assert_null(devices_chan(&e->c.devs, 0));
	assert_null(devices_chan(&e->c.devs, CHAN_MAX + 1));
	/* Removed but not released: still no room. */
	assert_int_equal(ctl_device_remove(&e->c, d[1]->id, &gone), 0);
	assert_int_equal(ctl_device_add(&e->c, dev_class_find("echo"),
					&d[0]), -ENOSPC);
	send_relid(e, KVMBUS_CTL_RELID_RELEASED, gone.relid);
	assert_int_equal(e->c.devs.nr_chans, CHAN_MAX - 64);
	assert_int_equal(ctl_device_add(&e->c, dev_class_find("echo"),
					&d[0]), 0);
	env_free(e);
}

/* A class with dev_set, to test the device-level plumbing. */
static int fake_set_calls;

static int fake_dev_add(struct device *dev, struct json_object *params,
			char *err, size_t errlen)
{
	(void)params;
	(void)err;
	(void)errlen;
	*(int *)dev->priv = 42;
	return 0;
}

static int fake_dev_set(struct device *dev, struct json_object *params,
			char *err, size_t errlen)
{
	struct json_object *v;

	assert_int_equal(*(int *)dev->priv, 42);
	if (!json_object_object_get_ex(params, "link", &v)) {
		snprintf(err, errlen, "fake: only link");
		return -EINVAL;
	}
	fake_set_calls++;
	return 0;
}

static const struct vsp_ops fake_vsp = {
	.name = "fake",
	.max_pkt = 256,
	.dev_priv_size = sizeof(int),
	.dev_add = fake_dev_add,
	.dev_set = fake_dev_set,
};

static const struct dev_class fake_class = {
	.name = "fake",
	.class_id = KVMBUS_CLASS_ECHO_BYTES,
	.vsp = &fake_vsp,
};

static const char *const fake_test_params[] = { "link", NULL };

static const struct vsp_ops fake_test_vsp = {
	.name = "fake",
	.max_pkt = 256,
	.dev_priv_size = sizeof(int),
	.dev_add = fake_dev_add,
	.dev_set = fake_dev_set,
	.test_params = fake_test_params,
};

static const struct dev_class fake_test_class = {
	.name = "fake",
	.class_id = KVMBUS_CLASS_ECHO_BYTES,
	.vsp = &fake_test_vsp,
};

/* A class's test_params (scsi stall=1) are refused without --test. */
static void test_device_test_params(void **state)
{
	struct env *e = env_new(8);
	struct json_object *r;
	struct device *dev;
	char err[128];

	(void)state;
	fake_set_calls = 0;
	assert_int_equal(ctl_device_add_params(&e->c, &fake_test_class, NULL,
					       err, sizeof(err), &dev), 0);
	r = run(e, "{\"cmd\":\"device-set\",\"id\":1,\"params\":{\"link\":\"down\"}}", -EPERM);
	assert_string_equal(str(r, "error", NULL),
			    "fake: link is fault injection that breaks the guest: only with kvmbusd --test");
	json_object_put(r);
	assert_int_equal(fake_set_calls, 0);
	/* Other keys still reach the class. */
	r = run(e, "{\"cmd\":\"device-set\",\"id\":1,\"params\":{\"mtu\":\"1\"}}", -EINVAL);
	assert_string_equal(str(r, "error", NULL), "fake: only link");
	json_object_put(r);
	e->c.test = true;
	json_object_put(run(e, "{\"cmd\":\"device-set\",\"id\":1,\"params\":{\"link\":\"down\"}}", 0));
	assert_int_equal(fake_set_calls, 1);
	fake_set_calls = 0;
	env_free(e);
}

static void test_device_params(void **state)
{
	struct env *e = env_new(8);
	struct json_object *r, *p;
	struct device *dev;
	char err[128];

	(void)state;
	r = run(e, "{\"cmd\":\"device-add\",\"class\":\"echo\",\"params\":{\"subchannels\":\"7\"}}", 0);
	assert_string_equal(str(r, "device", "max_subchannels"), "7");
	json_object_put(r);
	r = run(e, "{\"cmd\":\"device-add\",\"class\":\"echo\",\"params\":{\"queues\":\"7\"}}", -EINVAL);
	assert_string_equal(str(r, "error", NULL),
			    "echo: unknown parameter \"queues\" (known: subchannels)");
	json_object_put(r);
	r = run(e, "{\"cmd\":\"device-add\",\"class\":\"echo\",\"params\":{\"subchannels\":\"64\"}}", -EINVAL);
	assert_string_equal(str(r, "error", NULL),
			    "echo: subchannels must be a number from 0 to 63");
	json_object_put(r);
	json_object_put(run(e, "{\"cmd\":\"device-add\",\"class\":\"echo\",\"params\":{\"subchannels\":3}}", -EINVAL));
	json_object_put(run(e, "{\"cmd\":\"device-add\",\"class\":\"echo\",\"params\":[]}", -EINVAL));
	assert_int_equal(e->c.devs.count, 1);	/* the failures left nothing */
	assert_int_equal(e->c.devs.nr_chans, 1);

	/* echo has no run-time settings. */
	r = run(e, "{\"cmd\":\"device-set\",\"id\":1,\"params\":{\"subchannels\":\"1\"}}", -EINVAL);
	assert_string_equal(str(r, "error", NULL),
			    "class echo has no run-time settings");
	json_object_put(r);
	r = run(e, "{\"cmd\":\"device-set\",\"id\":9,\"params\":{\"a\":\"1\"}}", -ENOENT);
	assert_string_equal(str(r, "error", NULL), "no device 9");
	json_object_put(r);
	json_object_put(run(e, "{\"cmd\":\"device-set\",\"id\":1}", -EINVAL));

	/* A class with dev_set and a priv. */
	assert_int_equal(ctl_device_add_params(&e->c, &fake_class, NULL, err,
					       sizeof(err), &dev), 0);
	assert_non_null(dev->priv);
	p = json_tokener_parse("{\"link\":\"down\"}");
	assert_int_equal(ctl_device_set(&e->c, dev->id, p, err, sizeof(err)),
			 0);
	json_object_put(p);
	assert_int_equal(fake_set_calls, 1);
	r = run(e, "{\"cmd\":\"device-set\",\"id\":2,\"params\":{\"mtu\":\"9000\"}}", -EINVAL);
	assert_string_equal(str(r, "error", NULL), "fake: only link");
	json_object_put(r);
	env_free(e);

	/* The text forms. */
	p = params_from_list("subchannels=3,x=", err, sizeof(err));
	assert_non_null(p);
	assert_string_equal(str(p, "subchannels", NULL), "3");
	assert_string_equal(str(p, "x", NULL), "");
	json_object_put(p);
	assert_null(params_from_list("a=1,a=2", err, sizeof(err)));
	assert_string_equal(err, "parameter a given twice");
	assert_null(params_from_list("novalue", err, sizeof(err)));
	assert_null(params_from_list("a=1,", err, sizeof(err)));
	assert_null(params_from_list("=1", err, sizeof(err)));
	assert_null(params_from_list("A=1", err, sizeof(err)));
	p = params_from_list("", err, sizeof(err));
	assert_int_equal(json_object_object_length(p), 0);
	json_object_put(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect),
		cmocka_unit_test(test_device_test_params),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_reconnect_and_reset),
		cmocka_unit_test(test_qemu_disconnect),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_offers),
		cmocka_unit_test(test_hot_add_remove),
		cmocka_unit_test(test_never_released),
		cmocka_unit_test(test_unload),
		cmocka_unit_test(test_bad_messages),
		cmocka_unit_test(test_handle_msg_direct),
		cmocka_unit_test(test_broken_ring),
		cmocka_unit_test(test_silent_reboot),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_batching),
		cmocka_unit_test(test_guest_waits_for_room),
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_device_table),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_subchannels),
		cmocka_unit_test(test_channel_table),
		cmocka_unit_test(test_device_params),
	};

	return cmocka_run_group_tests_name("ctl", tests, NULL, NULL);
}
