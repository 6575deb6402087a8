/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A hostile host, for testing the guest (tests/guest/hostile_host.sh):
 * kvmbusd --test accepts two control-socket commands that break the
 * protocol on purpose.  Without --test kvmbusd refuses them.
 *
 * evil-offer MODE: one OFFER on the control ring that the guest must
 * refuse (or, for a class nobody drives, keep as an unbound device):
 *
 *   relid0         relid 0
 *   vector_big     a vector beyond the device's
 *   vector0        the control vector
 *   data_len       class data longer than the offer carries
 *   short          a message shorter than an offer
 *   dup_relid      the relid of a live device (device ID, or the first)
 *   unknown_class  a class no driver knows, relid EVIL_RELID
 *   sub_unknown    a sub-channel of a primary that does not exist
 *   sub_index_big  a sub-channel of a live device (ID, or the first)
 *                  with an index beyond its max_subchannels
 *
 * echo-evil ID MODE: echo device ID's open channel gets garbage in its
 * host->guest ring, committed and signalled at once; the channel is then
 * broken on the host side too (kvmbusd never writes its ring again),
 * except for unknown_tid:
 *
 *   wr_unaligned   a write index that is not a multiple of 8
 *   wr_past        a write index beyond the ring
 *   len_past       a descriptor longer than the ring
 *   bad_offset     a data offset inside the descriptor
 *   bad_type       an unknown packet type
 *   bad_trailer    a trailer naming another start offset
 *   unknown_tid    a well-formed completion for a trans_id never sent
 *
 * evil-drop MODE: the next such request from the guest is dropped and
 * never answered, as by a host that hangs or loses it:
 *
 *   gpadl          GPADL_CREATE
 *   open           OPEN
 */
#ifndef KVMBUSD_EVIL_H
#define KVMBUSD_EVIL_H

#include "ctl.h"

struct json_object;

/* The relids of unknown_class and the sub-channels: beyond any relid of ours
 * (CHAN_MAX), so they never collide with a granted sub-channel. */
#define EVIL_RELID		100000u

/* Control-socket commands; Return: 0 or -errno (with resp's error). */
int evil_cmd_offer(struct ctl *c, struct json_object *req,
		   struct json_object *resp);
int evil_cmd_echo(struct ctl *c, struct json_object *req,
		  struct json_object *resp);
int evil_cmd_drop(struct ctl *c, struct json_object *req,
		  struct json_object *resp);

/*
 * evil_echo() - garbage into an open channel's host->guest ring
 * Return: 0; -EINVAL for an unknown @mode, -ENOTCONN for a channel that is
 * not open, -EAGAIN when the ring has no room for the packet to spoil.
 */
int evil_echo(struct chan *ch, const char *mode);

#endif /* KVMBUSD_EVIL_H */
