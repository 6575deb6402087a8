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
};

int kvmbus_bus_init(void);
void kvmbus_bus_exit(void);
int kvmbus_device_register(struct kvmbus_device *kdev, struct device *parent);
void kvmbus_device_mark_rescinded(struct kvmbus_device *kdev);
void kvmbus_chan_kick(struct kvmbus_channel *chan);

int kvmbus_pci_init(void);
void kvmbus_pci_exit(void);
void kvmbus_signal(struct kvmbus_bus *bus, u16 vector);

int kvmbus_ctl_init(struct kvmbus_bus *bus);
int kvmbus_ctl_start(struct kvmbus_bus *bus);
void kvmbus_ctl_stop(struct kvmbus_bus *bus);
void kvmbus_ctl_destroy(struct kvmbus_bus *bus);
void kvmbus_ctl_kick(struct kvmbus_bus *bus);
int kvmbus_ctl_send(struct kvmbus_bus *bus, const void *msg, u32 len);
unsigned long kvmbus_ctl_nr_devices(struct kvmbus_bus *bus);
void kvmbus_ctl_wait_prepare(struct kvmbus_bus *bus,
			     struct kvmbus_ctl_waiter *w, u32 type, u32 key);
int kvmbus_ctl_wait_finish(struct kvmbus_bus *bus, struct kvmbus_ctl_waiter *w,
			   int sent, const char *what);

#endif /* _KVMBUS_INTERNAL_H */
