/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The network provider: the host end of a synthetic NIC (docs/protocol.md
 * section 7.3), one TAP queue per channel.
 *
 * Each open channel opens its own queue of the device's TAP
 * (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE, a 12-byte
 * virtio_net_hdr_v1), so the host kernel steers every received flow to
 * one queue, hence one guest channel, by its flow hash (RSS), and keeps a
 * flow the guest sends on a channel coming back on the same one.
 *
 * Transmit: each guest PKT is parsed by net_tx_parse() (every value
 * checked before use) and written to the TAP with one writev() straight
 * from guest memory; the completion goes back in the same pass, so a pass
 * commits many completions with one signal.  Receive: when the TAP is
 * readable, frames are read with readv() straight into free sections of
 * the guest's receive buffer, and announced as PKTs; a section is reused
 * once the guest completes it.  No allocation on either path.
 *
 * Runs on the event loop, not threaded: buffer registration takes GPADLs
 * from the connection's table, which belongs to the main thread.
 */
#ifndef KVMBUSD_VSP_NET_H
#define KVMBUSD_VSP_NET_H

#include "chan.h"

extern const struct vsp_ops vsp_net_ops;

/* The TAP a channel attaches to when the device names none. */
#define NET_TAP_DEFAULT_FMT	"kvmbus%u"

#endif /* KVMBUSD_VSP_NET_H */
