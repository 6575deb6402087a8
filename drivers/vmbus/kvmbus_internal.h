/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kvmbus.ko internals shared between its parts: the bus type, and later
 * the transport and the control plane.  Class drivers never include this.
 */
#ifndef _KVMBUS_INTERNAL_H
#define _KVMBUS_INTERNAL_H

#include <linux/atomic.h>
#include <linux/pci.h>
#include <linux/wait.h>
#include <kvmbus/kvmbus.h>

#include "ring.h"

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
 * @signals: doorbells rung
 * @ctl_interrupts: control-vector interrupts taken
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
	atomic64_t signals;
	atomic64_t ctl_interrupts;
};

int kvmbus_bus_init(void);
void kvmbus_bus_exit(void);
int kvmbus_pci_init(void);
void kvmbus_pci_exit(void);

#endif /* _KVMBUS_INTERNAL_H */
