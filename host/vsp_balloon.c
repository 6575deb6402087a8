// SPDX-License-Identifier: GPL-2.0-only
/*
 * The balloon VSP: see vsp_balloon.h and include/kvmbus/balloon.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <stdio.h>
#include <string.h>

#include "devices.h"
#include "parse.h"
#include "vsp_balloon.h"

#define PG			KVMBUS_PAGE_SIZE
/* A request the guest leaves unanswered for this many STATUS messages
 * (seconds) is given up; its late answers are refused. */
#define BALLOON_REQ_STATUSES	30u

struct balloon_stats {
	uint64_t statuses;	/* STATUS messages */
	uint64_t requests;	/* INFLATE_REQ + DEFLATE_REQ sent */
	uint64_t inflated;	/* pages the guest gave up */
	uint64_t deflated;	/* pages it took back on request */
	uint64_t pressure;	/* ... and on its own, under pressure */
	uint64_t reported;	/* free pages reported */
	uint64_t reports;	/* REPORT messages */
	uint64_t punched;	/* bytes punched out of the RAM file */
	uint64_t punch_errors;	/* fallocate() failures */
	uint64_t rejected;	/* messages refused: outside RAM, bad counts */
	uint64_t malformed;	/* messages that break the format */
	uint64_t short_answers;	/* requests answered with fewer pages */
	uint64_t stale;		/* requests given up */
	uint64_t range_requests;	/* DEFLATE_RANGE_REQ sent */
	uint64_t range_deflated;	/* pages they brought back */
	uint64_t range_refused;	/* ... refused by the guest (BADRANGE) */
};

/* The device's (dev->priv): the target outlives the guest driver. */
struct balloon_dev {
	bool target_set;
	uint64_t target;	/* bytes of guest memory wanted */
	struct chan *ch;	/* the open channel, or NULL */
};

/* A range deflate: asked for (pending), then in flight, then its result. */
struct balloon_range {
	bool pending;		/* asked for, not sent yet */
	uint64_t pfn;
	uint64_t pages;
	uint64_t returned;	/* pages the guest brought back */
	uint16_t status;	/* of its F_LAST answer */
	bool done;		/* the guest answered with F_LAST */
};

/* The channel's: what this guest driver did with the target. */
struct balloon {
	uint64_t ram_pages;
	uint64_t size;		/* balloon pages, as the guest's answers say */
	/* The one request in flight (req_type 0: none). */
	uint16_t req_type;
	uint64_t req_id;
	uint64_t req_pages;
	uint64_t req_done;
	unsigned int req_age;	/* STATUS messages since it was sent */
	uint16_t last_status;	/* of the last short answer */
	uint64_t next_id;
	struct balloon_range range;	/* the last range deflate asked for */
	bool wait_status;	/* an answer fell short: wait for a STATUS */
	/* A completion waiting for room in the host->guest ring. */
	bool held;
	uint64_t held_tid;
	struct kvmbus_balloon_ack ack;
	bool have_status;
	struct kvmbus_balloon_status st;
	struct balloon_stats stats;
	struct balloon_msg msg;	/* scratch for on_packet */
};

static struct balloon *balloon_of(const struct chan *ch)
{
	return ch->priv;
}

static struct balloon_dev *bdev_of(const struct device *dev)
{
	return dev->priv;
}

/* Balloon pages the host wants: guest RAM less the target. */
static uint64_t balloon_want(const struct chan *ch)
{
	const struct balloon_dev *bd = bdev_of(ch->dev);
	const struct balloon *b = balloon_of(ch);

	if (!bd->target_set || bd->target / PG >= b->ram_pages)
		return 0;
	return b->ram_pages - bd->target / PG;
}

struct pfn_span {
	uint64_t pfn;
	uint64_t n;
};

static int pfn_span_cmp(const void *a, const void *b)
{
	const struct pfn_span *x = a, *y = b;

	return x->pfn < y->pfn ? -1 : x->pfn > y->pfn;
}

/*
 * A page named twice in one message would be punched and counted twice,
 * and the guest's count (checked against the sum) would hide it.
 * Return: true if two of @nr spans share a page; sorts @s.
 */
static bool pfn_spans_overlap(struct pfn_span *s, uint32_t nr)
{
	uint32_t i;

	qsort(s, nr, sizeof(*s), pfn_span_cmp);
	for (i = 1; i < nr; i++)
		if (s[i].pfn < s[i - 1].pfn + s[i - 1].n)
			return true;
	return false;
}

int balloon_parse(struct guestmem *gm, const uint8_t *buf, uint32_t len,
		  struct balloon_msg *out)
{
	const struct kvmbus_balloon_ranges *rh = (const void *)buf;
	struct pfn_span spans[KVMBUS_BALLOON_MAX_RANGES];
	struct kvmbus_balloon_range r;
	uint64_t pfn, n, off;
	uint32_t i, nr;

	out->type = kvmbus_balloon_msg_type(buf, len, true);
	out->flags = 0;
	out->status = 0;
	out->req_id = 0;
	out->pages = 0;
	out->nr_runs = 0;
	out->lo_pfn = UINT64_MAX;
	out->hi_pfn = 0;
	switch (out->type) {
	case 0:
		return -EINVAL;
	case KVMBUS_BALLOON_STATUS:
		/* A first-version guest's STATUS has no features: 0. */
		memset(&out->st, 0, sizeof(out->st));
		memcpy(&out->st, buf, len < sizeof(out->st) ? len : sizeof(out->st));
		return 0;
	default:
		break;
	}
	/* A range message: the header was checked by _msg_type() on this
	 * very copy, so nr fits @len. */
	out->flags = le16_to_cpu(rh->flags);
	out->status = le16_to_cpu(rh->status);
	out->req_id = le64_to_cpu(rh->req_id);
	nr = le32_to_cpu(rh->nr_ranges);
	for (i = 0; i < nr; i++) {
		memcpy(&r, buf + sizeof(*rh) + i * sizeof(r), sizeof(r));
		pfn = le64_to_cpu(r.pfn);
		n = le64_to_cpu(r.nr_pages);
		if (!n || n > KVMBUS_BALLOON_MAX_RANGE_PAGES)
			return -EINVAL;
		if (pfn >= (GUESTMEM_MAX_RAM * 2) / PG ||
		    guestmem_file_off(gm, pfn * PG, n * PG, &off))
			return -EFAULT;
		spans[i] = (struct pfn_span){ pfn, n };
		out->pages += n;
		if (pfn < out->lo_pfn)
			out->lo_pfn = pfn;
		if (pfn + n > out->hi_pfn)
			out->hi_pfn = pfn + n;
		if (out->nr_runs &&
		    out->runs[out->nr_runs - 1].off +
		    out->runs[out->nr_runs - 1].len == off) {
			out->runs[out->nr_runs - 1].len += n * PG;
			continue;
		}
		out->runs[out->nr_runs++] = (struct guestmem_run){ off, n * PG };
	}
	/* The count must add up; without ranges it is 0, except in a
	 * pressure deflate (checked by kvmbus_balloon_msg_type()). */
	if (nr && out->pages != le64_to_cpu(rh->pages))
		return -EINVAL;
	if (pfn_spans_overlap(spans, nr))
		return -EINVAL;
	out->pages = le64_to_cpu(rh->pages);
	return 0;
}

/* Give the pages of @m back to the host.  Return: bytes punched. */
static uint64_t balloon_punch(struct chan *ch, struct balloon *b,
			      const struct balloon_msg *m)
{
	int fd = ch->env->gm->fd;
	uint64_t done = 0;
	unsigned int i;

	for (i = 0; i < m->nr_runs; i++) {
		if (fd < 0 ||
		    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)m->runs[i].off, (off_t)m->runs[i].len)) {
			b->stats.punch_errors++;
			log_rl(&ch->rl, LOG_WARNING,
			       "channel relid %u (balloon): cannot punch %llu bytes at file offset %llu: %s",
			       ch->relid, (unsigned long long)m->runs[i].len,
			       (unsigned long long)m->runs[i].off,
			       fd < 0 ? "no RAM file" : strerror(errno));
			continue;
		}
		done += m->runs[i].len;
	}
	b->stats.punched += done;
	return done;
}

static void balloon_send_ack(struct chan *ch, struct balloon *b)
{
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_COMP,
		.trans_id = b->held_tid,
		.data = &b->ack,
		.data_len = sizeof(b->ack),
	};

	b->held = chan_send(ch, &p) == -ENOSPC;
}

/* Answer a message that asked for it: @err 0 or a positive errno. */
static void balloon_answer(struct chan *ch, struct balloon *b,
			   const struct kvmbus_pkt_info *pi, int err,
			   uint64_t pages)
{
	if (!(pi->flags & KVMBUS_PKT_F_COMP_REQUESTED))
		return;
	b->ack = (struct kvmbus_balloon_ack){
		.status = cpu_to_le32((uint32_t)err),
		.pages = cpu_to_le64(err ? 0 : pages),
	};
	b->held_tid = pi->trans_id;
	balloon_send_ack(ch, b);
}

static void balloon_req_end(struct balloon *b, uint16_t status)
{
	if (b->req_done < b->req_pages) {
		b->stats.short_answers++;
		b->last_status = status;
		b->wait_status = true;
	}
	b->req_type = 0;
}

/* The guest's answer to a range deflate went through: the balloon target
 * follows what is left in the balloon, as after a pressure deflate. */
static void balloon_range_answered(struct chan *ch, struct balloon *b,
				   const struct balloon_msg *m)
{
	struct balloon_dev *bd = bdev_of(ch->dev);

	b->stats.range_deflated += m->pages;
	b->range.returned += m->pages;
	b->req_done += m->pages;
	if (balloon_want(ch) > b->size) {
		bd->target_set = true;
		bd->target = (b->ram_pages - b->size) * PG;
	}
	if (m->flags & KVMBUS_BALLOON_F_LAST) {
		b->range.status = m->status;
		b->range.done = true;
		if (m->status == KVMBUS_BALLOON_ST_BADRANGE)
			b->stats.range_refused++;
		/* Fewer pages than the range holds is the normal case. */
		b->req_type = 0;
	}
}

static void balloon_status(struct balloon *b, const struct balloon_msg *m)
{
	b->st = m->st;
	b->have_status = true;
	b->stats.statuses++;
	b->wait_status = false;
	if (b->req_type && ++b->req_age > BALLOON_REQ_STATUSES) {
		b->stats.stale++;
		b->req_type = 0;
	}
}

/* Does @m answer the request in flight, within what was asked?  */
static bool balloon_answers(const struct balloon *b,
			    const struct balloon_msg *m, uint16_t req_type)
{
	return b->req_type == req_type && m->req_id == b->req_id &&
	       m->pages <= b->req_pages - b->req_done;
}

static void balloon_reject(struct chan *ch, struct balloon *b,
			   const struct kvmbus_pkt_info *pi, int err,
			   const char *why)
{
	b->stats.rejected++;
	log_rl(&ch->rl, LOG_WARNING,
	       "channel relid %u (balloon): message refused: %s", ch->relid,
	       why);
	balloon_answer(ch, b, pi, err, 0);
}

static unsigned int balloon_ranges(struct chan *ch, struct balloon *b,
				   const struct kvmbus_pkt_info *pi,
				   const struct balloon_msg *m)
{
	switch (m->type) {
	case KVMBUS_BALLOON_INFLATED:
		if (!balloon_answers(b, m, KVMBUS_BALLOON_INFLATE_REQ)) {
			balloon_reject(ch, b, pi, EINVAL,
				       "INFLATED answers no request in flight, or brings more pages than asked");
			return 1;
		}
		balloon_punch(ch, b, m);
		b->size += m->pages;
		b->req_done += m->pages;
		b->stats.inflated += m->pages;
		if (m->flags & KVMBUS_BALLOON_F_LAST)
			balloon_req_end(b, m->status);
		break;
	case KVMBUS_BALLOON_DEFLATED:
		if (b->req_type == KVMBUS_BALLOON_DEFLATE_RANGE_REQ &&
		    !(m->flags & KVMBUS_BALLOON_F_PRESSURE)) {
			/* Exactly pages inside the range, no more than it. */
			if (m->pages > b->size ||
			    !balloon_answers(b, m, KVMBUS_BALLOON_DEFLATE_RANGE_REQ) ||
			    (m->nr_runs && (m->lo_pfn < b->range.pfn ||
					    m->hi_pfn > b->range.pfn + b->range.pages))) {
				balloon_reject(ch, b, pi, EINVAL,
					       "DEFLATED answers the range deflate with pages outside its range or more than the balloon holds");
				return 1;
			}
			b->size -= m->pages;
			balloon_range_answered(ch, b, m);
			break;
		}
		if (m->pages > b->size ||
		    (!(m->flags & KVMBUS_BALLOON_F_PRESSURE) &&
		     !balloon_answers(b, m, KVMBUS_BALLOON_DEFLATE_REQ))) {
			balloon_reject(ch, b, pi, EINVAL,
				       "DEFLATED brings more pages than the balloon holds, or answers no request");
			return 1;
		}
		b->size -= m->pages;
		if (m->flags & KVMBUS_BALLOON_F_PRESSURE) {
			struct balloon_dev *bd = bdev_of(ch->dev);

			b->stats.pressure += m->pages;
			if (balloon_want(ch) > b->size) {
				bd->target_set = true;
				bd->target = (b->ram_pages - b->size) * PG;
			}
		} else {
			b->stats.deflated += m->pages;
			b->req_done += m->pages;
			if (m->flags & KVMBUS_BALLOON_F_LAST)
				balloon_req_end(b, m->status);
		}
		break;
	case KVMBUS_BALLOON_REPORT:
		balloon_punch(ch, b, m);
		b->stats.reports++;
		b->stats.reported += m->pages;
		break;
	}
	balloon_answer(ch, b, pi, 0, m->pages);
	return 1 + m->nr_runs / 16;
}

static unsigned int balloon_on_packet(struct chan *ch,
				      const struct kvmbus_pkt_info *pi,
				      const uint8_t *pkt)
{
	struct balloon *b = balloon_of(ch);
	struct balloon_msg *m = &b->msg;
	int ret;

	if (pi->type != KVMBUS_PKT_INBAND) {
		b->stats.malformed++;
		chan_malformed(ch, pi, "balloon messages are in-band packets");
		return 1;
	}
	ret = balloon_parse(ch->env->gm, pkt + pi->data_offset, pi->data_len,
			    m);
	if (ret == -EFAULT) {
		balloon_reject(ch, b, pi, EFAULT,
			       "a range outside guest RAM");
		return 1;
	}
	if (ret) {
		b->stats.malformed++;
		chan_malformed(ch, pi, "not a valid balloon message");
		balloon_answer(ch, b, pi, EINVAL, 0);
		return 1;
	}
	if (m->type == KVMBUS_BALLOON_STATUS) {
		balloon_status(b, m);
		return 1;
	}
	return balloon_ranges(ch, b, pi, m);
}

/* Send the range deflate asked for (no request is in flight). */
static void balloon_request_range(struct chan *ch, struct balloon *b)
{
	struct kvmbus_balloon_range_req q = {
		.hdr.type = cpu_to_le16(KVMBUS_BALLOON_DEFLATE_RANGE_REQ),
		.req_id = cpu_to_le64(b->next_id + 1),
		.range.pfn = cpu_to_le64(b->range.pfn),
		.range.nr_pages = cpu_to_le64(b->range.pages),
	};
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.trans_id = b->next_id + 1,
		.data = &q,
		.data_len = sizeof(q),
	};

	if (chan_send(ch, &p))
		return;		/* full: the next pass tries again */
	b->next_id++;
	b->range.pending = false;
	b->req_type = KVMBUS_BALLOON_DEFLATE_RANGE_REQ;
	b->req_id = b->next_id;
	b->req_pages = b->range.pages;
	b->req_done = 0;
	b->req_age = 0;
	b->stats.range_requests++;
}

/* Send the next request if the balloon is not where the host wants it. */
static void balloon_request(struct chan *ch, struct balloon *b)
{
	struct kvmbus_balloon_req q = { 0 };
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.data = &q,
		.data_len = sizeof(q),
	};
	uint64_t n, want = balloon_want(ch);
	uint16_t type;

	if (b->req_type || !b->have_status)
		return;
	if (b->range.pending) {
		balloon_request_range(ch, b);
		return;
	}
	if (b->wait_status || want == b->size)
		return;
	if (want > b->size) {
		type = KVMBUS_BALLOON_INFLATE_REQ;
		n = want - b->size;
	} else {
		type = KVMBUS_BALLOON_DEFLATE_REQ;
		n = b->size - want;
	}
	if (n > KVMBUS_BALLOON_MAX_REQ_PAGES)
		n = KVMBUS_BALLOON_MAX_REQ_PAGES;
	q.hdr.type = cpu_to_le16(type);
	q.pages = cpu_to_le64(n);
	q.req_id = cpu_to_le64(b->next_id + 1);
	p.trans_id = b->next_id + 1;
	if (chan_send(ch, &p))
		return;		/* full: the next pass tries again */
	b->next_id++;
	b->req_type = type;
	b->req_id = b->next_id;
	b->req_pages = n;
	b->req_done = 0;
	b->req_age = 0;
	b->stats.requests++;
}

static bool balloon_flush(struct chan *ch, unsigned int budget)
{
	struct balloon *b = balloon_of(ch);

	(void)budget;
	if (b->held) {
		balloon_send_ack(ch, b);
		if (b->held)
			return false;
	}
	balloon_request(ch, b);
	return false;
}

static bool balloon_busy(const struct chan *ch)
{
	return balloon_of(ch)->held;
}

static int balloon_open(struct chan *ch, const uint8_t *data)
{
	struct balloon *b = balloon_of(ch);

	(void)data;
	if (ch->sub_index)
		return -EINVAL;		/* one channel: nothing to multiplex */
	b->ram_pages = ch->env->gm->layout.ram_size / PG;
	bdev_of(ch->dev)->ch = ch;
	return 0;
}

static void balloon_close(struct chan *ch)
{
	struct balloon_dev *bd = bdev_of(ch->dev);

	if (bd->ch == ch)
		bd->ch = NULL;
}

void vsp_balloon_set_target(struct device *dev, uint64_t bytes)
{
	struct balloon_dev *bd = bdev_of(dev);

	bd->target_set = true;
	bd->target = bytes;
	if (bd->ch && bd->ch->state == CHAN_OPEN) {
		balloon_of(bd->ch)->wait_status = false;
		/* Send the request now.  (On the loop, like every pass.) */
		chan_poll(bd->ch, CHAN_BUDGET);
	}
}

int vsp_balloon_deflate_range(struct device *dev, uint64_t pfn,
			      uint64_t pages)
{
	struct balloon_dev *bd = bdev_of(dev);
	struct balloon *b;

	if (!pages || pages > KVMBUS_BALLOON_MAX_REQ_PAGES ||
	    pfn > UINT64_MAX - pages)
		return -EINVAL;
	if (!bd->ch || bd->ch->state != CHAN_OPEN)
		return -ENOTCONN;
	b = balloon_of(bd->ch);
	if (!b->have_status)
		return -EAGAIN;
	if (!(le64_to_cpu(b->st.features) & KVMBUS_BALLOON_FEAT_DEFLATE_RANGE))
		return -EOPNOTSUPP;
	if (b->range.pending ||
	    b->req_type == KVMBUS_BALLOON_DEFLATE_RANGE_REQ)
		return -EBUSY;
	b->range = (struct balloon_range){
		.pending = true, .pfn = pfn, .pages = pages,
	};
	/* Sent before any other request: now, or after the one in flight. */
	chan_poll(bd->ch, CHAN_BUDGET);
	return 0;
}

struct chan *vsp_balloon_chan(const struct device *dev)
{
	return bdev_of(dev)->ch;
}

/* "target=SIZE": the guest memory wanted. */
static int balloon_params(struct device *dev, struct json_object *params,
			  char *err, size_t errlen)
{
	uint64_t v;

	if (!params)
		return 0;
	json_object_object_foreach(params, key, val) {
		if (strcmp(key, "target")) {
			snprintf(err, errlen,
				 "balloon: unknown parameter \"%.64s\" (known: target)",
				 key);
			return -EINVAL;
		}
		if (!json_object_is_type(val, json_type_string) ||
		    parse_size(json_object_get_string(val), &v)) {
			snprintf(err, errlen,
				 "balloon: target must be a size, e.g. 512M or 1G");
			return -EINVAL;
		}
		vsp_balloon_set_target(dev, v);
	}
	return 0;
}

static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static const char *const req_names[] = {
	[KVMBUS_BALLOON_INFLATE_REQ] = "inflate",
	[KVMBUS_BALLOON_DEFLATE_REQ] = "deflate",
	[KVMBUS_BALLOON_DEFLATE_RANGE_REQ] = "deflate-range",
};

static const char *range_state(const struct balloon_range *r)
{
	if (r->pending)
		return "pending";
	if (!r->done)
		return "sent";
	return r->status == KVMBUS_BALLOON_ST_BADRANGE ? "refused" : "done";
}

static void balloon_status_json(const struct balloon *b,
				struct json_object *o)
{
	const struct kvmbus_balloon_status *s = &b->st;
	struct json_object *j = json_object_new_object();

	add_u64(j, "total", le64_to_cpu(s->total) * PG);
	add_u64(j, "free", le64_to_cpu(s->free) * PG);
	add_u64(j, "available", le64_to_cpu(s->available) * PG);
	add_u64(j, "committed", le64_to_cpu(s->committed) * PG);
	add_u64(j, "page_cache", le64_to_cpu(s->page_cache) * PG);
	add_u64(j, "swap_free", le64_to_cpu(s->swap_free) * PG);
	add_u64(j, "balloon", le64_to_cpu(s->balloon) * PG);
	add_u64(j, "floor", le64_to_cpu(s->floor) * PG);
	add_u64(j, "reported", le64_to_cpu(s->reported) * PG);
	add_u64(j, "features", le64_to_cpu(s->features));
	json_object_object_add(o, "guest", j);
}

void vsp_balloon_json(const struct chan *ch, struct json_object *o)
{
	const struct balloon *b = balloon_of(ch);
	const struct balloon_stats *st = &b->stats;
	struct json_object *j = json_object_new_object();
	struct json_object *n = json_object_new_object();

	add_u64(j, "ram", b->ram_pages * PG);
	add_u64(j, "target", (b->ram_pages - balloon_want(ch)) * PG);
	add_u64(j, "balloon_target", balloon_want(ch) * PG);
	add_u64(j, "balloon", b->size * PG);
	json_object_object_add(j, "request", json_object_new_string(
		b->req_type ? req_names[b->req_type] : "none"));
	add_u64(j, "request_pages", b->req_type ? b->req_pages : 0);
	add_u64(j, "request_done", b->req_type ? b->req_done : 0);
	add_u64(j, "last_short_status", b->last_status);
	if (b->have_status)
		balloon_status_json(b, j);
	if (b->range.pages) {
		struct json_object *r = json_object_new_object();

		add_u64(r, "gpa", b->range.pfn * PG);
		add_u64(r, "size", b->range.pages * PG);
		add_u64(r, "returned", b->range.returned * PG);
		json_object_object_add(r, "state",
				       json_object_new_string(range_state(&b->range)));
		json_object_object_add(j, "deflate_range", r);
	}
	add_u64(n, "statuses", st->statuses);
	add_u64(n, "requests", st->requests);
	add_u64(n, "inflated_pages", st->inflated);
	add_u64(n, "deflated_pages", st->deflated);
	add_u64(n, "pressure_pages", st->pressure);
	add_u64(n, "reported_pages", st->reported);
	add_u64(n, "reports", st->reports);
	add_u64(n, "punched_bytes", st->punched);
	add_u64(n, "punch_errors", st->punch_errors);
	add_u64(n, "rejected", st->rejected);
	add_u64(n, "malformed", st->malformed);
	add_u64(n, "short_answers", st->short_answers);
	add_u64(n, "stale_requests", st->stale);
	add_u64(n, "range_requests", st->range_requests);
	add_u64(n, "range_deflated_pages", st->range_deflated);
	add_u64(n, "range_refused", st->range_refused);
	json_object_object_add(j, "counters", n);
	json_object_object_add(o, "balloon", j);
}

static void balloon_dev_to_json(const struct device *dev,
				struct json_object *o)
{
	const struct balloon_dev *bd = bdev_of(dev);

	if (bd->target_set)
		add_u64(o, "target", bd->target);
}

const struct vsp_ops vsp_balloon_ops = {
	.name = "balloon",
	.max_pkt = sizeof(struct kvmbus_pkt_desc) + KVMBUS_BALLOON_MAX_MSG + 8,
	.priv_size = sizeof(struct balloon),
	.dev_priv_size = sizeof(struct balloon_dev),
	.dev_add = balloon_params,
	.dev_set = balloon_params,
	.dev_to_json = balloon_dev_to_json,
	.open = balloon_open,
	.close = balloon_close,
	.on_packet = balloon_on_packet,
	.flush = balloon_flush,
	.busy = balloon_busy,
	.to_json = vsp_balloon_json,
};
