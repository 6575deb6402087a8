// SPDX-License-Identifier: GPL-2.0-only
/*
 * The network provider: see vsp_net.h and include/kvmbus/netvsc.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/if_tun.h>

#include "devices.h"
#include "net_pkt.h"
#include "parse.h"
#include "vsp_net.h"

/* The largest guest->host packet: a GPA PKT with every range it may have. */
#define NET_MAX_PKT	(sizeof(struct kvmbus_pkt_desc) + \
			 sizeof(struct kvmbus_gpa_list) + \
			 KVMBUS_NET_MAX_RANGES * sizeof(struct kvmbus_gpa_range) + \
			 256u)
/* Offloads this provider can carry to and from a vnet-hdr TAP. */
#define NET_OFFLOADS	KVMBUS_NET_OFF_ALL
/* Queues of a NIC when the device names none. */
#define NET_QUEUES_DEFAULT	4u
/* Frames read from the TAP in one pass of the fd callback. */
#define NET_RX_BUDGET	64u
/* The vnet header, a receive section, then posted buffers (RX_PAGES). */
#define NET_RX_MAX_IOV	(2u + KVMBUS_NET_MAX_FRAME / 4096u + 1u)

struct net_stats {
	uint64_t tx_packets;	/* written to the TAP */
	uint64_t tx_bytes;
	uint64_t tx_dropped;	/* the TAP refused them */
	uint64_t bad_meta;	/* guest PKTs dropped as malformed */
	uint64_t bad_msg;	/* other malformed or unexpected messages */
	uint64_t rx_packets;	/* handed to the guest */
	uint64_t rx_bytes;
	uint64_t rx_dropped;	/* a TAP frame the guest cannot take */
	uint64_t rx_stalls;	/* no free section, or too few posted bytes */
	uint64_t rx_posted;	/* frames that continued in posted buffers */
	uint64_t bad_post;	/* POSTs dropped as malformed */
	uint64_t rx_filtered;	/* refused by the guest's receive filter */
	uint64_t bad_comp;	/* completions for nothing outstanding */
};

/* Per device (dev->priv), shared by its channels: all on the main loop. */
struct net_dev {
	char tap[IFNAMSIZ];
	uint8_t mac[6];			/* permanent: the offer's */
	uint16_t queues;
	uint32_t offloads;		/* KVMBUS_NET_OFF_* offered */
	bool link_down;
	/*
	 * The receive filter, enforced on every channel: SET arrives on the
	 * primary. Until the guest's first SET FILTER everything passes.
	 */
	bool filter_set;
	struct net_filter filter;	/* its mac: SET MAC, else @mac */
	struct chan *primary;		/* the open primary channel, if any */
};

struct net_chan {
	int tap;			/* this channel's TAP queue */
	char ifname[IFNAMSIZ];
	bool inited;
	uint32_t granted;		/* offloads granted at INIT */
	uint32_t mtu;

	/* Buffers: mapped views of the guest's GPADLs. */
	struct net_buf sb, rb;
	struct gpadl *sg, *rg;
	struct guestmem_view sv, rv;

	/* Receive sections: a stack of free ones; per section its state. */
	uint32_t *rx_free;
	uint32_t nr_free;
	uint32_t *rx_seq;		/* bumped per use: stale COMPs miss */
	uint8_t *rx_busy;
	bool rx_watched;

	/*
	 * RX_PAGES: the guest's posted buffers, oldest first, in a ring of
	 * KVMBUS_NET_POST_MAX; each checked against guest RAM when posted.
	 */
	struct net_post_buf *posts;
	uint32_t post_head, post_nr;
	uint64_t post_bytes;

	/* A reply, or a received frame, waiting for ring room. */
	bool held;
	struct kvmbus_ring_pkt held_pkt;
	union {
		struct kvmbus_net_status status;
		struct kvmbus_net_init_resp init;
	} held_msg;
	bool rx_held;
	bool link_dirty;		/* primary: a LINK message is due */
	uint64_t rx_held_id;
	struct kvmbus_net_pkt rx_held_msg;

	struct net_stats st;
};

static struct net_chan *net_of(const struct chan *ch)
{
	return ch->priv;
}

static struct net_dev *net_dev_of(const struct chan *ch)
{
	return ch->dev->priv;
}

static const char *net_tap_name(const struct chan *ch, char *buf,
				size_t len)
{
	snprintf(buf, len, "%s", net_dev_of(ch)->tap);
	return buf;
}

static int net_tap_open(struct chan *ch, struct net_chan *n)
{
	struct ifreq ifr;
	int fd, hdr = sizeof(struct virtio_net_hdr_v1), ret;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		log_rl(&ch->rl, LOG_ERR, "channel relid %u (net): /dev/net/tun: %s",
		       ch->relid, strerror(errno));
		return ret;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
	net_tap_name(ch, ifr.ifr_name, sizeof(ifr.ifr_name));
	if (ioctl(fd, TUNSETIFF, &ifr) || ioctl(fd, TUNSETVNETHDRSZ, &hdr) ||
	    ioctl(fd, TUNSETOFFLOAD, 0)) {
		ret = -errno;
		log_rl(&ch->rl, LOG_ERR,
		       "channel relid %u (net): TAP %s with a vnet header and multiqueue: %s",
		       ch->relid, ifr.ifr_name, strerror(errno));
		close(fd);
		return ret;
	}
	memcpy(n->ifname, ifr.ifr_name, sizeof(n->ifname));
	n->tap = fd;
	return 0;
}

/* Send a reply now, or keep it (and take no packet) until there is room. */
static void net_reply(struct chan *ch, struct net_chan *n, uint64_t trans_id,
		      const void *msg, uint32_t len)
{
	int ret;

	n->held_pkt = (struct kvmbus_ring_pkt){
		.type = KVMBUS_PKT_COMP,
		.trans_id = trans_id,
		.data = &n->held_msg,
		.data_len = len,
	};
	if (msg != &n->held_msg)
		memcpy(&n->held_msg, msg, len);
	ret = chan_send(ch, &n->held_pkt);
	n->held = ret == -ENOSPC;
}

static void net_status(struct chan *ch, struct net_chan *n,
		       uint64_t trans_id, uint32_t status)
{
	struct kvmbus_net_status s = {
		.hdr.type = cpu_to_le32(KVMBUS_NET_STATUS),
		.status = cpu_to_le32(status),
	};

	net_reply(ch, n, trans_id, &s, sizeof(s));
}

/* --- receive: TAP -> guest ------------------------------------------------ */

static void net_tap_readable(struct chan *ch, int fd, uint32_t events);

/*
 * RX_PAGES: the bytes of the largest frame that would not fit a section,
 * less what is posted (0: enough).  A frame longer than what readv() is
 * given is lost in the TAP, so nothing is read until the guest posts more.
 */
static uint64_t net_rx_need(const struct net_chan *n)
{
	uint64_t need;

	if (!(n->granted & KVMBUS_NET_OFF_RX_PAGES) || !n->rb.base ||
	    n->rb.section_size >= KVMBUS_NET_MAX_FRAME)
		return 0;
	need = KVMBUS_NET_MAX_FRAME - n->rb.section_size;
	return n->post_bytes >= need ? 0 : need - n->post_bytes;
}

/* The posted buffers after the section, enough for any frame. */
static unsigned int net_rx_post_iov(const struct net_chan *n,
				    struct iovec *iov, unsigned int max)
{
	uint64_t need, got = 0;
	unsigned int i = 0;
	uint32_t at;

	/* Sections that hold any frame: the posted buffers stay unused. */
	if (n->rb.section_size >= KVMBUS_NET_MAX_FRAME)
		return 0;
	need = KVMBUS_NET_MAX_FRAME - n->rb.section_size;
	while (got < need && i < n->post_nr && i < max) {
		at = (n->post_head + i) % KVMBUS_NET_POST_MAX;
		iov[i] = (struct iovec){ n->posts[at].addr, n->posts[at].len };
		got += n->posts[at].len;
		i++;
	}
	return i;
}

/* @bytes of a frame went to posted buffers: give those back, oldest first. */
static void net_rx_post_take(struct net_chan *n, uint32_t bytes)
{
	uint32_t used;

	while (bytes && n->post_nr) {
		used = n->posts[n->post_head].len;
		bytes -= used < bytes ? used : bytes;
		n->post_bytes -= used;
		n->post_head = (n->post_head + 1) % KVMBUS_NET_POST_MAX;
		n->post_nr--;
	}
}

static void net_rx_pause(struct chan *ch, struct net_chan *n)
{
	if (n->rx_watched)
		chan_unwatch_fd(ch, n->tap);
	n->rx_watched = false;
}

static void net_rx_resume(struct chan *ch, struct net_chan *n)
{
	if (n->rx_watched || !n->rb.base || !n->nr_free || n->rx_held ||
	    n->held || net_dev_of(ch)->link_down || net_rx_need(n))
		return;
	n->rx_watched = !chan_watch_fd(ch, n->tap, EPOLLIN, net_tap_readable);
}

/* Return: true if the frame is in the ring; false: held, wait for room. */
static bool net_rx_send(struct chan *ch, struct net_chan *n)
{
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.flags = KVMBUS_PKT_F_COMP_REQUESTED,
		.trans_id = n->rx_held_id,
		.data = &n->rx_held_msg,
		.data_len = sizeof(n->rx_held_msg),
	};
	int ret = chan_send(ch, &p);

	if (ret == -ENOSPC) {
		n->rx_held = true;
		net_rx_pause(ch, n);
		return false;
	}
	n->rx_held = false;
	if (!ret) {
		n->st.rx_packets++;
		n->st.rx_bytes += le32_to_cpu(n->rx_held_msg.len);
	}
	return ret != -EIO;
}

/* Read one frame into a free section. Return: false when done for now. */
static bool net_rx_one(struct chan *ch, struct net_chan *n)
{
	const struct net_dev *nd = net_dev_of(ch);
	struct virtio_net_hdr_v1 vh;
	struct kvmbus_net_meta m;
	struct iovec iov[NET_RX_MAX_IOV];
	uint32_t sec, len, head, posted = 0, shift = 0;
	unsigned int niov = 2;
	uint8_t *base;
	ssize_t r;

	if (!n->nr_free || net_rx_need(n)) {
		n->st.rx_stalls++;
		net_rx_pause(ch, n);
		return false;
	}
	sec = n->rx_free[n->nr_free - 1];
	base = n->rb.base + (size_t)sec * n->rb.section_size;
	iov[0] = (struct iovec){ &vh, sizeof(vh) };
	iov[1] = (struct iovec){ base, n->rb.section_size };
	if (n->post_nr)
		niov += net_rx_post_iov(n, iov + 2, NET_RX_MAX_IOV - 2);
	r = readv(n->tap, iov, (int)niov);
	if (r < 0)
		return false;	/* EAGAIN: drained */
	if ((size_t)r < sizeof(vh) + NET_ETH_HLEN) {
		n->st.rx_dropped++;
		return true;
	}
	len = (uint32_t)((size_t)r - sizeof(vh));
	head = len;
	if (len > n->rb.section_size) {
		/* The TAP filled the section, then posted buffers in order. */
		head = n->rb.section_size;
		posted = len - head;
	}
	/* A frame dropped here leaves the section and the posted buffers
	 * as they were: the next frame overwrites them. */
	if (net_rx_meta(&vh, len, n->granted, &m)) {
		n->st.rx_dropped++;
		return true;
	}
	if (nd->filter_set && !net_rx_filter(&nd->filter, base, head)) {
		n->st.rx_filtered++;
		return true;
	}
	if (n->granted & KVMBUS_NET_OFF_VLAN)
		shift = net_rx_vlan_strip(base, head, &m);
	if (posted) {
		net_rx_post_take(n, posted);
		n->st.rx_posted++;
	}
	n->nr_free--;
	n->rx_busy[sec] = 1;
	n->rx_seq[sec]++;
	n->rx_held_id = (uint64_t)n->rx_seq[sec] << 32 | (sec + 1);
	n->rx_held_msg = (struct kvmbus_net_pkt){
		.hdr.type = cpu_to_le32(KVMBUS_NET_PKT),
		.meta = m,
		.section = cpu_to_le32(sec),
		.offset = cpu_to_le32(sec * n->rb.section_size + shift),
		.len = cpu_to_le32(len - shift),
		.posted = cpu_to_le32(posted),
	};
	return net_rx_send(ch, n);
}

static void net_tap_readable(struct chan *ch, int fd, uint32_t events)
{
	struct net_chan *n = net_of(ch);
	unsigned int i;

	(void)fd;
	(void)events;
	for (i = 0; i < NET_RX_BUDGET; i++)
		if (n->rx_held || !net_rx_one(ch, n))
			break;
}

/* The guest is done with a received frame. */
static void net_rx_comp(struct chan *ch, struct net_chan *n,
			const struct kvmbus_pkt_info *pi)
{
	uint32_t sec = (uint32_t)pi->trans_id - 1;

	if (!n->rb.base || sec >= n->rb.nr_sections || !n->rx_busy[sec] ||
	    n->rx_seq[sec] != (uint32_t)(pi->trans_id >> 32)) {
		n->st.bad_comp++;
		chan_malformed(ch, pi, "completion for no outstanding frame");
		return;
	}
	n->rx_busy[sec] = 0;
	n->rx_free[n->nr_free++] = sec;
	net_rx_resume(ch, n);
}

/* --- control -------------------------------------------------------------- */

static void net_init(struct chan *ch, struct net_chan *n,
		     const struct kvmbus_pkt_info *pi, const uint8_t *msg)
{
	struct kvmbus_net_init m;
	struct kvmbus_net_init_resp r = {
		.hdr.type = cpu_to_le32(KVMBUS_NET_INIT_RESP),
		.link = cpu_to_le32(net_dev_of(ch)->link_down ? 0 :
				    KVMBUS_NET_LINK_UP),
	};
	uint32_t ver, off;
	unsigned int tun = 0;

	memcpy(&m, msg, sizeof(m));
	ver = kvmbus_version_pick(le32_to_cpu(m.version_min),
				  le32_to_cpu(m.version_max),
				  KVMBUS_NET_VERSION_1, KVMBUS_NET_VERSION_1);
	off = net_offloads_grant(le32_to_cpu(m.offloads),
				 net_dev_of(ch)->offloads);
	/* No memory for the list of posted buffers: receive by copy. */
	if ((off & KVMBUS_NET_OFF_RX_PAGES) && !n->inited && !n->posts)
		n->posts = calloc(KVMBUS_NET_POST_MAX, sizeof(*n->posts));
	if (!n->posts)
		off &= ~(uint32_t)KVMBUS_NET_OFF_RX_PAGES;
	if (off & KVMBUS_NET_OFF_RX_CSUM)
		tun |= TUN_F_CSUM;
	if (off & KVMBUS_NET_OFF_RX_GSO)
		tun |= TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
	if (n->inited) {
		r.status = cpu_to_le32(EALREADY);
	} else if (!ver) {
		r.status = cpu_to_le32(EPROTONOSUPPORT);
	} else if (ioctl(n->tap, TUNSETOFFLOAD, tun)) {
		r.status = cpu_to_le32((uint32_t)errno);
		log_rl(&ch->rl, LOG_WARNING,
		       "channel relid %u (net): TUNSETOFFLOAD 0x%x on %s: %s",
		       ch->relid, tun, n->ifname, strerror(errno));
	} else {
		n->inited = true;
		n->granted = off;
		r.version = cpu_to_le32(ver);
		r.offloads = cpu_to_le32(off);
	}
	(void)pi;
	net_reply(ch, n, pi->trans_id, &r, sizeof(r));
}

static void net_buf_unmap(struct net_chan *n, struct net_buf *b,
			  struct gpadl **g, struct guestmem_view *v)
{
	guestmem_view_unmap(v);
	if (*g)
		(*g)->users--;
	*g = NULL;
	memset(b, 0, sizeof(*b));
	(void)n;
}

static uint32_t net_buf_map(struct chan *ch, struct net_chan *n,
			    const struct kvmbus_net_buf *m)
{
	uint32_t kind = le32_to_cpu(m->kind);
	uint32_t size = le32_to_cpu(m->size);
	uint32_t sect = le32_to_cpu(m->section_size);
	bool recv = kind == KVMBUS_NET_BUF_RECV;
	struct net_buf *b = recv ? &n->rb : &n->sb;
	struct guestmem_view *v = recv ? &n->rv : &n->sv;
	struct gpadl **gp = recv ? &n->rg : &n->sg;
	struct gpadl *g;
	uint32_t i, nr;
	int ret;

	if (kind != KVMBUS_NET_BUF_RECV && kind != KVMBUS_NET_BUF_SEND)
		return EINVAL;
	if (!n->inited || b->base)
		return EALREADY;
	g = ch->env->gpadls ? gpadls_find(ch->env->gpadls,
					  le32_to_cpu(m->gpadl)) : NULL;
	if (!g)
		return ENOENT;
	if (!gpadl_complete(g))
		return EINPROGRESS;
	if (net_buf_check(size, sect, (uint64_t)g->total_pages * 4096,
			  recv ? KVMBUS_NET_RECV_BUF_MAX :
				 KVMBUS_NET_SEND_BUF_MAX))
		return EINVAL;
	if (recv && sect < sizeof(struct virtio_net_hdr_v1) + NET_ETH_HLEN)
		return EINVAL;
	ret = guestmem_view_map(ch->env->gm, g->runs, g->nr_runs, v);
	if (ret) {
		log_rl(&ch->rl, LOG_WARNING,
		       "channel relid %u (net): cannot map buffer GPADL %u (%u runs): %s",
		       ch->relid, g->id, g->nr_runs, strerror(-ret));
		return (uint32_t)-ret;
	}
	g->users++;
	*gp = g;
	nr = size / sect;
	*b = (struct net_buf){ .base = v->addr, .size = nr * sect,
			       .section_size = sect, .nr_sections = nr };
	if (!recv)
		return 0;
	n->rx_free = calloc(nr, sizeof(*n->rx_free));
	n->rx_seq = calloc(nr, sizeof(*n->rx_seq));
	n->rx_busy = calloc(nr, 1);
	if (!n->rx_free || !n->rx_seq || !n->rx_busy) {
		net_buf_unmap(n, b, gp, v);
		return ENOMEM;
	}
	/* Hand out low sections first. */
	for (i = 0; i < nr; i++)
		n->rx_free[i] = nr - 1 - i;
	n->nr_free = nr;
	return 0;
}

static void net_set(struct chan *ch, struct net_chan *n,
		    const struct kvmbus_pkt_info *pi, const uint8_t *msg)
{
	struct net_dev *nd = net_dev_of(ch);
	struct kvmbus_net_set_mcast mc;
	struct net_filter f = nd->filter;
	struct kvmbus_net_set m;
	uint32_t what, mtu, status = 0;

	memcpy(&m, msg, sizeof(m));
	what = le32_to_cpu(m.what);
	mtu = le32_to_cpu(m.mtu);
	if (what & ~(uint32_t)(KVMBUS_NET_SET_MAC | KVMBUS_NET_SET_MTU |
			       KVMBUS_NET_SET_FILTER | KVMBUS_NET_SET_MCAST))
		status = EINVAL;
	else if ((what & KVMBUS_NET_SET_MCAST) && pi->data_len < sizeof(mc))
		status = EINVAL;
	else if ((what & KVMBUS_NET_SET_MTU) &&
		 (mtu < KVMBUS_NET_MTU_MIN || mtu > KVMBUS_NET_MTU_MAX))
		status = EINVAL;
	else if ((what & KVMBUS_NET_SET_MAC) && (m.mac[0] & 1))
		status = EADDRNOTAVAIL;	/* multicast: never a source */
	if (!status && (what & KVMBUS_NET_SET_MCAST)) {
		memcpy(&mc, msg, sizeof(mc));
		if (net_mcast_parse(&mc, &f))
			status = EINVAL;
	}
	if (!status) {
		if (what & KVMBUS_NET_SET_MTU)
			n->mtu = mtu;
		if (what & KVMBUS_NET_SET_MAC)
			memcpy(f.mac, m.mac, sizeof(f.mac));
		if (what & KVMBUS_NET_SET_FILTER) {
			f.flags = le32_to_cpu(m.filter);
			nd->filter_set = true;
		}
		nd->filter = f;
	} else {
		n->st.bad_msg++;
	}
	net_status(ch, n, pi->trans_id, status);
}

/* POST: more receive buffers, appended to the posted list in order. */
static void net_post(struct chan *ch, struct net_chan *n,
		     const struct kvmbus_pkt_info *pi, const uint8_t *pkt)
{
	struct net_post_buf b[KVMBUS_NET_MAX_RANGES];
	const char *why = "RX_PAGES not granted";
	uint32_t i, nr = 0;

	if (!(n->granted & KVMBUS_NET_OFF_RX_PAGES) ||
	    net_post_parse(ch->env->gm, pi, pkt, b, &nr, &why)) {
		n->st.bad_post++;
		chan_malformed(ch, pi, why);
		return;
	}
	if (nr > KVMBUS_NET_POST_MAX - n->post_nr) {
		n->st.bad_post++;
		chan_malformed(ch, pi, "more than KVMBUS_NET_POST_MAX posted");
		return;
	}
	for (i = 0; i < nr; i++) {
		n->posts[(n->post_head + n->post_nr) % KVMBUS_NET_POST_MAX] = b[i];
		n->post_nr++;
		n->post_bytes += b[i].len;
	}
	net_rx_resume(ch, n);
}

/* --- transmit: guest -> TAP ----------------------------------------------- */

static void net_tx(struct chan *ch, struct net_chan *n,
		   const struct kvmbus_pkt_info *pi, const uint8_t *pkt)
{
	struct net_tx tx;
	const char *why = NULL;
	uint32_t status = 0;
	ssize_t w;
	int ret;

	ret = n->inited ? net_tx_parse(ch->env->gm, &n->sb, n->granted, pi,
				       pkt, &tx, &why) : -EINVAL;
	if (ret) {
		n->st.bad_meta++;
		chan_malformed(ch, pi, why ? why : "PKT before INIT");
		status = (uint32_t)-ret;
	} else {
		w = writev(n->tap, tx.iov, (int)tx.niov);
		if (w < 0) {
			status = (uint32_t)errno;
			n->st.tx_dropped++;
		} else {
			n->st.tx_packets++;
			n->st.tx_bytes += tx.len;
		}
	}
	if (pi->flags & KVMBUS_PKT_F_COMP_REQUESTED)
		net_status(ch, n, pi->trans_id, status);
}

static unsigned int net_on_packet(struct chan *ch,
				  const struct kvmbus_pkt_info *pi,
				  const uint8_t *pkt)
{
	static const uint32_t min_len[] = {
		[KVMBUS_NET_INIT] = sizeof(struct kvmbus_net_init),
		[KVMBUS_NET_BUF] = sizeof(struct kvmbus_net_buf),
		[KVMBUS_NET_SET] = sizeof(struct kvmbus_net_set),
		[KVMBUS_NET_PKT] = sizeof(struct kvmbus_net_pkt),
		[KVMBUS_NET_POST] = sizeof(struct kvmbus_net_post),
	};
	const uint8_t *msg = pkt + pi->data_offset;
	struct net_chan *n = net_of(ch);
	struct kvmbus_net_buf buf;
	struct kvmbus_net_hdr h;
	uint32_t type;

	if (pi->type == KVMBUS_PKT_COMP) {
		net_rx_comp(ch, n, pi);
		return 1;
	}
	if (pi->data_len < sizeof(h)) {
		n->st.bad_msg++;
		chan_malformed(ch, pi, "shorter than a net message header");
		return 1;
	}
	memcpy(&h, msg, sizeof(h));
	type = le32_to_cpu(h.type);
	if (type >= sizeof(min_len) / sizeof(min_len[0]) || !min_len[type] ||
	    pi->data_len < min_len[type] ||
	    (pi->type == KVMBUS_PKT_GPA && type != KVMBUS_NET_PKT &&
	     type != KVMBUS_NET_POST) ||
	    (type != KVMBUS_NET_PKT && type != KVMBUS_NET_POST &&
	     !(pi->flags & KVMBUS_PKT_F_COMP_REQUESTED))) {
		n->st.bad_msg++;
		chan_malformed(ch, pi, "unknown or short net message");
		return 1;
	}
	switch (type) {
	case KVMBUS_NET_INIT:
		net_init(ch, n, pi, msg);
		break;
	case KVMBUS_NET_BUF:
		memcpy(&buf, msg, sizeof(buf));
		net_status(ch, n, pi->trans_id, net_buf_map(ch, n, &buf));
		net_rx_resume(ch, n);
		break;
	case KVMBUS_NET_SET:
		net_set(ch, n, pi, msg);
		break;
	case KVMBUS_NET_POST:
		net_post(ch, n, pi, pkt);
		break;
	default:
		net_tx(ch, n, pi, pkt);
		break;
	}
	return 1;
}

static void net_link_send(struct chan *ch, struct net_chan *n)
{
	struct kvmbus_net_link l = {
		.hdr.type = cpu_to_le32(KVMBUS_NET_LINK),
		.link = cpu_to_le32(net_dev_of(ch)->link_down ? 0 :
				    KVMBUS_NET_LINK_UP),
	};
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.data = &l,
		.data_len = sizeof(l),
	};

	if (chan_send(ch, &p) != -ENOSPC)
		n->link_dirty = false;
}

static bool net_flush(struct chan *ch, unsigned int budget)
{
	struct net_chan *n = net_of(ch);

	(void)budget;
	if (n->held)
		net_reply(ch, n, n->held_pkt.trans_id, &n->held_msg,
			  n->held_pkt.data_len);
	if (!n->held && n->rx_held)
		net_rx_send(ch, n);
	if (!n->held && n->link_dirty)
		net_link_send(ch, n);
	if (net_dev_of(ch)->link_down)
		net_rx_pause(ch, n);
	else
		net_rx_resume(ch, n);
	return false;
}

static bool net_busy(const struct chan *ch)
{
	return net_of(ch)->held;
}

static int net_open(struct chan *ch, const uint8_t *data)
{
	struct net_chan *n = net_of(ch);

	struct net_dev *nd = net_dev_of(ch);
	int ret;

	(void)data;
	n->tap = -1;
	n->mtu = 1500;
	ret = net_tap_open(ch, n);
	if (ret)
		return ret;
	if (!ch->sub_index) {
		nd->primary = ch;
		/* A new open starts from the offer: no filter yet. */
		nd->filter_set = false;
		nd->filter = (struct net_filter){ 0 };
		memcpy(nd->filter.mac, nd->mac, sizeof(nd->mac));
	}
	return 0;
}

static void net_close(struct chan *ch)
{
	struct net_chan *n = net_of(ch);

	/* chan.c has ended the watches before calling us. */
	n->rx_watched = false;
	if (net_dev_of(ch)->primary == ch)
		net_dev_of(ch)->primary = NULL;
	net_buf_unmap(n, &n->sb, &n->sg, &n->sv);
	net_buf_unmap(n, &n->rb, &n->rg, &n->rv);
	free(n->rx_free);
	free(n->rx_seq);
	free(n->rx_busy);
	free(n->posts);
	n->posts = NULL;
	n->post_nr = 0;
	n->post_bytes = 0;
	n->rx_free = NULL;
	n->rx_seq = NULL;
	n->rx_busy = NULL;
	if (n->tap >= 0)
		close(n->tap);
	n->tap = -1;
}

static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static void net_to_json(const struct chan *ch, struct json_object *o)
{
	const struct net_chan *n = net_of(ch);
	struct json_object *j = json_object_new_object();

	json_object_object_add(j, "tap", json_object_new_string(n->ifname));
	add_u64(j, "offloads", n->granted);
	add_u64(j, "tx_packets", n->st.tx_packets);
	add_u64(j, "tx_bytes", n->st.tx_bytes);
	add_u64(j, "tx_dropped", n->st.tx_dropped);
	add_u64(j, "bad_meta", n->st.bad_meta);
	add_u64(j, "bad_msg", n->st.bad_msg);
	add_u64(j, "rx_packets", n->st.rx_packets);
	add_u64(j, "rx_bytes", n->st.rx_bytes);
	add_u64(j, "rx_dropped", n->st.rx_dropped);
	add_u64(j, "rx_stalls", n->st.rx_stalls);
	add_u64(j, "rx_filtered", n->st.rx_filtered);
	add_u64(j, "rx_posted", n->st.rx_posted);
	add_u64(j, "bad_post", n->st.bad_post);
	add_u64(j, "posted_bufs", n->post_nr);
	add_u64(j, "bad_comp", n->st.bad_comp);
	add_u64(j, "rx_sections_free", n->nr_free);
	json_object_object_add(o, "net", j);
}

/* --- device level ---------------------------------------------------------- */

static int net_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6], i;
	char end;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &end) != 6)
		return -EINVAL;
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	/* A station address: not multicast, not all zeroes. */
	if ((mac[0] & 1) || !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] |
			      mac[5]))
		return -EINVAL;
	return 0;
}

static int net_parse_link(const char *s, bool *down)
{
	if (!strcmp(s, "up"))
		*down = false;
	else if (!strcmp(s, "down"))
		*down = true;
	else
		return -EINVAL;
	return 0;
}

static void net_offer_data(struct device *dev)
{
	struct net_dev *nd = dev->priv;
	struct kvmbus_net_offer o = {
		.max_queues = cpu_to_le16(nd->queues),
		.offloads = cpu_to_le32(nd->offloads),
		.mtu_min = cpu_to_le16(KVMBUS_NET_MTU_MIN),
		.mtu_max = cpu_to_le16(KVMBUS_NET_MTU_MAX),
		.link = cpu_to_le32(nd->link_down ? 0 : KVMBUS_NET_LINK_UP),
	};

	memcpy(o.mac, nd->mac, sizeof(o.mac));
	memcpy(dev->offer_data, &o, sizeof(o));
	dev->offer_data_len = sizeof(o);
	dev->max_subchannels = nd->queues - 1;
}

static int net_dev_add(struct device *dev, struct json_object *params,
		       char *err, size_t errlen)
{
	struct net_dev *nd = dev->priv;
	uint64_t v;
	const char *s;

	snprintf(nd->tap, sizeof(nd->tap), NET_TAP_DEFAULT_FMT, dev->id - 1);
	nd->queues = NET_QUEUES_DEFAULT;
	nd->offloads = NET_OFFLOADS;
	/* A random, locally administered unicast address. */
	if (getrandom(nd->mac, sizeof(nd->mac), 0) != sizeof(nd->mac)) {
		snprintf(err, errlen, "net: no random MAC: %s", strerror(errno));
		return -EIO;
	}
	nd->mac[0] = (nd->mac[0] & 0xfc) | 0x02;
	if (params) {
		json_object_object_foreach(params, key, val) {
			if (!json_object_is_type(val, json_type_string))
				goto bad_value;
			s = json_object_get_string(val);
			if (!strcmp(key, "tap")) {
				if (!*s || strlen(s) >= IFNAMSIZ ||
				    strchr(s, '/') || strchr(s, '%'))
					goto bad_value;
				snprintf(nd->tap, sizeof(nd->tap), "%s", s);
			} else if (!strcmp(key, "queues")) {
				if (parse_uint(s, 1, KVMBUS_NET_MAX_QUEUES, &v))
					goto bad_value;
				nd->queues = (uint16_t)v;
			} else if (!strcmp(key, "mac")) {
				if (net_parse_mac(s, nd->mac))
					goto bad_value;
			} else if (!strcmp(key, "link")) {
				if (net_parse_link(s, &nd->link_down))
					goto bad_value;
			} else if (!strcmp(key, "offloads")) {
				if (parse_mask(s, NET_OFFLOADS, &v))
					goto bad_value;
				nd->offloads = (uint32_t)v;
			} else {
				snprintf(err, errlen,
					 "net: unknown parameter \"%.64s\" (known: tap, queues, mac, link, offloads)",
					 key);
				return -EINVAL;
			}
			continue;
bad_value:
			snprintf(err, errlen,
				 "net: bad %.32s: tap=NAME (under %u characters), queues=1..%u, mac=xx:xx:xx:xx:xx:xx (unicast), link=up|down, offloads=MASK (KVMBUS_NET_OFF_* bits, within 0x%x)",
				 key, IFNAMSIZ, KVMBUS_NET_MAX_QUEUES, NET_OFFLOADS);
			return -EINVAL;
		}
	}
	memcpy(nd->filter.mac, nd->mac, sizeof(nd->mac));
	net_offer_data(dev);
	return 0;
}

static int net_dev_set(struct device *dev, struct json_object *params,
		       char *err, size_t errlen)
{
	struct net_dev *nd = dev->priv;
	struct net_chan *n;
	bool down = nd->link_down;

	if (params) {
		json_object_object_foreach(params, key, val) {
			if (strcmp(key, "link") ||
			    !json_object_is_type(val, json_type_string) ||
			    net_parse_link(json_object_get_string(val), &down)) {
				snprintf(err, errlen,
					 "net: run-time settings: link=up|down");
				return -EINVAL;
			}
		}
	}
	if (down == nd->link_down)
		return 0;
	nd->link_down = down;
	net_offer_data(dev);
	if (nd->primary) {
		n = net_of(nd->primary);
		/* The host side of the wire follows, where the kernel can. */
		ioctl(n->tap, TUNSETCARRIER, &(int){ !down });
		n->link_dirty = true;
		chan_wake(nd->primary);
	}
	return 0;
}

static void net_dev_to_json(const struct device *dev, struct json_object *o)
{
	const struct net_dev *nd = dev->priv;
	struct json_object *p = json_object_new_object();
	char mac[18];

	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", nd->mac[0],
		 nd->mac[1], nd->mac[2], nd->mac[3], nd->mac[4], nd->mac[5]);
	json_object_object_add(p, "tap", json_object_new_string(nd->tap));
	json_object_object_add(p, "queues", json_object_new_int(nd->queues));
	json_object_object_add(p, "offloads",
			       json_object_new_int64(nd->offloads));
	json_object_object_add(p, "mac", json_object_new_string(mac));
	json_object_object_add(p, "link", json_object_new_string(
				       nd->link_down ? "down" : "up"));
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x",
		 nd->filter.mac[0], nd->filter.mac[1], nd->filter.mac[2],
		 nd->filter.mac[3], nd->filter.mac[4], nd->filter.mac[5]);
	json_object_object_add(p, "current_mac", json_object_new_string(mac));
	if (nd->filter_set) {
		json_object_object_add(p, "filter",
				       json_object_new_int64(nd->filter.flags));
		json_object_object_add(p, "mcast",
				       json_object_new_int64(nd->filter.nr_mc));
	}
	json_object_object_add(o, "params", p);
}

const struct vsp_ops vsp_net_ops = {
	.name = "net",
	.max_pkt = NET_MAX_PKT,
	.priv_size = sizeof(struct net_chan),
	.open = net_open,
	.close = net_close,
	.on_packet = net_on_packet,
	.flush = net_flush,
	.busy = net_busy,
	.to_json = net_to_json,
	.dev_priv_size = sizeof(struct net_dev),
	.dev_add = net_dev_add,
	.dev_set = net_dev_set,
	.dev_to_json = net_dev_to_json,
};
