/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The kvmbusd event loop: one epoll instance, sources embedded in the
 * objects that own them.
 *
 * A handler may close and re-create sources, including its own.  epoll
 * can still report an event for a source closed earlier in the same
 * batch, so every handler must treat an event as a hint: use
 * non-blocking I/O, check that its fd is still open (>= 0) and take
 * EAGAIN as "nothing to do".  Sources are embedded in long-lived
 * structures, never freed while the loop runs, so a stale event never
 * touches freed memory.
 */
#ifndef KVMBUSD_LOOP_H
#define KVMBUSD_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop_src;
typedef void loop_fn(struct loop_src *src, uint32_t events);

struct loop_src {
	loop_fn *fn;
};

struct loop {
	int epfd;
	bool stop;
};

int loop_init(struct loop *loop);
void loop_fini(struct loop *loop);
int loop_add(struct loop *loop, int fd, uint32_t events,
	     struct loop_src *src);
int loop_mod(struct loop *loop, int fd, uint32_t events,
	     struct loop_src *src);
void loop_del(struct loop *loop, int fd);
/* Wait up to @timeout_ms (-1: forever) and dispatch one batch.
 * Return: number of events dispatched, or -errno. */
int loop_run_once(struct loop *loop, int timeout_ms);
/* Dispatch until loop->stop is set.  Return: 0 or -errno. */
int loop_run(struct loop *loop);

#endif /* KVMBUSD_LOOP_H */
