// SPDX-License-Identifier: GPL-2.0-only
/*
 * Worker threads and fd watches (chan.h): a channel opened straight on a
 * hand-made ring GPADL in a memfd of guest RAM, with the guest played by
 * this thread through ring.c while the host end runs on its worker (or on
 * a test event loop).  A test VSP records which thread ran each callback
 * and fails on any overlap, watches an eventfd, and answers chan_wake()
 * from another thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>

#include "fixture.h"
#include "chan.h"
#include "evil.h"
#include "guestmem.h"
#include "loop.h"
#include "vsp_echo.h"

#define PAGE		KVMBUS_PAGE_SIZE
#define RAM		(1u << 20)
#define RING_PAGES	4u		/* per direction, header included */
#define NCHAN		3u

/* Packets the test VSP sends on its own. */
#define TAG_FD		0x46440000u	/* an fd callback: + the count */
#define TAG_WAKE	0x57414b45u	/* a flush after chan_wake() */

struct gside {				/* the guest's end of one channel */
	struct kvmbus_ring out;		/* guest -> host */
	struct kvmbus_ring in;		/* host -> guest */
	uint64_t tid;
};

struct tenv {
	struct guestmem gm;
	uint8_t *ram;			/* the guest's mapping of its RAM */
	struct guestmem_run run[NCHAN];
	struct gpadl g[NCHAN];
	struct chan ch[NCHAN];
	struct gside gs[NCHAN];
	struct chan_env env;
	struct ratelimit rl;
	struct loop loop;		/* main-loop channels' watches */
	unsigned int signals;		/* atomic */
	unsigned int kicks;		/* atomic */
	uint64_t buf[KVMBUS_PKT_MAX_LEN / 8];
};

/* --- the test VSP ----------------------------------------------------------- */

struct tvsp {
	int efd;			/* watched eventfd */
	unsigned int in_cb;		/* atomic: callbacks running now */
	unsigned int callbacks;
	unsigned int fd_calls;
	bool wake_req;			/* atomic: set by another thread */
	bool wake_pending;		/* a TAG_WAKE to send */
	pthread_t open_thread, last_thread;
	bool other_thread;		/* a callback ran off the opener */
};

static unsigned int tvsp_closed;	/* atomic: close() calls */
static int tvsp_open_fail;

static struct tvsp *tv(struct chan *ch)
{
	return ch->priv;
}

static void cb_enter(struct chan *ch)
{
	struct tvsp *t = tv(ch);

	/* Serialised: never two callbacks of one channel at once. */
	assert_int_equal(__atomic_fetch_add(&t->in_cb, 1, __ATOMIC_ACQ_REL), 0);
	t->callbacks++;
	t->last_thread = pthread_self();
	if (!pthread_equal(t->last_thread, t->open_thread))
		t->other_thread = true;
}

static void cb_leave(struct chan *ch)
{
	__atomic_fetch_sub(&tv(ch)->in_cb, 1, __ATOMIC_ACQ_REL);
}

static void tsend(struct chan *ch, uint32_t tag)
{
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.data = &tag,
		.data_len = sizeof(tag),
	};

	assert_int_equal(chan_send(ch, &p), 0);
}

static void tvsp_fd(struct chan *ch, int fd, uint32_t events)
{
	uint64_t n;

	cb_enter(ch);
	assert_int_equal(fd, tv(ch)->efd);
	assert_true(events & EPOLLIN);
	tv(ch)->fd_calls++;
	if (read(fd, &n, sizeof(n)) == sizeof(n))
		tsend(ch, TAG_FD + (uint32_t)n);
	cb_leave(ch);
}

static int tvsp_open(struct chan *ch, const uint8_t *data)
{
	struct tvsp *t = tv(ch);
	int ret;

	(void)data;
	t->open_thread = pthread_self();
	cb_enter(ch);
	t->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(t->efd >= 0);
	ret = chan_watch_fd(ch, t->efd, EPOLLIN, tvsp_fd);
	assert_int_equal(ret, 0);
	assert_int_equal(chan_watch_fd(ch, t->efd, EPOLLIN, tvsp_fd), -EEXIST);
	cb_leave(ch);
	if (tvsp_open_fail) {
		close(t->efd);	/* the watch goes with the failed open */
		return -tvsp_open_fail;
	}
	return 0;
}

static void tvsp_close(struct chan *ch)
{
	cb_enter(ch);
	/* chan_close() dropped the watch before calling us. */
	chan_unwatch_fd(ch, tv(ch)->efd);
	close(tv(ch)->efd);
	__atomic_fetch_add(&tvsp_closed, 1, __ATOMIC_RELAXED);
	cb_leave(ch);
}

static unsigned int tvsp_packet(struct chan *ch,
				const struct kvmbus_pkt_info *pi,
				const uint8_t *pkt)
{
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_COMP,
		.trans_id = pi->trans_id,
		.data = pkt + pi->data_offset,
		.data_len = pi->data_len,
	};

	cb_enter(ch);
	assert_int_equal(chan_send(ch, &p), 0);
	cb_leave(ch);
	return 1;
}

static bool tvsp_flush(struct chan *ch, unsigned int budget)
{
	struct tvsp *t = tv(ch);

	(void)budget;
	cb_enter(ch);
	if (__atomic_exchange_n(&t->wake_req, false, __ATOMIC_ACQ_REL))
		t->wake_pending = true;
	if (t->wake_pending) {
		tsend(ch, TAG_WAKE);
		t->wake_pending = false;
	}
	cb_leave(ch);
	return false;
}

static struct vsp_ops tvsp_ops = {
	.name = "test",
	.max_pkt = 4096,
	.priv_size = sizeof(struct tvsp),
	.open = tvsp_open,
	.close = tvsp_close,
	.on_packet = tvsp_packet,
	.flush = tvsp_flush,
};

/* --- the environment ---------------------------------------------------------- */

static int tsignal(void *opaque, unsigned int vector)
{
	struct tenv *e = opaque;

	(void)vector;
	__atomic_fetch_add(&e->signals, 1, __ATOMIC_RELAXED);
	return 0;
}

static void tkick(void *opaque)
{
	struct tenv *e = opaque;

	__atomic_fetch_add(&e->kicks, 1, __ATOMIC_RELAXED);
}

static struct tenv *tenv_new(unsigned int max_workers)
{
	struct tenv *e = calloc(1, sizeof(*e));
	unsigned int i;

	assert_non_null(e);
	guestmem_memfd(&e->gm, RAM, RAM);
	e->ram = guestmem_range(&e->gm, 0, RAM);
	assert_non_null(e->ram);
	assert_int_equal(loop_init(&e->loop), 0);
	ratelimit_init(&e->rl, 5000, 10);
	e->env = (struct chan_env){
		.gm = &e->gm,
		.signal = tsignal,
		.opaque = e,
		.rl = &e->rl,
		.loop = &e->loop,
		.kick = tkick,
		.max_workers = max_workers,
	};
	for (i = 0; i < NCHAN; i++) {
		uint64_t off = (uint64_t)(i + 1) * 16 * PAGE;

		e->run[i] = (struct guestmem_run){ off, 2 * RING_PAGES * PAGE };
		e->g[i] = (struct gpadl){
			.id = i + 1,
			.total_pages = 2 * RING_PAGES,
			.pages = 2 * RING_PAGES,
			.nr_runs = 1,
			.cap_runs = 1,
			.runs = &e->run[i],
		};
	}
	return e;
}

static void tenv_free(struct tenv *e)
{
	for (unsigned int i = 0; i < NCHAN; i++) {
		chan_close(&e->ch[i]);
		assert_int_equal(e->g[i].users, 0);
	}
	assert_int_equal(e->env.workers, 0);
	loop_fini(&e->loop);
	guestmem_close(&e->gm);
	free(e);
}

static int topen(struct tenv *e, unsigned int i, const struct vsp_ops *vsp)
{
	uint8_t *v = e->ram + e->run[i].off;
	struct gside *gs = &e->gs[i];
	uint8_t data[KVMBUS_OPEN_DATA_MAX] = { 0 };

	memset(gs, 0, sizeof(*gs));
	kvmbus_ring_create(&gs->out, (void *)v, v + PAGE,
			   (RING_PAGES - 1) * PAGE);
	v += RING_PAGES * PAGE;
	kvmbus_ring_create(&gs->in, (void *)v, v + PAGE,
			   (RING_PAGES - 1) * PAGE);
	return chan_open(&e->ch[i], &e->env, vsp, i + 1, 1, &e->g[i],
			 RING_PAGES, data);
}

/* Run main-loop work: watches on the test loop, then due passes. */
static void tmain_once(struct tenv *e)
{
	unsigned int i;

	loop_run_once(&e->loop, 0);
	for (i = 0; i < NCHAN; i++)
		while (chan_pass_due(&e->ch[i]))
			chan_poll(&e->ch[i], CHAN_BUDGET);
}

/*
 * The next host packet on channel @i, waiting up to 10 s (a worker runs
 * it) and serving the main loop meanwhile.  Return: 0 or -EAGAIN.
 */
static int tget(struct tenv *e, unsigned int i, struct kvmbus_pkt_info *pi)
{
	struct timespec ts = { 0, 1000000 };
	int ret = -EAGAIN, n;

	for (n = 0; n < 10000; n++) {
		tmain_once(e);
		ret = kvmbus_ring_get(&e->gs[i].in, e->buf, sizeof(e->buf), pi);
		if (kvmbus_ring_release(&e->gs[i].in))
			chan_doorbell(&e->ch[i], 1);
		if (ret != -EAGAIN)
			return ret;
		nanosleep(&ts, NULL);
	}
	return ret;
}

static uint32_t tget_u32(struct tenv *e, unsigned int i, uint16_t type)
{
	struct kvmbus_pkt_info pi;
	uint32_t v;

	assert_int_equal(tget(e, i, &pi), 0);
	assert_int_equal(pi.type, type);
	assert_int_equal(pi.data_len, sizeof(v));
	memcpy(&v, (uint8_t *)e->buf + pi.data_offset, sizeof(v));
	return v;
}

/* The guest sends @v with a completion request and rings. */
static void tput(struct tenv *e, unsigned int i, uint32_t v)
{
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.flags = KVMBUS_PKT_F_COMP_REQUESTED,
		.trans_id = ++e->gs[i].tid,
		.data = &v,
		.data_len = sizeof(v),
	};

	assert_int_equal(kvmbus_ring_put(&e->gs[i].out, &p), 0);
	if (kvmbus_ring_commit(&e->gs[i].out))
		chan_doorbell(&e->ch[i], 1);
}

static void tvsp_threaded(bool on)
{
	tvsp_ops.threaded = on;
	tvsp_open_fail = 0;
}

/* --- tests -------------------------------------------------------------------- */

/* Echo, fd watch and chan_wake() on a worker, then on the main loop. */
static void run_basic(bool threaded)
{
	struct tenv *e = tenv_new(4);
	struct chan *ch = &e->ch[0];
	uint64_t one = 1;
	uint32_t i;

	tvsp_threaded(threaded);
	__atomic_store_n(&tvsp_closed, 0, __ATOMIC_RELAXED);
	assert_int_equal(topen(e, 0, &tvsp_ops), 0);
	assert_int_equal(ch->worker != NULL, threaded);
	assert_int_equal(e->env.workers, threaded ? 1 : 0);

	for (i = 0; i < 100; i++) {
		tput(e, 0, i);
		assert_int_equal(tget_u32(e, 0, KVMBUS_PKT_COMP), i);
	}
	/* The watched eventfd: one callback, the count sent. */
	assert_int_equal(write(tv(ch)->efd, &one, sizeof(one)), sizeof(one));
	assert_int_equal(tget_u32(e, 0, KVMBUS_PKT_INBAND), TAG_FD + 1);
	/* chan_wake(): a pass, so flush() runs. */
	__atomic_store_n(&tv(ch)->wake_req, true, __ATOMIC_RELEASE);
	chan_wake(ch);
	assert_int_equal(tget_u32(e, 0, KVMBUS_PKT_INBAND), TAG_WAKE);
	if (!threaded)
		assert_true(__atomic_load_n(&e->kicks, __ATOMIC_RELAXED) > 0);

	chan_lock(ch);
	assert_int_equal(ch->stats.pkts_in, 100);
	assert_int_equal(ch->stats.pkts_out, 102);
	assert_int_equal(tv(ch)->fd_calls, 1);
	assert_int_equal(tv(ch)->other_thread, threaded);
	chan_unlock(ch);
	assert_true(__atomic_load_n(&e->signals, __ATOMIC_RELAXED) > 0);

	chan_close(ch);
	assert_null(ch->worker);
	assert_int_equal(e->env.workers, 0);
	assert_int_equal(tvsp_closed, 1);
	tenv_free(e);
}

static void test_threaded_basic(void **state)
{
	int fds = count_fds();

	(void)state;
	run_basic(true);
	assert_int_equal(count_fds(), fds);	/* epoll, wake, the VSP's */
}

static void test_main_loop_basic(void **state)
{
	int fds = count_fds();

	(void)state;
	run_basic(false);
	assert_int_equal(count_fds(), fds);
}

/* chan_wake() from many threads at once: every wake gets a pass. */
struct waker {
	struct chan *ch;
	unsigned int n;
};

static void *waker_main(void *arg)
{
	struct waker *w = arg;

	for (unsigned int i = 0; i < w->n; i++)
		chan_wake(w->ch);
	return NULL;
}

static void test_wake_from_threads(void **state)
{
	struct tenv *e = tenv_new(4);
	struct chan *ch = &e->ch[0];
	struct waker w = { .n = 1000 };
	pthread_t t[4];
	unsigned int i;

	(void)state;
	tvsp_threaded(true);
	assert_int_equal(topen(e, 0, &tvsp_ops), 0);
	w.ch = ch;
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, waker_main, &w), 0);
	/* Traffic meanwhile. */
	for (i = 0; i < 50; i++) {
		tput(e, 0, i);
		assert_int_equal(tget_u32(e, 0, KVMBUS_PKT_COMP), i);
	}
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	/* After the storm, one more wake with a request is answered. */
	__atomic_store_n(&tv(ch)->wake_req, true, __ATOMIC_RELEASE);
	chan_wake(ch);
	assert_int_equal(tget_u32(e, 0, KVMBUS_PKT_INBAND), TAG_WAKE);
	tenv_free(e);
}

/* At most max_workers threads; the rest run on the loop, all working. */
static void test_worker_bound(void **state)
{
	struct tenv *e = tenv_new(2);
	unsigned int i;

	(void)state;
	tvsp_threaded(true);
	for (i = 0; i < NCHAN; i++)
		assert_int_equal(topen(e, i, &tvsp_ops), 0);
	assert_int_equal(e->env.workers, 2);
	assert_int_equal(e->env.workers_started, 2);
	assert_int_equal(e->env.worker_fallbacks, 1);
	assert_non_null(e->ch[0].worker);
	assert_non_null(e->ch[1].worker);
	assert_null(e->ch[2].worker);
	for (i = 0; i < NCHAN; i++) {
		tput(e, i, 7 + i);
		assert_int_equal(tget_u32(e, i, KVMBUS_PKT_COMP), 7 + i);
	}
	/* A closed worker's slot goes to the next open. */
	chan_close(&e->ch[0]);
	chan_close(&e->ch[2]);
	assert_int_equal(topen(e, 2, &tvsp_ops), 0);
	assert_non_null(e->ch[2].worker);
	assert_int_equal(e->env.workers, 2);
	tenv_free(e);
}

/* --workers 0: a threaded class runs on the loop, by design. */
static void test_no_workers(void **state)
{
	struct tenv *e = tenv_new(0);

	(void)state;
	tvsp_threaded(true);
	assert_int_equal(topen(e, 0, &tvsp_ops), 0);
	assert_null(e->ch[0].worker);
	assert_int_equal(e->env.worker_fallbacks, 0);
	tput(e, 0, 3);
	assert_int_equal(tget_u32(e, 0, KVMBUS_PKT_COMP), 3);
	tenv_free(e);
}

/* A refused open takes its worker and its watches with it. */
static void test_open_refused(void **state)
{
	struct tenv *e = tenv_new(4);
	int fds = count_fds();

	(void)state;
	tvsp_threaded(true);
	tvsp_open_fail = EPERM;
	assert_int_equal(topen(e, 0, &tvsp_ops), -EPERM);
	assert_false(chan_in_use(&e->ch[0]));
	assert_null(e->ch[0].worker);
	assert_int_equal(e->env.workers, 0);
	assert_int_equal(e->g[0].users, 0);
	assert_int_equal(count_fds(), fds);
	tvsp_open_fail = 0;
	assert_int_equal(topen(e, 0, &tvsp_ops), 0);
	tenv_free(e);
}

/* Closing under traffic: the worker is joined, nothing leaks, and the
 * other channels never notice. */
static void test_close_under_load(void **state)
{
	struct tenv *e = tenv_new(4);
	unsigned int round, i;

	(void)state;
	tvsp_threaded(true);
	assert_int_equal(topen(e, 1, &tvsp_ops), 0);
	for (round = 0; round < 20; round++) {
		assert_int_equal(topen(e, 0, &tvsp_ops), 0);
		for (i = 0; i < 20; i++)
			tput(e, 0, i);		/* not waited for */
		chan_close(&e->ch[0]);
		assert_int_equal(e->env.workers, 1);
		tput(e, 1, round);
		assert_int_equal(tget_u32(e, 1, KVMBUS_PKT_COMP), round);
	}
	tenv_free(e);
}

/* A guest that breaks a threaded channel: broken there only; its fd
 * watches are dropped (a level-triggered fd cannot spin the worker). */
static void test_broken_threaded(void **state)
{
	struct tenv *e = tenv_new(4);
	struct chan *ch = &e->ch[0];
	uint64_t one = 1;
	unsigned int calls;

	(void)state;
	tvsp_threaded(true);
	assert_int_equal(topen(e, 0, &tvsp_ops), 0);
	assert_int_equal(topen(e, 1, &tvsp_ops), 0);
	e->gs[0].out.hdr->write_index = cpu_to_le32(13);
	chan_doorbell(ch, 1);
	for (int n = 0; n < 10000 && chan_state_get(ch) != CHAN_BROKEN; n++)
		usleep(1000);
	assert_int_equal(chan_state_get(ch), CHAN_BROKEN);
	assert_int_equal(__atomic_load_n(&e->env.broken, __ATOMIC_RELAXED), 1);
	chan_lock(ch);
	calls = tv(ch)->fd_calls;
	chan_unlock(ch);
	assert_int_equal(write(tv(ch)->efd, &one, sizeof(one)), sizeof(one));
	tput(e, 1, 99);
	assert_int_equal(tget_u32(e, 1, KVMBUS_PKT_COMP), 99);
	usleep(20000);
	chan_lock(ch);
	assert_int_equal(tv(ch)->fd_calls, calls);
	chan_unlock(ch);
	tenv_free(e);
}

/* The echo class is threaded; its passes on a worker answer as before. */
static void test_echo_threaded(void **state)
{
	struct tenv *e = tenv_new(4);
	struct chan *ch = &e->ch[0];
	struct kvmbus_pkt_info pi;
	uint32_t i;

	(void)state;
	assert_true(vsp_echo_ops.threaded);
	assert_int_equal(topen(e, 0, &vsp_echo_ops), 0);
	assert_non_null(ch->worker);
	for (i = 0; i < 200; i++) {
		tput(e, 0, i * 3);
		assert_int_equal(tget_u32(e, 0, KVMBUS_PKT_COMP), i * 3);
	}
	/* echo-send's locking: queued under the lock, sent by the worker. */
	chan_lock(ch);
	assert_int_equal(vsp_echo_send(ch, 500, 64), 0);
	chan_unlock(ch);
	chan_wake(ch);
	for (i = 0; i < 500; i++) {
		assert_int_equal(tget(e, 0, &pi), 0);
		assert_int_equal(pi.trans_id, i + 1);
		assert_int_equal(pi.data_len, 64);
	}
	tenv_free(e);
}

/* Watch limits and the main loop without a loop. */
static void test_watch_limits(void **state)
{
	struct tenv *e = tenv_new(0);
	struct chan *ch = &e->ch[0];
	int fds[CHAN_WATCH_MAX];
	unsigned int i;

	(void)state;
	assert_int_equal(topen(e, 0, &vsp_echo_ops), 0);
	for (i = 0; i < CHAN_WATCH_MAX; i++) {
		fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		assert_int_equal(chan_watch_fd(ch, fds[i], EPOLLIN, tvsp_fd), 0);
	}
	assert_int_equal(chan_watch_fd(ch, 0, EPOLLIN, tvsp_fd), -ENOSPC);
	assert_int_equal(chan_watch_fd(ch, -1, EPOLLIN, tvsp_fd), -EBADF);
	chan_unwatch_fd(ch, fds[3]);
	chan_unwatch_fd(ch, 12345);		/* unknown: ignored */
	assert_int_equal(chan_watch_fd(ch, fds[3], EPOLLIN, tvsp_fd), 0);
	chan_close(ch);				/* drops all eight */
	e->env.loop = NULL;
	assert_int_equal(topen(e, 0, &vsp_echo_ops), 0);
	assert_int_equal(chan_watch_fd(ch, fds[0], EPOLLIN, tvsp_fd),
			 -ENOTSUP);
	for (i = 0; i < CHAN_WATCH_MAX; i++)
		close(fds[i]);
	tenv_free(e);
}

/* The hostile host (kvmbusd --test): each framing mode breaks the
 * guest's reader and the host's channel; unknown_tid breaks nothing. */
/* --- doorbells lent to workers ---------------------------------------------- */

/* The test's stand-in for ivshmem: one doorbell eventfd, vector 1. */
static int tdb_fd = -1;
static bool tdb_lent;
static uint64_t tdb_count;		/* atomic */
static unsigned int tdb_returns;

static int tdb_lend(void *opaque, struct chan *ch, bool want,
		    uint64_t **count)
{
	struct tenv *e = opaque;
	bool alone = true;
	int fd;

	/* What ctl_vector_alone() does: every channel here is on vector 1. */
	for (unsigned int i = 0; i < NCHAN; i++) {
		if (&e->ch[i] == ch || !chan_in_use(&e->ch[i]))
			continue;
		chan_doorbell_share(&e->ch[i]);
		alone = false;
	}
	if (!alone || !want || tdb_lent)
		return -EBUSY;
	fd = dup(tdb_fd);
	assert_true(fd >= 0);
	tdb_lent = true;
	*count = &tdb_count;
	return fd;
}

static void tdb_return(void *opaque, struct chan *ch)
{
	(void)opaque;
	(void)ch;
	assert_true(tdb_lent);
	tdb_lent = false;
	tdb_returns++;
}

/* The guest rings: the lent eventfd, or chan_doorbell() when not lent. */
static void tdb_ring(struct tenv *e, unsigned int i)
{
	uint64_t one = 1;

	if (tdb_lent)
		assert_int_equal(write(tdb_fd, &one, sizeof(one)), sizeof(one));
	else
		chan_doorbell(&e->ch[i], 1);
}

static void tput_db(struct tenv *e, unsigned int i, uint32_t v)
{
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.flags = KVMBUS_PKT_F_COMP_REQUESTED,
		.trans_id = ++e->gs[i].tid,
		.data = &v,
		.data_len = sizeof(v),
	};

	assert_int_equal(kvmbus_ring_put(&e->gs[i].out, &p), 0);
	if (kvmbus_ring_commit(&e->gs[i].out))
		tdb_ring(e, i);
}

/*
 * A threaded channel alone on its vector reads the doorbell itself and
 * counts it twice (vector, channel); a second channel on the vector takes
 * it back; close gives it back; no fd is left behind.
 */
static void test_doorbell_lent(void **state)
{
	int fds = count_fds();
	struct tenv *e;
	uint64_t n;
	uint32_t i;

	(void)state;
	tdb_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(tdb_fd >= 0);
	tdb_lent = false;
	tdb_count = 0;
	tdb_returns = 0;
	e = tenv_new(4);
	e->env.doorbell_lend = tdb_lend;
	e->env.doorbell_return = tdb_return;
	tvsp_threaded(true);
	assert_int_equal(topen(e, 0, &tvsp_ops), 0);
	assert_true(tdb_lent);
	for (i = 0; i < 100; i++) {
		tput_db(e, 0, i);
		assert_int_equal(tget_u32(e, 0, KVMBUS_PKT_COMP), i);
	}
	n = __atomic_load_n(&tdb_count, __ATOMIC_RELAXED);
	assert_true(n > 0 && n <= 100);
	chan_lock(&e->ch[0]);
	assert_int_equal(e->ch[0].stats.doorbells, n);
	chan_unlock(&e->ch[0]);

	/* A main-loop channel on the same vector: shared from now on. */
	tvsp_ops.threaded = false;
	assert_int_equal(topen(e, 1, &tvsp_ops), 0);
	assert_false(tdb_lent);
	assert_int_equal(tdb_returns, 1);
	for (i = 0; i < 20; i++) {
		tput_db(e, 0, i);
		assert_int_equal(tget_u32(e, 0, KVMBUS_PKT_COMP), i);
		tput_db(e, 1, i);
		assert_int_equal(tget_u32(e, 1, KVMBUS_PKT_COMP), i);
	}
	chan_close(&e->ch[1]);
	chan_close(&e->ch[0]);
	assert_int_equal(tdb_returns, 1);

	/* Lent again on a fresh open, given back by close. */
	tvsp_ops.threaded = true;
	assert_int_equal(topen(e, 0, &tvsp_ops), 0);
	assert_true(tdb_lent);
	tput_db(e, 0, 7);
	assert_int_equal(tget_u32(e, 0, KVMBUS_PKT_COMP), 7);
	chan_close(&e->ch[0]);
	assert_false(tdb_lent);
	assert_int_equal(tdb_returns, 2);
	tenv_free(e);
	close(tdb_fd);
	tdb_fd = -1;
	assert_int_equal(count_fds(), fds);
}

static void test_evil_echo(void **state)
{
	static const char *const modes[] = {
		"wr_unaligned", "wr_past", "len_past", "bad_offset",
		"bad_type", "bad_trailer",
	};
	struct tenv *e = tenv_new(4);
	struct kvmbus_pkt_info pi;
	struct chan *ch = &e->ch[0];
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		assert_int_equal(topen(e, 0, &vsp_echo_ops), 0);
		tput(e, 0, i);
		assert_int_equal(tget_u32(e, 0, KVMBUS_PKT_COMP), i);
		chan_lock(ch);
		assert_int_equal(evil_echo(ch, modes[i]), 0);
		assert_int_equal(ch->state, CHAN_BROKEN);
		assert_int_equal(evil_echo(ch, modes[i]), -ENOTCONN);
		chan_unlock(ch);
		assert_int_equal(kvmbus_ring_get(&e->gs[0].in, e->buf,
						 sizeof(e->buf), &pi), -EIO);
		chan_close(ch);
	}
	assert_int_equal(topen(e, 0, &vsp_echo_ops), 0);
	chan_lock(ch);
	assert_int_equal(evil_echo(ch, "nonsense"), -EINVAL);
	assert_int_equal(evil_echo(ch, "unknown_tid"), 0);
	chan_unlock(ch);
	assert_int_equal(tget(e, 0, &pi), 0);
	assert_int_equal(pi.type, KVMBUS_PKT_COMP);
	assert_int_equal(pi.trans_id, 0xdeadbeef00ull);
	assert_int_equal(chan_state_get(ch), CHAN_OPEN);
	tput(e, 0, 77);
	assert_int_equal(tget_u32(e, 0, KVMBUS_PKT_COMP), 77);
	tenv_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threaded_basic),
		cmocka_unit_test(test_main_loop_basic),
		cmocka_unit_test(test_wake_from_threads),
		cmocka_unit_test(test_worker_bound),
		cmocka_unit_test(test_no_workers),
		cmocka_unit_test(test_open_refused),
		cmocka_unit_test(test_close_under_load),
		cmocka_unit_test(test_broken_threaded),
		cmocka_unit_test(test_echo_threaded),
		cmocka_unit_test(test_watch_limits),
		cmocka_unit_test(test_evil_echo),
		cmocka_unit_test(test_doorbell_lent),
	};

	return cmocka_run_group_tests_name("worker", tests, NULL, NULL);
}
