// SPDX-License-Identifier: GPL-2.0-only
/*
 * ivshmem server: a fake QEMU connects over the real socket and checks
 * every message, fd and state change; the server runs in the same thread,
 * pumped by loop_run_once().
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "helpers.h"
#include "bar.h"
#include "ivshmem.h"

struct fixture {
	char *dir;
	char *path;
	struct loop loop;
	struct bar bar;
	struct ivshmem iv;
	int fds_before;
	unsigned int ups, downs;
	uint64_t rung[KVMBUS_MAX_VECTORS];
	unsigned int calls;
};

static void cb_up(void *opaque)
{
	struct fixture *f = opaque;

	f->ups++;
	bar_reset(&f->bar);
}

static void cb_down(void *opaque)
{
	((struct fixture *)opaque)->downs++;
}

static void cb_doorbell(void *opaque, unsigned int vector, uint64_t count)
{
	struct fixture *f = opaque;

	f->rung[vector] += count;
	f->calls++;
}

static const struct ivshmem_ops ops = {
	.client_up = cb_up,
	.client_down = cb_down,
	.doorbell = cb_doorbell,
};

static struct fixture *fixture_new(unsigned int vectors)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->fds_before = count_fds();
	f->dir = make_tmpdir();
	f->path = tmp_path(f->dir, "ivshmem.sock");
	assert_int_equal(loop_init(&f->loop), 0);
	assert_int_equal(bar_create(&f->bar, 64 << 10, vectors), 0);
	assert_int_equal(ivshmem_init(&f->iv, &f->loop, f->path, vectors,
				      f->bar.fd, &ops, f), 0);
	return f;
}

static void fixture_free(struct fixture *f)
{
	struct stat st;

	ivshmem_fini(&f->iv);
	assert_int_equal(stat(f->path, &st), -1);	/* unlinked */
	bar_destroy(&f->bar);
	loop_fini(&f->loop);
	assert_int_equal(count_fds(), f->fds_before);
	free(f->path);
	rm_tmpdir(f->dir);
	free(f);
}

static void pump(struct fixture *f)
{
	while (loop_run_once(&f->loop, 0) > 0)
		;
}

static int qemu_connect(struct fixture *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(sa.sun_path, f->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* One server message as QEMU reads it: 8 bytes, at most one fd. */
static int64_t qemu_recv(struct fixture *f, int sock, int *rfd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} ctl;
	uint64_t le;
	size_t got = 0;
	int tries;

	*rfd = -1;
	for (tries = 0; got < sizeof(le) && tries < 1000; tries++) {
		struct iovec iov = { (char *)&le + got, sizeof(le) - got };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctl.buf,
			.msg_controllen = sizeof(ctl.buf),
		};
		struct cmsghdr *cm;
		ssize_t n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0 && errno == EAGAIN) {
			loop_run_once(&f->loop, 10);
			continue;
		}
		assert_true(n > 0);
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			assert_int_equal(cm->cmsg_type, SCM_RIGHTS);
			assert_int_equal(cm->cmsg_len, CMSG_LEN(sizeof(int)));
			assert_int_equal(*rfd, -1);
			memcpy(rfd, CMSG_DATA(cm), sizeof(int));
		}
		got += (size_t)n;
	}
	assert_int_equal(got, sizeof(le));
	return (int64_t)le64toh(le);
}

static bool is_eventfd(int fd)
{
	char link[64], target[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = 0;
	return !strcmp(target, "anon_inode:[eventfd]");
}

struct qemu {
	int sock;
	int shm;
	int host[KVMBUS_MAX_VECTORS];	/* peer 0: we ring these */
	int own[KVMBUS_MAX_VECTORS];	/* ours: kvmbusd raises these */
};

/* Receive and check the whole setup the way QEMU 7.2 consumes it. */
static void qemu_setup(struct fixture *f, struct qemu *q)
{
	unsigned int i, n = f->iv.vectors;
	struct kvmbus_bar_hdr *h;
	struct stat st;
	int fd;

	q->sock = qemu_connect(f);
	assert_int_equal(qemu_recv(f, q->sock, &fd), 0);	/* version */
	assert_int_equal(fd, -1);
	assert_int_equal(qemu_recv(f, q->sock, &fd), 1);	/* our id */
	assert_int_equal(fd, -1);
	assert_int_equal(qemu_recv(f, q->sock, &q->shm), -1);	/* shm */
	assert_true(q->shm >= 0);
	assert_int_equal(fstat(q->shm, &st), 0);
	assert_int_equal(st.st_size, f->bar.size);
	h = mmap(NULL, f->bar.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 q->shm, 0);
	assert_true(h != MAP_FAILED);
	assert_memory_equal(h->magic, KVMBUS_BAR_MAGIC, KVMBUS_BAR_MAGIC_LEN);
	assert_int_equal(le32_to_cpu(h->nr_vectors), n);
	assert_int_equal(le32_to_cpu(h->host_generation), f->bar.generation);
	munmap(h, f->bar.size);

	for (i = 0; i < n; i++) {
		assert_int_equal(qemu_recv(f, q->sock, &q->host[i]), 0);
		assert_true(is_eventfd(q->host[i]));
	}
	for (i = 0; i < n; i++) {
		assert_int_equal(qemu_recv(f, q->sock, &q->own[i]), 1);
		assert_true(is_eventfd(q->own[i]));
	}
	pump(f);
	assert_true(ivshmem_setup_done(&f->iv));
	/* Nothing more: QEMU's own id message ended the setup. */
	assert_int_equal(recv(q->sock, &fd, 1, MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
}

static void qemu_close(struct fixture *f, struct qemu *q)
{
	unsigned int i;

	close(q->sock);
	close(q->shm);
	for (i = 0; i < f->iv.vectors; i++) {
		close(q->host[i]);
		close(q->own[i]);
	}
	pump(f);
}

static void test_setup_sequence(void **state)
{
	struct fixture *f = fixture_new(4);
	unsigned int i;
	int64_t val;
	int fd;

	(void)state;
	/* The message table, independent of any socket. */
	assert_int_equal(ivshmem_setup_len(&f->iv), 3 + 2 * 4);
	assert_int_equal(ivshmem_setup_msg(&f->iv, 0, &val, &fd), 0);
	assert_int_equal(val, 0);
	assert_int_equal(ivshmem_setup_msg(&f->iv, 2, &val, &fd), 0);
	assert_int_equal(val, -1);
	assert_int_equal(fd, f->bar.fd);
	assert_int_equal(ivshmem_setup_msg(&f->iv, 3 + 2 * 4, &val, &fd),
			 -ENOENT);
	for (i = 0; i < 8; i++) {
		assert_int_equal(ivshmem_setup_msg(&f->iv, 3 + i, &val, &fd), 0);
		assert_int_equal(val, i < 4 ? IVSHMEM_HOST_ID :
					      IVSHMEM_CLIENT_ID);
	}
	fixture_free(f);
	(void)state;
}

static void test_connect_doorbell_notify(void **state)
{
	struct fixture *f = fixture_new(4);
	uint64_t one = 1, v;
	struct qemu q;

	(void)state;
	assert_false(ivshmem_connected(&f->iv));
	assert_int_equal(ivshmem_notify(&f->iv, 0), -ENOTCONN);
	qemu_setup(f, &q);
	assert_int_equal(f->ups, 1);
	assert_true(ivshmem_connected(&f->iv));

	/* Guest doorbell (0 << 16 | 2): QEMU writes peer 0's eventfd 2. */
	assert_int_equal(write(q.host[2], &one, 8), 8);
	assert_int_equal(write(q.host[2], &one, 8), 8);
	pump(f);
	assert_int_equal(f->rung[2], 2);
	assert_int_equal(f->iv.stats.doorbells[2], 2);
	assert_int_equal(f->rung[0] + f->rung[1] + f->rung[3], 0);
	assert_int_equal(write(q.host[0], &one, 8), 8);
	pump(f);
	assert_int_equal(f->rung[0], 1);

	/* kvmbusd raises MSI-X vector 3: QEMU's own eventfd 3 fires. */
	assert_int_equal(ivshmem_notify(&f->iv, 3), 0);
	assert_int_equal(read(q.own[3], &v, 8), 8);
	assert_int_equal(v, 1);
	assert_int_equal(read(q.own[1], &v, 8), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(ivshmem_notify(&f->iv, 4), -EINVAL);
	assert_int_equal(f->iv.stats.notifies, 1);

	qemu_close(f, &q);
	assert_false(ivshmem_connected(&f->iv));
	assert_int_equal(f->downs, 1);
	assert_int_equal(ivshmem_notify(&f->iv, 0), -ENOTCONN);
	fixture_free(f);
}

static void test_second_client_refused(void **state)
{
	struct fixture *f = fixture_new(2);
	struct qemu q;
	char c;
	int s2, fd;

	(void)state;
	qemu_setup(f, &q);
	s2 = qemu_connect(f);
	pump(f);
	/* A version QEMU rejects (closing alone makes QEMU spin), then EOF. */
	assert_int_equal(qemu_recv(f, s2, &fd), IVSHMEM_REFUSED_VERSION);
	assert_int_equal(fd, -1);
	assert_int_equal(recv(s2, &c, 1, 0), 0);
	close(s2);
	assert_int_equal(f->iv.stats.refused, 1);
	assert_true(ivshmem_connected(&f->iv));
	assert_int_equal(f->ups, 1);
	qemu_close(f, &q);
	fixture_free(f);
}

static void test_reconnect_no_leak(void **state)
{
	struct fixture *f = fixture_new(64);
	struct qemu q;
	int i, fds;

	(void)state;
	fds = count_fds();
	for (i = 0; i < 3; i++) {
		qemu_setup(f, &q);
		assert_int_equal(f->bar.generation, (uint32_t)i + 2);
		qemu_close(f, &q);
		assert_int_equal(count_fds(), fds);
	}
	assert_int_equal(f->iv.stats.connects, 3);
	assert_int_equal(f->iv.stats.disconnects, 3);
	assert_int_equal(f->ups, 3);
	assert_int_equal(f->downs, 3);
	fixture_free(f);
}

/* 256 vectors: 515 messages with 513 fds do not fit a socket buffer, so
 * the server must wait for EPOLLOUT instead of blocking. */
static void test_big_setup(void **state)
{
	struct fixture *f = fixture_new(KVMBUS_MAX_VECTORS);
	struct qemu q;
	int fds = count_fds();

	(void)state;
	qemu_setup(f, &q);
	print_message("setup paused %llu times on a full socket\n",
		      (unsigned long long)f->iv.stats.setup_waits);
	qemu_close(f, &q);
	assert_int_equal(count_fds(), fds);
	fixture_free(f);
}

static void test_client_gone_mid_setup(void **state)
{
	struct fixture *f = fixture_new(KVMBUS_MAX_VECTORS);
	int s, fd, fds = count_fds();

	(void)state;
	s = qemu_connect(f);
	pump(f);
	assert_true(ivshmem_connected(&f->iv));
	assert_int_equal(qemu_recv(f, s, &fd), 0);
	close(s);	/* with hundreds of fds still queued for it */
	pump(f);
	assert_false(ivshmem_connected(&f->iv));
	assert_int_equal(f->downs, 1);
	assert_int_equal(count_fds(), fds);
	fixture_free(f);
}

static void test_client_that_writes_is_dropped(void **state)
{
	struct fixture *f = fixture_new(1);
	struct qemu q;

	(void)state;
	qemu_setup(f, &q);
	assert_int_equal(write(q.sock, "hello", 5), 5);
	pump(f);
	assert_false(ivshmem_connected(&f->iv));
	assert_int_equal(f->iv.stats.bad_clients, 1);
	qemu_close(f, &q);
	fixture_free(f);
}

static void test_socket_path_rules(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct fixture *f = fixture_new(1);
	struct ivshmem iv2;
	char *other = tmp_path(f->dir, "other");
	char longpath[200];
	int fd;

	(void)state;
	/* A live server owns the path. */
	assert_int_equal(ivshmem_init(&iv2, &f->loop, f->path, 1, f->bar.fd,
				      &ops, f), -EADDRINUSE);
	ivshmem_fini(&iv2);

	/* A regular file is not ours to remove. */
	fd = open(other, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(ivshmem_init(&iv2, &f->loop, other, 1, f->bar.fd,
				      &ops, f), -EEXIST);
	ivshmem_fini(&iv2);
	unlink(other);

	/* A stale socket (nobody listening) is replaced. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	strcpy(sa.sun_path, other);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(ivshmem_init(&iv2, &f->loop, other, 1, f->bar.fd,
				      &ops, f), 0);
	ivshmem_fini(&iv2);

	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = 0;
	assert_int_equal(ivshmem_init(&iv2, &f->loop, longpath, 1, f->bar.fd,
				      &ops, f), -ENAMETOOLONG);
	ivshmem_fini(&iv2);
	assert_int_equal(ivshmem_init(&iv2, &f->loop, other, 0, f->bar.fd,
				      &ops, f), -EINVAL);
	ivshmem_fini(&iv2);
	assert_int_equal(ivshmem_init(&iv2, &f->loop, other,
				      KVMBUS_MAX_VECTORS + 1, f->bar.fd,
				      &ops, f), -EINVAL);
	ivshmem_fini(&iv2);
	free(other);
	fixture_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_setup_sequence),
		cmocka_unit_test(test_connect_doorbell_notify),
		cmocka_unit_test(test_second_client_refused),
		cmocka_unit_test(test_reconnect_no_leak),
		cmocka_unit_test(test_big_setup),
		cmocka_unit_test(test_client_gone_mid_setup),
		cmocka_unit_test(test_client_that_writes_is_dropped),
		cmocka_unit_test(test_socket_path_rules),
	};

	return cmocka_run_group_tests_name("ivshmem", tests, NULL, NULL);
}
