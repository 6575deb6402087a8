// SPDX-License-Identifier: GPL-2.0-only
/*
 * Number parsing, the command line and the log rate limiter.
 */
#include <errno.h>
#include <stdint.h>

#include "helpers.h"
#include "log.h"
#include "opts.h"
#include "parse.h"

static void check_size(const char *s, int ret, uint64_t want)
{
	uint64_t v = 0xdeadbeef;

	if (parse_size(s, &v) != ret)
		fail_msg("parse_size(\"%s\") != %d", s, ret);
	if (!ret && v != want)
		fail_msg("parse_size(\"%s\") = %llu, want %llu", s,
			 (unsigned long long)v, (unsigned long long)want);
	if (ret && v != 0xdeadbeef)
		fail_msg("parse_size(\"%s\") wrote its output on error", s);
}

static void test_parse_size(void **state)
{
	(void)state;
	check_size("0", 0, 0);
	check_size("4096", 0, 4096);
	check_size("64K", 0, 65536);
	check_size("64k", 0, 65536);
	check_size("64KiB", 0, 65536);
	check_size("64kb", 0, 65536);
	check_size("256M", 0, 256ull << 20);
	check_size("6G", 0, 6ull << 30);
	check_size("2T", 0, 2ull << 40);
	check_size("0x10000", 0, 65536);
	check_size("0X1k", 0, 1024);
	check_size("18446744073709551615", 0, UINT64_MAX);
	check_size("0xffffffffffffffff", 0, UINT64_MAX);
	check_size("16777215T", 0, 16777215ull << 40);

	check_size("18446744073709551616", -ERANGE, 0);
	check_size("0x10000000000000000", -ERANGE, 0);
	check_size("16777216T", -ERANGE, 0);
	check_size("99999999999999999999999K", -ERANGE, 0);

	check_size(NULL, -EINVAL, 0);
	check_size("", -EINVAL, 0);
	check_size("K", -EINVAL, 0);
	check_size("0x", -EINVAL, 0);
	check_size("-1", -EINVAL, 0);
	check_size("+1", -EINVAL, 0);
	check_size(" 1", -EINVAL, 0);
	check_size("1 ", -EINVAL, 0);
	check_size("1KK", -EINVAL, 0);
	check_size("1Kx", -EINVAL, 0);
	check_size("1P", -EINVAL, 0);
	check_size("1.5G", -EINVAL, 0);
	check_size("1e6", -EINVAL, 0);
	check_size("99999999999999999999999X", -EINVAL, 0);
}

static void test_parse_uint(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(parse_uint("64", 1, 256, &v), 0);
	assert_int_equal(v, 64);
	assert_int_equal(parse_uint("1", 1, 256, &v), 0);
	assert_int_equal(parse_uint("256", 1, 256, &v), 0);
	assert_int_equal(parse_uint("0", 1, 256, &v), -ERANGE);
	assert_int_equal(parse_uint("257", 1, 256, &v), -ERANGE);
	assert_int_equal(parse_uint("99999999999999999999", 1, 256, &v),
			 -ERANGE);
	assert_int_equal(parse_uint("", 1, 256, &v), -EINVAL);
	assert_int_equal(parse_uint("6x", 1, 256, &v), -EINVAL);
	assert_int_equal(parse_uint("0x10", 1, 256, &v), -EINVAL);
	assert_int_equal(parse_uint("-1", 1, 256, &v), -EINVAL);
	assert_int_equal(parse_uint(NULL, 1, 256, &v), -EINVAL);
}

static void test_parse_mask(void **state)
{
	uint64_t v = 99;

	(void)state;
	assert_int_equal(parse_mask("0x1b", 0x7f, &v), 0);
	assert_int_equal(v, 0x1b);
	assert_int_equal(parse_mask("0X7F", 0x7f, &v), 0);
	assert_int_equal(v, 0x7f);
	assert_int_equal(parse_mask("27", 0x7f, &v), 0);
	assert_int_equal(v, 27);
	assert_int_equal(parse_mask("0", 0x7f, &v), 0);
	assert_int_equal(v, 0);
	/* A bit outside the mask, an overflow: out of range. */
	assert_int_equal(parse_mask("0x80", 0x7f, &v), -ERANGE);
	assert_int_equal(parse_mask("0x1b", 0x1a, &v), -ERANGE);
	assert_int_equal(parse_mask("0x1ffffffffffffffff", ~0ull, &v),
			 -ERANGE);
	/* Not a mask: units, signs, spaces, nothing, a bare prefix. */
	assert_int_equal(parse_mask("1k", 0x7f, &v), -EINVAL);
	assert_int_equal(parse_mask("0x1g", 0x7f, &v), -EINVAL);
	assert_int_equal(parse_mask("-1", 0x7f, &v), -EINVAL);
	assert_int_equal(parse_mask(" 1", 0x7f, &v), -EINVAL);
	assert_int_equal(parse_mask("", 0x7f, &v), -EINVAL);
	assert_int_equal(parse_mask("0x", 0x7f, &v), -EINVAL);
	assert_int_equal(parse_mask("1b", 0x7f, &v), -EINVAL);
	assert_int_equal(parse_mask(NULL, 0x7f, &v), -EINVAL);
	assert_int_equal(v, 0);		/* failures leave it alone */
}

#define ARGV(...) ((char *[]){ "kvmbusd", __VA_ARGS__, NULL })
#define ARGC(a) ((int)(sizeof(a) / sizeof(a[0])) - 1)

static int parse(char **argv, int argc, struct opts *o)
{
	return opts_parse(o, argc, argv);
}

#define PARSE(o, ...) ({ char **__a = ARGV(__VA_ARGS__);		\
	int __n = 0; while (__a[__n]) __n++; parse(__a, __n, (o)); })

static void test_opts_defaults(void **state)
{
	struct opts o;

	(void)state;
	assert_int_equal(PARSE(&o, "--socket", "/s", "--ram", "/r"), 0);
	assert_string_equal(o.socket_path, "/s");
	assert_string_equal(o.ram_path, "/r");
	assert_null(o.control_path);
	assert_int_equal(o.vectors, 64);
	assert_int_equal(o.bar_size, 64 << 10);
	assert_int_equal(o.machine, GUESTMEM_Q35);
	assert_int_equal(o.ram_size, 0);
	assert_int_equal(o.low_size, 0);
	assert_int_equal(o.max_below_4g, 0);
	assert_false(o.foreground);
	assert_false(o.verbose);
	assert_false(o.help);
}

static void test_opts_all(void **state)
{
	struct opts o;

	(void)state;
	assert_int_equal(PARSE(&o, "-s", "/s", "-r", "/r", "--ram-size", "6G",
			       "-n", "256", "--bar-size", "1M", "--machine",
			       "pc", "--max-ram-below-4g", "2G", "-c", "/c",
			       "-f", "-v"), 0);
	assert_int_equal(o.ram_size, 6ull << 30);
	assert_int_equal(o.vectors, 256);
	assert_int_equal(o.bar_size, 1 << 20);
	assert_int_equal(o.machine, GUESTMEM_PC);
	assert_int_equal(o.max_below_4g, 2ull << 30);
	assert_string_equal(o.control_path, "/c");
	assert_true(o.foreground);
	assert_true(o.verbose);
	assert_int_equal(PARSE(&o, "--socket=/s", "--ram=/r",
			       "--low-size=0x80000000", "--vectors=1"), 0);
	assert_int_equal(o.low_size, 0x80000000);
	assert_int_equal(o.vectors, 1);
	assert_int_equal(PARSE(&o, "--help"), 0);
	assert_true(o.help);
}

static void test_opts_rejects(void **state)
{
	struct opts o;

	(void)state;
	assert_int_equal(PARSE(&o, "--ram", "/r"), -EINVAL);
	assert_int_equal(PARSE(&o, "--socket", "/s"), -EINVAL);
	assert_int_equal(PARSE(&o, "-s", "/s", "-r", "/r", "-n", "0"), -EINVAL);
	assert_int_equal(PARSE(&o, "-s", "/s", "-r", "/r", "-n", "257"),
			 -EINVAL);
	assert_int_equal(PARSE(&o, "-s", "/s", "-r", "/r", "--bar-size",
			       "96K"), -EINVAL);
	assert_int_equal(PARSE(&o, "-s", "/s", "-r", "/r", "--bar-size",
			       "2K"), -EINVAL);
	assert_int_equal(PARSE(&o, "-s", "/s", "-r", "/r", "--bar-size",
			       "2G"), -EINVAL);
	assert_int_equal(PARSE(&o, "-s", "/s", "-r", "/r", "--bar-size",
			       "lots"), -EINVAL);
	assert_int_equal(PARSE(&o, "-s", "/s", "-r", "/r", "--machine",
			       "virt"), -EINVAL);
	assert_int_equal(PARSE(&o, "-s", "/s", "-r", "/r", "--ram-size", "0"),
			 -EINVAL);
	assert_int_equal(PARSE(&o, "-s", "/s", "-r", "/r", "--ram-size",
			       "9999999T"), -EINVAL);
	assert_int_equal(PARSE(&o, "-s", "/s", "-r", "/r", "--low-size",
			       "5G"), -EINVAL);
	assert_int_equal(PARSE(&o, "-s", "/s", "-r", "/r", "--low-size", "0"),
			 -EINVAL);
	assert_int_equal(PARSE(&o, "-s", "/s", "-r", "/r",
			       "--max-ram-below-4g", "5G"), -EINVAL);
	assert_int_equal(PARSE(&o, "-s", "/s", "-r", "/r", "--low-size", "1G",
			       "--max-ram-below-4g", "2G"), -EINVAL);
	assert_int_equal(PARSE(&o, "-s", "/s", "-r", "/r", "--bogus"),
			 -EINVAL);
	assert_int_equal(PARSE(&o, "-s", "/s", "-r", "/r", "extra"), -EINVAL);
	assert_int_equal(PARSE(&o, "-s"), -EINVAL);
}

static void test_ratelimit(void **state)
{
	struct ratelimit rl;
	uint64_t sup, t = 1000;
	int i, ok = 0;

	(void)state;
	ratelimit_init(&rl, 1000, 3);		/* 3 per second */
	for (i = 0; i < 10; i++)
		ok += ratelimit_allow(&rl, t + (uint64_t)i, &sup);
	assert_int_equal(ok, 3);
	assert_int_equal(sup, 0);
	/* The next window reports what the last one dropped. */
	assert_true(ratelimit_allow(&rl, t + 1000000000ull, &sup));
	assert_int_equal(sup, 7);
	assert_true(ratelimit_allow(&rl, t + 1000000001ull, &sup));
	assert_int_equal(sup, 0);

	ratelimit_init(&rl, 0, 0);		/* unlimited */
	for (i = 0; i < 100; i++)
		assert_true(ratelimit_allow(&rl, 5, &sup));
	ratelimit_init(&rl, 1000, 0);		/* silent */
	assert_false(ratelimit_allow(&rl, 5, &sup));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_uint),
		cmocka_unit_test(test_parse_mask),
		cmocka_unit_test(test_opts_defaults),
		cmocka_unit_test(test_opts_all),
		cmocka_unit_test(test_opts_rejects),
		cmocka_unit_test(test_ratelimit),
	};

	return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
