/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The echo device class, host end (include/kvmbus/echo.h is the wire
 * format and its comment the spec):
 *
 * - INBAND with KVMBUS_PKT_F_COMP_REQUESTED: answered with a COMP packet,
 *   same trans_id, same payload.
 * - INBAND without it: consumed and counted.
 * - GPA with struct kvmbus_echo_gpa_req: every range is checked with
 *   guestmem_range() before any is touched; then SUM (64-bit sum of every
 *   byte read) or FILL (byte i of the ranges laid end to end = (seed + i)
 *   & 0xff), answered with a COMP carrying struct kvmbus_echo_gpa_resp.
 *   Status EFAULT for a range that is not guest RAM, E2BIG for more than
 *   ECHO_GPA_MAX_BYTES in all, EINVAL for a malformed request (range
 *   list, payload shorter than the request, unknown op).
 * - COMP: the echo host never asks for completions: malformed, dropped.
 * - Host-initiated (vsp_echo_send(), `kvmbusctl echo-send`): COUNT INBAND
 *   packets of SIZE bytes without a completion request; trans_id 1, 2, ...
 *   for each open of the channel; payload byte i = (trans_id + i) & 0xff.
 *
 * A reply that finds the host->guest ring full is kept (its payload stays
 * in the channel's receive buffer) and no further packet is taken until it
 * is sent: the guest's signal that it made room brings it out.
 */
#ifndef KVMBUSD_VSP_ECHO_H
#define KVMBUSD_VSP_ECHO_H

#include <stdint.h>

#include "chan.h"

/* Bytes one GPA request may read or write, all ranges together. */
#define ECHO_GPA_MAX_BYTES	(4u << 20)

extern const struct vsp_ops vsp_echo_ops;

/*
 * vsp_echo_send() - start sending @count INBAND packets of @size bytes
 * @ch: an open echo channel
 *
 * Nothing is sent here: the channel's next pass (chan_poll()) sends what
 * fits and the rest as the guest makes room.
 * Return: 0; -EINVAL for no packets; -EMSGSIZE for a packet that cannot
 * fit the host->guest ring; -EBUSY while an earlier send is not done;
 * -ENOTCONN when the channel is not open, -EIO when it is broken;
 * -ENOMEM.
 */
int vsp_echo_send(struct chan *ch, uint32_t count, uint32_t size);

/* Return: packets of the current send not yet in the ring. */
uint32_t vsp_echo_send_pending(const struct chan *ch);

#endif /* KVMBUSD_VSP_ECHO_H */
