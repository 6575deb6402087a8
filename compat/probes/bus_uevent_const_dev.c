// SPDX-License-Identifier: GPL-2.0-only
/* bus_type.uevent() takes a const struct device (v6.3). */
#include <linux/device.h>

static int kvmbus_probe_uevent(const struct device *dev,
			       struct kobj_uevent_env *env)
{
	return 0;
}

static struct bus_type kvmbus_probe_bus __maybe_unused = {
	.uevent = kvmbus_probe_uevent,
};
