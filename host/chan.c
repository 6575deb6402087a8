// SPDX-License-Identifier: GPL-2.0-only
/*
 * The host end of a channel: the ring GPADL's view, the two rings, the
 * pass that feeds the VSP.  See chan.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"

#define PAGE		KVMBUS_PAGE_SIZE

const char *chan_state_name(enum chan_state state)
{
	switch (state) {
	case CHAN_OPEN:
		return "open";
	case CHAN_BROKEN:
		return "broken";
	default:
		return "closed";
	}
}

static void chan_signal(struct chan *ch)
{
	int ret = ch->env->signal ?
		  ch->env->signal(ch->env->opaque, ch->vector) : 0;

	if (ret)
		ch->stats.signal_errors++;
	else
		ch->stats.signals++;
}

/* Data bytes of a ring of @pages pages (header included), or 0. */
static uint32_t ring_data_size(uint32_t pages)
{
	uint64_t size = ((uint64_t)pages - 1) * PAGE;

	if (pages < 2 || size > UINT32_MAX || !kvmbus_ring_size_ok((uint32_t)size))
		return 0;
	return (uint32_t)size;
}

/* Attach to both rings in the view.  Return: 0, -EINVAL or -EPROTO. */
static int chan_attach(struct chan *ch, uint32_t g2h_pages,
		       uint32_t h2g_pages)
{
	uint32_t rx_size = ring_data_size(g2h_pages);
	uint32_t tx_size = ring_data_size(h2g_pages);
	uint8_t *g2h = ch->view.addr;
	uint8_t *h2g = g2h + (size_t)g2h_pages * PAGE;

	if (!rx_size || !tx_size)
		return -EINVAL;
	/* ring.c loads each index once, checks it and writes nothing. */
	if (kvmbus_ring_attach(&ch->rx, (void *)g2h, g2h + PAGE, rx_size) ||
	    kvmbus_ring_attach(&ch->tx, (void *)h2g, h2g + PAGE, tx_size))
		return -EPROTO;
	/* Fixed by the guest at creation; see chan_rings_intact(). */
	ch->rx_features = __atomic_load_n(&ch->rx.hdr->features,
					  __ATOMIC_RELAXED);
	ch->tx_features = __atomic_load_n(&ch->tx.hdr->features,
					  __ATOMIC_RELAXED);
	return 0;
}

/* Undo what chan_open() set up, in reverse. */
static void chan_release(struct chan *ch)
{
	free(ch->priv);
	ch->priv = NULL;
	free(ch->rxbuf);
	ch->rxbuf = NULL;
	guestmem_view_unmap(&ch->view);
	memset(&ch->rx, 0, sizeof(ch->rx));
	memset(&ch->tx, 0, sizeof(ch->tx));
	if (ch->gpadl)
		ch->gpadl->users--;
	ch->gpadl = NULL;
	ch->state = CHAN_CLOSED;
}

int chan_open(struct chan *ch, struct chan_env *env,
	      const struct vsp_ops *vsp, uint32_t relid, uint16_t vector,
	      struct gpadl *g, uint32_t g2h_pages, const uint8_t *data)
{
	/* A refused OPEN leaves the last open's numbers to look at. */
	struct chan_stats last = ch->stats;
	uint32_t last_gpadl = ch->gpadl_id, last_g2h = ch->g2h_pages;
	uint32_t last_h2g = ch->h2g_pages;
	struct device *dev = ch->dev;
	uint16_t sub_index = ch->sub_index;
	int ret;

	memset(ch, 0, sizeof(*ch));
	ch->dev = dev;
	ch->sub_index = sub_index;
	ch->env = env;
	ch->vsp = vsp;
	ch->relid = relid;
	ch->vector = vector;
	ch->gpadl_id = g->id;
	ch->g2h_pages = g2h_pages;
	ratelimit_init(&ch->rl, 5000, 5);
	/* Each ring is a header page and at least one data page. */
	if (g2h_pages < 2 || g->total_pages < 2 ||
	    g2h_pages > g->total_pages - 2) {
		ret = -EINVAL;
		goto err_release;
	}
	ch->h2g_pages = g->total_pages - g2h_pages;
	if (!ring_data_size(g2h_pages) || !ring_data_size(ch->h2g_pages)) {
		ret = -EINVAL;
		goto err_release;
	}

	ret = guestmem_view_map(env->gm, g->runs, g->nr_runs, &ch->view);
	if (ret)
		goto err_release;
	ch->gpadl = g;
	g->users++;
	ret = chan_attach(ch, g2h_pages, ch->h2g_pages);
	if (ret)
		goto err_release;
	ch->rxbuf = malloc(vsp->max_pkt);
	ch->priv = vsp->priv_size ? calloc(1, vsp->priv_size) : NULL;
	if (!ch->rxbuf || (vsp->priv_size && !ch->priv)) {
		ret = -ENOMEM;
		goto err_release;
	}
	ch->state = CHAN_OPEN;
	if (vsp->open) {
		ret = vsp->open(ch, data);
		if (ret)
			goto err_release;
	}
	/* Look at the rings once: the guest may have queued packets and
	 * rung before the channel was open here. */
	ch->more = true;
	return 0;

err_release:
	chan_release(ch);
	ch->stats = last;
	ch->gpadl_id = last_gpadl;
	ch->g2h_pages = last_g2h;
	ch->h2g_pages = last_h2g;
	return ret;
}

void chan_close(struct chan *ch)
{
	if (!chan_in_use(ch))
		return;
	/* The VSP may still look at ch->priv, never at the rings. */
	ch->state = CHAN_CLOSED;
	if (ch->vsp->close)
		ch->vsp->close(ch);
	ch->more = false;
	chan_release(ch);
}

void chan_break(struct chan *ch, const char *why)
{
	if (ch->state != CHAN_OPEN)
		return;
	ch->state = CHAN_BROKEN;
	ch->broken_why = why;
	ch->more = false;
	ch->env->broken++;
	log_rl(ch->env->rl, LOG_WARNING,
	       "channel relid %u (%s) broken: %s; ignored until the guest closes it",
	       ch->relid, ch->vsp->name, why);
}

void chan_malformed(struct chan *ch, const struct kvmbus_pkt_info *pi,
		    const char *why)
{
	ch->stats.malformed++;
	log_rl(&ch->rl, LOG_WARNING,
	       "channel relid %u (%s): packet type %u, %u bytes dropped: %s",
	       ch->relid, ch->vsp->name, pi->type, pi->data_len, why);
}

/* See ctl_rings_intact(): a changed features word is a guest that
 * rebooted without telling us and may reuse the pages. */
static bool chan_rings_intact(struct chan *ch)
{
	if (__atomic_load_n(&ch->rx.hdr->features, __ATOMIC_RELAXED) ==
	    ch->rx_features &&
	    __atomic_load_n(&ch->tx.hdr->features, __ATOMIC_RELAXED) ==
	    ch->tx_features)
		return true;
	chan_break(ch, "a ring header lost its features word: did the guest reset without closing?");
	return false;
}

int chan_send(struct chan *ch, const struct kvmbus_ring_pkt *p)
{
	int ret;

	if (ch->state != CHAN_OPEN)
		return -EIO;
	ret = kvmbus_ring_put(&ch->tx, p);
	switch (ret) {
	case 0:
		ch->tx_waiting = false;
		ch->stats.pkts_out++;
		ch->stats.bytes_out += p->data_len;
		if (p->type == KVMBUS_PKT_COMP)
			ch->stats.completions++;
		return 0;
	case -ENOSPC:
		/* Counted once per wait, however often the VSP retries. */
		if (!ch->tx_waiting)
			ch->stats.ring_full++;
		ch->tx_waiting = true;
		return ret;
	case -EMSGSIZE:
		return ret;
	default:
		chan_break(ch, "invalid read index on the host->guest ring");
		return -EIO;
	}
}

static bool chan_busy(const struct chan *ch)
{
	return ch->vsp->busy && ch->vsp->busy(ch);
}

bool chan_poll(struct chan *ch, unsigned int budget)
{
	struct kvmbus_pkt_info pi;
	bool signal = false, more = false;
	unsigned int cost;
	int ret;

	ch->more = false;
	if (ch->state != CHAN_OPEN || !chan_rings_intact(ch))
		return false;
	ch->stats.passes++;
	if (ch->vsp->flush)
		more = ch->vsp->flush(ch, budget);

	/* We are polling: the guest need not signal new packets. */
	kvmbus_ring_mask(&ch->rx);
	while (ch->state == CHAN_OPEN && !chan_busy(ch)) {
		if (!budget) {
			more = true;
			break;
		}
		ret = kvmbus_ring_get(&ch->rx, ch->rxbuf, ch->vsp->max_pkt,
				      &pi);
		if (ret == -EAGAIN) {
			/* Drained: hand the space back, unmask, and look
			 * once more for a packet that raced the unmask. */
			signal |= kvmbus_ring_release(&ch->rx);
			if (!kvmbus_ring_unmask(&ch->rx))
				goto commit;
			kvmbus_ring_mask(&ch->rx);
			continue;
		}
		if (ret) {
			chan_break(ch, "malformed packet or index on the guest->host ring");
			return false;
		}
		ch->stats.pkts_in++;
		ch->stats.bytes_in += pi.data_len;
		cost = ch->vsp->on_packet(ch, &pi, ch->rxbuf);
		budget -= cost < 1 ? 1 : cost > budget ? budget : cost;
	}
	if (ch->state != CHAN_OPEN)
		return false;
	signal |= kvmbus_ring_release(&ch->rx);
	/* Stopped early (budget, or replies wait for room): the guest may
	 * signal new packets again. */
	kvmbus_ring_unmask(&ch->rx);
commit:
	if (ch->state != CHAN_OPEN)
		return false;
	signal |= kvmbus_ring_commit(&ch->tx);
	if (signal)
		chan_signal(ch);
	ch->more = more;
	return more;
}
