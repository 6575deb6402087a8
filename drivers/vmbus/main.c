// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbus.ko: the paravirtual channel bus for KVM guests.  Brings up the
 * bus type, then the ivshmem transport that connects it to kvmbusd.
 */
#include <linux/module.h>

#include "kvmbus_internal.h"

static int __init kvmbus_init(void)
{
	int ret;

	ret = kvmbus_bus_init();
	if (ret)
		return ret;
	ret = kvmbus_cpu_init();
	if (ret)
		goto err_bus_exit;
	ret = kvmbus_pci_init();
	if (ret)
		goto err_cpu_exit;
	return 0;

err_cpu_exit:
	kvmbus_cpu_exit();
err_bus_exit:
	kvmbus_bus_exit();
	return ret;
}

static void __exit kvmbus_exit(void)
{
	kvmbus_pci_exit();
	kvmbus_cpu_exit();
	kvmbus_bus_exit();
}

module_init(kvmbus_init);
module_exit(kvmbus_exit);

MODULE_DESCRIPTION("kvmbus: paravirtual channel bus for KVM guests over ivshmem");
MODULE_LICENSE("GPL");
MODULE_VERSION(KVMBUS_DRIVER_VERSION);
