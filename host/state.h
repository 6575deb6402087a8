/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The device table of a supervised kvmbusd, kept where a restarted child
 * finds it: a memfd the supervisor creates and holds (kvmbusd --supervise,
 * docs/design.md "Backend restart").  The child rewrites it after every
 * change (device-add, device-set, device-remove) and, when it is not
 * empty, builds its devices from it at start-up instead of from
 * --device, so a guest sees the same devices (admin id, relid, vector,
 * instance id, parameters) after a restart.
 *
 * Layout: a header page, then two slots of STATE_SLOT_SIZE bytes.  The
 * writer fills the slot the header does not point at and then publishes
 * it with one release store of @seq (slot = seq & 1), so a child killed
 * half-way leaves the previous table intact.  The content is JSON:
 *
 *	{"next_id": N, "devices": [{"id": 1, "class": "net",
 *	  "relid": 1, "vector": 1, "instance": "uuid",
 *	  "params": {...}, "sets": [{...}, ...]}, ...]}
 *
 * The reader checks everything, as it would a file from elsewhere.
 */
#ifndef KVMBUSD_STATE_H
#define KVMBUSD_STATE_H

#include <stddef.h>
#include <stdint.h>

#define STATE_ENV		"KVMBUSD_STATE"
#define STATE_MAGIC		"KVMBST01"
#define STATE_HDR_SIZE		4096
#define STATE_SLOT_SIZE		(256 * 1024)
#define STATE_SIZE		(STATE_HDR_SIZE + 2 * STATE_SLOT_SIZE)

struct json_object;
struct devices;
struct ctl;

struct state {
	int fd;			/* -1: no state (not supervised) */
	void *map;		/* STATE_SIZE bytes, shared */
};

/* The supervisor: a new, empty memfd.  Return: 0 or -errno. */
int state_create(struct state *st);

/* The child: map @fd (from STATE_ENV).  Return: 0 or -errno. */
int state_adopt(struct state *st, int fd);

void state_close(struct state *st);

/*
 * state_load() - the table last saved
 * Return: a new reference to the JSON object, NULL when the state is
 * empty; -EINVAL (with *@why) through @err when it is not valid.
 */
struct json_object *state_load(const struct state *st, int *err,
			       const char **why);

/* state_save() - publish @table (built by state_from_devices()).
 * Return: 0, -E2BIG when it does not fit a slot, -EINVAL. */
int state_save(struct state *st, struct json_object *table);

/* The JSON table of every OFFERED device of @ds. */
struct json_object *state_from_devices(const struct devices *ds);

/*
 * state_restore() - add the devices of a table state_load() returned
 * @fail: told of each device that could not be brought back (skipped)
 *
 * Each device gets its saved admin id, relid, vector and instance id
 * and its parameters, then its settings are replayed in order.
 * Return: how many devices were restored, or -EINVAL for a table of the
 * wrong shape (nothing added).
 */
int state_restore(struct ctl *c, struct json_object *table,
		  void (*fail)(uint32_t id, const char *why));

#endif /* KVMBUSD_STATE_H */
