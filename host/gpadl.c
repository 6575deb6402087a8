// SPDX-License-Identifier: GPL-2.0-only
/*
 * GPADLs: assembly, validation and the per-connection table.  See gpadl.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gpadl.h"

#define PAGE_SHIFT	12
/* Largest pfn whose address, pfn << 12, fits 64 bits. */
#define PFN_MAX		(UINT64_MAX >> PAGE_SHIFT)
/* First allocation of a GPADL's run array; it doubles from there. */
#define RUNS_INITIAL	8u

void gpadls_init(struct gpadls *gs)
{
	memset(gs, 0, sizeof(*gs));
}

static void gpadl_free(struct gpadls *gs, struct gpadl *g)
{
	gs->count--;
	gs->pages -= g->total_pages;
	gs->runs -= g->nr_runs;
	free(g->runs);
	memset(g, 0, sizeof(*g));
}

void gpadls_drop_all(struct gpadls *gs)
{
	unsigned int i;

	for (i = 0; i < GPADL_MAX; i++)
		if (gs->slot[i].id)
			gpadl_free(gs, &gs->slot[i]);
}

struct gpadl *gpadls_find(struct gpadls *gs, uint32_t id)
{
	unsigned int i;

	if (!id)
		return NULL;
	for (i = 0; i < GPADL_MAX; i++)
		if (gs->slot[i].id == id)
			return &gs->slot[i];
	return NULL;
}

/* Room for one more run.  Return: 0, -ENOSPC or -ENOMEM. */
static int gpadl_grow(struct gpadls *gs, struct gpadl *g)
{
	struct guestmem_run *n;
	uint32_t cap;

	if (gs->runs >= GPADL_CONN_MAX_RUNS)
		return -ENOSPC;
	if (g->nr_runs < g->cap_runs)
		return 0;
	/* Never more runs than pages: a run is at least one page. */
	cap = g->cap_runs ? 2 * g->cap_runs : RUNS_INITIAL;
	if (cap > g->total_pages)
		cap = g->total_pages;
	n = realloc(g->runs, (size_t)cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	g->runs = n;
	g->cap_runs = cap;
	return 0;
}

/*
 * One run from the guest, a private copy: check it, then append it (or
 * extend the last run when it continues it in the guest and in the file).
 * Return: 0 or a positive errno.
 */
static uint32_t gpadl_add_run(struct gpadls *gs, struct guestmem *gm,
			      struct gpadl *g, const struct kvmbus_pfn_range *r)
{
	uint64_t pfn = le64_to_cpu(r->pfn);
	uint32_t nr = le32_to_cpu(r->nr_pages);
	uint64_t len, off;
	struct guestmem_run *last;
	int ret;

	if (!nr || nr > g->total_pages - g->pages)
		return EINVAL;		/* empty, or more than announced */
	/* nr <= 2^20 pages: len fits easily; pfn << 12 must too. */
	len = (uint64_t)nr << PAGE_SHIFT;
	if (pfn > PFN_MAX || guestmem_file_off(gm, pfn << PAGE_SHIFT, len, &off))
		return EFAULT;
	/* Mappable only at page offsets of the file (an odd --low-size). */
	if (off % KVMBUS_PAGE_SIZE)
		return EFAULT;

	last = g->nr_runs ? &g->runs[g->nr_runs - 1] : NULL;
	if (last && last->off + last->len == off) {
		/* A view needs file offsets only: a run the file
		 * continues is one mapping, even where the guest's last
		 * page below the hole is followed by its first above. */
		last->len += len;
	} else {
		ret = gpadl_grow(gs, g);
		if (ret)
			return (uint32_t)-ret;
		g->runs[g->nr_runs++] = (struct guestmem_run){
			.off = off,
			.len = len,
		};
		gs->runs++;
	}
	g->pages += nr;
	return 0;
}

/*
 * The ranges of a CREATE or BODY message, after its header.
 * Return: 0 or a positive errno.
 */
static uint32_t gpadl_add_ranges(struct gpadls *gs, struct guestmem *gm,
				 struct gpadl *g, const void *msg,
				 uint32_t len, uint32_t nr)
{
	const uint8_t *p = (const uint8_t *)msg + sizeof(struct kvmbus_ctl_gpadl);
	struct kvmbus_pfn_range r;
	uint32_t i, err;

	/* nr <= 64, so the product cannot overflow. */
	if (nr > KVMBUS_CTL_GPADL_MAX_RANGES ||
	    len < sizeof(struct kvmbus_ctl_gpadl) + nr * sizeof(r))
		return EINVAL;
	for (i = 0; i < nr; i++) {
		memcpy(&r, p + i * sizeof(r), sizeof(r));
		err = gpadl_add_run(gs, gm, g, &r);
		if (err)
			return err;
	}
	return 0;
}

static enum gpadl_res gpadl_fail(struct gpadls *gs, struct gpadl *g,
				 uint32_t err, uint32_t *status)
{
	if (g)
		gpadl_free(gs, g);
	gs->stats.failed++;
	*status = err;
	return GPADL_FAIL;
}

static enum gpadl_res gpadl_progress(struct gpadls *gs, struct gpadl *g)
{
	if (!gpadl_complete(g))
		return GPADL_MORE;
	gs->stats.created++;
	return GPADL_DONE;
}

enum gpadl_res gpadl_create(struct gpadls *gs, struct guestmem *gm,
			    const void *msg, uint32_t len, uint32_t *id,
			    uint32_t *status)
{
	struct kvmbus_ctl_gpadl m;
	struct gpadl *g = NULL;
	uint32_t total, err;
	unsigned int i;

	memcpy(&m, msg, sizeof(m));
	*id = le32_to_cpu(m.gpadl_id);
	total = le32_to_cpu(m.total_pages);
	if (!*id || !total)
		return gpadl_fail(gs, NULL, EINVAL, status);
	if (total > KVMBUS_GPADL_MAX_PAGES)
		return gpadl_fail(gs, NULL, E2BIG, status);
	if (gpadls_find(gs, *id))
		return gpadl_fail(gs, NULL, EEXIST, status);
	if (gs->count == GPADL_MAX ||
	    total > GPADL_CONN_MAX_PAGES - gs->pages)
		return gpadl_fail(gs, NULL, ENOSPC, status);

	for (i = 0; i < GPADL_MAX; i++) {
		if (!gs->slot[i].id) {
			g = &gs->slot[i];
			break;
		}
	}
	/* count < GPADL_MAX: there is a free slot. */
	g->id = *id;
	g->total_pages = total;
	gs->count++;
	gs->pages += total;

	err = gpadl_add_ranges(gs, gm, g, msg, len,
			       le32_to_cpu(m.nr_ranges));
	if (err)
		return gpadl_fail(gs, g, err, status);
	return gpadl_progress(gs, g);
}

enum gpadl_res gpadl_body(struct gpadls *gs, struct guestmem *gm,
			  const void *msg, uint32_t len, uint32_t *id,
			  uint32_t *status)
{
	struct kvmbus_ctl_gpadl m;
	struct gpadl *g;
	uint32_t nr, err;

	memcpy(&m, msg, sizeof(m));
	*id = le32_to_cpu(m.gpadl_id);
	g = gpadls_find(gs, *id);
	if (!g || gpadl_complete(g)) {
		gs->stats.ignored++;
		return GPADL_IGNORE;
	}
	nr = le32_to_cpu(m.nr_ranges);
	err = nr ? gpadl_add_ranges(gs, gm, g, msg, len, nr) : EINVAL;
	if (err)
		return gpadl_fail(gs, g, err, status);
	return gpadl_progress(gs, g);
}

int gpadl_teardown(struct gpadls *gs, uint32_t id)
{
	struct gpadl *g = gpadls_find(gs, id);

	if (!g) {
		gs->stats.teardown_failed++;
		return -ENOENT;
	}
	if (g->users) {
		gs->stats.teardown_failed++;
		return -EBUSY;
	}
	gpadl_free(gs, g);
	gs->stats.torn_down++;
	return 0;
}
