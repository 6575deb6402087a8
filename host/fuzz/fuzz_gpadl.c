// SPDX-License-Identifier: GPL-2.0-only
/*
 * GPADL and OPEN / CLOSE message sequences as a hostile guest sends them:
 * every message goes to ctl_handle_msg() (what ctl_poll() calls for every
 * control packet), mixed with doorbells on the channel vectors, guest
 * writes anywhere in its RAM (ring headers included), unload, reset,
 * reconnect, QEMU leaving, hot add and remove.  The host's replies must be
 * well-formed, and its GPADL table, channels and views must stay
 * consistent and bounded (fuzz_guest.h: fg_check()).
 *
 * Input: one setup byte (devices 1..3), then records
 * [op][len lo][len hi][len bytes]:
 *	op % 10: 0 raw GPADL_CREATE, 1 raw GPADL_BODY (the bytes after the
 *	type), 2 CREATE and 3 BODY built from the bytes (small ids, runs in
 *	and around guest RAM), 4 GPADL_TEARDOWN, 5 OPEN, 6 CLOSE, 7 the
 *	guest writes into its RAM, 8 doorbell, 9 lifecycle.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_ops.h"
#include "fuzz_guest.h"

/* A page a guest might name: its RAM, the edges of the hole, beyond. */
static uint64_t pick_pfn(uint8_t sel, uint8_t off)
{
	switch (sel % 8) {
	case 0:
	case 1:
	case 2:
		return 6 + off % (FG_LOW_PAGES - 6);	/* low, past the
							 * control rings */
	case 3:
	case 4:
		return FG_HIGH_PFN + off % FG_HIGH_PAGES;
	case 5:
		return FG_LOW_PAGES - 1 + off % 3;	/* the hole's edge */
	case 6:
		return FG_HIGH_PFN + FG_HIGH_PAGES - 1 + off % 3;	/* the end */
	default:
		return (uint64_t)off << 56 | off;	/* far out, or wrapping */
	}
}

/* CREATE or BODY from the bytes: [id][total][sel off nr]... */
static void gpadl_built(struct fg *f, uint32_t type, const uint8_t *d,
			uint32_t len)
{
	uint8_t msg[sizeof(struct kvmbus_ctl_gpadl) +
		    KVMBUS_CTL_GPADL_MAX_RANGES * sizeof(struct kvmbus_pfn_range)];
	struct kvmbus_ctl_gpadl m = { .hdr.type = cpu_to_le32(type) };
	struct kvmbus_pfn_range r = { 0 };
	uint32_t nr = 0;

	if (len >= 2) {
		m.gpadl_id = cpu_to_le32(d[0] % 8);
		m.total_pages = cpu_to_le32(d[1] % 24);
		d += 2;
		len -= 2;
	}
	while (len >= 3 && nr < KVMBUS_CTL_GPADL_MAX_RANGES) {
		r.pfn = cpu_to_le64(pick_pfn(d[0], d[1]));
		r.nr_pages = cpu_to_le32(d[2] % 5);
		memcpy(msg + sizeof(m) + nr * sizeof(r), &r, sizeof(r));
		nr++;
		d += 3;
		len -= 3;
	}
	m.nr_ranges = cpu_to_le32(nr);
	memcpy(msg, &m, sizeof(m));
	fg_msg(f, msg, sizeof(m) + nr * sizeof(r));
}

/* A message of @type whose body is the input's bytes. */
static void raw(struct fg *f, uint32_t type, const uint8_t *d, uint32_t len)
{
	uint8_t msg[1100];
	struct kvmbus_ctl_hdr h = { .type = cpu_to_le32(type) };

	if (len > sizeof(msg) - sizeof(h))
		len = sizeof(msg) - sizeof(h);
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + sizeof(h), d, len);
	fg_msg(f, msg, sizeof(h) + len);
}

static uint8_t byte(const uint8_t *d, uint32_t len, uint32_t i)
{
	return i < len ? d[i] : 0;
}

static void relid_msg(struct fg *f, uint32_t type, uint32_t relid)
{
	struct kvmbus_ctl_relid m = {
		.hdr.type = cpu_to_le32(type),
		.relid = cpu_to_le32(relid),
	};

	fg_msg(f, &m, sizeof(m));
}

static void lifecycle(struct fg *f, const uint8_t *d, uint32_t len)
{
	const struct kvmbus_ctl_hdr unload = {
		.type = cpu_to_le32(KVMBUS_CTL_UNLOAD),
	};
	struct device gone, *dev;
	uint32_t id = byte(d, len, 1) % 4 + 1;

	switch (byte(d, len, 0) % 7) {
	case 0:
		fg_msg(f, &unload, sizeof(unload));
		fg_negotiate(f);
		break;
	case 1:			/* RESET, then a new connect */
		fg_mbox_reset(f);
		fg_connect(f);
		fg_negotiate(f);
		break;
	case 2:			/* a reboot */
		fg_connect(f);
		fg_negotiate(f);
		break;
	case 3:			/* QEMU goes, a new one comes */
		fg_new_qemu(f);
		fg_connect(f);
		fg_negotiate(f);
		break;
	case 4:			/* hot remove; the guest answers or not */
		if (!ctl_device_remove(&f->c, id, &gone) &&
		    gone.state == DEV_RELEASING && byte(d, len, 2) & 1) {
			relid_msg(f, KVMBUS_CTL_CLOSE, gone.relid);
			relid_msg(f, KVMBUS_CTL_RELID_RELEASED, gone.relid);
		}
		break;
	case 5:
		ctl_device_add(&f->c, dev_class_find("echo"), &dev);
		fg_drain(f);
		break;
	default:		/* the control ring breaks */
		f->out.hdr->write_index = cpu_to_le32(4);
		ctl_doorbell(&f->c);
		fg_connect(f);
		fg_negotiate(f);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fg *f = fg_get("fuzz_gpadl");
	struct kvmbus_ctl_gpadl_teardown t = {
		.hdr.type = cpu_to_le32(KVMBUS_CTL_GPADL_TEARDOWN),
	};
	struct kvmbus_ctl_open o = {
		.hdr.type = cpu_to_le32(KVMBUS_CTL_OPEN),
	};
	uint32_t len, off;
	uint8_t op;

	if (size < 1)
		return 0;
	fg_reset(f, 1 + data[0] % 3);
	data++;
	size--;

	while (fuzz_op_header(&data, &size, &op, &len)) {
		switch (op % 10) {
		case 0:
			raw(f, KVMBUS_CTL_GPADL_CREATE, data, len);
			break;
		case 1:
			raw(f, KVMBUS_CTL_GPADL_BODY, data, len);
			break;
		case 2:
			gpadl_built(f, KVMBUS_CTL_GPADL_CREATE, data, len);
			break;
		case 3:
			gpadl_built(f, KVMBUS_CTL_GPADL_BODY, data, len);
			break;
		case 4:
			t.gpadl_id = cpu_to_le32(byte(data, len, 0) % 8);
			fg_msg(f, &t, sizeof(t));
			break;
		case 5:
			o.relid = cpu_to_le32(byte(data, len, 0) % 5);
			o.ring_gpadl = cpu_to_le32(byte(data, len, 1) % 8);
			o.g2h_pages = cpu_to_le32(byte(data, len, 2) % 12);
			memcpy(o.data, data, len < sizeof(o.data) ? len :
			       sizeof(o.data));
			fg_msg(f, &o, sizeof(o));
			break;
		case 6:
			relid_msg(f, KVMBUS_CTL_CLOSE, byte(data, len, 0) % 5);
			break;
		case 7:		/* anywhere, the control rings excepted */
			f->strict = false;
			off = (byte(data, len, 0) | byte(data, len, 1) << 8 |
			       (uint32_t)byte(data, len, 2) << 16) %
			      (FG_RAM - 2 * FG_CTL_PAGES * FG_PAGE);
			off += 2 * FG_CTL_PAGES * FG_PAGE;
			if (len > 3) {
				uint32_t n = len - 3;

				if (n > FG_RAM - off)
					n = FG_RAM - off;
				memcpy(f->gm.base + off, data + 3, n);
			}
			fg_serve(f, 1 + off % (FG_VECTORS - 1));
			break;
		case 8:
			fg_serve(f, byte(data, len, 0) % FG_VECTORS);
			break;
		default:
			lifecycle(f, data, len);
			break;
		}
		fg_check(f);
		data += len;
		size -= len;
	}
	fg_done(f);
	return 0;
}
