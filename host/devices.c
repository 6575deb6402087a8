// SPDX-License-Identifier: GPL-2.0-only
/*
 * The device table: classes, admin ids, relids, vectors, instance ids.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "chan.h"
#include "devices.h"
#include "vsp_echo.h"

/* Classes kvmbusd can offer; more arrive with their data paths. */
static const struct dev_class dev_classes[] = {
	{
		.name = "echo",
		.class_id = KVMBUS_CLASS_ECHO_BYTES,
		.vsp = &vsp_echo_ops,
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

/* The lowest free channel slot; CHAN_MAX if none. */
static unsigned int devices_free_chan(const struct devices *ds)
{
	unsigned int i;

	for (i = 0; i < CHAN_MAX; i++)
		if (!ds->chan[i].dev)
			return i;
	return CHAN_MAX;
}

/* Take channel slot @i for sub-channel @sub of @dev.  Return: its relid. */
static uint32_t devices_take_chan(struct devices *ds, unsigned int i,
				  struct device *dev, uint16_t sub,
				  uint16_t vector)
{
	ds->chan[i].dev = dev;
	ds->chan[i].sub_index = sub;
	ds->chan[i].vector = vector;
	ds->vec_users[vector]++;
	ds->nr_chans++;
	return i + 1;
}

static void devices_put_chan(struct devices *ds, uint32_t relid)
{
	struct chan_slot *cs = &ds->chan[relid - 1];

	if (!cs->dev)
		return;
	ds->vec_users[cs->vector]--;
	ds->nr_chans--;
	memset(cs, 0, sizeof(*cs));
}

int devices_add(struct devices *ds, const struct dev_class *cls,
		struct device **out)
{
	struct device *dev = NULL;
	uint8_t uuid[KVMBUS_UUID_SIZE];
	size_t priv_size = cls->vsp ? cls->vsp->dev_priv_size : 0;
	unsigned int i, ch;
	uint16_t vector;
	void *priv = NULL;
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
	ch = devices_free_chan(ds);
	if (!dev || ch == CHAN_MAX)
		return -ENOSPC;
	ret = uuid_random(uuid);
	if (ret)
		return ret;
	if (priv_size) {
		priv = calloc(1, priv_size);
		if (!priv)
			return -ENOMEM;
	}

	memset(dev, 0, sizeof(*dev));
	dev->id = ds->next_id++;
	dev->cls = cls;
	dev->priv = priv;
	dev->relid = devices_take_chan(ds, ch, dev, 0, vector);
	dev->vector = vector;
	dev->state = DEV_OFFERED;
	memcpy(dev->instance_id, uuid, sizeof(uuid));
	ds->count++;
	*out = dev;
	return 0;
}

uint16_t devices_grant_subchannels(struct devices *ds, struct device *dev,
				   uint32_t count)
{
	unsigned int ch;
	uint16_t vector;

	if (count > dev->max_subchannels)
		count = dev->max_subchannels;
	while (dev->nr_subchannels < count) {
		vector = devices_pick_vector(ds);
		ch = devices_free_chan(ds);
		if (!vector || ch == CHAN_MAX)
			break;
		dev->sub_relid[dev->nr_subchannels] =
			devices_take_chan(ds, ch, dev,
					  (uint16_t)(dev->nr_subchannels + 1),
					  vector);
		dev->nr_subchannels++;
	}
	return dev->nr_subchannels;
}

void devices_drop_subchannels(struct devices *ds, struct device *dev)
{
	while (dev->nr_subchannels) {
		dev->nr_subchannels--;
		devices_put_chan(ds, dev->sub_relid[dev->nr_subchannels]);
		dev->sub_relid[dev->nr_subchannels] = 0;
	}
}

struct device *devices_by_id(struct devices *ds, uint32_t id)
{
	unsigned int i;

	for (i = 0; i < DEV_MAX; i++)
		if (ds->slot[i].state != DEV_FREE && ds->slot[i].id == id)
			return &ds->slot[i];
	return NULL;
}

const struct chan_slot *devices_chan(const struct devices *ds, uint32_t relid)
{
	if (!relid || relid > CHAN_MAX || !ds->chan[relid - 1].dev)
		return NULL;
	return &ds->chan[relid - 1];
}

struct device *devices_by_relid(struct devices *ds, uint32_t relid)
{
	const struct chan_slot *cs = devices_chan(ds, relid);

	return cs ? cs->dev : NULL;
}

void devices_free(struct devices *ds, struct device *dev)
{
	if (dev->state == DEV_FREE)
		return;
	if (dev->added && dev->cls->vsp && dev->cls->vsp->dev_remove)
		dev->cls->vsp->dev_remove(dev);
	devices_drop_subchannels(ds, dev);
	devices_put_chan(ds, dev->relid);
	free(dev->priv);
	ds->count--;
	memset(dev, 0, sizeof(*dev));
}

void devices_fini(struct devices *ds)
{
	unsigned int i;

	for (i = 0; i < DEV_MAX; i++)
		devices_free(ds, &ds->slot[i]);
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
