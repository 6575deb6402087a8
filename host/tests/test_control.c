// SPDX-License-Identifier: GPL-2.0-only
/*
 * The JSON control socket: request parsing and dispatch, and the socket
 * framing (several requests per write, split requests, limits).
 */
#include <errno.h>
#include <json.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "helpers.h"
#include "control.h"

static int handler_calls;

static int handler(void *opaque, const char *cmd, struct json_object *req,
		   struct json_object *resp)
{
	(void)opaque;
	(void)req;
	handler_calls++;
	if (!strcmp(cmd, "ping")) {
		json_object_object_add(resp, "pong", json_object_new_int(1));
		return 0;
	}
	if (!strcmp(cmd, "fail"))
		return -EIO;
	if (!strcmp(cmd, "refuse")) {
		/* A partial result stays; the handler's own message wins. */
		json_object_object_add(resp, "n", json_object_new_int(3));
		return control_fail(resp, -ENOENT, "no device %d", 3);
	}
	return -ENOENT;
}

static void check_reply(struct control *ctl, const char *req,
			const char *want)
{
	char *got = control_reply(ctl, req, strlen(req));

	assert_non_null(got);
	if (strcmp(got, want))
		fail_msg("request %s\n got  %s\n want %s", req, got, want);
	free(got);
}

static void test_reply(void **state)
{
	struct control ctl;
	struct loop loop = { .epfd = -1 };

	(void)state;
	assert_int_equal(control_init(&ctl, &loop, NULL, handler, NULL), 0);
	check_reply(&ctl, "{\"cmd\":\"ping\"}", "{\"pong\":1,\"ok\":true}");
	check_reply(&ctl, "{\"cmd\":\"ping\",\"id\":42}  \r",
		    "{\"id\":42,\"pong\":1,\"ok\":true}");
	check_reply(&ctl, "{\"id\":\"a\",\"cmd\":\"fail\"}",
		    "{\"id\":\"a\",\"ok\":false,\"error\":\"Input/output error\"}");
	check_reply(&ctl, "{\"cmd\":\"nope\"}",
		    "{\"ok\":false,\"error\":\"unknown command\"}");
	check_reply(&ctl, "{\"cmd\":\"refuse\",\"id\":1}",
		    "{\"id\":1,\"n\":3,\"ok\":false,\"error\":\"no device 3\"}");
	check_reply(&ctl, "{\"cmd\":7}",
		    "{\"ok\":false,\"error\":\"request has no \\\"cmd\\\" string\"}");
	check_reply(&ctl, "{}",
		    "{\"ok\":false,\"error\":\"request has no \\\"cmd\\\" string\"}");
	check_reply(&ctl, "[1,2]",
		    "{\"ok\":false,\"error\":\"request is not a JSON object\"}");
	check_reply(&ctl, "\"ping\"",
		    "{\"ok\":false,\"error\":\"request is not a JSON object\"}");
	check_reply(&ctl, "{\"cmd\":\"ping\"} {}",
		    "{\"ok\":false,\"error\":\"malformed JSON\"}");
	check_reply(&ctl, "{\"cmd\":",
		    "{\"ok\":false,\"error\":\"malformed JSON\"}");
	check_reply(&ctl, "nonsense",
		    "{\"ok\":false,\"error\":\"malformed JSON\"}");
	check_reply(&ctl, "",
		    "{\"ok\":false,\"error\":\"malformed JSON\"}");
	control_fini(&ctl);
}

struct sock_env {
	char *dir, *path;
	struct loop loop;
	struct control ctl;
	int fds;
};

static void env_init(struct sock_env *e)
{
	e->fds = count_fds();
	e->dir = make_tmpdir();
	e->path = tmp_path(e->dir, "ctl.sock");
	assert_int_equal(loop_init(&e->loop), 0);
	assert_int_equal(control_init(&e->ctl, &e->loop, e->path, handler,
				      NULL), 0);
}

static void env_fini(struct sock_env *e)
{
	control_fini(&e->ctl);
	loop_fini(&e->loop);
	assert_int_equal(count_fds(), e->fds);
	assert_int_equal(access(e->path, F_OK), -1);
	free(e->path);
	rm_tmpdir(e->dir);
}

static int env_connect(struct sock_env *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, e->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void pump(struct sock_env *e)
{
	while (loop_run_once(&e->loop, 0) > 0)
		;
}

static void test_socket(void **state)
{
	const char *reqs = "{\"cmd\":\"ping\",\"id\":1}\n\n{\"cmd\":\"x\"}\n{\"cmd\":";
	const char *want = "{\"id\":1,\"pong\":1,\"ok\":true}\n"
			   "{\"ok\":false,\"error\":\"unknown command\"}\n"
			   "{\"id\":2,\"pong\":1,\"ok\":true}\n";
	struct sock_env e;
	char buf[512];
	ssize_t n;
	size_t got = 0;
	int fd;

	(void)state;
	env_init(&e);
	fd = env_connect(&e);
	pump(&e);
	assert_int_equal(write(fd, reqs, strlen(reqs)), (ssize_t)strlen(reqs));
	pump(&e);
	assert_int_equal(write(fd, "\"ping\",\"id\":2}\n", 15), 15);
	pump(&e);
	while (got < strlen(want)) {
		n = recv(fd, buf + got, sizeof(buf) - got - 1, MSG_DONTWAIT);
		assert_true(n > 0);
		got += (size_t)n;
	}
	buf[got] = 0;
	assert_string_equal(buf, want);
	close(fd);
	pump(&e);
	env_fini(&e);
}

static void test_socket_limits(void **state)
{
	struct sock_env e;
	char big[CONTROL_LINE_MAX + 10], buf[256];
	int fds[CONTROL_MAX_CONNS + 1], i;
	ssize_t n;

	(void)state;
	env_init(&e);
	/* A request longer than the line limit: error, then closed. */
	fds[0] = env_connect(&e);
	memset(big, 'x', sizeof(big));
	pump(&e);
	assert_int_equal(write(fds[0], big, sizeof(big)), (ssize_t)sizeof(big));
	pump(&e);
	n = recv(fds[0], buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = 0;
	assert_string_equal(buf,
		"{\"ok\":false,\"error\":\"request too long\"}\n");
	/* Closed with our unread bytes in its queue: EOF or a reset. */
	assert_true(recv(fds[0], buf, 1, 0) <= 0);
	close(fds[0]);

	/* At most CONTROL_MAX_CONNS clients at once. */
	for (i = 0; i <= CONTROL_MAX_CONNS; i++) {
		fds[i] = env_connect(&e);
		pump(&e);
	}
	assert_int_equal(recv(fds[CONTROL_MAX_CONNS], buf, 1, 0), 0);
	assert_int_equal(write(fds[0], "{\"cmd\":\"ping\"}\n", 15), 15);
	pump(&e);
	assert_true(recv(fds[0], buf, sizeof(buf), 0) > 0);
	for (i = 0; i <= CONTROL_MAX_CONNS; i++)
		close(fds[i]);
	pump(&e);
	env_fini(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply),
		cmocka_unit_test(test_socket),
		cmocka_unit_test(test_socket_limits),
	};

	return cmocka_run_group_tests_name("control", tests, NULL, NULL);
}
