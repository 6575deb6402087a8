// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for the request table (drivers/vmbus/reqtab.c, compiled into
 * the test): transaction ids a host hands back are matched to live
 * requests only, whatever the value.
 */
#include <kunit/test.h>
#include <linux/random.h>

#include "drivers/vmbus/reqtab.c"

#define SIZE	8u

static int ctx[64];	/* distinct, non-NULL request contexts */

static struct kvmbus_reqtab *table(struct kunit *test, unsigned int size)
{
	struct kvmbus_reqtab *t = kvmbus_reqtab_create(size);

	KUNIT_ASSERT_NOT_NULL(test, t);
	return t;
}

static void reqtab_create_test(struct kunit *test)
{
	struct kvmbus_reqtab *t;

	KUNIT_EXPECT_NULL(test, kvmbus_reqtab_create(0));
	KUNIT_EXPECT_NULL(test, kvmbus_reqtab_create(KVMBUS_REQTAB_MAX + 1));
	KUNIT_EXPECT_NULL(test, kvmbus_reqtab_create(UINT_MAX));
	t = table(test, 1);
	KUNIT_EXPECT_EQ(test, kvmbus_reqtab_live(t), 0u);
	KUNIT_EXPECT_NULL(test, kvmbus_reqtab_take_any(t));
	kvmbus_reqtab_destroy(t);
	kvmbus_reqtab_destroy(NULL);
}

static void reqtab_roundtrip_test(struct kunit *test)
{
	struct kvmbus_reqtab *t = table(test, SIZE);
	u64 id[SIZE];
	u32 i, j;

	for (i = 0; i < SIZE; i++) {
		KUNIT_ASSERT_EQ(test, kvmbus_reqtab_alloc(t, &ctx[i], &id[i]), 0);
		KUNIT_EXPECT_NE(test, id[i], 0ull);
		for (j = 0; j < i; j++)
			KUNIT_EXPECT_NE(test, id[i], id[j]);
	}
	KUNIT_EXPECT_EQ(test, kvmbus_reqtab_live(t), SIZE);
	/* Completions arrive in any order. */
	for (i = 0; i < SIZE; i++) {
		j = (i * 3) % SIZE;
		KUNIT_EXPECT_PTR_EQ(test, kvmbus_reqtab_take(t, id[j]),
				    (void *)&ctx[j]);
	}
	KUNIT_EXPECT_EQ(test, kvmbus_reqtab_live(t), 0u);
	kvmbus_reqtab_destroy(t);
}

static void reqtab_null_ctx_test(struct kunit *test)
{
	struct kvmbus_reqtab *t = table(test, SIZE);
	u64 id = 42;

	KUNIT_EXPECT_EQ(test, kvmbus_reqtab_alloc(t, NULL, &id), -EINVAL);
	KUNIT_EXPECT_EQ(test, id, 42ull);
	KUNIT_EXPECT_EQ(test, kvmbus_reqtab_live(t), 0u);
	kvmbus_reqtab_destroy(t);
}

static void reqtab_full_test(struct kunit *test)
{
	struct kvmbus_reqtab *t = table(test, SIZE);
	u64 id[SIZE], extra = 0;
	u32 i;

	for (i = 0; i < SIZE; i++)
		KUNIT_ASSERT_EQ(test, kvmbus_reqtab_alloc(t, &ctx[i], &id[i]), 0);
	KUNIT_EXPECT_EQ(test, kvmbus_reqtab_alloc(t, &ctx[SIZE], &extra),
			-ENOSPC);
	KUNIT_EXPECT_EQ(test, extra, 0ull);
	KUNIT_EXPECT_EQ(test, kvmbus_reqtab_live(t), SIZE);
	/* One completion makes room for exactly one more. */
	KUNIT_EXPECT_PTR_EQ(test, kvmbus_reqtab_take(t, id[5]), (void *)&ctx[5]);
	KUNIT_EXPECT_EQ(test, kvmbus_reqtab_alloc(t, &ctx[SIZE], &extra), 0);
	KUNIT_EXPECT_EQ(test, kvmbus_reqtab_alloc(t, &ctx[SIZE + 1], &id[5]),
			-ENOSPC);
	KUNIT_EXPECT_PTR_EQ(test, kvmbus_reqtab_take(t, extra),
			    (void *)&ctx[SIZE]);
	kvmbus_reqtab_destroy(t);
}

/* A slot handed out again gets a new id; the old one is dead for good. */
static void reqtab_stale_test(struct kunit *test)
{
	struct kvmbus_reqtab *t = table(test, 1);
	u64 old, cur;
	u32 i;

	KUNIT_ASSERT_EQ(test, kvmbus_reqtab_alloc(t, &ctx[0], &old), 0);
	KUNIT_ASSERT_PTR_EQ(test, kvmbus_reqtab_take(t, old), (void *)&ctx[0]);
	for (i = 1; i < 1000; i++) {
		KUNIT_ASSERT_EQ(test, kvmbus_reqtab_alloc(t, &ctx[1], &cur), 0);
		KUNIT_EXPECT_NE(test, cur, old);
		/* Same slot, other generation: a completion of the old one. */
		KUNIT_EXPECT_EQ(test, lower_32_bits(cur), lower_32_bits(old));
		KUNIT_EXPECT_NULL(test, kvmbus_reqtab_take(t, old));
		KUNIT_EXPECT_EQ(test, kvmbus_reqtab_live(t), 1u);
		KUNIT_EXPECT_PTR_EQ(test, kvmbus_reqtab_take(t, cur),
				    (void *)&ctx[1]);
		old = cur;
	}
	kvmbus_reqtab_destroy(t);
}

static void reqtab_duplicate_test(struct kunit *test)
{
	struct kvmbus_reqtab *t = table(test, SIZE);
	u64 a, b;

	KUNIT_ASSERT_EQ(test, kvmbus_reqtab_alloc(t, &ctx[0], &a), 0);
	KUNIT_ASSERT_EQ(test, kvmbus_reqtab_alloc(t, &ctx[1], &b), 0);
	KUNIT_EXPECT_PTR_EQ(test, kvmbus_reqtab_take(t, a), (void *)&ctx[0]);
	KUNIT_EXPECT_NULL(test, kvmbus_reqtab_take(t, a));
	KUNIT_EXPECT_NULL(test, kvmbus_reqtab_take(t, a));
	/* The duplicates did not free or disturb the other request. */
	KUNIT_EXPECT_EQ(test, kvmbus_reqtab_live(t), 1u);
	KUNIT_EXPECT_PTR_EQ(test, kvmbus_reqtab_take(t, b), (void *)&ctx[1]);
	KUNIT_EXPECT_NULL(test, kvmbus_reqtab_take(t, b));
	kvmbus_reqtab_destroy(t);
}

/* Values a host could make up, against a table with live requests. */
static void reqtab_garbage_test(struct kunit *test)
{
	struct kvmbus_reqtab *t = table(test, SIZE);
	u64 id[SIZE / 2], g;
	u32 i, j, gen;

	for (i = 0; i < SIZE / 2; i++)
		KUNIT_ASSERT_EQ(test, kvmbus_reqtab_alloc(t, &ctx[i], &id[i]), 0);
	gen = upper_32_bits(id[0]);
	{
		const u64 fixed[] = {
			0, 1, U64_MAX, U32_MAX, (u64)U32_MAX << 32,
			(u64)gen << 32 | SIZE,		/* index out of range */
			(u64)gen << 32 | U32_MAX,
			(u64)(gen + 1) << 32 | lower_32_bits(id[0]),
			(u64)(gen - 1) << 32 | lower_32_bits(id[0]),
			id[0] ^ BIT_ULL(63), id[0] ^ BIT_ULL(32),
			id[0] + SIZE, id[0] | BIT_ULL(31),
		};

		for (i = 0; i < ARRAY_SIZE(fixed); i++) {
			for (j = 0; j < SIZE / 2; j++)
				if (fixed[i] == id[j])
					break;
			if (j < SIZE / 2)
				continue;	/* made a real id by chance */
			KUNIT_EXPECT_NULL_MSG(test, kvmbus_reqtab_take(t, fixed[i]),
					      "id %#llx", fixed[i]);
		}
	}
	/* Free slots never match, whatever generation is guessed. */
	for (i = SIZE / 2; i < SIZE; i++) {
		for (g = 0; g < 4; g++) {
			u64 guess = (u64)(gen + g) << 32 | i;

			KUNIT_EXPECT_NULL(test, kvmbus_reqtab_take(t, guess));
		}
	}
	for (i = 0; i < 10000; i++) {
		g = get_random_u64();
		for (j = 0; j < SIZE / 2; j++)
			if (g == id[j])
				break;
		if (j == SIZE / 2)
			KUNIT_EXPECT_NULL(test, kvmbus_reqtab_take(t, g));
	}
	/* The live requests are untouched. */
	KUNIT_EXPECT_EQ(test, kvmbus_reqtab_live(t), SIZE / 2);
	for (i = 0; i < SIZE / 2; i++)
		KUNIT_EXPECT_PTR_EQ(test, kvmbus_reqtab_take(t, id[i]),
				    (void *)&ctx[i]);
	kvmbus_reqtab_destroy(t);
}

/* The generation skips 0, so no id is ever 0, even at the wrap. */
static void reqtab_generation_wrap_test(struct kunit *test)
{
	struct kvmbus_reqtab *t = table(test, 1);
	u64 id;

	t->slots[0].gen = U32_MAX;
	KUNIT_ASSERT_EQ(test, kvmbus_reqtab_alloc(t, &ctx[0], &id), 0);
	KUNIT_EXPECT_EQ(test, id, BIT_ULL(32));
	KUNIT_EXPECT_NULL(test, kvmbus_reqtab_take(t, 0));
	KUNIT_EXPECT_PTR_EQ(test, kvmbus_reqtab_take(t, id), (void *)&ctx[0]);
	kvmbus_reqtab_destroy(t);
}

static void reqtab_drain_test(struct kunit *test)
{
	struct kvmbus_reqtab *t = table(test, 64);
	u64 id[64], again;
	bool seen[64] = { };
	int *p;
	u32 i, n = 0;

	for (i = 0; i < 64; i++)
		KUNIT_ASSERT_EQ(test, kvmbus_reqtab_alloc(t, &ctx[i], &id[i]), 0);
	/* Some complete normally first. */
	for (i = 0; i < 64; i += 3) {
		KUNIT_EXPECT_PTR_EQ(test, kvmbus_reqtab_take(t, id[i]),
				    (void *)&ctx[i]);
		seen[i] = true;
	}
	while ((p = kvmbus_reqtab_take_any(t))) {
		i = p - ctx;
		KUNIT_ASSERT_LT(test, i, 64u);
		KUNIT_EXPECT_FALSE_MSG(test, seen[i], "request %u twice", i);
		seen[i] = true;
		n++;
	}
	KUNIT_EXPECT_EQ(test, n, 64u - 22u);
	for (i = 0; i < 64; i++)
		KUNIT_EXPECT_TRUE(test, seen[i]);
	KUNIT_EXPECT_EQ(test, kvmbus_reqtab_live(t), 0u);
	KUNIT_EXPECT_NULL(test, kvmbus_reqtab_take_any(t));
	/* Late completions of drained requests are rejected... */
	for (i = 0; i < 64; i++)
		KUNIT_EXPECT_NULL(test, kvmbus_reqtab_take(t, id[i]));
	/* ...and the table is whole again. */
	for (i = 0; i < 64; i++)
		KUNIT_EXPECT_EQ(test, kvmbus_reqtab_alloc(t, &ctx[i], &id[i]), 0);
	KUNIT_EXPECT_EQ(test, kvmbus_reqtab_alloc(t, &ctx[0], &again), -ENOSPC);
	kvmbus_reqtab_destroy(t);
}

static struct kunit_case kvmbus_reqtab_cases[] = {
	KUNIT_CASE(reqtab_create_test),
	KUNIT_CASE(reqtab_roundtrip_test),
	KUNIT_CASE(reqtab_null_ctx_test),
	KUNIT_CASE(reqtab_full_test),
	KUNIT_CASE(reqtab_stale_test),
	KUNIT_CASE(reqtab_duplicate_test),
	KUNIT_CASE(reqtab_garbage_test),
	KUNIT_CASE(reqtab_generation_wrap_test),
	KUNIT_CASE(reqtab_drain_test),
	{}
};

static struct kunit_suite kvmbus_reqtab_suite = {
	.name = "kvmbus_reqtab",
	.test_cases = kvmbus_reqtab_cases,
};

kunit_test_suite(kvmbus_reqtab_suite);

MODULE_DESCRIPTION("KUnit tests for the kvmbus request table");
MODULE_LICENSE("GPL");
