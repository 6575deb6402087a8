// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbus_netvsc.ko: synthetic network adapter on kvmbus.
 *
 * Binds to NIC channels offered by the host.  Until the data path lands,
 * probe declines the channel (-ENODEV) so that nothing looks bound that
 * cannot carry traffic.
 */
#include <linux/module.h>
#include <kvmbus/kvmbus.h>

static int netvsc_probe(struct kvmbus_device *kdev,
			const struct kvmbus_device_id *id)
{
	dev_info(&kdev->dev, "NIC channel %u: data path not implemented\n",
		 kdev->relid);
	return -ENODEV;
}

static const struct kvmbus_device_id netvsc_id_table[] = {
	{ .class_id = KVMBUS_UUID(KVMBUS_CLASS_NET_BYTES) },
	{ }
};

static struct kvmbus_driver netvsc_driver = {
	.name		= "kvmbus_netvsc",
	.id_table	= netvsc_id_table,
	.probe		= netvsc_probe,
};
module_kvmbus_driver(netvsc_driver);

MODULE_ALIAS(KVMBUS_MODALIAS(KVMBUS_CLASS_NET_HEX));
MODULE_DESCRIPTION("kvmbus: synthetic network adapter");
MODULE_LICENSE("GPL");
MODULE_VERSION(KVMBUS_DRIVER_VERSION);
