// SPDX-License-Identifier: GPL-2.0-only
/*
 * The echo VSP: see vsp_echo.h and include/kvmbus/echo.h.
 */
#include <errno.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kvmbus/echo.h>

#include "devices.h"
#include "parse.h"
#include "vsp_echo.h"

/* Every protocol-valid packet: a larger one is beyond KVMBUS_PKT_MAX_LEN. */
#define ECHO_MAX_PKT	(KVMBUS_PKT_MAX_LEN - \
			 (uint32_t)sizeof(struct kvmbus_pkt_trailer))
/* One unit of a pass's budget per this many bytes copied or touched. */
#define ECHO_COST_BYTES	(64u << 10)
/* Host-initiated packets per unit of a pass's budget: they cost no copy
 * out of the ring, so 256 go in a pass of CHAN_BUDGET. */
#define ECHO_SENDS_PER_UNIT	4u

struct echo_stats {
	uint64_t echoed;	/* INBAND answered with a COMP */
	uint64_t oneway;	/* INBAND consumed */
	uint64_t gpa_sum;	/* GPA SUM requests done */
	uint64_t gpa_fill;	/* GPA FILL requests done */
	uint64_t gpa_bytes;	/* bytes they read or wrote */
	uint64_t gpa_faults;	/* refused: a range not in guest RAM */
	uint64_t gpa_invalid;	/* refused: malformed or too large */
	uint64_t too_big;	/* an echo that can never fit the ring */
	uint64_t sent;		/* host-initiated packets */
};

struct echo {
	/* A reply waiting for room: no packet is taken while it waits.
	 * Its payload is in the channel's rxbuf, or @resp. */
	bool held;
	struct kvmbus_ring_pkt held_pkt;
	struct kvmbus_echo_gpa_resp resp;
	/* Host-initiated packets (vsp_echo_send()). */
	uint32_t send_left;
	uint32_t send_size;
	uint64_t seq;		/* the last trans_id sent */
	uint8_t *pattern;	/* send_size + 256 bytes: byte j = j & 0xff */
	struct echo_stats stats;
};

static struct echo *echo_of(const struct chan *ch)
{
	return ch->priv;
}

/* Send a reply, or keep it until the guest makes room. */
static void echo_reply(struct chan *ch, struct echo *e,
		       const struct kvmbus_ring_pkt *p)
{
	int ret = chan_send(ch, p);

	if (ret == -ENOSPC) {
		e->held = true;
		e->held_pkt = *p;
		return;
	}
	if (ret == -EMSGSIZE) {
		/* Only an echo can be this large: the guest sent a payload
		 * its own host->guest ring cannot carry back. */
		e->stats.too_big++;
		ch->stats.malformed++;
		log_rl(&ch->rl, LOG_WARNING,
		       "channel relid %u (echo): a %u-byte echo does not fit the host->guest ring (%u bytes): dropped",
		       ch->relid, p->data_len, ch->tx.size);
		return;
	}
	if (!ret && p->data != &e->resp)
		e->stats.echoed++;
}

static unsigned int echo_cost(uint64_t bytes)
{
	return 1 + (unsigned int)(bytes / ECHO_COST_BYTES);
}

/* SUM or FILL over ranges that have all been checked. */
static uint64_t echo_gpa_do(uint32_t op, uint32_t seed, uint8_t *const *p,
			    const uint32_t *len, uint32_t nr, uint64_t *sum)
{
	uint64_t pos = 0, s = 0;
	uint32_t i, j;

	for (i = 0; i < nr; i++) {
		if (op == KVMBUS_ECHO_OP_SUM) {
			for (j = 0; j < len[i]; j++)
				s += p[i][j];
		} else {
			for (j = 0; j < len[i]; j++)
				p[i][j] = (uint8_t)(seed + pos + j);
		}
		pos += len[i];
	}
	*sum = s;
	return pos;
}

/*
 * Check the request and every range; touch nothing.
 * Return: 0 with @p, @len, @nr filled, or the status to answer.
 */
static uint32_t echo_gpa_check(struct chan *ch, const struct kvmbus_pkt_info *pi,
			       const uint8_t *pkt, struct kvmbus_echo_gpa_req *req,
			       uint8_t **p, uint32_t *len, uint32_t *nr)
{
	const uint8_t *ranges = pkt + sizeof(struct kvmbus_pkt_desc) +
				sizeof(struct kvmbus_gpa_list);
	struct kvmbus_gpa_range r;
	struct kvmbus_gpa_list l;
	uint32_t i, op;
	uint64_t total = 0, gpa;

	/* The list header lies before data_offset (>= 32 for GPA packets,
	 * checked by kvmbus_pkt_decode()), so inside the copied packet. */
	memcpy(&l, pkt + sizeof(struct kvmbus_pkt_desc), sizeof(l));
	if (kvmbus_gpa_list_decode(&l, pi, nr)) {
		chan_malformed(ch, pi, "invalid GPA range list");
		return EINVAL;
	}
	if (pi->data_len < sizeof(*req)) {
		chan_malformed(ch, pi, "shorter than an echo GPA request");
		return EINVAL;
	}
	memcpy(req, pkt + pi->data_offset, sizeof(*req));
	op = le32_to_cpu(req->op);
	if (op != KVMBUS_ECHO_OP_SUM && op != KVMBUS_ECHO_OP_FILL) {
		chan_malformed(ch, pi, "unknown echo GPA operation");
		return EINVAL;
	}
	/* Every range before the first byte is touched. */
	for (i = 0; i < *nr; i++) {
		memcpy(&r, ranges + (size_t)i * sizeof(r), sizeof(r));
		gpa = le64_to_cpu(r.gpa);
		len[i] = le32_to_cpu(r.len);
		p[i] = guestmem_range(ch->env->gm, gpa, len[i]);
		if (!p[i]) {
			log_rl(&ch->rl, LOG_WARNING,
			       "channel relid %u (echo): GPA range %u of %u (0x%llx, %u bytes) is not guest RAM: refused",
			       ch->relid, i, *nr, (unsigned long long)gpa,
			       len[i]);
			return EFAULT;
		}
		total += len[i];
	}
	if (total > ECHO_GPA_MAX_BYTES) {
		chan_malformed(ch, pi, "GPA request larger than 4 MiB");
		return E2BIG;
	}
	return 0;
}

static unsigned int echo_gpa(struct chan *ch, struct echo *e,
			     const struct kvmbus_pkt_info *pi,
			     const uint8_t *pkt)
{
	uint8_t *p[KVMBUS_MAX_GPA_RANGES];
	uint32_t len[KVMBUS_MAX_GPA_RANGES];
	struct kvmbus_echo_gpa_req req;
	struct kvmbus_ring_pkt reply = {
		.type = KVMBUS_PKT_COMP,
		.trans_id = pi->trans_id,
		.data = &e->resp,
		.data_len = sizeof(e->resp),
	};
	uint64_t bytes = 0, sum = 0;
	uint32_t status, nr = 0, op;

	status = echo_gpa_check(ch, pi, pkt, &req, p, len, &nr);
	if (!status) {
		op = le32_to_cpu(req.op);
		bytes = echo_gpa_do(op, le32_to_cpu(req.seed), p, len, nr,
				    &sum);
		if (op == KVMBUS_ECHO_OP_SUM)
			e->stats.gpa_sum++;
		else
			e->stats.gpa_fill++;
		e->stats.gpa_bytes += bytes;
	} else if (status == EFAULT) {
		e->stats.gpa_faults++;
	} else {
		e->stats.gpa_invalid++;
	}
	memset(&e->resp, 0, sizeof(e->resp));
	e->resp.status = cpu_to_le32(status);
	e->resp.bytes = cpu_to_le64(bytes);
	e->resp.sum = cpu_to_le64(sum);
	echo_reply(ch, e, &reply);
	return echo_cost(bytes);
}

static unsigned int echo_on_packet(struct chan *ch,
				   const struct kvmbus_pkt_info *pi,
				   const uint8_t *pkt)
{
	struct echo *e = echo_of(ch);
	struct kvmbus_ring_pkt reply = {
		.type = KVMBUS_PKT_COMP,
		.trans_id = pi->trans_id,
		.data = pkt + pi->data_offset,
		.data_len = pi->data_len,
	};

	switch (pi->type) {
	case KVMBUS_PKT_INBAND:
		if (!(pi->flags & KVMBUS_PKT_F_COMP_REQUESTED)) {
			e->stats.oneway++;
			return 1;
		}
		echo_reply(ch, e, &reply);
		return echo_cost(pi->data_len);
	case KVMBUS_PKT_GPA:
		return echo_gpa(ch, e, pi, pkt);
	default:
		chan_malformed(ch, pi, "the echo host never asks for completions");
		return 1;
	}
}

static bool echo_flush(struct chan *ch, unsigned int budget)
{
	struct echo *e = echo_of(ch);
	struct kvmbus_ring_pkt p = { .type = KVMBUS_PKT_INBAND };
	int ret;

	if (e->held) {
		e->held = false;
		echo_reply(ch, e, &e->held_pkt);
		if (e->held)
			return false;	/* still no room */
	}
	budget *= ECHO_SENDS_PER_UNIT;
	while (e->send_left) {
		if (!budget--)
			return true;
		p.trans_id = e->seq + 1;
		p.data = e->pattern + (p.trans_id & 0xff);
		p.data_len = e->send_size;
		ret = chan_send(ch, &p);
		if (ret == -ENOSPC)
			return false;	/* the guest signals when it has room */
		if (ret) {
			/* Broken (or cannot happen: the size was checked
			 * against this ring): stop sending. */
			e->send_left = 0;
			break;
		}
		e->seq++;
		e->send_left--;
		e->stats.sent++;
	}
	return false;
}

static bool echo_busy(const struct chan *ch)
{
	return echo_of(ch)->held;
}

static void echo_close(struct chan *ch)
{
	struct echo *e = echo_of(ch);

	free(e->pattern);
	e->pattern = NULL;
	e->held = false;
	e->send_left = 0;
}

static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static void echo_to_json(const struct chan *ch, struct json_object *o)
{
	const struct echo *e = echo_of(ch);
	struct json_object *j = json_object_new_object();

	add_u64(j, "echoed", e->stats.echoed);
	add_u64(j, "oneway", e->stats.oneway);
	add_u64(j, "gpa_sum", e->stats.gpa_sum);
	add_u64(j, "gpa_fill", e->stats.gpa_fill);
	add_u64(j, "gpa_bytes", e->stats.gpa_bytes);
	add_u64(j, "gpa_faults", e->stats.gpa_faults);
	add_u64(j, "gpa_invalid", e->stats.gpa_invalid);
	add_u64(j, "too_big", e->stats.too_big);
	add_u64(j, "sent", e->stats.sent);
	add_u64(j, "send_pending", e->send_left);
	add_u64(j, "last_trans_id", e->seq);
	json_object_object_add(j, "reply_waiting",
			       json_object_new_boolean(e->held));
	json_object_object_add(o, "echo", j);
}

int vsp_echo_send(struct chan *ch, uint32_t count, uint32_t size)
{
	struct echo *e;
	uint32_t len;
	uint8_t *pat;
	size_t i;

	if (ch->state == CHAN_BROKEN)
		return -EIO;
	if (ch->state != CHAN_OPEN || ch->vsp != &vsp_echo_ops)
		return -ENOTCONN;
	e = echo_of(ch);
	if (e->send_left)
		return -EBUSY;
	if (!count)
		return -EINVAL;
	len = kvmbus_pkt_ring_len(0, size);
	if (!len || len > ch->tx.size - KVMBUS_RING_GAP)
		return -EMSGSIZE;
	/* Payload of trans_id t starts at pattern[t & 0xff]. */
	pat = realloc(e->pattern, (size_t)size + 256);
	if (!pat)
		return -ENOMEM;
	for (i = 0; i < (size_t)size + 256; i++)
		pat[i] = (uint8_t)i;
	e->pattern = pat;
	e->send_size = size;
	e->send_left = count;
	return 0;
}

uint32_t vsp_echo_send_pending(const struct chan *ch)
{
	return chan_in_use(ch) && ch->vsp == &vsp_echo_ops ?
	       echo_of(ch)->send_left : 0;
}

/* --- device level: `subchannels=N` -------------------------------- */

static void echo_offer_data(struct device *dev)
{
	struct kvmbus_echo_offer_data d = {
		.magic = cpu_to_le32(KVMBUS_ECHO_OFFER_MAGIC),
		.max_subchannels = cpu_to_le32(dev->max_subchannels),
	};

	memcpy(dev->offer_data, &d, sizeof(d));
	dev->offer_data_len = sizeof(d);
}

static int echo_dev_add(struct device *dev, struct json_object *params,
			char *err, size_t errlen)
{
	uint64_t v;

	dev->max_subchannels = 0;
	if (params) {
		json_object_object_foreach(params, key, val) {
			if (strcmp(key, "subchannels")) {
				snprintf(err, errlen,
					 "echo: unknown parameter \"%.64s\" (known: subchannels)",
					 key);
				return -EINVAL;
			}
			if (!json_object_is_type(val, json_type_string) ||
			    parse_uint(json_object_get_string(val), 0,
				       KVMBUS_MAX_SUBCHANNELS, &v)) {
				snprintf(err, errlen,
					 "echo: subchannels must be a number from 0 to %u",
					 KVMBUS_MAX_SUBCHANNELS);
				return -EINVAL;
			}
			dev->max_subchannels = (uint16_t)v;
		}
	}
	echo_offer_data(dev);
	return 0;
}

static void echo_dev_to_json(const struct device *dev, struct json_object *o)
{
	struct json_object *p = json_object_new_object();

	json_object_object_add(p, "subchannels",
			       json_object_new_int(dev->max_subchannels));
	json_object_object_add(o, "params", p);
}

const struct vsp_ops vsp_echo_ops = {
	.name = "echo",
	.max_pkt = ECHO_MAX_PKT,
	.priv_size = sizeof(struct echo),
	.close = echo_close,
	.on_packet = echo_on_packet,
	.flush = echo_flush,
	.busy = echo_busy,
	.to_json = echo_to_json,
	/* Each open echo channel on a worker of its own (kvmbusd
	 * --workers): the guest suites exercise the threaded path. */
	.threaded = true,
	.dev_add = echo_dev_add,
	.dev_to_json = echo_dev_to_json,
};
