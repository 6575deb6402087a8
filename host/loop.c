// SPDX-License-Identifier: GPL-2.0-only
/*
 * The kvmbusd event loop.
 */
#include <errno.h>
#include <sys/epoll.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

#define LOOP_BATCH	64

int loop_init(struct loop *loop)
{
	loop->stop = false;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		return -errno;
	return 0;
}

void loop_fini(struct loop *loop)
{
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->epfd = -1;
}

static int loop_ctl(struct loop *loop, int op, int fd, uint32_t events,
		    struct loop_src *src)
{
	struct epoll_event ev = { .events = events, .data.ptr = src };

	if (epoll_ctl(loop->epfd, op, fd, &ev) < 0)
		return -errno;
	return 0;
}

int loop_add(struct loop *loop, int fd, uint32_t events,
	     struct loop_src *src)
{
	return loop_ctl(loop, EPOLL_CTL_ADD, fd, events, src);
}

int loop_mod(struct loop *loop, int fd, uint32_t events,
	     struct loop_src *src)
{
	return loop_ctl(loop, EPOLL_CTL_MOD, fd, events, src);
}

void loop_del(struct loop *loop, int fd)
{
	/*
	 * Explicit: an fd that was passed to QEMU shares its open file
	 * description, which would keep a closed fd's registration alive.
	 */
	if (fd >= 0)
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
}

int loop_run_once(struct loop *loop, int timeout_ms)
{
	struct epoll_event evs[LOOP_BATCH];
	int i, n;

	n = epoll_wait(loop->epfd, evs, LOOP_BATCH, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < n; i++) {
		struct loop_src *src = evs[i].data.ptr;

		src->fn(src, evs[i].events);
	}
	return n;
}

int loop_run(struct loop *loop)
{
	int ret;

	while (!loop->stop) {
		ret = loop_run_once(loop, -1);
		if (ret < 0) {
			log_err("epoll_wait: %s", strerror(-ret));
			return ret;
		}
	}
	return 0;
}
