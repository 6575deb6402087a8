// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbus channels, guest side: GPADLs (docs/protocol.md section 6.3),
 * open and close (6.4), and the packet API class drivers use.
 *
 * Memory the host may touch is freed only after the host said it is done
 * with it (GPADL_TORNDOWN).  When the host does not answer, the memory is
 * leaked on purpose: a leak is recoverable, the host writing into pages
 * the guest reused is not.
 */
#include <linux/interrupt.h>
#include <linux/kmemleak.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "kvmbus_internal.h"

static unsigned long kvmbus_buf_pfn(const void *p)
{
	return is_vmalloc_addr(p) ? vmalloc_to_pfn(p) :
				    page_to_pfn(virt_to_page(p));
}

/* Send @buf's pages as runs, KVMBUS_CTL_GPADL_MAX_RANGES per message. */
static int kvmbus_gpadl_send(struct kvmbus_bus *bus, u32 id, const void *buf,
			     u32 pages)
{
	struct kvmbus_ctl_gpadl *m;
	u32 i = 0, n = 0, type = KVMBUS_CTL_GPADL_CREATE;
	int ret = 0;

	m = kzalloc(struct_size(m, ranges, KVMBUS_CTL_GPADL_MAX_RANGES),
		    GFP_KERNEL);
	if (!m)
		return -ENOMEM;
	while (i < pages) {
		unsigned long pfn = kvmbus_buf_pfn(buf + i * PAGE_SIZE);
		u32 run = 1;

		while (i + run < pages &&
		       kvmbus_buf_pfn(buf + (i + run) * PAGE_SIZE) == pfn + run)
			run++;
		m->ranges[n].pfn = cpu_to_le64(pfn);
		m->ranges[n].nr_pages = cpu_to_le32(run);
		n++;
		i += run;
		if (n < KVMBUS_CTL_GPADL_MAX_RANGES && i < pages)
			continue;

		m->hdr.type = cpu_to_le32(type);
		m->gpadl_id = cpu_to_le32(id);
		m->total_pages = cpu_to_le32(pages);
		m->nr_ranges = cpu_to_le32(n);
		ret = kvmbus_ctl_send(bus, m, struct_size(m, ranges, n));
		if (ret)
			break;
		type = KVMBUS_CTL_GPADL_BODY;
		memset(m->ranges, 0, n * sizeof(m->ranges[0]));
		n = 0;
	}
	kfree(m);
	return ret;
}

static int kvmbus_gpadl_create_bus(struct kvmbus_bus *bus, void *buf,
				   size_t size, u32 *gpadl)
{
	struct kvmbus_ctl_waiter w;
	int id, ret;

	if (!size || !PAGE_ALIGNED(buf) || !PAGE_ALIGNED(size) ||
	    size / PAGE_SIZE > KVMBUS_GPADL_MAX_PAGES)
		return -EINVAL;
	id = ida_alloc_min(&bus->gpadl_ids, 1, GFP_KERNEL);
	if (id < 0)
		return id;

	kvmbus_ctl_wait_prepare(bus, &w, KVMBUS_CTL_GPADL_CREATED, id);
	ret = kvmbus_gpadl_send(bus, id, buf, size / PAGE_SIZE);
	ret = kvmbus_ctl_wait_finish(bus, &w, ret, "GPADL created");
	if (ret) {
		/* An unanswered id might still be live on the host. */
		if (ret != -ETIMEDOUT)
			ida_free(&bus->gpadl_ids, id);
		return ret;
	}
	*gpadl = id;
	return 0;
}

static int kvmbus_gpadl_teardown_bus(struct kvmbus_bus *bus, u32 gpadl)
{
	struct kvmbus_ctl_gpadl_teardown m = {
		.hdr.type = cpu_to_le32(KVMBUS_CTL_GPADL_TEARDOWN),
		.gpadl_id = cpu_to_le32(gpadl),
	};
	struct kvmbus_ctl_waiter w;
	int ret;

	kvmbus_ctl_wait_prepare(bus, &w, KVMBUS_CTL_GPADL_TORNDOWN, gpadl);
	ret = kvmbus_ctl_send(bus, &m, sizeof(m));
	ret = kvmbus_ctl_wait_finish(bus, &w, ret, "GPADL torn down");
	/* A lost host holds nothing: the pages and the id are ours. */
	if (ret && kvmbus_bus_lost(bus))
		ret = 0;
	if (!ret)
		ida_free(&bus->gpadl_ids, gpadl);
	return ret;
}

/**
 * kvmbus_gpadl_create() - let the host reach a buffer of guest pages
 * @kdev: the device the buffer is for
 * @buf: page-aligned; kmalloc'ed, page-allocated or vmalloc'ed
 * @size: bytes, a multiple of PAGE_SIZE
 * @gpadl: receives the GPADL id the class protocol hands to the host
 *
 * Return: 0, or a negative errno (-ETIMEDOUT when the host did not
 * answer: the buffer must then never be freed).
 */
int kvmbus_gpadl_create(struct kvmbus_device *kdev, void *buf, size_t size,
			u32 *gpadl)
{
	return kvmbus_gpadl_create_bus(kdev->bus, buf, size, gpadl);
}
EXPORT_SYMBOL_GPL(kvmbus_gpadl_create);

/**
 * kvmbus_gpadl_teardown() - take a buffer back from the host
 * @kdev: the device the buffer was registered for
 * @gpadl: the id from kvmbus_gpadl_create()
 *
 * Return: 0 once the host promised not to touch the buffer again; any
 * error means the buffer must never be freed.
 */
int kvmbus_gpadl_teardown(struct kvmbus_device *kdev, u32 gpadl)
{
	return kvmbus_gpadl_teardown_bus(kdev->bus, gpadl);
}
EXPORT_SYMBOL_GPL(kvmbus_gpadl_teardown);

/* Run the driver's callback as an interrupt would; any context. */
void kvmbus_chan_kick(struct kvmbus_channel *chan)
{
	unsigned long flags;

	local_irq_save(flags);
	chan->callback(chan, chan->ctx);
	local_irq_restore(flags);
}

static irqreturn_t kvmbus_chan_irq(int irq, void *data)
{
	struct kvmbus_channel *chan = data;

	/* The vector may be shared: a look at an idle ring is harmless. */
	atomic64_inc(&chan->interrupts);
	chan->callback(chan, chan->ctx);
	return IRQ_HANDLED;
}

static int kvmbus_chan_request(struct kvmbus_channel *chan, u32 type)
{
	struct kvmbus_ctl_relid m = {
		.hdr.type = cpu_to_le32(type),
		.relid = cpu_to_le32(chan->relid),
	};
	struct kvmbus_bus *bus = chan->kdev->bus;
	u32 answer = type == KVMBUS_CTL_OPEN ? KVMBUS_CTL_OPEN_RESULT :
					       KVMBUS_CTL_CLOSE_RESULT;
	struct kvmbus_ctl_open o = {
		.hdr.type = cpu_to_le32(type),
		.relid = cpu_to_le32(chan->relid),
		.ring_gpadl = cpu_to_le32(chan->gpadl),
		.g2h_pages = cpu_to_le32(chan->g2h_pages),
	};
	struct kvmbus_ctl_waiter w;
	int ret;

	kvmbus_ctl_wait_prepare(bus, &w, answer, chan->relid);
	if (type == KVMBUS_CTL_OPEN)
		ret = kvmbus_ctl_send(bus, &o, sizeof(o));
	else
		ret = kvmbus_ctl_send(bus, &m, sizeof(m));
	return kvmbus_ctl_wait_finish(bus, &w, ret,
				      type == KVMBUS_CTL_OPEN ? "channel open" :
								"channel close");
}

/**
 * kvmbus_subchannels_request() - ask the host for sub-channels
 * @kdev: the device, bound to the calling driver
 * @count: sub-channels wanted in all (not how many more)
 *
 * Sends REQUEST_SUBCHANNELS for the primary channel and waits for the
 * host's answer; the offers of the sub-channels it granted arrive before
 * it.  Sub-channels are not devices of their own: they live as long as
 * @kdev (a rescind of the device takes them along) and are opened with
 * kvmbus_channel_open() and &kvmbus_chan_config.sub_index 1..n.  Asking
 * again for as many or fewer is cheap and grants nothing new.  May be
 * called from the driver's probe: the sub-channel offers and the answer
 * are handled on the control worker, not where probes run.
 *
 * Return: how many sub-channels 1..n the device has now, at most @count
 * (and never more than @kdev->max_subchannels), or a negative errno.
 */
int kvmbus_subchannels_request(struct kvmbus_device *kdev, u16 count)
{
	struct kvmbus_ctl_subchannels m = {
		.hdr.type = cpu_to_le32(KVMBUS_CTL_REQUEST_SUBCHANNELS),
		.relid = cpu_to_le32(kdev->relid),
	};
	struct kvmbus_bus *bus = kdev->bus;
	struct kvmbus_ctl_waiter w;
	int ret, n;

	count = min(count, kdev->max_subchannels);
	if (!count)
		return 0;
	if (READ_ONCE(kdev->rescinded))
		return -ENODEV;
	m.count = cpu_to_le32(count);
	kvmbus_ctl_wait_prepare(bus, &w, KVMBUS_CTL_SUBCHANNELS_RESULT,
				kdev->relid);
	ret = kvmbus_ctl_send(bus, &m, sizeof(m));
	ret = kvmbus_ctl_wait_finish(bus, &w, ret, "sub-channels");
	if (ret)
		return ret;
	/* Granted sub-channels are usable from 1 up to the first gap (an
	 * offer we refused).
	 */
	spin_lock_irq(&kdev->chan_lock);
	for (n = 0; n < count && kdev->sub[n].relid; n++)
		;
	spin_unlock_irq(&kdev->chan_lock);
	return n;
}
EXPORT_SYMBOL_GPL(kvmbus_subchannels_request);

/* The slot that holds the open channel @sub_index of @kdev. */
static struct kvmbus_channel **kvmbus_chan_slot(struct kvmbus_device *kdev,
						u16 sub_index)
{
	return sub_index ? &kdev->sub[sub_index - 1].chan : &kdev->chan;
}

/* Claim @chan's slot and learn its relid and vector.  Return: 0 or -errno. */
static int kvmbus_chan_claim(struct kvmbus_device *kdev,
			     struct kvmbus_channel *chan, u16 sub_index)
{
	int ret = 0;

	if (sub_index > KVMBUS_MAX_SUBCHANNELS)
		return -EINVAL;
	spin_lock_irq(&kdev->chan_lock);
	if (kdev->rescinded) {
		ret = -ENODEV;
	} else if (sub_index && !kdev->sub[sub_index - 1].relid) {
		ret = -ENOENT;	/* not granted */
	} else if (kdev->chans_claimed & BIT_ULL(sub_index)) {
		ret = -EBUSY;
	} else {
		chan->relid = sub_index ? kdev->sub[sub_index - 1].relid :
					  kdev->relid;
		chan->vector = sub_index ? kdev->sub[sub_index - 1].vector :
					   kdev->vector;
		/* Taken now; the channel is published once it is open. */
		kdev->chans_claimed |= BIT_ULL(sub_index);
	}
	spin_unlock_irq(&kdev->chan_lock);
	return ret;
}

/* Publish (@chan) or withdraw (NULL) channel @sub_index of @kdev. */
static void kvmbus_chan_publish(struct kvmbus_device *kdev, u16 sub_index,
				struct kvmbus_channel *chan)
{
	spin_lock_irq(&kdev->chan_lock);
	*kvmbus_chan_slot(kdev, sub_index) = chan;
	if (!chan)
		kdev->chans_claimed &= ~BIT_ULL(sub_index);
	spin_unlock_irq(&kdev->chan_lock);
}

/**
 * kvmbus_channel_open() - open a device's channel
 * @kdev: the device
 * @cfg: ring sizes, the callback, and which channel (&cfg->sub_index)
 * @out: receives the channel
 *
 * The callback runs in interrupt context whenever the host signals the
 * channel (and once right after opening, in case the host was first);
 * it typically schedules NAPI or a work item that calls
 * kvmbus_chan_recv().
 *
 * Return: 0; -ENOENT for a sub-channel the host has not granted; -EBUSY
 * when that channel is open already; or another negative errno.
 */
int kvmbus_channel_open(struct kvmbus_device *kdev,
			const struct kvmbus_chan_config *cfg,
			struct kvmbus_channel **out)
{
	struct kvmbus_bus *bus = kdev->bus;
	struct kvmbus_channel *chan;
	size_t g2h = cfg->g2h_size, h2g = cfg->h2g_size;
	void *mem;
	int ret;

	if (!cfg->callback || !kvmbus_ring_size_ok(g2h) ||
	    !kvmbus_ring_size_ok(h2g) || !PAGE_ALIGNED(g2h) ||
	    !PAGE_ALIGNED(h2g))
		return -EINVAL;

	chan = kzalloc(sizeof(*chan), GFP_KERNEL);
	if (!chan)
		return -ENOMEM;
	chan->kdev = kdev;
	chan->sub_index = cfg->sub_index;
	chan->callback = cfg->callback;
	chan->ctx = cfg->ctx;
	chan->g2h_pages = 1 + g2h / PAGE_SIZE;
	chan->ring_bytes = 2 * PAGE_SIZE + g2h + h2g;
	spin_lock_init(&chan->out_lock);
	ret = kvmbus_chan_claim(kdev, chan, cfg->sub_index);
	if (ret)
		goto err_free_chan;
	/* Checked when the offer arrived; a cheap second look. */
	if (chan->vector >= bus->nr_vectors) {
		ret = -ENXIO;
		goto err_unclaim;
	}
	snprintf(chan->irq_name, sizeof(chan->irq_name), "kvmbus-ch%u",
		 chan->relid);

	mem = vzalloc(chan->ring_bytes);
	if (!mem) {
		ret = -ENOMEM;
		goto err_unclaim;
	}
	chan->ring_mem = mem;
	kvmbus_ring_create(&chan->out, mem, mem + PAGE_SIZE, g2h);
	mem += PAGE_SIZE + g2h;
	kvmbus_ring_create(&chan->in, mem, mem + PAGE_SIZE, h2g);

	ret = kvmbus_gpadl_create_bus(bus, chan->ring_mem, chan->ring_bytes,
				      &chan->gpadl);
	if (ret == -ETIMEDOUT)
		goto err_leak;	/* the host may map the rings after all */
	if (ret)
		goto err_free_mem;
	ret = request_irq(pci_irq_vector(bus->pdev, chan->vector),
			  kvmbus_chan_irq, IRQF_SHARED, chan->irq_name, chan);
	if (ret)
		goto err_teardown;
	kvmbus_chan_bind(chan);
	ret = kvmbus_chan_request(chan, KVMBUS_CTL_OPEN);
	if (ret)
		goto err_unbind;

	kvmbus_chan_publish(kdev, chan->sub_index, chan);
	kvmbus_chan_sysfs_add(chan);
	*out = chan;
	/* A signal sent before our handler existed is lost: look once. */
	kvmbus_chan_kick(chan);
	return 0;

err_unbind:
	kvmbus_chan_unbind(chan);
	free_irq(pci_irq_vector(bus->pdev, chan->vector), chan);
	/*
	 * The host may open the channel after all.  It handles the control
	 * ring in order, so once it answers a CLOSE (with any status) it
	 * holds no open channel on these rings; no answer: leave them be.
	 */
	if (ret == -ETIMEDOUT &&
	    kvmbus_chan_request(chan, KVMBUS_CTL_CLOSE) == -ETIMEDOUT)
		goto err_leak;
err_teardown:
	if (kvmbus_gpadl_teardown_bus(bus, chan->gpadl))
		goto err_leak;
err_free_mem:
	vfree(chan->ring_mem);
err_unclaim:
	kvmbus_chan_publish(kdev, chan->sub_index, NULL);
err_free_chan:
	kfree(chan);
	return ret;
err_leak:
	dev_warn(&kdev->dev, "host did not let go of the rings; leaking %zu bytes\n",
		 chan->ring_bytes);
	kmemleak_not_leak(chan->ring_mem);	/* on purpose, and said so */
	kvmbus_chan_publish(kdev, chan->sub_index, NULL);
	kfree(chan);
	return ret;
}
EXPORT_SYMBOL_GPL(kvmbus_channel_open);

/**
 * kvmbus_channel_close() - close a channel opened with kvmbus_channel_open()
 * @chan: the channel; freed on return
 *
 * No callback runs after this returns.
 */
void kvmbus_channel_close(struct kvmbus_channel *chan)
{
	struct kvmbus_device *kdev = chan->kdev;
	struct kvmbus_bus *bus = kdev->bus;
	bool leak;

	/* First: waits for sysfs readers, who look at the rings. */
	kvmbus_chan_sysfs_del(chan);
	kvmbus_chan_publish(kdev, chan->sub_index, NULL);
	leak = (kvmbus_chan_request(chan, KVMBUS_CTL_CLOSE) &&
		!kvmbus_bus_lost(bus)) ||
	       kvmbus_gpadl_teardown_bus(bus, chan->gpadl);
	kvmbus_chan_unbind(chan);
	free_irq(pci_irq_vector(bus->pdev, chan->vector), chan);
	if (leak) {
		dev_warn(&kdev->dev, "host did not let go of the rings; leaking %zu bytes\n",
			 chan->ring_bytes);
		kmemleak_not_leak(chan->ring_mem);
	} else {
		vfree(chan->ring_mem);
	}
	kfree(chan);
}
EXPORT_SYMBOL_GPL(kvmbus_channel_close);

static void kvmbus_chan_signal(struct kvmbus_channel *chan)
{
	atomic64_inc(&chan->signals);
	kvmbus_signal(chan->kdev->bus, kvmbus_chan_vector(chan));
}

static void kvmbus_chan_broken(struct kvmbus_channel *chan)
{
	if (!test_and_set_bit(0, &chan->broken_logged))
		dev_err(&chan->kdev->dev,
			"channel %u: the host broke the ring protocol\n",
			chan->relid);
}

/**
 * kvmbus_chan_put() - add a packet to the channel's current batch
 * @chan: the channel
 * @p: the packet
 *
 * Nothing reaches the host before kvmbus_chan_flush().  Any context.
 *
 * Return: 0; -ENOSPC when the ring is full (flush, then wait for the
 * callback: the host signals once the packet fits); -EMSGSIZE; -ENODEV
 * when the host rescinded the device; -EIO when the host broke the
 * channel.
 */
int kvmbus_chan_put(struct kvmbus_channel *chan, const struct kvmbus_ring_pkt *p)
{
	unsigned long flags;
	int ret;

	if (kvmbus_chan_rescinded(chan))
		return -ENODEV;
	spin_lock_irqsave(&chan->out_lock, flags);
	ret = kvmbus_ring_put(&chan->out, p);
	spin_unlock_irqrestore(&chan->out_lock, flags);
	if (ret == -EIO)
		kvmbus_chan_broken(chan);
	else if (ret == -ENOSPC)
		atomic64_inc(&chan->ring_full);
	return ret;
}
EXPORT_SYMBOL_GPL(kvmbus_chan_put);

/**
 * kvmbus_chan_flush() - publish the batch, with at most one signal
 * @chan: the channel
 */
void kvmbus_chan_flush(struct kvmbus_channel *chan)
{
	unsigned long flags;
	bool signal;

	spin_lock_irqsave(&chan->out_lock, flags);
	signal = kvmbus_ring_commit(&chan->out);
	spin_unlock_irqrestore(&chan->out_lock, flags);
	if (signal)
		kvmbus_chan_signal(chan);
}
EXPORT_SYMBOL_GPL(kvmbus_chan_flush);

/**
 * kvmbus_chan_send() - send one packet now
 * @chan: the channel
 * @p: the packet
 *
 * Return: as kvmbus_chan_put().
 */
int kvmbus_chan_send(struct kvmbus_channel *chan,
		     const struct kvmbus_ring_pkt *p)
{
	int ret = kvmbus_chan_put(chan, p);

	kvmbus_chan_flush(chan);
	return ret;
}
EXPORT_SYMBOL_GPL(kvmbus_chan_send);

/**
 * kvmbus_chan_recv() - copy out the next packet from the host
 * @chan: the channel; one consumer at a time
 * @buf: receives the packet from its descriptor to its trailer
 * @len: bytes at @buf, the largest packet the driver accepts
 * @pi: the validated descriptor; the payload is at @buf + @pi->data_offset
 *
 * Return: 0; -EAGAIN when there is none; -EIO when the host broke the
 * channel (it stays broken).
 */
int kvmbus_chan_recv(struct kvmbus_channel *chan, void *buf, u32 len,
		     struct kvmbus_pkt_info *pi)
{
	int ret = kvmbus_ring_get(&chan->in, buf, len, pi);

	if (ret == -EIO)
		kvmbus_chan_broken(chan);
	return ret;
}
EXPORT_SYMBOL_GPL(kvmbus_chan_recv);

/**
 * kvmbus_chan_recv_done() - hand the space of received packets back
 * @chan: the channel, consumer side
 *
 * Call once per batch of kvmbus_chan_recv(): it signals the host only if
 * it waits for exactly this space.
 *
 * Return: true if packets arrived meanwhile.  The host does not signal
 * for those (it saw us still busy), so a consumer about to go idle must
 * go round again.
 */
bool kvmbus_chan_recv_done(struct kvmbus_channel *chan)
{
	if (kvmbus_ring_release(&chan->in))
		kvmbus_chan_signal(chan);
	return kvmbus_ring_more(&chan->in);
}
EXPORT_SYMBOL_GPL(kvmbus_chan_recv_done);

/**
 * kvmbus_chan_mask() - poll instead of taking interrupts
 * @chan: the channel, consumer side
 */
void kvmbus_chan_mask(struct kvmbus_channel *chan)
{
	kvmbus_ring_mask(&chan->in);
}
EXPORT_SYMBOL_GPL(kvmbus_chan_mask);

/**
 * kvmbus_chan_unmask() - take interrupts again after polling
 * @chan: the channel, consumer side
 *
 * Return: true if packets arrived meanwhile: keep polling.
 */
bool kvmbus_chan_unmask(struct kvmbus_channel *chan)
{
	return kvmbus_ring_unmask(&chan->in);
}
EXPORT_SYMBOL_GPL(kvmbus_chan_unmask);

/**
 * kvmbus_chan_rescinded() - has the host taken the channel's device back?
 * @chan: the channel
 *
 * Once true, nothing more comes from the host: a driver waiting for
 * completions or ring space should stop waiting.
 *
 * Return: true after a rescind.
 */
bool kvmbus_chan_rescinded(struct kvmbus_channel *chan)
{
	return READ_ONCE(chan->kdev->rescinded);
}
EXPORT_SYMBOL_GPL(kvmbus_chan_rescinded);

/**
 * kvmbus_chan_host_lost() - did the channel stop because kvmbusd died?
 * @chan: the channel
 *
 * True from the moment the bus sees its host gone until it reconnects:
 * sends fail meanwhile as after a rescind, but a driver with a host_lost
 * callback is about to be quiesced and may want its caller to retry
 * rather than fail (&struct kvmbus_driver).
 *
 * Return: true while the host is lost.
 */
bool kvmbus_chan_host_lost(struct kvmbus_channel *chan)
{
	return kvmbus_bus_lost(chan->kdev->bus);
}
EXPORT_SYMBOL_GPL(kvmbus_chan_host_lost);
