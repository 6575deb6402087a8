// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbus control plane, guest side: docs/protocol.md section 6.
 *
 * Messages from the host are drained by one work item; offers and
 * rescinds go on to a second ordered workqueue, so they are handled one
 * at a time and in order while the first keeps delivering the answers
 * their drivers wait for.  Every message is copied out of the ring,
 * checked against its type's size, and its fields validated before use.
 */
#include <linux/delay.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#include "ctl_check.h"
#include "kvmbus_internal.h"

static unsigned int host_grace = 30;
module_param(host_grace, uint, 0644);
MODULE_PARM_DESC(host_grace,
		 "seconds a lost kvmbusd has to come back before the devices kept for it are removed (default 30)");

static void kvmbus_ctl_signal(struct kvmbus_bus *bus)
{
	kvmbus_signal(bus, KVMBUS_CTL_VECTOR);
}

/**
 * kvmbus_ctl_send() - send one control message to the host
 * @bus: the connection
 * @msg: the message, starting with struct kvmbus_ctl_hdr
 * @len: its size
 *
 * Waits for room when the control ring is full, up to a time-out.
 *
 * Return: 0, -ETIMEDOUT, -EIO when the ring is broken, or -ENOTCONN
 * when the host is gone.
 */
int kvmbus_ctl_send(struct kvmbus_bus *bus, const void *msg, u32 len)
{
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.data = msg,
		.data_len = len,
	};
	unsigned long end = jiffies + msecs_to_jiffies(KVMBUS_CTL_TIMEOUT_MS);
	int ret;

	mutex_lock(&bus->ctl_send_lock);
	/*
	 * Checked after the caller registered its waiter: either
	 * kvmbus_ctl_lost() fails the waiter, or we see the flag here.
	 */
	if (kvmbus_bus_lost(bus)) {
		mutex_unlock(&bus->ctl_send_lock);
		return -ENOTCONN;
	}
	while ((ret = kvmbus_ring_put(&bus->ctl_out, &p)) == -ENOSPC) {
		s64 irqs = atomic64_read(&bus->ctl_interrupts);

		if (kvmbus_bus_lost(bus)) {
			ret = -ENOTCONN;
			break;
		}
		if (kvmbus_ring_commit(&bus->ctl_out))
			kvmbus_ctl_signal(bus);
		if (time_after(jiffies, end)) {
			ret = -ETIMEDOUT;
			break;
		}
		/* The host signals vector 0 once the room we asked for is
		 * free; look again on any control interrupt.
		 */
		wait_event_timeout(bus->mbox_wait,
				   atomic64_read(&bus->ctl_interrupts) != irqs,
				   HZ / 10);
	}
	if (!ret && kvmbus_ring_commit(&bus->ctl_out))
		kvmbus_ctl_signal(bus);
	mutex_unlock(&bus->ctl_send_lock);
	if (ret && ret != -ENOTCONN)
		dev_err_ratelimited(&bus->pdev->dev,
				    "control message %u not sent: %d\n",
				    le32_to_cpu(((struct kvmbus_ctl_hdr *)msg)->type),
				    ret);
	return ret;
}

/**
 * kvmbus_ctl_wait_prepare() - expect an answer, before asking
 * @bus: the connection
 * @w: the waiter, usually on the caller's stack
 * @type: the answer's message type
 * @key: its relid or GPADL id
 *
 * Registered before the request goes out, so a fast answer is not lost.
 */
void kvmbus_ctl_wait_prepare(struct kvmbus_bus *bus,
			     struct kvmbus_ctl_waiter *w, u32 type, u32 key)
{
	w->type = type;
	w->key = key;
	w->status = 0;
	init_completion(&w->done);
	spin_lock(&bus->waiters_lock);
	list_add_tail(&w->node, &bus->waiters);
	spin_unlock(&bus->waiters_lock);
}

/**
 * kvmbus_ctl_wait_finish() - wait for the answer kvmbus_ctl_wait_prepare()
 *	registered
 * @bus: the connection
 * @w: the waiter
 * @sent: what sending the request returned; on failure nothing is awaited
 * @what: for the log when the host does not answer
 *
 * Return: 0; the host's error as a negative errno; @sent's error;
 * -ENOTCONN when the host was lost meanwhile; or -ETIMEDOUT.
 */
int kvmbus_ctl_wait_finish(struct kvmbus_bus *bus, struct kvmbus_ctl_waiter *w,
			   int sent, const char *what)
{
	bool answered;

	if (!sent)
		wait_for_completion_timeout(&w->done,
					    msecs_to_jiffies(KVMBUS_CTL_TIMEOUT_MS));
	/* Whoever takes the waiter off the list owns the outcome. */
	spin_lock(&bus->waiters_lock);
	answered = list_empty(&w->node);
	if (!answered)
		list_del(&w->node);
	spin_unlock(&bus->waiters_lock);

	if (sent)
		return sent;
	if (!answered) {
		dev_err(&bus->pdev->dev, "no %s answer for %u from kvmbusd within %u ms\n",
			what, w->key, KVMBUS_CTL_TIMEOUT_MS);
		return -ETIMEDOUT;
	}
	return kvmbus_ctl_status_errno(w->status);
}

/* An answer the host sent: complete whoever waits for it. */
static void kvmbus_ctl_answer(struct kvmbus_bus *bus, u32 type,
			      const struct kvmbus_ctl_result *r)
{
	u32 key = le32_to_cpu(r->relid), status = le32_to_cpu(r->status);
	struct kvmbus_ctl_waiter *w, *found = NULL;

	spin_lock(&bus->waiters_lock);
	list_for_each_entry(w, &bus->waiters, node) {
		if (w->type == type && w->key == key) {
			found = w;
			list_del_init(&w->node);
			w->status = status;
			complete(&w->done);
			break;
		}
	}
	spin_unlock(&bus->waiters_lock);
	if (!found) {
		atomic64_inc(&bus->ctl_malformed);
		dev_err_ratelimited(&bus->pdev->dev,
				    "unexpected answer %u for %u\n", type, key);
	}
}

static void kvmbus_ctl_send_relid(struct kvmbus_bus *bus, u32 type, u32 relid)
{
	struct kvmbus_ctl_relid m = {
		.hdr.type = cpu_to_le32(type),
		.relid = cpu_to_le32(relid),
	};

	kvmbus_ctl_send(bus, &m, sizeof(m));
}

/* The checks every offer passes, primary or sub-channel. */
/* The offered primary device whose ids @o carries, with a reference. */
static struct kvmbus_device *kvmbus_ctl_primary(struct kvmbus_bus *bus,
						const struct kvmbus_ctl_offer *o)
{
	struct kvmbus_device *kdev, *found = NULL;
	unsigned long relid;
	uuid_t class_id, instance_id;

	import_uuid(&class_id, o->class_id);
	import_uuid(&instance_id, o->instance_id);
	xa_lock(&bus->devices);
	xa_for_each(&bus->devices, relid, kdev) {
		if (uuid_equal(&kdev->instance_id, &instance_id) &&
		    uuid_equal(&kdev->class_id, &class_id)) {
			/* Still registered: rescind erases it here first. */
			found = kdev;
			get_device(&kdev->dev);
			break;
		}
	}
	xa_unlock(&bus->devices);
	return found;
}

/*
 * A sub-channel offer (docs/protocol.md section 6.5), on the control
 * worker: it only records the sub-channel's relid and vector in its
 * primary device, so that kvmbus_subchannels_request() finds them once
 * the host's answer, sent after the offers, arrives.
 */
static void kvmbus_ctl_sub_offer(struct kvmbus_bus *bus,
				 const struct kvmbus_ctl_offer *o)
{
	u32 relid = le32_to_cpu(o->relid);
	u16 sub = le16_to_cpu(o->sub_index);
	const char *why = NULL;
	struct kvmbus_device *kdev;
	unsigned int i;

	if (kvmbus_ctl_check_offer(o, bus->nr_vectors) ||
	    sub > KVMBUS_MAX_SUBCHANNELS) {
		why = "malformed";
		goto bad;
	}
	if (xa_load(&bus->devices, relid)) {
		why = "the relid of a device";
		goto bad;
	}
	kdev = kvmbus_ctl_primary(bus, o);
	if (!kdev) {
		why = "no such primary device";
		goto bad;
	}
	spin_lock_irq(&kdev->chan_lock);
	if (kdev->rescinded)
		why = "primary device rescinded";
	else if (sub > kdev->max_subchannels)
		why = "sub_index beyond max_subchannels";
	else if (kdev->sub[sub - 1].relid)
		why = "duplicate sub_index";
	for (i = 0; !why && i < ARRAY_SIZE(kdev->sub); i++)
		if (kdev->sub[i].relid == relid)
			why = "duplicate relid";
	if (!why) {
		kdev->sub[sub - 1].vector = le16_to_cpu(o->vector);
		kdev->sub[sub - 1].relid = relid;
	}
	spin_unlock_irq(&kdev->chan_lock);
	put_device(&kdev->dev);
	if (!why)
		return;
bad:
	dev_err_ratelimited(&bus->pdev->dev,
			    "sub-channel offer %u (sub_index %u) refused: %s\n",
			    relid, sub, why);
	atomic64_inc(&bus->ctl_malformed);
}

/* Unregister a device that is on neither the xarray nor the parked list. */
static void kvmbus_ctl_drop(struct kvmbus_device *kdev)
{
	kvmbus_device_mark_rescinded(kdev);
	device_unregister(&kdev->dev);
}

/*
 * The parked device the checked offer @o names (same class, same instance
 * id), taken off the parked list; NULL if none.  A known instance id with
 * another class is no match: that offer is a new device, and the parked
 * one (whose name, the instance id, the new one needs) is removed now.
 */
static struct kvmbus_device *kvmbus_ctl_unpark(struct kvmbus_bus *bus,
					       const struct kvmbus_ctl_offer *o)
{
	struct kvmbus_device *kdev, *found = NULL, *stale = NULL;
	uuid_t class_id, instance_id;

	import_uuid(&class_id, o->class_id);
	import_uuid(&instance_id, o->instance_id);
	mutex_lock(&bus->park_lock);
	list_for_each_entry(kdev, &bus->parked, park_node) {
		if (uuid_equal(&kdev->instance_id, &instance_id)) {
			if (uuid_equal(&kdev->class_id, &class_id))
				found = kdev;
			else
				stale = kdev;
			list_del_init(&kdev->park_node);
			break;
		}
	}
	mutex_unlock(&bus->park_lock);
	if (stale) {
		dev_warn(&stale->dev, "offered again under another class: removed\n");
		kvmbus_ctl_drop(stale);
	}
	return found;
}

/*
 * Give a parked device the new host's identity (checked by the caller,
 * validated again by the driver) and let its driver reopen its channels.
 * On any failure the device is removed.  A driver that refuses the new
 * offer (other offloads, smaller limits) refuses to *resume* with it, not
 * the offer itself: that is probed as a new device, set up for what the
 * new host offers, as if the old one had never been kept.
 *
 * Return: true if the offer is used up (the device resumed, or the device
 * was in no state to take it); false if the driver refused it and the
 * caller is to probe it as a new device.
 */
static bool kvmbus_ctl_resume(struct kvmbus_bus *bus, struct kvmbus_device *kdev,
			      const struct kvmbus_ctl_offer *o)
{
	u32 relid = le32_to_cpu(o->relid);
	struct kvmbus_driver *drv;
	const char *why = NULL;
	int ret;

	spin_lock_irq(&kdev->chan_lock);
	if (kdev->chans_claimed) {
		why = "a channel was left open";
	} else {
		kdev->relid = relid;
		kdev->vector = le16_to_cpu(o->vector);
		kdev->max_subchannels = le16_to_cpu(o->max_subchannels);
		kdev->offer_data_len = le32_to_cpu(o->data_len);
		memset(kdev->offer_data, 0, sizeof(kdev->offer_data));
		memcpy(kdev->offer_data, o->data, kdev->offer_data_len);
		memset(kdev->sub, 0, sizeof(kdev->sub));
	}
	spin_unlock_irq(&kdev->chan_lock);
	if (why)
		goto err_drop;
	ret = xa_insert(&bus->devices, relid, kdev, GFP_KERNEL);
	if (ret) {
		why = ret == -EBUSY ? "duplicate relid" : "no memory";
		atomic64_inc(&bus->ctl_malformed);
		goto err_drop;
	}
	/* Sends work again from here on. */
	WRITE_ONCE(kdev->rescinded, false);

	device_lock(&kdev->dev);
	drv = kdev->dev.driver ? to_kvmbus_driver(kdev->dev.driver) : NULL;
	ret = drv && drv->host_back ? drv->host_back(kdev) : 0;
	device_unlock(&kdev->dev);
	if (!ret) {
		dev_info(&kdev->dev, "resumed on channel %u\n", relid);
		return true;
	}
	xa_erase(&bus->devices, relid);
	/* Gone from sysfs before the new device takes its name. */
	dev_warn(&kdev->dev, "not resumed (the driver could not resume it): removed, channel %u is probed as a new device\n",
		 relid);
	kvmbus_ctl_drop(kdev);
	return false;

err_drop:
	dev_warn(&kdev->dev, "not resumed (%s): removed\n", why);
	kvmbus_ctl_drop(kdev);
	return true;
}

static void kvmbus_ctl_offer(struct kvmbus_bus *bus,
			     const struct kvmbus_ctl_offer *o)
{
	struct device *dev = &bus->pdev->dev;
	u32 relid = le32_to_cpu(o->relid);
	u16 vector = le16_to_cpu(o->vector);
	struct kvmbus_device *kdev;
	int ret;

	u32 data_len = le32_to_cpu(o->data_len);
	u16 max_sub = le16_to_cpu(o->max_subchannels);

	/* Sub-channel offers were taken in kvmbus_ctl_dispatch(). */
	if (kvmbus_ctl_check_offer(o, bus->nr_vectors) || o->sub_index ||
	    max_sub > KVMBUS_MAX_SUBCHANNELS) {
		dev_err_ratelimited(dev, "malformed offer for channel %u\n",
				    relid);
		atomic64_inc(&bus->ctl_malformed);
		return;
	}

	/* A device kept from the host before: the same one, resumed. */
	kdev = kvmbus_ctl_unpark(bus, o);
	if (kdev && kvmbus_ctl_resume(bus, kdev, o))
		return;

	kdev = kzalloc(sizeof(*kdev), GFP_KERNEL);
	if (!kdev)
		return;
	INIT_LIST_HEAD(&kdev->park_node);
	import_uuid(&kdev->class_id, o->class_id);
	import_uuid(&kdev->instance_id, o->instance_id);
	kdev->relid = relid;
	kdev->vector = vector;
	kdev->max_subchannels = max_sub;
	kdev->offer_data_len = data_len;
	memcpy(kdev->offer_data, o->data, data_len);
	kdev->bus = bus;
	spin_lock_init(&kdev->chan_lock);

	ret = xa_insert(&bus->devices, relid, kdev, GFP_KERNEL);
	if (ret) {
		dev_err_ratelimited(dev, "offer for channel %u: %s\n", relid,
				    ret == -EBUSY ? "duplicate" : "no memory");
		atomic64_inc(&bus->ctl_malformed);
		kfree(kdev);
		return;
	}
	ret = kvmbus_device_register(kdev, dev);
	if (ret) {
		/* The device core holds the last reference now. */
		xa_erase(&bus->devices, relid);
		put_device(&kdev->dev);
		dev_err(dev, "channel %u: device not registered: %d\n", relid,
			ret);
	}
}

static void kvmbus_ctl_rescind(struct kvmbus_bus *bus, u32 relid)
{
	struct kvmbus_device *kdev = xa_erase(&bus->devices, relid);

	if (!kdev) {
		dev_err_ratelimited(&bus->pdev->dev,
				    "rescind of unknown channel %u\n", relid);
		atomic64_inc(&bus->ctl_malformed);
		return;
	}
	kvmbus_device_mark_rescinded(kdev);
	/* Unbinds the driver: its remove() runs before this returns. */
	device_unregister(&kdev->dev);
	kvmbus_ctl_send_relid(bus, KVMBUS_CTL_RELID_RELEASED, relid);
}

/*
 * Offers and rescinds are handled on their own ordered workqueue, in
 * arrival order: registering a device probes its driver and removing one
 * runs its remove(), and both wait for answers (OPEN_RESULT,
 * CLOSE_RESULT, GPADL_*) that kvmbus_ctl_work() delivers.  Running them
 * there would deadlock it.
 */
struct kvmbus_hp_event {
	struct work_struct work;
	struct kvmbus_bus *bus;
	u32 type;
	unsigned int epoch;
	union {
		struct kvmbus_ctl_offer offer;
		struct kvmbus_ctl_relid relid;
	} msg;
};

static void kvmbus_hp_work(struct work_struct *work)
{
	struct kvmbus_hp_event *ev = container_of(work, struct kvmbus_hp_event,
						  work);
	struct kvmbus_bus *bus = ev->bus;

	/* From a host that is gone since: its devices are removed. */
	if (ev->epoch != READ_ONCE(bus->epoch)) {
		kfree(ev);
		return;
	}
	switch (ev->type) {
	case KVMBUS_CTL_OFFER:
		if (!READ_ONCE(bus->dying))
			kvmbus_ctl_offer(bus, &ev->msg.offer);
		break;
	case KVMBUS_CTL_RESCIND:
		if (!READ_ONCE(bus->dying))
			kvmbus_ctl_rescind(bus, le32_to_cpu(ev->msg.relid.relid));
		break;
	}
	kfree(ev);
}

static void kvmbus_hp_queue(struct kvmbus_bus *bus, u32 type, const void *msg,
			    size_t len)
{
	struct kvmbus_hp_event *ev = kzalloc(sizeof(*ev), GFP_KERNEL);

	if (!ev) {
		/* The allocator has said why; count what was dropped. */
		atomic64_inc(&bus->ctl_dropped);
		return;
	}
	INIT_WORK(&ev->work, kvmbus_hp_work);
	ev->bus = bus;
	ev->type = type;
	ev->epoch = READ_ONCE(bus->epoch);
	memcpy(&ev->msg, msg, min(len, sizeof(ev->msg)));
	queue_work(bus->hp_wq, &ev->work);
}

static void kvmbus_ctl_dispatch(struct kvmbus_bus *bus, const void *msg,
				u32 len)
{
	u32 type;

	if (kvmbus_ctl_check_msg(msg, len, &type))
		goto malformed;

	switch (type) {
	case KVMBUS_CTL_VERSION_RESP:
		memcpy(&bus->version_resp, msg, sizeof(bus->version_resp));
		complete(&bus->version_done);
		break;
	case KVMBUS_CTL_OFFER:
		/* Sub-channels are no devices: recorded here, in order
		 * before the SUBCHANNELS_RESULT that follows them.
		 */
		if (le16_to_cpu(((const struct kvmbus_ctl_offer *)msg)->flags) &
		    KVMBUS_OFFER_F_SUBCHANNEL) {
			struct kvmbus_ctl_offer o;

			memcpy(&o, msg, sizeof(o));
			kvmbus_ctl_sub_offer(bus, &o);
			break;
		}
		kvmbus_hp_queue(bus, type, msg, sizeof(struct kvmbus_ctl_offer));
		break;
	case KVMBUS_CTL_ALL_OFFERS_DONE:
		/* Every offer before it is queued on hp_wq: the handshake
		 * waits for their handling itself (kvmbus_ctl_handshake()).
		 */
		complete(&bus->offers_done);
		break;
	case KVMBUS_CTL_RESCIND:
		kvmbus_hp_queue(bus, type, msg, sizeof(struct kvmbus_ctl_relid));
		break;
	case KVMBUS_CTL_UNLOAD_RESP:
		complete(&bus->unload_done);
		break;
	case KVMBUS_CTL_GPADL_CREATED:
	case KVMBUS_CTL_GPADL_TORNDOWN:
	case KVMBUS_CTL_OPEN_RESULT:
	case KVMBUS_CTL_CLOSE_RESULT:
	case KVMBUS_CTL_SUBCHANNELS_RESULT:
		kvmbus_ctl_answer(bus, type, msg);
		break;
	}
	return;

malformed:
	atomic64_inc(&bus->ctl_malformed);
	dev_err_ratelimited(&bus->pdev->dev,
			    "malformed control message (%u bytes)\n", len);
}

static void kvmbus_ctl_work(struct work_struct *work)
{
	struct kvmbus_bus *bus = container_of(work, struct kvmbus_bus,
					      ctl_work);
	struct kvmbus_pkt_info pi;
	int ret;

	while ((ret = kvmbus_ring_get(&bus->ctl_in, bus->ctl_buf,
				      KVMBUS_CTL_MSG_MAX, &pi)) == 0) {
		if (pi.type == KVMBUS_PKT_INBAND)
			kvmbus_ctl_dispatch(bus, bus->ctl_buf + pi.data_offset,
					    pi.data_len);
		else
			atomic64_inc(&bus->ctl_malformed);
		/* Hand each message's space back before handling the next
		 * one can block (device probe, sending a reply).
		 */
		if (kvmbus_ring_release(&bus->ctl_in))
			kvmbus_ctl_signal(bus);
	}
	if (ret == -EIO)
		dev_err_once(&bus->pdev->dev,
			     "control ring broken by the host; ignoring it\n");
}

/**
 * kvmbus_ctl_kick() - schedule a look at the host-to-guest control ring
 * @bus: the connection
 */
void kvmbus_ctl_kick(struct kvmbus_bus *bus)
{
	if (!kvmbus_bus_lost(bus))
		queue_work(bus->ctl_wq, &bus->ctl_work);
}

static int kvmbus_ctl_wait(struct kvmbus_bus *bus, struct completion *done,
			   const char *what)
{
	if (wait_for_completion_timeout(done,
					msecs_to_jiffies(KVMBUS_CTL_TIMEOUT_MS)))
		return 0;
	dev_err(&bus->pdev->dev, "no %s from kvmbusd within %u ms\n", what,
		KVMBUS_CTL_TIMEOUT_MS);
	return -ETIMEDOUT;
}

static int kvmbus_ctl_negotiate(struct kvmbus_bus *bus)
{
	struct kvmbus_ctl_version_req req = {
		.hdr.type = cpu_to_le32(KVMBUS_CTL_VERSION_REQ),
		.version_min = cpu_to_le32(KVMBUS_VERSION_MIN),
		.version_max = cpu_to_le32(KVMBUS_VERSION_MAX),
	};
	u32 version;
	int ret;

	ret = kvmbus_ctl_send(bus, &req, sizeof(req));
	if (!ret)
		ret = kvmbus_ctl_wait(bus, &bus->version_done, "version answer");
	if (ret)
		return ret;

	version = le32_to_cpu(bus->version_resp.version);
	if (kvmbus_ctl_check_version(version)) {
		dev_err(&bus->pdev->dev,
			"kvmbusd offers protocol %#x, we speak %#x..%#x\n",
			version, KVMBUS_VERSION_MIN, KVMBUS_VERSION_MAX);
		return -EPROTO;
	}
	bus->version = version;
	return 0;
}

static void kvmbus_ctl_reset_work(struct work_struct *work);
static void kvmbus_ctl_watch_work(struct work_struct *work);
static void kvmbus_ctl_grace_work(struct work_struct *work);

/**
 * kvmbus_ctl_init() - allocate what the control plane needs
 * @bus: the connection, before its control interrupt is requested
 *
 * Return: 0 or -ENOMEM.
 */
int kvmbus_ctl_init(struct kvmbus_bus *bus)
{
	mutex_init(&bus->ctl_send_lock);
	INIT_WORK(&bus->ctl_work, kvmbus_ctl_work);
	init_completion(&bus->version_done);
	init_completion(&bus->offers_done);
	init_completion(&bus->unload_done);
	xa_init(&bus->devices);
	spin_lock_init(&bus->waiters_lock);
	INIT_LIST_HEAD(&bus->waiters);
	ida_init(&bus->gpadl_ids);
	mutex_init(&bus->park_lock);
	INIT_LIST_HEAD(&bus->parked);
	INIT_DELAYED_WORK(&bus->grace_work, kvmbus_ctl_grace_work);

	bus->ctl_buf = kmalloc(KVMBUS_CTL_MSG_MAX, GFP_KERNEL);
	if (!bus->ctl_buf)
		return -ENOMEM;
	bus->ctl_wq = alloc_ordered_workqueue("kvmbus-ctl-%s", 0,
					      dev_name(&bus->pdev->dev));
	if (!bus->ctl_wq)
		goto err_free_buf;
	bus->hp_wq = alloc_ordered_workqueue("kvmbus-hp-%s", 0,
					     dev_name(&bus->pdev->dev));
	if (!bus->hp_wq)
		goto err_destroy_ctl_wq;
	bus->reset_wq = alloc_ordered_workqueue("kvmbus-reset-%s", 0,
						dev_name(&bus->pdev->dev));
	if (!bus->reset_wq)
		goto err_destroy_hp_wq;
	INIT_WORK(&bus->reset_work, kvmbus_ctl_reset_work);
	INIT_DELAYED_WORK(&bus->watch_work, kvmbus_ctl_watch_work);
	return 0;

err_destroy_hp_wq:
	destroy_workqueue(bus->hp_wq);
err_destroy_ctl_wq:
	destroy_workqueue(bus->ctl_wq);
err_free_buf:
	kfree(bus->ctl_buf);
	return -ENOMEM;
}

/* Negotiate and take the offer list; nothing to undo on failure. */
static int kvmbus_ctl_handshake(struct kvmbus_bus *bus)
{
	struct kvmbus_ctl_hdr req = {
		.type = cpu_to_le32(KVMBUS_CTL_REQUEST_OFFERS),
	};
	int ret;

	/* Anything the host queued before interrupts worked is found now. */
	kvmbus_ctl_kick(bus);

	ret = kvmbus_ctl_negotiate(bus);
	if (ret)
		return ret;
	ret = kvmbus_ctl_send(bus, &req, sizeof(req));
	if (!ret)
		ret = kvmbus_ctl_wait(bus, &bus->offers_done, "offer list");
	if (ret)
		return ret;
	/*
	 * The host has answered in time; handling its offers (probing new
	 * devices, resuming kept ones, probing again what a driver refused
	 * to resume) takes as long as the drivers take, and each of their
	 * requests to the host has its own timeout.  A slow guest is no
	 * reason to give up on the host.
	 */
	flush_workqueue(bus->hp_wq);
	dev_info(&bus->pdev->dev, "protocol %u.%u, %lu device(s) offered\n",
		 bus->version >> 16, bus->version & 0xffff,
		 kvmbus_ctl_nr_devices(bus));
	return 0;
}

/**
 * kvmbus_ctl_start() - negotiate and ask for the host's devices
 * @bus: a connection whose control rings the host accepted
 *
 * On failure everything it started is stopped again.
 *
 * Return: 0 or a negative errno.
 */
int kvmbus_ctl_start(struct kvmbus_bus *bus)
{
	int ret = kvmbus_ctl_handshake(bus);

	if (ret)
		kvmbus_ctl_stop(bus);
	return ret;
}

/**
 * kvmbus_ctl_host_gone() - does the mailbox say our kvmbusd is gone?
 * @bus: the connection
 *
 * Any context.  host_state and host_generation are each read once; a
 * host that is no longer ONLINE, or a new host generation (a supervisor
 * restarted kvmbusd, docs/protocol.md section 3), means every channel
 * is dead.
 *
 * Return: true when a connected bus lost its host.
 */
bool kvmbus_ctl_host_gone(struct kvmbus_bus *bus)
{
	u32 gen, state;

	if (!READ_ONCE(bus->online) || kvmbus_bus_lost(bus))
		return false;
	gen = ioread32(&bus->mbox->host_generation);
	/* The supervisor writes host_generation before host_state. */
	rmb();
	state = ioread32(&bus->mbox->host_state);
	return state != KVMBUS_MBOX_ONLINE || gen != bus->host_gen;
}

static void kvmbus_ctl_watch_work(struct work_struct *work)
{
	struct kvmbus_bus *bus = container_of(to_delayed_work(work),
					      struct kvmbus_bus, watch_work);

	if (READ_ONCE(bus->dying))
		return;
	if (kvmbus_ctl_host_gone(bus))
		queue_work(bus->reset_wq, &bus->reset_work);
	schedule_delayed_work(&bus->watch_work, HZ);
}

/**
 * kvmbus_ctl_watch() - the bus is up: watch its host from now on
 * @bus: a connection kvmbus_ctl_start() brought up
 */
void kvmbus_ctl_watch(struct kvmbus_bus *bus)
{
	WRITE_ONCE(bus->online, true);
	schedule_delayed_work(&bus->watch_work, HZ);
}

/* The host is gone: fail every waiter and every send from now on. */
static void kvmbus_ctl_lost(struct kvmbus_bus *bus)
{
	struct kvmbus_ctl_waiter *w, *tmp;
	struct kvmbus_device *kdev;
	unsigned long relid;

	WRITE_ONCE(bus->online, false);
	WRITE_ONCE(bus->host_lost, true);
	/* Pairs with the lock in kvmbus_ctl_send(): a sender that took it
	 * after this sees the flag; one before has registered its waiter.
	 */
	mutex_lock(&bus->ctl_send_lock);
	mutex_unlock(&bus->ctl_send_lock);
	spin_lock(&bus->waiters_lock);
	list_for_each_entry_safe(w, tmp, &bus->waiters, node) {
		list_del_init(&w->node);
		w->status = ENOTCONN;
		complete(&w->done);
	}
	spin_unlock(&bus->waiters_lock);
	/* Drivers waiting on their channels wake and see the rescind. */
	xa_for_each(&bus->devices, relid, kdev)
		kvmbus_device_mark_rescinded(kdev);
	/* Nothing from the dead host's ring is read any more. */
	cancel_work_sync(&bus->ctl_work);
	WRITE_ONCE(bus->epoch, bus->epoch + 1);
	flush_workqueue(bus->hp_wq);
}

/*
 * Quiesce @kdev if its driver can wait for the host to come back.
 * Return: true when its host_lost ran: the device is to be parked.
 */
static bool kvmbus_ctl_quiesce_dev(struct kvmbus_device *kdev)
{
	struct kvmbus_driver *drv;
	bool kept = false;

	device_lock(&kdev->dev);
	drv = kdev->dev.driver ? to_kvmbus_driver(kdev->dev.driver) : NULL;
	if (drv && drv->host_lost && drv->host_back) {
		drv->host_lost(kdev);
		kept = true;
	}
	device_unlock(&kdev->dev);
	return kept;
}

/*
 * Every device leaves the xarray (the new host's relids mean nothing to
 * the old ones): those whose driver supports it are quiesced and parked
 * for the new host's offers, the others removed as on a rescind.
 */
static void kvmbus_ctl_park_all(struct kvmbus_bus *bus, unsigned int *kept,
				unsigned int *removed)
{
	struct kvmbus_device *kdev;
	unsigned long relid;

	*kept = 0;
	*removed = 0;
	xa_for_each(&bus->devices, relid, kdev) {
		xa_erase(&bus->devices, relid);
		/* Marked already (kvmbus_ctl_lost()): sends fail. */
		if (kvmbus_ctl_quiesce_dev(kdev)) {
			mutex_lock(&bus->park_lock);
			list_add_tail(&kdev->park_node, &bus->parked);
			mutex_unlock(&bus->park_lock);
			(*kept)++;
		} else {
			kvmbus_ctl_drop(kdev);
			(*removed)++;
		}
	}
	/* From the first loss: a host that keeps dying half-way through
	 * the handshake does not extend it.
	 */
	if (*kept)
		queue_delayed_work(system_wq, &bus->grace_work,
				   (unsigned long)host_grace * HZ);
}

/* Remove every parked device (@why for the log).  Return: how many. */
static unsigned int kvmbus_ctl_unpark_all(struct kvmbus_bus *bus,
					  const char *why)
{
	struct kvmbus_device *kdev, *tmp;
	unsigned int n = 0;
	LIST_HEAD(gone);

	mutex_lock(&bus->park_lock);
	list_splice_init(&bus->parked, &gone);
	mutex_unlock(&bus->park_lock);
	list_for_each_entry_safe(kdev, tmp, &gone, park_node) {
		list_del_init(&kdev->park_node);
		dev_warn(&kdev->dev, "removed: %s\n", why);
		kvmbus_ctl_drop(kdev);
		n++;
	}
	return n;
}

static void kvmbus_ctl_grace_work(struct work_struct *work)
{
	struct kvmbus_bus *bus = container_of(to_delayed_work(work),
					      struct kvmbus_bus, grace_work);

	kvmbus_ctl_unpark_all(bus, "kvmbusd did not come back in time");
}

/*
 * The host died (kvmbusd --supervise restarts it): every device goes,
 * its drivers' pending requests fail at once, the control rings are
 * published afresh, and the new host's offers bring the devices back.
 */
static void kvmbus_ctl_reset_work(struct work_struct *work)
{
	struct kvmbus_bus *bus = container_of(work, struct kvmbus_bus,
					      reset_work);
	struct device *dev = &bus->pdev->dev;
	unsigned int kept, removed;
	int ret;

	if (!READ_ONCE(bus->dying) && !kvmbus_ctl_host_gone(bus))
		return;		/* a stale queueing */
	for (;;) {
		if (READ_ONCE(bus->dying))
			return;
		kvmbus_ctl_lost(bus);
		kvmbus_ctl_park_all(bus, &kept, &removed);
		dev_warn(dev, "kvmbusd is gone (host generation %u now): %u device(s) kept, %u device(s) removed; waiting for it to come back\n",
			 ioread32(&bus->mbox->host_generation), kept, removed);
		reinit_completion(&bus->version_done);
		reinit_completion(&bus->offers_done);
		reinit_completion(&bus->unload_done);
		ret = kvmbus_pci_reconnect(bus);
		if (ret == -ENODEV)
			return;
		if (!ret) {
			WRITE_ONCE(bus->host_lost, false);
			ret = kvmbus_ctl_handshake(bus);
		}
		if (!ret)
			break;
		/* Refused, or died again half-way: start over. */
		msleep(1000);
	}
	/* The handshake waited until every offer was handled: what is
	 * still parked was not offered again.
	 */
	cancel_delayed_work_sync(&bus->grace_work);
	kvmbus_ctl_unpark_all(bus, "not offered by the new kvmbusd");
	atomic64_inc(&bus->resets);
	kvmbus_ctl_watch(bus);
}

/**
 * kvmbus_ctl_nr_devices() - how many devices the host offered
 * @bus: the connection
 *
 * Return: the number of offered devices known.
 */
unsigned long kvmbus_ctl_nr_devices(struct kvmbus_bus *bus)
{
	struct kvmbus_device *kdev;
	unsigned long relid, n = 0;

	xa_for_each(&bus->devices, relid, kdev)
		n++;
	return n;
}

/**
 * kvmbus_ctl_quiesce() - stop watching the host and reconnecting
 * @bus: the connection, about to go away (remove, shutdown)
 *
 * Offers and rescinds are ignored from now on; a reconnect in progress
 * gives up.  After this, a mailbox that says IDLE (as it does once we
 * withdraw the control rings) starts nothing.
 */
void kvmbus_ctl_quiesce(struct kvmbus_bus *bus)
{
	WRITE_ONCE(bus->dying, true);
	wake_up(&bus->mbox_wait);
	cancel_delayed_work_sync(&bus->watch_work);
	cancel_work_sync(&bus->reset_work);
	WRITE_ONCE(bus->online, false);
	/* Parked devices stay parked; kvmbus_ctl_stop() removes them. */
	cancel_delayed_work_sync(&bus->grace_work);
}

/**
 * kvmbus_ctl_stop() - remove every device and unload the connection
 * @bus: the connection
 *
 * Offers and rescinds that arrive from now on are ignored; the host
 * forgets every channel with UNLOAD.  The control rings stay mapped until
 * the mailbox reset.
 */
void kvmbus_ctl_stop(struct kvmbus_bus *bus)
{
	struct kvmbus_ctl_hdr req = {
		.type = cpu_to_le32(KVMBUS_CTL_UNLOAD),
	};
	struct kvmbus_device *kdev;
	unsigned long relid;

	kvmbus_ctl_quiesce(bus);
	/* No hot-plug event is queued or half-done after this. */
	flush_workqueue(bus->ctl_wq);
	flush_workqueue(bus->hp_wq);
	kvmbus_ctl_unpark_all(bus, "kvmbus is going away");
	xa_for_each(&bus->devices, relid, kdev) {
		xa_erase(&bus->devices, relid);
		device_unregister(&kdev->dev);
	}
	if (!kvmbus_ctl_send(bus, &req, sizeof(req)))
		kvmbus_ctl_wait(bus, &bus->unload_done, "unload answer");
}

/**
 * kvmbus_ctl_destroy() - free what kvmbus_ctl_init() allocated
 * @bus: the connection, its control interrupt already freed
 */
void kvmbus_ctl_destroy(struct kvmbus_bus *bus)
{
	destroy_workqueue(bus->reset_wq);
	destroy_workqueue(bus->hp_wq);
	destroy_workqueue(bus->ctl_wq);
	kfree(bus->ctl_buf);
	xa_destroy(&bus->devices);
	ida_destroy(&bus->gpadl_ids);
}
