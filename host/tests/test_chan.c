// SPDX-License-Identifier: GPL-2.0-only
/*
 * Channels end to end against a guest played with the guest's own ring
 * code in a memfd of guest RAM (2 MiB at GPA 0, 2 MiB at GPA 4 GiB): the
 * ring GPADL made of scattered pages on both sides of the RAM hole, OPEN
 * and CLOSE and every way they are refused, the ways a channel is closed
 * under the guest (rescind, unload, reset, reconnect, QEMU leaving), the
 * echo VSP (in-band echoes, GPA SUM and FILL, host-initiated packets),
 * the ring-full path in both directions, and a hostile guest that breaks
 * one channel while the others and the control plane go on.
 *
 * The guest reaches its channel rings through its own contiguous view of
 * the same scattered pages, as a guest kernel would through vmap().
 */
#include <errno.h>
#include <json.h>
#include <stdint.h>
#include <sys/mman.h>

#include <kvmbus/echo.h>

#include "fixture.h"
#include "ctl.h"
#include "ctl_json.h"
#include "guestmem.h"
#include "vsp_echo.h"

#define PAGE		KVMBUS_PAGE_SIZE
#define LOW		(2u << 20)
#define RAM		(4u << 20)
#define HIGH		(1ull << 32)
#define HIGH_PFN	(HIGH / PAGE)
#define CTL_GPA		0x10000u
#define V1		KVMBUS_VERSION_1_0

/* The guest's end of one channel. */
struct gchan {
	uint32_t relid;
	uint16_t vector;
	uint32_t gpadl;
	struct guestmem_view view;	/* the guest's vmap() of the rings */
	struct kvmbus_ring out;		/* guest -> host */
	struct kvmbus_ring in;		/* host -> guest */
	uint64_t tid;
};

struct env {
	struct guestmem gm;
	struct bar bar;
	unsigned int sig[KVMBUS_MAX_VECTORS];
	uint32_t gen;
	struct kvmbus_ring out, in;	/* the guest's control rings */
	uint64_t tid;
	uint64_t buf[(KVMBUS_PKT_MAX_LEN) / 8];	/* one received packet */
	struct ctl c;
};

static int count_signal(void *opaque, unsigned int vector)
{
	struct env *e = opaque;

	assert_true(vector < KVMBUS_MAX_VECTORS);
	e->sig[vector]++;
	return 0;
}

static const struct ctl_ops ops = { .signal = count_signal };

static uint8_t *gpa_ptr(struct env *e, uint64_t gpa, uint64_t len)
{
	uint8_t *p = guestmem_range(&e->gm, gpa, len);

	assert_non_null(p);
	return p;
}

/* --- the control plane, as in test_ctl.c ---------------------------------- */

static void ctl_send_msg(struct env *e, const void *msg, uint32_t len)
{
	gctl_put(&e->out, ++e->tid, msg, len);
	gctl_kick(&e->c, &e->out);
}

/* The next control message (0 if none) into @msg (128 bytes). */
static uint32_t ctl_recv(struct env *e, void *msg)
{
	return gctl_recv(&e->c, &e->in, msg, NULL);
}

static void ctl_expect_none(struct env *e)
{
	uint8_t msg[128];

	assert_int_equal(ctl_recv(e, msg), 0);
}

static void send_type(struct env *e, uint32_t type)
{
	struct kvmbus_ctl_hdr h = { .type = cpu_to_le32(type) };

	ctl_send_msg(e, &h, sizeof(h));
}

static void guest_connect(struct env *e)
{
	uint8_t *m = gpa_ptr(e, CTL_GPA, 8 * PAGE);
	struct kvmbus_bar_hdr *h = e->bar.hdr;

	kvmbus_ring_create(&e->out, (void *)m, m + PAGE, 3 * PAGE);
	kvmbus_ring_create(&e->in, (void *)(m + 4 * PAGE), m + 5 * PAGE,
			   3 * PAGE);
	h->ctl_ring_pages = cpu_to_le32(4);
	h->ctl_gpa = cpu_to_le64(CTL_GPA);
	h->guest_generation = cpu_to_le32(++e->gen);
	h->guest_state = cpu_to_le32(KVMBUS_MBOX_CONNECT);
	ctl_doorbell(&e->c);
	assert_int_equal(e->c.state, CTL_ONLINE);
}

/* Negotiated, offers received. */
static void guest_negotiate(struct env *e, unsigned int devices)
{
	struct kvmbus_ctl_version_req v = {
		.hdr.type = cpu_to_le32(KVMBUS_CTL_VERSION_REQ),
		.version_min = cpu_to_le32(V1),
		.version_max = cpu_to_le32(V1),
	};
	uint8_t msg[128];
	unsigned int i;

	ctl_send_msg(e, &v, sizeof(v));
	assert_int_equal(ctl_recv(e, msg), KVMBUS_CTL_VERSION_RESP);
	send_type(e, KVMBUS_CTL_REQUEST_OFFERS);
	for (i = 0; i < devices; i++)
		assert_int_equal(ctl_recv(e, msg), KVMBUS_CTL_OFFER);
	assert_int_equal(ctl_recv(e, msg), KVMBUS_CTL_ALL_OFFERS_DONE);
}

/* Connected, negotiated, offers received: the usual starting point. */
static void guest_online(struct env *e, unsigned int devices)
{
	guest_connect(e);
	guest_negotiate(e, devices);
}

static struct env *env_new(unsigned int vectors, unsigned int devices)
{
	struct env *e = calloc(1, sizeof(*e));
	struct device *dev;
	unsigned int i;

	assert_non_null(e);
	guestmem_memfd(&e->gm, RAM, LOW);
	assert_int_equal(bar_create(&e->bar, 4096, vectors), 0);
	ctl_init(&e->c, &e->bar, &e->gm, vectors, &ops, e);
	for (i = 0; i < devices; i++)
		assert_int_equal(ctl_device_add(&e->c, dev_class_find("echo"),
						&dev), 0);
	if (devices)
		guest_online(e, devices);
	return e;
}

static void env_free(struct env *e)
{
	ctl_fini(&e->c);
	for (unsigned int i = 0; i < CHAN_MAX; i++)
		assert_false(chan_in_use(&e->c.chans[i]));
	assert_int_equal(e->c.gpadls.count, 0);
	bar_destroy(&e->bar);
	guestmem_close(&e->gm);
	free(e);
}

/* --- GPADLs, OPEN, CLOSE ---------------------------------------------------- */

/* A control message with a status answer: its status. */
static uint32_t expect_status(struct env *e, uint32_t type, uint32_t id)
{
	struct kvmbus_ctl_result r;

	assert_int_equal(ctl_recv(e, &r), type);
	assert_int_equal(le32_to_cpu(r.relid), id);
	return le32_to_cpu(r.status);
}

/* GPADL @id of single pages @pfn[0..n): CREATE, then BODYs of 64. */
static uint32_t gpadl_create_pfns(struct env *e, uint32_t id,
				  const uint64_t *pfn, uint32_t n)
{
	uint8_t msg[sizeof(struct kvmbus_ctl_gpadl) + 64 * 16];
	struct kvmbus_ctl_gpadl m;
	struct kvmbus_pfn_range r;
	uint32_t done = 0, k;

	while (done < n) {
		uint32_t nr = n - done > 64 ? 64 : n - done;

		m = (struct kvmbus_ctl_gpadl){
			.hdr.type = cpu_to_le32(done ? KVMBUS_CTL_GPADL_BODY :
						KVMBUS_CTL_GPADL_CREATE),
			.gpadl_id = cpu_to_le32(id),
			.total_pages = cpu_to_le32(n),
			.nr_ranges = cpu_to_le32(nr),
		};
		memcpy(msg, &m, sizeof(m));
		for (k = 0; k < nr; k++) {
			r = (struct kvmbus_pfn_range){
				.pfn = cpu_to_le64(pfn[done + k]),
				.nr_pages = cpu_to_le32(1),
			};
			memcpy(msg + sizeof(m) + k * sizeof(r), &r, sizeof(r));
		}
		ctl_send_msg(e, msg, sizeof(m) + nr * sizeof(r));
		done += nr;
		if (done < n)
			ctl_expect_none(e);
	}
	return expect_status(e, KVMBUS_CTL_GPADL_CREATED, id);
}

static uint32_t send_open(struct env *e, uint32_t relid, uint32_t gpadl,
			  uint32_t g2h_pages)
{
	struct kvmbus_ctl_open o = {
		.hdr.type = cpu_to_le32(KVMBUS_CTL_OPEN),
		.relid = cpu_to_le32(relid),
		.ring_gpadl = cpu_to_le32(gpadl),
		.g2h_pages = cpu_to_le32(g2h_pages),
	};

	ctl_send_msg(e, &o, sizeof(o));
	return expect_status(e, KVMBUS_CTL_OPEN_RESULT, relid);
}

static uint32_t send_relid(struct env *e, uint32_t type, uint32_t relid,
			   uint32_t answer)
{
	struct kvmbus_ctl_relid m = {
		.hdr.type = cpu_to_le32(type),
		.relid = cpu_to_le32(relid),
	};

	ctl_send_msg(e, &m, sizeof(m));
	return answer ? expect_status(e, answer, relid) : 0;
}

static uint32_t send_teardown(struct env *e, uint32_t id)
{
	struct kvmbus_ctl_gpadl_teardown t = {
		.hdr.type = cpu_to_le32(KVMBUS_CTL_GPADL_TEARDOWN),
		.gpadl_id = cpu_to_le32(id),
	};

	ctl_send_msg(e, &t, sizeof(t));
	return expect_status(e, KVMBUS_CTL_GPADL_TORNDOWN, id);
}

/*
 * The scattered pages of the ring GPADL of channel @slot: every other
 * page, backwards, the g->h ring's last page and all of the h->g ring
 * above the RAM hole.
 */
static void ring_pfns(unsigned int slot, uint32_t g2h, uint32_t h2g,
		      uint64_t *pfn)
{
	uint64_t low = 0x40 + slot * 0x40, high = HIGH_PFN + slot * 0x40;
	uint32_t i;

	for (i = 0; i + 1 < g2h; i++)
		pfn[i] = low + 2 * (g2h - i);
	pfn[g2h - 1] = high + 0x30;
	for (i = 0; i < h2g; i++)
		pfn[g2h + i] = high + 2 * i;
}

/* The guest's view of @n pages, as its vmap() would be. */
static void guest_view(struct env *e, const uint64_t *pfn, uint32_t n,
		       struct guestmem_view *v)
{
	struct guestmem_run runs[64];
	uint32_t i;

	assert_true(n <= 64);
	for (i = 0; i < n; i++) {
		assert_int_equal(guestmem_file_off(&e->gm, pfn[i] * PAGE, PAGE,
						   &runs[i].off), 0);
		runs[i].len = PAGE;
	}
	assert_int_equal(guestmem_view_map(&e->gm, runs, n, v), 0);
}

/*
 * What a guest channel driver does: rings created in fresh pages, a
 * GPADL for them, OPEN.  Return: OPEN_RESULT's status.
 */
static uint32_t guest_open(struct env *e, struct gchan *gc, uint32_t relid,
			   uint32_t g2h, uint32_t h2g)
{
	uint64_t pfn[64];
	uint8_t *v;

	memset(gc, 0, sizeof(*gc));
	gc->relid = relid;
	gc->gpadl = 100 + relid;
	gc->vector = devices_chan(&e->c.devs, relid)->vector;
	ring_pfns(relid - 1, g2h, h2g, pfn);
	guest_view(e, pfn, g2h + h2g, &gc->view);
	v = gc->view.addr;
	memset(v, 0xcc, (size_t)(g2h + h2g) * PAGE);	/* old contents */
	kvmbus_ring_create(&gc->out, (void *)v, v + PAGE, (g2h - 1) * PAGE);
	kvmbus_ring_create(&gc->in, (void *)(v + g2h * PAGE),
			   v + (g2h + 1) * PAGE, (h2g - 1) * PAGE);
	assert_int_equal(gpadl_create_pfns(e, gc->gpadl, pfn, g2h + h2g), 0);
	return send_open(e, relid, gc->gpadl, g2h);
}

static void guest_close(struct env *e, struct gchan *gc)
{
	assert_int_equal(send_relid(e, KVMBUS_CTL_CLOSE, gc->relid,
				    KVMBUS_CTL_CLOSE_RESULT), 0);
	assert_int_equal(send_teardown(e, gc->gpadl), 0);
	guestmem_view_unmap(&gc->view);
}

static struct chan *host_chan(struct env *e, uint32_t relid)
{
	return &e->c.chans[relid - 1];
}

/* --- the guest's channel traffic ----------------------------------------- */

static void chan_ring(struct env *e, struct gchan *gc)
{
	if (ctl_chan_doorbell(&e->c, gc->vector, 1))
		while (ctl_chans_poll(&e->c))
			;
}

static void chan_put(struct gchan *gc, uint16_t type, uint16_t flags,
		     const void *hdr, uint32_t hdr_len, const void *data,
		     uint32_t len)
{
	struct kvmbus_ring_pkt p = {
		.type = type,
		.flags = flags,
		.trans_id = ++gc->tid,
		.hdr = hdr,
		.hdr_len = hdr_len,
		.data = data,
		.data_len = len,
	};

	assert_int_equal(kvmbus_ring_put(&gc->out, &p), 0);
}

static void chan_kick(struct env *e, struct gchan *gc)
{
	if (kvmbus_ring_commit(&gc->out))
		chan_ring(e, gc);
}

/*
 * The next packet from the host on @gc, copied into e->buf.
 * Return: 0, or -EAGAIN when there is none.  A release that made the
 * room the host waits for rings the doorbell, as the guest driver does.
 */
static int chan_get(struct env *e, struct gchan *gc,
		    struct kvmbus_pkt_info *pi)
{
	int ret = kvmbus_ring_get(&gc->in, e->buf, sizeof(e->buf), pi);

	if (kvmbus_ring_release(&gc->in))
		chan_ring(e, gc);
	return ret;
}

static const uint8_t *payload(struct env *e, const struct kvmbus_pkt_info *pi)
{
	return (const uint8_t *)e->buf + pi->data_offset;
}

static void fill_pattern(uint8_t *p, uint32_t len, uint32_t seed)
{
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 7 + i);
}

/* One echo request and its answer. */
static void echo_once(struct env *e, struct gchan *gc, uint32_t len)
{
	static uint8_t data[70000], want[70000];
	struct kvmbus_pkt_info pi;

	fill_pattern(data, len, len);
	memcpy(want, data, len);
	chan_put(gc, KVMBUS_PKT_INBAND, KVMBUS_PKT_F_COMP_REQUESTED, NULL, 0,
		 data, len);
	chan_kick(e, gc);
	memset(data, 0, len);		/* the host must have copied it */
	assert_int_equal(chan_get(e, gc, &pi), 0);
	assert_int_equal(pi.type, KVMBUS_PKT_COMP);
	assert_int_equal(pi.flags, 0);
	assert_int_equal(pi.trans_id, gc->tid);
	assert_int_equal(pi.data_len, len);
	assert_memory_equal(payload(e, &pi), want, len);
	assert_int_equal(chan_get(e, gc, &pi), -EAGAIN);
}

/* ---- tests: open and close ---------------------------------------------- */

static void test_open_echo_close(void **state)
{
	struct env *e = env_new(8, 2);
	struct gchan gc;
	struct chan *ch;
	struct gpadl *g;
	unsigned int sig;

	(void)state;
	assert_int_equal(guest_open(e, &gc, 1, 4, 5), 0);
	ch = host_chan(e, 1);
	assert_int_equal(ch->state, CHAN_OPEN);
	assert_int_equal(ch->vector, 1);
	assert_int_equal(ch->g2h_pages, 4);
	assert_int_equal(ch->h2g_pages, 5);
	assert_int_equal(ch->rx.size, 3 * PAGE);
	assert_int_equal(ch->tx.size, 4 * PAGE);
	g = gpadls_find(&e->c.gpadls, gc.gpadl);
	assert_int_equal(g->users, 1);
	assert_int_equal(e->c.stats.opens, 1);
	/* The host attached without touching the ring headers. */
	assert_int_equal(le32_to_cpu(gc.out.hdr->features),
			 KVMBUS_RING_F_PENDING_SEND);
	assert_int_equal(gc.out.hdr->interrupt_mask, 0);
	/* The first pass found nothing and sent nothing. */
	while (ctl_chans_poll(&e->c))
		;
	assert_false(ctl_work_pending(&e->c));
	assert_int_equal(e->sig[1], 0);

	/* A GPADL in use is not torn down. */
	assert_int_equal(send_teardown(e, gc.gpadl), EBUSY);

	sig = e->sig[1];
	echo_once(e, &gc, 0);
	echo_once(e, &gc, 1);
	echo_once(e, &gc, 100);
	echo_once(e, &gc, 3 * PAGE - 64);	/* wraps the data areas */
	echo_once(e, &gc, 777);
	assert_int_equal(e->sig[1], sig + 5);
	assert_int_equal(ch->stats.pkts_in, 5);
	assert_int_equal(ch->stats.pkts_out, 5);
	assert_int_equal(ch->stats.completions, 5);
	assert_int_equal(ch->stats.doorbells, 5);
	assert_int_equal(ch->stats.bytes_in, 0 + 1 + 100 + 3 * PAGE - 64 + 777);
	assert_int_equal(ch->stats.bytes_out, ch->stats.bytes_in);

	guest_close(e, &gc);
	assert_int_equal(ch->state, CHAN_CLOSED);
	assert_null(ch->view.addr);
	assert_null(gpadls_find(&e->c.gpadls, gc.gpadl));
	assert_int_equal(ch->stats.pkts_in, 5);	/* kept after close */
	assert_int_equal(e->c.stats.closes, 1);
	/* Closed: a doorbell on its vector does nothing. */
	assert_false(ctl_chan_doorbell(&e->c, 1, 1));
	/* Open again on a fresh GPADL. */
	assert_int_equal(guest_open(e, &gc, 1, 2, 2), 0);
	echo_once(e, &gc, 10);
	guest_close(e, &gc);
	env_free(e);
}

/* A device with two sub-channels: each channel carries its own traffic
 * on its own vector; a rescind closes them all. */
static void test_subchannels(void **state)
{
	struct kvmbus_ctl_subchannels rq = {
		.hdr.type = cpu_to_le32(KVMBUS_CTL_REQUEST_SUBCHANNELS),
		.count = cpu_to_le32(2),
	};
	struct json_object *p = json_object_new_object();
	struct env *e = env_new(8, 0);
	struct device *dev, gone;
	struct gchan gc[3];
	uint8_t msg[128];
	uint32_t relid[3];
	unsigned int i;

	(void)state;
	json_object_object_add(p, "subchannels", json_object_new_string("2"));
	assert_int_equal(ctl_device_add_params(&e->c, dev_class_find("echo"), p,
					       NULL, 0, &dev), 0);
	json_object_put(p);
	guest_online(e, 1);
	rq.relid = cpu_to_le32(dev->relid);
	ctl_send_msg(e, &rq, sizeof(rq));
	assert_int_equal(ctl_recv(e, msg), KVMBUS_CTL_OFFER);
	assert_int_equal(ctl_recv(e, msg), KVMBUS_CTL_OFFER);
	assert_int_equal(ctl_recv(e, msg), KVMBUS_CTL_SUBCHANNELS_RESULT);
	relid[0] = dev->relid;
	relid[1] = dev->sub_relid[0];
	relid[2] = dev->sub_relid[1];
	/* Sub-channel 2 first: any order works. */
	assert_int_equal(guest_open(e, &gc[2], relid[2], 2, 2), 0);
	assert_int_equal(guest_open(e, &gc[0], relid[0], 2, 2), 0);
	assert_int_equal(guest_open(e, &gc[1], relid[1], 2, 2), 0);
	for (i = 0; i < 3; i++) {
		struct chan *ch = host_chan(e, relid[i]);

		assert_ptr_equal(ch->dev, dev);
		assert_int_equal(ch->sub_index, i);
		assert_int_equal(ch->vector, gc[i].vector);
		echo_once(e, &gc[i], 100 + i);
		echo_once(e, &gc[i], 3000);
		assert_int_equal(ch->stats.pkts_in, 2);
	}
	assert_int_not_equal(gc[1].vector, gc[2].vector);
	/* One closes and opens again while the others stay open. */
	guest_close(e, &gc[1]);
	assert_int_equal(guest_open(e, &gc[1], relid[1], 2, 2), 0);
	echo_once(e, &gc[1], 7);

	/* Rescind: every channel of the device closes at once. */
	assert_int_equal(ctl_device_remove(&e->c, dev->id, &gone), 0);
	assert_int_equal(ctl_recv(e, msg), KVMBUS_CTL_RESCIND);
	for (i = 0; i < 3; i++)
		assert_false(chan_in_use(host_chan(e, relid[i])));
	assert_int_equal(e->c.stats.chan_closed_by_host, 3);
	for (i = 0; i < 3; i++)
		guest_close(e, &gc[i]);	/* answered with 0 */
	assert_int_equal(send_relid(e, KVMBUS_CTL_RELID_RELEASED, relid[0], 0),
			 0);
	assert_null(devices_by_relid(&e->c.devs, relid[2]));
	env_free(e);
}

static void test_open_refused(void **state)
{
	struct env *e = env_new(8, 2);
	uint64_t pfn[600];
	struct gchan gc, gc2;
	struct device *late;
	uint32_t i;

	(void)state;
	/* Ring GPADL 7: 6 scattered pages, each ring 3. */
	for (i = 0; i < 6; i++)
		pfn[i] = 0x80 + 3 * i;
	assert_int_equal(gpadl_create_pfns(e, 7, pfn, 6), 0);
	memset(gpa_ptr(e, 0x80 * PAGE, 16 * PAGE), 0, 16 * PAGE);

	/* Not a device offered to this guest. */
	assert_int_equal(send_open(e, 0, 7, 3), ENODEV);
	assert_int_equal(send_open(e, 3, 7, 3), ENODEV);
	assert_int_equal(send_open(e, DEV_MAX + 1, 7, 3), ENODEV);
	assert_int_equal(send_open(e, UINT32_MAX, 7, 3), ENODEV);
	assert_int_equal(ctl_device_add(&e->c, dev_class_find("echo"), &late),
			 0);			/* hot add: offered now */
	assert_int_equal(ctl_recv(e, (uint8_t[128]){ 0 }), KVMBUS_CTL_OFFER);
	/* No such GPADL, or not complete. */
	assert_int_equal(send_open(e, 1, 8, 3), ENOENT);
	assert_int_equal(send_open(e, 1, 0, 3), ENOENT);
	{
		struct kvmbus_ctl_gpadl m = {
			.hdr.type = cpu_to_le32(KVMBUS_CTL_GPADL_CREATE),
			.gpadl_id = cpu_to_le32(9),
			.total_pages = cpu_to_le32(6),
		};
		ctl_send_msg(e, &m, sizeof(m));
		ctl_expect_none(e);
	}
	assert_int_equal(send_open(e, 1, 9, 3), EINPROGRESS);
	/* A ring without a data page, either one. */
	assert_int_equal(send_open(e, 1, 7, 0), EINVAL);
	assert_int_equal(send_open(e, 1, 7, 1), EINVAL);
	assert_int_equal(send_open(e, 1, 7, 5), EINVAL);
	assert_int_equal(send_open(e, 1, 7, 6), EINVAL);
	assert_int_equal(send_open(e, 1, 7, 7), EINVAL);
	assert_int_equal(send_open(e, 1, 7, UINT32_MAX), EINVAL);
	/* A ring header with an invalid index: EPROTO, nothing kept. */
	gpa_ptr(e, 0x80 * PAGE, PAGE)[0] = 3;	/* g->h write_index */
	assert_int_equal(send_open(e, 1, 7, 3), EPROTO);
	gpa_ptr(e, 0x80 * PAGE, PAGE)[0] = 0;
	gpa_ptr(e, 0x89 * PAGE, PAGE)[64] = 0xf0;	/* h->g read_index */
	gpa_ptr(e, 0x89 * PAGE, PAGE)[65] = 0xff;	/* 0xfff0: too big */
	assert_int_equal(send_open(e, 1, 7, 3), EPROTO);
	gpa_ptr(e, 0x89 * PAGE, PAGE)[64] = 0;
	gpa_ptr(e, 0x89 * PAGE, PAGE)[65] = 0;
	assert_int_equal(gpadls_find(&e->c.gpadls, 7)->users, 0);
	assert_false(chan_in_use(host_chan(e, 1)));
	/* Now right. */
	assert_int_equal(send_open(e, 1, 7, 3), 0);
	/* Open already; its GPADL is in use by another channel. */
	assert_int_equal(send_open(e, 1, 7, 3), EALREADY);
	assert_int_equal(send_open(e, 2, 7, 3), EBUSY);
	/* A ring GPADL of more runs than a view maps: pages backwards
	 * never merge. */
	for (i = 0; i < GUESTMEM_VIEW_MAX_RUNS; i++)
		pfn[i] = HIGH_PFN + GUESTMEM_VIEW_MAX_RUNS - 1 - i;
	pfn[i] = 0x1f0;
	assert_int_equal(gpadl_create_pfns(e, 10, pfn,
					   GUESTMEM_VIEW_MAX_RUNS + 1), 0);
	assert_int_equal(gpadls_find(&e->c.gpadls, 10)->nr_runs,
			 GUESTMEM_VIEW_MAX_RUNS + 1);
	assert_int_equal(send_open(e, 2, 10, 2), E2BIG);
	assert_int_equal(send_teardown(e, 10), 0);
	assert_int_equal(e->c.stats.opens, 1);
	assert_int_equal(e->c.stats.open_failed, 18);

	/* CLOSE of what is not open, or not offered. */
	assert_int_equal(send_relid(e, KVMBUS_CTL_CLOSE, 2,
				    KVMBUS_CTL_CLOSE_RESULT), ENOTCONN);
	assert_int_equal(send_relid(e, KVMBUS_CTL_CLOSE, 0,
				    KVMBUS_CTL_CLOSE_RESULT), ENODEV);
	assert_int_equal(send_relid(e, KVMBUS_CTL_CLOSE, 9,
				    KVMBUS_CTL_CLOSE_RESULT), ENODEV);
	assert_int_equal(send_relid(e, KVMBUS_CTL_CLOSE, 1,
				    KVMBUS_CTL_CLOSE_RESULT), 0);
	assert_int_equal(send_relid(e, KVMBUS_CTL_CLOSE, 1,
				    KVMBUS_CTL_CLOSE_RESULT), ENOTCONN);
	/* A refused OPEN leaves the last open's numbers alone. */
	host_chan(e, 1)->stats.pkts_in = 42;
	assert_int_equal(send_open(e, 1, 7, 1), EINVAL);
	assert_int_equal(host_chan(e, 1)->gpadl_id, 7);
	assert_int_equal(host_chan(e, 1)->g2h_pages, 3);
	assert_int_equal(host_chan(e, 1)->stats.pkts_in, 42);
	/* A third device works as the first. */
	assert_int_equal(guest_open(e, &gc, late->relid, 3, 3), 0);
	echo_once(e, &gc, 5);
	assert_int_equal(guest_open(e, &gc2, 2, 2, 3), 0);
	echo_once(e, &gc2, 5);
	guest_close(e, &gc);
	guest_close(e, &gc2);
	env_free(e);
}

/* Rescind, unload, reset, reconnect, QEMU gone, a broken control ring:
 * each closes the channels; all but rescind forget the GPADLs. */
static void test_closed_under_the_guest(void **state)
{
	struct env *e = env_new(8, 2);
	struct device gone;
	struct gchan gc, gc2;
	unsigned int how;
	uint8_t msg[128];

	(void)state;
	assert_int_equal(guest_open(e, &gc, 1, 3, 3), 0);
	assert_int_equal(guest_open(e, &gc2, 2, 3, 3), 0);
	/* Rescind of an open channel: closed first, then RESCIND. */
	assert_int_equal(ctl_device_remove(&e->c, 1, &gone), 0);
	assert_int_equal(gone.state, DEV_RELEASING);
	assert_false(chan_in_use(host_chan(e, 1)));
	assert_int_equal(ctl_recv(e, msg), KVMBUS_CTL_RESCIND);
	assert_int_equal(gpadls_find(&e->c.gpadls, gc.gpadl)->users, 0);
	/* The guest closes as if its driver had: fine; then tears down. */
	assert_int_equal(send_relid(e, KVMBUS_CTL_CLOSE, 1,
				    KVMBUS_CTL_CLOSE_RESULT), 0);
	assert_int_equal(send_open(e, 1, gc.gpadl, 3), ENODEV);
	assert_int_equal(send_teardown(e, gc.gpadl), 0);
	send_relid(e, KVMBUS_CTL_RELID_RELEASED, 1, 0);
	assert_null(devices_by_relid(&e->c.devs, 1));
	echo_once(e, &gc2, 33);		/* the other channel goes on */
	guest_close(e, &gc2);
	guestmem_view_unmap(&gc.view);

	for (how = 0; how < 5; how++) {
		assert_int_equal(guest_open(e, &gc2, 2, 3, 3), 0);
		switch (how) {
		case 0:
			send_type(e, KVMBUS_CTL_UNLOAD);
			assert_int_equal(ctl_recv(e, msg),
					 KVMBUS_CTL_UNLOAD_RESP);
			break;
		case 1:
			e->bar.hdr->guest_state =
				cpu_to_le32(KVMBUS_MBOX_RESET);
			ctl_doorbell(&e->c);
			break;
		case 2:			/* a reboot: a new CONNECT */
			guest_connect(e);
			break;
		case 3:
			ctl_disconnect(&e->c);
			bar_reset(&e->bar);
			e->gen = 0;
			break;
		default:		/* the guest breaks the control ring */
			e->out.hdr->write_index = cpu_to_le32(12);
			ctl_doorbell(&e->c);
			assert_int_equal(e->c.state, CTL_BROKEN);
			break;
		}
		assert_false(chan_in_use(host_chan(e, 2)));
		assert_int_equal(e->c.gpadls.count, 0);
		assert_int_equal(e->c.stats.chan_closed_by_host, 2 + how);
		/* The host no longer touches the rings. */
		memset(gc2.view.addr, 0x5a, 6 * PAGE);
		assert_false(ctl_chan_doorbell(&e->c, gc2.vector, 1));
		guestmem_view_unmap(&gc2.view);
		/* After UNLOAD the guest only negotiates again. */
		if (how)
			guest_online(e, 1);
		else
			guest_negotiate(e, 1);
	}
	env_free(e);
}

/* ---- tests: the echo VSP ------------------------------------------------- */

/* Several requests, one doorbell: one batch, one signal; one-way packets
 * are only counted; a completion from the guest is malformed. */
static void test_echo_batch(void **state)
{
	struct env *e = env_new(8, 1);
	struct kvmbus_pkt_info pi;
	uint8_t data[64];
	struct gchan gc;
	struct chan *ch;
	unsigned int i, n = 0;

	(void)state;
	assert_int_equal(guest_open(e, &gc, 1, 3, 3), 0);
	ch = host_chan(e, 1);
	for (i = 0; i < 10; i++) {
		memset(data, (int)i, sizeof(data));
		chan_put(&gc, KVMBUS_PKT_INBAND,
			 i % 2 ? KVMBUS_PKT_F_COMP_REQUESTED : 0, NULL, 0,
			 data, 8 + i);
	}
	chan_put(&gc, KVMBUS_PKT_COMP, 0, NULL, 0, data, 8);
	chan_kick(e, &gc);
	assert_int_equal(e->sig[1], 1);
	while (!chan_get(e, &gc, &pi)) {
		assert_int_equal(pi.trans_id, 2 + 2 * n);
		assert_int_equal(pi.data_len, 9 + 2 * n);
		assert_int_equal(payload(e, &pi)[pi.data_len - 1], 1 + 2 * n);
		n++;
	}
	assert_int_equal(n, 5);
	assert_int_equal(ch->stats.pkts_in, 11);
	assert_int_equal(ch->stats.completions, 5);
	assert_int_equal(ch->stats.malformed, 1);
	assert_int_equal(ch->state, CHAN_OPEN);
	guest_close(e, &gc);
	env_free(e);
}

struct gpa_req {
	struct kvmbus_gpa_list l;
	struct kvmbus_gpa_range r[KVMBUS_MAX_GPA_RANGES];
};

/* Send a GPA request over @nr ranges; return the answer. */
static struct kvmbus_echo_gpa_resp gpa_op(struct env *e, struct gchan *gc,
					  uint32_t op, uint32_t seed,
					  const uint64_t (*rg)[2], uint32_t nr)
{
	struct kvmbus_echo_gpa_req req = {
		.op = cpu_to_le32(op),
		.seed = cpu_to_le32(seed),
	};
	struct kvmbus_echo_gpa_resp resp;
	struct kvmbus_pkt_info pi;
	static struct gpa_req h;
	uint32_t i;

	h.l.nr_ranges = cpu_to_le32(nr);
	for (i = 0; i < nr; i++) {
		h.r[i].gpa = cpu_to_le64(rg[i][0]);
		h.r[i].len = cpu_to_le32((uint32_t)rg[i][1]);
	}
	chan_put(gc, KVMBUS_PKT_GPA, 0, &h, sizeof(h.l) + nr * sizeof(h.r[0]),
		 &req, sizeof(req));
	chan_kick(e, gc);
	assert_int_equal(chan_get(e, gc, &pi), 0);
	assert_int_equal(pi.type, KVMBUS_PKT_COMP);
	assert_int_equal(pi.trans_id, gc->tid);
	assert_int_equal(pi.data_len, sizeof(resp));
	memcpy(&resp, payload(e, &pi), sizeof(resp));
	return resp;
}

static void test_echo_gpa(void **state)
{
	const uint64_t rg[][2] = {
		{ 0x1000 + 5, 100 },		/* low RAM, unaligned */
		{ HIGH + 0x20000 - 7, 5000 },	/* high RAM, across pages */
		{ 0x3000, 1 },
	};
	struct env *e = env_new(8, 1);
	struct kvmbus_echo_gpa_resp r;
	uint64_t sum = 0, pos = 0;
	struct gchan gc;
	struct chan *ch;
	uint8_t *p;
	uint32_t i, j;

	(void)state;
	assert_int_equal(guest_open(e, &gc, 1, 3, 3), 0);
	ch = host_chan(e, 1);
	for (i = 0; i < 3; i++) {
		p = gpa_ptr(e, rg[i][0], rg[i][1]);
		for (j = 0; j < rg[i][1]; j++) {
			p[j] = (uint8_t)(j * 13 + i);
			sum += p[j];
		}
	}
	r = gpa_op(e, &gc, KVMBUS_ECHO_OP_SUM, 0, rg, 3);
	assert_int_equal(le32_to_cpu(r.status), 0);
	assert_int_equal(le64_to_cpu(r.bytes), 5101);
	assert_int_equal(le64_to_cpu(r.sum), sum);

	r = gpa_op(e, &gc, KVMBUS_ECHO_OP_FILL, 250, rg, 3);
	assert_int_equal(le32_to_cpu(r.status), 0);
	assert_int_equal(le64_to_cpu(r.bytes), 5101);
	assert_int_equal(le64_to_cpu(r.sum), 0);
	for (i = 0; i < 3; i++) {
		p = gpa_ptr(e, rg[i][0], rg[i][1]);
		for (j = 0; j < rg[i][1]; j++, pos++)
			assert_int_equal(p[j], (uint8_t)(250 + pos));
	}
	/* The bytes around the ranges are untouched. */
	assert_int_equal(gpa_ptr(e, 0x1000 + 4, 1)[0], 0);
	assert_int_equal(gpa_ptr(e, 0x1000 + 105, 1)[0], 0);

	/* 256 ranges of 4 KiB: a whole megabyte. */
	{
		static uint64_t many[KVMBUS_MAX_GPA_RANGES][2];

		for (i = 0; i < KVMBUS_MAX_GPA_RANGES; i++) {
			many[i][0] = 0x100000 + (uint64_t)i * PAGE;
			many[i][1] = PAGE;
		}
		memset(gpa_ptr(e, 0x100000, 1 << 20), 1, 1 << 20);
		r = gpa_op(e, &gc, KVMBUS_ECHO_OP_SUM, 0,
			   (const uint64_t (*)[2])many, KVMBUS_MAX_GPA_RANGES);
		assert_int_equal(le32_to_cpu(r.status), 0);
		assert_int_equal(le64_to_cpu(r.sum), 1 << 20);
	}
	assert_int_equal(ch->stats.malformed, 0);
	guest_close(e, &gc);
	env_free(e);
}

/* Every range is checked before any is touched. */
static void test_echo_gpa_refused(void **state)
{
	const uint64_t good[2] = { 0x2000, 64 };
	const uint64_t bad[][2] = {
		{ LOW - 8, 16 },		/* into the hole */
		{ LOW, 1 },			/* in the hole */
		{ HIGH - 1, 2 },		/* from the hole */
		{ HIGH + LOW - 1, 2 },		/* past the end */
		{ HIGH + (8ull << 30), 1 },	/* beyond RAM */
		{ 0x2000, 0 },			/* empty */
		{ UINT64_MAX - 2, 8 },		/* wraps */
	};
	struct env *e = env_new(8, 1);
	struct kvmbus_echo_gpa_resp r;
	struct kvmbus_pkt_info pi;
	uint64_t rg[2][2];
	struct gchan gc;
	struct chan *ch;
	uint8_t *g = gpa_ptr(e, good[0], good[1]);
	uint32_t i;

	(void)state;
	assert_int_equal(guest_open(e, &gc, 1, 3, 3), 0);
	ch = host_chan(e, 1);
	memset(g, 0x11, good[1]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(rg[0], good, sizeof(good));
		memcpy(rg[1], bad[i], sizeof(bad[i]));
		r = gpa_op(e, &gc, KVMBUS_ECHO_OP_FILL, 0,
			   (const uint64_t (*)[2])rg, 2);
		assert_int_equal(le32_to_cpu(r.status), EFAULT);
		assert_int_equal(le64_to_cpu(r.bytes), 0);
		/* The good range before the bad one was not filled. */
		for (uint32_t j = 0; j < good[1]; j++)
			assert_int_equal(g[j], 0x11);
	}
	/* More than 4 MiB in all: E2BIG. */
	{
		const uint64_t big[][2] = { { 0, LOW }, { HIGH, LOW }, { 0, 1 } };

		r = gpa_op(e, &gc, KVMBUS_ECHO_OP_SUM, 0, big, 3);
		assert_int_equal(le32_to_cpu(r.status), E2BIG);
	}
	/* Unknown op; no ranges; too many; a list longer than the header
	 * room; a payload shorter than a request. */
	r = gpa_op(e, &gc, 3, 0, &good, 1);
	assert_int_equal(le32_to_cpu(r.status), EINVAL);
	r = gpa_op(e, &gc, KVMBUS_ECHO_OP_SUM, 0, NULL, 0);
	assert_int_equal(le32_to_cpu(r.status), EINVAL);
	{
		struct kvmbus_gpa_list l = { .nr_ranges = cpu_to_le32(2) };
		struct kvmbus_gpa_range one = {
			.gpa = cpu_to_le64(good[0]),
			.len = cpu_to_le32(8),
		};
		uint8_t hdr[sizeof(l) + sizeof(one)];
		struct kvmbus_echo_gpa_req req = {
			.op = cpu_to_le32(KVMBUS_ECHO_OP_SUM),
		};

		memcpy(hdr, &l, sizeof(l));
		memcpy(hdr + sizeof(l), &one, sizeof(one));
		chan_put(&gc, KVMBUS_PKT_GPA, 0, hdr, sizeof(hdr), &req,
			 sizeof(req));
		l.nr_ranges = cpu_to_le32(KVMBUS_MAX_GPA_RANGES + 1);
		memcpy(hdr, &l, sizeof(l));
		chan_put(&gc, KVMBUS_PKT_GPA, 0, hdr, sizeof(hdr), &req,
			 sizeof(req));
		l.nr_ranges = cpu_to_le32(1);
		memcpy(hdr, &l, sizeof(l));
		chan_put(&gc, KVMBUS_PKT_GPA, 0, hdr, sizeof(hdr), &req,
			 sizeof(req) - 1);
		chan_kick(e, &gc);
		for (i = 0; i < 3; i++) {
			assert_int_equal(chan_get(e, &gc, &pi), 0);
			memcpy(&r, payload(e, &pi), sizeof(r));
			assert_int_equal(le32_to_cpu(r.status), EINVAL);
		}
	}
	assert_int_equal(ch->stats.malformed, 1 + 2 + 3);	/* E2BIG too */
	assert_int_equal(ch->state, CHAN_OPEN);
	assert_true(e->gm.stats.rejected >= 7);
	guest_close(e, &gc);
	env_free(e);
}

/* The guest does not read: the host holds its reply, takes nothing more,
 * asks to be signalled; the guest's release signals; everything arrives
 * in order. */
static void test_echo_ring_full(void **state)
{
	struct env *e = env_new(8, 1);
	struct kvmbus_pkt_info pi;
	uint8_t data[500];
	struct gchan gc;
	struct chan *ch;
	unsigned int i, sent = 0, got = 0;

	(void)state;
	assert_int_equal(guest_open(e, &gc, 1, 3, 2), 0);	/* 4 KiB back */
	ch = host_chan(e, 1);
	for (i = 0; i < 14; i++) {		/* 14 x 536 bytes: 7.5 KiB */
		memset(data, (int)i, sizeof(data));
		chan_put(&gc, KVMBUS_PKT_INBAND, KVMBUS_PKT_F_COMP_REQUESTED,
			 NULL, 0, data, sizeof(data));
		sent++;
	}
	chan_kick(e, &gc);
	/* 7 replies fit 4 KiB; the 8th waits; the rest stay in the ring. */
	assert_int_equal(ch->stats.completions, 7);
	assert_int_equal(ch->stats.pkts_in, 8);
	assert_int_equal(ch->stats.ring_full, 1);
	assert_int_not_equal(le32_to_cpu(gc.in.hdr->pending_send_sz), 0);
	/* Doorbells change nothing while there is no room. */
	chan_ring(e, &gc);
	chan_ring(e, &gc);
	assert_int_equal(ch->stats.pkts_in, 8);
	assert_int_equal(ch->stats.ring_full, 1);	/* one wait */
	/* The guest reads: its release signals, the host goes on. */
	while (got < sent) {
		assert_int_equal(chan_get(e, &gc, &pi), 0);
		assert_int_equal(pi.trans_id, got + 1);
		assert_int_equal(payload(e, &pi)[0], got);
		got++;
	}
	assert_int_equal(chan_get(e, &gc, &pi), -EAGAIN);
	assert_int_equal(ch->stats.completions, 14);
	assert_int_equal(le32_to_cpu(gc.in.hdr->pending_send_sz), 0);
	assert_true(ch->stats.ring_full >= 2);
	/* An echo that can never fit the host->guest ring: dropped. */
	chan_put(&gc, KVMBUS_PKT_INBAND, KVMBUS_PKT_F_COMP_REQUESTED, NULL, 0,
		 (uint8_t[4096]){ 0 }, 4096);
	chan_kick(e, &gc);
	assert_int_equal(chan_get(e, &gc, &pi), -EAGAIN);
	assert_int_equal(ch->stats.malformed, 1);
	echo_once(e, &gc, 9);
	guest_close(e, &gc);
	env_free(e);
}

/* The host waits for room in the guest->host ring the other way round:
 * the guest's producer asks, the host's release signals. */
static void test_guest_waits_for_room(void **state)
{
	struct env *e = env_new(8, 1);
	uint8_t data[200] = { 0 };
	struct gchan gc;
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.data = data,
		.data_len = sizeof(data),
	};
	unsigned int n = 0;

	(void)state;
	assert_int_equal(guest_open(e, &gc, 1, 2, 2), 0);
	while (kvmbus_ring_put(&gc.out, &p) == 0)
		n++;
	assert_int_not_equal(le32_to_cpu(gc.out.hdr->pending_send_sz), 0);
	kvmbus_ring_commit(&gc.out);
	e->sig[1] = 0;
	chan_ring(e, &gc);
	assert_int_equal(e->sig[1], 1);		/* room: one signal */
	assert_int_equal(host_chan(e, 1)->stats.pkts_in, n);
	assert_int_equal(kvmbus_ring_put(&gc.out, &p), 0);
	guest_close(e, &gc);
	env_free(e);
}

static void check_sent(struct env *e, struct gchan *gc, uint64_t first,
		       unsigned int count, uint32_t size)
{
	struct kvmbus_pkt_info pi;
	unsigned int got = 0;
	uint32_t i;

	while (got < count) {
		assert_int_equal(chan_get(e, gc, &pi), 0);
		assert_int_equal(pi.type, KVMBUS_PKT_INBAND);
		assert_int_equal(pi.flags, 0);
		assert_int_equal(pi.trans_id, first + got);
		assert_int_equal(pi.data_len, size);
		for (i = 0; i < size; i++)
			if (payload(e, &pi)[i] != (uint8_t)(pi.trans_id + i))
				fail_msg("packet %llu byte %u",
					 (unsigned long long)pi.trans_id, i);
		got++;
	}
	assert_int_equal(chan_get(e, gc, &pi), -EAGAIN);
}

static void test_echo_send(void **state)
{
	struct env *e = env_new(8, 1);
	struct gchan gc;
	struct chan *ch;

	(void)state;
	assert_int_equal(vsp_echo_send(host_chan(e, 1), 1, 1), -ENOTCONN);
	assert_int_equal(guest_open(e, &gc, 1, 2, 3), 0);	/* 8 KiB */
	ch = host_chan(e, 1);
	assert_int_equal(vsp_echo_send(ch, 0, 10), -EINVAL);
	assert_int_equal(vsp_echo_send(ch, 1, 2 * PAGE), -EMSGSIZE);
	assert_int_equal(vsp_echo_send(ch, 1, 2 * PAGE - 40), 0);
	assert_false(chan_poll(ch, CHAN_BUDGET));
	check_sent(e, &gc, 1, 1, 2 * PAGE - 40);

	/* 1000 packets of 100 bytes: 60 fit at a time; each read makes the
	 * guest signal once the host's pending size is free. */
	e->sig[1] = 0;
	assert_int_equal(vsp_echo_send(ch, 1000, 100), 0);
	assert_int_equal(vsp_echo_send(ch, 1, 1), -EBUSY);
	chan_poll(ch, CHAN_BUDGET);
	assert_int_equal(vsp_echo_send_pending(ch), 1000 - 60);
	assert_int_equal(e->sig[1], 1);
	check_sent(e, &gc, 2, 1000, 100);
	assert_int_equal(vsp_echo_send_pending(ch), 0);
	assert_true(ch->stats.ring_full >= 10);
	assert_int_equal(ch->stats.pkts_out, 1001);
	assert_int_equal(ch->stats.completions, 0);
	/* The sequence goes on across sends; empty payloads are fine. */
	assert_int_equal(vsp_echo_send(ch, 3, 0), 0);
	chan_poll(ch, CHAN_BUDGET);
	check_sent(e, &gc, 1002, 3, 0);
	/* Closing drops what was not sent. */
	assert_int_equal(vsp_echo_send(ch, 500, 100), 0);
	chan_poll(ch, CHAN_BUDGET);
	guest_close(e, &gc);
	assert_int_equal(vsp_echo_send_pending(ch), 0);
	env_free(e);
}

/* ---- tests: a hostile guest ------------------------------------------------ */

static void test_hostile(void **state)
{
	struct env *e = env_new(8, 3);
	struct gchan a, b, c;
	struct chan *ch;
	uint8_t msg[128];

	(void)state;
	assert_int_equal(guest_open(e, &a, 1, 3, 3), 0);
	assert_int_equal(guest_open(e, &b, 2, 3, 3), 0);
	assert_int_equal(guest_open(e, &c, 3, 3, 3), 0);

	/* A write index that is not a multiple of 8. */
	a.out.hdr->write_index = cpu_to_le32(13);
	chan_ring(e, &a);
	ch = host_chan(e, 1);
	assert_int_equal(ch->state, CHAN_BROKEN);
	assert_string_equal(chan_state_name(ch->state), "broken");
	assert_non_null(ch->broken_why);
	assert_int_equal(e->c.chan_env.broken, 1);
	/* The others and the control plane go on. */
	echo_once(e, &b, 20);
	echo_once(e, &c, 20);
	send_type(e, KVMBUS_CTL_REQUEST_OFFERS);	/* a second time */
	ctl_expect_none(e);
	assert_int_equal(e->c.state, CTL_ONLINE);
	/* A broken channel is left alone, echo-send refused; CLOSE works. */
	a.out.hdr->write_index = 0;
	chan_ring(e, &a);
	assert_int_equal(ch->stats.pkts_in, 0);
	assert_int_equal(vsp_echo_send(ch, 1, 1), -EIO);
	assert_int_equal(ch->stats.doorbells, 2);
	guest_close(e, &a);

	/* A read index of the host->guest ring out of range: broken on the
	 * first reply. */
	b.in.hdr->read_index = cpu_to_le32(0x100000);
	chan_put(&b, KVMBUS_PKT_INBAND, KVMBUS_PKT_F_COMP_REQUESTED, NULL, 0,
		 msg, 8);
	chan_kick(e, &b);
	assert_int_equal(host_chan(e, 2)->state, CHAN_BROKEN);
	echo_once(e, &c, 21);

	/* A packet whose trailer lies. */
	{
		struct kvmbus_pkt_desc d = {
			.type = cpu_to_le16(KVMBUS_PKT_INBAND),
			.data_offset = cpu_to_le16(24),
			.total_len = cpu_to_le32(32),
			.data_len = cpu_to_le32(8),
		};
		struct kvmbus_pkt_trailer t = { .start = cpu_to_le32(8) };
		uint32_t w = c.out.wr;

		memcpy(c.out.data + w, &d, sizeof(d));
		memcpy(c.out.data + w + 32, &t, sizeof(t));
		c.out.wr = w + 40;
		chan_kick(e, &c);
		assert_int_equal(host_chan(e, 3)->state, CHAN_BROKEN);
	}
	assert_int_equal(e->c.chan_env.broken, 3);
	guest_close(e, &b);
	guest_close(e, &c);

	/* A guest that rebooted silently and cleared the pages. */
	assert_int_equal(guest_open(e, &a, 1, 3, 3), 0);
	memset(a.view.addr + 3 * PAGE, 0, PAGE);	/* h->g header */
	chan_ring(e, &a);
	assert_int_equal(host_chan(e, 1)->state, CHAN_BROKEN);
	for (size_t i = 0; i < PAGE; i++)
		if (a.view.addr[3 * PAGE + i])
			fail_msg("byte %zu of the cleared header written", i);
	guest_close(e, &a);
	assert_int_equal(ctl_recv(e, msg), 0);
	env_free(e);
}

/* With 2 vectors every device shares vector 1: one doorbell serves all. */
static void test_shared_vector(void **state)
{
	struct env *e = env_new(2, 3);
	struct kvmbus_pkt_info pi;
	struct gchan g[3];
	unsigned int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		assert_int_equal(guest_open(e, &g[i], i + 1, 2, 2), 0);
		assert_int_equal(g[i].vector, 1);
		chan_put(&g[i], KVMBUS_PKT_INBAND, KVMBUS_PKT_F_COMP_REQUESTED,
			 NULL, 0, &i, sizeof(i));
		kvmbus_ring_commit(&g[i].out);
	}
	e->sig[1] = 0;
	chan_ring(e, &g[0]);
	assert_int_equal(e->sig[1], 3);		/* one per channel */
	for (i = 0; i < 3; i++) {
		assert_int_equal(chan_get(e, &g[i], &pi), 0);
		assert_int_equal(host_chan(e, i + 1)->stats.doorbells, 1);
		guest_close(e, &g[i]);
	}
	env_free(e);
}

/* ---- tests: JSON ------------------------------------------------------------ */

static struct json_object *jget(struct json_object *o, const char *path)
{
	char key[64];
	const char *dot;

	while ((dot = strchr(path, '.'))) {
		memcpy(key, path, (size_t)(dot - path));
		key[dot - path] = 0;
		assert_true(json_object_object_get_ex(o, key, &o));
		path = dot + 1;
	}
	assert_true(json_object_object_get_ex(o, path, &o));
	return o;
}

static struct json_object *echo_send_json(struct env *e, const char *text,
					  int want)
{
	struct json_object *req = json_tokener_parse(text);
	struct json_object *resp = json_object_new_object();

	assert_non_null(req);
	assert_int_equal(ctl_cmd_echo_send(&e->c, req, resp), want);
	json_object_put(req);
	return resp;
}

static void test_json(void **state)
{
	struct env *e = env_new(8, 2);
	struct json_object *r, *d;
	struct gchan gc;

	(void)state;
	json_object_put(echo_send_json(e, "{\"id\":1,\"count\":1,\"size\":1}",
				       -ENOTCONN));
	assert_int_equal(guest_open(e, &gc, 1, 2, 2), 0);
	echo_once(e, &gc, 16);

	r = echo_send_json(e, "{\"id\":1,\"count\":5,\"size\":10}", 0);
	assert_int_equal(json_object_get_int(jget(r, "pending")), 0);
	assert_string_equal(json_object_get_string(jget(r, "channel.state")),
			    "open");
	json_object_put(r);
	check_sent(e, &gc, 1, 5, 10);
	r = echo_send_json(e, "{\"id\":9,\"count\":5,\"size\":10}", -ENOENT);
	assert_string_equal(json_object_get_string(jget(r, "error")),
			    "no device 9");
	json_object_put(r);
	json_object_put(echo_send_json(e, "{\"id\":1,\"count\":0,\"size\":10}",
				       -EINVAL));
	json_object_put(echo_send_json(e, "{\"id\":1,\"count\":1,\"size\":-1}",
				       -EMSGSIZE));
	json_object_put(echo_send_json(e, "{\"id\":1,\"count\":1,\"size\":5000}",
				       -EMSGSIZE));
	json_object_put(echo_send_json(e, "{\"id\":1,\"count\":1}", -EINVAL));
	json_object_put(echo_send_json(e, "{\"id\":\"1\",\"count\":1,\"size\":1}",
				       -EINVAL));

	r = json_object_new_object();
	assert_int_equal(ctl_cmd_devices(&e->c, NULL, r), 0);
	d = json_object_array_get_idx(jget(r, "devices"), 0);
	assert_string_equal(json_object_get_string(jget(d, "channel.state")),
			    "open");
	assert_int_equal(json_object_get_int(jget(d, "channel.gpadl")),
			 gc.gpadl);
	assert_int_equal(json_object_get_int(jget(d, "channel.counters.packets_in")), 1);
	assert_int_equal(json_object_get_int(jget(d, "channel.counters.packets_out")), 6);
	assert_int_equal(json_object_get_int(jget(d, "channel.counters.completions")), 1);
	assert_int_equal(json_object_get_int(jget(d, "channel.echo.echoed")), 1);
	assert_int_equal(json_object_get_int(jget(d, "channel.echo.sent")), 5);
	d = json_object_array_get_idx(jget(r, "devices"), 1);
	assert_string_equal(json_object_get_string(jget(d, "channel.state")),
			    "closed");
	json_object_put(r);

	r = json_object_new_object();
	ctl_status_json(&e->c, r);
	assert_int_equal(json_object_get_int(jget(r, "ctl.channels_open")), 1);
	assert_int_equal(json_object_get_int(jget(r, "ctl.gpadls")), 1);
	assert_int_equal(json_object_get_int(jget(r, "ctl.gpadl_pages")), 4);
	assert_int_equal(json_object_get_int(jget(r, "ctl.counters.opens")), 1);
	json_object_put(r);
	guest_close(e, &gc);
	env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_echo_close),
		cmocka_unit_test(test_open_refused),
		cmocka_unit_test(test_subchannels),
		cmocka_unit_test(test_closed_under_the_guest),
		cmocka_unit_test(test_echo_batch),
		cmocka_unit_test(test_echo_gpa),
		cmocka_unit_test(test_echo_gpa_refused),
		cmocka_unit_test(test_echo_ring_full),
		cmocka_unit_test(test_guest_waits_for_room),
		cmocka_unit_test(test_echo_send),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_shared_vector),
		cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests_name("chan", tests, NULL, NULL);
}
