/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kshim: <linux/string.h> for drivers/vmbus/ring.c is libc's memcpy()
 * and memset(), with the same semantics.
 */
#ifndef KVMBUSD_KSHIM_LINUX_STRING_H
#define KVMBUSD_KSHIM_LINUX_STRING_H

#include <string.h>

#endif /* KVMBUSD_KSHIM_LINUX_STRING_H */
