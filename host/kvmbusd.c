// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbusd: the host end of the kvmbus bus, one process per VM.
 *
 * One epoll loop owns everything: the ivshmem server QEMU connects to,
 * the BAR2 memfd, the mapping of guest RAM, the control plane (mailbox
 * handshake, control ring, devices, GPADLs), the channels and their
 * VSPs, the control socket and the signals.
 * All state lives in struct kvmbusd on main()'s stack.
 */
#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "bar.h"
#include "control.h"
#include "ctl.h"
#include "ctl_json.h"
#include "evil.h"
#include "guestmem.h"
#include "ivshmem.h"
#include "log.h"
#include "loop.h"
#include "opts.h"
#include "params.h"
#include "state.h"
#include "supervise.h"

#define EXIT_STARTUP	2	/* bad option, missing file, ... */

struct kvmbusd {
	struct opts opts;
	char *socket_path;		/* absolute */
	char *control_path;		/* absolute, or NULL */
	struct loop loop;
	struct guestmem gm;
	struct bar bar;
	struct ivshmem iv;
	struct control ctl;		/* the JSON control socket */
	struct ctl plane;		/* the guest's control plane */
	struct loop_src sig_src;
	int sig_fd;
	/* Written when a control-ring or channel pass ran out of budget:
	 * the loop comes back to it after serving everything else once. */
	struct loop_src kick_src;
	int kick_fd;
	struct ratelimit rl_guest;	/* guest-triggered messages */
	bool supervised;	/* a child of kvmbusd --supervise */
	/* Supervised: the device table, kept across restarts (state.h);
	 * not saved while @restoring it. */
	struct state state;
	bool restoring;
};

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

static void on_client_up(void *opaque)
{
	struct kvmbusd *d = opaque;

	/* A new QEMU is a new guest: fresh mailbox, next generation. */
	bar_reset(&d->bar);
	ctl_disconnect(&d->plane);
	if (!guestmem_same_file(&d->gm, d->opts.ram_path))
		log_warn("%s is no longer the file kvmbusd mapped at start-up: restart kvmbusd with the new RAM file",
			 d->opts.ram_path);
}

static void on_client_down(void *opaque)
{
	struct kvmbusd *d = opaque;

	/* The guest is gone with its rings: devices stay configured. */
	ctl_disconnect(&d->plane);
	log_info("doorbells served: %llu on vector 0, guest ranges refused: %llu",
		 (unsigned long long)__atomic_load_n(&d->iv.stats.doorbells[0],
						     __ATOMIC_RELAXED),
		 (unsigned long long)d->gm.stats.rejected);
}

static void kick(struct kvmbusd *d)
{
	static const uint64_t one = 1;

	/* EAGAIN: a kick is already pending, which is all we need. */
	if (write(d->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_rl(&d->rl_guest, LOG_ERR, "cannot schedule control work: %s",
		       strerror(errno));
}

/* chan_env.kick: chan_wake() of a main-loop channel, from any thread. */
static void kick_any_thread(void *opaque)
{
	struct kvmbusd *d = opaque;
	static const uint64_t one = 1;

	ssize_t n = write(d->kick_fd, &one, sizeof(one));

	(void)n;	/* fails only with EAGAIN: a kick is pending already */
}

static void on_kick(struct loop_src *src, uint32_t events)
{
	struct kvmbusd *d = container_of(src, struct kvmbusd, kick_src);
	uint64_t n;
	bool more;

	(void)events;
	if (read(d->kick_fd, &n, sizeof(n)) != sizeof(n))
		return;		/* a stale event */
	more = ctl_poll(&d->plane, CTL_BUDGET);
	more |= ctl_chans_poll(&d->plane);
	if (more)
		kick(d);
}

/* Raise a vector in the guest: vector 0 for the control plane, a
 * channel's own for the channel. */
static int ctl_signal_guest(void *opaque, unsigned int vector)
{
	struct kvmbusd *d = opaque;

	return ivshmem_notify(&d->iv, vector);
}

/* ctl_ops.changed: save the device table for a restarted kvmbusd. */
static void devices_changed(void *opaque)
{
	struct kvmbusd *d = opaque;
	struct json_object *t;
	int ret;

	if (d->state.fd < 0 || d->restoring)
		return;
	t = state_from_devices(&d->plane.devs);
	ret = t ? state_save(&d->state, t) : -ENOMEM;
	json_object_put(t);
	if (ret)
		log_err("cannot save the device table for a restart: %s",
			strerror(-ret));
}

static const struct ctl_ops kvmbusd_ctl_ops = {
	.signal = ctl_signal_guest,
	.changed = devices_changed,
};

static void on_doorbell(void *opaque, unsigned int vector, uint64_t count)
{
	struct kvmbusd *d = opaque;
	bool more;

	if (vector == KVMBUS_CTL_VECTOR)
		/* An OPEN leaves its channel waiting for a first pass. */
		more = ctl_doorbell(&d->plane) || ctl_work_pending(&d->plane);
	else
		/* Every channel on the vector: counted there, and by
		 * ivshmem per vector. */
		more = ctl_chan_doorbell(&d->plane, vector, count);
	if (more)
		kick(d);
}

/*
 * chan_env.doorbell_lend: a channel worker alone on its vector reads the
 * vector's doorbell eventfd itself, one thread hop less per request.
 */
static int lend_doorbell(void *opaque, struct chan *ch, bool want,
			 uint64_t **count)
{
	struct kvmbusd *d = opaque;

	if (!ctl_vector_alone(&d->plane, ch) || !want)
		return -EBUSY;
	return ivshmem_doorbell_lend(&d->iv, ch->vector, count);
}

static void return_doorbell(void *opaque, struct chan *ch)
{
	struct kvmbusd *d = opaque;

	ivshmem_doorbell_return(&d->iv, ch->vector);
}

static const struct ivshmem_ops kvmbusd_ivshmem_ops = {
	.client_up = on_client_up,
	.client_down = on_client_down,
	.doorbell = on_doorbell,
};

static struct json_object *json_u64(uint64_t v)
{
	return json_object_new_uint64(v);
}

static void status_qemu(struct kvmbusd *d, struct json_object *resp)
{
	struct json_object *q = json_object_new_object();
	struct json_object *db = json_object_new_object();
	unsigned int i;
	char key[16];

	json_object_object_add(q, "connected",
			       json_object_new_boolean(ivshmem_connected(&d->iv)));
	json_object_object_add(q, "setup_done",
			       json_object_new_boolean(ivshmem_setup_done(&d->iv)));
	json_object_object_add(q, "pid", json_object_new_int(
		ivshmem_connected(&d->iv) ? d->iv.client.pid : 0));
	json_object_object_add(q, "connects", json_u64(d->iv.stats.connects));
	json_object_object_add(q, "disconnects",
			       json_u64(d->iv.stats.disconnects));
	json_object_object_add(q, "refused", json_u64(d->iv.stats.refused));
	json_object_object_add(q, "bad_clients",
			       json_u64(d->iv.stats.bad_clients));
	pthread_mutex_lock(&d->iv.irq_lock);
	json_object_object_add(q, "notifies", json_u64(d->iv.stats.notifies));
	pthread_mutex_unlock(&d->iv.irq_lock);
	for (i = 0; i < d->iv.vectors; i++) {
		/* A lent vector is counted by its channel's worker. */
		uint64_t n = __atomic_load_n(&d->iv.stats.doorbells[i],
					     __ATOMIC_RELAXED);

		if (!n)
			continue;
		snprintf(key, sizeof(key), "%u", i);
		json_object_object_add(db, key, json_u64(n));
	}
	json_object_object_add(q, "doorbells", db);
	json_object_object_add(resp, "qemu", q);
}

static void status_mem(struct kvmbusd *d, struct json_object *resp)
{
	struct json_object *ram = json_object_new_object();
	struct json_object *bar = json_object_new_object();
	const struct guestmem_stats *st = &d->gm.stats;

	json_object_object_add(ram, "path",
			       json_object_new_string(d->opts.ram_path));
	json_object_object_add(ram, "size", json_u64(d->gm.layout.ram_size));
	json_object_object_add(ram, "low_size",
			       json_u64(d->gm.layout.low_size));
	json_object_object_add(ram, "high_size",
			       json_u64(d->gm.layout.high_size));
	json_object_object_add(ram, "rejected", json_u64(
		__atomic_load_n(&st->rejected, __ATOMIC_RELAXED)));
	json_object_object_add(resp, "ram", ram);

	json_object_object_add(bar, "size", json_u64(d->bar.size));
	json_object_object_add(bar, "vectors", json_u64(d->bar.nr_vectors));
	json_object_object_add(bar, "generation",
			       json_u64(d->bar.generation));
	json_object_object_add(resp, "bar", bar);
}

static int control_cmd(void *opaque, const char *cmd,
		       struct json_object *req, struct json_object *resp)
{
	struct kvmbusd *d = opaque;

	if (!strcmp(cmd, "status")) {
		json_object_object_add(resp, "pid",
				       json_object_new_int((int)getpid()));
		json_object_object_add(resp, "supervised",
				       json_object_new_boolean(d->supervised));
		status_qemu(d, resp);
		status_mem(d, resp);
		ctl_status_json(&d->plane, resp);
		return 0;
	}
	if (!strcmp(cmd, "devices"))
		return ctl_cmd_devices(&d->plane, req, resp);
	if (!strcmp(cmd, "device-add"))
		return ctl_cmd_device_add(&d->plane, req, resp);
	if (!strcmp(cmd, "device-remove"))
		return ctl_cmd_device_remove(&d->plane, req, resp);
	if (!strcmp(cmd, "device-set"))
		return ctl_cmd_device_set(&d->plane, req, resp);
	if (!strcmp(cmd, "echo-send") || !strcmp(cmd, "balloon")) {
		int ret = cmd[0] == 'e' ?
			  ctl_cmd_echo_send(&d->plane, req, resp) :
			  ctl_cmd_balloon(&d->plane, req, resp);

		if (ctl_work_pending(&d->plane))
			kick(d);
		return ret;
	}
	if (!strcmp(cmd, "evil-offer") || !strcmp(cmd, "echo-evil") ||
	    !strcmp(cmd, "evil-drop")) {
		if (!d->opts.test)
			return control_fail(resp, -EPERM,
					    "%s breaks the guest on purpose: only with kvmbusd --test",
					    cmd);
		if (!strcmp(cmd, "evil-drop"))
			return evil_cmd_drop(&d->plane, req, resp);
		return cmd[0] == 'e' && cmd[1] == 'v' ?
		       evil_cmd_offer(&d->plane, req, resp) :
		       evil_cmd_echo(&d->plane, req, resp);
	}
	if (!strcmp(cmd, "notify")) {	/* raise an MSI-X vector: debugging */
		struct json_object *v;
		int64_t vector;

		if (!json_object_object_get_ex(req, "vector", &v) ||
		    !json_object_is_type(v, json_type_int))
			return -EINVAL;
		vector = json_object_get_int64(v);
		if (vector < 0 || vector >= (int64_t)d->iv.vectors)
			return -EINVAL;
		return ivshmem_notify(&d->iv, (unsigned int)vector);
	}
	if (!strcmp(cmd, "version")) {
		json_object_object_add(resp, "version_min",
				       json_u64(KVMBUS_VERSION_MIN));
		json_object_object_add(resp, "version_max",
				       json_u64(KVMBUS_VERSION_MAX));
		return 0;
	}
	return -ENOENT;
}

static void on_signal(struct loop_src *src, uint32_t events)
{
	struct kvmbusd *d = container_of(src, struct kvmbusd, sig_src);
	struct signalfd_siginfo si;

	(void)events;
	while (read(d->sig_fd, &si, sizeof(si)) == sizeof(si)) {
		log_info("signal %u: shutting down", si.ssi_signo);
		d->loop.stop = true;
	}
}

/*
 * Called again in the daemon child: a signalfd that is in an epoll set
 * keeps waking only for the process that registered it, so the child
 * needs its own.
 */
static int signals_init(struct kvmbusd *d)
{
	sigset_t set;

	if (d->sig_fd >= 0) {
		loop_del(&d->loop, d->sig_fd);
		close(d->sig_fd);
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	d->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sig_fd < 0)
		return -errno;
	d->sig_src.fn = on_signal;
	return loop_add(&d->loop, d->sig_fd, EPOLLIN, &d->sig_src);
}

/* Socket paths must survive the daemon's chdir("/"). */
static char *abs_path(const char *path)
{
	char cwd[PATH_MAX];
	char *out;

	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (asprintf(&out, "%s/%s", cwd, path) < 0)
		return NULL;
	return out;
}

static int ram_setup(struct kvmbusd *d)
{
	const struct opts *o = &d->opts;
	struct guestmem_layout layout;
	uint64_t file_size, ram_size;
	int ret;

	ret = guestmem_file_size(o->ram_path, &file_size);
	if (ret)
		return ret;
	ram_size = o->ram_size ? o->ram_size : file_size;
	if (!ram_size) {
		log_err("guest RAM file %s is empty: give it the guest's RAM size (truncate -s) or pass --ram-size",
			o->ram_path);
		return -EINVAL;
	}
	if (o->low_size)
		ret = guestmem_layout_fixed(ram_size, o->low_size, &layout);
	else
		ret = guestmem_layout(o->machine, ram_size, o->max_below_4g,
				      &layout);
	if (ret) {
		log_err("no valid RAM layout for %llu bytes of RAM",
			(unsigned long long)ram_size);
		return ret;
	}
	return guestmem_open(&d->gm, o->ram_path, &layout);
}

static void kvmbusd_init(struct kvmbusd *d)
{
	memset(d, 0, sizeof(*d));
	d->loop.epfd = -1;
	d->sig_fd = -1;
	d->kick_fd = -1;
	d->gm.fd = -1;
	d->bar.fd = -1;
	d->iv.listener.fd = -1;
	d->iv.client.fd = -1;
	d->ctl.listener.fd = -1;
	d->state.fd = -1;
	ratelimit_init(&d->rl_guest, 5000, 10);
}

static int kick_init(struct kvmbusd *d)
{
	d->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->kick_fd < 0)
		return -errno;
	d->kick_src.fn = on_kick;
	return loop_add(&d->loop, d->kick_fd, EPOLLIN, &d->kick_src);
}

static void restore_failed(uint32_t id, const char *why)
{
	log_err("device %u not restored: %s", id, why);
}

/*
 * A restarted child: the devices its predecessor had, from the state the
 * supervisor holds.  Return: 1 when they were restored (--device is not
 * looked at), 0 when there is nothing to restore, or -errno.
 */
static int devices_restore(struct kvmbusd *d)
{
	struct json_object *t;
	const char *why = "?";
	int ret, err;

	t = state_load(&d->state, &err, &why);
	if (!t) {
		if (err)
			log_err("device table of the last kvmbusd: %s; starting from --device",
				err == -EINVAL ? why : strerror(-err));
		return 0;
	}
	d->restoring = true;
	ret = state_restore(&d->plane, t, restore_failed);
	d->restoring = false;
	json_object_put(t);
	if (ret < 0) {
		log_err("device table of the last kvmbusd is malformed; starting from --device");
		return 0;
	}
	log_info("%d device(s) restored from the last kvmbusd", ret);
	devices_changed(d);
	return 1;
}

/* The control plane, and the devices of --device (or of the state). */
static int devices_setup(struct kvmbusd *d)
{
	const struct opts *o = &d->opts;
	struct device *dev;
	unsigned int i;
	int ret;

	ctl_init(&d->plane, &d->bar, &d->gm, o->vectors, &kvmbusd_ctl_ops, d);
	/* Channels: fd watches of main-loop channels on our loop, their
	 * wakes through the kick eventfd, workers up to --workers. */
	d->plane.chan_env.loop = &d->loop;
	d->plane.chan_env.kick = kick_any_thread;
	d->plane.chan_env.max_workers = o->workers;
	d->plane.chan_env.doorbell_lend = lend_doorbell;
	d->plane.chan_env.doorbell_return = return_doorbell;
	d->plane.test = o->test;	/* fault injection (scsi stall=1) */
	ret = devices_restore(d);
	if (ret)
		return ret < 0 ? ret : 0;
	d->restoring = true;
	for (i = 0; i < o->nr_devices; i++) {
		struct json_object *params;
		char err[256];

		params = params_from_list(o->device_params[i] ?
					  o->device_params[i] : "",
					  err, sizeof(err));
		ret = params ? ctl_device_add_params(&d->plane, o->devices[i],
						     params, err, sizeof(err),
						     &dev) : -EINVAL;
		json_object_put(params);
		if (ret) {
			log_err("--device %s: %s", o->devices[i]->name,
				err[0] ? err : strerror(-ret));
			return ret;
		}
		log_info("device %u: %s, relid %u, vector %u", dev->id,
			 dev->cls->name, dev->relid, dev->vector);
	}
	/* Saved once, whole: a child killed half-way through --device
	 * leaves an empty table, and its successor starts from --device. */
	d->restoring = false;
	devices_changed(d);
	return 0;
}

/* A supervised child: the device table its supervisor holds (state.h). */
static int adopt_state(struct kvmbusd *d)
{
	const char *env = getenv(STATE_ENV);
	char *end;
	long fd;
	int ret;

	if (!env)
		return 0;	/* an older supervisor: --device only */
	errno = 0;
	fd = strtol(env, &end, 10);
	if (errno || end == env || *end || fd <= 2 || fd > INT_MAX) {
		log_err("%s: not a file descriptor", STATE_ENV);
		return -EINVAL;
	}
	if (fcntl((int)fd, F_SETFD, FD_CLOEXEC) < 0) {
		log_err("%s: fd %ld not open", STATE_ENV, fd);
		return -EBADF;
	}
	unsetenv(STATE_ENV);
	ret = state_adopt(&d->state, (int)fd);
	if (ret)
		log_err("%s: not a kvmbusd state: %s", STATE_ENV,
			strerror(-ret));
	return ret;
}

/*
 * A supervised child: take the BAR2 memfd and the eventfds the parent
 * holds (supervise.h) from the environment, checked before use.
 */
static int adopt_fds(struct kvmbusd *d, int *bar_fd, int *db, int *irq)
{
	const char *env = getenv(SUPERVISE_ENV);
	const char *why = NULL;
	unsigned int i;
	int ret;

	if (supervise_fds_parse(env, d->opts.vectors, bar_fd, db, irq, &why)) {
		log_err("%s: %s (does --vectors match the supervisor's?)",
			SUPERVISE_ENV, why);
		return -EINVAL;
	}
	for (i = 0; i < d->opts.vectors; i++) {
		if (fcntl(db[i], F_SETFD, FD_CLOEXEC) < 0 ||
		    fcntl(irq[i], F_SETFD, FD_CLOEXEC) < 0) {
			log_err("%s: fd of vector %u not open", SUPERVISE_ENV, i);
			return -EBADF;
		}
	}
	if (fcntl(*bar_fd, F_SETFD, FD_CLOEXEC) < 0)
		return -EBADF;
	unsetenv(SUPERVISE_ENV);
	ret = adopt_state(d);
	if (ret)
		return ret;
	return bar_adopt(&d->bar, *bar_fd, d->opts.vectors);
}

/* Return: 0, or the exit code to leave with. */
static int kvmbusd_setup(struct kvmbusd *d)
{
	int db[KVMBUS_MAX_VECTORS], irq[KVMBUS_MAX_VECTORS];
	const struct opts *o = &d->opts;
	int ret, bar_fd = -1;

	d->socket_path = abs_path(o->socket_path);
	d->control_path = o->control_path ? abs_path(o->control_path) : NULL;
	if (!d->socket_path || (o->control_path && !d->control_path)) {
		log_err("cannot resolve socket paths: %s", strerror(errno));
		return EXIT_STARTUP;
	}
	if (ram_setup(d))
		return EXIT_STARTUP;
	if (d->supervised) {
		if (adopt_fds(d, &bar_fd, db, irq))
			return EXIT_STARTUP;
	} else if (bar_create(&d->bar, o->bar_size, o->vectors)) {
		return EXIT_STARTUP;
	}

	ret = loop_init(&d->loop);
	if (!ret)
		ret = signals_init(d);
	if (!ret)
		ret = kick_init(d);
	if (ret) {
		log_err("event loop: %s", strerror(-ret));
		return EXIT_FAILURE;
	}
	if (devices_setup(d))
		return EXIT_STARTUP;
	if (d->supervised) {
		/* The guest may be connected already: answer only a CONNECT
		 * newer than the one our predecessor took. */
		ctl_adopt(&d->plane);
		if (ivshmem_adopt(&d->iv, &d->loop, o->vectors, db, irq,
				  &kvmbusd_ivshmem_ops, d))
			return EXIT_STARTUP;
		(void)bar_fd;
	} else if (ivshmem_init(&d->iv, &d->loop, d->socket_path, o->vectors,
				d->bar.fd, &kvmbusd_ivshmem_ops, d)) {
		return EXIT_STARTUP;
	}
	if (control_init(&d->ctl, &d->loop, d->control_path, control_cmd, d))
		return EXIT_STARTUP;

	log_info("listening on %s: %u vectors, BAR2 %u KiB; guest RAM %s: %llu MiB, %llu MiB at GPA 0, %llu MiB at GPA 4 GiB",
		 d->socket_path, o->vectors, d->bar.size >> 10, o->ram_path,
		 (unsigned long long)(d->gm.layout.ram_size >> 20),
		 (unsigned long long)(d->gm.layout.low_size >> 20),
		 (unsigned long long)(d->gm.layout.high_size >> 20));
	if (d->control_path)
		log_info("control socket %s", d->control_path);
	return 0;
}

static void kvmbusd_teardown(struct kvmbusd *d)
{
	control_fini(&d->ctl);
	ctl_fini(&d->plane);
	ivshmem_fini(&d->iv);
	if (d->kick_fd >= 0)
		close(d->kick_fd);
	if (d->sig_fd >= 0)
		close(d->sig_fd);
	loop_fini(&d->loop);
	bar_destroy(&d->bar);
	state_close(&d->state);
	guestmem_close(&d->gm);
	free(d->socket_path);
	free(d->control_path);
}

int main(int argc, char **argv)
{
	struct kvmbusd d;
	int level, ret;

	kvmbusd_init(&d);
	if (opts_parse(&d.opts, argc, argv))
		return EXIT_STARTUP;
	if (d.opts.help) {
		opts_usage(stdout, argv[0]);
		return 0;
	}
	level = d.opts.verbose ? LOG_DEBUG : LOG_INFO;
	d.supervised = getenv(SUPERVISE_ENV) != NULL;
	/* A daemonised supervisor's child has no terminal: syslog. */
	log_init("kvmbusd", d.supervised && !d.opts.foreground ?
		 LOG_TO_SYSLOG : LOG_TO_STDERR, level);
	if (d.opts.supervise && !d.supervised)
		return supervise_run(&d.opts, argv);

	ret = kvmbusd_setup(&d);
	if (!ret && !d.opts.foreground && !d.supervised &&
	    (kvmbusd_daemonize(level) || signals_init(&d))) {
		log_err("cannot become a daemon: %s", strerror(errno));
		ret = EXIT_FAILURE;
	}
	if (!ret)
		ret = loop_run(&d.loop) ? EXIT_FAILURE : 0;
	kvmbusd_teardown(&d);
	return ret;
}
