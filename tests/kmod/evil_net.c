// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbus_evil_net.ko: a hostile guest for the network class, for
 * tests/guest/net.sh.  It binds only the NIC whose offered MAC is the `mac`
 * parameter (load it while kvmbus_netvsc.ko is not loaded, which then takes
 * the others), opens that NIC's primary channel and sends transmit
 * packets (PKT, docs/protocol.md 7.3) that kvmbusd must drop, answer with
 * an error status and count (bad_meta), through sysfs on the device:
 *
 *   evil   write one case (below); reading gives "ok ..." or "fail: ..."
 *
 *   pre_init     a PKT before INIT (EINVAL)
 *   init         INIT asking for every offload, then BUF SEND: a 16 KiB
 *                send buffer of 8 sections (both answered 0)
 *   section      a section index past the send buffer (EINVAL)
 *   len_past     a length past the end of its section (EINVAL)
 *   gso_zero     TCPv4 GSO with a GSO size of 0 (EINVAL)
 *   gso_huge     a GSO size larger than the frame (EINVAL)
 *   gso_type     an unknown GSO type (EINVAL)
 *   csum_past    a checksum field past the end of the frame (EINVAL)
 *   flags        unknown metadata flag bits (EINVAL)
 *   short        a 10-byte frame, shorter than an Ethernet header (EINVAL)
 *   gpa_outside  a GPA range far beyond guest RAM (EFAULT)
 *   gpa_many     65 GPA ranges, one more than a frame may have (EINVAL)
 *   gpa_sum      GPA ranges that do not add up to the frame (EINVAL)
 *   good         a well-formed 60-byte frame in section 0 (answered 0:
 *                the channel still works)
 *   post_outside a POST (RX_PAGES) of a buffer far beyond guest RAM
 *   post_huge    a POST of one buffer longer than KVMBUS_NET_POST_BUF_MAX
 *   post_count   a POST whose nr does not match its range count
 *                (POSTs are never answered: each is followed by an empty
 *                SET, answered 0, so the case knows kvmbusd has read it;
 *                kvmbusd counts the POST as bad_post)
 */
#include <linux/delay.h>
#include <linux/etherdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <kvmbus/kvmbus.h>
#include <kvmbus/netvsc.h>

#include "evil.h"

static char *mac;
module_param(mac, charp, 0444);
MODULE_PARM_DESC(mac, "the offered MAC of the NIC to misbehave on");

#define EVIL_RING_SIZE		(64 * 1024)
#define EVIL_RXBUF		(64 * 1024)
#define EVIL_SEND_BUF		(16 * 1024)
#define EVIL_SECTION		2048
#define EVIL_FRAME		60
#define EVIL_MANY_RANGES	(KVMBUS_NET_MAX_RANGES + 1)

struct evil_net {
	struct kvmbus_device *kdev;
	struct kvmbus_channel *chan;
	struct evil_state es;		/* its lock also guards @tid */
	u8 *rxbuf;
	void *send_buf;
	u32 send_gpadl;
	u64 tid;
};

/*
 * Wait for the completion of @tid, skipping everything else (received
 * frames are never completed: kvmbusd stops sending once its sections are
 * gone, and this NIC's TAP carries nothing anyway).
 * Return: the payload length (copied to @buf), or -errno.
 */
static int evil_net_wait(struct evil_net *ev, u64 tid, void *buf, u32 len)
{
	return evil_wait_comp(ev->chan, ev->rxbuf, EVIL_RXBUF, tid, buf, len);
}

/* Send @p (completion requested) and check the status it is answered. */
static int evil_net_call(struct evil_net *ev, struct kvmbus_ring_pkt *p,
			 u32 want)
{
	struct kvmbus_net_status st;
	int ret;

	p->flags = KVMBUS_PKT_F_COMP_REQUESTED;
	p->trans_id = ++ev->tid;
	ret = kvmbus_chan_send(ev->chan, p);
	if (ret)
		return ret;
	ret = evil_net_wait(ev, p->trans_id, &st, sizeof(st));
	if (ret < 0)
		return ret;
	if (ret < sizeof(st) || le32_to_cpu(st.hdr.type) != KVMBUS_NET_STATUS ||
	    le32_to_cpu(st.status) != want) {
		snprintf(ev->es.result, sizeof(ev->es.result),
			 "fail: answered type %u status %u (%d bytes); wanted %u",
			 le32_to_cpu(st.hdr.type), le32_to_cpu(st.status), ret,
			 want);
		return -EPROTO;
	}
	return 0;
}

/* A transmit PKT of @len bytes in send section @section. */
static int evil_net_section(struct evil_net *ev, struct kvmbus_net_pkt *m,
			    u32 section, u32 len, u32 want)
{
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.data = m,
		.data_len = sizeof(*m),
	};

	m->hdr.type = cpu_to_le32(KVMBUS_NET_PKT);
	m->section = cpu_to_le32(section);
	m->len = cpu_to_le32(len);
	return evil_net_call(ev, &p, want);
}

/* A transmit PKT in place: @nr ranges of @rlen bytes from @gpa on. */
static int evil_net_gpa(struct evil_net *ev, u64 gpa, u32 rlen, u32 nr,
			u32 len, u32 want)
{
	struct kvmbus_net_pkt m = {
		.hdr.type = cpu_to_le32(KVMBUS_NET_PKT),
		.section = cpu_to_le32(KVMBUS_NET_NO_SECTION),
		.len = cpu_to_le32(len),
	};
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_GPA,
		.data = &m,
		.data_len = sizeof(m),
	};
	struct kvmbus_gpa_range *r;
	struct kvmbus_gpa_list *l;
	u32 i;
	int ret;

	p.hdr_len = sizeof(*l) + nr * sizeof(*r);
	l = kzalloc(p.hdr_len, GFP_KERNEL);
	if (!l)
		return -ENOMEM;
	l->nr_ranges = cpu_to_le32(nr);
	r = (struct kvmbus_gpa_range *)(l + 1);
	for (i = 0; i < nr; i++) {
		r[i].gpa = cpu_to_le64(gpa + (u64)i * rlen);
		r[i].len = cpu_to_le32(rlen);
	}
	p.hdr = l;
	ret = evil_net_call(ev, &p, want);
	kfree(l);
	return ret;
}

/*
 * A POST of one buffer of @rlen bytes at @gpa claiming @nr buffers, then
 * an empty SET: its answer means kvmbusd has read the POST.
 */
static int evil_net_post(struct evil_net *ev, u64 gpa, u32 rlen, u32 nr)
{
	struct {
		struct kvmbus_gpa_list l;
		struct kvmbus_gpa_range r;
	} g = {
		.l.nr_ranges = cpu_to_le32(1),
		.r.gpa = cpu_to_le64(gpa),
		.r.len = cpu_to_le32(rlen),
	};
	struct kvmbus_net_post m = {
		.hdr.type = cpu_to_le32(KVMBUS_NET_POST),
		.nr = cpu_to_le32(nr),
	};
	struct kvmbus_net_set set = {
		.hdr.type = cpu_to_le32(KVMBUS_NET_SET),
	};
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_GPA,
		.trans_id = ++ev->tid,
		.hdr = &g,
		.hdr_len = sizeof(g),
		.data = &m,
		.data_len = sizeof(m),
	};
	int ret;

	ret = kvmbus_chan_send(ev->chan, &p);
	if (ret)
		return ret;
	p = (struct kvmbus_ring_pkt){
		.type = KVMBUS_PKT_INBAND,
		.data = &set,
		.data_len = sizeof(set),
	};
	return evil_net_call(ev, &p, 0);
}

static int evil_net_init(struct evil_net *ev)
{
	struct kvmbus_net_init m = {
		.hdr.type = cpu_to_le32(KVMBUS_NET_INIT),
		.version_min = cpu_to_le32(KVMBUS_NET_VERSION_1),
		.version_max = cpu_to_le32(KVMBUS_NET_VERSION_1),
		.offloads = cpu_to_le32(KVMBUS_NET_OFF_ALL),
	};
	struct kvmbus_net_buf b = {
		.hdr.type = cpu_to_le32(KVMBUS_NET_BUF),
		.kind = cpu_to_le32(KVMBUS_NET_BUF_SEND),
		.gpadl = cpu_to_le32(ev->send_gpadl),
		.size = cpu_to_le32(EVIL_SEND_BUF),
		.section_size = cpu_to_le32(EVIL_SECTION),
	};
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.flags = KVMBUS_PKT_F_COMP_REQUESTED,
		.data = &m,
		.data_len = sizeof(m),
	};
	struct kvmbus_net_init_resp r;
	int ret;

	p.trans_id = ++ev->tid;
	ret = kvmbus_chan_send(ev->chan, &p);
	if (ret)
		return ret;
	ret = evil_net_wait(ev, p.trans_id, &r, sizeof(r));
	if (ret < 0)
		return ret;
	if (ret < sizeof(r) || r.status ||
	    le32_to_cpu(r.offloads) != KVMBUS_NET_OFF_ALL) {
		snprintf(ev->es.result, sizeof(ev->es.result),
			 "fail: INIT answered status %u offloads 0x%x",
			 le32_to_cpu(r.status), le32_to_cpu(r.offloads));
		return -EPROTO;
	}
	p = (struct kvmbus_ring_pkt){
		.type = KVMBUS_PKT_INBAND,
		.data = &b,
		.data_len = sizeof(b),
	};
	return evil_net_call(ev, &p, 0);
}

/* A broadcast frame of a local experimental EtherType in section 0. */
static void evil_net_fill(struct evil_net *ev)
{
	u8 *f = ev->send_buf;

	memset(f, 0, EVIL_FRAME);
	eth_broadcast_addr(f);
	memcpy(f + ETH_ALEN, ev->kdev->offer_data, ETH_ALEN);
	f[12] = 0x88;
	f[13] = 0xb5;
}

/* A TCP segment to cut (checksum offload, as GSO needs) of @type, @size. */
static int evil_net_gso(struct evil_net *ev, struct kvmbus_net_pkt *m,
			u8 type, u16 size)
{
	m->meta.flags = KVMBUS_NET_META_NEEDS_CSUM;
	m->meta.csum_start = cpu_to_le16(ETH_HLEN + 20);
	m->meta.csum_offset = cpu_to_le16(16);
	m->meta.hdr_len = cpu_to_le16(ETH_HLEN + 40);
	m->meta.gso_type = type;
	m->meta.gso_size = cpu_to_le16(size);
	return evil_net_section(ev, m, 0, EVIL_FRAME, EINVAL);
}

static int evil_net_case(struct evil_net *ev, const char *c)
{
	struct kvmbus_net_pkt m = { };
	struct kvmbus_net_meta *mt = &m.meta;

	if (!strcmp(c, "pre_init"))
		return evil_net_section(ev, &m, 0, EVIL_FRAME, EINVAL);
	if (!strcmp(c, "init"))
		return evil_net_init(ev);
	if (!strcmp(c, "good")) {
		evil_net_fill(ev);
		return evil_net_section(ev, &m, 0, EVIL_FRAME, 0);
	}
	if (!strcmp(c, "section"))
		return evil_net_section(ev, &m, EVIL_SEND_BUF / EVIL_SECTION,
					EVIL_FRAME, EINVAL);
	if (!strcmp(c, "len_past"))
		return evil_net_section(ev, &m, 0, EVIL_SECTION + 1, EINVAL);
	if (!strcmp(c, "short"))
		return evil_net_section(ev, &m, 0, 10, EINVAL);
	if (!strcmp(c, "flags")) {
		mt->flags = 0x80;
		return evil_net_section(ev, &m, 0, EVIL_FRAME, EINVAL);
	}
	if (!strcmp(c, "csum_past")) {
		mt->flags = KVMBUS_NET_META_NEEDS_CSUM;
		mt->csum_start = cpu_to_le16(ETH_HLEN);
		mt->csum_offset = cpu_to_le16(EVIL_FRAME);
		return evil_net_section(ev, &m, 0, EVIL_FRAME, EINVAL);
	}
	if (!strcmp(c, "gso_zero"))
		return evil_net_gso(ev, &m, KVMBUS_NET_GSO_TCPV4, 0);
	if (!strcmp(c, "gso_huge"))
		return evil_net_gso(ev, &m, KVMBUS_NET_GSO_TCPV4, 65535);
	if (!strcmp(c, "gso_type"))
		return evil_net_gso(ev, &m, 0x33, 1000);
	if (!strcmp(c, "gpa_outside"))
		return evil_net_gpa(ev, 1ull << 46, EVIL_FRAME, 1, EVIL_FRAME,
				    EFAULT);
	if (!strcmp(c, "gpa_many"))
		return evil_net_gpa(ev, 0x100000, 8, EVIL_MANY_RANGES,
				    8 * EVIL_MANY_RANGES, EINVAL);
	if (!strcmp(c, "gpa_sum"))
		return evil_net_gpa(ev, 0x100000, EVIL_FRAME, 2, EVIL_FRAME,
				    EINVAL);
	if (!strcmp(c, "post_outside"))
		return evil_net_post(ev, 1ull << 46, PAGE_SIZE, 1);
	if (!strcmp(c, "post_huge"))
		return evil_net_post(ev, 0x100000, KVMBUS_NET_POST_BUF_MAX + 1,
				     1);
	if (!strcmp(c, "post_count"))
		return evil_net_post(ev, 0x100000, PAGE_SIZE, 2);
	return -EINVAL;
}

static struct evil_state *evil_state(struct device *dev)
{
	struct evil_net *ev = dev_get_drvdata(dev);

	return &ev->es;
}

/* The cases take no argument: @n is ignored. */
static int evil_run(struct device *dev, const char *c, u32 n)
{
	return evil_net_case(dev_get_drvdata(dev), c);
}

static bool evil_net_ours(struct kvmbus_device *kdev)
{
	u8 want[ETH_ALEN];

	return mac && mac_pton(mac, want) &&
	       kdev->offer_data_len >= sizeof(struct kvmbus_net_offer) &&
	       ether_addr_equal(kdev->offer_data, want);
}

static int evil_net_probe(struct kvmbus_device *kdev,
			  const struct kvmbus_device_id *id)
{
	struct kvmbus_chan_config cfg = {
		.g2h_size = EVIL_RING_SIZE,
		.h2g_size = EVIL_RING_SIZE,
		.callback = evil_callback,
	};
	struct evil_net *ev;
	int ret;

	if (!evil_net_ours(kdev))
		return -ENODEV;
	ev = kzalloc(sizeof(*ev), GFP_KERNEL);
	if (!ev)
		return -ENOMEM;
	ev->kdev = kdev;
	evil_state_init(&ev->es);
	ev->rxbuf = kvmalloc(EVIL_RXBUF, GFP_KERNEL);
	if (!ev->rxbuf) {
		ret = -ENOMEM;
		goto err_free_ev;
	}
	ev->send_buf = alloc_pages_exact(EVIL_SEND_BUF,
					 GFP_KERNEL | __GFP_ZERO);
	if (!ev->send_buf) {
		ret = -ENOMEM;
		goto err_free_rxbuf;
	}
	ret = kvmbus_gpadl_create(kdev, ev->send_buf, EVIL_SEND_BUF,
				  &ev->send_gpadl);
	if (ret)
		goto err_free_send_buf;
	cfg.ctx = ev;
	ret = kvmbus_channel_open(kdev, &cfg, &ev->chan);
	if (ret)
		goto err_teardown_gpadl;
	dev_set_drvdata(&kdev->dev, ev);
	return 0;

err_teardown_gpadl:
	/* A GPADL the host kept: leak its pages rather than reuse them. */
	if (kvmbus_gpadl_teardown(kdev, ev->send_gpadl))
		ev->send_buf = NULL;
err_free_send_buf:
	if (ev->send_buf)
		free_pages_exact(ev->send_buf, EVIL_SEND_BUF);
err_free_rxbuf:
	kvfree(ev->rxbuf);
err_free_ev:
	kfree(ev);
	return ret;
}

static void evil_net_remove(struct kvmbus_device *kdev)
{
	struct evil_net *ev = dev_get_drvdata(&kdev->dev);

	kvmbus_channel_close(ev->chan);
	if (!kvmbus_gpadl_teardown(kdev, ev->send_gpadl))
		free_pages_exact(ev->send_buf, EVIL_SEND_BUF);
	kvfree(ev->rxbuf);
	kfree(ev);
}

static const struct kvmbus_device_id evil_net_id_table[] = {
	{ .class_id = KVMBUS_UUID(KVMBUS_CLASS_NET_BYTES) },
	{ }
};

static struct kvmbus_driver evil_net_driver = {
	.name		= "kvmbus_evil_net",
	.id_table	= evil_net_id_table,
	.probe		= evil_net_probe,
	.remove		= evil_net_remove,
	.driver		= {
		.dev_groups = evil_groups,
	},
};
module_kvmbus_driver(evil_net_driver);

MODULE_DESCRIPTION("kvmbus: a hostile guest for the network class (tests only)");
MODULE_LICENSE("GPL");
