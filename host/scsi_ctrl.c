// SPDX-License-Identifier: GPL-2.0-only
/*
 * The SCSI controller: LUN table, request decoding, and the io_uring
 * queue of one channel.  See scsi_ctrl.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "scsi_ctrl.h"

#define SD_STATUS_TASK_SET_FULL	0x28

/* user_data of SQEs that are not requests (cancels). */
#define UD_CANCEL		(~0ull)

static void cnt(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static void cnt_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* --- the LUN table --- */

int scsi_ctrl_init(struct scsi_ctrl *c, uint16_t max_luns,
		   uint16_t max_queues, uint32_t max_transfer,
		   uint32_t max_segments, uint32_t serial_base)
{
	memset(c, 0, sizeof(*c));
	if (!max_luns || max_luns > KVMBUS_SCSI_MAX_LUNS || !max_queues ||
	    max_transfer < 4096 || max_transfer > (32u << 20) ||
	    max_transfer % 4096 || !max_segments ||
	    max_segments > SCSI_MAX_SEGMENTS)
		return -EINVAL;
	pthread_mutex_init(&c->lock, NULL);
	c->max_luns = max_luns;
	c->max_queues = max_queues;
	c->max_transfer = max_transfer;
	c->max_segments = max_segments;
	c->serial_base = serial_base;
	atomic_init(&c->luns_generation, 1);
	return 0;
}

void scsi_lun_put(struct scsi_lun *l)
{
	if (atomic_fetch_sub(&l->refs, 1) != 1)
		return;
	if (l->fd_buffered != l->fd)
		close(l->fd_buffered);
	close(l->fd);
	free(l->path);
	free(l);
}

void scsi_ctrl_fini(struct scsi_ctrl *c)
{
	unsigned int i;

	for (i = 0; i < KVMBUS_SCSI_MAX_LUNS; i++)
		if (c->lun[i])
			scsi_lun_put(c->lun[i]);
	pthread_mutex_destroy(&c->lock);
	memset(c->lun, 0, sizeof(c->lun));
}

void scsi_ctrl_offer(const struct scsi_ctrl *c, struct kvmbus_scsi_offer *o)
{
	memset(o, 0, sizeof(*o));
	o->version = cpu_to_le32(KVMBUS_SCSI_VERSION_1);
	o->max_luns = cpu_to_le16(c->max_luns);
	o->max_queues = cpu_to_le16(c->max_queues);
	o->max_transfer = cpu_to_le32(c->max_transfer);
	o->max_segments = cpu_to_le32(c->max_segments);
	o->queue_depth = cpu_to_le32(SCSI_QUEUE_DEPTH);
}

struct scsi_lun *scsi_ctrl_lun_get(struct scsi_ctrl *c, unsigned int lun)
{
	struct scsi_lun *l = NULL;

	if (lun >= KVMBUS_SCSI_MAX_LUNS)
		return NULL;
	pthread_mutex_lock(&c->lock);
	l = c->lun[lun];
	if (l)
		atomic_fetch_add(&l->refs, 1);
	pthread_mutex_unlock(&c->lock);
	return l;
}

static void bump_generation(struct scsi_ctrl *c)
{
	atomic_fetch_add(&c->luns_generation, 1);
}

/* Open @path; the size of a block device or a file. */
static int lun_open(struct scsi_lun *l, const struct scsi_lun_cfg *cfg,
		    uint64_t *size, char *err, size_t errlen)
{
	int flags = (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct stat st;

	l->fd = open(cfg->path, flags | (cfg->direct ? O_DIRECT : 0));
	if (l->fd < 0) {
		snprintf(err, errlen, "%s: %s", cfg->path, strerror(errno));
		return -errno;
	}
	l->fd_buffered = l->fd;
	if (cfg->direct) {
		l->fd_buffered = open(cfg->path, flags);
		if (l->fd_buffered < 0) {
			snprintf(err, errlen, "%s: %s", cfg->path,
				 strerror(errno));
			return -errno;
		}
	}
	if (fstat(l->fd, &st)) {
		snprintf(err, errlen, "%s: %s", cfg->path, strerror(errno));
		return -errno;
	}
	/*
	 * Served O_DIRECT: drop what the host caches of the image (clean
	 * pages; dirty ones are left to writeback, nothing waits here).  An
	 * io_uring O_DIRECT write over a cached page cannot run without
	 * blocking, so every such write was punted to an io-wq thread (one
	 * more thread hop) until its range had been invalidated once: a
	 * third of the writes of a fresh image that had just been filled.
	 */
	if (cfg->direct)
		posix_fadvise(l->fd, 0, 0, POSIX_FADV_DONTNEED);
	if (S_ISBLK(st.st_mode)) {
		l->blockdev = true;
		if (ioctl(l->fd, BLKGETSIZE64, size)) {
			snprintf(err, errlen, "%s: BLKGETSIZE64: %s",
				 cfg->path, strerror(errno));
			return -errno;
		}
		if (cfg->size && cfg->size != *size) {
			snprintf(err, errlen,
				 "%s: a block device has its own size", cfg->path);
			return -EINVAL;
		}
		return 0;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a file or a block device",
			 cfg->path);
		return -EINVAL;
	}
	*size = (uint64_t)st.st_size;
	if (cfg->size && cfg->size != *size) {
		if (cfg->readonly) {
			snprintf(err, errlen,
				 "%s: is %llu bytes; a read-only LUN keeps its size",
				 cfg->path, (unsigned long long)*size);
			return -EINVAL;
		}
		if (ftruncate(l->fd, (off_t)cfg->size)) {
			snprintf(err, errlen, "%s: resize: %s", cfg->path,
				 strerror(errno));
			return -errno;
		}
		*size = cfg->size;
	}
	return 0;
}

int scsi_ctrl_lun_add(struct scsi_ctrl *c, unsigned int lun,
		      const struct scsi_lun_cfg *cfg, char *err, size_t errlen)
{
	char serial[21];
	struct scsi_lun *l;
	uint64_t size = 0;
	int ret;

	if (lun >= c->max_luns) {
		snprintf(err, errlen, "LUN %u: the controller has LUNs 0..%u",
			 lun, c->max_luns - 1);
		return -ERANGE;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	l->fd = -1;
	l->fd_buffered = -1;
	atomic_init(&l->refs, 1);
	l->direct = cfg->direct;
	l->path = strdup(cfg->path);
	if (!l->path) {
		snprintf(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto err_free;
	}
	ret = lun_open(l, cfg, &size, err, errlen);
	if (ret)
		goto err_close;
	if (cfg->serial)
		snprintf(serial, sizeof(serial), "%s", cfg->serial);
	else
		snprintf(serial, sizeof(serial), "KVMBUS%04x%04x",
			 c->serial_base & 0xffff, lun);
	ret = sd_init(&l->disk, size, cfg->block_size ? cfg->block_size : 512,
		      c->max_transfer, cfg->readonly, cfg->discard, serial);
	if (ret) {
		snprintf(err, errlen,
			 "%s: size %llu is not a whole number of %u-byte blocks, or bad serial",
			 cfg->path, (unsigned long long)size,
			 cfg->block_size ? cfg->block_size : 512);
		goto err_close;
	}
	pthread_mutex_lock(&c->lock);
	if (c->lun[lun]) {
		pthread_mutex_unlock(&c->lock);
		snprintf(err, errlen, "LUN %u exists", lun);
		ret = -EEXIST;
		goto err_close;
	}
	c->lun[lun] = l;
	c->nr_luns++;
	pthread_mutex_unlock(&c->lock);
	bump_generation(c);
	return 0;

err_close:
	if (l->fd_buffered >= 0 && l->fd_buffered != l->fd)
		close(l->fd_buffered);
	if (l->fd >= 0)
		close(l->fd);
err_free:
	free(l->path);
	free(l);
	return ret;
}

int scsi_ctrl_lun_remove(struct scsi_ctrl *c, unsigned int lun)
{
	struct scsi_lun *l;

	if (lun >= KVMBUS_SCSI_MAX_LUNS)
		return -ENOENT;
	pthread_mutex_lock(&c->lock);
	l = c->lun[lun];
	c->lun[lun] = NULL;
	if (l)
		c->nr_luns--;
	pthread_mutex_unlock(&c->lock);
	if (!l)
		return -ENOENT;
	bump_generation(c);
	scsi_lun_put(l);
	return 0;
}

int scsi_ctrl_lun_stall(struct scsi_ctrl *c, unsigned int lun, bool stall)
{
	struct scsi_lun *l = scsi_ctrl_lun_get(c, lun);

	if (!l)
		return -ENOENT;
	atomic_store(&l->stalled, stall);
	scsi_lun_put(l);
	return 0;
}

int scsi_ctrl_lun_resize(struct scsi_ctrl *c, unsigned int lun,
			 uint64_t size, char *err, size_t errlen)
{
	struct scsi_lun *l = scsi_ctrl_lun_get(c, lun);
	int ret = 0;

	if (!l) {
		snprintf(err, errlen, "no LUN %u", lun);
		return -ENOENT;
	}
	if (l->disk.readonly) {
		snprintf(err, errlen, "LUN %u is read-only", lun);
		ret = -EROFS;
		goto out;
	}
	if (l->blockdev) {
		if (size || ioctl(l->fd, BLKGETSIZE64, &size)) {
			snprintf(err, errlen,
				 "LUN %u is a block device: resize it, then resize without a size",
				 lun);
			ret = -EINVAL;
			goto out;
		}
	} else if (!size || size & ((1u << l->disk.block_shift) - 1)) {
		snprintf(err, errlen, "size %llu is not a whole number of blocks",
			 (unsigned long long)size);
		ret = -EINVAL;
		goto out;
	} else if (ftruncate(l->fd, (off_t)size)) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", l->path, strerror(errno));
		goto out;
	}
	ret = sd_resize(&l->disk, size);
	if (ret)
		snprintf(err, errlen, "size %llu is not a whole number of blocks",
			 (unsigned long long)size);
	else
		bump_generation(c);
out:
	scsi_lun_put(l);
	return ret;
}

/* --- decoding --- */

static void bad_request(struct scsi_msg *m, uint8_t hs, const char *why)
{
	m->host_status = hs;
	m->why = why;
}

static void malformed(struct scsi_msg *m, const char *why)
{
	m->kind = SCSI_MSG_MALFORMED;
	m->why = why;
}

/* The GPA ranges of an EXECUTE, each checked against guest RAM. */
static void decode_ranges(const struct scsi_ctrl *c, struct guestmem *gm,
			  const struct kvmbus_pkt_info *pi, const uint8_t *pkt,
			  struct scsi_msg *m)
{
	const uint8_t *ranges = pkt + sizeof(struct kvmbus_pkt_desc) +
				sizeof(struct kvmbus_gpa_list);
	struct kvmbus_gpa_range r;
	struct kvmbus_gpa_list l;
	uint64_t total = 0, gpa;
	uint32_t i, nr, len;

	memcpy(&l, pkt + sizeof(struct kvmbus_pkt_desc), sizeof(l));
	if (kvmbus_gpa_list_decode(&l, pi, &nr))
		return bad_request(m, KVMBUS_SCSI_HS_BAD_REQUEST,
				   "invalid GPA range list");
	if (nr > c->max_segments)
		return bad_request(m, KVMBUS_SCSI_HS_BAD_REQUEST,
				   "more ranges than max_segments");
	for (i = 0; i < nr; i++) {
		memcpy(&r, ranges + (size_t)i * sizeof(r), sizeof(r));
		gpa = le64_to_cpu(r.gpa);
		len = le32_to_cpu(r.len);
		total += len;
		if (total > m->data_len)
			return bad_request(m, KVMBUS_SCSI_HS_BAD_REQUEST,
					   "ranges longer than data_len");
		m->iov[i].iov_base = guestmem_range(gm, gpa, len);
		m->iov[i].iov_len = len;
		if (!m->iov[i].iov_base)
			return bad_request(m, KVMBUS_SCSI_HS_FAULT,
					   "a range is not guest RAM");
	}
	if (total != m->data_len)
		return bad_request(m, KVMBUS_SCSI_HS_BAD_REQUEST,
				   "ranges shorter than data_len");
	m->niov = nr;
}

static void decode_execute(const struct scsi_ctrl *c, struct guestmem *gm,
			   const struct kvmbus_pkt_info *pi, const uint8_t *pkt,
			   struct scsi_msg *m)
{
	struct kvmbus_scsi_req req;

	if (pi->data_len < sizeof(req))
		return malformed(m, "EXECUTE shorter than its structure");
	memcpy(&req, pkt + pi->data_offset, sizeof(req));
	m->kind = SCSI_MSG_EXECUTE;
	m->lun = le16_to_cpu(req.lun);
	m->cdb_len = req.cdb_len;
	m->dir = req.dir;
	m->data_len = le32_to_cpu(req.data_len);
	memcpy(m->cdb, req.cdb, sizeof(m->cdb));
	if (!m->cdb_len || m->cdb_len > KVMBUS_SCSI_CDB_MAX)
		return bad_request(m, KVMBUS_SCSI_HS_BAD_REQUEST,
				   "invalid cdb_len");
	if (m->lun >= c->max_luns)
		return bad_request(m, KVMBUS_SCSI_HS_BAD_REQUEST,
				   "LUN above max_luns");
	if (m->dir > KVMBUS_SCSI_DIR_FROM_DEVICE)
		return bad_request(m, KVMBUS_SCSI_HS_BAD_REQUEST,
				   "invalid dir");
	if (m->data_len > c->max_transfer)
		return bad_request(m, KVMBUS_SCSI_HS_BAD_REQUEST,
				   "data_len above max_transfer");
	if (m->dir == KVMBUS_SCSI_DIR_NONE) {
		if (pi->type != KVMBUS_PKT_INBAND || m->data_len)
			return bad_request(m, KVMBUS_SCSI_HS_BAD_REQUEST,
					   "data without a direction");
		return;
	}
	if (pi->type != KVMBUS_PKT_GPA || !m->data_len)
		return bad_request(m, KVMBUS_SCSI_HS_BAD_REQUEST,
				   "a direction without data");
	decode_ranges(c, gm, pi, pkt, m);
}

void scsi_msg_decode(const struct scsi_ctrl *c, struct guestmem *gm,
		     const struct kvmbus_pkt_info *pi, const uint8_t *pkt,
		     struct scsi_msg *m)
{
	struct kvmbus_scsi_hdr h;

	m->why = NULL;
	m->host_status = KVMBUS_SCSI_HS_OK;
	m->niov = 0;
	m->data_len = 0;
	if (pi->type == KVMBUS_PKT_COMP)
		return malformed(m, "a completion from the guest");
	if (!(pi->flags & KVMBUS_PKT_F_COMP_REQUESTED))
		return malformed(m, "a request without a completion request");
	if (pi->data_len < sizeof(h))
		return malformed(m, "shorter than the SCSI header");
	memcpy(&h, pkt + pi->data_offset, sizeof(h));
	m->op = le16_to_cpu(h.op);
	switch (m->op) {
	case KVMBUS_SCSI_OP_INIT: {
		struct kvmbus_scsi_init in;

		if (pi->data_len < sizeof(in) || pi->type != KVMBUS_PKT_INBAND)
			return malformed(m, "bad INIT");
		memcpy(&in, pkt + pi->data_offset, sizeof(in));
		m->kind = SCSI_MSG_INIT;
		m->version = le32_to_cpu(in.version);
		return;
	}
	case KVMBUS_SCSI_OP_EXECUTE:
		return decode_execute(c, gm, pi, pkt, m);
	case KVMBUS_SCSI_OP_ABORT:
	case KVMBUS_SCSI_OP_RESET_LUN:
	case KVMBUS_SCSI_OP_RESET_HOST: {
		struct kvmbus_scsi_tmf t;

		if (pi->data_len < sizeof(t) || pi->type != KVMBUS_PKT_INBAND)
			return malformed(m, "bad task management request");
		memcpy(&t, pkt + pi->data_offset, sizeof(t));
		m->kind = SCSI_MSG_TMF;
		m->target_id = le64_to_cpu(t.target_id);
		m->lun = le16_to_cpu(t.lun);
		return;
	}
	default:
		return malformed(m, "unknown SCSI op");
	}
}

/* --- the queue --- */

int scsi_queue_init(struct scsi_queue *q, struct scsi_ctrl *c,
		    struct guestmem *gm, bool primary)
{
	unsigned int i;
	int ret;

	memset(q, 0, sizeof(*q));
	q->ctrl = c;
	q->gm = gm;
	q->primary = primary;
	q->efd = -1;
	q->tmf.slot = -1;
	q->done_head = q->done_tail = -1;
	q->slot = calloc(SCSI_QUEUE_DEPTH + 1, sizeof(*q->slot));
	q->cmd = malloc(sizeof(*q->cmd));
	q->msg = malloc(sizeof(*q->msg));
	q->scratch = malloc(SD_DATA_MAX);
	if (!q->slot || !q->cmd || !q->msg || !q->scratch) {
		ret = -ENOMEM;
		goto err_free;
	}
	/* Slot SCSI_QUEUE_DEPTH is kept for a TMF's answer. */
	for (i = 0; i < SCSI_QUEUE_DEPTH; i++)
		q->slot[i].next = i + 1 < SCSI_QUEUE_DEPTH ? (int)i + 1 : -1;
	q->slot[SCSI_QUEUE_DEPTH].next = -1;
	q->free_head = 0;
	ret = io_uring_queue_init(SCSI_QUEUE_DEPTH, &q->ring, 0);
	if (ret)
		goto err_free;
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->efd < 0) {
		ret = -errno;
		goto err_ring;
	}
	ret = io_uring_register_eventfd(&q->ring, q->efd);
	if (ret)
		goto err_efd;
	return 0;

err_efd:
	close(q->efd);
	q->efd = -1;
err_ring:
	io_uring_queue_exit(&q->ring);
err_free:
	free(q->scratch);
	free(q->msg);
	free(q->cmd);
	free(q->slot);
	q->slot = NULL;
	return ret;
}

bool scsi_queue_full(const struct scsi_queue *q)
{
	return q->free_head < 0;
}

static int slot_idx(const struct scsi_queue *q, const struct scsi_slot *s)
{
	return (int)(s - q->slot);
}

static void done_push(struct scsi_queue *q, struct scsi_slot *s)
{
	int i = slot_idx(q, s);

	s->next = -1;
	if (q->done_tail >= 0)
		q->slot[q->done_tail].next = i;
	else
		q->done_head = i;
	q->done_tail = i;
}

struct scsi_slot *scsi_queue_next(struct scsi_queue *q)
{
	return q->done_head >= 0 ? &q->slot[q->done_head] : NULL;
}

void scsi_queue_sent(struct scsi_queue *q, struct scsi_slot *s)
{
	int i = slot_idx(q, s);

	q->done_head = s->next;
	if (q->done_head < 0)
		q->done_tail = -1;
	if (i == SCSI_QUEUE_DEPTH) {	/* the TMF slot */
		s->next = -1;
		q->tmf_busy = false;
		return;
	}
	s->next = q->free_head;
	q->free_head = i;
}

static struct scsi_slot *slot_get(struct scsi_queue *q, uint64_t trans_id)
{
	struct scsi_slot *s = &q->slot[q->free_head];

	q->free_head = s->next;
	s->next = -1;
	s->trans_id = trans_id;
	s->lun = NULL;
	s->inflight = false;
	s->aborted = false;
	s->stalled = false;
	s->flush = false;
	s->fua = false;
	s->off = 0;
	s->write = false;
	s->xfer = 0;
	s->data_len = 0;
	s->niov = 0;
	memset(&s->u, 0, sizeof(s->u));
	return s;
}

/* Finish an EXECUTE answer and queue it. */
static void execute_done(struct scsi_queue *q, struct scsi_slot *s,
			 uint8_t host_status, const struct sd_cmd *c,
			 uint32_t moved)
{
	struct kvmbus_scsi_resp *r = &s->u.resp;

	r->hdr.op = cpu_to_le16(KVMBUS_SCSI_OP_EXECUTE);
	r->host_status = host_status;
	if (c) {
		r->scsi_status = c->status;
		r->sense_len = c->sense_len;
		memcpy(r->sense, c->sense, c->sense_len);
		if (c->status != SD_STATUS_GOOD)
			cnt(&q->ctrl->stats.check_conditions);
	}
	r->residual = cpu_to_le32(s->data_len - moved);
	s->resp_len = sizeof(*r);
	if (s->lun) {
		scsi_lun_put(s->lun);
		s->lun = NULL;
	}
	done_push(q, s);
}

/* Copy @len bytes between @buf and the request's iovecs. */
static uint32_t iov_copy(struct scsi_slot *s, uint8_t *buf, uint32_t len,
			 bool to_guest)
{
	uint32_t i, done = 0, n;

	for (i = 0; i < s->niov && done < len; i++) {
		n = (uint32_t)s->iov[i].iov_len;
		if (n > len - done)
			n = len - done;
		if (to_guest)
			memcpy(s->iov[i].iov_base, buf + done, n);
		else
			memcpy(buf + done, s->iov[i].iov_base, n);
		done += n;
	}
	return done;
}

/* Trim the iovecs to the first @len bytes (a READ shorter than data_len). */
static void iov_trim(struct scsi_slot *s, uint32_t len)
{
	uint32_t i, done = 0;

	for (i = 0; i < s->niov; i++) {
		if (done + s->iov[i].iov_len >= len) {
			s->iov[i].iov_len = len - done;
			s->niov = i + 1;
			return;
		}
		done += (uint32_t)s->iov[i].iov_len;
	}
}

static bool iov_aligned(const struct scsi_slot *s)
{
	uint32_t i;

	for (i = 0; i < s->niov; i++)
		if (((uintptr_t)s->iov[i].iov_base | s->iov[i].iov_len) & 511)
			return false;
	return true;
}

static struct io_uring_sqe *sqe_get(struct scsi_queue *q)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);

	if (!sqe) {	/* cannot happen: one SQE per slot at most */
		io_uring_submit(&q->ring);
		q->unsubmitted = 0;
		sqe = io_uring_get_sqe(&q->ring);
	}
	return sqe;
}

/* Prepare the SQE of a READ, WRITE or flush described by the slot. */
static void start_io(struct scsi_queue *q, struct scsi_slot *s)
{
	struct scsi_lun *l = s->lun;
	struct io_uring_sqe *sqe = sqe_get(q);
	int fd;

	if (s->flush) {
		io_uring_prep_fsync(sqe, l->fd, IORING_FSYNC_DATASYNC);
	} else {
		fd = l->direct && iov_aligned(s) ? l->fd : l->fd_buffered;
		if (s->write) {
			io_uring_prep_writev(sqe, fd, s->iov, s->niov, s->off);
			if (s->fua)
				sqe->rw_flags = RWF_DSYNC;
		} else {
			io_uring_prep_readv(sqe, fd, s->iov, s->niov, s->off);
		}
	}
	io_uring_sqe_set_data64(sqe, (uint64_t)slot_idx(q, s));
	q->unsubmitted++;
}

/* In flight from here on: started, or held while its LUN is stalled. */
static void submit_io(struct scsi_queue *q, struct scsi_slot *s)
{
	s->inflight = true;
	q->inflight++;
	if (atomic_load(&s->lun->stalled)) {
		s->stalled = true;
		q->stalled++;
		cnt(&q->ctrl->stats.stalled);
		return;
	}
	start_io(q, s);
}

static void submit_rw(struct scsi_queue *q, struct scsi_slot *s,
		      const struct sd_cmd *c)
{
	iov_trim(s, c->xfer);
	s->xfer = c->xfer;
	s->write = c->act == SD_ACT_WRITE;
	s->fua = s->write && c->fua;
	s->off = c->lba << s->lun->disk.block_shift;
	submit_io(q, s);
}

static void submit_flush(struct scsi_queue *q, struct scsi_slot *s)
{
	s->flush = true;
	cnt(&q->ctrl->stats.flushes);
	submit_io(q, s);
}

/* Start the held requests whose LUN is no longer stalled. */
static void resume_stalled(struct scsi_queue *q)
{
	unsigned int i;

	for (i = 0; i < SCSI_QUEUE_DEPTH && q->stalled; i++) {
		struct scsi_slot *s = &q->slot[i];

		if (!s->stalled || atomic_load(&s->lun->stalled))
			continue;
		s->stalled = false;
		q->stalled--;
		start_io(q, s);
	}
}

static void complete(struct scsi_queue *q, uint64_t ud, int res);

/* Answer a held request ABORTED: it never reached the image. */
static void drop_stalled(struct scsi_queue *q, struct scsi_slot *s)
{
	s->stalled = false;
	q->stalled--;
	complete(q, (uint64_t)slot_idx(q, s), -ECANCELED);
}

/*
 * Where the data of [@off, @off + @len) starts: @off + @len if the range
 * is all hole.  A hole (an unwritten extent too) reads back as zeroes,
 * so punching or zeroing it is work for nothing: mkfs.ext4 discards a
 * whole, mostly sparse disk, one UNMAP per max_unmap_blocks.  A block
 * device, or a file system without SEEK_DATA, is all data.  lseek()
 * moves the fd's position, which nothing uses: all I/O is positional.
 */
static off_t data_start(int fd, off_t off, off_t len)
{
	off_t data = lseek(fd, off, SEEK_DATA);

	if (data < 0)
		return errno == ENXIO ? off + len : off;  /* ENXIO: no data */
	return data < off ? off : data < off + len ? data : off + len;
}

/* Deallocate (or zero) blocks; KEEP_SIZE, so the disk's size stays. */
static int punch(struct scsi_lun *l, uint64_t lba, uint64_t n, bool unmap)
{
	int mode = unmap ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE;
	off_t off = (off_t)(lba << l->disk.block_shift);
	off_t len = (off_t)(n << l->disk.block_shift);
	off_t data;

	if (!n)
		return 0;
	if (!l->blockdev) {
		data = data_start(l->fd_buffered, off, len);
		len -= data - off;
		off = data;
		if (!len)
			return 0;
	}
	if (fallocate(l->fd_buffered, mode | FALLOC_FL_KEEP_SIZE, off, len)) {
		/* A file system without ZERO_RANGE: punching reads back
		 * as zeroes too. */
		if (!unmap && errno == EOPNOTSUPP &&
		    !fallocate(l->fd_buffered,
			       FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       off, len))
			return 0;
		return -errno;
	}
	return 0;
}

static void do_unmap(struct scsi_queue *q, struct scsi_slot *s,
		     struct sd_cmd *c)
{
	struct sd_extent ext[SD_UNMAP_MAX_DESC];
	uint32_t len = iov_copy(s, q->scratch, c->xfer, false);
	int i, n;

	n = sd_unmap_parse(&s->lun->disk, q->scratch, len, ext, c);
	for (i = 0; i < n; i++) {
		if (punch(s->lun, ext[i].lba, ext[i].nblocks, true)) {
			sd_io_error(c, true);
			cnt(&q->ctrl->stats.io_errors);
			break;
		}
	}
	cnt(&q->ctrl->stats.unmaps);
	execute_done(q, s, KVMBUS_SCSI_HS_OK, c, len);
}

static bool all_zero(const uint8_t *p, uint32_t len)
{
	uint32_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* WRITE SAME: zeroes punch or zero a range; a pattern is written out. */
static void do_write_same(struct scsi_queue *q, struct scsi_slot *s,
			  struct sd_cmd *c)
{
	struct scsi_lun *l = s->lun;
	uint32_t bs = 1u << l->disk.block_shift, moved = 0, i, per;
	uint64_t lba = c->lba, left = c->nblocks;
	bool zero = true;
	ssize_t n;

	if (c->xfer) {
		moved = iov_copy(s, q->scratch, bs, false);
		zero = all_zero(q->scratch, bs);
	}
	cnt(&q->ctrl->stats.write_sames);
	if (zero) {
		if (punch(l, lba, left, c->unmap))
			goto err;
		goto out;
	}
	/* Fill the scratch buffer with the block, then write it out. */
	per = SD_DATA_MAX / bs;
	for (i = 1; i < per; i++)
		memcpy(q->scratch + i * bs, q->scratch, bs);
	while (left) {
		uint64_t k = left < per ? left : per;

		n = pwrite(l->fd_buffered, q->scratch, k * bs,
			   (off_t)(lba << l->disk.block_shift));
		if (n != (ssize_t)(k * bs))
			goto err;
		lba += k;
		left -= k;
	}
	goto out;
err:
	sd_io_error(c, true);
	cnt(&q->ctrl->stats.io_errors);
out:
	execute_done(q, s, KVMBUS_SCSI_HS_OK, c, moved);
}

static void queue_execute(struct scsi_queue *q, struct scsi_slot *s,
			  const struct scsi_msg *m)
{
	uint16_t luns[KVMBUS_SCSI_MAX_LUNS];
	struct scsi_ctrl *ctrl = q->ctrl;
	struct sd_cmd *c = q->cmd;
	unsigned int nr = 0, i;
	bool wrong_dir;

	cnt(&ctrl->stats.requests);
	s->data_len = m->data_len;
	s->lun_nr = m->lun;
	if (m->host_status) {
		if (m->host_status == KVMBUS_SCSI_HS_FAULT)
			cnt(&ctrl->stats.faults);
		else
			cnt(&ctrl->stats.bad_requests);
		execute_done(q, s, m->host_status, NULL, 0);
		return;
	}
	s->niov = m->niov;
	memcpy(s->iov, m->iov, m->niov * sizeof(m->iov[0]));

	if (m->cdb[0] == 0xa0) {		/* REPORT LUNS, any LUN */
		pthread_mutex_lock(&ctrl->lock);
		for (i = 0; i < ctrl->max_luns; i++)
			if (ctrl->lun[i])
				luns[nr++] = (uint16_t)i;
		pthread_mutex_unlock(&ctrl->lock);
		sd_report_luns(m->cdb, m->cdb_len, m->data_len, luns, nr, c);
	} else {
		s->lun = scsi_ctrl_lun_get(ctrl, m->lun);
		if (s->lun)
			sd_execute(&s->lun->disk, m->cdb, m->cdb_len,
				   m->data_len, c);
		else
			sd_no_lun(m->cdb, m->cdb_len, m->data_len, c);
	}
	if (!s->lun && c->status != SD_STATUS_GOOD && m->cdb[0] != 0xa0 &&
	    m->cdb[0] != 0x12 && m->cdb[0] != 0x03) {
		execute_done(q, s, KVMBUS_SCSI_HS_NO_LUN, c, 0);
		return;
	}
	wrong_dir = c->xfer &&
		    ((c->dir == SD_DIR_IN &&
		      m->dir != KVMBUS_SCSI_DIR_FROM_DEVICE) ||
		     (c->dir == SD_DIR_OUT &&
		      m->dir != KVMBUS_SCSI_DIR_TO_DEVICE));
	if (wrong_dir) {
		cnt(&ctrl->stats.bad_requests);
		execute_done(q, s, KVMBUS_SCSI_HS_BAD_REQUEST, NULL, 0);
		return;
	}
	switch (c->act) {
	case SD_ACT_NONE:
		execute_done(q, s, KVMBUS_SCSI_HS_OK, c,
			     iov_copy(s, c->data, c->xfer, true));
		return;
	case SD_ACT_READ:
	case SD_ACT_WRITE:
		submit_rw(q, s, c);
		return;
	case SD_ACT_FLUSH:
		submit_flush(q, s);
		return;
	case SD_ACT_UNMAP:
		do_unmap(q, s, c);
		return;
	case SD_ACT_WRITE_SAME:
		do_write_same(q, s, c);
		return;
	}
}

static void queue_init_msg(struct scsi_queue *q, struct scsi_slot *s,
			   const struct scsi_msg *m)
{
	struct kvmbus_scsi_init_resp *r = &s->u.init;

	r->hdr.op = cpu_to_le16(KVMBUS_SCSI_OP_INIT);
	if (m->version < KVMBUS_SCSI_VERSION_1) {
		r->hdr.status = cpu_to_le32(EPROTONOSUPPORT);
	} else {
		r->version = cpu_to_le32(KVMBUS_SCSI_VERSION_1);
		r->luns_generation =
			cpu_to_le32(atomic_load(&q->ctrl->luns_generation));
		scsi_ctrl_offer(q->ctrl, &r->limits);
	}
	s->resp_len = sizeof(*r);
	done_push(q, s);
}

/* Does TMF @q->tmf cover slot @s? */
static bool tmf_covers(const struct scsi_queue *q, const struct scsi_slot *s)
{
	switch (q->tmf.op) {
	case KVMBUS_SCSI_OP_ABORT:
		return s->trans_id == q->tmf.target_id;
	case KVMBUS_SCSI_OP_RESET_LUN:
		return s->lun_nr == q->tmf.lun;
	default:
		return true;
	}
}

/* Answer the pending TMF once nothing it covers is in flight. */
static void tmf_check(struct scsi_queue *q)
{
	unsigned int i;

	if (q->tmf.slot < 0)
		return;
	for (i = 0; i < SCSI_QUEUE_DEPTH; i++)
		if (q->slot[i].inflight && tmf_covers(q, &q->slot[i]))
			return;
	done_push(q, &q->slot[q->tmf.slot]);
	q->tmf.slot = -1;
}

static void queue_tmf(struct scsi_queue *q, uint64_t trans_id,
		      const struct scsi_msg *m)
{
	struct scsi_slot *s = &q->slot[SCSI_QUEUE_DEPTH];
	struct io_uring_sqe *sqe;
	unsigned int i, hits = 0;

	if (q->tmf_busy) {
		/* One TMF at a time (Linux's error handler sends one):
		 * a second is refused at once, from a normal slot. */
		s = slot_get(q, trans_id);
		s->u.tmf.hdr.op = cpu_to_le16(m->op);
		s->u.tmf.hdr.status = cpu_to_le32(EBUSY);
		s->resp_len = sizeof(s->u.tmf);
		done_push(q, s);
		return;
	}
	memset(&s->u, 0, sizeof(s->u));
	s->trans_id = trans_id;
	s->u.tmf.hdr.op = cpu_to_le16(m->op);
	s->resp_len = sizeof(s->u.tmf);
	switch (m->op) {
	case KVMBUS_SCSI_OP_ABORT:
		cnt(&q->ctrl->stats.tmf_aborts);
		break;
	case KVMBUS_SCSI_OP_RESET_LUN:
		cnt(&q->ctrl->stats.tmf_lun_resets);
		break;
	default:
		cnt(&q->ctrl->stats.tmf_host_resets);
		break;
	}
	q->tmf.op = m->op;
	q->tmf.lun = m->lun;
	q->tmf.target_id = m->target_id;
	q->tmf.slot = SCSI_QUEUE_DEPTH;
	q->tmf_busy = true;
	for (i = 0; i < SCSI_QUEUE_DEPTH; i++) {
		struct scsi_slot *t = &q->slot[i];

		if (!t->inflight || !tmf_covers(q, t))
			continue;
		hits++;
		if (t->stalled) {
			if (m->op == KVMBUS_SCSI_OP_ABORT) {
				/* A hung device: the abort cannot reach
				 * it; the guest escalates to a reset. */
				cnt(&q->ctrl->stats.aborts_refused);
				s->u.tmf.hdr.status = cpu_to_le32(EBUSY);
				q->tmf.slot = -1;
				done_push(q, s);
				return;
			}
			drop_stalled(q, t);
			continue;
		}
		if (t->aborted)
			continue;
		t->aborted = true;
		sqe = sqe_get(q);
		io_uring_prep_cancel64(sqe, i, 0);
		io_uring_sqe_set_data64(sqe, UD_CANCEL);
		q->unsubmitted++;
	}
	if (m->op == KVMBUS_SCSI_OP_ABORT && !hits)
		s->u.tmf.hdr.status = cpu_to_le32(ENOENT);
	tmf_check(q);
}

bool scsi_queue_packet(struct scsi_queue *q, const struct kvmbus_pkt_info *pi,
		       const uint8_t *pkt)
{
	struct scsi_msg *m = q->msg;
	struct scsi_slot *s;

	scsi_msg_decode(q->ctrl, q->gm, pi, pkt, m);
	switch (m->kind) {
	case SCSI_MSG_MALFORMED:
		cnt(&q->ctrl->stats.malformed);
		return false;
	case SCSI_MSG_TMF:
		queue_tmf(q, pi->trans_id, m);
		return true;
	case SCSI_MSG_INIT:
		s = slot_get(q, pi->trans_id);
		queue_init_msg(q, s, m);
		return true;
	case SCSI_MSG_EXECUTE:
		s = slot_get(q, pi->trans_id);
		queue_execute(q, s, m);
		return true;
	}
	return false;
}

/* One completed SQE. */
static void complete(struct scsi_queue *q, uint64_t ud, int res)
{
	struct scsi_slot *s;
	struct sd_cmd *c = q->cmd;
	uint32_t moved = 0;

	if (ud == UD_CANCEL || ud >= SCSI_QUEUE_DEPTH)
		return;
	s = &q->slot[ud];
	if (!s->inflight)
		return;
	s->inflight = false;
	q->inflight--;
	memset(c, 0, offsetof(struct sd_cmd, data));
	if (res == -ECANCELED) {
		cnt(&q->ctrl->stats.aborted);
		execute_done(q, s, KVMBUS_SCSI_HS_ABORTED, NULL, 0);
		return;
	}
	if (res < 0 || (s->xfer && (uint32_t)res != s->xfer)) {
		sd_io_error(c, s->write);
		cnt(&q->ctrl->stats.io_errors);
		execute_done(q, s, KVMBUS_SCSI_HS_IO_ERROR, c, 0);
		return;
	}
	moved = s->xfer;
	if (s->xfer) {
		if (s->write) {
			cnt(&q->ctrl->stats.writes);
			cnt_add(&q->ctrl->stats.bytes_written, moved);
		} else {
			cnt(&q->ctrl->stats.reads);
			cnt_add(&q->ctrl->stats.bytes_read, moved);
		}
	}
	execute_done(q, s, KVMBUS_SCSI_HS_OK, c, moved);
}

void scsi_queue_run(struct scsi_queue *q)
{
	struct io_uring_cqe *cqes[64];
	unsigned int n, i;
	uint64_t v;

	if (q->stalled)
		resume_stalled(q);
	if (q->unsubmitted) {
		io_uring_submit(&q->ring);
		q->unsubmitted = 0;
	}
	/* The eventfd only wakes us: the CQ ring is the truth. */
	if (read(q->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_msg(LOG_WARNING, "scsi: eventfd read: %s", strerror(errno));
	do {
		n = io_uring_peek_batch_cqe(&q->ring, cqes, 64);
		for (i = 0; i < n; i++)
			complete(q, io_uring_cqe_get_data64(cqes[i]),
				 cqes[i]->res);
		io_uring_cq_advance(&q->ring, n);
	} while (n == 64);
	tmf_check(q);
}

void scsi_queue_fini(struct scsi_queue *q)
{
	struct io_uring_cqe *cqe;
	unsigned int i;

	if (!q->slot)
		return;
	/* Cancel what is in flight and wait: the I/O targets guest
	 * memory that the channel is about to give back. */
	for (i = 0; i < SCSI_QUEUE_DEPTH; i++) {
		struct io_uring_sqe *sqe;

		if (q->slot[i].stalled)
			drop_stalled(q, &q->slot[i]);
		if (!q->slot[i].inflight)
			continue;
		sqe = sqe_get(q);
		io_uring_prep_cancel64(sqe, i, 0);
		io_uring_sqe_set_data64(sqe, UD_CANCEL);
	}
	io_uring_submit(&q->ring);
	while (q->inflight) {
		if (io_uring_wait_cqe(&q->ring, &cqe))
			break;
		complete(q, io_uring_cqe_get_data64(cqe), cqe->res);
		io_uring_cqe_seen(&q->ring, cqe);
	}
	for (i = 0; i <= SCSI_QUEUE_DEPTH; i++)
		if (q->slot[i].lun)
			scsi_lun_put(q->slot[i].lun);
	io_uring_unregister_eventfd(&q->ring);
	close(q->efd);
	io_uring_queue_exit(&q->ring);
	free(q->scratch);
	free(q->msg);
	free(q->cmd);
	free(q->slot);
	q->slot = NULL;
}
