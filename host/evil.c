// SPDX-License-Identifier: GPL-2.0-only
/*
 * A hostile host for guest tests: see evil.h.  Nothing here runs unless
 * kvmbusd was started with --test.
 */
#include <errno.h>
#include <inttypes.h>
#include <json.h>
#include <string.h>

#include "control.h"
#include "evil.h"
#include "vsp_echo.h"

/* --- offers --------------------------------------------------------------- */

static const struct device *evil_live_device(struct ctl *c, int64_t id)
{
	unsigned int i;

	if (id > 0 && id <= UINT32_MAX)
		return devices_by_id(&c->devs, (uint32_t)id);
	for (i = 0; i < DEV_MAX; i++)
		if (c->devs.slot[i].state == DEV_OFFERED && c->devs.slot[i].sent)
			return &c->devs.slot[i];
	return NULL;
}

/* Return: the message length, or 0 for an unknown mode. */
static uint32_t evil_make_offer(const char *mode, const struct device *dev,
				struct kvmbus_ctl_offer *o)
{
	memset(o, 0, sizeof(*o));
	o->hdr.type = cpu_to_le32(KVMBUS_CTL_OFFER);
	o->relid = cpu_to_le32(EVIL_RELID);
	o->vector = cpu_to_le16(dev->vector);
	memcpy(o->class_id, dev->cls->class_id, sizeof(o->class_id));
	memset(o->instance_id, 0xe1, sizeof(o->instance_id));

	if (!strcmp(mode, "relid0"))
		o->relid = 0;
	else if (!strcmp(mode, "vector_big"))
		o->vector = cpu_to_le16(0xffff);
	else if (!strcmp(mode, "vector0"))
		o->vector = cpu_to_le16(KVMBUS_CTL_VECTOR);
	else if (!strcmp(mode, "data_len"))
		o->data_len = cpu_to_le32(KVMBUS_OFFER_DATA_MAX + 1);
	else if (!strcmp(mode, "short"))
		return sizeof(o->hdr) + 8;
	else if (!strcmp(mode, "dup_relid"))
		o->relid = cpu_to_le32(dev->relid);
	else if (!strcmp(mode, "unknown_class"))
		memset(o->class_id, 0xee, sizeof(o->class_id));
	else if (!strcmp(mode, "sub_unknown")) {
		o->relid = cpu_to_le32(EVIL_RELID + 1);
		o->flags = cpu_to_le16(KVMBUS_OFFER_F_SUBCHANNEL);
		o->sub_index = cpu_to_le16(1);
	} else if (!strcmp(mode, "sub_index_big")) {
		/* A sub-channel of a live primary, past the ones it allows. */
		o->relid = cpu_to_le32(EVIL_RELID + 2);
		o->flags = cpu_to_le16(KVMBUS_OFFER_F_SUBCHANNEL);
		o->sub_index = cpu_to_le16(dev->max_subchannels + 1);
		memcpy(o->instance_id, dev->instance_id,
		       sizeof(o->instance_id));
	} else
		return 0;
	return sizeof(*o);
}

static const char *evil_str(struct json_object *req, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(req, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int64_t evil_int(struct json_object *req, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(req, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return -1;
	return json_object_get_int64(v);
}

int evil_cmd_offer(struct ctl *c, struct json_object *req,
		   struct json_object *resp)
{
	const char *mode = evil_str(req, "mode");
	const struct device *dev;
	struct kvmbus_ctl_offer o;
	uint32_t len;
	int ret;

	if (!mode)
		return control_fail(resp, -EINVAL,
				    "evil-offer needs a \"mode\" string");
	dev = evil_live_device(c, evil_int(req, "id"));
	if (!dev)
		return control_fail(resp, -ENOENT,
				    "no device the guest knows to base the offer on");
	len = evil_make_offer(mode, dev, &o);
	if (!len)
		return control_fail(resp, -EINVAL,
				    "unknown evil-offer mode \"%.32s\"", mode);
	ret = ctl_send_raw(c, &o, len);
	if (ret)
		return control_fail(resp, ret, "not sent: %s", strerror(-ret));
	log_warn("--test: sent a hostile OFFER (%s) based on device %u",
		 mode, dev->id);
	json_object_object_add(resp, "sent", json_object_new_string(mode));
	return 0;
}

/* --- the host->guest ring of an echo channel ------------------------------ */

/* Copy @len bytes into the ring at @pos, wrapping. */
static void evil_ring_write(struct kvmbus_ring *r, uint32_t pos,
			    const void *p, uint32_t len)
{
	uint32_t first = len < r->size - pos ? len : r->size - pos;

	memcpy(r->data + pos, p, first);
	memcpy(r->data, (const uint8_t *)p + first, len - first);
}

/* Put a valid 8-byte INBAND packet, then spoil its framing per @mode. */
static int evil_frame(struct chan *ch, const char *mode)
{
	struct kvmbus_ring *r = &ch->tx;
	uint64_t payload = 0;
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.trans_id = 0x4556494c,
		.data = &payload,
		.data_len = sizeof(payload),
	};
	struct kvmbus_pkt_trailer t;
	struct kvmbus_pkt_desc d;
	uint32_t pos = r->wr;

	if (kvmbus_ring_put(r, &p))
		return -EAGAIN;
	memset(&d, 0, sizeof(d));
	d.type = cpu_to_le16(KVMBUS_PKT_INBAND);
	d.data_offset = cpu_to_le16(sizeof(d));
	d.total_len = cpu_to_le32(sizeof(d) + sizeof(payload));
	d.data_len = cpu_to_le32(sizeof(payload));
	d.trans_id = cpu_to_le64(p.trans_id);
	t.start = cpu_to_le32(pos);
	t.reserved = 0;
	if (!strcmp(mode, "len_past")) {
		d.total_len = cpu_to_le32(2 * r->size);
		d.data_len = cpu_to_le32(2 * r->size - sizeof(d));
	} else if (!strcmp(mode, "bad_offset")) {
		d.data_offset = cpu_to_le16(8);
	} else if (!strcmp(mode, "bad_type")) {
		d.type = cpu_to_le16(0x7777);
	} else {
		t.start = cpu_to_le32(pos + 8);
	}
	evil_ring_write(r, pos, &d, sizeof(d));
	evil_ring_write(r, (pos + sizeof(d) + sizeof(payload)) % r->size, &t,
			sizeof(t));
	return 0;
}

int evil_echo(struct chan *ch, const char *mode)
{
	struct kvmbus_ring *r = &ch->tx;
	uint64_t payload = 0x0123456789abcdefull;
	struct kvmbus_ring_pkt comp = {
		.type = KVMBUS_PKT_COMP,
		.trans_id = 0xdeadbeef00ull,
		.data = &payload,
		.data_len = sizeof(payload),
	};
	bool unknown_tid = !strcmp(mode, "unknown_tid");
	int ret = 0;

	if (chan_state_get(ch) != CHAN_OPEN)
		return -ENOTCONN;
	if (!strcmp(mode, "wr_unaligned"))
		r->wr = (r->wr + 13) % r->size;
	else if (!strcmp(mode, "wr_past"))
		r->wr = r->size + 8;
	else if (!strcmp(mode, "len_past") || !strcmp(mode, "bad_offset") ||
		 !strcmp(mode, "bad_type") || !strcmp(mode, "bad_trailer"))
		ret = evil_frame(ch, mode);
	else if (unknown_tid)
		ret = chan_send(ch, &comp) ? -EAGAIN : 0;
	else
		return -EINVAL;
	if (ret)
		return ret;
	/* Publish now and make sure the guest looks. */
	r->signal_owed = true;
	if (kvmbus_ring_commit(r) && ch->env->signal)
		ch->env->signal(ch->env->opaque, ch->vector);
	/* Garbage indices must never be used by kvmbusd itself. */
	if (!unknown_tid)
		chan_break(ch, "echo-evil (kvmbusd --test) spoiled the host->guest ring on purpose");
	return 0;
}

int evil_cmd_echo(struct ctl *c, struct json_object *req,
		  struct json_object *resp)
{
	const char *mode = evil_str(req, "mode");
	int64_t id = evil_int(req, "id");
	struct device *dev = NULL;
	struct chan *ch;
	int ret;

	if (id > 0 && id <= UINT32_MAX)
		dev = devices_by_id(&c->devs, (uint32_t)id);
	if (!dev)
		return control_fail(resp, -ENOENT, "no device %lld",
				    (long long)id);
	if (dev->cls->vsp != &vsp_echo_ops)
		return control_fail(resp, -EINVAL,
				    "device %u is not an echo device", dev->id);
	if (!mode)
		return control_fail(resp, -EINVAL,
				    "echo-evil needs a \"mode\" string");
	ch = ctl_chan_of(c, dev);
	/* The worker (if any) is out of the channel while we hold this. */
	chan_lock(ch);
	ret = evil_echo(ch, mode);
	chan_unlock(ch);
	if (ret == -EINVAL)
		return control_fail(resp, ret, "unknown echo-evil mode \"%.32s\"",
				    mode);
	if (ret)
		return control_fail(resp, ret, "device %u: %s", dev->id,
				    strerror(-ret));
	log_warn("--test: echo-evil %s on device %u (relid %u)", mode, dev->id,
		 dev->relid);
	json_object_object_add(resp, "sent", json_object_new_string(mode));
	return 0;
}

/* --- requests left unanswered --------------------------------------------- */

int evil_cmd_drop(struct ctl *c, struct json_object *req,
		  struct json_object *resp)
{
	const char *mode = evil_str(req, "mode");
	struct json_object *v;
	int64_t skip = 0;
	uint32_t type;

	if (!mode)
		return control_fail(resp, -EINVAL,
				    "evil-drop needs a \"mode\" string");
	if (json_object_object_get_ex(req, "skip", &v)) {
		skip = evil_int(req, "skip");
		if (skip < 0 || skip > 1000)
			return control_fail(resp, -EINVAL,
					    "evil-drop: \"skip\" must be 0..1000");
	}
	if (!strcmp(mode, "gpadl"))
		type = KVMBUS_CTL_GPADL_CREATE;
	else if (!strcmp(mode, "open"))
		type = KVMBUS_CTL_OPEN;
	else
		return control_fail(resp, -EINVAL,
				    "unknown evil-drop mode \"%.32s\"", mode);
	c->evil_drop = type;
	c->evil_drop_skip = (uint32_t)skip;
	log_warn("--test: the guest's %s request after the next %" PRId64
		 " goes unanswered", mode, skip);
	json_object_object_add(resp, "armed", json_object_new_string(mode));
	json_object_object_add(resp, "skip", json_object_new_int64(skip));
	return 0;
}
