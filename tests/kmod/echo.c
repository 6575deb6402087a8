// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbus_echo.ko: test driver for the echo device class (docs/protocol.md
 * section 7.1).  It opens the device's channel and offers runs through
 * sysfs on the device, so guest tests can drive real channels:
 *
 *   run    write "inband COUNT SIZE", "sum SIZE" or "fill SIZE SEED"; the
 *          write returns when the run is over (-EIO if it failed), and
 *          reading gives the last run's result: "ok ..." or "fail: ..."
 *          (on the primary channel)
 *   run_all  the same on every open channel at once (primary and
 *          sub-channels), each with its own packets: "ok N channels: ..."
 *          or "fail: channel I: ..."
 *   rx     "PACKETS BYTES BAD": host-initiated packets received and
 *          checked, all channels together
 *   channels  how many channels are open (1 + sub-channels)
 *   offer  the offer data the host sent: "magic max_subchannels" or "bad"
 *
 * The driver asks for as many sub-channels as the module parameter
 * subchannels says (-1: all the host allows) and opens them all.
 *
 * Every byte that comes back is checked against what was sent.
 */
#include <linux/module.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>
#include <kvmbus/echo.h>
#include <kvmbus/kvmbus.h>

static unsigned int ring_kb = 64;
module_param(ring_kb, uint, 0444);
MODULE_PARM_DESC(ring_kb, "KiB of data in each ring (whole pages)");

static int subchannels = -1;
module_param(subchannels, int, 0444);
MODULE_PARM_DESC(subchannels, "sub-channels to ask for (-1: all the host allows)");

#define ECHO_GPA_ID		BIT_ULL(63)	/* marks GPA runs' trans_ids */
#define ECHO_BATCH		16
#define ECHO_RUN_TIMEOUT	(30 * HZ)

/* One open channel of the device: the primary or a sub-channel. */
struct echo_dev {
	struct kvmbus_device *kdev;
	u16 index;			/* 0: primary */
	struct kvmbus_channel *chan;
	struct work_struct rx_work;
	spinlock_t lock;		/* closing vs. queueing rx_work */
	bool closing;
	atomic_t kicks;			/* callbacks so far */
	wait_queue_head_t wq;
	u32 ring_size;
	u8 *rxbuf;
	u8 *txbuf;
	/* run_all: this channel's part, on its own work item. */
	struct echo_sys *sys;
	struct work_struct run_work;
	u32 run_count;
	int run_ret;
	/* The current run, read by rx_work. */
	u64 first_id;
	u64 last_id;
	u32 run_size;
	atomic64_t completed;
	atomic64_t bad;
	struct kvmbus_echo_gpa_resp gpa_resp;
	bool gpa_done;
	char result[128];
	/* Host-initiated traffic. */
	atomic64_t rx_packets;
	atomic64_t rx_bytes;
	atomic64_t rx_bad;
};

/* The device: its channels, and the runs sysfs starts. */
struct echo_sys {
	struct mutex run_lock;		/* one run at a time */
	atomic_t running;		/* run_all parts not done yet */
	wait_queue_head_t done_wq;	/* woken when one is done */
	unsigned int nr_chans;
	char result[128];
	struct echo_dev *chans[KVMBUS_MAX_SUBCHANNELS + 1];
};

static void echo_pattern(u8 *p, u32 len, u64 seed)
{
	u32 i;

	for (i = 0; i < len; i++)
		p[i] = (u8)(seed + i);
}

static bool echo_pattern_ok(const u8 *p, u32 len, u64 seed)
{
	u32 i;

	for (i = 0; i < len; i++)
		if (p[i] != (u8)(seed + i))
			return false;
	return true;
}

static void echo_callback(struct kvmbus_channel *chan, void *ctx)
{
	struct echo_dev *ed = ctx;
	unsigned long flags;

	spin_lock_irqsave(&ed->lock, flags);
	if (!ed->closing)
		queue_work(system_wq, &ed->rx_work);
	spin_unlock_irqrestore(&ed->lock, flags);
	atomic_inc(&ed->kicks);
	wake_up(&ed->wq);	/* a writer may wait for ring space */
}

static void echo_completion(struct echo_dev *ed, u64 id, const u8 *data,
			    u32 len)
{
	if (id & ECHO_GPA_ID) {
		if (id != READ_ONCE(ed->first_id) ||
		    len != sizeof(ed->gpa_resp)) {
			atomic64_inc(&ed->bad);
			return;
		}
		memcpy(&ed->gpa_resp, data, sizeof(ed->gpa_resp));
		WRITE_ONCE(ed->gpa_done, true);
		return;
	}
	if (id < READ_ONCE(ed->first_id) || id > READ_ONCE(ed->last_id) ||
	    len != READ_ONCE(ed->run_size) || !echo_pattern_ok(data, len, id))
		atomic64_inc(&ed->bad);
	else
		atomic64_inc(&ed->completed);
}

static void echo_rx_work(struct work_struct *work)
{
	struct echo_dev *ed = container_of(work, struct echo_dev, rx_work);
	struct kvmbus_pkt_info pi;
	unsigned int n = 0;

again:
	while (!kvmbus_chan_recv(ed->chan, ed->rxbuf, ed->ring_size, &pi)) {
		const u8 *data = ed->rxbuf + pi.data_offset;

		if (pi.type == KVMBUS_PKT_COMP) {
			echo_completion(ed, pi.trans_id, data, pi.data_len);
		} else if (pi.type == KVMBUS_PKT_INBAND &&
			   echo_pattern_ok(data, pi.data_len, pi.trans_id)) {
			atomic64_inc(&ed->rx_packets);
			atomic64_add(pi.data_len, &ed->rx_bytes);
		} else {
			atomic64_inc(&ed->rx_bad);
		}
		if (++n % ECHO_BATCH == 0)
			kvmbus_chan_recv_done(ed->chan);
	}
	wake_up(&ed->wq);
	/* Packets the host committed while we were busy come unsignalled. */
	if (kvmbus_chan_recv_done(ed->chan))
		goto again;
}

/* Put one packet, waiting (bounded) for ring space. */
static int echo_put(struct echo_dev *ed, const struct kvmbus_ring_pkt *p,
		    unsigned long deadline)
{
	int ret;

	while ((ret = kvmbus_chan_put(ed->chan, p)) == -ENOSPC) {
		int kicks = atomic_read(&ed->kicks);

		kvmbus_chan_flush(ed->chan);
		if (time_after(jiffies, deadline))
			return -ETIMEDOUT;
		/* The host signals once the packet fits (or took the device
		 * back: the next put says so).
		 */
		if (wait_event_interruptible_timeout(ed->wq,
						     atomic_read(&ed->kicks) != kicks,
						     HZ / 10) < 0)
			return -EINTR;
	}
	return ret;
}

static int echo_run_inband(struct echo_dev *ed, u32 count, u32 size)
{
	unsigned long deadline = jiffies + ECHO_RUN_TIMEOUT;
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.flags = KVMBUS_PKT_F_COMP_REQUESTED,
		.data = ed->txbuf,
		.data_len = size,
	};
	u64 id, first = ed->last_id + 1;
	int ret;

	if (!count || size > ed->ring_size)
		return -EINVAL;
	atomic64_set(&ed->completed, 0);
	atomic64_set(&ed->bad, 0);
	WRITE_ONCE(ed->run_size, size);
	WRITE_ONCE(ed->first_id, first);
	WRITE_ONCE(ed->last_id, first + count - 1);

	for (id = first; id < first + count; id++) {
		p.trans_id = id;
		echo_pattern(ed->txbuf, size, id);
		ret = echo_put(ed, &p, deadline);
		if (ret) {
			snprintf(ed->result, sizeof(ed->result),
				 "fail: packet %llu of %u bytes not sent: %d",
				 id - first, size, ret);
			return -EIO;
		}
		if ((id - first) % ECHO_BATCH == ECHO_BATCH - 1)
			kvmbus_chan_flush(ed->chan);
	}
	kvmbus_chan_flush(ed->chan);

	/* Interruptible: a long run is not a hung task, and rescind ends it. */
	wait_event_interruptible_timeout(ed->wq,
					 atomic64_read(&ed->completed) +
					 atomic64_read(&ed->bad) >= count ||
					 kvmbus_chan_rescinded(ed->chan),
					 max_t(long, (long)(deadline - jiffies), 1));
	if (atomic64_read(&ed->completed) != count ||
	    atomic64_read(&ed->bad)) {
		snprintf(ed->result, sizeof(ed->result),
			 "fail: %lld of %u echoed intact, %lld bad",
			 atomic64_read(&ed->completed), count,
			 atomic64_read(&ed->bad));
		return -EIO;
	}
	snprintf(ed->result, sizeof(ed->result), "ok %u x %u bytes", count,
		 size);
	return 0;
}

static int echo_run_gpa(struct echo_dev *ed, u32 op, u32 size, u32 seed)
{
	struct kvmbus_echo_gpa_req req = {
		.op = cpu_to_le32(op),
		.seed = cpu_to_le32(seed),
	};
	struct kvmbus_gpa_list *list;
	struct kvmbus_gpa_range *r;
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_GPA,
		.flags = KVMBUS_PKT_F_COMP_REQUESTED,
		.data = &req,
		.data_len = sizeof(req),
	};
	u32 n = 0, off, i;
	u64 sum = 0;
	u8 *buf;
	int ret = -EIO;

	if (!size || size > KVMBUS_MAX_GPA_RANGES * PAGE_SIZE)
		return -EINVAL;
	buf = vzalloc(size);
	list = kzalloc(sizeof(*list) + KVMBUS_MAX_GPA_RANGES * sizeof(*r),
		       GFP_KERNEL);
	if (!buf || !list) {
		ret = -ENOMEM;
		goto out;
	}
	r = (void *)(list + 1);
	for (off = 0; off < size; off += PAGE_SIZE, n++) {
		r[n].gpa = cpu_to_le64(PFN_PHYS(vmalloc_to_pfn(buf + off)));
		r[n].len = cpu_to_le32(min_t(u32, PAGE_SIZE, size - off));
	}
	list->nr_ranges = cpu_to_le32(n);
	if (op == KVMBUS_ECHO_OP_SUM) {
		echo_pattern(buf, size, seed);
		for (i = 0; i < size; i++)
			sum += buf[i];
	}

	p.hdr = list;
	p.hdr_len = sizeof(*list) + n * sizeof(*r);
	p.trans_id = ECHO_GPA_ID | ++ed->last_id;
	WRITE_ONCE(ed->first_id, p.trans_id);
	WRITE_ONCE(ed->gpa_done, false);
	ret = echo_put(ed, &p, jiffies + ECHO_RUN_TIMEOUT);
	kvmbus_chan_flush(ed->chan);
	if (ret) {
		snprintf(ed->result, sizeof(ed->result), "fail: not sent: %d",
			 ret);
		ret = -EIO;
		goto out;
	}
	/* The host is done with @buf once it answers; if it never does, the
	 * buffer is leaked rather than handed back while it may write it.
	 */
	wait_event_interruptible_timeout(ed->wq, READ_ONCE(ed->gpa_done) ||
					 kvmbus_chan_rescinded(ed->chan),
					 ECHO_RUN_TIMEOUT);
	if (!READ_ONCE(ed->gpa_done)) {
		snprintf(ed->result, sizeof(ed->result), "fail: no answer");
		buf = NULL;
		ret = -EIO;
		goto out;
	}
	ret = -EIO;
	if (le32_to_cpu(ed->gpa_resp.status))
		snprintf(ed->result, sizeof(ed->result), "fail: status %u",
			 le32_to_cpu(ed->gpa_resp.status));
	else if (le64_to_cpu(ed->gpa_resp.bytes) != size)
		snprintf(ed->result, sizeof(ed->result),
			 "fail: host did %llu of %u bytes",
			 le64_to_cpu(ed->gpa_resp.bytes), size);
	else if (op == KVMBUS_ECHO_OP_SUM &&
		 le64_to_cpu(ed->gpa_resp.sum) != sum)
		snprintf(ed->result, sizeof(ed->result),
			 "fail: host sum %llu, ours %llu",
			 le64_to_cpu(ed->gpa_resp.sum), sum);
	else if (op == KVMBUS_ECHO_OP_FILL && !echo_pattern_ok(buf, size, seed))
		snprintf(ed->result, sizeof(ed->result),
			 "fail: filled bytes differ");
	else
		ret = 0;
	if (!ret)
		snprintf(ed->result, sizeof(ed->result), "ok %s %u bytes in %u ranges",
			 op == KVMBUS_ECHO_OP_SUM ? "sum" : "fill", size, n);
out:
	kfree(list);
	vfree(buf);
	return ret;
}

static ssize_t run_store(struct device *dev, struct device_attribute *attr,
			 const char *buf, size_t count)
{
	struct echo_sys *es = dev_get_drvdata(dev);
	struct echo_dev *ed = es->chans[0];
	u32 a, b;
	int ret;

	mutex_lock(&es->run_lock);
	if (sscanf(buf, "inband %u %u", &a, &b) == 2)
		ret = echo_run_inband(ed, a, b);
	else if (sscanf(buf, "sum %u", &a) == 1)
		ret = echo_run_gpa(ed, KVMBUS_ECHO_OP_SUM, a, 7);
	else if (sscanf(buf, "fill %u %u", &a, &b) == 2)
		ret = echo_run_gpa(ed, KVMBUS_ECHO_OP_FILL, a, b);
	else
		ret = -EINVAL;
	if (ret == -EINVAL)
		snprintf(ed->result, sizeof(ed->result), "fail: bad request");
	mutex_unlock(&es->run_lock);
	return ret ? ret : count;
}

static ssize_t run_show(struct device *dev, struct device_attribute *attr,
			char *buf)
{
	struct echo_sys *es = dev_get_drvdata(dev);
	ssize_t ret;

	mutex_lock(&es->run_lock);
	ret = sysfs_emit(buf, "%s\n", es->chans[0]->result);
	mutex_unlock(&es->run_lock);
	return ret;
}
static DEVICE_ATTR_RW(run);

static void echo_run_work(struct work_struct *work)
{
	struct echo_dev *ed = container_of(work, struct echo_dev, run_work);

	ed->run_ret = echo_run_inband(ed, ed->run_count, ed->run_size);
	if (atomic_dec_and_test(&ed->sys->running))
		wake_up(&ed->sys->done_wq);
}

/* "inband COUNT SIZE" on every channel at once. */
static ssize_t run_all_store(struct device *dev, struct device_attribute *attr,
			     const char *buf, size_t count)
{
	struct echo_sys *es = dev_get_drvdata(dev);
	unsigned int i;
	int ret = 0;
	u32 a, b;

	if (sscanf(buf, "inband %u %u", &a, &b) != 2 || !a ||
	    b > es->chans[0]->ring_size)
		return -EINVAL;
	mutex_lock(&es->run_lock);
	atomic_set(&es->running, es->nr_chans);
	for (i = 0; i < es->nr_chans; i++) {
		es->chans[i]->run_count = a;
		es->chans[i]->run_size = b;
		queue_work(system_unbound_wq, &es->chans[i]->run_work);
	}
	snprintf(es->result, sizeof(es->result),
		 "ok %u channels: %u x %u bytes each", es->nr_chans, a, b);
	/* A long run is not a hung task: wait idle, not uninterruptible
	 * (the parts must end before we return; a rescind ends them).
	 */
	wait_event_idle(es->done_wq, !atomic_read(&es->running));
	for (i = 0; i < es->nr_chans; i++) {
		flush_work(&es->chans[i]->run_work);
		if (es->chans[i]->run_ret && !ret) {
			ret = -EIO;
			snprintf(es->result, sizeof(es->result),
				 "fail: channel %u: %s", i,
				 es->chans[i]->result);
		}
	}
	mutex_unlock(&es->run_lock);
	return ret ? ret : count;
}

static ssize_t run_all_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	struct echo_sys *es = dev_get_drvdata(dev);
	ssize_t ret;

	mutex_lock(&es->run_lock);
	ret = sysfs_emit(buf, "%s\n", es->result);
	mutex_unlock(&es->run_lock);
	return ret;
}
static DEVICE_ATTR_RW(run_all);

static ssize_t rx_show(struct device *dev, struct device_attribute *attr,
		       char *buf)
{
	struct echo_sys *es = dev_get_drvdata(dev);
	s64 pkts = 0, bytes = 0, bad = 0;
	unsigned int i;

	for (i = 0; i < es->nr_chans; i++) {
		pkts += atomic64_read(&es->chans[i]->rx_packets);
		bytes += atomic64_read(&es->chans[i]->rx_bytes);
		bad += atomic64_read(&es->chans[i]->rx_bad);
	}
	return sysfs_emit(buf, "%lld %lld %lld\n", pkts, bytes, bad);
}
static DEVICE_ATTR_RO(rx);

static ssize_t channels_show(struct device *dev,
			     struct device_attribute *attr, char *buf)
{
	struct echo_sys *es = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%u\n", es->nr_chans);
}
static DEVICE_ATTR_RO(channels);

static ssize_t offer_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	struct kvmbus_device *kdev = to_kvmbus_device(dev);
	struct kvmbus_echo_offer_data od;

	if (kdev->offer_data_len != sizeof(od))
		return sysfs_emit(buf, "bad\n");
	memcpy(&od, kdev->offer_data, sizeof(od));
	return sysfs_emit(buf, "%#x %u\n", le32_to_cpu(od.magic),
			  le32_to_cpu(od.max_subchannels));
}
static DEVICE_ATTR_RO(offer);

static struct attribute *echo_attrs[] = {
	&dev_attr_run.attr,
	&dev_attr_run_all.attr,
	&dev_attr_rx.attr,
	&dev_attr_channels.attr,
	&dev_attr_offer.attr,
	NULL,
};
ATTRIBUTE_GROUPS(echo);

static void echo_chan_free(struct echo_dev *ed)
{
	kvfree(ed->txbuf);
	kvfree(ed->rxbuf);
	kfree(ed);
}

/* Open channel @index of @kdev.  Return: the channel or an ERR_PTR. */
static struct echo_dev *echo_chan_open(struct kvmbus_device *kdev,
				       struct echo_sys *es, u16 index)
{
	struct kvmbus_chan_config cfg = {
		.callback = echo_callback,
		.sub_index = index,
	};
	struct echo_dev *ed;
	int ret;

	ed = kzalloc(sizeof(*ed), GFP_KERNEL);
	if (!ed)
		return ERR_PTR(-ENOMEM);
	ed->kdev = kdev;
	ed->sys = es;
	ed->index = index;
	ed->ring_size = ring_kb * 1024;
	INIT_WORK(&ed->rx_work, echo_rx_work);
	INIT_WORK(&ed->run_work, echo_run_work);
	spin_lock_init(&ed->lock);
	init_waitqueue_head(&ed->wq);
	strscpy(ed->result, "none", sizeof(ed->result));
	ed->rxbuf = kvmalloc(ed->ring_size, GFP_KERNEL);
	ed->txbuf = kvmalloc(ed->ring_size, GFP_KERNEL);
	if (!ed->rxbuf || !ed->txbuf) {
		ret = -ENOMEM;
		goto err_free;
	}
	cfg.g2h_size = ed->ring_size;
	cfg.h2g_size = ed->ring_size;
	cfg.ctx = ed;
	ret = kvmbus_channel_open(kdev, &cfg, &ed->chan);
	if (ret)
		goto err_free;
	return ed;

err_free:
	echo_chan_free(ed);
	return ERR_PTR(ret);
}

static void echo_chan_close(struct echo_dev *ed)
{
	spin_lock_irq(&ed->lock);
	ed->closing = true;
	spin_unlock_irq(&ed->lock);
	/* No rx_work can be queued now: let a running one finish. */
	cancel_work_sync(&ed->rx_work);
	kvmbus_channel_close(ed->chan);
	echo_chan_free(ed);
}

static void echo_close_all(struct echo_sys *es)
{
	/* Sub-channels first: the primary is the device's last channel. */
	while (es->nr_chans)
		echo_chan_close(es->chans[--es->nr_chans]);
}

static int echo_probe(struct kvmbus_device *kdev,
		      const struct kvmbus_device_id *id)
{
	struct echo_dev *ed;
	struct echo_sys *es;
	int ret, n = 0;
	u16 want;

	if (!ring_kb || ring_kb % (PAGE_SIZE / 1024) || ring_kb > 1024 * 1024)
		return -EINVAL;
	es = kzalloc(sizeof(*es), GFP_KERNEL);
	if (!es)
		return -ENOMEM;
	mutex_init(&es->run_lock);
	init_waitqueue_head(&es->done_wq);
	strscpy(es->result, "none", sizeof(es->result));
	dev_set_drvdata(&kdev->dev, es);

	ed = echo_chan_open(kdev, es, 0);
	if (IS_ERR(ed)) {
		ret = PTR_ERR(ed);
		goto err_free;
	}
	es->chans[es->nr_chans++] = ed;

	want = subchannels < 0 ? kdev->max_subchannels :
				 min_t(u16, subchannels, KVMBUS_MAX_SUBCHANNELS);
	if (want) {
		n = kvmbus_subchannels_request(kdev, want);
		if (n < 0) {
			ret = n;
			dev_err(&kdev->dev, "sub-channels: %d\n", ret);
			goto err_close;
		}
	}
	while (es->nr_chans <= n) {
		ed = echo_chan_open(kdev, es, es->nr_chans);
		if (IS_ERR(ed)) {
			ret = PTR_ERR(ed);
			dev_err(&kdev->dev, "sub-channel %u: %d\n",
				es->nr_chans, ret);
			goto err_close;
		}
		es->chans[es->nr_chans++] = ed;
	}
	return 0;

err_close:
	echo_close_all(es);
err_free:
	kfree(es);
	return ret;
}

static void echo_remove(struct kvmbus_device *kdev)
{
	struct echo_sys *es = dev_get_drvdata(&kdev->dev);

	/* A run in progress ends: rescinded channels fail it at once. */
	mutex_lock(&es->run_lock);
	echo_close_all(es);
	mutex_unlock(&es->run_lock);
	kfree(es);
}

static const struct kvmbus_device_id echo_id_table[] = {
	{ .class_id = KVMBUS_UUID(KVMBUS_CLASS_ECHO_BYTES) },
	{ }
};

static struct kvmbus_driver echo_driver = {
	.name		= "kvmbus_echo",
	.id_table	= echo_id_table,
	.probe		= echo_probe,
	.remove		= echo_remove,
	.driver		= {
		.dev_groups = echo_groups,
	},
};
module_kvmbus_driver(echo_driver);

MODULE_ALIAS(KVMBUS_MODALIAS(KVMBUS_CLASS_ECHO_HEX));
MODULE_DESCRIPTION("kvmbus: echo test device driver");
MODULE_LICENSE("GPL");
