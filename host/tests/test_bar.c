// SPDX-License-Identifier: GPL-2.0-only
/*
 * BAR2: the sealed memfd, the host header, the guest mailbox snapshot
 * and its validation.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "helpers.h"
#include "bar.h"
#include "guestmem.h"

#define GiB	(1ull << 30)

static void test_size_rule(void **state)
{
	(void)state;
	assert_false(bar_size_ok(0));
	assert_false(bar_size_ok(1));
	assert_false(bar_size_ok(2048));
	assert_true(bar_size_ok(4096));
	assert_true(bar_size_ok(64 << 10));
	assert_false(bar_size_ok((64 << 10) + 4096));
	assert_false(bar_size_ok(3 * 4096));
	assert_true(bar_size_ok(1u << 30));
	assert_false(bar_size_ok(2ull << 30));
	assert_false(bar_size_ok(UINT64_MAX));
	assert_false(bar_size_ok(1ull << 63));
}

static void test_create_header(void **state)
{
	struct bar bar;
	struct kvmbus_bar_hdr *h;
	struct stat st;
	int seals, fds = count_fds();

	(void)state;
	assert_int_equal(bar_create(&bar, 64 << 10, 64), 0);
	h = bar.hdr;
	assert_memory_equal(h->magic, "KVMBUS\0\1", 8);
	assert_int_equal(le32_to_cpu(h->layout), KVMBUS_BAR_LAYOUT_1);
	assert_int_equal(le32_to_cpu(h->bar_size), 64 << 10);
	assert_int_equal(le32_to_cpu(h->host_version_min), KVMBUS_VERSION_MIN);
	assert_int_equal(le32_to_cpu(h->host_version_max), KVMBUS_VERSION_MAX);
	assert_int_equal(le32_to_cpu(h->nr_vectors), 64);
	assert_int_equal(le32_to_cpu(h->host_state), KVMBUS_MBOX_IDLE);
	assert_int_equal(le32_to_cpu(h->host_error), 0);
	assert_int_equal(le32_to_cpu(h->host_generation), 1);
	assert_int_equal(le32_to_cpu(h->guest_state), 0);

	/* QEMU sizes BAR2 with fstat(): the size is sealed. */
	assert_int_equal(fstat(bar.fd, &st), 0);
	assert_int_equal(st.st_size, 64 << 10);
	seals = fcntl(bar.fd, F_GET_SEALS);
	assert_true(seals & F_SEAL_SHRINK);
	assert_true(seals & F_SEAL_GROW);
	assert_true(seals & F_SEAL_SEAL);
	assert_false(seals & F_SEAL_WRITE);
	assert_int_equal(ftruncate(bar.fd, 128 << 10), -1);
	assert_int_equal(ftruncate(bar.fd, 4096), -1);
	assert_int_equal(fcntl(bar.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

	assert_int_equal(le32_to_cpu(h->acked_generation), 0);
	bar_set_host_state(&bar, KVMBUS_MBOX_ERROR, EPROTO, 5);
	assert_int_equal(le32_to_cpu(h->host_state), KVMBUS_MBOX_ERROR);
	assert_int_equal(le32_to_cpu(h->host_error), EPROTO);
	assert_int_equal(le32_to_cpu(h->acked_generation), 5);

	bar_destroy(&bar);
	assert_int_equal(count_fds(), fds);
	bar_destroy(&bar);	/* twice is harmless */
}

static void test_create_rejects(void **state)
{
	struct bar bar;
	int fds = count_fds();

	(void)state;
	assert_int_equal(bar_create(&bar, 65 << 10, 64), -EINVAL);
	assert_int_equal(bar_create(&bar, 2048, 64), -EINVAL);
	assert_int_equal(bar_create(&bar, 64 << 10, 0), -EINVAL);
	assert_int_equal(bar_create(&bar, 64 << 10, KVMBUS_MAX_VECTORS + 1),
			 -EINVAL);
	assert_int_equal(count_fds(), fds);
	assert_int_equal(bar_create(&bar, 4096, KVMBUS_MAX_VECTORS), 0);
	bar_destroy(&bar);
}

static void test_reset_wipes_guest_state(void **state)
{
	struct bar bar;
	uint8_t *p;
	size_t i;

	(void)state;
	assert_int_equal(bar_create(&bar, 16 << 10, 8), 0);
	p = (uint8_t *)bar.hdr;
	memset(p + 64, 0xa5, (16 << 10) - 64);	/* a previous guest */
	bar_set_host_state(&bar, KVMBUS_MBOX_ONLINE, 0, 3);
	bar_reset(&bar);
	assert_int_equal(le32_to_cpu(bar.hdr->acked_generation), 0);
	for (i = 64; i < (16 << 10); i++)
		if (p[i])
			fail_msg("byte %zu not cleared", i);
	assert_int_equal(le32_to_cpu(bar.hdr->host_state), KVMBUS_MBOX_IDLE);
	assert_int_equal(le32_to_cpu(bar.hdr->host_generation), 2);
	assert_int_equal(bar.generation, 2);
	assert_memory_equal(bar.hdr->magic, KVMBUS_BAR_MAGIC, 8);
	bar_destroy(&bar);
}

/* --- the guest mailbox ------------------------------------------------ */

struct mbox_env {
	struct bar bar;
	void *ram;		/* PROT_NONE reservation: never touched */
	struct guestmem gm;
};

static void env_init(struct mbox_env *e, uint64_t ram_size)
{
	struct guestmem_layout l;

	assert_int_equal(bar_create(&e->bar, 4096, 4), 0);
	assert_int_equal(guestmem_layout(GUESTMEM_Q35, ram_size, 0, &l), 0);
	e->ram = mmap(NULL, ram_size, PROT_NONE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(e->ram != MAP_FAILED);
	guestmem_attach(&e->gm, e->ram, &l);
}

static void env_fini(struct mbox_env *e)
{
	munmap(e->ram, e->gm.layout.ram_size);
	bar_destroy(&e->bar);
}

/* What a guest writes: little-endian fields, state last. */
static void guest_publish(struct mbox_env *e, uint32_t st, uint32_t pages,
			  uint64_t gpa, uint32_t gen)
{
	struct kvmbus_bar_hdr *h = e->bar.hdr;

	h->ctl_ring_pages = cpu_to_le32(pages);
	h->ctl_gpa = cpu_to_le64(gpa);
	h->guest_generation = cpu_to_le32(gen);
	h->guest_state = cpu_to_le32(st);
}

static int guest_check(struct mbox_env *e, uint32_t st, uint32_t pages,
		       uint64_t gpa)
{
	struct bar_mbox m;
	const char *why = NULL;
	void *rings = NULL;
	int ret;

	guest_publish(e, st, pages, gpa, 7);
	bar_mbox_read(e->bar.hdr, &m);
	assert_int_equal(m.state, st);
	assert_int_equal(m.ring_pages, pages);
	assert_int_equal(m.ctl_gpa, gpa);
	assert_int_equal(m.generation, 7);
	ret = bar_mbox_check(&m, &e->gm, &rings, &why);
	if (ret) {
		assert_non_null(why);
		assert_null(rings);
	} else if (st == KVMBUS_MBOX_CONNECT) {
		/* The very pointer the one range helper gives. */
		assert_ptr_equal(rings, guestmem_range(&e->gm, gpa,
					2ull * pages * KVMBUS_PAGE_SIZE));
	}
	return ret;
}

static void test_mbox_states(void **state)
{
	struct mbox_env e;

	(void)state;
	env_init(&e, 1 * GiB);
	/* Ring fields do not matter unless the guest says CONNECT. */
	assert_int_equal(guest_check(&e, KVMBUS_MBOX_IDLE, 0, 0xdead), 0);
	assert_int_equal(guest_check(&e, KVMBUS_MBOX_RESET, 99, 1), 0);
	/* Host-only states and garbage are refused. */
	assert_int_equal(guest_check(&e, KVMBUS_MBOX_ONLINE, 2, 0), -EINVAL);
	assert_int_equal(guest_check(&e, KVMBUS_MBOX_ERROR, 2, 0), -EINVAL);
	assert_int_equal(guest_check(&e, 5, 2, 0), -EINVAL);
	assert_int_equal(guest_check(&e, UINT32_MAX, 2, 0), -EINVAL);
	env_fini(&e);
}

static void test_mbox_connect(void **state)
{
	struct mbox_env e;

	(void)state;
	env_init(&e, 6 * GiB);	/* 2 GiB low, 4 GiB at 4 GiB */

	assert_int_equal(guest_check(&e, KVMBUS_MBOX_CONNECT, 2, 0x100000), 0);
	assert_int_equal(guest_check(&e, KVMBUS_MBOX_CONNECT, 17, 0), 0);
	assert_int_equal(e.gm.stats.rejected, 0);

	/* 2..64 pages per ring. */
	assert_int_equal(guest_check(&e, KVMBUS_MBOX_CONNECT, 0, 0), -ERANGE);
	assert_int_equal(guest_check(&e, KVMBUS_MBOX_CONNECT, 1, 0), -ERANGE);
	assert_int_equal(guest_check(&e, KVMBUS_MBOX_CONNECT,
				     BAR_CTL_RING_PAGES_MAX, 4 * GiB), 0);
	assert_int_equal(guest_check(&e, KVMBUS_MBOX_CONNECT,
				     BAR_CTL_RING_PAGES_MAX + 1, 4 * GiB),
			 -ERANGE);
	assert_int_equal(guest_check(&e, KVMBUS_MBOX_CONNECT, UINT32_MAX, 0),
			 -ERANGE);
	assert_int_equal(guest_check(&e, KVMBUS_MBOX_CONNECT, 1u << 20, 0),
			 -ERANGE);
	/* Alignment. */
	assert_int_equal(guest_check(&e, KVMBUS_MBOX_CONNECT, 2, 0x100008),
			 -EINVAL);
	assert_int_equal(e.gm.stats.rejected, 0);

	/* Both rings must be guest RAM, in one region. */
	assert_int_equal(guest_check(&e, KVMBUS_MBOX_CONNECT, 2,
				     2 * GiB - 4 * 4096), 0);
	assert_int_equal(guest_check(&e, KVMBUS_MBOX_CONNECT, 2,
				     2 * GiB - 3 * 4096), -EFAULT);
	assert_int_equal(guest_check(&e, KVMBUS_MBOX_CONNECT, 2, 3 * GiB),
			 -EFAULT);
	assert_int_equal(guest_check(&e, KVMBUS_MBOX_CONNECT, 2,
				     8 * GiB - 4 * 4096), 0);
	assert_int_equal(guest_check(&e, KVMBUS_MBOX_CONNECT, 2,
				     8 * GiB - 3 * 4096), -EFAULT);
	assert_int_equal(guest_check(&e, KVMBUS_MBOX_CONNECT, 2,
				     UINT64_MAX - 4095), -EFAULT);
	assert_int_equal(e.gm.stats.rejected, 4);
	assert_int_equal(e.gm.stats.rej_wrap, 1);
	env_fini(&e);
}

static void test_state_names(void **state)
{
	(void)state;
	assert_string_equal(bar_state_name(KVMBUS_MBOX_IDLE), "idle");
	assert_string_equal(bar_state_name(KVMBUS_MBOX_CONNECT), "connect");
	assert_string_equal(bar_state_name(KVMBUS_MBOX_ONLINE), "online");
	assert_string_equal(bar_state_name(KVMBUS_MBOX_ERROR), "error");
	assert_string_equal(bar_state_name(KVMBUS_MBOX_RESET), "reset");
	assert_string_equal(bar_state_name(1234), "invalid");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_rule),
		cmocka_unit_test(test_create_header),
		cmocka_unit_test(test_create_rejects),
		cmocka_unit_test(test_reset_wipes_guest_state),
		cmocka_unit_test(test_mbox_states),
		cmocka_unit_test(test_mbox_connect),
		cmocka_unit_test(test_state_names),
	};

	return cmocka_run_group_tests_name("bar", tests, NULL, NULL);
}
