// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbus_storvsc.ko: synthetic SCSI controller on kvmbus.
 *
 * Binds to SCSI controller channels offered by the host.  Until the data path lands,
 * probe declines the channel (-ENODEV) so that nothing looks bound that
 * cannot carry traffic.
 */
#include <linux/module.h>
#include <kvmbus/kvmbus.h>

static int storvsc_probe(struct kvmbus_device *kdev,
			 const struct kvmbus_device_id *id)
{
	dev_info(&kdev->dev, "SCSI controller channel %u: data path not implemented\n",
		 kdev->relid);
	return -ENODEV;
}

static const struct kvmbus_device_id storvsc_id_table[] = {
	{ .class_id = KVMBUS_UUID(KVMBUS_CLASS_SCSI_BYTES) },
	{ }
};

static struct kvmbus_driver storvsc_driver = {
	.name		= "kvmbus_storvsc",
	.id_table	= storvsc_id_table,
	.probe		= storvsc_probe,
};
module_kvmbus_driver(storvsc_driver);

MODULE_ALIAS(KVMBUS_MODALIAS(KVMBUS_CLASS_SCSI_HEX));
MODULE_DESCRIPTION("kvmbus: synthetic SCSI controller");
MODULE_LICENSE("GPL");
MODULE_VERSION(KVMBUS_DRIVER_VERSION);
