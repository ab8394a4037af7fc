/*
 * rfb.c - pure RFB / VeNCrypt codec.  No I/O, no allocation, no logging:
 * bytes in, a named result out.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rfb.h"

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

const char *
rfb_result_name(enum rfb_result r)
{
	switch (r) {
	case RFB_NEED_MORE: return "need more";
	case RFB_OK: return "ok";
	case RFB_BAD_VERSION: return "not an RFB protocol version";
	case RFB_OLD_VERSION: return "RFB version older than 3.7";
	case RFB_BAD_VALUE: return "value not allowed";
	case RFB_REFUSED: return "refused";
	case RFB_TOO_LONG: return "length too large";
	}
	return "?";
}

/* ---- both sides -------------------------------------------------------- */

enum rfb_result
rfb_parse_version(const uint8_t *buf, size_t len, struct rfb_version *out,
    size_t *used)
{
	static const char tmpl[] = "RFB ddd.ddd\n";
	unsigned major = 0, minor = 0;

	/* Reject a bad prefix as soon as it is seen. */
	for (size_t i = 0; i < len && i < RFB_VERSION_LEN; i++) {
		if (tmpl[i] == 'd') {
			if (!isdigit(buf[i]))
				return RFB_BAD_VERSION;
		} else if (buf[i] != (uint8_t)tmpl[i]) {
			return RFB_BAD_VERSION;
		}
	}
	if (len < RFB_VERSION_LEN)
		return RFB_NEED_MORE;
	for (int i = 4; i < 7; i++)
		major = major * 10 + (unsigned)(buf[i] - '0');
	for (int i = 8; i < 11; i++)
		minor = minor * 10 + (unsigned)(buf[i] - '0');
	*used = RFB_VERSION_LEN;
	if (major < 3)
		return RFB_BAD_VERSION;
	if (major > 3 || minor >= 8) {
		out->major = 3;
		out->minor = 8;
		return RFB_OK;
	}
	out->major = 3;
	if (minor == 7) {
		out->minor = 7;
		return RFB_OK;
	}
	out->minor = 3;     /* 3.0-3.6: 3.4 and 3.5 (and the rest) mean 3.3 */
	return RFB_OLD_VERSION;
}

size_t
rfb_put_version(uint8_t *out, size_t cap, const struct rfb_version *v)
{
	char tmp[RFB_VERSION_LEN + 1];

	if (cap < RFB_VERSION_LEN)
		return 0;
	snprintf(tmp, sizeof tmp, "RFB %03u.%03u\n", v->major % 1000,
	    v->minor % 1000);
	memcpy(out, tmp, RFB_VERSION_LEN);
	return RFB_VERSION_LEN;
}

/* u32 len + text, as a printable string.  RFB_NEED_MORE until all of it is
 * here; RFB_TOO_LONG (before reading it) beyond RFB_REASON_MAX. */
static enum rfb_result
parse_reason(const uint8_t *buf, size_t len, struct rfb_reason *reason,
    size_t *used)
{
	uint32_t n;

	if (len < 4)
		return RFB_NEED_MORE;
	n = get_u32(buf);
	if (n > RFB_REASON_MAX)
		return RFB_TOO_LONG;
	if (len - 4 < n)
		return RFB_NEED_MORE;
	if (reason != NULL) {
		for (uint32_t i = 0; i < n; i++) {
			uint8_t c = buf[4 + i];
			reason->text[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
		}
		reason->text[n] = '\0';
	}
	*used = 4 + n;
	return RFB_OK;
}

enum rfb_result
rfb_parse_security_result(const uint8_t *buf, size_t len, int with_reason,
    struct rfb_reason *reason, size_t *used)
{
	enum rfb_result r;
	size_t rlen;

	if (len < 4)
		return RFB_NEED_MORE;
	if (get_u32(buf) == 0) {
		*used = 4;
		return RFB_OK;
	}
	if (!with_reason) {
		if (reason != NULL)
			reason->text[0] = '\0';
		*used = 4;
		return RFB_REFUSED;
	}
	if ((r = parse_reason(buf + 4, len - 4, reason, &rlen)) != RFB_OK)
		return r;
	*used = 4 + rlen;
	return RFB_REFUSED;
}

size_t
rfb_put_security_ok(uint8_t *out, size_t cap)
{
	if (cap < 4)
		return 0;
	put_u32(out, 0);
	return 4;
}

static size_t
put_code_and_reason(uint8_t *out, size_t cap, uint32_t code,
    const char *reason)
{
	size_t n = strnlen(reason, RFB_REASON_MAX);

	if (cap < 8 + n)
		return 0;
	put_u32(out, code);
	put_u32(out + 4, (uint32_t)n);
	memcpy(out + 8, reason, n);
	return 8 + n;
}

size_t
rfb_put_security_failure(uint8_t *out, size_t cap, const char *reason)
{
	return put_code_and_reason(out, cap, 1, reason);
}

size_t
rfb_put_refusal_33(uint8_t *out, size_t cap, const char *reason)
{
	return put_code_and_reason(out, cap, 0, reason);
}

/* ---- client side ------------------------------------------------------- */

size_t
rfb_put_security_types(uint8_t *out, size_t cap)
{
	if (cap < 2)
		return 0;
	out[0] = 1;
	out[1] = RFB_SEC_VENCRYPT;
	return 2;
}

enum rfb_result
rfb_parse_security_choice(const uint8_t *buf, size_t len, uint8_t *choice,
    size_t *used)
{
	if (len < 1)
		return RFB_NEED_MORE;
	*choice = buf[0];
	*used = 1;
	return buf[0] == RFB_SEC_VENCRYPT ? RFB_OK : RFB_BAD_VALUE;
}

size_t
vencrypt_put_version(uint8_t *out, size_t cap)
{
	if (cap < 2)
		return 0;
	out[0] = 0;
	out[1] = 2;
	return 2;
}

enum rfb_result
vencrypt_parse_version(const uint8_t *buf, size_t len, struct rfb_version *out,
    size_t *used)
{
	if (len < 2)
		return RFB_NEED_MORE;
	out->major = buf[0];
	out->minor = buf[1];
	*used = 2;
	return (buf[0] == 0 && buf[1] == 2) ? RFB_OK : RFB_BAD_VALUE;
}

size_t
vencrypt_put_version_status(uint8_t *out, size_t cap, int ok)
{
	if (cap < 1)
		return 0;
	out[0] = ok ? 0 : 0xff;
	return 1;
}

size_t
vencrypt_put_subtypes(uint8_t *out, size_t cap, const uint32_t *subtypes,
    size_t n)
{
	if (n > 255 || cap < 1 + 4 * n)
		return 0;
	out[0] = (uint8_t)n;
	for (size_t i = 0; i < n; i++)
		put_u32(out + 1 + 4 * i, subtypes[i]);
	return 1 + 4 * n;
}

enum rfb_result
vencrypt_parse_subtype(const uint8_t *buf, size_t len, const uint32_t *offered,
    size_t n, uint32_t *choice, size_t *used)
{
	if (len < 4)
		return RFB_NEED_MORE;
	*choice = get_u32(buf);
	*used = 4;
	for (size_t i = 0; i < n; i++)
		if (offered[i] == *choice)
			return RFB_OK;
	return RFB_BAD_VALUE;
}

size_t
vencrypt_put_subtype_ack(uint8_t *out, size_t cap, int ok)
{
	if (cap < 1)
		return 0;
	out[0] = ok ? 1 : 0;
	return 1;
}

enum rfb_result
vencrypt_parse_plain(const uint8_t *buf, size_t len, struct vencrypt_plain *out,
    size_t *used)
{
	uint32_t ulen, plen;

	*used = 8;
	if (len < 8)
		return RFB_NEED_MORE;
	ulen = get_u32(buf);
	plen = get_u32(buf + 4);
	if (ulen > VENCRYPT_PLAIN_MAX || plen > VENCRYPT_PLAIN_MAX)
		return RFB_TOO_LONG;
	*used = 8 + (size_t)ulen + plen;
	if (len < *used)
		return RFB_NEED_MORE;
	out->user = buf + 8;
	out->ulen = ulen;
	out->password = buf + 8 + ulen;
	out->plen = plen;
	if (memchr(out->user, '\0', ulen) != NULL ||
	    memchr(out->password, '\0', plen) != NULL)
		return RFB_BAD_VALUE;
	return RFB_OK;
}

static const struct {
	uint32_t value;
	const char *name;
} subtype_names[] = {
	{ VENCRYPT_PLAIN, "Plain" },
	{ VENCRYPT_TLSNONE, "TLSNone" },
	{ VENCRYPT_TLSVNC, "TLSVnc" },
	{ VENCRYPT_TLSPLAIN, "TLSPlain" },
	{ VENCRYPT_X509NONE, "X509None" },
	{ VENCRYPT_X509VNC, "X509Vnc" },
	{ VENCRYPT_X509PLAIN, "X509Plain" },
};

const char *
vencrypt_subtype_name(uint32_t subtype)
{
	for (size_t i = 0; i < sizeof subtype_names / sizeof subtype_names[0]; i++)
		if (subtype_names[i].value == subtype)
			return subtype_names[i].name;
	return "unknown";
}

uint32_t
vencrypt_subtype_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof subtype_names / sizeof subtype_names[0]; i++)
		if (strcasecmp(subtype_names[i].name, name) == 0)
			return subtype_names[i].value;
	return 0;
}

/* ---- backend side ------------------------------------------------------ */

static void
offer_add(struct rfb_offer *offer, uint8_t type)
{
	if (offer->ntypes < sizeof offer->types)
		offer->types[offer->ntypes++] = type;
	if (type == RFB_SEC_NONE)
		offer->has_none = 1;
}

enum rfb_result
rfb_parse_security_33(const uint8_t *buf, size_t len, struct rfb_offer *offer,
    struct rfb_reason *reason, size_t *used)
{
	enum rfb_result r;
	uint32_t type;
	size_t rlen;

	if (len < 4)
		return RFB_NEED_MORE;
	type = get_u32(buf);
	memset(offer, 0, sizeof *offer);
	if (type == RFB_SEC_INVALID) {
		if ((r = parse_reason(buf + 4, len - 4, reason, &rlen)) != RFB_OK)
			return r;
		*used = 4 + rlen;
		return RFB_REFUSED;
	}
	if (type > 255)
		return RFB_BAD_VALUE;
	offer_add(offer, (uint8_t)type);
	*used = 4;
	return RFB_OK;
}

enum rfb_result
rfb_parse_security_types(const uint8_t *buf, size_t len,
    struct rfb_offer *offer, struct rfb_reason *reason, size_t *used)
{
	enum rfb_result r;
	size_t n, rlen;

	if (len < 1)
		return RFB_NEED_MORE;
	n = buf[0];
	memset(offer, 0, sizeof *offer);
	if (n == 0) {
		if ((r = parse_reason(buf + 1, len - 1, reason, &rlen)) != RFB_OK)
			return r;
		*used = 1 + rlen;
		return RFB_REFUSED;
	}
	if (len < 1 + n)
		return RFB_NEED_MORE;
	for (size_t i = 0; i < n; i++) {
		if (buf[1 + i] == RFB_SEC_INVALID)
			return RFB_BAD_VALUE;
		offer_add(offer, buf[1 + i]);
	}
	*used = 1 + n;
	return RFB_OK;
}

static const char *
sectype_name(uint8_t t)
{
	switch (t) {
	case 1: return "None";
	case 2: return "VncAuth";
	case 5: return "RA2";
	case 6: return "RA2ne";
	case 16: return "Tight";
	case 17: return "Ultra";
	case 18: return "TLS";
	case 19: return "VeNCrypt";
	case 20: return "SASL";
	case 30: return "AppleARD";
	}
	return NULL;
}

void
rfb_offer_describe(const struct rfb_offer *offer, char *out, size_t cap)
{
	size_t off = 0;

	if (cap == 0)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < offer->ntypes && off < cap; i++) {
		const char *name = sectype_name(offer->types[i]);
		int n;
		if (name != NULL)
			n = snprintf(out + off, cap - off, "%s%s", i ? ", " : "", name);
		else
			n = snprintf(out + off, cap - off, "%stype %u", i ? ", " : "",
			    offer->types[i]);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}
