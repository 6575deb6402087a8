// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for the guest's checks of host control messages
 * (drivers/vmbus/ctl_check.c, compiled into the test): every way a host
 * message can be malformed on its own, one at a time, next to the valid
 * message it was made from.
 */
#include <kunit/test.h>
#include <linux/string.h>

#include "drivers/vmbus/ctl_check.c"

#define MSG_BUF	4096u

/* Host-to-guest types and the structure each must fill at least. */
static const struct {
	u32 type;
	u32 min_len;
	bool has_id;	/* a relid / GPADL id at offset 8 that must not be 0 */
} h2g[] = {
	{ KVMBUS_CTL_VERSION_RESP, 24, false },
	{ KVMBUS_CTL_OFFER, 120, false },
	{ KVMBUS_CTL_ALL_OFFERS_DONE, 8, false },
	{ KVMBUS_CTL_RESCIND, 16, true },
	{ KVMBUS_CTL_UNLOAD_RESP, 8, false },
	{ KVMBUS_CTL_GPADL_CREATED, 16, true },
	{ KVMBUS_CTL_GPADL_TORNDOWN, 16, true },
	{ KVMBUS_CTL_OPEN_RESULT, 16, true },
	{ KVMBUS_CTL_CLOSE_RESULT, 16, true },
};

static const u32 g2h[] = {
	KVMBUS_CTL_VERSION_REQ, KVMBUS_CTL_REQUEST_OFFERS,
	KVMBUS_CTL_RELID_RELEASED, KVMBUS_CTL_GPADL_CREATE,
	KVMBUS_CTL_GPADL_BODY, KVMBUS_CTL_GPADL_TEARDOWN, KVMBUS_CTL_OPEN,
	KVMBUS_CTL_CLOSE, KVMBUS_CTL_REQUEST_SUBCHANNELS, KVMBUS_CTL_UNLOAD,
};

/* A message of @type in @buf, id field @id, everything else zero. */
static void *make_msg(struct kunit *test, u32 type, u32 id)
{
	u8 *buf = kunit_kzalloc(test, MSG_BUF, GFP_KERNEL);
	struct kvmbus_ctl_relid *m = (void *)buf;

	KUNIT_ASSERT_NOT_NULL(test, buf);
	m->hdr.type = cpu_to_le32(type);
	m->relid = cpu_to_le32(id);
	return buf;
}

static int check(const void *msg, u32 len, u32 *type)
{
	*type = 0xdead;
	return kvmbus_ctl_check_msg(msg, len, type);
}

/* Every host type at its exact size, longer, and up to the packet limit. */
static void ctl_msg_valid_test(struct kunit *test)
{
	u32 i, type, extra[] = { 0, 1, 8, 100, MSG_BUF };

	for (i = 0; i < ARRAY_SIZE(h2g); i++) {
		void *msg = make_msg(test, h2g[i].type, 1);
		u32 j;

		for (j = 0; j < ARRAY_SIZE(extra); j++) {
			u32 len = min(h2g[i].min_len + extra[j], MSG_BUF);

			KUNIT_EXPECT_EQ_MSG(test, check(msg, len, &type), 0,
					    "type %u, %u bytes", h2g[i].type,
					    len);
			KUNIT_EXPECT_EQ(test, type, h2g[i].type);
		}
	}
}

/* Shorter than a header, or than the type's structure: every length. */
static void ctl_msg_short_test(struct kunit *test)
{
	u32 i, len, type;

	for (i = 0; i < ARRAY_SIZE(h2g); i++) {
		void *msg = make_msg(test, h2g[i].type, 1);

		for (len = 0; len < h2g[i].min_len; len++) {
			KUNIT_EXPECT_EQ_MSG(test, check(msg, len, &type),
					    -EMSGSIZE, "type %u, %u bytes",
					    h2g[i].type, len);
			KUNIT_EXPECT_EQ(test, type, 0xdead);
		}
	}
}

/* Types that do not exist, or that only the guest sends. */
static void ctl_msg_bad_type_test(struct kunit *test)
{
	u32 unknown[] = { 0, KVMBUS_CTL_MAX + 1, KVMBUS_CTL_MAX + 2, 0x100,
			  0x02000000 /* VERSION_RESP big-endian */,
			  0x80000002, U32_MAX };
	u32 i, type;

	for (i = 0; i < ARRAY_SIZE(unknown); i++) {
		void *msg = make_msg(test, unknown[i], 1);

		KUNIT_EXPECT_EQ_MSG(test, check(msg, MSG_BUF, &type), -EBADMSG,
				    "type %#x", unknown[i]);
		/* Too short for any header: the length is judged first. */
		KUNIT_EXPECT_EQ(test, check(msg, 7, &type), -EMSGSIZE);
		KUNIT_EXPECT_EQ(test, type, 0xdead);
	}
	for (i = 0; i < ARRAY_SIZE(g2h); i++) {
		void *msg = make_msg(test, g2h[i], 1);

		KUNIT_EXPECT_EQ_MSG(test, check(msg, MSG_BUF, &type), -EBADMSG,
				    "guest-only type %u", g2h[i]);
		KUNIT_EXPECT_EQ(test, type, 0xdead);
	}
}

/* A RESCIND or an answer naming relid / GPADL 0. */
static void ctl_msg_id_zero_test(struct kunit *test)
{
	u32 i, type;

	for (i = 0; i < ARRAY_SIZE(h2g); i++) {
		void *msg = make_msg(test, h2g[i].type, 0);

		KUNIT_EXPECT_EQ_MSG(test, check(msg, h2g[i].min_len, &type),
				    h2g[i].has_id ? -EINVAL : 0, "type %u",
				    h2g[i].type);
	}
}

struct offer_case {
	const char *name;
	u32 relid;
	u16 vector;
	u16 flags;
	u16 sub_index;
	u32 data_len;
	u32 nr_vectors;
	int ret;
};

#define SUB	KVMBUS_OFFER_F_SUBCHANNEL

static const struct offer_case offer_cases[] = {
	{ "valid primary", 5, 3, 0, 0, 6, 64, 0 },
	{ "relid 0", 0, 3, 0, 0, 6, 64, -EINVAL },
	{ "relid U32_MAX", U32_MAX, 3, 0, 0, 6, 64, 0 },
	{ "control vector 0", 5, 0, 0, 0, 6, 64, -EINVAL },
	{ "last vector", 5, 63, 0, 0, 6, 64, 0 },
	{ "vector = nr_vectors", 5, 64, 0, 0, 6, 64, -EINVAL },
	{ "vector beyond nr_vectors", 5, 200, 0, 0, 6, 64, -EINVAL },
	{ "vector 0xffff", 5, 0xffff, 0, 0, 6, 256, -EINVAL },
	{ "vector 1 of 1 vector", 5, 1, 0, 0, 6, 1, -EINVAL },
	{ "vector 1 of 2 vectors", 5, 1, 0, 0, 6, 2, 0 },
	{ "no vectors at all", 5, 1, 0, 0, 6, 0, -EINVAL },
	{ "no class data", 5, 3, 0, 0, 0, 64, 0 },
	{ "class data at the limit", 5, 3, 0, 0, KVMBUS_OFFER_DATA_MAX, 64, 0 },
	{ "class data 1 over", 5, 3, 0, 0, KVMBUS_OFFER_DATA_MAX + 1, 64,
	  -EINVAL },
	{ "class data U32_MAX", 5, 3, 0, 0, U32_MAX, 64, -EINVAL },
	{ "unknown flag", 5, 3, BIT(1), 0, 6, 64, -EINVAL },
	{ "top flag", 5, 3, BIT(15), 0, 6, 64, -EINVAL },
	{ "sub-channel 1", 7, 4, SUB, 1, 0, 64, 0 },
	{ "sub-channel 0xffff", 7, 4, SUB, 0xffff, 0, 64, 0 },
	{ "sub-channel with index 0", 7, 4, SUB, 0, 0, 64, -EINVAL },
	{ "sub-channel plus unknown flag", 7, 4, SUB | BIT(2), 1, 0, 64,
	  -EINVAL },
	{ "primary with index 1", 5, 3, 0, 1, 6, 64, -EINVAL },
	{ "primary with index 0xffff", 5, 3, 0, 0xffff, 6, 64, -EINVAL },
	{ "sub-channel, relid 0", 0, 4, SUB, 1, 0, 64, -EINVAL },
	{ "sub-channel, control vector", 7, 0, SUB, 1, 0, 64, -EINVAL },
};

static void offer_desc(const struct offer_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(offer, offer_cases, offer_desc);

static void ctl_offer_test(struct kunit *test)
{
	const struct offer_case *c = test->param_value;
	struct kvmbus_ctl_offer *o = make_msg(test, KVMBUS_CTL_OFFER, c->relid);
	u32 type;

	o->vector = cpu_to_le16(c->vector);
	o->flags = cpu_to_le16(c->flags);
	o->sub_index = cpu_to_le16(c->sub_index);
	o->max_subchannels = cpu_to_le16(8);
	o->data_len = cpu_to_le32(c->data_len);
	/* Whatever its fields, an offer of full size passes the first check. */
	KUNIT_EXPECT_EQ(test, check(o, sizeof(*o), &type), 0);
	KUNIT_EXPECT_EQ(test, kvmbus_ctl_check_offer(o, c->nr_vectors), c->ret);
}

/* Fields are little-endian: a big-endian vector is another vector. */
static void ctl_offer_byte_order_test(struct kunit *test)
{
	struct kvmbus_ctl_offer *o = make_msg(test, KVMBUS_CTL_OFFER, 5);
	u8 *v = (u8 *)&o->vector;

	v[0] = 0;
	v[1] = 3;	/* 0x0300 */
	KUNIT_EXPECT_EQ(test, kvmbus_ctl_check_offer(o, 256), -EINVAL);
	v[0] = 3;
	v[1] = 0;
	KUNIT_EXPECT_EQ(test, kvmbus_ctl_check_offer(o, 256), 0);
}

static void ctl_version_test(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, kvmbus_ctl_check_version(KVMBUS_VERSION_MIN), 0);
	KUNIT_EXPECT_EQ(test, kvmbus_ctl_check_version(KVMBUS_VERSION_MAX), 0);
	/* 0: the host found no version in common. */
	KUNIT_EXPECT_EQ(test, kvmbus_ctl_check_version(0), -EPROTO);
	KUNIT_EXPECT_EQ(test, kvmbus_ctl_check_version(KVMBUS_VERSION_MIN - 1),
			-EPROTO);
	KUNIT_EXPECT_EQ(test, kvmbus_ctl_check_version(KVMBUS_VERSION_MAX + 1),
			-EPROTO);
	KUNIT_EXPECT_EQ(test, kvmbus_ctl_check_version(KVMBUS_VERSION(0, 9)),
			-EPROTO);
	KUNIT_EXPECT_EQ(test, kvmbus_ctl_check_version(KVMBUS_VERSION(2, 0)),
			-EPROTO);
	KUNIT_EXPECT_EQ(test, kvmbus_ctl_check_version(U32_MAX), -EPROTO);
}

static void ctl_status_errno_test(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, kvmbus_ctl_status_errno(0), 0);
	KUNIT_EXPECT_EQ(test, kvmbus_ctl_status_errno(EPERM), -EPERM);
	KUNIT_EXPECT_EQ(test, kvmbus_ctl_status_errno(ENOENT), -ENOENT);
	KUNIT_EXPECT_EQ(test, kvmbus_ctl_status_errno(EBUSY), -EBUSY);
	KUNIT_EXPECT_EQ(test, kvmbus_ctl_status_errno(MAX_ERRNO), -MAX_ERRNO);
	KUNIT_EXPECT_EQ(test, kvmbus_ctl_status_errno(MAX_ERRNO + 1), -EPROTO);
	KUNIT_EXPECT_EQ(test, kvmbus_ctl_status_errno(0x80000000), -EPROTO);
	KUNIT_EXPECT_EQ(test, kvmbus_ctl_status_errno(U32_MAX), -EPROTO);
}

static struct kunit_case kvmbus_ctl_cases[] = {
	KUNIT_CASE(ctl_msg_valid_test),
	KUNIT_CASE(ctl_msg_short_test),
	KUNIT_CASE(ctl_msg_bad_type_test),
	KUNIT_CASE(ctl_msg_id_zero_test),
	KUNIT_CASE_PARAM(ctl_offer_test, offer_gen_params),
	KUNIT_CASE(ctl_offer_byte_order_test),
	KUNIT_CASE(ctl_version_test),
	KUNIT_CASE(ctl_status_errno_test),
	{}
};

static struct kunit_suite kvmbus_ctl_suite = {
	.name = "kvmbus_ctl",
	.test_cases = kvmbus_ctl_cases,
};

kunit_test_suite(kvmbus_ctl_suite);

MODULE_DESCRIPTION("KUnit tests for the kvmbus control-message checks");
MODULE_LICENSE("GPL");
