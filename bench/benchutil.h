/*
 * benchutil.h - what bench/backend and bench/loadgen agree on: the data
 * pattern, the bench commands, the RFB messages the backend sends, a
 * nanosecond clock and socket options.
 *
 * Address parsing, number parsing and the atomic port file come from
 * tests/testutil.h, which the test peers share.
 */
#ifndef VENCRYPTD_BENCHUTIL_H
#define VENCRYPTD_BENCHUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

/*
 * The data pattern.  Byte i of every 'D' and 'U' transfer is
 * bench_pattern()[i % BENCH_PATTERN_PERIOD]; the period is a prime, so a
 * chunk that is lost, repeated or moved does not line up with it again.
 * bench_pattern_at(i) points at byte i of a transfer with at least
 * BENCH_CHUNK_MAX valid bytes after it, so a sender writes straight from it
 * and a receiver checks with one memcmp per read.
 */
#define BENCH_PATTERN_PERIOD 1048573u   /* 2^20 - 3, a prime */
#define BENCH_CHUNK_MAX (256u * 1024u)

void bench_pattern_init(void);
void bench_pattern_free(void);
const uint8_t *bench_pattern_at(uint64_t offset);
/* n <= BENCH_CHUNK_MAX; true when buf holds bytes offset.. of the pattern. */
bool bench_pattern_matches(uint64_t offset, const uint8_t *buf, size_t n);

/* The commands a ready session sends the backend (first byte). */
#define BENCH_CMD_DOWN 'D'      /* + u64 N: the backend sends N pattern bytes */
#define BENCH_CMD_UP 'U'        /* + u64 N: N pattern bytes follow, answered by 'K' */
#define BENCH_CMD_PING 'P'      /* + 7 bytes: the 8 bytes come back */
#define BENCH_UP_ACK 'K'
#define BENCH_CMD_LEN 9         /* 'D' or 'U' and a u64 */
#define BENCH_PING_LEN 8

void bench_put64(uint8_t *p, uint64_t v);
uint64_t bench_get64(const uint8_t *p);

/* ---- RFB ------------------------------------------------------------------ */

#define BENCH_RFB_VERSION "RFB 003.008\n"
#define BENCH_SERVER_INIT_FIXED 24      /* w, h, pixel format, name length */
#define BENCH_DESKTOP_NAME "bench"

/* ServerInit as the backend sends it: 1024x768, 32 bpp true colour,
 * "bench".  Returns its length (at most 64). */
size_t bench_put_server_init(uint8_t *out);

enum bench_si {
	BENCH_SI_NEED_MORE,     /* a prefix of a ServerInit */
	BENCH_SI_OK,            /* a whole ServerInit, *used bytes long */
	BENCH_SI_TOO_LONG,      /* its name is longer than max_name */
};
enum bench_si bench_parse_server_init(const uint8_t *buf, size_t len,
    size_t max_name, size_t *used);

/* Points io at fd with the events (0: stopped), touching libev only when
 * they differ from *current, which it updates. */
void bench_watch(struct ev_loop *loop, ev_io *io, int fd, int events,
    int *current);

/* ---- system --------------------------------------------------------------- */

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t bench_now_ns(void);
/* This process's user + system CPU time so far, in seconds. */
double bench_cpu_seconds(void);
/* Disable Nagle; false with errno set on failure. */
bool bench_nodelay(int fd);
/* Raise the soft RLIMIT_NOFILE to the hard limit; returns the new soft
 * limit (0 when it cannot be read). */
uint64_t bench_raise_nofile(void);

#endif
