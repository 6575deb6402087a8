/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * The userspace half of include/kvmbus/types.h: what the shared wire
 * headers need from the kernel, for kvmbusd, its tests and fuzzers.
 * <linux/types.h> (the system's uapi header) supplies the __le* wire
 * types, without sparse's bitwise checking.
 */
#ifndef _KVMBUS_USER_TYPES_H
#define _KVMBUS_USER_TYPES_H

#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;

#define BIT(nr) (1UL << (nr))
#define BIT_ULL(nr) (1ULL << (nr))

/* The kernel's static_assert(), whose message is optional: C11's is not. */
#undef static_assert
#define static_assert(expr, ...) \
	__kvmbus_static_assert(expr, ##__VA_ARGS__, #expr)
#define __kvmbus_static_assert(expr, msg, ...) _Static_assert(expr, msg)

#define cpu_to_le16(x) ((__le16)htole16(x))
#define cpu_to_le32(x) ((__le32)htole32(x))
#define cpu_to_le64(x) ((__le64)htole64(x))
#define le16_to_cpu(x) le16toh((__u16)(x))
#define le32_to_cpu(x) le32toh((__u32)(x))
#define le64_to_cpu(x) le64toh((__u64)(x))

#endif /* _KVMBUS_USER_TYPES_H */
