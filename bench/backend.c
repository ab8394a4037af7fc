/*
 * backend - the benchmark's VNC server: RFB 3.8 with security None, then
 * bench commands.  One thread, one libev loop, non-blocking sockets, any
 * number of connections.
 *
 *   bench/backend --listen ADDR:PORT [--port-file FILE]
 *
 *   --listen ADDR:PORT  numeric IPv4 or [IPv6] address; port 0 lets the
 *                       kernel pick one
 *   --port-file FILE    once listening, write the bound "ADDR:PORT" to FILE
 *                       (FILE.tmp, then renamed)
 *
 * Per connection: "RFB 003.008\n", the client's 12-byte version (3.8),
 * security types [1], the client's choice (1), SecurityResult 0, the
 * client's ClientInit, ServerInit (1024x768, 32 bpp, "bench").  Then
 * commands, each one byte and its arguments:
 *
 *   'D' u64 N   send N bytes of the pattern (bench/benchutil.h), then go
 *               on reading commands
 *   'U' u64 N   read N bytes, which must be the pattern, then send 'K'
 *   'P' 7 bytes send the 8 bytes back
 *
 * A connection ends when the client closes it; a protocol error or bytes
 * that are not the pattern end it with a line on stderr.  SIGTERM and
 * SIGINT end the program with status 0; a bad command line gives 2.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "benchutil.h"
#include "rfb.h"
#include "testutil.h"

#define READ_CHUNK (64u * 1024u)
#define WRITES_PER_WAKEUP 16
#define ACCEPT_RETRY 0.1

enum conn_phase {
	C_VERSION,      /* our version sent; reading the client's 12 bytes */
	C_CHOICE,       /* security types [None] sent; reading the choice */
	C_CLIENT_INIT,  /* SecurityResult 0 sent; reading ClientInit */
	C_COMMAND,      /* ServerInit sent or last command done; reading one */
	C_DOWN,         /* 'D': sending pattern bytes, reading nothing */
	C_UP,           /* 'U': reading and checking pattern bytes */
};

struct conn {
	ev_io io;
	int fd;
	int events;                     /* the watcher's current mask */
	enum conn_phase phase;
	uint64_t id;
	uint8_t in[16];                 /* a partial message or command */
	size_t in_len;
	uint8_t out[64];                /* a handshake message or reply */
	size_t out_off, out_len;
	uint64_t left, done;            /* bytes of the 'D' or 'U' */
	struct conn *prev, *next;
};

static struct ev_loop *loop;
static ev_io accept_io;
static ev_timer accept_retry;
static struct conn *conns;
static uint64_t next_id;
static uint8_t scratch[READ_CHUNK];     /* 'U' data, checked and dropped */

static void conn_cb(struct ev_loop *l, ev_io *w, int revents);

/* Closes c; a reason means a fault worth a line on stderr. */
__attribute__((format(printf, 2, 3)))
static void
conn_close(struct conn *c, const char *fmt, ...)
{
	if (fmt != NULL) {
		va_list ap;

		fprintf(stderr, "backend: connection %" PRIu64 ": ", c->id);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	ev_io_stop(loop, &c->io);
	close(c->fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c);
}

/* The one place the watcher's mask is derived: write while a reply or
 * 'D' data is pending, otherwise read. */
static void
conn_watch(struct conn *c)
{
	int ev = c->out_off < c->out_len || c->phase == C_DOWN ? EV_WRITE : EV_READ;

	bench_watch(loop, &c->io, c->fd, ev, &c->events);
}

static void
conn_queue(struct conn *c, const void *p, size_t n)
{
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

/* Writes what is queued; false when c was closed. */
static bool
conn_flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
		    MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return true;
			conn_close(c, "send: %s", strerror(errno));
			return false;
		}
		c->out_off += (size_t)w;
	}
	c->out_off = c->out_len = 0;
	return true;
}

static void
conn_consume(struct conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
}

/* Checks pattern bytes of a 'U'; when they are all in, queues the 'K'. */
static bool
conn_take_up(struct conn *c, const uint8_t *p, size_t n)
{
	if (!bench_pattern_matches(c->done, p, n)) {
		conn_close(c, "'U' data differs from the pattern within bytes %" PRIu64
		    "..%" PRIu64, c->done, c->done + n);
		return false;
	}
	c->done += n;
	c->left -= n;
	if (c->left == 0) {
		uint8_t k = BENCH_UP_ACK;

		conn_queue(c, &k, 1);
		c->phase = C_COMMAND;
	}
	return true;
}

/* Acts on the buffered bytes, one message at a time, while no reply is
 * pending; false when c was closed. */
static bool
conn_process(struct conn *c)
{
	static const uint8_t types[] = { 1, RFB_SEC_NONE };
	static const uint8_t sec_ok[] = { 0, 0, 0, 0 };
	struct rfb_version v;
	uint8_t si[64];
	size_t used;

	while (c->out_len == 0) {
		switch (c->phase) {
		case C_VERSION:
			if (c->in_len < RFB_VERSION_LEN)
				return true;
			if (rfb_parse_version(c->in, c->in_len, &v, &used) != RFB_OK ||
			    v.minor != 8) {
				conn_close(c, "client version is not RFB 3.8");
				return false;
			}
			conn_consume(c, used);
			conn_queue(c, types, sizeof(types));
			c->phase = C_CHOICE;
			break;
		case C_CHOICE:
			if (c->in_len < 1)
				return true;
			if (c->in[0] != RFB_SEC_NONE) {
				conn_close(c, "client chose security type %u, not None",
				    c->in[0]);
				return false;
			}
			conn_consume(c, 1);
			conn_queue(c, sec_ok, sizeof(sec_ok));
			c->phase = C_CLIENT_INIT;
			break;
		case C_CLIENT_INIT:
			if (c->in_len < 1)
				return true;
			conn_consume(c, 1);
			conn_queue(c, si, bench_put_server_init(si));
			c->phase = C_COMMAND;
			break;
		case C_COMMAND:
			if (c->in_len < 1)
				return true;
			if (c->in[0] == BENCH_CMD_PING) {
				if (c->in_len < BENCH_PING_LEN)
					return true;
				conn_queue(c, c->in, BENCH_PING_LEN);
				conn_consume(c, BENCH_PING_LEN);
				break;
			}
			if (c->in[0] != BENCH_CMD_DOWN && c->in[0] != BENCH_CMD_UP) {
				conn_close(c, "bad command byte 0x%02x", c->in[0]);
				return false;
			}
			if (c->in_len < BENCH_CMD_LEN)
				return true;
			c->left = bench_get64(c->in + 1);
			c->done = 0;
			c->phase = c->in[0] == BENCH_CMD_DOWN ? C_DOWN : C_UP;
			conn_consume(c, BENCH_CMD_LEN);
			if (c->phase == C_DOWN) {
				if (c->left > 0)
					return true;        /* the writes go on in conn_cb */
				c->phase = C_COMMAND;
			} else if (c->left == 0) {
				uint8_t k = BENCH_UP_ACK;

				conn_queue(c, &k, 1);
				c->phase = C_COMMAND;
			}
			break;
		case C_DOWN:
			return true;
		case C_UP: {
			size_t n = c->in_len < c->left ? c->in_len : (size_t)c->left;

			if (n == 0)
				return true;
			if (!conn_take_up(c, c->in, n))
				return false;
			conn_consume(c, n);
			break;
		}
		}
		if (!conn_flush(c))
			return false;
	}
	return true;
}

/* One readable event; false when c was closed. */
static bool
conn_read(struct conn *c)
{
	ssize_t r;

	if (c->phase == C_UP && c->in_len == 0) {
		size_t want = c->left < READ_CHUNK ? (size_t)c->left : READ_CHUNK;

		r = recv(c->fd, scratch, want, 0);
		if (r > 0)
			return conn_take_up(c, scratch, (size_t)r) && conn_flush(c) &&
			    conn_process(c);
	} else {
		r = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
		if (r > 0) {
			c->in_len += (size_t)r;
			return conn_process(c);
		}
	}
	if (r == 0) {
		if (c->phase == C_UP)
			conn_close(c, "client closed %" PRIu64 " bytes short of a 'U'",
			    c->left);
		else
			conn_close(c, NULL);
		return false;
	}
	if (errno == EAGAIN || errno == EINTR)
		return true;
	if (errno == ECONNRESET)
		conn_close(c, NULL);
	else
		conn_close(c, "recv: %s", strerror(errno));
	return false;
}

/* Sends 'D' data until the socket is full or the command is done. */
static bool
conn_write_down(struct conn *c)
{
	for (int i = 0; i < WRITES_PER_WAKEUP && c->left > 0; i++) {
		size_t n = c->left < BENCH_CHUNK_MAX ? (size_t)c->left : BENCH_CHUNK_MAX;
		ssize_t w = send(c->fd, bench_pattern_at(c->done), n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return true;
			if (errno == EPIPE || errno == ECONNRESET)
				conn_close(c, NULL);
			else
				conn_close(c, "send: %s", strerror(errno));
			return false;
		}
		c->done += (uint64_t)w;
		c->left -= (uint64_t)w;
		if ((size_t)w < n)
			return true;
	}
	if (c->left > 0)
		return true;
	c->phase = C_COMMAND;
	return conn_process(c);
}

static void
conn_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct conn *c = (struct conn *)w;

	if (revents & EV_WRITE) {
		if (!conn_flush(c))
			return;
		if (c->out_len == 0 && !conn_process(c))
			return;
		if (c->phase == C_DOWN && c->out_len == 0 && !conn_write_down(c))
			return;
	}
	if ((revents & EV_READ) && !conn_read(c))
		return;
	conn_watch(c);
}

static void
conn_new(int fd)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		fprintf(stderr, "backend: out of memory\n");
		close(fd);
		return;
	}
	c->fd = fd;
	c->id = ++next_id;
	c->phase = C_VERSION;
	c->next = conns;
	if (conns != NULL)
		conns->prev = c;
	conns = c;
	(void)bench_nodelay(fd);
	ev_io_init(&c->io, conn_cb, fd, 0);
	conn_queue(c, BENCH_RFB_VERSION, RFB_VERSION_LEN);
	if (!conn_flush(c))
		return;
	conn_watch(c);
}

static void
accept_cb(struct ev_loop *l, ev_io *w, int revents)
{
	for (;;) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			conn_new(fd);
			continue;
		}
		if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
			return;
		/* Out of descriptors or memory: pause accepting rather than spin. */
		fprintf(stderr, "backend: accept: %s; pausing %.1f s\n", strerror(errno),
		    ACCEPT_RETRY);
		ev_io_stop(l, w);
		ev_timer_set(&accept_retry, ACCEPT_RETRY, 0);
		ev_timer_start(l, &accept_retry);
		return;
	}
}

static void
accept_retry_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	ev_io_start(l, &accept_io);
}

static void
stop_cb(struct ev_loop *l, ev_signal *w, int revents)
{
	ev_break(l, EVBREAK_ALL);
}

static int
listen_on(const char *text, char *bound, size_t bound_len)
{
	struct tu_addr addr;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int one = 1, fd;

	if (!tu_parse_addr(text, &addr) || addr.ss.ss_family == AF_UNIX) {
		fprintf(stderr, "backend: --listen %s: not a numeric ADDR:PORT\n", text);
		return -1;
	}
	fd = socket(addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "backend: socket: %s\n", strerror(errno));
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&addr.ss, addr.len) != 0 ||
	    listen(fd, 4096) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0 ||
	    !tu_format_addr((struct sockaddr *)&ss, sl, bound, bound_len)) {
		fprintf(stderr, "backend: listen on %s: %s\n", text, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void
usage(void)
{
	fprintf(stderr, "usage: backend --listen ADDR:PORT [--port-file FILE]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "port-file", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen_arg = NULL, *port_file = NULL;
	char bound[128], line[160];
	ev_signal sigterm, sigint;
	int ch, fd;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l': listen_arg = optarg; break;
		case 'p': port_file = optarg; break;
		default: usage();
		}
	}
	if (listen_arg == NULL || optind != argc)
		usage();
	signal(SIGPIPE, SIG_IGN);
	(void)bench_raise_nofile();
	bench_pattern_init();
	if ((fd = listen_on(listen_arg, bound, sizeof(bound))) < 0)
		return 1;
	snprintf(line, sizeof(line), "%s\n", bound);
	if (port_file != NULL && !tu_write_file_atomic(port_file, line)) {
		fprintf(stderr, "backend: %s: %s\n", port_file, strerror(errno));
		close(fd);
		return 1;
	}

	loop = ev_default_loop(EVFLAG_AUTO);
	ev_io_init(&accept_io, accept_cb, fd, EV_READ);
	ev_io_start(loop, &accept_io);
	ev_init(&accept_retry, accept_retry_cb);
	ev_signal_init(&sigterm, stop_cb, SIGTERM);
	ev_signal_start(loop, &sigterm);
	ev_signal_init(&sigint, stop_cb, SIGINT);
	ev_signal_start(loop, &sigint);
	ev_run(loop, 0);

	while (conns != NULL)
		conn_close(conns, NULL);
	close(fd);
	ev_loop_destroy(loop);
	bench_pattern_free();
	return 0;
}
