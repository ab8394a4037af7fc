/*
 * prefix.c - short-read consistency of the src/rfb.c parsers (prefix.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "prefix.h"

#define ALL_PREFIXES 64

int
msg_is_message(enum rfb_result r)
{
	return r == RFB_OK || r == RFB_OLD_VERSION || r == RFB_REFUSED;
}

void
msg_parse_version(const uint8_t *buf, size_t len, const void *ctx,
    struct msg_result *res)
{
	struct rfb_version v = { 0, 0 };

	res->r = rfb_parse_version(buf, len, &v, &res->used);
	if (msg_is_message(res->r))
		snprintf(res->out, sizeof res->out, "%u.%u", v.major, v.minor);
}

/* fn on exactly buf[0..len), in a heap block of that size. */
static void
run(msg_parser fn, const void *ctx, const uint8_t *buf, size_t len,
    struct msg_result *res)
{
	uint8_t *copy = malloc(len > 0 ? len : 1);

	FUZZ_CHECK(copy != NULL, "out of memory");
	if (len > 0)
		memcpy(copy, buf, len);
	memset(res, 0, sizeof *res);
	fn(len > 0 ? copy : copy + 1, len, ctx, res);
	free(copy);
}

struct checker {
	const char *what;
	msg_parser fn;
	const void *ctx;
	const uint8_t *buf;
	size_t len;
	const struct msg_result *whole;
	size_t first_error;     /* shortest prefix refused so far, or SIZE_MAX */
	size_t last_more;       /* longest prefix that needed more */
};

static void
check_prefix(struct checker *c, size_t p)
{
	const struct msg_result *w = c->whole;
	struct msg_result q;

	if (p > c->len)
		p = c->len;
	run(c->fn, c->ctx, c->buf, p, &q);
	if (q.r == RFB_NEED_MORE) {
		FUZZ_CHECK(q.need == 0 || q.need > p, "%s: %zu bytes in, "
		    "asks for %zu", c->what, p, q.need);
		if (msg_is_message(w->r))
			FUZZ_CHECK(q.need <= w->used, "%s: %zu bytes in, asks for "
			    "%zu of a %zu-byte message", c->what, p, q.need, w->used);
		if (p > c->last_more || c->last_more == SIZE_MAX)
			c->last_more = p;
	} else {
		FUZZ_CHECK(!msg_is_message(q.r) || (q.used > 0 && q.used <= p),
		    "%s: %zu bytes in, claims %zu", c->what, p, q.used);
		if (q.r != RFB_NEED_MORE && !msg_is_message(q.r) &&
		    p < c->first_error)
			c->first_error = p;
	}
	if (msg_is_message(w->r)) {
		if (p < w->used) {
			FUZZ_CHECK(q.r == RFB_NEED_MORE, "%s: %zu bytes of a "
			    "%zu-byte message give \"%s\"", c->what, p, w->used,
			    rfb_result_name(q.r));
		} else {
			FUZZ_CHECK(q.r == w->r && q.used == w->used &&
			    strcmp(q.out, w->out) == 0, "%s: %zu bytes give "
			    "\"%s\" (%zu, %s), the whole %zu give \"%s\" (%zu, %s)",
			    c->what, p, rfb_result_name(q.r), q.used, q.out,
			    c->len, rfb_result_name(w->r), w->used, w->out);
		}
	} else if (w->r == RFB_NEED_MORE) {
		FUZZ_CHECK(q.r == RFB_NEED_MORE, "%s: %zu bytes give \"%s\", "
		    "the whole %zu need more", c->what, p, rfb_result_name(q.r),
		    c->len);
	} else {
		FUZZ_CHECK(q.r == RFB_NEED_MORE || q.r == w->r, "%s: %zu bytes "
		    "give \"%s\", the whole %zu \"%s\"", c->what, p,
		    rfb_result_name(q.r), c->len, rfb_result_name(w->r));
	}
}

void
msg_check(const char *what, msg_parser fn, const void *ctx, const uint8_t *buf,
    size_t len, const uint8_t *splits, size_t nsplits,
    struct msg_result *whole)
{
	struct checker c = { what, fn, ctx, buf, len, whole, SIZE_MAX, SIZE_MAX };
	size_t pos = 0;

	run(fn, ctx, buf, len, whole);
	if (msg_is_message(whole->r))
		FUZZ_CHECK(whole->used > 0 && whole->used <= len, "%s: %zu bytes, "
		    "claims %zu", what, len, whole->used);
	for (size_t p = 0; p <= len && p <= ALL_PREFIXES; p++)
		check_prefix(&c, p);
	for (size_t i = 0; pos < len; i++) {
		pos += nsplits > 0 ? (size_t)splits[i % nsplits] + 1 : 1;
		check_prefix(&c, pos);
	}
	if (msg_is_message(whole->r)) {
		check_prefix(&c, whole->used - 1);
		check_prefix(&c, whole->used);
		check_prefix(&c, whole->used + 1);
	}
	/* A refusal, once given, stands: no longer prefix needed more. */
	if (c.first_error != SIZE_MAX && c.last_more != SIZE_MAX)
		FUZZ_CHECK(c.last_more < c.first_error, "%s: refused at %zu "
		    "bytes, yet needed more at %zu", what, c.first_error,
		    c.last_more);
}
