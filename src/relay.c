/*
 * relay.c - the byte mover.  The same code serves both halves of a
 * session; a half with a TLS session speaks records, the other raw bytes.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/sockios.h>
#endif

#include "relay.h"
#include "server.h"
#include "tls.h"

#define TLS_RECORD_MAX 16384

/* Why a TLS call failed; for a failed socket call, the system's reason
 * (errno as the call left it).  A send that meets a reset fails as a
 * premature termination. */
static const char *
tls_why(ssize_t r)
{
	if ((r == GNUTLS_E_PULL_ERROR || r == GNUTLS_E_PUSH_ERROR ||
	    r == GNUTLS_E_PREMATURE_TERMINATION) && errno != 0)
		return strerror(errno);
	return tls_error((int)r);
}

size_t
half_pending(const struct half *h)
{
	return h->tls != NULL ? gnutls_record_check_pending(h->tls) : 0;
}

size_t
half_unacked(const struct half *h)
{
#ifdef SIOCOUTQ
	int n = 0;

	if (h->fd >= 0 && ioctl(h->fd, SIOCOUTQ, &n) == 0 && n > 0)
		return (size_t)n;
#else
	(void)h;
#endif
	return 0;
}

enum io_result
half_recv(struct half *h, void *dst, size_t cap, size_t *got,
    const char **why)
{
	if (h->tls != NULL) {
		ssize_t n = gnutls_record_recv(h->tls, dst, cap);
		if (n > 0) {
			*got = (size_t)n;
			h->nread += (size_t)n;
			return IO_OK;
		}
		if (n == 0 || n == GNUTLS_E_PREMATURE_TERMINATION)
			return IO_EOF;
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			return IO_AGAIN;
		if (!gnutls_error_is_fatal((int)n))
			return IO_AGAIN;   /* e.g. a warning alert: nothing to deliver */
		*why = tls_why(n);
		return IO_ERROR;
	}
	for (;;) {
		ssize_t n = recv(h->fd, dst, cap, 0);
		if (n > 0) {
			*got = (size_t)n;
			h->nread += (size_t)n;
			return IO_OK;
		}
		if (n == 0)
			return IO_EOF;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return IO_AGAIN;
		*why = strerror(errno);
		return IO_ERROR;
	}
}

/* One write of up to len bytes; *sent set on IO_OK. */
static enum io_result
half_send(struct half *h, const uint8_t *p, size_t len, size_t *sent,
    const char **why)
{
	if (h->tls != NULL) {
		/* An interrupted record must be retried with the same length. */
		size_t n = h->tls_inflight ? h->tls_inflight :
		    (len > TLS_RECORD_MAX ? TLS_RECORD_MAX : len);
		ssize_t r = gnutls_record_send(h->tls, p, n);
		if (r > 0) {
			h->tls_inflight = 0;
			*sent = (size_t)r;
			return IO_OK;
		}
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			h->tls_inflight = n;
			return IO_AGAIN;
		}
		*why = tls_why(r);
		return IO_ERROR;
	}
	for (;;) {
		ssize_t r = send(h->fd, p, len, MSG_NOSIGNAL);
		if (r >= 0) {
			*sent = (size_t)r;
			return IO_OK;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return IO_AGAIN;
		*why = strerror(errno);
		return IO_ERROR;
	}
}

enum io_result
half_flush(struct half *h, struct buf_pool *pool, const char **why)
{
	while (!buf_empty(&h->out)) {
		size_t sent = 0;
		enum io_result r = half_send(h, buf_head(&h->out),
		    buf_len(&h->out), &sent, why);
		if (r != IO_OK)
			return r;
		buf_consume(&h->out, pool, sent);
		h->since = ev_now(h->s->srv->loop);
	}
	return IO_OK;
}

enum io_result
half_finish_record(struct half *h, const char **why)
{
	ssize_t r;

	if (h->tls == NULL || h->tls_inflight == 0)
		return IO_OK;
	/* GnuTLS holds the rest of the record: NULL, 0 sends it. */
	r = gnutls_record_send(h->tls, NULL, 0);
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
		return IO_AGAIN;
	h->tls_inflight = 0;
	if (r < 0) {
		*why = tls_error((int)r);
		return IO_ERROR;
	}
	return IO_OK;
}

enum io_result
relay_pump(struct half *h, struct buf_pool *pool, const char **why)
{
	struct buf *dst = &h->peer->out;

	if (buf_empty(dst))
		h->peer->since = ev_now(h->s->srv->loop);
	while (buf_room(dst) > 0) {
		size_t avail, got = 0;
		uint8_t *p = buf_reserve(dst, pool, &avail);
		if (p == NULL) {
			*why = "out of memory";
			return IO_ERROR;
		}
		enum io_result r = half_recv(h, p, avail, &got, why);
		if (r != IO_OK) {
			if (buf_empty(dst))
				buf_release(dst, pool);
			return r == IO_AGAIN ? IO_OK : r;
		}
		buf_commit(dst, got);
		/* A short plain read means the socket is drained; a TLS read
		 * goes on while GnuTLS holds decrypted bytes. */
		if (got < avail && half_pending(h) == 0)
			break;
	}
	return IO_OK;
}
