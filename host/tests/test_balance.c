// SPDX-License-Identifier: GPL-2.0-only
/*
 * balance_plan(): three 1 GiB guests under a 2 GiB budget, as the
 * over-commit scenario has them: the one that runs a workload gets the
 * memory, idle ones keep their demand and headroom, nobody is planned
 * below the minimum, guests without a report are left alone.
 */
#include <stdint.h>

#include "helpers.h"
#include "balance.h"

#define MIB	(1ull << 20)
#define GIB	(1ull << 30)

static void vm(struct balance_vm *v, uint64_t used)
{
	*v = (struct balance_vm){ .ok = true, .ram = GIB, .used = used };
}

static uint64_t sum(const struct balance_vm *v, unsigned int n)
{
	uint64_t s = 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		s += v[i].ok ? v[i].target : 0;
	return s;
}

static void test_fits_shares_the_rest(void **state)
{
	struct balance_vm v[3];

	(void)state;
	vm(&v[0], 200 * MIB);
	vm(&v[1], 200 * MIB);
	vm(&v[2], 200 * MIB);
	balance_plan(v, 3, 2 * GIB, 20, 128 * MIB);
	assert_int_equal(v[0].demand, 240 * MIB);
	/* Equal demands, equal shares, the whole budget. */
	assert_true(v[0].target == v[1].target && v[1].target == v[2].target);
	assert_true(sum(v, 3) <= 2 * GIB && sum(v, 3) > 2 * GIB - 3 * MIB);
}

static void test_busy_guest_gets_the_memory(void **state)
{
	struct balance_vm v[3];

	(void)state;
	vm(&v[0], 900 * MIB);		/* running the workload */
	vm(&v[1], 150 * MIB);
	vm(&v[2], 150 * MIB);
	balance_plan(v, 3, 2 * GIB, 10, 128 * MIB);
	assert_int_equal(v[0].target, GIB);	/* all of its RAM */
	assert_true(v[1].target >= 165 * MIB);	/* demand kept */
	assert_true(v[2].target >= 165 * MIB);
	assert_true(sum(v, 3) <= 2 * GIB);
	/* The workload moves to guest 2. */
	vm(&v[0], 150 * MIB);
	vm(&v[2], 900 * MIB);
	balance_plan(v, 3, 2 * GIB, 10, 128 * MIB);
	assert_int_equal(v[2].target, GIB);
	assert_true(v[0].target < GIB);
}

static void test_overcommitted_squeezes_alike(void **state)
{
	struct balance_vm v[3];

	(void)state;
	vm(&v[0], 1000 * MIB);
	vm(&v[1], 1000 * MIB);
	vm(&v[2], 500 * MIB);
	balance_plan(v, 3, 2 * GIB, 0, 128 * MIB);
	assert_true(sum(v, 3) <= 2 * GIB);
	assert_true(v[0].target == v[1].target);
	assert_true(v[2].target < v[0].target && v[2].target >= 128 * MIB);
	/* Tiny budget: the minimum wins over the budget. */
	balance_plan(v, 3, 100 * MIB, 0, 128 * MIB);
	assert_int_equal(v[0].target, 128 * MIB);
}

static void test_idle_and_unknown(void **state)
{
	struct balance_vm v[2];

	(void)state;
	vm(&v[0], 0);			/* idle: the minimum, then a share */
	v[1] = (struct balance_vm){ .ok = false, .ram = GIB, .target = 7 };
	balance_plan(v, 2, 512 * MIB, 20, 128 * MIB);
	assert_int_equal(v[0].demand, 128 * MIB);
	assert_int_equal(v[0].target, 512 * MIB);
	assert_int_equal(v[1].target, 7);	/* untouched */
	/* Huge numbers do not overflow. */
	vm(&v[0], UINT64_MAX / 2);
	v[0].ram = UINT64_MAX / 2;
	balance_plan(v, 1, UINT64_MAX, 1000, 0);
	assert_int_equal(v[0].target, UINT64_MAX / 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fits_shares_the_rest),
		cmocka_unit_test(test_busy_guest_gets_the_memory),
		cmocka_unit_test(test_overcommitted_squeezes_alike),
		cmocka_unit_test(test_idle_and_unknown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
