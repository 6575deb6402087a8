// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbus_balloon.ko: dynamic memory on kvmbus (include/kvmbus/balloon.h,
 * docs/protocol.md section 7.2).
 *
 * - Every second the guest reports its memory figures (STATUS).
 * - INFLATE_REQ: allocate pages (2 MiB blocks first, 4 KiB when memory is
 *   fragmented), hand their frame ranges to the host in batches and wait
 *   for each batch's completion (the host has punched the pages out of
 *   guest RAM) before they count as ballooned.  Ballooned pages leave
 *   MemTotal (adjust_managed_page_count()), as `free` shows.
 * - DEFLATE_REQ: give pages back to the kernel and tell the host which.
 * - DEFLATE_RANGE_REQ: the same for exactly the ballooned pages inside a
 *   frame range the host names; a range that is not the guest's RAM is
 *   refused (BADRANGE) and counted.
 * - Free page reporting (page_reporting_register()): free 2 MiB blocks
 *   go to the host even without a balloon target; the kernel keeps them
 *   off its free lists until the host has answered.
 * - Never cause an OOM: inflating stops at a floor of MemAvailable,
 *   looked at again every 2 MiB, and holds at most 64 MiB out of reach
 *   while the host punches a batch; below half of the floor the balloon
 *   deflates on its own, and the OOM notifier deflates before the OOM
 *   killer would run.  Both are reported to the host as pressure
 *   deflates, and after either the guest inflates nothing for a while.
 * - Unbinding (rmmod) returns every page.
 */
#include <linux/module.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/oom.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/swap.h>
#include <linux/vmstat.h>
#include <linux/workqueue.h>
#include <kvmbus/balloon.h>
#include <kvmbus/kvmbus.h>
#include "kvmbus_compat.h"

#ifdef KVMBUS_HAVE_PAGE_REPORTING
#include <linux/page_reporting.h>
#endif

static unsigned int floor_mb;
module_param(floor_mb, uint, 0644);
MODULE_PARM_DESC(floor_mb,
		 "MiB of MemAvailable the balloon never inflates below (0: 1/16 of RAM, at least 64)");

static bool free_page_reporting = true;
module_param(free_page_reporting, bool, 0444);
MODULE_PARM_DESC(free_page_reporting,
		 "report free 2 MiB blocks to the host (default on)");

#define KB_HUGE_ORDER		9			/* 2 MiB on x86 */
#define KB_HUGE_PAGES		BIT(KB_HUGE_ORDER)
#define KB_RING_SIZE		(64 * 1024)
#define KB_ACK_TIMEOUT		(10 * HZ)
#define KB_SEND_TIMEOUT		(10 * HZ)
#define KB_STATUS_PERIOD	HZ
#define KB_OOM_PAGES		(16u << (20 - PAGE_SHIFT))	/* 16 MiB a call */
/*
 * Pages of one INFLATED batch: allocated, but neither the kernel's nor
 * the balloon's (the OOM notifier cannot give them back) until the host
 * has punched them.  Keep that window small.
 */
#define KB_INFLATE_BATCH	(64u << (20 - PAGE_SHIFT))
/* No inflating for this long after a deflate under memory pressure. */
#define KB_PRESSURE_HOLDOFF	(5 * HZ)
#define KB_GFP			(GFP_HIGHUSER | __GFP_NORETRY | \
				 __GFP_NOWARN | __GFP_NOMEMALLOC)

/* Completion waiters: the trans_id's top byte says which. */
enum kb_waiter {
	KB_W_INFLATE,
	KB_W_REPORT,
	KB_W_NR,
};

struct kb_wait {
	u64 id;				/* trans_id waited for; 0: none */
	bool done;
	struct kvmbus_balloon_ack ack;
};

struct kb_dev {
	struct kvmbus_device *kdev;
	struct kvmbus_channel *chan;
	spinlock_t lock;		/* @closing, @stopping, @req, @waits */
	bool closing;			/* no more rx_work */
	bool stopping;			/* no more requests, statuses */
	struct work_struct rx_work;
	struct work_struct req_work;
	struct delayed_work status_work;
	wait_queue_head_t wq;
	atomic_t kicks;			/* host signals so far */
	u8 *rxbuf;

	/* The host's request not yet started (type 0: none). */
	struct {
		u16 type;
		u64 pages;
		u64 id;
		u64 pfn;		/* DEFLATE_RANGE_REQ */
	} req;
	bool req_running;
	struct kb_wait waits[KB_W_NR];
	u64 next_seq;

	/* The balloon: lists of pages, by order. */
	spinlock_t pages_lock;		/* @huge, @small, @nr_*, @pressure* */
	struct list_head huge;
	struct list_head small;
	unsigned long nr_huge;
	unsigned long nr_small;
	unsigned long pressure;		/* pages freed under pressure, unsent */
	unsigned long pressure_at;	/* jiffies of the last pressure deflate */
	atomic64_t reported;		/* free pages reported, all time */
	atomic64_t range_deflated;	/* pages returned by range, all time */
	atomic_t range_refused;		/* range requests refused */

	struct kvmbus_balloon_ranges *msg;	/* KVMBUS_BALLOON_MAX_MSG */
	struct mutex msg_lock;		/* @msg */
	struct notifier_block oom_nb;
#ifdef KVMBUS_HAVE_PAGE_REPORTING
	struct page_reporting_dev_info pr_dev;
	bool pr_registered;
#endif
};

static_assert(PAGE_SIZE == KVMBUS_PAGE_SIZE);

static unsigned long kb_floor_pages(void)
{
	unsigned long floor = (unsigned long)floor_mb << (20 - PAGE_SHIFT);

	if (!floor)
		floor = max(totalram_pages() / 16, 64ul << (20 - PAGE_SHIFT));
	return floor;
}

static unsigned long kb_size(struct kb_dev *kb)
{
	unsigned long n;

	spin_lock(&kb->pages_lock);
	n = kb->nr_huge * KB_HUGE_PAGES + kb->nr_small;
	spin_unlock(&kb->pages_lock);
	return n;
}

static void kb_callback(struct kvmbus_channel *chan, void *ctx)
{
	struct kb_dev *kb = ctx;
	unsigned long flags;

	spin_lock_irqsave(&kb->lock, flags);
	if (!kb->closing)
		queue_work(system_wq, &kb->rx_work);
	spin_unlock_irqrestore(&kb->lock, flags);
	atomic_inc(&kb->kicks);
	wake_up(&kb->wq);		/* a sender may wait for room */
}

/* Send one packet, waiting (bounded) for ring space. */
static int kb_send(struct kb_dev *kb, const struct kvmbus_ring_pkt *p)
{
	unsigned long deadline = jiffies + KB_SEND_TIMEOUT;
	int ret;

	while ((ret = kvmbus_chan_send(kb->chan, p)) == -ENOSPC) {
		int kicks = atomic_read(&kb->kicks);

		if (time_after(jiffies, deadline))
			return -ETIMEDOUT;
		/* The host signals once the packet fits. */
		wait_event_timeout(kb->wq, atomic_read(&kb->kicks) != kicks,
				   HZ / 10);
	}
	return ret;
}

static u64 kb_wait_arm(struct kb_dev *kb, enum kb_waiter w)
{
	u64 id;

	spin_lock_irq(&kb->lock);
	id = ((u64)(w + 1) << 56) | ++kb->next_seq;
	kb->waits[w].id = id;
	kb->waits[w].done = false;
	spin_unlock_irq(&kb->lock);
	return id;
}

static bool kb_wait_done(struct kb_dev *kb, enum kb_waiter w)
{
	bool done;

	spin_lock_irq(&kb->lock);
	done = kb->waits[w].done;
	spin_unlock_irq(&kb->lock);
	return done;
}

/*
 * Send @kb->msg (the caller holds msg_lock) asking for a completion and
 * wait for it.  Return: the host's status (0 or a positive errno: the
 * host did nothing), or a negative errno: no answer, and the host may
 * still act on the message.
 */
static int kb_send_wait(struct kb_dev *kb, enum kb_waiter w, u32 len)
{
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.flags = KVMBUS_PKT_F_COMP_REQUESTED,
		.data = kb->msg,
		.data_len = len,
	};
	int ret;

	p.trans_id = kb_wait_arm(kb, w);
	ret = kb_send(kb, &p);
	if (ret)
		goto out;
	if (!wait_event_timeout(kb->wq, kb_wait_done(kb, w) ||
				kvmbus_chan_rescinded(kb->chan),
				KB_ACK_TIMEOUT)) {
		ret = -ETIMEDOUT;
		goto out;
	}
	if (!kb_wait_done(kb, w)) {
		ret = -ENODEV;
		goto out;
	}
	ret = le32_to_cpu(kb->waits[w].ack.status);
	if (ret < 0 || ret > MAX_ERRNO)
		ret = EPROTO;
out:
	spin_lock_irq(&kb->lock);
	kb->waits[w].id = 0;
	spin_unlock_irq(&kb->lock);
	return ret;
}

static u32 kb_msg_init(struct kb_dev *kb, u16 type, u64 req_id)
{
	memset(kb->msg, 0, sizeof(*kb->msg));
	kb->msg->hdr.type = cpu_to_le16(type);
	kb->msg->req_id = cpu_to_le64(req_id);
	return sizeof(*kb->msg);
}

/* Append a range to @kb->msg; merges with the last one when adjacent. */
static void kb_msg_add(struct kb_dev *kb, unsigned long pfn,
		       unsigned long nr)
{
	struct kvmbus_balloon_range *r = (void *)(kb->msg + 1);
	u32 n = le32_to_cpu(kb->msg->nr_ranges);

	le64_add_cpu(&kb->msg->pages, nr);
	if (n && le64_to_cpu(r[n - 1].pfn) + le64_to_cpu(r[n - 1].nr_pages) == pfn &&
	    le64_to_cpu(r[n - 1].nr_pages) + nr <= KVMBUS_BALLOON_MAX_RANGE_PAGES) {
		le64_add_cpu(&r[n - 1].nr_pages, nr);
		return;
	}
	r[n].pfn = cpu_to_le64(pfn);
	r[n].nr_pages = cpu_to_le64(nr);
	kb->msg->nr_ranges = cpu_to_le32(n + 1);
}

static u32 kb_msg_len(struct kb_dev *kb)
{
	return sizeof(*kb->msg) + le32_to_cpu(kb->msg->nr_ranges) *
	       sizeof(struct kvmbus_balloon_range);
}

static bool kb_msg_full(struct kb_dev *kb)
{
	return le32_to_cpu(kb->msg->nr_ranges) == KVMBUS_BALLOON_MAX_RANGES;
}

static void kb_free_pages(struct list_head *list, unsigned int order)
{
	struct page *page, *next;

	list_for_each_entry_safe(page, next, list, lru) {
		list_del(&page->lru);
		__free_pages(page, order);
	}
}

/*
 * Ballooned pages are PageOffline() (each 4 KiB page of a block): their
 * content is gone, dumpers skip them, /proc/kpageflags shows KPF_OFFLINE.
 */
static void kb_set_offline(struct page *page, unsigned int order)
{
	unsigned int i;

	for (i = 0; i < (1u << order); i++)
		__SetPageOffline(page + i);
}

static void kb_clear_offline(struct page *page, unsigned int order)
{
	unsigned int i;

	for (i = 0; i < (1u << order); i++)
		__ClearPageOffline(page + i);
}

/* Pages the host accepted: they leave MemTotal and join the balloon. */
static void kb_accept(struct kb_dev *kb, struct list_head *huge,
		      struct list_head *small)
{
	unsigned long nh = 0, ns = 0;
	struct page *page;

	list_for_each_entry(page, huge, lru) {
		adjust_managed_page_count(page, -(long)KB_HUGE_PAGES);
		kb_set_offline(page, KB_HUGE_ORDER);
		nh++;
	}
	list_for_each_entry(page, small, lru) {
		adjust_managed_page_count(page, -1);
		kb_set_offline(page, 0);
		ns++;
	}
	spin_lock(&kb->pages_lock);
	list_splice_tail_init(huge, &kb->huge);
	list_splice_tail_init(small, &kb->small);
	kb->nr_huge += nh;
	kb->nr_small += ns;
	spin_unlock(&kb->pages_lock);
}

static bool kb_stopping(struct kb_dev *kb)
{
	return READ_ONCE(kb->stopping);
}

/* The kernel ran short of memory a moment ago: do not inflate now. */
static bool kb_under_pressure(struct kb_dev *kb)
{
	unsigned long at;

	spin_lock(&kb->pages_lock);
	at = kb->pressure_at;
	spin_unlock(&kb->pages_lock);
	return at && time_before(jiffies, at + KB_PRESSURE_HOLDOFF);
}

/*
 * Allocate up to @want pages (at most one batch) into @kb->msg and the
 * lists, while MemAvailable stays above the floor.  Other tasks allocate
 * meanwhile, so MemAvailable is looked at again every 2 MiB.  Return:
 * pages allocated; *@status says why fewer came.
 */
static unsigned long kb_inflate_batch(struct kb_dev *kb, unsigned long want,
				      bool *huge_ok, struct list_head *huge,
				      struct list_head *small, u16 *status)
{
	unsigned long done = 0;
	struct page *page;
	long room = 0;

	want = min_t(unsigned long, want, KB_INFLATE_BATCH);
	while (done < want && !kb_msg_full(kb)) {
		if (!(done % KB_HUGE_PAGES)) {
			if (kb_under_pressure(kb)) {
				*status = KVMBUS_BALLOON_ST_FLOOR;
				break;
			}
			room = (long)si_mem_available() -
			       (long)kb_floor_pages();
		}
		if (*huge_ok && want - done >= KB_HUGE_PAGES &&
		    room >= (long)KB_HUGE_PAGES) {
			page = alloc_pages(KB_GFP, KB_HUGE_ORDER);
			if (page) {
				list_add_tail(&page->lru, huge);
				kb_msg_add(kb, page_to_pfn(page), KB_HUGE_PAGES);
				done += KB_HUGE_PAGES;
				room -= KB_HUGE_PAGES;
				continue;
			}
			*huge_ok = false;	/* fragmented: 4 KiB from now on */
		}
		if (room < 1) {
			*status = KVMBUS_BALLOON_ST_FLOOR;
			break;
		}
		page = alloc_page(KB_GFP);
		if (!page) {
			*status = KVMBUS_BALLOON_ST_NOMEM;
			break;
		}
		list_add_tail(&page->lru, small);
		kb_msg_add(kb, page_to_pfn(page), 1);
		done++;
		room--;
	}
	return done;
}

static void kb_inflate(struct kb_dev *kb, u64 id, u64 pages)
{
	bool huge_ok = true, last = false;
	u16 status = 0;
	LIST_HEAD(huge);
	LIST_HEAD(small);
	int ret;

	mutex_lock(&kb->msg_lock);
	while (!last) {
		unsigned long n;

		kb_msg_init(kb, KVMBUS_BALLOON_INFLATED, id);
		n = pages && !kb_stopping(kb) ?
		    kb_inflate_batch(kb, pages, &huge_ok, &huge, &small,
				     &status) : 0;
		pages -= n;
		last = !pages || status || kb_stopping(kb) || !n;
		if (last) {
			if (pages && !status)
				status = KVMBUS_BALLOON_ST_BUSY;
			kb->msg->flags = cpu_to_le16(KVMBUS_BALLOON_F_LAST);
			kb->msg->status = cpu_to_le16(status);
		}
		ret = kb_send_wait(kb, KB_W_INFLATE, kb_msg_len(kb));
		if (ret > 0) {
			/* Refused: the host punched nothing. */
			dev_warn_ratelimited(&kb->kdev->dev,
					     "host refused %lu inflated pages: error %d\n",
					     n, ret);
			kb_free_pages(&huge, KB_HUGE_ORDER);
			kb_free_pages(&small, 0);
			break;
		}
		if (ret < 0) {
			/*
			 * No answer: the host may still punch these pages,
			 * so they must never be used again.  Keep them in
			 * the balloon.
			 */
			dev_warn_ratelimited(&kb->kdev->dev,
					     "no answer to an inflate batch (%d): keeping its pages\n",
					     ret);
			kb_accept(kb, &huge, &small);
			break;
		}
		kb_accept(kb, &huge, &small);
	}
	mutex_unlock(&kb->msg_lock);
}

/*
 * Take up to @want pages out of the balloon, in at most @max_items list
 * entries (2 MiB blocks or 4 KiB pages; a block is split when less than
 * one is wanted).  Return: pages taken.
 */
static unsigned long kb_take(struct kb_dev *kb, unsigned long want,
			     unsigned long max_items, bool huge_first,
			     struct list_head *huge, struct list_head *small)
{
	unsigned long done = 0, items = 0;
	struct page *page;
	unsigned int i;

	spin_lock(&kb->pages_lock);
	while (done < want && items < max_items) {
		if ((huge_first || !kb->nr_small) && kb->nr_huge &&
		    want - done >= KB_HUGE_PAGES) {
			page = list_first_entry(&kb->huge, struct page, lru);
			list_move_tail(&page->lru, huge);
			kb->nr_huge--;
			done += KB_HUGE_PAGES;
			items++;
		} else if (kb->nr_small) {
			page = list_first_entry(&kb->small, struct page, lru);
			list_move_tail(&page->lru, small);
			kb->nr_small--;
			done++;
			items++;
		} else if (kb->nr_huge) {
			/* Split a block: its pages become order 0. */
			page = list_first_entry(&kb->huge, struct page, lru);
			list_del(&page->lru);
			kb->nr_huge--;
			split_page(page, KB_HUGE_ORDER);
			for (i = 0; i < KB_HUGE_PAGES; i++)
				list_add_tail(&page[i].lru, &kb->small);
			kb->nr_small += KB_HUGE_PAGES;
		} else {
			break;
		}
	}
	spin_unlock(&kb->pages_lock);
	return done;
}

/* Give pages back to the kernel. */
static void kb_release(struct list_head *huge, struct list_head *small)
{
	struct page *page, *next;

	list_for_each_entry_safe(page, next, huge, lru) {
		list_del(&page->lru);
		kb_clear_offline(page, KB_HUGE_ORDER);
		adjust_managed_page_count(page, KB_HUGE_PAGES);
		__free_pages(page, KB_HUGE_ORDER);
	}
	list_for_each_entry_safe(page, next, small, lru) {
		list_del(&page->lru);
		kb_clear_offline(page, 0);
		adjust_managed_page_count(page, 1);
		__free_page(page);
	}
}

static void kb_send_msg(struct kb_dev *kb)
{
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.data = kb->msg,
		.data_len = kb_msg_len(kb),
	};
	int ret = kb_send(kb, &p);

	if (ret)
		dev_warn_ratelimited(&kb->kdev->dev,
				     "balloon message not sent: %d\n", ret);
}

static void kb_deflate(struct kb_dev *kb, u64 id, u64 pages)
{
	struct page *page;
	bool last = false;
	LIST_HEAD(huge);
	LIST_HEAD(small);

	mutex_lock(&kb->msg_lock);
	while (!last) {
		unsigned long n;

		kb_msg_init(kb, KVMBUS_BALLOON_DEFLATED, id);
		/* At most one message's worth of ranges. */
		n = kb_take(kb, pages, KVMBUS_BALLOON_MAX_RANGES, false,
			    &huge, &small);
		list_for_each_entry(page, &huge, lru)
			kb_msg_add(kb, page_to_pfn(page), KB_HUGE_PAGES);
		list_for_each_entry(page, &small, lru)
			kb_msg_add(kb, page_to_pfn(page), 1);
		kb_release(&huge, &small);
		pages -= n;
		last = !pages || !n;
		if (last) {
			kb->msg->flags = cpu_to_le16(KVMBUS_BALLOON_F_LAST);
			if (pages)
				kb->msg->status = cpu_to_le16(KVMBUS_BALLOON_ST_EMPTY);
		}
		kb_send_msg(kb);
	}
	mutex_unlock(&kb->msg_lock);
}

/*
 * Move the ballooned pages inside [@pfn, @end) to @huge and @small; a
 * block that straddles an edge is split and only its pages inside move.
 * Return: pages moved.
 */
static unsigned long kb_take_range(struct kb_dev *kb, u64 pfn, u64 end,
				   struct list_head *huge,
				   struct list_head *small)
{
	unsigned long done = 0, first;
	struct page *page, *next;
	unsigned int i;

	spin_lock(&kb->pages_lock);
	list_for_each_entry_safe(page, next, &kb->huge, lru) {
		first = page_to_pfn(page);
		if (first >= end || first + KB_HUGE_PAGES <= pfn)
			continue;
		list_del(&page->lru);
		kb->nr_huge--;
		if (first >= pfn && first + KB_HUGE_PAGES <= end) {
			list_add_tail(&page->lru, huge);
			done += KB_HUGE_PAGES;
			continue;
		}
		split_page(page, KB_HUGE_ORDER);
		for (i = 0; i < KB_HUGE_PAGES; i++) {
			if (first + i >= pfn && first + i < end) {
				list_add_tail(&page[i].lru, small);
				done++;
			} else {
				list_add_tail(&page[i].lru, &kb->small);
				kb->nr_small++;
			}
		}
	}
	list_for_each_entry_safe(page, next, &kb->small, lru) {
		first = page_to_pfn(page);
		if (first < pfn || first >= end)
			continue;
		list_move_tail(&page->lru, small);
		kb->nr_small--;
		done++;
	}
	spin_unlock(&kb->pages_lock);
	return done;
}

/* Release one list's pages, telling the host in batches of ranges. */
static void kb_release_sending(struct kb_dev *kb, u64 id,
			       struct list_head *list, unsigned int order)
{
	struct page *page, *next;

	list_for_each_entry_safe(page, next, list, lru) {
		if (kb_msg_full(kb)) {
			kb_send_msg(kb);
			kb_msg_init(kb, KVMBUS_BALLOON_DEFLATED, id);
		}
		kb_msg_add(kb, page_to_pfn(page), 1ul << order);
		list_del(&page->lru);
		kb_clear_offline(page, order);
		adjust_managed_page_count(page, 1l << order);
		__free_pages(page, order);
	}
}

/*
 * DEFLATE_RANGE_REQ: give back exactly the ballooned pages inside the
 * range.  The range comes from the host: it must lie in the guest's
 * memory (its first and last frame valid), else nothing moves and the
 * answer says BADRANGE.
 */
static void kb_deflate_range(struct kb_dev *kb, u64 id, u64 pfn, u64 pages)
{
	u64 end = pfn + pages;		/* kvmbus_balloon_msg_type(): no wrap */
	unsigned long n = 0;
	LIST_HEAD(huge);
	LIST_HEAD(small);
	u16 status = 0;

	if (!pfn_valid(pfn) || !pfn_valid(end - 1)) {
		atomic_inc(&kb->range_refused);
		dev_warn_ratelimited(&kb->kdev->dev,
				     "range deflate refused: frames %#llx..%#llx are not guest RAM\n",
				     pfn, end - 1);
		status = KVMBUS_BALLOON_ST_BADRANGE;
	} else {
		n = kb_take_range(kb, pfn, end, &huge, &small);
	}
	mutex_lock(&kb->msg_lock);
	kb_msg_init(kb, KVMBUS_BALLOON_DEFLATED, id);
	kb_release_sending(kb, id, &huge, KB_HUGE_ORDER);
	kb_release_sending(kb, id, &small, 0);
	kb->msg->flags = cpu_to_le16(KVMBUS_BALLOON_F_LAST);
	kb->msg->status = cpu_to_le16(status);
	kb_send_msg(kb);
	mutex_unlock(&kb->msg_lock);
	atomic64_add(n, &kb->range_deflated);
}

/* Tell the host about pages freed under pressure. */
static void kb_send_pressure(struct kb_dev *kb)
{
	unsigned long n;

	spin_lock(&kb->pages_lock);
	n = kb->pressure;
	kb->pressure = 0;
	spin_unlock(&kb->pages_lock);
	if (!n)
		return;
	mutex_lock(&kb->msg_lock);
	kb_msg_init(kb, KVMBUS_BALLOON_DEFLATED, 0);
	kb->msg->flags = cpu_to_le16(KVMBUS_BALLOON_F_PRESSURE);
	kb->msg->pages = cpu_to_le64(n);
	kb_send_msg(kb);
	mutex_unlock(&kb->msg_lock);
}

/* Free up to @want pages now, for the kernel's sake.  Return: freed. */
static unsigned long kb_deflate_pressure(struct kb_dev *kb, unsigned long want)
{
	unsigned long n;
	LIST_HEAD(huge);
	LIST_HEAD(small);

	n = kb_take(kb, want, ULONG_MAX, true, &huge, &small);
	kb_release(&huge, &small);
	spin_lock(&kb->pages_lock);
	kb->pressure += n;
	kb->pressure_at = jiffies | 1;	/* 0: never */
	spin_unlock(&kb->pages_lock);
	return n;
}

static int kb_oom_notify(struct notifier_block *nb, unsigned long unused,
			 void *freed)
{
	struct kb_dev *kb = container_of(nb, struct kb_dev, oom_nb);
	unsigned long n;

	n = kb_deflate_pressure(kb, KB_OOM_PAGES);
	if (n) {
		*(unsigned long *)freed += n;
		mod_delayed_work(system_wq, &kb->status_work, 0);
	}
	return NOTIFY_OK;
}

static void kb_status_work(struct work_struct *work)
{
	struct kb_dev *kb = container_of(to_delayed_work(work), struct kb_dev,
					 status_work);
	struct kvmbus_balloon_status st = {
		.hdr.type = cpu_to_le16(KVMBUS_BALLOON_STATUS),
	};
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.data = &st,
		.data_len = sizeof(st),
	};
	unsigned long avail = si_mem_available();
	unsigned long floor = kb_floor_pages();
	struct sysinfo si;

	if (kb_stopping(kb))
		return;
	/* Well below the floor: deflate before the kernel has to reclaim. */
	if (avail < floor / 2 && kb_size(kb))
		kb_deflate_pressure(kb, floor - avail);
	kb_send_pressure(kb);

	si_meminfo(&si);
	st.total = cpu_to_le64(si.totalram);
	st.free = cpu_to_le64(si.freeram);
	st.available = cpu_to_le64(si_mem_available());
	st.committed = cpu_to_le64(vm_memory_committed());
	st.page_cache = cpu_to_le64(global_node_page_state(NR_FILE_PAGES));
	st.swap_free = cpu_to_le64(get_nr_swap_pages());
	st.balloon = cpu_to_le64(kb_size(kb));
	st.floor = cpu_to_le64(floor);
	st.reported = cpu_to_le64(atomic64_read(&kb->reported));
	st.features = cpu_to_le64(KVMBUS_BALLOON_FEAT_DEFLATE_RANGE);
	if (kb_send(kb, &p))
		dev_warn_ratelimited(&kb->kdev->dev, "status not sent\n");
	queue_delayed_work(system_wq, &kb->status_work, KB_STATUS_PERIOD);
}

static void kb_req_work(struct work_struct *work)
{
	struct kb_dev *kb = container_of(work, struct kb_dev, req_work);
	u64 id, pages, pfn;
	u16 type;

	spin_lock_irq(&kb->lock);
	type = kb->req.type;
	id = kb->req.id;
	pages = kb->req.pages;
	pfn = kb->req.pfn;
	kb->req.type = 0;
	kb->req_running = type != 0;
	spin_unlock_irq(&kb->lock);

	if (type == KVMBUS_BALLOON_INFLATE_REQ)
		kb_inflate(kb, id, pages);
	else if (type == KVMBUS_BALLOON_DEFLATE_REQ)
		kb_deflate(kb, id, pages);
	else if (type == KVMBUS_BALLOON_DEFLATE_RANGE_REQ)
		kb_deflate_range(kb, id, pfn, pages);

	spin_lock_irq(&kb->lock);
	kb->req_running = false;
	if (kb->req.type && !kb->stopping)
		queue_work(system_wq, &kb->req_work);
	spin_unlock_irq(&kb->lock);
}

static void kb_rx_request(struct kb_dev *kb, u16 type)
{
	struct kvmbus_balloon_range_req rq;
	struct kvmbus_balloon_req q;
	u64 id, pages, pfn = 0;

	/* kb->rxbuf is a private copy, checked by kvmbus_balloon_msg_type(). */
	if (type == KVMBUS_BALLOON_DEFLATE_RANGE_REQ) {
		memcpy(&rq, kb->rxbuf, sizeof(rq));
		id = le64_to_cpu(rq.req_id);
		pfn = le64_to_cpu(rq.range.pfn);
		pages = le64_to_cpu(rq.range.nr_pages);
	} else {
		memcpy(&q, kb->rxbuf, sizeof(q));
		id = le64_to_cpu(q.req_id);
		pages = le64_to_cpu(q.pages);
	}
	spin_lock_irq(&kb->lock);
	/* The host sends one request at a time; a newer one wins. */
	kb->req.type = type;
	kb->req.pages = pages;
	kb->req.id = id;
	kb->req.pfn = pfn;
	if (!kb->stopping)
		queue_work(system_wq, &kb->req_work);
	spin_unlock_irq(&kb->lock);
}

static void kb_rx_comp(struct kb_dev *kb, u64 id, u32 len)
{
	unsigned int w = (id >> 56) - 1;
	bool bad = true;

	if (len < sizeof(struct kvmbus_balloon_ack) || w >= KB_W_NR)
		goto out;
	spin_lock_irq(&kb->lock);
	if (kb->waits[w].id == id && !kb->waits[w].done) {
		memcpy(&kb->waits[w].ack, kb->rxbuf, sizeof(kb->waits[w].ack));
		kb->waits[w].done = true;
		bad = false;
	}
	spin_unlock_irq(&kb->lock);
out:
	if (bad)
		dev_warn_ratelimited(&kb->kdev->dev,
				     "unexpected completion %#llx dropped\n", id);
	else
		wake_up(&kb->wq);
}

static void kb_rx_work(struct work_struct *work)
{
	struct kb_dev *kb = container_of(work, struct kb_dev, rx_work);
	struct kvmbus_pkt_info pi;
	u16 type;

again:
	while (!kvmbus_chan_recv(kb->chan, kb->rxbuf, KB_RING_SIZE, &pi)) {
		/* Work on a copy at the start of the buffer. */
		memmove(kb->rxbuf, kb->rxbuf + pi.data_offset, pi.data_len);
		if (pi.type == KVMBUS_PKT_COMP) {
			kb_rx_comp(kb, pi.trans_id, pi.data_len);
			continue;
		}
		type = pi.type == KVMBUS_PKT_INBAND ?
		       kvmbus_balloon_msg_type(kb->rxbuf, pi.data_len, false) : 0;
		if (!type) {
			dev_warn_ratelimited(&kb->kdev->dev,
					     "malformed host message dropped\n");
			continue;
		}
		kb_rx_request(kb, type);
	}
	/* Packets the host committed while we were busy come unsignalled. */
	if (kvmbus_chan_recv_done(kb->chan))
		goto again;
}

#ifdef KVMBUS_HAVE_PAGE_REPORTING
static int kb_report(struct page_reporting_dev_info *pr,
		     struct scatterlist *sgl, unsigned int nents)
{
	struct kb_dev *kb = container_of(pr, struct kb_dev, pr_dev);
	struct scatterlist *sg;
	unsigned int i;
	int ret;

	if (kb_stopping(kb))
		return -ENODEV;
	mutex_lock(&kb->msg_lock);
	kb_msg_init(kb, KVMBUS_BALLOON_REPORT, 0);
	for_each_sg(sgl, sg, nents, i) {
		if (kb_msg_full(kb))
			break;
		kb_msg_add(kb, page_to_pfn(sg_page(sg)), sg->length >> PAGE_SHIFT);
	}
	ret = kb_send_wait(kb, KB_W_REPORT, kb_msg_len(kb));
	if (!ret)
		atomic64_add(le64_to_cpu(kb->msg->pages), &kb->reported);
	mutex_unlock(&kb->msg_lock);
	/*
	 * A report without an answer may still be acted on: the pages are
	 * free and their content is of no interest, so that is harmless.
	 */
	return ret > 0 ? -EIO : ret;
}

static void kb_reporting_start(struct kb_dev *kb)
{
	int ret;

	if (!free_page_reporting)
		return;
	kb->pr_dev.report = kb_report;
#ifdef KVMBUS_HAVE_PAGE_REPORTING_ORDER
	kb->pr_dev.order = KB_HUGE_ORDER;
#endif
	ret = page_reporting_register(&kb->pr_dev);
	if (ret)
		dev_info(&kb->kdev->dev,
			 "free page reporting unavailable (%d): another driver has it?\n",
			 ret);
	else
		kb->pr_registered = true;
}

static void kb_reporting_stop(struct kb_dev *kb)
{
	if (kb->pr_registered)
		page_reporting_unregister(&kb->pr_dev);
	kb->pr_registered = false;
}
#else
static void kb_reporting_start(struct kb_dev *kb)
{
	if (free_page_reporting)
		dev_info(&kb->kdev->dev,
			 "free page reporting: not in this kernel\n");
}

static void kb_reporting_stop(struct kb_dev *kb)
{
}
#endif

static ssize_t balloon_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	struct kb_dev *kb = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%lu\n", kb_size(kb) << PAGE_SHIFT);
}
static DEVICE_ATTR_RO(balloon);

static ssize_t reported_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	struct kb_dev *kb = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%llu\n",
			  (u64)atomic64_read(&kb->reported) << PAGE_SHIFT);
}
static DEVICE_ATTR_RO(reported);

static ssize_t range_deflated_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	struct kb_dev *kb = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%llu\n",
			  (u64)atomic64_read(&kb->range_deflated) << PAGE_SHIFT);
}
static DEVICE_ATTR_RO(range_deflated);

static ssize_t range_refused_show(struct device *dev,
				  struct device_attribute *attr, char *buf)
{
	struct kb_dev *kb = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%d\n", atomic_read(&kb->range_refused));
}
static DEVICE_ATTR_RO(range_refused);

static struct attribute *kb_attrs[] = {
	&dev_attr_balloon.attr,
	&dev_attr_reported.attr,
	&dev_attr_range_deflated.attr,
	&dev_attr_range_refused.attr,
	NULL,
};
ATTRIBUTE_GROUPS(kb);

static void kb_free(struct kb_dev *kb)
{
	kfree(kb->msg);
	kfree(kb->rxbuf);
	kfree(kb);
}

static int balloon_probe(struct kvmbus_device *kdev,
			 const struct kvmbus_device_id *id)
{
	struct kvmbus_chan_config cfg = {
		.g2h_size = KB_RING_SIZE,
		.h2g_size = KB_RING_SIZE,
		.callback = kb_callback,
	};
	struct kb_dev *kb;
	int ret;

	kb = kzalloc(sizeof(*kb), GFP_KERNEL);
	if (!kb)
		return -ENOMEM;
	kb->kdev = kdev;
	spin_lock_init(&kb->lock);
	spin_lock_init(&kb->pages_lock);
	mutex_init(&kb->msg_lock);
	init_waitqueue_head(&kb->wq);
	INIT_WORK(&kb->rx_work, kb_rx_work);
	INIT_WORK(&kb->req_work, kb_req_work);
	INIT_DELAYED_WORK(&kb->status_work, kb_status_work);
	INIT_LIST_HEAD(&kb->huge);
	INIT_LIST_HEAD(&kb->small);
	kb->rxbuf = kmalloc(KB_RING_SIZE, GFP_KERNEL);
	kb->msg = kmalloc(KVMBUS_BALLOON_MAX_MSG, GFP_KERNEL);
	if (!kb->rxbuf || !kb->msg) {
		ret = -ENOMEM;
		goto err_free;
	}
	dev_set_drvdata(&kdev->dev, kb);

	cfg.ctx = kb;
	ret = kvmbus_channel_open(kdev, &cfg, &kb->chan);
	if (ret)
		goto err_free;

	kb->oom_nb.notifier_call = kb_oom_notify;
	ret = register_oom_notifier(&kb->oom_nb);
	if (ret)
		goto err_close;
	kb_reporting_start(kb);
	queue_delayed_work(system_wq, &kb->status_work, 0);
	dev_info(&kdev->dev, "balloon ready: floor %lu MiB, free page reporting %s\n",
		 kb_floor_pages() >> (20 - PAGE_SHIFT),
#ifdef KVMBUS_HAVE_PAGE_REPORTING
		 kb->pr_registered ? "on" : "off"
#else
		 "off"
#endif
		 );
	return 0;

err_close:
	spin_lock_irq(&kb->lock);
	kb->closing = true;
	spin_unlock_irq(&kb->lock);
	cancel_work_sync(&kb->rx_work);
	kvmbus_channel_close(kb->chan);
err_free:
	kb_free(kb);
	return ret;
}

static void balloon_remove(struct kvmbus_device *kdev)
{
	struct kb_dev *kb = dev_get_drvdata(&kdev->dev);
	unsigned long n;
	LIST_HEAD(huge);
	LIST_HEAD(small);

	/* Stop new work; a running request ends at its next batch, and
	 * answers still arrive (rx_work runs until the channel closes).
	 */
	spin_lock_irq(&kb->lock);
	kb->stopping = true;
	spin_unlock_irq(&kb->lock);
	/* The notifier queues status_work: gone before that is cancelled. */
	unregister_oom_notifier(&kb->oom_nb);
	kb_reporting_stop(kb);
	cancel_work_sync(&kb->req_work);
	cancel_delayed_work_sync(&kb->status_work);

	spin_lock_irq(&kb->lock);
	kb->closing = true;
	spin_unlock_irq(&kb->lock);
	cancel_work_sync(&kb->rx_work);
	kvmbus_channel_close(kb->chan);

	/* Every page back to the kernel. */
	n = kb_take(kb, ULONG_MAX, ULONG_MAX, true, &huge, &small);
	kb_release(&huge, &small);
	if (n)
		dev_info(&kdev->dev, "balloon: %lu MiB returned to the kernel\n",
			 n >> (20 - PAGE_SHIFT));
	kb_free(kb);
}

static const struct kvmbus_device_id balloon_id_table[] = {
	{ .class_id = KVMBUS_UUID(KVMBUS_CLASS_BALLOON_BYTES) },
	{ }
};

static struct kvmbus_driver balloon_driver = {
	.name		= "kvmbus_balloon",
	.id_table	= balloon_id_table,
	.probe		= balloon_probe,
	.remove		= balloon_remove,
	.driver		= {
		.dev_groups = kb_groups,
	},
};
module_kvmbus_driver(balloon_driver);

MODULE_ALIAS(KVMBUS_MODALIAS(KVMBUS_CLASS_BALLOON_HEX));
MODULE_DESCRIPTION("kvmbus: dynamic memory balloon");
MODULE_LICENSE("GPL");
MODULE_VERSION(KVMBUS_DRIVER_VERSION);
