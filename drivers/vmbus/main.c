// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbus.ko: the paravirtual channel bus for KVM guests.  Brings up the
 * bus type; the ivshmem transport and the control plane hang off it.
 */
#include <linux/module.h>

#include "kvmbus_internal.h"

static int __init kvmbus_init(void)
{
	return kvmbus_bus_init();
}

static void __exit kvmbus_exit(void)
{
	kvmbus_bus_exit();
}

module_init(kvmbus_init);
module_exit(kvmbus_exit);

MODULE_DESCRIPTION("kvmbus: paravirtual channel bus for KVM guests over ivshmem");
MODULE_LICENSE("GPL");
MODULE_VERSION(KVMBUS_DRIVER_VERSION);
