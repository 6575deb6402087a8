// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unix-socket listeners.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "sock.h"

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
	size_t len = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (!len || len >= sizeof(sa->sun_path)) {
		log_err("socket path '%s' must be 1..%zu bytes long", path,
			sizeof(sa->sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa->sun_path, path, len);
	return 0;
}

/* Remove a socket nobody listens on any more; refuse anything else. */
static int unix_clear_stale(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, ret;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_err("%s exists and is not a socket", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (!ret) {
		log_err("another server is listening on %s", path);
		return -EADDRINUSE;
	}
	if (errno != ECONNREFUSED) {
		ret = -errno;
		log_err("cannot probe existing socket %s: %s", path,
			strerror(-ret));
		return ret;
	}
	log_info("removing stale socket %s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int unix_listen(struct unix_listener *l, const char *path, int backlog)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, ret;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	ret = unix_addr(path, &sa);
	if (ret)
		return ret;
	ret = unix_clear_stale(path, &sa);
	if (ret) {
		if (ret != -EEXIST && ret != -EADDRINUSE)
			log_err("cannot use socket path %s: %s", path,
				strerror(-ret));
		return ret;
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		log_err("socket: %s", strerror(-ret));
		return ret;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		log_err("cannot bind %s: %s", path, strerror(-ret));
		goto err_close;
	}
	if (stat(path, &st) < 0 || listen(fd, backlog) < 0) {
		ret = -errno;
		log_err("cannot listen on %s: %s", path, strerror(-ret));
		unlink(path);
		goto err_close;
	}
	l->path = strdup(path);
	if (!l->path) {
		ret = -ENOMEM;
		unlink(path);
		goto err_close;
	}
	l->fd = fd;
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	return 0;

err_close:
	close(fd);
	return ret;
}

void unix_listener_close(struct unix_listener *l)
{
	struct stat st;

	if (l->fd >= 0)
		close(l->fd);
	/* Never remove a socket a successor has put in our place. */
	if (l->path && !lstat(l->path, &st) && st.st_dev == l->dev &&
	    st.st_ino == l->ino)
		unlink(l->path);
	free(l->path);
	memset(l, 0, sizeof(*l));
	l->fd = -1;
}

void unix_peer(int fd, pid_t *pid, uid_t *uid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		*pid = -1;
		*uid = (uid_t)-1;
		return;
	}
	*pid = cr.pid;
	*uid = cr.uid;
}
