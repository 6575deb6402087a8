/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kvmbusd --supervise: a small parent that owns what QEMU's ivshmem device
 * was given once (the server socket, the BAR2 memfd, both eventfds of
 * every vector) and runs the real kvmbusd as a child, restarting it when
 * it dies.  QEMU never renegotiates with a new server, so these must
 * outlive any one kvmbusd (docs/design.md, "Backend restart").
 *
 * The child is the same binary with the same arguments; it finds the
 * descriptors in the environment variable SUPERVISE_ENV:
 *
 *	BAR,DB0,...,DBn-1,IRQ0,...,IRQn-1
 *
 * (decimal fd numbers; n = --vectors; DB: what the guest's doorbell
 * writes, IRQ: what raises MSI-X in the guest).
 */
#ifndef KVMBUSD_SUPERVISE_H
#define KVMBUSD_SUPERVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "opts.h"

#define SUPERVISE_ENV		"KVMBUSD_FDS"

/* --restart-max default and limit, --restart-window default (seconds). */
#define SUPERVISE_RESTART_MAX		5
#define SUPERVISE_RESTART_MAX_LIMIT	64
#define SUPERVISE_RESTART_WINDOW	60
#define SUPERVISE_DELAY_MIN_MS		100
#define SUPERVISE_DELAY_MAX_MS		5000

/*
 * supervise_fds_format() - write SUPERVISE_ENV's value
 * Return: 0, or -ENOSPC when @len is too small.
 */
int supervise_fds_format(char *buf, size_t len, int bar_fd,
			 unsigned int vectors, const int *db, const int *irq);

/*
 * supervise_fds_parse() - read SUPERVISE_ENV's value
 * @vectors: --vectors of this kvmbusd: exactly 1 + 2 * @vectors fds
 * @db, @irq: @vectors entries each
 *
 * Every fd must be a decimal number above 2 (never stdio), and no fd may
 * appear twice.  Nothing is checked against the open files: the caller
 * does that when it maps and watches them.
 * Return: 0, or -EINVAL (with @why set to a short reason).
 */
int supervise_fds_parse(const char *s, unsigned int vectors, int *bar_fd,
			int *db, int *irq, const char **why);

/*
 * The restart limit: at most @max restarts within @window_ms.  Each
 * restart is recorded; the delay before one doubles with every restart
 * still inside the window, from --restart-delay (default
 * SUPERVISE_DELAY_MIN_MS) up to SUPERVISE_DELAY_MAX_MS (or --restart-delay
 * if that is longer).
 */
struct restart_limit {
	unsigned int max;
	uint64_t window_ms;
	uint64_t delay_min_ms;	/* the first delay; doubles up to max(it, _MAX_MS) */
	uint64_t when[SUPERVISE_RESTART_MAX_LIMIT];	/* ring of restarts */
	unsigned int n;					/* recorded */
};

void restart_limit_init(struct restart_limit *rl, unsigned int max,
			uint64_t window_ms, uint64_t delay_min_ms);

/*
 * restart_limit_take() - may the child be started again at @now_ms?
 * @delay_ms: set to how long to wait first
 *
 * Return: true (and the restart is recorded), or false: the limit is hit.
 */
bool restart_limit_take(struct restart_limit *rl, uint64_t now_ms,
			uint64_t *delay_ms);

/*
 * supervise_run() - be the supervising parent (kvmbusd --supervise)
 * @argv: this process's, handed to the child unchanged
 *
 * Return: the exit code.
 */
int supervise_run(const struct opts *o, char **argv);

/* Detach from the terminal (kvmbusd without --foreground). */
int kvmbusd_daemonize(int log_level);

#endif /* KVMBUSD_SUPERVISE_H */
