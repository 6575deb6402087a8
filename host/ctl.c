// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbusd's control plane: mailbox handshake and control protocol.
 * See ctl.h for the rules this file keeps.
 */
#include <errno.h>
#include <json.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "guestmem.h"

const char *ctl_state_name(enum ctl_state state)
{
	switch (state) {
	case CTL_ONLINE:
		return "online";
	case CTL_BROKEN:
		return "broken";
	default:
		return "idle";
	}
}

void ctl_init(struct ctl *c, struct bar *bar, struct guestmem *gm,
	      unsigned int nr_vectors, const struct ctl_ops *ops,
	      void *opaque)
{
	memset(c, 0, sizeof(*c));
	c->bar = bar;
	c->gm = gm;
	c->ops = ops;
	c->opaque = opaque;
	devices_init(&c->devs, nr_vectors);
	gpadls_init(&c->gpadls);
	ratelimit_init(&c->rl_conn, 5000, 10);
	ratelimit_init(&c->rl_msg, 5000, 10);
	ratelimit_init(&c->rl_chan, 5000, 10);
	c->chan_env = (struct chan_env){
		.gm = gm,
		.signal = ops ? ops->signal : NULL,
		.opaque = opaque,
		.rl = &c->rl_chan,
		.gpadls = &c->gpadls,
	};
}

static void ctl_signal(struct ctl *c)
{
	int ret = 0;

	if (c->ops && c->ops->signal)
		ret = c->ops->signal(c->opaque, KVMBUS_CTL_VECTOR);
	if (ret)
		c->stats.signal_errors++;
	else
		c->stats.signals++;
}

bool ctl_out_pending(const struct ctl *c)
{
	return c->outq_len != 0;
}

/* --- connection state ---------------------------------------------- */

/* Close every channel and forget every GPADL: afterwards kvmbusd touches
 * no page the guest described on this connection. */
static void ctl_close_all(struct ctl *c)
{
	unsigned int i;

	for (i = 0; i < CHAN_MAX; i++) {
		if (chan_in_use(&c->chans[i])) {
			chan_close(&c->chans[i]);
			c->stats.chan_closed_by_host++;
		}
	}
	gpadls_drop_all(&c->gpadls);
}

/* The guest let go of every offer: RELEASING devices are gone with it,
 * and so are the sub-channels of the others (a guest asks again). */
static void ctl_forget_offers(struct ctl *c)
{
	struct device *dev;
	unsigned int i;

	for (i = 0; i < DEV_MAX; i++) {
		dev = &c->devs.slot[i];
		if (dev->state == DEV_RELEASING) {
			devices_free(&c->devs, dev);
		} else if (dev->state != DEV_FREE) {
			dev->sent = false;
			devices_drop_subchannels(&c->devs, dev);
		}
	}
	c->offers_requested = false;
}

/* Stop touching the control rings and forget everything of the guest's. */
static void ctl_drop(struct ctl *c)
{
	ctl_close_all(c);
	ctl_forget_offers(c);
	c->state = CTL_IDLE;
	c->generation = 0;
	memset(&c->rx, 0, sizeof(c->rx));
	memset(&c->tx, 0, sizeof(c->tx));
	c->rx_features = 0;
	c->tx_features = 0;
	c->version = 0;
	c->features = 0;
	c->broken_why = NULL;
	c->outq_head = 0;
	c->outq_len = 0;
}

/*
 * The guest broke a ring or the protocol: ignore it until it reconnects.
 * host_state stays ONLINE (the guest finds out through its own checks);
 * kvmbusd goes on serving everything else.  Its channels are closed and
 * its GPADLs forgotten: a guest that cannot be talked to cannot close
 * them, and one that rebooted silently may be reusing their pages.
 */
static void ctl_break(struct ctl *c, const char *why)
{
	if (c->state != CTL_ONLINE)
		return;
	ctl_close_all(c);
	c->state = CTL_BROKEN;
	c->broken_why = why;
	c->outq_len = 0;
	c->stats.broken++;
	log_rl(&c->rl_conn, LOG_WARNING,
	       "guest control connection (generation %u) broken: %s; ignoring it until the guest reconnects",
	       c->generation, why);
}

/* Write the mailbox answer (host_error and acked_generation before
 * host_state) and raise vector 0. */
static void ctl_answer(struct ctl *c, enum kvmbus_mbox_state state,
		       uint32_t error, uint32_t generation)
{
	bar_set_host_state(c->bar, state, error, generation);
	c->answered = true;
	c->answered_state = state;
	c->answered_gen = generation;
	if (state == KVMBUS_MBOX_ERROR)
		c->host_error = error;
	ctl_signal(c);
}

static void ctl_connect(struct ctl *c, const struct bar_mbox *m)
{
	const char *why = NULL;
	void *rings = NULL;
	int ret;

	if (c->state != CTL_IDLE) {
		/* A new generation while attached: the guest rebooted or
		 * reloaded kvmbus.ko without a RESET. */
		log_rl(&c->rl_conn, LOG_INFO,
		       "guest reconnects with generation %u: dropping connection %u",
		       m->generation, c->generation);
		ctl_drop(c);
		c->stats.reconnects++;
	}

	ret = bar_mbox_check(m, c->gm, &rings, &why);
	if (!ret) {
		/* Guest->host ring first, then host->guest: each a header
		 * page and ring_pages - 1 data pages.  ring.c's attach loads
		 * both indices once and checks them; it writes nothing. */
		uint8_t *g2h = rings;
		uint8_t *h2g = g2h + (size_t)m->ring_pages * KVMBUS_PAGE_SIZE;
		uint32_t size = (m->ring_pages - 1) * KVMBUS_PAGE_SIZE;

		if (kvmbus_ring_attach(&c->rx, (void *)g2h,
				       g2h + KVMBUS_PAGE_SIZE, size) ||
		    kvmbus_ring_attach(&c->tx, (void *)h2g,
				       h2g + KVMBUS_PAGE_SIZE, size)) {
			why = "a control ring header holds an invalid index";
			ret = -EPROTO;
		}
	}
	if (ret) {
		memset(&c->rx, 0, sizeof(c->rx));
		memset(&c->tx, 0, sizeof(c->tx));
		c->stats.refused++;
		c->stats.mbox_rejected++;
		log_rl(&c->rl_conn, LOG_WARNING,
		       "guest control rings refused (%s): %u pages at GPA 0x%llx, generation %u",
		       why, m->ring_pages, (unsigned long long)m->ctl_gpa,
		       m->generation);
		ctl_answer(c, KVMBUS_MBOX_ERROR, (uint32_t)-ret, m->generation);
		return;
	}

	/* Fixed by the guest at creation; see ctl_rings_intact(). */
	c->rx_features = __atomic_load_n(&c->rx.hdr->features,
					 __ATOMIC_RELAXED);
	c->tx_features = __atomic_load_n(&c->tx.hdr->features,
					 __ATOMIC_RELAXED);
	c->state = CTL_ONLINE;
	c->generation = m->generation;
	c->mbox = *m;
	c->stats.connects++;
	log_rl(&c->rl_conn, LOG_INFO,
	       "guest connected: generation %u, control rings of %u pages at GPA 0x%llx",
	       m->generation, m->ring_pages, (unsigned long long)m->ctl_gpa);
	ctl_answer(c, KVMBUS_MBOX_ONLINE, 0, m->generation);
}

bool ctl_mailbox(struct ctl *c, const struct bar_mbox *m)
{
	switch (m->state) {
	case KVMBUS_MBOX_CONNECT:
		/* The usual case: a doorbell for the control ring. */
		if (c->state != CTL_IDLE && m->generation == c->generation)
			return c->state == CTL_ONLINE;
		/* Answered already; a new connect bumps the generation. */
		if (c->answered && m->generation == c->answered_gen)
			return false;
		ctl_connect(c, m);
		return c->state == CTL_ONLINE;
	case KVMBUS_MBOX_IDLE:
		/* Nothing published: only matters if we hold its rings. */
		if (c->state == CTL_IDLE)
			return false;
		break;
	case KVMBUS_MBOX_RESET:
		if (c->state == CTL_IDLE && c->answered &&
		    c->answered_state == KVMBUS_MBOX_IDLE &&
		    c->answered_gen == m->generation)
			return false;
		break;
	default:
		c->stats.mbox_rejected++;
		log_rl(&c->rl_conn, LOG_WARNING,
		       "guest mailbox rejected: guest_state %u is not a guest state",
		       m->state);
		return false;
	}

	/* RESET (or IDLE while attached): let go of the rings, then say so:
	 * the guest frees them only after it sees IDLE. */
	if (c->state != CTL_IDLE) {
		log_rl(&c->rl_conn, LOG_INFO,
		       "guest withdrew its control rings (generation %u)",
		       c->generation);
		ctl_drop(c);
	}
	c->stats.resets++;
	ctl_answer(c, KVMBUS_MBOX_IDLE, 0, m->generation);
	return false;
}

void ctl_adopt(struct ctl *c)
{
	uint32_t acked = le32_to_cpu(__atomic_load_n(&c->bar->hdr->acked_generation,
						     __ATOMIC_RELAXED));

	/* A dead predecessor's connection: its rings hold state we never
	 * had.  The guest sees host_generation change and connects anew. */
	if (acked) {
		c->answered = true;
		c->answered_state = KVMBUS_MBOX_ONLINE;
		c->answered_gen = acked;
	}
}

void ctl_fini(struct ctl *c)
{
	ctl_disconnect(c);
	devices_fini(&c->devs);
}

void ctl_disconnect(struct ctl *c)
{
	ctl_drop(c);
	c->answered = false;
	c->answered_state = 0;
	c->answered_gen = 0;
	c->host_error = 0;
	memset(&c->mbox, 0, sizeof(c->mbox));
}

/* --- sending ------------------------------------------------------- */

/* Queue one reply.  Return: false if it was dropped (connection broken). */
static bool ctl_queue(struct ctl *c, const void *msg, uint32_t len,
		      uint64_t trans_id)
{
	struct ctl_out *o;

	if (c->outq_len == CTL_OUTQ_LEN || len > CTL_MSG_MAX) {
		/* Cannot happen with the back-pressure in ctl_poll(). */
		ctl_break(c, "control reply queue overflow");
		return false;
	}
	o = &c->outq[(c->outq_head + c->outq_len) % CTL_OUTQ_LEN];
	o->trans_id = trans_id;
	o->len = len;
	memcpy(o->msg, msg, len);
	c->outq_len++;
	return true;
}

/*
 * A guest that reboots without a RESET (hard reset, crash) leaves us
 * attached to pages its next boot may use for anything.  The ring
 * features are written once at creation and never change, so a header
 * that no longer carries them is not our ring any more: stop before
 * writing into it.  (A heuristic: a reused page that happens to hold the
 * same word is not caught.)
 */
static bool ctl_rings_intact(struct ctl *c)
{
	if (__atomic_load_n(&c->rx.hdr->features, __ATOMIC_RELAXED) ==
	    c->rx_features &&
	    __atomic_load_n(&c->tx.hdr->features, __ATOMIC_RELAXED) ==
	    c->tx_features)
		return true;
	ctl_break(c, "a control ring header lost its features: did the guest reset without a RESET?");
	return false;
}

/* Move queued replies into the host->guest ring; no commit. */
static void ctl_flush(struct ctl *c)
{
	struct kvmbus_ring_pkt p = { .type = KVMBUS_PKT_INBAND };
	struct ctl_out *o;
	int ret;

	if (!c->outq_len || c->state != CTL_ONLINE || !ctl_rings_intact(c))
		return;
	while (c->outq_len && c->state == CTL_ONLINE) {
		o = &c->outq[c->outq_head];
		p.trans_id = o->trans_id;
		p.data = o->msg;
		p.data_len = o->len;
		ret = kvmbus_ring_put(&c->tx, &p);
		if (ret == -ENOSPC) {
			/* ring.c asked the guest to signal us when there
			 * is room: vector 0 brings us back. */
			c->stats.ring_full++;
			return;
		}
		if (ret) {
			ctl_break(c, ret == -EIO ?
				  "invalid read index on the host->guest control ring" :
				  "a reply does not fit the host->guest control ring");
			return;
		}
		c->stats.pkts_out++;
		c->outq_head = (c->outq_head + 1) % CTL_OUTQ_LEN;
		c->outq_len--;
	}
}

void ctl_send(struct ctl *c)
{
	if (c->state != CTL_ONLINE)
		return;
	ctl_flush(c);
	if (c->state == CTL_ONLINE && kvmbus_ring_commit(&c->tx))
		ctl_signal(c);
}

int ctl_send_raw(struct ctl *c, const void *msg, uint32_t len)
{
	if (c->state != CTL_ONLINE)
		return -ENOTCONN;
	/* Never into a queue that waits: it is sized for real replies. */
	if (ctl_out_pending(c))
		return -EAGAIN;
	if (!len || len > CTL_MSG_MAX || !ctl_queue(c, msg, len, 0))
		return -EINVAL;
	ctl_send(c);
	return 0;
}

/* The OFFER of @dev's channel @sub (0: the primary).  Return: queued. */
static bool ctl_offer_chan(struct ctl *c, const struct device *dev,
			   uint16_t sub, uint64_t trans_id)
{
	uint32_t relid = sub ? dev->sub_relid[sub - 1] : dev->relid;
	const struct chan_slot *cs = devices_chan(&c->devs, relid);
	struct kvmbus_ctl_offer o;

	memset(&o, 0, sizeof(o));
	o.hdr.type = cpu_to_le32(KVMBUS_CTL_OFFER);
	o.relid = cpu_to_le32(relid);
	o.vector = cpu_to_le16(cs ? cs->vector : dev->vector);
	o.flags = cpu_to_le16(sub ? KVMBUS_OFFER_F_SUBCHANNEL : 0);
	memcpy(o.class_id, dev->cls->class_id, sizeof(o.class_id));
	memcpy(o.instance_id, dev->instance_id, sizeof(o.instance_id));
	o.sub_index = cpu_to_le16(sub);
	o.max_subchannels = cpu_to_le16(dev->max_subchannels);
	o.data_len = cpu_to_le32(dev->offer_data_len);
	memcpy(o.data, dev->offer_data, sizeof(o.data));
	return ctl_queue(c, &o, sizeof(o), trans_id);
}

static void ctl_offer(struct ctl *c, struct device *dev, uint64_t trans_id)
{
	if (ctl_offer_chan(c, dev, 0, trans_id))
		dev->sent = true;
}

static void ctl_rescind(struct ctl *c, struct device *dev)
{
	struct kvmbus_ctl_relid r;

	memset(&r, 0, sizeof(r));
	r.hdr.type = cpu_to_le32(KVMBUS_CTL_RESCIND);
	r.relid = cpu_to_le32(dev->relid);
	ctl_queue(c, &r, sizeof(r), 0);
}

static void ctl_reply_hdr(struct ctl *c, uint32_t type, uint64_t trans_id)
{
	struct kvmbus_ctl_hdr h;

	memset(&h, 0, sizeof(h));
	h.type = cpu_to_le32(type);
	ctl_queue(c, &h, sizeof(h), trans_id);
}

/* --- receiving ----------------------------------------------------- */

static void ctl_malformed(struct ctl *c, uint32_t type, uint32_t len,
			  const char *why)
{
	c->stats.malformed++;
	log_rl(&c->rl_msg, LOG_WARNING,
	       "malformed control message (type %u, %u bytes): %s; dropped",
	       type, len, why);
}

static void ctl_unexpected(struct ctl *c, uint32_t type, const char *why)
{
	c->stats.unexpected++;
	log_rl(&c->rl_msg, LOG_WARNING, "control message %u %s: dropped", type,
	       why);
}

/* Smallest valid length of each guest->host message; 0 for a type the
 * guest may not send (unknown, or host->guest). */
static uint32_t ctl_min_len(uint32_t type)
{
	switch (type) {
	case KVMBUS_CTL_VERSION_REQ:
		return sizeof(struct kvmbus_ctl_version_req);
	case KVMBUS_CTL_REQUEST_OFFERS:
	case KVMBUS_CTL_UNLOAD:
		return sizeof(struct kvmbus_ctl_hdr);
	case KVMBUS_CTL_RELID_RELEASED:
	case KVMBUS_CTL_CLOSE:
		return sizeof(struct kvmbus_ctl_relid);
	case KVMBUS_CTL_GPADL_CREATE:
	case KVMBUS_CTL_GPADL_BODY:
		return sizeof(struct kvmbus_ctl_gpadl);
	case KVMBUS_CTL_GPADL_TEARDOWN:
		return sizeof(struct kvmbus_ctl_gpadl_teardown);
	case KVMBUS_CTL_OPEN:
		return sizeof(struct kvmbus_ctl_open);
	case KVMBUS_CTL_REQUEST_SUBCHANNELS:
		return sizeof(struct kvmbus_ctl_subchannels);
	default:
		return 0;
	}
}

static void ctl_version(struct ctl *c, const void *msg, uint64_t trans_id)
{
	struct kvmbus_ctl_version_resp resp;
	struct kvmbus_ctl_version_req req;
	uint32_t vmin, vmax, v;

	memcpy(&req, msg, sizeof(req));
	if (c->version) {
		ctl_unexpected(c, KVMBUS_CTL_VERSION_REQ,
			       "after a successful negotiation");
		return;
	}
	vmin = le32_to_cpu(req.version_min);
	vmax = le32_to_cpu(req.version_max);
	v = kvmbus_version_pick(vmin, vmax, KVMBUS_VERSION_MIN,
				KVMBUS_VERSION_MAX);

	memset(&resp, 0, sizeof(resp));
	resp.hdr.type = cpu_to_le32(KVMBUS_CTL_VERSION_RESP);
	resp.version = cpu_to_le32(v);
	if (v) {
		c->version = v;
		c->features = le64_to_cpu(req.features) & CTL_HOST_FEATURES;
		resp.max_channels = cpu_to_le32(CHAN_MAX);
		resp.features = cpu_to_le64(c->features);
	}
	log_rl(&c->rl_msg, v ? LOG_INFO : LOG_WARNING,
	       "guest speaks versions %#x..%#x, kvmbusd %#x..%#x: %s %#x",
	       vmin, vmax, KVMBUS_VERSION_MIN, KVMBUS_VERSION_MAX,
	       v ? "agreed on" : "no common version, answered", v);
	ctl_queue(c, &resp, sizeof(resp), trans_id);
}

static void ctl_request_offers(struct ctl *c, uint64_t trans_id)
{
	struct device *dev;
	unsigned int i;

	if (c->offers_requested) {
		ctl_unexpected(c, KVMBUS_CTL_REQUEST_OFFERS, "a second time");
		return;
	}
	c->offers_requested = true;
	for (i = 0; i < DEV_MAX; i++) {
		dev = &c->devs.slot[i];
		if (dev->state == DEV_OFFERED && !dev->sent)
			ctl_offer(c, dev, trans_id);
	}
	ctl_reply_hdr(c, KVMBUS_CTL_ALL_OFFERS_DONE, trans_id);
}

static void ctl_relid_released(struct ctl *c, const void *msg)
{
	struct kvmbus_ctl_relid m;
	struct device *dev;
	uint32_t relid;

	memcpy(&m, msg, sizeof(m));
	relid = le32_to_cpu(m.relid);
	dev = devices_by_relid(&c->devs, relid);
	/* One RELID_RELEASED, for the primary, releases the sub-channels. */
	if (!dev || dev->state != DEV_RELEASING || dev->relid != relid) {
		ctl_unexpected(c, KVMBUS_CTL_RELID_RELEASED,
			       "for a relid that was not rescinded");
		return;
	}
	log_rl(&c->rl_msg, LOG_INFO, "device %u (relid %u) released by the guest",
	       dev->id, relid);
	devices_free(&c->devs, dev);
}

static void ctl_unload(struct ctl *c, uint64_t trans_id)
{
	/* Every channel closed, every GPADL gone, every offer dropped:
	 * afterwards the connection is as just attached. */
	ctl_close_all(c);
	ctl_forget_offers(c);
	c->version = 0;
	c->features = 0;
	ctl_reply_hdr(c, KVMBUS_CTL_UNLOAD_RESP, trans_id);
}

/* --- GPADLs and channels -------------------------------------------- */

static void ctl_reply_status(struct ctl *c, uint32_t type, uint32_t id,
			     uint32_t status, uint64_t trans_id)
{
	/* GPADL_CREATED / _TORNDOWN and OPEN_ / CLOSE_RESULT: one layout. */
	struct kvmbus_ctl_gpadl_result r;

	static_assert(sizeof(struct kvmbus_ctl_gpadl_result) ==
		      sizeof(struct kvmbus_ctl_result), "result layouts");
	static_assert(offsetof(struct kvmbus_ctl_gpadl_result, status) ==
		      offsetof(struct kvmbus_ctl_result, status), "status");
	memset(&r, 0, sizeof(r));
	r.hdr.type = cpu_to_le32(type);
	r.gpadl_id = cpu_to_le32(id);
	r.status = cpu_to_le32(status);
	ctl_queue(c, &r, sizeof(r), trans_id);
}

static void ctl_gpadl_msg(struct ctl *c, uint32_t type, const void *msg,
			  uint32_t len, uint64_t trans_id)
{
	uint32_t id = 0, status = 0;
	enum gpadl_res res;

	res = type == KVMBUS_CTL_GPADL_CREATE ?
	      gpadl_create(&c->gpadls, c->gm, msg, len, &id, &status) :
	      gpadl_body(&c->gpadls, c->gm, msg, len, &id, &status);
	switch (res) {
	case GPADL_MORE:
		break;
	case GPADL_DONE:
		ctl_reply_status(c, KVMBUS_CTL_GPADL_CREATED, id, 0, trans_id);
		break;
	case GPADL_FAIL:
		log_rl(&c->rl_msg, LOG_WARNING,
		       "GPADL %u refused: %s", id, strerror((int)status));
		ctl_reply_status(c, KVMBUS_CTL_GPADL_CREATED, id, status,
				 trans_id);
		break;
	case GPADL_IGNORE:
		ctl_unexpected(c, type, "for no GPADL being described");
		break;
	}
}

static void ctl_gpadl_teardown(struct ctl *c, const void *msg,
			       uint64_t trans_id)
{
	struct kvmbus_ctl_gpadl_teardown m;
	uint32_t id;
	int ret;

	memcpy(&m, msg, sizeof(m));
	id = le32_to_cpu(m.gpadl_id);
	ret = gpadl_teardown(&c->gpadls, id);
	if (ret)
		log_rl(&c->rl_msg, LOG_WARNING, "GPADL %u not torn down: %s",
		       id, strerror(-ret));
	ctl_reply_status(c, KVMBUS_CTL_GPADL_TORNDOWN, id, (uint32_t)-ret,
			 trans_id);
}

/* A channel of this connection's offers (a sub-channel's OFFER goes out
 * when it is granted): sent, not being rescinded. */
static const struct chan_slot *ctl_offered(struct ctl *c, uint32_t relid)
{
	const struct chan_slot *cs = devices_chan(&c->devs, relid);

	return cs && cs->dev->sent && cs->dev->state == DEV_OFFERED ? cs : NULL;
}

/* Return: 0 or the positive errno OPEN_RESULT carries. */
static uint32_t ctl_do_open(struct ctl *c, const struct kvmbus_ctl_open *m)
{
	uint32_t relid = le32_to_cpu(m->relid);
	uint32_t gpadl_id = le32_to_cpu(m->ring_gpadl);
	const struct chan_slot *cs = ctl_offered(c, relid);
	struct device *dev;
	struct gpadl *g;
	struct chan *ch;

	if (!cs)
		return ENODEV;
	dev = cs->dev;
	ch = &c->chans[relid - 1];
	if (chan_in_use(ch))
		return EALREADY;
	if (!dev->cls->vsp)
		return EOPNOTSUPP;
	g = gpadls_find(&c->gpadls, gpadl_id);
	if (!g)
		return ENOENT;
	if (!gpadl_complete(g))
		return EINPROGRESS;
	if (g->users)
		return EBUSY;
	ch->dev = dev;
	ch->sub_index = cs->sub_index;
	return (uint32_t)-chan_open(ch, &c->chan_env, dev->cls->vsp, relid,
				    cs->vector, g,
				    le32_to_cpu(m->g2h_pages), m->data);
}

static void ctl_open(struct ctl *c, const void *msg, uint64_t trans_id)
{
	struct kvmbus_ctl_open m;
	uint32_t status, relid;

	memcpy(&m, msg, sizeof(m));
	relid = le32_to_cpu(m.relid);
	status = ctl_do_open(c, &m);
	if (status) {
		c->stats.open_failed++;
		log_rl(&c->rl_msg, LOG_WARNING,
		       "OPEN of relid %u on GPADL %u (%u guest->host pages) refused: %s",
		       relid, le32_to_cpu(m.ring_gpadl),
		       le32_to_cpu(m.g2h_pages), strerror((int)status));
	} else {
		c->stats.opens++;
		log_rl(&c->rl_msg, LOG_INFO,
		       "channel relid %u open: GPADL %u, rings of %u + %u pages",
		       relid, le32_to_cpu(m.ring_gpadl),
		       c->chans[relid - 1].g2h_pages,
		       c->chans[relid - 1].h2g_pages);
	}
	ctl_reply_status(c, KVMBUS_CTL_OPEN_RESULT, relid, status, trans_id);
}

static void ctl_close(struct ctl *c, const void *msg, uint64_t trans_id)
{
	struct kvmbus_ctl_relid m;
	struct device *dev;
	uint32_t relid, status = 0;
	struct chan *ch;

	memcpy(&m, msg, sizeof(m));
	relid = le32_to_cpu(m.relid);
	dev = devices_by_relid(&c->devs, relid);
	ch = dev ? &c->chans[relid - 1] : NULL;
	if (!dev || !dev->sent) {
		status = ENODEV;
	} else if (chan_in_use(ch)) {
		chan_close(ch);
		c->stats.closes++;
	} else if (dev->state != DEV_RELEASING) {
		/* A rescinded device's channel was closed by the rescind:
		 * the guest's CLOSE afterwards is fine. */
		status = ENOTCONN;
	}
	if (status) {
		c->stats.unexpected++;
		log_rl(&c->rl_msg, LOG_WARNING, "CLOSE of relid %u refused: %s",
		       relid, strerror((int)status));
	} else {
		log_rl(&c->rl_msg, LOG_INFO, "channel relid %u closed", relid);
	}
	ctl_reply_status(c, KVMBUS_CTL_CLOSE_RESULT, relid, status, trans_id);
}

/* A fresh channel slot: no numbers of an earlier user of the relid. */
static void ctl_chan_reset(struct ctl *c, uint32_t relid)
{
	memset(&c->chans[relid - 1], 0, sizeof(c->chans[relid - 1]));
}

static void ctl_subchannels_result(struct ctl *c, uint32_t relid,
				   uint32_t status, uint32_t count,
				   uint64_t trans_id)
{
	struct kvmbus_ctl_subchannels_result r;

	memset(&r, 0, sizeof(r));
	r.hdr.type = cpu_to_le32(KVMBUS_CTL_SUBCHANNELS_RESULT);
	r.relid = cpu_to_le32(relid);
	r.status = cpu_to_le32(status);
	r.count = cpu_to_le32(count);
	ctl_queue(c, &r, sizeof(r), trans_id);
}

/*
 * REQUEST_SUBCHANNELS (docs/protocol.md section 6.5): grant up to count
 * in all, capped by the device's max_subchannels and the free channel
 * slots; OFFER each new one, then answer with how many there are now.
 * Asking again for as many or fewer offers nothing new.
 */
static void ctl_request_subchannels(struct ctl *c, const void *msg,
				    uint64_t trans_id)
{
	struct kvmbus_ctl_subchannels m;
	uint32_t relid, count;
	struct device *dev;
	uint16_t had, now, i;

	memcpy(&m, msg, sizeof(m));
	relid = le32_to_cpu(m.relid);
	count = le32_to_cpu(m.count);
	dev = devices_by_relid(&c->devs, relid);
	if (!dev || dev->relid != relid || !dev->sent ||
	    dev->state != DEV_OFFERED) {
		c->stats.unexpected++;
		log_rl(&c->rl_msg, LOG_WARNING,
		       "REQUEST_SUBCHANNELS for relid %u: not an offered primary channel",
		       relid);
		ctl_subchannels_result(c, relid, ENODEV, 0, trans_id);
		return;
	}
	had = dev->nr_subchannels;
	now = devices_grant_subchannels(&c->devs, dev, count);
	for (i = had; i < now; i++) {
		ctl_chan_reset(c, dev->sub_relid[i]);
		ctl_offer_chan(c, dev, (uint16_t)(i + 1), trans_id);
	}
	c->stats.subchannels += now - had;
	log_rl(&c->rl_msg, LOG_INFO,
	       "device %u (relid %u): %u sub-channels asked for, %u granted (max %u)",
	       dev->id, relid, count, now, dev->max_subchannels);
	ctl_subchannels_result(c, relid, 0, now, trans_id);
}

void ctl_handle_msg(struct ctl *c, const void *msg, uint32_t len,
		    uint64_t trans_id)
{
	struct kvmbus_ctl_hdr hdr;
	uint32_t type, need;

	if (c->state == CTL_BROKEN)
		return;
	if (len < sizeof(hdr)) {
		ctl_malformed(c, 0, len, "shorter than a message header");
		return;
	}
	memcpy(&hdr, msg, sizeof(hdr));
	type = le32_to_cpu(hdr.type);
	need = ctl_min_len(type);
	if (!need) {
		ctl_malformed(c, type, len,
			      "not a guest-to-host message type");
		return;
	}
	if (len < need) {
		ctl_malformed(c, type, len, "shorter than its structure");
		return;
	}
	if (!c->version && type != KVMBUS_CTL_VERSION_REQ) {
		ctl_unexpected(c, type, "before version negotiation");
		return;
	}
	if (c->evil_drop == type) {
		if (c->evil_drop_skip) {
			c->evil_drop_skip--;
		} else {
			c->evil_drop = 0;
			log_warn("--test: control message %u dropped unanswered",
				 type);
			return;
		}
	}

	switch (type) {
	case KVMBUS_CTL_VERSION_REQ:
		ctl_version(c, msg, trans_id);
		break;
	case KVMBUS_CTL_REQUEST_OFFERS:
		ctl_request_offers(c, trans_id);
		break;
	case KVMBUS_CTL_RELID_RELEASED:
		ctl_relid_released(c, msg);
		break;
	case KVMBUS_CTL_UNLOAD:
		ctl_unload(c, trans_id);
		break;
	case KVMBUS_CTL_GPADL_CREATE:
	case KVMBUS_CTL_GPADL_BODY:
		ctl_gpadl_msg(c, type, msg, len, trans_id);
		break;
	case KVMBUS_CTL_GPADL_TEARDOWN:
		ctl_gpadl_teardown(c, msg, trans_id);
		break;
	case KVMBUS_CTL_OPEN:
		ctl_open(c, msg, trans_id);
		break;
	case KVMBUS_CTL_CLOSE:
		ctl_close(c, msg, trans_id);
		break;
	case KVMBUS_CTL_REQUEST_SUBCHANNELS:
		ctl_request_subchannels(c, msg, trans_id);
		break;
	default:
		/* Cannot happen: ctl_min_len() knows no other type. */
		c->stats.unsupported++;
		log_rl(&c->rl_msg, LOG_DEBUG,
		       "control message %u not implemented yet: dropped",
		       type);
		break;
	}
}

/* One packet copied out of the guest->host ring into c->rxbuf. */
static void ctl_packet(struct ctl *c, const struct kvmbus_pkt_info *pi)
{
	if (pi->type != KVMBUS_PKT_INBAND) {
		ctl_malformed(c, 0, pi->data_len,
			      "control messages travel in in-band packets");
		return;
	}
	/* ring.c checked data_offset + data_len <= total_len <= rxbuf. */
	ctl_handle_msg(c, (const uint8_t *)c->rxbuf + pi->data_offset,
		       pi->data_len, pi->trans_id);
}

bool ctl_poll(struct ctl *c, unsigned int budget)
{
	struct kvmbus_pkt_info pi;
	bool signal = false, more = false;
	int ret;

	if (c->state != CTL_ONLINE || !ctl_rings_intact(c))
		return false;
	ctl_flush(c);
	/* We are polling: the guest need not signal new packets. */
	kvmbus_ring_mask(&c->rx);
	while (c->state == CTL_ONLINE && !ctl_out_pending(c)) {
		if (!budget) {
			more = true;
			break;
		}
		ret = kvmbus_ring_get(&c->rx, c->rxbuf, sizeof(c->rxbuf), &pi);
		if (ret == -EAGAIN) {
			/* Drained: hand the space back, unmask, and look
			 * once more for a packet that raced the unmask. */
			signal |= kvmbus_ring_release(&c->rx);
			if (!kvmbus_ring_unmask(&c->rx))
				goto commit;
			kvmbus_ring_mask(&c->rx);
			continue;
		}
		if (ret) {
			ctl_break(c, "malformed packet or index on the guest->host control ring");
			return false;
		}
		budget--;
		c->stats.pkts_in++;
		ctl_packet(c, &pi);
		ctl_flush(c);
	}
	if (c->state != CTL_ONLINE)
		return false;
	signal |= kvmbus_ring_release(&c->rx);
	/*
	 * Stopped early: out of budget (the caller calls again) or replies
	 * wait for space (the guest signals when it has made room).  Either
	 * way the guest may signal new packets again.
	 */
	kvmbus_ring_unmask(&c->rx);
commit:
	signal |= kvmbus_ring_commit(&c->tx);
	if (signal)
		ctl_signal(c);
	return more;
}

bool ctl_doorbell(struct ctl *c)
{
	struct bar_mbox m;

	bar_mbox_read(c->bar->hdr, &m);	/* the one read of the mailbox */
	if (!ctl_mailbox(c, &m))
		return false;
	return ctl_poll(c, CTL_BUDGET);
}

/* --- devices ------------------------------------------------------- */

int ctl_device_add(struct ctl *c, const struct dev_class *cls,
		   struct device **out)
{
	return ctl_device_add_params(c, cls, NULL, NULL, 0, out);
}

/* Is @params (NULL or a JSON object) empty? */
static bool ctl_params_empty(struct json_object *params)
{
	return !params || !json_object_object_length(params);
}

/* Tell the daemon the device table changed (it saves it, state.h). */
static void ctl_changed(struct ctl *c)
{
	if (c->ops && c->ops->changed)
		c->ops->changed(c->opaque);
}

static int ctl_device_add_common(struct ctl *c, const struct dev_class *cls,
				 struct json_object *params,
				 const struct ctl_dev_ident *at, char *err,
				 size_t errlen, struct device **out)
{
	const struct vsp_ops *vsp = cls->vsp;
	struct device *dev;
	char buf[1];
	int ret;

	if (!err) {
		err = buf;
		errlen = sizeof(buf);
	}
	err[0] = '\0';
	if (params && !json_object_is_type(params, json_type_object)) {
		snprintf(err, errlen, "parameters must be a JSON object");
		return -EINVAL;
	}
	if ((!vsp || !vsp->dev_add) && !ctl_params_empty(params)) {
		snprintf(err, errlen, "class %s takes no parameters",
			 cls->name);
		return -EINVAL;
	}
	if (at)
		ret = devices_add_at(&c->devs, cls, at->id, at->relid,
				     at->vector, at->instance_id, &dev);
	else
		ret = devices_add(&c->devs, cls, &dev);
	if (ret)
		return ret;
	ctl_chan_reset(c, dev->relid);
	if (vsp && vsp->dev_add) {
		ret = vsp->dev_add(dev, params, err, errlen);
		if (ret) {
			/* Refused: as if never asked, admin id included. */
			if (!at)
				c->devs.next_id--;
			devices_free(&c->devs, dev);
			return ret;
		}
		if (dev->max_subchannels > KVMBUS_MAX_SUBCHANNELS ||
		    dev->offer_data_len > KVMBUS_OFFER_DATA_MAX) {
			/* A class bug: refuse rather than send it. */
			snprintf(err, errlen,
				 "class %s set an invalid offer", cls->name);
			dev->added = true;
			devices_free(&c->devs, dev);
			return -EINVAL;
		}
	}
	dev->added = true;
	if (params)
		dev->params = json_object_get(params);
	if (c->state == CTL_ONLINE && c->offers_requested) {
		ctl_offer(c, dev, 0);
		ctl_send(c);
	}
	ctl_changed(c);
	*out = dev;
	return 0;
}

int ctl_device_add_params(struct ctl *c, const struct dev_class *cls,
			  struct json_object *params, char *err,
			  size_t errlen, struct device **out)
{
	return ctl_device_add_common(c, cls, params, NULL, err, errlen, out);
}

int ctl_device_add_at(struct ctl *c, const struct dev_class *cls,
		      struct json_object *params,
		      const struct ctl_dev_ident *at, char *err,
		      size_t errlen, struct device **out)
{
	return ctl_device_add_common(c, cls, params, at, err, errlen, out);
}

/* Close every open channel of @dev, primary and sub-channels. */
static void ctl_device_close_chans(struct ctl *c, const struct device *dev)
{
	struct chan *ch;
	uint16_t i;

	for (i = 0; i <= dev->nr_subchannels; i++) {
		ch = &c->chans[(i ? dev->sub_relid[i - 1] : dev->relid) - 1];
		if (chan_in_use(ch)) {
			chan_close(ch);
			c->stats.chan_closed_by_host++;
		}
	}
}

int ctl_device_set(struct ctl *c, uint32_t id, struct json_object *params,
		   char *err, size_t errlen)
{
	struct device *dev = devices_by_id(&c->devs, id);
	const char *const *t;
	int ret;

	err[0] = '\0';
	if (!dev) {
		snprintf(err, errlen, "no device %u", id);
		return -ENOENT;
	}
	if (dev->state != DEV_OFFERED) {
		snprintf(err, errlen, "device %u is being removed", id);
		return -EBUSY;
	}
	if (!params || !json_object_is_type(params, json_type_object) ||
	    ctl_params_empty(params)) {
		snprintf(err, errlen, "nothing to set: give key=value");
		return -EINVAL;
	}
	if (!dev->cls->vsp || !dev->cls->vsp->dev_set) {
		snprintf(err, errlen, "class %s has no run-time settings",
			 dev->cls->name);
		return -EINVAL;
	}
	for (t = dev->cls->vsp->test_params; !c->test && t && *t; t++) {
		if (json_object_object_get_ex(params, *t, NULL)) {
			snprintf(err, errlen,
				 "%s: %s is fault injection that breaks the guest: only with kvmbusd --test",
				 dev->cls->name, *t);
			return -EPERM;
		}
	}
	ret = dev->cls->vsp->dev_set(dev, params, err, errlen);
	if (ret)
		return ret;
	/* Replayed, in order, by a restarted kvmbusd (state.h). */
	if (!dev->sets)
		dev->sets = json_object_new_array();
	if (dev->sets)
		json_object_array_add(dev->sets, json_object_get(params));
	ctl_changed(c);
	return 0;
}

int ctl_device_remove(struct ctl *c, uint32_t id, struct device *out)
{
	struct device *dev = devices_by_id(&c->devs, id);

	if (!dev)
		return -ENOENT;
	*out = *dev;
	if (dev->state == DEV_RELEASING)
		return -EBUSY;
	/* Stop touching its rings before the guest hears of it. */
	ctl_device_close_chans(c, dev);
	if (!dev->sent) {
		/* The guest never heard of it. */
		out->params = NULL;
		out->sets = NULL;
		devices_free(&c->devs, dev);
		out->state = DEV_FREE;
		ctl_changed(c);
		return 0;
	}
	dev->state = DEV_RELEASING;
	ctl_changed(c);
	if (c->state == CTL_ONLINE) {
		ctl_rescind(c, dev);
		ctl_send(c);
	}
	/* A broken connection hears nothing; the device is freed when the
	 * guest reconnects or resets. */
	*out = *dev;
	return 0;
}

/* --- channel doorbells ------------------------------------------------ */

bool ctl_chan_doorbell(struct ctl *c, unsigned int vector, uint64_t count)
{
	bool more = false;
	struct chan *ch;
	unsigned int i;

	for (i = 0; i < CHAN_MAX; i++) {
		ch = &c->chans[i];
		if (!chan_in_use(ch) || ch->vector != vector)
			continue;
		/* A threaded channel's worker is woken instead. */
		more |= chan_doorbell(ch, count);
	}
	return more;
}

bool ctl_vector_alone(struct ctl *c, const struct chan *ch)
{
	bool alone = true;
	struct chan *o;
	unsigned int i;

	for (i = 0; i < CHAN_MAX; i++) {
		o = &c->chans[i];
		if (o == ch || !chan_in_use(o) || o->vector != ch->vector)
			continue;
		chan_doorbell_share(o);
		alone = false;
	}
	return alone;
}

bool ctl_chans_poll(struct ctl *c)
{
	bool more = false;
	unsigned int i;

	for (i = 0; i < CHAN_MAX; i++)
		if (chan_pass_due(&c->chans[i]))
			more |= chan_poll(&c->chans[i], CHAN_BUDGET);
	return more;
}

bool ctl_work_pending(const struct ctl *c)
{
	unsigned int i;

	for (i = 0; i < CHAN_MAX; i++)
		if (chan_pass_due(&c->chans[i]))
			return true;
	return false;
}

struct chan *ctl_chan_by_id(struct ctl *c, uint32_t id)
{
	struct device *dev = devices_by_id(&c->devs, id);

	return dev ? ctl_chan_of(c, dev) : NULL;
}
