/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The devices kvmbusd offers on the bus: a fixed table, so a guest that
 * never releases what it was told to release can hold slots but never make
 * kvmbusd allocate.
 *
 * A device lives from device-add (or --device) until it is freed:
 *
 *	OFFERED     configured; its OFFER goes to the guest once the guest
 *	            has asked for offers (@sent says whether it has)
 *	RELEASING   removed while the guest held its offer: RESCIND sent,
 *	            waiting for RELID_RELEASED; relid and vector stay taken
 *
 * Slot i carries relid i + 1, so relids are 1..DEV_MAX, never 0, unique
 * among live devices, and reused only once a device is freed.
 */
#ifndef KVMBUSD_DEVICES_H
#define KVMBUSD_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* Live devices (offered + releasing): the max_channels of VERSION_RESP. */
#define DEV_MAX			64
#define DEV_UUID_STR_LEN	37	/* 36 characters and the NUL */

enum dev_state {
	DEV_FREE = 0,
	DEV_OFFERED,
	DEV_RELEASING,
};

struct vsp_ops;

struct dev_class {
	const char *name;
	uint8_t class_id[KVMBUS_UUID_SIZE];
	const struct vsp_ops *vsp;	/* its channels' host end (chan.h) */
};

struct device {
	uint32_t id;			/* admin id: 1, 2, ..., never reused */
	const struct dev_class *cls;
	uint32_t relid;			/* fixed by the slot */
	uint16_t vector;		/* 1..nr_vectors-1 */
	uint8_t instance_id[KVMBUS_UUID_SIZE];	/* random, for life */
	enum dev_state state;
	bool sent;			/* this guest connection has its OFFER */
};

struct devices {
	struct device slot[DEV_MAX];
	unsigned int nr_vectors;	/* the device's; vector 0 is control */
	unsigned int count;		/* live devices */
	uint32_t next_id;
	uint16_t vec_users[KVMBUS_MAX_VECTORS];
};

void devices_init(struct devices *ds, unsigned int nr_vectors);

/* Return: the class called @name ("echo"), or NULL. */
const struct dev_class *dev_class_find(const char *name);

/* Return: the @i-th known class (for listing them), or NULL past the end. */
const struct dev_class *dev_class_at(size_t i);

/*
 * devices_add() - configure a new device (state OFFERED, not yet sent)
 * @out: the new device
 *
 * The vector is the least used of 1..nr_vectors-1: each device gets its
 * own while there are enough, then they are shared round-robin.
 *
 * Return: 0, -ENOSPC when DEV_MAX devices are live, -ENXIO when there is
 * no vector besides the control vector, or getrandom()'s -errno.
 */
int devices_add(struct devices *ds, const struct dev_class *cls,
		struct device **out);

/* Return: the live device with admin id @id, or NULL. */
struct device *devices_by_id(struct devices *ds, uint32_t id);

/*
 * devices_by_relid() - the live device with @relid
 * @relid: as received from the guest: any value is safe
 * Return: the device or NULL.
 */
struct device *devices_by_relid(struct devices *ds, uint32_t relid);

/* Forget @dev: its relid and its share of a vector become free. */
void devices_free(struct devices *ds, struct device *dev);

const char *dev_state_name(enum dev_state state);

/* @out: "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (RFC 4122 byte order). */
void uuid_format(const uint8_t u[KVMBUS_UUID_SIZE],
		 char out[DEV_UUID_STR_LEN]);

#endif /* KVMBUSD_DEVICES_H */
