// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbus channel interrupts and CPUs.
 *
 * Each channel takes its interrupts on its MSI-X vector, and each vector
 * in use is bound to one CPU: the first channel to open on a vector picks
 * the next online CPU, round robin in open order, so a device's channels
 * (and sub-channels) spread over the CPUs.  kvmbus_chan_set_cpu() (and
 * the channel's sysfs "cpu") moves it.  When the host serves fewer
 * vectors than there are channels, channels share a vector, and moving
 * one moves all channels on that vector: the binding belongs to the
 * vector.
 *
 * CPU hotplug: before a CPU goes offline, the vectors bound to it move to
 * other online CPUs (the kernel would otherwise break the affinity itself
 * and complain); when the CPU the binding was chosen for comes back, they
 * move back.  bind_lock orders with the hotplug lock the usual way: taken
 * inside cpus_read_lock(), and inside the hotplug callbacks.
 */
#include <linux/cpu.h>
#include <linux/cpuhotplug.h>
#include <linux/interrupt.h>

#include "kvmbus_internal.h"

static enum cpuhp_state kvmbus_cpuhp_state;

/* The next online CPU after the last one handed out, never @avoid. */
static int kvmbus_next_cpu(struct kvmbus_bus *bus, int avoid)
{
	int cpu = bus->next_cpu;
	unsigned int i;

	for (i = 0; i < nr_cpu_ids; i++) {
		cpu = cpumask_next(cpu, cpu_online_mask);
		if (cpu >= nr_cpu_ids)
			cpu = cpumask_first(cpu_online_mask);
		if (cpu >= nr_cpu_ids)
			return -1;
		if (cpu != avoid) {
			bus->next_cpu = cpu;
			return cpu;
		}
	}
	return -1;
}

/* Point vector @v's interrupt at @cpu; bind_lock is held. */
static int kvmbus_vec_move(struct kvmbus_bus *bus, u16 v, int cpu)
{
	int ret;

	ret = irq_set_affinity(pci_irq_vector(bus->pdev, v), cpumask_of(cpu));
	if (!ret)
		WRITE_ONCE(bus->vec[v].cpu, cpu);
	return ret;
}

/**
 * kvmbus_chan_bind() - bind a newly opened channel's interrupt to a CPU
 * @chan: the channel, its interrupt requested
 *
 * The first channel on a vector spreads it to the next online CPU;
 * later ones share the vector's CPU.  A failure leaves the interrupt
 * where the kernel put it (the cpu attribute then reads -1).
 */
void kvmbus_chan_bind(struct kvmbus_channel *chan)
{
	struct kvmbus_bus *bus = chan->kdev->bus;
	u16 v = kvmbus_chan_vector(chan);
	struct kvmbus_vec_bind *b = &bus->vec[v];
	int cpu, ret = 0;

	cpus_read_lock();
	mutex_lock(&bus->bind_lock);
	if (!b->users++) {
		cpu = kvmbus_next_cpu(bus, -1);
		ret = cpu < 0 ? -ENODEV : kvmbus_vec_move(bus, v, cpu);
		b->want = ret ? -1 : cpu;
		if (ret)
			WRITE_ONCE(b->cpu, -1);
	}
	mutex_unlock(&bus->bind_lock);
	cpus_read_unlock();
	if (ret)
		dev_warn(&chan->kdev->dev,
			 "vector %u: interrupt not bound to a CPU: %d\n", v, ret);
}

/**
 * kvmbus_chan_unbind() - the channel is about to free its interrupt
 * @chan: the channel
 */
void kvmbus_chan_unbind(struct kvmbus_channel *chan)
{
	struct kvmbus_bus *bus = chan->kdev->bus;
	struct kvmbus_vec_bind *b = &bus->vec[kvmbus_chan_vector(chan)];

	mutex_lock(&bus->bind_lock);
	if (!WARN_ON_ONCE(!b->users))
		b->users--;
	mutex_unlock(&bus->bind_lock);
}

/**
 * kvmbus_chan_cpu() - the CPU a channel's interrupt is bound to
 * @chan: an open channel
 *
 * Return: the CPU, or -1 when binding failed and the interrupt stays
 * where the kernel put it.
 */
int kvmbus_chan_cpu(const struct kvmbus_channel *chan)
{
	return READ_ONCE(chan->kdev->bus->vec[kvmbus_chan_vector(chan)].cpu);
}
EXPORT_SYMBOL_GPL(kvmbus_chan_cpu);

/**
 * kvmbus_chan_set_cpu() - move a channel's interrupt to a CPU
 * @chan: an open channel
 * @cpu: an online CPU
 *
 * Channels that share the vector move with it.  The binding survives the
 * CPU going offline and coming back (meanwhile the interrupt is served
 * elsewhere).  Process context.
 *
 * Return: 0; -EINVAL when @cpu is not an online CPU, nothing changed; or
 * the error from the interrupt core.
 */
int kvmbus_chan_set_cpu(struct kvmbus_channel *chan, unsigned int cpu)
{
	struct kvmbus_bus *bus = chan->kdev->bus;
	u16 v = kvmbus_chan_vector(chan);
	int ret = -EINVAL;

	cpus_read_lock();
	if (cpu < nr_cpu_ids && cpu_online(cpu)) {
		mutex_lock(&bus->bind_lock);
		ret = kvmbus_vec_move(bus, v, cpu);
		if (!ret)
			bus->vec[v].want = cpu;
		mutex_unlock(&bus->bind_lock);
	}
	cpus_read_unlock();
	return ret;
}
EXPORT_SYMBOL_GPL(kvmbus_chan_set_cpu);

/* @cpu is going offline (still online, interrupts still on it). */
static int kvmbus_cpu_offline(unsigned int cpu, struct hlist_node *node)
{
	struct kvmbus_bus *bus = hlist_entry(node, struct kvmbus_bus,
					     cpuhp_node);
	int to;
	u16 v;

	mutex_lock(&bus->bind_lock);
	for (v = 0; v < bus->nr_vectors; v++) {
		if (!bus->vec[v].users || bus->vec[v].cpu != (int)cpu)
			continue;
		to = kvmbus_next_cpu(bus, cpu);
		/* On failure the kernel moves it, breaking the affinity. */
		if (to < 0 || kvmbus_vec_move(bus, v, to))
			dev_warn(&bus->pdev->dev,
				 "vector %u: not moved off CPU %u\n", v, cpu);
	}
	mutex_unlock(&bus->bind_lock);
	return 0;
}

/* @cpu is online: vectors bound to it come home. */
static int kvmbus_cpu_online(unsigned int cpu, struct hlist_node *node)
{
	struct kvmbus_bus *bus = hlist_entry(node, struct kvmbus_bus,
					     cpuhp_node);
	u16 v;

	mutex_lock(&bus->bind_lock);
	for (v = 0; v < bus->nr_vectors; v++)
		if (bus->vec[v].users && bus->vec[v].want == (int)cpu &&
		    bus->vec[v].cpu != (int)cpu)
			kvmbus_vec_move(bus, v, cpu);
	mutex_unlock(&bus->bind_lock);
	return 0;
}

/**
 * kvmbus_cpu_bus_init() - start following CPU hotplug for a connection
 * @bus: the connection, before any channel opens
 *
 * Return: 0 or a negative errno.
 */
int kvmbus_cpu_bus_init(struct kvmbus_bus *bus)
{
	mutex_init(&bus->bind_lock);
	bus->next_cpu = -1;
	return cpuhp_state_add_instance_nocalls(kvmbus_cpuhp_state,
						&bus->cpuhp_node);
}

/**
 * kvmbus_cpu_bus_exit() - stop following CPU hotplug
 * @bus: the connection, every channel closed
 */
void kvmbus_cpu_bus_exit(struct kvmbus_bus *bus)
{
	cpuhp_state_remove_instance_nocalls(kvmbus_cpuhp_state,
					    &bus->cpuhp_node);
}

int kvmbus_cpu_init(void)
{
	int ret;

	ret = cpuhp_setup_state_multi(CPUHP_AP_ONLINE_DYN, "kvmbus:online",
				      kvmbus_cpu_online, kvmbus_cpu_offline);
	if (ret < 0)
		return ret;
	kvmbus_cpuhp_state = ret;
	return 0;
}

void kvmbus_cpu_exit(void)
{
	cpuhp_remove_multi_state(kvmbus_cpuhp_state);
}
