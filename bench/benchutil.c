/*
 * benchutil.c - the pattern, the bench commands and the RFB messages
 * bench/backend and bench/loadgen share.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "benchutil.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

/* The period, then its first BENCH_CHUNK_MAX bytes again. */
static uint8_t *pattern;

void
bench_pattern_init(void)
{
	size_t len = (size_t)BENCH_PATTERN_PERIOD + BENCH_CHUNK_MAX;
	uint64_t x = UINT64_C(0x76656e6372797074);

	if (pattern != NULL)
		return;
	pattern = malloc(len);
	if (pattern == NULL) {
		perror("pattern");
		exit(2);
	}
	for (size_t i = 0; i < BENCH_PATTERN_PERIOD; i++) {
		uint64_t z = (x += UINT64_C(0x9e3779b97f4a7c15));

		z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
		z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
		pattern[i] = (uint8_t)((z ^ (z >> 31)) >> 56);
	}
	memcpy(pattern + BENCH_PATTERN_PERIOD, pattern, BENCH_CHUNK_MAX);
}

void
bench_pattern_free(void)
{
	free(pattern);
	pattern = NULL;
}

const uint8_t *
bench_pattern_at(uint64_t offset)
{
	return pattern + offset % BENCH_PATTERN_PERIOD;
}

bool
bench_pattern_matches(uint64_t offset, const uint8_t *buf, size_t n)
{
	return memcmp(buf, bench_pattern_at(offset), n) == 0;
}

void
bench_put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

uint64_t
bench_get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

size_t
bench_put_server_init(uint8_t *out)
{
	static const uint8_t fixed[BENCH_SERVER_INIT_FIXED] = {
		0x04, 0x00,             /* width 1024 */
		0x03, 0x00,             /* height 768 */
		32,                     /* bits per pixel */
		24,                     /* depth */
		0,                      /* big-endian flag */
		1,                      /* true colour */
		0x00, 0xff,             /* red max */
		0x00, 0xff,             /* green max */
		0x00, 0xff,             /* blue max */
		16, 8, 0,               /* red, green, blue shift */
		0, 0, 0,                /* padding */
		0, 0, 0, sizeof(BENCH_DESKTOP_NAME) - 1, /* name length */
	};

	memcpy(out, fixed, sizeof(fixed));
	memcpy(out + sizeof(fixed), BENCH_DESKTOP_NAME, sizeof(BENCH_DESKTOP_NAME) - 1);
	return sizeof(fixed) + sizeof(BENCH_DESKTOP_NAME) - 1;
}

enum bench_si
bench_parse_server_init(const uint8_t *buf, size_t len, size_t max_name,
    size_t *used)
{
	uint32_t name_len;

	if (len < BENCH_SERVER_INIT_FIXED)
		return BENCH_SI_NEED_MORE;
	name_len = (uint32_t)buf[20] << 24 | (uint32_t)buf[21] << 16 |
	    (uint32_t)buf[22] << 8 | buf[23];
	if (name_len > max_name)
		return BENCH_SI_TOO_LONG;
	if (len < BENCH_SERVER_INIT_FIXED + (size_t)name_len)
		return BENCH_SI_NEED_MORE;
	*used = BENCH_SERVER_INIT_FIXED + (size_t)name_len;
	return BENCH_SI_OK;
}

void
bench_watch(struct ev_loop *loop, ev_io *io, int fd, int events, int *current)
{
	if (events == *current)
		return;
	ev_io_stop(loop, io);
	if (events != 0) {
		ev_io_set(io, fd, events);
		ev_io_start(loop, io);
	}
	*current = events;
}

int64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double
bench_cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

bool
bench_nodelay(int fd)
{
	int one = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0;
}

uint64_t
bench_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	return (uint64_t)rl.rlim_cur;
}
