/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kvmbus: the API class drivers (netvsc, storvsc, balloon, tests) use.
 * Kernel only.  A class driver knows this header and nothing of the
 * transport underneath.
 */
#ifndef _KVMBUS_KVMBUS_H
#define _KVMBUS_KVMBUS_H

#include <linux/device.h>
#include <linux/mod_devicetable.h>
#include <linux/uuid.h>
#include <kvmbus/protocol.h>
#include <kvmbus/wire.h>

struct kvmbus_bus;
struct kvmbus_channel;
struct kvmbus_reqtab;

#define KVMBUS_DRIVER_VERSION	"0.1.0"

/* Build a uuid_t from one of the KVMBUS_CLASS_*_BYTES initialisers. */
#define KVMBUS_UUID(bytes)	((uuid_t){ .b = bytes })

/* Turn a KVMBUS_CLASS_*_HEX string into the modalias a driver answers. */
#define KVMBUS_MODALIAS(hex)	"kvmbus:" hex

/**
 * struct kvmbus_device_id - one device class a driver binds to
 * @class_id: the class UUID from the host's offer
 * @driver_data: private to the driver
 *
 * A table of these ends with an entry whose @class_id is all zeroes.
 */
struct kvmbus_device_id {
	uuid_t class_id;
	kernel_ulong_t driver_data;
};

/**
 * struct kvmbus_subchannel - a sub-channel the host granted (private to
 *	kvmbus.ko)
 * @relid: the host's id of the sub-channel; 0 while not granted
 * @vector: its doorbell and interrupt vector
 * @chan: the open channel, if any
 */
struct kvmbus_subchannel {
	u32 relid;
	u16 vector;
	struct kvmbus_channel *chan;
};

/**
 * struct kvmbus_device - a channel offered by the host, seen as a device
 * @dev: the driver-model device
 * @class_id: what kind of device the host offered
 * @instance_id: which one; stable across host restarts
 * @relid: the host's id of the primary channel
 * @vector: the channel's doorbell and interrupt vector
 * @max_subchannels: sub-channels the host allows (kvmbus_subchannels_request())
 * @offer_data_len: valid bytes of @offer_data
 * @offer_data: the offer's class-specific data
 * @bus: the connection it was offered on (private to kvmbus.ko)
 * @chan_lock: protects @chan, @sub and @rescinded (private to kvmbus.ko)
 * @chan: the open primary channel, if any (private to kvmbus.ko)
 * @sub: sub-channel i + 1 (private to kvmbus.ko)
 * @chans_claimed: bit i: channel i (0: primary) is open or opening
 *	(private to kvmbus.ko)
 * @rescinded: the host took the device back (private to kvmbus.ko)
 * @chan_dir: sysfs channels/, while a channel is open (private to kvmbus.ko)
 * @chan_dir_users: open channels in @chan_dir (private to kvmbus.ko)
 * @park_node: on the bus's list of devices kept while the host is gone
 *	(private to kvmbus.ko)
 */
struct kvmbus_device {
	struct device dev;
	uuid_t class_id;
	uuid_t instance_id;
	u32 relid;
	u16 vector;
	u16 max_subchannels;
	u32 offer_data_len;
	u8 offer_data[KVMBUS_OFFER_DATA_MAX];
	struct kvmbus_bus *bus;
	spinlock_t chan_lock;	/* @chan, @sub, @chans_claimed, @rescinded */
	struct kvmbus_channel *chan;
	struct kvmbus_subchannel sub[KVMBUS_MAX_SUBCHANNELS];
	u64 chans_claimed;
	bool rescinded;
	struct kobject *chan_dir;
	unsigned int chan_dir_users;
	struct list_head park_node;
};

#define to_kvmbus_device(d)	container_of(d, struct kvmbus_device, dev)

/**
 * struct kvmbus_driver - a class driver
 * @name: the driver's name
 * @id_table: the classes it binds to
 * @probe: bind to a device; 0 or a negative errno
 * @remove: unbind; the device may already be gone on the host side
 * @host_lost: optional, with @host_back: kvmbusd died (docs/protocol.md,
 *	"Backend restart") and the device is kept instead of removed.  Every
 *	send already fails and kvmbus_chan_rescinded() is true; the driver
 *	stops its I/O, closes every channel and tears down every GPADL (both
 *	succeed at once, the host holds nothing), and keeps what it shows
 *	the rest of the kernel (netdev, SCSI host).  Sleeps; no return value.
 * @host_back: a new kvmbusd offered the device again (same class and
 *	instance id): relid, vector, @max_subchannels and offer data may be
 *	new and must be checked again.  The driver opens its channels again
 *	as in probe and restarts I/O.  An error removes the device (its
 *	@remove then runs on a quiesced device: every channel closed) and
 *	the offer is probed as a new device, so a driver refuses what it
 *	cannot resume with (other features, smaller limits) and gets a
 *	device set up for the new offer.  A device not offered again
 *	within the grace period (kvmbus.host_grace) is removed.
 * @driver: the driver-model driver
 *
 * Between @host_lost and @host_back, or @remove, nothing of the channel
 * API but kvmbus_chan_rescinded() may be used on the device.  Drivers
 * without the pair have their devices removed when the host is lost and
 * probed anew from the new host's offers.
 */
struct kvmbus_driver {
	const char *name;
	const struct kvmbus_device_id *id_table;
	int (*probe)(struct kvmbus_device *kdev,
		     const struct kvmbus_device_id *id);
	void (*remove)(struct kvmbus_device *kdev);
	void (*host_lost)(struct kvmbus_device *kdev);
	int (*host_back)(struct kvmbus_device *kdev);
	struct device_driver driver;
};

#define to_kvmbus_driver(d)	container_of(d, struct kvmbus_driver, driver)

/**
 * struct kvmbus_chan_config - how to open a channel
 * @g2h_size: data bytes of the guest-to-host ring (whole pages)
 * @h2g_size: data bytes of the host-to-guest ring (whole pages)
 * @callback: called in interrupt context when the host signals
 * @ctx: passed to @callback
 * @sub_index: 0 opens the primary channel, 1..n that sub-channel (once
 *	kvmbus_subchannels_request() granted it)
 */
struct kvmbus_chan_config {
	u32 g2h_size;
	u32 h2g_size;
	u16 sub_index;
	void (*callback)(struct kvmbus_channel *chan, void *ctx);
	void *ctx;
};

int kvmbus_subchannels_request(struct kvmbus_device *kdev, u16 count);
int kvmbus_channel_open(struct kvmbus_device *kdev,
			const struct kvmbus_chan_config *cfg,
			struct kvmbus_channel **out);
void kvmbus_channel_close(struct kvmbus_channel *chan);
int kvmbus_chan_put(struct kvmbus_channel *chan, const struct kvmbus_ring_pkt *p);
void kvmbus_chan_flush(struct kvmbus_channel *chan);
int kvmbus_chan_send(struct kvmbus_channel *chan,
		     const struct kvmbus_ring_pkt *p);
int kvmbus_chan_recv(struct kvmbus_channel *chan, void *buf, u32 len,
		     struct kvmbus_pkt_info *pi);
bool kvmbus_chan_recv_done(struct kvmbus_channel *chan);
void kvmbus_chan_mask(struct kvmbus_channel *chan);
bool kvmbus_chan_unmask(struct kvmbus_channel *chan);
bool kvmbus_chan_rescinded(struct kvmbus_channel *chan);
bool kvmbus_chan_host_lost(struct kvmbus_channel *chan);
int kvmbus_chan_cpu(const struct kvmbus_channel *chan);
int kvmbus_chan_set_cpu(struct kvmbus_channel *chan, unsigned int cpu);
int kvmbus_gpadl_create(struct kvmbus_device *kdev, void *buf, size_t size,
			u32 *gpadl);
int kvmbus_gpadl_teardown(struct kvmbus_device *kdev, u32 gpadl);

/*
 * Transaction ids for requests (drivers/vmbus/reqtab.c): never a guest
 * pointer on the wire, and stale, duplicate or forged completions are
 * rejected.
 */
struct kvmbus_reqtab *kvmbus_reqtab_create(unsigned int size);
void kvmbus_reqtab_destroy(struct kvmbus_reqtab *t);
int kvmbus_reqtab_alloc(struct kvmbus_reqtab *t, void *ctx, u64 *id);
void *kvmbus_reqtab_take(struct kvmbus_reqtab *t, u64 id);
void *kvmbus_reqtab_take_any(struct kvmbus_reqtab *t);
unsigned int kvmbus_reqtab_live(struct kvmbus_reqtab *t);

int __kvmbus_driver_register(struct kvmbus_driver *kdrv, struct module *owner,
			     const char *mod_name);
void kvmbus_driver_unregister(struct kvmbus_driver *kdrv);

#define kvmbus_driver_register(kdrv) \
	__kvmbus_driver_register(kdrv, THIS_MODULE, KBUILD_MODNAME)

/*
 * module_kvmbus_driver() - the module_init/module_exit pair of a module
 * whose only job is to register one kvmbus driver.
 */
#define module_kvmbus_driver(kdrv) \
	module_driver(kdrv, kvmbus_driver_register, kvmbus_driver_unregister)

#endif /* _KVMBUS_KVMBUS_H */
