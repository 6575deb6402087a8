// SPDX-License-Identifier: GPL-2.0-only
/* Free page reporting (v5.7), built in (CONFIG_PAGE_REPORTING). */
#include <linux/page_reporting.h>

#ifndef CONFIG_PAGE_REPORTING
#error "CONFIG_PAGE_REPORTING is not set"
#endif

static int kvmbus_probe_report(struct page_reporting_dev_info *pr,
			       struct scatterlist *sg, unsigned int nents)
{
	return 0;
}

static struct page_reporting_dev_info kvmbus_probe_pr = {
	.report = kvmbus_probe_report,
};

static int __maybe_unused kvmbus_probe_pr_register(void)
{
	return page_reporting_register(&kvmbus_probe_pr);
}
