/*
 * fuzz_client.c - the client side of the handshake, as vencryptd parses
 * it: protocol version, security type, VeNCrypt version, subtype, then
 * the X509Plain credentials, in that order, each parsed from the bytes
 * left by the one before.
 *
 * Input: u8 n, then n split sizes (how a reader is fed), u8 k, then k
 * offered subtypes (one byte each, an index into a table), then the
 * client's bytes.
 *
 * Checks, besides memory safety: every parser is consistent on short
 * reads (prefix.h); what a parser accepts is what the protocol allows
 * (only VeNCrypt, only 0.2, only an offered subtype, credentials within
 * their limits and without NUL); what our writers produce parses back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "prefix.h"
#include "rfb.h"

#define MAX_SPLITS 16
#define MAX_OFFERED 8

static const uint32_t subtype_table[] = {
	VENCRYPT_X509NONE, VENCRYPT_X509PLAIN, VENCRYPT_PLAIN,
	VENCRYPT_TLSNONE, VENCRYPT_TLSPLAIN, VENCRYPT_X509VNC, 263,
	0xffffffffu,
};

struct offered {
	uint32_t list[MAX_OFFERED];
	size_t n;
};

static void
parse_choice(const uint8_t *buf, size_t len, const void *ctx, struct msg_result *res)
{
	uint8_t choice = 0;

	res->r = rfb_parse_security_choice(buf, len, &choice, &res->used);
	snprintf(res->out, sizeof res->out, "%u", choice);
}

static void
parse_vencrypt_version(const uint8_t *buf, size_t len, const void *ctx,
    struct msg_result *res)
{
	struct rfb_version v = { 0, 0 };

	res->r = vencrypt_parse_version(buf, len, &v, &res->used);
	snprintf(res->out, sizeof res->out, "%u.%u", v.major, v.minor);
}

static void
parse_subtype(const uint8_t *buf, size_t len, const void *ctx, struct msg_result *res)
{
	const struct offered *o = ctx;
	uint32_t choice = 0;

	res->r = vencrypt_parse_subtype(buf, len, o->list, o->n, &choice,
	    &res->used);
	snprintf(res->out, sizeof res->out, "%u", choice);
}

static void
parse_plain(const uint8_t *buf, size_t len, const void *ctx, struct msg_result *res)
{
	struct vencrypt_plain p;
	size_t used = 0;

	memset(&p, 0, sizeof p);
	res->r = vencrypt_parse_plain(buf, len, &p, &used);
	if (res->r == RFB_NEED_MORE) {
		res->need = used;
		return;
	}
	res->used = used;
	if (res->r != RFB_OK)
		return;
	/* The fields must lie inside the message, after the two lengths. */
	FUZZ_CHECK(p.user == buf + 8 && p.password == p.user + p.ulen &&
	    8 + p.ulen + p.plen == used, "credentials outside the message");
	snprintf(res->out, sizeof res->out, "user %zu+%zu password %zu+%zu",
	    (size_t)(p.user - buf), p.ulen, (size_t)(p.password - buf), p.plen);
}

/* Our writers: exact-size buffers, so a write past cap is an ASan error. */
static void
check_writers(const struct offered *o, size_t cap)
{
	uint8_t *out = malloc(cap > 0 ? cap : 1);
	struct rfb_version v = { 3, 8 }, back;
	size_t n, used;

	FUZZ_CHECK(out != NULL, "out of memory");
	n = rfb_put_version(out, cap, &v);
	FUZZ_CHECK(n == 0 || (n == RFB_VERSION_LEN &&
	    rfb_parse_version(out, n, &back, &used) == RFB_OK &&
	    back.minor == 8), "our version does not parse back");
	FUZZ_CHECK(n != 0 || cap < RFB_VERSION_LEN, "version refused with room");
	n = rfb_put_security_types(out, cap);
	FUZZ_CHECK(n == 0 || (n == 2 && out[0] == 1 && out[1] == RFB_SEC_VENCRYPT),
	    "security types");
	n = vencrypt_put_version(out, cap);
	FUZZ_CHECK(n == 0 || (n == 2 && out[0] == 0 && out[1] == 2),
	    "VeNCrypt version");
	n = vencrypt_put_subtypes(out, cap, o->list, o->n);
	FUZZ_CHECK(n == 0 || n == 1 + 4 * o->n, "subtype list length");
	FUZZ_CHECK(n != 0 || cap < 1 + 4 * o->n, "subtype list refused with room");
	if (n > 0) {
		FUZZ_CHECK(out[0] == o->n, "subtype count");
		for (size_t i = 0; i < o->n; i++) {
			uint32_t choice;
			FUZZ_CHECK(fuzz_get_u32(out + 1 + 4 * i) == o->list[i],
			    "subtype %zu", i);
			FUZZ_CHECK(vencrypt_parse_subtype(out + 1 + 4 * i, 4,
			    o->list, o->n, &choice, &used) == RFB_OK &&
			    choice == o->list[i], "offered subtype refused");
		}
	}
	n = vencrypt_put_subtype_ack(out, cap, 1);
	FUZZ_CHECK(n == 0 || out[0] == 1, "subtype ack");
	n = vencrypt_put_version_status(out, cap, 0);
	FUZZ_CHECK(n == 0 || out[0] == 0xff, "version refusal");
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	uint8_t splits[MAX_SPLITS];
	size_t nsplits = fuzz_u8(&in) % (MAX_SPLITS + 1), len;
	struct offered o = { { 0 }, 0 };
	struct msg_result res;
	const uint8_t *p;
	uint32_t subtype;

	for (size_t i = 0; i < nsplits; i++)
		splits[i] = fuzz_u8(&in);
	o.n = fuzz_u8(&in) % (MAX_OFFERED + 1);
	for (size_t i = 0; i < o.n; i++)
		o.list[i] = subtype_table[fuzz_u8(&in) %
		    (sizeof subtype_table / sizeof subtype_table[0])];
	check_writers(&o, nsplits > 0 ? splits[0] % 48 : 0);
	for (size_t i = 0; i < o.n; i++) {
		const char *name = vencrypt_subtype_name(o.list[i]);
		FUZZ_CHECK(strcmp(name, "unknown") == 0 ||
		    vencrypt_subtype_from_name(name) == o.list[i],
		    "subtype %u named %s", o.list[i], name);
	}

	p = fuzz_bytes(&in, SIZE_MAX, &len);

	/* RFB ProtocolVersion: only 3.7 and later go on. */
	msg_check("version", msg_parse_version, NULL, p, len, splits, nsplits, &res);
	if (res.r == RFB_OLD_VERSION)
		FUZZ_CHECK(strcmp(res.out, "3.3") == 0, "old version is %s", res.out);
	if (res.r != RFB_OK)
		return 0;
	FUZZ_CHECK(strcmp(res.out, "3.7") == 0 || strcmp(res.out, "3.8") == 0,
	    "version accepted as %s", res.out);
	p += res.used, len -= res.used;

	/* Security type: VeNCrypt only. */
	msg_check("security type", parse_choice, NULL, p, len, splits, nsplits,
	    &res);
	if (res.r != RFB_OK)
		return 0;
	FUZZ_CHECK(p[0] == RFB_SEC_VENCRYPT, "security type %u accepted", p[0]);
	p += res.used, len -= res.used;

	/* VeNCrypt version: 0.2 only. */
	msg_check("VeNCrypt version", parse_vencrypt_version, NULL, p, len,
	    splits, nsplits, &res);
	if (res.r != RFB_OK)
		return 0;
	FUZZ_CHECK(p[0] == 0 && p[1] == 2, "VeNCrypt %u.%u accepted", p[0], p[1]);
	p += res.used, len -= res.used;

	/* Subtype: one of those offered. */
	msg_check("subtype", parse_subtype, &o, p, len, splits, nsplits, &res);
	if (res.r == RFB_NEED_MORE)
		return 0;
	subtype = len >= 4 ? fuzz_get_u32(p) : 0;
	{
		int offered = 0;
		for (size_t i = 0; i < o.n; i++)
			offered = offered || o.list[i] == subtype;
		FUZZ_CHECK((res.r == RFB_OK) == offered, "subtype %u: %s, "
		    "offered: %d", subtype, rfb_result_name(res.r), offered);
	}
	if (res.r != RFB_OK)
		return 0;
	p += res.used, len -= res.used;

	/* X509Plain credentials, inside TLS; parsed whatever the subtype, as
	 * they are only bytes to the codec. */
	msg_check("credentials", parse_plain, NULL, p, len, splits, nsplits, &res);
	if (len >= 8) {
		uint32_t ulen = fuzz_get_u32(p), plen = fuzz_get_u32(p + 4);
		int too_long = ulen > VENCRYPT_PLAIN_MAX || plen > VENCRYPT_PLAIN_MAX;
		FUZZ_CHECK((res.r == RFB_TOO_LONG) == too_long, "lengths %u, %u: "
		    "%s", ulen, plen, rfb_result_name(res.r));
		if (!too_long && len >= 8 + (size_t)ulen + plen) {
			int nul = memchr(p + 8, '\0', (size_t)ulen + plen) != NULL;
			FUZZ_CHECK(res.r == (nul ? RFB_BAD_VALUE : RFB_OK),
			    "credentials with%s a NUL: %s", nul ? "" : "out",
			    rfb_result_name(res.r));
		}
	}
	return 0;
}
