// SPDX-License-Identifier: GPL-2.0-only
/* page_reporting_dev_info.order: the driver picks the order (v5.18). */
#include <linux/page_reporting.h>

static struct page_reporting_dev_info kvmbus_probe_pr __maybe_unused = {
	.order = 9,
};
