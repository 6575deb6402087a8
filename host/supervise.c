// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbusd --supervise: hold what QEMU got once, run kvmbusd as a child,
 * restart it when it dies (see supervise.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bar.h"
#include "ivshmem.h"
#include "log.h"
#include "loop.h"
#include "state.h"
#include "supervise.h"

int supervise_fds_format(char *buf, size_t len, int bar_fd,
			 unsigned int vectors, const int *db, const int *irq)
{
	size_t off = 0;
	unsigned int i;
	int n;

	n = snprintf(buf, len, "%d", bar_fd);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	off = (size_t)n;
	for (i = 0; i < 2 * vectors; i++) {
		n = snprintf(buf + off, len - off, ",%d",
			     i < vectors ? db[i] : irq[i - vectors]);
		if (n < 0 || (size_t)n >= len - off)
			return -ENOSPC;
		off += (size_t)n;
	}
	return 0;
}

/* One fd number: decimal, 3..INT_MAX; *s moves past it. */
static int parse_fd(const char **s, int *fd)
{
	const char *p = *s;
	long v = 0;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (*p++ - '0');
		if (v > 0x7fffffff)
			return -EINVAL;
	}
	if (v < 3)
		return -EINVAL;
	*fd = (int)v;
	*s = p;
	return 0;
}

int supervise_fds_parse(const char *s, unsigned int vectors, int *bar_fd,
			int *db, int *irq, const char **why)
{
	unsigned int i, j, total = 1 + 2 * vectors;
	int fds[1 + 2 * KVMBUS_MAX_VECTORS];

	if (!vectors || vectors > KVMBUS_MAX_VECTORS) {
		*why = "vectors out of range";
		return -EINVAL;
	}
	for (i = 0; i < total; i++) {
		if (i && *s++ != ',') {
			*why = "fewer fds than 1 + 2 * vectors";
			return -EINVAL;
		}
		if (parse_fd(&s, &fds[i])) {
			*why = "not an fd number above 2";
			return -EINVAL;
		}
		for (j = 0; j < i; j++) {
			if (fds[j] == fds[i]) {
				*why = "an fd given twice";
				return -EINVAL;
			}
		}
	}
	if (*s) {
		*why = "more fds than 1 + 2 * vectors";
		return -EINVAL;
	}
	*bar_fd = fds[0];
	for (i = 0; i < vectors; i++) {
		db[i] = fds[1 + i];
		irq[i] = fds[1 + vectors + i];
	}
	return 0;
}

void restart_limit_init(struct restart_limit *rl, unsigned int max,
			uint64_t window_ms, uint64_t delay_min_ms)
{
	memset(rl, 0, sizeof(*rl));
	rl->max = max > SUPERVISE_RESTART_MAX_LIMIT ?
		  SUPERVISE_RESTART_MAX_LIMIT : max;
	rl->window_ms = window_ms;
	rl->delay_min_ms = delay_min_ms;
}

bool restart_limit_take(struct restart_limit *rl, uint64_t now_ms,
			uint64_t *delay_ms)
{
	uint64_t cap = rl->delay_min_ms > SUPERVISE_DELAY_MAX_MS ?
		       rl->delay_min_ms : SUPERVISE_DELAY_MAX_MS;
	uint64_t delay = rl->delay_min_ms;
	unsigned int i, recent = 0;

	/* rl->when[] holds the last min(n, max) restarts. */
	for (i = 0; i < rl->n && i < rl->max; i++)
		if (now_ms - rl->when[i] < rl->window_ms)
			recent++;
	if (recent >= rl->max)
		return false;
	for (i = 0; i < recent && delay < cap; i++)
		delay *= 2;
	if (delay > cap)
		delay = cap;
	rl->when[rl->n % rl->max] = now_ms;
	rl->n++;
	*delay_ms = delay;
	return true;
}

int kvmbusd_daemonize(int log_level)
{
	pid_t pid;
	int fd;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0);	/* the sockets are listening: QEMU may start */
	if (setsid() < 0 || chdir("/") < 0)
		return -errno;
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
	log_init("kvmbusd", LOG_TO_SYSLOG, log_level);
	return 0;
}

struct supervisor {
	const struct opts *opts;
	char **argv;
	char *socket_path;	/* absolute, when --socket was not */
	struct loop loop;
	struct bar bar;
	struct ivshmem iv;
	struct loop_src sig_src;
	int sig_fd;
	struct loop_src timer_src;
	int timer_fd;
	int cwd_fd;		/* the child starts where we were started */
	pid_t child;		/* 0: none running */
	bool stopping;		/* SIGTERM: forwarded, leave when it exits */
	bool fresh;		/* the child is stopped for a new QEMU */
	bool gave_up;		/* the restart limit was hit */
	struct restart_limit rl;
	uint64_t restarts;
	struct state state;	/* the children's device table */
};

#define sv_of(ptr, member) \
	((struct supervisor *)((char *)(ptr) - offsetof(struct supervisor, member)))

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* In the forked child: make the held fds inheritable and exec. */
static void sv_exec_child(struct supervisor *sv, const char *env)
{
	unsigned int i;
	sigset_t none;

	fcntl(sv->bar.fd, F_SETFD, 0);
	if (sv->state.fd >= 0) {
		char buf[16];

		fcntl(sv->state.fd, F_SETFD, 0);
		snprintf(buf, sizeof(buf), "%d", sv->state.fd);
		if (setenv(STATE_ENV, buf, 1) < 0)
			_exit(127);
	}
	for (i = 0; i < sv->iv.vectors; i++) {
		fcntl(sv->iv.vec[i].doorbell_fd, F_SETFD, 0);
		fcntl(sv->iv.vec[i].irq_fd, F_SETFD, 0);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (sv->cwd_fd >= 0 && fchdir(sv->cwd_fd) < 0)
		_exit(127);
	if (setenv(SUPERVISE_ENV, env, 1) == 0)
		execv("/proc/self/exe", sv->argv);
	/* log.c may be syslog or stderr: both are fine after fork. */
	log_err("cannot start kvmbusd: %s", strerror(errno));
	_exit(127);
}

static int sv_start_child(struct supervisor *sv)
{
	int db[KVMBUS_MAX_VECTORS], irq[KVMBUS_MAX_VECTORS];
	unsigned int i;
	char *env;
	size_t len;
	pid_t pid;

	len = 12 * (1 + 2 * (size_t)sv->iv.vectors) + 1;
	env = malloc(len);
	if (!env)
		return -ENOMEM;
	for (i = 0; i < sv->iv.vectors; i++) {
		db[i] = sv->iv.vec[i].doorbell_fd;
		irq[i] = sv->iv.vec[i].irq_fd;
	}
	if (supervise_fds_format(env, len, sv->bar.fd, sv->iv.vectors, db,
				 irq)) {
		free(env);
		return -ENOSPC;
	}
	pid = fork();
	if (pid < 0) {
		free(env);
		return -errno;
	}
	if (!pid)
		sv_exec_child(sv, env);
	free(env);
	sv->child = pid;
	log_info("supervisor: kvmbusd child %d started", (int)pid);
	return 0;
}

static void sv_arm_restart(struct supervisor *sv, uint64_t delay_ms)
{
	struct itimerspec its = {
		.it_value.tv_sec = (time_t)(delay_ms / 1000),
		.it_value.tv_nsec = (long)(delay_ms % 1000) * 1000000,
	};

	if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
		its.it_value.tv_nsec = 1;
	timerfd_settime(sv->timer_fd, 0, &its, NULL);
}

static void sv_on_timer(struct loop_src *src, uint32_t events)
{
	struct supervisor *sv = sv_of(src, timer_src);
	uint64_t n;
	int ret;

	(void)events;
	if (read(sv->timer_fd, &n, sizeof(n)) != sizeof(n))
		return;
	if (sv->child || sv->stopping)
		return;
	ret = sv_start_child(sv);
	if (ret) {
		log_err("supervisor: cannot start kvmbusd: %s; retrying",
			strerror(-ret));
		sv_arm_restart(sv, SUPERVISE_DELAY_MAX_MS);
	}
}

static void sv_child_exited(struct supervisor *sv, int status)
{
	uint64_t delay;

	if (WIFSIGNALED(status))
		log_warn("supervisor: kvmbusd child %d killed by signal %d",
			 (int)sv->child, WTERMSIG(status));
	else
		log_info("supervisor: kvmbusd child %d exited with status %d",
			 (int)sv->child, WEXITSTATUS(status));
	sv->child = 0;
	if (sv->stopping) {
		sv->loop.stop = true;
		return;
	}
	if (sv->fresh) {
		/* Stopped on purpose for a new QEMU: the BAR is fresh. */
		sv->fresh = false;
		sv_arm_restart(sv, 0);
		return;
	}
	/* Tell the guest its host is gone: every channel is dead. */
	bar_host_gone(&sv->bar);
	ivshmem_notify(&sv->iv, KVMBUS_CTL_VECTOR);
	if (!restart_limit_take(&sv->rl, now_ms(), &delay)) {
		log_err("supervisor: kvmbusd died %u times within %llu s: giving up",
			sv->rl.max,
			(unsigned long long)(sv->rl.window_ms / 1000));
		sv->gave_up = true;
		sv->loop.stop = true;
		return;
	}
	sv->restarts++;
	log_info("supervisor: restart %llu of kvmbusd in %llu ms (host generation %u)",
		 (unsigned long long)sv->restarts, (unsigned long long)delay,
		 sv->bar.generation);
	sv_arm_restart(sv, delay);
}

static void sv_on_signal(struct loop_src *src, uint32_t events)
{
	struct supervisor *sv = sv_of(src, sig_src);
	struct signalfd_siginfo si;
	int status;
	pid_t pid;

	(void)events;
	while (read(sv->sig_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			continue;
		log_info("supervisor: signal %u: stopping kvmbusd",
			 si.ssi_signo);
		sv->stopping = true;
		if (sv->child)
			kill(sv->child, SIGTERM);
		else
			sv->loop.stop = true;
	}
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		if (pid == sv->child)
			sv_child_exited(sv, status);
}

static void sv_client_up(void *opaque)
{
	struct supervisor *sv = opaque;

	/* A new QEMU is a new guest: fresh mailbox, and a child that
	 * knows nothing of the last one. */
	bar_reset(&sv->bar);
	if (sv->iv.stats.connects > 1 && sv->child) {
		sv->fresh = true;
		kill(sv->child, SIGTERM);
	}
}

static const struct ivshmem_ops sv_ivshmem_ops = {
	.client_up = sv_client_up,
};

static int sv_signals(struct supervisor *sv)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	if (sv->sig_fd >= 0) {
		loop_del(&sv->loop, sv->sig_fd);
		close(sv->sig_fd);
	}
	sv->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sv->sig_fd < 0)
		return -errno;
	sv->sig_src.fn = sv_on_signal;
	return loop_add(&sv->loop, sv->sig_fd, EPOLLIN, &sv->sig_src);
}

static int sv_setup(struct supervisor *sv)
{
	const struct opts *o = sv->opts;
	int ret;

	if (bar_create(&sv->bar, o->bar_size, o->vectors))
		return -EINVAL;
	ret = state_create(&sv->state);
	if (ret) {
		log_err("supervisor: no memfd for the device table: %s",
			strerror(-ret));
		return ret;
	}
	ret = loop_init(&sv->loop);
	if (!ret)
		ret = sv_signals(sv);
	if (ret)
		return ret;
	sv->timer_fd = timerfd_create(CLOCK_MONOTONIC,
				      TFD_NONBLOCK | TFD_CLOEXEC);
	if (sv->timer_fd < 0)
		return -errno;
	sv->timer_src.fn = sv_on_timer;
	ret = loop_add(&sv->loop, sv->timer_fd, EPOLLIN, &sv->timer_src);
	if (ret)
		return ret;
	sv->cwd_fd = open(".", O_PATH | O_CLOEXEC);
	if (o->socket_path[0] != '/') {
		char cwd[4096];

		if (!getcwd(cwd, sizeof(cwd)) ||
		    asprintf(&sv->socket_path, "%s/%s", cwd, o->socket_path) < 0)
			return -ENOMEM;
	}
	ret = ivshmem_init(&sv->iv, &sv->loop,
			   sv->socket_path ? sv->socket_path : o->socket_path,
			   o->vectors,
			   sv->bar.fd, &sv_ivshmem_ops, sv);
	if (ret)
		return ret;
	return ivshmem_hold_vectors(&sv->iv);
}

int supervise_run(const struct opts *o, char **argv)
{
	struct supervisor sv;
	int level = o->verbose ? LOG_DEBUG : LOG_INFO;
	int ret;

	memset(&sv, 0, sizeof(sv));
	sv.opts = o;
	sv.argv = argv;
	sv.sig_fd = -1;
	sv.timer_fd = -1;
	sv.cwd_fd = -1;
	sv.loop.epfd = -1;
	sv.bar.fd = -1;
	sv.state.fd = -1;
	restart_limit_init(&sv.rl, o->restart_max,
			   (uint64_t)o->restart_window * 1000, o->restart_delay);

	ret = sv_setup(&sv);
	if (ret) {
		ret = 2;
		goto out;
	}
	if (!o->foreground &&
	    (kvmbusd_daemonize(level) || sv_signals(&sv))) {
		log_err("cannot become a daemon: %s", strerror(errno));
		ret = EXIT_FAILURE;
		goto out;
	}
	log_info("supervisor: listening on %s, %u vectors; restarts at most %u in %u s",
		 o->socket_path, o->vectors, sv.rl.max, o->restart_window);
	ret = sv_start_child(&sv);
	if (ret) {
		log_err("cannot start kvmbusd: %s", strerror(-ret));
		ret = EXIT_FAILURE;
		goto out;
	}
	ret = loop_run(&sv.loop) || sv.gave_up ? EXIT_FAILURE : 0;
out:
	if (sv.child) {
		kill(sv.child, SIGTERM);
		waitpid(sv.child, NULL, 0);
	}
	ivshmem_fini(&sv.iv);
	if (sv.timer_fd >= 0)
		close(sv.timer_fd);
	if (sv.sig_fd >= 0)
		close(sv.sig_fd);
	loop_fini(&sv.loop);
	bar_destroy(&sv.bar);
	state_close(&sv.state);
	if (sv.cwd_fd >= 0)
		close(sv.cwd_fd);
	free(sv.socket_path);
	return ret;
}
