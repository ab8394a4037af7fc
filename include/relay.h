/*
 * relay.h - moving bytes through a half: plain or TLS, both directions.
 */
#ifndef VENCRYPTD_RELAY_H
#define VENCRYPTD_RELAY_H

#include <stddef.h>
#include "session.h"

enum io_result {
	IO_OK,          /* progress made (or nothing to do) */
	IO_AGAIN,       /* nothing possible until the fd is ready */
	IO_EOF,         /* the peer closed its side */
	IO_ERROR,       /* errno / TLS error, described in *why */
};

/* Read at most cap bytes from h.  *got set on IO_OK. */
enum io_result half_recv(struct half *h, void *dst, size_t cap, size_t *got,
    const char **why);
/* Write h->out until empty or the fd is full. */
enum io_result half_flush(struct half *h, struct buf_pool *pool,
    const char **why);
/* Send the rest of a TLS record a write left half sent, and nothing
 * else (IO_OK at once when there is none). */
enum io_result half_finish_record(struct half *h, const char **why);
/* Read from h into h->peer->out while there is room, including records
 * already decrypted inside GnuTLS. */
enum io_result relay_pump(struct half *h, struct buf_pool *pool,
    const char **why);
/* Bytes GnuTLS holds decrypted for h (they never wake the fd). */
size_t half_pending(const struct half *h);
/* Bytes written to h's socket that its peer has not acknowledged yet
 * (Linux; 0 where the kernel does not say). */
size_t half_unacked(const struct half *h);

#endif
