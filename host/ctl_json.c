// SPDX-License-Identifier: GPL-2.0-only
/*
 * Control-socket commands of the control plane.
 */
#include <errno.h>
#include <json.h>
#include <stdio.h>
#include <string.h>

#include "control.h"
#include "ctl_json.h"
#include "vsp_balloon.h"
#include "vsp_echo.h"

static struct json_object *json_u64(uint64_t v)
{
	return json_object_new_uint64(v);
}

static void add(struct json_object *o, const char *key, struct json_object *v)
{
	json_object_object_add(o, key, v);
}

static void add_uuid(struct json_object *o, const char *key,
		     const uint8_t *u)
{
	char s[DEV_UUID_STR_LEN];

	uuid_format(u, s);
	add(o, key, json_object_new_string(s));
}

static void add_counters(const struct ctl *c, struct json_object *o)
{
	const struct ctl_stats *st = &c->stats;
	const struct gpadls *gs = &c->gpadls;
	const struct chan_env *env = &c->chan_env;
	struct json_object *n = json_object_new_object();

	add(n, "packets_in", json_u64(st->pkts_in));
	add(n, "packets_out", json_u64(st->pkts_out));
	add(n, "malformed", json_u64(st->malformed));
	add(n, "unsupported", json_u64(st->unsupported));
	add(n, "unexpected", json_u64(st->unexpected));
	add(n, "signals", json_u64(st->signals));
	add(n, "signal_errors", json_u64(st->signal_errors));
	add(n, "ring_full", json_u64(st->ring_full));
	add(n, "connects", json_u64(st->connects));
	add(n, "reconnects", json_u64(st->reconnects));
	add(n, "refused", json_u64(st->refused));
	add(n, "resets", json_u64(st->resets));
	add(n, "broken", json_u64(st->broken));
	add(n, "gpadls_created", json_u64(gs->stats.created));
	add(n, "gpadls_failed", json_u64(gs->stats.failed));
	add(n, "gpadls_torn_down", json_u64(gs->stats.torn_down));
	add(n, "gpadl_teardowns_failed", json_u64(gs->stats.teardown_failed));
	add(n, "gpadl_bodies_ignored", json_u64(gs->stats.ignored));
	add(n, "opens", json_u64(st->opens));
	add(n, "open_failed", json_u64(st->open_failed));
	add(n, "closes", json_u64(st->closes));
	add(n, "subchannels_granted", json_u64(st->subchannels));
	add(n, "closed_by_host", json_u64(st->chan_closed_by_host));
	add(n, "channels_broken",
	    json_u64(__atomic_load_n(&env->broken, __ATOMIC_RELAXED)));
	add(n, "workers", json_u64(env->workers));
	add(n, "max_workers", json_u64(env->max_workers));
	add(n, "workers_started", json_u64(env->workers_started));
	add(n, "worker_fallbacks", json_u64(env->worker_fallbacks));
	add(o, "counters", n);
}

static struct json_object *chan_json(const struct chan *ch);

static unsigned int ctl_chans_in(const struct ctl *c, enum chan_state state)
{
	unsigned int i, n = 0;

	for (i = 0; i < CHAN_MAX; i++)
		n += chan_state_get(&c->chans[i]) == state;
	return n;
}

/* The channels open (or broken) now, each with its relid. */
static struct json_object *ctl_chans_json(const struct ctl *c)
{
	struct json_object *list = json_object_new_array();
	struct json_object *o;
	unsigned int i;

	for (i = 0; i < CHAN_MAX; i++) {
		if (!chan_in_use(&c->chans[i]))
			continue;
		o = chan_json(&c->chans[i]);
		add(o, "relid", json_u64(c->chans[i].relid));
		json_object_array_add(list, o);
	}
	return list;
}

void ctl_status_json(const struct ctl *c, struct json_object *resp)
{
	struct json_object *o = json_object_new_object();
	struct json_object *mb = json_object_new_object();
	char ver[16];

	add(o, "state", json_object_new_string(ctl_state_name(c->state)));
	add(o, "host_state", json_object_new_string(c->answered ?
		bar_state_name(c->answered_state) : "idle"));
	add(o, "generation", json_u64(c->generation));
	add(o, "acked_generation", json_u64(c->answered ? c->answered_gen : 0));
	add(o, "host_error", json_u64(c->host_error));
	add(o, "version", json_u64(c->version));
	snprintf(ver, sizeof(ver), "%u.%u", c->version >> 16,
		 c->version & 0xffff);
	add(o, "version_str", json_object_new_string(c->version ? ver : ""));
	add(o, "features", json_u64(c->features));
	add(o, "offers_requested", json_object_new_boolean(c->offers_requested));
	if (c->state == CTL_BROKEN && c->broken_why)
		add(o, "broken_reason", json_object_new_string(c->broken_why));
	add(o, "devices", json_u64(c->devs.count));
	add(o, "max_devices", json_u64(DEV_MAX));
	add(o, "channels_allocated", json_u64(c->devs.nr_chans));
	add(o, "max_channels", json_u64(CHAN_MAX));
	add(o, "replies_queued", json_u64(c->outq_len));
	add(o, "channels_open", json_u64(ctl_chans_in(c, CHAN_OPEN)));
	add(o, "channels_broken", json_u64(ctl_chans_in(c, CHAN_BROKEN)));
	add(o, "gpadls", json_u64(c->gpadls.count));
	add(o, "gpadl_pages", json_u64(c->gpadls.pages));
	add(o, "max_gpadls", json_u64(GPADL_MAX));
	add_counters(c, o);
	add(o, "channels", ctl_chans_json(c));
	add(resp, "ctl", o);

	/* The last CONNECT accepted, as in earlier versions. */
	add(mb, "state", json_object_new_string(bar_state_name(c->mbox.state)));
	add(mb, "ring_pages", json_u64(c->mbox.ring_pages));
	add(mb, "ctl_gpa", json_u64(c->mbox.ctl_gpa));
	add(mb, "generation", json_u64(c->mbox.generation));
	add(mb, "rejected", json_u64(c->stats.mbox_rejected));
	add(resp, "mailbox", mb);
}

/* Under chan_lock(): a worker may be running the channel. */
static struct json_object *chan_json_locked(const struct chan *ch)
{
	const struct chan_stats *st = &ch->stats;
	struct json_object *o = json_object_new_object();
	struct json_object *n = json_object_new_object();

	add(o, "state", json_object_new_string(chan_state_name(ch->state)));
	add(o, "threaded", json_object_new_boolean(ch->worker != NULL));
	if (ch->state == CHAN_BROKEN && ch->broken_why)
		add(o, "broken_reason", json_object_new_string(ch->broken_why));
	add(o, "gpadl", json_u64(ch->gpadl_id));
	add(o, "g2h_pages", json_u64(ch->g2h_pages));
	add(o, "h2g_pages", json_u64(ch->h2g_pages));
	add(n, "packets_in", json_u64(st->pkts_in));
	add(n, "bytes_in", json_u64(st->bytes_in));
	add(n, "packets_out", json_u64(st->pkts_out));
	add(n, "bytes_out", json_u64(st->bytes_out));
	add(n, "completions", json_u64(st->completions));
	add(n, "signals", json_u64(st->signals));
	add(n, "signal_errors", json_u64(st->signal_errors));
	add(n, "doorbells", json_u64(st->doorbells));
	add(n, "malformed", json_u64(st->malformed));
	add(n, "ring_full", json_u64(st->ring_full));
	add(n, "passes", json_u64(st->passes));
	add(o, "counters", n);
	/* The class's own counters live as long as the channel is open. */
	if (chan_in_use(ch) && ch->vsp->to_json)
		ch->vsp->to_json(ch, o);
	return o;
}

static struct json_object *chan_json(const struct chan *ch)
{
	struct json_object *o;

	chan_lock(ch);
	o = chan_json_locked(ch);
	chan_unlock(ch);
	return o;
}

/* Every channel of @dev: the primary, then sub-channels 1..n. */
static struct json_object *dev_chans_json(const struct ctl *c,
					  const struct device *dev)
{
	struct json_object *list = json_object_new_array();
	const struct chan_slot *cs;
	struct json_object *o;
	uint32_t relid;
	uint16_t i;

	for (i = 0; i <= dev->nr_subchannels; i++) {
		relid = i ? dev->sub_relid[i - 1] : dev->relid;
		cs = devices_chan(&c->devs, relid);
		o = chan_json(&c->chans[relid - 1]);
		add(o, "sub_index", json_u64(i));
		add(o, "relid", json_u64(relid));
		add(o, "vector", json_u64(cs ? cs->vector : 0));
		json_object_array_add(list, o);
	}
	return list;
}

struct json_object *ctl_device_json(const struct ctl *c,
				    const struct device *dev)
{
	struct json_object *o = json_object_new_object();

	add(o, "id", json_u64(dev->id));
	add(o, "class", json_object_new_string(dev->cls->name));
	add_uuid(o, "class_id", dev->cls->class_id);
	add(o, "relid", json_u64(dev->relid));
	add(o, "vector", json_u64(dev->vector));
	add_uuid(o, "instance", dev->instance_id);
	add(o, "state", json_object_new_string(dev->state == DEV_FREE ?
		"removed" : dev_state_name(dev->state)));
	add(o, "offer_sent", json_object_new_boolean(dev->sent));
	add(o, "max_subchannels", json_u64(dev->max_subchannels));
	add(o, "subchannels", json_u64(dev->nr_subchannels));
	add(o, "offer_data_len", json_u64(dev->offer_data_len));
	/* tests/guest/bus.sh finds a device's id by its relid with a
	 * pattern that must not cross a '}' between the two: everything
	 * with braces comes after "relid". */
	if (dev->state != DEV_FREE && dev->cls->vsp &&
	    dev->cls->vsp->dev_to_json)
		dev->cls->vsp->dev_to_json(dev, o);
	add(o, "channel", chan_json(&c->chans[dev->relid - 1]));
	add(o, "channels", dev_chans_json(c, dev));
	return o;
}

int ctl_cmd_devices(struct ctl *c, struct json_object *req,
		    struct json_object *resp)
{
	struct json_object *list = json_object_new_array();
	unsigned int i;

	(void)req;
	for (i = 0; i < DEV_MAX; i++)
		if (c->devs.slot[i].state != DEV_FREE)
			json_object_array_add(list,
				ctl_device_json(c, &c->devs.slot[i]));
	add(resp, "devices", list);
	return 0;
}

int ctl_cmd_device_add(struct ctl *c, struct json_object *req,
		       struct json_object *resp)
{
	struct json_object *v, *params = NULL;
	const struct dev_class *cls;
	struct device *dev;
	const char *name;
	char err[256];
	int ret;

	if (json_object_object_get_ex(req, "params", &params) &&
	    !json_object_is_type(params, json_type_object))
		return control_fail(resp, -EINVAL,
				    "device-add: \"params\" must be an object of strings");
	if (!json_object_object_get_ex(req, "class", &v) ||
	    !json_object_is_type(v, json_type_string))
		return control_fail(resp, -EINVAL,
				    "device-add needs a \"class\" string");
	name = json_object_get_string(v);
	cls = dev_class_find(name);
	if (!cls)
		return control_fail(resp, -EINVAL,
				    "unknown device class \"%.64s\"", name);
	ret = ctl_device_add_params(c, cls, params, err, sizeof(err), &dev);
	if (ret && err[0])
		return control_fail(resp, ret, "%s", err);
	if (ret == -ENOSPC)
		return control_fail(resp, ret,
				    "no room: %u devices or %u channels, the most kvmbusd offers (releasing ones included)",
				    DEV_MAX, CHAN_MAX);
	if (ret == -ENXIO)
		return control_fail(resp, ret,
				    "no vector for a device: start kvmbusd with --vectors 2 or more");
	if (ret)
		return control_fail(resp, ret, "cannot add a device: %s",
				    strerror(-ret));
	add(resp, "device", ctl_device_json(c, dev));
	return 0;
}

int ctl_cmd_device_remove(struct ctl *c, struct json_object *req,
			  struct json_object *resp)
{
	struct json_object *v;
	struct device dev;
	int64_t id;
	int ret;

	if (!json_object_object_get_ex(req, "id", &v) ||
	    !json_object_is_type(v, json_type_int))
		return control_fail(resp, -EINVAL,
				    "device-remove needs an integer \"id\"");
	id = json_object_get_int64(v);
	if (id <= 0 || id > UINT32_MAX)
		return control_fail(resp, -ENOENT, "no device %lld",
				    (long long)id);
	ret = ctl_device_remove(c, (uint32_t)id, &dev);
	if (ret == -ENOENT)
		return control_fail(resp, ret, "no device %lld",
				    (long long)id);
	if (ret == -EBUSY) {
		add(resp, "device", ctl_device_json(c, &dev));
		return control_fail(resp, ret,
				    "device %u is already being removed: waiting for the guest to release relid %u",
				    dev.id, dev.relid);
	}
	if (ret)
		return control_fail(resp, ret, "%s", strerror(-ret));
	add(resp, "device", ctl_device_json(c, &dev));
	return 0;
}

/* The answer to vsp_echo_send()'s @ret, under chan_lock(). */
static int echo_send_answer(const struct chan *ch, const struct device *dev,
			    int ret, int64_t size, struct json_object *resp)
{
	switch (ret) {
	case 0:
		break;
	case -ENOTCONN:
		return control_fail(resp, ret,
				    "device %u has no open channel", dev->id);
	case -EIO:
		return control_fail(resp, ret,
				    "device %u's channel is broken: %s",
				    dev->id, ch->broken_why ? ch->broken_why : "?");
	case -EBUSY:
		return control_fail(resp, ret,
				    "device %u is still sending: %u packets to go",
				    dev->id, vsp_echo_send_pending(ch));
	case -EMSGSIZE:
		return control_fail(resp, ret,
				    "%lld-byte packets do not fit the %u-byte host->guest ring",
				    (long long)size, ch->tx.size);
	default:
		return control_fail(resp, ret, "%s", strerror(-ret));
	}
	return 0;
}

int ctl_cmd_device_set(struct ctl *c, struct json_object *req,
		       struct json_object *resp)
{
	struct json_object *v, *params = NULL;
	char err[256];
	int64_t id;
	int ret;

	if (!json_object_object_get_ex(req, "id", &v) ||
	    !json_object_is_type(v, json_type_int))
		return control_fail(resp, -EINVAL,
				    "device-set needs an integer \"id\"");
	id = json_object_get_int64(v);
	if (id <= 0 || id > UINT32_MAX)
		return control_fail(resp, -ENOENT, "no device %lld",
				    (long long)id);
	json_object_object_get_ex(req, "params", &params);
	ret = ctl_device_set(c, (uint32_t)id, params, err, sizeof(err));
	if (ret)
		return err[0] ? control_fail(resp, ret, "%s", err) : ret;
	add(resp, "device", ctl_device_json(c,
			devices_by_id(&c->devs, (uint32_t)id)));
	return 0;
}

int ctl_cmd_echo_send(struct ctl *c, struct json_object *req,
		      struct json_object *resp)
{
	static const char *const keys[] = { "id", "count", "size" };
	int64_t val[3];
	struct json_object *v;
	struct chan *ch;
	struct device *dev;
	unsigned int i;
	int ret;

	for (i = 0; i < 3; i++) {
		if (!json_object_object_get_ex(req, keys[i], &v) ||
		    !json_object_is_type(v, json_type_int))
			return control_fail(resp, -EINVAL,
					    "echo-send needs integers \"id\", \"count\" and \"size\"");
		val[i] = json_object_get_int64(v);
	}
	if (val[0] <= 0 || val[0] > UINT32_MAX ||
	    !(dev = devices_by_id(&c->devs, (uint32_t)val[0])))
		return control_fail(resp, -ENOENT, "no device %lld",
				    (long long)val[0]);
	if (dev->cls->vsp != &vsp_echo_ops)
		return control_fail(resp, -EINVAL,
				    "device %u is not an echo device", dev->id);
	if (val[1] <= 0 || val[1] > UINT32_MAX)
		return control_fail(resp, -EINVAL,
				    "count: 1 to %u packets", UINT32_MAX);
	if (val[2] < 0 || val[2] > KVMBUS_PKT_MAX_LEN)
		return control_fail(resp, -EMSGSIZE,
				    "size: 0 to %u bytes", KVMBUS_PKT_MAX_LEN);
	ch = ctl_chan_of(c, dev);
	if (json_object_object_get_ex(req, "sub", &v)) {
		int64_t sub = json_object_get_int64(v);

		if (!json_object_is_type(v, json_type_int) || sub < 0 ||
		    sub > dev->nr_subchannels)
			return control_fail(resp, -ENOENT,
					    "device %u has no sub-channel %lld (it has %u)",
					    dev->id, (long long)sub,
					    dev->nr_subchannels);
		if (sub)
			ch = &c->chans[dev->sub_relid[sub - 1] - 1];
	}
	chan_lock(ch);
	ret = vsp_echo_send(ch, (uint32_t)val[1], (uint32_t)val[2]);
	ret = echo_send_answer(ch, dev, ret, val[2], resp);
	chan_unlock(ch);
	if (ret)
		return ret;
	/* Start now (a worker: at once, on its thread); the rest goes as
	 * the guest makes room. */
	if (ch->worker)
		chan_wake(ch);
	else
		chan_poll(ch, CHAN_BUDGET);
	add(resp, "device", json_u64(dev->id));
	add(resp, "relid", json_u64(ch->relid));
	add(resp, "count", json_u64((uint64_t)val[1]));
	add(resp, "size", json_u64((uint64_t)val[2]));
	chan_lock(ch);
	add(resp, "pending", json_u64(vsp_echo_send_pending(ch)));
	add(resp, "channel", chan_json_locked(ch));
	chan_unlock(ch);
	return 0;
}

/* "deflate_range": {"gpa": N, "size": N}, both multiples of 4 KiB. */
static int balloon_deflate_range_req(struct device *dev, struct json_object *v,
				     struct json_object *resp)
{
	struct json_object *g, *z;
	int64_t gpa, size;
	int ret;

	if (!json_object_is_type(v, json_type_object) ||
	    !json_object_object_get_ex(v, "gpa", &g) ||
	    !json_object_object_get_ex(v, "size", &z) ||
	    !json_object_is_type(g, json_type_int) ||
	    !json_object_is_type(z, json_type_int))
		return control_fail(resp, -EINVAL,
				    "deflate_range: {\"gpa\": N, \"size\": N}");
	gpa = json_object_get_int64(g);
	size = json_object_get_int64(z);
	if (gpa < 0 || size <= 0 || (gpa | size) % KVMBUS_PAGE_SIZE)
		return control_fail(resp, -EINVAL,
				    "deflate_range: gpa and size must be multiples of 4096, size at least 4096");
	ret = vsp_balloon_deflate_range(dev, (uint64_t)gpa / KVMBUS_PAGE_SIZE,
					(uint64_t)size / KVMBUS_PAGE_SIZE);
	switch (ret) {
	case 0:
		return 0;
	case -EOPNOTSUPP:
		return control_fail(resp, ret,
				    "device %u: the guest driver does not deflate by range",
				    dev->id);
	case -EBUSY:
		return control_fail(resp, ret,
				    "device %u: a range deflate is still unanswered",
				    dev->id);
	case -EAGAIN:
		return control_fail(resp, ret,
				    "device %u: no status from the guest yet", dev->id);
	case -ENOTCONN:
		return control_fail(resp, ret,
				    "device %u has no open channel (is kvmbus_balloon loaded in the guest?)",
				    dev->id);
	default:
		return control_fail(resp, ret,
				    "deflate_range: at most %llu pages, not wrapping around",
				    (unsigned long long)KVMBUS_BALLOON_MAX_REQ_PAGES);
	}
}

int ctl_cmd_balloon(struct ctl *c, struct json_object *req,
		    struct json_object *resp)
{
	struct json_object *v;
	struct device *dev;
	struct chan *ch;
	int64_t id, target;

	if (!json_object_object_get_ex(req, "id", &v) ||
	    !json_object_is_type(v, json_type_int))
		return control_fail(resp, -EINVAL,
				    "balloon needs an integer \"id\"");
	id = json_object_get_int64(v);
	if (id <= 0 || id > UINT32_MAX ||
	    !(dev = devices_by_id(&c->devs, (uint32_t)id)) ||
	    dev->state == DEV_RELEASING)
		return control_fail(resp, -ENOENT, "no device %lld",
				    (long long)id);
	if (dev->cls->vsp != &vsp_balloon_ops)
		return control_fail(resp, -EINVAL,
				    "device %u is not a balloon device", dev->id);
	if (json_object_object_get_ex(req, "target", &v)) {
		if (!json_object_is_type(v, json_type_int) ||
		    (target = json_object_get_int64(v)) < 0)
			return control_fail(resp, -EINVAL,
					    "target: a byte count, 0 or more");
		vsp_balloon_set_target(dev, (uint64_t)target);
	}
	if (json_object_object_get_ex(req, "deflate_range", &v)) {
		int ret = balloon_deflate_range_req(dev, v, resp);

		if (ret)
			return ret;
	}
	add(resp, "device", json_u64(dev->id));
	add(resp, "relid", json_u64(dev->relid));
	ch = vsp_balloon_chan(dev);
	if (!ch)
		return control_fail(resp, -ENOTCONN,
				    "device %u has no open channel (is kvmbus_balloon loaded in the guest?)%s",
				    dev->id, json_object_object_get_ex(req, "target", NULL) ?
				    ": the target applies once it is" : "");
	if (ch->state == CHAN_BROKEN)
		return control_fail(resp, -EIO,
				    "device %u's channel is broken: %s", dev->id,
				    ch->broken_why ? ch->broken_why : "?");
	vsp_balloon_json(ch, resp);
	return 0;
}
