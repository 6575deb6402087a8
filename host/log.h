/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kvmbusd logging: stderr in the foreground, syslog as a daemon, and a
 * rate limiter for every message the guest (or any peer) can trigger.
 *
 * The log configuration is written once by log_init() before the event
 * loop starts and only read afterwards.  Rate-limit state is not global:
 * each owner embeds a struct ratelimit next to the thing it guards.
 */
#ifndef KVMBUSD_LOG_H
#define KVMBUSD_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

enum log_dest {
	LOG_TO_STDERR,
	LOG_TO_SYSLOG,
};

void log_init(const char *ident, enum log_dest dest, int max_level);
bool log_enabled(int level);
void log_msg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)

/*
 * At most @burst messages per @interval_ns; the rest are counted and
 * reported as "N suppressed" when the next window opens.
 */
struct ratelimit {
	uint64_t interval_ns;
	uint32_t burst;
	uint64_t begin_ns;
	uint32_t printed;
	uint64_t missed;
};

#define RATELIMIT_INIT(interval_ms, burst_)				\
	{ .interval_ns = (uint64_t)(interval_ms) * 1000000u, .burst = (burst_) }

void ratelimit_init(struct ratelimit *rl, uint32_t interval_ms,
		    uint32_t burst);
/* Returns true if a message may be printed now; @suppressed gets the
 * count dropped in the window that just closed (0 usually). */
bool ratelimit_allow(struct ratelimit *rl, uint64_t now_ns,
		     uint64_t *suppressed);
uint64_t log_now_ns(void);

/* A message the guest can cause: printed at most at @rl's rate. */
#define log_rl(rl, level, fmt, ...)					\
	do {								\
		uint64_t __sup;						\
		if (log_enabled(level) &&				\
		    ratelimit_allow((rl), log_now_ns(), &__sup)) {	\
			if (__sup)					\
				log_msg(level, "%llu similar messages " \
					"suppressed",			\
					(unsigned long long)__sup);	\
			log_msg(level, fmt, ##__VA_ARGS__);		\
		}							\
	} while (0)

#endif /* KVMBUSD_LOG_H */
