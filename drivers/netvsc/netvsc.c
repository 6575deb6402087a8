// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbus_netvsc.ko: synthetic network adapter on kvmbus.
 *
 * One netdev per NIC channel the host offers (docs/protocol.md section
 * 7.3, include/kvmbus/netvsc.h).  Each queue is one channel with a NAPI
 * context, a send buffer and a receive buffer registered by GPADL:
 *
 * - Transmit: frames up to a section are copied into a free send-buffer
 *   section; larger and GSO frames go as a GPA list of the skb's own
 *   memory and are freed when the host completes them.  Packets are put
 *   into the ring while xmit_more says more follow; one publish and at
 *   most one signal per batch.  When the ring, the sections or the
 *   request table run out, the queue stops; the completion or the host's
 *   "room again" signal wakes it from NAPI.
 * - Receive: the host writes each frame into a receive-buffer section and
 *   announces it; NAPI copies it into an skb (page fragments for large
 *   segments), applies the metadata, hands it to GRO, and returns the
 *   section with a completion; completions go out in one batch per poll,
 *   or, while only a few wait, with the next transmit's (NETVSC_COMP_LAZY).
 *   With RX_PAGES the sections are small (NETVSC_RECV_SECTION_SMALL) and
 *   NAPI keeps buffers (16 KiB compound pages) posted to the host (POST):
 *   a larger frame continues in the oldest posted buffers, which become
 *   the skb's fragments as they are, without a copy.  NAPI keeps a
 *   reference to them and posts them again once the stack lets go.
 *
 * Every transaction id comes from a request table (never a pointer on the
 * wire); a completion the table does not know is dropped and counted.
 */
#include <linux/etherdevice.h>
#include <linux/ethtool.h>
#include <linux/if_vlan.h>
#include <linux/kmemleak.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/u64_stats_sync.h>
#include <linux/vmalloc.h>
#include <linux/virtio_net.h>
#include <kvmbus/kvmbus.h>
#include <kvmbus/netvsc.h>

#define NETVSC_G2H_RING		(128 * 1024)
#define NETVSC_H2G_RING		(128 * 1024)
#define NETVSC_SEND_SECTION	4096
#define NETVSC_SEND_SECTIONS	256
#define NETVSC_RECV_SECTION	round_up(KVMBUS_NET_MAX_FRAME, 8)
#define NETVSC_RECV_SECTIONS	128
/* RX_PAGES: frames up to a small section are copied, the rest lands in pages. */
#define NETVSC_RECV_SECTION_SMALL	2048
#define NETVSC_RECV_SECTIONS_SMALL	512
/*
 * RX_PAGES: each posted buffer is one compound page of NETVSC_POST_ORDER
 * (16 KiB: a 64 KiB segment is 4 fragments, not 16), or a single page
 * when those run out.  Buffers posted per queue (4 MiB), per POST
 * message, and how many may be consumed before a poll refills them
 * without waiting for its end (the host stops reading the TAP when fewer
 * than a frame's worth are posted).
 */
#define NETVSC_POST_ORDER	2
#define NETVSC_POST_BUFS	256
#define NETVSC_POST_BATCH	KVMBUS_NET_MAX_RANGES
#define NETVSC_POST_REFILL	NETVSC_POST_BATCH
/*
 * RX_PAGES: buffers handed to the stack that we keep a reference to, so
 * that they can be posted again once the stack lets go of them.
 */
#define NETVSC_RECYCLE		(2 * NETVSC_POST_BUFS)
/*
 * Completions of received frames need no doorbell of their own while the
 * host has sections to spare: the next flush (a transmit's, often the
 * ACK of this very poll) publishes them.  At most this many wait, and at
 * most a quarter of the sections.
 */
#define NETVSC_COMP_LAZY	64
#define NETVSC_REQS		1024
/* ethtool -G: sections per queue, each way (TX: no more than requests). */
#define NETVSC_RING_MIN		16
#define NETVSC_RING_MAX		4096
#define NETVSC_SEND_SECTIONS_MAX	NETVSC_REQS
#define NETVSC_MAX_QUEUES	KVMBUS_NET_MAX_QUEUES
#define NETVSC_CTL_TIMEOUT	(10 * HZ)
/* Host->guest packets are small: a PKT or a completion. */
#define NETVSC_PKTBUF		256
/* Received frames up to this are copied into the skb's head. */
#define NETVSC_COPYBREAK	256
#define NETVSC_OFFLOADS		(KVMBUS_NET_OFF_TX_CSUM | \
				 KVMBUS_NET_OFF_TX_TSO4 | \
				 KVMBUS_NET_OFF_TX_TSO6 | \
				 KVMBUS_NET_OFF_RX_CSUM | \
				 KVMBUS_NET_OFF_RX_GSO | KVMBUS_NET_OFF_VLAN | \
				 KVMBUS_NET_OFF_RX_PAGES)

static_assert(NETVSC_POST_BUFS <= KVMBUS_NET_POST_MAX);
static_assert(NETVSC_POST_BATCH <= NETVSC_POST_BUFS);
static_assert((PAGE_SIZE << NETVSC_POST_ORDER) <= KVMBUS_NET_POST_BUF_MAX);

/*
 * The request table: transaction id = generation << 16 | slot + 1.
 * Contexts are tagged in their low bits: an skb (TX in place), a send
 * section, or a control request.
 */
#define NETVSC_CTX_SKB		0UL
#define NETVSC_CTX_SECTION	1UL
#define NETVSC_CTX_CTL		2UL
#define NETVSC_CTX_MASK		3UL

struct netvsc_reqtab {
	spinlock_t lock;		/* everything below */
	unsigned int size;
	unsigned int nr_free;
	u16 *free;			/* stack of free slots */
	u16 *gen;
	void **ctx;
};

struct netvsc_ctl_req {
	struct completion done;
	u32 len;
	u8 resp[sizeof(struct kvmbus_net_init_resp)];
};

struct netvsc_qstats {
	struct u64_stats_sync syncp;
	u64_stats_t packets;
	u64_stats_t bytes;
	u64_stats_t dropped;
	u64_stats_t stops;		/* TX: queue stopped for resources */
	u64_stats_t gpa;		/* TX: sent in place, not copied */
	u64_stats_t errors;		/* TX: host completed with an error */
	u64_stats_t csum;		/* RX: checksum offloaded */
	u64_stats_t gso;		/* RX: segments larger than the MTU */
	u64_stats_t posted;		/* RX: frames that landed in posted pages */
	u64_stats_t recycled;		/* RX: pages posted again, not allocated */
};

struct netvsc_queue {
	struct netvsc *nv;
	u16 index;
	bool open;
	struct netvsc_reqtab reqs;
	struct kvmbus_channel *chan;
	struct napi_struct napi;
	bool napi_added;

	/* Send buffer: sections handed out in xmit, freed on completion. */
	void *send_buf;
	struct page **send_pages;
	u32 send_gpadl;
	unsigned long *send_map;
	unsigned int nr_send;

	/* Receive buffer: the host fills it. */
	void *recv_buf;
	struct page **recv_pages;
	u32 recv_gpadl;
	u32 recv_size;
	u32 recv_section;
	unsigned int nr_recv;
	/* Completions for received frames that found the ring full. */
	u64 *comp_pending;
	unsigned int nr_comp_pending;
	/* Completions NAPI put since its last flush (NETVSC_COMP_LAZY). */
	unsigned int comp_lazy;

	/*
	 * RX_PAGES: pages posted to the host, oldest first, in a ring of
	 * NETVSC_POST_BUFS.  Only NAPI touches them once @post_ready is set.
	 */
	bool post_ready;
	struct page **post;
	unsigned int post_head;
	unsigned int post_nr;
	struct {
		struct kvmbus_gpa_list l;
		struct kvmbus_gpa_range r[NETVSC_POST_BATCH];
	} post_gpa;
	/*
	 * Pages of received frames, oldest first, in a ring of
	 * NETVSC_RECYCLE: each holds one reference of ours besides the
	 * stack's.  NAPI's too.
	 */
	struct page **recycle;
	unsigned int recycle_head;
	unsigned int recycle_nr;

	u8 pktbuf[NETVSC_PKTBUF] ____cacheline_aligned;
	/* The GPA list being built by xmit (serialised by the queue lock). */
	struct {
		struct kvmbus_gpa_list l;
		struct kvmbus_gpa_range r[KVMBUS_NET_MAX_RANGES];
	} tx_gpa;

	struct netvsc_qstats tx;
	struct netvsc_qstats rx;
};

struct netvsc {
	struct kvmbus_device *kdev;
	struct net_device *ndev;
	struct work_struct rx_mode_work;
	/* Held by the receive-mode work and while ethtool -G reopens. */
	struct mutex reopen_lock;
	u32 offloads;			/* granted by the host */
	u32 nr_queues;			/* open now */
	u32 max_queues;			/* the host's limit (offer) */
	u32 link;			/* KVMBUS_NET_LINK_* from the offer */
	u32 rx_sections;		/* ethtool -G; 0: the default */
	u32 tx_sections;
	atomic64_t bad_comp;		/* completions for no request */
	atomic64_t bad_pkt;		/* malformed packets from the host */
	struct netvsc_queue queues[];
};

/* --- request table --------------------------------------------------------- */

static int netvsc_reqtab_init(struct netvsc_reqtab *t, unsigned int size)
{
	unsigned int i;

	spin_lock_init(&t->lock);
	t->free = kcalloc(size, sizeof(*t->free), GFP_KERNEL);
	t->gen = kcalloc(size, sizeof(*t->gen), GFP_KERNEL);
	t->ctx = kcalloc(size, sizeof(*t->ctx), GFP_KERNEL);
	if (!t->free || !t->gen || !t->ctx) {
		kfree(t->free);
		kfree(t->gen);
		kfree(t->ctx);
		return -ENOMEM;
	}
	for (i = 0; i < size; i++)
		t->free[i] = size - 1 - i;
	t->size = size;
	t->nr_free = size;
	return 0;
}

static void netvsc_reqtab_fini(struct netvsc_reqtab *t)
{
	kfree(t->free);
	kfree(t->gen);
	kfree(t->ctx);
}

static int netvsc_req_alloc(struct netvsc_reqtab *t, void *ctx, u64 *id)
{
	unsigned long flags;
	u16 slot;

	spin_lock_irqsave(&t->lock, flags);
	if (!t->nr_free) {
		spin_unlock_irqrestore(&t->lock, flags);
		return -ENOSPC;
	}
	slot = t->free[--t->nr_free];
	t->ctx[slot] = ctx;
	*id = (u64)t->gen[slot] << 16 | (slot + 1);
	spin_unlock_irqrestore(&t->lock, flags);
	return 0;
}

/* Return: the context of live id @id, or NULL for any other value. */
static void *netvsc_req_take(struct netvsc_reqtab *t, u64 id)
{
	u64 slot = (id & 0xffff) - 1;
	unsigned long flags;
	void *ctx = NULL;

	if (!(id & 0xffff) || slot >= t->size || id >> 32)
		return NULL;
	spin_lock_irqsave(&t->lock, flags);
	if (t->ctx[slot] && t->gen[slot] == (u16)(id >> 16)) {
		ctx = t->ctx[slot];
		t->ctx[slot] = NULL;
		t->gen[slot]++;
		t->free[t->nr_free++] = slot;
	}
	spin_unlock_irqrestore(&t->lock, flags);
	return ctx;
}

static void *netvsc_req_take_any(struct netvsc_reqtab *t)
{
	unsigned long flags;
	void *ctx = NULL;
	unsigned int i;

	spin_lock_irqsave(&t->lock, flags);
	for (i = 0; i < t->size; i++) {
		if (!t->ctx[i])
			continue;
		ctx = t->ctx[i];
		t->ctx[i] = NULL;
		t->gen[i]++;
		t->free[t->nr_free++] = i;
		break;
	}
	spin_unlock_irqrestore(&t->lock, flags);
	return ctx;
}

/* --- control messages ------------------------------------------------------ */

/* Send @msg on queue @q and wait for the host's answer. */
static int netvsc_ctl_call(struct netvsc_queue *q, const void *msg, u32 len,
			   void *resp, u32 resp_len)
{
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.flags = KVMBUS_PKT_F_COMP_REQUESTED,
		.data = msg,
		.data_len = len,
	};
	struct netvsc_ctl_req *req;
	long left;
	int ret;

	req = kzalloc(sizeof(*req), GFP_KERNEL);
	if (!req)
		return -ENOMEM;
	init_completion(&req->done);
	ret = netvsc_req_alloc(&q->reqs, (void *)((unsigned long)req |
						   NETVSC_CTX_CTL),
			       &p.trans_id);
	if (ret)
		goto out_free;
	ret = kvmbus_chan_send(q->chan, &p);
	if (ret) {
		/* Not sent: nobody else can have taken it. */
		netvsc_req_take(&q->reqs, p.trans_id);
		goto out_free;
	}
	left = wait_for_completion_timeout(&req->done, NETVSC_CTL_TIMEOUT);
	if (!left) {
		/* Still in the table: take it back, or NAPI owns it now. */
		if (netvsc_req_take(&q->reqs, p.trans_id)) {
			ret = kvmbus_chan_rescinded(q->chan) ? -ENODEV :
							       -ETIMEDOUT;
			goto out_free;
		}
		wait_for_completion(&req->done);
	}
	if (req->len < resp_len) {
		ret = -EPROTO;
		goto out_free;
	}
	memcpy(resp, req->resp, resp_len);
	ret = 0;
out_free:
	kfree(req);
	return ret;
}

/* Return: 0, or -errno from the call or the host's status. */
static int netvsc_ctl_status(struct netvsc_queue *q, const void *msg, u32 len)
{
	struct kvmbus_net_status st;
	int ret = netvsc_ctl_call(q, msg, len, &st, sizeof(st));

	if (ret)
		return ret;
	if (le32_to_cpu(st.hdr.type) != KVMBUS_NET_STATUS)
		return -EPROTO;
	return -(int)min_t(u32, le32_to_cpu(st.status), MAX_ERRNO);
}

static int netvsc_set(struct netvsc *nv, u32 what, u32 mtu, u32 filter,
		      const u8 *mac)
{
	struct kvmbus_net_set m = {
		.hdr.type = cpu_to_le32(KVMBUS_NET_SET),
		.what = cpu_to_le32(what),
		.mtu = cpu_to_le32(mtu),
		.filter = cpu_to_le32(filter),
	};

	if (mac)
		memcpy(m.mac, mac, ETH_ALEN);
	return netvsc_ctl_status(&nv->queues[0], &m, sizeof(m));
}

/* --- transmit -------------------------------------------------------------- */

static void netvsc_meta_from_skb(struct sk_buff *skb,
				 struct kvmbus_net_meta *m)
{
	struct virtio_net_hdr vh;

	memset(m, 0, sizeof(*m));
	/* Only the GSO types the netdev advertises reach here. */
	if (virtio_net_hdr_from_skb(skb, &vh, true, false, 0))
		return;
	if (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		u16 start = __virtio16_to_cpu(true, vh.csum_start);
		u16 off = __virtio16_to_cpu(true, vh.csum_offset);

		m->flags |= KVMBUS_NET_META_NEEDS_CSUM;
		m->csum_start = cpu_to_le16(start);
		m->csum_offset = cpu_to_le16(off);
	}
	switch (vh.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_TCPV4:
		m->gso_type = KVMBUS_NET_GSO_TCPV4;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		m->gso_type = KVMBUS_NET_GSO_TCPV6;
		break;
	default:
		return;
	}
	if (vh.gso_type & VIRTIO_NET_HDR_GSO_ECN)
		m->gso_type |= KVMBUS_NET_GSO_ECN;
	m->gso_size = cpu_to_le16(__virtio16_to_cpu(true, vh.gso_size));
	m->hdr_len = cpu_to_le16(__virtio16_to_cpu(true, vh.hdr_len));
}

static int netvsc_section_get(struct netvsc_queue *q)
{
	unsigned int i;

	/* Only xmit (serialised by the queue lock) sets bits. */
	i = find_first_zero_bit(q->send_map, q->nr_send);
	if (i >= q->nr_send)
		return -ENOSPC;
	set_bit(i, q->send_map);
	return i;
}

static void netvsc_section_put(struct netvsc_queue *q, unsigned int i)
{
	clear_bit(i, q->send_map);
}

/* Build the GPA list of @skb's own memory. Return: ranges, or 0. */
static u32 netvsc_skb_ranges(struct sk_buff *skb, struct kvmbus_gpa_range *r)
{
	u32 n = 0, i;

	if (skb_headlen(skb)) {
		r[n].gpa = cpu_to_le64(virt_to_phys(skb->data));
		r[n++].len = cpu_to_le32(skb_headlen(skb));
	}
	for (i = 0; i < skb_shinfo(skb)->nr_frags; i++) {
		const skb_frag_t *f = &skb_shinfo(skb)->frags[i];

		if (n >= KVMBUS_NET_MAX_RANGES)
			return 0;
		r[n].gpa = cpu_to_le64(page_to_phys(skb_frag_page(f)) +
				       skb_frag_off(f));
		r[n++].len = cpu_to_le32(skb_frag_size(f));
	}
	return n;
}

static void netvsc_stats_add(struct netvsc_qstats *s, u64_stats_t *ctr,
			     u64 n)
{
	u64_stats_update_begin(&s->syncp);
	u64_stats_add(ctr, n);
	u64_stats_update_end(&s->syncp);
}

static void netvsc_tx_done(struct netvsc_queue *q, u64 bytes)
{
	u64_stats_update_begin(&q->tx.syncp);
	u64_stats_inc(&q->tx.packets);
	u64_stats_add(&q->tx.bytes, bytes);
	u64_stats_update_end(&q->tx.syncp);
}

/*
 * Put one frame into the ring. Return: 0, -ENOSPC when a resource ran out
 * (nothing was consumed), or another -errno (drop).
 */
static int netvsc_tx_put(struct netvsc_queue *q, struct sk_buff *skb)
{
	struct kvmbus_net_pkt np = {
		.hdr.type = cpu_to_le32(KVMBUS_NET_PKT),
		.len = cpu_to_le32(skb->len),
	};
	struct kvmbus_ring_pkt p = {
		.flags = KVMBUS_PKT_F_COMP_REQUESTED,
		.data = &np,
		.data_len = sizeof(np),
	};
	unsigned long ctx;
	int sec = -1, ret;
	u32 n;

	netvsc_meta_from_skb(skb, &np.meta);
	if (skb_vlan_tag_present(skb)) {
		np.meta.flags |= KVMBUS_NET_META_VLAN;
		np.meta.vlan_tci = cpu_to_le16(skb_vlan_tag_get(skb));
	}
	if (skb->len <= NETVSC_SEND_SECTION && !skb_is_gso(skb))
		sec = netvsc_section_get(q);
	if (sec >= 0) {
		skb_copy_bits(skb, 0, q->send_buf + sec * NETVSC_SEND_SECTION,
			      skb->len);
		np.section = cpu_to_le32(sec);
		p.type = KVMBUS_PKT_INBAND;
		ctx = (unsigned long)sec << 2 | NETVSC_CTX_SECTION;
	} else {
		n = netvsc_skb_ranges(skb, q->tx_gpa.r);
		if (!n) {
			if (skb_linearize(skb))
				return -ENOMEM;
			n = netvsc_skb_ranges(skb, q->tx_gpa.r);
		}
		q->tx_gpa.l.nr_ranges = cpu_to_le32(n);
		q->tx_gpa.l.reserved = 0;
		np.section = cpu_to_le32(KVMBUS_NET_NO_SECTION);
		p.type = KVMBUS_PKT_GPA;
		p.hdr = &q->tx_gpa;
		p.hdr_len = sizeof(q->tx_gpa.l) + n * sizeof(q->tx_gpa.r[0]);
		ctx = (unsigned long)skb | NETVSC_CTX_SKB;
	}
	ret = netvsc_req_alloc(&q->reqs, (void *)ctx, &p.trans_id);
	if (ret)
		goto err_section;
	ret = kvmbus_chan_put(q->chan, &p);
	if (ret) {
		netvsc_req_take(&q->reqs, p.trans_id);
		goto err_section;
	}
	if (sec >= 0) {
		netvsc_tx_done(q, skb->len);
		dev_consume_skb_any(skb);
	} else {
		netvsc_stats_add(&q->tx, &q->tx.gpa, 1);
	}
	return 0;

err_section:
	if (sec >= 0)
		netvsc_section_put(q, sec);
	return ret;
}

static netdev_tx_t netvsc_xmit(struct sk_buff *skb, struct net_device *ndev)
{
	struct netvsc *nv = netdev_priv(ndev);
	u16 qi = skb_get_queue_mapping(skb);
	struct netvsc_queue *q = &nv->queues[qi];
	struct netdev_queue *txq = netdev_get_tx_queue(ndev, qi);
	int ret;

	ret = netvsc_tx_put(q, skb);
	if (ret == -ENOSPC) {
		netif_tx_stop_queue(txq);
		netvsc_stats_add(&q->tx, &q->tx.stops, 1);
		/*
		 * Pairs with the barrier in netvsc_tx_wake(): either it sees
		 * the queue stopped, or we see the resources it freed.
		 */
		smp_mb();
		ret = netvsc_tx_put(q, skb);
		if (ret == -ENOSPC) {
			kvmbus_chan_flush(q->chan);
			return NETDEV_TX_BUSY;
		}
		netif_tx_start_queue(txq);
	}
	if (ret) {
		netvsc_stats_add(&q->tx, &q->tx.dropped, 1);
		dev_kfree_skb_any(skb);
	}
	if (!netdev_xmit_more() || netif_xmit_stopped(txq))
		kvmbus_chan_flush(q->chan);
	return NETDEV_TX_OK;
}

static void netvsc_tx_wake(struct netvsc_queue *q)
{
	struct netdev_queue *txq = netdev_get_tx_queue(q->nv->ndev, q->index);

	/* Pairs with the barrier in netvsc_xmit(). */
	smp_mb();
	if (netif_tx_queue_stopped(txq))
		netif_tx_wake_queue(txq);
}

/* A completion for something we sent. */
static void netvsc_comp(struct netvsc_queue *q, const struct kvmbus_pkt_info *pi)
{
	struct netvsc *nv = q->nv;
	struct netvsc_ctl_req *req;
	struct sk_buff *skb;
	unsigned long ctx;
	u32 status = 0;
	void *data = q->pktbuf + pi->data_offset;

	ctx = (unsigned long)netvsc_req_take(&q->reqs, pi->trans_id);
	if (!ctx) {
		atomic64_inc(&nv->bad_comp);
		return;
	}
	if (pi->data_len >= sizeof(struct kvmbus_net_status))
		status = le32_to_cpu(((struct kvmbus_net_status *)data)->status);
	switch (ctx & NETVSC_CTX_MASK) {
	case NETVSC_CTX_SECTION:
		netvsc_section_put(q, ctx >> 2);
		if (status)
			netvsc_stats_add(&q->tx, &q->tx.errors, 1);
		break;
	case NETVSC_CTX_SKB:
		skb = (struct sk_buff *)ctx;
		if (status)
			netvsc_stats_add(&q->tx, &q->tx.errors, 1);
		else
			netvsc_tx_done(q, skb->len);
		napi_consume_skb(skb, 1);
		break;
	default:
		req = (struct netvsc_ctl_req *)(ctx & ~NETVSC_CTX_MASK);
		req->len = min_t(u32, pi->data_len, sizeof(req->resp));
		memcpy(req->resp, data, req->len);
		complete(&req->done);
		break;
	}
}

/* --- receive --------------------------------------------------------------- */

static void netvsc_rx_complete(struct netvsc_queue *q, u64 id)
{
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_COMP,
		.trans_id = id,
	};

	if (q->nr_comp_pending || kvmbus_chan_put(q->chan, &p) == -ENOSPC) {
		/* At most one per receive section can be outstanding. */
		if (q->nr_comp_pending < q->nr_recv)
			q->comp_pending[q->nr_comp_pending++] = id;
		return;
	}
	q->comp_lazy++;
}

static void netvsc_rx_comp_retry(struct netvsc_queue *q)
{
	struct kvmbus_ring_pkt p = { .type = KVMBUS_PKT_COMP };
	unsigned int i;

	for (i = 0; i < q->nr_comp_pending; i++) {
		p.trans_id = q->comp_pending[i];
		if (kvmbus_chan_put(q->chan, &p) == -ENOSPC)
			break;
		q->comp_lazy++;
	}
	memmove(q->comp_pending, q->comp_pending + i,
		(q->nr_comp_pending - i) * sizeof(*q->comp_pending));
	q->nr_comp_pending -= i;
}

static struct sk_buff *netvsc_rx_skb(struct netvsc_queue *q, const u8 *data,
				     u32 len)
{
	u32 head = len <= NETVSC_COPYBREAK * 4 ? len : NETVSC_COPYBREAK;
	struct sk_buff *skb;
	u32 off = head;

	skb = napi_alloc_skb(&q->napi, head);
	if (!skb)
		return NULL;
	skb_put_data(skb, data, head);
	/* The rest into page fragments: no high-order allocation. */
	while (off < len) {
		u32 chunk = min_t(u32, len - off, PAGE_SIZE);
		struct page *page;

		if (skb_shinfo(skb)->nr_frags >= MAX_SKB_FRAGS)
			goto err_free;
		page = dev_alloc_page();
		if (!page)
			goto err_free;
		memcpy(page_address(page), data + off, chunk);
		skb_add_rx_frag(skb, skb_shinfo(skb)->nr_frags, page, 0, chunk,
				PAGE_SIZE);
		off += chunk;
	}
	return skb;

err_free:
	dev_kfree_skb_any(skb);
	return NULL;
}

static void netvsc_rx_meta(struct sk_buff *skb,
			   const struct kvmbus_net_meta *m, u32 offloads)
{
	struct virtio_net_hdr vh = { };
	u8 gso = m->gso_type & ~KVMBUS_NET_GSO_ECN;

	if (m->flags & KVMBUS_NET_META_NEEDS_CSUM) {
		vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		vh.csum_start = __cpu_to_virtio16(true,
						  le16_to_cpu(m->csum_start));
		vh.csum_offset = __cpu_to_virtio16(true,
						   le16_to_cpu(m->csum_offset));
	}
	if (gso == KVMBUS_NET_GSO_TCPV4)
		vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	else if (gso == KVMBUS_NET_GSO_TCPV6)
		vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	if (vh.gso_type) {
		if (m->gso_type & KVMBUS_NET_GSO_ECN)
			vh.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
		vh.gso_size = __cpu_to_virtio16(true, le16_to_cpu(m->gso_size));
		vh.hdr_len = __cpu_to_virtio16(true, le16_to_cpu(m->hdr_len));
	}
	if (virtio_net_hdr_to_skb(skb, &vh, true))
		skb->ip_summed = CHECKSUM_NONE;	/* let the stack check */
	else if (!(vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
		 (m->flags & KVMBUS_NET_META_DATA_VALID))
		skb->ip_summed = CHECKSUM_UNNECESSARY;
	if ((m->flags & KVMBUS_NET_META_VLAN) &&
	    (offloads & KVMBUS_NET_OFF_VLAN))
		__vlan_hwaccel_put_tag(skb, htons(ETH_P_8021Q),
				       le16_to_cpu(m->vlan_tci));
}

/* Bytes of a posted buffer: a page, or a compound page. */
static u32 netvsc_post_len(struct page *page)
{
	return PAGE_SIZE << compound_order(page);
}

/*
 * How many of the oldest posted buffers @posted bytes filled: the host
 * fills each completely but the last.  Return: the count, or 0 if that is
 * more than we posted or than an skb can hold.
 */
static unsigned int netvsc_post_count(struct netvsc_queue *q, u32 posted)
{
	unsigned int n = 0;
	u32 got = 0;

	while (got < posted) {
		if (n == q->post_nr || n == MAX_SKB_FRAGS)
			return 0;
		got += netvsc_post_len(q->post[(q->post_head + n) %
					       NETVSC_POST_BUFS]);
		n++;
	}
	return n;
}

/* Take the oldest @n posted buffers back from the host. */
static void netvsc_post_take(struct netvsc_queue *q, struct page **pages,
			     unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		pages[i] = q->post[q->post_head];
		q->post_head = (q->post_head + 1) % NETVSC_POST_BUFS;
	}
	q->post_nr -= n;
}

/*
 * Drop our reference to the oldest page of a FIFO of pages (the posted
 * buffers, the recycling ring); *@nr must not be 0.
 */
static void netvsc_fifo_put_oldest(struct page **fifo, unsigned int *head,
				   unsigned int *nr, unsigned int size)
{
	put_page(fifo[*head]);
	*head = (*head + 1) % size;
	(*nr)--;
}

/*
 * Keep a reference to @page, which the stack now holds too, so that
 * netvsc_page_get() can post it again without the page allocator (whose
 * pages Debian's kernels zero: init_on_alloc).  The oldest kept page makes
 * room when the ring is full; the stack then frees it as usual.
 */
static void netvsc_recycle_keep(struct netvsc_queue *q, struct page *page)
{
	unsigned int at;

	/* An emergency reserve page goes back as soon as possible. */
	if (unlikely(page_is_pfmemalloc(page)))
		return;
	if (q->recycle_nr == NETVSC_RECYCLE)
		netvsc_fifo_put_oldest(q->recycle, &q->recycle_head,
				       &q->recycle_nr, NETVSC_RECYCLE);
	page_ref_inc(page);
	at = (q->recycle_head + q->recycle_nr++) % NETVSC_RECYCLE;
	q->recycle[at] = page;
}

/*
 * A buffer to post: the oldest kept one if ours is its only reference
 * left (the stack has consumed its frame), else a new one, a single page
 * if no compound one is free.  @recycled counts the former.
 * Return: the (head) page, or NULL.
 */
static struct page *netvsc_page_get(struct netvsc_queue *q, u64 *recycled)
{
	struct page *page;

	if (q->recycle_nr) {
		page = q->recycle[q->recycle_head];
		if (page_ref_count(page) == 1) {
			/*
			 * Whoever dropped the other references did so with a
			 * fully ordered atomic (put_page()), after their last
			 * read of the page; this orders handing the page to the
			 * host after those reads.
			 */
			smp_acquire__after_ctrl_dep();
			q->recycle_head = (q->recycle_head + 1) % NETVSC_RECYCLE;
			q->recycle_nr--;
			(*recycled)++;
			return page;
		}
	}
	page = dev_alloc_pages(NETVSC_POST_ORDER);
	return page ?: dev_alloc_page();
}

/*
 * A frame of @head bytes copied from the section and @posted bytes in the
 * @n posted buffers @pages, which become its fragments as they are.  The
 * buffers are the skb's, or freed, whatever happens.
 */
static struct sk_buff *netvsc_rx_skb_pages(struct netvsc_queue *q,
					   const u8 *data, u32 head,
					   struct page **pages, unsigned int n,
					   u32 posted)
{
	struct sk_buff *skb;
	u32 chunk, size;
	unsigned int i;

	skb = napi_alloc_skb(&q->napi, head);
	if (!skb) {
		for (i = 0; i < n; i++)
			put_page(pages[i]);
		return NULL;
	}
	skb_put_data(skb, data, head);
	for (i = 0; i < n; i++) {
		size = netvsc_post_len(pages[i]);
		chunk = min(posted, size);
		skb_add_rx_frag(skb, i, pages[i], 0, chunk, size);
		netvsc_recycle_keep(q, pages[i]);
		posted -= chunk;
	}
	return skb;
}

/* A frame from the host; the section goes back whatever happens. */
static void netvsc_rx(struct netvsc_queue *q, const struct kvmbus_pkt_info *pi)
{
	struct net_device *ndev = q->nv->ndev;
	struct page *pages[MAX_SKB_FRAGS];
	struct kvmbus_net_pkt np;
	u32 off, len, head, posted;
	unsigned int npages = 0;
	struct sk_buff *skb;
	const u8 *buf;

	if (pi->data_len < sizeof(np)) {
		atomic64_inc(&q->nv->bad_pkt);
		goto complete;
	}
	memcpy(&np, q->pktbuf + pi->data_offset, sizeof(np));
	off = le32_to_cpu(np.offset);
	len = le32_to_cpu(np.len);
	posted = le32_to_cpu(np.posted);
	head = len - posted;
	/* Pairs with smp_store_release() in netvsc_recv_open(). */
	buf = smp_load_acquire(&q->recv_buf);
	if (!buf || le32_to_cpu(np.hdr.type) != KVMBUS_NET_PKT ||
	    len > KVMBUS_NET_MAX_FRAME || posted > len || head < ETH_HLEN ||
	    off > q->recv_size || head > q->recv_size - off) {
		atomic64_inc(&q->nv->bad_pkt);
		goto complete;
	}
	if (posted) {
		/* Only what we posted, and no more than an skb can hold. */
		/* Pairs with smp_store_release() in netvsc_recv_open(). */
		if (smp_load_acquire(&q->post_ready))
			npages = netvsc_post_count(q, posted);
		if (!npages) {
			atomic64_inc(&q->nv->bad_pkt);
			goto complete;
		}
		netvsc_post_take(q, pages, npages);
	}
	if (!netif_running(ndev)) {
		while (npages)
			put_page(pages[--npages]);
		netvsc_stats_add(&q->rx, &q->rx.dropped, 1);
		goto complete;
	}
	/*
	 * The host may scribble over the section meanwhile: that only
	 * corrupts this frame, which the checksums then catch.
	 */
	if (posted)
		skb = netvsc_rx_skb_pages(q, buf + off, head, pages, npages,
					  posted);
	else
		skb = netvsc_rx_skb(q, buf + off, len);
	if (!skb) {
		netvsc_stats_add(&q->rx, &q->rx.dropped, 1);
		goto complete;
	}
	netvsc_rx_meta(skb, &np.meta, q->nv->offloads);
	skb->protocol = eth_type_trans(skb, ndev);
	skb_record_rx_queue(skb, q->index);
	u64_stats_update_begin(&q->rx.syncp);
	u64_stats_inc(&q->rx.packets);
	u64_stats_add(&q->rx.bytes, len);
	if (skb->ip_summed != CHECKSUM_NONE)
		u64_stats_inc(&q->rx.csum);
	if (skb_is_gso(skb))
		u64_stats_inc(&q->rx.gso);
	if (posted)
		u64_stats_inc(&q->rx.posted);
	u64_stats_update_end(&q->rx.syncp);
	napi_gro_receive(&q->napi, skb);
complete:
	netvsc_rx_complete(q, pi->trans_id);
}

static void netvsc_link(struct netvsc_queue *q,
			const struct kvmbus_pkt_info *pi)
{
	struct kvmbus_net_link l;

	if (pi->data_len < sizeof(l) || q->index) {
		atomic64_inc(&q->nv->bad_pkt);
		return;
	}
	memcpy(&l, q->pktbuf + pi->data_offset, sizeof(l));
	if (le32_to_cpu(l.link) & KVMBUS_NET_LINK_UP)
		netif_carrier_on(q->nv->ndev);
	else
		netif_carrier_off(q->nv->ndev);
}

/*
 * RX_PAGES: post buffers until NETVSC_POST_BUFS are with the host,
 * a batch per POST.  NAPI only: the posted ring is NAPI's.
 * Return: true if a POST went into the ring (it needs a flush).
 */
static bool netvsc_post_refill(struct netvsc_queue *q)
{
	struct kvmbus_net_post m = {
		.hdr.type = cpu_to_le32(KVMBUS_NET_POST),
	};
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_GPA,
		.data = &m,
		.data_len = sizeof(m),
		.hdr = &q->post_gpa,
	};
	unsigned int n, at;
	u64 recycled = 0;
	struct page *page;
	bool put = false;

	while (NETVSC_POST_BUFS - q->post_nr >= NETVSC_POST_BATCH) {
		for (n = 0; n < NETVSC_POST_BATCH; n++) {
			page = netvsc_page_get(q, &recycled);
			if (!page)
				break;
			at = (q->post_head + q->post_nr + n) % NETVSC_POST_BUFS;
			q->post[at] = page;
			q->post_gpa.r[n].gpa = cpu_to_le64(page_to_phys(page));
			q->post_gpa.r[n].len = cpu_to_le32(netvsc_post_len(page));
		}
		if (!n)
			break;
		q->post_gpa.l.nr_ranges = cpu_to_le32(n);
		q->post_gpa.l.reserved = 0;
		m.nr = cpu_to_le32(n);
		p.hdr_len = sizeof(q->post_gpa.l) + n * sizeof(q->post_gpa.r[0]);
		if (kvmbus_chan_put(q->chan, &p)) {
			/* The ring is full: try again next poll. */
			while (n--) {
				at = (q->post_head + q->post_nr + n) %
				     NETVSC_POST_BUFS;
				put_page(q->post[at]);
			}
			break;
		}
		q->post_nr += n;
		put = true;
		if (n < NETVSC_POST_BATCH)
			break;
	}
	/* (A page put back above was counted: close enough for a counter.) */
	if (recycled)
		netvsc_stats_add(&q->rx, &q->rx.recycled, recycled);
	return put;
}

/* NAPI: publish what it put into the ring, with at most one signal. */
static void netvsc_napi_flush(struct netvsc_queue *q)
{
	kvmbus_chan_flush(q->chan);
	q->comp_lazy = 0;
}

/* Mid-poll: refill, and tell a host that may be waiting for pages. */
static void netvsc_post_more(struct netvsc_queue *q)
{
	/* Pairs with smp_store_release() in netvsc_recv_open(). */
	if (!smp_load_acquire(&q->post_ready))
		return;
	netvsc_post_refill(q);
	netvsc_napi_flush(q);
}

static int netvsc_poll(struct napi_struct *napi, int budget)
{
	struct netvsc_queue *q = container_of(napi, struct netvsc_queue, napi);
	struct kvmbus_pkt_info pi;
	struct kvmbus_net_hdr h;
	bool posts = false;
	int work = 0;

	netvsc_rx_comp_retry(q);
	while (work < budget &&
	       !kvmbus_chan_recv(q->chan, q->pktbuf, sizeof(q->pktbuf), &pi)) {
		if (pi.type == KVMBUS_PKT_COMP) {
			netvsc_comp(q, &pi);
			continue;
		}
		if (pi.type != KVMBUS_PKT_INBAND ||
		    pi.data_len < sizeof(h)) {
			atomic64_inc(&q->nv->bad_pkt);
			continue;
		}
		memcpy(&h, q->pktbuf + pi.data_offset, sizeof(h));
		switch (le32_to_cpu(h.type)) {
		case KVMBUS_NET_PKT:
			netvsc_rx(q, &pi);
			work++;
			/* Keep the host reading while this poll goes on. */
			if (NETVSC_POST_BUFS - q->post_nr >= NETVSC_POST_REFILL)
				netvsc_post_more(q);
			break;
		case KVMBUS_NET_LINK:
			netvsc_link(q, &pi);
			break;
		default:
			atomic64_inc(&q->nv->bad_pkt);
			if (pi.flags & KVMBUS_PKT_F_COMP_REQUESTED)
				netvsc_rx_complete(q, pi.trans_id);
			break;
		}
	}
	/* Pairs with smp_store_release() in netvsc_recv_open(). */
	if (smp_load_acquire(&q->post_ready))
		posts = netvsc_post_refill(q);
	/*
	 * One publish, at most one signal, for everything above; a few
	 * completions alone wait for the next flush (NETVSC_COMP_LAZY).
	 */
	if (posts || q->nr_comp_pending ||
	    q->comp_lazy >= min(NETVSC_COMP_LAZY, q->nr_recv / 4))
		netvsc_napi_flush(q);
	if (kvmbus_chan_recv_done(q->chan) && work < budget)
		work = budget;	/* more came meanwhile, unsignalled: poll on */
	netvsc_tx_wake(q);
	if (work < budget && napi_complete_done(napi, work) &&
	    kvmbus_chan_unmask(q->chan) && napi_schedule_prep(napi)) {
		/* Packets raced the unmask: no signal comes for them. */
		kvmbus_chan_mask(q->chan);
		__napi_schedule(napi);
	}
	return min(work, budget);
}

static void netvsc_callback(struct kvmbus_channel *chan, void *ctx)
{
	struct netvsc_queue *q = ctx;

	if (napi_schedule_prep(&q->napi)) {
		kvmbus_chan_mask(chan);
		__napi_schedule_irqoff(&q->napi);
	}
}

/* --- queue set-up ---------------------------------------------------------- */

/* Largest chunk a buffer is built from: 64 KiB keeps GPADLs short. */
#define NETVSC_BUF_ORDER	4

/*
 * A buffer the host maps as one view: few physically contiguous chunks
 * (each one GPADL run), mapped contiguously here with vmap().
 * Return: the mapping, with *@pagesp the pages to free, or NULL.
 */
static void *netvsc_buf_alloc(size_t size, struct page ***pagesp)
{
	unsigned int n = size >> PAGE_SHIFT, i = 0, j, order;
	struct page **pages, *page;
	void *addr;

	pages = kvcalloc(n, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return NULL;
	while (i < n) {
		order = min_t(unsigned int, NETVSC_BUF_ORDER, ilog2(n - i));
		for (;;) {
			page = alloc_pages(GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN |
					   (order ? __GFP_NORETRY : 0), order);
			if (page || !order)
				break;
			order--;
		}
		if (!page)
			goto err_free;
		split_page(page, order);
		for (j = 0; j < (1u << order); j++)
			pages[i++] = page + j;
	}
	addr = vmap(pages, n, VM_MAP, PAGE_KERNEL);
	if (!addr)
		goto err_free;
	*pagesp = pages;
	return addr;

err_free:
	while (i)
		__free_page(pages[--i]);
	kvfree(pages);
	return NULL;
}

/*
 * A buffer the host may still reach (its GPADL was not torn down, or its
 * creation was never answered) is never freed: forget it, on purpose.
 */
static void netvsc_buf_leak(struct netvsc_queue *q, const char *what,
			    size_t size, void **addr, struct page ***pages)
{
	netdev_warn(q->nv->ndev,
		    "queue %u: the host may still reach the %s buffer; leaking %zu bytes\n",
		    q->index, what, size);
	kmemleak_not_leak(*pages);
	*addr = NULL;
	*pages = NULL;
}

static void netvsc_buf_free(void *addr, struct page **pages, size_t size)
{
	unsigned int i;

	if (!addr)
		return;
	vunmap(addr);
	for (i = 0; i < size >> PAGE_SHIFT; i++)
		__free_page(pages[i]);
	kvfree(pages);
}

static int netvsc_buf_register(struct netvsc_queue *q, u32 kind, u32 gpadl,
			       u32 size, u32 section)
{
	struct kvmbus_net_buf m = {
		.hdr.type = cpu_to_le32(KVMBUS_NET_BUF),
		.kind = cpu_to_le32(kind),
		.gpadl = cpu_to_le32(gpadl),
		.size = cpu_to_le32(size),
		.section_size = cpu_to_le32(section),
	};

	return netvsc_ctl_status(q, &m, sizeof(m));
}

static int netvsc_queue_init(struct netvsc_queue *q, u32 *offloads, u32 *link)
{
	struct kvmbus_net_init m = {
		.hdr.type = cpu_to_le32(KVMBUS_NET_INIT),
		.version_min = cpu_to_le32(KVMBUS_NET_VERSION_1),
		.version_max = cpu_to_le32(KVMBUS_NET_VERSION_1),
		.offloads = cpu_to_le32(NETVSC_OFFLOADS),
	};
	struct kvmbus_net_init_resp r;
	int ret;

	ret = netvsc_ctl_call(q, &m, sizeof(m), &r, sizeof(r));
	if (ret)
		return ret;
	if (le32_to_cpu(r.hdr.type) != KVMBUS_NET_INIT_RESP)
		return -EPROTO;
	if (r.status)
		return -(int)min_t(u32, le32_to_cpu(r.status), MAX_ERRNO);
	if (le32_to_cpu(r.version) != KVMBUS_NET_VERSION_1)
		return -EPROTONOSUPPORT;
	*offloads = le32_to_cpu(r.offloads) & NETVSC_OFFLOADS;
	*link = le32_to_cpu(r.link);
	return 0;
}

/* Give the buffers back; a GPADL the host kept means leaking the memory. */
static void netvsc_queue_free_bufs(struct netvsc_queue *q)
{
	struct kvmbus_device *kdev = q->nv->kdev;

	if (q->recv_gpadl && kvmbus_gpadl_teardown(kdev, q->recv_gpadl))
		netvsc_buf_leak(q, "receive", PAGE_ALIGN(q->recv_size),
				&q->recv_buf, &q->recv_pages);
	if (q->send_gpadl && kvmbus_gpadl_teardown(kdev, q->send_gpadl))
		netvsc_buf_leak(q, "send", q->nr_send * NETVSC_SEND_SECTION,
				&q->send_buf, &q->send_pages);
	q->recv_gpadl = 0;
	q->send_gpadl = 0;
	netvsc_buf_free(q->recv_buf, q->recv_pages, PAGE_ALIGN(q->recv_size));
	netvsc_buf_free(q->send_buf, q->send_pages,
			q->nr_send * NETVSC_SEND_SECTION);
	q->recv_buf = NULL;
	q->send_buf = NULL;
	bitmap_free(q->send_map);
	q->send_map = NULL;
	kfree(q->comp_pending);
	q->comp_pending = NULL;
	/* The channel is closed: the host has let go of the posted pages. */
	q->post_ready = false;
	while (q->post_nr)
		netvsc_fifo_put_oldest(q->post, &q->post_head, &q->post_nr,
				       NETVSC_POST_BUFS);
	kfree(q->post);
	q->post = NULL;
	q->post_head = 0;
	while (q->recycle_nr)
		netvsc_fifo_put_oldest(q->recycle, &q->recycle_head,
				       &q->recycle_nr, NETVSC_RECYCLE);
	kfree(q->recycle);
	q->recycle = NULL;
	q->recycle_head = 0;
}

static void netvsc_drain_reqs(struct netvsc_queue *q);

static void netvsc_queue_close(struct netvsc_queue *q)
{
	if (!q->open)
		return;
	q->open = false;
	if (q->napi_added) {
		napi_disable(&q->napi);
		netif_napi_del(&q->napi);
		q->napi_added = false;
	}
	if (q->chan)
		kvmbus_channel_close(q->chan);
	q->chan = NULL;
	netvsc_drain_reqs(q);
	netvsc_reqtab_fini(&q->reqs);
	netvsc_queue_free_bufs(q);
}

/*
 * The receive buffer, sized for what INIT granted: with RX_PAGES small
 * sections and pages posted from NAPI, else sections for the largest frame.
 */
static int netvsc_recv_open(struct netvsc_queue *q, bool pages)
{
	void *buf;
	int ret;

	q->recv_section = pages ? NETVSC_RECV_SECTION_SMALL :
				  NETVSC_RECV_SECTION;
	q->nr_recv = pages ? NETVSC_RECV_SECTIONS_SMALL : NETVSC_RECV_SECTIONS;
	if (q->nv->rx_sections)
		q->nr_recv = min(q->nv->rx_sections,
				 KVMBUS_NET_RECV_BUF_MAX / q->recv_section);
	q->recv_size = q->recv_section * q->nr_recv;
	buf = netvsc_buf_alloc(PAGE_ALIGN(q->recv_size), &q->recv_pages);
	q->comp_pending = kcalloc(q->nr_recv, sizeof(*q->comp_pending),
				  GFP_KERNEL);
	if (pages) {
		q->post = kcalloc(NETVSC_POST_BUFS, sizeof(*q->post),
				  GFP_KERNEL);
		q->recycle = kcalloc(NETVSC_RECYCLE, sizeof(*q->recycle),
				     GFP_KERNEL);
	}
	if (!buf || !q->comp_pending ||
	    (pages && (!q->post || !q->recycle))) {
		ret = -ENOMEM;
		goto err_free_buf;
	}
	ret = kvmbus_gpadl_create(q->nv->kdev, buf, PAGE_ALIGN(q->recv_size),
				  &q->recv_gpadl);
	if (ret == -ETIMEDOUT) {
		/* The host may reach it after all: never freed. */
		netvsc_buf_leak(q, "receive", PAGE_ALIGN(q->recv_size),
				&buf, &q->recv_pages);
		return ret;
	}
	if (ret)
		goto err_free_buf;
	/*
	 * netvsc_rx() takes no frame before the buffer is here and the
	 * host has it; pairs with smp_load_acquire() there.
	 */
	smp_store_release(&q->recv_buf, buf);
	ret = netvsc_buf_register(q, KVMBUS_NET_BUF_RECV, q->recv_gpadl,
				  q->recv_size, q->recv_section);
	if (ret || !pages)
		return ret;
	/* From here NAPI owns the posted ring; pairs with netvsc_poll(). */
	smp_store_release(&q->post_ready, true);
	local_bh_disable();
	if (napi_schedule_prep(&q->napi)) {
		kvmbus_chan_mask(q->chan);
		__napi_schedule(&q->napi);
	}
	local_bh_enable();
	return 0;

err_free_buf:
	netvsc_buf_free(buf, q->recv_pages, PAGE_ALIGN(q->recv_size));
	q->recv_pages = NULL;
	return ret;
}

static int netvsc_queue_open(struct netvsc_queue *q, u32 *offloads, u32 *link)
{
	struct kvmbus_chan_config cfg = {
		.g2h_size = NETVSC_G2H_RING,
		.h2g_size = NETVSC_H2G_RING,
		.callback = netvsc_callback,
		.ctx = q,
		.sub_index = q->index,
	};
	struct kvmbus_device *kdev = q->nv->kdev;
	int ret;

	ret = netvsc_reqtab_init(&q->reqs, NETVSC_REQS);
	if (ret)
		return ret;
	q->open = true;
	u64_stats_init(&q->tx.syncp);
	u64_stats_init(&q->rx.syncp);
	q->nr_send = q->nv->tx_sections ?: NETVSC_SEND_SECTIONS;
	q->send_buf = netvsc_buf_alloc(q->nr_send * NETVSC_SEND_SECTION,
				       &q->send_pages);
	q->send_map = bitmap_zalloc(q->nr_send, GFP_KERNEL);
	if (!q->send_buf || !q->send_map) {
		ret = -ENOMEM;
		goto err_free_bufs;
	}
	ret = kvmbus_gpadl_create(kdev, q->send_buf,
				  q->nr_send * NETVSC_SEND_SECTION,
				  &q->send_gpadl);
	if (ret == -ETIMEDOUT)
		netvsc_buf_leak(q, "send", q->nr_send * NETVSC_SEND_SECTION,
				&q->send_buf, &q->send_pages);
	if (ret)
		goto err_free_bufs;

	netif_napi_add(q->nv->ndev, &q->napi, netvsc_poll);
	q->napi_added = true;
	napi_enable(&q->napi);
	ret = kvmbus_channel_open(kdev, &cfg, &q->chan);
	if (ret) {
		q->chan = NULL;
		goto err_close;
	}
	ret = netvsc_queue_init(q, offloads, link);
	if (ret)
		goto err_close;
	ret = netvsc_buf_register(q, KVMBUS_NET_BUF_SEND, q->send_gpadl,
				  q->nr_send * NETVSC_SEND_SECTION,
				  NETVSC_SEND_SECTION);
	if (ret)
		goto err_close;
	ret = netvsc_recv_open(q, *offloads & KVMBUS_NET_OFF_RX_PAGES);
	if (ret)
		goto err_close;
	return 0;

err_close:
	netvsc_queue_close(q);
	return ret;
err_free_bufs:
	netvsc_queue_free_bufs(q);
	netvsc_reqtab_fini(&q->reqs);
	q->open = false;
	return ret;
}

/* Free everything the host never completed (after the channel closed). */
static void netvsc_drain_reqs(struct netvsc_queue *q)
{
	unsigned long ctx;

	while ((ctx = (unsigned long)netvsc_req_take_any(&q->reqs))) {
		switch (ctx & NETVSC_CTX_MASK) {
		case NETVSC_CTX_SKB:
			dev_kfree_skb_any((struct sk_buff *)ctx);
			break;
		case NETVSC_CTX_CTL:
			complete(&((struct netvsc_ctl_req *)
				   (ctx & ~NETVSC_CTX_MASK))->done);
			break;
		default:
			break;
		}
	}
}

/* --- net_device_ops -------------------------------------------------------- */

static int netvsc_open(struct net_device *ndev)
{
	netif_tx_start_all_queues(ndev);
	return 0;
}

static int netvsc_stop(struct net_device *ndev)
{
	netif_tx_disable(ndev);
	return 0;
}

static void netvsc_get_stats64(struct net_device *ndev,
			       struct rtnl_link_stats64 *st)
{
	struct netvsc *nv = netdev_priv(ndev);
	unsigned int i, start;

	for (i = 0; i < nv->nr_queues; i++) {
		struct netvsc_queue *q = &nv->queues[i];
		u64 p, b, d, e;

		do {
			start = u64_stats_fetch_begin(&q->tx.syncp);
			p = u64_stats_read(&q->tx.packets);
			b = u64_stats_read(&q->tx.bytes);
			d = u64_stats_read(&q->tx.dropped);
			e = u64_stats_read(&q->tx.errors);
		} while (u64_stats_fetch_retry(&q->tx.syncp, start));
		st->tx_packets += p;
		st->tx_bytes += b;
		st->tx_dropped += d;
		st->tx_errors += e;
		do {
			start = u64_stats_fetch_begin(&q->rx.syncp);
			p = u64_stats_read(&q->rx.packets);
			b = u64_stats_read(&q->rx.bytes);
			d = u64_stats_read(&q->rx.dropped);
		} while (u64_stats_fetch_retry(&q->rx.syncp, start));
		st->rx_packets += p;
		st->rx_bytes += b;
		st->rx_dropped += d;
	}
	st->rx_errors = atomic64_read(&nv->bad_pkt);
}

static int netvsc_change_mtu(struct net_device *ndev, int mtu)
{
	struct netvsc *nv = netdev_priv(ndev);
	int ret;

	ret = netvsc_set(nv, KVMBUS_NET_SET_MTU, mtu, 0, NULL);
	if (ret)
		return ret;
	WRITE_ONCE(ndev->mtu, mtu);
	return 0;
}

static int netvsc_set_mac(struct net_device *ndev, void *p)
{
	struct netvsc *nv = netdev_priv(ndev);
	struct sockaddr *sa = p;
	int ret;

	ret = eth_prepare_mac_addr_change(ndev, p);
	if (ret)
		return ret;
	ret = netvsc_set(nv, KVMBUS_NET_SET_MAC, 0, 0, sa->sa_data);
	if (ret)
		return ret;
	eth_commit_mac_addr_change(ndev, p);
	return 0;
}

/*
 * Return: the number of multicast addresses copied to @m, or
 * KVMBUS_NET_MCAST_MAX + 1 when there are more than it can hold.
 */
static u32 netvsc_mc_list(struct net_device *ndev,
			  struct kvmbus_net_set_mcast *m)
{
	struct netdev_hw_addr *ha;
	u32 n = 0;

	netif_addr_lock_bh(ndev);
	if (netdev_mc_count(ndev) > KVMBUS_NET_MCAST_MAX) {
		n = KVMBUS_NET_MCAST_MAX + 1;
	} else {
		netdev_for_each_mc_addr(ha, ndev)
			ether_addr_copy(m->mac[n++], ha->addr);
	}
	netif_addr_unlock_bh(ndev);
	return n;
}

/*
 * The host enforces the filter (docs/protocol.md 7.3): send the groups
 * we joined, or ALLMULTI when they do not fit or the host refuses lists.
 */
static void netvsc_rx_mode_sync(struct netvsc *nv)
{
	u32 filter = KVMBUS_NET_FILTER_UNICAST | KVMBUS_NET_FILTER_BROADCAST;
	struct net_device *ndev = nv->ndev;
	unsigned int flags = READ_ONCE(ndev->flags);
	struct kvmbus_net_set_mcast m = {
		.set.hdr.type = cpu_to_le32(KVMBUS_NET_SET),
		.set.what = cpu_to_le32(KVMBUS_NET_SET_FILTER |
					KVMBUS_NET_SET_MCAST),
	};
	u32 n;

	if (flags & IFF_PROMISC)
		filter |= KVMBUS_NET_FILTER_PROMISC;
	n = netvsc_mc_list(ndev, &m);
	if (!(flags & IFF_ALLMULTI) && n <= KVMBUS_NET_MCAST_MAX) {
		m.set.filter = cpu_to_le32(filter);
		m.count = cpu_to_le32(n);
		/* -EINVAL: a host without lists; anything else is final. */
		if (netvsc_ctl_status(&nv->queues[0], &m, sizeof(m)) != -EINVAL)
			return;
	}
	netvsc_set(nv, KVMBUS_NET_SET_FILTER, 0,
		   filter | KVMBUS_NET_FILTER_ALLMULTI, NULL);
}

static void netvsc_rx_mode_work(struct work_struct *w)
{
	struct netvsc *nv = container_of(w, struct netvsc, rx_mode_work);

	/* Not while ethtool -G has the primary closed: it syncs after. */
	mutex_lock(&nv->reopen_lock);
	if (nv->queues[0].open)
		netvsc_rx_mode_sync(nv);
	mutex_unlock(&nv->reopen_lock);
}

static void netvsc_set_rx_mode(struct net_device *ndev)
{
	struct netvsc *nv = netdev_priv(ndev);

	schedule_work(&nv->rx_mode_work);
}

static const struct net_device_ops netvsc_netdev_ops = {
	.ndo_open		= netvsc_open,
	.ndo_stop		= netvsc_stop,
	.ndo_start_xmit		= netvsc_xmit,
	.ndo_get_stats64	= netvsc_get_stats64,
	.ndo_change_mtu		= netvsc_change_mtu,
	.ndo_set_mac_address	= netvsc_set_mac,
	.ndo_set_rx_mode	= netvsc_set_rx_mode,
	.ndo_validate_addr	= eth_validate_addr,
};

/* --- ethtool --------------------------------------------------------------- */

static const char netvsc_qstat_names[][ETH_GSTRING_LEN] = {
	"packets", "bytes", "dropped", "stops", "gpa", "errors", "csum", "gso",
	"posted", "recycled",
};

#define NETVSC_QSTATS	ARRAY_SIZE(netvsc_qstat_names)

static void netvsc_get_drvinfo(struct net_device *ndev,
			       struct ethtool_drvinfo *info)
{
	struct netvsc *nv = netdev_priv(ndev);

	strscpy(info->driver, KBUILD_MODNAME, sizeof(info->driver));
	strscpy(info->version, KVMBUS_DRIVER_VERSION, sizeof(info->version));
	strscpy(info->bus_info, dev_name(&nv->kdev->dev),
		sizeof(info->bus_info));
}

static int netvsc_get_link_ksettings(struct net_device *ndev,
				     struct ethtool_link_ksettings *cmd)
{
	cmd->base.speed = SPEED_UNKNOWN;
	cmd->base.duplex = DUPLEX_FULL;
	cmd->base.port = PORT_OTHER;
	return 0;
}

static void netvsc_get_channels(struct net_device *ndev,
				struct ethtool_channels *ch)
{
	struct netvsc *nv = netdev_priv(ndev);

	ch->max_combined = nv->max_queues;
	ch->combined_count = nv->nr_queues;
}

/* Open or close queues until @count are open; under RTNL. */
static int netvsc_set_queues(struct netvsc *nv, u32 count)
{
	u32 off, link, i;
	int ret = 0;

	if (count > 1) {
		ret = kvmbus_subchannels_request(nv->kdev, count - 1);
		if (ret < 0)
			return ret;
		count = min_t(u32, count, ret + 1);
		ret = 0;
	}
	while (nv->nr_queues < count) {
		ret = netvsc_queue_open(&nv->queues[nv->nr_queues], &off,
					&link);
		if (ret)
			break;
		nv->nr_queues++;
	}
	for (i = count; i < nv->nr_queues; i++)
		netvsc_queue_close(&nv->queues[i]);
	nv->nr_queues = min(nv->nr_queues, count);
	netif_set_real_num_tx_queues(nv->ndev, nv->nr_queues);
	netif_set_real_num_rx_queues(nv->ndev, nv->nr_queues);
	return ret;
}

static int netvsc_set_channels(struct net_device *ndev,
			       struct ethtool_channels *ch)
{
	struct netvsc *nv = netdev_priv(ndev);
	bool running = netif_running(ndev);
	int ret;

	if (!ch->combined_count || ch->rx_count || ch->tx_count ||
	    ch->other_count || ch->combined_count > nv->max_queues)
		return -EINVAL;
	if (ch->combined_count == nv->nr_queues)
		return 0;
	if (running)
		netif_tx_disable(ndev);
	ret = netvsc_set_queues(nv, ch->combined_count);
	if (running)
		netif_tx_wake_all_queues(ndev);
	if (!ret && nv->nr_queues != ch->combined_count)
		ret = -ENOSPC;
	return ret;
}

/* Receive sections a queue may have: what the largest buffer holds. */
static u32 netvsc_rx_max(struct netvsc *nv)
{
	u32 section = nv->offloads & KVMBUS_NET_OFF_RX_PAGES ?
		      NETVSC_RECV_SECTION_SMALL : NETVSC_RECV_SECTION;

	return min_t(u32, NETVSC_RING_MAX, KVMBUS_NET_RECV_BUF_MAX / section);
}

static void netvsc_get_ringparam(struct net_device *ndev,
				 struct ethtool_ringparam *ring,
				 struct kernel_ethtool_ringparam *kring,
				 struct netlink_ext_ack *extack)
{
	struct netvsc *nv = netdev_priv(ndev);

	ring->rx_max_pending = netvsc_rx_max(nv);
	ring->rx_pending = nv->queues[0].nr_recv;
	ring->tx_max_pending = NETVSC_SEND_SECTIONS_MAX;
	ring->tx_pending = nv->queues[0].nr_send;
}

/*
 * Close every queue and open as many again with the ring sizes now in
 * @nv, then give the host back what the primary's reopening made it
 * forget (MAC, MTU, receive filter).  Under RTNL, transmit stopped.
 */
static int netvsc_reopen(struct netvsc *nv)
{
	struct net_device *ndev = nv->ndev;
	u32 count = nv->nr_queues, off, link, i;
	int ret;

	for (i = count; i-- > 0;)
		netvsc_queue_close(&nv->queues[i]);
	nv->nr_queues = 0;
	ret = netvsc_queue_open(&nv->queues[0], &off, &link);
	if (ret)
		return ret;
	nv->nr_queues = 1;
	netvsc_set_queues(nv, count);
	netvsc_set(nv, KVMBUS_NET_SET_MAC | KVMBUS_NET_SET_MTU, ndev->mtu, 0,
		   ndev->dev_addr);
	netvsc_rx_mode_sync(nv);
	if (link & KVMBUS_NET_LINK_UP)
		netif_carrier_on(ndev);
	else
		netif_carrier_off(ndev);
	return 0;
}

static int netvsc_set_ringparam(struct net_device *ndev,
				struct ethtool_ringparam *ring,
				struct kernel_ethtool_ringparam *kring,
				struct netlink_ext_ack *extack)
{
	struct netvsc *nv = netdev_priv(ndev);
	u32 old_rx = nv->rx_sections, old_tx = nv->tx_sections;
	bool running = netif_running(ndev);
	int ret;

	if (ring->rx_mini_pending || ring->rx_jumbo_pending ||
	    ring->rx_pending < NETVSC_RING_MIN ||
	    ring->rx_pending > netvsc_rx_max(nv) ||
	    ring->tx_pending < NETVSC_RING_MIN ||
	    ring->tx_pending > NETVSC_SEND_SECTIONS_MAX)
		return -EINVAL;
	if (ring->rx_pending == nv->queues[0].nr_recv &&
	    ring->tx_pending == nv->queues[0].nr_send)
		return 0;
	nv->rx_sections = ring->rx_pending;
	nv->tx_sections = ring->tx_pending;
	if (running)
		netif_tx_disable(ndev);
	mutex_lock(&nv->reopen_lock);
	ret = netvsc_reopen(nv);
	if (ret) {
		/* Try the sizes that worked; failing that, the NIC is gone. */
		netdev_warn(ndev, "ring sizes %u/%u: %d; back to the old ones\n",
			    ring->rx_pending, ring->tx_pending, ret);
		nv->rx_sections = old_rx;
		nv->tx_sections = old_tx;
		if (netvsc_reopen(nv)) {
			mutex_unlock(&nv->reopen_lock);
			netif_carrier_off(ndev);
			netif_device_detach(ndev);
			return ret;
		}
	}
	mutex_unlock(&nv->reopen_lock);
	if (running)
		netif_tx_wake_all_queues(ndev);
	return ret;
}

static int netvsc_get_sset_count(struct net_device *ndev, int sset)
{
	struct netvsc *nv = netdev_priv(ndev);

	if (sset != ETH_SS_STATS)
		return -EOPNOTSUPP;
	return 2 + nv->nr_queues * 2 * NETVSC_QSTATS;
}

static void netvsc_get_strings(struct net_device *ndev, u32 sset, u8 *data)
{
	struct netvsc *nv = netdev_priv(ndev);
	unsigned int i, j;

	if (sset != ETH_SS_STATS)
		return;
	ethtool_sprintf(&data, "bad_completions");
	ethtool_sprintf(&data, "bad_packets");
	for (i = 0; i < nv->nr_queues; i++) {
		for (j = 0; j < NETVSC_QSTATS; j++)
			ethtool_sprintf(&data, "tx_queue_%u_%s", i,
					netvsc_qstat_names[j]);
		for (j = 0; j < NETVSC_QSTATS; j++)
			ethtool_sprintf(&data, "rx_queue_%u_%s", i,
					netvsc_qstat_names[j]);
	}
}

static void netvsc_qstats_read(struct netvsc_qstats *s, u64 *out)
{
	unsigned int start;

	do {
		start = u64_stats_fetch_begin(&s->syncp);
		out[0] = u64_stats_read(&s->packets);
		out[1] = u64_stats_read(&s->bytes);
		out[2] = u64_stats_read(&s->dropped);
		out[3] = u64_stats_read(&s->stops);
		out[4] = u64_stats_read(&s->gpa);
		out[5] = u64_stats_read(&s->errors);
		out[6] = u64_stats_read(&s->csum);
		out[7] = u64_stats_read(&s->gso);
		out[8] = u64_stats_read(&s->posted);
		out[9] = u64_stats_read(&s->recycled);
	} while (u64_stats_fetch_retry(&s->syncp, start));
}

static void netvsc_get_ethtool_stats(struct net_device *ndev,
				     struct ethtool_stats *stats, u64 *data)
{
	struct netvsc *nv = netdev_priv(ndev);
	unsigned int i;

	*data++ = atomic64_read(&nv->bad_comp);
	*data++ = atomic64_read(&nv->bad_pkt);
	for (i = 0; i < nv->nr_queues; i++) {
		netvsc_qstats_read(&nv->queues[i].tx, data);
		data += NETVSC_QSTATS;
		netvsc_qstats_read(&nv->queues[i].rx, data);
		data += NETVSC_QSTATS;
	}
}

static const struct ethtool_ops netvsc_ethtool_ops = {
	.get_drvinfo		= netvsc_get_drvinfo,
	.get_link		= ethtool_op_get_link,
	.get_link_ksettings	= netvsc_get_link_ksettings,
	.get_channels		= netvsc_get_channels,
	.set_channels		= netvsc_set_channels,
	.get_ringparam		= netvsc_get_ringparam,
	.set_ringparam		= netvsc_set_ringparam,
	.get_sset_count		= netvsc_get_sset_count,
	.get_strings		= netvsc_get_strings,
	.get_ethtool_stats	= netvsc_get_ethtool_stats,
};

/* --- probe and remove ------------------------------------------------------ */

static void netvsc_set_features(struct net_device *ndev, u32 off)
{
	netdev_features_t f = NETIF_F_SG | NETIF_F_HIGHDMA;

	if (off & KVMBUS_NET_OFF_TX_CSUM)
		f |= NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM;
	if ((off & KVMBUS_NET_OFF_TX_TSO4) && (off & KVMBUS_NET_OFF_TX_CSUM))
		f |= NETIF_F_TSO | NETIF_F_TSO_ECN;
	if ((off & KVMBUS_NET_OFF_TX_TSO6) && (off & KVMBUS_NET_OFF_TX_CSUM))
		f |= NETIF_F_TSO6;
	if (off & KVMBUS_NET_OFF_RX_CSUM)
		f |= NETIF_F_RXCSUM;
	if (off & KVMBUS_NET_OFF_VLAN)
		f |= NETIF_F_HW_VLAN_CTAG_TX | NETIF_F_HW_VLAN_CTAG_RX;
	ndev->hw_features = f;
	ndev->features = f;
	ndev->vlan_features = f & ~(NETIF_F_HW_VLAN_CTAG_TX |
				    NETIF_F_HW_VLAN_CTAG_RX);
}

/* What the offer says: MAC, queues, link (defaults for a short offer). */
static void netvsc_read_offer(struct netvsc *nv, u8 *mac)
{
	struct kvmbus_device *kdev = nv->kdev;
	struct kvmbus_net_offer o;

	nv->max_queues = 1;
	nv->link = KVMBUS_NET_LINK_UP;
	eth_random_addr(mac);
	if (kdev->offer_data_len < sizeof(o))
		return;
	memcpy(&o, kdev->offer_data, sizeof(o));
	if (is_valid_ether_addr(o.mac))
		ether_addr_copy(mac, o.mac);
	nv->max_queues = clamp_t(u32, le16_to_cpu(o.max_queues), 1,
				 NETVSC_MAX_QUEUES);
	nv->max_queues = min_t(u32, nv->max_queues,
			       kdev->max_subchannels + 1);
	nv->link = le32_to_cpu(o.link);
}

static int netvsc_probe(struct kvmbus_device *kdev,
			const struct kvmbus_device_id *id)
{
	struct net_device *ndev;
	struct netvsc *nv;
	u32 off = 0, link = 0, i;
	u8 mac[ETH_ALEN];
	int ret;

	ndev = alloc_etherdev_mqs(struct_size(nv, queues, NETVSC_MAX_QUEUES),
				  NETVSC_MAX_QUEUES, NETVSC_MAX_QUEUES);
	if (!ndev)
		return -ENOMEM;
	SET_NETDEV_DEV(ndev, &kdev->dev);
	nv = netdev_priv(ndev);
	nv->kdev = kdev;
	nv->ndev = ndev;
	for (i = 0; i < NETVSC_MAX_QUEUES; i++) {
		nv->queues[i].nv = nv;
		nv->queues[i].index = i;
	}
	INIT_WORK(&nv->rx_mode_work, netvsc_rx_mode_work);
	mutex_init(&nv->reopen_lock);
	netvsc_read_offer(nv, mac);

	ret = netvsc_queue_open(&nv->queues[0], &off, &link);
	if (ret) {
		dev_err(&kdev->dev, "NIC channel %u: cannot start: %d\n",
			kdev->relid, ret);
		goto err_free_netdev;
	}
	nv->nr_queues = 1;
	nv->offloads = off;
	/* One queue per CPU by default, as the host allows. */
	netvsc_set_queues(nv, min_t(u32, num_online_cpus(), nv->max_queues));
	eth_hw_addr_set(ndev, mac);
	ndev->netdev_ops = &netvsc_netdev_ops;
	ndev->ethtool_ops = &netvsc_ethtool_ops;
	ndev->priv_flags |= IFF_LIVE_ADDR_CHANGE;
	ndev->min_mtu = KVMBUS_NET_MTU_MIN;
	ndev->max_mtu = KVMBUS_NET_MTU_MAX;
	netvsc_set_features(ndev, off);
	if (link & KVMBUS_NET_LINK_UP)
		netif_carrier_on(ndev);
	else
		netif_carrier_off(ndev);
	dev_set_drvdata(&kdev->dev, nv);
	ret = register_netdev(ndev);
	if (ret)
		goto err_close;
	netdev_info(ndev, "kvmbus NIC, relid %u, %u queues, offloads 0x%x\n",
		    kdev->relid, nv->nr_queues, off);
	return 0;

err_close:
	for (i = 0; i < nv->nr_queues; i++)
		netvsc_queue_close(&nv->queues[i]);
err_free_netdev:
	free_netdev(ndev);
	return ret;
}

static void netvsc_remove(struct kvmbus_device *kdev)
{
	struct netvsc *nv = dev_get_drvdata(&kdev->dev);
	struct net_device *ndev = nv->ndev;
	unsigned int i;

	unregister_netdev(ndev);
	cancel_work_sync(&nv->rx_mode_work);
	for (i = 0; i < nv->nr_queues; i++)
		netvsc_queue_close(&nv->queues[i]);
	free_netdev(ndev);
}

/*
 * kvmbusd died: the netdev stays (same name, same ifindex) with its
 * carrier off and its queues stopped; every channel and buffer goes
 * (the host holds none of them any more) and every skb the host never
 * completed is freed.  Detached, the stack neither transmits nor calls
 * the ndo/ethtool operations that would talk to the host.
 */
static void netvsc_host_lost(struct kvmbus_device *kdev)
{
	struct netvsc *nv = dev_get_drvdata(&kdev->dev);
	struct net_device *ndev = nv->ndev;
	unsigned int i;

	rtnl_lock();
	netif_carrier_off(ndev);
	netif_device_detach(ndev);
	/*
	 * NAPI first: its completions wake stopped queues.  With it gone,
	 * netif_tx_disable() waits for a transmit in progress and nothing
	 * starts a queue again before netif_device_attach().
	 */
	for (i = 0; i < nv->nr_queues; i++) {
		struct netvsc_queue *q = &nv->queues[i];

		if (q->napi_added) {
			napi_disable(&q->napi);
			netif_napi_del(&q->napi);
			q->napi_added = false;
		}
	}
	netif_tx_disable(ndev);
	mutex_lock(&nv->reopen_lock);
	for (i = nv->nr_queues; i-- > 0;)
		netvsc_queue_close(&nv->queues[i]);
	mutex_unlock(&nv->reopen_lock);
	rtnl_unlock();
	netdev_info(ndev, "kvmbusd is gone: carrier off until it is back\n");
}

/*
 * The new kvmbusd offered the NIC again: open as many queues as before
 * (or as the new offer allows), give it our MAC, MTU and receive filter,
 * and attach.  The netdev's features and receive path were set up for
 * the offloads granted at probe: a host that grants others is refused,
 * and the NIC is left as host_lost left it, every queue closed (the bus
 * then removes it and probes the new offer as a new NIC).
 */
static int netvsc_host_back(struct kvmbus_device *kdev)
{
	struct netvsc *nv = dev_get_drvdata(&kdev->dev);
	struct net_device *ndev = nv->ndev;
	u32 count = nv->nr_queues, off = 0, link = 0;
	u8 mac[ETH_ALEN];
	int ret;

	rtnl_lock();
	mutex_lock(&nv->reopen_lock);
	/* The new offer is checked as in probe; the MAC stays ours. */
	netvsc_read_offer(nv, mac);
	count = clamp_t(u32, count, 1, nv->max_queues);
	nv->nr_queues = 0;
	ret = netvsc_queue_open(&nv->queues[0], &off, &link);
	if (ret)
		goto err_unlock;
	nv->nr_queues = 1;
	if (off != nv->offloads) {
		netdev_err(ndev, "the new kvmbusd grants offloads 0x%x, not 0x%x\n",
			   off, nv->offloads);
		ret = -EPROTO;
		goto err_close;
	}
	netvsc_set_queues(nv, count);
	netvsc_set(nv, KVMBUS_NET_SET_MAC | KVMBUS_NET_SET_MTU, ndev->mtu, 0,
		   ndev->dev_addr);
	netvsc_rx_mode_sync(nv);
	if (link & KVMBUS_NET_LINK_UP)
		netif_carrier_on(ndev);
	netif_device_attach(ndev);
	netdev_info(ndev, "kvmbusd is back: relid %u, %u queues\n",
		    kdev->relid, nv->nr_queues);
	mutex_unlock(&nv->reopen_lock);
	rtnl_unlock();
	return 0;

err_close:
	netvsc_queue_close(&nv->queues[0]);
	nv->nr_queues = 0;
err_unlock:
	mutex_unlock(&nv->reopen_lock);
	rtnl_unlock();
	return ret;
}

static const struct kvmbus_device_id netvsc_id_table[] = {
	{ .class_id = KVMBUS_UUID(KVMBUS_CLASS_NET_BYTES) },
	{ }
};

static struct kvmbus_driver netvsc_driver = {
	.name		= "kvmbus_netvsc",
	.id_table	= netvsc_id_table,
	.probe		= netvsc_probe,
	.remove		= netvsc_remove,
	.host_lost	= netvsc_host_lost,
	.host_back	= netvsc_host_back,
};
module_kvmbus_driver(netvsc_driver);

MODULE_ALIAS(KVMBUS_MODALIAS(KVMBUS_CLASS_NET_HEX));
MODULE_DESCRIPTION("kvmbus: synthetic network adapter");
MODULE_LICENSE("GPL");
MODULE_VERSION(KVMBUS_DRIVER_VERSION);
