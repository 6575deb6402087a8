/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The balancer's plan (`kvmbusctl balance`): share a memory budget
 * between several VMs' balloon devices, the way Hyper-V Dynamic Memory
 * keeps a buffer above each guest's demand.
 *
 * A guest's demand is the memory it uses (its MemTotal less MemAvailable,
 * from its last report) plus a headroom percentage of that, at least
 * @min_mem and at most its RAM.  While the demands fit the budget, every
 * guest gets its demand and the rest is shared in proportion to demand
 * (capped at each guest's RAM; what a capped guest cannot take goes to
 * the others).  When they do not fit, each guest gets its share of the
 * budget in proportion to its demand, but never less than @min_mem: an
 * over-committed host squeezes every guest alike, and a guest that needs
 * more shows a higher demand on the next round.
 */
#ifndef KVMBUSD_BALANCE_H
#define KVMBUSD_BALANCE_H

#include <stdbool.h>
#include <stdint.h>

struct balance_vm {
	bool ok;		/* has a balloon and a report: planned */
	uint64_t ram;		/* guest RAM, bytes */
	uint64_t used;		/* in use (total - available), bytes */
	uint64_t demand;	/* out: used + headroom, clamped */
	uint64_t target;	/* out: the memory it should have */
};

/*
 * balance_plan() - targets for @n VMs under @budget bytes
 * @headroom_pct: buffer above demand, percent (0..1000)
 * @min_mem: no guest is planned below this (bytes)
 *
 * VMs without ->ok are left alone (their target is not set).
 */
void balance_plan(struct balance_vm *vms, unsigned int n, uint64_t budget,
		  unsigned int headroom_pct, uint64_t min_mem);

#endif /* KVMBUSD_BALANCE_H */
