/*
 * buf.h - bounded byte queue for one direction of a session.
 *
 * Storage is taken from a per-loop pool when bytes arrive and returned as
 * soon as the queue drains, so an idle session holds no relay memory.
 */
#ifndef VENCRYPTD_BUF_H
#define VENCRYPTD_BUF_H

#include <stddef.h>
#include <stdint.h>

/* Four full TLS records with their overhead, and room for an alert. */
#define BUF_SIZE (67 * 1024)

struct buf_pool {
	void *free;             /* singly linked list of spare chunks */
	size_t nfree;
	size_t maxfree;         /* spare chunks kept for reuse */
	size_t inuse;
	uint8_t *scratch;       /* BUF_SIZE bytes on their way to TLS */
};

struct buf {
	uint8_t *data;          /* NULL while empty */
	size_t head;            /* first unread byte */
	size_t tail;            /* one past the last byte */
};

/* -1 when out of memory. */
int buf_pool_init(struct buf_pool *pool, size_t maxfree);
void buf_pool_destroy(struct buf_pool *pool);

static inline size_t buf_len(const struct buf *b) { return b->tail - b->head; }
static inline int buf_empty(const struct buf *b) { return b->tail == b->head; }
/* bytes that may still be queued */
static inline size_t buf_room(const struct buf *b) { return BUF_SIZE - buf_len(b); }

/* Pointer to contiguous free space (*avail bytes), taking a chunk from the
 * pool if needed and compacting when the free tail is short of a TLS
 * record; NULL only when memory is exhausted.  Then buf_commit(). */
uint8_t *buf_reserve(struct buf *b, struct buf_pool *pool, size_t *avail);
void buf_commit(struct buf *b, size_t n);
/* Append n bytes; returns how many fitted. */
size_t buf_append(struct buf *b, struct buf_pool *pool, const void *p, size_t n);
static inline const uint8_t *buf_head(const struct buf *b) { return b->data + b->head; }
/* Drop n bytes from the front; the chunk goes back to the pool when empty. */
void buf_consume(struct buf *b, struct buf_pool *pool, size_t n);
void buf_release(struct buf *b, struct buf_pool *pool);

#endif
