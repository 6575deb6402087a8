// SPDX-License-Identifier: GPL-2.0-only
/*
 * The device table: classes, admin ids, relids, vectors, instance ids.
 */
#include <errno.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "chan.h"
#include "devices.h"
#include "vsp_balloon.h"
#include "vsp_echo.h"
#include "vsp_net.h"
#include "vsp_scsi.h"

/* Classes kvmbusd can offer; more arrive with their data paths. */
static const struct dev_class dev_classes[] = {
	{
		.name = "echo",
		.class_id = KVMBUS_CLASS_ECHO_BYTES,
		.vsp = &vsp_echo_ops,
	},
	{
		.name = "balloon",
		.class_id = KVMBUS_CLASS_BALLOON_BYTES,
		.vsp = &vsp_balloon_ops,
	},
	{
		.name = "net",
		.class_id = KVMBUS_CLASS_NET_BYTES,
		.vsp = &vsp_net_ops,
	},
	{
		.name = "scsi",
		.class_id = KVMBUS_CLASS_SCSI_BYTES,
		.vsp = &vsp_scsi_ops,
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

/* Take a device slot for @cls with the identity given; all checked. */
static int devices_take(struct devices *ds, const struct dev_class *cls,
			uint32_t id, unsigned int ch, uint16_t vector,
			const uint8_t uuid[KVMBUS_UUID_SIZE],
			struct device **out)
{
	struct device *dev = NULL;
	size_t priv_size = cls->vsp ? cls->vsp->dev_priv_size : 0;
	void *priv = NULL;
	unsigned int i;

	for (i = 0; i < DEV_MAX; i++) {
		if (ds->slot[i].state == DEV_FREE) {
			dev = &ds->slot[i];
			break;
		}
	}
	if (!dev || ch >= CHAN_MAX)
		return -ENOSPC;
	if (priv_size) {
		priv = calloc(1, priv_size);
		if (!priv)
			return -ENOMEM;
	}

	memset(dev, 0, sizeof(*dev));
	dev->id = id;
	dev->cls = cls;
	dev->priv = priv;
	dev->relid = devices_take_chan(ds, ch, dev, 0, vector);
	dev->vector = vector;
	dev->state = DEV_OFFERED;
	memcpy(dev->instance_id, uuid, KVMBUS_UUID_SIZE);
	ds->count++;
	*out = dev;
	return 0;
}

int devices_add(struct devices *ds, const struct dev_class *cls,
		struct device **out)
{
	uint8_t uuid[KVMBUS_UUID_SIZE];
	uint16_t vector;
	unsigned int ch;
	int ret;

	vector = devices_pick_vector(ds);
	if (!vector)
		return -ENXIO;
	ch = devices_free_chan(ds);
	if (ds->count >= DEV_MAX || ch == CHAN_MAX)
		return -ENOSPC;
	ret = uuid_random(uuid);
	if (ret)
		return ret;
	ret = devices_take(ds, cls, ds->next_id, ch, vector, uuid, out);
	if (!ret)
		ds->next_id++;
	return ret;
}

int devices_add_at(struct devices *ds, const struct dev_class *cls,
		   uint32_t id, uint32_t relid, uint16_t vector,
		   const uint8_t instance_id[KVMBUS_UUID_SIZE],
		   struct device **out)
{
	int ret;

	if (!id || !relid || relid > CHAN_MAX)
		return -EINVAL;
	if (devices_by_id(ds, id) || ds->chan[relid - 1].dev)
		return -EEXIST;
	if (!vector || vector >= ds->nr_vectors)
		vector = devices_pick_vector(ds);
	if (!vector)
		return -ENXIO;
	ret = devices_take(ds, cls, id, relid - 1, vector, instance_id, out);
	if (!ret && ds->next_id <= id)
		ds->next_id = id + 1;
	return ret;
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
	json_object_put(dev->params);
	json_object_put(dev->sets);
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

static int hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int uuid_parse_str(const char *s, uint8_t u[KVMBUS_UUID_SIZE])
{
	unsigned int i, pos = 0;
	int hi, lo;

	if (strlen(s) != DEV_UUID_STR_LEN - 1)
		return -EINVAL;
	for (i = 0; i < KVMBUS_UUID_SIZE; i++) {
		if (pos == 8 || pos == 13 || pos == 18 || pos == 23) {
			if (s[pos] != '-')
				return -EINVAL;
			pos++;
		}
		hi = hex_digit(s[pos]);
		lo = hex_digit(s[pos + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		u[i] = (uint8_t)(hi << 4 | lo);
		pos += 2;
	}
	return 0;
}
