/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kshim: the part of <linux/kernel.h> that drivers/vmbus/ring.c uses.
 * Shadows the uapi <linux/kernel.h> for ring.o only (see kshim/README).
 */
#ifndef KVMBUSD_KSHIM_LINUX_KERNEL_H
#define KVMBUSD_KSHIM_LINUX_KERNEL_H

/*
 * min() - the smaller of two values, each evaluated once.  Like the
 * kernel's, it refuses operands of different types: comparing their
 * addresses is a "distinct pointer types" diagnostic, an error under
 * kvmbusd's -Werror, so no silent signed/unsigned promotion can creep in.
 */
#define min(a, b) ({					\
	__typeof__(a) __kshim_a = (a);			\
	__typeof__(b) __kshim_b = (b);			\
	(void)(&__kshim_a == &__kshim_b);		\
	__kshim_a < __kshim_b ? __kshim_a : __kshim_b; })

#endif /* KVMBUSD_KSHIM_LINUX_KERNEL_H */
