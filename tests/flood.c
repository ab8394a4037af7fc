/*
 * flood - many half-open connections to vencryptd, for the fault tests.
 *
 * It opens --count connections, waits on each for the server's RFB
 * version, then sends part of a greeting (--greeting none: nothing;
 * mixed: by turns nothing, half a version, the version and VeNCrypt up to
 * half its version, or everything up to the first bytes of a TLS record)
 * and never more.  It reads and discards what comes, and notes when the
 * server closes each connection.  Progress goes to stdout, one line per
 * change ("greeted N", "closed N", at most every 100 ms), then a summary:
 *
 *   done count=2000 greeted=2000 closed=2000 first=10.012 last=10.873
 *
 * (first and last: the seconds from a connection's connect to its close).
 *
 * Exit status: 0 when the server closed every connection, 1 when the
 * --timeout came first or a connection failed, 2 on a usage or internal
 * error.  Killing it closes whatever is still open.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

#define EXIT_TIMEOUT 1
#define EXIT_INTERNAL 2
#define REPORT_MS 100
#define FD_SPARE 16

enum conn_state {
	FL_VERSION,    /* connected, waiting for the server's 12 bytes */
	FL_HOLD,       /* greeting sent; reading and discarding */
	FL_CLOSED      /* the server closed it (fd closed) */
};

struct conn {
	int fd;
	enum conn_state state;
	size_t got;            /* of the server's version */
	int64_t connected_ms;
};

/* What connection i sends once greeted (with --greeting mixed). */
static const struct {
	const char *bytes;
	size_t len;
} greetings[] = {
	{ "", 0 },                                   /* nothing */
	{ "RFB 003.0", 9 },                          /* half a version */
	{ "RFB 003.008\n\x13\x00", 14 },             /* version, VeNCrypt, half of 0.2 */
	/* version, VeNCrypt, 0.2, X509None, a TLS record header cut short */
	{ "RFB 003.008\n\x13\x00\x02\x00\x00\x01\x04\x16\x03\x01", 22 },
};

static struct {
	const char *connect;
	uint64_t count;
	bool mixed;
	int64_t timeout_ms;
} opt = { .count = 100, .timeout_ms = 60000 };

static void
usage(void)
{
	fprintf(stderr,
	    "usage: flood --connect ADDR [--count N] [--greeting none|mixed] [--timeout SEC]\n"
	    "  ADDR: 127.0.0.1:PORT, [::1]:PORT or unix:/path\n");
	exit(EXIT_INTERNAL);
}

static void
parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "count", required_argument, NULL, 'n' },
		{ "greeting", required_argument, NULL, 'g' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			opt.connect = optarg;
			break;
		case 'n':
			if (!tu_parse_u64(optarg, 1000000, &opt.count) || opt.count == 0)
				usage();
			break;
		case 'g':
			if (strcmp(optarg, "mixed") == 0)
				opt.mixed = true;
			else if (strcmp(optarg, "none") != 0)
				usage();
			break;
		case 't':
			if (!tu_parse_seconds(optarg, &opt.timeout_ms))
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind != argc || opt.connect == NULL)
		usage();
}

/* Room for every connection: the soft descriptor limit up to the hard one. */
static bool
raise_fd_limit(uint64_t need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return false;
	if (rl.rlim_cur >= need)
		return true;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		fprintf(stderr, "flood: %llu descriptors needed, the hard limit is %llu\n",
		    (unsigned long long)need, (unsigned long long)rl.rlim_max);
		return false;
	}
	rl.rlim_cur = need;
	return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

/* The server closed c (or reset it): note when. */
static void
conn_closed(struct conn *c, int64_t now, double *first, double *last, uint64_t *closed)
{
	double after = (double)(now - c->connected_ms) / 1000.0;

	close(c->fd);
	c->fd = -1;
	c->state = FL_CLOSED;
	if (*closed == 0 || after < *first)
		*first = after;
	if (after > *last)
		*last = after;
	++*closed;
}

/* Read what the server sent c; false when it closed. */
static bool
conn_read(struct conn *c, size_t i, uint64_t *greeted)
{
	uint8_t buf[4096];

	for (;;) {
		ssize_t r = recv(c->fd, buf, sizeof(buf), 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (r <= 0)
			return false;
		if (c->state != FL_VERSION)
			continue;
		c->got += (size_t)r;
		if (c->got < 12)
			continue;
		/* The version is in (and perhaps more): greet, then hold. */
		size_t k = opt.mixed ? i % (sizeof(greetings) / sizeof(greetings[0])) : 0;

		c->state = FL_HOLD;
		++*greeted;
		if (greetings[k].len > 0 &&
		    send(c->fd, greetings[k].bytes, greetings[k].len, MSG_NOSIGNAL) !=
		    (ssize_t)greetings[k].len)
			return false;
	}
}

int
main(int argc, char **argv)
{
	struct tu_addr addr;
	struct conn *conns;
	struct pollfd *pfds;
	size_t *which;
	uint64_t greeted = 0, closed = 0, shown_greeted = 0, shown_closed = 0;
	double first = 0, last = 0;
	int64_t deadline, next_report;
	int rc = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	parse_args(argc, argv);
	if (!tu_parse_addr(opt.connect, &addr)) {
		fprintf(stderr, "flood: bad address '%s'\n", opt.connect);
		return EXIT_INTERNAL;
	}
	if (!raise_fd_limit(opt.count + FD_SPARE)) {
		fprintf(stderr, "flood: cannot raise the descriptor limit: %s\n", strerror(errno));
		return EXIT_INTERNAL;
	}
	conns = calloc(opt.count, sizeof(*conns));
	pfds = calloc(opt.count, sizeof(*pfds));
	which = calloc(opt.count, sizeof(*which));
	if (conns == NULL || pfds == NULL || which == NULL) {
		fprintf(stderr, "flood: out of memory\n");
		return EXIT_INTERNAL;
	}
	deadline = tu_now_ms() + opt.timeout_ms;

	/* On loopback a connect completes in the kernel at once, accepted or
	 * not, as long as the listen queue has room. */
	for (uint64_t i = 0; i < opt.count; i++) {
		conns[i].fd = tu_connect(&addr, deadline);
		if (conns[i].fd < 0) {
			printf("connect-error %llu: %s\n", (unsigned long long)i, strerror(errno));
			return EXIT_TIMEOUT;
		}
		conns[i].state = FL_VERSION;
		conns[i].connected_ms = tu_now_ms();
	}
	printf("connected %llu\n", (unsigned long long)opt.count);

	next_report = tu_now_ms() + REPORT_MS;
	while (closed < opt.count) {
		size_t n = 0;
		int64_t wake = next_report < deadline ? next_report : deadline;

		for (size_t i = 0; i < opt.count; i++) {
			if (conns[i].state == FL_CLOSED)
				continue;
			pfds[n] = (struct pollfd){ .fd = conns[i].fd, .events = POLLIN };
			which[n++] = i;
		}
		int r = poll(pfds, n, tu_poll_timeout(wake));

		if (r < 0 && errno != EINTR) {
			fprintf(stderr, "flood: poll: %s\n", strerror(errno));
			return EXIT_INTERNAL;
		}
		int64_t now = tu_now_ms();

		for (size_t k = 0; r > 0 && k < n; k++) {
			struct conn *c = &conns[which[k]];

			if (pfds[k].revents == 0)
				continue;
			if (!conn_read(c, which[k], &greeted)) {
				if (c->state == FL_VERSION) {
					printf("closed-before-version %zu\n", which[k]);
					rc = EXIT_TIMEOUT;
				}
				conn_closed(c, now, &first, &last, &closed);
			}
		}
		if (now >= next_report || closed == opt.count) {
			if (greeted != shown_greeted)
				printf("greeted %llu\n", (unsigned long long)greeted);
			if (closed != shown_closed)
				printf("closed %llu\n", (unsigned long long)closed);
			shown_greeted = greeted;
			shown_closed = closed;
			next_report = now + REPORT_MS;
		}
		if (now >= deadline && closed < opt.count) {
			rc = EXIT_TIMEOUT;
			break;
		}
	}
	printf("done count=%llu greeted=%llu closed=%llu first=%.3f last=%.3f\n",
	    (unsigned long long)opt.count, (unsigned long long)greeted,
	    (unsigned long long)closed, first, last);
	for (uint64_t i = 0; i < opt.count; i++)
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	free(conns);
	free(pfds);
	free(which);
	return rc;
}
