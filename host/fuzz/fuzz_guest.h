/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Shared by the fuzz targets that play a guest (fuzz_ctl, fuzz_gpadl,
 * fuzz_echo): a guest played with the guest's own ring code in a memfd of
 * guest RAM split around a RAM hole (FG_LOW_PAGES at GPA 0, FG_HIGH_PAGES
 * at GPA 4 GiB), connected and negotiated through the functions the daemon
 * calls, every control reply checked, and the invariants the host must
 * keep whatever the guest does.
 *
 * The RAM is a real file, so ring views are real mappings with a guard
 * page behind them: a stray access past a view faults.
 */
#ifndef KVMBUSD_FUZZ_GUEST_H
#define KVMBUSD_FUZZ_GUEST_H

#include <errno.h>
#include <json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ctl.h"
#include "guestmem.h"

#define FG_PAGE		4096u
#define FG_LOW_PAGES	96u
#define FG_HIGH_PAGES	64u
#define FG_RAM		((FG_LOW_PAGES + FG_HIGH_PAGES) * FG_PAGE)
#define FG_HIGH_PFN	((1ull << 32) / FG_PAGE)
#define FG_CTL_PAGES	3u		/* per control ring, at GPA 0: the
					 * default of fg.ctl_pages */
#ifndef FG_VECTORS			/* a target may ask for more */
#define FG_VECTORS	4u		/* devices share vectors 1..3 */
#endif

struct fg {
	struct guestmem gm;
	struct kvmbus_bar_hdr hdr;
	struct bar bar;
	struct kvmbus_ring out, in;	/* the guest's control rings */
	uint32_t ctl_pages;		/* per control ring (2..5) */
	uint32_t gen;
	uint64_t tid;
	/* Cleared once the guest may have written into its own control
	 * rings (an echo FILL aimed there by garbage in a channel ring):
	 * then a bad control packet may be the guest's own doing. */
	bool strict;
	uint64_t buf[4096 / 8];
	struct ctl c;
};

static inline int fg_no_signal(void *opaque, unsigned int vector)
{
	(void)opaque;
	if (vector >= FG_VECTORS)
		abort();
	return 0;
}

static const struct ctl_ops fg_ops = { .signal = fg_no_signal };

static struct fg *fg_get(const char *name)
{
	static struct fg *f;
	struct guestmem_layout l;
	int fd;

	if (f)
		return f;
	/* Guest-triggered warnings are the point here: keep quiet, unless
	 * KVMBUS_FUZZ_VERBOSE is set (to see what a seed does). */
	log_init(name, LOG_TO_STDERR,
		 getenv("KVMBUS_FUZZ_VERBOSE") ? LOG_DEBUG : LOG_ERR);
	f = calloc(1, sizeof(*f));
	fd = memfd_create("fuzz-ram", MFD_CLOEXEC);
	if (!f || fd < 0 || ftruncate(fd, FG_RAM) ||
	    guestmem_layout_fixed(FG_RAM, FG_LOW_PAGES * FG_PAGE, &l) ||
	    guestmem_open_fd(&f->gm, fd, "memfd", &l))
		abort();
	return f;
}

/* Every control message the host sends: well-formed, of a known type. */
static inline void fg_check_reply(const uint8_t *msg, uint32_t len)
{
	static const uint8_t echo[] = KVMBUS_CLASS_ECHO_BYTES;
	struct kvmbus_ctl_subchannels_result sr;
	struct kvmbus_ctl_version_resp vr;
	struct kvmbus_ctl_offer o;
	struct kvmbus_ctl_result res;
	struct kvmbus_ctl_relid r;
	struct kvmbus_ctl_hdr h;

	if (len < sizeof(h))
		abort();
	memcpy(&h, msg, sizeof(h));
	switch (le32_to_cpu(h.type)) {
	case KVMBUS_CTL_VERSION_RESP:
		if (len != sizeof(vr))
			abort();
		memcpy(&vr, msg, sizeof(vr));
		if (vr.version && (le32_to_cpu(vr.version) !=
				   KVMBUS_VERSION_1_0 ||
				   le32_to_cpu(vr.max_channels) != CHAN_MAX))
			abort();
		break;
	case KVMBUS_CTL_OFFER:
		if (len != sizeof(o))
			abort();
		memcpy(&o, msg, sizeof(o));
		if (!o.relid || le32_to_cpu(o.relid) > CHAN_MAX ||
		    !o.vector || le16_to_cpu(o.vector) >= FG_VECTORS ||
		    memcmp(o.class_id, echo, sizeof(echo)) ||
		    le32_to_cpu(o.data_len) > KVMBUS_OFFER_DATA_MAX ||
		    le16_to_cpu(o.max_subchannels) > KVMBUS_MAX_SUBCHANNELS ||
		    !(le16_to_cpu(o.flags) & KVMBUS_OFFER_F_SUBCHANNEL) !=
		    !o.sub_index ||
		    le16_to_cpu(o.sub_index) > le16_to_cpu(o.max_subchannels))
			abort();
		break;
	case KVMBUS_CTL_RESCIND:
		if (len != sizeof(r))
			abort();
		memcpy(&r, msg, sizeof(r));
		if (!r.relid || le32_to_cpu(r.relid) > CHAN_MAX)
			abort();
		break;
	case KVMBUS_CTL_SUBCHANNELS_RESULT:
		if (len != sizeof(sr))
			abort();
		memcpy(&sr, msg, sizeof(sr));
		if (le32_to_cpu(sr.status) >= 4096 ||
		    le32_to_cpu(sr.count) > KVMBUS_MAX_SUBCHANNELS)
			abort();
		break;
	case KVMBUS_CTL_ALL_OFFERS_DONE:
	case KVMBUS_CTL_UNLOAD_RESP:
		if (len != sizeof(h))
			abort();
		break;
	case KVMBUS_CTL_GPADL_CREATED:
	case KVMBUS_CTL_GPADL_TORNDOWN:
	case KVMBUS_CTL_OPEN_RESULT:
	case KVMBUS_CTL_CLOSE_RESULT:
		if (len != sizeof(res))
			abort();
		memcpy(&res, msg, sizeof(res));
		if (le32_to_cpu(res.status) >= 4096)
			abort();	/* a positive errno */
		break;
	default:
		abort();
	}
}

static inline void fg_connect(struct fg *f);
static inline void fg_negotiate(struct fg *f);

/*
 * The guest reads the control replies, whatever state the host is in (a
 * broken connection leaves well-formed replies behind).
 */
static inline void fg_read(struct fg *f)
{
	struct kvmbus_pkt_info pi;
	int n, ret;

	for (n = 0; n < 1000; n++) {
		ret = kvmbus_ring_get(&f->in, f->buf, sizeof(f->buf), &pi);
		if (ret == -EAGAIN)
			break;
		if (ret && !f->strict) {
			/* The guest scribbled over its own ring: it
			 * starts again, as a guest driver would. */
			fg_connect(f);
			fg_negotiate(f);
			return;
		}
		if (ret || pi.type != KVMBUS_PKT_INBAND)
			abort();	/* the host wrote a bad packet */
		if (f->strict)
			fg_check_reply((const uint8_t *)f->buf + pi.data_offset,
				       pi.data_len);
	}
	/* A release that made the room the host waits for rings vector 0. */
	if (kvmbus_ring_release(&f->in))
		while (ctl_doorbell(&f->c))
			;
}

/* The guest reads the control replies of an online connection. */
static inline void fg_drain(struct fg *f)
{
	if (f->c.state == CTL_ONLINE)
		fg_read(f);
}

/* One control message, as ctl_poll() would take it. */
static inline void fg_msg(struct fg *f, const void *msg, uint32_t len)
{
	if (ctl_out_pending(&f->c))
		fg_drain(f);
	if (ctl_out_pending(&f->c) || f->c.state != CTL_ONLINE)
		return;
	ctl_handle_msg(&f->c, msg, len, ++f->tid);
	ctl_send(&f->c);
	fg_drain(f);
}

/* The guest (re)connects: fresh control rings at GPA 0, a new generation. */
static inline void fg_connect(struct fg *f)
{
	uint8_t *m = f->gm.base;
	uint32_t pages = f->ctl_pages;
	uint32_t size = (pages - 1) * FG_PAGE;

	kvmbus_ring_create(&f->out, (void *)m, m + FG_PAGE, size);
	kvmbus_ring_create(&f->in, (void *)(m + pages * FG_PAGE),
			   m + (pages + 1) * FG_PAGE, size);
	f->hdr.ctl_ring_pages = cpu_to_le32(pages);
	f->hdr.ctl_gpa = 0;
	f->hdr.guest_generation = cpu_to_le32(++f->gen);
	f->hdr.guest_state = cpu_to_le32(KVMBUS_MBOX_CONNECT);
	ctl_doorbell(&f->c);
	if (f->c.state != CTL_ONLINE ||
	    le32_to_cpu(f->hdr.host_state) != KVMBUS_MBOX_ONLINE ||
	    le32_to_cpu(f->hdr.acked_generation) != f->gen)
		abort();
}

/* The guest resets the connection through the mailbox. */
static inline void fg_mbox_reset(struct fg *f)
{
	f->hdr.guest_state = cpu_to_le32(KVMBUS_MBOX_RESET);
	ctl_doorbell(&f->c);
	if (f->c.state != CTL_IDLE ||
	    le32_to_cpu(f->hdr.host_state) != KVMBUS_MBOX_IDLE)
		abort();
}

/* QEMU goes and a new one comes: kvmbusd sees a fresh, empty mailbox. */
static inline void fg_new_qemu(struct fg *f)
{
	ctl_disconnect(&f->c);
	memset(&f->hdr, 0, sizeof(f->hdr));
	f->gen = 0;
}

static inline void fg_negotiate(struct fg *f)
{
	const struct kvmbus_ctl_version_req v = {
		.hdr.type = cpu_to_le32(KVMBUS_CTL_VERSION_REQ),
		.version_min = cpu_to_le32(KVMBUS_VERSION_1_0),
		.version_max = cpu_to_le32(KVMBUS_VERSION_1_0),
	};
	const struct kvmbus_ctl_hdr ro = {
		.type = cpu_to_le32(KVMBUS_CTL_REQUEST_OFFERS),
	};

	fg_msg(f, &v, sizeof(v));
	fg_msg(f, &ro, sizeof(ro));
}

/* A fresh guest RAM and control plane, no device, not connected. */
static inline void fg_init(struct fg *f)
{
	unsigned int i;

	/* The last input's devices own their configuration (state.h);
	 * everything else of theirs lives in this static struct. */
	for (i = 0; i < DEV_MAX; i++) {
		json_object_put(f->c.devs.slot[i].params);
		json_object_put(f->c.devs.slot[i].sets);
		f->c.devs.slot[i].params = NULL;
		f->c.devs.slot[i].sets = NULL;
	}
	memset(f->gm.base, 0, FG_RAM);
	memset(&f->hdr, 0, sizeof(f->hdr));
	f->bar = (struct bar){ .fd = -1, .hdr = &f->hdr, .size = 4096,
			       .nr_vectors = FG_VECTORS };
	ctl_init(&f->c, &f->bar, &f->gm, FG_VECTORS, &fg_ops, NULL);
	f->ctl_pages = FG_CTL_PAGES;
	f->gen = 0;
	f->tid = 0;
	f->strict = true;
}

/* A fresh guest RAM, control plane with @devices echo devices, online. */
static inline void fg_reset(struct fg *f, unsigned int devices)
{
	struct device *dev;
	unsigned int i;

	fg_init(f);
	for (i = 0; i < devices; i++)
		if (ctl_device_add(&f->c, dev_class_find("echo"), &dev))
			abort();
	fg_connect(f);
	fg_negotiate(f);
}

/* Serve every channel until nothing is left (bounded). */
static inline void fg_serve(struct fg *f, unsigned int vector)
{
	int i;

	ctl_chan_doorbell(&f->c, vector, 1);
	for (i = 0; i < 10000 && ctl_chans_poll(&f->c); i++)
		;
	if (i == 10000)
		abort();	/* a pass that never finishes */
}

/* What the host holds must add up, whatever the guest did. */
static inline void fg_check(struct fg *f)
{
	const struct gpadls *gs = &f->c.gpadls;
	uint64_t pages = 0, runs = 0, bytes;
	unsigned int i, j, live = 0, users;

	for (i = 0; i < GPADL_MAX; i++) {
		const struct gpadl *g = &gs->slot[i];

		if (!g->id)
			continue;
		live++;
		pages += g->total_pages;
		runs += g->nr_runs;
		if (g->pages > g->total_pages || !g->total_pages ||
		    g->total_pages > KVMBUS_GPADL_MAX_PAGES ||
		    g->nr_runs > g->cap_runs || g->nr_runs > g->pages)
			abort();
		bytes = 0;
		for (j = 0; j < g->nr_runs; j++) {
			const struct guestmem_run *r = &g->runs[j];

			if (!r->len || (r->off | r->len) % FG_PAGE ||
			    r->off + r->len > FG_RAM)
				abort();
			bytes += r->len;
		}
		if (bytes != (uint64_t)g->pages * FG_PAGE)
			abort();
		users = 0;
		for (j = 0; j < DEV_MAX; j++)
			users += chan_in_use(&f->c.chans[j]) &&
				 f->c.chans[j].gpadl == g;
		if (users != g->users || users > 1)
			abort();
	}
	if (live != gs->count || pages != gs->pages || runs != gs->runs ||
	    gs->count > GPADL_MAX || gs->pages > GPADL_CONN_MAX_PAGES ||
	    gs->runs > GPADL_CONN_MAX_RUNS)
		abort();

	for (i = 0; i < DEV_MAX; i++) {
		const struct chan *ch = &f->c.chans[i];
		const struct device *dev = &f->c.devs.slot[i];

		if (!chan_in_use(ch)) {
			if (ch->view.addr || ch->rxbuf || ch->priv || ch->more)
				abort();
			continue;
		}
		if (f->c.state != CTL_ONLINE || dev->state != DEV_OFFERED ||
		    !dev->sent || ch->relid != i + 1 ||
		    ch->vector != dev->vector || !ch->gpadl ||
		    !gpadl_complete(ch->gpadl) ||
		    ch->gpadl->id != ch->gpadl_id ||
		    ch->view.len != (size_t)ch->gpadl->total_pages * FG_PAGE ||
		    ch->g2h_pages + ch->h2g_pages != ch->gpadl->total_pages)
			abort();
		if (ch->state == CHAN_OPEN &&
		    (!kvmbus_ring_index_ok(ch->rx.rd, ch->rx.size) ||
		     !kvmbus_ring_index_ok(ch->tx.wr, ch->tx.size)))
			abort();
	}
	if (f->c.outq_len > CTL_OUTQ_LEN)
		abort();
}

/* Everything of this input goes; nothing may leak into the next. */
static inline void fg_done(struct fg *f)
{
	unsigned int i;

	ctl_disconnect(&f->c);
	for (i = 0; i < DEV_MAX; i++)
		if (chan_in_use(&f->c.chans[i]))
			abort();
	if (f->c.gpadls.count || f->c.gpadls.pages || f->c.gpadls.runs)
		abort();
}

#endif /* KVMBUSD_FUZZ_GUEST_H */
