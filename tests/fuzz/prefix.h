/*
 * prefix.h - short-read consistency of the src/rfb.c parsers.
 *
 * A reader calls a parser on whatever it has received so far.  For that to
 * be safe the parser must say RFB_NEED_MORE on every strict prefix of a
 * message and then give, on any longer buffer, the same result, the same
 * length and the same fields it gives on the whole message; a bad message
 * may be refused early, but then with the same error from there on.
 * msg_check() holds a parser to that on one message, giving it every
 * prefix in a buffer of exactly that size (so a read past the end is an
 * AddressSanitizer error, not a silent read of the next message).
 */
#ifndef VENCRYPTD_FUZZ_PREFIX_H
#define VENCRYPTD_FUZZ_PREFIX_H

#include <stddef.h>
#include <stdint.h>

#include "rfb.h"

struct msg_result {
	enum rfb_result r;
	size_t used;            /* bytes used, for a result other than NEED_MORE */
	size_t need;            /* NEED_MORE: the length the parser asked for,
	                         * 0 when it does not say */
	char out[RFB_REASON_MAX + 128];  /* the parsed fields, printed */
};

/* Parses buf[0..len) into res (zeroed by the caller). */
typedef void (*msg_parser)(const uint8_t *buf, size_t len, const void *ctx,
    struct msg_result *res);

/* rfb_parse_version as a msg_parser: the version as "3.8". */
void msg_parse_version(const uint8_t *buf, size_t len, const void *ctx,
    struct msg_result *res);

/* Whether r stands for a whole message that the reader goes past. */
int msg_is_message(enum rfb_result r);

/*
 * Checks fn on the stream buf[0..len): the result on the whole buffer, and
 * the result on prefixes of it: all of them up to 64 bytes, then those a
 * reader fed in chunks of splits[] (cycled; each 1..256 bytes) would see,
 * and the ones next to the message's end.  *whole gets the result on the
 * whole buffer.
 */
void msg_check(const char *what, msg_parser fn, const void *ctx,
    const uint8_t *buf, size_t len, const uint8_t *splits, size_t nsplits,
    struct msg_result *whole);

#endif
