// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbus_evil.ko: a hostile guest for the echo device class, for
 * tests/guest/hostile.sh.  It binds only the echo device whose relid is
 * the `relid` parameter (load it before kvmbus_echo.ko, which then takes
 * the others), opens that device's channel like kvmbus_echo.ko and then
 * breaks the protocol on purpose through sysfs on the device:
 *
 *   evil   write one case (below); reading gives "ok ..." or "fail: ..."
 *
 * Framing cases write straight into the guest->host ring (through
 * kvmbus.ko's private ring state: this module is a test and knows it) and
 * ring the doorbell; kvmbusd must mark this channel broken:
 *
 *   wr_unaligned  a write index that is not a multiple of 8
 *   wr_past       a write index beyond the ring
 *   len_past      a descriptor whose total length runs past the ring
 *   bad_offset    a descriptor whose data offset is inside the descriptor
 *   bad_type      a descriptor of an unknown packet type
 *   bad_trailer   a trailer that names another start offset
 *
 * Protocol cases use well-framed packets; kvmbusd must drop or refuse them
 * and keep the channel open:
 *
 *   comp          a completion nobody asked for (dropped, counted)
 *   gpa_outside   a GPA range far beyond guest RAM (answered EFAULT)
 *   gpa_wrap      a GPA range that wraps the address space (EFAULT)
 *   gpa_count     a range count larger than the packet holds (EINVAL)
 *   dup_tid       two requests with one trans_id (both answered)
 *   flood N       N one-way packets and N completions, then an echo
 *   doorbells N   N doorbells with nothing new in the ring
 *   reopen        close the channel and open it again (after a break)
 */
#include <linux/delay.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <kvmbus/echo.h>
#include <kvmbus/kvmbus.h>

#include "kvmbus_internal.h"
#include "evil.h"

static unsigned int relid;
module_param(relid, uint, 0444);
MODULE_PARM_DESC(relid, "the relid of the echo device to misbehave on");

#define EVIL_RING_SIZE		(64 * 1024)
#define EVIL_TID		0x4556494cull	/* "EVIL" */

struct evil_dev {
	struct kvmbus_device *kdev;
	struct kvmbus_channel *chan;
	struct evil_state es;		/* its lock also guards @chan */
	u8 *rxbuf;
};

static int evil_open(struct evil_dev *ev)
{
	struct kvmbus_chan_config cfg = {
		.g2h_size = EVIL_RING_SIZE,
		.h2g_size = EVIL_RING_SIZE,
		.callback = evil_callback,
		.ctx = ev,
	};

	return kvmbus_channel_open(ev->kdev, &cfg, &ev->chan);
}

/* Ring the doorbell whether or not the batch says so. */
static void evil_kick(struct kvmbus_channel *chan)
{
	unsigned long flags;

	spin_lock_irqsave(&chan->out_lock, flags);
	chan->out.signal_owed = true;
	spin_unlock_irqrestore(&chan->out_lock, flags);
	kvmbus_chan_flush(chan);
}

/* Copy @len raw bytes into the guest->host ring at the producer index. */
static void evil_raw(struct kvmbus_channel *chan, const void *p, u32 len,
		     u32 advance)
{
	struct kvmbus_ring *r = &chan->out;
	unsigned long flags;
	u32 first;

	spin_lock_irqsave(&chan->out_lock, flags);
	first = min(len, r->size - r->wr);
	memcpy(r->data + r->wr, p, first);
	memcpy(r->data, (const u8 *)p + first, len - first);
	r->wr = (r->wr + advance) % r->size;
	spin_unlock_irqrestore(&chan->out_lock, flags);
}

/* A descriptor, 8 bytes of payload and a trailer; @fix spoils it. */
static void evil_frame(struct kvmbus_channel *chan,
		       void (*fix)(struct kvmbus_pkt_desc *d,
				   struct kvmbus_pkt_trailer *t))
{
	struct {
		struct kvmbus_pkt_desc d;
		u8 payload[8];
		struct kvmbus_pkt_trailer t;
	} __packed f = {
		.d.type = cpu_to_le16(KVMBUS_PKT_INBAND),
		.d.data_offset = cpu_to_le16(sizeof(struct kvmbus_pkt_desc)),
		.d.total_len = cpu_to_le32(sizeof(struct kvmbus_pkt_desc) + 8),
		.d.data_len = cpu_to_le32(8),
		.d.trans_id = cpu_to_le64(EVIL_TID),
	};

	f.t.start = cpu_to_le32(chan->out.wr);
	fix(&f.d, &f.t);
	evil_raw(chan, &f, sizeof(f), sizeof(f));
	evil_kick(chan);
}

static void fix_len_past(struct kvmbus_pkt_desc *d,
			 struct kvmbus_pkt_trailer *t)
{
	d->total_len = cpu_to_le32(2 * EVIL_RING_SIZE);
	d->data_len = cpu_to_le32(2 * EVIL_RING_SIZE - sizeof(*d));
}

static void fix_bad_offset(struct kvmbus_pkt_desc *d,
			   struct kvmbus_pkt_trailer *t)
{
	d->data_offset = cpu_to_le16(8);
}

static void fix_bad_type(struct kvmbus_pkt_desc *d,
			 struct kvmbus_pkt_trailer *t)
{
	d->type = cpu_to_le16(0x7777);
}

static void fix_bad_trailer(struct kvmbus_pkt_desc *d,
			    struct kvmbus_pkt_trailer *t)
{
	t->start = cpu_to_le32(le32_to_cpu(t->start) + 8);
}

static void evil_set_wr(struct kvmbus_channel *chan, u32 wr)
{
	unsigned long flags;

	spin_lock_irqsave(&chan->out_lock, flags);
	chan->out.wr = wr;
	spin_unlock_irqrestore(&chan->out_lock, flags);
	evil_kick(chan);
}

/*
 * Wait for the answer to @tid (a COMP), skipping others.
 * Return: its payload length (copied to @buf), or -errno.
 */
static int evil_wait(struct evil_dev *ev, u64 tid, void *buf, u32 len)
{
	return evil_wait_comp(ev->chan, ev->rxbuf, EVIL_RING_SIZE, tid, buf,
			      len);
}

/* A GPA request of one range; @nr is what the list header claims. */
static int evil_gpa(struct evil_dev *ev, u64 gpa, u32 len, u32 nr,
		    u32 want)
{
	struct {
		struct kvmbus_gpa_list l;
		struct kvmbus_gpa_range r;
	} __packed h = {
		.l.nr_ranges = cpu_to_le32(nr),
		.r.gpa = cpu_to_le64(gpa),
		.r.len = cpu_to_le32(len),
	};
	struct kvmbus_echo_gpa_req req = {
		.op = cpu_to_le32(KVMBUS_ECHO_OP_SUM),
	};
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_GPA,
		.flags = KVMBUS_PKT_F_COMP_REQUESTED,
		.trans_id = EVIL_TID + 1,
		.hdr = &h,
		.hdr_len = sizeof(h),
		.data = &req,
		.data_len = sizeof(req),
	};
	struct kvmbus_echo_gpa_resp resp;
	int ret;

	ret = kvmbus_chan_send(ev->chan, &p);
	if (ret)
		return ret;
	ret = evil_wait(ev, p.trans_id, &resp, sizeof(resp));
	if (ret < 0)
		return ret;
	if (ret != sizeof(resp) || le32_to_cpu(resp.status) != want) {
		snprintf(ev->es.result, sizeof(ev->es.result),
			 "fail: answered status %u, %d bytes; wanted %u",
			 le32_to_cpu(resp.status), ret, want);
		return -EPROTO;
	}
	return 0;
}

/* One echo round trip of @tid: the channel still works. */
static int evil_echo(struct evil_dev *ev, u64 tid)
{
	u64 v = tid ^ 0x5a5a5a5a5a5a5a5aull, back = 0;
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.flags = KVMBUS_PKT_F_COMP_REQUESTED,
		.trans_id = tid,
		.data = &v,
		.data_len = sizeof(v),
	};
	int ret;

	ret = kvmbus_chan_send(ev->chan, &p);
	if (ret)
		return ret;
	ret = evil_wait(ev, tid, &back, sizeof(back));
	if (ret < 0)
		return ret;
	return ret == sizeof(v) && back == v ? 0 : -EPROTO;
}

static int evil_send_many(struct evil_dev *ev, u16 type, u16 flags, u32 n)
{
	struct kvmbus_ring_pkt p = { .type = type, .flags = flags };
	u64 v = 0;
	u32 i;
	int ret;

	p.data = &v;
	p.data_len = sizeof(v);
	for (i = 0; i < n; i++) {
		p.trans_id = i;
		while ((ret = kvmbus_chan_put(ev->chan, &p)) == -ENOSPC) {
			kvmbus_chan_flush(ev->chan);
			usleep_range(1000, 2000);
			if (signal_pending(current))
				return -EINTR;
		}
		if (ret)
			return ret;
	}
	kvmbus_chan_flush(ev->chan);
	return 0;
}

static int evil_dup_tid(struct evil_dev *ev)
{
	u64 v = 1, back;
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.flags = KVMBUS_PKT_F_COMP_REQUESTED,
		.trans_id = EVIL_TID + 2,
		.data = &v,
		.data_len = sizeof(v),
	};
	int ret;

	ret = kvmbus_chan_put(ev->chan, &p);
	if (!ret)
		ret = kvmbus_chan_send(ev->chan, &p);
	if (ret)
		return ret;
	/* Both answered: kvmbusd keeps no per-id state to confuse. */
	ret = evil_wait(ev, p.trans_id, &back, sizeof(back));
	if (ret >= 0)
		ret = evil_wait(ev, p.trans_id, &back, sizeof(back));
	return ret < 0 ? ret : 0;
}

static int evil_case(struct evil_dev *ev, const char *c, u32 n)
{
	struct kvmbus_channel *chan = ev->chan;
	int ret;
	u32 i;

	if (!strcmp(c, "reopen")) {
		if (ev->chan)
			kvmbus_channel_close(ev->chan);
		ev->chan = NULL;
		return evil_open(ev);
	}
	if (!chan)
		return -ENOTCONN;
	if (!strcmp(c, "wr_unaligned")) {
		evil_set_wr(chan, (chan->out.wr + 13) % chan->out.size);
	} else if (!strcmp(c, "wr_past")) {
		evil_set_wr(chan, chan->out.size + 8);
	} else if (!strcmp(c, "len_past")) {
		evil_frame(chan, fix_len_past);
	} else if (!strcmp(c, "bad_offset")) {
		evil_frame(chan, fix_bad_offset);
	} else if (!strcmp(c, "bad_type")) {
		evil_frame(chan, fix_bad_type);
	} else if (!strcmp(c, "bad_trailer")) {
		evil_frame(chan, fix_bad_trailer);
	} else if (!strcmp(c, "comp")) {
		ret = evil_send_many(ev, KVMBUS_PKT_COMP, 0, 1);
		return ret ? ret : evil_echo(ev, EVIL_TID + 3);
	} else if (!strcmp(c, "gpa_outside")) {
		return evil_gpa(ev, 1ull << 46, 4096, 1, EFAULT);
	} else if (!strcmp(c, "gpa_wrap")) {
		return evil_gpa(ev, ~0ull - 100, 4096, 1, EFAULT);
	} else if (!strcmp(c, "gpa_count")) {
		return evil_gpa(ev, 0x100000, 4096, 1000, EINVAL);
	} else if (!strcmp(c, "dup_tid")) {
		return evil_dup_tid(ev);
	} else if (!strcmp(c, "flood")) {
		ret = evil_send_many(ev, KVMBUS_PKT_INBAND, 0, n);
		if (!ret)
			ret = evil_send_many(ev, KVMBUS_PKT_COMP, 0, n);
		return ret ? ret : evil_echo(ev, EVIL_TID + 4);
	} else if (!strcmp(c, "doorbells")) {
		for (i = 0; i < n; i++) {
			evil_kick(chan);
			if (i % 1024 == 1023)
				cond_resched();
		}
	} else {
		return -EINVAL;
	}
	return 0;
}

static struct evil_state *evil_state(struct device *dev)
{
	struct evil_dev *ev = dev_get_drvdata(dev);

	return &ev->es;
}

static int evil_run(struct device *dev, const char *c, u32 n)
{
	return evil_case(dev_get_drvdata(dev), c, n);
}

static int evil_probe(struct kvmbus_device *kdev,
		      const struct kvmbus_device_id *id)
{
	struct evil_dev *ev;
	int ret;

	if (!relid || kdev->relid != relid)
		return -ENODEV;
	ev = kzalloc(sizeof(*ev), GFP_KERNEL);
	if (!ev)
		return -ENOMEM;
	ev->kdev = kdev;
	evil_state_init(&ev->es);
	ev->rxbuf = kvmalloc(EVIL_RING_SIZE, GFP_KERNEL);
	if (!ev->rxbuf) {
		ret = -ENOMEM;
		goto err_free_ev;
	}
	dev_set_drvdata(&kdev->dev, ev);
	ret = evil_open(ev);
	if (ret)
		goto err_free_rxbuf;
	return 0;

err_free_rxbuf:
	kvfree(ev->rxbuf);
err_free_ev:
	kfree(ev);
	return ret;
}

static void evil_remove(struct kvmbus_device *kdev)
{
	struct evil_dev *ev = dev_get_drvdata(&kdev->dev);

	if (ev->chan)
		kvmbus_channel_close(ev->chan);
	kvfree(ev->rxbuf);
	kfree(ev);
}

static const struct kvmbus_device_id evil_id_table[] = {
	{ .class_id = KVMBUS_UUID(KVMBUS_CLASS_ECHO_BYTES) },
	{ }
};

static struct kvmbus_driver evil_driver = {
	.name		= "kvmbus_evil",
	.id_table	= evil_id_table,
	.probe		= evil_probe,
	.remove		= evil_remove,
	.driver		= {
		.dev_groups = evil_groups,
	},
};
module_kvmbus_driver(evil_driver);

MODULE_DESCRIPTION("kvmbus: a hostile guest for the echo class (tests only)");
MODULE_LICENSE("GPL");
