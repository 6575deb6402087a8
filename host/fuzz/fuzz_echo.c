// SPDX-License-Identifier: GPL-2.0-only
/*
 * The echo VSP on an open channel as a hostile guest drives it: packets
 * of every type put with the guest's own ring code (in-band with and
 * without a completion request, GPA requests with ranges in and around
 * guest RAM, completions), raw bytes and indices written into the rings,
 * host-initiated sends, the guest reading (or not) and scribbling over
 * the host->guest ring header, all served by the daemon's own calls
 * (ctl_chan_doorbell(), ctl_chans_poll()).
 *
 * Checked: the host never faults (the ring view has a guard page, guest
 * RAM is a real file), terminates, keeps fuzz_guest.h's invariants, and,
 * while the guest plays by the rules, never breaks the channel and
 * answers exactly what echo.h says, in order: the same payload for an
 * echo, a well-formed struct kvmbus_echo_gpa_resp for a GPA request,
 * trans_id 1, 2, ... and the (trans_id + i) pattern for host packets.
 *
 * Input: [g2h pages - 2][h2g pages - 2] then records [op][len lo][len hi]
 * [len bytes]; op % 8: 0 in-band, 1 GPA request, 2 completion, 3 raw
 * bytes and a write index, 4 doorbell, 5 guest reads, 6 echo-send,
 * 7 the guest scribbles the host->guest header.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <kvmbus/echo.h>

#include "fuzz_ops.h"
#include "fuzz_guest.h"
#include "vsp_echo.h"

#define RING_PFN	16u		/* the ring GPADL: pages 16.. of low RAM */
#define DATA_GPA	(48u * FG_PAGE)	/* GPA requests aim at pages 48.. */
#define EXPECT_MAX	4096u

struct exp {
	uint64_t tid;
	uint16_t type;		/* KVMBUS_PKT_INBAND: an echo, else GPA */
	uint32_t len;
	uint32_t sum;		/* of the echo's payload bytes */
};

struct fe {
	struct kvmbus_ring out, in;	/* the guest's channel rings */
	struct guestmem_view view;
	uint16_t vector;
	uint64_t tid;
	bool clean;			/* the guest plays by the rules */
	struct exp exp[EXPECT_MAX];	/* replies owed, in order */
	unsigned int exp_head, exp_len;
	uint64_t host_seq;		/* last host-initiated trans_id */
	uint8_t buf[KVMBUS_PKT_MAX_LEN];
};

static uint32_t sum8(const uint8_t *p, uint32_t n)
{
	uint32_t s = 0;

	while (n--)
		s = s * 31 + *p++;
	return s;
}

/* The channel: 2..5 pages each way, backwards in low RAM. */
static void open_chan(struct fg *f, struct fe *e, uint32_t g2h, uint32_t h2g)
{
	uint8_t msg[sizeof(struct kvmbus_ctl_gpadl) + 10 * 16];
	struct kvmbus_ctl_gpadl m = {
		.hdr.type = cpu_to_le32(KVMBUS_CTL_GPADL_CREATE),
		.gpadl_id = cpu_to_le32(1),
		.total_pages = cpu_to_le32(g2h + h2g),
		.nr_ranges = cpu_to_le32(g2h + h2g),
	};
	struct kvmbus_ctl_open o = {
		.hdr.type = cpu_to_le32(KVMBUS_CTL_OPEN),
		.relid = cpu_to_le32(1),
		.ring_gpadl = cpu_to_le32(1),
		.g2h_pages = cpu_to_le32(g2h),
	};
	struct guestmem_run runs[10];
	struct kvmbus_pfn_range r = { .nr_pages = cpu_to_le32(1) };
	uint32_t i, n = g2h + h2g;
	uint8_t *v;

	memcpy(msg, &m, sizeof(m));
	for (i = 0; i < n; i++) {
		uint64_t pfn = RING_PFN + 2 * (n - i);

		r.pfn = cpu_to_le64(pfn);
		memcpy(msg + sizeof(m) + i * sizeof(r), &r, sizeof(r));
		runs[i] = (struct guestmem_run){ pfn * FG_PAGE, FG_PAGE };
	}
	if (guestmem_view_map(&f->gm, runs, n, &e->view))
		abort();
	v = e->view.addr;
	kvmbus_ring_create(&e->out, (void *)v, v + FG_PAGE,
			   (g2h - 1) * FG_PAGE);
	kvmbus_ring_create(&e->in, (void *)(v + g2h * FG_PAGE),
			   v + (g2h + 1) * FG_PAGE, (h2g - 1) * FG_PAGE);
	fg_msg(f, msg, sizeof(m) + n * sizeof(r));
	fg_msg(f, &o, sizeof(o));
	if (f->c.chans[0].state != CHAN_OPEN)
		abort();
	e->vector = f->c.chans[0].vector;
}

static void expect(struct fe *e, uint64_t tid, uint16_t type, uint32_t len,
		   uint32_t sum)
{
	if (e->exp_len == EXPECT_MAX) {
		e->clean = false;	/* stop checking, keep fuzzing */
		return;
	}
	e->exp[(e->exp_head + e->exp_len++) % EXPECT_MAX] =
		(struct exp){ tid, type, len, sum };
}

static void put(struct fg *f, struct fe *e, struct kvmbus_ring_pkt *p)
{
	int ret;

	p->trans_id = ++e->tid;
	ret = kvmbus_ring_put(&e->out, p);
	if (ret == -ENOSPC) {
		/* A guest waits for room: let the host take some. */
		kvmbus_ring_commit(&e->out);
		fg_serve(f, e->vector);
		ret = kvmbus_ring_put(&e->out, p);
	}
	if (ret) {
		--e->tid;
		return;
	}
	if (p->type == KVMBUS_PKT_INBAND &&
	    p->flags & KVMBUS_PKT_F_COMP_REQUESTED)
		expect(e, p->trans_id, KVMBUS_PKT_INBAND, p->data_len,
		       sum8(p->data, p->data_len));
	else if (p->type == KVMBUS_PKT_GPA)
		expect(e, p->trans_id, KVMBUS_PKT_GPA, 0, 0);
}

static void op_inband(struct fg *f, struct fe *e, const uint8_t *d,
		      uint32_t len)
{
	struct kvmbus_ring_pkt p = { .type = KVMBUS_PKT_INBAND };
	uint32_t out_size = e->in.size - KVMBUS_RING_GAP;

	if (len) {
		p.flags = d[0] & 1 ? KVMBUS_PKT_F_COMP_REQUESTED : 0;
		if (d[0] & 0x80) {	/* an unknown flag breaks the ring */
			p.flags |= 2;
			e->clean = false;
		}
		d++;
		len--;
	}
	p.data = d;
	p.data_len = len;
	/* An echo the host->guest ring can never carry is dropped. */
	if (p.flags & KVMBUS_PKT_F_COMP_REQUESTED &&
	    kvmbus_pkt_ring_len(0, len) > out_size)
		p.flags &= (uint16_t)~KVMBUS_PKT_F_COMP_REQUESTED;
	put(f, e, &p);
}

/* A GPA request: [op][seed][n] then 5 bytes per range. */
static void op_gpa(struct fg *f, struct fe *e, const uint8_t *d, uint32_t len)
{
	struct {
		struct kvmbus_gpa_list l;
		struct kvmbus_gpa_range r[8];
	} h = { 0 };
	struct kvmbus_echo_gpa_req req = { 0 };
	struct kvmbus_ring_pkt p = { .type = KVMBUS_PKT_GPA };
	uint32_t n = 0, i, req_len = sizeof(req);
	uint64_t gpa;

	if (len >= 3) {
		req.op = cpu_to_le32(d[0] % 4);
		req.seed = cpu_to_le32(d[1]);
		n = d[2] % 9;
		if (d[2] & 0x80)
			req_len = d[2] & 7;	/* short of a request */
		d += 3;
		len -= 3;
	}
	for (i = 0; i < n && len >= 5; i++, d += 5, len -= 5) {
		/* Pages 48.. of low RAM, the hole's edges, high RAM, far. */
		switch (d[0] % 5) {
		case 0:
		case 1:
			gpa = DATA_GPA + (d[1] | d[2] << 8) %
			      (FG_LOW_PAGES * FG_PAGE - DATA_GPA);
			break;
		case 2:
			gpa = FG_LOW_PAGES * FG_PAGE - 64 + d[1];
			break;
		case 3:
			gpa = (FG_HIGH_PFN * FG_PAGE) +
			      (d[1] | d[2] << 8) % (FG_HIGH_PAGES * FG_PAGE);
			break;
		default:
			gpa = UINT64_MAX - d[1];
			break;
		}
		h.r[i].gpa = cpu_to_le64(gpa);
		h.r[i].len = cpu_to_le32((uint32_t)d[3] << (d[4] % 12));
	}
	h.l.nr_ranges = cpu_to_le32(n);
	p.hdr = &h;
	p.hdr_len = sizeof(h.l) + i * sizeof(h.r[0]);
	p.data = &req;
	p.data_len = req_len;
	put(f, e, &p);
}

static void op_raw(struct fg *f, struct fe *e, const uint8_t *d, uint32_t len)
{
	uint32_t w, n;

	if (len < 4)
		return;
	memcpy(&w, d, 4);
	n = len - 4 > e->out.size ? e->out.size : len - 4;
	memcpy(e->out.data, d + 4, n);
	e->out.hdr->write_index = w;	/* any value: ring.c checks it */
	e->clean = false;
	fg_serve(f, e->vector);
}

/* The guest reads up to @n packets and checks each against what it is
 * owed.  Return: packets read. */
static unsigned int op_read(struct fg *f, struct fe *e, unsigned int n)
{
	struct kvmbus_echo_gpa_resp resp;
	struct kvmbus_pkt_info pi;
	const uint8_t *pl;
	struct exp x;
	unsigned int got = 0;
	uint32_t i;
	int ret;

	for (; n; n--, got++) {
		ret = kvmbus_ring_get(&e->in, e->buf, sizeof(e->buf), &pi);
		if (ret == -EAGAIN)
			break;
		if (ret) {
			if (e->clean)
				abort();	/* the host wrote a bad packet */
			break;
		}
		if (!e->clean)
			continue;
		pl = e->buf + pi.data_offset;
		if (pi.flags)
			abort();
		if (pi.type == KVMBUS_PKT_INBAND) {
			/* Host-initiated: the sequence and the pattern. */
			if (pi.trans_id != ++e->host_seq)
				abort();
			for (i = 0; i < pi.data_len; i++)
				if (pl[i] != (uint8_t)(pi.trans_id + i))
					abort();
			continue;
		}
		if (pi.type != KVMBUS_PKT_COMP || !e->exp_len)
			abort();
		x = e->exp[e->exp_head];
		e->exp_head = (e->exp_head + 1) % EXPECT_MAX;
		e->exp_len--;
		if (pi.trans_id != x.tid)
			abort();
		if (x.type == KVMBUS_PKT_INBAND) {
			if (pi.data_len != x.len || sum8(pl, x.len) != x.sum)
				abort();
			continue;
		}
		if (pi.data_len != sizeof(resp))
			abort();
		memcpy(&resp, pl, sizeof(resp));
		switch (le32_to_cpu(resp.status)) {
		case 0:
			if (le64_to_cpu(resp.bytes) > ECHO_GPA_MAX_BYTES)
				abort();
			break;
		case EFAULT:
		case E2BIG:
		case EINVAL:
			if (resp.bytes || resp.sum)
				abort();
			break;
		default:
			abort();
		}
	}
	/* The release that made the room the host waits for rings. */
	if (kvmbus_ring_release(&e->in))
		fg_serve(f, e->vector);
	return got;
}

static void op_scribble(struct fg *f, struct fe *e, const uint8_t *d,
			uint32_t len)
{
	uint32_t v = 0;

	if (!len)
		return;
	memcpy(&v, d + 1, len > 4 ? 4 : len - 1);
	switch (d[0] % 4) {
	case 0:
		e->in.hdr->read_index = v;
		break;
	case 1:
		e->in.hdr->pending_send_sz = v;
		break;
	case 2:
		e->in.hdr->interrupt_mask = v;
		break;
	default:
		e->in.hdr->features = v;
		break;
	}
	/* The mask is the guest's to set; the others lie. */
	if (d[0] % 4 != 2)
		e->clean = false;
	fg_serve(f, e->vector);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fe *e;
	struct fg *f = fg_get("fuzz_echo");
	struct kvmbus_ring_pkt comp = { .type = KVMBUS_PKT_COMP };
	struct chan *ch = &f->c.chans[0];
	uint32_t len;
	uint8_t op;

	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			abort();
	}
	if (size < 2)
		return 0;
	fg_reset(f, 1);
	/* Only echo GPA ranges can reach the control rings: they aim at
	 * pages 48.. of low RAM, high RAM or nowhere. */
	memset(e, 0, offsetof(struct fe, buf));
	e->clean = true;
	open_chan(f, e, 2 + data[0] % 4, 2 + data[1] % 4);
	data += 2;
	size -= 2;

	while (fuzz_op_header(&data, &size, &op, &len)) {
		switch (op % 8) {
		case 0:
			op_inband(f, e, data, len);
			break;
		case 1:
			op_gpa(f, e, data, len);
			break;
		case 2:
			comp.data = data;
			comp.data_len = len;
			put(f, e, &comp);
			break;
		case 3:
			op_raw(f, e, data, len);
			break;
		case 4:
			kvmbus_ring_commit(&e->out);
			fg_serve(f, e->vector);
			break;
		case 5:
			op_read(f, e, len ? data[0] : 1000);
			break;
		case 6:
			if (len >= 3 && ch->state == CHAN_OPEN)
				vsp_echo_send(ch, data[0] % 64 + 1,
					      (uint32_t)(data[1] | data[2] << 8) %
					      3000);
			fg_serve(f, e->vector);
			break;
		default:
			op_scribble(f, e, data, len);
			break;
		}
		if (e->clean && ch->state != CHAN_OPEN)
			abort();	/* broken by a guest that played fair */
		fg_check(f);
		data += len;
		size -= len;
	}
	/* Everything owed arrives once the guest reads. */
	kvmbus_ring_commit(&e->out);
	fg_serve(f, e->vector);
	while (e->exp_len && ch->state == CHAN_OPEN && op_read(f, e, 1000))
		;
	if (e->clean && e->exp_len)
		abort();
	guestmem_view_unmap(&e->view);
	fg_done(f);
	return 0;
}
