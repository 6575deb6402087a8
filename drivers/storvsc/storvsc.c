// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbus_storvsc.ko: the synthetic SCSI controller on kvmbus.
 *
 * One Scsi_Host per offered controller channel, on the SCSI midlayer.
 * The wire protocol is include/kvmbus/storvsc.h (docs/protocol.md
 * section 7.4): a CDB travels in the ring, its data as the guest-physical
 * ranges of the command's scatterlist, which the host reads or writes in
 * place; no bounce buffer.  Transaction ids come from the bus's request
 * table, so whatever the host answers can name only a live command.
 *
 * Completions are handled in the channel's interrupt callback.  Command
 * time-outs go through the protocol: ABORT, then RESET_LUN, then
 * RESET_HOST; the host answers each only once every request it covers is
 * finished, so after SUCCESS the host no longer touches the command's
 * pages.  LUN hot add / remove and resize arrive as LUNS_CHANGED events
 * and are picked up by a rescan.
 */
#include <linux/module.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <scsi/scsi.h>
#include <scsi/scsi_cmnd.h>
#include <scsi/scsi_device.h>
#include <scsi/scsi_eh.h>
#include <scsi/scsi_host.h>
#include <scsi/scsi_tcq.h>
#include <kvmbus/kvmbus.h>
#include <kvmbus/storvsc.h>

static unsigned int ring_kb = 256;
module_param(ring_kb, uint, 0444);
MODULE_PARM_DESC(ring_kb, "KiB of data in the guest-to-host ring (whole pages)");

static unsigned int queues;
module_param(queues, uint, 0444);
MODULE_PARM_DESC(queues, "hardware queues per controller (0: one per online CPU, as the host allows)");

#define STORVSC_H2G_SIZE	(64 * 1024)
#define STORVSC_MAX_SEGS	KVMBUS_MAX_GPA_RANGES
#define STORVSC_MAX_QDEPTH	1024u
#define STORVSC_INIT_TIMEOUT	(10 * HZ)
#define STORVSC_TMF_TIMEOUT	(20 * HZ)
/* The largest packet the host sends: a COMP with an EXECUTE answer. */
#define STORVSC_RX_MAX		512
#define STORVSC_MAX_QUEUES	(KVMBUS_MAX_SUBCHANNELS + 1)

/* Per command, behind the scsi_cmnd (cmd_size). */
struct storvsc_cmd {
	u64 id;				/* in the request table while sent */
	u16 hwq;			/* the queue (channel) it went to */
	struct kvmbus_scsi_req req;
	struct storvsc_gpa {		/* the GPA header, in one piece */
		struct kvmbus_gpa_list list;
		struct kvmbus_gpa_range r[STORVSC_MAX_SEGS];
	} gpa;
};

/* The ranges follow the list header without a gap: they go out as one. */
static_assert(offsetof(struct storvsc_gpa, r) == sizeof(struct kvmbus_gpa_list));

struct storvsc_dev;

/* One blk-mq hardware queue: the primary channel or a sub-channel. */
struct storvsc_queue {
	struct storvsc_dev *sd;
	u16 index;			/* 0: primary */
	spinlock_t lock;		/* @chan use vs. close: @dead */
	struct kvmbus_channel *chan;
	bool dead;
	spinlock_t rx_lock;		/* one consumer at a time */
	u8 rxbuf[STORVSC_RX_MAX];
};

struct storvsc_dev {
	struct kvmbus_device *kdev;
	struct Scsi_Host *shost;
	struct device_dma_parameters dma_parms;
	struct kvmbus_reqtab *reqs;
	struct storvsc_queue *q[STORVSC_MAX_QUEUES];
	unsigned int nr_queues;		/* open channels */

	/* INIT, then task management: one request at a time each. */
	u8 init_marker;
	u8 tmf_marker;
	struct completion init_done;
	struct kvmbus_scsi_init_resp init_resp;
	bool init_ok;
	struct mutex tmf_lock;		/* one TMF at a time */
	struct completion tmf_done;
	struct kvmbus_scsi_tmf_resp tmf_resp;
	bool tmf_ok;

	/* Limits from the host (INIT's answer). */
	u16 max_luns;
	u16 max_queues;
	u32 max_transfer;
	u32 max_segments;
	u32 queue_depth;

	spinlock_t lock;		/* @removing */
	struct work_struct scan_work;
	bool removing;
	/* kvmbusd is gone (host_lost): requests are blocked, the queues'
	 * channels closed, and what was in flight went back to the block
	 * layer; cleared by host_back.
	 */
	bool host_gone;
	atomic64_t bogus;		/* answers that named no request */
	atomic64_t events;
};

/* Put one packet and, unless more follow, publish the batch. */
static int storvsc_put(struct storvsc_queue *q, const struct kvmbus_ring_pkt *p,
		       bool flush)
{
	unsigned long flags;
	int ret = -ENODEV;

	spin_lock_irqsave(&q->lock, flags);
	if (!q->dead) {
		ret = kvmbus_chan_put(q->chan, p);
		if (flush || ret)
			kvmbus_chan_flush(q->chan);
		/* kvmbusd died; host_lost is on its way: retry, not fail. */
		if (ret == -ENODEV && kvmbus_chan_host_lost(q->chan))
			ret = -EAGAIN;
	}
	spin_unlock_irqrestore(&q->lock, flags);
	return ret;
}

static void storvsc_schedule_scan(struct storvsc_dev *sd)
{
	unsigned long flags;

	spin_lock_irqsave(&sd->lock, flags);
	if (!sd->removing && sd->shost)
		schedule_work(&sd->scan_work);
	spin_unlock_irqrestore(&sd->lock, flags);
}

static void storvsc_cmd_done(struct storvsc_dev *sd, struct scsi_cmnd *cmd,
			     const u8 *data, u32 len)
{
	struct kvmbus_scsi_resp r;
	u32 resid, sense_len;

	if (len < sizeof(r)) {
		set_host_byte(cmd, DID_ERROR);
		scsi_done(cmd);
		return;
	}
	memcpy(&r, data, sizeof(r));
	cmd->result = 0;
	switch (r.host_status) {
	case KVMBUS_SCSI_HS_OK:
	case KVMBUS_SCSI_HS_IO_ERROR:
		set_host_byte(cmd, DID_OK);
		break;
	case KVMBUS_SCSI_HS_NO_LUN:
		set_host_byte(cmd, DID_BAD_TARGET);
		storvsc_schedule_scan(sd);
		break;
	case KVMBUS_SCSI_HS_ABORTED:
		set_host_byte(cmd, DID_ABORT);
		break;
	default:		/* BAD_REQUEST, FAULT, anything unknown */
		set_host_byte(cmd, DID_ERROR);
		break;
	}
	set_status_byte(cmd, r.scsi_status);
	sense_len = min_t(u32, r.sense_len, KVMBUS_SCSI_SENSE_MAX);
	sense_len = min_t(u32, sense_len, SCSI_SENSE_BUFFERSIZE);
	if (sense_len && cmd->sense_buffer)
		memcpy(cmd->sense_buffer, r.sense, sense_len);
	resid = le32_to_cpu(r.residual);
	scsi_set_resid(cmd, min_t(u32, resid, scsi_bufflen(cmd)));
	scsi_done(cmd);
}

static void storvsc_completion(struct storvsc_dev *sd,
			       const struct kvmbus_pkt_info *pi, const u8 *data)
{
	void *ctx = kvmbus_reqtab_take(sd->reqs, pi->trans_id);

	if (!ctx) {
		atomic64_inc(&sd->bogus);
		return;
	}
	if (ctx == &sd->init_marker) {
		sd->init_ok = pi->data_len >= sizeof(sd->init_resp);
		if (sd->init_ok)
			memcpy(&sd->init_resp, data, sizeof(sd->init_resp));
		complete(&sd->init_done);
	} else if (ctx == &sd->tmf_marker) {
		sd->tmf_ok = pi->data_len >= sizeof(sd->tmf_resp);
		if (sd->tmf_ok)
			memcpy(&sd->tmf_resp, data, sizeof(sd->tmf_resp));
		complete(&sd->tmf_done);
	} else {
		storvsc_cmd_done(sd, ctx, data, pi->data_len);
	}
}

static void storvsc_event(struct storvsc_dev *sd,
			  const struct kvmbus_pkt_info *pi, const u8 *data)
{
	struct kvmbus_scsi_hdr h;

	if (pi->data_len < sizeof(struct kvmbus_scsi_event))
		return;
	memcpy(&h, data, sizeof(h));
	if (le16_to_cpu(h.op) != KVMBUS_SCSI_OP_LUNS_CHANGED)
		return;
	atomic64_inc(&sd->events);
	storvsc_schedule_scan(sd);
}

/* The channel's interrupt: take every answer and event. */
static void storvsc_callback(struct kvmbus_channel *chan, void *ctx)
{
	struct storvsc_queue *q = ctx;
	struct kvmbus_pkt_info pi;
	unsigned long flags;

	spin_lock_irqsave(&q->rx_lock, flags);
	do {
		while (!kvmbus_chan_recv(chan, q->rxbuf, sizeof(q->rxbuf),
					 &pi)) {
			const u8 *data = q->rxbuf + pi.data_offset;

			if (pi.type == KVMBUS_PKT_COMP)
				storvsc_completion(q->sd, &pi, data);
			else if (pi.type == KVMBUS_PKT_INBAND)
				storvsc_event(q->sd, &pi, data);
		}
		/* Packets committed while we were busy come unsignalled. */
	} while (kvmbus_chan_recv_done(chan));
	spin_unlock_irqrestore(&q->rx_lock, flags);
}

/* The scatterlist as GPA ranges, physically adjacent pieces merged. */
static int storvsc_map(struct storvsc_dev *sd, struct scsi_cmnd *cmd,
		       struct storvsc_cmd *sc)
{
	struct scatterlist *sg;
	u32 n = 0, len;
	u64 gpa;
	int i;

	scsi_for_each_sg(cmd, sg, scsi_sg_count(cmd), i) {
		gpa = sg_phys(sg);
		len = sg->length;
		if (n && le64_to_cpu(sc->gpa.r[n - 1].gpa) +
			 le32_to_cpu(sc->gpa.r[n - 1].len) == gpa &&
		    (u64)le32_to_cpu(sc->gpa.r[n - 1].len) + len <= U32_MAX) {
			le32_add_cpu(&sc->gpa.r[n - 1].len, len);
			continue;
		}
		if (n == sd->max_segments)
			return -EINVAL;
		sc->gpa.r[n].gpa = cpu_to_le64(gpa);
		sc->gpa.r[n].len = cpu_to_le32(len);
		sc->gpa.r[n].reserved = 0;
		n++;
	}
	sc->gpa.list.nr_ranges = cpu_to_le32(n);
	sc->gpa.list.reserved = 0;
	return n;
}

static int storvsc_queuecommand(struct Scsi_Host *shost, struct scsi_cmnd *cmd)
{
	struct storvsc_dev *sd = shost_priv(shost);
	struct storvsc_cmd *sc = scsi_cmd_priv(cmd);
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.flags = KVMBUS_PKT_F_COMP_REQUESTED,
		.data = &sc->req,
		.data_len = sizeof(sc->req),
	};
	u32 tag = blk_mq_unique_tag(scsi_cmd_to_rq(cmd));
	u8 dir;
	int n, ret;

	sc->hwq = blk_mq_unique_tag_to_hwq(tag);
	if (WARN_ON_ONCE(sc->hwq >= sd->nr_queues))
		goto err_bad;

	switch (cmd->sc_data_direction) {
	case DMA_NONE:
		dir = KVMBUS_SCSI_DIR_NONE;
		break;
	case DMA_TO_DEVICE:
		dir = KVMBUS_SCSI_DIR_TO_DEVICE;
		break;
	case DMA_FROM_DEVICE:
		dir = KVMBUS_SCSI_DIR_FROM_DEVICE;
		break;
	default:
		goto err_bad;
	}
	if (cmd->cmd_len > KVMBUS_SCSI_CDB_MAX ||
	    scsi_bufflen(cmd) > sd->max_transfer)
		goto err_bad;
	memset(&sc->req, 0, sizeof(sc->req));
	sc->req.hdr.op = cpu_to_le16(KVMBUS_SCSI_OP_EXECUTE);
	sc->req.lun = cpu_to_le16((u16)cmd->device->lun);
	sc->req.cdb_len = cmd->cmd_len;
	sc->req.dir = dir;
	sc->req.data_len = cpu_to_le32(scsi_bufflen(cmd));
	memcpy(sc->req.cdb, cmd->cmnd, cmd->cmd_len);
	if (dir != KVMBUS_SCSI_DIR_NONE && scsi_bufflen(cmd)) {
		n = storvsc_map(sd, cmd, sc);
		if (n <= 0)
			goto err_bad;
		p.type = KVMBUS_PKT_GPA;
		p.hdr = &sc->gpa;
		p.hdr_len = sizeof(sc->gpa.list) + n * sizeof(sc->gpa.r[0]);
	} else {
		sc->req.dir = KVMBUS_SCSI_DIR_NONE;
		sc->req.data_len = 0;
	}

	ret = kvmbus_reqtab_alloc(sd->reqs, cmd, &sc->id);
	if (ret)
		return SCSI_MLQUEUE_HOST_BUSY;
	p.trans_id = sc->id;
	ret = storvsc_put(sd->q[sc->hwq], &p, cmd->flags & SCMD_LAST);
	if (!ret)
		return 0;
	/* Not sent: the id is ours again (an answer cannot name it),
	 * unless storvsc_drain() of a rescinded device completed it.
	 */
	if (!kvmbus_reqtab_take(sd->reqs, sc->id))
		return 0;
	/* The host is gone but coming back: wait for it, blocked. */
	if (ret == -ENOSPC || ret == -EAGAIN ||
	    (READ_ONCE(sd->host_gone) && !READ_ONCE(sd->removing)))
		return SCSI_MLQUEUE_HOST_BUSY;
	set_host_byte(cmd, DID_NO_CONNECT);
	scsi_done(cmd);
	return 0;

err_bad:
	set_host_byte(cmd, DID_ERROR);
	scsi_done(cmd);
	return 0;
}

static void storvsc_commit_rqs(struct Scsi_Host *shost, u16 hwq)
{
	struct storvsc_dev *sd = shost_priv(shost);
	struct storvsc_queue *q;
	unsigned long flags;

	if (hwq >= sd->nr_queues)
		return;
	q = sd->q[hwq];
	spin_lock_irqsave(&q->lock, flags);
	if (!q->dead)
		kvmbus_chan_flush(q->chan);
	spin_unlock_irqrestore(&q->lock, flags);
}

/*
 * storvsc_tmf() - send a task management request and wait for its answer
 * Return: the host's status (0, or a positive errno), or -ETIMEDOUT /
 * -ENODEV / -EIO when there was none.
 */
static int storvsc_tmf(struct storvsc_dev *sd, struct storvsc_queue *q,
		       u16 op, u64 target, u16 lun)
{
	struct kvmbus_scsi_tmf t = {
		.hdr.op = cpu_to_le16(op),
		.target_id = cpu_to_le64(target),
		.lun = cpu_to_le16(lun),
	};
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.flags = KVMBUS_PKT_F_COMP_REQUESTED,
		.data = &t,
		.data_len = sizeof(t),
	};
	u64 id;
	int ret;

	mutex_lock(&sd->tmf_lock);
	reinit_completion(&sd->tmf_done);
	ret = kvmbus_reqtab_alloc(sd->reqs, &sd->tmf_marker, &id);
	if (ret)
		goto out;
	p.trans_id = id;
	ret = storvsc_put(q, &p, true);
	if (ret) {
		kvmbus_reqtab_take(sd->reqs, id);
		goto out;
	}
	if (!wait_for_completion_timeout(&sd->tmf_done, STORVSC_TMF_TIMEOUT)) {
		/* Take the id back, unless the answer is being handled. */
		if (kvmbus_reqtab_take(sd->reqs, id)) {
			ret = -ETIMEDOUT;
			goto out;
		}
		wait_for_completion(&sd->tmf_done);
	}
	ret = sd->tmf_ok ? (int)le32_to_cpu(sd->tmf_resp.hdr.status) : -EIO;
out:
	mutex_unlock(&sd->tmf_lock);
	return ret;
}

/* A TMF that covers one queue's requests, sent on every queue. */
static int storvsc_tmf_all(struct storvsc_dev *sd, u16 op, u16 lun)
{
	unsigned int i;
	int ret = 0;

	for (i = 0; i < sd->nr_queues; i++)
		ret = storvsc_tmf(sd, sd->q[i], op, 0, lun) ?: ret;
	return ret;
}

static int storvsc_eh_abort(struct scsi_cmnd *cmd)
{
	struct storvsc_dev *sd = shost_priv(cmd->device->host);
	struct storvsc_cmd *sc = scsi_cmd_priv(cmd);
	int ret;

	/* A lost host holds no command: nothing to abort. */
	if (READ_ONCE(sd->host_gone))
		return SUCCESS;
	if (sc->hwq >= sd->nr_queues)
		return FAILED;
	ret = storvsc_tmf(sd, sd->q[sc->hwq], KVMBUS_SCSI_OP_ABORT, sc->id, 0);
	if (ret && ret != ENOENT) {
		scmd_printk(KERN_INFO, cmd, "abort failed (%d)\n", ret);
		return FAILED;
	}
	/*
	 * Answered or never seen: the host is done with it.  Forget the
	 * id, so a late answer cannot name a reused command.
	 */
	kvmbus_reqtab_take(sd->reqs, sc->id);
	return SUCCESS;
}

static int storvsc_eh_device_reset(struct scsi_cmnd *cmd)
{
	struct storvsc_dev *sd = shost_priv(cmd->device->host);
	int ret;

	if (READ_ONCE(sd->host_gone))
		return SUCCESS;
	ret = storvsc_tmf_all(sd, KVMBUS_SCSI_OP_RESET_LUN,
			      (u16)cmd->device->lun);
	sdev_printk(KERN_INFO, cmd->device, "LUN reset: %s (%d)\n",
		    ret ? "failed" : "done", ret);
	return ret ? FAILED : SUCCESS;
}

static int storvsc_eh_host_reset(struct scsi_cmnd *cmd)
{
	struct storvsc_dev *sd = shost_priv(cmd->device->host);
	int ret;

	if (READ_ONCE(sd->host_gone))
		return SUCCESS;
	ret = storvsc_tmf_all(sd, KVMBUS_SCSI_OP_RESET_HOST, 0);
	shost_printk(KERN_INFO, cmd->device->host, "host reset: %s (%d)\n",
		     ret ? "failed" : "done", ret);
	return ret ? FAILED : SUCCESS;
}

/* LUNS_CHANGED: drop LUNs that are gone, re-read sizes, find new ones. */
static void storvsc_scan_work(struct work_struct *work)
{
	struct storvsc_dev *sd = container_of(work, struct storvsc_dev,
					      scan_work);
	struct Scsi_Host *shost = sd->shost;
	DECLARE_BITMAP(gone, KVMBUS_SCSI_MAX_LUNS);
	struct scsi_device *sdev;
	unsigned int lun;
	int res;

	bitmap_zero(gone, KVMBUS_SCSI_MAX_LUNS);
	shost_for_each_device(sdev, shost) {
		res = scsi_test_unit_ready(sdev, 10 * HZ, 1, NULL);
		if (res > 0 && host_byte(res) == DID_BAD_TARGET &&
		    sdev->lun < KVMBUS_SCSI_MAX_LUNS)
			__set_bit(sdev->lun, gone);
		else
			scsi_rescan_device(sdev);
	}
	for_each_set_bit(lun, gone, KVMBUS_SCSI_MAX_LUNS) {
		sdev = scsi_device_lookup(shost, 0, 0, lun);
		if (!sdev)
			continue;
		scsi_remove_device(sdev);
		scsi_device_put(sdev);
	}
	scsi_scan_target(&shost->shost_gendev, 0, 0, SCAN_WILD_CARD,
			 SCSI_SCAN_RESCAN);
}

static struct scsi_host_template storvsc_template = {
	.module			= THIS_MODULE,
	.name			= "kvmbus_storvsc",
	.proc_name		= "kvmbus_storvsc",
	.queuecommand		= storvsc_queuecommand,
	.commit_rqs		= storvsc_commit_rqs,
	.eh_abort_handler	= storvsc_eh_abort,
	.eh_device_reset_handler = storvsc_eh_device_reset,
	.eh_host_reset_handler	= storvsc_eh_host_reset,
	.this_id		= -1,
	.cmd_size		= sizeof(struct storvsc_cmd),
	.track_queue_depth	= 1,
	.cmd_per_lun		= 64,
	.can_queue		= 128,
	.sg_tablesize		= STORVSC_MAX_SEGS,
	.max_sectors		= 2048,
};

/* INIT: the protocol version and the controller's limits. */
static int storvsc_init(struct storvsc_dev *sd)
{
	struct kvmbus_scsi_init in = {
		.hdr.op = cpu_to_le16(KVMBUS_SCSI_OP_INIT),
		.version = cpu_to_le32(KVMBUS_SCSI_VERSION_1),
	};
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.flags = KVMBUS_PKT_F_COMP_REQUESTED,
		.data = &in,
		.data_len = sizeof(in),
	};
	const struct kvmbus_scsi_offer *o = &sd->init_resp.limits;
	u64 id;
	int ret;

	ret = kvmbus_reqtab_alloc(sd->reqs, &sd->init_marker, &id);
	if (ret)
		return ret;
	p.trans_id = id;
	ret = storvsc_put(sd->q[0], &p, true);
	if (ret) {
		kvmbus_reqtab_take(sd->reqs, id);
		return ret;
	}
	if (!wait_for_completion_timeout(&sd->init_done, STORVSC_INIT_TIMEOUT)) {
		if (kvmbus_reqtab_take(sd->reqs, id))
			return -ETIMEDOUT;
		wait_for_completion(&sd->init_done);
	}
	if (!sd->init_ok || sd->init_resp.hdr.status ||
	    le32_to_cpu(sd->init_resp.version) != KVMBUS_SCSI_VERSION_1) {
		dev_err(&sd->kdev->dev, "the host refused protocol version %u (status %u)\n",
			KVMBUS_SCSI_VERSION_1,
			le32_to_cpu(sd->init_resp.hdr.status));
		return -EPROTO;
	}
	/* The host's limits, each clamped to what this driver can do. */
	sd->max_luns = clamp_t(u16, le16_to_cpu(o->max_luns), 1,
			       KVMBUS_SCSI_MAX_LUNS);
	sd->max_transfer = clamp_t(u32, le32_to_cpu(o->max_transfer),
				   PAGE_SIZE, 32u << 20) & PAGE_MASK;
	sd->max_segments = clamp_t(u32, le32_to_cpu(o->max_segments), 1,
				   STORVSC_MAX_SEGS);
	sd->max_queues = clamp_t(u16, le16_to_cpu(o->max_queues), 1,
				 STORVSC_MAX_QUEUES);
	sd->queue_depth = clamp_t(u32, le32_to_cpu(o->queue_depth), 1,
				  STORVSC_MAX_QDEPTH);
	return 0;
}

/* After this no send touches the queue's channel (storvsc_put()). */
static void storvsc_queue_stop(struct storvsc_queue *q)
{
	unsigned long flags;

	spin_lock_irqsave(&q->lock, flags);
	q->dead = true;
	spin_unlock_irqrestore(&q->lock, flags);
	if (q->chan)
		kvmbus_channel_close(q->chan);
}

static void storvsc_close_queues(struct storvsc_dev *sd)
{
	struct storvsc_queue *q;
	unsigned int i;

	for (i = sd->nr_queues; i-- > 0;) {
		q = sd->q[i];
		storvsc_queue_stop(q);
		kfree(q);
		sd->q[i] = NULL;
	}
	sd->nr_queues = 0;
}

static int storvsc_open_queue(struct storvsc_dev *sd, u16 index)
{
	struct kvmbus_chan_config cfg = {
		.g2h_size = PAGE_ALIGN(clamp(ring_kb, 16u, 4096u) * 1024),
		.h2g_size = STORVSC_H2G_SIZE,
		.sub_index = index,
		.callback = storvsc_callback,
	};
	struct storvsc_queue *q;
	int ret;

	q = kzalloc(sizeof(*q), GFP_KERNEL);
	if (!q)
		return -ENOMEM;
	q->sd = sd;
	q->index = index;
	spin_lock_init(&q->lock);
	spin_lock_init(&q->rx_lock);
	cfg.ctx = q;
	ret = kvmbus_channel_open(sd->kdev, &cfg, &q->chan);
	if (ret) {
		kfree(q);
		return ret;
	}
	sd->q[sd->nr_queues++] = q;
	return 0;
}

/*
 * Sub-channels for the other hardware queues: as many as CPUs, host and
 * module parameter allow; fewer is fine.
 */
static void storvsc_open_subchannels(struct storvsc_dev *sd)
{
	unsigned int want = queues ? queues : num_online_cpus();
	int n, ret;

	want = min3(want, (unsigned int)sd->max_queues,
		    (unsigned int)sd->kdev->max_subchannels + 1);
	if (want <= 1)
		return;
	n = kvmbus_subchannels_request(sd->kdev, want - 1);
	if (n < 0) {
		dev_warn(&sd->kdev->dev, "no sub-channels (%d): one queue\n", n);
		return;
	}
	while (sd->nr_queues <= (unsigned int)n) {
		ret = storvsc_open_queue(sd, sd->nr_queues);
		if (ret) {
			dev_warn(&sd->kdev->dev, "sub-channel %u: %d: %u queues\n",
				 sd->nr_queues, ret, sd->nr_queues);
			return;
		}
	}
}

/* Finish what the host will never answer (channel closed) with @host. */
static void storvsc_drain_as(struct storvsc_dev *sd, int host)
{
	void *ctx;

	while ((ctx = kvmbus_reqtab_take_any(sd->reqs))) {
		if (ctx == &sd->init_marker) {
			sd->init_ok = false;
			complete(&sd->init_done);
		} else if (ctx == &sd->tmf_marker) {
			sd->tmf_ok = false;
			complete(&sd->tmf_done);
		} else {
			set_host_byte(ctx, host);
			scsi_done(ctx);
		}
	}
}

static void storvsc_drain(struct storvsc_dev *sd)
{
	storvsc_drain_as(sd, DID_NO_CONNECT);
}

static int storvsc_probe(struct kvmbus_device *kdev,
			 const struct kvmbus_device_id *id)
{
	struct Scsi_Host *shost;
	struct storvsc_dev *sd;
	u32 g2h = PAGE_ALIGN(clamp(ring_kb, 16u, 4096u) * 1024);
	int ret;

	shost = scsi_host_alloc(&storvsc_template, sizeof(*sd));
	if (!shost)
		return -ENOMEM;
	sd = shost_priv(shost);
	sd->kdev = kdev;
	spin_lock_init(&sd->lock);
	mutex_init(&sd->tmf_lock);
	init_completion(&sd->init_done);
	init_completion(&sd->tmf_done);
	INIT_WORK(&sd->scan_work, storvsc_scan_work);
	atomic64_set(&sd->bogus, 0);
	atomic64_set(&sd->events, 0);

	sd->reqs = kvmbus_reqtab_create(STORVSC_MAX_QDEPTH * 4);
	if (!sd->reqs) {
		ret = -ENOMEM;
		goto err_put_host;
	}
	ret = storvsc_open_queue(sd, 0);
	if (ret)
		goto err_destroy_reqs;
	ret = storvsc_init(sd);
	if (ret)
		goto err_close;
	storvsc_open_subchannels(sd);

	shost->max_id = 1;
	shost->max_channel = 0;
	shost->max_lun = sd->max_luns;
	shost->max_cmd_len = KVMBUS_SCSI_CDB_MAX;
	shost->sg_tablesize = sd->max_segments;
	shost->max_sectors = sd->max_transfer >> SECTOR_SHIFT;
	/* Per hardware queue: the host's depth, and what the ring holds. */
	shost->can_queue = min3(sd->queue_depth, g2h / 256,
				STORVSC_MAX_QDEPTH * 4 / sd->nr_queues);
	shost->cmd_per_lun = min_t(u32, shost->can_queue, 64);
	shost->nr_hw_queues = sd->nr_queues;
	/*
	 * The midlayer sets segment limits on the device that "does DMA":
	 * ours carries guest-physical addresses, it needs the parameters.
	 */
	kdev->dev.dma_parms = &sd->dma_parms;
	ret = scsi_add_host(shost, &kdev->dev);
	if (ret)
		goto err_dma_parms;
	sd->shost = shost;
	dev_set_drvdata(&kdev->dev, sd);
	scsi_scan_host(shost);
	dev_info(&kdev->dev, "SCSI controller: %u LUNs, %u KiB per request, %u segments, %u queues of %u\n",
		 sd->max_luns, sd->max_transfer >> 10, sd->max_segments,
		 sd->nr_queues, shost->can_queue);
	return 0;

err_dma_parms:
	kdev->dev.dma_parms = NULL;
err_close:
	storvsc_close_queues(sd);
	storvsc_drain(sd);
err_destroy_reqs:
	kvmbus_reqtab_destroy(sd->reqs);
err_put_host:
	scsi_host_put(shost);
	return ret;
}

static void storvsc_remove(struct kvmbus_device *kdev)
{
	struct storvsc_dev *sd = dev_get_drvdata(&kdev->dev);
	struct Scsi_Host *shost = sd->shost;
	unsigned long flags;

	spin_lock_irqsave(&sd->lock, flags);
	sd->removing = true;
	spin_unlock_irqrestore(&sd->lock, flags);
	/*
	 * Removed while kvmbusd is gone (it did not come back): what waits
	 * blocked now fails at once (queuecommand sees @removing), the scan
	 * included, so it can be cancelled.
	 */
	if (READ_ONCE(sd->host_gone))
		scsi_unblock_requests(shost);
	cancel_work_sync(&sd->scan_work);
	/*
	 * A host that took the device back answers nothing: fail what is
	 * in flight now rather than after every time-out.
	 */
	/* The queues stay until the host is removed: the commands it
	 * still sends (SYNCHRONIZE CACHE) fail at once on the rescinded
	 * channels.
	 */
	if (READ_ONCE(sd->host_gone) || kvmbus_chan_rescinded(sd->q[0]->chan))
		storvsc_drain(sd);
	scsi_remove_host(shost);
	storvsc_close_queues(sd);
	storvsc_drain(sd);
	kvmbus_reqtab_destroy(sd->reqs);
	kdev->dev.dma_parms = NULL;
	dev_set_drvdata(&kdev->dev, NULL);
	scsi_host_put(shost);
}

/*
 * Close every queue's channel but keep the queues (queuecommand still
 * looks at them), and hand what was in flight back to the block layer.
 */
static void storvsc_hold_queues(struct storvsc_dev *sd)
{
	struct storvsc_queue *q;
	unsigned int i;

	for (i = 0; i < sd->nr_queues; i++) {
		q = sd->q[i];
		storvsc_queue_stop(q);
		q->chan = NULL;
	}
	/* No callback runs now: whatever is in the table is ours. */
	storvsc_drain_as(sd, DID_REQUEUE);
}

/*
 * kvmbusd died: the SCSI host and its disks stay.  Requests are blocked,
 * every channel is closed (the queue structures stay for queuecommand),
 * and the commands in flight go back to the block layer (DID_REQUEUE,
 * no retry spent) to be sent again to the next kvmbusd, or failed when
 * the device is removed because none came back in time.
 */
static void storvsc_host_lost(struct kvmbus_device *kdev)
{
	struct storvsc_dev *sd = dev_get_drvdata(&kdev->dev);

	/* Before the queues die: queuecommand that fails to send must
	 * ask to be retried, not fail the command.
	 */
	WRITE_ONCE(sd->host_gone, true);
	scsi_block_requests(sd->shost);
	storvsc_hold_queues(sd);
	dev_info(&kdev->dev, "kvmbusd is gone: %u queues closed, requests held\n",
		 sd->nr_queues);
}

/* Open channel @q->index again into @q.  Return: 0 or -errno. */
static int storvsc_reopen_queue(struct storvsc_dev *sd, struct storvsc_queue *q)
{
	struct kvmbus_chan_config cfg = {
		.g2h_size = PAGE_ALIGN(clamp(ring_kb, 16u, 4096u) * 1024),
		.h2g_size = STORVSC_H2G_SIZE,
		.sub_index = q->index,
		.callback = storvsc_callback,
		.ctx = q,
	};
	struct kvmbus_channel *chan;
	unsigned long flags;
	int ret;

	ret = kvmbus_channel_open(sd->kdev, &cfg, &chan);
	if (ret)
		return ret;
	spin_lock_irqsave(&q->lock, flags);
	q->chan = chan;
	q->dead = false;
	spin_unlock_irqrestore(&q->lock, flags);
	return 0;
}

/*
 * Does the new host's INIT (in @sd now) offer at least what the SCSI
 * host and its disks were set up with (@max_transfer, @max_segments,
 * @max_luns, and the queues there are)?  Says what it does not offer.
 * Return: 0 or -EPROTO.
 */
static int storvsc_check_limits(struct storvsc_dev *sd, u32 max_transfer,
				u32 max_segments, u16 max_luns)
{
	struct device *dev = &sd->kdev->dev;

	if (sd->max_transfer < max_transfer)
		dev_err(dev, "the new kvmbusd offers %u KiB per request, the disks were set up with %u\n",
			sd->max_transfer >> 10, max_transfer >> 10);
	else if (sd->max_segments < max_segments)
		dev_err(dev, "the new kvmbusd offers %u segments per request, the disks were set up with %u\n",
			sd->max_segments, max_segments);
	else if (sd->max_luns < max_luns)
		dev_err(dev, "the new kvmbusd offers %u LUNs, the SCSI host was set up with %u\n",
			sd->max_luns, max_luns);
	else if (sd->max_queues < sd->nr_queues)
		dev_err(dev, "the new kvmbusd offers %u queues, the SCSI host has %u\n",
			sd->max_queues, sd->nr_queues);
	else
		return 0;
	return -EPROTO;
}

/*
 * The new kvmbusd offered the controller again: INIT, then as many
 * queues as the SCSI host has (its hardware queue count cannot change),
 * then unblock.  A host that now offers less than the disks were set up
 * with (queues, transfer size, segments, LUNs) is refused: the device is
 * removed instead (and the bus probes the new offer as a new controller).
 */
static int storvsc_host_back(struct kvmbus_device *kdev)
{
	struct storvsc_dev *sd = dev_get_drvdata(&kdev->dev);
	u32 max_transfer = sd->max_transfer, max_segments = sd->max_segments;
	u16 max_luns = sd->max_luns;
	unsigned int i;
	int n, ret;

	ret = storvsc_reopen_queue(sd, sd->q[0]);
	if (ret)
		goto err;
	reinit_completion(&sd->init_done);
	ret = storvsc_init(sd);
	if (ret)
		goto err;
	ret = storvsc_check_limits(sd, max_transfer, max_segments, max_luns);
	if (ret)
		goto err;
	/* Ours, not the new host's: the midlayer set up with these. */
	sd->max_transfer = max_transfer;
	sd->max_segments = max_segments;
	sd->max_luns = max_luns;
	if (sd->nr_queues > 1) {
		n = kvmbus_subchannels_request(kdev, sd->nr_queues - 1);
		if (n < 0 || (unsigned int)n < sd->nr_queues - 1) {
			ret = n < 0 ? n : -ENOSPC;
			goto err;
		}
	}
	for (i = 1; i < sd->nr_queues; i++) {
		ret = storvsc_reopen_queue(sd, sd->q[i]);
		if (ret)
			goto err;
	}
	WRITE_ONCE(sd->host_gone, false);
	scsi_unblock_requests(sd->shost);
	/* LUNs may have come or gone with the new host. */
	storvsc_schedule_scan(sd);
	dev_info(&kdev->dev, "kvmbusd is back: relid %u, %u queues\n",
		 kdev->relid, sd->nr_queues);
	return 0;

err:
	/* Still gone as far as the SCSI host knows; remove() cleans up.
	 * No request can be in the table: they are blocked, and INIT's
	 * was taken back or answered.
	 */
	storvsc_hold_queues(sd);
	dev_err(&kdev->dev, "cannot resume on the new kvmbusd: %d\n", ret);
	return ret;
}

static const struct kvmbus_device_id storvsc_id_table[] = {
	{ .class_id = KVMBUS_UUID(KVMBUS_CLASS_SCSI_BYTES) },
	{ }
};

static struct kvmbus_driver storvsc_driver = {
	.name		= "kvmbus_storvsc",
	.id_table	= storvsc_id_table,
	.probe		= storvsc_probe,
	.remove		= storvsc_remove,
	.host_lost	= storvsc_host_lost,
	.host_back	= storvsc_host_back,
};
module_kvmbus_driver(storvsc_driver);

MODULE_ALIAS(KVMBUS_MODALIAS(KVMBUS_CLASS_SCSI_HEX));
MODULE_DESCRIPTION("kvmbus: synthetic SCSI controller");
MODULE_LICENSE("GPL");
MODULE_VERSION(KVMBUS_DRIVER_VERSION);
