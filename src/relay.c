/*
 * relay.c - the byte mover.  The same code serves both halves of a
 * session.  A half's queue holds exactly the bytes its fd still has to
 * take: on a TLS half, whole records, encrypted as they are queued, so
 * one write carries several records and GnuTLS never holds a record half
 * sent.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/sockios.h>
#endif

#include "relay.h"
#include "server.h"
#include "tls.h"

#define TLS_HEADER 5            /* type, version, length */
/* Room in a TLS half's queue that payload never takes, so a record GnuTLS
 * writes of its own accord (an alert, a KeyUpdate answer) always fits. */
#define TLS_CONTROL_ROOM 1024

/* Why a TLS call failed; for a failed socket call, the system's reason
 * (errno as the call left it). */
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
	return h->tls != NULL ?
	    gnutls_record_check_pending(h->tls) + buf_len(&h->in) : 0;
}

ssize_t
half_pull(gnutls_transport_ptr_t ptr, void *data, size_t len)
{
	struct half *h = ptr;
	struct buf_pool *pool = &h->s->srv->pool;

	if (buf_empty(&h->in)) {
		size_t avail;
		uint8_t *p;
		ssize_t n;
		/* The socket had less than we asked for at the last read, and
		 * no read event came since: another recv() would only say so
		 * (the watcher is level-triggered, so nothing is missed). */
		if (h->drained) {
			errno = EAGAIN;
			return -1;
		}
		if ((p = buf_reserve(&h->in, pool, &avail)) == NULL) {
			errno = ENOMEM;
			return -1;
		}
		do
			n = recv(h->fd, p, avail, 0);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			int e = errno;
			buf_release(&h->in, pool);
			errno = e;
			return n;
		}
		h->drained = (size_t)n < avail;
		buf_commit(&h->in, (size_t)n);
	}
	if (len > buf_len(&h->in))
		len = buf_len(&h->in);
	memcpy(data, buf_head(&h->in), len);
	buf_consume(&h->in, pool, len);
	return (ssize_t)len;
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

size_t
half_room(const struct half *h)
{
	size_t room = buf_room(&h->out), rec, over;

	if (h->tls == NULL)
		return room;
	if (room <= TLS_CONTROL_ROOM)
		return 0;
	room -= TLS_CONTROL_ROOM;
	rec = gnutls_record_get_max_size(h->tls);
	over = gnutls_record_overhead_size(h->tls);
	/* Whole records only: a read sized to a sliver of room would make a
	 * short record, and more records for the same bytes. */
	return room / (rec + over) * rec;
}

ssize_t
half_push(gnutls_transport_ptr_t ptr, const giovec_t *iov, int iovcnt)
{
	struct half *h = ptr;
	struct buf_pool *pool = &h->s->srv->pool;
	size_t total = 0, done = 0, skip;

	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	/* Straight to the fd when nothing waits before these bytes and no
	 * records are being gathered for one write. */
	if (!h->gathering && !h->full && buf_empty(&h->out)) {
		struct msghdr msg = {
			.msg_iov = (struct iovec *)(uintptr_t)iov,
			.msg_iovlen = (size_t)iovcnt,
		};
		ssize_t n;
		do
			n = sendmsg(h->fd, &msg, MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (n > 0) {
			h->since = ev_now(h->s->srv->loop);
			done = (size_t)n;
		}
		h->full = done < total;
	}
	if (done < total && buf_empty(&h->out))
		h->since = ev_now(h->s->srv->loop);
	/* The rest is queued, as far as there is room. */
	skip = done;
	for (int i = 0; i < iovcnt && done < total; i++) {
		size_t len = iov[i].iov_len, got;
		if (skip >= len) {
			skip -= len;
			continue;
		}
		got = buf_append(&h->out, pool, (const uint8_t *)iov[i].iov_base +
		    skip, len - skip);
		done += got;
		if (got < len - skip)
			break;
		skip = 0;
	}
	if (done == 0) {
		errno = EAGAIN;
		return -1;
	}
	return (ssize_t)done;
}

enum io_result
half_queue(struct half *h, struct buf_pool *pool, const void *p, size_t n,
    const char **why)
{
	const uint8_t *src = p;

	if (h->tls == NULL) {
		if (buf_append(&h->out, pool, p, n) == n)
			return IO_OK;
		*why = "queue full";
		return IO_ERROR;
	}
	/* Each record lands whole in the queue (half_room() made sure it
	 * fits), to leave with the others in one write. */
	h->gathering = 1;
	while (n > 0) {
		ssize_t r = gnutls_record_send(h->tls, src, n);
		if (r <= 0) {
			h->gathering = 0;
			*why = r == GNUTLS_E_AGAIN ? "queue full" : tls_why(r);
			return IO_ERROR;
		}
		src += r;
		n -= (size_t)r;
	}
	h->gathering = 0;
	return IO_OK;
}

/* On a TLS half, follow the records as bytes leave: h->record_left is
 * what the record at the head still has to send. */
static void
track_records(struct half *h, size_t sent)
{
	const uint8_t *p = buf_head(&h->out);

	while (sent > 0) {
		size_t step;
		if (h->record_left == 0)
			h->record_left = TLS_HEADER + ((size_t)p[3] << 8 | p[4]);
		step = sent < h->record_left ? sent : h->record_left;
		h->record_left -= step;
		sent -= step;
		p += step;
	}
}

enum io_result
half_flush(struct half *h, struct buf_pool *pool, const char **why)
{
	/* Full at the last try, and no write event since: level-triggered,
	 * the event comes as soon as there is room. */
	if (h->full && !buf_empty(&h->out))
		return IO_AGAIN;
	while (!buf_empty(&h->out)) {
		ssize_t r = send(h->fd, buf_head(&h->out), buf_len(&h->out),
		    MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				h->full = 1;
				return IO_AGAIN;
			}
			*why = strerror(errno);
			return IO_ERROR;
		}
		if (h->tls != NULL)
			track_records(h, (size_t)r);
		/* A short write: the socket is full, the next would say so. */
		h->full = (size_t)r < buf_len(&h->out);
		buf_consume(&h->out, pool, (size_t)r);
		h->since = ev_now(h->s->srv->loop);
		if (h->full)
			return IO_AGAIN;
	}
	return IO_OK;
}

void
half_cut(struct half *h, struct buf_pool *pool, bool finish_record)
{
	h->broken = 1;
	if (!finish_record || h->tls == NULL || h->record_left == 0 ||
	    buf_empty(&h->out)) {
		buf_release(&h->out, pool);
		h->record_left = 0;
		return;
	}
	/* Cut short, the record would read as corruption rather than as
	 * our end. */
	h->out.tail = h->out.head + h->record_left;
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

enum io_result
relay_pump(struct half *h, struct buf_pool *pool, const char **why)
{
	struct half *dst = h->peer;
	size_t room;

	if (buf_empty(&dst->out))
		dst->since = ev_now(h->s->srv->loop);
	while ((room = half_room(dst)) > 0) {
		size_t avail, got = 0;
		uint8_t *p;
		enum io_result r;

		/* Into the queue itself for a plain fd; through the loop's
		 * scratch space, to be encrypted, for a TLS one. */
		if (dst->tls == NULL) {
			p = buf_reserve(&dst->out, pool, &avail);
		} else {
			p = pool->scratch;
			avail = room < BUF_SIZE ? room : BUF_SIZE;
		}
		if (p == NULL) {
			*why = "out of memory";
			return IO_ERROR;
		}
		r = half_recv(h, p, avail, &got, why);
		if (r != IO_OK) {
			if (buf_empty(&dst->out))
				buf_release(&dst->out, pool);
			return r;
		}
		if (dst->tls == NULL) {
			buf_commit(&dst->out, got);
		} else if (half_queue(dst, pool, p, got, why) != IO_OK) {
			return IO_ERROR;
		}
		/* A short plain read means the socket is drained; a TLS read
		 * returns one record at most, so only GNUTLS_E_AGAIN says. */
		if (h->tls == NULL && got < avail)
			return IO_AGAIN;
	}
	return IO_OK;
}
