// SPDX-License-Identifier: GPL-2.0-only
/*
 * The supervisor's parsing and restart limit (supervise.h): the fd list a
 * supervised child takes from its environment, the command line, and the
 * back-off and restart-rate limit.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "helpers.h"
#include "opts.h"
#include "supervise.h"

static void test_fds_roundtrip(void **state)
{
	int db[3] = { 10, 11, 12 }, irq[3] = { 20, 21, 22 };
	int bar, db2[3], irq2[3];
	const char *why = NULL;
	char buf[128];

	(void)state;
	assert_int_equal(supervise_fds_format(buf, sizeof(buf), 5, 3, db, irq), 0);
	assert_string_equal(buf, "5,10,11,12,20,21,22");
	assert_int_equal(supervise_fds_parse(buf, 3, &bar, db2, irq2, &why), 0);
	assert_int_equal(bar, 5);
	assert_memory_equal(db, db2, sizeof(db));
	assert_memory_equal(irq, irq2, sizeof(irq));
	/* Too small a buffer is an error, never a truncated list. */
	assert_int_equal(supervise_fds_format(buf, 8, 5, 3, db, irq), -ENOSPC);
}

static void check_bad(const char *s, unsigned int vectors)
{
	int bar = -7, db[4], irq[4];
	const char *why = NULL;

	if (supervise_fds_parse(s, vectors, &bar, db, irq, &why) != -EINVAL)
		fail_msg("\"%s\" with %u vectors accepted", s, vectors);
	if (!why || bar != -7)
		fail_msg("\"%s\": no reason, or output written", s);
}

static void test_fds_rejects(void **state)
{
	(void)state;
	check_bad("", 1);
	check_bad("5,6", 1);			/* one short */
	check_bad("5,6,7,8", 1);		/* one too many */
	check_bad("5,6,7,", 1);
	check_bad("2,6,7", 1);			/* stdio */
	check_bad("5,0,7", 1);
	check_bad("5,-6,7", 1);
	check_bad("5,6,x", 1);
	check_bad("5, 6,7", 1);
	check_bad("5,6,6", 1);			/* twice */
	check_bad("5,6,99999999999", 1);	/* overflow */
	check_bad("5,6,7", 0);
	check_bad("5,6,7", 300);
}

static void test_restart_limit(void **state)
{
	struct restart_limit rl;
	uint64_t delay = 0;

	(void)state;
	restart_limit_init(&rl, 3, 60000, SUPERVISE_DELAY_MIN_MS);
	assert_true(restart_limit_take(&rl, 1000, &delay));
	assert_int_equal(delay, SUPERVISE_DELAY_MIN_MS);
	assert_true(restart_limit_take(&rl, 2000, &delay));
	assert_int_equal(delay, 2 * SUPERVISE_DELAY_MIN_MS);
	assert_true(restart_limit_take(&rl, 3000, &delay));
	assert_int_equal(delay, 4 * SUPERVISE_DELAY_MIN_MS);
	/* A fourth within the minute: give up. */
	assert_false(restart_limit_take(&rl, 4000, &delay));
	/* Once the first has left the window, one more is allowed. */
	assert_true(restart_limit_take(&rl, 61001, &delay));
	assert_false(restart_limit_take(&rl, 61002, &delay));
	/* Long quiet: the back-off starts small again. */
	assert_true(restart_limit_take(&rl, 500000, &delay));
	assert_int_equal(delay, SUPERVISE_DELAY_MIN_MS);
}

static void test_restart_backoff_cap(void **state)
{
	struct restart_limit rl;
	uint64_t delay = 0;
	unsigned int i;

	(void)state;
	restart_limit_init(&rl, 1000, 3600000, SUPERVISE_DELAY_MIN_MS);
	/* max is clamped to the limit */
	assert_int_equal(rl.max, SUPERVISE_RESTART_MAX_LIMIT);
	for (i = 0; i < SUPERVISE_RESTART_MAX_LIMIT; i++)
		assert_true(restart_limit_take(&rl, 1000 + i, &delay));
	assert_int_equal(delay, SUPERVISE_DELAY_MAX_MS);
	assert_false(restart_limit_take(&rl, 5000, &delay));

	/* A first delay above the cap is kept, never doubled. */
	restart_limit_init(&rl, 3, 60000, 8000);
	assert_true(restart_limit_take(&rl, 0, &delay));
	assert_int_equal(delay, 8000);
	assert_true(restart_limit_take(&rl, 1, &delay));
	assert_int_equal(delay, 8000);
}

static void test_opts_supervise(void **state)
{
	char *ok[] = { "kvmbusd", "-s", "s", "-r", "r", "--supervise",
		       "--restart-max", "2", "--restart-window", "30",
		       "--restart-delay", "3000", NULL };
	char *def[] = { "kvmbusd", "-s", "s", "-r", "r", NULL };
	char *bad0[] = { "kvmbusd", "-s", "s", "-r", "r",
			 "--restart-max", "0", NULL };
	char *bad1[] = { "kvmbusd", "-s", "s", "-r", "r",
			 "--restart-window", "0", NULL };
	struct opts o;

	(void)state;
	assert_int_equal(opts_parse(&o, 12, ok), 0);
	assert_int_equal(o.restart_delay, 3000);
	assert_true(o.supervise);
	assert_int_equal(o.restart_max, 2);
	assert_int_equal(o.restart_window, 30);
	assert_int_equal(opts_parse(&o, 5, def), 0);
	assert_false(o.supervise);
	assert_int_equal(o.restart_max, SUPERVISE_RESTART_MAX);
	assert_int_equal(o.restart_window, SUPERVISE_RESTART_WINDOW);
	assert_int_equal(o.restart_delay, SUPERVISE_DELAY_MIN_MS);
	assert_int_equal(opts_parse(&o, 7, bad0), -EINVAL);
	assert_int_equal(opts_parse(&o, 7, bad1), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fds_roundtrip),
		cmocka_unit_test(test_fds_rejects),
		cmocka_unit_test(test_restart_limit),
		cmocka_unit_test(test_restart_backoff_cap),
		cmocka_unit_test(test_opts_supervise),
	};

	return cmocka_run_group_tests_name("supervise", tests, NULL, NULL);
}
