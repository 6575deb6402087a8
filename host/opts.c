// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbusd command line.
 */
#include <errno.h>
#include <getopt.h>
#include <json.h>
#include <string.h>

#include "bar.h"
#include "ivshmem.h"
#include "chan.h"
#include "opts.h"
#include "params.h"
#include "parse.h"
#include "supervise.h"

enum {
	OPT_RAM_SIZE = 0x100,
	OPT_BAR_SIZE,
	OPT_MACHINE,
	OPT_MAX_BELOW_4G,
	OPT_LOW_SIZE,
	OPT_DEVICE,
	OPT_WORKERS,
	OPT_TEST,
	OPT_SUPERVISE,
	OPT_RESTART_MAX,
	OPT_RESTART_WINDOW,
	OPT_RESTART_DELAY,
};

static const struct option long_opts[] = {
	{ "socket",		required_argument, NULL, 's' },
	{ "ram",		required_argument, NULL, 'r' },
	{ "ram-size",		required_argument, NULL, OPT_RAM_SIZE },
	{ "vectors",		required_argument, NULL, 'n' },
	{ "bar-size",		required_argument, NULL, OPT_BAR_SIZE },
	{ "machine",		required_argument, NULL, OPT_MACHINE },
	{ "max-ram-below-4g",	required_argument, NULL, OPT_MAX_BELOW_4G },
	{ "low-size",		required_argument, NULL, OPT_LOW_SIZE },
	{ "control",		required_argument, NULL, 'c' },
	{ "device",		required_argument, NULL, OPT_DEVICE },
	{ "workers",		required_argument, NULL, OPT_WORKERS },
	{ "test",		no_argument,	   NULL, OPT_TEST },
	{ "supervise",		no_argument,	   NULL, OPT_SUPERVISE },
	{ "restart-max",	required_argument, NULL, OPT_RESTART_MAX },
	{ "restart-window",	required_argument, NULL, OPT_RESTART_WINDOW },
	{ "restart-delay",	required_argument, NULL, OPT_RESTART_DELAY },
	{ "foreground",		no_argument,	   NULL, 'f' },
	{ "verbose",		no_argument,	   NULL, 'v' },
	{ "help",		no_argument,	   NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

void opts_usage(FILE *f, const char *prog)
{
	fprintf(f,
"Usage: %s --socket PATH --ram PATH [options]\n"
"\n"
"kvmbusd: the host end of the kvmbus bus, one process per VM.  It is the\n"
"ivshmem server of QEMU's ivshmem-doorbell device and maps the guest's RAM\n"
"file; start it before QEMU.\n"
"\n"
"  -s, --socket PATH         ivshmem server socket (QEMU: -chardev socket,path=PATH)\n"
"  -r, --ram PATH            guest RAM file (QEMU: memory-backend-file,mem-path=PATH,share=on)\n"
"      --ram-size SIZE       guest RAM size (QEMU -m); default: the file's size\n"
"  -n, --vectors N           MSI-X vectors, 1..%u, must equal QEMU's vectors=N (default %u)\n"
"      --bar-size SIZE       BAR2 shared memory, a power of two, %uK..%uM (default %uK)\n"
"      --machine q35|pc      QEMU machine type, for the RAM layout (default q35)\n"
"      --max-ram-below-4g SIZE  the machine's max-ram-below-4g property, if set\n"
"      --low-size SIZE       explicit RAM below 4 GiB (overrides --machine)\n"
"  -c, --control PATH        JSON control socket (kvmbusctl -s PATH)\n"
"      --device CLASS[,KEY=VALUE...]  offer a device of CLASS (echo, net,\n"
"                            scsi, balloon) with the class's parameters\n"
"                            (echo: subchannels=0..63; the others: see\n"
"                            docs/usage.md); repeatable, up to %u\n"
"      --workers N           worker threads for channels of threaded classes, 0..%u\n"
"                            (default %u; 0: every channel on the event loop)\n"
"      --test                accept the hostile-host commands evil-offer and\n"
"                            echo-evil and the fault injection scsi stall=1\n"
"                            (guest tests only: they break the guest)\n"
"      --supervise           run kvmbusd as the child of a small parent that holds\n"
"                            QEMU's socket, BAR2 and eventfds and restarts it\n"
"                            when it dies; the guest reconnects (docs/usage.md)\n"
"      --restart-max N       supervised: give up after N restarts within\n"
"                            --restart-window, 1..%u (default %u)\n"
"      --restart-window SECS supervised: 1..86400 (default %u)\n"
"      --restart-delay MS    supervised: the first restart's delay, doubling with\n"
"                            each restart in the window, 1..60000 (default %u)\n"
"  -f, --foreground          stay in the foreground, log to stderr\n"
"  -v, --verbose             debug messages\n"
"  -h, --help                this text\n"
"\n"
"SIZE: bytes, decimal or 0x-hex, with an optional K, M, G or T suffix (1024-based).\n",
		prog, KVMBUS_MAX_VECTORS, IVSHMEM_DEFAULT_VECTORS,
		BAR_MIN_SIZE >> 10, BAR_MAX_SIZE >> 20, BAR_DEFAULT_SIZE >> 10,
		DEV_MAX, OPTS_WORKERS_MAX, CHAN_WORKERS_DEFAULT,
		SUPERVISE_RESTART_MAX_LIMIT, SUPERVISE_RESTART_MAX,
		SUPERVISE_RESTART_WINDOW, SUPERVISE_DELAY_MIN_MS);
}

static int opt_size(const char *name, const char *arg, uint64_t *out)
{
	int ret = parse_size(arg, out);

	if (ret)
		fprintf(stderr, "kvmbusd: --%s '%s': %s\n", name, arg,
			ret == -ERANGE ? "too large" : "not a size");
	return ret;
}

static int opts_check(struct opts *o)
{
	if (!o->socket_path || !o->ram_path) {
		fprintf(stderr, "kvmbusd: --socket and --ram are required (see --help)\n");
		return -EINVAL;
	}
	if (!bar_size_ok(o->bar_size)) {
		fprintf(stderr, "kvmbusd: --bar-size %llu: must be a power of two from %u to %u bytes (QEMU aborts on anything else)\n",
			(unsigned long long)o->bar_size, BAR_MIN_SIZE,
			BAR_MAX_SIZE);
		return -EINVAL;
	}
	if (o->ram_size > GUESTMEM_MAX_RAM) {
		fprintf(stderr, "kvmbusd: --ram-size is too large\n");
		return -EINVAL;
	}
	if (o->max_below_4g > GUESTMEM_4G) {
		fprintf(stderr, "kvmbusd: --max-ram-below-4g must not exceed 4G\n");
		return -EINVAL;
	}
	if (o->low_size > GUESTMEM_4G) {
		fprintf(stderr, "kvmbusd: --low-size must be 1 byte to 4G\n");
		return -EINVAL;
	}
	if (o->low_size && o->max_below_4g) {
		fprintf(stderr, "kvmbusd: --low-size and --max-ram-below-4g exclude each other\n");
		return -EINVAL;
	}
	if (o->nr_devices && o->vectors < 2) {
		fprintf(stderr, "kvmbusd: --device needs --vectors 2 or more: vector 0 is the control vector\n");
		return -EINVAL;
	}
	return 0;
}

static int opt_device(struct opts *o, const char *arg)
{
	const char *comma = strchr(arg, ',');
	size_t nlen = comma ? (size_t)(comma - arg) : strlen(arg);
	const struct dev_class *cls = NULL;
	struct json_object *params;
	char name[32], err[256];
	size_t i;

	if (nlen < sizeof(name)) {
		memcpy(name, arg, nlen);
		name[nlen] = '\0';
		cls = dev_class_find(name);
	}
	if (!cls) {
		fprintf(stderr, "kvmbusd: --device '%s': unknown class; known:",
			arg);
		for (i = 0; dev_class_at(i); i++)
			fprintf(stderr, " %s", dev_class_at(i)->name);
		fprintf(stderr, "\n");
		return -EINVAL;
	}
	if (o->nr_devices == DEV_MAX) {
		fprintf(stderr, "kvmbusd: more than %u --device options\n",
			DEV_MAX);
		return -EINVAL;
	}
	/* The syntax now; the class checks the keys when it adds it. */
	params = params_from_list(comma ? comma + 1 : "", err, sizeof(err));
	if (!params) {
		fprintf(stderr, "kvmbusd: --device '%s': %s\n", arg, err);
		return -EINVAL;
	}
	json_object_put(params);
	o->device_params[o->nr_devices] = comma ? comma + 1 : NULL;
	o->devices[o->nr_devices++] = cls;
	return 0;
}

static int opts_one(struct opts *o, int c, const char *arg)
{
	uint64_t v;

	switch (c) {
	case 's':
		o->socket_path = arg;
		return 0;
	case 'r':
		o->ram_path = arg;
		return 0;
	case 'c':
		o->control_path = arg;
		return 0;
	case 'f':
		o->foreground = true;
		return 0;
	case 'v':
		o->verbose = true;
		return 0;
	case 'h':
		o->help = true;
		return 0;
	case 'n':
		if (parse_uint(arg, 1, KVMBUS_MAX_VECTORS, &v)) {
			fprintf(stderr, "kvmbusd: --vectors '%s': must be 1..%u\n",
				arg, KVMBUS_MAX_VECTORS);
			return -EINVAL;
		}
		o->vectors = (unsigned int)v;
		return 0;
	case OPT_RAM_SIZE:
		if (opt_size("ram-size", arg, &o->ram_size))
			return -EINVAL;
		if (!o->ram_size) {
			fprintf(stderr, "kvmbusd: --ram-size must not be 0\n");
			return -EINVAL;
		}
		return 0;
	case OPT_BAR_SIZE:
		return opt_size("bar-size", arg, &o->bar_size) ? -EINVAL : 0;
	case OPT_MAX_BELOW_4G:
		if (opt_size("max-ram-below-4g", arg, &o->max_below_4g))
			return -EINVAL;
		if (!o->max_below_4g) {
			fprintf(stderr, "kvmbusd: --max-ram-below-4g must not be 0\n");
			return -EINVAL;
		}
		return 0;
	case OPT_LOW_SIZE:
		if (opt_size("low-size", arg, &o->low_size))
			return -EINVAL;
		if (!o->low_size) {
			fprintf(stderr, "kvmbusd: --low-size must not be 0\n");
			return -EINVAL;
		}
		return 0;
	case OPT_DEVICE:
		return opt_device(o, arg);
	case OPT_TEST:
		o->test = true;
		return 0;
	case OPT_SUPERVISE:
		o->supervise = true;
		return 0;
	case OPT_RESTART_MAX:
		if (parse_uint(arg, 1, SUPERVISE_RESTART_MAX_LIMIT, &v)) {
			fprintf(stderr, "kvmbusd: --restart-max '%s': must be 1..%u\n",
				arg, SUPERVISE_RESTART_MAX_LIMIT);
			return -EINVAL;
		}
		o->restart_max = (unsigned int)v;
		return 0;
	case OPT_RESTART_WINDOW:
		if (parse_uint(arg, 1, 86400, &v)) {
			fprintf(stderr, "kvmbusd: --restart-window '%s': must be 1..86400 seconds\n",
				arg);
			return -EINVAL;
		}
		o->restart_window = (unsigned int)v;
		return 0;
	case OPT_RESTART_DELAY:
		if (parse_uint(arg, 1, 60000, &v)) {
			fprintf(stderr, "kvmbusd: --restart-delay '%s': must be 1..60000 ms\n",
				arg);
			return -EINVAL;
		}
		o->restart_delay = (unsigned int)v;
		return 0;
	case OPT_WORKERS:
		if (parse_uint(arg, 0, OPTS_WORKERS_MAX, &v)) {
			fprintf(stderr, "kvmbusd: --workers '%s': must be 0..%u\n",
				arg, OPTS_WORKERS_MAX);
			return -EINVAL;
		}
		o->workers = (unsigned int)v;
		return 0;
	case OPT_MACHINE:
		if (!strcmp(arg, "q35")) {
			o->machine = GUESTMEM_Q35;
		} else if (!strcmp(arg, "pc")) {
			o->machine = GUESTMEM_PC;
		} else {
			fprintf(stderr, "kvmbusd: --machine '%s': must be q35 or pc\n",
				arg);
			return -EINVAL;
		}
		return 0;
	default:	/* getopt has printed why */
		return -EINVAL;
	}
}

int opts_parse(struct opts *o, int argc, char **argv)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->vectors = IVSHMEM_DEFAULT_VECTORS;
	o->bar_size = BAR_DEFAULT_SIZE;
	o->machine = GUESTMEM_Q35;
	o->workers = CHAN_WORKERS_DEFAULT;
	o->restart_max = SUPERVISE_RESTART_MAX;
	o->restart_window = SUPERVISE_RESTART_WINDOW;
	o->restart_delay = SUPERVISE_DELAY_MIN_MS;

	optind = 0;	/* GNU: a full re-initialisation, for repeated use */
	while ((c = getopt_long(argc, argv, "s:r:n:c:fvh", long_opts,
				NULL)) != -1) {
		if (opts_one(o, c, optarg))
			return -EINVAL;
	}
	if (optind < argc) {
		fprintf(stderr, "kvmbusd: unexpected argument '%s'\n",
			argv[optind]);
		return -EINVAL;
	}
	if (o->help)
		return 0;
	return opts_check(o);
}
