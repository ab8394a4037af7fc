/*
 * loadgen - the benchmark's client: many RFB sessions from one process,
 * one thread, one libev loop, non-blocking sockets, GnuTLS.
 *
 *   bench/loadgen --connect HOST:PORT --mode vencrypt|tls|plain
 *                 [--ca FILE] [--cert FILE --key FILE] [--priority STRING]
 *                 --test handshake|down|up|idle|latency
 *                 [--sessions N] [--seconds S] [--bytes B] [--count K]
 *                 [--timeout S] [--parallel P] [--resume] [--quiet]
 *
 * Modes (a session is ready once the ServerInit is read):
 *   vencrypt  RFB 3.8, security type 19, VeNCrypt 0.2, subtype 260
 *             (X509None), TLS, SecurityResult, ClientInit (shared), the
 *             ServerInit vencryptd relays
 *   tls       TLS first, then inside it the backend's RFB 3.8 handshake
 *             with security None (for TLS terminators in front of
 *             bench/backend)
 *   plain     the same RFB handshake on plain TCP
 * TLS: full handshakes only (no resumption; the client asks for no session
 * tickets) unless --resume, the client certificate when --cert and --key are given, the
 * server's chain checked against --ca when given (not its name; it costs
 * CPU, so measurements leave it out), GnuTLS
 * priority --priority (default NORMAL).
 *
 * Tests (one result line of key=value pairs on stdout):
 *   handshake  --sessions N at a time for --seconds S (default 5); each
 *              ready session is closed and a new one started.  Those
 *              under way at the end are finished and counted (seconds=
 *              runs to the last).
 *              handshakes= seconds= rate= failures= cpu_s=
 *              With --resume (TLS modes) sessions accept tickets, and each
 *              one offers the session of the last ticket received, so all
 *              but the first few resume; resumed= counts those the
 *              server resumed (handshakes= counts them too).
 *   down       --sessions N each send 'D' and their share of --bytes B and
 *              check every byte against the pattern; timed from the first
 *              command to the last byte.  bytes= seconds= gbps= cpu_s=
 *   up         the same with 'U', timed to the last 'K'.
 *   idle       opens --sessions N (at most --parallel, default 64, in
 *              handshake at once), prints ready=N, holds them without
 *              traffic until stdin reaches EOF or --seconds S pass, closes
 *              them and prints closed=N.  A session the server closes while
 *              held is a failure.
 *   latency    --sessions N (default 1) each make --count K (default 1000)
 *              sequential 8-byte 'P' round trips.
 *              count= p50_us= p99_us= max_us= (microseconds, nearest rank)
 * gbps is 10^9 bytes (not bits) per second; cpu_s is this process's own
 * user + system CPU over the measured interval, so a run can show the load
 * generator is not the bottleneck.
 *
 * Every step of a session is bounded by --timeout (default 30 s).  Errors
 * go to stderr naming the session and the step ("session 12: TLS
 * handshake: ..."), the first 20 of them (none with --quiet), then a
 * count.  RLIMIT_NOFILE is raised to its hard limit.  Exit status: 0 when
 * no session failed, 1 when one did, 2 on a usage or setup error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>
#include <gnutls/gnutls.h>

#include "benchutil.h"
#include "rfb.h"
#include "testutil.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define READ_CHUNK (64u * 1024u)
#define TLS_RECORD 16384u
#define IO_PER_WAKEUP 16
#define ERRORS_SHOWN 20
#define RETRY_AFTER 0.01        /* s before a failed handshake slot retries */
#define MAX_NAME 1024           /* longest desktop name accepted */

enum mode { MODE_VENCRYPT, MODE_TLS, MODE_PLAIN };
enum test { TEST_HANDSHAKE, TEST_DOWN, TEST_UP, TEST_IDLE, TEST_LATENCY };

enum sess_state {
	S_FREE,         /* no connection in this slot */
	S_BACKOFF,      /* failed; the slot starts again after RETRY_AFTER */
	S_CONNECT,      /* TCP connect in progress */
	S_TLS,          /* TLS handshake (mode tls: first; vencrypt: after the ack) */
	S_VERSION,      /* reading the server's ProtocolVersion */
	S_SECTYPES,     /* reading the security types */
	S_VC_VERSION,   /* reading the VeNCrypt version */
	S_VC_STATUS,    /* reading the status of our VeNCrypt version */
	S_VC_SUBTYPES,  /* reading the VeNCrypt subtypes */
	S_VC_ACK,       /* reading the subtype ack */
	S_SECRESULT,    /* reading the SecurityResult */
	S_SERVER_INIT,  /* reading the ServerInit */
	S_READY,        /* ready: waiting for the test or held idle */
	S_DOWN,         /* 'D' sent; reading pattern bytes */
	S_UP,           /* 'U' sent; sending pattern bytes */
	S_UP_ACK,       /* all sent; waiting for the 'K' */
	S_PING,         /* 'P' sent; waiting for the 8 bytes back */
	S_DONE,         /* its part of the test is done */
};

static const char *const step_name[] = {
	[S_FREE] = "slot",
	[S_BACKOFF] = "retry",
	[S_CONNECT] = "connect",
	[S_TLS] = "TLS handshake",
	[S_VERSION] = "RFB version",
	[S_SECTYPES] = "security types",
	[S_VC_VERSION] = "VeNCrypt version",
	[S_VC_STATUS] = "VeNCrypt version status",
	[S_VC_SUBTYPES] = "VeNCrypt subtypes",
	[S_VC_ACK] = "VeNCrypt subtype ack",
	[S_SECRESULT] = "SecurityResult",
	[S_SERVER_INIT] = "ServerInit",
	[S_READY] = "ready session",
	[S_DOWN] = "down data",
	[S_UP] = "up data",
	[S_UP_ACK] = "up ack",
	[S_PING] = "round trip",
	[S_DONE] = "done",
};

struct sess {
	ev_io io;
	ev_timer timer;
	int fd;
	int events;                     /* the watcher's current mask */
	unsigned id;                    /* slot number, for messages */
	enum sess_state state;
	gnutls_session_t tls;           /* NULL until the TLS handshake starts */
	bool tls_on;                    /* records from here on */
	uint8_t in[MAX_NAME + 32];      /* the handshake message being read */
	size_t have;
	uint8_t out[16];                /* our next handshake message or command */
	size_t out_off, out_len;
	uint64_t total, done;           /* this session's 'D' or 'U' bytes */
	uint64_t pings;                 /* round trips made */
	int64_t ping_sent;              /* ns */
};

static struct {
	const char *connect, *ca, *cert, *key, *priority;
	enum mode mode;
	enum test test;
	unsigned sessions, parallel;
	int64_t seconds_ms;             /* -1: not given */
	int64_t timeout_ms;
	uint64_t bytes, count;
	bool quiet;
	bool resume;                    /* handshake test: resume from tickets */
} opt = {
	.priority = "NORMAL",
	.sessions = 1,
	.parallel = 64,
	.seconds_ms = -1,
	.timeout_ms = 30000,
	.bytes = 100000000,
	.count = 1000,
};

static struct {
	struct ev_loop *loop;
	struct tu_addr addr;
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
	struct sess *s;
	ev_timer deadline;              /* handshake test length, idle hold */
	ev_prepare launcher;            /* starts sessions up to the limits */
	ev_io stdin_io;
	bool running;                   /* sessions may (re)start */
	bool ended;                     /* the result is out */
	unsigned started, in_setup;     /* idle: sessions started, handshaking */
	unsigned ready, failed, finished;
	uint64_t handshakes, failures, errors_shown, errors_hidden;
	uint64_t resumed;               /* --resume: handshakes the server resumed */
	gnutls_datum_t ticket;          /* --resume: the last session ticketed */
	uint64_t moved;                 /* bytes checked down, or acknowledged up */
	int64_t t0, t_last;             /* ns; t0 = 0 until the test begins */
	double cpu0;
	uint64_t *samples;              /* latency, ns */
	uint64_t nsamples;
	int status;
	uint8_t buf[READ_CHUNK];        /* down data, checked and dropped */
} g;

static void sess_run(struct sess *s);
static void handshakes_drained(void);
static void sess_start(struct sess *s);
static void test_begin(void);
static void test_end(void);

/* ---- session life ------------------------------------------------------- */

static void
sess_close(struct sess *s)
{
	ev_io_stop(g.loop, &s->io);
	ev_timer_stop(g.loop, &s->timer);
	if (s->tls != NULL) {
		gnutls_deinit(s->tls);
		s->tls = NULL;
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->events = 0;
	s->tls_on = false;
	s->have = s->out_off = s->out_len = 0;
	s->state = S_FREE;
}

/* The other sessions of a setup phase are all settled: the test begins. */
static void
setup_settled(void)
{
	if (g.ready + g.failed == opt.sessions)
		test_begin();
}

/* A down, up or latency session has done its part. */
static void
sess_finished(struct sess *s)
{
	s->state = S_DONE;
	ev_io_stop(g.loop, &s->io);
	ev_timer_stop(g.loop, &s->timer);
	s->events = 0;
	g.t_last = bench_now_ns();
	if (++g.finished + g.failed == opt.sessions)
		test_end();
}

__attribute__((format(printf, 2, 3)))
static void
sess_fail(struct sess *s, const char *fmt, ...)
{
	enum sess_state was = s->state;

	if (!opt.quiet && g.errors_shown < ERRORS_SHOWN) {
		va_list ap;

		fprintf(stderr, "session %u: %s: ", s->id, step_name[was]);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
		g.errors_shown++;
	} else {
		g.errors_hidden++;
	}
	sess_close(s);
	g.failures++;
	if (opt.test == TEST_HANDSHAKE) {
		if (g.running) {
			s->state = S_BACKOFF;
			ev_timer_set(&s->timer, RETRY_AFTER, 0);
			ev_timer_start(g.loop, &s->timer);
		} else {
			handshakes_drained();
		}
		return;
	}
	g.status = EXIT_FAILED;
	g.failed++;
	if (g.t0 == 0) {
		/* still setting up: the test begins once all are settled */
		if (was < S_READY)
			g.in_setup--;
		else
			g.ready--;
		setup_settled();
	} else if (opt.test != TEST_IDLE && g.finished + g.failed == opt.sessions) {
		test_end();
	}
}

/* Progress: the step timeout starts again. */
static void
sess_touch(struct sess *s)
{
	ev_timer_again(g.loop, &s->timer);
}

/* The one place the watcher's mask is derived from the session. */
static void
sess_watch(struct sess *s)
{
	int ev;

	switch (s->state) {
	case S_FREE:
	case S_BACKOFF:
	case S_DONE:
		ev = 0;
		break;
	case S_CONNECT:
	case S_UP:
		ev = EV_WRITE;
		break;
	case S_TLS:
		ev = gnutls_record_get_direction(s->tls) ? EV_WRITE : EV_READ;
		break;
	default:
		ev = s->out_off < s->out_len ? EV_WRITE : EV_READ;
		break;
	}
	bench_watch(g.loop, &s->io, s->fd, ev, &s->events);
}

static void
sess_queue(struct sess *s, const void *p, size_t n)
{
	memcpy(s->out + s->out_len, p, n);
	s->out_len += n;
}

static void
sess_enter(struct sess *s, enum sess_state state)
{
	s->state = state;
	sess_touch(s);
}

static const char *
tls_error_text(struct sess *s, int r)
{
	static char text[512];
	gnutls_datum_t d;
	unsigned status;

	if (r != GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR)
		return gnutls_strerror(r);
	status = gnutls_session_get_verify_cert_status(s->tls);
	if (gnutls_certificate_verification_status_print(status,
	    GNUTLS_CRT_X509, &d, 0) < 0)
		return gnutls_strerror(r);
	snprintf(text, sizeof(text), "server certificate: %s", d.data);
	gnutls_free(d.data);
	return text;
}

/* ---- I/O -------------------------------------------------------------------
 * Each returns > 0 for bytes moved, 0 when the socket would block, -1 when
 * the session failed (already reported). */

/* Maps a recv() or send() result, or a GnuTLS record one, to the above. */
static ssize_t
sess_io_result(struct sess *s, ssize_t r, const char *call)
{
	if (r > 0)
		return r;
	if (s->tls_on && (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED))
		return 0;
	if (!s->tls_on && r < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (r == 0)
		sess_fail(s, "the server closed the connection");
	else if (s->tls_on)
		sess_fail(s, "%s", gnutls_strerror((int)r));
	else
		sess_fail(s, "%s: %s", call, strerror(errno));
	return -1;
}

static ssize_t
sess_recv(struct sess *s, void *buf, size_t n)
{
	return sess_io_result(s, s->tls_on ? gnutls_record_recv(s->tls, buf, n) :
	    recv(s->fd, buf, n, 0), "recv");
}

/* After GNUTLS_E_AGAIN the same call is repeated with the same arguments,
 * as GnuTLS requires: callers derive them from state that only changes
 * once bytes went out. */
static ssize_t
sess_send(struct sess *s, const void *buf, size_t n)
{
	return sess_io_result(s, s->tls_on ? gnutls_record_send(s->tls, buf, n) :
	    send(s->fd, buf, n, MSG_NOSIGNAL), "send");
}

/* 1 when the queued message is out, 0 when blocked, -1 failed. */
static int
sess_flush(struct sess *s)
{
	while (s->out_off < s->out_len) {
		ssize_t w = sess_send(s, s->out + s->out_off, s->out_len - s->out_off);

		if (w <= 0)
			return (int)w;
		s->out_off += (size_t)w;
	}
	s->out_off = s->out_len = 0;
	return 1;
}

/* ---- the handshake and the commands, one message at a time ---------------- */

enum parse {
	P_MORE,         /* the message is not all in yet */
	P_NEXT,         /* done; the session moved on */
	P_FAILED,       /* the session failed (reported) */
};

static void
sess_consume(struct sess *s, size_t n)
{
	memmove(s->in, s->in + n, s->have - n);
	s->have -= n;
}

static bool
offered(const struct rfb_offer *o, uint8_t type)
{
	for (size_t i = 0; i < o->ntypes; i++) {
		if (o->types[i] == type)
			return true;
	}
	return false;
}

static void sess_ready(struct sess *s);

static enum parse
parse_version(struct sess *s)
{
	struct rfb_version v;
	size_t used;
	enum rfb_result r = rfb_parse_version(s->in, s->have, &v, &used);

	if (r == RFB_NEED_MORE)
		return P_MORE;
	if (r != RFB_OK && r != RFB_OLD_VERSION) {
		sess_fail(s, "%s", rfb_result_name(r));
		return P_FAILED;
	}
	if (v.minor != 8) {
		sess_fail(s, "the server speaks RFB %u.%u; this client needs 3.8",
		    v.major, v.minor);
		return P_FAILED;
	}
	sess_consume(s, used);
	sess_queue(s, BENCH_RFB_VERSION, RFB_VERSION_LEN);
	sess_enter(s, S_SECTYPES);
	return P_NEXT;
}

static enum parse
parse_sectypes(struct sess *s)
{
	struct rfb_offer offer;
	struct rfb_reason reason;
	char words[512];
	size_t used;
	uint8_t want = opt.mode == MODE_VENCRYPT ? RFB_SEC_VENCRYPT : RFB_SEC_NONE;
	enum rfb_result r = rfb_parse_security_types(s->in, s->have, &offer,
	    &reason, &used);

	switch (r) {
	case RFB_NEED_MORE:
		return P_MORE;
	case RFB_OK:
		break;
	case RFB_REFUSED:
		sess_fail(s, "refused: %s", reason.text);
		return P_FAILED;
	default:
		sess_fail(s, "%s", rfb_result_name(r));
		return P_FAILED;
	}
	if (!offered(&offer, want)) {
		rfb_offer_describe(&offer, words, sizeof(words));
		sess_fail(s, "type %u not offered (offered: %s)", want, words);
		return P_FAILED;
	}
	sess_consume(s, used);
	sess_queue(s, &want, 1);
	sess_enter(s, opt.mode == MODE_VENCRYPT ? S_VC_VERSION : S_SECRESULT);
	return P_NEXT;
}

static enum parse
parse_vencrypt(struct sess *s)
{
	static const uint8_t version[] = { 0, 2 };
	static const uint8_t x509none[] = { 0, 0, 1, 4 };      /* 260 */
	size_t n;

	switch (s->state) {
	case S_VC_VERSION:
		if (s->have < 2)
			return P_MORE;
		if (s->in[0] != 0 || s->in[1] != 2) {
			sess_fail(s, "server offers VeNCrypt %u.%u, not 0.2", s->in[0],
			    s->in[1]);
			return P_FAILED;
		}
		sess_consume(s, 2);
		sess_queue(s, version, sizeof(version));
		sess_enter(s, S_VC_STATUS);
		return P_NEXT;
	case S_VC_STATUS:
		if (s->have < 1)
			return P_MORE;
		if (s->in[0] != 0) {
			sess_fail(s, "server refused VeNCrypt 0.2 (status %u)", s->in[0]);
			return P_FAILED;
		}
		sess_consume(s, 1);
		sess_enter(s, S_VC_SUBTYPES);
		return P_NEXT;
	case S_VC_SUBTYPES:
		if (s->have < 1)
			return P_MORE;
		n = s->in[0];
		if (s->have < 1 + 4 * n)
			return P_MORE;
		for (size_t i = 0; i < n; i++) {
			if (memcmp(s->in + 1 + 4 * i, x509none, 4) == 0) {
				sess_consume(s, 1 + 4 * n);
				sess_queue(s, x509none, sizeof(x509none));
				sess_enter(s, S_VC_ACK);
				return P_NEXT;
			}
		}
		sess_fail(s, "X509None (260) not among the %zu subtypes offered", n);
		return P_FAILED;
	default:        /* S_VC_ACK */
		if (s->have < 1)
			return P_MORE;
		if (s->in[0] != 1 || s->have != 1) {
			sess_fail(s, "server refused X509None (ack %u)", s->in[0]);
			return P_FAILED;
		}
		sess_consume(s, 1);
		sess_enter(s, S_TLS);
		return P_NEXT;
	}
}

static enum parse
parse_secresult(struct sess *s)
{
	static const uint8_t shared = 1;
	struct rfb_reason reason;
	size_t used;
	enum rfb_result r = rfb_parse_security_result(s->in, s->have, 1, &reason,
	    &used);

	switch (r) {
	case RFB_NEED_MORE:
		return P_MORE;
	case RFB_OK:
		sess_consume(s, used);
		sess_queue(s, &shared, 1);      /* ClientInit */
		sess_enter(s, S_SERVER_INIT);
		return P_NEXT;
	case RFB_REFUSED:
		sess_fail(s, "refused: %s", reason.text);
		return P_FAILED;
	default:
		sess_fail(s, "%s", rfb_result_name(r));
		return P_FAILED;
	}
}

static enum parse
parse_server_init(struct sess *s)
{
	size_t used;

	switch (bench_parse_server_init(s->in, s->have, MAX_NAME, &used)) {
	case BENCH_SI_NEED_MORE:
		return P_MORE;
	case BENCH_SI_TOO_LONG:
		sess_fail(s, "desktop name longer than %u bytes", MAX_NAME);
		return P_FAILED;
	case BENCH_SI_OK:
		break;
	}
	if (s->have != used) {
		sess_fail(s, "%zu unexpected bytes after it", s->have - used);
		return P_FAILED;
	}
	s->have = 0;
	sess_ready(s);
	return P_NEXT;
}

static void
ping_send(struct sess *s)
{
	uint8_t p[BENCH_PING_LEN];

	bench_put64(p, (uint64_t)s->id << 32 | s->pings);
	p[0] = BENCH_CMD_PING;
	sess_queue(s, p, sizeof(p));
	s->ping_sent = bench_now_ns();
}

static enum parse
parse_reply(struct sess *s)
{
	uint8_t p[BENCH_PING_LEN];

	if (s->state == S_UP_ACK) {
		if (s->have < 1)
			return P_MORE;
		if (s->in[0] != BENCH_UP_ACK || s->have != 1) {
			sess_fail(s, "expected 'K', got %zu bytes starting 0x%02x",
			    s->have, s->in[0]);
			return P_FAILED;
		}
		s->have = 0;
		g.moved += s->total;
		sess_finished(s);
		return P_NEXT;
	}
	if (s->state == S_READY) {
		if (s->have == 0)
			return P_MORE;
		sess_fail(s, "%zu unexpected bytes from the server", s->have);
		return P_FAILED;
	}
	/* S_PING */
	if (s->have < BENCH_PING_LEN)
		return P_MORE;
	bench_put64(p, (uint64_t)s->id << 32 | s->pings);
	p[0] = BENCH_CMD_PING;
	if (s->have != BENCH_PING_LEN || memcmp(s->in, p, sizeof(p)) != 0) {
		sess_fail(s, "the 8 bytes did not come back unchanged");
		return P_FAILED;
	}
	s->have = 0;
	g.samples[g.nsamples++] = (uint64_t)(bench_now_ns() - s->ping_sent);
	if (++s->pings == opt.count) {
		sess_finished(s);
		return P_NEXT;
	}
	ping_send(s);
	sess_touch(s);
	return P_NEXT;
}

static enum parse
sess_parse(struct sess *s)
{
	switch (s->state) {
	case S_VERSION: return parse_version(s);
	case S_SECTYPES: return parse_sectypes(s);
	case S_VC_VERSION:
	case S_VC_STATUS:
	case S_VC_SUBTYPES:
	case S_VC_ACK: return parse_vencrypt(s);
	case S_SECRESULT: return parse_secresult(s);
	case S_SERVER_INIT: return parse_server_init(s);
	default: return parse_reply(s);
	}
}

/* ---- data ------------------------------------------------------------------- */

/* Counts and checks bytes that came down: 1 to go on, -1 when the session
 * is done or failed. */
static int
down_take(struct sess *s, const uint8_t *p, size_t n)
{
	if (n > s->total - s->done) {
		sess_fail(s, "%" PRIu64 " bytes more than asked for",
		    (uint64_t)n - (s->total - s->done));
		return -1;
	}
	if (!bench_pattern_matches(s->done, p, n)) {
		sess_fail(s, "bytes %" PRIu64 "..%" PRIu64 " differ from the pattern",
		    s->done, s->done + (uint64_t)n);
		return -1;
	}
	s->done += (uint64_t)n;
	g.moved += (uint64_t)n;
	if (s->done == s->total) {
		sess_finished(s);
		return -1;
	}
	return 1;
}

/* One TLS record, checked where GnuTLS decrypted it (no copy). */
static ssize_t
down_record(struct sess *s)
{
	gnutls_packet_t pkt = NULL;
	gnutls_datum_t d;
	ssize_t r = gnutls_record_recv_packet(s->tls, &pkt);

	if (r <= 0 || pkt == NULL)
		return sess_io_result(s, r, "recv");
	gnutls_packet_get(pkt, &d, NULL);
	r = down_take(s, d.data, d.size) > 0 ? r : -1;
	gnutls_packet_deinit(pkt);
	return r;
}

/* down_read and up_write return 1 to go on, 0 to wait for the socket, -1
 * when the session no longer transfers (done or failed). */
static int
down_read(struct sess *s)
{
	for (int i = 0; i < IO_PER_WAKEUP ||
	    (s->tls_on && gnutls_record_check_pending(s->tls) > 0); i++) {
		ssize_t r;

		if (s->tls_on) {
			if ((r = down_record(s)) <= 0)
				return (int)r;
			continue;
		}
		if ((r = sess_recv(s, g.buf, sizeof(g.buf))) <= 0)
			return (int)r;
		if (down_take(s, g.buf, (size_t)r) < 0)
			return -1;
		if ((size_t)r < sizeof(g.buf))
			break;          /* the socket is drained */
	}
	sess_touch(s);
	return 0;
}

static int
up_write(struct sess *s)
{
	size_t cap = s->tls_on ? TLS_RECORD : BENCH_CHUNK_MAX;

	for (int i = 0; i < IO_PER_WAKEUP && s->done < s->total; i++) {
		size_t n = s->total - s->done < cap ? (size_t)(s->total - s->done) : cap;
		ssize_t w = sess_send(s, bench_pattern_at(s->done), n);

		if (w <= 0)
			return (int)w;
		s->done += (uint64_t)w;
	}
	sess_touch(s);
	if (s->done < s->total)
		return 0;
	s->state = S_UP_ACK;
	return 1;
}

/* ---- driving a session -------------------------------------------------------- */

static bool
tls_begin(struct sess *s)
{
	int r = gnutls_init(&s->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK |
	    (opt.resume ? 0 : GNUTLS_NO_TICKETS));

	if (r >= 0)
		r = gnutls_priority_set(s->tls, g.prio);
	if (r >= 0)
		r = gnutls_credentials_set(s->tls, GNUTLS_CRD_CERTIFICATE, g.cred);
	if (r >= 0 && g.ticket.data != NULL)
		r = gnutls_session_set_data(s->tls, g.ticket.data, g.ticket.size);
	if (r < 0) {
		sess_fail(s, "%s", gnutls_strerror(r));
		return false;
	}
	if (opt.ca != NULL)
		gnutls_session_set_verify_cert(s->tls, NULL, 0);
	gnutls_transport_set_int(s->tls, s->fd);
	return true;
}

/* Runs the session as far as the socket allows, then sets the watcher. */
static void
sess_run(struct sess *s)
{
	for (;;) {
		int r;

		if (s->out_off < s->out_len) {
			if ((r = sess_flush(s)) < 0)
				return;
			if (r == 0)
				break;
		}
		switch (s->state) {
		case S_TLS:
			if (s->tls == NULL && !tls_begin(s))
				return;
			r = gnutls_handshake(s->tls);
			if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
				goto wait;
			if (r < 0) {
				sess_fail(s, "%s", tls_error_text(s, r));
				return;
			}
			s->tls_on = true;
			sess_enter(s, opt.mode == MODE_VENCRYPT ? S_SECRESULT : S_VERSION);
			continue;
		case S_DOWN:
		case S_UP:
			r = s->state == S_DOWN ? down_read(s) : up_write(s);
			if (r < 0)
				return;
			if (r == 0)
				goto wait;
			continue;
		case S_FREE:
		case S_BACKOFF:
		case S_DONE:
			return;
		case S_CONNECT:
			goto wait;
		default:
			break;
		}
		switch (sess_parse(s)) {
		case P_FAILED:
			return;
		case P_NEXT:
			if (s->state == S_FREE || s->state == S_DONE)
				return;
			continue;
		case P_MORE:
			break;
		}
		if (s->have == sizeof(s->in)) {
			sess_fail(s, "message longer than %zu bytes", sizeof(s->in));
			return;
		}
		ssize_t got = sess_recv(s, s->in + s->have, sizeof(s->in) - s->have);

		if (got < 0)
			return;
		if (got == 0)
			break;
		s->have += (size_t)got;
	}
wait:
	sess_watch(s);
}

static void
connected(struct sess *s)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err != 0) {
		sess_fail(s, "%s", strerror(err));
		return;
	}
	sess_enter(s, opt.mode == MODE_TLS ? S_TLS : S_VERSION);
}

static void
io_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct sess *s = (struct sess *)((char *)w - offsetof(struct sess, io));

	if (s->state == S_CONNECT) {
		connected(s);
		if (s->state == S_FREE || s->state == S_BACKOFF)
			return;
	}
	sess_run(s);
}

static void
timer_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	struct sess *s = (struct sess *)((char *)w - offsetof(struct sess, timer));

	if (s->state == S_BACKOFF) {
		s->state = S_FREE;
		if (g.running)
			sess_start(s);
		return;
	}
	sess_fail(s, "timed out after %.1f s", (double)opt.timeout_ms / 1000);
}

static void
sess_start(struct sess *s)
{
	int fd = socket(g.addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	s->state = S_CONNECT;
	s->fd = fd;
	s->total = s->done = s->pings = 0;
	if (opt.test != TEST_HANDSHAKE)
		g.in_setup++;
	ev_timer_set(&s->timer, 0, (double)opt.timeout_ms / 1000);
	sess_touch(s);
	if (fd < 0) {
		sess_fail(s, "socket: %s", strerror(errno));
		return;
	}
	if (g.addr.ss.ss_family != AF_UNIX)
		(void)bench_nodelay(fd);
	if (connect(fd, (struct sockaddr *)&g.addr.ss, g.addr.len) == 0) {
		sess_enter(s, opt.mode == MODE_TLS ? S_TLS : S_VERSION);
		sess_run(s);
	} else if (errno == EINPROGRESS) {
		sess_watch(s);
	} else {
		sess_fail(s, "%s", strerror(errno));
	}
}

/* ---- tests ---------------------------------------------------------------------- */

/* --resume: counts a resumed handshake and keeps the session of the
 * latest ticket for the next ones to offer. */
static void
ticket_keep(struct sess *s)
{
	gnutls_datum_t d = { NULL, 0 };

	if (gnutls_session_is_resumed(s->tls))
		g.resumed++;
	if (!(gnutls_session_get_flags(s->tls) & GNUTLS_SFLAGS_SESSION_TICKET) ||
	    gnutls_session_get_data2(s->tls, &d) < 0)
		return;
	gnutls_free(g.ticket.data);
	g.ticket = d;
}

static void
sess_ready(struct sess *s)
{
	if (opt.test == TEST_HANDSHAKE) {
		g.handshakes++;
		if (opt.resume)
			ticket_keep(s);
		sess_close(s);
		if (g.running)
			sess_start(s);
		else
			handshakes_drained();
		return;
	}
	s->state = S_READY;
	ev_timer_stop(g.loop, &s->timer);
	g.ready++;
	g.in_setup--;
	setup_settled();
}

/* Before the loop waits: start sessions while there are some to start and
 * room for them (the handshake test keeps its own N going). */
static void
launch_cb(struct ev_loop *l, ev_prepare *w, int revents)
{
	while (g.running && g.started < opt.sessions &&
	    (opt.test == TEST_HANDSHAKE || g.in_setup < opt.parallel))
		sess_start(&g.s[g.started++]);
	if (g.started == opt.sessions)
		ev_prepare_stop(l, w);
}

static void
print_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
print_line(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void
stdin_cb(struct ev_loop *l, ev_io *w, int revents)
{
	char b[256];
	ssize_t r = read(w->fd, b, sizeof(b));

	if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR)))
		return;
	test_end();
}

/* After the handshake test's time: once the handshakes under way are
 * done (each bounded by the timeout), the result.  Counting them keeps
 * the relay's work and the handshakes counted in step. */
static void
handshakes_drained(void)
{
	for (unsigned i = 0; i < opt.sessions; i++) {
		if (g.s[i].state != S_FREE)
			return;
	}
	test_end();
}

static void
deadline_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	if (opt.test != TEST_HANDSHAKE) {
		test_end();
		return;
	}
	g.running = false;
	for (unsigned i = 0; i < opt.sessions; i++) {
		if (g.s[i].state == S_BACKOFF)
			sess_close(&g.s[i]);
	}
	handshakes_drained();
}

/* Every session is ready or failed: start the measured part. */
static void
test_begin(void)
{
	uint64_t share, extra;
	unsigned k = 0;

	if (opt.test == TEST_IDLE) {
		print_line("ready=%u", g.ready);
		if (g.failed > 0) {
			test_end();
			return;
		}
		g.t0 = bench_now_ns();
		ev_io_init(&g.stdin_io, stdin_cb, STDIN_FILENO, EV_READ);
		ev_io_start(g.loop, &g.stdin_io);
		if (opt.seconds_ms >= 0) {
			ev_timer_set(&g.deadline, (double)opt.seconds_ms / 1000, 0);
			ev_timer_start(g.loop, &g.deadline);
		}
		return;
	}
	if (g.failed > 0) {
		fprintf(stderr, "loadgen: %u of %u sessions did not become ready\n",
		    g.failed, opt.sessions);
		test_end();
		return;
	}
	share = opt.bytes / opt.sessions;
	extra = opt.bytes % opt.sessions;
	g.t0 = bench_now_ns();
	g.cpu0 = bench_cpu_seconds();
	for (unsigned i = 0; i < opt.sessions; i++) {
		struct sess *s = &g.s[i];
		uint8_t cmd[BENCH_CMD_LEN];

		switch (opt.test) {
		case TEST_DOWN:
		case TEST_UP:
			s->total = share + (k++ < extra ? 1 : 0);
			cmd[0] = opt.test == TEST_DOWN ? BENCH_CMD_DOWN : BENCH_CMD_UP;
			bench_put64(cmd + 1, s->total);
			sess_queue(s, cmd, sizeof(cmd));
			sess_enter(s, opt.test == TEST_DOWN ? S_DOWN : S_UP);
			if (s->total == 0 && opt.test == TEST_DOWN) {
				sess_run(s);    /* sends the command */
				if (s->state == S_DOWN)
					sess_finished(s);
				continue;
			}
			break;
		default:
			ping_send(s);
			sess_enter(s, S_PING);
			break;
		}
		sess_run(s);
	}
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* nearest rank: the smallest sample with at least p of them at or below */
static double
percentile_us(double p)
{
	uint64_t rank = (uint64_t)(p * (double)g.nsamples + 0.999999);

	if (rank < 1)
		rank = 1;
	if (rank > g.nsamples)
		rank = g.nsamples;
	return (double)g.samples[rank - 1] / 1000.0;
}

/* " resumed=N" with --resume, else nothing. */
static const char *
resumed_field(void)
{
	static char text[32];

	if (!opt.resume)
		return "";
	snprintf(text, sizeof(text), " resumed=%" PRIu64, g.resumed);
	return text;
}

static void
test_end(void)
{
	double secs, cpu = bench_cpu_seconds() - g.cpu0;
	unsigned closed = 0;

	if (g.ended)
		return;
	g.ended = true;
	g.running = false;
	ev_break(g.loop, EVBREAK_ALL);
	switch (opt.test) {
	case TEST_HANDSHAKE:
		secs = (double)(bench_now_ns() - g.t0) / 1e9;
		print_line("handshakes=%" PRIu64 " seconds=%.3f rate=%.1f failures=%"
		    PRIu64 " cpu_s=%.3f%s", g.handshakes, secs,
		    secs > 0 ? (double)g.handshakes / secs : 0.0, g.failures, cpu,
		    resumed_field());
		if (g.failures > 0)
			g.status = EXIT_FAILED;
		break;
	case TEST_IDLE:
		for (unsigned i = 0; i < opt.sessions; i++) {
			if (g.s[i].state == S_READY)
				closed++;
		}
		if (g.t0 != 0)
			print_line("closed=%u", closed);
		break;
	case TEST_DOWN:
	case TEST_UP:
		if (g.t0 == 0)
			break;
		secs = (double)(g.t_last - g.t0) / 1e9;
		print_line("bytes=%" PRIu64 " seconds=%.6f gbps=%.4f cpu_s=%.3f", g.moved,
		    secs, secs > 0 ? (double)g.moved / secs / 1e9 : 0.0, cpu);
		break;
	case TEST_LATENCY:
		if (g.nsamples == 0)
			break;
		qsort(g.samples, g.nsamples, sizeof(*g.samples), cmp_u64);
		print_line("count=%" PRIu64 " p50_us=%.1f p99_us=%.1f max_us=%.1f cpu_s=%.3f",
		    g.nsamples, percentile_us(0.50), percentile_us(0.99),
		    (double)g.samples[g.nsamples - 1] / 1000.0, cpu);
		break;
	}
}

/* ---- setup ------------------------------------------------------------------------- */

static void
usage(void)
{
	fprintf(stderr,
	    "usage: loadgen --connect HOST:PORT --mode vencrypt|tls|plain\n"
	    "               [--ca FILE] [--cert FILE --key FILE] [--priority STRING]\n"
	    "               --test handshake|down|up|idle|latency\n"
	    "               [--sessions N] [--seconds S] [--bytes B] [--count K]\n"
	    "               [--timeout S] [--parallel P] [--resume] [--quiet]\n");
	exit(EXIT_USAGE);
}

__attribute__((format(printf, 1, 2), noreturn))
static void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("loadgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_USAGE);
}

static uint64_t
number(const char *name, const char *text, uint64_t min, uint64_t max)
{
	uint64_t v;

	if (!tu_parse_u64(text, max, &v) || v < min)
		die("--%s %s: not a number from %" PRIu64 " to %" PRIu64, name, text,
		    min, max);
	return v;
}

static const char *const mode_names[] = { "vencrypt", "tls", "plain", NULL };
static const char *const test_names[] = {
	"handshake", "down", "up", "idle", "latency", NULL
};

/* The index of text in names (in enum order), or a usage error. */
static int
keyword(const char *name, const char *text, const char *const names[])
{
	for (int i = 0; names[i] != NULL; i++) {
		if (strcmp(text, names[i]) == 0)
			return i;
	}
	die("--%s %s: not a known %s", name, text, name);
}

static void
parse_options(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "mode", required_argument, NULL, 'm' },
		{ "ca", required_argument, NULL, 'A' },
		{ "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },
		{ "priority", required_argument, NULL, 'p' },
		{ "test", required_argument, NULL, 't' },
		{ "sessions", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 's' },
		{ "bytes", required_argument, NULL, 'b' },
		{ "count", required_argument, NULL, 'k' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "parallel", required_argument, NULL, 'P' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "resume", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *mode = NULL, *test = NULL;
	int ch;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': opt.connect = optarg; break;
		case 'm': mode = optarg; break;
		case 'A': opt.ca = optarg; break;
		case 'C': opt.cert = optarg; break;
		case 'K': opt.key = optarg; break;
		case 'p': opt.priority = optarg; break;
		case 't': test = optarg; break;
		case 'n': opt.sessions = (unsigned)number("sessions", optarg, 1, 1000000); break;
		case 'b': opt.bytes = number("bytes", optarg, 0, UINT64_MAX / 2); break;
		case 'k': opt.count = number("count", optarg, 1, 100000000); break;
		case 'P': opt.parallel = (unsigned)number("parallel", optarg, 1, 1000000); break;
		case 'q': opt.quiet = true; break;
		case 'r': opt.resume = true; break;
		case 's':
			if (!tu_parse_seconds(optarg, &opt.seconds_ms))
				die("--seconds %s: not a number of seconds", optarg);
			break;
		case 'T':
			if (!tu_parse_seconds(optarg, &opt.timeout_ms) || opt.timeout_ms == 0)
				die("--timeout %s: not a positive number of seconds", optarg);
			break;
		default: usage();
		}
	}
	if (optind != argc || opt.connect == NULL || mode == NULL || test == NULL)
		usage();
	opt.mode = (enum mode)keyword("mode", mode, mode_names);
	opt.test = (enum test)keyword("test", test, test_names);
	if ((opt.cert == NULL) != (opt.key == NULL))
		die("--cert and --key go together");
	if (!tu_parse_addr(opt.connect, &g.addr))
		die("--connect %s: not a numeric HOST:PORT", opt.connect);
	if (opt.resume && (opt.test != TEST_HANDSHAKE || opt.mode == MODE_PLAIN))
		die("--resume goes with --test handshake in a TLS mode");
	if (opt.test == TEST_HANDSHAKE && opt.seconds_ms < 0)
		opt.seconds_ms = 5000;
}

static void
tls_setup(void)
{
	const char *errpos = NULL;
	int r;

	if ((r = gnutls_global_init()) < 0 ||
	    (r = gnutls_certificate_allocate_credentials(&g.cred)) < 0)
		die("GnuTLS: %s", gnutls_strerror(r));
	if (opt.ca != NULL &&
	    (r = gnutls_certificate_set_x509_trust_file(g.cred, opt.ca,
	    GNUTLS_X509_FMT_PEM)) <= 0)
		die("--ca %s: %s", opt.ca, r < 0 ? gnutls_strerror(r) : "no certificate");
	if (opt.cert != NULL &&
	    (r = gnutls_certificate_set_x509_key_file(g.cred, opt.cert, opt.key,
	    GNUTLS_X509_FMT_PEM)) < 0)
		die("--cert %s --key %s: %s", opt.cert, opt.key, gnutls_strerror(r));
	if ((r = gnutls_priority_init(&g.prio, opt.priority, &errpos)) < 0)
		die("--priority: bad at \"%s\"", errpos != NULL ? errpos : opt.priority);
}

int
main(int argc, char **argv)
{
	uint64_t nofile;

	parse_options(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	nofile = bench_raise_nofile();
	if (nofile != 0 && nofile < (uint64_t)opt.sessions + 16)
		fprintf(stderr, "loadgen: warning: %u sessions but RLIMIT_NOFILE is %"
		    PRIu64 "\n", opt.sessions, nofile);
	bench_pattern_init();
	if (opt.mode != MODE_PLAIN)
		tls_setup();
	g.s = calloc(opt.sessions, sizeof(*g.s));
	if (opt.test == TEST_LATENCY)
		g.samples = calloc((size_t)opt.sessions * opt.count, sizeof(*g.samples));
	if (g.s == NULL || (opt.test == TEST_LATENCY && g.samples == NULL))
		die("out of memory for %u sessions", opt.sessions);
	g.loop = ev_default_loop(EVFLAG_AUTO);
	for (unsigned i = 0; i < opt.sessions; i++) {
		struct sess *s = &g.s[i];

		s->fd = -1;
		s->id = i;
		ev_init(&s->io, io_cb);
		ev_init(&s->timer, timer_cb);
	}
	ev_init(&g.deadline, deadline_cb);

	g.running = true;
	g.t0 = opt.test == TEST_HANDSHAKE ? bench_now_ns() : 0;
	g.cpu0 = bench_cpu_seconds();
	if (opt.test == TEST_HANDSHAKE) {
		ev_timer_set(&g.deadline, (double)opt.seconds_ms / 1000, 0);
		ev_timer_start(g.loop, &g.deadline);
	}
	ev_prepare_init(&g.launcher, launch_cb);
	ev_prepare_start(g.loop, &g.launcher);
	ev_run(g.loop, 0);

	if (g.errors_hidden > 0 || (opt.quiet && g.failures > 0))
		fprintf(stderr, "loadgen: %" PRIu64 " session error(s)%s\n", g.failures,
		    opt.quiet ? "" : ", the first shown above");
	for (unsigned i = 0; i < opt.sessions; i++)
		sess_close(&g.s[i]);
	ev_io_stop(g.loop, &g.stdin_io);
	ev_prepare_stop(g.loop, &g.launcher);
	ev_timer_stop(g.loop, &g.deadline);
	ev_loop_destroy(g.loop);
	free(g.samples);
	free(g.s);
	gnutls_free(g.ticket.data);
	if (opt.mode != MODE_PLAIN) {
		gnutls_priority_deinit(g.prio);
		gnutls_certificate_free_credentials(g.cred);
		gnutls_global_deinit();
	}
	bench_pattern_free();
	return g.status;
}
