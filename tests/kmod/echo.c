// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbus_echo.ko: test driver for the echo device class (docs/protocol.md
 * section 7.1).  It opens the device's channel and offers runs through
 * sysfs on the device, so guest tests can drive real channels:
 *
 *   run    write "inband COUNT SIZE", "sum SIZE" or "fill SIZE SEED"; the
 *          write returns when the run is over (-EIO if it failed), and
 *          reading gives the last run's result: "ok ..." or "fail: ..."
 *   rx     "PACKETS BYTES BAD": host-initiated packets received and checked
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

#define ECHO_GPA_ID		BIT_ULL(63)	/* marks GPA runs' trans_ids */
#define ECHO_BATCH		16
#define ECHO_RUN_TIMEOUT	(30 * HZ)

struct echo_dev {
	struct kvmbus_device *kdev;
	struct kvmbus_channel *chan;
	struct work_struct rx_work;
	spinlock_t lock;		/* closing vs. queueing rx_work */
	bool closing;
	atomic_t kicks;			/* callbacks so far */
	wait_queue_head_t wq;
	struct mutex run_lock;		/* one run at a time */
	u32 ring_size;
	u8 *rxbuf;
	u8 *txbuf;
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
	struct echo_dev *ed = dev_get_drvdata(dev);
	u32 a, b;
	int ret;

	mutex_lock(&ed->run_lock);
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
	mutex_unlock(&ed->run_lock);
	return ret ? ret : count;
}

static ssize_t run_show(struct device *dev, struct device_attribute *attr,
			char *buf)
{
	struct echo_dev *ed = dev_get_drvdata(dev);
	ssize_t ret;

	mutex_lock(&ed->run_lock);
	ret = sysfs_emit(buf, "%s\n", ed->result);
	mutex_unlock(&ed->run_lock);
	return ret;
}
static DEVICE_ATTR_RW(run);

static ssize_t rx_show(struct device *dev, struct device_attribute *attr,
		       char *buf)
{
	struct echo_dev *ed = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%lld %lld %lld\n",
			  atomic64_read(&ed->rx_packets),
			  atomic64_read(&ed->rx_bytes),
			  atomic64_read(&ed->rx_bad));
}
static DEVICE_ATTR_RO(rx);

static struct attribute *echo_attrs[] = {
	&dev_attr_run.attr,
	&dev_attr_rx.attr,
	NULL,
};
ATTRIBUTE_GROUPS(echo);

static int echo_probe(struct kvmbus_device *kdev,
		      const struct kvmbus_device_id *id)
{
	struct kvmbus_chan_config cfg = {
		.callback = echo_callback,
	};
	struct echo_dev *ed;
	int ret;

	if (!ring_kb || ring_kb % (PAGE_SIZE / 1024) || ring_kb > 1024 * 1024)
		return -EINVAL;
	ed = kzalloc(sizeof(*ed), GFP_KERNEL);
	if (!ed)
		return -ENOMEM;
	ed->kdev = kdev;
	ed->ring_size = ring_kb * 1024;
	INIT_WORK(&ed->rx_work, echo_rx_work);
	spin_lock_init(&ed->lock);
	init_waitqueue_head(&ed->wq);
	mutex_init(&ed->run_lock);
	strscpy(ed->result, "none", sizeof(ed->result));
	ed->rxbuf = kvmalloc(ed->ring_size, GFP_KERNEL);
	ed->txbuf = kvmalloc(ed->ring_size, GFP_KERNEL);
	if (!ed->rxbuf || !ed->txbuf) {
		ret = -ENOMEM;
		goto err_free;
	}
	dev_set_drvdata(&kdev->dev, ed);

	cfg.g2h_size = ed->ring_size;
	cfg.h2g_size = ed->ring_size;
	cfg.ctx = ed;
	ret = kvmbus_channel_open(kdev, &cfg, &ed->chan);
	if (ret)
		goto err_free;
	return 0;

err_free:
	kvfree(ed->txbuf);
	kvfree(ed->rxbuf);
	kfree(ed);
	return ret;
}

static void echo_remove(struct kvmbus_device *kdev)
{
	struct echo_dev *ed = dev_get_drvdata(&kdev->dev);

	spin_lock_irq(&ed->lock);
	ed->closing = true;
	spin_unlock_irq(&ed->lock);
	/* No rx_work can be queued now: let a running one finish. */
	cancel_work_sync(&ed->rx_work);
	kvmbus_channel_close(ed->chan);
	kvfree(ed->txbuf);
	kvfree(ed->rxbuf);
	kfree(ed);
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
