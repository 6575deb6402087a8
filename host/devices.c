// SPDX-License-Identifier: GPL-2.0-only
/*
 * The device table: classes, admin ids, relids, vectors, instance ids.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "devices.h"
#include "vsp_echo.h"
#include "vsp_net.h"

/* Classes kvmbusd can offer; more arrive with their data paths. */
static const struct dev_class dev_classes[] = {
	{
		.name = "echo",
		.class_id = KVMBUS_CLASS_ECHO_BYTES,
		.vsp = &vsp_echo_ops,
	},
	{
		.name = "net",
		.class_id = KVMBUS_CLASS_NET_BYTES,
		.vsp = &vsp_net_ops,
	},
};

const struct dev_class *dev_class_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(dev_classes) / sizeof(dev_classes[0]); i++)
		if (!strcmp(dev_classes[i].name, name))
			return &dev_classes[i];
	return NULL;
}

const struct dev_class *dev_class_at(size_t i)
{
	return i < sizeof(dev_classes) / sizeof(dev_classes[0]) ?
	       &dev_classes[i] : NULL;
}

void devices_init(struct devices *ds, unsigned int nr_vectors)
{
	memset(ds, 0, sizeof(*ds));
	ds->nr_vectors = nr_vectors > KVMBUS_MAX_VECTORS ? KVMBUS_MAX_VECTORS :
							  nr_vectors;
	ds->next_id = 1;
}

/* The least used vector of 1..nr_vectors-1, lowest first; 0 if none. */
static uint16_t devices_pick_vector(const struct devices *ds)
{
	unsigned int v, best = 0;

	for (v = 1; v < ds->nr_vectors; v++)
		if (!best || ds->vec_users[v] < ds->vec_users[best])
			best = v;
	return (uint16_t)best;
}

/* A version 4 (random) UUID.  Return: 0 or -errno. */
static int uuid_random(uint8_t u[KVMBUS_UUID_SIZE])
{
	size_t got = 0;
	ssize_t n;

	while (got < KVMBUS_UUID_SIZE) {
		/* Blocks only until the kernel's pool is ready (early boot). */
		n = getrandom(u + got, KVMBUS_UUID_SIZE - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	u[6] = (u[6] & 0x0f) | 0x40;	/* version 4 */
	u[8] = (u[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
	return 0;
}

int devices_add(struct devices *ds, const struct dev_class *cls,
		struct device **out)
{
	struct device *dev = NULL;
	uint8_t uuid[KVMBUS_UUID_SIZE];
	uint16_t vector;
	unsigned int i;
	int ret;

	vector = devices_pick_vector(ds);
	if (!vector)
		return -ENXIO;
	for (i = 0; i < DEV_MAX; i++) {
		if (ds->slot[i].state == DEV_FREE) {
			dev = &ds->slot[i];
			break;
		}
	}
	if (!dev)
		return -ENOSPC;
	ret = uuid_random(uuid);
	if (ret)
		return ret;

	memset(dev, 0, sizeof(*dev));
	dev->id = ds->next_id++;
	dev->cls = cls;
	dev->relid = i + 1;
	dev->vector = vector;
	dev->state = DEV_OFFERED;
	memcpy(dev->instance_id, uuid, sizeof(uuid));
	ds->vec_users[vector]++;
	ds->count++;
	*out = dev;
	return 0;
}

struct device *devices_by_id(struct devices *ds, uint32_t id)
{
	unsigned int i;

	for (i = 0; i < DEV_MAX; i++)
		if (ds->slot[i].state != DEV_FREE && ds->slot[i].id == id)
			return &ds->slot[i];
	return NULL;
}

struct device *devices_by_relid(struct devices *ds, uint32_t relid)
{
	struct device *dev;

	if (!relid || relid > DEV_MAX)
		return NULL;
	dev = &ds->slot[relid - 1];
	return dev->state == DEV_FREE ? NULL : dev;
}

void devices_free(struct devices *ds, struct device *dev)
{
	if (dev->state == DEV_FREE)
		return;
	ds->vec_users[dev->vector]--;
	ds->count--;
	memset(dev, 0, sizeof(*dev));
}

const char *dev_state_name(enum dev_state state)
{
	switch (state) {
	case DEV_OFFERED:
		return "offered";
	case DEV_RELEASING:
		return "releasing";
	default:
		return "free";
	}
}

void uuid_format(const uint8_t u[KVMBUS_UUID_SIZE],
		 char out[DEV_UUID_STR_LEN])
{
	snprintf(out, DEV_UUID_STR_LEN,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
		 u[10], u[11], u[12], u[13], u[14], u[15]);
}
