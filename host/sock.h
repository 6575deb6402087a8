/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unix-socket listeners that kvmbusd creates and removes: the ivshmem
 * socket and the control socket.
 */
#ifndef KVMBUSD_SOCK_H
#define KVMBUSD_SOCK_H

#include <stdbool.h>
#include <sys/types.h>

struct unix_listener {
	int fd;
	char *path;		/* as bound, for unlinking */
	dev_t dev;		/* the socket inode we created */
	ino_t ino;
};

/*
 * unix_listen() - bind and listen on @path (non-blocking, close-on-exec)
 *
 * A stale socket left by a dead server is replaced; a live one (something
 * accepts connections) or a path that is not a socket is an error.
 * Logs a clear reason on failure.
 * Return: 0 or -errno.
 */
int unix_listen(struct unix_listener *l, const char *path, int backlog);

/* Close the listener and unlink its path if it still is our socket. */
void unix_listener_close(struct unix_listener *l);

/* SO_PEERCRED of a connected socket; -1 fields when unknown. */
void unix_peer(int fd, pid_t *pid, uid_t *uid);

#endif /* KVMBUSD_SOCK_H */
