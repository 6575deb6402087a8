// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbusd logging and rate limiting.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* Written once by log_init() before the event loop runs; read-only after. */
static struct {
	const char *ident;
	enum log_dest dest;
	int max_level;
} log_cfg = { "kvmbusd", LOG_TO_STDERR, LOG_INFO };

void log_init(const char *ident, enum log_dest dest, int max_level)
{
	log_cfg.ident = ident;
	log_cfg.dest = dest;
	log_cfg.max_level = max_level;
	if (dest == LOG_TO_SYSLOG)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

bool log_enabled(int level)
{
	return level <= log_cfg.max_level;
}

static const char *level_name(int level)
{
	switch (level) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE:
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

void log_msg(int level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);

	if (log_cfg.dest == LOG_TO_SYSLOG)
		syslog(level, "%s", buf);
	else
		fprintf(stderr, "%s: %s: %s\n", log_cfg.ident,
			level_name(level), buf);
}

uint64_t log_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void ratelimit_init(struct ratelimit *rl, uint32_t interval_ms,
		    uint32_t burst)
{
	memset(rl, 0, sizeof(*rl));
	rl->interval_ns = (uint64_t)interval_ms * 1000000u;
	rl->burst = burst;
}

/*
 * One lock for every limiter: a limiter may be shared by channels that
 * run on different threads (chan_env.rl), and the lock is taken only on
 * the way to a message the guest caused, never on the data path proper.
 */
static pthread_mutex_t ratelimit_lock = PTHREAD_MUTEX_INITIALIZER;

static bool ratelimit_allow_locked(struct ratelimit *rl, uint64_t now_ns,
				   uint64_t *suppressed)
{
	*suppressed = 0;
	if (!rl->interval_ns)
		return true;
	if (!rl->begin_ns || now_ns - rl->begin_ns >= rl->interval_ns) {
		*suppressed = rl->missed;
		rl->begin_ns = now_ns ? now_ns : 1;
		rl->printed = 0;
		rl->missed = 0;
	}
	if (rl->printed < rl->burst) {
		rl->printed++;
		return true;
	}
	rl->missed++;
	return false;
}

bool ratelimit_allow(struct ratelimit *rl, uint64_t now_ns,
		     uint64_t *suppressed)
{
	bool ok;

	pthread_mutex_lock(&ratelimit_lock);
	ok = ratelimit_allow_locked(rl, now_ns, suppressed);
	pthread_mutex_unlock(&ratelimit_lock);
	return ok;
}
