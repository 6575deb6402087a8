// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbus control plane, guest side: is a message from the host well
 * formed?  Everything that can be judged from the message alone is judged
 * here; ctl.c then checks it against its state (a waiter for an answer,
 * a relid not offered twice).  Callers pass a private copy, so each field
 * is read once.
 */
#include <linux/err.h>
#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/stddef.h>

#include "ctl_check.h"

/* Minimum size of each host-to-guest message; 0 = not for the guest. */
static const u32 kvmbus_ctl_min_len[KVMBUS_CTL_MAX + 1] = {
	[KVMBUS_CTL_VERSION_RESP]	= sizeof(struct kvmbus_ctl_version_resp),
	[KVMBUS_CTL_OFFER]		= sizeof(struct kvmbus_ctl_offer),
	[KVMBUS_CTL_ALL_OFFERS_DONE]	= sizeof(struct kvmbus_ctl_hdr),
	[KVMBUS_CTL_RESCIND]		= sizeof(struct kvmbus_ctl_relid),
	[KVMBUS_CTL_UNLOAD_RESP]	= sizeof(struct kvmbus_ctl_hdr),
	[KVMBUS_CTL_GPADL_CREATED]	= sizeof(struct kvmbus_ctl_result),
	[KVMBUS_CTL_GPADL_TORNDOWN]	= sizeof(struct kvmbus_ctl_result),
	[KVMBUS_CTL_OPEN_RESULT]	= sizeof(struct kvmbus_ctl_result),
	[KVMBUS_CTL_CLOSE_RESULT]	= sizeof(struct kvmbus_ctl_result),
	[KVMBUS_CTL_SUBCHANNELS_RESULT]	=
		sizeof(struct kvmbus_ctl_subchannels_result),
};

/* The GPADL answers share the layout of the channel answers. */
static_assert(sizeof(struct kvmbus_ctl_gpadl_result) ==
	      sizeof(struct kvmbus_ctl_result));
static_assert(offsetof(struct kvmbus_ctl_gpadl_result, gpadl_id) ==
	      offsetof(struct kvmbus_ctl_result, relid));
static_assert(offsetof(struct kvmbus_ctl_gpadl_result, status) ==
	      offsetof(struct kvmbus_ctl_result, status));
/* So does the start of the sub-channel answer. */
static_assert(offsetof(struct kvmbus_ctl_subchannels_result, relid) ==
	      offsetof(struct kvmbus_ctl_result, relid));
static_assert(offsetof(struct kvmbus_ctl_subchannels_result, status) ==
	      offsetof(struct kvmbus_ctl_result, status));

/**
 * kvmbus_ctl_check_msg() - is this a well-formed message for the guest?
 * @msg: a private copy of the message, starting with its header
 * @len: its length in bytes, as the ring descriptor gave it
 * @type: receives the message type on success
 *
 * Checks the length against the type's structure (longer is fine: room
 * to grow), that the type is one the host sends, and the fields that are
 * wrong whatever the state: a relid or GPADL id of 0 in a RESCIND or an
 * answer.  Offers are checked by kvmbus_ctl_check_offer().
 *
 * Return: 0; -EMSGSIZE when too short for its header or type; -EBADMSG
 * for an unknown type or one only the guest sends; -EINVAL for a bad
 * field.
 */
int kvmbus_ctl_check_msg(const void *msg, u32 len, u32 *type)
{
	const struct kvmbus_ctl_hdr *hdr = msg;
	u32 t;

	if (len < sizeof(*hdr))
		return -EMSGSIZE;
	t = le32_to_cpu(hdr->type);
	if (t > KVMBUS_CTL_MAX || !kvmbus_ctl_min_len[t])
		return -EBADMSG;
	if (len < kvmbus_ctl_min_len[t])
		return -EMSGSIZE;

	switch (t) {
	case KVMBUS_CTL_RESCIND:
		if (!le32_to_cpu(((const struct kvmbus_ctl_relid *)msg)->relid))
			return -EINVAL;
		break;
	case KVMBUS_CTL_GPADL_CREATED:
	case KVMBUS_CTL_GPADL_TORNDOWN:
	case KVMBUS_CTL_OPEN_RESULT:
	case KVMBUS_CTL_CLOSE_RESULT:
		if (!le32_to_cpu(((const struct kvmbus_ctl_result *)msg)->relid))
			return -EINVAL;
		break;
	}
	*type = t;
	return 0;
}

/**
 * kvmbus_ctl_check_offer() - are an offer's fields valid?
 * @o: a private copy of the offer, at least sizeof(*@o) bytes
 * @nr_vectors: the MSI-X vectors the guest has
 *
 * A relid of 0, the control vector or one the guest does not have, class
 * data longer than %KVMBUS_OFFER_DATA_MAX, an unknown flag, a sub-channel
 * with index 0 and a primary channel with an index other than 0 are all
 * malformed.
 *
 * Return: 0 or -EINVAL.
 */
int kvmbus_ctl_check_offer(const struct kvmbus_ctl_offer *o, u32 nr_vectors)
{
	u16 vector = le16_to_cpu(o->vector), flags = le16_to_cpu(o->flags);
	u16 sub_index = le16_to_cpu(o->sub_index);

	if (!le32_to_cpu(o->relid) || vector == KVMBUS_CTL_VECTOR ||
	    vector >= nr_vectors ||
	    le32_to_cpu(o->data_len) > KVMBUS_OFFER_DATA_MAX ||
	    flags & ~KVMBUS_OFFER_F_SUBCHANNEL)
		return -EINVAL;
	if (flags & KVMBUS_OFFER_F_SUBCHANNEL ? !sub_index : sub_index)
		return -EINVAL;
	return 0;
}

/**
 * kvmbus_ctl_check_version() - may the guest use the version the host chose?
 * @version: VERSION_RESP's version
 *
 * Return: 0 for a version the guest speaks; -EPROTO for 0 (the host
 * found none in common) or any version outside the guest's range.
 */
int kvmbus_ctl_check_version(u32 version)
{
	if (!version || version < KVMBUS_VERSION_MIN ||
	    version > KVMBUS_VERSION_MAX)
		return -EPROTO;
	return 0;
}

/**
 * kvmbus_ctl_status_errno() - turn an answer's status into an errno
 * @status: the status the host sent: 0 or a positive errno
 *
 * Return: 0, the negated errno, or -EPROTO for a status that is no errno.
 */
int kvmbus_ctl_status_errno(u32 status)
{
	if (!status)
		return 0;
	return status <= MAX_ERRNO ? -(int)status : -EPROTO;
}
