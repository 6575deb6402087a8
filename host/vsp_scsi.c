// SPDX-License-Identifier: GPL-2.0-only
/*
 * The SCSI class's host end: a controller (scsi_ctrl.c) per device, an
 * io_uring queue (struct scsi_queue) per channel, primary and
 * sub-channels alike, each on a worker thread of its own.  docs/protocol.md
 * section 7.4 is the wire protocol, docs/usage.md the parameters.
 *
 * Per pass: flush() submits what the previous packets prepared, reaps
 * completions and sends their answers; on_packet() decodes a request,
 * answers what needs no I/O at once and prepares I/O for the next
 * flush() (chan_wake() asks for it), so one pass submits a batch with one
 * io_uring_submit() and answers a batch with one ring commit.  The
 * io_uring eventfd is watched in the channel's context.  Answers that do
 * not fit the host->guest ring wait on the queue's done list; until they
 * are out the channel takes no request (busy()).
 */
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "chan.h"
#include "devices.h"
#include "log.h"
#include "parse.h"
#include "scsi_ctrl.h"
#include "vsp_scsi.h"

/* Descriptor, GPA list, 256 ranges, the request: rounded up. */
#define SCSI_MAX_PKT	8192u
#define SCSI_DEF_QUEUES	4u
#define SCSI_DEF_LUNS	16u

struct scsi_dev {
	struct scsi_ctrl ctrl;
	pthread_mutex_t lock;		/* @primary, @open */
	struct chan *primary;		/* open primary channel, or NULL */
	/* Open channels by sub_index: woken when a LUN is unstalled. */
	struct chan *open[KVMBUS_MAX_SUBCHANNELS + 1];
	atomic_bool event;		/* LUNS_CHANGED to send */
	atomic_uint event_lun;
	bool ctrl_ok;
};

struct scsi_chan {
	struct scsi_queue q;
	bool tx_full;			/* an answer waits for ring room */
	uint64_t answers;
	uint64_t events;
};

static struct scsi_dev *sdev_of(const struct device *dev)
{
	return dev->priv;
}

static struct scsi_chan *schan_of(const struct chan *ch)
{
	return ch->priv;
}

/* Send answers (and a pending LUN event) until the ring is full. */
static bool send_answers(struct chan *ch, unsigned int budget)
{
	struct scsi_chan *sc = schan_of(ch);
	struct scsi_dev *sd = sdev_of(ch->dev);
	struct kvmbus_ring_pkt p = { .type = KVMBUS_PKT_COMP };
	struct scsi_slot *s;
	int ret;

	if (ch->sub_index == 0 && atomic_load(&sd->event)) {
		struct kvmbus_scsi_event ev = {
			.hdr.op = cpu_to_le16(KVMBUS_SCSI_OP_LUNS_CHANGED),
			.luns_generation = cpu_to_le32(
				atomic_load(&sd->ctrl.luns_generation)),
			.lun = cpu_to_le16(atomic_load(&sd->event_lun)),
		};
		struct kvmbus_ring_pkt e = {
			.type = KVMBUS_PKT_INBAND,
			.data = &ev,
			.data_len = sizeof(ev),
		};

		atomic_store(&sd->event, false);
		ret = chan_send(ch, &e);
		if (ret == -ENOSPC) {
			atomic_store(&sd->event, true);
			sc->tx_full = true;
			return false;
		}
		sc->events++;
	}
	while ((s = scsi_queue_next(&sc->q))) {
		if (!budget--)
			return true;
		p.trans_id = s->trans_id;
		p.data = &s->u;
		p.data_len = s->resp_len;
		ret = chan_send(ch, &p);
		if (ret == -ENOSPC) {
			sc->tx_full = true;	/* the guest signals room */
			return false;
		}
		/* -EIO: broken, nothing more will be sent; drop it. */
		scsi_queue_sent(&sc->q, s);
		sc->answers++;
	}
	sc->tx_full = false;
	return false;
}

static void scsi_efd(struct chan *ch, int fd, uint32_t events)
{
	(void)fd;
	(void)events;
	scsi_queue_run(&schan_of(ch)->q);
	send_answers(ch, UINT32_MAX);
}

static int scsi_open(struct chan *ch, const uint8_t *data)
{
	struct scsi_dev *sd = sdev_of(ch->dev);
	struct scsi_chan *sc = schan_of(ch);
	int ret;

	(void)data;
	ret = scsi_queue_init(&sc->q, &sd->ctrl, ch->env->gm,
			      ch->sub_index == 0);
	if (ret) {
		log_warn("scsi: relid %u: cannot set up io_uring: %s",
			 ch->relid, strerror(-ret));
		return ret;
	}
	ret = chan_watch_fd(ch, sc->q.efd, EPOLLIN, scsi_efd);
	if (ret && ret != -ENOTSUP) {
		scsi_queue_fini(&sc->q);
		return ret;
	}
	pthread_mutex_lock(&sd->lock);
	if (ch->sub_index == 0)
		sd->primary = ch;
	if (ch->sub_index <= KVMBUS_MAX_SUBCHANNELS)
		sd->open[ch->sub_index] = ch;
	pthread_mutex_unlock(&sd->lock);
	return 0;
}

static void scsi_close(struct chan *ch)
{
	struct scsi_dev *sd = sdev_of(ch->dev);

	pthread_mutex_lock(&sd->lock);
	if (ch->sub_index == 0)
		sd->primary = NULL;
	if (ch->sub_index <= KVMBUS_MAX_SUBCHANNELS)
		sd->open[ch->sub_index] = NULL;
	pthread_mutex_unlock(&sd->lock);
	/* Waits for I/O in flight: it writes guest memory. */
	scsi_queue_fini(&schan_of(ch)->q);
}

static unsigned int scsi_on_packet(struct chan *ch,
				   const struct kvmbus_pkt_info *pi,
				   const uint8_t *pkt)
{
	struct scsi_chan *sc = schan_of(ch);
	bool had = sc->q.unsubmitted;

	if (!scsi_queue_packet(&sc->q, pi, pkt)) {
		chan_malformed(ch, pi, sc->q.msg->why);
		return 1;
	}
	if (!had && sc->q.unsubmitted)
		chan_wake(ch);		/* the next flush() submits */
	if (scsi_queue_next(&sc->q))
		send_answers(ch, UINT32_MAX);
	return 1;
}

static bool scsi_flush(struct chan *ch, unsigned int budget)
{
	scsi_queue_run(&schan_of(ch)->q);
	return send_answers(ch, budget * 4);
}

static bool scsi_busy(const struct chan *ch)
{
	const struct scsi_chan *sc = schan_of(ch);

	return sc->tx_full || scsi_queue_full(&sc->q);
}

static void scsi_to_json(const struct chan *ch, struct json_object *o)
{
	const struct scsi_chan *sc = schan_of(ch);
	struct json_object *j = json_object_new_object();

	json_object_object_add(j, "inflight",
			       json_object_new_int64(sc->q.inflight));
	json_object_object_add(j, "stalled",
			       json_object_new_int64(sc->q.stalled));
	json_object_object_add(j, "answers",
			       json_object_new_int64((int64_t)sc->answers));
	json_object_object_add(j, "events",
			       json_object_new_int64((int64_t)sc->events));
	json_object_object_add(o, "scsi", j);
}

/* --- parameters --- */

struct scsi_params {
	const char *image;
	uint64_t size;
	uint64_t lun;
	uint64_t queues;
	uint64_t luns;
	uint64_t max_transfer;
	uint64_t max_segments;
	uint64_t block_size;
	uint64_t readonly, direct, discard, remove, stall;
	const char *serial;
	bool has_lun, has_size, has_remove, has_image, has_stall;
};

static int get_bool(const char *key, const char *v, uint64_t *out,
		    char *err, size_t errlen)
{
	if (parse_uint(v, 0, 1, out)) {
		snprintf(err, errlen, "scsi: %s must be 0 or 1", key);
		return -EINVAL;
	}
	return 0;
}

static int parse_params(struct json_object *params, bool set,
			struct scsi_params *p, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	p->queues = SCSI_DEF_QUEUES;
	p->luns = SCSI_DEF_LUNS;
	p->max_transfer = SCSI_DEF_MAX_TRANSFER;
	p->max_segments = SCSI_MAX_SEGMENTS;
	p->block_size = 512;
	p->discard = 1;
	if (!params)
		return 0;
	json_object_object_foreach(params, key, val) {
		const char *v = json_object_get_string(val);
		int ret = 0;

		if (!json_object_is_type(val, json_type_string))
			ret = -EINVAL;
		else if (!strcmp(key, "image")) {
			p->image = v;
			p->has_image = true;
		} else if (!strcmp(key, "serial")) {
			p->serial = v;
		} else if (!strcmp(key, "size")) {
			ret = parse_size(v, &p->size);
			p->has_size = true;
		} else if (!strcmp(key, "lun")) {
			ret = parse_uint(v, 0, KVMBUS_SCSI_MAX_LUNS - 1,
					 &p->lun);
			p->has_lun = true;
		} else if (!strcmp(key, "readonly")) {
			ret = get_bool(key, v, &p->readonly, err, errlen);
		} else if (!strcmp(key, "direct")) {
			ret = get_bool(key, v, &p->direct, err, errlen);
		} else if (!strcmp(key, "discard")) {
			ret = get_bool(key, v, &p->discard, err, errlen);
		} else if (!strcmp(key, "block_size")) {
			ret = parse_uint(v, 512, 4096, &p->block_size);
			if (!ret && p->block_size != 512 &&
			    p->block_size != 4096)
				ret = -EINVAL;
		} else if (set && !strcmp(key, "stall")) {
			ret = get_bool(key, v, &p->stall, err, errlen);
			p->has_stall = true;
		} else if (set && !strcmp(key, "remove")) {
			ret = get_bool(key, v, &p->remove, err, errlen);
			p->has_remove = true;
		} else if (!set && !strcmp(key, "queues")) {
			ret = parse_uint(v, 1, KVMBUS_MAX_SUBCHANNELS + 1,
					 &p->queues);
		} else if (!set && !strcmp(key, "luns")) {
			ret = parse_uint(v, 1, KVMBUS_SCSI_MAX_LUNS, &p->luns);
		} else if (!set && !strcmp(key, "max_transfer")) {
			ret = parse_size(v, &p->max_transfer);
			if (!ret && (p->max_transfer < 4096 ||
				     p->max_transfer > (32u << 20) ||
				     p->max_transfer % 4096))
				ret = -EINVAL;
		} else if (!set && !strcmp(key, "max_segments")) {
			ret = parse_uint(v, 1, SCSI_MAX_SEGMENTS,
					 &p->max_segments);
		} else {
			snprintf(err, errlen,
				 set ? "scsi: unknown parameter \"%.64s\" (known: lun, image, size, readonly, direct, discard, block_size, serial, remove, stall)"
				     : "scsi: unknown parameter \"%.64s\" (known: image, lun, size, readonly, direct, discard, block_size, serial, queues, luns, max_transfer, max_segments)",
				 key);
			return -EINVAL;
		}
		if (ret) {
			if (!err[0])
				snprintf(err, errlen,
					 "scsi: bad value \"%.64s\" for %s",
					 v ? v : "", key);
			return -EINVAL;
		}
	}
	return 0;
}

static int add_lun(struct scsi_dev *sd, const struct scsi_params *p,
		   char *err, size_t errlen)
{
	struct scsi_lun_cfg cfg = {
		.path = p->image,
		.size = p->size,
		.block_size = (uint32_t)p->block_size,
		.readonly = p->readonly,
		.direct = p->direct,
		.discard = p->discard,
		.serial = p->serial,
	};

	return scsi_ctrl_lun_add(&sd->ctrl, (unsigned int)p->lun, &cfg, err,
				 errlen);
}

static int scsi_dev_add(struct device *dev, struct json_object *params,
			char *err, size_t errlen)
{
	struct scsi_dev *sd = sdev_of(dev);
	struct kvmbus_scsi_offer o;
	struct scsi_params p;
	int ret;

	err[0] = 0;
	ret = parse_params(params, false, &p, err, errlen);
	if (ret)
		return ret;
	ret = scsi_ctrl_init(&sd->ctrl, (uint16_t)p.luns, (uint16_t)p.queues,
			     (uint32_t)p.max_transfer, (uint32_t)p.max_segments,
			     dev->id);
	if (ret) {
		snprintf(err, errlen, "scsi: bad controller limits");
		return ret;
	}
	pthread_mutex_init(&sd->lock, NULL);
	sd->ctrl_ok = true;
	if (p.has_image) {
		ret = add_lun(sd, &p, err, errlen);
		if (ret) {
			scsi_ctrl_fini(&sd->ctrl);
			pthread_mutex_destroy(&sd->lock);
			sd->ctrl_ok = false;
			return ret;
		}
	} else if (p.has_size || p.has_lun) {
		snprintf(err, errlen, "scsi: size= and lun= need image=");
		scsi_ctrl_fini(&sd->ctrl);
		pthread_mutex_destroy(&sd->lock);
		sd->ctrl_ok = false;
		return -EINVAL;
	}
	dev->max_subchannels = (uint16_t)(p.queues - 1);
	scsi_ctrl_offer(&sd->ctrl, &o);
	memcpy(dev->offer_data, &o, sizeof(o));
	dev->offer_data_len = sizeof(o);
	return 0;
}

static void scsi_dev_remove(struct device *dev)
{
	struct scsi_dev *sd = sdev_of(dev);

	if (!sd->ctrl_ok)
		return;
	scsi_ctrl_fini(&sd->ctrl);
	pthread_mutex_destroy(&sd->lock);
	sd->ctrl_ok = false;
}

/* Tell the guest: LUNS_CHANGED on the primary channel, if it is open. */
static void announce(struct scsi_dev *sd, unsigned int lun)
{
	atomic_store(&sd->event_lun, lun);
	atomic_store(&sd->event, true);
	pthread_mutex_lock(&sd->lock);
	if (sd->primary)
		chan_wake(sd->primary);
	pthread_mutex_unlock(&sd->lock);
}

/* Every open channel takes a pass: held requests of an unstalled LUN. */
static void wake_all(struct scsi_dev *sd)
{
	unsigned int i;

	pthread_mutex_lock(&sd->lock);
	for (i = 0; i <= KVMBUS_MAX_SUBCHANNELS; i++)
		if (sd->open[i])
			chan_wake(sd->open[i]);
	pthread_mutex_unlock(&sd->lock);
}

static int scsi_dev_set(struct device *dev, struct json_object *params,
			char *err, size_t errlen)
{
	struct scsi_dev *sd = sdev_of(dev);
	struct scsi_params p;
	int ret;

	err[0] = 0;
	ret = parse_params(params, true, &p, err, errlen);
	if (ret)
		return ret;
	if (!p.has_lun) {
		snprintf(err, errlen,
			 "scsi: set needs lun=N with image=PATH (add), remove=1 or size=SIZE (resize)");
		return -EINVAL;
	}
	if (p.has_remove && p.remove) {
		ret = scsi_ctrl_lun_remove(&sd->ctrl, (unsigned int)p.lun);
		if (ret)
			snprintf(err, errlen, "scsi: no LUN %llu",
				 (unsigned long long)p.lun);
	} else if (p.has_image) {
		ret = add_lun(sd, &p, err, errlen);
	} else if (p.has_size) {
		ret = scsi_ctrl_lun_resize(&sd->ctrl, (unsigned int)p.lun,
					   p.size, err, errlen);
	} else if (p.has_stall) {
		ret = scsi_ctrl_lun_stall(&sd->ctrl, (unsigned int)p.lun,
					  p.stall);
		if (ret)
			snprintf(err, errlen, "scsi: no LUN %llu",
				 (unsigned long long)p.lun);
		else if (!p.stall)
			wake_all(sd);
		return ret;	/* nothing for the guest to rescan */
	} else {
		snprintf(err, errlen,
			 "scsi: lun=N needs image=PATH, remove=1, size=SIZE or stall=0|1");
		ret = -EINVAL;
	}
	if (!ret)
		announce(sd, (unsigned int)p.lun);
	return ret;
}

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

#define STAT(o, c, f) add_u64(o, #f, atomic_load(&(c)->stats.f))

static void scsi_dev_to_json(const struct device *dev, struct json_object *o)
{
	struct scsi_dev *sd = sdev_of(dev);
	struct scsi_ctrl *c = &sd->ctrl;
	struct json_object *p = json_object_new_object();
	struct json_object *luns = json_object_new_array();
	struct json_object *st = json_object_new_object();
	unsigned int i;

	add_u64(p, "queues", c->max_queues);
	add_u64(p, "luns", c->max_luns);
	add_u64(p, "max_transfer", c->max_transfer);
	add_u64(p, "max_segments", c->max_segments);
	json_object_object_add(o, "params", p);
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->max_luns; i++) {
		struct scsi_lun *l = c->lun[i];
		struct json_object *j;

		if (!l)
			continue;
		j = json_object_new_object();
		add_u64(j, "lun", i);
		json_object_object_add(j, "image",
				       json_object_new_string(l->path));
		add_u64(j, "size", sd_nr_blocks(&l->disk) << l->disk.block_shift);
		add_u64(j, "block_size", 1u << l->disk.block_shift);
		json_object_object_add(j, "readonly",
				       json_object_new_boolean(l->disk.readonly));
		json_object_object_add(j, "direct",
				       json_object_new_boolean(l->direct));
		json_object_object_add(j, "stall",
				       json_object_new_boolean(atomic_load(&l->stalled)));
		json_object_object_add(j, "discard",
				       json_object_new_boolean(l->disk.discard));
		json_object_object_add(j, "serial",
				       json_object_new_string(l->disk.serial));
		json_object_array_add(luns, j);
	}
	pthread_mutex_unlock(&c->lock);
	json_object_object_add(o, "luns", luns);
	add_u64(st, "luns_generation", atomic_load(&c->luns_generation));
	STAT(st, c, requests);
	STAT(st, c, reads);
	STAT(st, c, writes);
	STAT(st, c, flushes);
	STAT(st, c, unmaps);
	STAT(st, c, write_sames);
	STAT(st, c, bytes_read);
	STAT(st, c, bytes_written);
	STAT(st, c, check_conditions);
	STAT(st, c, bad_requests);
	STAT(st, c, faults);
	STAT(st, c, io_errors);
	STAT(st, c, malformed);
	STAT(st, c, aborted);
	STAT(st, c, tmf_aborts);
	STAT(st, c, tmf_lun_resets);
	STAT(st, c, tmf_host_resets);
	STAT(st, c, aborts_refused);
	STAT(st, c, stalled);
	json_object_object_add(o, "scsi", st);
}

/* A hung LUN makes the guest's error handler run: tests only. */
static const char *const scsi_test_params[] = { "stall", NULL };

const struct vsp_ops vsp_scsi_ops = {
	.name = "scsi",
	.max_pkt = SCSI_MAX_PKT,
	.priv_size = sizeof(struct scsi_chan),
	.open = scsi_open,
	.close = scsi_close,
	.on_packet = scsi_on_packet,
	.flush = scsi_flush,
	.busy = scsi_busy,
	.to_json = scsi_to_json,
	.threaded = true,
	.dev_priv_size = sizeof(struct scsi_dev),
	.dev_add = scsi_dev_add,
	.dev_remove = scsi_dev_remove,
	.dev_set = scsi_dev_set,
	.test_params = scsi_test_params,
	.dev_to_json = scsi_dev_to_json,
};
