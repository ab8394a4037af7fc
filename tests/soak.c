/*
 * soak - many VeNCrypt sessions at once through vencryptd, for a given
 * time, with every byte checked at both ends.
 *
 * One process plays both ends of every session: an X509None client with a
 * certificate, and the RFB 3.8 backend (None security, ServerInit) it
 * reaches through the daemon.  It keeps --sessions sessions open for
 * --seconds, replacing each as it ends.  From the run's seed and its own
 * number each session draws how many bytes each end sends (none to
 * --max-size, mostly small), over how long (a fifth at full speed, the
 * rest in bursts spread over up to twice --hold), whether an end reads
 * slowly (bursts, pauses, a small receive buffer), which end closes and
 * how:
 *
 *   early  the closer ends as soon as its own bytes are sent and its time
 *          is up (close_notify and a shutdown, then it reads until the
 *          daemon closes); half of these closers read nothing before,
 *          as a viewer that is being shut does;
 *   late   the same, once it also has all of the other end's bytes;
 *   abort  the closer resets the connection part way through its bytes.
 *
 * Bytes are a deterministic stream per session and direction, so each
 * receiver checks every byte.  The client's first bytes after ClientInit
 * are a header naming the session, so the backend end knows which session
 * an accepted connection belongs to, whatever the order of accepts.
 *
 * Accounting: every byte an end sent before it closed gracefully must
 * reach the other end intact (the other end never closes first here); a
 * short or wrong stream is lost.  With "late" the closer must also have
 * the other end's whole stream.  A session that fails any other way (a
 * handshake error, a protocol error, no progress for --stall seconds,
 * unfinished after --drain) is failed.  Either gives exit status 1.
 *
 * When --seconds are up, no session starts and the open ones finish
 * without waiting for their time.  The summary goes to stdout as "name
 * value" lines; progress every 10 s and the first problems go to stderr.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "rfb.h"
#include "testutil.h"

#define EXIT_BAD 1
#define EXIT_USAGE 2

#define IN_MAX 1100             /* the longest handshake message: 1 + 255 x 4 */
#define HS_MAX 16               /* clear-text handshake bytes queued at once */
#define CHUNK 16384             /* bytes handed to one send: one TLS record */
#define SCRATCH (64 * 1024)     /* one read */
#define WRITE_BUDGET (256 * 1024)   /* bytes one end writes per wake-up */
#define HEADER_LEN 20           /* "SOAK", u32 slot, u64 serial, u32 flags */
#define HEADER_ABORT 1u         /* flag: the client resets its connection */
#define SERVERINIT_LEN 28       /* 2 + 2 + 16 pixel format + 4 + "soak" */
#define SLOW_BURST 65536        /* a slow reader pauses after this much */
#define SLOW_RCVBUF 65536       /* and keeps a small receive buffer */
#define PROGRESS_MS 10000
#define SWEEP_MS 50
#define REPORT_MAX 20           /* problems printed in full */

enum close_style {
	CLOSE_EARLY,    /* the closer ends once its own bytes are sent */
	CLOSE_LATE,     /* ... and it has all of the other end's */
	CLOSE_ABORT,    /* the closer resets part way through its bytes */
};

static const char *const style_names[] = { "early", "late", "abort" };

enum end_state {
	/* the client */
	E_CONNECT,      /* connecting to the daemon */
	E_VERSION,      /* reading the daemon's protocol version */
	E_SECURITY,     /* reading the security types */
	E_VC_VERSION,   /* reading the VeNCrypt version */
	E_VC_STATUS,    /* reading the answer to our VeNCrypt version */
	E_SUBTYPES,     /* reading the VeNCrypt subtypes */
	E_SUBTYPE_ACK,  /* reading the ack of X509None */
	E_TLS,          /* TLS handshake */
	E_RESULT,       /* reading the SecurityResult */
	E_SERVERINIT,   /* reading ServerInit */
	/* the backend */
	E_B_VERSION,    /* version sent, reading the client's */
	E_B_CHOICE,     /* None offered, reading the choice */
	E_B_INIT,       /* SecurityResult sent, reading ClientInit and the header */
	/* both */
	E_STREAM,       /* the streams, both ways */
	E_DONE,         /* closed */
};

static const char *const state_names[] = {
	[E_CONNECT] = "connect", [E_VERSION] = "version",
	[E_SECURITY] = "security types", [E_VC_VERSION] = "VeNCrypt version",
	[E_VC_STATUS] = "VeNCrypt status", [E_SUBTYPES] = "subtypes",
	[E_SUBTYPE_ACK] = "subtype ack", [E_TLS] = "TLS handshake",
	[E_RESULT] = "security result", [E_SERVERINIT] = "ServerInit",
	[E_B_VERSION] = "backend version", [E_B_CHOICE] = "backend choice",
	[E_B_INIT] = "ClientInit", [E_STREAM] = "stream", [E_DONE] = "done",
};

/* A handshake parser's verdict on the bytes in e->in. */
enum step {
	STEP_MORE,      /* a message has begun: more bytes needed */
	STEP_TAKEN,     /* one message taken, *used bytes */
	STEP_BAD,       /* not what the protocol allows here */
	STEP_FAILED,    /* the end failed, already reported */
};

/* How an end's incoming stream ended. */
enum end_eof {
	EOF_NONE,       /* not yet */
	EOF_CLEAN,      /* TCP FIN, or close_notify on TLS */
	EOF_NO_NOTIFY,  /* TLS: the TCP stream ended without close_notify */
	EOF_RESET,      /* the connection was reset */
};

enum shut_state {
	SHUT_NONE,
	SHUT_BYE,       /* close_notify under way */
	SHUT_DONE,      /* our side is shut: reading until the daemon closes */
};

struct session;

/* One end of a session: the client's connection to the daemon, or the
 * daemon's connection to our backend. */
struct end {
	struct session *s;      /* NULL: a backend not identified yet */
	struct end *prev, *next;        /* unidentified backends */
	struct end *dead;       /* freed after the current batch of events */
	int fd;
	bool client;
	enum end_state st;
	gnutls_session_t tls;
	uint32_t armed;         /* the epoll mask */
	int64_t progress_ms;    /* the last time anything moved */
	bool slow;              /* reads in bursts with pauses */
	int64_t paused_until_ms;
	uint64_t read_since_pause;
	/* handshake */
	uint8_t in[IN_MAX];
	size_t inlen;
	uint8_t hs[HS_MAX];     /* clear-text bytes to send */
	size_t hslen, hsoff;
	/* what this end sends: a prefix, then its stream */
	bool sending;
	bool out_broken;        /* the daemon closed: nothing more goes out */
	uint8_t prefix[HEADER_LEN + 8];
	size_t prefix_len;
	uint64_t out_stop;      /* stream bytes to send: all, or the reset point */
	int64_t out_start_ms;   /* when the stream started: pacing counts from here */
	uint64_t out_made, out_done;    /* put in chunks; chunks handed over */
	uint64_t out_prng;
	uint8_t *chunk;
	size_t chunk_len, chunk_off, chunk_payload;
	/* what this end receives */
	uint64_t in_total;      /* the other end's stream length */
	uint64_t in_ok;         /* bytes that matched, from the start */
	uint64_t in_bad;        /* bytes from the first mismatch on */
	uint64_t in_bad_at;     /* offset of the first mismatch */
	uint64_t in_prng;
	enum shut_state shut;
	enum end_eof eof;
	bool aborted;           /* we reset it */
	bool reset_seen;        /* the daemon reset it, seen by a read or a write */
};

struct session {
	bool live;
	uint32_t slot;
	uint64_t serial;
	uint64_t up, down;      /* stream bytes client->backend, backend->client */
	bool client_closes;
	enum close_style style;
	uint64_t abort_at;      /* with CLOSE_ABORT: the closer's reset point */
	bool c_slow, b_slow;    /* which ends read slowly */
	int64_t hold_ms;        /* each end spreads its bytes over this time, and
	                         * the closer closes no sooner */
	uint64_t bursts;        /* the bytes go in bursts + 1 bursts */
	bool deaf;              /* the closer reads nothing until it has closed */
	struct end *c, *b;
	bool handshaking;
	char failure[480];
};

static struct {
	const char *connect, *connect_file, *ports_file;
	const char *ca, *cert, *key, *servername;
	uint64_t sessions, seed, max_size, handshakes, like;
	int64_t run_ms, stall_ms, drain_ms, hold_ms;
	bool seed_set, hold_set, like_set;
} opt = {
	.servername = "localhost",
	.sessions = 200,
	.max_size = 4 * 1024 * 1024,
	.handshakes = 32,
	.run_ms = 30000,
	.stall_ms = 60000,
	.drain_ms = 120000,
};

static struct {
	uint64_t started, completed, failed, lossy;
	uint64_t verified, lost;
	uint64_t connections, accepted;
	uint64_t style[3], client_closes, backend_closes, slow_ends, deaf;
	uint64_t eof_no_notify, resets, unidentified, strays, unknown;
	uint64_t problems;      /* lines printed to stderr */
	uint64_t open_peak, open_sum, open_samples;     /* while running */
} st;

static int ep;
static int listen_fd;
static struct tu_addr daemon_addr;
static gnutls_certificate_credentials_t cred;
static struct session *slots;
static uint64_t live, handshaking, next_serial;
static struct end *unidentified;        /* backends not yet identified */
static struct end *graveyard;
static uint8_t scratch[SCRATCH];
static uint8_t server_init[SERVERINIT_LEN];
static int64_t now_ms;
static bool hurry;              /* the run is over: no more pacing or holding */

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void session_fail(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void end_finish(struct end *e);
static void unidentified_drop(struct end *e);

static void
problem(const char *fmt, ...)
{
	va_list ap;

	if (st.problems++ >= REPORT_MAX)
		return;
	fputs("soak: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- randomness ------------------------------------------------------------ */

static uint64_t
draw(uint64_t *state)
{
	uint8_t b[8];
	uint64_t v = 0;

	prng_fill(state, b, sizeof b);
	for (size_t i = 0; i < sizeof b; i++)
		v = v << 8 | b[i];
	return v;
}

/* Uniform in [lo, hi]. */
static uint64_t
draw_range(uint64_t *state, uint64_t lo, uint64_t hi)
{
	return lo + draw(state) % (hi - lo + 1);
}

/* A stream length: mostly small, some large. */
static uint64_t
draw_size(uint64_t *state)
{
	uint64_t r = draw(state) % 100;
	uint64_t max = opt.max_size;

	if (r < 10 || max == 0)
		return 0;
	if (r < 65)
		return draw_range(state, 1, max < 4096 ? max : 4096);
	if (r < 92 || max <= 256 * 1024)
		return draw_range(state, 1, max < 256 * 1024 ? max : 256 * 1024);
	return draw_range(state, 256 * 1024, max);
}

/* The seed of one session's stream in one direction. */
static uint64_t
stream_seed(uint64_t serial, int dir)
{
	uint64_t state = opt.seed ^ (serial * UINT64_C(0x9e3779b97f4a7c15));

	state += (uint64_t)dir + 1;
	return draw(&state);
}

/* ---- epoll ----------------------------------------------------------------- */

static void
end_arm(struct end *e, uint32_t want)
{
	struct epoll_event ev = { .events = want, .data.ptr = e };

	if (e->fd < 0 || want == e->armed)
		return;
	if (epoll_ctl(ep, e->armed == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, e->fd,
	    &ev) < 0) {
		perror("soak: epoll_ctl");
		exit(EXIT_USAGE);
	}
	e->armed = want;
}

static bool
is_closer(const struct end *e)
{
	return e->s != NULL && e->client == e->s->client_closes;
}

/* Whether the end reads now: not during a slow reader's pause, nor while
 * a deaf closer has not closed yet. */
static bool
end_reading(const struct end *e)
{
	return e->paused_until_ms <= now_ms && !(e->st == E_STREAM &&
	    is_closer(e) && e->s->deaf && e->shut == SHUT_NONE);
}

static bool
out_finished(const struct end *e)
{
	return e->sending && e->chunk_off == e->chunk_len &&
	    e->out_made == e->out_stop && e->prefix_len == 0;
}

/* The stream bytes this end may have sent by now: equal bursts at even
 * steps over the session's hold time, the first at once, the last when it
 * is over, each sent as fast as the daemon takes it. */
static uint64_t
out_allowed(const struct end *e)
{
	const struct session *s = e->s;
	int64_t t = now_ms - e->out_start_ms;

	if (hurry || s->hold_ms == 0 || t >= s->hold_ms)
		return e->out_stop;
	return e->out_stop * ((uint64_t)t * s->bursts / (uint64_t)s->hold_ms + 1) /
	    (s->bursts + 1);
}

static bool
hold_over(const struct end *e)
{
	return hurry || now_ms - e->out_start_ms >= e->s->hold_ms;
}

/* Bytes to send now, queued or allowed. */
static bool
out_ready(const struct end *e)
{
	return e->sending && !e->out_broken && (e->prefix_len > 0 ||
	    e->chunk_off < e->chunk_len || e->out_made < out_allowed(e));
}

/* The mask follows from the state: read unless paused, write while
 * something is queued. */
static void
end_rearm(struct end *e)
{
	uint32_t want = 0;

	if (e->st == E_DONE)
		return;
	if (e->st == E_CONNECT) {
		end_arm(e, EPOLLOUT);
		return;
	}
	if (end_reading(e))
		want |= EPOLLIN;
	if (e->hsoff < e->hslen || e->shut == SHUT_BYE ||
	    (e->st == E_TLS && gnutls_record_get_direction(e->tls) == 1) ||
	    out_ready(e))
		want |= EPOLLOUT;
	/* A paused end with nothing to write waits for nothing: the sweep
	 * wakes it, as it does ends whose pacing allows more bytes. */
	if (want == 0 && e->armed != 0) {
		struct epoll_event ev = { 0 };
		(void)epoll_ctl(ep, EPOLL_CTL_DEL, e->fd, &ev);
		e->armed = 0;
		return;
	}
	end_arm(e, want);
}

/* ---- ends ------------------------------------------------------------------ */

static struct end *
end_new(int fd, bool client)
{
	struct end *e = calloc(1, sizeof *e);

	if (e == NULL) {
		fprintf(stderr, "soak: out of memory\n");
		exit(EXIT_USAGE);
	}
	e->fd = fd;
	e->client = client;
	e->progress_ms = now_ms;
	return e;
}

/* A slow reader: bursts and pauses, and a small receive buffer, so the
 * daemon's queue towards it fills and backpressure is exercised. */
static void
end_set_slow(struct end *e)
{
	int size = SLOW_RCVBUF;

	e->slow = true;
	if (e->fd >= 0)
		(void)setsockopt(e->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

static void
end_bury(struct end *e)
{
	e->dead = graveyard;
	graveyard = e;
}

static void
hs_queue(struct end *e, const void *p, size_t n)
{
	if (e->hslen + n > sizeof e->hs) {
		fprintf(stderr, "soak: handshake queue overflow\n");
		exit(EXIT_USAGE);
	}
	memcpy(e->hs + e->hslen, p, n);
	e->hslen += n;
}

/* Start sending: the prefix, then the stream. */
static void
stream_start(struct end *e, const void *prefix, size_t n, uint64_t stop,
    uint64_t seed)
{
	memcpy(e->prefix, prefix, n);
	e->prefix_len = n;
	e->out_stop = stop;
	e->out_start_ms = now_ms;
	prng_init(&e->out_prng, seed);
	e->sending = true;
}

/* Start checking what arrives. */
static void
stream_expect(struct end *e, uint64_t total, uint64_t seed)
{
	e->in_total = total;
	prng_init(&e->in_prng, seed);
}

static void
stream_check(struct end *e, const uint8_t *p, size_t n)
{
	uint64_t room = e->in_total - (e->in_ok + e->in_bad);
	size_t good, take;

	if (e->in_bad > 0 || room == 0) {
		if (e->in_bad == 0)
			e->in_bad_at = e->in_ok;
		e->in_bad += n;
		return;
	}
	take = n < room ? n : (size_t)room;
	good = prng_verify(&e->in_prng, p, take);
	e->in_ok += good;
	if (good < n) {
		e->in_bad_at = e->in_ok;
		e->in_bad += n - good;
	}
}

/* ---- sessions ------------------------------------------------------------------ */

static const char *
end_desc(const struct end *e)
{
	return e == NULL ? "not identified" : state_names[e->st];
}

static void
session_describe(const struct session *s, char *buf, size_t cap)
{
	char at[32] = "";

	if (s->style == CLOSE_ABORT)
		snprintf(at, sizeof at, " at %" PRIu64, s->abort_at);
	snprintf(buf, cap, "session %" PRIu64 " (up %" PRIu64 ", down %" PRIu64
	    ", %s closes, %s%s%s, hold %" PRId64 " ms in %" PRIu64 " bursts%s%s)",
	    s->serial, s->up, s->down, s->client_closes ? "client" : "backend",
	    style_names[s->style], at, s->deaf ? " deaf" : "", s->hold_ms,
	    s->bursts + 1, s->c_slow ? ", client slow" : "",
	    s->b_slow ? ", backend slow" : "");
}

/* A stream that had to arrive whole: the bytes missing or wrong. */
static uint64_t
required_loss(const struct end *to, uint64_t total, const char *what,
    const struct session *s)
{
	uint64_t lost = total - to->in_ok;
	char desc[256];

	if (to->in_ok == total && to->in_bad > 0)
		lost = to->in_bad;      /* extra bytes after the end */
	if (lost > 0) {
		session_describe(s, desc, sizeof desc);
		problem("%s: %s got %" PRIu64 " of %" PRIu64 " bytes intact "
		    "(%" PRIu64 " more after a mismatch at %" PRIu64 ")%s", desc,
		    what, to->in_ok, total, to->in_bad, to->in_bad_at,
		    to->reset_seen ? ", then a reset" : "");
	}
	return lost;
}

static uint64_t
partial_loss(const struct end *to, const char *what, const struct session *s)
{
	char desc[256];

	if (to->in_bad > 0) {
		session_describe(s, desc, sizeof desc);
		problem("%s: %s got %" PRIu64 " bytes that do not match, from "
		    "offset %" PRIu64, desc, what, to->in_bad, to->in_bad_at);
	}
	return to->in_bad;
}

static void
session_account(struct session *s)
{
	struct end *c = s->c, *b = s->b;
	uint64_t lost = 0;

	st.verified += c->in_ok + (b != NULL ? b->in_ok : 0);
	if (b == NULL) {
		/* A client that reset before its header got through. */
		lost += partial_loss(c, "the client", s);
	} else if (s->style == CLOSE_ABORT) {
		lost += partial_loss(c, "the client", s);
		lost += partial_loss(b, "the backend", s);
	} else {
		struct end *closer = s->client_closes ? c : b;
		struct end *other = s->client_closes ? b : c;
		const char *cname = s->client_closes ? "the client" : "the backend";
		const char *oname = s->client_closes ? "the backend" : "the client";

		lost += required_loss(other, closer->out_stop, oname, s);
		if (s->style == CLOSE_LATE)
			lost += required_loss(closer, other->out_stop, cname, s);
		else
			lost += partial_loss(closer, cname, s);
		if (!s->client_closes && c->eof == EOF_NO_NOTIFY)
			st.eof_no_notify++;
	}
	st.resets += c->reset_seen + (b != NULL && b->reset_seen);
	st.lost += lost;
	if (lost > 0)
		st.lossy++;
	else
		st.completed++;
}

static void
session_end(struct session *s)
{
	if (s->failure[0] != '\0')
		st.failed++;
	else
		session_account(s);
	if (s->handshaking) {
		s->handshaking = false;
		handshaking--;
	}
	end_bury(s->c);
	if (s->b != NULL)
		end_bury(s->b);
	s->c = s->b = NULL;
	s->live = false;
	live--;
}

/* Both ends are done, or the backend will never be identified. */
static void
session_check(struct session *s)
{
	if (!s->live || s->c->st != E_DONE)
		return;
	if (s->b != NULL ? s->b->st == E_DONE :
	    s->failure[0] != '\0' || (s->style == CLOSE_ABORT && s->client_closes))
		session_end(s);
}

static void
session_fail(struct session *s, const char *fmt, ...)
{
	char desc[256], why[160];
	va_list ap;

	if (!s->live || s->failure[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	session_describe(s, desc, sizeof desc);
	snprintf(s->failure, sizeof s->failure, "%s: %s", desc, why);
	problem("%s", s->failure);
	if (s->c->st != E_DONE)
		end_finish(s->c);
	if (s->b != NULL && s->b->st != E_DONE)
		end_finish(s->b);
	session_check(s);
}

/* Fail what the end belongs to. */
static void
end_fail(struct end *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
end_fail(struct end *e, const char *fmt, ...)
{
	char why[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (e->s != NULL) {
		session_fail(e->s, "%s: %s", e->client ? "client" : "backend", why);
		return;
	}
	st.unknown++;
	problem("unidentified backend connection: %s", why);
	unidentified_drop(e);
}

/* What a session does, drawn from the run's seed and a session number
 * (its own, or the one --like names). */
static void
session_draw(struct session *s, uint64_t serial)
{
	uint64_t rng = opt.seed ^ serial * UINT64_C(0xd1b54a32d192ed03);
	uint64_t r;

	s->up = draw_size(&rng);
	s->down = draw_size(&rng);
	s->client_closes = draw(&rng) % 2 == 0;
	r = draw(&rng) % 100;
	s->style = r < 40 ? CLOSE_EARLY : r < 85 ? CLOSE_LATE : CLOSE_ABORT;
	s->abort_at = draw_range(&rng, 0, s->client_closes ? s->up : s->down);
	s->c_slow = draw(&rng) % 4 == 0;
	s->b_slow = draw(&rng) % 4 == 0;
	/* A fifth send as fast as they can; the rest take their time. */
	s->hold_ms = draw(&rng) % 5 == 0 ? 0 :
	    (int64_t)draw_range(&rng, 0, 2 * (uint64_t)opt.hold_ms);
	s->bursts = draw_range(&rng, 1, 8);
	/* A deaf closer has a small receive buffer too: the daemon's writes
	 * to it block part way through a record. */
	s->deaf = s->style == CLOSE_EARLY && draw(&rng) % 2 == 0;
	if (s->deaf && s->client_closes)
		s->c_slow = true;
	else if (s->deaf)
		s->b_slow = true;
}

static void
session_start(struct session *s)
{
	uint64_t serial = next_serial++;
	int fd;

	memset(s, 0, sizeof *s);
	s->slot = (uint32_t)(s - slots);
	s->serial = serial;
	s->live = true;
	session_draw(s, opt.like_set ? opt.like : serial);
	live++;
	st.started++;
	st.style[s->style]++;
	if (s->client_closes)
		st.client_closes++;
	else
		st.backend_closes++;
	st.slow_ends += s->c_slow + s->b_slow;
	st.deaf += s->deaf;
	s->handshaking = true;
	handshaking++;

	fd = socket(daemon_addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	s->c = end_new(fd, true);
	s->c->s = s;
	if (s->c_slow)
		end_set_slow(s->c);
	s->c->st = E_CONNECT;
	if (fd < 0) {
		session_fail(s, "socket: %s", strerror(errno));
		return;
	}
	if (connect(fd, (const struct sockaddr *)&daemon_addr.ss, daemon_addr.len) < 0 &&
	    errno != EINPROGRESS) {
		session_fail(s, "connect: %s", strerror(errno));
		return;
	}
	end_rearm(s->c);
}

/* ---- the client's handshake ------------------------------------------------------- */

static bool
tls_start(struct end *e)
{
	int r = gnutls_init(&e->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK);

	if (r < 0)
		goto fail;
	if ((r = gnutls_set_default_priority(e->tls)) < 0 ||
	    (r = gnutls_credentials_set(e->tls, GNUTLS_CRD_CERTIFICATE, cred)) < 0)
		goto fail;
	gnutls_session_set_verify_cert(e->tls, opt.servername, 0);
	gnutls_transport_set_int(e->tls, e->fd);
	e->st = E_TLS;
	return true;
fail:
	end_fail(e, "TLS set-up: %s", gnutls_strerror(r));
	return false;
}

static void
client_relay_start(struct end *e)
{
	struct session *s = e->s;
	uint8_t pre[1 + HEADER_LEN];
	uint32_t flags = 0;

	if (s->style == CLOSE_ABORT && s->client_closes)
		flags |= HEADER_ABORT;
	pre[0] = 1;     /* ClientInit: shared */
	memcpy(pre + 1, "SOAK", 4);
	tu_put32(pre + 5, s->slot);
	tu_put32(pre + 9, (uint32_t)(s->serial >> 32));
	tu_put32(pre + 13, (uint32_t)s->serial);
	tu_put32(pre + 17, flags);
	stream_start(e, pre, sizeof pre, s->style == CLOSE_ABORT &&
	    s->client_closes ? s->abort_at : s->up, stream_seed(s->serial, 0));
	stream_expect(e, s->down, stream_seed(s->serial, 1));
	if (s->handshaking) {
		s->handshaking = false;
		handshaking--;
	}
}

/* One message of the client's handshake from e->in; *used is its length,
 * *r what the codec said of it. */
static enum step
client_parse(struct end *e, size_t *used, enum rfb_result *r)
{
	struct rfb_version v;
	struct rfb_offer offer;
	struct rfb_reason reason;
	uint8_t msg[RFB_VERSION_LEN];
	bool found = false;

	switch (e->st) {
	case E_VERSION:
		*r = rfb_parse_version(e->in, e->inlen, &v, used);
		if (*r == RFB_NEED_MORE)
			return STEP_MORE;
		if (*r != RFB_OK || v.major != 3 || v.minor != 8)
			return STEP_BAD;
		hs_queue(e, msg, rfb_put_version(msg, sizeof msg, &v));
		e->st = E_SECURITY;
		break;
	case E_SECURITY:
		*r = rfb_parse_security_types(e->in, e->inlen, &offer, &reason, used);
		if (*r == RFB_NEED_MORE)
			return STEP_MORE;
		if (*r == RFB_REFUSED) {
			end_fail(e, "refused: %s", reason.text);
			return STEP_FAILED;
		}
		for (size_t i = 0; *r == RFB_OK && i < offer.ntypes; i++)
			found = found || offer.types[i] == RFB_SEC_VENCRYPT;
		if (!found)
			return STEP_BAD;
		msg[0] = RFB_SEC_VENCRYPT;
		hs_queue(e, msg, 1);
		e->st = E_VC_VERSION;
		break;
	case E_VC_VERSION:
		*r = vencrypt_parse_version(e->in, e->inlen, &v, used);
		if (*r == RFB_NEED_MORE)
			return STEP_MORE;
		if (*r != RFB_OK)
			return STEP_BAD;
		msg[0] = 0;
		msg[1] = 2;
		hs_queue(e, msg, 2);
		e->st = E_VC_STATUS;
		break;
	case E_VC_STATUS:
		if (e->in[0] != 0)
			return STEP_BAD;
		*used = 1;
		e->st = E_SUBTYPES;
		break;
	case E_SUBTYPES:
		*used = 1 + 4 * (size_t)e->in[0];
		if (e->inlen < *used)
			return STEP_MORE;
		for (size_t i = 0; i < e->in[0]; i++)
			found = found || tu_get32(e->in + 1 + 4 * i) == VENCRYPT_X509NONE;
		if (!found)
			return STEP_BAD;
		tu_put32(msg, VENCRYPT_X509NONE);
		hs_queue(e, msg, 4);
		e->st = E_SUBTYPE_ACK;
		break;
	case E_SUBTYPE_ACK:
		if (e->in[0] != 1)
			return STEP_BAD;
		*used = 1;
		if (e->inlen > *used) {
			end_fail(e, "bytes in clear after the subtype ack");
			return STEP_FAILED;
		}
		if (!tls_start(e))
			return STEP_FAILED;
		break;
	case E_RESULT:
		*r = rfb_parse_security_result(e->in, e->inlen, 1, &reason, used);
		if (*r == RFB_NEED_MORE)
			return STEP_MORE;
		if (*r == RFB_REFUSED) {
			end_fail(e, "security result: %s", reason.text);
			return STEP_FAILED;
		}
		if (*r != RFB_OK)
			return STEP_BAD;
		client_relay_start(e);
		e->st = E_SERVERINIT;
		break;
	case E_SERVERINIT:
		if (e->inlen < SERVERINIT_LEN)
			return STEP_MORE;
		if (memcmp(e->in, server_init, SERVERINIT_LEN) != 0)
			return STEP_BAD;
		*used = SERVERINIT_LEN;
		e->st = E_STREAM;
		break;
	default:
		return STEP_BAD;
	}
	return STEP_TAKEN;
}

/* ---- the backend ------------------------------------------------------------------ */

static void
unidentified_unlink(struct end *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else if (unidentified == e)
		unidentified = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	e->prev = e->next = NULL;
}

/* A backend connection that never got to name its session. */
static void
unidentified_drop(struct end *e)
{
	unidentified_unlink(e);
	end_finish(e);
	end_bury(e);
}

/* The header names the session this connection belongs to; false when
 * the connection is gone. */
static bool
backend_identify(struct end *e)
{
	const uint8_t *h = e->in + 1;
	uint32_t slot = tu_get32(h + 4), flags = tu_get32(h + 16);
	uint64_t serial = (uint64_t)tu_get32(h + 8) << 32 | tu_get32(h + 12);
	struct session *s;
	uint8_t pre[SERVERINIT_LEN];

	if (memcmp(h, "SOAK", 4) != 0) {
		end_fail(e, "no session header after ClientInit");
		return false;
	}
	s = slot < opt.sessions ? &slots[slot] : NULL;
	if (s == NULL || !s->live || s->serial != serial || s->b != NULL) {
		/* A reset client's header can come after its session ended. */
		if (flags & HEADER_ABORT) {
			st.strays++;
			unidentified_drop(e);
			return false;
		}
		end_fail(e, "header of session %" PRIu64 ", which is not waiting "
		    "for its backend", serial);
		return false;
	}
	unidentified_unlink(e);
	e->s = s;
	s->b = e;
	if (s->b_slow)
		end_set_slow(e);
	memcpy(pre, server_init, sizeof pre);
	stream_start(e, pre, sizeof pre, s->style == CLOSE_ABORT &&
	    !s->client_closes ? s->abort_at : s->down, stream_seed(serial, 1));
	stream_expect(e, s->up, stream_seed(serial, 0));
	return true;
}

static enum step
backend_parse(struct end *e, size_t *used, enum rfb_result *r)
{
	struct rfb_version v;
	uint8_t msg[4];

	switch (e->st) {
	case E_B_VERSION:
		*r = rfb_parse_version(e->in, e->inlen, &v, used);
		if (*r == RFB_NEED_MORE)
			return STEP_MORE;
		if (*r != RFB_OK || v.minor != 8)
			return STEP_BAD;
		msg[0] = 1;
		msg[1] = RFB_SEC_NONE;
		hs_queue(e, msg, 2);
		e->st = E_B_CHOICE;
		break;
	case E_B_CHOICE:
		if (e->in[0] != RFB_SEC_NONE)
			return STEP_BAD;
		*used = 1;
		hs_queue(e, msg, rfb_put_security_ok(msg, sizeof msg));
		e->st = E_B_INIT;
		break;
	case E_B_INIT:
		if (e->inlen < 1 + HEADER_LEN)
			return STEP_MORE;
		if (!backend_identify(e))
			return STEP_FAILED;
		*used = 1 + HEADER_LEN;
		e->st = E_STREAM;
		break;
	default:
		return STEP_BAD;
	}
	return STEP_TAKEN;
}

static void
backend_accept(void)
{
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct end *e;
		struct rfb_version v = { 3, 8 };
		uint8_t msg[RFB_VERSION_LEN];

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				perror("soak: accept");
				exit(EXIT_USAGE);
			}
			return;
		}
		st.accepted++;
		e = end_new(fd, false);
		e->st = E_B_VERSION;
		hs_queue(e, msg, rfb_put_version(msg, sizeof msg, &v));
		e->next = unidentified;
		if (unidentified != NULL)
			unidentified->prev = e;
		unidentified = e;
		end_rearm(e);
	}
}

/* ---- I/O ----------------------------------------------------------------------------- */

/* One message from e->in through the parser of the end's role. */
static enum step
end_parse(struct end *e)
{
	enum rfb_result r = RFB_NEED_MORE;
	size_t used = 0;
	enum step k = e->client ? client_parse(e, &used, &r) :
	    backend_parse(e, &used, &r);

	if (k == STEP_TAKEN) {
		memmove(e->in, e->in + used, e->inlen - used);
		e->inlen -= used;
	} else if (k == STEP_BAD) {
		end_fail(e, "unexpected bytes in %s (%s)", state_names[e->st],
		    rfb_result_name(r));
		k = STEP_FAILED;
	}
	return k;
}

/* Bytes for the handshake parsers, then the stream checker; false when
 * the end failed. */
static bool
end_feed(struct end *e, const uint8_t *p, size_t n)
{
	while (n > 0 && e->st != E_DONE) {
		if (e->st == E_STREAM) {
			stream_check(e, p, n);
			return true;
		}
		if (e->st == E_TLS) {
			end_fail(e, "bytes during the TLS handshake");
			return false;
		}
		size_t take = sizeof e->in - e->inlen;
		if (take > n)
			take = n;
		memcpy(e->in + e->inlen, p, take);
		e->inlen += take;
		p += take;
		n -= take;
		for (;;) {
			enum step k = end_parse(e);
			if (k == STEP_FAILED)
				return false;
			if (k == STEP_MORE) {
				if (e->inlen == sizeof e->in) {
					end_fail(e, "message too long in %s",
					    state_names[e->st]);
					return false;
				}
				break;
			}
			if (e->st == E_STREAM) {
				if (e->inlen > 0)
					stream_check(e, e->in, e->inlen);
				e->inlen = 0;
				break;
			}
			if (e->inlen == 0 || e->st == E_TLS)
				break;
		}
	}
	return true;
}

enum io { IO_DATA, IO_AGAIN, IO_EOF, IO_ERROR };

static enum io
end_recv(struct end *e, uint8_t *buf, size_t cap, size_t *got, const char **why)
{
	ssize_t r;

	if (e->tls != NULL && e->st != E_TLS) {
		r = gnutls_record_recv(e->tls, buf, cap);
		if (r > 0) {
			*got = (size_t)r;
			return IO_DATA;
		}
		if (r == 0) {
			e->eof = EOF_CLEAN;
			return IO_EOF;
		}
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			return IO_AGAIN;
		if (r == GNUTLS_E_PREMATURE_TERMINATION) {
			e->eof = EOF_NO_NOTIFY;
			return IO_EOF;
		}
		if (r == GNUTLS_E_PULL_ERROR && errno == ECONNRESET) {
			e->eof = EOF_RESET;
			e->reset_seen = true;
			return IO_EOF;
		}
		if (!gnutls_error_is_fatal((int)r))
			return IO_AGAIN;
		*why = gnutls_strerror((int)r);
		return IO_ERROR;
	}
	for (;;) {
		r = recv(e->fd, buf, cap, 0);
		if (r > 0) {
			*got = (size_t)r;
			return IO_DATA;
		}
		if (r == 0) {
			e->eof = EOF_CLEAN;
			return IO_EOF;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return IO_AGAIN;
		if (errno == ECONNRESET) {
			e->eof = EOF_RESET;
			e->reset_seen = true;
			return IO_EOF;
		}
		*why = strerror(errno);
		return IO_ERROR;
	}
}

/* Read until the socket is drained (GnuTLS included), or a slow reader's
 * burst is over. */
static void
end_read(struct end *e)
{
	const char *why = NULL;

	while (e->st != E_DONE && e->st != E_CONNECT && e->st != E_TLS &&
	    e->eof == EOF_NONE && end_reading(e)) {
		size_t cap = sizeof scratch, got = 0;

		if (e->st != E_STREAM && e->tls == NULL)
			cap = sizeof e->in - e->inlen;  /* never past a message */
		enum io r = end_recv(e, scratch, cap, &got, &why);
		if (r == IO_AGAIN)
			return;
		if (r == IO_ERROR) {
			end_fail(e, "read in %s: %s", state_names[e->st], why);
			return;
		}
		if (r == IO_EOF) {
			if (e->st != E_STREAM && e->s == NULL) {
				/* The daemon gave up on a client before we knew
				 * the session: nothing to check. */
				st.unidentified++;
				unidentified_drop(e);
			} else if (e->client && e->st == E_SERVERINIT &&
			    e->s->style == CLOSE_ABORT && !e->s->client_closes) {
				/* The backend's reset overtook its ServerInit. */
				end_finish(e);
			} else if (e->st != E_STREAM) {
				end_fail(e, "closed by the daemon in %s",
				    state_names[e->st]);
			}
			return;
		}
		e->progress_ms = now_ms;
		if (!end_feed(e, scratch, got))
			return;
		if (e->slow && (e->read_since_pause += got) >= SLOW_BURST) {
			e->read_since_pause = 0;
			e->paused_until_ms = now_ms + 10 + (int64_t)(got % 90);
		}
	}
}

static enum io
end_send(struct end *e, const uint8_t *p, size_t n, size_t *sent, const char **why)
{
	ssize_t r;

	if (e->tls != NULL) {
		r = gnutls_record_send(e->tls, p, n);
		if (r > 0) {
			*sent = (size_t)r;
			return IO_DATA;
		}
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			return IO_AGAIN;
		/* The daemon closed (a reset, or an end GnuTLS saw first). */
		if (r == GNUTLS_E_PUSH_ERROR || r == GNUTLS_E_PREMATURE_TERMINATION) {
			e->reset_seen = e->reset_seen || errno == ECONNRESET;
			return IO_EOF;
		}
		*why = gnutls_strerror((int)r);
		return IO_ERROR;
	}
	for (;;) {
		r = send(e->fd, p, n, MSG_NOSIGNAL);
		if (r >= 0) {
			*sent = (size_t)r;
			return IO_DATA;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return IO_AGAIN;
		if (errno == EPIPE || errno == ECONNRESET) {
			/* The reset is reported once: a later read sees an end. */
			e->reset_seen = e->reset_seen || errno == ECONNRESET;
			return IO_EOF;
		}
		*why = strerror(errno);
		return IO_ERROR;
	}
}

/* The next chunk: the prefix first, then the stream up to out_stop. */
static bool
chunk_fill(struct end *e)
{
	size_t n = 0, payload;
	uint64_t left = out_allowed(e) - e->out_made;

	if (e->prefix_len == 0 && left == 0)
		return false;
	if (e->chunk == NULL && (e->chunk = malloc(CHUNK)) == NULL) {
		fprintf(stderr, "soak: out of memory\n");
		exit(EXIT_USAGE);
	}
	if (e->prefix_len > 0) {
		memcpy(e->chunk, e->prefix, e->prefix_len);
		n = e->prefix_len;
		e->prefix_len = 0;
	}
	payload = CHUNK - n < left ? CHUNK - n : (size_t)left;
	prng_fill(&e->out_prng, e->chunk + n, payload);
	e->out_made += payload;
	e->chunk_payload = payload;
	e->chunk_len = n + payload;
	e->chunk_off = 0;
	return true;
}

static void
end_write(struct end *e)
{
	const char *why = NULL;
	size_t budget = WRITE_BUDGET;

	while (e->hsoff < e->hslen) {
		size_t sent = 0;
		enum io r = end_send(e, e->hs + e->hsoff, e->hslen - e->hsoff,
		    &sent, &why);
		if (r == IO_AGAIN)
			return;
		if (r != IO_DATA) {
			end_fail(e, "write in %s: %s", state_names[e->st],
			    r == IO_EOF ? "closed by the daemon" : why);
			return;
		}
		e->hsoff += sent;
		e->progress_ms = now_ms;
		if (e->hsoff == e->hslen)
			e->hsoff = e->hslen = 0;
	}
	while (e->sending && !e->out_broken && budget > 0) {
		size_t sent = 0;

		if (e->chunk_off == e->chunk_len && !chunk_fill(e))
			break;
		enum io r = end_send(e, e->chunk + e->chunk_off,
		    e->chunk_len - e->chunk_off, &sent, &why);
		if (r == IO_AGAIN)
			break;
		if (r == IO_EOF) {
			/* The daemon closed this side; the reads will say how. */
			e->out_broken = true;
			break;
		}
		if (r == IO_ERROR) {
			end_fail(e, "write: %s", why);
			return;
		}
		e->chunk_off += sent;
		budget -= sent < budget ? sent : budget;
		e->progress_ms = now_ms;
		if (e->chunk_off == e->chunk_len) {
			e->out_done += e->chunk_payload;
			e->chunk_payload = 0;
		}
	}
	if (out_finished(e) && e->chunk != NULL) {
		free(e->chunk);
		e->chunk = NULL;
		e->chunk_len = e->chunk_off = 0;
	}
}

/* Close the fd for good; a reset when asked. */
static void
end_finish(struct end *e)
{
	if (e->st == E_DONE)
		return;
	if (e->fd >= 0) {
		if (e->aborted) {
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };
			(void)setsockopt(e->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		}
		close(e->fd);       /* also leaves the epoll set */
	}
	e->fd = -1;
	e->armed = 0;
	e->st = E_DONE;
	if (e->tls != NULL)
		gnutls_deinit(e->tls);
	e->tls = NULL;
	free(e->chunk);
	e->chunk = NULL;
	if (e->s != NULL)
		session_check(e->s);
}

/* The closer's moves, and the end of either end once its input ends. */
static void
end_closing(struct end *e)
{
	struct session *s = e->s;

	if (e->st != E_STREAM || s == NULL)
		return;
	if (is_closer(e) && e->shut == SHUT_NONE && e->eof == EOF_NONE &&
	    out_finished(e) && hold_over(e)) {
		if (s->style == CLOSE_ABORT) {
			e->aborted = true;
			end_finish(e);
			return;
		}
		if (s->style == CLOSE_LATE && e->in_ok + e->in_bad < e->in_total)
			return;
		e->shut = SHUT_BYE;
	}
	if (e->shut == SHUT_BYE) {
		if (e->tls != NULL) {
			int r = gnutls_bye(e->tls, GNUTLS_SHUT_WR);
			if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
				return;
		}
		(void)shutdown(e->fd, SHUT_WR);
		e->shut = SHUT_DONE;
		e->progress_ms = now_ms;
	}
	if (e->eof != EOF_NONE) {
		/* The other end's close reached us, or the daemon's: done. */
		if (e->tls != NULL && e->shut == SHUT_NONE)
			(void)gnutls_bye(e->tls, GNUTLS_SHUT_WR);
		end_finish(e);
	}
}

/* The TLS handshake, once the clear-text bytes before it are out; then
 * what GnuTLS may already hold (it never wakes the fd). */
static void
tls_step(struct end *e)
{
	int r;

	if (e->st != E_TLS || e->hsoff != e->hslen)
		return;
	r = gnutls_handshake(e->tls);
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
		return;
	if (r < 0 && gnutls_error_is_fatal(r)) {
		end_fail(e, "TLS handshake: %s", gnutls_strerror(r));
		return;
	}
	if (r == 0) {
		e->st = E_RESULT;
		e->progress_ms = now_ms;
		end_read(e);
	}
}

static void
end_event(struct end *e, uint32_t events)
{
	if (e->st == E_DONE)
		return;
	if (e->st == E_CONNECT) {
		int err = 0;
		socklen_t len = sizeof err;

		if (getsockopt(e->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err != 0) {
			end_fail(e, "connect: %s", strerror(err));
			return;
		}
		st.connections++;
		e->st = E_VERSION;
		e->progress_ms = now_ms;
	}
	tls_step(e);
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		end_read(e);
	/* The subtype ack just read: the handshake starts now. */
	tls_step(e);
	if (e->st != E_DONE)
		end_write(e);
	if (e->st != E_DONE)
		end_closing(e);
	if (e->st != E_DONE)
		end_rearm(e);
}

/* ---- the run ----------------------------------------------------------------------------- */

/* What only time moves on: a slow reader's pause, the pacing of a
 * stream, the closer's hold.  Waiting for our own time is not a stall. */
static void
end_tick(struct end *e)
{
	bool resume, idle_out, holding;

	if (e == NULL || e->st != E_STREAM)
		return;
	resume = e->paused_until_ms != 0 && e->paused_until_ms <= now_ms;
	idle_out = e->sending && !e->out_broken && e->prefix_len == 0 &&
	    e->chunk_off == e->chunk_len && !out_finished(e);
	holding = is_closer(e) && e->shut == SHUT_NONE && out_finished(e);
	if (idle_out || holding)
		e->progress_ms = now_ms;
	if (resume)
		e->paused_until_ms = 0;
	if (resume || (idle_out && e->out_made < out_allowed(e)) ||
	    (holding && hold_over(e)))
		end_event(e, resume ? EPOLLIN : 0);
}

/* Stalled sessions and connections; ends waiting for time. */
static void
sweep(bool draining_over)
{
	for (uint64_t i = 0; i < opt.sessions; i++) {
		struct session *s = &slots[i];
		int64_t last;

		if (!s->live)
			continue;
		if (draining_over) {
			session_fail(s, "not finished when the drain time ran out "
			    "(client %s, backend %s)", end_desc(s->c), end_desc(s->b));
			continue;
		}
		last = s->c->progress_ms;
		if (s->b != NULL && s->b->progress_ms > last)
			last = s->b->progress_ms;
		if (now_ms - last > opt.stall_ms) {
			session_fail(s, "no progress for %" PRId64 " s (client %s, "
			    "backend %s)", (now_ms - last) / 1000, end_desc(s->c),
			    end_desc(s->b));
			continue;
		}
		struct end *ends[] = { s->c, s->b };
		for (size_t j = 0; j < 2 && s->live; j++)
			end_tick(ends[j]);
	}
	for (struct end *e = unidentified, *next; e != NULL; e = next) {
		next = e->next;
		if (draining_over || now_ms - e->progress_ms > opt.stall_ms) {
			st.unknown++;
			problem("backend connection never identified (%s)",
			    state_names[e->st]);
			unidentified_drop(e);
		}
	}
}

static void
bury_the_dead(void)
{
	while (graveyard != NULL) {
		struct end *e = graveyard;
		graveyard = e->dead;
		free(e);
	}
}

static void
progress(int64_t t0)
{
	fprintf(stderr, "soak: %3" PRId64 " s: %" PRIu64 " open, %" PRIu64
	    " completed, %" PRIu64 " failed, %" PRIu64 " with loss, %.1f MB "
	    "verified\n", (now_ms - t0) / 1000, live, st.completed, st.failed,
	    st.lossy, (double)st.verified / 1e6);
}

static void
make_server_init(void)
{
	uint8_t *p = server_init;

	tu_put16(p, 1024);
	tu_put16(p + 2, 768);
	/* pixel format: 32 bpp, depth 24, little-endian, true colour,
	 * 255/255/255 at shifts 16/8/0, 3 bytes padding */
	static const uint8_t pf[16] = { 32, 24, 0, 1, 0, 255, 0, 255, 0, 255,
	    16, 8, 0, 0, 0, 0 };
	memcpy(p + 4, pf, sizeof pf);
	tu_put32(p + 20, 4);
	memcpy(p + 24, "soak", 4);
}

/* Wait (bounded) for a file holding "NAME ADDRESS" or "ADDRESS", as the
 * daemon's --ports-file does. */
static bool
read_connect_file(const char *path, struct tu_addr *out)
{
	int64_t until = tu_now_ms() + 60000;
	char line[256];

	for (;;) {
		FILE *f = fopen(path, "r");
		if (f != NULL) {
			bool got = fgets(line, sizeof line, f) != NULL;
			fclose(f);
			if (got) {
				char *addr = strrchr(line, ' ');
				addr = addr != NULL ? addr + 1 : line;
				addr[strcspn(addr, "\r\n")] = '\0';
				if (tu_parse_addr(addr, out))
					return true;
				fprintf(stderr, "soak: %s: bad address \"%s\"\n",
				    path, addr);
				return false;
			}
		}
		if (tu_now_ms() > until) {
			fprintf(stderr, "soak: %s did not appear within 60 s\n", path);
			return false;
		}
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

static void
usage(FILE *f)
{
	fputs("usage: soak --ca FILE --cert FILE --key FILE\n"
	    "            (--connect ADDR | --connect-file FILE) [options]\n"
	    "  --connect ADDR        the daemon, e.g. 127.0.0.1:5900\n"
	    "  --connect-file FILE   wait for FILE (\"ADDR\" or \"NAME ADDR\", as\n"
	    "                        vencryptd --ports-file writes it) and use it\n"
	    "  --ports-file FILE     write the backend's address to FILE once it listens\n"
	    "  --ca, --cert, --key   the CA to check the daemon with, our certificate\n"
	    "  --servername NAME     the name the daemon's certificate must hold (localhost)\n"
	    "  --sessions N          sessions open at once (200)\n"
	    "  --seconds S           how long to start new sessions (30)\n"
	    "  --seed N              the run's seed (default: from the clock)\n"
	    "  --max-size BYTES      longest stream one way (4194304)\n"
	    "  --handshakes N        handshakes under way at once (32)\n"
	    "  --hold S              mean session lifetime: a session spreads its bytes\n"
	    "                        over 0 to 2 S (a fifth send at once), and the closer\n"
	    "                        closes no sooner (default: N / 40, at least 5)\n"
	    "  --like N              every session does what session N of this seed\n"
	    "                        (and --hold) does: to repeat a failure\n"
	    "  --stall S             a session without progress this long fails (60)\n"
	    "  --drain S             time to finish the open sessions at the end (120)\n",
	    f);
}

static bool
raise_fd_limit(uint64_t need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return false;
	if (rl.rlim_cur >= need)
		return true;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		fprintf(stderr, "soak: %" PRIu64 " descriptors needed, the hard "
		    "limit is %llu\n", need, (unsigned long long)rl.rlim_max);
		return false;
	}
	rl.rlim_cur = need;
	return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "connect-file", required_argument, NULL, 'C' },
		{ "ports-file", required_argument, NULL, 'p' },
		{ "ca", required_argument, NULL, 'a' },
		{ "cert", required_argument, NULL, 'e' },
		{ "key", required_argument, NULL, 'k' },
		{ "servername", required_argument, NULL, 'n' },
		{ "sessions", required_argument, NULL, 'N' },
		{ "seconds", required_argument, NULL, 't' },
		{ "seed", required_argument, NULL, 's' },
		{ "max-size", required_argument, NULL, 'm' },
		{ "handshakes", required_argument, NULL, 'H' },
		{ "stall", required_argument, NULL, 'S' },
		{ "drain", required_argument, NULL, 'D' },
		{ "hold", required_argument, NULL, 'L' },
		{ "like", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct epoll_event evs[256];
	struct tu_addr laddr;
	struct sockaddr_storage bound;
	socklen_t blen = sizeof bound;
	char text[128];
	int64_t t0, end_at, drain_until, next_progress, next_sweep;
	int c, r;
	bool ok;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		ok = true;
		switch (c) {
		case 'c': opt.connect = optarg; break;
		case 'C': opt.connect_file = optarg; break;
		case 'p': opt.ports_file = optarg; break;
		case 'a': opt.ca = optarg; break;
		case 'e': opt.cert = optarg; break;
		case 'k': opt.key = optarg; break;
		case 'n': opt.servername = optarg; break;
		case 'N': ok = tu_parse_u64(optarg, 100000, &opt.sessions) &&
		    opt.sessions > 0; break;
		case 't': ok = tu_parse_seconds(optarg, &opt.run_ms); break;
		case 's': ok = tu_parse_u64(optarg, UINT64_MAX, &opt.seed);
		    opt.seed_set = true; break;
		case 'm': ok = tu_parse_u64(optarg, UINT64_C(1) << 40, &opt.max_size);
		    break;
		case 'H': ok = tu_parse_u64(optarg, 100000, &opt.handshakes) &&
		    opt.handshakes > 0; break;
		case 'S': ok = tu_parse_seconds(optarg, &opt.stall_ms); break;
		case 'D': ok = tu_parse_seconds(optarg, &opt.drain_ms); break;
		case 'L': ok = tu_parse_seconds(optarg, &opt.hold_ms);
		    opt.hold_set = true; break;
		case 'K': ok = tu_parse_u64(optarg, UINT64_MAX, &opt.like);
		    opt.like_set = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
		if (!ok) {
			const struct option *o = longopts;
			while (o->name != NULL && o->val != c)
				o++;
			fprintf(stderr, "soak: bad value for --%s: %s\n", o->name,
			    optarg);
			return EXIT_USAGE;
		}
	}
	if (optind < argc || opt.ca == NULL || opt.cert == NULL || opt.key == NULL ||
	    (opt.connect == NULL) == (opt.connect_file == NULL)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!opt.hold_set)
		opt.hold_ms = opt.sessions * 1000 / 40 > 5000 ?
		    (int64_t)(opt.sessions * 1000 / 40) : 5000;
	if (!opt.seed_set) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		opt.seed = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	}
	if (opt.connect != NULL && !tu_parse_addr(opt.connect, &daemon_addr)) {
		fprintf(stderr, "soak: bad --connect address %s\n", opt.connect);
		return EXIT_USAGE;
	}
	if (!raise_fd_limit(2 * opt.sessions + opt.handshakes + 64))
		return EXIT_USAGE;
	signal(SIGPIPE, SIG_IGN);
	make_server_init();

	if (gnutls_certificate_allocate_credentials(&cred) < 0 ||
	    (r = gnutls_certificate_set_x509_trust_file(cred, opt.ca,
	    GNUTLS_X509_FMT_PEM)) <= 0) {
		fprintf(stderr, "soak: cannot load the CA %s\n", opt.ca);
		return EXIT_USAGE;
	}
	if ((r = gnutls_certificate_set_x509_key_file(cred, opt.cert, opt.key,
	    GNUTLS_X509_FMT_PEM)) < 0) {
		fprintf(stderr, "soak: cannot load %s and %s: %s\n", opt.cert,
		    opt.key, gnutls_strerror(r));
		return EXIT_USAGE;
	}

	/* The backend listens first: the daemon's configuration names it. */
	if (!tu_parse_addr("127.0.0.1:0", &laddr) ||
	    (listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) < 0 || bind(listen_fd, (struct sockaddr *)&laddr.ss, laddr.len) < 0 ||
	    listen(listen_fd, SOMAXCONN) < 0 ||
	    getsockname(listen_fd, (struct sockaddr *)&bound, &blen) < 0 ||
	    !tu_format_addr((struct sockaddr *)&bound, blen, text, sizeof text)) {
		perror("soak: backend listener");
		return EXIT_USAGE;
	}
	if (opt.ports_file != NULL) {
		char line[160];
		snprintf(line, sizeof line, "%s\n", text);
		if (!tu_write_file_atomic(opt.ports_file, line)) {
			perror("soak: ports file");
			return EXIT_USAGE;
		}
	}
	fprintf(stderr, "soak: backend on %s, seed %" PRIu64 "\n", text, opt.seed);
	if (opt.like_set) {
		struct session like = { .serial = opt.like };
		char desc[256];
		session_draw(&like, opt.like);
		session_describe(&like, desc, sizeof desc);
		fprintf(stderr, "soak: every session like %s\n", desc);
	}
	if (opt.connect_file != NULL && !read_connect_file(opt.connect_file,
	    &daemon_addr))
		return EXIT_USAGE;

	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		perror("soak: epoll_create1");
		return EXIT_USAGE;
	}
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &lev) < 0) {
		perror("soak: epoll_ctl");
		return EXIT_USAGE;
	}
	if ((slots = calloc(opt.sessions, sizeof *slots)) == NULL) {
		fprintf(stderr, "soak: out of memory\n");
		return EXIT_USAGE;
	}

	now_ms = t0 = tu_now_ms();
	end_at = t0 + opt.run_ms;
	drain_until = end_at + opt.drain_ms;
	next_progress = t0 + PROGRESS_MS;
	next_sweep = t0 + SWEEP_MS;
	for (;;) {
		bool running = now_ms < end_at;

		for (uint64_t i = 0; running && i < opt.sessions &&
		    handshaking < opt.handshakes; i++)
			if (!slots[i].live)
				session_start(&slots[i]);
		if (!running && live == 0 && unidentified == NULL)
			break;
		int n = epoll_wait(ep, evs, (int)(sizeof evs / sizeof evs[0]),
		    SWEEP_MS);
		if (n < 0 && errno != EINTR) {
			perror("soak: epoll_wait");
			return EXIT_USAGE;
		}
		now_ms = tu_now_ms();
		hurry = now_ms >= end_at;
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL)
				backend_accept();
			else
				end_event(evs[i].data.ptr, evs[i].events);
		}
		if (now_ms >= next_sweep) {
			if (!hurry) {
				st.open_sum += live;
				st.open_samples++;
			}
			if (live > st.open_peak)
				st.open_peak = live;
			sweep(now_ms >= drain_until);
			next_sweep = now_ms + SWEEP_MS;
		}
		bury_the_dead();
		if (now_ms >= next_progress) {
			progress(t0);
			next_progress += PROGRESS_MS;
		}
	}
	bury_the_dead();
	progress(t0);

	printf("seed %" PRIu64 "\n", opt.seed);
	printf("sessions %" PRIu64 "\n", opt.sessions);
	printf("hold_ms %" PRId64 "\n", opt.hold_ms);
	printf("elapsed_ms %" PRId64 "\n", now_ms - t0);
	printf("sessions_started %" PRIu64 "\n", st.started);
	printf("sessions_completed %" PRIu64 "\n", st.completed);
	printf("sessions_failed %" PRIu64 "\n", st.failed);
	printf("sessions_with_loss %" PRIu64 "\n", st.lossy);
	printf("bytes_verified %" PRIu64 "\n", st.verified);
	printf("bytes_lost %" PRIu64 "\n", st.lost);
	printf("open_peak %" PRIu64 "\n", st.open_peak);
	printf("open_mean %" PRIu64 "\n", st.open_samples == 0 ? 0 :
	    st.open_sum / st.open_samples);
	printf("connections %" PRIu64 "\n", st.connections);
	printf("backend_connections %" PRIu64 "\n", st.accepted);
	printf("closes early %" PRIu64 " (deaf %" PRIu64 ") late %" PRIu64
	    " abort %" PRIu64 " by_client %" PRIu64 " by_backend %" PRIu64
	    " slow_readers %" PRIu64 "\n", st.style[CLOSE_EARLY], st.deaf,
	    st.style[CLOSE_LATE], st.style[CLOSE_ABORT], st.client_closes,
	    st.backend_closes, st.slow_ends);
	printf("resets_seen %" PRIu64 "\n", st.resets);
	printf("eof_without_close_notify %" PRIu64 "\n", st.eof_no_notify);
	printf("backends_closed_unidentified %" PRIu64 "\n", st.unidentified);
	printf("backends_after_reset %" PRIu64 "\n", st.strays);
	printf("backend_errors %" PRIu64 "\n", st.unknown);
	fflush(stdout);

	close(ep);
	close(listen_fd);
	free(slots);
	gnutls_certificate_free_credentials(cred);
	return st.failed == 0 && st.lost == 0 && st.unknown == 0 &&
	    st.completed > 0 ? 0 : EXIT_BAD;
}
