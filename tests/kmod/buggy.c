// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbus_buggy.ko: deliberate kernel bugs, so the harness's self-test can
 * prove that a debug kernel's checkers and the slab check report them
 * (tests/selftest/selftest_debug.sh, selftest_slab.sh).  The module
 * parameter bug says which, done once at load time:
 *
 *   none    nothing (the default)
 *   leak    kmalloc count objects of 200 bytes and forget them: kmemleak
 *           reports them once the module is gone, and every load grows
 *           the slab by count objects
 *   uaf     read a kmalloc'ed object after kfree: KASAN use-after-free
 *   lock    take two mutexes in both orders: lockdep's circular locking
 *           dependency (no deadlock: one thread, one order at a time)
 *   sleep   mutex_lock() (which may sleep; uncontended, it does not)
 *           under a spinlock: "sleeping function called from invalid
 *           context" (DEBUG_ATOMIC_SLEEP)
 *   odebug  kfree an armed timer: DEBUG_OBJECTS deactivates it and warns
 *
 * Only uaf and odebug are real memory errors; load them on the debug
 * kernel only.  Never built by DKMS (tests/kmod/Kbuild).
 */
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/timer.h>

static char *bug = "none";
module_param(bug, charp, 0444);
MODULE_PARM_DESC(bug, "none, leak, uaf, lock, sleep or odebug");

static unsigned int count = 4;
module_param(count, uint, 0444);
MODULE_PARM_DESC(count, "objects to leak (bug=leak)");

#define BUGGY_OBJ_SIZE	200

static DEFINE_MUTEX(buggy_a);
static DEFINE_MUTEX(buggy_b);
static DEFINE_SPINLOCK(buggy_lock);

static void buggy_leak(void)
{
	unsigned int i;

	for (i = 0; i < count; i++) {
		void *p = kmalloc(BUGGY_OBJ_SIZE, GFP_KERNEL);

		if (p)
			memset(p, 0x6b, BUGGY_OBJ_SIZE);
	}
}

/* noinline and READ_ONCE: the compiler must not see through it. */
static noinline u8 buggy_read(const u8 *p)
{
	return READ_ONCE(*p);
}

static void buggy_uaf(void)
{
	u8 *p = kzalloc(BUGGY_OBJ_SIZE, GFP_KERNEL);
	u8 *alias = p;

	if (!p)
		return;
	kfree(p);
	pr_info("kvmbus_buggy: read after free: %u\n", buggy_read(alias + 8));
}

static void buggy_lock_inversion(void)
{
	mutex_lock(&buggy_a);
	mutex_lock(&buggy_b);
	mutex_unlock(&buggy_b);
	mutex_unlock(&buggy_a);

	mutex_lock(&buggy_b);
	mutex_lock(&buggy_a);
	mutex_unlock(&buggy_a);
	mutex_unlock(&buggy_b);
}

static void buggy_sleep(void)
{
	spin_lock(&buggy_lock);
	mutex_lock(&buggy_a);
	mutex_unlock(&buggy_a);
	spin_unlock(&buggy_lock);
}

static void buggy_timer_fn(struct timer_list *t)
{
}

static void buggy_odebug(void)
{
	struct timer_list *t = kzalloc(sizeof(*t), GFP_KERNEL);

	if (!t)
		return;
	timer_setup(t, buggy_timer_fn, 0);
	mod_timer(t, jiffies + 60 * HZ);
	kfree(t);
}

static int __init buggy_init(void)
{
	if (!strcmp(bug, "none"))
		return 0;
	if (!strcmp(bug, "leak"))
		buggy_leak();
	else if (!strcmp(bug, "uaf"))
		buggy_uaf();
	else if (!strcmp(bug, "lock"))
		buggy_lock_inversion();
	else if (!strcmp(bug, "sleep"))
		buggy_sleep();
	else if (!strcmp(bug, "odebug"))
		buggy_odebug();
	else
		return -EINVAL;
	pr_info("kvmbus_buggy: did bug=%s\n", bug);
	return 0;
}

static void __exit buggy_exit(void)
{
}

module_init(buggy_init);
module_exit(buggy_exit);
MODULE_DESCRIPTION("kvmbus: deliberate bugs for the harness self-test");
MODULE_LICENSE("GPL");
