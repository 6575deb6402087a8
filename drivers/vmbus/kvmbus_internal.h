/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kvmbus.ko internals shared between its parts: the bus type, and later
 * the transport and the control plane.  Class drivers never include this.
 */
#ifndef _KVMBUS_INTERNAL_H
#define _KVMBUS_INTERNAL_H

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/idr.h>
#include <linux/list.h>
#include <linux/spinlock.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <kvmbus/kvmbus.h>

#include "ring.h"

#define KVMBUS_IVSHMEM_DOORBELL	12	/* BAR0 register */
#define KVMBUS_CTL_MSG_MAX	4096	/* largest control packet we take */
#define KVMBUS_CTL_TIMEOUT_MS	5000	/* how long we wait for kvmbusd */

/**
 * struct kvmbus_ctl_waiter - someone waiting for an answer from the host
 * @node: on kvmbus_bus.waiters while unanswered
 * @type: the answer's message type
 * @key: the relid or GPADL id it answers
 * @status: the host's status (0 or a positive errno)
 * @done: completed when the answer arrives
 */
struct kvmbus_ctl_waiter {
	struct list_head node;
	u32 type;
	u32 key;
	u32 status;
	struct completion done;
};

/**
 * struct kvmbus_channel - an open channel (opaque to class drivers)
 * @kdev: its device
 * @relid: the host's id of this channel (the device's, or a sub-channel's)
 * @vector: its doorbell and interrupt vector
 * @sub_index: 0 for the primary channel, 1..n for a sub-channel
 * @callback: the driver's, in interrupt context
 * @ctx: the driver's argument to @callback
 * @ring_mem: both rings (headers and data), vmalloc'ed
 * @ring_bytes: size of @ring_mem
 * @g2h_pages: pages of the guest-to-host ring, header included
 * @gpadl: the GPADL that hands @ring_mem to the host
 * @out: guest-to-host ring, producer side
 * @in: host-to-guest ring, consumer side
 * @out_lock: serialises producers on @out
 * @interrupts: interrupts taken
 * @broken_logged: bit 0: the broken ring was reported
 * @irq_name: for /proc/interrupts
 * @signals: doorbells rung for this channel
 * @ring_full: puts that found @out full
 * @sysfs: the channel's sysfs directory, while it has one
 */
struct kvmbus_channel {
	struct kvmbus_device *kdev;
	u32 relid;
	u16 vector;
	u16 sub_index;
	void (*callback)(struct kvmbus_channel *chan, void *ctx);
	void *ctx;
	void *ring_mem;
	size_t ring_bytes;
	u32 g2h_pages;
	u32 gpadl;
	struct kvmbus_ring out;
	struct kvmbus_ring in;
	spinlock_t out_lock;	/* producers on @out */
	atomic64_t interrupts;
	unsigned long broken_logged;
	char irq_name[24];
	atomic64_t signals;
	atomic64_t ring_full;
	struct kobject *sysfs;
};

/**
 * struct kvmbus_vec_bind - the CPU one MSI-X vector's interrupt is bound to
 * @users: open channels on the vector
 * @cpu: where it is bound now, or -1 (not bound: the kernel's choice)
 * @want: where it was put (spread, or kvmbus_chan_set_cpu()); @cpu
 *	differs only while @want is offline
 */
struct kvmbus_vec_bind {
	unsigned int users;
	int cpu;
	int want;
};

/**
 * struct kvmbus_bus - one kvmbus connection: an ivshmem device and kvmbusd
 * @pdev: the ivshmem-doorbell PCI device
 * @regs: BAR0, the ivshmem registers
 * @mbox: BAR2, the bootstrap mailbox
 * @host_vectors: vectors kvmbusd serves
 * @nr_vectors: MSI-X vectors we got
 * @generation: the guest_generation of our current connection
 * @mbox_wait: woken by the control vector
 * @ctl_mem: both control rings, contiguous guest RAM
 * @ctl_out: guest-to-host control ring
 * @ctl_in: host-to-guest control ring
 * @ctl_send_lock: serialises senders on @ctl_out
 * @ctl_wq: ordered: drains host messages, delivers answers
 * @hp_wq: ordered: offers and rescinds, in arrival order
 * @ctl_work: drains @ctl_in
 * @ctl_buf: @ctl_work's private copy of the current message
 * @version_done: VERSION_RESP arrived, in @version_resp
 * @offers_done: ALL_OFFERS_DONE arrived
 * @unload_done: UNLOAD_RESP arrived
 * @version_resp: the host's answer, copied out of the ring
 * @version: the negotiated protocol version
 * @devices: offered devices by relid
 * @dying: tearing down: offers and rescinds are ignored
 * @waiters_lock: protects @waiters
 * @waiters: struct kvmbus_ctl_waiter awaiting the host's answers
 * @gpadl_ids: GPADL ids in use
 * @signals: doorbells rung
 * @ctl_interrupts: control-vector interrupts taken
 * @ctl_malformed: control messages dropped as malformed
 * @ctl_unsupported: control messages not handled yet
 * @ctl_dropped: hot-plug events lost for want of memory
 * @bind_lock: protects @vec and @next_cpu
 * @next_cpu: the CPU the last vector was spread to
 * @cpuhp_node: on kvmbus.ko's CPU hotplug state
 * @vec: per vector, the CPU its interrupt is bound to
 * @chan_dir_lock: the devices' channels/ sysfs directories
 * @host_gen: the host_generation of the kvmbusd we are connected to
 * @online: connected and negotiated: the host is watched for a restart
 * @host_lost: the host is gone: every send fails with -ENOTCONN, and
 *	whatever it held (rings, GPADLs) is ours again
 * @epoch: bumped when the host is lost: hot-plug events queued before
 *	are stale
 * @reset_wq: runs @reset_work
 * @reset_work: removes every device and reconnects, see kvmbus_ctl_lost()
 * @watch_work: looks at the mailbox once a second, in case the signal
 *	that the host is gone was lost
 * @resets: reconnections after a lost host
 * @park_lock: protects @parked
 * @parked: devices kept (their drivers' host_lost ran) until the new host
 *	offers them again or @grace_work removes them
 * @grace_work: removes what is still parked kvmbus.host_grace seconds
 *	after the host was lost
 */
struct kvmbus_bus {
	struct pci_dev *pdev;
	void __iomem *regs;
	struct kvmbus_bar_hdr __iomem *mbox;
	u32 host_vectors;
	u32 nr_vectors;
	u32 generation;
	wait_queue_head_t mbox_wait;
	void *ctl_mem;
	struct kvmbus_ring ctl_out;
	struct kvmbus_ring ctl_in;
	struct mutex ctl_send_lock;	/* serialises senders on ctl_out */
	struct workqueue_struct *ctl_wq;
	struct workqueue_struct *hp_wq;
	struct work_struct ctl_work;
	u8 *ctl_buf;
	struct completion version_done;
	struct completion offers_done;
	struct completion unload_done;
	struct kvmbus_ctl_version_resp version_resp;
	u32 version;
	struct xarray devices;
	bool dying;
	spinlock_t waiters_lock;	/* protects waiters */
	struct list_head waiters;
	struct ida gpadl_ids;
	atomic64_t signals;
	atomic64_t ctl_interrupts;
	atomic64_t ctl_malformed;
	atomic64_t ctl_unsupported;
	atomic64_t ctl_dropped;
	struct mutex bind_lock;		/* vec, next_cpu */
	int next_cpu;
	struct hlist_node cpuhp_node;
	struct kvmbus_vec_bind vec[KVMBUS_MAX_VECTORS];
	struct mutex chan_dir_lock;	/* kdev->chan_dir, chan_dir_users */
	u32 host_gen;
	bool online;
	bool host_lost;
	unsigned int epoch;
	struct workqueue_struct *reset_wq;
	struct work_struct reset_work;
	struct delayed_work watch_work;
	atomic64_t resets;
	struct mutex park_lock;		/* parked */
	struct list_head parked;
	struct delayed_work grace_work;
};

/*
 * A channel's identity: its own relid, vector and index (a sub-channel's
 * differ from its device's).
 */
static inline u32 kvmbus_chan_relid(const struct kvmbus_channel *chan)
{
	return chan->relid;
}

static inline u16 kvmbus_chan_vector(const struct kvmbus_channel *chan)
{
	return chan->vector;
}

static inline u16 kvmbus_chan_sub_index(const struct kvmbus_channel *chan)
{
	return chan->sub_index;
}

static inline int kvmbus_chan_irqnr(const struct kvmbus_channel *chan)
{
	return pci_irq_vector(chan->kdev->bus->pdev, kvmbus_chan_vector(chan));
}

int kvmbus_bus_init(void);
void kvmbus_bus_exit(void);
int kvmbus_device_register(struct kvmbus_device *kdev, struct device *parent);
void kvmbus_device_mark_rescinded(struct kvmbus_device *kdev);
void kvmbus_chan_kick(struct kvmbus_channel *chan);

void kvmbus_chan_sysfs_add(struct kvmbus_channel *chan);
void kvmbus_chan_sysfs_del(struct kvmbus_channel *chan);

int kvmbus_cpu_init(void);
void kvmbus_cpu_exit(void);
int kvmbus_cpu_bus_init(struct kvmbus_bus *bus);
void kvmbus_cpu_bus_exit(struct kvmbus_bus *bus);
void kvmbus_chan_bind(struct kvmbus_channel *chan);
void kvmbus_chan_unbind(struct kvmbus_channel *chan);

int kvmbus_pci_init(void);
void kvmbus_pci_exit(void);
void kvmbus_signal(struct kvmbus_bus *bus, u16 vector);
int kvmbus_pci_reconnect(struct kvmbus_bus *bus);

int kvmbus_ctl_init(struct kvmbus_bus *bus);
int kvmbus_ctl_start(struct kvmbus_bus *bus);
void kvmbus_ctl_quiesce(struct kvmbus_bus *bus);
void kvmbus_ctl_stop(struct kvmbus_bus *bus);
void kvmbus_ctl_destroy(struct kvmbus_bus *bus);
void kvmbus_ctl_kick(struct kvmbus_bus *bus);
bool kvmbus_ctl_host_gone(struct kvmbus_bus *bus);
void kvmbus_ctl_watch(struct kvmbus_bus *bus);
int kvmbus_ctl_send(struct kvmbus_bus *bus, const void *msg, u32 len);
unsigned long kvmbus_ctl_nr_devices(struct kvmbus_bus *bus);
void kvmbus_ctl_wait_prepare(struct kvmbus_bus *bus,
			     struct kvmbus_ctl_waiter *w, u32 type, u32 key);
int kvmbus_ctl_wait_finish(struct kvmbus_bus *bus, struct kvmbus_ctl_waiter *w,
			   int sent, const char *what);

/* Has the host been lost?  Then nothing it held can be touched by it. */
static inline bool kvmbus_bus_lost(struct kvmbus_bus *bus)
{
	return READ_ONCE(bus->host_lost);
}

#endif /* _KVMBUS_INTERNAL_H */
