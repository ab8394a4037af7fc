/*
 * fuzz_session.c - whole sessions of the daemon (session.c, backend.c,
 * relay.c, buf.c, backoff.c) on a real libev loop, with the client's and
 * the backend's bytes, their timing and the outcome of every check taken
 * from the fuzz input.
 *
 * The seam is the link: this harness is linked with -Wl,--wrap for the
 * few calls session.c and relay.c make into GnuTLS and the TLS glue, the
 * password-check queue, the backend connect and the session log (see
 * FUZZ_SESSION_WRAP in Makefile.am); the daemon's own code runs as in
 * production.
 *
 *  - "TLS" is a pass-through on the client socket with a record layer of
 *    its own: the server's handshake flight is the two bytes 16 03; the
 *    client's is u8 flags, u8 dnlen, dn (flags & 0x80: the handshake
 *    fails; & 0x40: a warning alert first; & 0x20: a good verdict comes
 *    from the cache of verified chains; & 0x10: the session was resumed;
 *    & 0x0f: the verdict on the certificate, an enum tls_verdict, with
 *    dn as its subject).  After
 *    it, the client's records are u16 length and payload, length 0 being
 *    close_notify and more than 16384 a fatal error; ours are shaped like
 *    TLS's (u8 type 23, 3, 3, u16 length, payload; close_notify an alert,
 *    type 21), since the daemon follows them in its queue, and go out
 *    through the push function the daemon gave, as GnuTLS's do.  Like GnuTLS, a record is read
 *    whole and handed out in pieces, the rest staying pending, where it
 *    never wakes the descriptor.
 *  - A password check comes back when the input says so, with the result
 *    the password's first byte names: 'o' right, 'n' no such user, 'e'
 *    error, anything else wrong; 'q' makes the queue refuse the job.
 *  - The backend is a Unix socket whose connections the harness accepts
 *    at the moment the daemon connects.
 *  - Timers fire when the input says so (earliest first), not in real
 *    time: timeouts are an hour, so only the input ends a phase early.
 *
 * Input: u8, u8 (the service and the world, see setup()), then
 * operations, one byte each (low nibble: what; high nibble: which
 * client) with their arguments; see run_op().  A client comes in on one
 * of three listeners: plain, or a unix: one reading a PROXY v1 or v2
 * header first; the preamble operation may send a header before it.
 *
 * Invariants checked:
 *  - the backend is contacted only for a session whose client is
 *    authorised, by the certificate verdict and password result the input
 *    chose, under the service's rules (client_cert, allowed_dn,
 *    allow_unauthenticated, allowed_users), and only after those came;
 *  - no queue ever holds more than BUF_SIZE, no handshake buffer more
 *    than its size, the pool hands out no more than three chunks a
 *    session (two queues and the read-ahead);
 *  - the loop always comes to rest (no busy loop), and at rest no
 *    relayed session leaves decrypted client bytes stranded in TLS;
 *  - bytes arrive intact and in order: what the client gets after
 *    SecurityResult OK is what the backend sent after its negotiation,
 *    what the backend gets after the negotiation is what the client sent
 *    after its credentials (so never a password), and a refused client
 *    gets nothing from the backend;
 *  - every record goes into the push function whole (the daemon gathers
 *    records in its queue and never leaves one half taken), and
 *    close_notify never follows a record cut short;
 *  - at the end every session is torn down: none left, every pool chunk
 *    back, every password check under way accounted for in the backoff
 *    table, and (LeakSanitizer) everything freed.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <ev.h>
#include <gnutls/gnutls.h>

#include "backoff.h"
#include "buf.h"
#include "config.h"
#include "dn.h"
#include "fuzz.h"
#include "log.h"
#include "net.h"
#include "relay.h"
#include "rfb.h"
#include "server.h"
#include "shared.h"
#include "session.h"
#include "tls.h"
#include "verifier.h"

#define MAX_CLIENTS 8
#define RECORD_MAX 16384
#define FILLER_CHUNK 4096
#define WRITE_BUDGET (4u << 20)  /* bytes the peers may send per input */
#define SETTLE_ROUNDS 100000

/* ---- byte logs ----------------------------------------------------------- */

struct stream {
	uint8_t *p;
	size_t len, cap;
};

static void
stream_add(struct stream *s, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + n)
			cap *= 2;
		s->p = realloc(s->p, cap);
		FUZZ_CHECK(s->p != NULL, "out of memory");
		s->cap = cap;
	}
	memcpy(s->p + s->len, p, n);
	s->len += n;
}

static void
stream_free(struct stream *s)
{
	free(s->p);
	memset(s, 0, sizeof *s);
}

/* ---- the harness's end of a connection -------------------------------- */

struct peer {
	int fd;                 /* -1: not there, or closed by us */
	struct stream out;      /* everything queued to send, in order */
	size_t sent;            /* how much of out went out */
	struct stream in;       /* everything received */
	bool reading;           /* read what arrives (off: let queues fill) */
	bool shut_wanted;       /* shutdown(SHUT_WR) once out is sent */
	bool shut_done;
	bool eof;
};

struct fake_tls;

struct client {
	uint64_t id;            /* the session's id */
	struct peer c;          /* the client */
	struct peer b;          /* its backend connection, once made */
	bool contacted;         /* the daemon connected to the backend */
	bool verified;          /* the daemon asked for the verdict */
	enum tls_verdict verdict;
	char dn[TLS_DN_MAX];
	bool checked;           /* a password check came back */
	enum passwd_result pw;
	char *user;             /* the user name of that check */
	enum proxy_mode proxy;  /* its listener's */
	size_t skip;            /* a PROXY header's bytes before its RFB ones */
};

struct pending_job {
	struct verify_job *job;
	size_t client;
};

static struct {
	struct ev_loop *loop;
	struct shared shared;
	struct server srv;
	struct client clients[MAX_CLIENTS];
	size_t nclients;
	struct pending_job jobs[2 * MAX_CLIENTS];
	size_t njobs;
	unsigned long invoked;  /* watcher callbacks run */
	size_t written;         /* bytes the peers queued, for WRITE_BUDGET */
	bool backend_refuses;
	bool tls_new_fails;
	bool small_buffers;
	int listen_fd;
	char backend_path[sizeof ((struct sockaddr_un *)0)->sun_path];
	bool print_log;
	struct config *configs[256];    /* loaded once per service variant */
} H;

static struct client *
client_by_id(uint64_t id)
{
	for (size_t i = 0; i < H.nclients; i++)
		if (H.clients[i].id == id)
			return &H.clients[i];
	return NULL;
}

/* ---- fake TLS ------------------------------------------------------------ */

struct fake_tls {
	int fd;
	struct client *cl;
	int dir;                /* what the last GNUTLS_E_AGAIN waited for */
	bool hs_sent;           /* our two handshake bytes */
	uint8_t hello[2 + 255]; /* the client's handshake flight */
	size_t hello_len;
	bool warned;            /* the warning alert was given */
	bool done;
	uint8_t rec[2 + 0xffff];/* the record being read, header first */
	size_t rec_len;
	size_t rx_off, rx_len;  /* the payload of the last record handed out */
	bool closed;            /* close_notify received */
	tls_pull_fn pull;       /* the daemon's, with its pointer */
	tls_push_fn push;
	void *push_ptr;
	bool bye;
};

static struct fake_tls *
fake(gnutls_session_t s)
{
	return (struct fake_tls *)(void *)s;
}

/* Hands n bytes to the daemon's push, which must take them all: 0, or a
 * GnuTLS error when the descriptor failed. */
static int
fake_push(struct fake_tls *t, const void *p, size_t n)
{
	giovec_t iov = { (void *)(uintptr_t)p, n };
	ssize_t r = t->push(t->push_ptr, &iov, 1);

	if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
		return GNUTLS_E_PUSH_ERROR;
	FUZZ_CHECK(r == (ssize_t)n, "push took %zd of %zu bytes", r, n);
	return 0;
}

/* A record shaped like TLS's: type, version 3.3, length, payload. */
static int
fake_record(struct fake_tls *t, uint8_t type, const void *p, size_t n)
{
	uint8_t rec[5 + RECORD_MAX] = { type, 3, 3, (uint8_t)(n >> 8),
	    (uint8_t)n };

	memcpy(rec + 5, p, n);
	return fake_push(t, rec, 5 + n);
}

/* Reads up to want bytes through the daemon's pull, as GnuTLS does; >0
 * read, else a GnuTLS error. */
static ssize_t
fake_read(struct fake_tls *t, uint8_t *dst, size_t want)
{
	for (;;) {
		ssize_t n = t->pull(t->push_ptr, dst, want);
		if (n > 0)
			return n;
		if (n == 0)
			return GNUTLS_E_PREMATURE_TERMINATION;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			t->dir = 0;
			return GNUTLS_E_AGAIN;
		}
		return GNUTLS_E_PULL_ERROR;
	}
}

int __wrap_tls_session_new(gnutls_session_t *out, const struct tls_creds *c,
    bool request_cert, tls_pull_fn pull, tls_push_fn push, void *ptr);
size_t __wrap_gnutls_record_get_max_size(gnutls_session_t s);
size_t __wrap_gnutls_record_overhead_size(gnutls_session_t s);
int __wrap_gnutls_handshake(gnutls_session_t s);
enum tls_verdict __wrap_tls_verify_peer(struct tls_creds *c,
    gnutls_session_t s, char *dn, size_t dncap, bool *remembered);
void __wrap_tls_describe(gnutls_session_t s, char *out, size_t cap);
bool __wrap_tls_resumed(gnutls_session_t s);
ssize_t __wrap_gnutls_record_recv(gnutls_session_t s, void *dst, size_t cap);
ssize_t __wrap_gnutls_record_send(gnutls_session_t s, const void *p,
    size_t n);
size_t __wrap_gnutls_record_check_pending(gnutls_session_t s);
int __wrap_gnutls_record_get_direction(gnutls_session_t s);
int __wrap_gnutls_bye(gnutls_session_t s, gnutls_close_request_t how);
void __wrap_gnutls_deinit(gnutls_session_t s);
int __wrap_gnutls_alert_send_appropriate(gnutls_session_t s, int err);
int __wrap_verifier_submit(struct verifier *v, struct verify_job *job);
int __wrap_net_connect_start(const struct net_addr *a, int *fd);
int __real_net_connect_start(const struct net_addr *a, int *fd);
void __wrap_log_msg(enum log_level level, const char *fmt, ...);

int
__wrap_tls_session_new(gnutls_session_t *out, const struct tls_creds *c,
    bool request_cert, tls_pull_fn pull, tls_push_fn push, void *ptr)
{
	int fd = ((struct half *)ptr)->fd;

	struct session *s;
	struct fake_tls *t;

	for (s = H.srv.sessions; s != NULL; s = s->next)
		if (s->client.fd == fd && s->state == SESSION_SUBTYPE)
			break;
	FUZZ_CHECK(s != NULL, "TLS started on fd %d outside a session", fd);
	FUZZ_CHECK(request_cert == (s->svc->client_cert != CLIENT_CERT_NONE),
	    "certificate request does not follow client_cert");
	if (H.tls_new_fails)
		return -1;
	t = calloc(1, sizeof *t);
	FUZZ_CHECK(t != NULL, "out of memory");
	t->fd = fd;
	t->pull = pull;
	t->push = push;
	t->push_ptr = ptr;
	t->cl = client_by_id(s->id);
	FUZZ_CHECK(t->cl != NULL, "session %llu unknown",
	    (unsigned long long)s->id);
	*out = (gnutls_session_t)(void *)t;
	return 0;
}

int
__wrap_gnutls_handshake(gnutls_session_t s)
{
	static const uint8_t flight[2] = { 0x16, 0x03 };
	struct fake_tls *t = fake(s);

	FUZZ_CHECK(!t->done, "handshake again after it was done");
	if (!t->hs_sent) {
		int r = fake_push(t, flight, sizeof flight);
		if (r < 0)
			return r;
		t->hs_sent = true;
	}
	for (;;) {
		size_t need = t->hello_len < 2 ? 2 : 2 + (size_t)t->hello[1];
		ssize_t n;
		if (t->hello_len == need)
			break;
		if ((n = fake_read(t, t->hello + t->hello_len,
		    need - t->hello_len)) < 0)
			return (int)n;
		t->hello_len += (size_t)n;
	}
	if (t->hello[0] & 0x80)
		return GNUTLS_E_UNEXPECTED_PACKET;
	if (t->hello[0] & 0x40 && !t->warned) {
		t->warned = true;
		t->dir = 0;
		return GNUTLS_E_WARNING_ALERT_RECEIVED;
	}
	t->done = true;
	return 0;
}

enum tls_verdict
__wrap_tls_verify_peer(struct tls_creds *c, gnutls_session_t s, char *dn,
    size_t dncap, bool *remembered)
{
	struct fake_tls *t = fake(s);
	struct client *cl = t->cl;
	enum tls_verdict v = (enum tls_verdict)((t->hello[0] & 0x0f) % 9);

	FUZZ_CHECK(t->done, "certificate checked before the handshake ended");
	(void)c;
	*remembered = (t->hello[0] & 0x20) != 0 && v == TLS_PEER_OK;
	cl->verified = true;
	cl->verdict = v;
	/* Like tls_verify_peer: the subject only when a certificate came. */
	snprintf(cl->dn, sizeof cl->dn, "%.*s",
	    v == TLS_PEER_NO_CERT ? 0 : (int)t->hello[1],
	    (const char *)t->hello + 2);
	snprintf(dn, dncap, "%s", cl->dn);
	return v;
}

bool
__wrap_tls_resumed(gnutls_session_t s)
{
	struct fake_tls *t = fake(s);

	FUZZ_CHECK(t->done, "asked about resumption before the handshake "
	    "ended");
	return (t->hello[0] & 0x10) != 0;
}

void
__wrap_tls_describe(gnutls_session_t s, char *out, size_t cap)
{
	FUZZ_CHECK(fake(s)->done, "described before the handshake ended");
	snprintf(out, cap, "TLS1.3 FAKE");
}

ssize_t
__wrap_gnutls_record_recv(gnutls_session_t s, void *dst, size_t cap)
{
	struct fake_tls *t = fake(s);
	size_t len, n;

	FUZZ_CHECK(t->done && cap > 0, "record read before the handshake, or "
	    "into nothing");
	while (t->rx_off == t->rx_len) {
		ssize_t r;
		if (t->closed)
			return 0;
		if (t->rec_len >= 2) {
			len = (size_t)t->rec[0] << 8 | t->rec[1];
			if (len == 0) {
				t->closed = true;
				return 0;
			}
			if (len > RECORD_MAX)
				return GNUTLS_E_RECORD_OVERFLOW;
			if (t->rec_len == 2 + len) {
				t->rx_off = 0;
				t->rx_len = len;
				t->rec_len = 0;
				break;
			}
		} else {
			len = 0;
		}
		r = fake_read(t, t->rec + t->rec_len,
		    t->rec_len < 2 ? 2 - t->rec_len : 2 + len - t->rec_len);
		if (r < 0)
			return r;
		t->rec_len += (size_t)r;
	}
	n = t->rx_len - t->rx_off < cap ? t->rx_len - t->rx_off : cap;
	memcpy(dst, t->rec + 2 + t->rx_off, n);
	t->rx_off += n;
	return (ssize_t)n;
}

ssize_t
__wrap_gnutls_record_send(gnutls_session_t s, const void *p, size_t n)
{
	struct fake_tls *t = fake(s);
	int r;

	FUZZ_CHECK(t->done && !t->bye, "record sent outside the session");
	FUZZ_CHECK(p != NULL && n > 0, "record send of nothing");
	if (n > RECORD_MAX)
		n = RECORD_MAX;
	if ((r = fake_record(t, 23, p, n)) < 0)
		return r;
	return (ssize_t)n;
}

size_t
__wrap_gnutls_record_get_max_size(gnutls_session_t s)
{
	(void)fake(s);
	return RECORD_MAX;
}

size_t
__wrap_gnutls_record_overhead_size(gnutls_session_t s)
{
	(void)fake(s);
	return 5;
}

size_t
__wrap_gnutls_record_check_pending(gnutls_session_t s)
{
	struct fake_tls *t = fake(s);

	return t->rx_len - t->rx_off;
}

int
__wrap_gnutls_record_get_direction(gnutls_session_t s)
{
	return fake(s)->dir;
}

int
__wrap_gnutls_bye(gnutls_session_t s, gnutls_close_request_t how)
{
	struct fake_tls *t = fake(s);

	static const uint8_t close_notify[2] = { 1, 0 };

	FUZZ_CHECK(how == GNUTLS_SHUT_WR, "bye other than SHUT_WR");
	FUZZ_CHECK(t->done && !t->bye, "close_notify outside the session");
	t->bye = true;
	return fake_record(t, 21, close_notify, sizeof close_notify);
}

void
__wrap_gnutls_deinit(gnutls_session_t s)
{
	free(fake(s));
}

int
__wrap_gnutls_alert_send_appropriate(gnutls_session_t s, int err)
{
	FUZZ_CHECK(gnutls_error_is_fatal(err), "alert for a non-fatal error");
	return 0;
}

/* ---- password checks ----------------------------------------------------- */

int
__wrap_verifier_submit(struct verifier *v, struct verify_job *job)
{
	struct session *s = job->arg;
	struct client *cl = client_by_id(s->id);

	FUZZ_CHECK(v == &H.srv.verifier && cl != NULL, "job from nowhere");
	FUZZ_CHECK(s->svc->passwd != NULL && job->db == s->svc->passwd,
	    "password checked against another database");
	FUZZ_CHECK(s->subtype == VENCRYPT_X509PLAIN, "password for %s",
	    vencrypt_subtype_name(s->subtype));
	if (job->password[0] == 'q')
		return -1;
	FUZZ_CHECK(H.njobs < sizeof H.jobs / sizeof H.jobs[0], "too many jobs");
	job->cancelled = false;
	H.jobs[H.njobs].job = job;
	H.jobs[H.njobs].client = (size_t)(cl - H.clients);
	H.njobs++;
	return 0;
}

/* The oldest check comes back, as run_finished() would hand it over. */
static void
deliver_job(void)
{
	struct verify_job *job;
	struct client *cl;

	if (H.njobs == 0)
		return;
	job = H.jobs[0].job;
	cl = &H.clients[H.jobs[0].client];
	memmove(H.jobs, H.jobs + 1, --H.njobs * sizeof H.jobs[0]);
	switch (job->password[0]) {
	case 'o': job->result = PASSWD_OK; break;
	case 'n': job->result = PASSWD_NO_USER; break;
	case 'e': job->result = PASSWD_ERROR; break;
	default: job->result = PASSWD_BAD_PASSWORD; break;
	}
	if (!job->cancelled) {
		cl->checked = true;
		cl->pw = job->result;
		free(cl->user);
		cl->user = strdup(job->user);
		FUZZ_CHECK(cl->user != NULL, "out of memory");
	}
	job->done(job);
}

/* ---- the backend ---------------------------------------------------------- */

static bool
dn_allowed(const struct service *svc, const char *dn)
{
	if (svc->allowed_dn == NULL)
		return true;
	for (size_t i = 0; i < svc->nallowed_dn; i++)
		if (dn_match(svc->allowed_dn[i], dn) == DN_MATCH)
			return true;
	return false;
}

/* The service's rules, from vencryptd.conf(5), applied to what the input
 * chose: may this client reach the backend? */
static void
check_authorised(const struct session *s, const struct client *cl)
{
	const struct service *svc = s->svc;
	enum tls_verdict v = TLS_PEER_NO_CERT;
	bool plain = s->subtype == VENCRYPT_X509PLAIN;

	FUZZ_CHECK(s->reason[0] == '\0', "backend contacted for a session "
	    "that already ended: %s", s->reason);
	FUZZ_CHECK(service_offers(svc, s->subtype), "subtype %u not offered",
	    s->subtype);
	if (svc->client_cert != CLIENT_CERT_NONE) {
		FUZZ_CHECK(cl->verified, "backend contacted before the "
		    "certificate was checked");
		v = cl->verdict;
	}
	if (v == TLS_PEER_NO_CERT)
		FUZZ_CHECK(svc->client_cert != CLIENT_CERT_REQUIRE &&
		    (plain || svc->allow_unauthenticated), "backend contacted "
		    "without a certificate (client_cert %d, subtype %s)",
		    svc->client_cert, vencrypt_subtype_name(s->subtype));
	else
		FUZZ_CHECK(v == TLS_PEER_OK && dn_allowed(svc, cl->dn),
		    "backend contacted with certificate verdict %s, dn \"%s\"",
		    tls_verdict_reason(v), cl->dn);
	if (plain) {
		bool listed = svc->allowed_users == NULL;
		FUZZ_CHECK(cl->checked, "backend contacted before the password "
		    "check came back");
		FUZZ_CHECK(cl->pw == PASSWD_OK, "backend contacted after %s",
		    passwd_result_name(cl->pw));
		for (size_t i = 0; i < svc->nallowed_users; i++)
			listed = listed || strcmp(svc->allowed_users[i], cl->user) == 0;
		FUZZ_CHECK(listed, "backend contacted for user \"%s\", not in "
		    "allowed_users", cl->user);
	}
}

static void
set_buffers(int fd)
{
	int size = 4096;

	if (H.small_buffers) {
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
	}
}

int
__wrap_net_connect_start(const struct net_addr *a, int *fdp)
{
	struct session *s, *caller = NULL;
	struct client *cl;
	int fd;

	/* The caller has just entered BACKEND_CONNECT and has no fd yet. */
	for (s = H.srv.sessions; s != NULL; s = s->next)
		if (s->state == SESSION_BACKEND_CONNECT && s->backend.fd < 0) {
			FUZZ_CHECK(caller == NULL, "two sessions connecting at once");
			caller = s;
		}
	FUZZ_CHECK(caller != NULL, "backend contacted outside a session");
	cl = client_by_id(caller->id);
	FUZZ_CHECK(cl != NULL && !cl->contacted, "backend contacted twice");
	check_authorised(caller, cl);
	cl->contacted = true;
	if (H.backend_refuses) {
		errno = ECONNREFUSED;
		return -1;
	}
	if (__real_net_connect_start(a, fdp) < 0)
		return -1;
	fd = accept4(H.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	FUZZ_CHECK(fd >= 0, "backend connection not queued: %s",
	    strerror(errno));
	set_buffers(fd);
	set_buffers(*fdp);
	cl->b.fd = fd;
	cl->b.reading = true;
	return 0;
}

/* ---- log ----------------------------------------------------------------- */

void __wrap_log_msg(enum log_level level, const char *fmt, ...)
    PRINTF_LIKE(2, 3);

void
__wrap_log_msg(enum log_level level, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (H.print_log)
		fprintf(stderr, "log %d: %s\n", (int)level, line);
}

/* ---- invariants ------------------------------------------------------------ */

static void
check_session(const struct session *s)
{
	const struct client *cl = client_by_id(s->id);

	FUZZ_CHECK(cl != NULL, "session %llu unknown", (unsigned long long)s->id);
	FUZZ_CHECK(buf_len(&s->client.out) <= BUF_SIZE &&
	    buf_len(&s->backend.out) <= BUF_SIZE &&
	    buf_len(&s->client.in) <= BUF_SIZE, "queue over BUF_SIZE: "
	    "%zu, %zu, %zu", buf_len(&s->client.out), buf_len(&s->backend.out),
	    buf_len(&s->client.in));
	FUZZ_CHECK(s->hs == NULL || (s->hs->len <= sizeof s->hs->in &&
	    s->hs->credlen <= sizeof s->hs->cred), "handshake buffer overrun");
	FUZZ_CHECK(s->backend.fd < 0 || cl->contacted, "backend fd without "
	    "a connect");
	if (s->state >= SESSION_BACKEND_CONNECT && s->state <= SESSION_RELAY)
		FUZZ_CHECK(cl->contacted, "state %d without a backend", s->state);
	FUZZ_CHECK((s->state == SESSION_RELAY) == (s->hs == NULL) ||
	    s->state >= SESSION_CLOSING, "handshake state in state %d",
	    s->state);
}

static void
check_all(void)
{
	unsigned n = 0;

	for (const struct session *s = H.srv.sessions; s != NULL; s = s->next) {
		check_session(s);
		n++;
	}
	FUZZ_CHECK(n == H.srv.nsessions, "%u sessions listed, %u counted", n,
	    H.srv.nsessions);
	FUZZ_CHECK(H.srv.pool.inuse <= 3 * (size_t)n, "%zu chunks for %u "
	    "sessions", H.srv.pool.inuse, n);
}

static void
invoke_pending(struct ev_loop *loop)
{
	H.invoked += ev_pending_count(loop);
	ev_invoke_pending(loop);
	check_all();
}

/* At rest nothing may wait inside TLS while it could be moving. */
static void
check_at_rest(void)
{
	for (struct session *s = H.srv.sessions; s != NULL; s = s->next) {
		size_t pending = s->client.tls != NULL ?
		    half_pending(&s->client) : 0;
		if (s->state == SESSION_RELAY && !s->client.broken &&
		    !s->backend.broken)
			FUZZ_CHECK(pending == 0 || half_room(&s->backend) == 0,
			    "relay at rest with %zu client bytes stranded in "
			    "TLS and room for them", pending);
		if (s->state == SESSION_CREDENTIALS)
			FUZZ_CHECK(pending == 0, "credentials at rest with %zu "
			    "bytes stranded in TLS", pending);
	}
}

/* ---- moving bytes ------------------------------------------------------- */

static void
peer_queue(struct peer *p, const void *data, size_t n)
{
	if (p->fd < 0 || p->shut_wanted || H.written + n > WRITE_BUDGET)
		return;
	H.written += n;
	stream_add(&p->out, data, n);
}

static bool
peer_pump(struct peer *p)
{
	uint8_t tmp[65536];
	bool progress = false;

	if (p->fd < 0)
		return false;
	while (p->sent < p->out.len) {
		ssize_t n = send(p->fd, p->out.p + p->sent, p->out.len - p->sent,
		    MSG_NOSIGNAL);
		if (n > 0) {
			p->sent += (size_t)n;
			progress = true;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
				p->out.len = p->sent;   /* the rest cannot go */
			break;
		}
	}
	if (p->shut_wanted && !p->shut_done && p->sent == p->out.len) {
		(void)shutdown(p->fd, SHUT_WR);
		p->shut_done = true;
		progress = true;
	}
	while (p->reading && !p->eof) {
		ssize_t n = recv(p->fd, tmp, sizeof tmp, 0);
		if (n > 0) {
			stream_add(&p->in, tmp, (size_t)n);
			progress = true;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
				p->eof = true;
				progress = true;
			}
			break;
		}
	}
	return progress;
}

static void
peer_close(struct peer *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	p->out.len = p->sent;
}

/* The peer shuts down writing once its bytes are out, or closes now. */
static void
peer_end(struct peer *p, bool close_now)
{
	if (close_now)
		peer_close(p);
	else
		p->shut_wanted = true;
}

/* Runs peers and loop until neither has anything left to do. */
static void
settle(void)
{
	for (int round = 0; ; round++) {
		unsigned long before = H.invoked;
		bool progress = false;

		FUZZ_CHECK(round < SETTLE_ROUNDS, "no rest after %d rounds: a "
		    "busy loop", round);
		for (size_t i = 0; i < H.nclients; i++) {
			progress = peer_pump(&H.clients[i].c) || progress;
			progress = peer_pump(&H.clients[i].b) || progress;
		}
		ev_run(H.loop, EVRUN_NOWAIT);
		if (!progress && H.invoked == before)
			break;
	}
	check_at_rest();
}

/* The earliest timer of any session fires now. */
static void
fire_timer(void)
{
	struct session *next = NULL;
	ev_tstamp at = 0;

	for (struct session *s = H.srv.sessions; s != NULL; s = s->next) {
		ev_tstamp left;
		if (!ev_is_active(&s->timer))
			continue;
		left = ev_timer_remaining(H.loop, &s->timer);
		if (next == NULL || left < at) {
			next = s;
			at = left;
		}
	}
	if (next != NULL) {
		ev_invoke(H.loop, &next->timer, EV_TIMER);
		check_all();
	}
}

/* ---- the world ------------------------------------------------------------ */

static const char *const dn_patterns[] = {
	"CN=*,O=Example", "O=Example+CN=?ob",
};

/* The service for one variant, loaded once: bits 0-1 the subtypes, 2-3
 * client_cert, 4 allowed_dn (alice's and dn_patterns[bit 7]), 5
 * allowed_users, 6 allow_unauthenticated (forced on where the service
 * would otherwise be refused as open by accident). */
static struct config *
service_config(unsigned variant)
{
	static const char *const subtypes[] = {
		"\"X509None\"", "\"X509Plain\"", "\"X509None\", \"X509Plain\"",
		"\"X509Plain\", \"X509None\"",
	};
	static const char *const modes[] = {
		"require", "optional", "none", "optional",
	};
	struct config_errors errs = { NULL, 0 };
	bool plain = (variant & 3) != 0, none_offered = (variant & 3) != 1;
	unsigned mode = variant >> 2 & 3;
	bool dn = variant & 0x10 && mode != 2, users = variant & 0x20 && plain;
	bool open = variant & 0x40 || (mode == 2 && none_offered);
	char text[2048];
	const char *path;

	if (H.configs[variant] != NULL)
		return H.configs[variant];
	snprintf(text, sizeof text,
	    "limits = { handshake_timeout = 3600; backend_timeout = 3600; };\n"
	    "services = ( {\n"
	    "  name = \"fuzz\";\n"
	    "  listen = ( \"127.0.0.1:0\",\n"
	    "    { address = \"unix:%s.v1\"; proxy_protocol = \"v1\"; },\n"
	    "    { address = \"unix:%s.v2\"; proxy_protocol = \"v2\"; } );\n"
	    "  backend = \"unix:%s\";\n"
	    "  subtypes = [ %s ];\n"
	    "  client_cert = \"%s\";\n"
	    "%s%s%s%s%s"
	    "  allow_unauthenticated = %s;\n"
	    "} );\n",
	    H.backend_path, H.backend_path, H.backend_path,
	    subtypes[variant & 3], modes[mode],
	    dn ? "  allowed_dn = [ \"CN=alice,O=Example\", \"" : "",
	    dn ? dn_patterns[variant >> 7] : "",
	    dn ? "\" ];\n" : "",
	    plain ? "  passwd_file = \"passwd\";\n" : "",
	    users ? "  allowed_users = [ \"alice\", \"bob\" ];\n" : "",
	    open ? "true" : "false");
	path = fuzz_write_file("vencryptd.conf", text, strlen(text));
	H.configs[variant] = config_load(path, &errs);
	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "fuzz_session: %s\n", errs.lines[i]);
	FUZZ_CHECK(H.configs[variant] != NULL, "service variant %u does not "
	    "load", variant);
	config_errors_free(&errs);
	if (plain) {
		struct service *svc = &H.configs[variant]->services[0];
		svc->passwd = passwd_load(svc->passwd_file, &errs);
		FUZZ_CHECK(svc->passwd != NULL, "passwd file does not load");
	}
	return H.configs[variant];
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char passwd[] =
	    "alice:$6$fuzzsalt$TMAdpzXePxLUFyzhbszyG7PEYcOkSrx8gK/JwqZ/qtZjsDmp"
	    "AWbYDF41z.P3owQTu0fV.h8j3SLR5H1R0lr9n/\n"
	    "bob:$6$fuzzsalt$TMAdpzXePxLUFyzhbszyG7PEYcOkSrx8gK/JwqZ/qtZjsDmp"
	    "AWbYDF41z.P3owQTu0fV.h8j3SLR5H1R0lr9n/\n"
	    "carol:$6$fuzzsalt$TMAdpzXePxLUFyzhbszyG7PEYcOkSrx8gK/JwqZ/qtZjsDmp"
	    "AWbYDF41z.P3owQTu0fV.h8j3SLR5H1R0lr9n/\n";
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	H.print_log = getenv("FUZZ_LOG") != NULL;
	log_init(LOG_TARGET_STDERR, LOG_LEVEL_DEBUG);
	(void)fuzz_write_file("passwd", passwd, sizeof passwd - 1);
	snprintf(H.backend_path, sizeof H.backend_path, "%s",
	    fuzz_scratch_file("backend.sock"));
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", H.backend_path);
	H.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	FUZZ_CHECK(H.listen_fd >= 0 && bind(H.listen_fd,
	    (struct sockaddr *)&sun, sizeof sun) == 0 &&
	    listen(H.listen_fd, 64) == 0, "backend socket %s: %s",
	    H.backend_path, strerror(errno));
	return 0;
}

static void
new_client(unsigned addr)
{
	struct client *cl = &H.clients[H.nclients];
	const struct listen_conf *lc = &H.srv.cfg->services[0].listen[(addr >> 2) % 3];
	struct net_addr peer;
	struct sockaddr_in *sin = (struct sockaddr_in *)&peer.ss;
	int sv[2];
	unsigned before = H.srv.nsessions;

	if (H.nclients == MAX_CLIENTS)
		return;
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, sv) == 0, "socketpair: %s", strerror(errno));
	set_buffers(sv[0]);
	set_buffers(sv[1]);
	memset(&peer, 0, sizeof peer);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(0x7f000001 + (addr & 3));
	sin->sin_port = htons(40000);
	peer.len = sizeof *sin;
	memset(cl, 0, sizeof *cl);
	cl->c.fd = sv[0];
	cl->c.reading = true;
	cl->b.fd = -1;
	cl->proxy = lc->proxy;
	H.nclients++;
	/* Counted first, as the listener does. */
	FUZZ_CHECK(shared_reserve(&H.shared, UINT_MAX), "no room");
	session_start(&H.srv, &H.srv.cfg->services[0], lc, sv[1], &peer);
	FUZZ_CHECK(H.srv.nsessions == before + 1, "session not started");
	cl->id = H.srv.sessions->id;
	check_all();
}

/* ---- operations ------------------------------------------------------------ */

static const uint32_t preamble_subtypes[] = {
	VENCRYPT_X509NONE, VENCRYPT_X509PLAIN, VENCRYPT_X509VNC, 19,
};
static const char *const hello_dns[] = {
	"CN=alice,O=Example", "CN=bob", "CN=trudy,O=Evil\\,O=Example",
	"O=Example+CN=rob", "",
};
static const char *const users[] = { "alice", "bob", "carol", "mallory" };
static const char *const passwords[] = {
	"ok-password", "bad-password", "no-user", "error", "queue-full",
};

/* One fake TLS record of n payload bytes. */
static void
queue_record(struct peer *p, const void *data, size_t n)
{
	uint8_t hdr[2] = { (uint8_t)(n >> 8), (uint8_t)n };

	if (H.written + 2 + n > WRITE_BUDGET)
		return;
	peer_queue(p, hdr, 2);
	peer_queue(p, data, n);
}

static void
queue_filler(struct peer *p, unsigned chunks, bool records)
{
	uint8_t chunk[FILLER_CHUNK];

	for (unsigned i = 0; i < chunks; i++) {
		for (size_t j = 0; j < sizeof chunk; j++)
			chunk[j] = (uint8_t)(H.written + j * 7 + i);
		if (records)
			queue_record(p, chunk, sizeof chunk);
		else
			peer_queue(p, chunk, sizeof chunk);
	}
}

/* The header a load balancer sends for the client, in its listener's
 * version: from 192.0.2.N, or (choice & 0x40) without an address. */
static void
queue_proxy_header(struct client *cl, uint8_t choice)
{
	static const uint8_t sig[12] = "\r\n\r\n\0\r\nQUIT\n";
	uint8_t h[64];
	size_t n;

	if (cl->proxy == PROXY_MODE_V1) {
		n = choice & 0x40 ? (size_t)snprintf((char *)h, sizeof h,
		    "PROXY UNKNOWN\r\n") : (size_t)snprintf((char *)h, sizeof h,
		    "PROXY TCP4 192.0.2.%u 198.51.100.1 %u 5900\r\n",
		    choice & 0x0f, 40000u + (choice & 0x0f));
	} else {
		memcpy(h, sig, sizeof sig);
		h[12] = choice & 0x40 ? 0x20 : 0x21;
		h[13] = choice & 0x40 ? 0x00 : 0x11;
		h[14] = 0;
		h[15] = choice & 0x40 ? 0 : 12;
		n = 16;
		if (!(choice & 0x40)) {
			const uint8_t a[12] = { 192, 0, 2, choice & 0x0f,
			    198, 51, 100, 1, 0x9c, 0x40, 0x17, 0x0c };
			memcpy(h + n, a, sizeof a);
			n += sizeof a;
		}
	}
	peer_queue(&cl->c, h, n);
	cl->skip = n;
}

/* A backend's greeting: version, None offered, and under 3.8 the result. */
static void
queue_greeting(struct peer *p, unsigned which)
{
	static const struct {
		const char *bytes;
		size_t len;
	} greetings[] = {
		{ "RFB 003.003\n\0\0\0\1", 16 },
		{ "RFB 003.007\n\1\1", 14 },
		{ "RFB 003.008\n\1\1\0\0\0\0", 18 },
		{ "RFB 003.008\n\2\2\1\0\0\0\0", 19 },
	};

	peer_queue(p, greetings[which % 4].bytes, greetings[which % 4].len);
}

static void
run_op(struct fuzz_input *in)
{
	uint8_t op = fuzz_u8(in), buf[16 + 2 * 16];
	struct client *cl = &H.clients[(op >> 4) % H.nclients];
	const uint8_t *p;
	size_t got;

	switch (op & 0x0f) {
	case 0:         /* another client, from one of four addresses, on
			 * one of the three listeners */
		new_client(op >> 4);
		break;
	case 1:         /* client: raw bytes */
		p = fuzz_bytes(in, fuzz_u8(in), &got);
		peer_queue(&cl->c, p, got);
		break;
	case 2:         /* client: one record (length 0 is close_notify) */
		p = fuzz_bytes(in, fuzz_u8(in), &got);
		queue_record(&cl->c, p, got);
		break;
	case 3:         /* client: 1-16 full records of filler */
		queue_filler(&cl->c, fuzz_u8(in) % 16 + 1, true);
		break;
	case 4:         /* client: shut down writing, or close */
		peer_end(&cl->c, fuzz_bool(in));
		break;
	case 5:         /* backend: a greeting */
		queue_greeting(&cl->b, fuzz_u8(in));
		break;
	case 6:
		cl->c.reading = !cl->c.reading;
		break;
	case 7:         /* backend: raw bytes */
		p = fuzz_bytes(in, fuzz_u8(in), &got);
		peer_queue(&cl->b, p, got);
		break;
	case 8:         /* backend: 4-64 KB of filler */
		queue_filler(&cl->b, fuzz_u8(in) % 16 + 1, false);
		break;
	case 9:         /* backend: shut down writing, or close */
		peer_end(&cl->b, fuzz_bool(in));
		break;
	case 10:
		cl->b.reading = !cl->b.reading;
		break;
	case 11:
		fire_timer();
		break;
	case 12:
		deliver_job();
		break;
	case 13: {      /* client: version, VeNCrypt, 0.2 and a subtype;
			 * & 0x20: a PROXY header first */
		uint8_t choice = fuzz_u8(in);
		if (choice & 0x20 && cl->proxy != PROXY_MODE_NONE &&
		    cl->c.out.len == 0)
			queue_proxy_header(cl, choice);
		memcpy(buf, choice & 0x10 ? "RFB 003.007\n" : "RFB 003.008\n", 12);
		buf[12] = RFB_SEC_VENCRYPT;
		buf[13] = 0;
		buf[14] = 2;
		fuzz_put_u32(buf + 15, preamble_subtypes[choice % 4]);
		peer_queue(&cl->c, buf, 19);
		break;
	}
	case 14: {      /* client: its handshake flight */
		uint8_t flags = fuzz_u8(in);
		const char *dn = hello_dns[fuzz_u8(in) % 5];
		uint8_t hdr[2] = { flags, (uint8_t)strlen(dn) };
		peer_queue(&cl->c, hdr, 2);
		peer_queue(&cl->c, dn, strlen(dn));
		break;
	}
	case 15: {      /* client: X509Plain credentials in one record */
		const char *u = users[fuzz_u8(in) % 4];
		const char *pw = passwords[fuzz_u8(in) % 5];
		size_t ulen = strlen(u), plen = strlen(pw);
		fuzz_put_u32(buf, (uint32_t)ulen);
		fuzz_put_u32(buf + 4, (uint32_t)plen);
		memcpy(buf + 8, u, ulen);
		memcpy(buf + 8 + ulen, pw, plen);
		queue_record(&cl->c, buf, 8 + ulen + plen);
		break;
	}
	}
	settle();
}

/* ---- the streams, end to end ------------------------------------------- */

/* The payloads of the records in raw[from..len), up to close_notify:
 * the client's (u16 length) or, with tls_shaped, ours. */
static void
decode_records(const uint8_t *raw, size_t len, size_t from, bool tls_shaped,
    struct stream *out)
{
	size_t pos = from, hdr = tls_shaped ? 5 : 2;

	while (pos + hdr <= len) {
		size_t n = (size_t)raw[pos + hdr - 2] << 8 | raw[pos + hdr - 1];
		if (n == 0 || n > RECORD_MAX || pos + hdr + n > len)
			break;
		if (tls_shaped && raw[pos] != 23) {
			FUZZ_CHECK(raw[pos] == 21 && n == 2 &&
			    pos + hdr + n == len, "a record of type %u, or bytes "
			    "after close_notify", raw[pos]);
			break;
		}
		stream_add(out, raw + pos + hdr, n);
		pos += hdr + n;
	}
	if (tls_shaped && pos < len)
		FUZZ_CHECK(pos + hdr > len || raw[pos] == 21 || raw[pos] == 23,
		    "garbage where a record should start");
}

/* The backend's negotiation, as the harness reads it: its length, and
 * what the daemon must have answered. */
static bool
backend_negotiation(const struct peer *b, size_t *len, uint8_t *answer,
    size_t *alen)
{
	const uint8_t *p = b->out.p;
	size_t n = b->sent, used;
	struct rfb_version v;
	enum rfb_result r;

	if (n < RFB_VERSION_LEN)
		return false;
	r = rfb_parse_version(p, n, &v, &used);
	if (r != RFB_OK && r != RFB_OLD_VERSION)
		return false;
	snprintf((char *)answer, RFB_VERSION_LEN + 1, "RFB 003.00%u\n", v.minor);
	*alen = RFB_VERSION_LEN;
	if (v.minor == 3) {
		*len = RFB_VERSION_LEN + 4;
	} else {
		if (n < RFB_VERSION_LEN + 1)
			return false;
		*len = RFB_VERSION_LEN + 1 + p[RFB_VERSION_LEN];
		answer[(*alen)++] = RFB_SEC_NONE;
	}
	if (v.minor == 8)
		*len += 4;
	return *len <= n;
}

static void
check_streams(const struct client *cl, const struct service *svc)
{
	uint8_t expect[32 + 4 * CONFIG_MAX_SUBTYPES], answer[16];
	struct stream q = { NULL, 0, 0 }, pl = { NULL, 0, 0 };
	/* What the client sent after its PROXY header, if any. */
	const uint8_t *w = cl->c.out.p != NULL ? cl->c.out.p + cl->skip : NULL;
	const uint8_t *rb = cl->b.in.p;
	size_t sent = cl->c.sent > cl->skip ? cl->c.sent - cl->skip : 0;
	size_t elen = 0, k, alen, cred = 0, neg;

	memcpy(expect, "RFB 003.008\n\1\23\0\2\0", 17);
	elen = 17;
	expect[elen++] = (uint8_t)svc->nsubtypes;
	for (size_t i = 0; i < svc->nsubtypes; i++, elen += 4)
		fuzz_put_u32(expect + elen, svc->subtypes[i]);
	expect[elen++] = 1;
	expect[elen++] = 0x16;
	expect[elen++] = 0x03;
	if (cl->c.in.len < elen || memcmp(cl->c.in.p, expect, elen) != 0 ||
	    sent < 21 || sent < 21 + (size_t)w[20])
		return;
	decode_records(cl->c.in.p, cl->c.in.len, elen, true, &q);
	decode_records(w, sent, 21 + (size_t)w[20], false, &pl);
	if (q.len < 4)
		goto out;
	FUZZ_CHECK(fuzz_get_u32(q.p) <= 1, "SecurityResult %u", fuzz_get_u32(q.p));
	if (fuzz_get_u32(q.p) == 1) {
		/* Refused: the reason, then nothing; nothing to the backend. */
		if (q.len >= 8)
			FUZZ_CHECK(fuzz_get_u32(q.p + 4) <= RFB_REASON_MAX &&
			    q.len <= 8 + fuzz_get_u32(q.p + 4), "%zu bytes after a "
			    "refusal", q.len - 8 - fuzz_get_u32(q.p + 4));
		FUZZ_CHECK(cl->b.in.len <= RFB_VERSION_LEN + 1, "the backend "
		    "of a refused client got %zu bytes", cl->b.in.len);
		goto out;
	}
	/* Relayed: only after a complete negotiation with the backend. */
	FUZZ_CHECK(cl->contacted && backend_negotiation(&cl->b, &k, answer,
	    &alen), "SecurityResult OK without a backend negotiation");
	FUZZ_CHECK(q.len - 4 <= cl->b.sent - k &&
	    memcmp(q.p + 4, cl->b.out.p + k, q.len - 4) == 0, "the client got "
	    "%zu bytes that are not what the backend sent after its "
	    "negotiation", q.len - 4);
	neg = cl->b.in.len < alen ? cl->b.in.len : alen;
	FUZZ_CHECK(neg == 0 || memcmp(rb, answer, neg) == 0, "the backend was answered "
	    "\"%.*s\"", (int)neg, rb);
	if (fuzz_get_u32(w + 15) == VENCRYPT_X509PLAIN) {
		FUZZ_CHECK(pl.len >= 8, "relayed without credentials");
		cred = 8 + (size_t)fuzz_get_u32(pl.p) + fuzz_get_u32(pl.p + 4);
	}
	if (cl->b.in.len > alen)
		FUZZ_CHECK(cred <= pl.len && cl->b.in.len - alen <= pl.len - cred &&
		    memcmp(rb + alen, pl.p + cred, cl->b.in.len - alen) == 0,
		    "the backend got %zu bytes that are not what the client "
		    "sent after its credentials", cl->b.in.len - alen);
out:
	stream_free(&q);
	stream_free(&pl);
}

/* Everything comes to an end: checks back, peers gone, timers fired. */
static void
finish(void)
{
	const struct service *svc = &H.srv.cfg->services[0];

	while (H.njobs > 0) {
		deliver_job();
		settle();
	}
	for (size_t i = 0; i < H.nclients; i++)
		H.clients[i].c.reading = H.clients[i].b.reading = true;
	settle();
	for (size_t i = 0; i < H.nclients; i++)
		check_streams(&H.clients[i], svc);
	for (size_t i = 0; i < H.nclients; i++) {
		peer_close(&H.clients[i].c);
		peer_close(&H.clients[i].b);
	}
	settle();
	for (int i = 0; H.srv.nsessions > 0 && i < 64; i++) {
		while (H.njobs > 0)
			deliver_job();
		fire_timer();
		settle();
	}
	FUZZ_CHECK(H.srv.nsessions == 0 && H.srv.sessions == NULL,
	    "%u session(s) never torn down", H.srv.nsessions);
	while (H.njobs > 0)
		deliver_job();
	FUZZ_CHECK(H.srv.pool.inuse == 0, "%zu pool chunk(s) still in use",
	    H.srv.pool.inuse);
	for (size_t i = 0; i < H.shared.backoff.nslots; i++)
		FUZZ_CHECK(H.shared.backoff.slots[i].pending == 0, "a password "
		    "check still counted as under way");
	server_destroy(&H.srv);
	FUZZ_CHECK(atomic_load(&H.shared.nsessions) == 0, "%u session(s) "
	    "still counted", atomic_load(&H.shared.nsessions));
	shared_destroy(&H.shared);
	ev_loop_destroy(H.loop);
	H.loop = NULL;
	for (size_t i = 0; i < H.nclients; i++) {
		struct client *cl = &H.clients[i];
		stream_free(&cl->c.out);
		stream_free(&cl->c.in);
		stream_free(&cl->b.out);
		stream_free(&cl->b.in);
		free(cl->user);
	}
	H.nclients = 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	uint8_t variant = fuzz_u8(&in), world = fuzz_u8(&in);
	struct config *cfg = service_config(variant);

	H.backend_refuses = world & 1;
	H.tls_new_fails = world & 2;
	H.small_buffers = world & 4;
	H.njobs = 0;
	H.invoked = 0;
	H.written = 0;
	H.loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV);
	FUZZ_CHECK(H.loop != NULL, "no event loop");
	ev_set_invoke_pending_cb(H.loop, invoke_pending);
	FUZZ_CHECK(shared_init(&H.shared) == 0, "shared_init");
	FUZZ_CHECK(server_init(&H.srv, &H.shared, H.loop, config_ref(cfg),
	    1) == 0, "server_init");
	/* There are no listeners to resume when a session ends. */
	H.srv.accepting = 1;
	new_client(0);
	settle();
	while (fuzz_left(&in) > 0)
		run_op(&in);
	finish();
	return 0;
}
