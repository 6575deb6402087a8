/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kvmbusd's control plane: the BAR2 mailbox connect / reset handshake
 * (docs/protocol.md section 3) and the control protocol on the control
 * ring pair (section 6), over the device table; it owns the connection's
 * GPADLs (gpadl.h) and channels (chan.h) and serves their doorbells.
 *
 * Everything runs on the event loop: ctl_doorbell() on every doorbell of
 * vector 0, ctl_chan_doorbell() on every other, ctl_poll() and
 * ctl_chans_poll() again when a pass ran out of budget, the device calls
 * from the control socket.  The guest is hostile: every mailbox
 * field is read once into a private copy and validated; every ring index
 * and packet goes through ring.c (the guest's own code, built through
 * kshim/) and <kvmbus/wire.h>; every message is copied out of shared
 * memory before ctl_handle_msg() looks at it.  Nothing the guest does
 * stops kvmbusd: bad messages are dropped and counted, a broken ring
 * stops this connection only, and logs are rate limited.
 *
 * Replies are queued in @outq and moved into the host->guest ring as
 * space allows; while any reply waits for space no further request is
 * taken from the guest->host ring (back-pressure), so the queue stays
 * bounded: see CTL_OUTQ_LEN.
 */
#ifndef KVMBUSD_CTL_H
#define KVMBUSD_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include "bar.h"
#include "chan.h"
#include "devices.h"
#include "gpadl.h"
#include "log.h"
#include "proto.h"
#include "ring.h"

struct guestmem;

/* Largest control packet accepted, descriptor to trailer (exclusive):
 * GPADL_CREATE with 64 ranges is 24 + 24 + 64 * 16 bytes. */
#define CTL_PKT_MAX		4096u
/* Packets taken from the guest per ctl_poll(). */
#define CTL_BUDGET		256u
/* Largest message the host sends. */
#define CTL_MSG_MAX		sizeof(struct kvmbus_ctl_offer)
/*
 * Replies waiting for ring space.  Requests are taken only while the
 * queue is empty, and the largest reply (to REQUEST_OFFERS) is DEV_MAX
 * OFFERs and ALL_OFFERS_DONE.  Until the next request is taken, the only
 * additions are hot add (one OFFER per new device) and hot remove (one
 * RESCIND per device, which then stays live until the guest answers), so
 * at most one OFFER and one RESCIND per live device: 2 * DEV_MAX + 1.
 * The reply to REQUEST_SUBCHANNELS is larger by at most
 * KVMBUS_MAX_SUBCHANNELS OFFERs of sub-channels (and its result stands
 * in for ALL_OFFERS_DONE).
 */
#define CTL_OUTQ_LEN		(2 * DEV_MAX + KVMBUS_MAX_SUBCHANNELS + 8)
/* Feature bits kvmbusd speaks (none are defined yet). */
#define CTL_HOST_FEATURES	0ull

enum ctl_state {
	CTL_IDLE,		/* no control rings attached */
	CTL_ONLINE,		/* attached, serving the control protocol */
	CTL_BROKEN,		/* attached, but the guest broke a ring or the
				 * protocol: ignored until it reconnects */
};

struct ctl_stats {
	uint64_t connects;	/* CONNECTs accepted (ONLINE answers) */
	uint64_t reconnects;	/* ... that replaced a live connection */
	uint64_t refused;	/* CONNECTs answered with ERROR */
	uint64_t resets;	/* RESETs answered with IDLE */
	uint64_t mbox_rejected;	/* refused CONNECTs and invalid states */
	uint64_t pkts_in;	/* control packets taken from the guest */
	uint64_t pkts_out;	/* control packets put into the host->guest ring */
	uint64_t malformed;	/* unknown or short messages, non-inband */
	uint64_t unsupported;	/* known but not implemented yet */
	uint64_t unexpected;	/* valid but not now (e.g. before VERSION) */
	uint64_t broken;	/* connections marked broken */
	uint64_t signals;	/* vector-0 signals sent */
	uint64_t signal_errors;	/* ... that failed (no QEMU) */
	uint64_t ring_full;	/* replies that had to wait for space */
	uint64_t opens;		/* OPEN answered with status 0 */
	uint64_t open_failed;	/* ... with an error */
	uint64_t closes;	/* channels closed by CLOSE */
	uint64_t subchannels;	/* sub-channels granted */
	uint64_t chan_closed_by_host;	/* ... by rescind, unload, reset, a
					 * broken connection, QEMU gone */
};

struct ctl_ops {
	/* Raise @vector in the guest.  Return: 0 or -errno. */
	int (*signal)(void *opaque, unsigned int vector);
	/* Optional: a device was added, set or removed (state.h). */
	void (*changed)(void *opaque);
};

/* The identity a device had under a previous kvmbusd (state.h). */
struct ctl_dev_ident {
	uint32_t id;
	uint32_t relid;
	uint16_t vector;
	uint8_t instance_id[KVMBUS_UUID_SIZE];
};

/* A reply waiting for ring space, already in wire format. */
struct ctl_out {
	uint64_t trans_id;
	uint32_t len;
	uint8_t msg[CTL_MSG_MAX];
};

struct ctl {
	/* Borrowed from the daemon, which outlives us. */
	struct bar *bar;
	struct guestmem *gm;
	const struct ctl_ops *ops;
	void *opaque;

	struct devices devs;
	enum ctl_state state;
	/* kvmbusd --test: the classes' test_params are accepted. */
	bool test;
	/* kvmbusd --test (evil.c): the next guest message of this type,
	 * after evil_drop_skip more of them, is dropped unanswered; 0: none. */
	uint32_t evil_drop;
	uint32_t evil_drop_skip;

	/* The last mailbox answer: a CONNECT is taken only for a new
	 * generation, a RESET answered only once. */
	bool answered;
	uint32_t answered_state;	/* enum kvmbus_mbox_state */
	uint32_t answered_gen;
	uint32_t host_error;		/* of the last ERROR answer */
	struct bar_mbox mbox;		/* last CONNECT accepted */

	/* The connection (state != CTL_IDLE). */
	uint32_t generation;
	struct kvmbus_ring rx;		/* guest -> host: we consume */
	struct kvmbus_ring tx;		/* host -> guest: we produce */
	__le32 rx_features;		/* the rings' features at CONNECT */
	__le32 tx_features;
	uint32_t version;		/* negotiated; 0: not yet */
	uint64_t features;
	bool offers_requested;
	const char *broken_why;

	/* The guest's GPADLs and channels (slot i: relid i + 1, as in the
	 * channel table devs.chan). */
	struct gpadls gpadls;
	struct chan chans[CHAN_MAX];
	struct chan_env chan_env;

	struct ctl_out outq[CTL_OUTQ_LEN];
	unsigned int outq_head;
	unsigned int outq_len;

	struct ctl_stats stats;
	/* Guest-triggered logs: connection events (connect, refuse, reset,
	 * broken) apart from per-message noise, so that a chatty guest
	 * cannot crowd out the line that says its connection broke. */
	struct ratelimit rl_conn;
	struct ratelimit rl_msg;
	struct ratelimit rl_chan;	/* channel events (chan_env.rl) */
	/* One received packet, copied out of the ring. */
	uint64_t rxbuf[CTL_PKT_MAX / sizeof(uint64_t)];
};

/*
 * ctl_init() - an idle control plane with no devices
 * @bar: BAR2, whose mailbox we answer in
 * @gm: guest RAM
 * @nr_vectors: the device's vectors; devices get 1..nr_vectors-1
 */
void ctl_init(struct ctl *c, struct bar *bar, struct guestmem *gm,
	      unsigned int nr_vectors, const struct ctl_ops *ops,
	      void *opaque);

/*
 * ctl_doorbell() - the guest rang vector 0
 *
 * Reads the guest half of the mailbox once, acts on a new CONNECT or a
 * RESET, then serves the control ring.
 * Return: true if work is left (budget exhausted): call ctl_poll() soon.
 */
bool ctl_doorbell(struct ctl *c);

/*
 * ctl_mailbox() - act on a mailbox snapshot (the first half of
 * ctl_doorbell(), for tests)
 * Return: true if the control ring should be served now.
 */
bool ctl_mailbox(struct ctl *c, const struct bar_mbox *m);

/*
 * ctl_poll() - serve the control ring: send what waits for space, then
 * take up to @budget packets, replying in one batch (one commit, at most
 * one signal)
 * Return: true if packets may be left: call again.
 */
bool ctl_poll(struct ctl *c, unsigned int budget);

/*
 * ctl_adopt() - start in a BAR a dead kvmbusd left behind (supervised)
 *
 * The CONNECT generation the predecessor acknowledged is treated as
 * answered: only a newer one is taken.
 */
void ctl_adopt(struct ctl *c);

/* At exit: forget the connection and free every device. */
void ctl_fini(struct ctl *c);

/* QEMU went away: forget the connection (the mailbox dies with it). */
void ctl_disconnect(struct ctl *c);

/*
 * ctl_chan_doorbell() - the guest rang a channel vector
 * @count: doorbells since the last call (an eventfd's count)
 *
 * A vector may be shared: every open channel on it gets a pass.
 * Return: true if work is left: call ctl_chans_poll() soon.
 */
bool ctl_chan_doorbell(struct ctl *c, unsigned int vector, uint64_t count);

/*
 * ctl_vector_alone() - may @ch's worker read its vector's doorbell itself?
 * Takes the vector's doorbell back from every other open channel on it
 * (chan_doorbell_share()).  Return: true if no other open channel uses
 * @ch's vector.  Main thread (chan_env.doorbell_lend).
 */
bool ctl_vector_alone(struct ctl *c, const struct chan *ch);

/*
 * ctl_chans_poll() - another pass over every channel whose last pass ran
 * out of budget (or that was just opened)
 * Return: true if work is still left.
 */
bool ctl_chans_poll(struct ctl *c);

/* Return: true if a channel waits for ctl_chans_poll(). */
bool ctl_work_pending(const struct ctl *c);

/* Return: the channel slot of live device @id (open or not), or NULL. */
struct chan *ctl_chan_by_id(struct ctl *c, uint32_t id);

/* Return: the channel slot of @dev's primary channel. */
static inline struct chan *ctl_chan_of(struct ctl *c, const struct device *dev)
{
	return &c->chans[dev->relid - 1];
}

/*
 * ctl_handle_msg() - one control message from the guest
 * @msg: the message, already copied out of shared memory
 * @len: its bytes (the packet's data_len)
 * @trans_id: the packet's, echoed in direct replies
 *
 * The one entry point of the protocol logic: the daemon (via ctl_poll()),
 * the unit tests and the fuzz target all call this.  Replies are queued;
 * ctl_send() or the rest of ctl_poll() puts them into the ring.
 */
void ctl_handle_msg(struct ctl *c, const void *msg, uint32_t len,
		    uint64_t trans_id);

/* Put queued replies into the ring, commit, signal if needed. */
void ctl_send(struct ctl *c);

/* Return: true while replies wait for ring space. */
bool ctl_out_pending(const struct ctl *c);

/*
 * ctl_device_add() - configure a device; offered at once to a guest that
 * has asked for offers
 * Return: 0, -ENOSPC, -ENXIO (see devices_add()).
 */
int ctl_device_add(struct ctl *c, const struct dev_class *cls,
		   struct device **out);

/*
 * ctl_device_add_params() - ctl_device_add() with the class's parameters
 * @params: a JSON object of strings, or NULL (see vsp_ops.dev_add)
 * @err: receives a message for a failure the class explains (may be
 *	empty: then strerror() says it); NULL if not wanted
 * Return: 0, -EINVAL (bad parameters), or as ctl_device_add().
 */
int ctl_device_add_params(struct ctl *c, const struct dev_class *cls,
			  struct json_object *params, char *err,
			  size_t errlen, struct device **out);

/*
 * ctl_device_add_at() - ctl_device_add_params() for a device a previous
 * kvmbusd had: same admin id, relid, vector and instance id
 * Return: as ctl_device_add_params(), or -EEXIST / -EINVAL (see
 * devices_add_at()).
 */
int ctl_device_add_at(struct ctl *c, const struct dev_class *cls,
		      struct json_object *params,
		      const struct ctl_dev_ident *at, char *err,
		      size_t errlen, struct device **out);

/*
 * ctl_device_set() - a run-time change of device @id (vsp_ops.dev_set)
 * @err: receives the message for a failure
 * Return: 0, -ENOENT, -EBUSY (being removed), -EINVAL, or the class's.
 */
int ctl_device_set(struct ctl *c, uint32_t id, struct json_object *params,
		   char *err, size_t errlen);

/*
 * ctl_device_remove() - hot remove
 * @out: the device (valid until the next ctl call); its state says
 *	whether it is gone (DEV_FREE) or waiting for the guest (DEV_RELEASING)
 *
 * A device whose offer the guest has is rescinded and stays RELEASING
 * until the guest sends RELID_RELEASED; any other is freed at once.  Its
 * open channels (sub-channels included) are closed first; its
 * sub-channels go with it (no RESCIND of their own).
 * Return: 0, -ENOENT for no such device, -EBUSY if it is already
 * being released.
 */
int ctl_device_remove(struct ctl *c, uint32_t id, struct device *out);

/*
 * ctl_send_raw() - put any message (at most CTL_MSG_MAX bytes) on the
 * host->guest control ring: for kvmbusd --test's hostile host (evil.c)
 * Return: 0, -ENOTCONN, -EAGAIN while replies wait, -EINVAL.
 */
int ctl_send_raw(struct ctl *c, const void *msg, uint32_t len);

/* "idle", "online" or "broken". */
const char *ctl_state_name(enum ctl_state state);

#endif /* KVMBUSD_CTL_H */
