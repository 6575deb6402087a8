// SPDX-License-Identifier: GPL-2.0-only
/*
 * Strict number parsing for command-line options.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "parse.h"

static int digit_value(char c, unsigned int base)
{
	int v;

	if (c >= '0' && c <= '9')
		v = c - '0';
	else if (c >= 'a' && c <= 'f')
		v = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		v = c - 'A' + 10;
	else
		return -1;
	return v < (int)base ? v : -1;
}

/* Digits only (no sign, no spaces); stops at the first non-digit. */
static int parse_digits(const char **sp, unsigned int base, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;
	bool overflow = false;
	int d, n = 0;

	while ((d = digit_value(*s, base)) >= 0) {
		if (v > (UINT64_MAX - (uint64_t)d) / base)
			overflow = true;
		else
			v = v * base + (uint64_t)d;
		s++;
		n++;
	}
	if (!n)
		return -EINVAL;
	*sp = s;
	*out = v;
	return overflow ? -ERANGE : 0;
}

static int unit_shift(const char *s, unsigned int *shift)
{
	static const char units[] = "kmgt";
	const char *u;

	if (!*s) {
		*shift = 0;
		return 0;
	}
	u = strchr(units, tolower((unsigned char)*s));
	if (!u || !*u)
		return -EINVAL;
	*shift = 10 * (unsigned int)(u - units + 1);
	s++;
	if (!strcmp(s, "") || !strcmp(s, "B") || !strcmp(s, "b") ||
	    !strcmp(s, "iB") || !strcmp(s, "ib"))
		return 0;
	return -EINVAL;
}

int parse_size(const char *s, uint64_t *out)
{
	unsigned int base = 10, shift;
	uint64_t v;
	int ret, uret;

	if (!s)
		return -EINVAL;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	ret = parse_digits(&s, base, &v);
	if (ret == -EINVAL)
		return ret;
	uret = unit_shift(s, &shift);
	if (uret)
		return uret;
	if (ret)
		return ret;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;
	int ret;

	if (!s)
		return -EINVAL;
	ret = parse_digits(&s, 10, &v);
	if (ret == -EINVAL || *s)
		return -EINVAL;
	if (ret || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int parse_mask(const char *s, uint64_t allowed, uint64_t *out)
{
	unsigned int base = 10;
	uint64_t v;
	int ret;

	if (!s)
		return -EINVAL;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	ret = parse_digits(&s, base, &v);
	if (ret == -EINVAL || *s)
		return -EINVAL;
	if (ret || (v & ~allowed))
		return -ERANGE;
	*out = v;
	return 0;
}
