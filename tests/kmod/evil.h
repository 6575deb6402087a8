/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the hostile test guests (evil.c, evil_net.c) share: the sysfs
 * attribute "evil" on the device, where writing "CASE [N]" runs one case
 * and reading gives its result ("none", "ok CASE" or "fail: ..."), and the
 * wait for the completion of one request.
 *
 * Each module is built on its own, so this is a header of static
 * functions, not an object linked into both.  A module that includes it
 * embeds a struct evil_state in its device and defines evil_state() and
 * evil_run() (declared below) before its driver uses evil_groups.
 */
#ifndef KVMBUS_TESTS_KMOD_EVIL_H
#define KVMBUS_TESTS_KMOD_EVIL_H

#include <linux/delay.h>
#include <linux/device.h>
#include <linux/kernel.h>
#include <linux/mutex.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <kvmbus/kvmbus.h>

#define EVIL_WAIT_LOOPS		5000	/* of 1-2 ms: at least 5 s */

struct evil_state {
	struct mutex lock;		/* one case at a time */
	char result[128];
};

/* The device's state; defined by the module. */
static struct evil_state *evil_state(struct device *dev);

/*
 * Run case @c with the argument @n (0 if none was written), under the
 * state's lock; defined by the module.  A case that fails may write its
 * own "fail: ..." into the result.
 * Return: 0, or -errno (-EINVAL for an unknown case).
 */
static int evil_run(struct device *dev, const char *c, u32 n);

static inline void evil_state_init(struct evil_state *es)
{
	mutex_init(&es->lock);
	strscpy(es->result, "none", sizeof(es->result));
}

static ssize_t evil_store(struct device *dev, struct device_attribute *attr,
			  const char *buf, size_t count)
{
	struct evil_state *es = evil_state(dev);
	char c[16];
	u32 n = 0;
	int ret;

	if (sscanf(buf, "%15s %u", c, &n) < 1)
		return -EINVAL;
	mutex_lock(&es->lock);
	snprintf(es->result, sizeof(es->result), "ok %s", c);
	ret = evil_run(dev, c, n);
	if (ret && !strncmp(es->result, "ok", 2))
		snprintf(es->result, sizeof(es->result), "fail: %s: %d", c,
			 ret);
	mutex_unlock(&es->lock);
	return ret ? -EIO : count;
}

static ssize_t evil_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	struct evil_state *es = evil_state(dev);
	ssize_t ret;

	mutex_lock(&es->lock);
	ret = sysfs_emit(buf, "%s\n", es->result);
	mutex_unlock(&es->lock);
	return ret;
}
static DEVICE_ATTR_RW(evil);

static struct attribute *evil_attrs[] = {
	&dev_attr_evil.attr,
	NULL,
};
ATTRIBUTE_GROUPS(evil);

static void evil_callback(struct kvmbus_channel *chan, void *ctx)
{
	/* Cases poll for their answers; nothing to do in irq context. */
}

/*
 * Wait for the completion of @tid on @chan, receiving into @rxbuf of
 * @rxlen bytes and skipping everything else.
 * Return: its payload length (at most @len bytes copied to @buf), or
 * -errno.
 */
static int evil_wait_comp(struct kvmbus_channel *chan, u8 *rxbuf, u32 rxlen,
			  u64 tid, void *buf, u32 len)
{
	struct kvmbus_pkt_info pi;
	unsigned int n;
	int ret;

	for (n = 0; n < EVIL_WAIT_LOOPS; n++) {
		ret = kvmbus_chan_recv(chan, rxbuf, rxlen, &pi);
		kvmbus_chan_recv_done(chan);
		if (ret == -EAGAIN) {
			usleep_range(1000, 2000);
			continue;
		}
		if (ret)
			return ret;
		if (pi.type != KVMBUS_PKT_COMP || pi.trans_id != tid)
			continue;
		memcpy(buf, rxbuf + pi.data_offset, min(len, pi.data_len));
		return pi.data_len;
	}
	return -ETIMEDOUT;
}

#endif /* KVMBUS_TESTS_KMOD_EVIL_H */
