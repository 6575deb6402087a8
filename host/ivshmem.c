// SPDX-License-Identifier: GPL-2.0-only
/*
 * The ivshmem server for QEMU's ivshmem-doorbell device: one client,
 * kvmbusd as virtual peer 0.  See ivshmem.h for the message sequence.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ivshmem.h"

#define IVSHMEM_BACKLOG		8

static void ivshmem_listen_event(struct loop_src *src, uint32_t events);
static void ivshmem_client_event(struct loop_src *src, uint32_t events);
static void ivshmem_doorbell_event(struct loop_src *src, uint32_t events);

bool ivshmem_connected(const struct ivshmem *iv)
{
	return iv->client.fd >= 0;
}

unsigned int ivshmem_setup_len(const struct ivshmem *iv)
{
	return 3 + 2 * iv->vectors;
}

bool ivshmem_setup_done(const struct ivshmem *iv)
{
	return ivshmem_connected(iv) &&
	       iv->client.next >= ivshmem_setup_len(iv);
}

int ivshmem_setup_msg(const struct ivshmem *iv, unsigned int idx,
		      int64_t *val, int *fd)
{
	unsigned int v = iv->vectors;

	*fd = -1;
	if (idx == 0) {
		*val = IVSHMEM_PROTOCOL_VERSION;
	} else if (idx == 1) {
		*val = IVSHMEM_CLIENT_ID;
	} else if (idx == 2) {
		*val = -1;
		*fd = iv->shm_fd;
	} else if (idx < 3 + v) {
		*val = IVSHMEM_HOST_ID;
		*fd = iv->vec[idx - 3].doorbell_fd;
	} else if (idx < 3 + 2 * v) {
		*val = IVSHMEM_CLIENT_ID;
		*fd = iv->vec[idx - 3 - v].irq_fd;
	} else {
		return -ENOENT;
	}
	return 0;
}

static void ivshmem_vec_close(struct ivshmem *iv, struct ivshmem_vec *vec)
{
	if (vec->doorbell_fd >= 0) {
		if (!iv->held && !vec->lent)
			loop_del(iv->loop, vec->doorbell_fd);
		close(vec->doorbell_fd);
	}
	/* A borrower keeps its duplicate; nothing is given back to us. */
	vec->lent = false;
	pthread_mutex_lock(&iv->irq_lock);
	if (vec->irq_fd >= 0)
		close(vec->irq_fd);
	vec->irq_fd = -1;
	pthread_mutex_unlock(&iv->irq_lock);
	vec->doorbell_fd = -1;
}

static int ivshmem_vec_open(struct ivshmem *iv, struct ivshmem_vec *vec,
			    bool watch)
{
	int ret = 0, irq_fd;

	vec->doorbell_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	irq_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_lock(&iv->irq_lock);
	vec->irq_fd = irq_fd;
	pthread_mutex_unlock(&iv->irq_lock);
	if (vec->doorbell_fd < 0 || vec->irq_fd < 0) {
		ret = -errno;
		goto err_close;
	}
	/* Held for a supervised child: the child reads the doorbells. */
	if (watch)
		ret = loop_add(iv->loop, vec->doorbell_fd, EPOLLIN, &vec->src);
	if (ret)
		goto err_close;
	return 0;

err_close:
	if (vec->doorbell_fd >= 0)
		close(vec->doorbell_fd);
	vec->doorbell_fd = -1;
	pthread_mutex_lock(&iv->irq_lock);
	if (vec->irq_fd >= 0)
		close(vec->irq_fd);
	vec->irq_fd = -1;
	pthread_mutex_unlock(&iv->irq_lock);
	return ret;
}

void ivshmem_drop_client(struct ivshmem *iv, const char *why)
{
	struct ivshmem_client *c = &iv->client;
	unsigned int i;

	if (c->fd < 0)
		return;
	loop_del(iv->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	/* Held vectors outlive clients: the next QEMU gets the same ones. */
	for (i = 0; !iv->held && i < iv->vectors; i++)
		ivshmem_vec_close(iv, &iv->vec[i]);
	iv->stats.disconnects++;
	log_info("QEMU (pid %d) disconnected: %s", (int)c->pid, why);
	if (iv->ops->client_down)
		iv->ops->client_down(iv->opaque);
}

static int ivshmem_set_events(struct ivshmem *iv, uint32_t events)
{
	struct ivshmem_client *c = &iv->client;
	int ret;

	if (c->events == events)
		return 0;
	ret = loop_mod(iv->loop, c->fd, events, &c->src);
	if (!ret)
		c->events = events;
	return ret;
}

/* Send one message (or its rest after a short send). */
static ssize_t ivshmem_send_one(int sock, int64_t val, int fd,
				unsigned int off)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	uint64_t le = htole64((uint64_t)val);
	struct iovec iov = {
		.iov_base = (char *)&le + off,
		.iov_len = sizeof(le) - off,
	};
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	/* The fd travels with the first byte of its message only. */
	if (fd >= 0 && !off) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/*
 * Push setup messages until done or the socket is full; in the latter
 * case wait for EPOLLOUT.  QEMU reads nothing until it creates the
 * device, so a large setup (256 vectors) does not fit the socket buffer.
 * Return: 0 or -errno (the client must be dropped).
 */
static int ivshmem_flush(struct ivshmem *iv)
{
	struct ivshmem_client *c = &iv->client;
	unsigned int total = ivshmem_setup_len(iv);
	int64_t val;
	ssize_t n;
	int fd;

	while (c->next < total) {
		ivshmem_setup_msg(iv, c->next, &val, &fd);
		n = ivshmem_send_one(c->fd, val, fd, c->off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				iv->stats.setup_waits++;
				return ivshmem_set_events(iv, EPOLLIN |
							  EPOLLRDHUP |
							  EPOLLOUT);
			}
			return -errno;
		}
		c->off += (unsigned int)n;
		if (c->off >= sizeof(int64_t)) {
			c->off = 0;
			c->next++;
		}
	}
	log_info("QEMU (pid %d): setup sent, %u vectors", (int)c->pid,
		 iv->vectors);
	return ivshmem_set_events(iv, EPOLLIN | EPOLLRDHUP);
}

static void ivshmem_client_start(struct ivshmem *iv, int fd)
{
	struct ivshmem_client *c = &iv->client;
	unsigned int i;
	int ret;

	c->fd = fd;
	c->next = 0;
	c->off = 0;
	c->events = EPOLLIN | EPOLLRDHUP;
	unix_peer(fd, &c->pid, &c->uid);

	for (i = 0; !iv->held && i < iv->vectors; i++) {
		ret = ivshmem_vec_open(iv, &iv->vec[i], true);
		if (ret)
			goto err_close;
	}
	ret = loop_add(iv->loop, fd, c->events, &c->src);
	if (ret)
		goto err_close;

	iv->stats.connects++;
	log_info("QEMU connected (pid %d, uid %d)", (int)c->pid, (int)c->uid);
	if (iv->ops->client_up)
		iv->ops->client_up(iv->opaque);

	ret = ivshmem_flush(iv);
	if (ret) {
		iv->stats.bad_clients++;
		ivshmem_drop_client(iv, strerror(-ret));
	}
	return;

err_close:
	log_err("cannot set up a client: %s", strerror(-ret));
	while (!iv->held && i--)
		ivshmem_vec_close(iv, &iv->vec[i]);
	close(fd);
	c->fd = -1;
}

static void ivshmem_listen_event(struct loop_src *src, uint32_t events)
{
	struct ivshmem *iv = (struct ivshmem *)((char *)src -
				offsetof(struct ivshmem, listen_src));
	pid_t pid;
	uid_t uid;
	int fd;

	(void)events;
	for (;;) {
		fd = accept4(iv->listener.fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_rl(&iv->rl, LOG_WARNING, "accept: %s",
				       strerror(errno));
			return;
		}
		if (ivshmem_connected(iv)) {
			unix_peer(fd, &pid, &uid);
			iv->stats.refused++;
			log_rl(&iv->rl, LOG_WARNING,
			       "refusing a second client (pid %d): QEMU (pid %d) is connected",
			       (int)pid, (int)iv->client.pid);
			/* Best effort: an empty socket takes 8 bytes. */
			ivshmem_send_one(fd, IVSHMEM_REFUSED_VERSION, -1, 0);
			close(fd);
			continue;
		}
		ivshmem_client_start(iv, fd);
	}
}

static void ivshmem_client_event(struct loop_src *src, uint32_t events)
{
	struct ivshmem *iv = (struct ivshmem *)((char *)src -
				offsetof(struct ivshmem, client.src));
	char buf[64];
	ssize_t n;
	int ret;

	if (!ivshmem_connected(iv))
		return;
	if ((events & EPOLLOUT) && !ivshmem_setup_done(iv)) {
		ret = ivshmem_flush(iv);
		if (ret) {
			iv->stats.bad_clients++;
			ivshmem_drop_client(iv, strerror(-ret));
			return;
		}
	}
	/* Events are hints: the socket itself says whether it is gone. */
	n = recv(iv->client.fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n == 0) {
		ivshmem_drop_client(iv, "connection closed");
	} else if (n > 0) {
		/* QEMU never writes: whatever this is, it is not QEMU. */
		iv->stats.bad_clients++;
		log_rl(&iv->rl, LOG_WARNING,
		       "client (pid %d) sent data, QEMU never does",
		       (int)iv->client.pid);
		ivshmem_drop_client(iv, "unexpected data");
	} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
		   errno != EINTR) {
		ivshmem_drop_client(iv, strerror(errno));
	}
}

static void ivshmem_doorbell_event(struct loop_src *src, uint32_t events)
{
	struct ivshmem_vec *vec = (struct ivshmem_vec *)((char *)src -
				offsetof(struct ivshmem_vec, src));
	struct ivshmem *iv = vec->iv;
	unsigned int vector = (unsigned int)(vec - iv->vec);
	uint64_t count;

	(void)events;
	if (vec->doorbell_fd < 0)
		return;
	if (read(vec->doorbell_fd, &count, sizeof(count)) != sizeof(count))
		return;		/* EAGAIN: a stale event */
	__atomic_fetch_add(&iv->stats.doorbells[vector], count,
			   __ATOMIC_RELAXED);
	if (iv->ops->doorbell)
		iv->ops->doorbell(iv->opaque, vector, count);
}

int ivshmem_doorbell_lend(struct ivshmem *iv, unsigned int vector,
			  uint64_t **count)
{
	struct ivshmem_vec *vec;
	int fd;

	if (!vector || vector >= iv->vectors)
		return -EINVAL;
	if (iv->held)
		return -EPERM;
	vec = &iv->vec[vector];
	if (vec->doorbell_fd < 0)
		return -ENOTCONN;
	if (vec->lent)
		return -EBUSY;
	fd = fcntl(vec->doorbell_fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* An event of this fd already in the main loop's batch still reads
	 * it there (a hop, no loss): it stays open and ours. */
	loop_del(iv->loop, vec->doorbell_fd);
	vec->lent = true;
	*count = &iv->stats.doorbells[vector];
	return fd;
}

void ivshmem_doorbell_return(struct ivshmem *iv, unsigned int vector)
{
	struct ivshmem_vec *vec;
	int ret;

	if (vector >= iv->vectors)
		return;
	vec = &iv->vec[vector];
	if (!vec->lent || vec->doorbell_fd < 0)
		return;
	vec->lent = false;
	/* Level-triggered: a count the borrower left is read at once. */
	ret = loop_add(iv->loop, vec->doorbell_fd, EPOLLIN, &vec->src);
	if (ret)
		log_err("vector %u: cannot watch its doorbell again: %s",
			vector, strerror(-ret));
}

int ivshmem_notify(struct ivshmem *iv, unsigned int vector)
{
	static const uint64_t one = 1;

	int ret = 0, fd;

	if (vector >= iv->vectors)
		return -EINVAL;
	/* The fd stays open (and ours) while we hold the lock: a client
	 * that leaves closes its vectors under it. */
	pthread_mutex_lock(&iv->irq_lock);
	fd = iv->vec[vector].irq_fd;
	if (fd < 0)
		ret = -ENOTCONN;
	/* EAGAIN would mean 2^64 - 2 pending signals: still pending. */
	else if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		ret = -errno;
	else
		iv->stats.notifies++;
	pthread_mutex_unlock(&iv->irq_lock);
	return ret;
}

static void ivshmem_base_init(struct ivshmem *iv, struct loop *loop,
			      int shm_fd, const struct ivshmem_ops *ops,
			      void *opaque)
{
	unsigned int i;

	memset(iv, 0, sizeof(*iv));
	pthread_mutex_init(&iv->irq_lock, NULL);
	iv->listener.fd = -1;
	iv->client.fd = -1;
	iv->client.src.fn = ivshmem_client_event;
	iv->listen_src.fn = ivshmem_listen_event;
	for (i = 0; i < KVMBUS_MAX_VECTORS; i++) {
		iv->vec[i].src.fn = ivshmem_doorbell_event;
		iv->vec[i].iv = iv;
		iv->vec[i].doorbell_fd = -1;
		iv->vec[i].irq_fd = -1;
	}
	ratelimit_init(&iv->rl, 5000, 10);
	iv->loop = loop;
	iv->shm_fd = shm_fd;
	iv->ops = ops;
	iv->opaque = opaque;
}

int ivshmem_init(struct ivshmem *iv, struct loop *loop, const char *path,
		 unsigned int vectors, int shm_fd,
		 const struct ivshmem_ops *ops, void *opaque)
{
	int ret;

	ivshmem_base_init(iv, loop, shm_fd, ops, opaque);
	if (!vectors || vectors > KVMBUS_MAX_VECTORS) {
		log_err("%u vectors: must be 1..%u", vectors,
			KVMBUS_MAX_VECTORS);
		return -EINVAL;
	}
	iv->vectors = vectors;

	ret = unix_listen(&iv->listener, path, IVSHMEM_BACKLOG);
	if (ret)
		return ret;
	ret = loop_add(loop, iv->listener.fd, EPOLLIN, &iv->listen_src);
	if (ret) {
		log_err("epoll: %s", strerror(-ret));
		unix_listener_close(&iv->listener);
		return ret;
	}
	return 0;
}

void ivshmem_fini(struct ivshmem *iv)
{
	if (!iv->loop)
		return;		/* never initialised */
	ivshmem_drop_client(iv, "shutting down");
	if (iv->listener.fd >= 0)
		loop_del(iv->loop, iv->listener.fd);
	unix_listener_close(&iv->listener);
	if (iv->held || iv->adopted) {
		unsigned int i;

		for (i = 0; i < iv->vectors; i++)
			ivshmem_vec_close(iv, &iv->vec[i]);
	}
	pthread_mutex_destroy(&iv->irq_lock);
}

int ivshmem_hold_vectors(struct ivshmem *iv)
{
	unsigned int i;
	int ret;

	iv->held = true;
	for (i = 0; i < iv->vectors; i++) {
		ret = ivshmem_vec_open(iv, &iv->vec[i], false);
		if (ret) {
			log_err("cannot create eventfds: %s", strerror(-ret));
			while (i--)
				ivshmem_vec_close(iv, &iv->vec[i]);
			iv->held = false;
			return ret;
		}
	}
	return 0;
}

int ivshmem_adopt(struct ivshmem *iv, struct loop *loop, unsigned int vectors,
		  const int *doorbell_fds, const int *irq_fds,
		  const struct ivshmem_ops *ops, void *opaque)
{
	unsigned int i;
	int ret;

	ivshmem_base_init(iv, loop, -1, ops, opaque);
	if (!vectors || vectors > KVMBUS_MAX_VECTORS)
		return -EINVAL;
	iv->vectors = vectors;
	iv->adopted = true;
	for (i = 0; i < vectors; i++) {
		iv->vec[i].doorbell_fd = doorbell_fds[i];
		iv->vec[i].irq_fd = irq_fds[i];
	}
	/* Counts the guest rang while no child ran are found at once. */
	for (i = 0; i < vectors; i++) {
		ret = loop_add(loop, doorbell_fds[i], EPOLLIN, &iv->vec[i].src);
		if (ret) {
			log_err("epoll: %s", strerror(-ret));
			return ret;
		}
	}
	return 0;
}
