/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Channels and the VSP interface: the host end of an open channel
 * (docs/protocol.md sections 4 and 6.4) and the small set of operations
 * each device class implements, in the spirit of OpenVMM's per-device
 * traits.
 *
 * A channel is opened on a ring GPADL: its pages are mapped as one
 * contiguous view (guestmem_view_map()), the guest->host ring first, the
 * host->guest ring after it, each a header page and data pages.  The
 * guest created and initialised both rings; kvmbusd attaches to them with
 * ring.c's kvmbus_ring_attach() and from then on consumes the first and
 * produces into the second, through ring.c only.
 *
 * chan_poll() is one pass over a channel: the VSP first resumes what it
 * could not send (flush), then gets every guest->host packet copied out
 * and validated (on_packet), until its budget is spent, the ring is
 * empty, or the VSP waits for room (busy).  Each pass publishes each
 * index once and signals the guest at most once.  A guest that breaks a
 * ring (ring.c's -EIO, or a header whose features word changed) breaks
 * that channel only: it is counted and logged at a bounded rate, its
 * rings are not touched again, and it stays so until the guest closes
 * it.
 *
 * Threading (docs/design.md, "Worker threads"): a channel of a VSP with
 * @threaded set runs on a worker thread of its own while it is open; any
 * other runs on kvmbusd's event loop.  Either way every callback of one
 * channel (open, close, on_packet, flush, its fd watches) is serialised:
 * open runs on the main thread with the worker's lock held before the
 * worker may take it, close after the worker was joined, everything else
 * on the worker with its lock held.  Other threads touch a threaded
 * channel only through chan_wake(), the doorbell counter (atomic), its
 * state (atomic) and, with chan_lock() held, everything else.
 */
#ifndef KVMBUSD_CHAN_H
#define KVMBUSD_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gpadl.h"
#include "guestmem.h"
#include "log.h"
#include "loop.h"
#include "proto.h"
#include "ring.h"

struct chan;
struct chan_worker;
struct device;
struct json_object;

/* Work (packets, or the VSP's own units) in one pass of one channel. */
#define CHAN_BUDGET		64u
/* fds one channel may watch (chan_watch_fd()). */
#define CHAN_WATCH_MAX		8u
/* Default bound on worker threads (struct chan_env.max_workers). */
#define CHAN_WORKERS_DEFAULT	16u
/* Stack of a worker thread: VSP callbacks keep big buffers on the heap. */
#define CHAN_WORKER_STACK	(512u << 10)

/*
 * struct vsp_ops - one device class's host end
 * @name: the class name, for logs
 * @max_pkt: the largest guest->host packet the class accepts, descriptor
 *	up to its trailer (exclusive); a larger one breaks the channel
 *	(docs/protocol.md section 8).  At most KVMBUS_PKT_MAX_LEN - 8.
 * @priv_size: bytes of per-channel state, zeroed at open (chan->priv)
 * @open: the channel is mapped and attached; @data is OPEN's class data
 *	(KVMBUS_OPEN_DATA_MAX bytes).  Return: 0, or -errno, answered to
 *	the guest as OPEN_RESULT's status.  Optional.
 * @close: the channel is closing; its rings are no longer touched.  Must
 *	free what the VSP allocated.  Optional.
 * @on_packet: one guest->host packet, copied out of the ring and checked
 *	by ring.c (@pi; the payload is at @pkt + @pi->data_offset).  May
 *	send with chan_send().  Return: the work it was, at least 1 (a pass
 *	does CHAN_BUDGET at most).
 * @flush: called first in every pass: resume sends that waited for room.
 *	Return: true if there is more to send than @budget allowed.
 *	Optional.
 * @busy: true while the VSP must not be given packets (replies wait for
 *	room in the host->guest ring).  Optional.
 * @to_json: class counters for the device list.  Optional.
 * @threaded: each open channel runs on a worker thread of its own (while
 *	kvmbusd has workers to spare: else on the event loop, the same
 *	semantics).  Per-channel state (chan->priv) then needs no lock;
 *	state shared between channels does.
 *
 * Device level (every channel of a device, primary and sub-channels, is a
 * struct chan; the callbacks above run per channel, with chan->dev and
 * chan->sub_index set):
 * @dev_priv_size: bytes of per-device state, zeroed (dev->priv).  Shared
 *	by the device's channels.
 * @dev_add: a device of the class is being added: parse @params (a JSON
 *	object whose values are strings, from `kvmbusctl add CLASS
 *	key=value ...` or `kvmbusd --device CLASS,key=value,...`; NULL for
 *	none), set dev->offer_data / offer_data_len and
 *	dev->max_subchannels, open the class's resources.  An unknown key is
 *	an error.  Return: 0, or -errno with a message in @err (the device
 *	is then not added and dev_remove is not called).  Optional: a class
 *	without it takes no parameters.
 * @dev_remove: the device is freed (after its channels were closed):
 *	release what dev_add opened.  Optional.
 * @dev_set: a run-time change (`kvmbusctl set ID key=value ...`), @params
 *	as for dev_add.  Return: 0 or -errno with a message in @err.
 *	Optional: a class without it has no run-time settings.
 * @test_params: dev_set keys that break the guest on purpose (fault
 *	injection), NULL-terminated: refused unless kvmbusd runs with
 *	--test (struct ctl's @test).  Optional.
 * @dev_to_json: the device's parameters and state for the device list.
 *	Optional.
 */
struct vsp_ops {
	const char *name;
	uint32_t max_pkt;
	size_t priv_size;
	int (*open)(struct chan *ch, const uint8_t *data);
	void (*close)(struct chan *ch);
	unsigned int (*on_packet)(struct chan *ch,
				  const struct kvmbus_pkt_info *pi,
				  const uint8_t *pkt);
	bool (*flush)(struct chan *ch, unsigned int budget);
	bool (*busy)(const struct chan *ch);
	void (*to_json)(const struct chan *ch, struct json_object *o);
	bool threaded;

	size_t dev_priv_size;
	int (*dev_add)(struct device *dev, struct json_object *params,
		       char *err, size_t errlen);
	void (*dev_remove)(struct device *dev);
	int (*dev_set)(struct device *dev, struct json_object *params,
		       char *err, size_t errlen);
	const char *const *test_params;
	void (*dev_to_json)(const struct device *dev, struct json_object *o);
};

/* A VSP's callback for a watched fd; runs in the channel's context. */
typedef void chan_fd_fn(struct chan *ch, int fd, uint32_t events);

struct chan_watch {
	struct loop_src src;		/* first: the loop's handle */
	struct chan *ch;
	int fd;				/* -1: slot free */
	uint32_t events;
	chan_fd_fn *fn;
};

/* What a channel borrows from its connection. */
struct chan_env {
	struct guestmem *gm;
	/* Raise @vector in the guest.  Return: 0 or -errno. */
	int (*signal)(void *opaque, unsigned int vector);
	void *opaque;
	struct ratelimit *rl;	/* channel events (broken): shared */
	/* The connection's GPADLs, for VSPs that take buffers by GPADL id
	 * (main-loop channels only: the table is the main thread's). */
	struct gpadls *gpadls;
	uint64_t broken;	/* channels broken, all time (atomic) */
	/* The event loop of main-loop channels' fd watches; NULL: none. */
	struct loop *loop;
	/* Schedule ctl_chans_poll() on the event loop (chan_wake() of a
	 * main-loop channel); any thread.  NULL: the caller polls. */
	void (*kick)(void *opaque);
	/* Worker threads: at most @max_workers (0: every channel on the
	 * event loop); main thread only. */
	unsigned int max_workers;
	unsigned int workers;		/* running now */
	/*
	 * The doorbell of a channel's vector, straight to its worker: at
	 * every OPEN (main thread, before vsp->open), with @want set when
	 * the channel has a worker.  Return: an fd the worker watches and
	 * reads itself (its own copy, closed by chan.c), with *@count the
	 * vector's counter to add to atomically; or -errno: the doorbells
	 * come through chan_doorbell() as before.  The hook must make sure
	 * no other open channel shares a lent vector (chan_doorbell_share()).
	 * @doorbell_return is called when the worker stops watching it.
	 * Both NULL: every doorbell comes through chan_doorbell().
	 */
	int (*doorbell_lend)(void *opaque, struct chan *ch, bool want,
			     uint64_t **count);
	void (*doorbell_return)(void *opaque, struct chan *ch);
	uint64_t workers_started;
	uint64_t worker_fallbacks;	/* threaded channels run on the loop */
};

enum chan_state {
	CHAN_CLOSED = 0,
	CHAN_OPEN,
	CHAN_BROKEN,		/* open, but the guest broke a ring */
};

struct chan_stats {
	uint64_t pkts_in;	/* packets taken from the guest */
	uint64_t bytes_in;	/* their payload bytes */
	uint64_t pkts_out;	/* packets put into the host->guest ring */
	uint64_t bytes_out;
	uint64_t completions;	/* ... of them COMP packets */
	uint64_t signals;	/* interrupts sent on the channel's vector */
	uint64_t signal_errors;
	uint64_t doorbells;	/* doorbells received on its vector */
	uint64_t malformed;	/* packets the VSP dropped as malformed */
	uint64_t ring_full;	/* times a send waited for room */
	uint64_t passes;
};

struct chan {
	struct chan_env *env;
	const struct vsp_ops *vsp;
	enum chan_state state;
	uint32_t relid;
	uint16_t vector;
	/* Set by the control plane before chan_open(), which keeps them:
	 * the device the channel belongs to, and which of its channels it is
	 * (0: the primary, 1..n: a sub-channel). */
	struct device *dev;
	uint16_t sub_index;
	const char *broken_why;

	/* The rings: kept after close for the device list. */
	uint32_t gpadl_id;
	uint32_t g2h_pages;	/* header included */
	uint32_t h2g_pages;

	/* Open (or broken) only. */
	struct gpadl *gpadl;
	struct guestmem_view view;
	struct kvmbus_ring rx;		/* guest -> host: we consume */
	struct kvmbus_ring tx;		/* host -> guest: we produce */
	__le32 rx_features;		/* the headers' features at OPEN */
	__le32 tx_features;
	bool more;			/* a pass ran out of budget */
	bool tx_waiting;		/* a send found the ring full */
	uint8_t *rxbuf;			/* one packet, vsp->max_pkt bytes */
	void *priv;			/* the VSP's, vsp->priv_size bytes */

	struct chan_stats stats;	/* of the last open */
	struct ratelimit rl;		/* per-packet complaints */

	/* Threading: see the top of this file. */
	struct chan_worker *worker;	/* NULL: on the event loop */
	bool woken;			/* chan_wake() since the last pass */
	struct chan_watch watch[CHAN_WATCH_MAX];
};

/*
 * chan_open() - map a ring GPADL and attach to the guest's rings
 * @g: a complete GPADL that no channel uses
 * @g2h_pages: pages of the guest->host ring, header included; the
 *	host->guest ring is the rest
 * @data: OPEN's class data, for vsp->open
 *
 * Return: 0; -EINVAL for a ring split that leaves either ring without a
 * data page or with more than 1 GiB of data, -E2BIG for a GPADL of too
 * many runs to map, -EPROTO for a ring header holding an invalid index,
 * -ENOMEM, or what guestmem_view_map() or vsp->open return.
 */
int chan_open(struct chan *ch, struct chan_env *env,
	      const struct vsp_ops *vsp, uint32_t relid, uint16_t vector,
	      struct gpadl *g, uint32_t g2h_pages, const uint8_t *data);

/* Stop touching the rings, close the VSP, unmap; counters are kept. */
void chan_close(struct chan *ch);

/* The channel's state; any thread (a worker may break its channel). */
static inline enum chan_state chan_state_get(const struct chan *ch)
{
	return __atomic_load_n(&ch->state, __ATOMIC_ACQUIRE);
}

/* Return: true while open or broken (the guest has not closed it). */
static inline bool chan_in_use(const struct chan *ch)
{
	return chan_state_get(ch) != CHAN_CLOSED;
}

/*
 * chan_watch_fd() - serve a VSP's own fd (a TAP queue, an io_uring
 * eventfd) in the channel's context
 * @events: EPOLLIN, EPOLLOUT, ... (level-triggered unless EPOLLET)
 * @fn: called with the events; may chan_send() (the pass that follows
 *	commits and signals) and chan_wake()
 *
 * From the channel's own callbacks only (open, on_packet, flush, an fd
 * callback).  Watches end with chan_unwatch_fd() or when the channel
 * closes (before vsp->close runs); the fd stays the VSP's to close.
 * Treat each call as a hint: the fd is non-blocking, EAGAIN is normal.
 * Return: 0; -EEXIST if @fd is watched already, -ENOSPC beyond
 * CHAN_WATCH_MAX, -ENOTSUP for a main-loop channel with no loop (unit
 * tests), or epoll_ctl()'s -errno.
 */
int chan_watch_fd(struct chan *ch, int fd, uint32_t events, chan_fd_fn *fn);

/* Stop watching @fd (not closed); unknown fds are ignored. */
void chan_unwatch_fd(struct chan *ch, int fd);

/*
 * chan_wake() - schedule a pass of the channel (its flush() runs)
 *
 * Any thread, any time the channel is open; a no-op on a closed one once
 * its close has returned.  Wakes coalesce.
 */
void chan_wake(struct chan *ch);

/*
 * chan_lock() / chan_unlock() - exclude the channel's worker (no-op for a
 * main-loop channel); for the control socket reading counters or calling
 * into the VSP (echo-send).  Main thread only; never held across a wait.
 */
void chan_lock(const struct chan *ch);
void chan_unlock(const struct chan *ch);

/* Return: true if a pass is due on the event loop (not for workers). */
bool chan_pass_due(const struct chan *ch);

/*
 * chan_doorbell_share() - @ch's worker stops reading its vector's
 * doorbell itself (another channel opens on the vector); from then on
 * they come through chan_doorbell().  Main thread; no-op unless lent.
 */
void chan_doorbell_share(struct chan *ch);

/* The guest rang the channel's vector @count times: count, and pass now
 * (main-loop channel: Return: true if work is left) or wake the worker. */
bool chan_doorbell(struct chan *ch, uint64_t count);

/*
 * chan_poll() - one pass over an open channel
 * @budget: work to do at most (CHAN_BUDGET)
 * Return: true if work is left: call again soon (ch->more says so too).
 */
bool chan_poll(struct chan *ch, unsigned int budget);

/*
 * chan_send() - queue a packet in the host->guest ring (for VSPs, from
 * on_packet() and flush() only: the pass commits and signals once)
 *
 * Return: 0; -ENOSPC when the ring is full: ring.c has asked the guest to
 * signal when there is room, and the pass after that calls flush(); a
 * packet that can never fit is -EMSGSIZE; -EIO when the channel is not
 * (or no longer) usable: the guest broke the ring.
 */
int chan_send(struct chan *ch, const struct kvmbus_ring_pkt *p);

/* The guest broke the channel: count, log (bounded), stop. */
void chan_break(struct chan *ch, const char *why);

/* A VSP dropped a packet: count and log at a bounded rate. */
void chan_malformed(struct chan *ch, const struct kvmbus_pkt_info *pi,
		    const char *why);

/* "closed", "open" or "broken". */
const char *chan_state_name(enum chan_state state);

#endif /* KVMBUSD_CHAN_H */
