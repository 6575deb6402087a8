// SPDX-License-Identifier: GPL-2.0-only
/*
 * The control protocol as a hostile guest drives it: control messages go
 * to ctl_handle_msg() (the function ctl_poll() calls for every packet) or
 * through the guest->host ring and ctl_doorbell(); hot add and remove,
 * reconnects and resets are mixed in; the guest reads the host->guest ring
 * with the guest's own ring code.  Every reply must be a well-formed
 * host->guest message, and the device table and the reply queue must stay
 * consistent and bounded.  The guest, its RAM and the check of every reply
 * are fuzz_guest.h's (shared with fuzz_gpadl and fuzz_echo).
 *
 * Input: one setup byte, then records [op][len lo][len hi][len bytes].
 *	setup bit 0: negotiate version 1.0 first; bit 1: then ask for offers;
 *	bits 2-3: 2..5 pages per control ring; bits 4-6: 0..7 devices.
 *	op % 8: 0-2 message to ctl_handle_msg(), 3 message through the ring,
 *	4 hot add, 5 hot remove (id: first payload byte), 6 guest reads the
 *	host->guest ring, 7 mailbox: reconnect, reset or QEMU gone.
 */
#include <errno.h>
#include <json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FG_VECTORS	6u		/* before fuzz_guest.h: vectors 1..5 */

#include "fuzz_guest.h"
#include "fuzz_ops.h"

/* An echo device with @sub % 8 sub-channels allowed. */
static void add_echo(struct fg *f, uint8_t sub)
{
	struct json_object *p = json_object_new_object();
	struct device *dev;
	char n[4];

	snprintf(n, sizeof(n), "%u", sub % 8u);
	json_object_object_add(p, "subchannels", json_object_new_string(n));
	ctl_device_add_params(&f->c, dev_class_find("echo"), p, NULL, 0, &dev);
	json_object_put(p);
}

/* Everything the host holds must add up. */
static void check(struct fg *f)
{
	const struct devices *ds = &f->c.devs;
	unsigned int i, j, live = 0, users = 0, chans = 0;
	const struct chan_slot *cs;

	if (f->c.outq_len > CTL_OUTQ_LEN || f->c.outq_head >= CTL_OUTQ_LEN)
		abort();
	for (i = 0; i < DEV_MAX; i++) {
		const struct device *d = &ds->slot[i];

		if (d->state == DEV_FREE)
			continue;
		live++;
		cs = devices_chan(ds, d->relid);
		if (!cs || cs->dev != d || cs->sub_index ||
		    cs->vector != d->vector || !d->vector ||
		    d->vector >= FG_VECTORS || !d->id || d->id >= ds->next_id)
			abort();
		if (d->nr_subchannels > d->max_subchannels ||
		    (d->nr_subchannels && !d->sent))
			abort();
		for (j = 0; j < d->nr_subchannels; j++) {
			cs = devices_chan(ds, d->sub_relid[j]);
			if (!cs || cs->dev != d || cs->sub_index != j + 1 ||
			    !cs->vector || cs->vector >= FG_VECTORS)
				abort();
		}
		chans += 1 + d->nr_subchannels;
		if (d->state == DEV_RELEASING && !d->sent)
			abort();
		if (f->c.state == CTL_IDLE &&
		    (d->sent || d->state != DEV_OFFERED))
			abort();
	}
	for (i = 0; i < KVMBUS_MAX_VECTORS; i++)
		users += ds->vec_users[i];
	for (i = 0, j = 0; i < CHAN_MAX; i++)
		j += ds->chan[i].dev != NULL;
	if (live != ds->count || users != chans || chans != ds->nr_chans ||
	    j != chans || ds->vec_users[0])
		abort();
	if (f->c.state == CTL_IDLE && (f->c.version || f->c.outq_len))
		abort();
}

static void guest_send(struct fg *f, const uint8_t *msg, uint32_t len,
		       uint64_t tid)
{
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.trans_id = tid,
		.data = msg,
		.data_len = len,
	};

	if (kvmbus_ring_put(&f->out, &p))
		return;		/* full: the guest would wait */
	kvmbus_ring_commit(&f->out);
	while (ctl_doorbell(&f->c))
		;
}

static void handle(struct fg *f, const uint8_t *msg, uint32_t len,
		   uint64_t tid)
{
	/* Like ctl_poll(): no request is taken while replies wait. */
	if (ctl_out_pending(&f->c))
		fg_read(f);
	if (ctl_out_pending(&f->c) || f->c.state != CTL_ONLINE)
		return;
	ctl_handle_msg(&f->c, msg, len, tid);
	ctl_send(&f->c);
}

static void mailbox(struct fg *f, uint8_t how)
{
	switch (how % 4) {
	case 0:			/* the guest reboots */
		fg_connect(f);
		break;
	case 1:			/* RESET */
		fg_mbox_reset(f);
		fg_connect(f);
		break;
	case 2:			/* QEMU goes, a new one comes */
		fg_new_qemu(f);
		fg_connect(f);
		break;
	default:		/* a doorbell for nothing */
		ctl_doorbell(&f->c);
		break;
	}
}

static void setup(struct fg *f, uint8_t flags)
{
	const struct kvmbus_ctl_version_req v = {
		.hdr.type = cpu_to_le32(KVMBUS_CTL_VERSION_REQ),
		.version_min = cpu_to_le32(KVMBUS_VERSION_1_0),
		.version_max = cpu_to_le32(KVMBUS_VERSION_1_0),
	};
	const struct kvmbus_ctl_hdr ro = {
		.type = cpu_to_le32(KVMBUS_CTL_REQUEST_OFFERS),
	};
	unsigned int i;

	fg_init(f);
	f->ctl_pages = 2 + ((flags >> 2) & 3);
	for (i = 0; i < ((flags >> 4) & 7u); i++)
		add_echo(f, (uint8_t)(i + 1));
	fg_connect(f);
	if (flags & 1)
		guest_send(f, (const uint8_t *)&v, sizeof(v), 1);
	if (flags & 2)
		guest_send(f, (const uint8_t *)&ro, sizeof(ro), 2);
	check(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fg *f = fg_get("fuzz_ctl");
	struct device gone;
	uint64_t tid = 100;
	uint32_t len;
	uint8_t op;

	if (size < 1)
		return 0;
	setup(f, data[0]);
	data++;
	size--;

	while (fuzz_op_header(&data, &size, &op, &len)) {
		switch (op % 8) {
		case 0:
		case 1:
		case 2:
			handle(f, data, len, tid++);
			break;
		case 3:
			guest_send(f, data, len, tid++);
			break;
		case 4:
			add_echo(f, len ? data[0] : 0);
			break;
		case 5:
			ctl_device_remove(&f->c, len ? data[0] : 0, &gone);
			break;
		case 6:
			fg_read(f);
			break;
		default:
			mailbox(f, len ? data[0] : 0);
			break;
		}
		check(f);
		data += len;
		size -= len;
	}
	fg_read(f);
	check(f);
	/* GPADLs the guest described are heap memory: nothing may leak
	 * into the next input. */
	fg_done(f);
	return 0;
}
