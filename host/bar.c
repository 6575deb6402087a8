// SPDX-License-Identifier: GPL-2.0-only
/*
 * BAR2: the memfd QEMU maps as the ivshmem shared memory, and the
 * bootstrap mailbox at its start.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bar.h"
#include "guestmem.h"
#include "log.h"

bool bar_size_ok(uint64_t size)
{
	return size >= BAR_MIN_SIZE && size <= BAR_MAX_SIZE &&
	       !(size & (size - 1));
}

int bar_create(struct bar *bar, uint64_t size, uint32_t nr_vectors)
{
	void *map;
	int fd, err;

	memset(bar, 0, sizeof(*bar));
	bar->fd = -1;
	if (!bar_size_ok(size)) {
		log_err("BAR2 size %llu is not a power of two between %u and %u bytes",
			(unsigned long long)size, BAR_MIN_SIZE, BAR_MAX_SIZE);
		return -EINVAL;
	}
	if (!nr_vectors || nr_vectors > KVMBUS_MAX_VECTORS) {
		log_err("%u vectors: must be 1..%u", nr_vectors,
			KVMBUS_MAX_VECTORS);
		return -EINVAL;
	}

	fd = memfd_create("kvmbus-bar2", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		err = errno;
		log_err("memfd_create: %s", strerror(err));
		return -err;
	}
	if (ftruncate(fd, (off_t)size) < 0) {
		err = errno;
		log_err("cannot size the BAR2 memfd: %s", strerror(err));
		goto err_close;
	}
	/* QEMU derives the BAR size from fstat(): it must never change. */
	if (fcntl(fd, F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		err = errno;
		log_err("cannot seal the BAR2 memfd: %s", strerror(err));
		goto err_close;
	}
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		err = errno;
		log_err("cannot map the BAR2 memfd: %s", strerror(err));
		goto err_close;
	}

	bar->fd = fd;
	bar->hdr = map;
	bar->size = (uint32_t)size;
	bar->nr_vectors = nr_vectors;
	bar_reset(bar);
	return 0;

err_close:
	close(fd);
	return -err;
}

int bar_adopt(struct bar *bar, int fd, uint32_t nr_vectors)
{
	struct stat st;
	void *map;

	memset(bar, 0, sizeof(*bar));
	bar->fd = -1;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!bar_size_ok((uint64_t)st.st_size) || !nr_vectors ||
	    nr_vectors > KVMBUS_MAX_VECTORS) {
		log_err("inherited BAR2 fd %d: size %lld or %u vectors not valid",
			fd, (long long)st.st_size, nr_vectors);
		return -EINVAL;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
		   MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		log_err("cannot map the inherited BAR2: %s", strerror(errno));
		return -errno;
	}
	bar->fd = fd;
	bar->hdr = map;
	bar->size = (uint32_t)st.st_size;
	bar->nr_vectors = nr_vectors;
	bar->generation = le32_to_cpu(__atomic_load_n(&bar->hdr->host_generation,
						      __ATOMIC_RELAXED));
	return 0;
}

void bar_host_gone(struct bar *bar)
{
	struct kvmbus_bar_hdr *h = bar->hdr;

	/*
	 * The child that answered the guest is dead: a new host generation,
	 * and IDLE, so the guest treats every channel as gone.  The guest's
	 * half and acked_generation stay: the next child ignores a CONNECT
	 * of the generation its predecessor already answered.
	 */
	bar->generation++;
	__atomic_store_n(&h->host_generation, cpu_to_le32(bar->generation),
			 __ATOMIC_RELAXED);
	/* Pairs with the guest's read of host_state after host_generation. */
	__atomic_store_n(&h->host_state, cpu_to_le32(KVMBUS_MBOX_IDLE),
			 __ATOMIC_RELEASE);
}

void bar_destroy(struct bar *bar)
{
	if (bar->hdr)
		munmap(bar->hdr, bar->size);
	if (bar->fd >= 0)
		close(bar->fd);
	memset(bar, 0, sizeof(*bar));
	bar->fd = -1;
}

void bar_reset(struct bar *bar)
{
	struct kvmbus_bar_hdr *h = bar->hdr;

	/* Zero the lot; punching the pages out is cheaper than memset. */
	if (fallocate(bar->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
		      bar->size) < 0)
		memset(h, 0, bar->size);

	bar->generation++;
	memcpy(h->magic, KVMBUS_BAR_MAGIC, KVMBUS_BAR_MAGIC_LEN);
	h->layout = cpu_to_le32(KVMBUS_BAR_LAYOUT_1);
	h->bar_size = cpu_to_le32(bar->size);
	h->host_version_min = cpu_to_le32(KVMBUS_VERSION_MIN);
	h->host_version_max = cpu_to_le32(KVMBUS_VERSION_MAX);
	h->nr_vectors = cpu_to_le32(bar->nr_vectors);
	h->host_error = cpu_to_le32(0);
	h->acked_generation = cpu_to_le32(0);
	h->host_generation = cpu_to_le32(bar->generation);
	/* Everything above is visible before the state says IDLE. */
	__atomic_store_n(&h->host_state, cpu_to_le32(KVMBUS_MBOX_IDLE),
			 __ATOMIC_RELEASE);
}

void bar_set_host_state(struct bar *bar, enum kvmbus_mbox_state state,
			uint32_t error, uint32_t acked_generation)
{
	struct kvmbus_bar_hdr *h = bar->hdr;

	__atomic_store_n(&h->host_error, cpu_to_le32(error),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&h->acked_generation, cpu_to_le32(acked_generation),
			 __ATOMIC_RELAXED);
	/* Pairs with the guest's acquire load of host_state. */
	__atomic_store_n(&h->host_state, cpu_to_le32((uint32_t)state),
			 __ATOMIC_RELEASE);
}

void bar_mbox_read(const struct kvmbus_bar_hdr *hdr, struct bar_mbox *m)
{
	/*
	 * Pairs with the guest's store-release of guest_state: the ring
	 * fields it wrote before publishing CONNECT are visible after it.
	 */
	m->state = le32_to_cpu(__atomic_load_n(&hdr->guest_state,
					       __ATOMIC_ACQUIRE));
	m->ring_pages = le32_to_cpu(__atomic_load_n(&hdr->ctl_ring_pages,
						    __ATOMIC_RELAXED));
	m->ctl_gpa = le64_to_cpu(__atomic_load_n(&hdr->ctl_gpa,
						 __ATOMIC_RELAXED));
	m->generation = le32_to_cpu(__atomic_load_n(&hdr->guest_generation,
						    __ATOMIC_RELAXED));
}

int bar_mbox_check(const struct bar_mbox *m, struct guestmem *gm,
		   void **rings, const char **why)
{
	uint64_t total;
	void *p;

	switch (m->state) {
	case KVMBUS_MBOX_IDLE:
	case KVMBUS_MBOX_RESET:
		return 0;
	case KVMBUS_MBOX_CONNECT:
		break;
	default:
		*why = "guest_state is not a guest state";
		return -EINVAL;
	}

	if (m->ring_pages < BAR_CTL_RING_PAGES_MIN ||
	    m->ring_pages > BAR_CTL_RING_PAGES_MAX) {
		*why = "control ring size not 2..64 pages";
		return -ERANGE;
	}
	if (m->ctl_gpa % KVMBUS_PAGE_SIZE) {
		*why = "control ring not page aligned";
		return -EINVAL;
	}
	total = 2 * (uint64_t)m->ring_pages * KVMBUS_PAGE_SIZE;
	p = guestmem_range(gm, m->ctl_gpa, total);
	if (!p) {
		*why = "control rings outside guest RAM";
		return -EFAULT;
	}
	if (rings)
		*rings = p;
	return 0;
}

const char *bar_state_name(uint32_t state)
{
	switch (state) {
	case KVMBUS_MBOX_IDLE:
		return "idle";
	case KVMBUS_MBOX_CONNECT:
		return "connect";
	case KVMBUS_MBOX_ONLINE:
		return "online";
	case KVMBUS_MBOX_ERROR:
		return "error";
	case KVMBUS_MBOX_RESET:
		return "reset";
	default:
		return "invalid";
	}
}
