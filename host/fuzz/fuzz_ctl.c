// SPDX-License-Identifier: GPL-2.0-only
/*
 * The control protocol as a hostile guest drives it: control messages go
 * to ctl_handle_msg() (the function ctl_poll() calls for every packet) or
 * through the guest->host ring and ctl_doorbell(); hot add and remove,
 * reconnects and resets are mixed in; the guest reads the host->guest ring
 * with the guest's own ring code.  Every reply must be a well-formed
 * host->guest message, and the device table and the reply queue must stay
 * consistent and bounded.
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

#include "fuzz_ops.h"
#include "ctl.h"
#include "guestmem.h"

#define PAGE		KVMBUS_PAGE_SIZE
#define RAM		(64u * PAGE)
#define VECTORS		6

struct fz {
	struct guestmem gm;
	struct kvmbus_bar_hdr hdr;
	struct bar bar;
	struct kvmbus_ring out, in;	/* the guest's rings */
	uint32_t gen, pages;
	uint8_t *ram;
	struct ctl c;
};

static int no_signal(void *opaque, unsigned int vector)
{
	(void)opaque;
	(void)vector;
	return 0;
}

static const struct ctl_ops ops = { .signal = no_signal };

static void guest_connect(struct fz *f)
{
	uint8_t *m = f->ram;
	uint32_t size = (f->pages - 1) * PAGE;

	kvmbus_ring_create(&f->out, (void *)m, m + PAGE, size);
	kvmbus_ring_create(&f->in, (void *)(m + f->pages * PAGE),
			   m + f->pages * PAGE + PAGE, size);
	f->hdr.ctl_ring_pages = cpu_to_le32(f->pages);
	f->hdr.ctl_gpa = 0;
	f->hdr.guest_generation = cpu_to_le32(++f->gen);
	f->hdr.guest_state = cpu_to_le32(KVMBUS_MBOX_CONNECT);
	ctl_doorbell(&f->c);
	if (f->c.state != CTL_ONLINE ||
	    le32_to_cpu(f->hdr.host_state) != KVMBUS_MBOX_ONLINE ||
	    le32_to_cpu(f->hdr.acked_generation) != f->gen)
		abort();
}

/* An echo device with @sub % 8 sub-channels allowed. */
static void add_echo(struct fz *f, uint8_t sub)
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
static void check(struct fz *f)
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
		    d->vector >= VECTORS || !d->id || d->id >= ds->next_id)
			abort();
		if (d->nr_subchannels > d->max_subchannels ||
		    (d->nr_subchannels && !d->sent))
			abort();
		for (j = 0; j < d->nr_subchannels; j++) {
			cs = devices_chan(ds, d->sub_relid[j]);
			if (!cs || cs->dev != d || cs->sub_index != j + 1 ||
			    !cs->vector || cs->vector >= VECTORS)
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

/* The guest reads what the host sent: only well-formed replies. */
static void guest_read(struct fz *f)
{
	static const uint8_t echo[] = KVMBUS_CLASS_ECHO_BYTES;
	uint64_t buf[1024 / 8];
	struct kvmbus_pkt_info pi;
	struct kvmbus_ctl_version_resp vr;
	struct kvmbus_ctl_offer o;
	struct kvmbus_ctl_subchannels_result sr;
	struct kvmbus_ctl_result res;
	struct kvmbus_ctl_relid r;
	struct kvmbus_ctl_hdr h;
	const uint8_t *msg;
	int n, ret;

	for (n = 0; n < 1000; n++) {
		ret = kvmbus_ring_get(&f->in, buf, sizeof(buf), &pi);
		if (ret == -EAGAIN)
			break;
		if (ret)
			abort();	/* the host wrote a bad packet */
		msg = (const uint8_t *)buf + pi.data_offset;
		if (pi.type != KVMBUS_PKT_INBAND || pi.data_len < sizeof(h))
			abort();
		memcpy(&h, msg, sizeof(h));
		switch (le32_to_cpu(h.type)) {
		case KVMBUS_CTL_VERSION_RESP:
			if (pi.data_len != sizeof(vr))
				abort();
			memcpy(&vr, msg, sizeof(vr));
			if (vr.version && (le32_to_cpu(vr.version) !=
					   KVMBUS_VERSION_1_0 ||
					   le32_to_cpu(vr.max_channels) != CHAN_MAX))
				abort();
			break;
		case KVMBUS_CTL_OFFER:
			if (pi.data_len != sizeof(o))
				abort();
			memcpy(&o, msg, sizeof(o));
			if (!o.relid || le32_to_cpu(o.relid) > CHAN_MAX ||
			    !o.vector || le16_to_cpu(o.vector) >= VECTORS ||
			    memcmp(o.class_id, echo, sizeof(echo)) ||
			    le32_to_cpu(o.data_len) > KVMBUS_OFFER_DATA_MAX ||
			    le16_to_cpu(o.max_subchannels) >
			    KVMBUS_MAX_SUBCHANNELS ||
			    !(le16_to_cpu(o.flags) & KVMBUS_OFFER_F_SUBCHANNEL) !=
			    !o.sub_index ||
			    le16_to_cpu(o.sub_index) >
			    le16_to_cpu(o.max_subchannels))
				abort();
			break;
		case KVMBUS_CTL_RESCIND:
			if (pi.data_len != sizeof(r))
				abort();
			memcpy(&r, msg, sizeof(r));
			if (!r.relid || le32_to_cpu(r.relid) > CHAN_MAX)
				abort();
			break;
		case KVMBUS_CTL_SUBCHANNELS_RESULT:
			if (pi.data_len != sizeof(sr))
				abort();
			memcpy(&sr, msg, sizeof(sr));
			if (le32_to_cpu(sr.status) >= 4096 ||
			    le32_to_cpu(sr.count) > KVMBUS_MAX_SUBCHANNELS)
				abort();
			break;
		case KVMBUS_CTL_ALL_OFFERS_DONE:
		case KVMBUS_CTL_UNLOAD_RESP:
			if (pi.data_len != sizeof(h))
				abort();
			break;
		case KVMBUS_CTL_GPADL_CREATED:
		case KVMBUS_CTL_GPADL_TORNDOWN:
		case KVMBUS_CTL_OPEN_RESULT:
		case KVMBUS_CTL_CLOSE_RESULT:
			/* GPADLs and channels: fuzz_gpadl goes deeper. */
			if (pi.data_len != sizeof(res))
				abort();
			memcpy(&res, msg, sizeof(res));
			if (le32_to_cpu(res.status) >= 4096)
				abort();	/* a positive errno */
			break;
		default:
			abort();
		}
	}
	/* A release that made the room the host waits for rings vector 0. */
	if (kvmbus_ring_release(&f->in))
		while (ctl_doorbell(&f->c))
			;
}

static void guest_send(struct fz *f, const uint8_t *msg, uint32_t len,
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

static void handle(struct fz *f, const uint8_t *msg, uint32_t len,
		   uint64_t tid)
{
	/* Like ctl_poll(): no request is taken while replies wait. */
	if (ctl_out_pending(&f->c))
		guest_read(f);
	if (ctl_out_pending(&f->c) || f->c.state != CTL_ONLINE)
		return;
	ctl_handle_msg(&f->c, msg, len, tid);
	ctl_send(&f->c);
}

static void mailbox(struct fz *f, uint8_t how)
{
	switch (how % 4) {
	case 0:			/* the guest reboots */
		guest_connect(f);
		break;
	case 1:			/* RESET */
		f->hdr.guest_state = cpu_to_le32(KVMBUS_MBOX_RESET);
		ctl_doorbell(&f->c);
		if (f->c.state != CTL_IDLE ||
		    le32_to_cpu(f->hdr.host_state) != KVMBUS_MBOX_IDLE)
			abort();
		guest_connect(f);
		break;
	case 2:			/* QEMU goes, a new one comes */
		ctl_disconnect(&f->c);
		memset(&f->hdr, 0, sizeof(f->hdr));
		f->gen = 0;
		guest_connect(f);
		break;
	default:		/* a doorbell for nothing */
		ctl_doorbell(&f->c);
		break;
	}
}

static void setup(struct fz *f, uint8_t flags)
{
	const struct kvmbus_ctl_version_req v = {
		.hdr.type = cpu_to_le32(KVMBUS_CTL_VERSION_REQ),
		.version_min = cpu_to_le32(KVMBUS_VERSION_1_0),
		.version_max = cpu_to_le32(KVMBUS_VERSION_1_0),
	};
	const struct kvmbus_ctl_hdr ro = {
		.type = cpu_to_le32(KVMBUS_CTL_REQUEST_OFFERS),
	};
	struct guestmem_layout l;
	unsigned int i;

	memset(f->ram, 0, RAM);
	memset(&f->hdr, 0, sizeof(f->hdr));
	if (guestmem_layout_fixed(RAM, RAM, &l))
		abort();
	guestmem_attach(&f->gm, f->ram, &l);
	f->bar = (struct bar){ .fd = -1, .hdr = &f->hdr, .size = 4096,
			       .nr_vectors = VECTORS };
	ctl_init(&f->c, &f->bar, &f->gm, VECTORS, &ops, NULL);
	f->gen = 0;
	f->pages = 2 + ((flags >> 2) & 3);
	for (i = 0; i < ((flags >> 4) & 7u); i++)
		add_echo(f, (uint8_t)(i + 1));
	guest_connect(f);
	if (flags & 1)
		guest_send(f, (const uint8_t *)&v, sizeof(v), 1);
	if (flags & 2)
		guest_send(f, (const uint8_t *)&ro, sizeof(ro), 2);
	check(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz *f;
	struct device gone;
	uint64_t tid = 100;
	uint32_t len;
	uint8_t op;

	if (!f) {
		/* Guest-triggered warnings are the point here: keep quiet. */
		log_init("fuzz_ctl", LOG_TO_STDERR, LOG_ERR);
		f = calloc(1, sizeof(*f));
		if (!f)
			abort();
		f->ram = malloc(RAM);
		if (!f->ram)
			abort();
	}
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
			guest_read(f);
			break;
		default:
			mailbox(f, len ? data[0] : 0);
			break;
		}
		check(f);
		data += len;
		size -= len;
	}
	guest_read(f);
	check(f);
	/* GPADLs the guest described are heap memory: nothing may leak
	 * into the next input. */
	ctl_disconnect(&f->c);
	if (f->c.gpadls.count)
		abort();
	return 0;
}
