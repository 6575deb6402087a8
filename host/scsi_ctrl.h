/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The SCSI controller kvmbusd offers (docs/protocol.md section 7.4),
 * without the channel plumbing: a LUN table over image files or block
 * devices (struct scsi_ctrl, shared by every queue of one controller),
 * and one queue per channel (struct scsi_queue) that decodes requests,
 * answers what scsi_disk.c answers at once, and carries out I/O with
 * io_uring, in place on guest memory.  host/vsp_scsi.c ties queues to
 * channels; the unit tests drive them directly.
 *
 * Threading: a controller is shared by its queues, each of which may
 * run on its own worker thread; the LUN table is under @lock, and a LUN
 * lives while a request holds it (refcounted), so removing a LUN under
 * I/O lets that I/O finish on the old file.  A queue is used by one
 * thread at a time (its channel's).
 */
#ifndef KVMBUSD_SCSI_CTRL_H
#define KVMBUSD_SCSI_CTRL_H

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guestmem.h"
#include "proto.h"
#include "scsi_disk.h"
#include <kvmbus/storvsc.h>

#define SCSI_DEF_MAX_TRANSFER	(1u << 20)	/* 1 MiB per request */
#define SCSI_MAX_SEGMENTS	KVMBUS_MAX_GPA_RANGES
#define SCSI_QUEUE_DEPTH	128u		/* requests in flight */

struct scsi_lun_cfg {
	const char *path;	/* image file or block device */
	uint64_t size;		/* bytes; 0: the file's (must be > 0) */
	uint32_t block_size;	/* 512 or 4096 */
	bool readonly;
	bool direct;		/* O_DIRECT */
	bool discard;		/* UNMAP / WRITE SAME punch holes */
	const char *serial;	/* NULL: made up from the controller, LUN */
};

struct scsi_lun {
	struct sd_disk disk;
	int fd;
	int fd_buffered;	/* O_DIRECT: for unaligned buffers; else fd */
	bool blockdev;
	bool direct;
	atomic_bool stalled;	/* fault injection: hold its I/O */
	char *path;
	atomic_uint refs;	/* the table's + one per request */
};

struct scsi_ctrl_stats {
	_Atomic uint64_t requests;
	_Atomic uint64_t reads, writes, flushes, unmaps, write_sames;
	_Atomic uint64_t bytes_read, bytes_written;
	_Atomic uint64_t check_conditions;	/* answered CHECK CONDITION */
	_Atomic uint64_t bad_requests;		/* host_status BAD_REQUEST */
	_Atomic uint64_t faults;		/* a range not guest RAM */
	_Atomic uint64_t io_errors;
	_Atomic uint64_t busy;			/* TASK SET FULL answers */
	_Atomic uint64_t malformed;		/* dropped, unanswered */
	_Atomic uint64_t aborted;
	/* Task management requests received, and ABORTs refused. */
	_Atomic uint64_t tmf_aborts, tmf_lun_resets, tmf_host_resets;
	_Atomic uint64_t aborts_refused;
	_Atomic uint64_t stalled;		/* requests held by stall=1 */
};

struct scsi_ctrl {
	pthread_mutex_t lock;
	struct scsi_lun *lun[KVMBUS_SCSI_MAX_LUNS];
	unsigned int nr_luns;
	uint16_t max_luns;
	uint16_t max_queues;
	uint32_t max_transfer;
	uint32_t max_segments;
	atomic_uint luns_generation;
	uint32_t serial_base;		/* for made-up serials */
	struct scsi_ctrl_stats stats;
};

/*
 * scsi_ctrl_init() - an empty controller
 * @max_luns: 1..KVMBUS_SCSI_MAX_LUNS
 * @max_transfer: bytes per request, a multiple of 4096, 4 KiB..32 MiB
 * @max_segments: GPA ranges per request, 1..SCSI_MAX_SEGMENTS
 * @serial_base: distinguishes made-up LUN serials of controllers
 * Return: 0 or -EINVAL.
 */
int scsi_ctrl_init(struct scsi_ctrl *c, uint16_t max_luns,
		   uint16_t max_queues, uint32_t max_transfer,
		   uint32_t max_segments, uint32_t serial_base);

/* Drop every LUN (requests still holding one keep it until they end). */
void scsi_ctrl_fini(struct scsi_ctrl *c);

/* The offer data for this controller. */
void scsi_ctrl_offer(const struct scsi_ctrl *c, struct kvmbus_scsi_offer *o);

/*
 * scsi_ctrl_lun_add() - open @cfg->path as LUN @lun
 * Return: 0; -EEXIST (LUN in use), -ERANGE (LUN number), -EINVAL (size,
 * block size, serial), -errno of open / fstat / ftruncate, with a reason
 * in @err.
 */
int scsi_ctrl_lun_add(struct scsi_ctrl *c, unsigned int lun,
		      const struct scsi_lun_cfg *cfg, char *err, size_t errlen);

/* Return: 0 or -ENOENT. */
int scsi_ctrl_lun_remove(struct scsi_ctrl *c, unsigned int lun);

/*
 * scsi_ctrl_lun_stall() - fault injection: while @stall, READ, WRITE and
 * SYNCHRONIZE CACHE for LUN @lun are held instead of started, and ABORT
 * of a held request is refused (EBUSY), as with a hung device; RESET_LUN
 * and RESET_HOST answer them ABORTED.  After @stall is cleared, the
 * queues start what they hold on their next pass (the caller wakes them).
 * Return: 0 or -ENOENT.
 */
int scsi_ctrl_lun_stall(struct scsi_ctrl *c, unsigned int lun, bool stall);

/*
 * scsi_ctrl_lun_resize() - a new size for LUN @lun: an image file is
 * truncated or extended to it; a block device takes its current size
 * (@size 0).  The guest sees CAPACITY DATA HAS CHANGED.
 * Return: 0, -ENOENT, -EINVAL, -EROFS (read-only), or ftruncate's -errno.
 */
int scsi_ctrl_lun_resize(struct scsi_ctrl *c, unsigned int lun,
			 uint64_t size, char *err, size_t errlen);

/* Return: the LUN with a reference (scsi_lun_put()), or NULL. */
struct scsi_lun *scsi_ctrl_lun_get(struct scsi_ctrl *c, unsigned int lun);
void scsi_lun_put(struct scsi_lun *l);

/* A decoded guest->host message. */
enum scsi_msg_kind {
	SCSI_MSG_MALFORMED = 0,	/* drop and count, never answer */
	SCSI_MSG_INIT,
	SCSI_MSG_EXECUTE,
	SCSI_MSG_TMF,
};

struct scsi_msg {
	enum scsi_msg_kind kind;
	const char *why;		/* MALFORMED, BAD_REQUEST: for logs */
	uint16_t op;
	/* INIT */
	uint32_t version;
	/* EXECUTE: host_status non-zero means answer it as it is */
	uint8_t host_status;
	uint16_t lun;
	uint8_t cdb_len;
	uint8_t dir;
	uint8_t cdb[KVMBUS_SCSI_CDB_MAX];
	uint32_t data_len;
	uint32_t niov;
	struct iovec iov[SCSI_MAX_SEGMENTS];
	/* TMF */
	uint64_t target_id;
};

/*
 * scsi_msg_decode() - validate one guest->host packet of a SCSI channel
 * @pi: checked by ring.c; @pkt: the private copy of the whole packet
 *
 * Every field is read once from @pkt, every GPA range is checked with
 * guestmem_range() before anything else: on return the iovecs point into
 * guest RAM and cover exactly @data_len bytes, or host_status says why
 * not (BAD_REQUEST, FAULT).
 */
void scsi_msg_decode(const struct scsi_ctrl *c, struct guestmem *gm,
		     const struct kvmbus_pkt_info *pi, const uint8_t *pkt,
		     struct scsi_msg *m);

/* One request in flight, or an answer waiting to be sent. */
struct scsi_slot {
	uint64_t trans_id;
	struct scsi_lun *lun;
	int next;			/* free / done list, -1: end */
	bool inflight;			/* an SQE is out */
	bool aborted;
	bool write;
	bool stalled;			/* held by stall=1, no SQE out */
	bool flush;
	bool fua;
	uint64_t off;			/* byte offset of READ/WRITE */
	uint32_t xfer;
	uint32_t data_len;
	uint16_t lun_nr;
	uint16_t resp_len;		/* bytes of the answer */
	union {
		struct kvmbus_scsi_resp resp;
		struct kvmbus_scsi_init_resp init;
		struct kvmbus_scsi_tmf_resp tmf;
	} u;
	uint32_t niov;
	struct iovec iov[SCSI_MAX_SEGMENTS];
};

struct scsi_queue {
	struct scsi_ctrl *ctrl;
	struct guestmem *gm;
	struct io_uring ring;
	int efd;			/* io_uring's completion eventfd */
	bool primary;
	unsigned int unsubmitted;	/* SQEs prepared, not submitted */
	unsigned int inflight;
	unsigned int stalled;		/* of inflight: held, no SQE */
	struct scsi_slot *slot;		/* SCSI_QUEUE_DEPTH + 1 */
	int free_head;
	int done_head, done_tail;	/* answers in completion order */
	struct sd_cmd *cmd;		/* scratch for sd_execute() */
	struct scsi_msg *msg;		/* the packet being decoded */
	bool tmf_busy;			/* the TMF slot holds an answer */
	uint8_t *scratch;		/* UNMAP lists, WRITE SAME blocks */
	/* TMFs waiting for their requests to finish. */
	struct {
		int slot;		/* holds the answer; -1: none */
		uint16_t op;
		uint16_t lun;
		uint64_t target_id;
	} tmf;
};

/* Return: 0 or -errno (io_uring, eventfd, memory). */
int scsi_queue_init(struct scsi_queue *q, struct scsi_ctrl *c,
		    struct guestmem *gm, bool primary);

/* Cancel and wait for everything in flight, then free. */
void scsi_queue_fini(struct scsi_queue *q);

/* Return: true if no request can be taken (every slot is busy). */
bool scsi_queue_full(const struct scsi_queue *q);

/*
 * scsi_queue_packet() - take one guest->host packet (scsi_queue_full()
 * must be false).  The answer, if any, lands on the done list at once
 * or when its I/O completes.
 * Return: false if the packet was malformed (dropped, counted).
 */
bool scsi_queue_packet(struct scsi_queue *q, const struct kvmbus_pkt_info *pi,
		       const uint8_t *pkt);

/* Submit prepared I/O and reap completions onto the done list. */
void scsi_queue_run(struct scsi_queue *q);

/*
 * scsi_queue_next() - the oldest answer ready to be sent
 * Return: its slot (send u / resp_len as a COMP with trans_id, then
 * scsi_queue_sent()), or NULL.
 */
struct scsi_slot *scsi_queue_next(struct scsi_queue *q);
void scsi_queue_sent(struct scsi_queue *q, struct scsi_slot *s);

#endif /* KVMBUSD_SCSI_CTRL_H */
