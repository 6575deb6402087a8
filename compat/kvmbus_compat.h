/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Bridges between the kernel APIs kvmbus is built against.  Every entry
 * depends on a probe result from compat/probes/ (generated into
 * kvmbus_config.h by scripts/compat.sh), never on a version number, so
 * distribution backports are honoured.
 */
#ifndef _KVMBUS_COMPAT_H
#define _KVMBUS_COMPAT_H

#include "generated/kvmbus_config.h"

/* bus_type.match(): the driver argument became const in v6.11. */
#ifdef KVMBUS_HAVE_BUS_MATCH_CONST_DRV
#define kvmbus_compat_drv_const const
#else
#define kvmbus_compat_drv_const
#endif

/* bus_type.uevent(): the device argument became const in v6.3. */
#ifdef KVMBUS_HAVE_BUS_UEVENT_CONST_DEV
#define kvmbus_compat_uevent_const const
#else
#define kvmbus_compat_uevent_const
#endif

#endif /* _KVMBUS_COMPAT_H */
