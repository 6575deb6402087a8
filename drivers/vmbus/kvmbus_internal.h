/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kvmbus.ko internals shared between its parts: the bus type, and later
 * the transport and the control plane.  Class drivers never include this.
 */
#ifndef _KVMBUS_INTERNAL_H
#define _KVMBUS_INTERNAL_H

#include <kvmbus/kvmbus.h>

int kvmbus_bus_init(void);
void kvmbus_bus_exit(void);

#endif /* _KVMBUS_INTERNAL_H */
