/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The one way host code includes the shared wire headers, plus
 * compile-time checks of every layout fact kvmbusd relies on, so a change
 * in include/kvmbus that would silently move a field breaks this build.
 */
#ifndef KVMBUSD_PROTO_H
#define KVMBUSD_PROTO_H

#include <stddef.h>

#include <kvmbus/wire.h>

/* The BAR2 mailbox layout kvmbusd depends on (protocol.h, layout 1). */
_Static_assert(sizeof(struct kvmbus_bar_hdr) == 128, "bar hdr size");
_Static_assert(offsetof(struct kvmbus_bar_hdr, layout) == 8, "layout");
_Static_assert(offsetof(struct kvmbus_bar_hdr, host_state) == 28,
	       "host_state");
_Static_assert(offsetof(struct kvmbus_bar_hdr, host_generation) == 36,
	       "host_generation");
_Static_assert(offsetof(struct kvmbus_bar_hdr, acked_generation) == 40,
	       "acked_generation");
_Static_assert(offsetof(struct kvmbus_bar_hdr, guest_state) == 64,
	       "guest half starts at 64");
_Static_assert(offsetof(struct kvmbus_bar_hdr, ctl_gpa) == 72,
	       "ctl_gpa is 8-byte aligned");
_Static_assert(offsetof(struct kvmbus_bar_hdr, guest_generation) == 80,
	       "guest_generation");
_Static_assert(KVMBUS_MAX_VECTORS <= 256,
	       "TCG keeps only 8 bits of the doorbell vector");

#endif /* KVMBUSD_PROTO_H */
