/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * kvmbus: the small type shim that lets the wire headers compile both in
 * the kernel and in userspace (kvmbusd, its unit tests and fuzzers).
 *
 * In the kernel everything comes from the kernel headers.  In userspace
 * host/kvmbus_user_types.h supplies the same names on top of the
 * system's <linux/types.h> (host/ puts itself on the include path).
 */
#ifndef _KVMBUS_TYPES_H
#define _KVMBUS_TYPES_H

#ifdef __KERNEL__
#include <linux/bits.h>
#include <linux/types.h>
#include <linux/build_bug.h>
#include <linux/errno.h>
#include <asm/byteorder.h>
#else
/* kvmbusd and its tests: the shim lives with the userspace code. */
#include "kvmbus_user_types.h"
#endif /* __KERNEL__ */

#endif /* _KVMBUS_TYPES_H */
