/*
 * session.c - one client's life: the RFB and VeNCrypt preamble in clear,
 * the TLS handshake, authorisation, then (through backend.c) the backend
 * and the relay, and one teardown that logs one summary line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "backoff.h"
#include "config.h"
#include "dn.h"
#include "listener.h"
#include "peerlimit.h"
#include "proxy.h"
#include "relay.h"
#include "server.h"
#include "session.h"
#include "stats.h"
#include "tls.h"
#include "verifier.h"

#define LINGER_SECONDS 2.0      /* waiting for peers to close after us */
#define AUTH_FAILURE_DELAY 1.0  /* before a wrong password is answered */
#define LOG_USER_MAX 64         /* user name bytes shown in logs */
#define RELAY_ROUNDS 8          /* queue-fulls moved per event and side */

static void half_cb(struct ev_loop *loop, ev_io *w, int revents);
static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void resume_cb(struct ev_loop *loop, ev_idle *w, int revents);
static void session_settle(struct session *s);

static const char *const state_names[] = {
	[SESSION_PROXY_HEADER] = "PROXY header",
	[SESSION_VERSION] = "version",
	[SESSION_SECURITY] = "security type",
	[SESSION_VENCRYPT_VERSION] = "VeNCrypt version",
	[SESSION_SUBTYPE] = "VeNCrypt subtype",
	[SESSION_TLS_HANDSHAKE] = "TLS handshake",
	[SESSION_CREDENTIALS] = "credentials",
	[SESSION_PASSWORD_CHECK] = "password check",
	[SESSION_AUTH_DELAY] = "failure delay",
	[SESSION_BACKEND_CONNECT] = "backend connect",
	[SESSION_BACKEND_VERSION] = "backend version",
	[SESSION_BACKEND_SECURITY] = "backend security",
	[SESSION_BACKEND_RESULT] = "backend security result",
	[SESSION_RELAY] = "relay",
	[SESSION_CLOSING] = "closing",
	[SESSION_LINGER] = "linger",
};

const char *
session_state_name(enum session_state state)
{
	return state_names[state];
}

/* Bytes the client sends in each clear-text state. */
static size_t
client_message_len(enum session_state st)
{
	switch (st) {
	case SESSION_VERSION: return RFB_VERSION_LEN;
	case SESSION_SECURITY: return 1;
	case SESSION_VENCRYPT_VERSION: return 2;
	case SESSION_SUBTYPE: return 4;
	default: return 0;
	}
}

void
session_log(const struct session *s, enum log_level level, const char *fmt, ...)
{
	char msg[1536];
	va_list ap;

	if (level > log_get_level())
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_msg(level, "session %llu: %s", (unsigned long long)s->id, msg);
}

static void set_reason(struct session *s, const char *fmt, va_list ap)
    PRINTF_LIKE(2, 0);

static void
set_reason(struct session *s, const char *fmt, va_list ap)
{
	if (s->reason[0] == '\0')
		vsnprintf(s->reason, sizeof s->reason, fmt, ap);
}

static void
half_init(struct session *s, struct half *h, struct half *peer,
    const char *name, int fd)
{
	h->s = s;
	h->peer = peer;
	h->name = name;
	h->fd = fd;
	ev_io_init(&h->io, half_cb, fd < 0 ? 0 : fd, 0);
	h->io.data = h;
}

/* Arm h's watcher for events, touching libev only on a change. */
static void
half_watch(struct half *h, int events)
{
	struct ev_loop *loop = h->s->srv->loop;

	if (h->fd < 0)
		events = 0;
	if (events == h->events)
		return;
	if (h->events != 0)
		ev_io_stop(loop, &h->io);
	if (events != 0) {
		ev_io_set(&h->io, h->fd, events);
		ev_io_start(loop, &h->io);
	}
	h->events = events;
}

static int
wants_write(const struct half *h)
{
	/* A half that is gone keeps only the rest of a record it began. */
	return !buf_empty(&h->out);
}

void
session_update_watchers(struct session *s)
{
	int cev = wants_write(&s->client) ? EV_WRITE : 0;
	int bev = wants_write(&s->backend) ? EV_WRITE : 0;

	switch (s->state) {
	case SESSION_PROXY_HEADER:
	case SESSION_VERSION:
	case SESSION_SECURITY:
	case SESSION_VENCRYPT_VERSION:
	case SESSION_SUBTYPE:
		cev |= EV_READ;
		break;
	case SESSION_TLS_HANDSHAKE:
		if (cev == 0)
			cev = gnutls_record_get_direction(s->tls) ? EV_WRITE : EV_READ;
		break;
	case SESSION_CREDENTIALS:
		cev |= EV_READ;
		break;
	case SESSION_PASSWORD_CHECK:
	case SESSION_AUTH_DELAY:
		break;
	case SESSION_BACKEND_CONNECT:
		bev = EV_WRITE;
		break;
	case SESSION_BACKEND_VERSION:
	case SESSION_BACKEND_SECURITY:
	case SESSION_BACKEND_RESULT:
		bev |= EV_READ;
		break;
	case SESSION_RELAY:
		/* Read a side only while its peer's queue has room. */
		if (half_room(&s->backend) > 0)
			cev |= EV_READ;
		if (half_room(&s->client) > 0)
			bev |= EV_READ;
		break;
	case SESSION_CLOSING:
		break;
	case SESSION_LINGER:
		cev = EV_READ;
		bev = EV_READ;
		break;
	}
	half_watch(&s->client, cev);
	half_watch(&s->backend, bev);
}

static void
arm_timer(struct session *s, ev_tstamp at)
{
	struct ev_loop *loop = s->srv->loop;
	ev_tstamp left = at - ev_now(loop);

	s->timer.repeat = left > 0.001 ? left : 0.001;
	ev_timer_again(loop, &s->timer);
}

/* In the relay the timer is due when the bytes waiting longest (on
 * either side) will have waited stall_timeout, and, with idle_timeout,
 * when the session will have moved nothing for that long.  Without
 * idle_timeout it runs only while bytes are queued: session_settle()
 * starts it when it is off.  With it, it always runs, due no later than
 * stall_timeout from now, so bytes queued meanwhile are looked at in time
 * without any relay event touching the timer.  Closing uses the stall
 * part alone. */
static void
relay_arm(struct session *s)
{
	const struct half *halves[] = { &s->client, &s->backend };
	const struct config *cfg = s->cfg;
	ev_tstamp oldest = 0, at = 0, now = ev_now(s->srv->loop);

	for (size_t i = 0; i < 2; i++)
		if (wants_write(halves[i]) &&
		    (oldest == 0 || halves[i]->since < oldest))
			oldest = halves[i]->since;
	if (oldest != 0)
		at = oldest + cfg->stall_timeout;
	if (s->state == SESSION_RELAY && cfg->idle_timeout > 0) {
		ev_tstamp idle_at = s->active + cfg->idle_timeout;
		if (idle_at > now + cfg->stall_timeout)
			idle_at = now + cfg->stall_timeout;
		if (at == 0 || idle_at < at)
			at = idle_at;
	}
	if (at == 0)
		ev_timer_stop(s->srv->loop, &s->timer);
	else
		arm_timer(s, at);
}

/* The side that has taken none of the bytes queued for it for
 * stall_timeout, or NULL. */
static struct half *
stalled_half(struct session *s)
{
	struct half *halves[] = { &s->client, &s->backend };
	ev_tstamp now = ev_now(s->srv->loop);

	for (size_t i = 0; i < 2; i++)
		if (wants_write(halves[i]) &&
		    now - halves[i]->since >= s->cfg->stall_timeout)
			return halves[i];
	return NULL;
}

/* Whether the relay has moved no byte either way for idle_timeout.  Bytes
 * queued for a side or held inside GnuTLS are on their way: not idle (a
 * side that takes none of them is stall_timeout's business). */
static bool
idle_over(struct session *s)
{
	ev_tstamp now = ev_now(s->srv->loop);

	if (s->cfg->idle_timeout == 0)
		return false;
	if (wants_write(&s->client) || wants_write(&s->backend) ||
	    half_pending(&s->client) > 0 || half_pending(&s->backend) > 0) {
		s->active = now;
		return false;
	}
	return now - s->active >= s->cfg->idle_timeout;
}

/* The relay's timer is due: end the session if a side has taken none of
 * the bytes queued for it for stall_timeout, or nothing moved for
 * idle_timeout; else wait on. */
static void
relay_due(struct session *s)
{
	const struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct half *h = stalled_half(s);

	if (h == NULL && idle_over(s)) {
		snprintf(s->reason, sizeof s->reason, "idle for %u s",
		    s->cfg->idle_timeout);
		session_enter(s, SESSION_CLOSING);
		return;
	}
	if (h == NULL) {
		relay_arm(s);
		return;
	}
	snprintf(s->reason, sizeof s->reason, "%s stalled: took none "
	    "of %zu queued bytes in %u s", h->name, buf_len(&h->out),
	    s->cfg->stall_timeout);
	/* It would not take the kernel's queue either: closing with a
	 * reset frees that at once too. */
	(void)setsockopt(h->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	half_cut(h, &s->srv->pool, false);
	session_enter(s, SESSION_CLOSING);
}

/* Closing's timer is due.  Before the relay the handshake's bound is
 * over; from the relay, a side still taking its last bytes is given the
 * time it takes, and only one that took none for stall_timeout loses
 * them. */
static void
flush_check(struct session *s)
{
	struct half *h = s->hs == NULL ? stalled_half(s) : NULL;

	if (s->hs == NULL && h == NULL) {
		relay_arm(s);
		return;
	}
	if (h != NULL)
		session_log(s, LOG_LEVEL_INFO, "the %s took none of its last "
		    "%zu bytes in %u s: dropping them", h->name,
		    buf_len(&h->out), s->cfg->stall_timeout);
	session_abort(s, "flush timeout");
}

void
session_enter(struct session *s, enum session_state state)
{
	const struct config *cfg = s->cfg;
	ev_tstamp deadline = s->started + cfg->handshake_timeout;

	s->state = state;
	switch (state) {
	case SESSION_BACKEND_CONNECT:
		s->hs->backend_deadline = ev_now(s->srv->loop) + cfg->backend_timeout;
		/* fall through */
	case SESSION_BACKEND_VERSION:
	case SESSION_BACKEND_SECURITY:
	case SESSION_BACKEND_RESULT:
		if (s->hs->backend_deadline < deadline)
			deadline = s->hs->backend_deadline;
		arm_timer(s, deadline);
		break;
	case SESSION_RELAY:
		relay_arm(s);
		break;
	case SESSION_CLOSING:
		/* Bounded time to flush what is queued: from the relay, while
		 * it is being taken (flush_check). */
		if (s->hs == NULL)
			relay_arm(s);
		else
			arm_timer(s, ev_now(s->srv->loop) + cfg->handshake_timeout);
		break;
	case SESSION_LINGER:
		arm_timer(s, ev_now(s->srv->loop) + LINGER_SECONDS);
		break;
	case SESSION_AUTH_DELAY:
		/* From the credentials' arrival: the same for every failure,
		 * whatever the hashing took. */
		arm_timer(s, s->hs->creds_at + AUTH_FAILURE_DELAY);
		break;
	default:
		arm_timer(s, deadline);
		break;
	}
}

void
session_send_client(struct session *s, const void *p, size_t n)
{
	const char *why;

	if (s->client.broken)
		return;
	if (half_room(&s->client) < n ||
	    half_queue(&s->client, &s->srv->pool, p, n, &why) != IO_OK)
		half_cut(&s->client, &s->srv->pool, false);
}

void
session_abort(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_reason(s, fmt, ap);
	va_end(ap);
	half_cut(&s->client, &s->srv->pool, false);
	half_cut(&s->backend, &s->srv->pool, false);
	s->state = SESSION_CLOSING;
}

/* ", user \"U\"" for log lines, when there is a user. */
static const char *
user_part(const struct session *s, char *out, size_t cap)
{
	out[0] = '\0';
	if (s->user != NULL)
		snprintf(out, cap, ", user \"%s\"", s->user);
	return out;
}

/* The one refusal line: why, and who. */
static void
log_refused(const struct session *s)
{
	char user[LOG_USER_MAX + 16];

	session_log(s, LOG_LEVEL_NOTICE, "refused: %s; peer %s, service %s, "
	    "dn \"%s\"%s", s->reason, s->peer, s->svc->name, s->dn ? s->dn : "",
	    user_part(s, user, sizeof user));
}

void
session_drop(struct session *s, enum refusal why, const char *fmt, ...)
{
	va_list ap;

	if (s->state == SESSION_CLOSING || s->state == SESSION_LINGER)
		return;
	stats_refused(s->svc->stats, why);
	va_start(ap, fmt);
	set_reason(s, fmt, ap);
	va_end(ap);
	log_refused(s);
	session_abort(s, "%s", s->reason);
}

void
session_refuse(struct session *s, enum refusal why, const char *client_reason,
    const char *fmt, ...)
{
	uint8_t msg[16 + RFB_REASON_MAX];
	size_t n = 0;
	va_list ap;

	if (s->state == SESSION_CLOSING)
		return;
	stats_refused(s->svc->stats, why);
	va_start(ap, fmt);
	set_reason(s, fmt, ap);
	va_end(ap);
	log_refused(s);

	switch (s->state) {
	case SESSION_VERSION:
		/* Only a 3.3 client gets here with a reason to read. */
		n = rfb_put_refusal_33(msg, sizeof msg, client_reason);
		break;
	case SESSION_SECURITY:
		if (s->hs->client_version.minor >= 8)
			n = rfb_put_security_failure(msg, sizeof msg, client_reason);
		break;
	case SESSION_VENCRYPT_VERSION:
		n = vencrypt_put_version_status(msg, sizeof msg, 0);
		break;
	case SESSION_SUBTYPE:
		n = vencrypt_put_subtype_ack(msg, sizeof msg, 0);
		break;
	default:
		/* Inside TLS: every VeNCrypt client reads a SecurityResult. */
		if (s->client.tls != NULL)
			n = rfb_put_security_failure(msg, sizeof msg, client_reason);
		break;
	}
	/* Nothing more goes to the backend (if it was reached at all). */
	half_cut(&s->backend, &s->srv->pool, false);
	if (n > 0)
		session_send_client(s, msg, n);
	session_enter(s, SESSION_CLOSING);
}

void
session_keepalive(const struct session *s, int fd)
{
	static atomic_flag told = ATOMIC_FLAG_INIT;
	const struct config *cfg = s->cfg;

	if (cfg->keepalive_idle == 0)
		return;
	if (net_set_keepalive(fd, cfg->keepalive_idle, cfg->keepalive_interval,
	    cfg->keepalive_count) < 0 && !atomic_flag_test_and_set(&told))
		session_log(s, LOG_LEVEL_DEBUG, "cannot set TCP keepalive: %s "
		    "(not said again)", strerror(errno));
}

/* What the per-address limits count the address as. */
static const char *
limit_scope(const struct net_addr *a)
{
	uint8_t key[NET_KEY_LEN];

	net_addr_key(a, key);
	return net_key_is_prefix(key) ? "/64" : "address";
}

/* The per-address limits, on the session's final address: false when it
 * is turned away.  Before the greeting, so that a refusal costs nothing
 * but the accept: the client sees the connection closed, without a byte.
 * The refusal line is logged at most once per address every
 * PEERLIMIT_LOG_EVERY seconds, with how many went unlogged. */
static bool
peer_limits_ok(struct session *s)
{
	const struct config *cfg = s->cfg;
	struct admit_refusal why;
	char host[NET_ADDRSTRLEN], unlogged[80] = "";

	switch (peerlimit_admit(&s->srv->shared->peerlimit, &s->peer_addr,
	    cfg->max_clients_per_ip, cfg->connect_rate_per_ip,
	    ev_now(s->srv->loop), &why)) {
	case ADMIT_OK:
		s->counted = true;
		return true;
	case ADMIT_UNCOUNTED:
		return true;
	case ADMIT_TOO_MANY:
		snprintf(s->reason, sizeof s->reason, "%u session%s from this "
		    "%s (max_clients_per_ip %u)", why.sessions,
		    why.sessions == 1 ? "" : "s", limit_scope(&s->peer_addr),
		    cfg->max_clients_per_ip);
		break;
	case ADMIT_TOO_FAST:
		snprintf(s->reason, sizeof s->reason, "more than %u new "
		    "connection%s a minute from this %s (connect_rate_per_ip %u)",
		    cfg->connect_rate_per_ip,
		    cfg->connect_rate_per_ip == 1 ? "" : "s",
		    limit_scope(&s->peer_addr), cfg->connect_rate_per_ip);
		break;
	}
	s->arrival = ARRIVAL_TURNED_AWAY;
	if (!why.log)
		return false;
	if (why.unlogged > 0)
		snprintf(unlogged, sizeof unlogged, ", and %u more since the "
		    "last such line", why.unlogged);
	net_format_host(&s->peer_addr, host, sizeof host);
	session_log(s, LOG_LEVEL_NOTICE, "client %s: %s: refused%s", host,
	    s->reason, unlogged);
	return false;
}

/* The connection counts as accepted from now on: the one place it is
 * counted, once, whatever the way it came. */
static void
session_arrived(struct session *s)
{
	if (s->arrival == ARRIVAL_HEADER || s->arrival == ARRIVAL_PROBE) {
		s->arrival = ARRIVAL_ACCEPTED;
		stats_accepted(s->svc->stats);
	}
}

void
session_start(struct server *srv, const struct service *svc,
    const struct listen_conf *lc, int fd, const struct net_addr *peer)
{
	struct session *s;

	if ((s = calloc(1, sizeof *s)) == NULL ||
	    (s->hs = calloc(1, sizeof *s->hs)) == NULL) {
		log_warnx("out of memory: dropping a connection to service %s",
		    svc->name);
		free(s);
		close(fd);
		listeners_session_ended(srv);
		return;
	}
	s->srv = srv;
	s->cfg = config_ref(srv->cfg);
	s->svc = svc;
	s->lc = lc;
	s->id = shared_next_id(srv->shared);
	s->started = ev_now(srv->loop);
	s->peer_addr = *peer;
	net_format_addr(peer, s->peer, sizeof s->peer);
	half_init(s, &s->client, &s->backend, "client", fd);
	half_init(s, &s->backend, &s->client, "backend", -1);
	ev_init(&s->timer, timer_cb);
	s->timer.data = s;
	ev_idle_init(&s->resume, resume_cb);
	ev_set_priority(&s->resume, EV_MAXPRI);
	s->resume.data = s;

	s->next = srv->sessions;
	if (srv->sessions != NULL)
		srv->sessions->prev = s;
	srv->sessions = s;
	srv->nsessions++;

	session_log(s, LOG_LEVEL_DEBUG, "connection from %s to service %s, "
	    "worker %u", s->peer, svc->name, srv->index);
	if (peer->ss.ss_family != AF_UNIX) {
		net_set_nodelay(fd);
		session_keepalive(s, fd);
	}
	/* Behind a load balancer, the client is known once its header is
	 * in. */
	if (listen_conf_trusts(lc, peer)) {
		if ((s->hs->proxy = malloc(PROXY_MAX)) == NULL)
			session_abort(s, "out of memory");
		else
			session_enter(s, SESSION_PROXY_HEADER);
	} else {
		session_arrived(s);
		session_admit(s);
	}
	session_settle(s);
}

void
session_admit(struct session *s)
{
	uint8_t msg[RFB_VERSION_LEN];
	const struct rfb_version ours = { 3, 8 };

	/* The balancer's own health checks are not held to the limits of
	 * its address. */
	if (s->arrival != ARRIVAL_PROBE && !peer_limits_ok(s)) {
		/* Closed before the greeting: not a byte for the client,
		 * nothing for the backend.  The reason is the limit's. */
		stats_refused(s->svc->stats, REFUSAL_LIMIT);
		session_abort(s, "refused by a per-address limit");
		return;
	}
	session_send_client(s, msg, rfb_put_version(msg, sizeof msg, &ours));
	session_enter(s, SESSION_VERSION);
}

/* ---- the PROXY header ---------------------------------------------------- */

/* A header from an address that may not send one, where the RFB version
 * was expected. */
static void
proxy_untrusted(struct session *s)
{
	session_log(s, LOG_LEVEL_WARNING, "PROXY header from untrusted address "
	    "%s%s", s->peer, s->lc->proxy == PROXY_MODE_NONE ?
	    " (proxy_protocol is off on this listener)" : "");
	stats_refused(s->svc->stats, REFUSAL_PROXY);
	session_abort(s, "PROXY header from an untrusted address");
}

static void
proxy_bad(struct session *s, const char *why)
{
	session_log(s, LOG_LEVEL_WARNING, "PROXY header from %s: %s", s->peer,
	    why);
	session_arrived(s);
	stats_refused(s->svc->stats, REFUSAL_PROXY);
	session_abort(s, "bad PROXY header: %s", why);
}

/* The header is in: from now on the client is the address it carries
 * (a LOCAL or UNKNOWN header, or one relaying a Unix socket client,
 * leaves the connection's own). */
static void
proxy_done(struct session *s, const struct proxy_header *h)
{
	char proxy[NET_ADDRSTRLEN];

	memcpy(proxy, s->peer, sizeof proxy);
	if (!h->local) {
		s->peer_addr = h->src;
		net_format_addr(&h->src, s->peer, sizeof s->peer);
	}
	session_log(s, h->local ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO,
	    "PROXY header from %s: client %s%s",
	    proxy, s->peer, h->local ? " (the header carries no address)" : "");
	free(s->hs->proxy);
	s->hs->proxy = NULL;
	if (h->local)
		s->arrival = ARRIVAL_PROBE;
	else
		session_arrived(s);
	session_admit(s);
}

/* Read what the header still needs and not a byte more: the client's RFB
 * bytes behind it stay in the socket.  v2 says its length in its fixed
 * part; a v1 line is looked at first (MSG_PEEK) and taken up to its LF. */
static void
proxy_readable(struct session *s)
{
	struct handshake *hs = s->hs;
	int fd = s->client.fd, want_version;
	uint8_t *at = hs->proxy + hs->proxylen;
	struct proxy_header h;
	enum proxy_result r;
	size_t want;
	ssize_t n;

	want_version = s->lc->proxy == PROXY_MODE_V1 ? 1 : 2;
	(void)proxy_parse(hs->proxy, hs->proxylen, &h);
	if (want_version == 2) {
		want = (h.len > PROXY_V2_FIXED ? h.len : PROXY_V2_FIXED) -
		    hs->proxylen;
		n = recv(fd, at, want, 0);
	} else {
		n = recv(fd, at, PROXY_V1_MAX - hs->proxylen, MSG_PEEK);
		if (n > 0) {
			const uint8_t *lf = memchr(at, '\n', (size_t)n);
			want = lf != NULL ? (size_t)(lf - at) + 1 : (size_t)n;
			n = recv(fd, at, want, 0);
		}
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		session_abort(s, "client error during PROXY header: %s",
		    strerror(errno));
		return;
	}
	if (n == 0) {
		if (hs->proxylen == 0) {
			/* A load balancer's health check: connect, close. */
			session_log(s, LOG_LEVEL_DEBUG, "%s closed without "
			    "sending a PROXY header", s->peer);
			session_abort(s, "closed before the PROXY header");
		} else {
			proxy_bad(s, "closed in the middle of it");
		}
		return;
	}
	hs->proxylen += (size_t)n;
	r = proxy_parse(hs->proxy, hs->proxylen, &h);
	if (h.version != 0 && h.version != want_version) {
		char why[64];
		snprintf(why, sizeof why, "a v%d header on a listener set to v%d",
		    h.version, want_version);
		proxy_bad(s, why);
		return;
	}
	if (r == PROXY_DONE)
		proxy_done(s, &h);
	else if (r != PROXY_NEED_MORE)
		proxy_bad(s, proxy_result_name(r));
}

/* ---- the clear-text preamble ------------------------------------------ */

static void
start_tls(struct session *s)
{
	if (tls_session_new(&s->tls, s->svc->creds,
	    s->svc->client_cert != CLIENT_CERT_NONE, half_pull, half_push,
	    &s->client) < 0) {
		session_abort(s, "cannot create a TLS session");
		return;
	}
	session_enter(s, SESSION_TLS_HANDSHAKE);
}

/* A whole client message is in hs->in; act on it. */
static void
client_message(struct session *s)
{
	struct handshake *hs = s->hs;
	uint8_t msg[4 + 4 * CONFIG_MAX_SUBTYPES];
	struct rfb_version v;
	size_t used = 0;
	uint8_t choice;
	uint32_t subtype;
	enum rfb_result r;

	switch (s->state) {
	case SESSION_VERSION:
		/* After a LOCAL header, it speaks RFB after all: a
		 * connection like any. */
		session_arrived(s);
		r = rfb_parse_version(hs->in, hs->len, &v, &used);
		if (r == RFB_OLD_VERSION) {
			session_refuse(s, REFUSAL_PROTOCOL,
			    "VeNCrypt needs RFB 3.7 or later",
			    "client speaks RFB 3.3");
			return;
		}
		if (r != RFB_OK) {
			session_drop(s, REFUSAL_PROTOCOL,
			    "client sent no RFB version");
			return;
		}
		hs->client_version = v;
		session_send_client(s, msg, rfb_put_security_types(msg, sizeof msg));
		session_enter(s, SESSION_SECURITY);
		break;
	case SESSION_SECURITY:
		r = rfb_parse_security_choice(hs->in, hs->len, &choice, &used);
		if (r != RFB_OK) {
			session_refuse(s, REFUSAL_PROTOCOL, "only VeNCrypt is offered",
			    "client chose security type %u", choice);
			return;
		}
		session_send_client(s, msg, vencrypt_put_version(msg, sizeof msg));
		session_enter(s, SESSION_VENCRYPT_VERSION);
		break;
	case SESSION_VENCRYPT_VERSION:
		r = vencrypt_parse_version(hs->in, hs->len, &v, &used);
		if (r != RFB_OK) {
			session_refuse(s, REFUSAL_PROTOCOL, "",
			    "client asked for VeNCrypt %u.%u",
			    v.major, v.minor);
			return;
		}
		session_send_client(s, msg,
		    vencrypt_put_version_status(msg, sizeof msg, 1));
		session_send_client(s, msg, vencrypt_put_subtypes(msg, sizeof msg,
		    s->svc->subtypes, s->svc->nsubtypes));
		session_enter(s, SESSION_SUBTYPE);
		break;
	case SESSION_SUBTYPE:
		r = vencrypt_parse_subtype(hs->in, hs->len, s->svc->subtypes,
		    s->svc->nsubtypes, &subtype, &used);
		if (r != RFB_OK) {
			session_refuse(s, REFUSAL_PROTOCOL, "",
			    "client chose subtype %u (%s), "
			    "which is not offered", subtype,
			    vencrypt_subtype_name(subtype));
			return;
		}
		s->subtype = subtype;
		session_send_client(s, msg,
		    vencrypt_put_subtype_ack(msg, sizeof msg, 1));
		start_tls(s);
		break;
	default:
		break;
	}
	hs->len = 0;
}

/* Read exactly the rest of the current message: nothing beyond it, so the
 * bytes after the subtype (the TLS ClientHello) stay in the socket.  One
 * message per event: the client's next one answers ours, so it is not
 * here yet, and if a client sent it ahead, the fd stays readable. */
static void
client_readable_clear(struct session *s)
{
	struct handshake *hs = s->hs;
	const char *why = NULL;
	size_t need, got = 0;
	enum io_result r;

	if (s->state > SESSION_SUBTYPE)
		return;
	need = client_message_len(s->state);
	r = half_recv(&s->client, hs->in + hs->len, need - hs->len, &got, &why);
	if (r == IO_AGAIN)
		return;
	if (r == IO_EOF) {
		session_abort(s, "client closed during %s",
		    state_names[s->state]);
		return;
	}
	if (r == IO_ERROR) {
		session_abort(s, "client error during %s: %s",
		    state_names[s->state], why);
		return;
	}
	hs->len += got;
	/* A bad version is refused as soon as its prefix is wrong, unless
	 * it may be a PROXY header: that is read on until it is clear. */
	if (s->state == SESSION_VERSION) {
		struct rfb_version v;
		size_t used;
		if (rfb_parse_version(hs->in, hs->len, &v, &used) ==
		    RFB_BAD_VERSION) {
			enum proxy_sniff p = proxy_sniff(hs->in, hs->len);
			if (p == PROXY_SNIFF_YES)
				proxy_untrusted(s);
			else if (p == PROXY_SNIFF_NO || hs->len == need)
				session_drop(s, REFUSAL_PROTOCOL,
				    "client sent no RFB version");
			return;
		}
	}
	if (hs->len == need)
		client_message(s);
}

/* ---- TLS and authorisation -------------------------------------------- */

/* Every check passed: log it and go to the backend. */
static void
authorised(struct session *s)
{
	char desc[64], user[LOG_USER_MAX + 16];

	stats_authorised(s->svc->stats);
	tls_describe(s->tls, desc, sizeof desc);
	session_log(s, LOG_LEVEL_INFO, "authorised: peer %s, service %s, "
	    "dn \"%s\", subtype %s%s, %s%s", s->peer, s->svc->name,
	    s->dn ? s->dn : "", vencrypt_subtype_name(s->subtype),
	    user_part(s, user, sizeof user), desc,
	    tls_resumed(s->tls) ? ", resumed" : "");
	backend_start(s);
}

static int
dn_allowed(const struct service *svc, const char *dn)
{
	if (svc->allowed_dn == NULL)
		return 1;
	for (size_t i = 0; i < svc->nallowed_dn; i++)
		if (dn_match(svc->allowed_dn[i], dn) == DN_MATCH)
			return 1;
	return 0;
}

static int
user_allowed(const struct service *svc, const char *user)
{
	if (svc->allowed_users == NULL)
		return 1;
	for (size_t i = 0; i < svc->nallowed_users; i++)
		if (strcmp(svc->allowed_users[i], user) == 0)
			return 1;
	return 0;
}

static void read_credentials(struct session *s);

/* The TLS handshake is done: the certificate, by the service's mode. */
static void
check_certificate(struct session *s)
{
	const struct service *svc = s->svc;
	char dn[TLS_DN_MAX] = "";
	enum tls_verdict v = TLS_PEER_NO_CERT;
	bool remembered = false;

	/* A resumed session is checked like a full one, on the chain its
	 * ticket carries. */
	if (tls_resumed(s->tls))
		session_log(s, LOG_LEVEL_DEBUG, "TLS session resumed");
	if (svc->client_cert != CLIENT_CERT_NONE)
		v = tls_verify_peer(svc->creds, s->tls, dn, sizeof dn,
		    &remembered);
	if (remembered)
		session_log(s, LOG_LEVEL_DEBUG, "client certificate chain "
		    "verified before, still valid");
	if (dn[0] != '\0' && (s->dn = strdup(dn)) == NULL) {
		session_abort(s, "out of memory");
		return;
	}
	if (v == TLS_PEER_NO_CERT && svc->client_cert != CLIENT_CERT_REQUIRE) {
		/* Without a certificate only a password lets a client in,
		 * unless the service is deliberately open. */
		if (s->subtype != VENCRYPT_X509PLAIN &&
		    !svc->allow_unauthenticated) {
			session_refuse(s, REFUSAL_NO_CERT, tls_verdict_reason(v),
			    "%s (%s needs "
			    "one here; X509Plain would need a password)",
			    tls_verdict_reason(v),
			    vencrypt_subtype_name(s->subtype));
			return;
		}
	} else if (v != TLS_PEER_OK) {
		session_refuse(s, v == TLS_PEER_NO_CERT ? REFUSAL_NO_CERT :
		    REFUSAL_CERT, tls_verdict_reason(v), "%s",
		    tls_verdict_reason(v));
		return;
	} else if (!dn_allowed(svc, dn)) {
		session_refuse(s, REFUSAL_DN, "not authorised",
		    "not authorised: the dn matches no allowed_dn");
		return;
	}
	if (s->subtype == VENCRYPT_X509PLAIN) {
		session_enter(s, SESSION_CREDENTIALS);
		read_credentials(s);
		return;
	}
	authorised(s);
}

/* A user name as logs may show it: printable ASCII without quotes or
 * backslashes, cut at LOG_USER_MAX bytes. */
static char *
printable_user(const uint8_t *p, size_t n)
{
	size_t len = n > LOG_USER_MAX ? LOG_USER_MAX : n;
	char *u = malloc(len + 4);

	if (u == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++)
		u[i] = p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' &&
		    p[i] != '\\' ? (char)p[i] : '?';
	strcpy(u + len, n > len ? "..." : "");
	return u;
}

static void password_checked(struct verify_job *job);

/* The whole credentials message is in: check it off the loop. */
static void
submit_credentials(struct session *s, const struct vencrypt_plain *p)
{
	struct server *srv = s->srv;
	double wait;

	if ((s->user = printable_user(p->user, p->ulen)) == NULL) {
		session_abort(s, "out of memory");
		return;
	}
	switch (backoff_begin(&srv->shared->backoff, &s->peer_addr, ev_now(srv->loop),
	    &wait)) {
	case BACKOFF_GO:
		break;
	case BACKOFF_BLOCKED:
		session_refuse(s, REFUSAL_BLOCKED,
		    "too many failed logins; try again later",
		    "too many failed logins from this address: blocked for "
		    "%.0f s more", wait + 0.5);
		return;
	case BACKOFF_BUSY:
		session_refuse(s, REFUSAL_BLOCKED,
		    "too many logins at once; try again later",
		    "too many password checks under way from this address");
		return;
	case BACKOFF_FULL:
		session_refuse(s, REFUSAL_BUSY, "server busy; try again later",
		    "the failed-login table is full of blocked addresses");
		return;
	}
	s->job = verify_job_new(s->svc->passwd, p->user, p->ulen, p->password,
	    p->plen);
	if (s->job == NULL) {
		backoff_end(&srv->shared->backoff, &s->peer_addr);
		session_abort(s, "out of memory");
		return;
	}
	s->job->done = password_checked;
	s->job->arg = s;
	s->hs->creds_at = ev_now(srv->loop);
	if (verifier_submit(&srv->verifier, s->job) < 0) {
		backoff_end(&srv->shared->backoff, &s->peer_addr);
		verify_job_free(s->job);
		s->job = NULL;
		session_refuse(s, REFUSAL_BUSY, "server busy; try again later",
		    "too many password checks waiting");
		return;
	}
	session_enter(s, SESSION_PASSWORD_CHECK);
}

/* Read exactly the credentials message, however the records split it;
 * refuse an oversized length before reading what follows it. */
static void
read_credentials(struct session *s)
{
	struct handshake *hs = s->hs;
	struct vencrypt_plain p;
	const char *why = NULL;
	size_t need, got;
	enum rfb_result r;
	enum io_result io;
	int spins = 0;

	for (;;) {
		r = vencrypt_parse_plain(hs->cred, hs->credlen, &p, &need);
		if (r != RFB_NEED_MORE)
			break;
		got = 0;
		io = half_recv(&s->client, hs->cred + hs->credlen,
		    need - hs->credlen, &got, &why);
		if (io == IO_AGAIN) {
			/* A record GnuTLS already holds never wakes the fd. */
			if (half_pending(&s->client) > 0 && ++spins < 8)
				continue;
			return;
		}
		if (io == IO_EOF) {
			session_abort(s, "client closed during credentials");
			return;
		}
		if (io == IO_ERROR) {
			session_abort(s, "client error during credentials: %s",
			    why);
			return;
		}
		hs->credlen += got;
	}
	if (r == RFB_TOO_LONG)
		session_refuse(s, REFUSAL_PROTOCOL,
		    "user name or password too long",
		    "credentials refused: a length is over %d bytes",
		    VENCRYPT_PLAIN_MAX);
	else if (r == RFB_BAD_VALUE)
		session_refuse(s, REFUSAL_PROTOCOL,
		    "user name or password contains a NUL byte",
		    "credentials refused: a NUL byte inside the user name or "
		    "password");
	else
		submit_credentials(s, &p);
	explicit_bzero(hs->cred, sizeof hs->cred);
	hs->credlen = 0;
}

/* On the loop thread, when a worker is done with the session's job. */
static void
password_checked(struct verify_job *job)
{
	struct session *s = job->arg;
	struct server *srv = s->srv;
	enum passwd_result r = job->result;
	int allowed = user_allowed(s->svc, job->user);
	double block;

	s->job = NULL;
	verify_job_free(job);
	if (s->state != SESSION_PASSWORD_CHECK) {
		/* Refused while the check ran (it outlived the handshake
		 * timeout): the answer comes too late to let anyone in. */
		backoff_end(&srv->shared->backoff, &s->peer_addr);
		session_settle(s);
		return;
	}
	if (r == PASSWD_OK && backoff_wait(&srv->shared->backoff, &s->peer_addr,
	    ev_now(srv->loop)) > 0) {
		/* Blocked while this check ran: not even a right password. */
		backoff_end(&srv->shared->backoff, &s->peer_addr);
		session_refuse(s, REFUSAL_BLOCKED,
		    "too many failed logins; try again later",
		    "too many failed logins from this address, blocked while "
		    "the password was checked");
		session_settle(s);
		return;
	}
	switch (r) {
	case PASSWD_OK:
		if (allowed) {
			authorised(s);
			break;
		}
		/* Told like a wrong password, so that a service's client
		 * cannot learn that a password is right for another. */
		/* fall through */
	case PASSWD_BAD_PASSWORD:
	case PASSWD_NO_USER:
		s->hs->auth_failure = r == PASSWD_NO_USER ? "unknown user" :
		    r == PASSWD_BAD_PASSWORD ? "wrong password" :
		    "the user is not in allowed_users";
		block = backoff_failed(&srv->shared->backoff, &s->peer_addr,
		    ev_now(srv->loop));
		if (block > 0)
			session_log(s, LOG_LEVEL_NOTICE, "too many failed logins "
			    "from the address of peer %s: blocked for %.0f s",
			    s->peer, block);
		session_enter(s, SESSION_AUTH_DELAY);
		break;
	case PASSWD_ERROR:
		session_refuse(s, REFUSAL_INTERNAL, "internal error",
		    "the password check failed "
		    "(out of memory, or libcrypt refused the hash)");
		break;
	}
	backoff_end(&srv->shared->backoff, &s->peer_addr);
	session_settle(s);
}

static void
tls_handshake_step(struct session *s)
{
	const char *why = NULL;
	int ret, err;

	/* The subtype ack goes out in clear before the first record. */
	if (!buf_empty(&s->client.out)) {
		enum io_result r = half_flush(&s->client, &s->srv->pool, &why);
		if (r == IO_ERROR) {
			session_abort(s, "client error during %s: %s",
			    state_names[s->state], why);
			return;
		}
		if (r != IO_OK || !buf_empty(&s->client.out))
			return;
	}
	ret = gnutls_handshake(s->tls);
	err = errno;
	if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED)
		return;
	/* The client went away: said like the same in the clear. */
	if (ret == GNUTLS_E_PREMATURE_TERMINATION) {
		session_abort(s, "client closed during %s", state_names[s->state]);
		return;
	}
	if (ret == GNUTLS_E_PULL_ERROR || ret == GNUTLS_E_PUSH_ERROR) {
		session_abort(s, "client error during %s: %s",
		    state_names[s->state], strerror(err));
		return;
	}
	if (ret == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		/* The client gave up, usually on our certificate: its alert
		 * says why, GnuTLS's error only that there was one. */
		session_drop(s, REFUSAL_TLS, "TLS handshake failed: the client "
		    "sent the alert \"%s\"", tls_alert_received(s->tls));
		return;
	}
	if (ret < 0) {
		if (gnutls_error_is_fatal(ret)) {
			/* Best effort: tell the client in an alert. */
			(void)gnutls_alert_send_appropriate(s->tls, ret);
			session_drop(s, REFUSAL_TLS, "TLS handshake failed: %s",
			    tls_error(ret));
		}
		return;
	}
	s->client.tls = s->tls;
	check_certificate(s);
}

/* ---- events ----------------------------------------------------------- */

/* Read what h can give into its peer's queue and try to write it at once.
 * 0 when the session is now closing. */
static int
relay_from(struct session *s, struct half *h)
{
	struct buf_pool *pool = &s->srv->pool;
	const char *why = NULL;
	enum io_result r;

	/* While the source fills the queue and the destination empties it,
	 * go round again rather than back through the loop: up to a budget,
	 * so one busy session does not keep the others waiting. */
	for (unsigned round = 1;; round++) {
		r = relay_pump(h, pool, &why);
		if (r == IO_EOF || r == IO_ERROR)
			break;
		int more = r == IO_OK;
		r = half_flush(h->peer, pool, &why);
		if (r == IO_ERROR) {
			h = h->peer;
			break;
		}
		if (!more || r != IO_OK)
			return 1;
		if (round >= RELAY_ROUNDS) {
			/* What GnuTLS already holds would never wake the fd:
			 * come back for it on the next turn of the loop. */
			if (half_pending(h) > 0)
				ev_idle_start(s->srv->loop, &s->resume);
			return 1;
		}
	}
	if (r == IO_EOF)
		snprintf(s->reason, sizeof s->reason, "%s closed", h->name);
	else
		snprintf(s->reason, sizeof s->reason, "%s error: %s", h->name,
		    why);
	/* h is gone: what was read from it still goes to its peer.  A
	 * record half sent to it before its end is finished in closing. */
	half_cut(h, pool, r == IO_EOF);
	session_enter(s, SESSION_CLOSING);
	return 0;
}

/* The relay: one event on h; the same code for both halves. */
static void
relay_step(struct session *s, struct half *h, int revents)
{
	const char *why = NULL;

	if (revents & EV_WRITE &&
	    half_flush(h, &s->srv->pool, &why) == IO_ERROR) {
		snprintf(s->reason, sizeof s->reason, "%s error: %s", h->name, why);
		half_cut(h, &s->srv->pool, false);
		session_enter(s, SESSION_CLOSING);
		return;
	}
	if (revents & EV_READ && !relay_from(s, h))
		return;
	/* Room again in h's queue: take what GnuTLS already decrypted on the
	 * other side, which will never wake its fd. */
	if (half_room(h) > 0 && half_pending(h->peer) > 0)
		(void)relay_from(s, h->peer);
}

static void
closing_step(struct session *s, struct half *h)
{
	const char *why = NULL;

	if (half_flush(h, &s->srv->pool, &why) == IO_ERROR)
		half_cut(h, &s->srv->pool, false);
}

static void
half_close(struct session *s, struct half *h)
{
	half_watch(h, 0);
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	half_cut(h, &s->srv->pool, false);
	buf_release(&h->in, &s->srv->pool);
}

/* Everything is flushed: end our side of each live half (close_notify
 * first on TLS) and wait for the peers' end; gone halves close now. */
static void
start_linger(struct session *s)
{
	struct half *halves[] = { &s->client, &s->backend };

	/* close_notify goes like any record: when it has to wait in the
	 * queue, the shutdown waits for it. */
	for (size_t i = 0; i < 2; i++) {
		struct half *h = halves[i];
		if (h->fd >= 0 && !h->broken && h->tls != NULL && !h->bye) {
			h->bye = 1;
			(void)gnutls_bye(h->tls, GNUTLS_SHUT_WR);
		}
	}
	if (wants_write(&s->client) || wants_write(&s->backend))
		return;
	for (size_t i = 0; i < 2; i++) {
		struct half *h = halves[i];
		if (h->fd < 0)
			continue;
		if (h->broken) {
			half_close(s, h);
			continue;
		}
		if (shutdown(h->fd, SHUT_WR) < 0)
			half_close(s, h);
		h->unacked = half_unacked(h);
	}
	session_enter(s, SESSION_LINGER);
}

/* At the end of a linger period: whether a peer is still taking what we
 * sent.  Closing while it is, and while it still sends, would reset the
 * connection and throw away the bytes our kernel has not delivered yet;
 * a peer that took nothing for a whole period is given up on. */
static int
linger_draining(struct session *s)
{
	struct half *halves[] = { &s->client, &s->backend };
	size_t left[2];
	int draining = 0;

	for (size_t i = 0; i < 2; i++) {
		left[i] = half_unacked(halves[i]);
		if (left[i] > 0 && left[i] < halves[i]->unacked)
			draining = 1;
		halves[i]->unacked = left[i];
	}
	for (size_t i = 0; i < 2 && !draining; i++)
		if (left[i] > 0)
			session_log(s, LOG_LEVEL_INFO, "the %s took none of the "
			    "last %zu bytes in %.0f s: closing", halves[i]->name,
			    left[i], LINGER_SECONDS);
	return draining;
}

/* Discard what a lingering peer still sends; close the half at its end. */
static void
linger_step(struct session *s, struct half *h)
{
	uint8_t scratch[4096];

	for (;;) {
		ssize_t n = recv(h->fd, scratch, sizeof scratch, 0);
		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		half_close(s, h);
		return;
	}
}

static void
half_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct half *h = w->data;
	struct session *s = h->s;
	const char *why = NULL;

	if (revents & EV_READ)
		h->drained = 0;
	if (revents & EV_WRITE)
		h->full = 0;
	switch (s->state) {
	case SESSION_PROXY_HEADER:
		if (revents & EV_READ)
			proxy_readable(s);
		break;
	case SESSION_VERSION:
	case SESSION_SECURITY:
	case SESSION_VENCRYPT_VERSION:
	case SESSION_SUBTYPE:
		if (revents & EV_WRITE &&
		    half_flush(h, &s->srv->pool, &why) == IO_ERROR) {
			session_abort(s, "client error during %s: %s",
			    state_names[s->state], why);
			break;
		}
		if (revents & EV_READ)
			client_readable_clear(s);
		break;
	case SESSION_TLS_HANDSHAKE:
	case SESSION_CREDENTIALS:
	case SESSION_PASSWORD_CHECK:
	case SESSION_AUTH_DELAY:
		/* What GnuTLS could not write at once waits in the queue. */
		if (revents & EV_WRITE &&
		    half_flush(h, &s->srv->pool, &why) == IO_ERROR) {
			session_abort(s, "client error during %s: %s",
			    state_names[s->state], why);
			break;
		}
		if (s->state == SESSION_TLS_HANDSHAKE)
			tls_handshake_step(s);
		else if (s->state == SESSION_CREDENTIALS)
			read_credentials(s);
		/* The other two read nothing: only a write wakes them. */
		break;
	case SESSION_BACKEND_CONNECT:
	case SESSION_BACKEND_VERSION:
	case SESSION_BACKEND_SECURITY:
	case SESSION_BACKEND_RESULT:
		if (h == &s->client) {
			if (half_flush(h, &s->srv->pool, &why) == IO_ERROR)
				session_abort(s, "client error during %s: %s",
				    state_names[s->state], why);
		} else if (revents & EV_WRITE && s->state == SESSION_BACKEND_CONNECT) {
			backend_writable(s);
		} else {
			if (revents & EV_WRITE &&
			    half_flush(h, &s->srv->pool, &why) == IO_ERROR) {
				session_refuse(s, REFUSAL_BACKEND,
				    "backend unavailable",
				    "backend %s: write failed: %s",
				    s->svc->backend_text, why);
				break;
			}
			if (revents & EV_READ)
				backend_readable(s);
		}
		break;
	case SESSION_RELAY:
		/* Something moved (or ended): a store, not a timer change. */
		s->active = ev_now(loop);
		relay_step(s, h, revents);
		break;
	case SESSION_CLOSING:
		closing_step(s, h);
		break;
	case SESSION_LINGER:
		linger_step(s, h);
		break;
	}
	session_settle(s);
}

static void
resume_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct session *s = w->data;

	ev_idle_stop(loop, w);
	half_cb(loop, &s->client.io, EV_READ);
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct session *s = w->data;

	switch (s->state) {
	case SESSION_BACKEND_CONNECT:
	case SESSION_BACKEND_VERSION:
	case SESSION_BACKEND_SECURITY:
	case SESSION_BACKEND_RESULT:
		/* The backend's deadline, or the overall one if that is
		 * sooner: either way the backend did not answer in time. */
		session_refuse(s, REFUSAL_BACKEND, "backend unavailable",
		    "backend %s: no answer within %.0f s (%s)",
		    s->svc->backend_text,
		    ev_now(loop) - s->hs->backend_deadline +
		    s->cfg->backend_timeout, state_names[s->state]);
		break;
	case SESSION_AUTH_DELAY:
		session_refuse(s, REFUSAL_PASSWORD, "authentication failed",
		    "authentication failed: %s", s->hs->auth_failure);
		break;
	case SESSION_PASSWORD_CHECK:
		/* The client did its part: the checks are backed up. */
		session_refuse(s, REFUSAL_BUSY, "server busy; try again later",
		    "password check not done within the handshake timeout");
		break;
	default:
		session_arrived(s);
		session_drop(s, REFUSAL_TIMEOUT, "handshake timeout in state %s",
		    state_names[s->state]);
		break;
	case SESSION_CLOSING:
		flush_check(s);
		break;
	case SESSION_RELAY:
		relay_due(s);
		break;
	case SESSION_LINGER:
		if (linger_draining(s)) {
			arm_timer(s, ev_now(loop) + LINGER_SECONDS);
			return;
		}
		session_close(s);
		return;
	}
	session_settle(s);
}

/* Bytes just queued go out at once when the fd takes them: arming a
 * watcher for a write that would have succeeded costs two epoll_ctl calls
 * and a turn of the loop, several times a handshake.  A half whose socket
 * was full is left to its write event, and so is a failure: each state
 * handles that where the write event lands. */
static void
flush_now(struct session *s)
{
	struct half *halves[] = { &s->client, &s->backend };
	const char *why;

	for (size_t i = 0; i < 2; i++) {
		struct half *h = halves[i];
		if (h->fd < 0 || buf_empty(&h->out) || h->full ||
		    (h == &s->backend && s->state == SESSION_BACKEND_CONNECT))
			continue;
		(void)half_flush(h, &s->srv->pool, &why);
	}
}

/* After every event: send what was queued, move on from closing when all
 * is flushed, tear down when both sides are closed, otherwise derive the
 * watchers. */
static void
session_settle(struct session *s)
{
	flush_now(s);
	if (s->state == SESSION_CLOSING && !wants_write(&s->client) &&
	    !wants_write(&s->backend))
		start_linger(s);
	if (s->state == SESSION_LINGER && s->client.fd < 0 && s->backend.fd < 0) {
		session_close(s);
		return;
	}
	if (s->state == SESSION_RELAY && !ev_is_active(&s->timer))
		relay_arm(s);
	session_update_watchers(s);
}

void
session_start_relay(struct session *s)
{
	uint8_t ok[4];
	struct handshake *hs = s->hs;

	session_send_client(s, ok, rfb_put_security_ok(ok, sizeof ok));
	/* Anything the backend sent past its negotiation belongs to the
	 * client, in order, after the SecurityResult. */
	if (hs->len > 0)
		session_send_client(s, hs->in, hs->len);
	/* From here the counters are the session's payload, both ways. */
	s->client.nread = 0;
	s->backend.nread = hs->len;
	s->client.since = s->backend.since = ev_now(s->srv->loop);
	s->active = ev_now(s->srv->loop);
	free(s->hs);
	s->hs = NULL;
	session_enter(s, SESSION_RELAY);
	session_log(s, LOG_LEVEL_DEBUG, "relaying");
	/* What the client sent right behind its credentials (a pipelined
	 * ClientInit) may wait decrypted inside GnuTLS, which never wakes
	 * the fd: take it now, or client and backend wait for each other. */
	if (half_pending(&s->client) > 0)
		(void)relay_from(s, &s->client);
}

/* A job whose session closed first: drop it and the reference it held. */
static void
orphan_checked(struct verify_job *job)
{
	struct config *cfg = job->arg;

	verify_job_free(job);
	config_unref(cfg);
}

void
session_close(struct session *s)
{
	struct server *srv = s->srv;

	char user[LOG_USER_MAX + 16];

	ev_timer_stop(srv->loop, &s->timer);
	ev_idle_stop(srv->loop, &s->resume);
	half_close(s, &s->client);
	half_close(s, &s->backend);
	if (s->tls != NULL)
		gnutls_deinit(s->tls);
	if (s->job != NULL) {
		/* The worker may still be hashing with this generation's
		 * password file: the job keeps it alive until it is back. */
		backoff_end(&srv->shared->backoff, &s->peer_addr);
		verifier_cancel(&srv->verifier, s->job);
		s->job->done = orphan_checked;
		s->job->arg = s->cfg;
		s->cfg = NULL;
		s->job = NULL;
	}

	if (s->counted) {
		peerlimit_release(&srv->shared->peerlimit, &s->peer_addr);
		s->counted = false;
	}

	/* A load balancer's health check (it sent not a byte of its PROXY
	 * header, or a LOCAL one and nothing after) is no session worth an
	 * info line every few seconds; a connection turned away by a
	 * per-address limit had its own line. */
	session_log(s, s->arrival == ARRIVAL_TURNED_AWAY ||
	    s->arrival == ARRIVAL_PROBE || (s->arrival == ARRIVAL_HEADER &&
	    s->hs != NULL && s->hs->proxy != NULL && s->hs->proxylen == 0) ?
	    LOG_LEVEL_DEBUG :
	    LOG_LEVEL_INFO,
	    "closed: %s; peer %s, service %s, "
	    "dn \"%s\", subtype %s%s, client->backend %llu bytes, "
	    "backend->client %llu bytes, %.3f s",
	    s->reason[0] ? s->reason : "closed", s->peer, s->svc->name,
	    s->dn ? s->dn : "", s->subtype ? vencrypt_subtype_name(s->subtype) : "-",
	    user_part(s, user, sizeof user),
	    /* hs is freed when the relay starts: before, nothing was relayed */
	    (unsigned long long)(s->hs ? 0 : s->client.nread),
	    (unsigned long long)(s->hs ? 0 : s->backend.nread),
	    ev_now(srv->loop) - s->started);
	if (s->hs == NULL)
		stats_closed(s->svc->stats, s->client.nread, s->backend.nread);

	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	srv->nsessions--;
	if (s->hs != NULL) {
		explicit_bzero(s->hs->cred, sizeof s->hs->cred);
		free(s->hs->proxy);
	}
	free(s->hs);
	free(s->dn);
	free(s->user);
	config_unref(s->cfg);
	free(s);
	listeners_session_ended(srv);
}
