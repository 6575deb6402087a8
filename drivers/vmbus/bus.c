// SPDX-License-Identifier: GPL-2.0-only
/*
 * The kvmbus bus type: devices are channels offered by the host, matched
 * to class drivers by class UUID, with a modalias so that udev and
 * modprobe load the right class driver on an offer.
 */
#include <linux/module.h>
#include <linux/slab.h>

#include "kvmbus_compat.h"
#include "kvmbus_internal.h"

static const struct kvmbus_device_id *
kvmbus_match_id(const struct kvmbus_device_id *id, const uuid_t *class_id)
{
	if (!id)
		return NULL;
	for (; !uuid_is_null(&id->class_id); id++)
		if (uuid_equal(&id->class_id, class_id))
			return id;
	return NULL;
}

static int kvmbus_match(struct device *dev,
			kvmbus_compat_drv_const struct device_driver *drv)
{
	const struct kvmbus_driver *kdrv = to_kvmbus_driver(drv);
	const struct kvmbus_device *kdev = to_kvmbus_device(dev);

	return !!kvmbus_match_id(kdrv->id_table, &kdev->class_id);
}

static int kvmbus_uevent(kvmbus_compat_uevent_const struct device *dev,
			 struct kobj_uevent_env *env)
{
	const struct kvmbus_device *kdev = to_kvmbus_device(dev);

	return add_uevent_var(env, "MODALIAS=kvmbus:%*phN",
			      (int)sizeof(kdev->class_id), kdev->class_id.b);
}

static int kvmbus_probe(struct device *dev)
{
	struct kvmbus_driver *kdrv = to_kvmbus_driver(dev->driver);
	struct kvmbus_device *kdev = to_kvmbus_device(dev);
	const struct kvmbus_device_id *id;

	id = kvmbus_match_id(kdrv->id_table, &kdev->class_id);
	if (!id || !kdrv->probe)
		return -ENODEV;
	return kdrv->probe(kdev, id);
}

static void kvmbus_remove(struct device *dev)
{
	struct kvmbus_driver *kdrv = to_kvmbus_driver(dev->driver);

	if (kdrv->remove)
		kdrv->remove(to_kvmbus_device(dev));
}

static ssize_t class_id_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	return sysfs_emit(buf, "%pUb\n", &to_kvmbus_device(dev)->class_id);
}
static DEVICE_ATTR_RO(class_id);

static ssize_t instance_id_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%pUb\n", &to_kvmbus_device(dev)->instance_id);
}
static DEVICE_ATTR_RO(instance_id);

static ssize_t modalias_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	const struct kvmbus_device *kdev = to_kvmbus_device(dev);

	return sysfs_emit(buf, "kvmbus:%*phN\n", (int)sizeof(kdev->class_id),
			  kdev->class_id.b);
}
static DEVICE_ATTR_RO(modalias);

static ssize_t relid_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	return sysfs_emit(buf, "%u\n", to_kvmbus_device(dev)->relid);
}
static DEVICE_ATTR_RO(relid);

static ssize_t max_subchannels_show(struct device *dev,
				    struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", to_kvmbus_device(dev)->max_subchannels);
}
static DEVICE_ATTR_RO(max_subchannels);

static struct attribute *kvmbus_dev_attrs[] = {
	&dev_attr_class_id.attr,
	&dev_attr_instance_id.attr,
	&dev_attr_modalias.attr,
	&dev_attr_relid.attr,
	&dev_attr_max_subchannels.attr,
	NULL,
};
ATTRIBUTE_GROUPS(kvmbus_dev);

static struct bus_type kvmbus_bus = {
	.name		= "kvmbus",
	.match		= kvmbus_match,
	.uevent		= kvmbus_uevent,
	.probe		= kvmbus_probe,
	.remove		= kvmbus_remove,
	.dev_groups	= kvmbus_dev_groups,
};

static void kvmbus_device_release(struct device *dev)
{
	kfree(to_kvmbus_device(dev));
}

/**
 * kvmbus_device_register() - add an offered channel to the bus
 * @kdev: ids and relid filled in; freed by the device core from now on
 * @parent: the transport device
 *
 * A matching driver is probed before this returns.  On failure the caller
 * drops its reference with put_device(), which frees @kdev.
 *
 * Return: 0 or a negative errno.
 */
int kvmbus_device_register(struct kvmbus_device *kdev, struct device *parent)
{
	int ret;

	device_initialize(&kdev->dev);
	kdev->dev.bus = &kvmbus_bus;
	kdev->dev.parent = parent;
	kdev->dev.release = kvmbus_device_release;
	ret = dev_set_name(&kdev->dev, "%pUb", &kdev->instance_id);
	if (ret)
		return ret;
	return device_add(&kdev->dev);
}

/**
 * kvmbus_device_mark_rescinded() - the host took the device back
 * @kdev: the device, about to be unregistered
 *
 * Sending on its channels (sub-channels included) fails from now on, and
 * the driver's callback of each open one runs once so that anyone
 * waiting for the host wakes up and sees it.
 */
void kvmbus_device_mark_rescinded(struct kvmbus_device *kdev)
{
	unsigned long flags;
	unsigned int i;

	spin_lock_irqsave(&kdev->chan_lock, flags);
	WRITE_ONCE(kdev->rescinded, true);
	if (kdev->chan)
		kvmbus_chan_kick(kdev->chan);
	for (i = 0; i < ARRAY_SIZE(kdev->sub); i++)
		if (kdev->sub[i].chan)
			kvmbus_chan_kick(kdev->sub[i].chan);
	spin_unlock_irqrestore(&kdev->chan_lock, flags);
}

/**
 * __kvmbus_driver_register() - register a class driver with the bus
 * @kdrv: the driver; its id_table must end with a zero class id
 * @owner: the module that owns it (THIS_MODULE)
 * @mod_name: that module's name (KBUILD_MODNAME)
 *
 * Use the kvmbus_driver_register() wrapper.  Devices already offered
 * that match are probed before this returns.
 *
 * Return: 0 or a negative errno.
 */
int __kvmbus_driver_register(struct kvmbus_driver *kdrv, struct module *owner,
			     const char *mod_name)
{
	if (!kdrv->name || !kdrv->id_table || !kdrv->probe)
		return -EINVAL;

	kdrv->driver.name = kdrv->name;
	kdrv->driver.bus = &kvmbus_bus;
	kdrv->driver.owner = owner;
	kdrv->driver.mod_name = mod_name;
	return driver_register(&kdrv->driver);
}
EXPORT_SYMBOL_GPL(__kvmbus_driver_register);

/**
 * kvmbus_driver_unregister() - unregister a class driver
 * @kdrv: a driver registered with kvmbus_driver_register()
 *
 * Every device bound to @kdrv is removed before this returns.
 */
void kvmbus_driver_unregister(struct kvmbus_driver *kdrv)
{
	driver_unregister(&kdrv->driver);
}
EXPORT_SYMBOL_GPL(kvmbus_driver_unregister);

int kvmbus_bus_init(void)
{
	return bus_register(&kvmbus_bus);
}

void kvmbus_bus_exit(void)
{
	bus_unregister(&kvmbus_bus);
}
