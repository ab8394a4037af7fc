/*
 * vtclient - a scriptable VeNCrypt client for the end-to-end tests.
 *
 * It walks the RFB and VeNCrypt handshakes step by step, printing one line
 * per step on stdout (the test scripts grep them), runs the TLS handshake
 * with GnuTLS on the same socket, reads the SecurityResult and then either
 * exchanges two deterministic byte streams or does ClientInit/ServerInit
 * and an echo check. Every wait is bounded by --timeout.
 *
 * --ticket-file FILE offers the TLS session saved in FILE (when there is
 * one) for resumption, says whether the server resumed it, and at the end
 * saves the session the server's last ticket gives into FILE.
 *
 * --hold SEC keeps the session open that long once the rest is done,
 * discarding what arrives; with --tick SEC it sends one byte every SEC
 * meanwhile (the echo backend returns it).  --bind ADDR connects from
 * that source address.
 *
 * --stall stops reading once the SecurityResult is in and waits for the
 * server to give up on it. --reset-each-offset runs the handshake again
 * and again, resetting the connection (SO_LINGER 0) after exactly 0, 1,
 * 2, ... bytes sent, until the next offset would complete it; there
 * --timeout bounds the whole loop, and each connection's waits are
 * bounded by RESET_CONN_MS besides.
 *
 * --proxy-v1 SRC:PORT, --proxy-v2 SRC:PORT and --proxy-v2-local send a
 * PROXY protocol header first, as a load balancer would (the destination
 * it names is 127.0.0.1:5900 or [::1]:5900); --proxy-hex HEX sends those
 * bytes instead, for malformed headers.
 *
 * Exit status: 0 when everything asked for succeeded, 1 on a refusal, a
 * mismatch, a close or a timeout, 2 on a usage or internal error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "testutil.h"

#define EXIT_REFUSED 1
#define EXIT_INTERNAL 2
#define MAX_NAME (1024 * 1024)
#define MAX_REASON (64 * 1024)
#define BYE_MS 2000
#define CHUNK 16384
/* --reset-each-offset: the bound on one connection's waits.  Some
 * thousand connections make the loop, each a TLS handshake: a daemon
 * under valgrind on a busy machine takes up to half a second for one. */
#define RESET_CONN_MS 20000

static struct {
	const char *connect;
	const char *ca, *cert, *key, *servername, *sni, *priority;
	bool no_verify, silent;
	const char *rfb_version;
	unsigned sectype;
	unsigned vc_major, vc_minor;
	int64_t subtype; /* -1 = first offered */
	const char *user, *password;
	int64_t claim_ulen, claim_plen;  /* -1: the real lengths */
	bool split_plain;                /* one byte per TLS record */
	const char *nul_in;              /* "user" or "password" */
	bool stream;
	uint64_t send_n, send_seed, expect_n, expect_seed;
	uint64_t echo_n, echo_seed;
	int64_t timeout_ms, hold_ms, tick_ms;
	const char *bind;                /* source address, port 0 for any */
	const char *resume_file;         /* echo, pause until it exists, echo */
	const char *ticket_file;         /* TLS session offered and saved */
	bool stall;                      /* read nothing after the SecurityResult */
	bool reset_each_offset;
	int proxy_version;               /* 0: no PROXY header */
	const char *proxy_src;           /* NULL: v2 LOCAL */
	const char *proxy_hex;           /* raw header bytes */
} opt = {
	.servername = "localhost",
	.priority = "NORMAL",
	.rfb_version = "3.8",
	.sectype = 19,
	.vc_major = 0,
	.vc_minor = 2,
	.subtype = -1,
	.user = "",
	.password = "",
	.claim_ulen = -1,
	.claim_plen = -1,
	.echo_seed = 1,
	.timeout_ms = 20000,
};

/* One byte channel: the plain socket, or TLS on it once the handshake is done. */
struct chan {
	int fd;
	gnutls_session_t tls; /* NULL before TLS */
	const char *error;    /* set with CH_ERROR */
	int tls_err;          /* the GnuTLS error behind CH_ERROR, if any */
};

enum ch_res {
	CH_OK,        /* *done bytes transferred (> 0) */
	CH_WANT_READ, /* retry once the fd is readable */
	CH_WANT_WRITE,
	CH_EOF,       /* the peer closed or reset the connection */
	CH_ERROR      /* see chan.error */
};

static int64_t deadline_ms;
static int64_t start_ms;
static bool quiet;              /* --reset-each-offset: no step lines */

/*
 * --reset-each-offset: how many more bytes may be sent (-1: no limit).
 * Writes are cut at the budget; once it is spent every write fails, and
 * the final write (the credentials, or the subtype when there are none
 * to send) is not made at all when it would fit whole.
 */
static struct {
	int64_t left;
	bool spent;             /* a write hit the budget */
	bool final;             /* the next write is the final one */
	bool complete;          /* the final write would have fitted */
	uint64_t sent;          /* bytes sent on this connection */
	uint64_t preamble;      /* of them, the clear-text RFB and VeNCrypt */
	uint64_t handshake;     /* and the TLS handshake */
	uint64_t final_len;     /* the final write's length, once complete */
} budget = { .left = -1 };

/* n cut to the budget; 0 (errno EPIPE) when nothing more may be sent. */
static size_t
budget_cut(size_t n)
{
	if (budget.left < 0)
		return n;
	if (budget.final && (int64_t)n <= budget.left) {
		budget.complete = true;
		budget.final_len = n;
		errno = EPIPE;
		return 0;
	}
	if ((int64_t)n > budget.left)
		n = (size_t)budget.left;
	if (n == 0) {
		budget.spent = true;
		errno = EPIPE;
	}
	return n;
}

static ssize_t
budget_send(int fd, const void *buf, size_t n)
{
	ssize_t r;

	if (n > 0 && (n = budget_cut(n)) == 0)
		return -1;
	r = send(fd, buf, n, MSG_NOSIGNAL);
	if (r > 0) {
		budget.sent += (uint64_t)r;
		if (budget.left >= 0)
			budget.left -= r;
	}
	return r;
}

/* GnuTLS's push: the same budget applies to records. */
static ssize_t
budget_push(gnutls_transport_ptr_t p, const void *buf, size_t n)
{
	return budget_send((int)(intptr_t)p, buf, n);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void server_cert_serial(gnutls_session_t s);

static void
say(const char *fmt, ...)
{
	va_list ap;

	if (quiet)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* Printable copy of untrusted text: controls and non-ASCII become '?'. */
static char *
printable(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL) {
		fprintf(stderr, "vtclient: out of memory\n");
		exit(EXIT_INTERNAL);
	}
	for (size_t i = 0; i < n; i++)
		s[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	s[n] = '\0';
	return s;
}

/* ---- channel ------------------------------------------------------------- */

static enum ch_res
tls_res(struct chan *c, ssize_t r)
{
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
		return gnutls_record_get_direction(c->tls) ? CH_WANT_WRITE : CH_WANT_READ;
	if (r == GNUTLS_E_PREMATURE_TERMINATION || r == GNUTLS_E_PUSH_ERROR ||
	    r == GNUTLS_E_PULL_ERROR)
		return CH_EOF;
	c->tls_err = (int)r;
	c->error = gnutls_strerror((int)r);
	return CH_ERROR;
}

static enum ch_res
sock_res(struct chan *c, ssize_t r, bool reading)
{
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return reading ? CH_WANT_READ : CH_WANT_WRITE;
	if (r == 0 || errno == ECONNRESET || errno == EPIPE)
		return CH_EOF;
	c->error = strerror(errno);
	return CH_ERROR;
}

static enum ch_res
chan_recv(struct chan *c, void *buf, size_t n, size_t *done)
{
	ssize_t r;

	if (c->tls != NULL)
		r = gnutls_record_recv(c->tls, buf, n);
	else
		r = read(c->fd, buf, n);
	if (r > 0) {
		*done = (size_t)r;
		return CH_OK;
	}
	if (c->tls != NULL)
		return r == 0 ? CH_EOF : tls_res(c, r);
	return sock_res(c, r, true);
}

static enum ch_res
chan_send(struct chan *c, const void *buf, size_t n, size_t *done)
{
	ssize_t r;

	if (c->tls != NULL)
		r = gnutls_record_send(c->tls, buf, n);
	else
		r = budget_send(c->fd, buf, n);
	if (r > 0) {
		*done = (size_t)r;
		return CH_OK;
	}
	if (c->tls != NULL)
		return tls_res(c, r);
	if (r == 0) {
		errno = EAGAIN;
		r = -1;
	}
	return sock_res(c, r, false);
}

/* Wait for the fd in the direction asked; false at the deadline. */
static bool
chan_wait(struct chan *c, enum ch_res want, int64_t until_ms)
{
	struct pollfd pfd = {
		.fd = c->fd,
		.events = want == CH_WANT_WRITE ? POLLOUT : POLLIN,
	};

	for (;;) {
		int r = poll(&pfd, 1, tu_poll_timeout(until_ms));

		if (r < 0 && errno == EINTR)
			continue;
		return r > 0;
	}
}

/* Read exactly n bytes. CH_WANT_READ means the deadline passed. */
static enum ch_res
chan_read_full(struct chan *c, void *buf, size_t n)
{
	uint8_t *p = buf;

	for (size_t off = 0; off < n;) {
		size_t done = 0;
		enum ch_res r = chan_recv(c, p + off, n - off, &done);

		if (r == CH_OK) {
			off += done;
			continue;
		}
		if (r != CH_WANT_READ && r != CH_WANT_WRITE)
			return r;
		if (!chan_wait(c, r, deadline_ms))
			return CH_WANT_READ;
	}
	return CH_OK;
}

static enum ch_res
chan_write_full(struct chan *c, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	for (size_t off = 0; off < n;) {
		size_t done = 0;
		enum ch_res r = chan_send(c, p + off, n - off, &done);

		if (r == CH_OK) {
			off += done;
			continue;
		}
		if (r != CH_WANT_READ && r != CH_WANT_WRITE)
			return r;
		if (!chan_wait(c, r, deadline_ms))
			return CH_WANT_WRITE;
	}
	return CH_OK;
}

/* Report a failed read/write the standard way and give the exit status. */
static int
report(struct chan *c, enum ch_res r, const char *what)
{
	switch (r) {
	case CH_EOF:
		say("closed-by-server");
		return EXIT_REFUSED;
	case CH_WANT_READ:
	case CH_WANT_WRITE:
		fprintf(stderr, "vtclient: timeout during %s\n", what);
		say("timeout");
		return EXIT_REFUSED;
	case CH_ERROR:
		if (c->tls != NULL) {
			if (c->tls_err == GNUTLS_E_FATAL_ALERT_RECEIVED ||
			    c->tls_err == GNUTLS_E_WARNING_ALERT_RECEIVED)
				say("tls-error: %s (%s)", c->error,
				    gnutls_alert_get_name(gnutls_alert_get(c->tls)));
			else
				say("tls-error: %s", c->error ? c->error : "unknown");
			return EXIT_REFUSED;
		}
		fprintf(stderr, "vtclient: %s: %s\n", what, c->error ? c->error : "error");
		say("closed-by-server");
		return EXIT_REFUSED;
	case CH_OK:
		break;
	}
	return 0;
}

/* Read u32 length + reason (capped) and return it printable. */
static enum ch_res
read_reason(struct chan *c, char **out)
{
	uint8_t lenb[4];
	enum ch_res r = chan_read_full(c, lenb, 4);
	uint32_t len;
	uint8_t *buf;

	*out = NULL;
	if (r != CH_OK)
		return r;
	len = tu_get32(lenb);
	if (len > MAX_REASON) {
		char msg[64];

		snprintf(msg, sizeof(msg), "<reason of %" PRIu32 " bytes>", len);
		*out = strdup(msg);
		return CH_OK;
	}
	buf = malloc(len ? len : 1);
	if (buf == NULL)
		return CH_ERROR;
	r = chan_read_full(c, buf, len);
	if (r == CH_OK)
		*out = printable(buf, len);
	free(buf);
	return r;
}

/* ---- streams ------------------------------------------------------------- */

struct duplex {
	uint64_t send_n, send_seed, expect_n, expect_seed;
	uint64_t sent, received;
	enum { DX_OK, DX_MISMATCH, DX_SHORT, DX_TIMEOUT, DX_ERROR } result;
	uint64_t mismatch_at;
};

/* Send send_n stream bytes while receiving and verifying expect_n, concurrently. */
static void
run_duplex(struct chan *c, struct duplex *d)
{
	uint8_t out[CHUNK], in[CHUNK];
	size_t out_len = 0, out_off = 0;
	uint64_t ss, es;
	enum ch_res want_r = CH_WANT_READ, want_s = CH_WANT_WRITE;

	prng_init(&ss, d->send_seed);
	prng_init(&es, d->expect_seed);
	d->sent = d->received = 0;
	d->result = DX_OK;
	while (d->sent < d->send_n || d->received < d->expect_n) {
		bool progress = false;
		size_t done = 0;

		if (d->received < d->expect_n) {
			uint64_t left = d->expect_n - d->received;
			enum ch_res r = chan_recv(c, in, left < sizeof(in) ? (size_t)left : sizeof(in),
			    &done);

			if (r == CH_OK) {
				size_t bad = prng_verify(&es, in, done);

				if (bad != done) {
					d->mismatch_at = d->received + bad;
					d->result = DX_MISMATCH;
					return;
				}
				d->received += done;
				progress = true;
			} else if (r == CH_EOF) {
				d->result = DX_SHORT;
				return;
			} else if (r == CH_ERROR) {
				d->result = DX_ERROR;
				return;
			} else {
				want_r = r;
			}
		}
		if (d->sent < d->send_n) {
			if (out_off == out_len) {
				uint64_t left = d->send_n - d->sent;

				out_len = left < sizeof(out) ? (size_t)left : sizeof(out);
				out_off = 0;
				prng_fill(&ss, out, out_len);
			}
			enum ch_res r = chan_send(c, out + out_off, out_len - out_off, &done);

			if (r == CH_OK) {
				out_off += done;
				d->sent += done;
				progress = true;
			} else if (r == CH_EOF) {
				d->result = DX_SHORT;
				return;
			} else if (r == CH_ERROR) {
				d->result = DX_ERROR;
				return;
			} else {
				want_s = r;
			}
		}
		if (progress)
			continue;

		struct pollfd pfd = { .fd = c->fd, .events = 0 };

		if (d->received < d->expect_n)
			pfd.events |= want_r == CH_WANT_WRITE ? POLLOUT : POLLIN;
		if (d->sent < d->send_n)
			pfd.events |= want_s == CH_WANT_READ ? POLLIN : POLLOUT;
		int pr = poll(&pfd, 1, tu_poll_timeout(deadline_ms));

		if (pr < 0 && errno != EINTR) {
			d->result = DX_ERROR;
			return;
		}
		if (pr == 0) {
			d->result = DX_TIMEOUT;
			return;
		}
	}
}

/* Print a duplex outcome under the label ("stream" or "echo"); exit status. */
static int
report_duplex(struct chan *c, const struct duplex *d, const char *label)
{
	switch (d->result) {
	case DX_OK:
		if (strcmp(label, "echo") == 0)
			say("echo ok %" PRIu64, d->received);
		else
			say("%s ok sent=%" PRIu64 " received=%" PRIu64, label, d->sent, d->received);
		return 0;
	case DX_MISMATCH:
		say("%s MISMATCH at %" PRIu64, label, d->mismatch_at);
		return EXIT_REFUSED;
	case DX_SHORT:
		if (d->received < d->expect_n)
			say("%s SHORT received=%" PRIu64, label, d->received);
		else
			say("%s SHORT sent=%" PRIu64, label, d->sent);
		return EXIT_REFUSED;
	case DX_TIMEOUT:
		fprintf(stderr, "vtclient: %s: sent=%" PRIu64 " received=%" PRIu64 "\n",
		    label, d->sent, d->received);
		say("timeout");
		return EXIT_REFUSED;
	case DX_ERROR:
		return report(c, CH_ERROR, label);
	}
	return EXIT_INTERNAL;
}

/* ---- phases -------------------------------------------------------------- */

/* --silent: send nothing, wait for the server to close. */
static int
run_silent(struct chan *c)
{
	uint8_t buf[4096], version[12];
	size_t have = 0;

	for (;;) {
		size_t done = 0;
		enum ch_res r = chan_recv(c, buf, sizeof(buf), &done);

		if (r == CH_OK) {
			if (have < sizeof(version)) {
				size_t take = sizeof(version) - have;

				if (take > done)
					take = done;
				memcpy(version + have, buf, take);
				have += take;
				if (have == sizeof(version)) {
					char *v = printable(version, sizeof(version) - 1);

					say("server-version %s", v);
					free(v);
				}
			}
			continue;
		}
		if (r == CH_EOF || r == CH_ERROR) {
			say("closed-by-server after=%.3f", (double)(tu_now_ms() - start_ms) / 1000.0);
			return 0;
		}
		if (!chan_wait(c, r, deadline_ms)) {
			say("timeout");
			return EXIT_REFUSED;
		}
	}
}

/* RFB 3.x as 3, 7 or 8 (what a server makes of it); 0 when not a version. */
static int
normalise_version(unsigned major, unsigned minor)
{
	if (major < 3)
		return 0;
	if (major > 3 || minor >= 8)
		return 8;
	return minor == 7 ? 7 : 3;
}

/*
 * The bytes --rfb-version sends, and the version both sides then speak
 * (the lower of ours and the server's; 8 for text that is not a version).
 */
static char *
version_bytes(const char *v, int server_minor, int *agreed)
{
	unsigned major, minor;
	int end = 0;
	char *s = NULL;

	*agreed = 8;
	if (strcmp(v, "garbage") == 0)
		return strdup("GET / HTTP/1.1\r\n");
	if (sscanf(v, "%u.%u%n", &major, &minor, &end) == 2 && v[end] == '\0' &&
	    major < 1000 && minor < 1000) {
		int mine = normalise_version(major, minor);

		if (mine != 0)
			*agreed = mine < server_minor ? mine : server_minor;
		if (asprintf(&s, "RFB %03u.%03u\n", major, minor) < 0)
			return NULL;
		return s;
	}
	if (asprintf(&s, "%s\n", v) < 0)
		return NULL;
	return s;
}

static int
tls_fail(gnutls_session_t s, int ret)
{
	if (ret == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
		unsigned status = gnutls_session_get_verify_cert_status(s);
		gnutls_datum_t out = { NULL, 0 };

		if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509,
		    &out, 0) == 0) {
			char *msg = (char *)out.data;
			size_t len = strlen(msg);

			while (len > 0 && (msg[len - 1] == ' ' || msg[len - 1] == '\n'))
				msg[--len] = '\0';
			say("tls-error: certificate verification failed: %s", msg);
			gnutls_free(out.data);
			return EXIT_REFUSED;
		}
	}
	if (ret == GNUTLS_E_FATAL_ALERT_RECEIVED || ret == GNUTLS_E_WARNING_ALERT_RECEIVED)
		say("tls-error: %s (%s)", gnutls_strerror(ret),
		    gnutls_alert_get_name(gnutls_alert_get(s)));
	else
		say("tls-error: %s", gnutls_strerror(ret));
	return EXIT_REFUSED;
}

/* " ticks=N" with --tick, else nothing. */
static const char *
tick_note(unsigned ticks)
{
	static char note[32];

	note[0] = '\0';
	if (opt.tick_ms > 0)
		snprintf(note, sizeof(note), " ticks=%u", ticks);
	return note;
}

/* Keep the session open for --hold, discarding what arrives, and with
 * --tick sending a byte every tick. */
static int
run_hold(struct chan *c)
{
	int64_t now = tu_now_ms(), until = now + opt.hold_ms;
	int64_t next_tick = opt.tick_ms > 0 ? now + opt.tick_ms : until;
	uint8_t buf[4096], tick = 0;
	unsigned ticks = 0;

	for (;;) {
		size_t done = 0;
		enum ch_res r = chan_recv(c, buf, sizeof(buf), &done);

		if (r == CH_OK)
			continue;
		if (r == CH_EOF || r == CH_ERROR) {
			say("closed-by-server during hold after=%.3f%s",
			    (double)(tu_now_ms() - start_ms) / 1000.0,
			    tick_note(ticks));
			return EXIT_REFUSED;
		}
		if (chan_wait(c, r, next_tick < until ? next_tick : until))
			continue;
		if (tu_now_ms() >= until)
			break;
		if (tu_now_ms() >= next_tick) {
			if ((r = chan_write_full(c, &tick, 1)) != CH_OK)
				return report(c, r, "a tick");
			ticks++;
			next_tick += opt.tick_ms;
		}
	}
	say("hold ok%s", tick_note(ticks));
	return 0;
}

/* --stall: read nothing more, and wait for the server to end the
 * connection (a FIN or a reset, seen without reading). */
static int
run_stall(struct chan *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLRDHUP };
	int64_t since = tu_now_ms();

	say("stalling");
	for (;;) {
		int r = poll(&pfd, 1, tu_poll_timeout(deadline_ms));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			say("timeout");
			return EXIT_REFUSED;
		}
		if (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))
			break;
	}
	say("stall ended by the server after=%.3f",
	    (double)(tu_now_ms() - since) / 1000.0);
	return 0;
}

/* After the SecurityResult: streams, or ClientInit/ServerInit and an echo check. */
static int
run_session(struct chan *c)
{
	enum ch_res r;
	int rc = 0;

	if (opt.stall)
		return run_stall(c);

	if (opt.stream) {
		struct duplex d = {
			.send_n = opt.send_n, .send_seed = opt.send_seed,
			.expect_n = opt.expect_n, .expect_seed = opt.expect_seed,
		};

		run_duplex(c, &d);
		return report_duplex(c, &d, "stream");
	}

	uint8_t ci = 1, si[24];

	if ((r = chan_write_full(c, &ci, 1)) != CH_OK)
		return report(c, r, "ClientInit");
	if ((r = chan_read_full(c, si, sizeof(si))) != CH_OK)
		return report(c, r, "ServerInit");

	unsigned w = tu_get16(si), h = tu_get16(si + 2);
	uint32_t nlen = tu_get32(si + 20);

	if (nlen > MAX_NAME) {
		say("server-init %ux%u name-length=%" PRIu32, w, h, nlen);
		return EXIT_REFUSED;
	}

	uint8_t *name = malloc(nlen ? nlen : 1);

	if (name == NULL) {
		fprintf(stderr, "vtclient: out of memory\n");
		return EXIT_INTERNAL;
	}
	r = chan_read_full(c, name, nlen);
	if (r != CH_OK) {
		free(name);
		return report(c, r, "ServerInit name");
	}
	char *pname = printable(name, nlen);

	say("server-init %ux%u name=%s", w, h, pname);
	free(pname);
	free(name);

	if (opt.echo_n > 0) {
		struct duplex d = {
			.send_n = opt.echo_n, .send_seed = opt.echo_seed,
			.expect_n = opt.echo_n, .expect_seed = opt.echo_seed,
		};

		run_duplex(c, &d);
		rc = report_duplex(c, &d, "echo");
	}
	if (rc == 0 && opt.echo_n > 0 && opt.resume_file != NULL) {
		/* Idle inside the relay until told to go on, then again. */
		struct duplex d = {
			.send_n = opt.echo_n, .send_seed = opt.echo_seed + 1,
			.expect_n = opt.echo_n, .expect_seed = opt.echo_seed + 1,
		};

		say("paused");
		while (access(opt.resume_file, F_OK) != 0) {
			if (tu_now_ms() > deadline_ms) {
				say("timeout waiting for %s", opt.resume_file);
				return EXIT_INTERNAL;
			}
			usleep(10000);
		}
		run_duplex(c, &d);
		rc = report_duplex(c, &d, "echo-again");
	}
	return rc;
}

/* The VeNCrypt exchange up to the subtype ack; 0 to go on with TLS. */
static int
run_vencrypt(struct chan *c, uint32_t *subtype)
{
	uint8_t b[4], ver[2], count, ack;
	enum ch_res r;

	if ((r = chan_read_full(c, ver, 2)) != CH_OK)
		return report(c, r, "VeNCrypt version");
	say("vencrypt-version %u.%u", ver[0], ver[1]);
	ver[0] = (uint8_t)opt.vc_major;
	ver[1] = (uint8_t)opt.vc_minor;
	if ((r = chan_write_full(c, ver, 2)) != CH_OK)
		return report(c, r, "VeNCrypt version");
	if ((r = chan_read_full(c, b, 1)) != CH_OK)
		return report(c, r, "VeNCrypt status");
	if (b[0] != 0) {
		say("vencrypt-refused");
		return EXIT_REFUSED;
	}
	if ((r = chan_read_full(c, &count, 1)) != CH_OK)
		return report(c, r, "VeNCrypt subtypes");

	char line[16 + 11 * 255] = "subtypes";
	size_t used = strlen(line);
	uint32_t first = 0;

	for (unsigned i = 0; i < count; i++) {
		if ((r = chan_read_full(c, b, 4)) != CH_OK)
			return report(c, r, "VeNCrypt subtypes");
		uint32_t t = tu_get32(b);

		if (i == 0)
			first = t;
		used += (size_t)snprintf(line + used, sizeof(line) - used, " %" PRIu32, t);
	}
	say("%s", line);
	*subtype = opt.subtype >= 0 ? (uint32_t)opt.subtype : first;
	if (count == 0 && opt.subtype < 0) {
		say("vencrypt-refused");
		return EXIT_REFUSED;
	}
	tu_put32(b, *subtype);
	if ((r = chan_write_full(c, b, 4)) != CH_OK)
		return report(c, r, "VeNCrypt subtype");
	if ((r = chan_read_full(c, &ack, 1)) != CH_OK)
		return report(c, r, "VeNCrypt subtype ack");
	say("subtype-ack %u", ack);
	return ack == 1 ? 0 : EXIT_REFUSED;
}

/* TLS 1.3 NewSessionTicket messages seen after the handshake. */
static unsigned tickets_seen;

static int
ticket_hook(gnutls_session_t s, unsigned int htype, unsigned post,
    unsigned int incoming, const gnutls_datum_t *msg)
{
	if (htype == GNUTLS_HANDSHAKE_NEW_SESSION_TICKET && incoming)
		tickets_seen++;
	return 0;
}

/* Offers the session saved in --ticket-file, when the file exists. */
static int
ticket_load(gnutls_session_t s)
{
	gnutls_datum_t d = { NULL, 0 };
	int ret = gnutls_load_file(opt.ticket_file, &d);

	if (ret == GNUTLS_E_FILE_ERROR)
		return 0;       /* nothing saved yet */
	if (ret >= 0)
		ret = gnutls_session_set_data(s, d.data, d.size);
	gnutls_free(d.data);
	if (ret < 0) {
		fprintf(stderr, "vtclient: %s: %s\n", opt.ticket_file,
		    gnutls_strerror(ret));
		return EXIT_INTERNAL;
	}
	return 0;
}

/* Saves the session the server's ticket gives into --ticket-file
 * (through a temporary file and rename); nothing without a ticket. */
static void
ticket_save(gnutls_session_t s)
{
	gnutls_datum_t d = { NULL, 0 };
	char tmp[4096];
	FILE *f;
	bool ok;

	if (tickets_seen == 0 || gnutls_session_get_data2(s, &d) < 0)
		return;
	snprintf(tmp, sizeof tmp, "%s.tmp", opt.ticket_file);
	ok = (f = fopen(tmp, "wb")) != NULL;
	if (ok) {
		ok = fwrite(d.data, 1, d.size, f) == d.size;
		ok = fclose(f) == 0 && ok;
	}
	if (ok && rename(tmp, opt.ticket_file) == 0)
		say("ticket-saved");
	else
		fprintf(stderr, "vtclient: cannot save %s: %s\n", opt.ticket_file,
		    strerror(errno));
	gnutls_free(d.data);
}

static int
tls_handshake(struct chan *c, gnutls_certificate_credentials_t cred, gnutls_session_t *out)
{
	gnutls_session_t s;
	const char *err_pos = NULL;
	int ret;

	if (gnutls_init(&s, GNUTLS_CLIENT | GNUTLS_NONBLOCK) < 0) {
		fprintf(stderr, "vtclient: gnutls_init failed\n");
		return EXIT_INTERNAL;
	}
	*out = s;
	ret = gnutls_priority_set_direct(s, opt.priority, &err_pos);
	if (ret < 0) {
		fprintf(stderr, "vtclient: --priority: %s at '%s'\n", gnutls_strerror(ret),
		    err_pos ? err_pos : "");
		return EXIT_INTERNAL;
	}
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
	if (opt.sni != NULL)
		gnutls_server_name_set(s, GNUTLS_NAME_DNS, opt.sni, strlen(opt.sni));
	if (!opt.no_verify)
		gnutls_session_set_verify_cert(s, opt.servername, 0);
	gnutls_handshake_set_hook_function(s, GNUTLS_HANDSHAKE_NEW_SESSION_TICKET,
	    GNUTLS_HOOK_POST, ticket_hook);
	if (opt.ticket_file != NULL && (ret = ticket_load(s)) != 0)
		return ret;
	gnutls_transport_set_int(s, c->fd);
	gnutls_transport_set_push_function(s, budget_push);
	for (;;) {
		ret = gnutls_handshake(s);
		if (ret == 0)
			break;
		if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED) {
			struct chan tmp = { .fd = c->fd };

			if (!chan_wait(&tmp, gnutls_record_get_direction(s) ? CH_WANT_WRITE :
			    CH_WANT_READ, deadline_ms)) {
				fprintf(stderr, "vtclient: timeout during TLS handshake\n");
				say("timeout");
				return EXIT_REFUSED;
			}
			continue;
		}
		if (gnutls_error_is_fatal(ret) == 0)
			continue;
		/* best effort: tell the server why, so it can log a reason */
		gnutls_alert_send_appropriate(s, ret);
		return tls_fail(s, ret);
	}
	c->tls = s;

	char *desc = quiet ? NULL : gnutls_session_get_desc(s);

	if (desc != NULL) {
		fprintf(stderr, "vtclient: %s\n", desc);
		gnutls_free(desc);
	}
	say("tls-ok %s", gnutls_protocol_get_name(gnutls_protocol_get_version(s)));
	if (opt.ticket_file != NULL)
		say("tls-resumed %s", gnutls_session_is_resumed(s) ? "yes" : "no");
	server_cert_serial(s);
	return 0;
}

/* "server-cert-serial HEX": which certificate the server presented. */
static void
server_cert_serial(gnutls_session_t s)
{
	const gnutls_datum_t *certs;
	unsigned int n = 0;
	gnutls_x509_crt_t crt;
	uint8_t serial[64];
	size_t len = sizeof serial;
	char hex[2 * sizeof serial + 1];

	certs = gnutls_certificate_get_peers(s, &n);
	if (certs == NULL || n == 0 || gnutls_x509_crt_init(&crt) < 0)
		return;
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) == 0 &&
	    gnutls_x509_crt_get_serial(crt, serial, &len) == 0) {
		for (size_t i = 0; i < len; i++)
			snprintf(hex + 2 * i, 3, "%02x", serial[i]);
		hex[2 * len] = '\0';
		say("server-cert-serial %s", hex);
	}
	gnutls_x509_crt_deinit(crt);
}

static void
tls_close(struct chan *c)
{
	int64_t until = tu_now_ms() + BYE_MS;

	/* Whether the server sent a TLS 1.3 NewSessionTicket (it must not:
	 * TigerVNC 1.12 hangs on them). */
	say("session-ticket %s", tickets_seen ? "received" : "none");
	if (opt.ticket_file != NULL)
		ticket_save(c->tls);
	for (;;) {
		int ret = gnutls_bye(c->tls, GNUTLS_SHUT_WR);

		if (ret != GNUTLS_E_AGAIN && ret != GNUTLS_E_INTERRUPTED)
			break;
		if (!chan_wait(c, gnutls_record_get_direction(c->tls) ? CH_WANT_WRITE :
		    CH_WANT_READ, until))
			break;
	}
}

/* SecurityResult: 0 ok, else failed + reason. */
static int
read_security_result(struct chan *c)
{
	uint8_t b[4];
	enum ch_res r = chan_read_full(c, b, 4);
	char *reason = NULL;

	if (r != CH_OK)
		return report(c, r, "SecurityResult");
	if (tu_get32(b) == 0) {
		say("security-result ok");
		return 0;
	}
	r = read_reason(c, &reason);
	if (r != CH_OK)
		say("security-result failed %" PRIu32, tu_get32(b));
	else
		say("security-result failed: %s", reason);
	free(reason);
	return EXIT_REFUSED;
}

/* X509Plain/TLSPlain: u32 ulen, u32 plen, user, password.  --nul-in puts
 * a NUL in the middle of one field, --claim-lengths lies about the
 * lengths (the real bytes still follow), --split sends one byte per
 * record. */
static int
send_plain(struct chan *c)
{
	size_t ulen = strlen(opt.user), plen = strlen(opt.password);
	uint8_t *msg = malloc(8 + ulen + plen + 2);
	size_t n;
	enum ch_res r = CH_OK;

	if (msg == NULL)
		return EXIT_INTERNAL;
	n = 8;
	memcpy(msg + n, opt.user, ulen);
	n += ulen;
	if (opt.nul_in != NULL && strcmp(opt.nul_in, "user") == 0) {
		memmove(msg + 8 + ulen / 2 + 1, msg + 8 + ulen / 2, ulen - ulen / 2);
		msg[8 + ulen / 2] = 0;
		ulen++;
		n++;
	}
	memcpy(msg + n, opt.password, plen);
	if (opt.nul_in != NULL && strcmp(opt.nul_in, "password") == 0) {
		memmove(msg + n + plen / 2 + 1, msg + n + plen / 2, plen - plen / 2);
		msg[n + plen / 2] = 0;
		plen++;
	}
	n += plen;
	tu_put32(msg, (uint32_t)(opt.claim_ulen >= 0 ? (uint64_t)opt.claim_ulen : ulen));
	tu_put32(msg + 4, (uint32_t)(opt.claim_plen >= 0 ? (uint64_t)opt.claim_plen : plen));
	if (opt.split_plain) {
		for (size_t i = 0; i < n && r == CH_OK; i++) {
			r = chan_write_full(c, msg + i, 1);
			usleep(2000);
		}
	} else
		r = chan_write_full(c, msg, n);
	free(msg);
	return r == CH_OK ? 0 : report(c, r, "Plain credentials");
}

/* ---- main ---------------------------------------------------------------- */

static void
usage(void)
{
	fprintf(stderr,
	    "usage: vtclient --connect ADDR [--ca FILE] [--cert FILE --key FILE]\n"
	    "                [--servername NAME] [--sni NAME] [--no-verify] [--priority STR]\n"
	    "                [--rfb-version STR] [--sectype N] [--vencrypt MAJ.MIN]\n"
	    "                [--subtype N] [--user U] [--password P] [--silent]\n"
	    "                [--claim-lengths ULEN:PLEN] [--split] [--nul-in user|password]\n"
	    "                [--resume-file FILE (with --echo-check: echo, wait for FILE, echo)]\n"
	    "                [--ticket-file FILE]\n"
	    "                [--send N --send-seed S --expect M --expect-seed T]\n"
	    "                [--echo-check N] [--echo-seed S] [--timeout SEC] [--hold SEC]\n"
	    "                [--stall] [--reset-each-offset (with --subtype 259|262)]\n"
	    "                [--proxy-v1 SRC:PORT | --proxy-v2 SRC:PORT | --proxy-v2-local\n"
	    "                 | --proxy-hex HEX]\n"
	    "                [--tick SEC (with --hold)] [--bind ADDR]\n"
	    "  ADDR: 127.0.0.1:PORT, [::1]:PORT or unix:/path\n");
	exit(EXIT_INTERNAL);
}

static void
parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "ca", required_argument, NULL, 'A' },
		{ "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },
		{ "servername", required_argument, NULL, 'S' },
		{ "sni", required_argument, NULL, 'I' },
		{ "no-verify", no_argument, NULL, 'x' },
		{ "priority", required_argument, NULL, 'P' },
		{ "rfb-version", required_argument, NULL, 'r' },
		{ "sectype", required_argument, NULL, 'y' },
		{ "vencrypt", required_argument, NULL, 'v' },
		{ "subtype", required_argument, NULL, 'u' },
		{ "user", required_argument, NULL, 'U' },
		{ "password", required_argument, NULL, 'W' },
		{ "claim-lengths", required_argument, NULL, 'L' },
		{ "split", no_argument, NULL, 'Q' },
		{ "nul-in", required_argument, NULL, 'Z' },
		{ "resume-file", required_argument, NULL, 'R' },
		{ "ticket-file", required_argument, NULL, 'X' },
		{ "silent", no_argument, NULL, 'z' },
		{ "stall", no_argument, NULL, 'T' },
		{ "reset-each-offset", no_argument, NULL, 'O' },
		{ "send", required_argument, NULL, 'n' },
		{ "send-seed", required_argument, NULL, 'N' },
		{ "expect", required_argument, NULL, 'e' },
		{ "expect-seed", required_argument, NULL, 'E' },
		{ "echo-check", required_argument, NULL, 'k' },
		{ "echo-seed", required_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "hold", required_argument, NULL, 'H' },
		{ "proxy-v1", required_argument, NULL, '1' },
		{ "proxy-v2", required_argument, NULL, '2' },
		{ "proxy-v2-local", no_argument, NULL, '3' },
		{ "proxy-hex", required_argument, NULL, '4' },
		{ "tick", required_argument, NULL, 'i' },
		{ "bind", required_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int ch;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': opt.connect = optarg; break;
		case 'A': opt.ca = optarg; break;
		case 'C': opt.cert = optarg; break;
		case 'K': opt.key = optarg; break;
		case 'S': opt.servername = optarg; break;
		case 'I': opt.sni = optarg; break;
		case 'x': opt.no_verify = true; break;
		case 'P': opt.priority = optarg; break;
		case 'r': opt.rfb_version = optarg; break;
		case 'U': opt.user = optarg; break;
		case 'W': opt.password = optarg; break;
		case 'Q': opt.split_plain = true; break;
		case 'R': opt.resume_file = optarg; break;
		case 'X': opt.ticket_file = optarg; break;
		case 'Z':
			if (strcmp(optarg, "user") != 0 && strcmp(optarg, "password") != 0)
				usage();
			opt.nul_in = optarg;
			break;
		case 'L': {
			unsigned long long u, w;
			int end = 0;

			if (sscanf(optarg, "%llu:%llu%n", &u, &w, &end) != 2 ||
			    optarg[end] != '\0' || u > UINT32_MAX || w > UINT32_MAX)
				usage();
			opt.claim_ulen = (int64_t)u;
			opt.claim_plen = (int64_t)w;
			break;
		}
		case 'z': opt.silent = true; break;
		case 'T': opt.stall = true; break;
		case 'O': opt.reset_each_offset = true; break;
		case 'y':
			if (!tu_parse_u64(optarg, 255, &v))
				usage();
			opt.sectype = (unsigned)v;
			break;
		case 'v': {
			unsigned ma, mi;
			int end = 0;

			if (sscanf(optarg, "%u.%u%n", &ma, &mi, &end) != 2 || optarg[end] != '\0' ||
			    ma > 255 || mi > 255)
				usage();
			opt.vc_major = ma;
			opt.vc_minor = mi;
			break;
		}
		case 'u':
			if (!tu_parse_u64(optarg, UINT32_MAX, &v))
				usage();
			opt.subtype = (int64_t)v;
			break;
		case 'n':
			if (!tu_parse_u64(optarg, UINT64_MAX, &opt.send_n))
				usage();
			opt.stream = true;
			break;
		case 'N':
			if (!tu_parse_u64(optarg, UINT64_MAX, &opt.send_seed))
				usage();
			break;
		case 'e':
			if (!tu_parse_u64(optarg, UINT64_MAX, &opt.expect_n))
				usage();
			opt.stream = true;
			break;
		case 'E':
			if (!tu_parse_u64(optarg, UINT64_MAX, &opt.expect_seed))
				usage();
			break;
		case 'k':
			if (!tu_parse_u64(optarg, UINT64_MAX, &opt.echo_n))
				usage();
			break;
		case 'j':
			if (!tu_parse_u64(optarg, UINT64_MAX, &opt.echo_seed))
				usage();
			break;
		case 't':
			if (!tu_parse_seconds(optarg, &opt.timeout_ms))
				usage();
			break;
		case 'H':
			if (!tu_parse_seconds(optarg, &opt.hold_ms))
				usage();
			break;
		case '1':
		case '2':
			opt.proxy_version = ch - '0';
			opt.proxy_src = optarg;
			break;
		case '3': opt.proxy_version = 2; break;
		case '4': opt.proxy_hex = optarg; break;
		case 'i':
			if (!tu_parse_seconds(optarg, &opt.tick_ms))
				usage();
			break;
		case 'B': opt.bind = optarg; break;
		default:
			usage();
		}
	}
	if (optind != argc || opt.connect == NULL || (opt.cert == NULL) != (opt.key == NULL))
		usage();
}

/* The PROXY header the options ask for, into out; its length, 0 for none,
 * -1 for a bad option. */
static ssize_t
proxy_header(uint8_t *out, size_t cap)
{
	static const uint8_t sig[12] = "\r\n\r\n\0\r\nQUIT\n";
	struct tu_addr src;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&src.ss;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&src.ss;
	char host[INET6_ADDRSTRLEN];
	bool v6;
	size_t n = 0;

	if (opt.proxy_hex != NULL) {
		for (const char *p = opt.proxy_hex; p[0] != '\0'; p += 2) {
			unsigned v;
			if (p[1] == '\0' || n == cap || sscanf(p, "%2x", &v) != 1)
				return -1;
			out[n++] = (uint8_t)v;
		}
		return (ssize_t)n;
	}
	if (opt.proxy_version == 0)
		return 0;
	if (opt.proxy_src == NULL) {            /* v2 LOCAL */
		memcpy(out, sig, 12);
		memcpy(out + 12, "\x20\x00\x00\x00", 4);
		return 16;
	}
	if (!tu_parse_addr(opt.proxy_src, &src) || src.ss.ss_family == AF_UNIX)
		return -1;
	v6 = src.ss.ss_family == AF_INET6;
	if (opt.proxy_version == 1) {
		inet_ntop(src.ss.ss_family, v6 ? (const void *)&s6->sin6_addr :
		    (const void *)&s4->sin_addr, host, sizeof host);
		return snprintf((char *)out, cap, "PROXY TCP%c %s %s %u 5900\r\n",
		    v6 ? '6' : '4', host, v6 ? "::1" : "127.0.0.1",
		    ntohs(v6 ? s6->sin6_port : s4->sin_port));
	}
	memcpy(out, sig, 12);
	out[12] = 0x21;                         /* v2, PROXY */
	out[13] = v6 ? 0x21 : 0x11;             /* TCP over IPv6 / IPv4 */
	out[14] = 0;
	out[15] = v6 ? 36 : 12;
	n = 16;
	if (v6) {
		memcpy(out + n, &s6->sin6_addr, 16);
		memcpy(out + n + 16, &in6addr_loopback, 16);
		memcpy(out + n + 32, &s6->sin6_port, 2);
		n += 34;
	} else {
		const uint32_t lo = htonl(INADDR_LOOPBACK);
		memcpy(out + n, &s4->sin_addr, 4);
		memcpy(out + n + 4, &lo, 4);
		memcpy(out + n + 8, &s4->sin_port, 2);
		n += 10;
	}
	out[n++] = 5900 >> 8;
	out[n++] = 5900 & 0xff;
	return (ssize_t)n;
}

/* Everything from the server's version to the end of the session. */
static int
run(struct chan *c, gnutls_certificate_credentials_t cred, gnutls_session_t *session)
{
	uint8_t b[13];
	enum ch_res r;
	int rc;

	if (opt.silent)
		return run_silent(c);

	if ((r = chan_read_full(c, b, 12)) != CH_OK)
		return report(c, r, "ProtocolVersion");
	b[12] = '\0';

	char *sv = printable(b, 11);

	say("server-version %s", sv);
	free(sv);

	unsigned smajor = 0, sminor = 0;
	int server_minor = 8, agreed;

	if (sscanf((const char *)b, "RFB %3u.%3u", &smajor, &sminor) == 2 &&
	    normalise_version(smajor, sminor) != 0)
		server_minor = normalise_version(smajor, sminor);

	char *vb = version_bytes(opt.rfb_version, server_minor, &agreed);

	if (vb == NULL)
		return EXIT_INTERNAL;
	r = chan_write_full(c, vb, strlen(vb));
	free(vb);
	if (r != CH_OK)
		return report(c, r, "ProtocolVersion");

	if (agreed == 3) {
		char *reason = NULL;

		if ((r = chan_read_full(c, b, 4)) != CH_OK)
			return report(c, r, "security type");
		if (tu_get32(b) != 0) {
			say("security-type %" PRIu32, tu_get32(b));
			if (tu_get32(b) != 1)
				return EXIT_REFUSED;
			return run_session(c); /* a plain None server (rfbbackend) */
		}
		if ((r = read_reason(c, &reason)) != CH_OK)
			return report(c, r, "failure reason");
		say("refused: %s", reason);
		free(reason);
		return EXIT_REFUSED;
	}

	uint8_t n, types[255];

	if ((r = chan_read_full(c, &n, 1)) != CH_OK)
		return report(c, r, "security types");
	if (n == 0) {
		char *reason = NULL;

		if ((r = read_reason(c, &reason)) != CH_OK)
			return report(c, r, "failure reason");
		say("refused: %s", reason);
		free(reason);
		return EXIT_REFUSED;
	}
	if ((r = chan_read_full(c, types, n)) != CH_OK)
		return report(c, r, "security types");

	char line[16 + 4 * 255] = "security-types";
	size_t used = strlen(line);

	for (unsigned i = 0; i < n; i++)
		used += (size_t)snprintf(line + used, sizeof(line) - used, " %u", types[i]);
	say("%s", line);

	uint8_t st = (uint8_t)opt.sectype;

	if ((r = chan_write_full(c, &st, 1)) != CH_OK)
		return report(c, r, "security type");
	if (st != 19) {
		/* None to a plain server goes on; anything else expects a failure. */
		if (st == 1 && agreed == 7)
			return run_session(c);
		rc = read_security_result(c);
		return rc != 0 ? rc : run_session(c);
	}

	uint32_t subtype = 0;

	if ((rc = run_vencrypt(c, &subtype)) != 0)
		return rc;
	budget.preamble = budget.sent;
	if ((rc = tls_handshake(c, cred, session)) != 0)
		return rc;
	budget.handshake = budget.sent - budget.preamble;
	budget.final = true;
	if ((subtype == 259 || subtype == 262) && (rc = send_plain(c)) != 0)
		return rc;
	if ((rc = read_security_result(c)) != 0)
		return rc;
	return run_session(c);
}

/*
 * Abort a connection: a reset, not a FIN.  An abortive close drops what
 * the kernel has not transmitted yet, so first wait (briefly) until every
 * byte written has left; false if they did not.
 */
static bool
reset_close(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int64_t until = tu_now_ms() + 2000;
	int unsent = 0;

	while (ioctl(fd, SIOCOUTQNSD, &unsent) == 0 && unsent > 0 &&
	    tu_now_ms() < until)
		usleep(1000);
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	return unsent == 0;
}

/*
 * --reset-each-offset: the whole handshake, cut by a reset after exactly
 * N bytes for N = 0, 1, 2, ... until the credentials would go out whole.
 * Every cut must come from the budget, never from the server.
 */
static int
run_reset_loop(const struct tu_addr *addr, gnutls_certificate_credentials_t cred)
{
	/* The loop ends by --timeout; one connection that stalls is seen
	 * after RESET_CONN_MS, not only when the whole loop's bound passes. */
	const int64_t loop_deadline_ms = deadline_ms;
	int64_t n;

	if (opt.subtype != 259 && opt.subtype != 262) {
		fprintf(stderr, "vtclient: --reset-each-offset needs --subtype 259 or 262\n");
		return EXIT_INTERNAL;
	}
	quiet = true;
	for (n = 0;; n++) {
		gnutls_session_t session = NULL;
		struct chan c = { .fd = -1 };

		budget.left = n;
		budget.spent = budget.final = budget.complete = false;
		budget.sent = 0;
		deadline_ms = tu_now_ms() + RESET_CONN_MS;
		if (deadline_ms > loop_deadline_ms)
			deadline_ms = loop_deadline_ms;
		if ((c.fd = tu_connect(addr, deadline_ms)) < 0) {
			printf("reset-loop offset %" PRId64 ": connect-error: %s\n", n,
			    strerror(errno));
			return EXIT_REFUSED;
		}
		/* Every write leaves at once, not held back by Nagle. */
		int one = 1;

		setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		int rc = run(&c, cred, &session);
		bool all_out = reset_close(c.fd);

		if (session != NULL)
			gnutls_deinit(session);
		if (!all_out) {
			printf("reset-loop offset %" PRId64 ": bytes still unsent "
			    "after 2 s\n", n);
			return EXIT_REFUSED;
		}
		if (budget.complete)
			break;
		if (!budget.spent || budget.sent != (uint64_t)n) {
			printf("reset-loop offset %" PRId64 ": the handshake ended "
			    "after %" PRIu64 " bytes sent (exit %d), not at the cut\n",
			    n, budget.sent, rc);
			return EXIT_REFUSED;
		}
		if (tu_now_ms() > loop_deadline_ms) {
			printf("reset-loop offset %" PRId64 ": timeout\n", n);
			return EXIT_REFUSED;
		}
	}
	/* The last connection went as far as the credentials, then reset. */
	printf("reset-loop ok offsets=%" PRId64 " connections=%" PRId64
	    " preamble=%" PRIu64 " tls=%" PRIu64 " credentials=%" PRIu64 "\n",
	    n, n + 1, budget.preamble, budget.handshake, budget.final_len);
	return 0;
}

int
main(int argc, char **argv)
{
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_session_t session = NULL;
	struct chan c = { .fd = -1 };
	struct tu_addr addr, from;
	int rc = EXIT_INTERNAL, ret;
	uint8_t proxy[512];
	ssize_t proxy_len;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	parse_args(argc, argv);
	if (!tu_parse_addr(opt.connect, &addr)) {
		fprintf(stderr, "vtclient: bad address '%s'\n", opt.connect);
		return EXIT_INTERNAL;
	}
	start_ms = tu_now_ms();
	deadline_ms = start_ms + opt.timeout_ms;
	if ((proxy_len = proxy_header(proxy, sizeof proxy)) < 0) {
		fprintf(stderr, "vtclient: bad PROXY header option\n");
		return EXIT_INTERNAL;
	}

	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		goto out;
	if (opt.ca != NULL) {
		ret = gnutls_certificate_set_x509_trust_file(cred, opt.ca, GNUTLS_X509_FMT_PEM);
		if (ret <= 0) {
			fprintf(stderr, "vtclient: %s: %s\n", opt.ca,
			    ret < 0 ? gnutls_strerror(ret) : "no certificates");
			goto out;
		}
	} else if (!opt.no_verify) {
		gnutls_certificate_set_x509_system_trust(cred);
	}
	if (opt.cert != NULL) {
		ret = gnutls_certificate_set_x509_key_file(cred, opt.cert, opt.key,
		    GNUTLS_X509_FMT_PEM);
		if (ret < 0) {
			fprintf(stderr, "vtclient: %s / %s: %s\n", opt.cert, opt.key,
			    gnutls_strerror(ret));
			goto out;
		}
	}

	if (opt.reset_each_offset) {
		rc = run_reset_loop(&addr, cred);
		goto out;
	}
	if (opt.bind != NULL && !tu_parse_addr(opt.bind, &from)) {
		fprintf(stderr, "vtclient: bad address '%s'\n", opt.bind);
		goto out;
	}
	c.fd = tu_connect_from(&addr, opt.bind != NULL ? &from : NULL,
	    deadline_ms);
	if (c.fd < 0) {
		say("connect-error: %s", strerror(errno));
		rc = EXIT_REFUSED;
		goto out;
	}
	if (proxy_len > 0) {
		if (tu_write_full(c.fd, proxy, (size_t)proxy_len, deadline_ms) != TU_IO_OK) {
			say("proxy-header-error: %s", strerror(errno));
			rc = EXIT_REFUSED;
			goto out;
		}
		say("proxy-header-sent %zd", proxy_len);
	}
	rc = run(&c, cred, &session);
	if (rc == 0 && opt.hold_ms > 0)
		rc = run_hold(&c);
	if (c.tls != NULL)
		tls_close(&c);
out:
	if (c.fd >= 0)
		close(c.fd);
	if (session != NULL)
		gnutls_deinit(session);
	if (cred != NULL)
		gnutls_certificate_free_credentials(cred);
	return rc;
}
