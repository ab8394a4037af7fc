/*
 * backend.c - the trusted side: a non-blocking connect, then RFB as a
 * plain client with None security.  Reached only once the client is
 * authorised; every failure tells the client "backend unavailable" and
 * logs what the backend did.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "config.h"
#include "relay.h"
#include "server.h"
#include "stats.h"

#define UNAVAILABLE "backend unavailable"

static void
backend_failed(struct session *s, const char *what)
{
	session_refuse(s, REFUSAL_BACKEND, UNAVAILABLE, "backend %s %s",
	    s->svc->backend_text, what);
}

void
backend_start(struct session *s)
{
	int fd;

	session_enter(s, SESSION_BACKEND_CONNECT);
	if (net_connect_start(&s->svc->backend, &fd) < 0) {
		char what[160];
		snprintf(what, sizeof what, "cannot be reached: %s", strerror(errno));
		backend_failed(s, what);
		return;
	}
	if (s->svc->backend.ss.ss_family != AF_UNIX)
		session_keepalive(s, fd);
	s->backend.fd = fd;
	s->hs->len = 0;
}

void
backend_writable(struct session *s)
{
	if (net_connect_finish(s->backend.fd) < 0) {
		char what[160];
		snprintf(what, sizeof what, "refused the connection: %s",
		    strerror(errno));
		backend_failed(s, what);
		return;
	}
	session_log(s, LOG_LEVEL_DEBUG, "connected to backend %s",
	    s->svc->backend_text);
	session_enter(s, SESSION_BACKEND_VERSION);
}

static void
send_backend(struct session *s, const void *p, size_t n)
{
	if (buf_append(&s->backend.out, &s->srv->pool, p, n) != n)
		s->backend.broken = 1;
}

/* Consume the first used bytes of hs->in. */
static void
consume(struct handshake *hs, size_t used)
{
	memmove(hs->in, hs->in + used, hs->len - used);
	hs->len -= used;
}

/* Act on what is buffered; 1 to go on parsing, 0 to wait or stop. */
static int
negotiate(struct session *s)
{
	struct handshake *hs = s->hs;
	struct rfb_reason reason;
	struct rfb_offer offer;
	struct rfb_version v;
	uint8_t msg[RFB_VERSION_LEN];
	size_t used = 0;
	enum rfb_result r;
	char what[RFB_REASON_MAX + 160];

	switch (s->state) {
	case SESSION_BACKEND_VERSION:
		r = rfb_parse_version(hs->in, hs->len, &v, &used);
		if (r == RFB_NEED_MORE)
			return 0;
		if (r != RFB_OK && r != RFB_OLD_VERSION) {
			backend_failed(s, "sent garbage instead of an RFB version");
			return 0;
		}
		hs->backend_version = v;
		consume(hs, used);
		send_backend(s, msg, rfb_put_version(msg, sizeof msg, &v));
		session_enter(s, SESSION_BACKEND_SECURITY);
		return 1;
	case SESSION_BACKEND_SECURITY:
		if (hs->backend_version.minor == 3)
			r = rfb_parse_security_33(hs->in, hs->len, &offer, &reason, &used);
		else
			r = rfb_parse_security_types(hs->in, hs->len, &offer, &reason,
			    &used);
		if (r == RFB_NEED_MORE)
			return 0;
		if (r == RFB_REFUSED) {
			snprintf(what, sizeof what, "refused the connection: \"%s\"",
			    reason.text);
			backend_failed(s, what);
			return 0;
		}
		if (r != RFB_OK) {
			snprintf(what, sizeof what, "sent a bad security type list (%s)",
			    rfb_result_name(r));
			backend_failed(s, what);
			return 0;
		}
		if (!offer.has_none) {
			char list[256];
			rfb_offer_describe(&offer, list, sizeof list);
			snprintf(what, sizeof what, "offered only %s, not None", list);
			backend_failed(s, what);
			return 0;
		}
		consume(hs, used);
		if (hs->backend_version.minor != 3) {
			const uint8_t none = RFB_SEC_NONE;
			send_backend(s, &none, 1);
		}
		if (hs->backend_version.minor == 8) {
			session_enter(s, SESSION_BACKEND_RESULT);
			return 1;
		}
		/* 3.3 and 3.7 send no SecurityResult for None. */
		session_start_relay(s);
		return 0;
	case SESSION_BACKEND_RESULT:
		r = rfb_parse_security_result(hs->in, hs->len, 1, &reason, &used);
		if (r == RFB_NEED_MORE)
			return 0;
		if (r != RFB_OK) {
			snprintf(what, sizeof what, "failed None security: \"%s\"",
			    r == RFB_REFUSED ? reason.text : rfb_result_name(r));
			backend_failed(s, what);
			return 0;
		}
		consume(hs, used);
		session_start_relay(s);
		return 0;
	default:
		return 0;
	}
}

void
backend_readable(struct session *s)
{
	struct handshake *hs = s->hs;
	const char *why = NULL;
	size_t got = 0;
	enum io_result r;

	if (hs->len == sizeof hs->in) {
		backend_failed(s, "sent an over-long negotiation message");
		return;
	}
	r = half_recv(&s->backend, hs->in + hs->len, sizeof hs->in - hs->len,
	    &got, &why);
	if (r == IO_AGAIN)
		return;
	if (r == IO_EOF || r == IO_ERROR) {
		char what[160];
		snprintf(what, sizeof what, "closed the connection during %s%s%s",
		    s->state == SESSION_BACKEND_VERSION ? "the version" :
		    s->state == SESSION_BACKEND_SECURITY ? "security negotiation" :
		    "the security result", r == IO_ERROR ? ": " : "",
		    r == IO_ERROR ? why : "");
		backend_failed(s, what);
		return;
	}
	hs->len += got;
	while (negotiate(s))
		;
}
