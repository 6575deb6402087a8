// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbus_balloon.ko: dynamic memory balloon on kvmbus.
 *
 * Binds to dynamic memory channels offered by the host.  Until the data path lands,
 * probe declines the channel (-ENODEV) so that nothing looks bound that
 * cannot carry traffic.
 */
#include <linux/module.h>
#include <kvmbus/kvmbus.h>

static int balloon_probe(struct kvmbus_device *kdev,
			 const struct kvmbus_device_id *id)
{
	dev_info(&kdev->dev, "dynamic memory channel %u: data path not implemented\n",
		 kdev->relid);
	return -ENODEV;
}

static const struct kvmbus_device_id balloon_id_table[] = {
	{ .class_id = KVMBUS_UUID(KVMBUS_CLASS_BALLOON_BYTES) },
	{ }
};

static struct kvmbus_driver balloon_driver = {
	.name		= "kvmbus_balloon",
	.id_table	= balloon_id_table,
	.probe		= balloon_probe,
};
module_kvmbus_driver(balloon_driver);

MODULE_ALIAS(KVMBUS_MODALIAS(KVMBUS_CLASS_BALLOON_HEX));
MODULE_DESCRIPTION("kvmbus: dynamic memory balloon");
MODULE_LICENSE("GPL");
MODULE_VERSION(KVMBUS_DRIVER_VERSION);
