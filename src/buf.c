/*
 * buf.c - bounded byte queues whose storage comes from a per-loop pool.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"

struct chunk {
	struct chunk *next;
};

int
buf_pool_init(struct buf_pool *pool, size_t maxfree)
{
	pool->free = NULL;
	pool->nfree = 0;
	pool->maxfree = maxfree;
	pool->inuse = 0;
	pool->scratch = malloc(BUF_SIZE);
	return pool->scratch != NULL ? 0 : -1;
}

void
buf_pool_destroy(struct buf_pool *pool)
{
	struct chunk *c = pool->free, *next;

	for (; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	pool->free = NULL;
	pool->nfree = 0;
	free(pool->scratch);
	pool->scratch = NULL;
}

static uint8_t *
pool_get(struct buf_pool *pool)
{
	struct chunk *c = pool->free;

	if (c != NULL) {
		pool->free = c->next;
		pool->nfree--;
	} else if ((c = malloc(BUF_SIZE)) == NULL) {
		return NULL;
	}
	pool->inuse++;
	return (uint8_t *)c;
}

static void
pool_put(struct buf_pool *pool, uint8_t *p)
{
	pool->inuse--;
	if (pool->nfree >= pool->maxfree) {
		free(p);
		return;
	}
	struct chunk *c = (struct chunk *)(void *)p;
	c->next = pool->free;
	pool->free = c;
	pool->nfree++;
}

#define COMPACT_BELOW (16 * 1024)

uint8_t *
buf_reserve(struct buf *b, struct buf_pool *pool, size_t *avail)
{
	if (b->data == NULL) {
		if ((b->data = pool_get(pool)) == NULL)
			return NULL;
		b->head = b->tail = 0;
	} else if (b->head > 0 && BUF_SIZE - b->tail < COMPACT_BELOW) {
		memmove(b->data, b->data + b->head, b->tail - b->head);
		b->tail -= b->head;
		b->head = 0;
	}
	*avail = BUF_SIZE - b->tail;
	return b->data + b->tail;
}

void
buf_commit(struct buf *b, size_t n)
{
	b->tail += n;
}

size_t
buf_append(struct buf *b, struct buf_pool *pool, const void *p, size_t n)
{
	size_t room;
	uint8_t *dst = buf_reserve(b, pool, &room);

	if (dst == NULL)
		return 0;
	if (n > room)
		n = room;
	memcpy(dst, p, n);
	b->tail += n;
	return n;
}

void
buf_consume(struct buf *b, struct buf_pool *pool, size_t n)
{
	b->head += n;
	if (b->head == b->tail)
		buf_release(b, pool);
}

void
buf_release(struct buf *b, struct buf_pool *pool)
{
	if (b->data != NULL)
		pool_put(pool, b->data);
	b->data = NULL;
	b->head = b->tail = 0;
}
