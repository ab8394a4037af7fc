/*
 * testutil.h - helpers shared by the end-to-end test peers (rfbbackend,
 * vtclient): a deterministic byte stream, address parsing, atomic file
 * writes and deadline-bounded I/O on non-blocking sockets.
 *
 * The peers are standalone programs: nothing here depends on the daemon.
 */
#ifndef VENCRYPTD_TESTUTIL_H
#define VENCRYPTD_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * Deterministic byte stream (splitmix64, one step per byte). Byte i of the
 * stream for seed S is the same whatever the chunking of the calls, so a
 * sender and a verifier only have to agree on the seed.
 */
void prng_init(uint64_t *state, uint64_t seed);
void prng_fill(uint64_t *state, uint8_t *buf, size_t n);

/*
 * Compare buf against the next n bytes of the stream. Returns n when all
 * match, else the index of the first mismatch; the state then stands just
 * past the compared bytes in both cases.
 */
size_t prng_verify(uint64_t *state, const uint8_t *buf, size_t n);

/* Monotonic clock in milliseconds, and what is left of a deadline for poll(). */
int64_t tu_now_ms(void);
int tu_poll_timeout(int64_t deadline_ms);

/* "127.0.0.1:PORT", "[::1]:PORT" or "unix:/path" (numeric only, no DNS). */
struct tu_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};
bool tu_parse_addr(const char *text, struct tu_addr *out);
/* The inverse of tu_parse_addr(): "127.0.0.1:5900", "[::1]:5900", "unix:/p". */
bool tu_format_addr(const struct sockaddr *sa, socklen_t len, char *buf, size_t size);

/* Parse a non-negative decimal number, all of the text, at most max. */
bool tu_parse_u64(const char *text, uint64_t max, uint64_t *out);
/* Parse seconds, fractions allowed ("0.5"), into milliseconds. */
bool tu_parse_seconds(const char *text, int64_t *out_ms);

bool tu_set_nonblock(int fd);

/*
 * Write path.tmp with the text, then rename it over path, so a reader
 * polling for path never sees it half written.
 */
bool tu_write_file_atomic(const char *path, const char *text);

/* Outcome of a deadline-bounded I/O helper. errno is kept for TU_IO_ERROR. */
enum tu_io {
	TU_IO_OK,      /* everything was transferred */
	TU_IO_EOF,     /* the peer closed (or reset) before the end */
	TU_IO_TIMEOUT, /* the deadline passed first */
	TU_IO_ERROR    /* a socket error, see errno */
};

/*
 * Non-blocking connect to addr, waiting until the deadline. Returns a
 * non-blocking fd, or -1 with errno set (ETIMEDOUT at the deadline).
 */
int tu_connect(const struct tu_addr *addr, int64_t deadline_ms);
/* The same from the source address from (port 0: any), when not NULL. */
int tu_connect_from(const struct tu_addr *addr, const struct tu_addr *from,
    int64_t deadline_ms);

/* Read exactly n bytes; *got (may be NULL) says how many arrived. */
enum tu_io tu_read_full(int fd, void *buf, size_t n, int64_t deadline_ms, size_t *got);
/* Write exactly n bytes (MSG_NOSIGNAL on sockets). */
enum tu_io tu_write_full(int fd, const void *buf, size_t n, int64_t deadline_ms);

/* Big-endian load/store. */
uint16_t tu_get16(const uint8_t *p);
uint32_t tu_get32(const uint8_t *p);
void tu_put16(uint8_t *p, uint16_t v);
void tu_put32(uint8_t *p, uint32_t v);

#endif
