/*
 * rfbbackend - a plain RFB server that stands behind vencryptd in the
 * end-to-end tests.
 *
 * It speaks the server side of the RFB handshake without encryption, then
 * behaves per --mode: echo, stream, garbage, huge-name, reset-in-relay,
 * or a negotiation cut short at one step, closed or stalled (see modes[]).
 * With --mode-file the mode is read from that file at every accept, so a
 * test can change it between connections. Every connection and its
 * outcome is appended to --log, one line each, so a test can assert what
 * the backend saw. It serves any number of connections from one poll()
 * loop until SIGTERM or SIGINT.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "testutil.h"

#define MAX_TYPES 32
#define IO_CHUNK 65536
#define ECHO_HIGH_WATER (1024 * 1024)
#define GARBAGE_HOLD_MS 10000
#define LINGER_MS 2000
#define HUGE_NAME_LEN UINT32_C(0x7fffffff)
#define HUGE_NAME_SENT 65536
#define SERVER_INIT_PART 12     /* bytes of a ServerInit cut in the middle */
#define MODE_NAME_MAX 64

/* What a connection does once None is agreed. */
enum mode {
	MODE_ECHO,
	MODE_STREAM,
	MODE_GARBAGE,          /* (instead of a negotiation) an HTTP error */
	MODE_HUGE_NAME,        /* a ServerInit claiming a 2 GiB name */
	MODE_RESET_IN_RELAY,   /* echo, then a reset after --reset-after bytes */
	MODE_DEAF              /* read nothing more: the client's bytes pile up */
};

/* Where a negotiation may be cut short. */
enum step {
	STEP_NONE,
	STEP_BEFORE_VERSION,   /* accepted, nothing sent */
	STEP_AFTER_VERSION,    /* our version sent */
	STEP_AFTER_TYPES,      /* the security types (3.3: the type) sent */
	STEP_AFTER_RESULT,     /* None agreed, SecurityResult (3.8) sent */
	STEP_IN_SERVER_INIT    /* ClientInit read, part of the ServerInit sent */
};

struct behaviour {
	enum mode mode;
	enum step cut;         /* where it stops, STEP_NONE: nowhere */
	bool stall;            /* at cut: hold the connection, else close it */
};

static const struct {
	const char *name;
	struct behaviour b;
} modes[] = {
	{ "echo", { MODE_ECHO, STEP_NONE, false } },
	{ "stream", { MODE_STREAM, STEP_NONE, false } },
	{ "garbage", { MODE_GARBAGE, STEP_NONE, false } },
	{ "huge-name", { MODE_HUGE_NAME, STEP_NONE, false } },
	{ "reset-in-relay", { MODE_RESET_IN_RELAY, STEP_NONE, false } },
	{ "deaf", { MODE_DEAF, STEP_NONE, false } },
	{ "close-before-version", { MODE_ECHO, STEP_BEFORE_VERSION, false } },
	{ "close-after-version", { MODE_ECHO, STEP_AFTER_VERSION, false } },
	{ "close-after-types", { MODE_ECHO, STEP_AFTER_TYPES, false } },
	{ "close-after-result", { MODE_ECHO, STEP_AFTER_RESULT, false } },
	{ "close-in-server-init", { MODE_ECHO, STEP_IN_SERVER_INIT, false } },
	{ "silent", { MODE_ECHO, STEP_BEFORE_VERSION, true } },
	{ "stall-after-version", { MODE_ECHO, STEP_AFTER_VERSION, true } },
	{ "stall-after-types", { MODE_ECHO, STEP_AFTER_TYPES, true } },
	{ "stall-after-result", { MODE_ECHO, STEP_AFTER_RESULT, true } },
	{ "stall-in-server-init", { MODE_ECHO, STEP_IN_SERVER_INIT, true } },
};

enum conn_state {
	CS_VERSION,    /* our version sent; waiting for the client's 12 bytes */
	CS_CHOICE,     /* 3.7/3.8: types sent; waiting for the u8 choice */
	CS_CLIENTINIT, /* echo/huge-name: waiting for the u8 ClientInit */
	CS_ECHO,       /* sending back every byte received */
	CS_STREAM,     /* sending one prng stream, verifying the other */
	CS_DRAIN,      /* discarding input until the peer closes (or a deadline) */
	CS_DEAF,       /* reading nothing at all */
	CS_CLOSING     /* flushing output, then half-close and wait for EOF */
};

struct conn {
	int fd;
	unsigned id;
	enum conn_state state;
	uint8_t hdr[12]; /* the client's ProtocolVersion being collected */
	size_t hdr_len;
	int minor;       /* negotiated version: 3, 7 or 8 */
	struct behaviour b;
	uint64_t echoed; /* reset-in-relay: bytes echoed so far */
	uint8_t *out;    /* pending output: out[out_off..out_len) */
	size_t out_len, out_off, out_cap;
	bool wr_shut;    /* CS_CLOSING: SHUT_WR done */
	bool rd_eof;     /* the peer closed its side */
	int64_t deadline_ms; /* 0 = none */
	/* stream mode */
	uint64_t send_state, expect_state;
	uint64_t sent, received;
	bool reported;
};

static struct {
	struct behaviour b;
	const char *mode_file;
	uint64_t reset_after;
	int minor;
	uint8_t types[MAX_TYPES];
	size_t ntypes;
	uint64_t send_n, send_seed, expect_n, expect_seed;
	const char *reason;
	int log_fd;
} opt = {
	.b = { MODE_ECHO, STEP_NONE, false },
	.reset_after = 65536,
	.minor = 8,
	.types = { 1 },
	.ntypes = 1,
	.reason = "backend refuses",
	.log_fd = STDOUT_FILENO,
};

static int sig_pipe[2] = { -1, -1 };

static void blog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
blog(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(opt.log_fd, line + off, (size_t)(n - off));

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += w;
	}
}

static void
on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (write(sig_pipe[1], &c, 1) < 0) {
		/* the pipe is full: a wake-up is already pending */
	}
	errno = saved;
}

/* ---- output buffer ------------------------------------------------------- */

static bool
out_pending(const struct conn *c)
{
	return c->out_off < c->out_len;
}

static void
out_append(struct conn *c, const void *data, size_t n)
{
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;

		if (c->out_off > 0) {
			memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		while (cap < c->out_len + n)
			cap *= 2;
		if (cap != c->out_cap) {
			uint8_t *p = realloc(c->out, cap);

			if (p == NULL) {
				fprintf(stderr, "rfbbackend: out of memory\n");
				exit(2);
			}
			c->out = p;
			c->out_cap = cap;
		}
	}
	memcpy(c->out + c->out_len, data, n);
	c->out_len += n;
}

/* ---- protocol ------------------------------------------------------------ */

static const char *
type_name(uint8_t t)
{
	switch (t) {
	case 1:
		return "none";
	case 2:
		return "vncauth";
	default:
		return NULL;
	}
}

static void
log_negotiated(const struct conn *c, uint8_t t)
{
	const char *name = type_name(t);

	if (name != NULL)
		blog("negotiated 3.%d %s", c->minor, name);
	else
		blog("negotiated 3.%d %u", c->minor, (unsigned)t);
}

static void
start_closing(struct conn *c)
{
	c->state = CS_CLOSING;
	c->deadline_ms = 0;
}

/* True when c's negotiation stops at this step: it is then closing, or
 * holding the connection while discarding what arrives. */
static bool
cut_at(struct conn *c, enum step at)
{
	if (c->b.cut != at)
		return false;
	blog("cut %u", c->id);
	if (c->b.stall)
		c->state = CS_DRAIN;
	else
		start_closing(c);
	return true;
}

static void
send_failure(struct conn *c)
{
	uint8_t hdr[5];
	size_t rlen = strlen(opt.reason);

	if (c->minor == 3) {
		tu_put32(hdr, 0);
		out_append(c, hdr, 4);
	} else {
		hdr[0] = 0;
		out_append(c, hdr, 1);
	}
	tu_put32(hdr, (uint32_t)rlen);
	out_append(c, hdr, 4);
	out_append(c, opt.reason, rlen);
	blog("refused 3.%d", c->minor);
	start_closing(c);
}

static void
stream_check_done(struct conn *c)
{
	if (c->reported || c->sent < opt.send_n || out_pending(c) ||
	    c->received < opt.expect_n)
		return;
	c->reported = true;
	blog("stream ok sent=%" PRIu64 " received=%" PRIu64, c->sent, c->received);
	start_closing(c);
}

/* None was agreed (and its SecurityResult, if any, queued): start the mode. */
static void
security_done(struct conn *c)
{
	if (cut_at(c, STEP_AFTER_RESULT))
		return;
	if (c->b.mode == MODE_DEAF) {
		c->state = CS_DEAF;
		return;
	}
	if (c->b.mode == MODE_STREAM) {
		c->state = CS_STREAM;
		prng_init(&c->send_state, opt.send_seed);
		prng_init(&c->expect_state, opt.expect_seed);
		stream_check_done(c);
	} else {
		c->state = CS_CLIENTINIT;
	}
}

static void
send_server_init(struct conn *c)
{
	static const char name[] = "rfbbackend";
	uint8_t si[24];
	uint8_t *pf = si + 4;

	memset(si, 0, sizeof(si));
	tu_put16(si, 64);      /* framebuffer width */
	tu_put16(si + 2, 48);  /* framebuffer height */
	pf[0] = 32;            /* bits per pixel */
	pf[1] = 24;            /* depth */
	pf[2] = 0;             /* big-endian flag */
	pf[3] = 1;             /* true colour */
	tu_put16(pf + 4, 255); /* red max */
	tu_put16(pf + 6, 255); /* green max */
	tu_put16(pf + 8, 255); /* blue max */
	pf[10] = 16;           /* red shift */
	pf[11] = 8;            /* green shift */
	pf[12] = 0;            /* blue shift; 3 bytes padding follow */
	if (c->b.cut == STEP_IN_SERVER_INIT) {
		out_append(c, si, SERVER_INIT_PART);
		cut_at(c, STEP_IN_SERVER_INIT);
		return;
	}
	if (c->b.mode == MODE_HUGE_NAME) {
		uint8_t *fill = malloc(HUGE_NAME_SENT);

		if (fill == NULL) {
			fprintf(stderr, "rfbbackend: out of memory\n");
			exit(2);
		}
		memset(fill, 'A', HUGE_NAME_SENT);
		tu_put32(si + 20, HUGE_NAME_LEN);
		out_append(c, si, sizeof(si));
		out_append(c, fill, HUGE_NAME_SENT);
		free(fill);
		return;
	}
	tu_put32(si + 20, (uint32_t)strlen(name));
	out_append(c, si, sizeof(si));
	out_append(c, name, strlen(name));
}

/* Parse "RFB xxx.yyy\n" strictly; false when it is not one. */
static bool
parse_version(const uint8_t *v, int *major, int *minor)
{
	static const char shape[] = "RFB ddd.ddd\n";

	*major = *minor = 0;
	for (size_t i = 0; i < 12; i++) {
		if (shape[i] == 'd') {
			if (v[i] < '0' || v[i] > '9')
				return false;
			if (i < 7)
				*major = *major * 10 + (v[i] - '0');
			else
				*minor = *minor * 10 + (v[i] - '0');
		} else if (v[i] != (uint8_t)shape[i]) {
			return false;
		}
	}
	return true;
}

static void
handle_version(struct conn *c)
{
	int major, minor, cminor;

	if (!parse_version(c->hdr, &major, &minor) || major < 3) {
		blog("bad-version");
		start_closing(c);
		return;
	}
	if (major > 3 || minor >= 8)
		cminor = 8;
	else if (minor == 7)
		cminor = 7;
	else
		cminor = 3;
	c->minor = cminor < opt.minor ? cminor : opt.minor;

	if (opt.types[0] == 0) {
		send_failure(c);
		return;
	}
	if (c->minor == 3) {
		uint8_t t[4];

		tu_put32(t, opt.types[0]);
		out_append(c, t, 4);
		if (cut_at(c, STEP_AFTER_TYPES))
			return;
		log_negotiated(c, opt.types[0]);
		if (opt.types[0] == 1)
			security_done(c);
		else
			c->state = CS_DRAIN; /* no authentication scheme is implemented */
		return;
	}
	uint8_t n = (uint8_t)opt.ntypes;

	out_append(c, &n, 1);
	out_append(c, opt.types, opt.ntypes);
	c->state = CS_CHOICE;
	cut_at(c, STEP_AFTER_TYPES);
}

static void
handle_choice(struct conn *c, uint8_t t)
{
	bool offered = false;

	for (size_t i = 0; i < opt.ntypes; i++)
		offered = offered || opt.types[i] == t;
	if (!offered) {
		blog("bad-choice %u", (unsigned)t);
		start_closing(c);
		return;
	}
	log_negotiated(c, t);
	if (t != 1) {
		c->state = CS_DRAIN; /* no authentication scheme is implemented */
		return;
	}
	if (c->minor == 8) {
		uint8_t ok[4] = { 0, 0, 0, 0 }; /* SecurityResult OK */

		out_append(c, ok, 4);
	}
	security_done(c);
}

/* Consume received bytes according to the state. */
static void
conn_feed(struct conn *c, const uint8_t *p, size_t n)
{
	while (n > 0) {
		switch (c->state) {
		case CS_VERSION: {
			size_t take = sizeof(c->hdr) - c->hdr_len;

			if (take > n)
				take = n;
			memcpy(c->hdr + c->hdr_len, p, take);
			c->hdr_len += take;
			p += take;
			n -= take;
			if (c->hdr_len == sizeof(c->hdr))
				handle_version(c);
			break;
		}
		case CS_CHOICE:
			handle_choice(c, p[0]);
			p++;
			n--;
			break;
		case CS_CLIENTINIT:
			p++;
			n--;
			c->state = c->b.mode == MODE_HUGE_NAME ? CS_DRAIN : CS_ECHO;
			send_server_init(c);
			break;
		case CS_ECHO:
			out_append(c, p, n);
			c->echoed += n;
			n = 0;
			break;
		case CS_STREAM: {
			uint64_t want = opt.expect_n - c->received;
			size_t take = want < n ? (size_t)want : n;
			size_t bad = prng_verify(&c->expect_state, p, take);

			if (bad != take) {
				blog("stream MISMATCH at %" PRIu64, c->received + bad);
				c->reported = true;
				start_closing(c);
				return;
			}
			c->received += take;
			n = 0; /* bytes past the expected count are ignored */
			stream_check_done(c);
			break;
		}
		case CS_DRAIN:
		case CS_DEAF:
		case CS_CLOSING:
			n = 0;
			break;
		}
	}
}

/* Fill the output with the next part of the stream while it is short. */
static void
stream_produce(struct conn *c)
{
	uint8_t chunk[IO_CHUNK];

	if (c->state != CS_STREAM || out_pending(c) || c->sent >= opt.send_n)
		return;
	uint64_t left = opt.send_n - c->sent;
	size_t n = left < sizeof(chunk) ? (size_t)left : sizeof(chunk);

	prng_fill(&c->send_state, chunk, n);
	out_append(c, chunk, n);
	c->sent += n; /* counted as sent once queued; see stream_check_done */
}

/* ---- connections --------------------------------------------------------- */

static bool
find_mode(const char *name, struct behaviour *out)
{
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(modes[i].name, name) == 0) {
			*out = modes[i].b;
			return true;
		}
	}
	return false;
}

/* --mode-file: its first line, when the file exists, is c's mode. */
static void
read_mode_file(struct conn *c)
{
	char name[MODE_NAME_MAX];
	FILE *f;

	if (opt.mode_file == NULL || (f = fopen(opt.mode_file, "r")) == NULL)
		return;
	if (fgets(name, sizeof(name), f) != NULL) {
		name[strcspn(name, "\n")] = '\0';
		if (find_mode(name, &c->b))
			blog("mode %u %s", c->id, name);
		else
			blog("bad-mode %u %s", c->id, name);
	}
	fclose(f);
}

static struct conn **conns;
static size_t nconns, conns_cap;

static void
conn_close(size_t i)
{
	struct conn *c = conns[i];

	close(c->fd);
	blog("closed %u", c->id);
	free(c->out);
	free(c);
	conns[i] = conns[--nconns];
}

/* Close with a reset (RST) instead of an orderly FIN. */
static void
conn_reset(size_t i)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(conns[i]->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	blog("reset %u after %" PRIu64, conns[i]->id, conns[i]->echoed);
	conn_close(i);
}

static void
conn_accept(int lfd, unsigned *next_id)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				fprintf(stderr, "rfbbackend: accept: %s\n", strerror(errno));
			return;
		}
		struct conn *c = calloc(1, sizeof(*c));

		if (c != NULL && nconns == conns_cap) {
			conns_cap = conns_cap ? conns_cap * 2 : 16;
			conns = realloc(conns, conns_cap * sizeof(*conns));
		}
		if (c == NULL || conns == NULL) {
			fprintf(stderr, "rfbbackend: out of memory\n");
			exit(2);
		}
		c->fd = fd;
		c->id = ++*next_id;
		c->minor = opt.minor;
		conns[nconns++] = c;
		blog("connect %u", c->id);
		c->b = opt.b;
		read_mode_file(c);

		char version[13];

		snprintf(version, sizeof(version), "RFB 003.00%d\n", opt.minor);
		if (c->b.mode == MODE_GARBAGE) {
			static const char http[] = "HTTP/1.1 400 Bad Request\r\n\r\n";

			out_append(c, http, strlen(http));
			c->state = CS_DRAIN;
			c->deadline_ms = tu_now_ms() + GARBAGE_HOLD_MS;
			continue;
		}
		if (cut_at(c, STEP_BEFORE_VERSION))
			continue;
		out_append(c, version, 12);
		c->state = CS_VERSION;
		cut_at(c, STEP_AFTER_VERSION);
	}
}

/*
 * Serve readable/writable events of connection i. Returns false when the
 * connection was closed (and removed from the array).
 */
static bool
conn_io(size_t i, short revents)
{
	struct conn *c = conns[i];

	if (revents & (POLLOUT | POLLERR | POLLHUP)) {
		stream_produce(c);
		while (out_pending(c)) {
			ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
			    MSG_NOSIGNAL);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			if (w < 0) {
				if (c->state == CS_STREAM && !c->reported) {
					if (c->received < opt.expect_n)
						blog("stream SHORT received=%" PRIu64, c->received);
					else
						blog("stream SHORT sent=%" PRIu64,
						    c->sent - (c->out_len - c->out_off));
				}
				conn_close(i);
				return false;
			}
			c->out_off += (size_t)w;
			if (!out_pending(c))
				stream_produce(c);
		}
		if (c->state == CS_STREAM && !out_pending(c))
			stream_check_done(c);
	}
	if (c->state == CS_CLOSING && !out_pending(c) && !c->wr_shut) {
		shutdown(c->fd, SHUT_WR);
		c->wr_shut = true;
		c->deadline_ms = tu_now_ms() + LINGER_MS;
	}
	if (c->state == CS_CLOSING && c->wr_shut && c->rd_eof) {
		conn_close(i);
		return false;
	}
	if (revents & (POLLIN | POLLERR | POLLHUP)) {
		uint8_t buf[IO_CHUNK];

		for (int rounds = 0; rounds < 16; rounds++) {
			if (c->state == CS_ECHO && c->out_len - c->out_off >= ECHO_HIGH_WATER)
				break;
			ssize_t r = read(c->fd, buf, sizeof(buf));

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			if (r <= 0) {
				/* EOF or reset */
				c->rd_eof = true;
				if (c->state == CS_STREAM && c->received < opt.expect_n) {
					blog("stream SHORT received=%" PRIu64, c->received);
					c->reported = true;
				} else if (r == 0 && c->state == CS_STREAM) {
					return true; /* keep sending to a half-closed peer */
				} else if (c->state == CS_STREAM) {
					blog("stream SHORT sent=%" PRIu64,
					    c->sent - (c->out_len - c->out_off));
					c->reported = true;
				} else if (r == 0 && c->state == CS_ECHO && out_pending(c)) {
					start_closing(c);
					return true;
				}
				conn_close(i);
				return false;
			}
			conn_feed(c, buf, (size_t)r);
			if (c->b.mode == MODE_RESET_IN_RELAY && c->echoed >= opt.reset_after) {
				conn_reset(i);
				return false;
			}
		}
	}
	return true;
}

static short
conn_events(const struct conn *c)
{
	short ev = 0;

	if (!c->rd_eof && c->state != CS_DEAF &&
	    !(c->state == CS_ECHO && c->out_len - c->out_off >= ECHO_HIGH_WATER) &&
	    !(c->state == CS_CLOSING && !c->wr_shut))
		ev |= POLLIN;
	if (out_pending(c) || (c->state == CS_STREAM && c->sent < opt.send_n))
		ev |= POLLOUT;
	/* a state change that needs no I/O (e.g. a stream with nothing left) */
	if (c->state == CS_CLOSING && !c->wr_shut && !out_pending(c))
		ev |= POLLOUT;
	return ev;
}

/* ---- startup ------------------------------------------------------------- */

static bool
parse_types(const char *text)
{
	char *copy = strdup(text), *save = NULL;
	bool ok = true;

	if (copy == NULL)
		return false;
	opt.ntypes = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		uint64_t v;

		if (opt.ntypes == MAX_TYPES || !tu_parse_u64(tok, 255, &v)) {
			ok = false;
			break;
		}
		opt.types[opt.ntypes++] = (uint8_t)v;
	}
	free(copy);
	return ok && opt.ntypes > 0;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: rfbbackend --listen ADDR [--ports-file FILE] [--log FILE]\n"
	    "                  [--version 3.3|3.7|3.8] [--security LIST] [--mode MODE]\n"
	    "                  [--mode-file FILE] [--reset-after N]\n"
	    "                  [--send N --send-seed S --expect M --expect-seed T]\n"
	    "                  [--reason TEXT] [--timeout SEC]\n"
	    "  ADDR: 127.0.0.1:PORT, [::1]:PORT (PORT 0 = any) or unix:/path\n"
	    "  MODE: echo (default), stream, garbage, huge-name, reset-in-relay, deaf,\n"
	    "        silent, close-before-version, close-after-version,\n"
	    "        close-after-types, close-after-result, close-in-server-init,\n"
	    "        stall-after-version, stall-after-types, stall-after-result,\n"
	    "        stall-in-server-init\n"
	    "  --mode-file: the mode of each new connection, when FILE exists\n"
	    "  --reset-after: reset-in-relay resets after N echoed bytes (65536)\n"
	    "  LIST: comma-separated security types, default 1; 0 = send a failure\n"
	    "  --timeout: lifetime in seconds (default 600), then exit 0\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "ports-file", required_argument, NULL, 'p' },
		{ "log", required_argument, NULL, 'L' },
		{ "version", required_argument, NULL, 'V' },
		{ "security", required_argument, NULL, 's' },
		{ "mode", required_argument, NULL, 'm' },
		{ "mode-file", required_argument, NULL, 'M' },
		{ "reset-after", required_argument, NULL, 'R' },
		{ "send", required_argument, NULL, 'n' },
		{ "send-seed", required_argument, NULL, 'N' },
		{ "expect", required_argument, NULL, 'e' },
		{ "expect-seed", required_argument, NULL, 'E' },
		{ "reason", required_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen_arg = NULL, *ports_file = NULL, *log_file = NULL;
	int64_t lifetime_ms = 600000;
	struct tu_addr addr;
	int ch, lfd;
	unsigned next_id = 0;
	struct pollfd *pfds = NULL;
	size_t pfds_cap = 0;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			listen_arg = optarg;
			break;
		case 'p':
			ports_file = optarg;
			break;
		case 'L':
			log_file = optarg;
			break;
		case 'V':
			if (strcmp(optarg, "3.3") == 0)
				opt.minor = 3;
			else if (strcmp(optarg, "3.7") == 0)
				opt.minor = 7;
			else if (strcmp(optarg, "3.8") == 0)
				opt.minor = 8;
			else
				usage();
			break;
		case 's':
			if (!parse_types(optarg))
				usage();
			break;
		case 'm':
			if (!find_mode(optarg, &opt.b))
				usage();
			break;
		case 'M':
			opt.mode_file = optarg;
			break;
		case 'R':
			if (!tu_parse_u64(optarg, UINT64_MAX, &opt.reset_after))
				usage();
			break;
		case 'n':
			if (!tu_parse_u64(optarg, UINT64_MAX, &opt.send_n))
				usage();
			break;
		case 'N':
			if (!tu_parse_u64(optarg, UINT64_MAX, &opt.send_seed))
				usage();
			break;
		case 'e':
			if (!tu_parse_u64(optarg, UINT64_MAX, &opt.expect_n))
				usage();
			break;
		case 'E':
			if (!tu_parse_u64(optarg, UINT64_MAX, &opt.expect_seed))
				usage();
			break;
		case 'r':
			opt.reason = optarg;
			break;
		case 't':
			if (!tu_parse_seconds(optarg, &lifetime_ms))
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind != argc || listen_arg == NULL || !tu_parse_addr(listen_arg, &addr))
		usage();

	if (log_file != NULL) {
		opt.log_fd = open(log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (opt.log_fd < 0) {
			fprintf(stderr, "rfbbackend: %s: %s\n", log_file, strerror(errno));
			return 2;
		}
	}

	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	if (pipe2(sig_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
		fprintf(stderr, "rfbbackend: pipe: %s\n", strerror(errno));
		return 2;
	}
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	lfd = socket(addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		fprintf(stderr, "rfbbackend: socket: %s\n", strerror(errno));
		return 2;
	}
	if (addr.ss.ss_family == AF_UNIX) {
		struct stat st;
		const char *path = ((struct sockaddr_un *)&addr.ss)->sun_path;

		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(path);
	} else {
		int one = 1;

		setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	}
	if (bind(lfd, (struct sockaddr *)&addr.ss, addr.len) != 0 || listen(lfd, 128) != 0) {
		fprintf(stderr, "rfbbackend: %s: %s\n", listen_arg, strerror(errno));
		return 2;
	}

	struct tu_addr bound;
	char line[160];

	bound.len = sizeof(bound.ss);
	if (getsockname(lfd, (struct sockaddr *)&bound.ss, &bound.len) != 0 ||
	    !tu_format_addr((struct sockaddr *)&bound.ss, bound.len, line, sizeof(line) - 1)) {
		fprintf(stderr, "rfbbackend: getsockname: %s\n", strerror(errno));
		return 2;
	}
	strcat(line, "\n");
	if (ports_file != NULL && !tu_write_file_atomic(ports_file, line)) {
		fprintf(stderr, "rfbbackend: %s: %s\n", ports_file, strerror(errno));
		return 2;
	}

	int64_t end_ms = tu_now_ms() + lifetime_ms;
	bool running = true;

	while (running) {
		if (pfds_cap < nconns + 2) {
			pfds_cap = (nconns + 2) * 2;
			pfds = realloc(pfds, pfds_cap * sizeof(*pfds));
			if (pfds == NULL) {
				fprintf(stderr, "rfbbackend: out of memory\n");
				return 2;
			}
		}
		int64_t wake = end_ms;

		pfds[0] = (struct pollfd){ .fd = sig_pipe[0], .events = POLLIN };
		pfds[1] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (size_t i = 0; i < nconns; i++) {
			pfds[i + 2] = (struct pollfd){ .fd = conns[i]->fd, .events = conn_events(conns[i]) };
			if (conns[i]->deadline_ms != 0 && conns[i]->deadline_ms < wake)
				wake = conns[i]->deadline_ms;
		}
		size_t npoll = nconns;
		int r = poll(pfds, npoll + 2, tu_poll_timeout(wake));

		if (r < 0 && errno != EINTR) {
			fprintf(stderr, "rfbbackend: poll: %s\n", strerror(errno));
			return 2;
		}
		if (r > 0 && pfds[0].revents != 0)
			running = false;
		if (tu_now_ms() >= end_ms) {
			fprintf(stderr, "rfbbackend: lifetime expired, exiting\n");
			running = false;
		}
		if (!running)
			break;

		/*
		 * Walk backwards: conn_close() moves the last connection into the
		 * freed slot, which has been visited already.
		 */
		int64_t now = tu_now_ms();

		for (size_t k = npoll; k-- > 0;) {
			short rev = r > 0 ? pfds[k + 2].revents : 0;

			if (rev != 0 && !conn_io(k, rev))
				continue;
			if (conns[k]->deadline_ms != 0 && now >= conns[k]->deadline_ms)
				conn_close(k);
		}
		if (r > 0 && pfds[1].revents != 0)
			conn_accept(lfd, &next_id);
	}

	while (nconns > 0)
		conn_close(nconns - 1);
	free(conns);
	free(pfds);
	close(lfd);
	if (addr.ss.ss_family == AF_UNIX)
		unlink(((struct sockaddr_un *)&addr.ss)->sun_path);
	close(sig_pipe[0]);
	close(sig_pipe[1]);
	if (log_file != NULL)
		close(opt.log_fd);
	return 0;
}
