/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kvmbusd command line.
 */
#ifndef KVMBUSD_OPTS_H
#define KVMBUSD_OPTS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "devices.h"
#include "guestmem.h"

/* --workers at most: one per channel of the largest device table. */
#define OPTS_WORKERS_MAX	DEV_MAX

struct opts {
	const char *socket_path;	/* --socket, required */
	const char *ram_path;		/* --ram, required */
	const char *control_path;	/* --control, optional */
	uint64_t ram_size;		/* --ram-size, 0: the file's size */
	uint64_t bar_size;		/* --bar-size */
	uint64_t max_below_4g;		/* --max-ram-below-4g, 0: default */
	uint64_t low_size;		/* --low-size, 0: from --machine */
	unsigned int vectors;		/* --vectors */
	unsigned int workers;		/* --workers */
	enum guestmem_machine machine;	/* --machine */
	const struct dev_class *devices[DEV_MAX];	/* --device, in order */
	const char *device_params[DEV_MAX];	/* "k=v,..." after the class */
	unsigned int nr_devices;
	bool foreground;
	bool verbose;
	bool test;			/* --test: the hostile host (evil.h) */
	bool help;
	bool supervise;			/* --supervise: supervise.h */
	unsigned int restart_max;	/* --restart-max */
	unsigned int restart_window;	/* --restart-window, seconds */
	unsigned int restart_delay;	/* --restart-delay, ms */
};

/*
 * opts_parse() - parse and check the command line
 *
 * Prints the reason for a rejection to stderr.
 * Return: 0 (see opts->help), or -EINVAL.
 */
int opts_parse(struct opts *o, int argc, char **argv);
void opts_usage(FILE *f, const char *prog);

#endif /* KVMBUSD_OPTS_H */
