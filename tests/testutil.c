/*
 * testutil.c - helpers shared by the end-to-end test peers.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* ---- deterministic stream ------------------------------------------------ */

void
prng_init(uint64_t *state, uint64_t seed)
{
	*state = seed;
}

static uint8_t
prng_byte(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	z ^= z >> 31;
	return (uint8_t)(z >> 56);
}

void
prng_fill(uint64_t *state, uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = prng_byte(state);
}

size_t
prng_verify(uint64_t *state, const uint8_t *buf, size_t n)
{
	size_t bad = n;

	for (size_t i = 0; i < n; i++) {
		if (prng_byte(state) != buf[i] && bad == n)
			bad = i;
	}
	return bad;
}

/* ---- time ---------------------------------------------------------------- */

int64_t
tu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
tu_poll_timeout(int64_t deadline_ms)
{
	int64_t left = deadline_ms - tu_now_ms();

	if (left <= 0)
		return 0;
	if (left > INT_MAX)
		return INT_MAX;
	return (int)left;
}

/* ---- parsing ------------------------------------------------------------- */

bool
tu_parse_u64(const char *text, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (text == NULL || *text == '\0')
		return false;
	for (const char *p = text; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return false;
		unsigned d = (unsigned)(*p - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

bool
tu_parse_seconds(const char *text, int64_t *out_ms)
{
	char *end = NULL;
	double v;

	if (text == NULL || *text == '\0')
		return false;
	errno = 0;
	v = strtod(text, &end);
	if (errno != 0 || *end != '\0' || !(v >= 0) || v > 1e7)
		return false;
	*out_ms = (int64_t)(v * 1000.0 + 0.5);
	return true;
}

bool
tu_parse_addr(const char *text, struct tu_addr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port;
	size_t hlen;
	uint64_t pnum;

	memset(out, 0, sizeof(*out));
	if (strncmp(text, "unix:", 5) == 0) {
		struct sockaddr_un *su = (struct sockaddr_un *)&out->ss;
		size_t plen = strlen(text + 5);

		if (plen == 0 || plen >= sizeof(su->sun_path))
			return false;
		su->sun_family = AF_UNIX;
		memcpy(su->sun_path, text + 5, plen + 1);
		out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + 1);
		return true;
	}
	if (text[0] == '[') {
		const char *rb = strchr(text, ']');

		if (rb == NULL || rb[1] != ':')
			return false;
		hlen = (size_t)(rb - text - 1);
		if (hlen == 0 || hlen >= sizeof(host))
			return false;
		memcpy(host, text + 1, hlen);
		host[hlen] = '\0';
		port = rb + 2;
	} else {
		const char *colon = strrchr(text, ':');

		if (colon == NULL)
			return false;
		hlen = (size_t)(colon - text);
		if (hlen == 0 || hlen >= sizeof(host))
			return false;
		memcpy(host, text, hlen);
		host[hlen] = '\0';
		port = colon + 1;
	}
	if (!tu_parse_u64(port, 65535, &pnum))
		return false;

	struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;

	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)pnum);
		out->len = sizeof(*sin);
		return true;
	}
	memset(&out->ss, 0, sizeof(out->ss));
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)pnum);
		out->len = sizeof(*sin6);
		return true;
	}
	return false;
}

bool
tu_format_addr(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];
	int n;

	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		if (inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host)) == NULL)
			return false;
		n = snprintf(buf, size, "%s:%u", host, (unsigned)ntohs(sin->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		if (inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host)) == NULL)
			return false;
		n = snprintf(buf, size, "[%s]:%u", host, (unsigned)ntohs(sin6->sin6_port));
		break;
	}
	case AF_UNIX: {
		const struct sockaddr_un *su = (const struct sockaddr_un *)sa;
		size_t off = offsetof(struct sockaddr_un, sun_path);
		size_t plen = len > off ? strnlen(su->sun_path, (size_t)len - off) : 0;

		n = snprintf(buf, size, "unix:%.*s", (int)plen, su->sun_path);
		break;
	}
	default:
		return false;
	}
	return n > 0 && (size_t)n < size;
}

/* ---- files and sockets ------------------------------------------------------ */

bool
tu_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

bool
tu_write_file_atomic(const char *path, const char *text)
{
	size_t plen = strlen(path);
	char *tmp = malloc(plen + 5);
	size_t len = strlen(text);
	bool ok = false;
	int fd;

	if (tmp == NULL)
		return false;
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".tmp", 5);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto out;
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			unlink(tmp);
			goto out;
		}
		off += (size_t)w;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		goto out;
	}
	ok = true;
out:
	free(tmp);
	return ok;
}

int
tu_connect(const struct tu_addr *addr, int64_t deadline_ms)
{
	return tu_connect_from(addr, NULL, deadline_ms);
}

int
tu_connect_from(const struct tu_addr *addr, const struct tu_addr *from,
    int64_t deadline_ms)
{
	int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int err = 0;
	socklen_t elen = sizeof(err);

	if (fd < 0)
		return -1;
	if (from != NULL && bind(fd, (const struct sockaddr *)&from->ss, from->len) != 0)
		goto fail;
	if (connect(fd, (const struct sockaddr *)&addr->ss, addr->len) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EAGAIN)
		goto fail;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		int r = poll(&pfd, 1, tu_poll_timeout(deadline_ms));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		break;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
		goto fail;
	if (err != 0) {
		errno = err;
		goto fail;
	}
	return fd;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

static enum tu_io
tu_wait(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int r = poll(&pfd, 1, tu_poll_timeout(deadline_ms));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return TU_IO_ERROR;
		if (r == 0)
			return TU_IO_TIMEOUT;
		return TU_IO_OK;
	}
}

enum tu_io
tu_read_full(int fd, void *buf, size_t n, int64_t deadline_ms, size_t *got)
{
	uint8_t *p = buf;
	size_t off = 0;
	enum tu_io res = TU_IO_OK;

	while (off < n) {
		ssize_t r = read(fd, p + off, n - off);

		if (r > 0) {
			off += (size_t)r;
			continue;
		}
		if (r == 0) {
			res = TU_IO_EOF;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno == ECONNRESET) {
			res = TU_IO_EOF;
			break;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			res = TU_IO_ERROR;
			break;
		}
		res = tu_wait(fd, POLLIN, deadline_ms);
		if (res != TU_IO_OK)
			break;
	}
	if (got != NULL)
		*got = off;
	return res;
}

enum tu_io
tu_write_full(int fd, const void *buf, size_t n, int64_t deadline_ms)
{
	const uint8_t *p = buf;
	size_t off = 0;

	while (off < n) {
		ssize_t w = send(fd, p + off, n - off, MSG_NOSIGNAL);

		if (w < 0 && errno == ENOTSOCK)
			w = write(fd, p + off, n - off);
		if (w >= 0) {
			off += (size_t)w;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EPIPE || errno == ECONNRESET)
			return TU_IO_EOF;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return TU_IO_ERROR;
		enum tu_io res = tu_wait(fd, POLLOUT, deadline_ms);
		if (res != TU_IO_OK)
			return res;
	}
	return TU_IO_OK;
}

/* ---- big-endian ---------------------------------------------------------- */

uint16_t
tu_get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

uint32_t
tu_get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

void
tu_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void
tu_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
