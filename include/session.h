/*
 * session.h - one client's life, from accept to the summary log line.
 */
#ifndef VENCRYPTD_SESSION_H
#define VENCRYPTD_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <ev.h>
#include <gnutls/gnutls.h>

#include "buf.h"
#include "log.h"
#include "net.h"
#include "rfb.h"
#include "stats.h"

struct config;
struct listen_conf;
struct server;
struct service;
struct verify_job;

/* The protocol, in order.  Exactly one value at a time. */
enum session_state {
	SESSION_PROXY_HEADER,     /* from a trusted load balancer: reading its
	                           * PROXY header, before our greeting */
	SESSION_VERSION,          /* sent "RFB 003.008", reading the client's version */
	SESSION_SECURITY,         /* offered VeNCrypt, reading the client's type */
	SESSION_VENCRYPT_VERSION, /* sent VeNCrypt 0.2, reading the client's version */
	SESSION_SUBTYPE,          /* offered our subtypes, reading the client's pick */
	SESSION_TLS_HANDSHAKE,    /* subtype acked, TLS handshake under way */
	SESSION_CREDENTIALS,      /* X509Plain: reading user and password */
	SESSION_PASSWORD_CHECK,   /* a worker thread is checking them */
	SESSION_AUTH_DELAY,       /* wrong: waiting a fixed time before saying so */
	SESSION_BACKEND_CONNECT,  /* client authorised, connecting to the backend */
	SESSION_BACKEND_VERSION,  /* connected, reading the backend's version */
	SESSION_BACKEND_SECURITY, /* version sent, reading the backend's types */
	SESSION_BACKEND_RESULT,   /* None chosen, reading the SecurityResult (3.8) */
	SESSION_RELAY,            /* SecurityResult OK sent, relaying both ways */
	SESSION_CLOSING,          /* flushing what is queued to either side */
	SESSION_LINGER,           /* all sent and our sides shut: reading until the
	                           * peers close too, so nothing we sent is lost
	                           * to a reset; then teardown */
};
#define SESSION_NSTATES (SESSION_LINGER + 1)

/* One side of a session.  Both halves look the same, so the relay is
 * written once: read from a half into its peer's queue, write a half's
 * own queue to its fd. */
struct half {
	struct session *s;
	struct half *peer;
	const char *name;       /* "client" or "backend", for logs */
	int fd;                 /* -1 when closed */
	ev_io io;
	int events;             /* the mask io is armed with, 0 when stopped */
	struct buf out;         /* bytes queued for this fd */
	struct buf in;          /* TLS: bytes read ahead, for GnuTLS */
	int drained;            /* TLS: a read came back short since the last
	                         * read event; the next would find nothing */
	int full;               /* a write found the socket full since the
	                         * last write event; the next would too */
	gnutls_session_t tls;   /* set once records flow on this fd */
	int gathering;          /* records go to out, for one write */
	size_t record_left;     /* of the record at out's head, still to send */
	int broken;             /* gone (closed, failed): nothing more goes to it */
	int bye;                /* close_notify given to GnuTLS */
	ev_tstamp since;        /* while out holds bytes: when they were queued
	                         * or the fd last took some (stall_timeout) */
	uint64_t nread;         /* payload bytes read from this side */
	size_t unacked;         /* linger: sent, not yet acknowledged, at the
	                         * last look */
};

/* Handshake-only state, freed when the relay starts. */
struct handshake {
	uint8_t in[8 + RFB_REASON_MAX];   /* partial message being read */
	size_t len;
	struct rfb_version client_version;
	struct rfb_version backend_version;
	ev_tstamp backend_deadline;
	uint8_t cred[8 + 2 * VENCRYPT_PLAIN_MAX];  /* X509Plain credentials */
	size_t credlen;
	const char *auth_failure;   /* why the password check failed (log) */
	ev_tstamp creds_at;         /* when the credentials were complete */
	uint8_t *proxy;             /* the PROXY header read so far
	                             * (PROXY_MAX bytes), while it is read */
	size_t proxylen;
};

/*
 * How a connection came to count, for the status report's "accepted" and
 * for the level of its closing line.  A connection behind a load balancer
 * counts once its PROXY header is in (or is bad), so that the balancer's
 * health checks do not.
 */
enum arrival {
	ARRIVAL_HEADER,         /* its PROXY header not in yet: not counted */
	ARRIVAL_PROBE,          /* a LOCAL header (the balancer's own
	                         * connection, a health check) and not a client
	                         * byte since: not counted, not limited */
	ARRIVAL_ACCEPTED,       /* counted as accepted, once */
	ARRIVAL_TURNED_AWAY,    /* counted, then refused by a per-address limit
	                         * before the greeting, with a line of its own */
};

struct session {
	struct server *srv;
	struct config *cfg;     /* a reference: the generation svc belongs to */
	const struct service *svc;
	const struct listen_conf *lc;   /* the listener it came in on (of cfg) */
	struct session *prev, *next;    /* the server's list of sessions */
	uint64_t id;
	enum session_state state;
	struct half client;
	struct half backend;
	gnutls_session_t tls;   /* the client's TLS session, from the subtype on */
	struct handshake *hs;
	ev_timer timer;         /* the deadline of the current phase */
	ev_idle resume;         /* the relay's budget ran out with client
	                         * bytes decrypted inside GnuTLS: once per
	                         * turn of the loop, like an event */
	ev_tstamp started;
	uint32_t subtype;
	char *dn;               /* the client certificate's subject, RFC 4514 */
	char *user;             /* X509Plain user name, printable, for logs */
	struct verify_job *job; /* the password check under way */
	struct net_addr peer_addr;      /* fixed once admitted: the release
	                                 * goes by it */
	char peer[NET_ADDRSTRLEN];
	char reason[160];       /* why the session ended (first reason wins) */
	enum arrival arrival;   /* how far the connection got towards being
	                         * counted as accepted (session_arrived) */
	bool counted;           /* in the per-address table: released once,
	                         * at teardown */
	ev_tstamp active;       /* relay: when a byte last moved, as of the
	                         * latest event (idle_timeout) */
};

/* Takes ownership of fd, a freshly accepted client on listener lc, and of
 * the place counted for it in the shared session count (shared_reserve).
 * From a trusted load balancer the PROXY header comes first; then (or at
 * once) session_admit(). */
void session_start(struct server *srv, const struct service *svc,
    const struct listen_conf *lc, int fd, const struct net_addr *peer);
/* The client's address is final (s->peer_addr, s->peer: the connection's
 * or the one its PROXY header carries): everything keyed by the address
 * is decided here, then the RFB greeting goes out. */
void session_admit(struct session *s);
/* Stop everything, log the summary, free.  Idempotent through the state. */
void session_close(struct session *s);

/* "TLS handshake", "relay" and so on, for logs. */
const char *session_state_name(enum session_state state);
/* Log with "session N: " in front. */
void session_log(const struct session *s, enum log_level level,
    const char *fmt, ...) PRINTF_LIKE(3, 4);

/* Queue bytes for the client (encrypted once TLS is up). */
void session_send_client(struct session *s, const void *p, size_t n);
/* Tell the client why it is refused, in the form its state allows, log
 * detail, and close once that is flushed.  The first reason wins, and is
 * the one counted (why: see enum refusal; REFUSAL_BACKEND for a backend
 * that failed an authorised client). */
void session_refuse(struct session *s, enum refusal why,
    const char *client_reason, const char *fmt, ...) PRINTF_LIKE(4, 5);
/* Refuse without telling the client anything (it is not speaking our
 * protocol, or has run out of time): log, close. */
void session_drop(struct session *s, enum refusal why, const char *fmt, ...)
    PRINTF_LIKE(3, 4);
/* End without telling the client anything, and without a refusal line. */
void session_abort(struct session *s, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* Enter a phase: set the state and arm the timer for it. */
void session_enter(struct session *s, enum session_state state);
/* Derive every watcher's mask from the state and the buffers. */
void session_update_watchers(struct session *s);
/* The backend is ready: send SecurityResult OK and start relaying. */
void session_start_relay(struct session *s);
/* TCP keepalive on fd as the configuration says (a TCP socket of s). */
void session_keepalive(const struct session *s, int fd);

#endif
