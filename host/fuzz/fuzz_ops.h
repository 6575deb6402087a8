/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The input format the sequence fuzzers share: a series of operations,
 * each an op byte, a little-endian 16-bit length and then that many bytes
 * of argument (fewer where the input ends).
 */
#ifndef KVMBUSD_FUZZ_OPS_H
#define KVMBUSD_FUZZ_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * fuzz_op_header() - take the next operation's header off the input
 *
 * Advances *data and *size past the header and clamps *len to what is
 * left; the caller consumes *len bytes of argument after handling it.
 *
 * Return: false when fewer than 3 bytes are left.
 */
static inline bool fuzz_op_header(const uint8_t **data, size_t *size,
				  uint8_t *op, uint32_t *len)
{
	if (*size < 3)
		return false;
	*op = (*data)[0];
	*len = (uint32_t)(*data)[1] | (uint32_t)(*data)[2] << 8;
	*data += 3;
	*size -= 3;
	if (*len > *size)
		*len = (uint32_t)*size;
	return true;
}

#endif /* KVMBUSD_FUZZ_OPS_H */
