// SPDX-License-Identifier: GPL-2.0-only
/*
 * The balancer's plan: see balance.h.
 */
#include "balance.h"

#define MIB	(1ull << 20)

static uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Share @extra among the VMs not yet at their RAM, by demand.  Return:
 * what could not be placed. */
static uint64_t share(struct balance_vm *vms, unsigned int n, uint64_t extra)
{
	unsigned __int128 part;
	uint64_t weight = 0, left = extra, give;
	unsigned int i;

	for (i = 0; i < n; i++)
		if (vms[i].ok && vms[i].target < vms[i].ram)
			weight += vms[i].demand;
	if (!weight)
		return extra;
	for (i = 0; i < n; i++) {
		if (!vms[i].ok || vms[i].target >= vms[i].ram)
			continue;
		part = (unsigned __int128)extra * vms[i].demand / weight;
		give = (uint64_t)part;
		if (give > vms[i].ram - vms[i].target)
			give = vms[i].ram - vms[i].target;
		vms[i].target += give;
		left -= give;
	}
	return left;
}

void balance_plan(struct balance_vm *vms, unsigned int n, uint64_t budget,
		  unsigned int headroom_pct, uint64_t min_mem)
{
	uint64_t want = 0, left;
	unsigned int i, round;

	for (i = 0; i < n; i++) {
		struct balance_vm *v = &vms[i];
		unsigned __int128 d;

		if (!v->ok)
			continue;
		d = (unsigned __int128)v->used * (100 + headroom_pct) / 100;
		v->demand = clamp_u64(d > UINT64_MAX ? UINT64_MAX : (uint64_t)d,
				      min_mem < v->ram ? min_mem : v->ram, v->ram);
		want += v->demand;
	}
	if (want <= budget) {
		for (i = 0; i < n; i++)
			if (vms[i].ok)
				vms[i].target = vms[i].demand;
		left = budget - want;
		/* A few rounds place what capped guests could not take. */
		for (round = 0; round < n && left >= MIB; round++)
			left = share(vms, n, left);
		return;
	}
	for (i = 0; i < n; i++) {
		struct balance_vm *v = &vms[i];

		if (!v->ok)
			continue;
		v->target = (uint64_t)((unsigned __int128)budget * v->demand /
				       want);
		if (v->target < min_mem)
			v->target = min_mem < v->ram ? min_mem : v->ram;
	}
}
