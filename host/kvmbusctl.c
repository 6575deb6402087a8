// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbusctl: a small command line over kvmbusd's JSON control socket.
 *
 *	kvmbusctl -s SOCK [--json] status | devices |
 *		add CLASS [KEY=VALUE...] | set ID KEY=VALUE... | remove ID |
 *		echo-send ID COUNT SIZE [SUB] | balloon ID [TARGET]
 *	kvmbusctl balance --budget SIZE [...] SOCKET...
 *
 * Exit status: 0 done, 1 kvmbusd refused the command, 2 usage or
 * connection problem (no socket, no answer, an answer that is not JSON).
 */
#include <errno.h>
#include <getopt.h>
#include <json.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "params.h"
#include "balance.h"
#include "parse.h"

#define EXIT_REFUSED	1
#define EXIT_USAGE	2
#define REPLY_MAX	(1u << 20)

struct ctlopts {
	const char *socket;
	bool json;
	unsigned int timeout_s;
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage: kvmbusctl -s SOCKET [--json] COMMAND\n"
"\n"
"Talks to kvmbusd's control socket (kvmbusd --control SOCKET).\n"
"\n"
"Commands:\n"
"  status          QEMU, guest connection, control-plane counters, RAM, BAR2\n"
"  devices         the devices kvmbusd offers: id, class, relid, vector,\n"
"                  state (offered / releasing), instance id, and under each\n"
"                  its channels (primary and sub-channels) with counters\n"
"  add CLASS [KEY=VALUE...]\n"
"                  add a device (CLASS: echo, balloon) with the class's parameters\n"
"                  (echo: subchannels=0..63); offered to the guest at once\n"
"  set ID KEY=VALUE...\n"
"                  change device ID at run time (what the class allows)\n"
"  remove ID       remove device ID; a device the guest knows is rescinded\n"
"                  and stays 'releasing' until the guest lets go of it\n"
"  echo-send ID COUNT SIZE [SUB]\n"
"                  echo device ID sends COUNT packets of SIZE bytes to the\n"
"                  guest on its open channel, or sub-channel SUB (trans_id\n"
"                  1, 2, ...; payload\n"
"                  byte i = (trans_id + i) & 0xff), as the ring has room\n"
"  balance --budget SIZE [--headroom PCT] [--min SIZE] [--interval SECS]\n"
"          [--rounds N] SOCKET...\n"
"                  share SIZE of memory between the balloon devices of the\n"
"                  kvmbusd control SOCKETs (one VM each): every guest gets\n"
"                  what it uses plus PCT (default 20) headroom, at least\n"
"                  --min (default 128M), the rest in proportion; every\n"
"                  SECS (default 2) for N rounds (default 0: until killed)\n"
"  balloon ID [TARGET | deflate GPA SIZE]\n"
"                  balloon device ID: set the memory the guest should keep\n"
"                  (TARGET: bytes, K/M/G suffixes; guest RAM or more empties\n"
"                  the balloon) and show the balloon and the guest's report;\n"
"                  deflate: the guest takes back its ballooned pages in\n"
"                  [GPA, GPA+SIZE) (the target follows)\n"
"  evil-offer MODE [ID], echo-evil ID MODE, evil-drop MODE [SKIP]\n"
"                  a hostile host, for guest tests (kvmbusd --test only):\n"
"                  see host/evil.h for the modes\n"
"\n"
"Options:\n"
"  -s, --socket PATH   the control socket (or $KVMBUS_CONTROL)\n"
"  -j, --json          print kvmbusd's JSON reply as it is\n"
"  -t, --timeout SECS  wait at most SECS for the reply (default 10)\n"
"  -h, --help          this text\n"
"\n"
"Exit status: 0 done, 1 kvmbusd refused the command, 2 usage or connection error.\n");
}

static int die_usage(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static int die_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kvmbusctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see kvmbusctl --help)\n");
	return EXIT_USAGE;
}

/* --- talking to kvmbusd -------------------------------------------- */

static int ctl_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "kvmbusctl: socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "kvmbusctl: socket: %s\n", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = errno;
		fprintf(stderr, "kvmbusctl: cannot connect to %s: %s%s\n", path,
			strerror(err),
			err == ENOENT || err == ECONNREFUSED ?
			" (is kvmbusd running with --control on this path?)" :
			"");
		close(fd);
		return -1;
	}
	return fd;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Send one request line, read one reply line.  Return: malloc()ed reply
 * without its newline, or NULL (reported). */
static char *ctl_call(const struct ctlopts *o, const char *req)
{
	uint64_t deadline = now_ms() + (uint64_t)o->timeout_s * 1000;
	size_t len = 0, cap = 4096;
	char *buf = NULL, *nl;
	struct pollfd pfd;
	ssize_t n;
	int fd, left;

	fd = ctl_connect(o->socket);
	if (fd < 0)
		return NULL;
	n = send(fd, req, strlen(req), MSG_NOSIGNAL);
	if (n != (ssize_t)strlen(req)) {
		fprintf(stderr, "kvmbusctl: cannot send to %s: %s\n", o->socket,
			n < 0 ? strerror(errno) : "short write");
		goto err;
	}
	buf = malloc(cap);
	if (!buf)
		goto err_nomem;
	for (;;) {
		uint64_t t = now_ms();

		if (t >= deadline) {
			fprintf(stderr, "kvmbusctl: no reply from kvmbusd within %u s\n",
				o->timeout_s);
			goto err;
		}
		left = (int)(deadline - t);
		pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, left) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "kvmbusctl: poll: %s\n", strerror(errno));
			goto err;
		}
		if (!pfd.revents)
			continue;
		if (len + 1 >= cap) {
			char *nb;

			if (cap >= REPLY_MAX) {
				fprintf(stderr, "kvmbusctl: reply larger than %u bytes\n",
					REPLY_MAX);
				goto err;
			}
			nb = realloc(buf, cap * 2);
			if (!nb)
				goto err_nomem;
			buf = nb;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "kvmbusctl: kvmbusd closed the connection without a reply%s%s\n",
				n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
			goto err;
		}
		len += (size_t)n;
		buf[len] = 0;
		nl = strchr(buf, '\n');
		if (nl) {
			*nl = 0;
			close(fd);
			return buf;
		}
	}

err_nomem:
	fprintf(stderr, "kvmbusctl: out of memory\n");
err:
	free(buf);
	close(fd);
	return NULL;
}

/* --- human output --------------------------------------------------- */

static struct json_object *get(struct json_object *o, const char *path)
{
	char key[64];
	const char *dot;
	size_t n;

	while (o && (dot = strchr(path, '.'))) {
		n = (size_t)(dot - path);
		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = 0;
		if (!json_object_object_get_ex(o, key, &o))
			return NULL;
		path = dot + 1;
	}
	if (!o || !json_object_object_get_ex(o, path, &o))
		return NULL;
	return o;
}

static const char *gets(struct json_object *o, const char *path)
{
	struct json_object *v = get(o, path);

	return v ? json_object_get_string(v) : "?";
}

static unsigned long long getu(struct json_object *o, const char *path)
{
	struct json_object *v = get(o, path);

	return v ? (unsigned long long)json_object_get_uint64(v) : 0;
}

static bool getb(struct json_object *o, const char *path)
{
	struct json_object *v = get(o, path);

	return v && json_object_get_boolean(v);
}

/* One line per open channel. */
static void print_channels(struct json_object *list)
{
	size_t i, n = list ? json_object_array_length(list) : 0;
	struct json_object *ch;

	for (i = 0; i < n; i++) {
		ch = json_object_array_get_idx(list, i);
		printf("  relid %llu: %s, GPADL %llu; %llu packets in, %llu out (%llu completions); %llu doorbells, %llu signals; %llu malformed, %llu ring-full waits\n",
		       getu(ch, "relid"), gets(ch, "state"), getu(ch, "gpadl"),
		       getu(ch, "counters.packets_in"),
		       getu(ch, "counters.packets_out"),
		       getu(ch, "counters.completions"),
		       getu(ch, "counters.doorbells"),
		       getu(ch, "counters.signals"),
		       getu(ch, "counters.malformed"),
		       getu(ch, "counters.ring_full"));
		if (!strcmp(gets(ch, "state"), "broken"))
			printf("    broken: %s\n", gets(ch, "broken_reason"));
	}
}

static void print_status(struct json_object *r)
{
	const char *state = gets(r, "ctl.state");

	printf("kvmbusd:  pid %llu\n", getu(r, "pid"));
	if (getb(r, "qemu.connected"))
		printf("QEMU:     connected (pid %llu)%s; %llu connects, %llu disconnects\n",
		       getu(r, "qemu.pid"),
		       getb(r, "qemu.setup_done") ? ", set up" : ", setting up",
		       getu(r, "qemu.connects"), getu(r, "qemu.disconnects"));
	else
		printf("QEMU:     not connected; %llu connects, %llu disconnects\n",
		       getu(r, "qemu.connects"), getu(r, "qemu.disconnects"));

	printf("guest:    %s", state);
	if (strcmp(state, "idle")) {
		printf(", generation %llu, control rings %llu pages at GPA 0x%llx",
		       getu(r, "ctl.generation"), getu(r, "mailbox.ring_pages"),
		       getu(r, "mailbox.ctl_gpa"));
		if (getu(r, "ctl.version"))
			printf(", protocol %s", gets(r, "ctl.version_str"));
		else
			printf(", no protocol version yet");
		if (getb(r, "ctl.offers_requested"))
			printf(", offers requested");
	} else if (!strcmp(gets(r, "ctl.host_state"), "error")) {
		printf(" (refused generation %llu: error %llu)",
		       getu(r, "ctl.acked_generation"),
		       getu(r, "ctl.host_error"));
	}
	printf("\n");
	if (!strcmp(state, "broken"))
		printf("          broken: %s\n", gets(r, "ctl.broken_reason"));
	printf("devices:  %llu of %llu\n", getu(r, "ctl.devices"),
	       getu(r, "ctl.max_devices"));
	printf("channels: %llu open, %llu broken; %llu GPADLs of %llu pages; %llu opens, %llu refused, %llu closes\n",
	       getu(r, "ctl.channels_open"), getu(r, "ctl.channels_broken"),
	       getu(r, "ctl.gpadls"), getu(r, "ctl.gpadl_pages"),
	       getu(r, "ctl.counters.opens"),
	       getu(r, "ctl.counters.open_failed"),
	       getu(r, "ctl.counters.closes"));
	print_channels(get(r, "ctl.channels"));
	printf("control:  %llu packets in, %llu out; %llu malformed, %llu unsupported, %llu unexpected; %llu signals\n",
	       getu(r, "ctl.counters.packets_in"),
	       getu(r, "ctl.counters.packets_out"),
	       getu(r, "ctl.counters.malformed"),
	       getu(r, "ctl.counters.unsupported"),
	       getu(r, "ctl.counters.unexpected"),
	       getu(r, "ctl.counters.signals"));
	printf("mailbox:  %llu connects, %llu reconnects, %llu refused, %llu resets, %llu broken\n",
	       getu(r, "ctl.counters.connects"),
	       getu(r, "ctl.counters.reconnects"),
	       getu(r, "ctl.counters.refused"), getu(r, "ctl.counters.resets"),
	       getu(r, "ctl.counters.broken"));
	printf("RAM:      %s, %llu MiB (%llu MiB at 0, %llu MiB at 4 GiB); %llu ranges refused\n",
	       gets(r, "ram.path"), getu(r, "ram.size") >> 20,
	       getu(r, "ram.low_size") >> 20, getu(r, "ram.high_size") >> 20,
	       getu(r, "ram.rejected"));
	printf("BAR2:     %llu KiB, %llu vectors, generation %llu\n",
	       getu(r, "bar.size") >> 10, getu(r, "bar.vectors"),
	       getu(r, "bar.generation"));
}

static void print_device_line(struct json_object *d)
{
	printf("%-4llu %-7s %-6llu %-7llu %-10s %-8s %s\n", getu(d, "id"),
	       gets(d, "class"), getu(d, "relid"), getu(d, "vector"),
	       gets(d, "state"), gets(d, "channel.state"),
	       gets(d, "instance"));
}

/* One line per channel of the device, indented under it. */
static void print_device_chans(struct json_object *d)
{
	struct json_object *list = get(d, "channels"), *ch;
	size_t i, n = list ? json_object_array_length(list) : 0;

	for (i = 0; i < n; i++) {
		ch = json_object_array_get_idx(list, i);
		printf("     sub %-3llu relid %-4llu vector %-4llu %-7s in %llu pkts %llu B, out %llu pkts %llu B, %llu doorbells, %llu signals, %llu malformed\n",
		       getu(ch, "sub_index"), getu(ch, "relid"),
		       getu(ch, "vector"), gets(ch, "state"),
		       getu(ch, "counters.packets_in"),
		       getu(ch, "counters.bytes_in"),
		       getu(ch, "counters.packets_out"),
		       getu(ch, "counters.bytes_out"),
		       getu(ch, "counters.doorbells"),
		       getu(ch, "counters.signals"),
		       getu(ch, "counters.malformed"));
	}
}

static void print_devices(struct json_object *r)
{
	struct json_object *list = get(r, "devices");
	size_t i, n = list ? json_object_array_length(list) : 0;

	if (!n) {
		printf("no devices\n");
		return;
	}
	printf("%-4s %-7s %-6s %-7s %-10s %-8s %s\n", "ID", "CLASS", "RELID",
	       "VECTOR", "STATE", "CHANNEL", "INSTANCE");
	for (i = 0; i < n; i++) {
		print_device_line(json_object_array_get_idx(list, i));
		print_device_chans(json_object_array_get_idx(list, i));
	}
}

static void print_set(struct json_object *r)
{
	printf("device %llu changed\n", getu(get(r, "device"), "id"));
}

/*
 * The request's "cmd" and the device id @arg, which must be 1..UINT32_MAX.
 * Return: 0, or -1 (reported).
 */
static int add_cmd_id(struct json_object *req, const char *cmd,
		      const char *arg)
{
	uint64_t id;

	if (parse_uint(arg, 1, UINT32_MAX, &id)) {
		die_usage("device id '%s' is not a number from 1 up", arg);
		return -1;
	}
	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	json_object_object_add(req, "id", json_object_new_int64((int64_t)id));
	return 0;
}

/* argv[0..argc-1] as "params" of @req.  Return: 0, or -1 (reported). */
static int add_params(struct json_object *req, int argc, char **argv)
{
	struct json_object *p = json_object_new_object();
	char err[256];
	int i;

	for (i = 0; i < argc; i++) {
		if (params_add_kv(p, argv[i], strlen(argv[i]), err,
				  sizeof(err))) {
			json_object_put(p);
			die_usage("%s", err);
			return -1;
		}
	}
	json_object_object_add(req, "params", p);
	return 0;
}

static void print_added(struct json_object *r)
{
	struct json_object *d = get(r, "device");

	printf("device %llu added: %s, relid %llu, vector %llu, instance %s%s\n",
	       getu(d, "id"), gets(d, "class"), getu(d, "relid"),
	       getu(d, "vector"), gets(d, "instance"),
	       getb(d, "offer_sent") ? "; offered to the guest" : "");
}

static void print_removed(struct json_object *r)
{
	struct json_object *d = get(r, "device");

	if (!strcmp(gets(d, "state"), "releasing"))
		printf("device %llu rescinded: releasing until the guest releases relid %llu\n",
		       getu(d, "id"), getu(d, "relid"));
	else
		printf("device %llu removed\n", getu(d, "id"));
}

static void print_echo_send(struct json_object *r)
{
	unsigned long long count = getu(r, "count");
	unsigned long long pending = getu(r, "pending");

	printf("device %llu (relid %llu): sending %llu packets of %llu bytes: %llu in the ring, %llu waiting for room\n",
	       getu(r, "device"), getu(r, "relid"), count, getu(r, "size"),
	       count - pending, pending);
}

static void print_balloon(struct json_object *r)
{
	const unsigned long long mib = 1ull << 20;

	printf("device %llu (relid %llu): guest RAM %llu MiB, target %llu MiB, balloon %llu MiB (wanted %llu MiB), request %s\n",
	       getu(r, "device"), getu(r, "relid"), getu(r, "balloon.ram") / mib,
	       getu(r, "balloon.target") / mib,
	       getu(r, "balloon.balloon") / mib,
	       getu(r, "balloon.balloon_target") / mib,
	       gets(r, "balloon.request"));
	if (get(r, "balloon.guest"))
		printf("guest:    total %llu MiB, free %llu MiB, available %llu MiB, committed %llu MiB, cache %llu MiB, swap free %llu MiB, floor %llu MiB\n",
		       getu(r, "balloon.guest.total") / mib,
		       getu(r, "balloon.guest.free") / mib,
		       getu(r, "balloon.guest.available") / mib,
		       getu(r, "balloon.guest.committed") / mib,
		       getu(r, "balloon.guest.page_cache") / mib,
		       getu(r, "balloon.guest.swap_free") / mib,
		       getu(r, "balloon.guest.floor") / mib);
	else
		printf("guest:    no report yet\n");
	printf("counters: inflated %llu, deflated %llu (under pressure %llu), reported %llu pages; punched %llu MiB; rejected %llu, malformed %llu\n",
	       getu(r, "balloon.counters.inflated_pages"),
	       getu(r, "balloon.counters.deflated_pages"),
	       getu(r, "balloon.counters.pressure_pages"),
	       getu(r, "balloon.counters.reported_pages"),
	       getu(r, "balloon.counters.punched_bytes") / mib,
	       getu(r, "balloon.counters.rejected"),
	       getu(r, "balloon.counters.malformed"));
	if (get(r, "balloon.deflate_range"))
		printf("deflate range: GPA %#llx size %llu MiB: %s, %llu KiB returned\n",
		       getu(r, "balloon.deflate_range.gpa"),
		       getu(r, "balloon.deflate_range.size") / mib,
		       gets(r, "balloon.deflate_range.state"),
		       getu(r, "balloon.deflate_range.returned") >> 10);
}

static void print_evil(struct json_object *r)
{
	struct json_object *v;

	if (json_object_object_get_ex(r, "sent", &v))
		printf("sent: %s\n", json_object_get_string(v));
	if (json_object_object_get_ex(r, "armed", &v))
		printf("armed: %s\n", json_object_get_string(v));
}

/* --- main ----------------------------------------------------------- */

/* Build the request for argv.  Return: a malloc()ed line, or NULL with
 * *rc set to the exit status. */
static char *build_request(int argc, char **argv, void (**print)(struct json_object *),
			   int *rc)
{
	struct json_object *req = json_object_new_object();
	const char *cmd = argv[0];
	char *line = NULL;
	uint64_t id;

	*rc = EXIT_USAGE;
	if (!strcmp(cmd, "status") || !strcmp(cmd, "devices")) {
		if (argc != 1) {
			die_usage("'%s' takes no arguments", cmd);
			goto out;
		}
		json_object_object_add(req, "cmd", json_object_new_string(cmd));
		*print = !strcmp(cmd, "status") ? print_status : print_devices;
	} else if (!strcmp(cmd, "add")) {
		if (argc < 2) {
			die_usage("'%s' takes a device class and its parameters, e.g. 'add echo subchannels=3'",
				  cmd);
			goto out;
		}
		json_object_object_add(req, "cmd",
				       json_object_new_string("device-add"));
		json_object_object_add(req, "class",
				       json_object_new_string(argv[1]));
		if (add_params(req, argc - 2, argv + 2))
			goto out;
		*print = print_added;
	} else if (!strcmp(cmd, "set")) {
		if (argc < 3) {
			die_usage("'%s' takes a device id and KEY=VALUE..., e.g. 'set 1 link=down'",
				  cmd);
			goto out;
		}
		if (add_cmd_id(req, "device-set", argv[1]) ||
		    add_params(req, argc - 2, argv + 2))
			goto out;
		*print = print_set;
	} else if (!strcmp(cmd, "remove")) {
		if (argc != 2) {
			die_usage("'%s' takes one device id, e.g. 'remove 1'", cmd);
			goto out;
		}
		if (add_cmd_id(req, "device-remove", argv[1]))
			goto out;
		*print = print_removed;
	} else if (!strcmp(cmd, "echo-send")) {
		uint64_t count, size, sub = 0;

		if (argc != 4 && argc != 5) {
			die_usage("'%s' takes a device id, a count and a size, then optionally a sub-channel, e.g. 'echo-send 1 100 64'",
				  cmd);
			goto out;
		}
		if (argc == 5 && parse_uint(argv[4], 0, 63, &sub)) {
			die_usage("sub-channel '%s': 0..63", argv[4]);
			goto out;
		}
		if (add_cmd_id(req, "echo-send", argv[1]))
			goto out;
		if (parse_uint(argv[2], 1, UINT32_MAX, &count)) {
			die_usage("count '%s': 1..%u packets", argv[2], UINT32_MAX);
			goto out;
		}
		if (parse_uint(argv[3], 0, 1u << 20, &size)) {
			die_usage("size '%s': 0..%u bytes", argv[3], 1u << 20);
			goto out;
		}
		json_object_object_add(req, "count",
				       json_object_new_int64((int64_t)count));
		json_object_object_add(req, "size",
				       json_object_new_int64((int64_t)size));
		if (argc == 5)
			json_object_object_add(req, "sub",
					       json_object_new_int64((int64_t)sub));
		*print = print_echo_send;
	} else if (!strcmp(cmd, "balloon")) {
		uint64_t target;

		if ((argc != 2 && argc != 3 && argc != 5) ||
		    (argc == 5 && strcmp(argv[2], "deflate"))) {
			die_usage("'%s' takes a device id and optionally a target, e.g. 'balloon 1 512M', or 'deflate GPA SIZE', e.g. 'balloon 1 deflate 0x10000000 64M'",
				  cmd);
			goto out;
		}
		if (add_cmd_id(req, "balloon", argv[1]))
			goto out;
		if (argc == 5) {
			struct json_object *r;
			uint64_t gpa, size;

			if (parse_size(argv[3], &gpa) || gpa > INT64_MAX ||
			    gpa % 4096) {
				die_usage("GPA '%s': a guest-physical address, a multiple of 4096 (0x... or with K/M/G)",
					  argv[3]);
				goto out;
			}
			if (parse_size(argv[4], &size) || !size ||
			    size > INT64_MAX || size % 4096) {
				die_usage("SIZE '%s': a multiple of 4096 bytes, e.g. 64M",
					  argv[4]);
				goto out;
			}
			r = json_object_new_object();
			json_object_object_add(r, "gpa",
					       json_object_new_int64((int64_t)gpa));
			json_object_object_add(r, "size",
					       json_object_new_int64((int64_t)size));
			json_object_object_add(req, "deflate_range", r);
		} else if (argc == 3) {
			if (parse_size(argv[2], &target) || target > INT64_MAX) {
				die_usage("target '%s' is not a size (e.g. 512M, 1G)",
					  argv[2]);
				goto out;
			}
			json_object_object_add(req, "target",
					       json_object_new_int64((int64_t)target));
		}
		*print = print_balloon;
	} else if (!strcmp(cmd, "evil-drop")) {
		uint64_t skip = 0;

		if (argc != 2 && argc != 3) {
			die_usage("'%s' takes the request to leave unanswered and how many such to let pass first, e.g. 'evil-drop gpadl 2'",
				  cmd);
			goto out;
		}
		if (argc == 3 && parse_uint(argv[2], 0, 1000, &skip)) {
			die_usage("'%s': '%s' is not a count of 0..1000", cmd, argv[2]);
			goto out;
		}
		json_object_object_add(req, "cmd", json_object_new_string(cmd));
		json_object_object_add(req, "mode", json_object_new_string(argv[1]));
		json_object_object_add(req, "skip", json_object_new_int64((int64_t)skip));
		*print = print_evil;
	} else if (!strcmp(cmd, "evil-offer") || !strcmp(cmd, "echo-evil")) {
		bool echo = cmd[1] == 'c';

		if (echo ? argc != 3 : argc != 2 && argc != 3) {
			die_usage(echo ? "'%s' takes a device id and a mode, e.g. 'echo-evil 1 wr_past'" :
				  "'%s' takes a mode and optionally a device id, e.g. 'evil-offer relid0'",
				  cmd);
			goto out;
		}
		if (argc == 3 &&
		    parse_uint(argv[echo ? 1 : 2], 1, UINT32_MAX, &id)) {
			die_usage("device id '%s' is not a number from 1 up",
				  argv[echo ? 1 : 2]);
			goto out;
		}
		json_object_object_add(req, "cmd", json_object_new_string(cmd));
		json_object_object_add(req, "mode",
				       json_object_new_string(argv[echo ? 2 : 1]));
		if (argc == 3)
			json_object_object_add(req, "id",
					       json_object_new_int64((int64_t)id));
		*print = print_evil;
	} else {
		die_usage("unknown command '%s'", cmd);
		goto out;
	}
	if (asprintf(&line, "%s\n", json_object_to_json_string_ext(req,
			JSON_C_TO_STRING_PLAIN)) < 0)
		line = NULL;
	*rc = 0;
out:
	json_object_put(req);
	return line;
}

static int parse_opts(struct ctlopts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket",	required_argument, NULL, 's' },
		{ "json",	no_argument,	   NULL, 'j' },
		{ "timeout",	required_argument, NULL, 't' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	o->socket = getenv("KVMBUS_CONTROL");
	o->json = false;
	o->timeout_s = 10;
	/* '+': options end at the command, so "remove -1" is the id's problem. */
	while ((c = getopt_long(argc, argv, "+s:jt:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->socket = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 't':
			if (parse_uint(optarg, 1, 3600, &v))
				return die_usage("--timeout '%s': 1..3600 seconds",
						 optarg);
			o->timeout_s = (unsigned int)v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "(see kvmbusctl --help)\n");
			return EXIT_USAGE;
		}
	}
	if (optind < argc && !strcmp(argv[optind], "balance"))
		return 0;		/* its own sockets */
	if (!o->socket || !*o->socket)
		return die_usage("no control socket: pass -s PATH");
	if (optind >= argc)
		return die_usage("no command: status, devices, add, set, remove or echo-send");
	return 0;
}

/* --- balance --------------------------------------------------------- */

#define BALANCE_MAX_VMS		64
#define BALANCE_HYSTERESIS	(16ull << 20)

struct balance_ent {
	const char *sock;
	unsigned long long id;		/* the balloon device, 0: none */
	unsigned long long cur;		/* its target now */
	struct balance_vm vm;
};

/* One request to @sock.  Return: the reply if it says ok, or NULL. */
static struct json_object *balance_call(const struct ctlopts *o,
					const char *sock, const char *req,
					bool quiet)
{
	struct ctlopts vo = *o;
	struct json_object *r, *ok;
	char *line;

	vo.socket = sock;
	line = ctl_call(&vo, req);
	if (!line)
		return NULL;
	r = json_tokener_parse(line);
	free(line);
	if (!r || !json_object_object_get_ex(r, "ok", &ok) ||
	    !json_object_get_boolean(ok)) {
		if (!quiet)
			fprintf(stderr, "kvmbusctl: %s: %s\n", sock,
				r && get(r, "error") ? gets(r, "error") : "refused");
		json_object_put(r);
		return NULL;
	}
	return r;
}

/* Find the VM's balloon device and read its report. */
static void balance_read(const struct ctlopts *o, struct balance_ent *e)
{
	struct json_object *r, *list;
	char req[128];
	size_t i;

	e->vm.ok = false;
	if (!e->id) {
		r = balance_call(o, e->sock, "{\"cmd\":\"devices\"}\n", false);
		list = r ? get(r, "devices") : NULL;
		for (i = 0; list && i < json_object_array_length(list); i++) {
			struct json_object *d = json_object_array_get_idx(list, i);

			if (!strcmp(gets(d, "class"), "balloon")) {
				e->id = getu(d, "id");
				break;
			}
		}
		json_object_put(r);
		if (!e->id)
			return;
	}
	snprintf(req, sizeof(req), "{\"cmd\":\"balloon\",\"id\":%llu}\n", e->id);
	r = balance_call(o, e->sock, req, true);
	if (!r) {
		e->id = 0;	/* look again next round */
		return;
	}
	if (get(r, "balloon.guest")) {
		uint64_t total = getu(r, "balloon.guest.total");
		uint64_t avail = getu(r, "balloon.guest.available");

		e->vm.ok = true;
		e->vm.ram = getu(r, "balloon.ram");
		e->vm.used = total > avail ? total - avail : 0;
		e->cur = getu(r, "balloon.target");
	}
	json_object_put(r);
}

static int balance_main(const struct ctlopts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "budget",	required_argument, NULL, 'b' },
		{ "headroom",	required_argument, NULL, 'H' },
		{ "min",	required_argument, NULL, 'm' },
		{ "interval",	required_argument, NULL, 'i' },
		{ "rounds",	required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct balance_ent ents[BALANCE_MAX_VMS];
	struct balance_vm vms[BALANCE_MAX_VMS];
	uint64_t budget = 0, headroom = 20, min_mem = 128ull << 20;
	uint64_t interval = 2, rounds = 0, round, v;
	unsigned int n, i;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (parse_size(optarg, &budget) || !budget)
				return die_usage("--budget '%s': a size, e.g. 2G", optarg);
			break;
		case 'H':
			if (parse_uint(optarg, 0, 1000, &headroom))
				return die_usage("--headroom '%s': 0..1000 percent", optarg);
			break;
		case 'm':
			if (parse_size(optarg, &min_mem))
				return die_usage("--min '%s': a size, e.g. 128M", optarg);
			break;
		case 'i':
			if (parse_uint(optarg, 1, 3600, &interval))
				return die_usage("--interval '%s': 1..3600 seconds", optarg);
			break;
		case 'r':
			if (parse_uint(optarg, 0, UINT32_MAX, &v))
				return die_usage("--rounds '%s': a number", optarg);
			rounds = v;
			break;
		default:
			return die_usage("balance: see kvmbusctl --help");
		}
	}
	if (!budget)
		return die_usage("balance needs --budget SIZE");
	if (optind >= argc || argc - optind > BALANCE_MAX_VMS)
		return die_usage("balance takes 1 to %u control sockets",
				 BALANCE_MAX_VMS);
	n = (unsigned int)(argc - optind);
	memset(ents, 0, sizeof(ents));
	for (i = 0; i < n; i++)
		ents[i].sock = argv[optind + i];

	for (round = 1; !rounds || round <= rounds; round++) {
		for (i = 0; i < n; i++) {
			balance_read(o, &ents[i]);
			vms[i] = ents[i].vm;
		}
		balance_plan(vms, n, budget, (unsigned int)headroom, min_mem);
		for (i = 0; i < n; i++) {
			struct balance_ent *e = &ents[i];
			uint64_t t = vms[i].target;
			char req[160];

			if (!vms[i].ok) {
				printf("round %llu: %s: no balloon report yet\n",
				       (unsigned long long)round, e->sock);
				continue;
			}
			printf("round %llu: %s: uses %llu MiB, demand %llu MiB, target %llu -> %llu MiB\n",
			       (unsigned long long)round, e->sock,
			       (unsigned long long)(vms[i].used >> 20),
			       (unsigned long long)(vms[i].demand >> 20),
			       e->cur >> 20, (unsigned long long)(t >> 20));
			if (t + BALANCE_HYSTERESIS > e->cur &&
			    t < e->cur + BALANCE_HYSTERESIS)
				continue;	/* close enough: no churn */
			snprintf(req, sizeof(req),
				 "{\"cmd\":\"balloon\",\"id\":%llu,\"target\":%llu}\n",
				 e->id, (unsigned long long)t);
			json_object_put(balance_call(o, e->sock, req, false));
		}
		fflush(stdout);
		if (rounds && round == rounds)
			break;
		sleep((unsigned int)interval);
	}
	return 0;
}

int main(int argc, char **argv)
{
	void (*print)(struct json_object *) = NULL;
	struct json_object *reply, *ok, *err;
	struct ctlopts o;
	char *req, *line;
	int rc;

	rc = parse_opts(&o, argc, argv);
	if (rc)
		return rc;
	if (!strcmp(argv[optind], "balance"))
		return balance_main(&o, argc - optind, argv + optind);
	req = build_request(argc - optind, argv + optind, &print, &rc);
	if (!req)
		return rc ? rc : EXIT_USAGE;
	line = ctl_call(&o, req);
	free(req);
	if (!line)
		return EXIT_USAGE;

	reply = json_tokener_parse(line);
	if (!reply || !json_object_is_type(reply, json_type_object) ||
	    !json_object_object_get_ex(reply, "ok", &ok) ||
	    !json_object_is_type(ok, json_type_boolean)) {
		fprintf(stderr, "kvmbusctl: kvmbusd sent something that is not a reply: %.200s\n",
			line);
		json_object_put(reply);
		free(line);
		return EXIT_USAGE;
	}
	if (o.json)
		printf("%s\n", line);
	if (!json_object_get_boolean(ok)) {
		if (!json_object_object_get_ex(reply, "error", &err))
			err = NULL;
		fprintf(stderr, "kvmbusctl: kvmbusd: %s\n",
			err ? json_object_get_string(err) : "failed");
		rc = EXIT_REFUSED;
	} else if (!o.json) {
		print(reply);
	}
	json_object_put(reply);
	free(line);
	return rc;
}
