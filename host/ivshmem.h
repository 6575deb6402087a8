/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The ivshmem server end that QEMU's ivshmem-doorbell device connects to
 * (QEMU docs/specs/ivshmem-spec.rst, checked against QEMU 7.2).
 *
 * All messages go server -> QEMU, each a little-endian int64 with at most
 * one fd attached (SCM_RIGHTS); QEMU never writes.  On connect kvmbusd
 * sends, in this order:
 *
 *	0			protocol version
 *	1			the client's id (no fd)
 *	-1	+ memfd		BAR2 shared memory
 *	0	+ eventfd	x vectors: peer 0 = kvmbusd; QEMU writes these
 *				when the guest rings doorbell (0 << 16 | v)
 *	1	+ eventfd	x vectors: the client's own; kvmbusd writes
 *				these to raise MSI-X vector v in the guest
 *
 * QEMU reads the first three synchronously while it creates the device,
 * the eventfds from its main loop.  It must be given exactly as many
 * eventfds per peer as its vectors= property says: more are refused with
 * an error, fewer leave vectors dead.  kvmbusd serves one client at a
 * time; further connections get IVSHMEM_REFUSED_VERSION and are closed.  A client that goes away
 * is forgotten completely (every fd closed) and the next one gets a
 * fresh set.
 */
#ifndef KVMBUSD_IVSHMEM_H
#define KVMBUSD_IVSHMEM_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "log.h"
#include "loop.h"
#include "proto.h"
#include "sock.h"

#define IVSHMEM_PROTOCOL_VERSION	0
#define IVSHMEM_HOST_ID			0	/* kvmbusd, a virtual peer */
#define IVSHMEM_CLIENT_ID		1	/* QEMU */
#define IVSHMEM_DEFAULT_VECTORS		64
/*
 * Sent as the "protocol version" to a client that is refused because a
 * QEMU is already connected.  QEMU 7.2 spins forever on a server that
 * just closes the socket during its synchronous setup; a wrong version
 * makes it fail cleanly ("server sent version -2, expecting 0").
 */
#define IVSHMEM_REFUSED_VERSION		(-2)

struct ivshmem;

struct ivshmem_ops {
	/* A QEMU connected; called before it is sent the memfd. */
	void (*client_up)(void *opaque);
	/* Its connection is gone and every fd of it closed. */
	void (*client_down)(void *opaque);
	/* The guest rang @vector @count times since the last call. */
	void (*doorbell)(void *opaque, unsigned int vector, uint64_t count);
};

struct ivshmem_vec {
	struct loop_src src;
	struct ivshmem *iv;
	int doorbell_fd;	/* peer 0's: guest -> kvmbusd */
	int irq_fd;		/* the client's: kvmbusd -> guest MSI-X */
	bool lent;		/* doorbell_fd read by a channel worker */
};

struct ivshmem_client {
	struct loop_src src;
	int fd;			/* -1: no client */
	pid_t pid;
	uid_t uid;
	unsigned int next;	/* next setup message to send */
	unsigned int off;	/* bytes of it already sent */
	uint32_t events;	/* what the loop waits for */
};

struct ivshmem_stats {
	uint64_t connects;
	uint64_t disconnects;
	uint64_t refused;	/* connections while a client was active */
	uint64_t bad_clients;	/* wrote to us or failed setup */
	uint64_t notifies;
	uint64_t setup_waits;	/* setup paused on a full socket */
	uint64_t doorbells[KVMBUS_MAX_VECTORS];	/* atomic (lent vectors) */
};

struct ivshmem {
	struct loop *loop;
	struct unix_listener listener;
	struct loop_src listen_src;
	unsigned int vectors;
	int shm_fd;		/* not owned */
	const struct ivshmem_ops *ops;
	void *opaque;
	struct ivshmem_client client;
	struct ivshmem_vec vec[KVMBUS_MAX_VECTORS];
	struct ivshmem_stats stats;
	struct ratelimit rl;	/* for anything a peer can trigger */
	/* ivshmem_notify() runs on channel workers too: it guards each
	 * vec[].irq_fd while it is written and while it is closed. */
	pthread_mutex_t irq_lock;
	/* Supervisor: the eventfds are made once and every QEMU gets them. */
	bool held;
	/* Supervised child: no socket, eventfds inherited from the parent. */
	bool adopted;
};

/*
 * ivshmem_doorbell_lend() - let a channel worker read @vector's doorbells
 * @count: set to the vector's counter, which the reader adds to with
 *	__atomic_fetch_add()
 *
 * Main thread.  The main loop stops watching the vector's doorbell
 * eventfd; the caller gets a duplicate of it for its own epoll set, so
 * the doorbell reaches the thread that serves the channel without a hop
 * through the main loop.  The duplicate is the caller's to close, after
 * ivshmem_doorbell_return(); it stays valid (and silent) if QEMU leaves.
 * Return: the fd, or -EINVAL (vector 0 or out of range), -ENOTCONN (no
 * eventfd), -EBUSY (lent already), -EPERM (a supervisor: it serves no
 * doorbells), or dup()'s -errno.
 */
int ivshmem_doorbell_lend(struct ivshmem *iv, unsigned int vector,
			  uint64_t **count);

/* Watch a lent vector's doorbell on the main loop again (main thread);
 * a vector not lent (QEMU reconnected meanwhile) is left alone. */
void ivshmem_doorbell_return(struct ivshmem *iv, unsigned int vector);

/*
 * ivshmem_init() - listen on @path and serve QEMU from @loop
 * @vectors: 1..KVMBUS_MAX_VECTORS, QEMU's vectors= property
 * @shm_fd: the BAR2 memfd, kept open by the caller
 *
 * Return: 0 or -errno (logged).
 */
int ivshmem_init(struct ivshmem *iv, struct loop *loop, const char *path,
		 unsigned int vectors, int shm_fd,
		 const struct ivshmem_ops *ops, void *opaque);

/*
 * ivshmem_hold_vectors() - make the eventfds now, once, for every client
 *
 * For the supervisor (supervise.h): after ivshmem_init(), create both
 * eventfds of every vector; each QEMU that connects is handed these, and
 * they outlive the kvmbusd child that serves them.  The doorbells are not
 * watched here: the child does that.
 * Return: 0 or -errno (logged).
 */
int ivshmem_hold_vectors(struct ivshmem *iv);

/*
 * ivshmem_adopt() - serve eventfds a supervisor holds, without a socket
 * @doorbell_fds: per vector, what the guest's doorbell writes; watched
 * @irq_fds: per vector, what raises MSI-X in the guest
 *
 * The fds become the ivshmem's (closed by ivshmem_fini()).
 * Return: 0 or -errno.
 */
int ivshmem_adopt(struct ivshmem *iv, struct loop *loop, unsigned int vectors,
		  const int *doorbell_fds, const int *irq_fds,
		  const struct ivshmem_ops *ops, void *opaque);

/* Drop any client, close the listener and unlink the socket. */
void ivshmem_fini(struct ivshmem *iv);

/* Return: true while a client is connected. */
bool ivshmem_connected(const struct ivshmem *iv);

/* Return: true once the whole setup has been handed to the client. */
bool ivshmem_setup_done(const struct ivshmem *iv);

/*
 * ivshmem_notify() - raise MSI-X @vector in the guest; any thread
 * Return: 0, -ENOTCONN without a client, -EINVAL for a bad vector.
 */
int ivshmem_notify(struct ivshmem *iv, unsigned int vector);

/* Number of setup messages a client receives: 3 + 2 * vectors. */
unsigned int ivshmem_setup_len(const struct ivshmem *iv);

/*
 * ivshmem_setup_msg() - the @idx-th setup message for the current client
 * @val: the int64 to send
 * @fd: the fd to attach, or -1
 *
 * Return: 0, or -ENOENT past the end.
 */
int ivshmem_setup_msg(const struct ivshmem *iv, unsigned int idx,
		      int64_t *val, int *fd);

/* Disconnect the current client, if any. */
void ivshmem_drop_client(struct ivshmem *iv, const char *why);

#endif /* KVMBUSD_IVSHMEM_H */
