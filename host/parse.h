/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Strict number parsing for command-line options.  The fuzz target
 * fuzz_parse_size calls these very functions.
 */
#ifndef KVMBUSD_PARSE_H
#define KVMBUSD_PARSE_H

#include <stdint.h>

/*
 * parse_size() - a byte count: decimal or 0x-hex digits, optionally
 * followed by one binary unit K, M, G or T (any case, optionally with
 * "iB" or "B": 64K, 64KiB, 64kb all mean 65536).  No sign, no spaces,
 * no empty string.
 *
 * Return: 0, -EINVAL for malformed text, -ERANGE on overflow.
 */
int parse_size(const char *s, uint64_t *out);

/*
 * parse_uint() - a plain decimal number in [@min, @max].
 *
 * Return: 0, -EINVAL for malformed text, -ERANGE outside the bounds.
 */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * parse_mask() - a bit mask: decimal or 0x-hex digits, no unit, no bit
 * outside @allowed.
 *
 * Return: 0, -EINVAL for malformed text, -ERANGE on overflow or for a
 * bit outside @allowed.
 */
int parse_mask(const char *s, uint64_t allowed, uint64_t *out);

#endif /* KVMBUSD_PARSE_H */
