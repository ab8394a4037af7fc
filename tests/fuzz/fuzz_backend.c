/*
 * fuzz_backend.c - what a backend sends while vencryptd negotiates None
 * with it: the protocol version, then the 3.3 security type or the 3.7+
 * type list (each possibly a refusal with a reason), then, under 3.8, the
 * SecurityResult with its reason.
 *
 * Input: u8 n, then n split sizes (how a reader is fed), u8 cap (the
 * room given to rfb_offer_describe), then the backend's bytes; whatever
 * follows the negotiation is also used as a reason for our own writers.
 *
 * Checks, besides memory safety: short-read consistency (prefix.h); the
 * decoded offer is exactly what was sent; a reason is the length that
 * was sent, NUL-terminated and printable; our refusals parse back to the
 * reason we wrote.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "prefix.h"
#include "rfb.h"

#define MAX_SPLITS 16

/* Whether the reason is len bytes of printable ASCII and a NUL. */
static void
check_reason(const char *what, const struct rfb_reason *reason, size_t len)
{
	FUZZ_CHECK(len <= RFB_REASON_MAX, "%s: reason of %zu bytes", what, len);
	FUZZ_CHECK(reason->text[len] == '\0' && strlen(reason->text) == len,
	    "%s: reason is not %zu bytes and a NUL", what, len);
	for (size_t i = 0; i < len; i++)
		FUZZ_CHECK(reason->text[i] >= 0x20 && reason->text[i] < 0x7f,
		    "%s: byte %zu of the reason is 0x%02x", what, i,
		    (unsigned char)reason->text[i]);
}

static void
print_offer(const struct rfb_offer *offer, struct msg_result *res)
{
	size_t off = (size_t)snprintf(res->out, sizeof res->out, "none=%d:",
	    offer->has_none);

	for (size_t i = 0; i < offer->ntypes && off < sizeof res->out; i++)
		off += (size_t)snprintf(res->out + off, sizeof res->out - off,
		    " %u", offer->types[i]);
}

/* ctx: non-NULL for the 3.3 form. */
static void
parse_security(const uint8_t *buf, size_t len, const void *ctx, struct msg_result *res)
{
	struct rfb_reason reason;
	struct rfb_offer offer;

	memset(&offer, 0xa5, sizeof offer);
	if (ctx != NULL)
		res->r = rfb_parse_security_33(buf, len, &offer, &reason, &res->used);
	else
		res->r = rfb_parse_security_types(buf, len, &offer, &reason,
		    &res->used);
	if (res->r == RFB_OK) {
		print_offer(&offer, res);
	} else if (res->r == RFB_REFUSED) {
		size_t hdr = ctx != NULL ? 4 : 1;
		FUZZ_CHECK(res->used >= hdr + 4, "refusal of %zu bytes", res->used);
		check_reason("security types", &reason, res->used - hdr - 4);
		snprintf(res->out, sizeof res->out, "refused: %s", reason.text);
	}
}

/* ctx: non-NULL when a reason follows a failure (3.8). */
static void
parse_result(const uint8_t *buf, size_t len, const void *ctx, struct msg_result *res)
{
	struct rfb_reason reason;

	res->r = rfb_parse_security_result(buf, len, ctx != NULL, &reason,
	    &res->used);
	if (res->r == RFB_REFUSED) {
		check_reason("security result", &reason,
		    ctx != NULL ? res->used - 8 : 0);
		snprintf(res->out, sizeof res->out, "refused: %s", reason.text);
	}
}

/* The decoded offer against the bytes that were sent. */
static void
check_offer(int v33, const uint8_t *p, size_t len, const struct msg_result *res)
{
	struct rfb_offer offer;
	struct rfb_reason reason;
	size_t used;

	if (v33) {
		uint32_t type;
		if (len < 4)
			return;
		type = fuzz_get_u32(p);
		FUZZ_CHECK((res->r == RFB_BAD_VALUE) == (type > 255),
		    "3.3 type %u: %s", type, rfb_result_name(res->r));
		if (type == 0 || type > 255)
			return;
		FUZZ_CHECK(res->r == RFB_OK && res->used == 4, "3.3 type %u: %s",
		    type, rfb_result_name(res->r));
		(void)rfb_parse_security_33(p, len, &offer, &reason, &used);
		FUZZ_CHECK(offer.ntypes == 1 && offer.types[0] == type &&
		    offer.has_none == (type == RFB_SEC_NONE), "3.3 offer of %u",
		    type);
		return;
	}
	if (len < 1 || p[0] == 0 || len < 1 + (size_t)p[0])
		return;
	FUZZ_CHECK((res->r == RFB_BAD_VALUE) == (memchr(p + 1, 0, p[0]) != NULL),
	    "type list with%s type 0: %s", memchr(p + 1, 0, p[0]) ? "" : "out",
	    rfb_result_name(res->r));
	if (res->r != RFB_OK)
		return;
	(void)rfb_parse_security_types(p, len, &offer, &reason, &used);
	FUZZ_CHECK(used == 1 + (size_t)p[0] && offer.ntypes == p[0] &&
	    memcmp(offer.types, p + 1, p[0]) == 0 &&
	    offer.has_none == (memchr(p + 1, RFB_SEC_NONE, p[0]) != NULL),
	    "offer differs from the %u types sent", p[0]);
}

static void
check_describe(const uint8_t *p, size_t len, int v33, size_t cap)
{
	struct rfb_offer offer;
	struct rfb_reason reason;
	size_t used;
	char *out;
	enum rfb_result r = v33 ?
	    rfb_parse_security_33(p, len, &offer, &reason, &used) :
	    rfb_parse_security_types(p, len, &offer, &reason, &used);

	if (r != RFB_OK)
		return;
	/* Exact size: a write past cap is an ASan error. */
	out = malloc(cap > 0 ? cap : 1);
	FUZZ_CHECK(out != NULL, "out of memory");
	memset(out, 'x', cap > 0 ? cap : 1);
	rfb_offer_describe(&offer, out, cap);
	if (cap > 0)
		FUZZ_CHECK(memchr(out, '\0', cap) != NULL, "description not "
		    "terminated within %zu bytes", cap);
	free(out);
}

/* Our refusals, with a reason taken from the input, parse back to it. */
static void
check_refusals(const uint8_t *p, size_t len)
{
	size_t n = len < RFB_REASON_MAX + 16 ? len : RFB_REASON_MAX + 16;
	char *text = malloc(n + 1);
	struct rfb_reason expect, reason;
	uint8_t *msg;
	size_t cap, used, tlen;

	FUZZ_CHECK(text != NULL, "out of memory");
	memcpy(text, p, n);
	text[n] = '\0';
	tlen = strlen(text) < RFB_REASON_MAX ? strlen(text) : RFB_REASON_MAX;
	for (size_t i = 0; i < tlen; i++)
		expect.text[i] = text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?';
	expect.text[tlen] = '\0';

	cap = 8 + tlen;
	msg = malloc(cap);
	FUZZ_CHECK(msg != NULL, "out of memory");
	FUZZ_CHECK(rfb_put_security_failure(msg, cap - 1, text) == 0,
	    "failure written without room");
	FUZZ_CHECK(rfb_put_security_failure(msg, cap, text) == cap,
	    "failure not written");
	FUZZ_CHECK(rfb_parse_security_result(msg, cap, 1, &reason, &used) ==
	    RFB_REFUSED && used == cap && strcmp(reason.text, expect.text) == 0,
	    "our SecurityResult failure does not parse back");
	FUZZ_CHECK(rfb_put_refusal_33(msg, cap, text) == cap,
	    "3.3 refusal not written");
	{
		struct rfb_offer offer;
		FUZZ_CHECK(rfb_parse_security_33(msg, cap, &offer, &reason,
		    &used) == RFB_REFUSED && used == cap &&
		    strcmp(reason.text, expect.text) == 0,
		    "our 3.3 refusal does not parse back");
	}
	free(msg);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	uint8_t splits[MAX_SPLITS];
	size_t nsplits = fuzz_u8(&in) % (MAX_SPLITS + 1), len, cap;
	struct msg_result res;
	const uint8_t *p;
	int v33, v38;

	for (size_t i = 0; i < nsplits; i++)
		splits[i] = fuzz_u8(&in);
	cap = fuzz_u8(&in);
	p = fuzz_bytes(&in, SIZE_MAX, &len);

	msg_check("backend version", msg_parse_version, NULL, p, len, splits,
	    nsplits, &res);
	if (!msg_is_message(res.r))
		goto refusals;
	FUZZ_CHECK(strcmp(res.out, "3.3") == 0 || strcmp(res.out, "3.7") == 0 ||
	    strcmp(res.out, "3.8") == 0, "backend version as %s", res.out);
	FUZZ_CHECK((res.r == RFB_OLD_VERSION) == (strcmp(res.out, "3.3") == 0),
	    "%s is %s", res.out, rfb_result_name(res.r));
	v33 = strcmp(res.out, "3.3") == 0;
	v38 = strcmp(res.out, "3.8") == 0;
	{
		/* What we answer parses as the same version. */
		struct rfb_version v = { 3, v33 ? 3 : v38 ? 8 : 7 }, back;
		uint8_t msg[RFB_VERSION_LEN];
		size_t used;
		FUZZ_CHECK(rfb_put_version(msg, sizeof msg, &v) == sizeof msg &&
		    msg_is_message(rfb_parse_version(msg, sizeof msg, &back,
		    &used)) && back.minor == v.minor, "our answer to %s", res.out);
	}
	p += res.used, len -= res.used;

	msg_check("backend security", parse_security, v33 ? "3.3" : NULL, p,
	    len, splits, nsplits, &res);
	check_offer(v33, p, len, &res);
	check_describe(p, len, v33, cap);
	if (res.r != RFB_OK || strncmp(res.out, "none=1", 6) != 0)
		goto refusals;
	p += res.used, len -= res.used;

	if (v38) {
		struct msg_result plain;
		msg_check("backend result", parse_result, "3.8", p, len, splits,
		    nsplits, &res);
		msg_check("backend result without reason", parse_result, NULL,
		    p, len, splits, nsplits, &plain);
		if (len >= 4) {
			int zero = fuzz_get_u32(p) == 0;
			FUZZ_CHECK((res.r == RFB_OK) == zero &&
			    (plain.r == RFB_OK) == zero &&
			    (zero || plain.r == RFB_REFUSED), "result %u: %s, "
			    "without reason %s", fuzz_get_u32(p), rfb_result_name(res.r),
			    rfb_result_name(plain.r));
		}
		if (msg_is_message(res.r))
			p += res.used, len -= res.used;
	}
refusals:
	check_refusals(p, len);
	return 0;
}
