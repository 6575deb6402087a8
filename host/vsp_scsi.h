/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The SCSI device class, host end (vsp_scsi.c): a synthetic SCSI
 * controller whose LUNs are raw images or block devices, served through
 * io_uring in place on guest memory.  Wire protocol: docs/protocol.md
 * section 7.4 and include/kvmbus/storvsc.h; parameters and kvmbusctl
 * use: docs/usage.md.
 */
#ifndef KVMBUSD_VSP_SCSI_H
#define KVMBUSD_VSP_SCSI_H

#include "chan.h"

extern const struct vsp_ops vsp_scsi_ops;

#endif /* KVMBUSD_VSP_SCSI_H */
