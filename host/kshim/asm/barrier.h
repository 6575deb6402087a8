/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kshim: the shared-memory accessors drivers/vmbus/ring.c uses, for a
 * host process whose peer (the guest vCPUs) runs on other host CPUs.
 *
 * The kernel's virt_*() barriers are the SMP barriers even on a UP
 * guest; the C11 builtins below are the same hardware barriers on every
 * architecture kvmbusd builds for, and are also compiler barriers:
 *
 *   virt_mb()               kernel: smp_mb() (x86: lock-prefixed add or
 *                           mfence; arm64: dmb ish).  Here a sequentially
 *                           consistent fence: mfence / dmb ish, a full
 *                           barrier ordering earlier loads and stores
 *                           against later ones, as store->load ordering in
 *                           the signal protocol (protocol.md 4.3) requires.
 *   virt_load_acquire(p)    kernel: smp_load_acquire() (x86: plain load +
 *                           compiler barrier; arm64: ldar).  Here an
 *                           __ATOMIC_ACQUIRE load of the field: the same
 *                           instructions, and never torn.
 *   virt_store_release(p,v) kernel: smp_store_release() (x86: compiler
 *                           barrier + plain store; arm64: stlr).  Here an
 *                           __ATOMIC_RELEASE store: the same instructions.
 *   READ_ONCE / WRITE_ONCE  kernel: a volatile access of the field's own
 *                           size (no tearing, no re-reading, no fusing for
 *                           the aligned 32-bit fields ring.c uses).  Here
 *                           exactly that volatile access.
 *
 * The fields are naturally aligned __le32 in the ring header page, so
 * every access is a single-copy-atomic 32-bit load or store.
 */
#ifndef KVMBUSD_KSHIM_ASM_BARRIER_H
#define KVMBUSD_KSHIM_ASM_BARRIER_H

#define virt_mb()		__atomic_thread_fence(__ATOMIC_SEQ_CST)
#define virt_load_acquire(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define virt_store_release(p, v) \
	__atomic_store_n((p), (v), __ATOMIC_RELEASE)

#define READ_ONCE(x)		(*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, val) \
	do { *(volatile __typeof__(x) *)&(x) = (val); } while (0)

#endif /* KVMBUSD_KSHIM_ASM_BARRIER_H */
