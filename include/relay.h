/*
 * relay.h - moving bytes through a half: plain or TLS, both directions.
 */
#ifndef VENCRYPTD_RELAY_H
#define VENCRYPTD_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <gnutls/gnutls.h>
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
/* Payload bytes that fit in h's queue now (on a TLS half, as records). */
size_t half_room(const struct half *h);
/* Queue n bytes for h (encrypted on a TLS half); n <= half_room(h). */
enum io_result half_queue(struct half *h, struct buf_pool *pool,
    const void *p, size_t n, const char **why);
/* GnuTLS's push for a TLS half: straight to the fd when nothing is queued,
 * else (and while half_queue gathers records) into the queue. */
ssize_t half_push(gnutls_transport_ptr_t ptr, const giovec_t *iov,
    int iovcnt);
/* GnuTLS's pull for a TLS half: reads the fd a queue-full at a time, so
 * a record costs a fraction of a read rather than two. */
ssize_t half_pull(gnutls_transport_ptr_t ptr, void *data, size_t len);
/* h is gone: nothing more goes to it.  With finish_record, the rest of a
 * TLS record it has begun to take still goes. */
void half_cut(struct half *h, struct buf_pool *pool, bool finish_record);
/* Read from h into h->peer->out while there is room, including records
 * already decrypted inside GnuTLS: IO_OK when the queue is full (h may
 * have more), IO_AGAIN when h has nothing more for now. */
enum io_result relay_pump(struct half *h, struct buf_pool *pool,
    const char **why);
/* Bytes read from h's fd and not yet delivered: decrypted inside GnuTLS
 * or read ahead for it (they never wake the fd). */
size_t half_pending(const struct half *h);
/* Bytes written to h's socket that its peer has not acknowledged yet
 * (Linux; 0 where the kernel does not say). */
size_t half_unacked(const struct half *h);

#endif
