// SPDX-License-Identifier: GPL-2.0-only
/* bus_type.match() takes a const struct device_driver (v6.11). */
#include <linux/device.h>

static int kvmbus_probe_match(struct device *dev,
			      const struct device_driver *drv)
{
	return 0;
}

static struct bus_type kvmbus_probe_bus __maybe_unused = {
	.match = kvmbus_probe_match,
};
