// SPDX-License-Identifier: GPL-2.0-only
/*
 * scsi_msg_decode(), the SCSI channel's request decoder, against any
 * packet a guest can put in a ring: the packet bytes are the input (the
 * first 8 bytes pick the descriptor's type, flags and data_offset), guest
 * RAM is a small buffer split around a hole.
 *
 * Checked: a message is either malformed, or fully decoded; an EXECUTE
 * answered as OK has iovecs that lie inside guest RAM and add up to
 * data_len exactly, within max_transfer and max_segments.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scsi_ctrl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LOW	(64u << 10)
#define HIGH	(64u << 10)

static uint8_t ram[LOW + HIGH];
static uint8_t pkt[KVMBUS_PKT_MAX_LEN];
static struct scsi_msg msg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct scsi_ctrl c;
	static struct guestmem gm;
	static bool init;
	struct kvmbus_pkt_info pi;
	uint64_t total = 0;
	uint32_t i;

	if (!init) {
		struct guestmem_layout l = {
			.ram_size = LOW + HIGH, .low_size = LOW,
			.high_size = HIGH,
		};

		guestmem_attach(&gm, ram, &l);
		if (scsi_ctrl_init(&c, 8, 4, 64 << 10, 16, 0))
			abort();
		init = true;
	}
	if (size < 8 || size - 8 > sizeof(pkt) - 8)
		return 0;
	pi.type = 1 + data[0] % 3;
	pi.flags = data[1] & 1;
	pi.data_offset = (uint16_t)(24 + 8 * (data[2] % 64));
	pi.trans_id = 1;
	if (pi.data_offset > size - 8)
		return 0;
	pi.total_len = (uint32_t)(size - 8 + 7) & ~7u;
	pi.data_len = (uint32_t)(size - 8 - pi.data_offset);
	memset(pkt, 0, sizeof(pkt));
	memcpy(pkt, data + 8, size - 8);
	scsi_msg_decode(&c, &gm, &pi, pkt, &msg);
	if (msg.kind == SCSI_MSG_MALFORMED || msg.kind != SCSI_MSG_EXECUTE ||
	    msg.host_status)
		return 0;
	if (msg.data_len > c.max_transfer || msg.niov > c.max_segments ||
	    !msg.cdb_len || msg.cdb_len > KVMBUS_SCSI_CDB_MAX ||
	    msg.lun >= c.max_luns)
		abort();
	for (i = 0; i < msg.niov; i++) {
		uint8_t *b = msg.iov[i].iov_base;

		if (b < ram || b + msg.iov[i].iov_len > ram + sizeof(ram) ||
		    !msg.iov[i].iov_len)
			abort();
		/* Touch both ends: ASan checks the range is real. */
		b[0] ^= 1;
		b[msg.iov[i].iov_len - 1] ^= 1;
		total += msg.iov[i].iov_len;
	}
	if (total != msg.data_len)
		abort();
	return 0;
}
