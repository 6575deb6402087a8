// SPDX-License-Identifier: GPL-2.0-only
/*
 * The host end of a channel: the ring GPADL's view, the two rings, the
 * pass that feeds the VSP.  See chan.h.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "chan.h"

/*
 * A threaded channel's worker: the thread, its own epoll set (the wake
 * eventfd and the channel's fd watches) and the lock it holds while it
 * runs the channel.  Created by chan_open(), joined and freed by
 * chan_close(), both on the main thread.
 */
struct chan_worker {
	pthread_t thread;
	pthread_mutex_t lock;
	struct loop loop;
	struct loop_src wake_src;
	int wake_fd;
	/* The vector's doorbell, when lent (chan_env.doorbell_lend). */
	struct loop_src db_src;
	int db_fd;
	uint64_t *db_count;
	struct chan *ch;
	bool stop;		/* atomic: set by chan_close() */
	bool wake;		/* the wake eventfd fired in this batch */
};

#define PAGE		KVMBUS_PAGE_SIZE

/* The worker this thread is, if it is one. */
static __thread struct chan_worker *chan_self;

const char *chan_state_name(enum chan_state state)
{
	switch (state) {
	case CHAN_OPEN:
		return "open";
	case CHAN_BROKEN:
		return "broken";
	default:
		return "closed";
	}
}

static void chan_set_state(struct chan *ch, enum chan_state state)
{
	/* Pairs with the acquire in chan_state_get(): broken_why is set
	 * before the state says broken. */
	__atomic_store_n(&ch->state, state, __ATOMIC_RELEASE);
}

static void chan_signal(struct chan *ch)
{
	int ret = ch->env->signal ?
		  ch->env->signal(ch->env->opaque, ch->vector) : 0;

	if (ret)
		ch->stats.signal_errors++;
	else
		ch->stats.signals++;
}

/* Data bytes of a ring of @pages pages (header included), or 0. */
static uint32_t ring_data_size(uint32_t pages)
{
	uint64_t size = ((uint64_t)pages - 1) * PAGE;

	if (pages < 2 || size > UINT32_MAX || !kvmbus_ring_size_ok((uint32_t)size))
		return 0;
	return (uint32_t)size;
}

/* Attach to both rings in the view.  Return: 0, -EINVAL or -EPROTO. */
static int chan_attach(struct chan *ch, uint32_t g2h_pages,
		       uint32_t h2g_pages)
{
	uint32_t rx_size = ring_data_size(g2h_pages);
	uint32_t tx_size = ring_data_size(h2g_pages);
	uint8_t *g2h = ch->view.addr;
	uint8_t *h2g = g2h + (size_t)g2h_pages * PAGE;

	if (!rx_size || !tx_size)
		return -EINVAL;
	/* ring.c loads each index once, checks it and writes nothing. */
	if (kvmbus_ring_attach(&ch->rx, (void *)g2h, g2h + PAGE, rx_size) ||
	    kvmbus_ring_attach(&ch->tx, (void *)h2g, h2g + PAGE, tx_size))
		return -EPROTO;
	/* Fixed by the guest at creation; see chan_rings_intact(). */
	ch->rx_features = __atomic_load_n(&ch->rx.hdr->features,
					  __ATOMIC_RELAXED);
	ch->tx_features = __atomic_load_n(&ch->tx.hdr->features,
					  __ATOMIC_RELAXED);
	return 0;
}

/* Undo what chan_open() set up, in reverse. */
static void chan_release(struct chan *ch)
{
	free(ch->priv);
	ch->priv = NULL;
	free(ch->rxbuf);
	ch->rxbuf = NULL;
	guestmem_view_unmap(&ch->view);
	memset(&ch->rx, 0, sizeof(ch->rx));
	memset(&ch->tx, 0, sizeof(ch->tx));
	if (ch->gpadl)
		ch->gpadl->users--;
	ch->gpadl = NULL;
	chan_set_state(ch, CHAN_CLOSED);
}

/* --- fd watches ---------------------------------------------------------- */

static struct loop *chan_loop(struct chan *ch)
{
	return ch->worker ? &ch->worker->loop : ch->env->loop;
}

/* A watched fd fired; on a worker, the worker's pass follows the batch. */
static void chan_watch_event(struct loop_src *src, uint32_t events)
{
	struct chan_watch *w = (struct chan_watch *)src;
	struct chan *ch = w->ch;

	if (w->fd < 0)
		return;		/* unwatched earlier in this batch */
	w->fn(ch, w->fd, events);
	/* A main-loop channel: commit what the callback sent, now. */
	if (!ch->worker && chan_poll(ch, CHAN_BUDGET) && ch->env->kick)
		ch->env->kick(ch->env->opaque);
}

int chan_watch_fd(struct chan *ch, int fd, uint32_t events, chan_fd_fn *fn)
{
	struct chan_watch *slot = NULL;
	struct loop *loop = chan_loop(ch);
	unsigned int i;
	int ret;

	if (fd < 0 || !fn)
		return -EBADF;
	for (i = 0; i < CHAN_WATCH_MAX; i++) {
		if (ch->watch[i].fd == fd)
			return -EEXIST;
		if (ch->watch[i].fd < 0 && !slot)
			slot = &ch->watch[i];
	}
	if (!slot)
		return -ENOSPC;
	if (!loop)
		return -ENOTSUP;
	*slot = (struct chan_watch){
		.src.fn = chan_watch_event,
		.ch = ch,
		.fd = fd,
		.events = events,
		.fn = fn,
	};
	ret = loop_add(loop, fd, events, &slot->src);
	if (ret)
		slot->fd = -1;
	return ret;
}

void chan_unwatch_fd(struct chan *ch, int fd)
{
	unsigned int i;

	if (fd < 0)
		return;
	for (i = 0; i < CHAN_WATCH_MAX; i++) {
		if (ch->watch[i].fd != fd)
			continue;
		if (chan_loop(ch))
			loop_del(chan_loop(ch), fd);
		ch->watch[i].fd = -1;
	}
}

static void chan_unwatch_all(struct chan *ch)
{
	unsigned int i;

	for (i = 0; i < CHAN_WATCH_MAX; i++)
		chan_unwatch_fd(ch, ch->watch[i].fd);
}

/* --- worker threads --------------------------------------------------------- */

static void chan_worker_wake_event(struct loop_src *src, uint32_t events)
{
	struct chan_worker *w = (struct chan_worker *)((char *)src -
				offsetof(struct chan_worker, wake_src));
	uint64_t n;

	(void)events;
	if (read(w->wake_fd, &n, sizeof(n)) == sizeof(n))
		w->wake = true;
}

/* The guest rang: count it; the pass after the batch serves the ring. */
static void chan_worker_doorbell_event(struct loop_src *src, uint32_t events)
{
	struct chan_worker *w = (struct chan_worker *)((char *)src -
				offsetof(struct chan_worker, db_src));
	uint64_t n;

	(void)events;
	if (w->db_fd < 0)
		return;		/* given back earlier in this batch */
	if (read(w->db_fd, &n, sizeof(n)) != sizeof(n))
		return;		/* EAGAIN: the main loop read it first */
	__atomic_fetch_add(w->db_count, n, __ATOMIC_RELAXED);
	__atomic_fetch_add(&w->ch->stats.doorbells, n, __ATOMIC_RELAXED);
}

/*
 * At OPEN (main thread): ask for the vector's doorbell when @w is set,
 * and let the hook take the vector back from a channel that shares it.
 */
static void chan_doorbell_take(struct chan *ch, struct chan_worker *w)
{
	struct chan_env *env = ch->env;
	uint64_t *count = NULL;
	int fd;

	if (!env->doorbell_lend)
		return;
	fd = env->doorbell_lend(env->opaque, ch, w != NULL, &count);
	if (fd < 0)
		return;
	if (!w || !count) {
		close(fd);
		if (env->doorbell_return)
			env->doorbell_return(env->opaque, ch);
		return;
	}
	w->db_src.fn = chan_worker_doorbell_event;
	w->db_count = count;
	w->db_fd = fd;
	if (loop_add(&w->loop, fd, EPOLLIN, &w->db_src)) {
		w->db_fd = -1;
		close(fd);
		if (env->doorbell_return)
			env->doorbell_return(env->opaque, ch);
	}
}

/* Give the doorbell back; the worker is joined, or its lock is ours. */
static void chan_doorbell_give_back(struct chan *ch, struct chan_worker *w)
{
	if (w->db_fd < 0)
		return;
	loop_del(&w->loop, w->db_fd);
	close(w->db_fd);
	w->db_fd = -1;
	if (ch->env->doorbell_return)
		ch->env->doorbell_return(ch->env->opaque, ch);
}

void chan_doorbell_share(struct chan *ch)
{
	struct chan_worker *w = ch->worker;

	if (!w || w->db_fd < 0)
		return;
	pthread_mutex_lock(&w->lock);
	chan_doorbell_give_back(ch, w);
	pthread_mutex_unlock(&w->lock);
}

static bool chan_worker_stopping(struct chan_worker *w)
{
	return __atomic_load_n(&w->stop, __ATOMIC_ACQUIRE);
}

/*
 * The worker: sleep in its own epoll set, then, with the lock held, serve
 * what fired and run a pass.  A pass that ran out of budget makes the next
 * wait a poll, so watched fds and the lock (the control socket's reads)
 * get their turn between passes.
 */
static void *chan_worker_main(void *arg)
{
	struct epoll_event evs[CHAN_WATCH_MAX + 2];
	struct chan *ch = arg;
	struct chan_worker *w = ch->worker;
	int i, n, timeout;

	chan_self = w;
	pthread_mutex_lock(&w->lock);
	while (!chan_worker_stopping(w)) {
		timeout = ch->more ||
			  __atomic_load_n(&ch->woken, __ATOMIC_ACQUIRE) ? 0 : -1;
		pthread_mutex_unlock(&w->lock);
		n = epoll_wait(w->loop.epfd, evs, CHAN_WATCH_MAX + 2, timeout);
		pthread_mutex_lock(&w->lock);
		if (chan_worker_stopping(w))
			break;
		w->wake = false;
		for (i = 0; i < n; i++) {
			struct loop_src *src = evs[i].data.ptr;

			src->fn(src, evs[i].events);
		}
		if (n > 0 || ch->more ||
		    __atomic_load_n(&ch->woken, __ATOMIC_ACQUIRE))
			chan_poll(ch, CHAN_BUDGET);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void chan_worker_kick(struct chan_worker *w)
{
	static const uint64_t one = 1;

	/* EAGAIN: 2^64 - 2 wakes pending, one is enough. */
	if (write(w->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_err("cannot wake a channel worker: %s", strerror(errno));
}

static void chan_worker_free(struct chan_worker *w)
{
	if (w->db_fd >= 0)
		close(w->db_fd);
	loop_fini(&w->loop);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

/* Ask the worker to stop and wait for it; @w->lock not held by us. */
static void chan_worker_join(struct chan_worker *w)
{
	__atomic_store_n(&w->stop, true, __ATOMIC_RELEASE);
	chan_worker_kick(w);
	pthread_join(w->thread, NULL);
}

/*
 * Give @ch a worker whose thread is started but blocked on the worker's
 * lock, which we hold: vsp->open runs before the worker looks at the
 * channel.  Return: true if the channel has a worker; false if it runs
 * on the event loop (no VSP wish, the bound reached, or no thread).
 */
static bool chan_worker_start(struct chan *ch)
{
	struct chan_env *env = ch->env;
	sigset_t all, old;
	struct chan_worker *w;
	pthread_attr_t attr;
	int ret;

	if (!ch->vsp->threaded || !env->max_workers) {
		chan_doorbell_take(ch, NULL);
		return false;	/* by design, not a fallback */
	}
	if (env->workers >= env->max_workers)
		goto fallback;
	w = calloc(1, sizeof(*w));
	if (!w)
		goto fallback;
	w->wake_fd = -1;
	w->db_fd = -1;
	w->ch = ch;
	w->loop.epfd = -1;
	pthread_mutex_init(&w->lock, NULL);
	w->wake_src.fn = chan_worker_wake_event;
	w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->wake_fd < 0 || loop_init(&w->loop) ||
	    loop_add(&w->loop, w->wake_fd, EPOLLIN, &w->wake_src))
		goto err_free;
	pthread_mutex_lock(&w->lock);
	/* Set up before it is seen: pairs with chan_wake()'s acquire. */
	__atomic_store_n(&ch->worker, w, __ATOMIC_RELEASE);
	/* Signals are the main loop's (signalfd): the worker takes none. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, CHAN_WORKER_STACK);
	ret = pthread_create(&w->thread, &attr, chan_worker_main, ch);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		__atomic_store_n(&ch->worker, NULL, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&w->lock);
		goto err_free;
	}
	env->workers++;
	env->workers_started++;
	/* The worker waits for our lock: its epoll set is still ours. */
	chan_doorbell_take(ch, w);
	return true;

err_free:
	chan_worker_free(w);
fallback:
	chan_doorbell_take(ch, NULL);
	env->worker_fallbacks++;
	log_rl(env->rl, LOG_WARNING,
	       "channel relid %u (%s): no worker thread (%u running, at most %u): served on the event loop",
	       ch->relid, ch->vsp->name, env->workers, env->max_workers);
	return false;
}

/* Undo chan_worker_start() (its lock held by us: a failed open). */
static void chan_worker_abort(struct chan *ch)
{
	struct chan_worker *w = ch->worker;

	__atomic_store_n(&w->stop, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&w->lock);
	chan_worker_join(w);
	chan_doorbell_give_back(ch, w);
	chan_unwatch_all(ch);
	__atomic_store_n(&ch->worker, NULL, __ATOMIC_RELEASE);
	chan_worker_free(w);
	ch->env->workers--;
}

void chan_lock(const struct chan *ch)
{
	if (ch->worker)
		pthread_mutex_lock(&ch->worker->lock);
}

void chan_unlock(const struct chan *ch)
{
	if (ch->worker)
		pthread_mutex_unlock(&ch->worker->lock);
}

void chan_wake(struct chan *ch)
{
	/* Pairs with the release stores of ch->worker: a VSP thread sees
	 * a worker that is set up, or none. */
	struct chan_worker *w = __atomic_load_n(&ch->worker, __ATOMIC_ACQUIRE);

	/* Before the kick: the pass that the kick brings sees it. */
	__atomic_store_n(&ch->woken, true, __ATOMIC_RELEASE);
	/* On the worker itself (a VSP callback asking for the next pass):
	 * the worker looks at @woken before it sleeps, no eventfd needed. */
	if (w && w == chan_self)
		return;
	if (w)
		chan_worker_kick(w);
	else if (ch->env && ch->env->kick)
		ch->env->kick(ch->env->opaque);
}

bool chan_pass_due(const struct chan *ch)
{
	return !ch->worker && chan_state_get(ch) == CHAN_OPEN &&
	       (ch->more || __atomic_load_n(&ch->woken, __ATOMIC_ACQUIRE));
}

bool chan_doorbell(struct chan *ch, uint64_t count)
{
	__atomic_fetch_add(&ch->stats.doorbells, count, __ATOMIC_RELAXED);
	if (ch->worker) {
		chan_wake(ch);
		return false;
	}
	return chan_poll(ch, CHAN_BUDGET);
}

int chan_open(struct chan *ch, struct chan_env *env,
	      const struct vsp_ops *vsp, uint32_t relid, uint16_t vector,
	      struct gpadl *g, uint32_t g2h_pages, const uint8_t *data)
{
	/* A refused OPEN leaves the last open's numbers to look at. */
	struct chan_stats last = ch->stats;
	uint32_t last_gpadl = ch->gpadl_id, last_g2h = ch->g2h_pages;
	uint32_t last_h2g = ch->h2g_pages;
	struct device *dev = ch->dev;
	uint16_t sub_index = ch->sub_index;
	int ret;

	memset(ch, 0, sizeof(*ch));
	for (unsigned int i = 0; i < CHAN_WATCH_MAX; i++)
		ch->watch[i].fd = -1;
	ch->dev = dev;
	ch->sub_index = sub_index;
	ch->env = env;
	ch->vsp = vsp;
	ch->relid = relid;
	ch->vector = vector;
	ch->gpadl_id = g->id;
	ch->g2h_pages = g2h_pages;
	ratelimit_init(&ch->rl, 5000, 5);
	/* Each ring is a header page and at least one data page. */
	if (g2h_pages < 2 || g->total_pages < 2 ||
	    g2h_pages > g->total_pages - 2) {
		ret = -EINVAL;
		goto err_release;
	}
	ch->h2g_pages = g->total_pages - g2h_pages;
	if (!ring_data_size(g2h_pages) || !ring_data_size(ch->h2g_pages)) {
		ret = -EINVAL;
		goto err_release;
	}

	ret = guestmem_view_map(env->gm, g->runs, g->nr_runs, &ch->view);
	if (ret)
		goto err_release;
	ch->gpadl = g;
	g->users++;
	ret = chan_attach(ch, g2h_pages, ch->h2g_pages);
	if (ret)
		goto err_release;
	ch->rxbuf = malloc(vsp->max_pkt);
	ch->priv = vsp->priv_size ? calloc(1, vsp->priv_size) : NULL;
	if (!ch->rxbuf || (vsp->priv_size && !ch->priv)) {
		ret = -ENOMEM;
		goto err_release;
	}
	/* With a worker, its lock is ours until the end of the open. */
	chan_worker_start(ch);
	chan_set_state(ch, CHAN_OPEN);
	if (vsp->open) {
		ret = vsp->open(ch, data);
		if (ret)
			goto err_stop_worker;
	}
	/* Look at the rings once: the guest may have queued packets and
	 * rung before the channel was open here. */
	ch->more = true;
	if (ch->worker)
		pthread_mutex_unlock(&ch->worker->lock);
	return 0;

err_stop_worker:
	if (ch->worker)
		chan_worker_abort(ch);
	chan_unwatch_all(ch);
err_release:
	chan_release(ch);
	ch->stats = last;
	ch->gpadl_id = last_gpadl;
	ch->g2h_pages = last_g2h;
	ch->h2g_pages = last_h2g;
	return ret;
}

/*
 * The worker is joined first: from then on this thread is the channel's
 * only context.  The worker's memory is freed after vsp->close, which
 * stops any thread of the VSP's own that might still chan_wake().
 */
void chan_close(struct chan *ch)
{
	struct chan_worker *w = ch->worker;

	if (!chan_in_use(ch))
		return;
	if (w) {
		chan_worker_join(w);
		chan_doorbell_give_back(ch, w);
	}
	chan_unwatch_all(ch);
	/* The VSP may still look at ch->priv, never at the rings. */
	chan_set_state(ch, CHAN_CLOSED);
	if (ch->vsp->close)
		ch->vsp->close(ch);
	ch->more = false;
	__atomic_store_n(&ch->woken, false, __ATOMIC_RELAXED);
	if (w) {
		__atomic_store_n(&ch->worker, NULL, __ATOMIC_RELEASE);
		chan_worker_free(w);
		ch->env->workers--;
	}
	chan_release(ch);
}

void chan_break(struct chan *ch, const char *why)
{
	if (ch->state != CHAN_OPEN)
		return;
	ch->broken_why = why;
	chan_set_state(ch, CHAN_BROKEN);
	ch->more = false;
	/* Nothing of a broken channel is served: a level-triggered fd the
	 * VSP no longer drains must not spin its context. */
	chan_unwatch_all(ch);
	__atomic_fetch_add(&ch->env->broken, 1, __ATOMIC_RELAXED);
	log_rl(ch->env->rl, LOG_WARNING,
	       "channel relid %u (%s) broken: %s; ignored until the guest closes it",
	       ch->relid, ch->vsp->name, why);
}

void chan_malformed(struct chan *ch, const struct kvmbus_pkt_info *pi,
		    const char *why)
{
	ch->stats.malformed++;
	log_rl(&ch->rl, LOG_WARNING,
	       "channel relid %u (%s): packet type %u, %u bytes dropped: %s",
	       ch->relid, ch->vsp->name, pi->type, pi->data_len, why);
}

/* See ctl_rings_intact(): a changed features word is a guest that
 * rebooted without telling us and may reuse the pages. */
static bool chan_rings_intact(struct chan *ch)
{
	if (__atomic_load_n(&ch->rx.hdr->features, __ATOMIC_RELAXED) ==
	    ch->rx_features &&
	    __atomic_load_n(&ch->tx.hdr->features, __ATOMIC_RELAXED) ==
	    ch->tx_features)
		return true;
	chan_break(ch, "a ring header lost its features word: did the guest reset without closing?");
	return false;
}

int chan_send(struct chan *ch, const struct kvmbus_ring_pkt *p)
{
	int ret;

	if (ch->state != CHAN_OPEN)
		return -EIO;
	ret = kvmbus_ring_put(&ch->tx, p);
	switch (ret) {
	case 0:
		ch->tx_waiting = false;
		ch->stats.pkts_out++;
		ch->stats.bytes_out += p->data_len;
		if (p->type == KVMBUS_PKT_COMP)
			ch->stats.completions++;
		return 0;
	case -ENOSPC:
		/* Counted once per wait, however often the VSP retries. */
		if (!ch->tx_waiting)
			ch->stats.ring_full++;
		ch->tx_waiting = true;
		return ret;
	case -EMSGSIZE:
		return ret;
	default:
		chan_break(ch, "invalid read index on the host->guest ring");
		return -EIO;
	}
}

static bool chan_busy(const struct chan *ch)
{
	return ch->vsp->busy && ch->vsp->busy(ch);
}

bool chan_poll(struct chan *ch, unsigned int budget)
{
	struct kvmbus_pkt_info pi;
	bool signal = false, more = false;
	unsigned int cost;
	int ret;

	ch->more = false;
	/* Before anything is looked at: a wake after this gets a pass. */
	__atomic_store_n(&ch->woken, false, __ATOMIC_RELAXED);
	if (ch->state != CHAN_OPEN || !chan_rings_intact(ch))
		return false;
	ch->stats.passes++;
	if (ch->vsp->flush)
		more = ch->vsp->flush(ch, budget);

	/* We are polling: the guest need not signal new packets. */
	kvmbus_ring_mask(&ch->rx);
	while (ch->state == CHAN_OPEN && !chan_busy(ch)) {
		if (!budget) {
			more = true;
			break;
		}
		ret = kvmbus_ring_get(&ch->rx, ch->rxbuf, ch->vsp->max_pkt,
				      &pi);
		if (ret == -EAGAIN) {
			/* Drained: hand the space back, unmask, and look
			 * once more for a packet that raced the unmask. */
			signal |= kvmbus_ring_release(&ch->rx);
			if (!kvmbus_ring_unmask(&ch->rx))
				goto commit;
			kvmbus_ring_mask(&ch->rx);
			continue;
		}
		if (ret) {
			chan_break(ch, "malformed packet or index on the guest->host ring");
			return false;
		}
		ch->stats.pkts_in++;
		ch->stats.bytes_in += pi.data_len;
		cost = ch->vsp->on_packet(ch, &pi, ch->rxbuf);
		budget -= cost < 1 ? 1 : cost > budget ? budget : cost;
	}
	if (ch->state != CHAN_OPEN)
		return false;
	signal |= kvmbus_ring_release(&ch->rx);
	/* Stopped early (budget, or replies wait for room): the guest may
	 * signal new packets again. */
	kvmbus_ring_unmask(&ch->rx);
commit:
	if (ch->state != CHAN_OPEN)
		return false;
	signal |= kvmbus_ring_commit(&ch->tx);
	if (signal)
		chan_signal(ch);
	ch->more = more;
	return more;
}
