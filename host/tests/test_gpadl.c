// SPDX-License-Identifier: GPL-2.0-only
/*
 * GPADLs: assembly from GPADL_CREATE and GPADL_BODY, every malformed
 * case, the per-connection limits, teardown, and a view of a scattered
 * GPADL whose bytes are the guest's.  Guest RAM is a memfd split in two
 * around a RAM hole (1 MiB at GPA 0, 1 MiB at GPA 4 GiB), so runs that
 * cross the hole can be offered.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>

#include "fixture.h"
#include "gpadl.h"

#define PAGE		4096u
#define LOW		(1u << 20)
#define RAM		(2u << 20)
#define HIGH_PFN	((1ull << 32) / PAGE)	/* first page above the hole */
#define LOW_PAGES	(LOW / PAGE)

struct env {
	struct guestmem gm;
	struct gpadls gs;
	uint8_t msg[24 + 64 * 16 + 16];
};

static struct env *env_new(void)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	guestmem_memfd(&e->gm, RAM, LOW);
	gpadls_init(&e->gs);
	return e;
}

static void env_free(struct env *e)
{
	gpadls_drop_all(&e->gs);
	assert_int_equal(e->gs.count, 0);
	assert_int_equal(e->gs.pages, 0);
	assert_int_equal(e->gs.runs, 0);
	guestmem_close(&e->gm);
	free(e);
}

/* Build a CREATE / BODY message: @nr runs of (pfn, pages); returns its
 * length. */
static uint32_t build(struct env *e, uint32_t type, uint32_t id,
		      uint32_t total, uint32_t nr, const uint64_t (*runs)[2])
{
	struct kvmbus_ctl_gpadl m = {
		.hdr.type = cpu_to_le32(type),
		.gpadl_id = cpu_to_le32(id),
		.total_pages = cpu_to_le32(total),
		.nr_ranges = cpu_to_le32(nr),
	};
	struct kvmbus_pfn_range r;
	uint32_t i;

	memset(e->msg, 0, sizeof(e->msg));
	memcpy(e->msg, &m, sizeof(m));
	for (i = 0; i < nr && runs; i++) {
		r = (struct kvmbus_pfn_range){
			.pfn = cpu_to_le64(runs[i][0]),
			.nr_pages = cpu_to_le32((uint32_t)runs[i][1]),
		};
		memcpy(e->msg + sizeof(m) + i * sizeof(r), &r, sizeof(r));
	}
	return (uint32_t)(sizeof(m) + nr * sizeof(r));
}

static enum gpadl_res create(struct env *e, uint32_t id, uint32_t total,
			     uint32_t nr, const uint64_t (*runs)[2],
			     uint32_t *status)
{
	uint32_t len = build(e, KVMBUS_CTL_GPADL_CREATE, id, total, nr, runs);
	uint32_t got = 0xdead;
	enum gpadl_res res;

	*status = 0;
	res = gpadl_create(&e->gs, &e->gm, e->msg, len, &got, status);
	assert_int_equal(got, id);
	return res;
}

static enum gpadl_res body(struct env *e, uint32_t id, uint32_t nr,
			   const uint64_t (*runs)[2], uint32_t *status)
{
	uint32_t len = build(e, KVMBUS_CTL_GPADL_BODY, id, 0, nr, runs);
	uint32_t got = 0xdead;
	enum gpadl_res res;

	*status = 0;
	res = gpadl_body(&e->gs, &e->gm, e->msg, len, &got, status);
	assert_int_equal(got, id);
	return res;
}

/* @status by address: it is written by the call that is @res's argument. */
static void expect_fail(struct env *e, enum gpadl_res res,
			const uint32_t *status, uint32_t want, uint32_t id)
{
	assert_int_equal(res, GPADL_FAIL);
	assert_int_equal(*status, want);
	assert_null(gpadls_find(&e->gs, id));
}

/* ---- assembly ----------------------------------------------------------- */

static void test_create_one_message(void **state)
{
	const uint64_t runs[][2] = { { 16, 4 }, { 20, 2 }, { 40, 1 },
				     { HIGH_PFN + 3, 3 } };
	struct env *e = env_new();
	struct gpadl *g;
	uint32_t st;

	(void)state;
	assert_int_equal(create(e, 7, 10, 4, runs, &st), GPADL_DONE);
	g = gpadls_find(&e->gs, 7);
	assert_non_null(g);
	assert_true(gpadl_complete(g));
	assert_int_equal(g->users, 0);
	/* 16..21 continue each other: one run; high pages live at file
	 * offset LOW + (gpa - 4 GiB). */
	assert_int_equal(g->nr_runs, 3);
	assert_int_equal(g->runs[0].off, 16 * PAGE);
	assert_int_equal(g->runs[0].len, 6 * PAGE);
	assert_int_equal(g->runs[1].off, 40 * PAGE);
	assert_int_equal(g->runs[1].len, PAGE);
	assert_int_equal(g->runs[2].off, LOW + 3 * PAGE);
	assert_int_equal(g->runs[2].len, 3 * PAGE);
	assert_int_equal(e->gs.count, 1);
	assert_int_equal(e->gs.pages, 10);
	assert_int_equal(e->gs.runs, 3);
	assert_int_equal(e->gs.stats.created, 1);
	assert_null(gpadls_find(&e->gs, 0));
	assert_null(gpadls_find(&e->gs, 8));
	env_free(e);
}

static void test_create_and_bodies(void **state)
{
	const uint64_t a1[][2] = { { 100, 1 }, { 98, 1 } };
	const uint64_t a2[][2] = { { 96, 1 }, { 94, 1 } };
	const uint64_t a3[][2] = { { 92, 2 } };
	const uint64_t b1[][2] = { { 200, 3 } };
	struct env *e = env_new();
	struct gpadl *g;
	uint32_t st;

	(void)state;
	/* Two GPADLs described at the same time, and a CREATE without
	 * ranges: everything may come in BODYs. */
	assert_int_equal(create(e, 1, 6, 2, a1, &st), GPADL_MORE);
	assert_int_equal(create(e, 2, 4, 0, NULL, &st), GPADL_MORE);
	assert_int_equal(body(e, 1, 2, a2, &st), GPADL_MORE);
	assert_int_equal(body(e, 2, 1, b1, &st), GPADL_MORE);
	g = gpadls_find(&e->gs, 1);
	assert_false(gpadl_complete(g));
	assert_int_equal(g->pages, 4);
	assert_int_equal(body(e, 1, 1, a3, &st), GPADL_DONE);
	assert_true(gpadl_complete(g));
	/* Descending pages never merge. */
	assert_int_equal(g->nr_runs, 5);
	assert_int_equal(g->runs[4].off, 92 * PAGE);
	assert_int_equal(g->runs[4].len, 2 * PAGE);
	/* A BODY after completion is not for a GPADL being described. */
	assert_int_equal(body(e, 1, 1, a3, &st), GPADL_IGNORE);
	assert_int_equal(body(e, 2, 1, (const uint64_t[][2]){ { 203, 1 } },
			      &st), GPADL_DONE);
	g = gpadls_find(&e->gs, 2);
	assert_int_equal(g->nr_runs, 1);	/* 200..203 */
	assert_int_equal(e->gs.stats.created, 2);
	assert_int_equal(e->gs.stats.ignored, 1);
	env_free(e);
}

/* The guest's last page below the hole and its first above it are
 * neighbours in the file: one mapping. */
static void test_merge_across_hole(void **state)
{
	const uint64_t runs[][2] = { { LOW_PAGES - 2, 2 }, { HIGH_PFN, 2 } };
	struct env *e = env_new();
	struct gpadl *g;
	uint32_t st;

	(void)state;
	assert_int_equal(create(e, 3, 4, 2, runs, &st), GPADL_DONE);
	g = gpadls_find(&e->gs, 3);
	assert_int_equal(g->nr_runs, 1);
	assert_int_equal(g->runs[0].off, LOW - 2 * PAGE);
	assert_int_equal(g->runs[0].len, 4 * PAGE);
	env_free(e);
}

/* ---- every malformed CREATE ------------------------------------------- */

static void test_create_invalid(void **state)
{
	const uint64_t one[][2] = { { 10, 1 } };
	struct {
		uint64_t pfn, pages;
		uint32_t err;
	} bad_runs[] = {
		{ 10, 0, EINVAL },			/* empty run */
		{ 10, 3, EINVAL },			/* more than total */
		{ LOW_PAGES, 1, EFAULT },		/* in the hole */
		{ LOW_PAGES - 1, 2, EFAULT },		/* into the hole */
		{ HIGH_PFN - 1, 2, EFAULT },		/* from the hole */
		{ HIGH_PFN + LOW_PAGES - 1, 2, EFAULT },	/* past the end */
		{ HIGH_PFN + LOW_PAGES, 1, EFAULT },	/* beyond RAM */
		{ UINT64_MAX >> 12, 1, EFAULT },	/* the top page */
		{ (UINT64_MAX >> 12) + 1, 1, EFAULT },	/* pfn << 12 overflows */
		{ UINT64_MAX, 2, EFAULT },
	};
	struct env *e = env_new();
	uint32_t st, len, i;
	uint64_t rejected;

	(void)state;
	expect_fail(e, create(e, 0, 1, 1, one, &st), &st, EINVAL, 0);
	expect_fail(e, create(e, 5, 0, 0, NULL, &st), &st, EINVAL, 5);
	expect_fail(e, create(e, 5, KVMBUS_GPADL_MAX_PAGES + 1, 1, one, &st),
		    &st, E2BIG, 5);
	expect_fail(e, create(e, 5, UINT32_MAX, 1, one, &st), &st, E2BIG, 5);
	/* 65 ranges: more than a message may carry. */
	expect_fail(e, create(e, 5, 100, 65, NULL, &st), &st, EINVAL, 5);
	expect_fail(e, create(e, 5, 100, UINT32_MAX, NULL, &st), &st, EINVAL,
		    5);
	/* nr_ranges says more than the message holds. */
	len = build(e, KVMBUS_CTL_GPADL_CREATE, 5, 2, 2,
		    (const uint64_t[][2]){ { 1, 1 }, { 3, 1 } });
	assert_int_equal(gpadl_create(&e->gs, &e->gm, e->msg, len - 1, &i,
				      &st), GPADL_FAIL);
	assert_int_equal(st, EINVAL);
	assert_null(gpadls_find(&e->gs, 5));
	/* ... and more is fine. */
	assert_int_equal(gpadl_create(&e->gs, &e->gm, e->msg, len + 8, &i,
				      &st), GPADL_DONE);
	assert_int_equal(gpadl_teardown(&e->gs, 5), 0);

	rejected = e->gm.stats.rejected;
	for (i = 0; i < sizeof(bad_runs) / sizeof(bad_runs[0]); i++) {
		/* A good run first: the error is found mid-message. */
		const uint64_t runs[][2] = {
			{ 20, 1 }, { bad_runs[i].pfn, bad_runs[i].pages },
		};

		expect_fail(e, create(e, 6, 3, 2, runs, &st), &st,
			    bad_runs[i].err, 6);
	}
	/* Each EFAULT was a refusal of guestmem_range(), counted there;
	 * pfns whose address overflows never reach it. */
	assert_int_equal(e->gm.stats.rejected, rejected + 6);
	assert_int_equal(e->gs.count, 0);
	assert_int_equal(e->gs.pages, 0);
	assert_int_equal(e->gs.runs, 0);
	assert_int_equal(e->gs.stats.failed, 7 + i);
	env_free(e);
}

static void test_create_in_use(void **state)
{
	const uint64_t one[][2] = { { 10, 1 } };
	const uint64_t two[][2] = { { 30, 2 } };
	struct env *e = env_new();
	struct gpadl *g;
	uint32_t st;

	(void)state;
	assert_int_equal(create(e, 9, 3, 1, one, &st), GPADL_MORE);
	/* The id of a GPADL being described ... */
	assert_int_equal(create(e, 9, 2, 1, two, &st), GPADL_FAIL);
	assert_int_equal(st, EEXIST);
	g = gpadls_find(&e->gs, 9);
	assert_non_null(g);			/* ... is left alone */
	assert_int_equal(body(e, 9, 1, two, &st), GPADL_DONE);
	/* ... and of a complete one. */
	assert_int_equal(create(e, 9, 1, 1, one, &st), GPADL_FAIL);
	assert_int_equal(st, EEXIST);
	assert_true(gpadl_complete(gpadls_find(&e->gs, 9)));
	assert_int_equal(g->runs[0].off, 10 * PAGE);
	env_free(e);
}

/* ---- every malformed BODY --------------------------------------------- */

static void test_body_invalid(void **state)
{
	const uint64_t one[][2] = { { 10, 1 } };
	const uint64_t three[][2] = { { 40, 3 } };
	struct env *e = env_new();
	uint32_t st, len, id;

	(void)state;
	/* Unknown ids, 0 included: dropped, no answer. */
	assert_int_equal(body(e, 0, 1, one, &st), GPADL_IGNORE);
	assert_int_equal(body(e, 77, 1, one, &st), GPADL_IGNORE);

	/* No ranges. */
	assert_int_equal(create(e, 1, 2, 1, one, &st), GPADL_MORE);
	expect_fail(e, body(e, 1, 0, NULL, &st), &st, EINVAL, 1);
	/* The guest may have sent more BODYs before it saw the answer. */
	assert_int_equal(body(e, 1, 1, one, &st), GPADL_IGNORE);

	/* More pages than announced. */
	assert_int_equal(create(e, 2, 2, 1, one, &st), GPADL_MORE);
	expect_fail(e, body(e, 2, 1, three, &st), &st, EINVAL, 2);

	/* Too many ranges, a length that does not hold them, bad runs. */
	assert_int_equal(create(e, 3, 100, 1, one, &st), GPADL_MORE);
	expect_fail(e, body(e, 3, 65, NULL, &st), &st, EINVAL, 3);
	assert_int_equal(create(e, 3, 100, 1, one, &st), GPADL_MORE);
	len = build(e, KVMBUS_CTL_GPADL_BODY, 3, 0, 1, one);
	assert_int_equal(gpadl_body(&e->gs, &e->gm, e->msg, len - 1, &id, &st),
			 GPADL_FAIL);
	assert_int_equal(st, EINVAL);
	assert_int_equal(create(e, 3, 100, 1, one, &st), GPADL_MORE);
	expect_fail(e, body(e, 3, 1, (const uint64_t[][2]){ { LOW_PAGES, 1 } },
			    &st), &st, EFAULT, 3);
	assert_int_equal(e->gs.count, 0);
	assert_int_equal(e->gs.pages, 0);
	assert_int_equal(e->gs.stats.ignored, 3);
	env_free(e);
}

/* ---- limits --------------------------------------------------------------- */

static void test_limit_count_and_pages(void **state)
{
	const uint64_t one[][2] = { { 10, 1 } };
	struct env *e = env_new();
	uint32_t i, st;

	(void)state;
	for (i = 1; i <= GPADL_MAX; i++)
		assert_int_equal(create(e, i, 1, 1, one, &st), GPADL_DONE);
	expect_fail(e, create(e, GPADL_MAX + 1, 1, 1, one, &st), &st, ENOSPC,
		    GPADL_MAX + 1);
	assert_int_equal(gpadl_teardown(&e->gs, 17), 0);
	assert_int_equal(create(e, GPADL_MAX + 1, 1, 1, one, &st),
			 GPADL_DONE);
	gpadls_drop_all(&e->gs);

	/* Pages announced count against the budget at once. */
	for (i = 1; i <= GPADL_CONN_MAX_PAGES / KVMBUS_GPADL_MAX_PAGES; i++)
		assert_int_equal(create(e, i, KVMBUS_GPADL_MAX_PAGES, 1, one,
					&st), GPADL_MORE);
	expect_fail(e, create(e, 99, 1, 1, one, &st), &st, ENOSPC, 99);
	assert_int_equal(gpadl_teardown(&e->gs, 2), 0);	/* incomplete: ok */
	assert_int_equal(create(e, 99, 1, 1, one, &st), GPADL_DONE);
	env_free(e);
}

/* Runs are what kvmbusd allocates for: a budget of its own.  Needs
 * 2^18 pages that never merge, so a 4 GiB guest of address space only. */
static void test_limit_runs(void **state)
{
	const uint64_t ram = 4ull << 30;
	uint64_t runs[64][2];
	struct guestmem_layout l;
	struct env *e = env_new();
	uint32_t i, j, st, total = GPADL_CONN_MAX_RUNS + 64;
	enum gpadl_res res = GPADL_MORE;
	void *base;

	(void)state;
	guestmem_close(&e->gm);
	base = mmap(NULL, ram, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		    MAP_NORESERVE, -1, 0);
	assert_true(base != MAP_FAILED);
	assert_int_equal(guestmem_layout_fixed(ram, ram, &l), 0);
	guestmem_attach(&e->gm, base, &l);

	assert_int_equal(create(e, 1, total, 0, NULL, &st), GPADL_MORE);
	for (i = 0; res == GPADL_MORE; i++) {
		for (j = 0; j < 64; j++) {
			runs[j][0] = 2 * (64ull * i + j);	/* every other */
			runs[j][1] = 1;
		}
		res = body(e, 1, 64, (const uint64_t (*)[2])runs, &st);
	}
	assert_int_equal(res, GPADL_FAIL);
	assert_int_equal(st, ENOSPC);
	assert_int_equal(i, GPADL_CONN_MAX_RUNS / 64 + 1);
	assert_int_equal(e->gs.runs, 0);
	munmap(base, ram);
	env_free(e);
}

/* ---- teardown ------------------------------------------------------------- */

static void test_teardown(void **state)
{
	const uint64_t runs[][2] = { { 10, 1 }, { 12, 1 } };
	struct env *e = env_new();
	struct gpadl *g;
	uint32_t st;

	(void)state;
	assert_int_equal(gpadl_teardown(&e->gs, 0), -ENOENT);
	assert_int_equal(gpadl_teardown(&e->gs, 4), -ENOENT);
	assert_int_equal(create(e, 4, 2, 2, runs, &st), GPADL_DONE);
	g = gpadls_find(&e->gs, 4);
	g->users = 1;				/* as an open channel */
	assert_int_equal(gpadl_teardown(&e->gs, 4), -EBUSY);
	g->users = 0;
	assert_int_equal(gpadl_teardown(&e->gs, 4), 0);
	assert_int_equal(gpadl_teardown(&e->gs, 4), -ENOENT);
	assert_null(gpadls_find(&e->gs, 4));
	/* The id may be used again. */
	assert_int_equal(create(e, 4, 2, 2, runs, &st), GPADL_DONE);
	assert_int_equal(e->gs.stats.torn_down, 1);
	assert_int_equal(e->gs.stats.teardown_failed, 4);
	env_free(e);
}

/* ---- the view of a scattered GPADL ---------------------------------------- */

static void test_view(void **state)
{
	/* Out of order, one page in the high part, one merged pair. */
	const uint64_t runs[][2] = { { 50, 1 }, { 3, 2 }, { HIGH_PFN + 7, 1 },
				     { 20, 1 } };
	const uint64_t gpa[] = { 50 * PAGE, 3 * PAGE, 4 * PAGE,
				 (1ull << 32) + 7 * PAGE, 20 * PAGE };
	struct guestmem_view v;
	struct env *e = env_new();
	struct gpadl *g;
	uint32_t st, i;
	uint8_t *p;

	(void)state;
	for (i = 0; i < 5; i++) {
		p = guestmem_range(&e->gm, gpa[i], PAGE);
		memset(p, 0xa0 + i, PAGE);
		p[0] = (uint8_t)i;
	}
	assert_int_equal(create(e, 1, 5, 4, runs, &st), GPADL_DONE);
	g = gpadls_find(&e->gs, 1);
	assert_int_equal(g->nr_runs, 4);
	assert_int_equal(guestmem_view_map(&e->gm, g->runs, g->nr_runs, &v), 0);
	assert_int_equal(v.len, 5 * PAGE);
	for (i = 0; i < 5; i++) {
		assert_int_equal(v.addr[i * PAGE], i);
		assert_int_equal(v.addr[i * PAGE + PAGE - 1], 0xa0 + i);
	}
	/* Shared both ways. */
	v.addr[3 * PAGE + 5] = 0x5a;
	assert_int_equal(((uint8_t *)guestmem_range(&e->gm, gpa[3], PAGE))[5],
			 0x5a);
	guestmem_view_unmap(&v);
	assert_null(v.addr);
	guestmem_view_unmap(&v);		/* twice is harmless */
	env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_one_message),
		cmocka_unit_test(test_create_and_bodies),
		cmocka_unit_test(test_merge_across_hole),
		cmocka_unit_test(test_create_invalid),
		cmocka_unit_test(test_create_in_use),
		cmocka_unit_test(test_body_invalid),
		cmocka_unit_test(test_limit_count_and_pages),
		cmocka_unit_test(test_limit_runs),
		cmocka_unit_test(test_teardown),
		cmocka_unit_test(test_view),
	};

	return cmocka_run_group_tests_name("gpadl", tests, NULL, NULL);
}
