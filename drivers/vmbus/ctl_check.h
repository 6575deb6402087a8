/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kvmbus control plane, guest side: validation of what the host sends
 * (docs/protocol.md sections 6 and 8).  Pure functions over a private copy
 * of a message: no transport, no state, so KUnit runs them on UML
 * (kunit/kvmbus_ctl_test.c).
 */
#ifndef _KVMBUS_CTL_CHECK_H
#define _KVMBUS_CTL_CHECK_H

#include <kvmbus/protocol.h>

int kvmbus_ctl_check_msg(const void *msg, u32 len, u32 *type);
int kvmbus_ctl_check_offer(const struct kvmbus_ctl_offer *o, u32 nr_vectors);
int kvmbus_ctl_check_version(u32 version);
int kvmbus_ctl_status_errno(u32 status);

#endif /* _KVMBUS_CTL_CHECK_H */
