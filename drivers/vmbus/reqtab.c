// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbus request tables: transaction ids that are never guest pointers
 * (docs/protocol.md section 5).
 *
 * A class driver that sends requests keeps each one's context in a slot
 * of a table and puts the slot's id on the wire.  An id is the slot index
 * in its low 32 bits and the slot's generation in its high 32 bits; the
 * generation changes every time the slot is handed out, and never is 0.
 * So whatever 64-bit value a host returns, kvmbus_reqtab_take() either
 * finds the one live request it names or returns NULL: an index out of
 * range, a free slot, an old generation (a stale completion of a request
 * that was already completed or drained) and a second completion of the
 * same request are all rejected, and the host learns nothing about guest
 * memory.
 *
 * Transport-free: KUnit runs this file on UML (kunit/kvmbus_reqtab_test.c).
 */
#include <linux/export.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <kvmbus/kvmbus.h>

#define KVMBUS_REQTAB_MAX	BIT(24)	/* slots per table */
#define KVMBUS_REQTAB_NONE	U32_MAX		/* end of the free list */

/*
 * A slot is live while @ctx is set.  A free slot's @next links the free
 * list (a stack: the last slot freed is the next handed out, warm in the
 * cache; its new generation still tells its ids apart).
 */
struct kvmbus_reqtab_slot {
	void *ctx;
	u32 gen;
	u32 next;
};

/**
 * struct kvmbus_reqtab - a table of outstanding requests
 * @lock: protects everything below; taken with interrupts off
 * @size: slots
 * @free: first free slot, or %KVMBUS_REQTAB_NONE
 * @live: slots in use
 * @scan: where kvmbus_reqtab_take_any() looks next, so a whole drain
 *	costs one pass over the table
 * @slots: the table
 */
struct kvmbus_reqtab {
	spinlock_t lock;	/* the table */
	u32 size;
	u32 free;
	u32 live;
	u32 scan;
	struct kvmbus_reqtab_slot slots[];
};

static u64 kvmbus_reqtab_id(u32 idx, u32 gen)
{
	return (u64)gen << 32 | idx;
}

/**
 * kvmbus_reqtab_create() - allocate a request table
 * @size: the most requests outstanding at once, 1..2^24
 *
 * Process context.  Generations start at a random value, so ids differ
 * from one table (and one boot) to the next.
 *
 * Return: the table, or NULL for a bad @size or when out of memory.
 */
struct kvmbus_reqtab *kvmbus_reqtab_create(unsigned int size)
{
	struct kvmbus_reqtab *t;
	u32 i, gen;

	if (!size || size > KVMBUS_REQTAB_MAX)
		return NULL;
	t = kvzalloc(struct_size(t, slots, size), GFP_KERNEL);
	if (!t)
		return NULL;
	spin_lock_init(&t->lock);
	t->size = size;
	gen = get_random_u32();
	for (i = 0; i < size; i++) {
		t->slots[i].gen = gen;
		t->slots[i].next = i + 1 < size ? i + 1 : KVMBUS_REQTAB_NONE;
	}
	t->free = 0;
	return t;
}
EXPORT_SYMBOL_GPL(kvmbus_reqtab_create);

/**
 * kvmbus_reqtab_destroy() - free a request table
 * @t: the table, or NULL
 *
 * The contexts of requests still live are not touched: drain them first
 * with kvmbus_reqtab_take_any().  Process context.
 */
void kvmbus_reqtab_destroy(struct kvmbus_reqtab *t)
{
	kvfree(t);
}
EXPORT_SYMBOL_GPL(kvmbus_reqtab_destroy);

/**
 * kvmbus_reqtab_alloc() - register a request and get its transaction id
 * @t: the table
 * @ctx: the request's context, handed back by kvmbus_reqtab_take();
 *	must not be NULL
 * @id: receives the id to put on the wire; never 0
 *
 * Any context.
 *
 * Return: 0; -ENOSPC when every slot is in use; -EINVAL for a NULL @ctx.
 */
int kvmbus_reqtab_alloc(struct kvmbus_reqtab *t, void *ctx, u64 *id)
{
	struct kvmbus_reqtab_slot *s;
	unsigned long flags;
	u32 idx;

	if (!ctx)
		return -EINVAL;
	spin_lock_irqsave(&t->lock, flags);
	idx = t->free;
	if (idx == KVMBUS_REQTAB_NONE) {
		spin_unlock_irqrestore(&t->lock, flags);
		return -ENOSPC;
	}
	s = &t->slots[idx];
	t->free = s->next;
	WRITE_ONCE(t->live, t->live + 1);
	/* A new generation per use; 0 is skipped so no id is ever 0. */
	if (!++s->gen)
		s->gen = 1;
	s->ctx = ctx;
	*id = kvmbus_reqtab_id(idx, s->gen);
	spin_unlock_irqrestore(&t->lock, flags);
	return 0;
}
EXPORT_SYMBOL_GPL(kvmbus_reqtab_alloc);

/* Free a live slot; the table lock is held. */
static void *kvmbus_reqtab_free_slot(struct kvmbus_reqtab *t, u32 idx)
{
	struct kvmbus_reqtab_slot *s = &t->slots[idx];
	void *ctx = s->ctx;

	s->ctx = NULL;
	s->next = t->free;
	t->free = idx;
	WRITE_ONCE(t->live, t->live - 1);
	return ctx;
}

/**
 * kvmbus_reqtab_take() - complete the request an id names
 * @t: the table
 * @id: a transaction id as it came back from the host: any value
 *
 * The slot is free again when this returns; a second take of the same id
 * returns NULL.  Any context.
 *
 * Return: the request's context, or NULL when @id names no live request
 * (garbage, a stale generation, a duplicate completion).
 */
void *kvmbus_reqtab_take(struct kvmbus_reqtab *t, u64 id)
{
	u32 idx = lower_32_bits(id), gen = upper_32_bits(id);
	unsigned long flags;
	void *ctx = NULL;

	spin_lock_irqsave(&t->lock, flags);
	if (idx < t->size && t->slots[idx].ctx && t->slots[idx].gen == gen)
		ctx = kvmbus_reqtab_free_slot(t, idx);
	spin_unlock_irqrestore(&t->lock, flags);
	return ctx;
}
EXPORT_SYMBOL_GPL(kvmbus_reqtab_take);

/**
 * kvmbus_reqtab_take_any() - take some live request, to drain the table
 * @t: the table
 *
 * For a rescind or a remove: the host will never complete what is left,
 * so the driver fails each request it gets back from here.  A late
 * completion of a request taken here is rejected by kvmbus_reqtab_take().
 * Any context.
 *
 * Return: a live request's context, or NULL when none is left.
 */
void *kvmbus_reqtab_take_any(struct kvmbus_reqtab *t)
{
	unsigned long flags;
	void *ctx = NULL;
	u32 n, i;

	spin_lock_irqsave(&t->lock, flags);
	for (n = 0; !ctx && t->live && n < t->size; n++) {
		i = t->scan;
		t->scan = i + 1 < t->size ? i + 1 : 0;
		if (t->slots[i].ctx)
			ctx = kvmbus_reqtab_free_slot(t, i);
	}
	spin_unlock_irqrestore(&t->lock, flags);
	return ctx;
}
EXPORT_SYMBOL_GPL(kvmbus_reqtab_take_any);

/**
 * kvmbus_reqtab_live() - how many requests are outstanding
 * @t: the table
 *
 * Return: the number of live requests (a snapshot).
 */
unsigned int kvmbus_reqtab_live(struct kvmbus_reqtab *t)
{
	return READ_ONCE(t->live);
}
EXPORT_SYMBOL_GPL(kvmbus_reqtab_live);
