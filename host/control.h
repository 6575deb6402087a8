/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The JSON control socket (kvmbusctl talks to it).
 *
 * Newline-delimited JSON: each request is one object on one line with a
 * "cmd" string and an optional "id" that the reply echoes; each reply is
 * one object on one line with "ok": true and the command's fields, or
 * "ok": false and "error".  Clients must read their replies: one that
 * lets its socket fill up is disconnected.
 */
#ifndef KVMBUSD_CONTROL_H
#define KVMBUSD_CONTROL_H

#include <stddef.h>

#include "log.h"
#include "loop.h"
#include "sock.h"

#define CONTROL_LINE_MAX	4096
#define CONTROL_MAX_CONNS	8

struct json_object;
struct control;

/*
 * Fill @resp (a JSON object) for @cmd.
 * Return: 0, -ENOENT for an unknown command, or another -errno; a
 * handler that wants a better message than strerror() sets it with
 * control_fail().
 */
typedef int control_handler(void *opaque, const char *cmd,
			    struct json_object *req, struct json_object *resp);

struct control_conn {
	struct loop_src src;
	struct control *ctl;
	int fd;
	size_t len;
	char buf[CONTROL_LINE_MAX];
};

struct control {
	struct loop *loop;
	struct unix_listener listener;
	struct loop_src listen_src;
	control_handler *handler;
	void *opaque;
	struct control_conn conn[CONTROL_MAX_CONNS];
	struct ratelimit rl;
};

/* Return: 0 or -errno (logged). */
int control_init(struct control *ctl, struct loop *loop, const char *path,
		 control_handler *handler, void *opaque);
void control_fini(struct control *ctl);

/*
 * control_reply() - the reply line for one request line (no newline)
 *
 * Never fails for bad input: malformed requests get an error reply.
 * Return: a malloc()ed string, or NULL when out of memory.
 */
char *control_reply(struct control *ctl, const char *line, size_t len);

/*
 * control_fail() - fail a command with a message of its own
 * @resp: the reply being built
 * @err: the -errno the handler returns
 *
 * Return: @err, so that a handler can `return control_fail(...)`.
 */
int control_fail(struct json_object *resp, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* KVMBUSD_CONTROL_H */
