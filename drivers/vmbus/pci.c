// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbus transport: QEMU's ivshmem-doorbell PCI device, served by kvmbusd.
 *
 * BAR0 holds the doorbell register, BAR1 the MSI-X table and BAR2 the
 * mailbox kvmbusd prepared (docs/protocol.md sections 2 and 3).  An
 * ivshmem device is claimed only when BAR2 starts with the kvmbus magic;
 * any other ivshmem device is left alone.
 *
 * Bootstrap: the control rings are allocated in guest RAM, their address
 * goes into the mailbox, doorbell vector 0 rings, and the host answers by
 * setting its mailbox state for our generation and signalling vector 0.
 */
#include <linux/interrupt.h>
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>

#include "kvmbus_internal.h"

#define IVSHMEM_DEVICE_ID	0x1110
#define IVSHMEM_BAR_REGS	0
#define IVSHMEM_BAR_MBOX	2

/* Pages per control ring, header included. */
#define KVMBUS_CTL_RING_PAGES	8
#define KVMBUS_MBOX_TIMEOUT_MS	5000

/**
 * kvmbus_signal() - ring kvmbusd's doorbell for one vector
 * @bus: the connection
 * @vector: the channel's (or the control) vector
 */
void kvmbus_signal(struct kvmbus_bus *bus, u16 vector)
{
	/* Peer 0 is kvmbusd.  writel() orders the doorbell after our ring
	 * stores.
	 */
	writel(vector, bus->regs + KVMBUS_IVSHMEM_DOORBELL);
	atomic64_inc(&bus->signals);
}

static irqreturn_t kvmbus_ctl_irq(int irq, void *data)
{
	struct kvmbus_bus *bus = data;

	atomic64_inc(&bus->ctl_interrupts);
	wake_up(&bus->mbox_wait);
	/* The supervisor raises this vector when kvmbusd died. */
	if (kvmbus_ctl_host_gone(bus))
		queue_work(bus->reset_wq, &bus->reset_work);
	else
		kvmbus_ctl_kick(bus);
	return IRQ_HANDLED;
}

/* Check what the host put in the mailbox, each field read once. */
static int kvmbus_pci_check_mbox(struct kvmbus_bus *bus)
{
	struct kvmbus_bar_hdr __iomem *mbox = bus->mbox;
	struct device *dev = &bus->pdev->dev;
	u8 magic[KVMBUS_BAR_MAGIC_LEN];
	u32 layout, vmin, vmax, nvec;

	memcpy_fromio(magic, mbox->magic, sizeof(magic));
	if (memcmp(magic, KVMBUS_BAR_MAGIC, sizeof(magic))) {
		dev_dbg(dev, "not a kvmbus ivshmem device\n");
		return -ENODEV;
	}
	layout = ioread32(&mbox->layout);
	vmin = ioread32(&mbox->host_version_min);
	vmax = ioread32(&mbox->host_version_max);
	nvec = ioread32(&mbox->nr_vectors);
	if (layout != KVMBUS_BAR_LAYOUT_1) {
		dev_err(dev, "mailbox layout %u not supported\n", layout);
		return -EPROTO;
	}
	if (!kvmbus_version_pick(KVMBUS_VERSION_MIN, KVMBUS_VERSION_MAX,
				 vmin, vmax)) {
		dev_err(dev, "host speaks versions %#x..%#x, we speak %#x..%#x\n",
			vmin, vmax, KVMBUS_VERSION_MIN, KVMBUS_VERSION_MAX);
		return -EPROTO;
	}
	if (!nvec || nvec > KVMBUS_MAX_VECTORS) {
		dev_err(dev, "host offers %u vectors\n", nvec);
		return -EPROTO;
	}
	bus->host_vectors = nvec;
	return 0;
}

static int kvmbus_pci_alloc_ctl(struct kvmbus_bus *bus)
{
	size_t ring = KVMBUS_CTL_RING_PAGES * PAGE_SIZE;

	bus->ctl_mem = alloc_pages_exact(2 * ring, GFP_KERNEL | __GFP_ZERO);
	if (!bus->ctl_mem)
		return -ENOMEM;
	kvmbus_ring_create(&bus->ctl_out, bus->ctl_mem,
			   bus->ctl_mem + PAGE_SIZE, ring - PAGE_SIZE);
	kvmbus_ring_create(&bus->ctl_in, bus->ctl_mem + ring,
			   bus->ctl_mem + ring + PAGE_SIZE, ring - PAGE_SIZE);
	return 0;
}

static void kvmbus_pci_free_ctl(struct kvmbus_bus *bus)
{
	if (bus->ctl_mem)
		free_pages_exact(bus->ctl_mem,
				 2 * KVMBUS_CTL_RING_PAGES * PAGE_SIZE);
	bus->ctl_mem = NULL;
}

/*
 * Has the host answered generation @gen with a state in @mask?  The state
 * is read once, range-checked (it indexes a bit mask) and handed back in
 * @state, so the caller acts on exactly what was judged here.
 */
static bool kvmbus_host_answered(struct kvmbus_bus *bus, u32 gen, u32 mask,
				 u32 *state)
{
	u32 acked = ioread32(&bus->mbox->acked_generation);
	u32 st;

	/* host_state is meaningful only once it answers our generation;
	 * the host writes acked_generation before host_state.
	 */
	rmb();
	if (acked != gen)
		return false;
	st = ioread32(&bus->mbox->host_state);
	if (st >= BITS_PER_TYPE(mask) || !(BIT(st) & mask))
		return false;
	*state = st;
	return true;
}

/* Wait for an answer in @mask to our generation; @state gets it. */
static int kvmbus_pci_wait_host(struct kvmbus_bus *bus, u32 mask, u32 *state)
{
	long left;

	left = wait_event_timeout(bus->mbox_wait,
				  kvmbus_host_answered(bus, bus->generation,
						       mask, state),
				  msecs_to_jiffies(KVMBUS_MBOX_TIMEOUT_MS));
	if (!left && !kvmbus_host_answered(bus, bus->generation, mask, state))
		return -ETIMEDOUT;
	return 0;
}

/* Offer the control rings at ctl_mem to the host under a new generation. */
static void kvmbus_pci_publish_rings(struct kvmbus_bus *bus)
{
	struct kvmbus_bar_hdr __iomem *mbox = bus->mbox;

	bus->generation = ioread32(&mbox->guest_generation) + 1;
	iowrite32(KVMBUS_CTL_RING_PAGES, &mbox->ctl_ring_pages);
	lo_hi_writeq(virt_to_phys(bus->ctl_mem), &mbox->ctl_gpa);
	iowrite32(bus->generation, &mbox->guest_generation);
	/* The host reads the fields above only after it sees CONNECT. */
	wmb();
	iowrite32(KVMBUS_MBOX_CONNECT, &mbox->guest_state);
}

/* Publish the control rings and wait for the host to take them. */
static int kvmbus_pci_connect(struct kvmbus_bus *bus)
{
	struct kvmbus_bar_hdr __iomem *mbox = bus->mbox;
	struct device *dev = &bus->pdev->dev;
	u32 state;
	int ret;

	kvmbus_pci_publish_rings(bus);
	kvmbus_signal(bus, KVMBUS_CTL_VECTOR);

	ret = kvmbus_pci_wait_host(bus, BIT(KVMBUS_MBOX_ONLINE) |
				   BIT(KVMBUS_MBOX_ERROR), &state);
	if (ret) {
		dev_err(dev, "kvmbusd did not answer within %u ms\n",
			KVMBUS_MBOX_TIMEOUT_MS);
		return ret;
	}
	if (state != KVMBUS_MBOX_ONLINE) {
		dev_err(dev, "kvmbusd refused the control ring: error %u\n",
			ioread32(&mbox->host_error));
		return -ECONNREFUSED;
	}
	bus->host_gen = ioread32(&mbox->host_generation);
	dev_info(dev, "connected to kvmbusd (host generation %u, %u vectors)\n",
		 bus->host_gen, bus->nr_vectors);
	return 0;
}

/**
 * kvmbus_pci_reconnect() - publish fresh control rings to a new kvmbusd
 * @bus: a connection whose host was lost; nothing touches the rings
 *
 * Waits until the host answers, ringing its doorbell again every second
 * (a restarted kvmbusd may not run yet), or until the device goes away.
 *
 * Return: 0, -ECONNREFUSED when the host refused the rings, or -ENODEV
 * when the device is being removed.
 */
int kvmbus_pci_reconnect(struct kvmbus_bus *bus)
{
	struct kvmbus_bar_hdr __iomem *mbox = bus->mbox;
	size_t ring = KVMBUS_CTL_RING_PAGES * PAGE_SIZE;
	u32 state = KVMBUS_MBOX_ERROR;

	/* The old host is dead: the rings start again from zero. */
	memset(bus->ctl_mem, 0, 2 * ring);
	kvmbus_ring_create(&bus->ctl_out, bus->ctl_mem,
			   bus->ctl_mem + PAGE_SIZE, ring - PAGE_SIZE);
	kvmbus_ring_create(&bus->ctl_in, bus->ctl_mem + ring,
			   bus->ctl_mem + ring + PAGE_SIZE, ring - PAGE_SIZE);

	kvmbus_pci_publish_rings(bus);

	while (!READ_ONCE(bus->dying)) {
		kvmbus_signal(bus, KVMBUS_CTL_VECTOR);
		if (wait_event_timeout(bus->mbox_wait,
				       kvmbus_host_answered(bus, bus->generation,
							    BIT(KVMBUS_MBOX_ONLINE) |
							    BIT(KVMBUS_MBOX_ERROR),
							    &state) ||
				       READ_ONCE(bus->dying), HZ))
			break;
	}
	if (READ_ONCE(bus->dying))
		return -ENODEV;
	if (state != KVMBUS_MBOX_ONLINE) {
		dev_err(&bus->pdev->dev, "the new kvmbusd refused the control ring: error %u\n",
			ioread32(&mbox->host_error));
		return -ECONNREFUSED;
	}
	bus->host_gen = ioread32(&mbox->host_generation);
	dev_info(&bus->pdev->dev, "reconnected to kvmbusd (host generation %u)\n",
		 bus->host_gen);
	return 0;
}

/* Withdraw the control rings; true once the host has let go of them. */
static bool kvmbus_pci_disconnect(struct kvmbus_bus *bus)
{
	u32 state;

	iowrite32(KVMBUS_MBOX_RESET, &bus->mbox->guest_state);
	kvmbus_signal(bus, KVMBUS_CTL_VECTOR);
	if (kvmbus_pci_wait_host(bus, BIT(KVMBUS_MBOX_IDLE), &state)) {
		/* Never hand pages the host may still write back to the
		 * allocator: a small leak beats memory corruption.
		 */
		dev_warn(&bus->pdev->dev,
			 "kvmbusd did not release the control ring; leaking it\n");
		return false;
	}
	return true;
}

static int kvmbus_pci_probe(struct pci_dev *pdev,
			    const struct pci_device_id *id)
{
	struct device *dev = &pdev->dev;
	struct kvmbus_bus *bus;
	int ret, nvec;

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	if (pci_resource_len(pdev, IVSHMEM_BAR_MBOX) <
	    sizeof(struct kvmbus_bar_hdr))
		return -ENODEV;
	ret = pcim_iomap_regions(pdev, BIT(IVSHMEM_BAR_REGS) |
				 BIT(IVSHMEM_BAR_MBOX), KBUILD_MODNAME);
	if (ret)
		return ret;

	bus = devm_kzalloc(dev, sizeof(*bus), GFP_KERNEL);
	if (!bus)
		return -ENOMEM;
	bus->pdev = pdev;
	bus->regs = pcim_iomap_table(pdev)[IVSHMEM_BAR_REGS];
	bus->mbox = pcim_iomap_table(pdev)[IVSHMEM_BAR_MBOX];
	init_waitqueue_head(&bus->mbox_wait);
	mutex_init(&bus->chan_dir_lock);

	ret = kvmbus_pci_check_mbox(bus);
	if (ret)
		return ret;

	/* kvmbusd picks each channel's vector, so take all it serves;
	 * an interrupt is requested only when a channel opens.
	 */
	nvec = pci_alloc_irq_vectors(pdev, 1, bus->host_vectors,
				     PCI_IRQ_MSIX);
	if (nvec < 0) {
		dev_err(dev, "no MSI-X vectors: %d\n", nvec);
		return nvec;
	}
	if (nvec < bus->host_vectors)
		dev_warn(dev, "only %d of %u MSI-X vectors\n", nvec,
			 bus->host_vectors);
	bus->nr_vectors = nvec;
	pci_set_master(pdev);

	ret = kvmbus_cpu_bus_init(bus);
	if (ret)
		goto err_free_vectors;
	ret = kvmbus_pci_alloc_ctl(bus);
	if (ret)
		goto err_cpu_exit;
	ret = kvmbus_ctl_init(bus);
	if (ret)
		goto err_free_ctl;
	ret = request_irq(pci_irq_vector(pdev, KVMBUS_CTL_VECTOR),
			  kvmbus_ctl_irq, 0, "kvmbus-ctl", bus);
	if (ret)
		goto err_ctl_destroy;
	ret = kvmbus_pci_connect(bus);
	if (ret)
		goto err_disconnect;
	ret = kvmbus_ctl_start(bus);
	if (ret)
		goto err_disconnect;

	pci_set_drvdata(pdev, bus);
	kvmbus_ctl_watch(bus);
	return 0;

err_disconnect:
	if (!kvmbus_pci_disconnect(bus))
		bus->ctl_mem = NULL;	/* leaked on purpose, see above */
	free_irq(pci_irq_vector(pdev, KVMBUS_CTL_VECTOR), bus);
err_ctl_destroy:
	kvmbus_ctl_destroy(bus);
err_free_ctl:
	kvmbus_pci_free_ctl(bus);
err_cpu_exit:
	kvmbus_cpu_bus_exit(bus);
err_free_vectors:
	pci_free_irq_vectors(pdev);
	return ret;
}

static void kvmbus_pci_remove(struct pci_dev *pdev)
{
	struct kvmbus_bus *bus = pci_get_drvdata(pdev);

	kvmbus_ctl_stop(bus);
	if (!kvmbus_pci_disconnect(bus))
		bus->ctl_mem = NULL;	/* leaked on purpose */
	free_irq(pci_irq_vector(pdev, KVMBUS_CTL_VECTOR), bus);
	kvmbus_ctl_destroy(bus);
	kvmbus_pci_free_ctl(bus);
	kvmbus_cpu_bus_exit(bus);
	pci_free_irq_vectors(pdev);
}

/*
 * On reboot or kexec the next kernel may reuse the control ring's pages:
 * make kvmbusd let go of them first.  Devices and channels go with it.
 */
static void kvmbus_pci_shutdown(struct pci_dev *pdev)
{
	struct kvmbus_bus *bus = pci_get_drvdata(pdev);

	/* Withdrawing the rings makes the host answer IDLE: that must not
	 * look like a lost host to be reconnected to.
	 */
	kvmbus_ctl_quiesce(bus);
	if (!kvmbus_pci_disconnect(bus))
		dev_warn(&pdev->dev, "kvmbusd may still use the control ring\n");
}

static const struct pci_device_id kvmbus_pci_ids[] = {
	{ PCI_DEVICE(PCI_VENDOR_ID_REDHAT_QUMRANET, IVSHMEM_DEVICE_ID) },
	{ }
};
MODULE_DEVICE_TABLE(pci, kvmbus_pci_ids);

static struct pci_driver kvmbus_pci_driver = {
	.name		= KBUILD_MODNAME,
	.id_table	= kvmbus_pci_ids,
	.probe		= kvmbus_pci_probe,
	.remove		= kvmbus_pci_remove,
	.shutdown	= kvmbus_pci_shutdown,
};

int kvmbus_pci_init(void)
{
	return pci_register_driver(&kvmbus_pci_driver);
}

void kvmbus_pci_exit(void)
{
	pci_unregister_driver(&kvmbus_pci_driver);
}
