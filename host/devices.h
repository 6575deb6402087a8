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
 *	            waiting for RELID_RELEASED; relids and vectors stay taken
 *
 * Channels come from a separate table of CHAN_MAX slots: slot i is relid
 * i + 1, so relids are 1..CHAN_MAX, never 0, unique among live channels,
 * and reused only once released (the device freed, or its sub-channels
 * dropped when the guest unloads).  A device owns its primary channel's
 * relid for life and the relids of the sub-channels the guest asked for
 * (REQUEST_SUBCHANNELS, docs/protocol.md section 6.5).  Each channel gets
 * the least used vector of 1..nr_vectors-1.
 */
#ifndef KVMBUSD_DEVICES_H
#define KVMBUSD_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* Live devices (offered + releasing): the max_channels of VERSION_RESP. */
#define DEV_MAX			64
/* Live channels, primaries and sub-channels: the max_channels of
 * VERSION_RESP. */
#define CHAN_MAX		256
#define DEV_UUID_STR_LEN	37	/* 36 characters and the NUL */

enum dev_state {
	DEV_FREE = 0,
	DEV_OFFERED,
	DEV_RELEASING,
};

struct vsp_ops;
struct json_object;

struct dev_class {
	const char *name;
	uint8_t class_id[KVMBUS_UUID_SIZE];
	const struct vsp_ops *vsp;	/* its channels' host end (chan.h) */
};

/*
 * struct device - one device offered on the bus
 * @priv: the class's, vsp->dev_priv_size bytes, zeroed (dev_add fills it)
 * @max_subchannels: sub-channels the class allows (dev_add sets it),
 *	0..KVMBUS_MAX_SUBCHANNELS; sent in the OFFER
 * @nr_subchannels: sub-channels granted to this guest connection
 * @sub_relid: relid of sub-channel i + 1, for i < @nr_subchannels
 * @offer_data: the OFFER's class data (dev_add sets it)
 */
struct device {
	uint32_t id;			/* admin id: 1, 2, ..., never reused */
	const struct dev_class *cls;
	uint32_t relid;			/* of the primary channel */
	uint16_t vector;		/* 1..nr_vectors-1 */
	uint8_t instance_id[KVMBUS_UUID_SIZE];	/* random, for life */
	enum dev_state state;
	bool sent;			/* this guest connection has its OFFER */
	bool added;			/* the class's dev_add succeeded */
	void *priv;
	uint16_t max_subchannels;
	uint16_t nr_subchannels;
	uint32_t sub_relid[KVMBUS_MAX_SUBCHANNELS];
	uint8_t offer_data[KVMBUS_OFFER_DATA_MAX];
	uint32_t offer_data_len;
	/* What configured it, for a restarted kvmbusd (state.h): the
	 * dev_add parameters and every dev_set since, in order. */
	struct json_object *params;	/* object or NULL; owned */
	struct json_object *sets;	/* array or NULL; owned */
};

/* One slot of the channel table: relid slot + 1. */
struct chan_slot {
	struct device *dev;		/* NULL: free */
	uint16_t sub_index;		/* 0: the primary */
	uint16_t vector;
};

struct devices {
	struct device slot[DEV_MAX];
	struct chan_slot chan[CHAN_MAX];
	unsigned int nr_vectors;	/* the device's; vector 0 is control */
	unsigned int count;		/* live devices */
	unsigned int nr_chans;		/* live channels */
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
 * Its primary channel takes the lowest free relid and the least used of
 * vectors 1..nr_vectors-1: each channel gets its own vector while there
 * are enough, then they are shared evenly.  @out->priv is allocated for
 * the class (zeroed); the class's dev_add is the caller's to run.
 *
 * Return: 0, -ENOSPC when DEV_MAX devices or CHAN_MAX channels are live,
 * -ENXIO when there is no vector besides the control vector, -ENOMEM, or
 * getrandom()'s -errno.
 */
int devices_add(struct devices *ds, const struct dev_class *cls,
		struct device **out);

/*
 * devices_add_at() - configure a device a previous kvmbusd had (state.h)
 * @id: its admin id, not in use
 * @relid: its primary relid, free
 * @vector: its vector; one of 1..nr_vectors-1, else the least used
 * @instance_id: its instance id
 *
 * As devices_add(), with the identity given instead of chosen, so that a
 * guest sees the same device after a restart.  @ds->next_id is raised
 * past @id.
 * Return: 0, -EEXIST when @id or @relid is taken, -EINVAL for @id 0 or
 * an @relid outside 1..CHAN_MAX, -ENOSPC, -ENXIO or -ENOMEM.
 */
int devices_add_at(struct devices *ds, const struct dev_class *cls,
		   uint32_t id, uint32_t relid, uint16_t vector,
		   const uint8_t instance_id[KVMBUS_UUID_SIZE],
		   struct device **out);

/*
 * devices_grant_subchannels() - let @dev have @count sub-channels
 * @count: how many the guest wants in all (not how many more)
 *
 * Grants new sub-channels (relid and vector each) up to @count, capped by
 * @dev->max_subchannels and the free channel slots; never takes any back.
 * Return: how many sub-channels @dev has now; the new ones are
 * sub_relid[old..return-1].
 */
uint16_t devices_grant_subchannels(struct devices *ds, struct device *dev,
				   uint32_t count);

/* Release every sub-channel of @dev: their relids become free. */
void devices_drop_subchannels(struct devices *ds, struct device *dev);

/* Return: the live device with admin id @id, or NULL. */
struct device *devices_by_id(struct devices *ds, uint32_t id);

/*
 * devices_by_relid() - the live device one of whose channels is @relid
 * @relid: as received from the guest: any value is safe
 * Return: the device or NULL.
 */
struct device *devices_by_relid(struct devices *ds, uint32_t relid);

/*
 * devices_chan() - the channel slot of @relid
 * @relid: any value is safe
 * Return: the slot of a live channel, or NULL.
 */
const struct chan_slot *devices_chan(const struct devices *ds, uint32_t relid);

/* Free every device (at exit): devices_free() on each. */
void devices_fini(struct devices *ds);

/* Forget @dev: its relids and their vectors become free, the class's
 * dev_remove runs and its priv is freed. */
void devices_free(struct devices *ds, struct device *dev);

const char *dev_state_name(enum dev_state state);

/* @out: "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (RFC 4122 byte order). */
void uuid_format(const uint8_t u[KVMBUS_UUID_SIZE],
		 char out[DEV_UUID_STR_LEN]);

/* Parse uuid_format()'s output.  Return: 0 or -EINVAL. */
int uuid_parse_str(const char *s, uint8_t u[KVMBUS_UUID_SIZE]);

#endif /* KVMBUSD_DEVICES_H */
