// SPDX-License-Identifier: GPL-2.0-only
/* Must always build: proves the probe machinery itself works. */
#include <linux/module.h>

static int __maybe_unused kvmbus_probe_sanity(void)
{
	return 0;
}
