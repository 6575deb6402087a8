// SPDX-License-Identifier: GPL-2.0-only
/*
 * The supervised kvmbusd's device table in a memfd: see state.h.
 */
#include <errno.h>
#include <json.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ctl.h"
#include "devices.h"
#include "state.h"

struct state_hdr {
	char magic[8];
	uint64_t seq;			/* 0: empty; slot = seq & 1 */
	uint32_t len[2];
};

static struct state_hdr *state_hdr(const struct state *st)
{
	return st->map;
}

static char *state_slot(const struct state *st, unsigned int i)
{
	return (char *)st->map + STATE_HDR_SIZE + (size_t)i * STATE_SLOT_SIZE;
}

static int state_map(struct state *st)
{
	st->map = mmap(NULL, STATE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		       st->fd, 0);
	if (st->map == MAP_FAILED) {
		st->map = NULL;
		return -errno;
	}
	return 0;
}

int state_create(struct state *st)
{
	int ret;

	st->map = NULL;
	/* Not close-on-exec for the child only: the supervisor clears
	 * FD_CLOEXEC between fork and exec. */
	st->fd = memfd_create("kvmbusd-state", MFD_CLOEXEC);
	if (st->fd < 0)
		return -errno;
	if (ftruncate(st->fd, STATE_SIZE) < 0) {
		ret = -errno;
		goto err_close;
	}
	ret = state_map(st);
	if (ret)
		goto err_close;
	memcpy(state_hdr(st)->magic, STATE_MAGIC, 8);
	return 0;

err_close:
	close(st->fd);
	st->fd = -1;
	return ret;
}

int state_adopt(struct state *st, int fd)
{
	off_t size = lseek(fd, 0, SEEK_END);
	int ret;

	st->fd = fd;
	st->map = NULL;
	if (size != STATE_SIZE)
		return size < 0 ? -errno : -EINVAL;
	ret = state_map(st);
	if (ret)
		return ret;
	if (memcmp(state_hdr(st)->magic, STATE_MAGIC, 8)) {
		state_close(st);
		return -EINVAL;
	}
	return 0;
}

void state_close(struct state *st)
{
	if (st->map)
		munmap(st->map, STATE_SIZE);
	if (st->fd >= 0)
		close(st->fd);
	st->map = NULL;
	st->fd = -1;
}

struct json_object *state_load(const struct state *st, int *err,
			       const char **why)
{
	const struct state_hdr *h = state_hdr(st);
	struct json_tokener *tok;
	struct json_object *o;
	uint64_t seq;
	uint32_t len;
	const char *p;

	*err = 0;
	if (!st->map)
		return NULL;
	/* Pairs with the release store in state_save(). */
	seq = __atomic_load_n(&h->seq, __ATOMIC_ACQUIRE);
	if (!seq)
		return NULL;
	len = __atomic_load_n(&h->len[seq & 1], __ATOMIC_RELAXED);
	p = state_slot(st, seq & 1);
	if (!len || len > STATE_SLOT_SIZE) {
		*why = "slot length out of range";
		goto bad;
	}
	tok = json_tokener_new();
	if (!tok) {
		*err = -ENOMEM;
		return NULL;
	}
	o = json_tokener_parse_ex(tok, p, (int)len);
	json_tokener_free(tok);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		*why = "not a JSON object";
		goto bad;
	}
	return o;
bad:
	*err = -EINVAL;
	return NULL;
}

int state_save(struct state *st, struct json_object *table)
{
	struct state_hdr *h = state_hdr(st);
	const char *s;
	uint64_t seq;
	size_t len;
	unsigned int slot;

	if (!st->map)
		return 0;
	s = json_object_to_json_string_ext(table, JSON_C_TO_STRING_PLAIN);
	if (!s)
		return -EINVAL;
	len = strlen(s);
	if (!len || len > STATE_SLOT_SIZE)
		return -E2BIG;
	seq = h->seq;		/* we are its only writer */
	slot = (unsigned int)((seq + 1) & 1);
	memcpy(state_slot(st, slot), s, len);
	h->len[slot] = (uint32_t)len;
	/* Publish: pairs with the acquire load in state_load(). */
	__atomic_store_n(&h->seq, seq + 1, __ATOMIC_RELEASE);
	return 0;
}

struct json_object *state_from_devices(const struct devices *ds)
{
	struct json_object *t = json_object_new_object();
	struct json_object *list = json_object_new_array();
	char uuid[DEV_UUID_STR_LEN];
	unsigned int i;

	if (!t || !list) {
		json_object_put(t);
		json_object_put(list);
		return NULL;
	}
	json_object_object_add(t, "next_id", json_object_new_int64(ds->next_id));
	for (i = 0; i < DEV_MAX; i++) {
		const struct device *dev = &ds->slot[i];
		struct json_object *o;

		/* A device being removed is not brought back. */
		if (dev->state != DEV_OFFERED)
			continue;
		o = json_object_new_object();
		if (!o)
			break;
		uuid_format(dev->instance_id, uuid);
		json_object_object_add(o, "id", json_object_new_int64(dev->id));
		json_object_object_add(o, "class",
				       json_object_new_string(dev->cls->name));
		json_object_object_add(o, "relid",
				       json_object_new_int64(dev->relid));
		json_object_object_add(o, "vector",
				       json_object_new_int64(dev->vector));
		json_object_object_add(o, "instance",
				       json_object_new_string(uuid));
		if (dev->params)
			json_object_object_add(o, "params",
					       json_object_get(dev->params));
		if (dev->sets)
			json_object_object_add(o, "sets",
					       json_object_get(dev->sets));
		json_object_array_add(list, o);
	}
	json_object_object_add(t, "devices", list);
	return t;
}

/* @o's member @key as an integer in [@min, @max].  Return: 0 or -EINVAL. */
static int state_int(struct json_object *o, const char *key, int64_t min,
		     int64_t max, int64_t *out)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return -EINVAL;
	*out = json_object_get_int64(v);
	return *out < min || *out > max ? -EINVAL : 0;
}

/* One saved device back into @c.  Return: 0 or -errno, *@why set. */
static int state_restore_one(struct ctl *c, struct json_object *o,
			     char *err, size_t errlen, const char **why)
{
	struct json_object *v, *params = NULL, *sets = NULL;
	const struct dev_class *cls;
	struct ctl_dev_ident at;
	struct device *dev;
	int64_t id, relid, vector;
	size_t i, n;
	int ret;

	*why = "malformed entry";
	if (!json_object_is_type(o, json_type_object) ||
	    state_int(o, "id", 1, UINT32_MAX, &id) ||
	    state_int(o, "relid", 1, CHAN_MAX, &relid) ||
	    state_int(o, "vector", 1, KVMBUS_MAX_VECTORS - 1, &vector) ||
	    !json_object_object_get_ex(o, "class", &v) ||
	    !json_object_is_type(v, json_type_string))
		return -EINVAL;
	cls = dev_class_find(json_object_get_string(v));
	if (!cls) {
		*why = "unknown class";
		return -EINVAL;
	}
	if (!json_object_object_get_ex(o, "instance", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    uuid_parse_str(json_object_get_string(v), at.instance_id))
		return -EINVAL;
	if (json_object_object_get_ex(o, "params", &params) &&
	    !json_object_is_type(params, json_type_object))
		return -EINVAL;
	if (json_object_object_get_ex(o, "sets", &sets) &&
	    !json_object_is_type(sets, json_type_array))
		return -EINVAL;
	at.id = (uint32_t)id;
	at.relid = (uint32_t)relid;
	at.vector = (uint16_t)vector;
	*why = err;
	ret = ctl_device_add_at(c, cls, params, &at, err, errlen, &dev);
	if (ret) {
		if (!err[0])
			snprintf(err, errlen, "%s", strerror(-ret));
		return ret;
	}
	n = sets ? json_object_array_length(sets) : 0;
	for (i = 0; i < n; i++) {
		/* A setting that no longer applies is logged by the caller
		 * and skipped: the device itself stays. */
		if (ctl_device_set(c, dev->id, json_object_array_get_idx(sets, i),
				   err, errlen))
			return 1;
	}
	return 0;
}

int state_restore(struct ctl *c, struct json_object *table,
		  void (*fail)(uint32_t id, const char *why))
{
	struct json_object *list;
	char err[256];
	const char *why;
	int64_t next_id, id;
	size_t i, n;
	int restored = 0;

	if (state_int(table, "next_id", 1, UINT32_MAX, &next_id) ||
	    !json_object_object_get_ex(table, "devices", &list) ||
	    !json_object_is_type(list, json_type_array))
		return -EINVAL;
	n = json_object_array_length(list);
	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(list, i);

		int ret;

		err[0] = '\0';
		ret = state_restore_one(c, o, err, sizeof(err), &why);
		if (ret) {
			if (state_int(o, "id", 1, UINT32_MAX, &id))
				id = 0;
			fail((uint32_t)id, ret > 0 ? err :
			     why && why[0] ? why : "refused");
		}
		if (ret >= 0)
			restored++;
	}
	if (c->devs.next_id < (uint32_t)next_id)
		c->devs.next_id = (uint32_t)next_id;
	return restored;
}
