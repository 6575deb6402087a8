// SPDX-License-Identifier: GPL-2.0-only
/*
 * The JSON control socket: framing, parsing and dispatch.  The commands
 * themselves are the daemon's handler.
 */
#include <errno.h>
#include <json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control.h"

static struct control *listen_ctl(struct loop_src *src)
{
	return (struct control *)((char *)src -
				  offsetof(struct control, listen_src));
}

static char *reply_error(struct json_object *resp, const char *msg)
{
	char *out;

	json_object_object_add(resp, "ok", json_object_new_boolean(0));
	json_object_object_add(resp, "error", json_object_new_string(msg));
	out = strdup(json_object_to_json_string_ext(resp,
						    JSON_C_TO_STRING_PLAIN |
						    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(resp);
	return out;
}

int control_fail(struct json_object *resp, int err, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(resp, "error", json_object_new_string(msg));
	return err;
}

/* The handler's own message (see control_fail()), or a generic one. */
static char *reply_failed(struct json_object *resp, int ret)
{
	struct json_object *e;
	char *msg = NULL, *out;

	if (json_object_object_get_ex(resp, "error", &e) &&
	    json_object_is_type(e, json_type_string)) {
		msg = strdup(json_object_get_string(e));
		/* Re-added after "ok", where every error reply has it. */
		json_object_object_del(resp, "error");
	}
	if (msg)
		out = reply_error(resp, msg);
	else
		out = reply_error(resp, ret == -ENOENT ? "unknown command" :
					strerror(-ret));
	free(msg);
	return out;
}

char *control_reply(struct control *ctl, const char *line, size_t len)
{
	struct json_tokener *tok;
	struct json_object *req, *resp, *cmd, *id;
	enum json_tokener_error jerr;
	char *out;
	int ret;

	resp = json_object_new_object();
	if (!resp)
		return NULL;
	tok = json_tokener_new();
	if (!tok) {
		json_object_put(resp);
		return NULL;
	}
	req = json_tokener_parse_ex(tok, line, (int)len);
	jerr = json_tokener_get_error(tok);
	/* Exactly one complete value, nothing but blanks after it. */
	if (req && jerr == json_tokener_success) {
		size_t used = json_tokener_get_parse_end(tok);

		while (used < len && (line[used] == ' ' ||
				      line[used] == '\t' ||
				      line[used] == '\r'))
			used++;
		if (used != len)
			jerr = json_tokener_error_parse_unexpected;
	} else if (jerr == json_tokener_continue) {
		jerr = json_tokener_error_parse_eof;
	}
	json_tokener_free(tok);
	if (jerr != json_tokener_success || !req) {
		json_object_put(req);
		return reply_error(resp, "malformed JSON");
	}
	if (!json_object_is_type(req, json_type_object)) {
		json_object_put(req);
		return reply_error(resp, "request is not a JSON object");
	}
	if (json_object_object_get_ex(req, "id", &id))
		json_object_object_add(resp, "id", json_object_get(id));
	if (!json_object_object_get_ex(req, "cmd", &cmd) ||
	    !json_object_is_type(cmd, json_type_string)) {
		json_object_put(req);
		return reply_error(resp, "request has no \"cmd\" string");
	}

	ret = ctl->handler(ctl->opaque, json_object_get_string(cmd), req,
			   resp);
	json_object_put(req);
	if (ret)
		return reply_failed(resp, ret);
	json_object_object_add(resp, "ok", json_object_new_boolean(1));
	out = strdup(json_object_to_json_string_ext(resp,
						    JSON_C_TO_STRING_PLAIN |
						    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(resp);
	return out;
}

static void conn_close(struct control_conn *cc)
{
	if (cc->fd < 0)
		return;
	loop_del(cc->ctl->loop, cc->fd);
	close(cc->fd);
	cc->fd = -1;
	cc->len = 0;
}

/* Return: 0, or -1 when the connection must be closed. */
static int conn_send(struct control_conn *cc, char *reply)
{
	size_t n;
	ssize_t w;

	if (!reply)
		return -1;
	n = strlen(reply);
	reply[n] = '\n';	/* overwrites the NUL; the length is known */
	w = send(cc->fd, reply, n + 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	free(reply);
	if (w != (ssize_t)(n + 1)) {
		log_rl(&cc->ctl->rl, LOG_WARNING,
		       "control client does not read its replies: closing");
		return -1;
	}
	return 0;
}

static int conn_lines(struct control_conn *cc)
{
	char *nl;
	size_t ll;

	while ((nl = memchr(cc->buf, '\n', cc->len))) {
		ll = (size_t)(nl - cc->buf);
		if (ll && conn_send(cc, control_reply(cc->ctl, cc->buf, ll)))
			return -1;
		cc->len -= ll + 1;
		memmove(cc->buf, nl + 1, cc->len);
	}
	if (cc->len == sizeof(cc->buf)) {
		struct json_object *resp = json_object_new_object();

		conn_send(cc, resp ? reply_error(resp, "request too long") :
				     NULL);
		return -1;
	}
	return 0;
}

static void conn_event(struct loop_src *src, uint32_t events)
{
	struct control_conn *cc = (struct control_conn *)((char *)src -
				offsetof(struct control_conn, src));
	ssize_t n;

	(void)events;
	if (cc->fd < 0)
		return;
	n = recv(cc->fd, cc->buf + cc->len, sizeof(cc->buf) - cc->len,
		 MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		      errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(cc);
		return;
	}
	cc->len += (size_t)n;
	if (conn_lines(cc))
		conn_close(cc);
}

static void control_listen_event(struct loop_src *src, uint32_t events)
{
	struct control *ctl = listen_ctl(src);
	struct control_conn *cc;
	unsigned int i;
	int fd;

	(void)events;
	for (;;) {
		fd = accept4(ctl->listener.fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		cc = NULL;
		for (i = 0; i < CONTROL_MAX_CONNS; i++) {
			if (ctl->conn[i].fd < 0) {
				cc = &ctl->conn[i];
				break;
			}
		}
		if (!cc || loop_add(ctl->loop, fd, EPOLLIN | EPOLLRDHUP,
				    &cc->src)) {
			log_rl(&ctl->rl, LOG_WARNING,
			       "control socket: too many clients, refusing one");
			close(fd);
			continue;
		}
		cc->fd = fd;
		cc->len = 0;
	}
}

int control_init(struct control *ctl, struct loop *loop, const char *path,
		 control_handler *handler, void *opaque)
{
	unsigned int i;
	int ret;

	memset(ctl, 0, sizeof(*ctl));
	ctl->loop = loop;
	ctl->handler = handler;
	ctl->opaque = opaque;
	ctl->listener.fd = -1;
	ctl->listen_src.fn = control_listen_event;
	ratelimit_init(&ctl->rl, 5000, 10);
	for (i = 0; i < CONTROL_MAX_CONNS; i++) {
		ctl->conn[i].src.fn = conn_event;
		ctl->conn[i].ctl = ctl;
		ctl->conn[i].fd = -1;
	}
	if (!path)
		return 0;

	ret = unix_listen(&ctl->listener, path, CONTROL_MAX_CONNS);
	if (ret)
		return ret;
	ret = loop_add(loop, ctl->listener.fd, EPOLLIN, &ctl->listen_src);
	if (ret) {
		log_err("epoll: %s", strerror(-ret));
		unix_listener_close(&ctl->listener);
	}
	return ret;
}

void control_fini(struct control *ctl)
{
	unsigned int i;

	if (!ctl->loop)
		return;		/* never initialised */
	for (i = 0; i < CONTROL_MAX_CONNS; i++)
		conn_close(&ctl->conn[i]);
	if (ctl->listener.fd >= 0)
		loop_del(ctl->loop, ctl->listener.fd);
	unix_listener_close(&ctl->listener);
}
