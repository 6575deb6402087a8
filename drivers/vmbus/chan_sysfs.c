// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbus channels in sysfs, for people debugging them (docs/usage.md,
 * "Channels in sysfs"):
 *
 *   /sys/bus/kvmbus/devices/<instance>/channels/<relid>/
 *       relid sub_index vector irq cpu state gpadl
 *       interrupts signals ring_full
 *       out/  the guest-to-host ring      size write_index read_index
 *       in/   the host-to-guest ring      interrupt_mask pending_send_size
 *                                         features used
 *
 * A channel's directory exists from the end of kvmbus_channel_open() to
 * the start of kvmbus_channel_close(); channels/ exists while any channel
 * of the device is open.  Removing a directory waits for readers and
 * writers already inside its files and refuses new ones, so close frees
 * nothing a reader could still reach.  Ring header values are loaded once
 * each: they are shared with the host and may change under us.
 */
#include <linux/kobject.h>
#include <linux/slab.h>
#include <linux/sysfs.h>

#include "kvmbus_internal.h"

/*
 * The directory: its own allocation, so that its lifetime (the kobject's
 * reference count) never keeps the channel itself alive.  @chan is only
 * used from the attribute methods, which cannot run once the directory
 * is removed.
 */
struct kvmbus_chan_kobj {
	struct kobject kobj;
	struct kvmbus_channel *chan;
};

static struct kvmbus_channel *kobj_to_chan(struct kobject *kobj)
{
	return container_of(kobj, struct kvmbus_chan_kobj, kobj)->chan;
}

/* A ring attribute's kobject is the channel's (named groups are subdirs). */
#define KVMBUS_CHAN_ATTR_RO(name)					\
static ssize_t name##_show(struct kobject *kobj,			\
			   struct kobj_attribute *attr, char *buf)	\
{									\
	return kvmbus_chan_show_##name(kobj_to_chan(kobj), buf);	\
}									\
static struct kobj_attribute chan_attr_##name = __ATTR_RO(name)

static ssize_t kvmbus_chan_show_relid(struct kvmbus_channel *chan, char *buf)
{
	return sysfs_emit(buf, "%u\n", kvmbus_chan_relid(chan));
}
KVMBUS_CHAN_ATTR_RO(relid);

static ssize_t kvmbus_chan_show_sub_index(struct kvmbus_channel *chan,
					  char *buf)
{
	return sysfs_emit(buf, "%u\n", kvmbus_chan_sub_index(chan));
}
KVMBUS_CHAN_ATTR_RO(sub_index);

static ssize_t kvmbus_chan_show_vector(struct kvmbus_channel *chan, char *buf)
{
	return sysfs_emit(buf, "%u\n", kvmbus_chan_vector(chan));
}
KVMBUS_CHAN_ATTR_RO(vector);

static ssize_t kvmbus_chan_show_irq(struct kvmbus_channel *chan, char *buf)
{
	return sysfs_emit(buf, "%d\n", kvmbus_chan_irqnr(chan));
}
KVMBUS_CHAN_ATTR_RO(irq);

static ssize_t kvmbus_chan_show_gpadl(struct kvmbus_channel *chan, char *buf)
{
	return sysfs_emit(buf, "%u\n", chan->gpadl);
}
KVMBUS_CHAN_ATTR_RO(gpadl);

static ssize_t kvmbus_chan_show_state(struct kvmbus_channel *chan, char *buf)
{
	const char *state = "open";

	if (kvmbus_chan_rescinded(chan))
		state = "rescinded";
	else if (READ_ONCE(chan->out.broken) || READ_ONCE(chan->in.broken))
		state = "broken";
	return sysfs_emit(buf, "%s\n", state);
}
KVMBUS_CHAN_ATTR_RO(state);

static ssize_t kvmbus_chan_show_interrupts(struct kvmbus_channel *chan,
					   char *buf)
{
	return sysfs_emit(buf, "%lld\n", atomic64_read(&chan->interrupts));
}
KVMBUS_CHAN_ATTR_RO(interrupts);

static ssize_t kvmbus_chan_show_signals(struct kvmbus_channel *chan,
					char *buf)
{
	return sysfs_emit(buf, "%lld\n", atomic64_read(&chan->signals));
}
KVMBUS_CHAN_ATTR_RO(signals);

static ssize_t kvmbus_chan_show_ring_full(struct kvmbus_channel *chan,
					  char *buf)
{
	return sysfs_emit(buf, "%lld\n", atomic64_read(&chan->ring_full));
}
KVMBUS_CHAN_ATTR_RO(ring_full);

static ssize_t cpu_show(struct kobject *kobj, struct kobj_attribute *attr,
			char *buf)
{
	return sysfs_emit(buf, "%d\n", kvmbus_chan_cpu(kobj_to_chan(kobj)));
}

static ssize_t cpu_store(struct kobject *kobj, struct kobj_attribute *attr,
			 const char *buf, size_t count)
{
	unsigned int cpu;
	int ret;

	ret = kstrtouint(buf, 10, &cpu);
	if (ret)
		return ret;
	ret = kvmbus_chan_set_cpu(kobj_to_chan(kobj), cpu);
	return ret ? ret : count;
}

static struct kobj_attribute chan_attr_cpu = __ATTR_RW(cpu);

static struct attribute *kvmbus_chan_attrs[] = {
	&chan_attr_relid.attr,
	&chan_attr_sub_index.attr,
	&chan_attr_vector.attr,
	&chan_attr_irq.attr,
	&chan_attr_cpu.attr,
	&chan_attr_state.attr,
	&chan_attr_gpadl.attr,
	&chan_attr_interrupts.attr,
	&chan_attr_signals.attr,
	&chan_attr_ring_full.attr,
	NULL,
};

static const struct attribute_group kvmbus_chan_group = {
	.attrs = kvmbus_chan_attrs,
};

/*
 * The rings.  Each header field is loaded once; "used" is computed from
 * the one load of each index, and says "invalid" when the host wrote an
 * index that is not one (the reader breaks the ring on such a value).
 */
enum kvmbus_ring_field {
	KVMBUS_RF_SIZE,
	KVMBUS_RF_WRITE_INDEX,
	KVMBUS_RF_READ_INDEX,
	KVMBUS_RF_INTERRUPT_MASK,
	KVMBUS_RF_PENDING_SEND,
	KVMBUS_RF_FEATURES,
	KVMBUS_RF_USED,
};

static ssize_t kvmbus_ring_show(const struct kvmbus_ring *r,
				enum kvmbus_ring_field f, char *buf)
{
	const struct kvmbus_ring_hdr *hdr = r->hdr;
	u32 wr, rd;

	switch (f) {
	case KVMBUS_RF_SIZE:
		return sysfs_emit(buf, "%u\n", r->size);
	case KVMBUS_RF_WRITE_INDEX:
		return sysfs_emit(buf, "%u\n",
				  le32_to_cpu(READ_ONCE(hdr->write_index)));
	case KVMBUS_RF_READ_INDEX:
		return sysfs_emit(buf, "%u\n",
				  le32_to_cpu(READ_ONCE(hdr->read_index)));
	case KVMBUS_RF_INTERRUPT_MASK:
		return sysfs_emit(buf, "%u\n",
				  le32_to_cpu(READ_ONCE(hdr->interrupt_mask)));
	case KVMBUS_RF_PENDING_SEND:
		return sysfs_emit(buf, "%u\n",
				  le32_to_cpu(READ_ONCE(hdr->pending_send_sz)));
	case KVMBUS_RF_FEATURES:
		return sysfs_emit(buf, "%#x\n",
				  le32_to_cpu(READ_ONCE(hdr->features)));
	case KVMBUS_RF_USED:
		wr = le32_to_cpu(READ_ONCE(hdr->write_index));
		rd = le32_to_cpu(READ_ONCE(hdr->read_index));
		if (!kvmbus_ring_index_ok(wr, r->size) ||
		    !kvmbus_ring_index_ok(rd, r->size))
			return sysfs_emit(buf, "invalid\n");
		return sysfs_emit(buf, "%u\n", kvmbus_ring_used(wr, rd, r->size));
	}
	return -EINVAL;
}

/* A ring attribute: which ring, which field. */
struct kvmbus_ring_attr {
	struct kobj_attribute kattr;
	bool in;
	enum kvmbus_ring_field field;
};

static ssize_t kvmbus_ring_attr_show(struct kobject *kobj,
				     struct kobj_attribute *attr, char *buf)
{
	const struct kvmbus_ring_attr *ra =
		container_of(attr, struct kvmbus_ring_attr, kattr);
	struct kvmbus_channel *chan = kobj_to_chan(kobj);

	return kvmbus_ring_show(ra->in ? &chan->in : &chan->out, ra->field,
				buf);
}

#define KVMBUS_RING_ATTR(var, name, is_in, f)				\
static struct kvmbus_ring_attr var = {					\
	.kattr = __ATTR(name, 0444, kvmbus_ring_attr_show, NULL),	\
	.in = is_in,							\
	.field = f,							\
}

KVMBUS_RING_ATTR(out_size, size, false, KVMBUS_RF_SIZE);
KVMBUS_RING_ATTR(out_wr, write_index, false, KVMBUS_RF_WRITE_INDEX);
KVMBUS_RING_ATTR(out_rd, read_index, false, KVMBUS_RF_READ_INDEX);
KVMBUS_RING_ATTR(out_mask, interrupt_mask, false, KVMBUS_RF_INTERRUPT_MASK);
KVMBUS_RING_ATTR(out_pend, pending_send_size, false, KVMBUS_RF_PENDING_SEND);
KVMBUS_RING_ATTR(out_feat, features, false, KVMBUS_RF_FEATURES);
KVMBUS_RING_ATTR(out_used, used, false, KVMBUS_RF_USED);

KVMBUS_RING_ATTR(in_size, size, true, KVMBUS_RF_SIZE);
KVMBUS_RING_ATTR(in_wr, write_index, true, KVMBUS_RF_WRITE_INDEX);
KVMBUS_RING_ATTR(in_rd, read_index, true, KVMBUS_RF_READ_INDEX);
KVMBUS_RING_ATTR(in_mask, interrupt_mask, true, KVMBUS_RF_INTERRUPT_MASK);
KVMBUS_RING_ATTR(in_pend, pending_send_size, true, KVMBUS_RF_PENDING_SEND);
KVMBUS_RING_ATTR(in_feat, features, true, KVMBUS_RF_FEATURES);
KVMBUS_RING_ATTR(in_used, used, true, KVMBUS_RF_USED);

static struct attribute *kvmbus_out_attrs[] = {
	&out_size.kattr.attr,
	&out_wr.kattr.attr,
	&out_rd.kattr.attr,
	&out_mask.kattr.attr,
	&out_pend.kattr.attr,
	&out_feat.kattr.attr,
	&out_used.kattr.attr,
	NULL,
};

static struct attribute *kvmbus_in_attrs[] = {
	&in_size.kattr.attr,
	&in_wr.kattr.attr,
	&in_rd.kattr.attr,
	&in_mask.kattr.attr,
	&in_pend.kattr.attr,
	&in_feat.kattr.attr,
	&in_used.kattr.attr,
	NULL,
};

static const struct attribute_group kvmbus_out_group = {
	.name = "out",
	.attrs = kvmbus_out_attrs,
};

static const struct attribute_group kvmbus_in_group = {
	.name = "in",
	.attrs = kvmbus_in_attrs,
};

static const struct attribute_group *kvmbus_chan_groups[] = {
	&kvmbus_chan_group,
	&kvmbus_out_group,
	&kvmbus_in_group,
	NULL,
};

static void kvmbus_chan_kobj_release(struct kobject *kobj)
{
	kfree(container_of(kobj, struct kvmbus_chan_kobj, kobj));
}

static const struct kobj_type kvmbus_chan_ktype = {
	.release	= kvmbus_chan_kobj_release,
	.sysfs_ops	= &kobj_sysfs_ops,
	.default_groups	= kvmbus_chan_groups,
};

/* Drop one user of the device's channels/ directory. */
static void kvmbus_chan_dir_put(struct kvmbus_device *kdev)
{
	struct mutex *lock = &kdev->bus->chan_dir_lock;

	mutex_lock(lock);
	if (!--kdev->chan_dir_users) {
		kobject_put(kdev->chan_dir);
		kdev->chan_dir = NULL;
	}
	mutex_unlock(lock);
}

static struct kobject *kvmbus_chan_dir_get(struct kvmbus_device *kdev)
{
	struct kobject *dir;

	mutex_lock(&kdev->bus->chan_dir_lock);
	if (!kdev->chan_dir)
		kdev->chan_dir = kobject_create_and_add("channels",
							&kdev->dev.kobj);
	dir = kdev->chan_dir;
	if (dir)
		kdev->chan_dir_users++;
	mutex_unlock(&kdev->bus->chan_dir_lock);
	return dir;
}

/**
 * kvmbus_chan_sysfs_add() - show an open channel in sysfs
 * @chan: the channel, fully open
 *
 * A failure is logged and otherwise ignored: the channel works without
 * its directory.
 */
void kvmbus_chan_sysfs_add(struct kvmbus_channel *chan)
{
	struct kvmbus_device *kdev = chan->kdev;
	struct kvmbus_chan_kobj *ck;
	struct kobject *dir;
	int ret = -ENOMEM;

	dir = kvmbus_chan_dir_get(kdev);
	if (!dir)
		goto err_warn;
	ck = kzalloc(sizeof(*ck), GFP_KERNEL);
	if (!ck)
		goto err_put_dir;
	ck->chan = chan;
	ret = kobject_init_and_add(&ck->kobj, &kvmbus_chan_ktype, dir, "%u",
				   kvmbus_chan_relid(chan));
	if (ret)
		goto err_put_kobj;
	chan->sysfs = &ck->kobj;
	return;

err_put_kobj:
	kobject_put(&ck->kobj);
err_put_dir:
	kvmbus_chan_dir_put(kdev);
err_warn:
	dev_warn(&kdev->dev, "channel %u: no sysfs directory: %d\n",
		 kvmbus_chan_relid(chan), ret);
}

/**
 * kvmbus_chan_sysfs_del() - remove a channel's directory
 * @chan: the channel, about to close
 *
 * Returns once no reader or writer is inside the channel's files; none
 * can enter afterwards.  Must not be called with a lock the attribute
 * methods take (bind_lock, the hotplug lock).
 */
void kvmbus_chan_sysfs_del(struct kvmbus_channel *chan)
{
	struct kobject *kobj = chan->sysfs;

	if (!kobj)
		return;
	chan->sysfs = NULL;
	kobject_del(kobj);
	kobject_put(kobj);
	kvmbus_chan_dir_put(chan->kdev);
}
