// SPDX-License-Identifier: GPL-2.0-only
/*
 * The supervised kvmbusd's device table (state.h): a table saved by one
 * "child" and restored by the next gives the same devices (admin ids,
 * relids, vectors, instance ids, parameters, settings); a torn write
 * leaves the last table; a malformed one is refused; a table whose
 * parameters were changed (a host that offers less after a restart)
 * gives the same devices with the new offers; uuid parsing.
 */
#include <errno.h>
#include <json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "helpers.h"
#include "bar.h"
#include "ctl.h"
#include "devices.h"
#include "guestmem.h"
#include "proto.h"
#include "state.h"
#include <kvmbus/netvsc.h>
#include <kvmbus/storvsc.h>

#define RAM_SIZE	(1u << 20)

struct env {
	uint8_t *ram;
	struct guestmem gm;
	struct bar bar;
	struct ctl c;
};

static int no_signal(void *opaque, unsigned int vector)
{
	(void)opaque;
	(void)vector;
	return 0;
}

static const struct ctl_ops ops = { .signal = no_signal };

static struct env *env_new(void)
{
	struct guestmem_layout l;
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	e->ram = calloc(1, RAM_SIZE);
	assert_non_null(e->ram);
	assert_int_equal(guestmem_layout_fixed(RAM_SIZE, RAM_SIZE, &l), 0);
	guestmem_attach(&e->gm, e->ram, &l);
	assert_int_equal(bar_create(&e->bar, 4096, 8), 0);
	ctl_init(&e->c, &e->bar, &e->gm, 8, &ops, e);
	return e;
}

static void env_free(struct env *e)
{
	ctl_fini(&e->c);
	bar_destroy(&e->bar);
	free(e->ram);
	free(e);
}

static void save(struct state *st, struct env *e)
{
	struct json_object *t = state_from_devices(&e->c.devs);

	assert_non_null(t);
	assert_int_equal(state_save(st, t), 0);
	json_object_put(t);
}

static void no_fail(uint32_t id, const char *why)
{
	fail_msg("device %u not restored: %s", id, why);
}

static void test_roundtrip(void **unused)
{
	const struct dev_class *echo = dev_class_find("echo");
	struct env *a = env_new(), *b = env_new();
	struct device *d1, *d2, *d3, *r;
	struct json_object *p, *t;
	struct state st;
	const char *why;
	int err;

	(void)unused;
	assert_int_equal(state_create(&st), 0);
	t = state_load(&st, &err, &why);
	assert_null(t);
	assert_int_equal(err, 0);		/* empty: start from --device */

	p = json_object_new_object();
	json_object_object_add(p, "subchannels", json_object_new_string("2"));
	assert_int_equal(ctl_device_add_params(&a->c, echo, p, NULL, 0, &d1), 0);
	json_object_put(p);
	assert_int_equal(ctl_device_add(&a->c, echo, &d2), 0);
	assert_int_equal(ctl_device_add(&a->c, echo, &d3), 0);
	assert_int_equal(ctl_device_remove(&a->c, d2->id, &(struct device){ 0 }), 0);
	save(&st, a);

	t = state_load(&st, &err, &why);
	assert_non_null(t);
	assert_int_equal(state_restore(&b->c, t, no_fail), 2);
	json_object_put(t);
	r = devices_by_id(&b->c.devs, 1);
	assert_non_null(r);
	assert_int_equal(r->relid, d1->relid);
	assert_int_equal(r->vector, d1->vector);
	assert_int_equal(r->max_subchannels, d1->max_subchannels);
	assert_memory_equal(r->instance_id, d1->instance_id, KVMBUS_UUID_SIZE);
	assert_null(devices_by_id(&b->c.devs, 2));
	r = devices_by_id(&b->c.devs, 3);
	assert_non_null(r);
	assert_int_equal(r->relid, d3->relid);
	assert_memory_equal(r->instance_id, d3->instance_id, KVMBUS_UUID_SIZE);
	/* Admin ids are never reused, restarts included. */
	assert_int_equal(b->c.devs.next_id, 4);

	state_close(&st);
	env_free(a);
	env_free(b);
}

/* A writer killed half-way: the published table is still the old one. */
static void test_torn_write(void **unused)
{
	const struct dev_class *echo = dev_class_find("echo");
	struct env *a = env_new(), *b = env_new();
	struct json_object *t;
	struct device *d;
	struct state st;
	const char *why;
	uint64_t *seq;
	int err;

	(void)unused;
	assert_int_equal(state_create(&st), 0);
	assert_int_equal(ctl_device_add(&a->c, echo, &d), 0);
	save(&st, a);
	seq = (uint64_t *)((char *)st.map + 8);
	/* The next save's slot, scribbled on, never published. */
	memset((char *)st.map + STATE_HDR_SIZE +
	       ((*seq + 1) & 1) * STATE_SLOT_SIZE, '{', 100);
	t = state_load(&st, &err, &why);
	assert_non_null(t);
	assert_int_equal(state_restore(&b->c, t, no_fail), 1);
	json_object_put(t);
	state_close(&st);
	env_free(a);
	env_free(b);
}

static void count_fail(uint32_t id, const char *why)
{
	(void)id;
	(void)why;
}

static void test_malformed(void **unused)
{
	static const char *const bad[] = {
		"[]",
		"{\"devices\": []}",				/* no next_id */
		"{\"next_id\": 1, \"devices\": {}}",
		"{\"next_id\": 0, \"devices\": []}",
	};
	struct env *e = env_new();
	struct json_object *t;
	uint32_t *len;
	struct state st;
	const char *why;
	size_t i;
	int err;

	(void)unused;
	assert_int_equal(state_create(&st), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = json_tokener_parse(bad[i]);
		assert_non_null(t);
		if (!json_object_is_type(t, json_type_object)) {
			json_object_put(t);
			continue;
		}
		assert_int_equal(state_restore(&e->c, t, count_fail), -EINVAL);
		json_object_put(t);
	}
	/* Entries of the wrong shape are skipped, the rest restored. */
	t = json_tokener_parse("{\"next_id\": 9, \"devices\": ["
		"{\"id\": 1, \"class\": \"nope\", \"relid\": 1, \"vector\": 1, \"instance\": \"00000000-0000-4000-8000-000000000001\"},"
		"{\"id\": 2, \"class\": \"echo\", \"relid\": 999, \"vector\": 1, \"instance\": \"00000000-0000-4000-8000-000000000002\"},"
		"{\"id\": 3, \"class\": \"echo\", \"relid\": 3, \"vector\": 1, \"instance\": \"zz\"},"
		"{\"id\": 4, \"class\": \"echo\", \"relid\": 4, \"vector\": 1, \"instance\": \"00000000-0000-4000-8000-000000000004\", \"params\": 7},"
		"{\"id\": 5, \"class\": \"echo\", \"relid\": 5, \"vector\": 1, \"instance\": \"00000000-0000-4000-8000-000000000005\"},"
		"{\"id\": 6, \"class\": \"echo\", \"relid\": 5, \"vector\": 1, \"instance\": \"00000000-0000-4000-8000-000000000006\"}]}");
	assert_non_null(t);
	assert_int_equal(state_restore(&e->c, t, count_fail), 1);
	json_object_put(t);
	assert_non_null(devices_by_id(&e->c.devs, 5));
	assert_int_equal(e->c.devs.next_id, 9);
	/* A slot length past the slot is refused. */
	len = (uint32_t *)((char *)st.map + 16);
	__atomic_store_n((uint64_t *)((char *)st.map + 8), 1, __ATOMIC_RELEASE);
	len[1] = STATE_SLOT_SIZE + 1;
	t = state_load(&st, &err, &why);
	assert_null(t);
	assert_int_equal(err, -EINVAL);
	len[1] = 3;
	memcpy((char *)st.map + STATE_HDR_SIZE + STATE_SLOT_SIZE, "{\"a", 3);
	t = state_load(&st, &err, &why);
	assert_null(t);
	assert_int_equal(err, -EINVAL);
	state_close(&st);
	env_free(e);
}

/*
 * Set parameter @key of device @id in table @t to @value: what
 * tests/guest/restart.host's kill-change does to the supervisor's memfd.
 */
static void set_param(struct json_object *t, uint32_t id, const char *key,
		      const char *value)
{
	struct json_object *list, *o, *v, *p;
	size_t i;

	assert_true(json_object_object_get_ex(t, "devices", &list));
	for (i = 0; i < json_object_array_length(list); i++) {
		o = json_object_array_get_idx(list, i);
		assert_true(json_object_object_get_ex(o, "id", &v));
		if (json_object_get_int64(v) != id)
			continue;
		if (!json_object_object_get_ex(o, "params", &p)) {
			p = json_object_new_object();
			assert_non_null(p);
			json_object_object_add(o, "params", p);
		}
		json_object_object_add(p, key, json_object_new_string(value));
		return;
	}
	fail_msg("no device %u in the table", id);
}

static uint32_t failed_id;
static char failed_why[256];

static void note_fail(uint32_t id, const char *why)
{
	failed_id = id;
	snprintf(failed_why, sizeof(failed_why), "%s", why);
}

/*
 * The next child offers what the changed parameters say, under the same
 * identity: a NIC with fewer offloads (offloads=), a SCSI controller with
 * smaller limits (max_transfer=, max_segments=, luns=, queues=).  A value
 * the class refuses loses that device only.
 */
static void test_changed_params(void **unused)
{
	const struct dev_class *net = dev_class_find("net");
	const struct dev_class *scsi = dev_class_find("scsi");
	struct env *a = env_new(), *b = env_new(), *c = env_new();
	const uint8_t mac[6] = { 0x02, 0x4b, 0x56, 0, 0, 7 };
	struct kvmbus_scsi_offer so;
	struct kvmbus_net_offer no;
	struct device *dn, *ds, *r;
	struct json_object *p, *t;
	struct state st;
	const char *why;
	int err;

	(void)unused;
	assert_int_equal(state_create(&st), 0);
	p = json_object_new_object();
	json_object_object_add(p, "mac",
			       json_object_new_string("02:4b:56:00:00:07"));
	assert_int_equal(ctl_device_add_params(&a->c, net, p, NULL, 0, &dn), 0);
	json_object_put(p);
	assert_int_equal(ctl_device_add(&a->c, scsi, &ds), 0);
	memcpy(&no, dn->offer_data, sizeof(no));
	assert_int_equal(le32_to_cpu(no.offloads), KVMBUS_NET_OFF_ALL);
	memcpy(&so, ds->offer_data, sizeof(so));
	assert_int_equal(le32_to_cpu(so.max_transfer), 1u << 20);
	assert_int_equal(le32_to_cpu(so.max_segments), KVMBUS_MAX_GPA_RANGES);
	assert_int_equal(le16_to_cpu(so.max_luns), 16);
	assert_int_equal(le16_to_cpu(so.max_queues), 4);
	save(&st, a);

	t = state_load(&st, &err, &why);
	assert_non_null(t);
	set_param(t, dn->id, "offloads", "0x1b");
	set_param(t, ds->id, "max_transfer", "256K");
	set_param(t, ds->id, "max_segments", "64");
	set_param(t, ds->id, "luns", "4");
	set_param(t, ds->id, "queues", "1");
	assert_int_equal(state_restore(&b->c, t, no_fail), 2);
	json_object_put(t);
	r = devices_by_id(&b->c.devs, dn->id);
	assert_non_null(r);
	assert_int_equal(r->relid, dn->relid);
	assert_memory_equal(r->instance_id, dn->instance_id, KVMBUS_UUID_SIZE);
	assert_int_equal(r->offer_data_len, sizeof(no));
	memcpy(&no, r->offer_data, sizeof(no));
	assert_int_equal(le32_to_cpu(no.offloads), 0x1b);
	assert_memory_equal(no.mac, mac, sizeof(mac));
	r = devices_by_id(&b->c.devs, ds->id);
	assert_non_null(r);
	assert_int_equal(r->relid, ds->relid);
	assert_memory_equal(r->instance_id, ds->instance_id, KVMBUS_UUID_SIZE);
	memcpy(&so, r->offer_data, sizeof(so));
	assert_int_equal(le32_to_cpu(so.max_transfer), 256u << 10);
	assert_int_equal(le32_to_cpu(so.max_segments), 64);
	assert_int_equal(le16_to_cpu(so.max_luns), 4);
	assert_int_equal(le16_to_cpu(so.max_queues), 1);
	assert_int_equal(r->max_subchannels, 0);

	/* Changed again, to what the class refuses: that device is lost. */
	save(&st, b);
	t = state_load(&st, &err, &why);
	assert_non_null(t);
	set_param(t, dn->id, "offloads", "0x80");
	failed_id = 0;
	assert_int_equal(state_restore(&c->c, t, note_fail), 1);
	json_object_put(t);
	assert_int_equal(failed_id, dn->id);
	assert_non_null(strstr(failed_why, "net: bad offloads"));
	assert_null(devices_by_id(&c->c.devs, dn->id));
	assert_non_null(devices_by_id(&c->c.devs, ds->id));

	state_close(&st);
	env_free(a);
	env_free(b);
	env_free(c);
}

static void test_uuid_parse(void **unused)
{
	uint8_t u[KVMBUS_UUID_SIZE], v[KVMBUS_UUID_SIZE];
	char s[DEV_UUID_STR_LEN];
	unsigned int i;

	(void)unused;
	for (i = 0; i < KVMBUS_UUID_SIZE; i++)
		u[i] = (uint8_t)(i * 17 + 3);
	uuid_format(u, s);
	assert_int_equal(uuid_parse_str(s, v), 0);
	assert_memory_equal(u, v, sizeof(u));
	assert_int_equal(uuid_parse_str("", v), -EINVAL);
	assert_int_equal(uuid_parse_str("00000000-0000-4000-8000-00000000000", v), -EINVAL);
	assert_int_equal(uuid_parse_str("00000000-0000-4000-8000-0000000000000", v), -EINVAL);
	assert_int_equal(uuid_parse_str("00000000x0000-4000-8000-000000000000", v), -EINVAL);
	assert_int_equal(uuid_parse_str("0000000g-0000-4000-8000-000000000000", v), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_torn_write),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_changed_params),
		cmocka_unit_test(test_uuid_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
