// SPDX-License-Identifier: GPL-2.0-only
/*
 * parse_size(), parse_uint() and parse_mask(), the command-line number
 * parsers, against an independent 128-bit model of the grammar.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

typedef unsigned __int128 u128;

/* -EINVAL, -ERANGE or 0 with *out, the way parse_size() must answer. */
static int model(const char *s, uint64_t *out)
{
	static const char units[] = "kmgt";
	unsigned int base = 10, shift = 0;
	u128 v = 0, limit = (u128)UINT64_MAX;
	bool big = false;
	int n = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (;; s++, n++) {
		int d;

		if (isdigit((unsigned char)*s))
			d = *s - '0';
		else if (base == 16 && isxdigit((unsigned char)*s))
			d = tolower((unsigned char)*s) - 'a' + 10;
		else
			break;
		v = v * base + (u128)d;
		if (v > limit)
			big = true, v = limit + 1;
	}
	if (!n)
		return -EINVAL;
	if (*s) {
		const char *u = strchr(units, tolower((unsigned char)*s));

		if (!u)
			return -EINVAL;
		shift = 10 * (unsigned int)(u - units + 1);
		s++;
		if (strcmp(s, "") && strcmp(s, "B") && strcmp(s, "b") &&
		    strcmp(s, "iB") && strcmp(s, "ib"))
			return -EINVAL;
	}
	if (big || (v << shift) > limit)
		return -ERANGE;
	*out = (uint64_t)(v << shift);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t got = 0, want = 0, u;
	char *s;
	int ret, mret;

	if (size > 64)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;

	ret = parse_size(s, &got);
	mret = model(s, &want);
	if (ret != mret || (!ret && got != want))
		abort();

	ret = parse_uint(s, 1, 256, &u);
	if (!ret && (u < 1 || u > 256 || !isdigit((unsigned char)s[0])))
		abort();

	/* A mask is a size without a unit, with no bit outside 0x7f. */
	ret = parse_mask(s, 0x7f, &u);
	if (!ret && (mret || u != want || (u & ~0x7full) ||
		     !isxdigit((unsigned char)s[strlen(s) - 1])))
		abort();
	free(s);
	return 0;
}
