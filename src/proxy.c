/*
 * proxy.c - pure PROXY protocol codec.  No I/O, no allocation, no logging:
 * bytes in, a named result out.
 *
 * Strict on purpose: only a trusted load balancer may send a header at
 * all, and it sends it in the one form the specification gives, so
 * anything else (double spaces, leading zeros in ports, a v2 header over
 * datagrams) is refused rather than guessed at.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "proxy.h"

static const uint8_t v2_sig[PROXY_V2_SIG_LEN] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};
static const char v1_prefix[] = "PROXY ";
#define V1_PREFIX_LEN (sizeof v1_prefix - 1)

/* v2 byte 12: version in the high nibble, command in the low one. */
#define V2_VERSION 0x2
#define V2_CMD_LOCAL 0x0
#define V2_CMD_PROXY 0x1
/* v2 byte 13: address family and transport. */
#define V2_UNSPEC 0x00
#define V2_TCP4 0x11
#define V2_TCP6 0x21
#define V2_UNIX_STREAM 0x31
#define V2_INET_LEN 12          /* 2 x 4-byte address, 2 x port */
#define V2_INET6_LEN 36         /* 2 x 16-byte address, 2 x port */
#define V2_UNIX_LEN 216         /* 2 x 108-byte path */

const char *
proxy_result_name(enum proxy_result r)
{
	switch (r) {
	case PROXY_NEED_MORE: return "need more";
	case PROXY_DONE: return "done";
	case PROXY_NOT_PROXY: return "not a PROXY protocol header";
	case PROXY_V1_TOO_LONG: return "v1 line longer than 107 bytes";
	case PROXY_V1_BAD_LINE: return "malformed v1 line";
	case PROXY_V1_BAD_ADDRESS: return "v1 address not of the line's family";
	case PROXY_V1_BAD_PORT: return "v1 port not a number from 0 to 65535";
	case PROXY_V2_BAD_SIGNATURE: return "bad v2 signature";
	case PROXY_V2_BAD_VERSION: return "v2 header of an unknown version";
	case PROXY_V2_BAD_COMMAND: return "v2 command neither LOCAL nor PROXY";
	case PROXY_V2_BAD_FAMILY: return "v2 address family or transport not supported";
	case PROXY_V2_TOO_LONG: return "v2 header longer than 4112 bytes";
	case PROXY_V2_SHORT: return "v2 length too short for its addresses";
	case PROXY_V2_BAD_TLV: return "v2 TLV runs past the header";
	}
	return "?";
}

enum proxy_sniff
proxy_sniff(const uint8_t *buf, size_t len)
{
	size_t n1 = len < V1_PREFIX_LEN ? len : V1_PREFIX_LEN;
	size_t n2 = len < PROXY_V2_SIG_LEN ? len : PROXY_V2_SIG_LEN;

	if (len == 0)
		return PROXY_SNIFF_MAYBE;
	if (memcmp(buf, v1_prefix, n1) == 0)
		return n1 == V1_PREFIX_LEN ? PROXY_SNIFF_YES : PROXY_SNIFF_MAYBE;
	if (memcmp(buf, v2_sig, n2) == 0)
		return n2 == PROXY_V2_SIG_LEN ? PROXY_SNIFF_YES : PROXY_SNIFF_MAYBE;
	return PROXY_SNIFF_NO;
}

/* ---- version 1 ------------------------------------------------------------ */

static void
set_addr(struct net_addr *a, int family, const void *host, uint16_t port_be)
{
	memset(a, 0, sizeof *a);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, host, 4);
		sin->sin_port = port_be;
		a->len = sizeof *sin;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, host, 16);
		sin6->sin6_port = port_be;
		a->len = sizeof *sin6;
	}
}

/* "0" or 1-5 digits without a leading zero, at most 65535. */
static bool
v1_port(const char *s, uint16_t *port_be)
{
	unsigned v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return false;
	*port_be = htons((uint16_t)v);
	return true;
}

/* The line between "PROXY " and CRLF, NUL-terminated in a copy. */
static enum proxy_result
v1_line(char *line, struct proxy_header *out)
{
	char *field[4], *p;
	uint8_t host[2][16];
	uint16_t port[2];
	int family;
	size_t n = 0;

	if (strncmp(line, "UNKNOWN", 7) == 0 && (line[7] == '\0' || line[7] == ' ')) {
		/* Whatever follows UNKNOWN is to be ignored. */
		out->local = true;
		return PROXY_DONE;
	}
	if (strncmp(line, "TCP4 ", 5) == 0)
		family = AF_INET;
	else if (strncmp(line, "TCP6 ", 5) == 0)
		family = AF_INET6;
	else
		return PROXY_V1_BAD_LINE;
	/* Exactly four fields, one space between each. */
	for (p = line + 5;; p++) {
		if (n == 4)
			return PROXY_V1_BAD_LINE;
		field[n++] = p;
		if ((p = strchr(p, ' ')) == NULL)
			break;
		*p = '\0';
	}
	if (n != 4)
		return PROXY_V1_BAD_LINE;
	for (size_t i = 0; i < 4; i++)
		if (field[i][0] == '\0')
			return PROXY_V1_BAD_LINE;
	for (int i = 0; i < 2; i++)
		if (inet_pton(family, field[i], host[i]) != 1)
			return PROXY_V1_BAD_ADDRESS;
	for (int i = 0; i < 2; i++)
		if (!v1_port(field[2 + i], &port[i]))
			return PROXY_V1_BAD_PORT;
	set_addr(&out->src, family, host[0], port[0]);
	set_addr(&out->dst, family, host[1], port[1]);
	return PROXY_DONE;
}

static enum proxy_result
v1_parse(const uint8_t *buf, size_t len, struct proxy_header *out)
{
	static const char *const protos[] = { "TCP4 ", "TCP6 ", "UNKNOWN" };
	char line[PROXY_V1_MAX];
	size_t end = 0, word;
	bool known = false;

	out->version = 1;
	/* The protocol word, as soon as enough of it is in. */
	word = len - V1_PREFIX_LEN;
	for (size_t i = 0; i < sizeof protos / sizeof protos[0]; i++) {
		size_t k = strlen(protos[i]);
		if (memcmp(buf + V1_PREFIX_LEN, protos[i], word < k ? word : k) == 0)
			known = true;
	}
	if (!known)
		return PROXY_V1_BAD_LINE;
	/* Only the first PROXY_V1_MAX bytes can be the line: what follows
	 * them never changes the verdict. */
	if (len > PROXY_V1_MAX)
		len = PROXY_V1_MAX;
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\n') {
			if (i == 0 || buf[i - 1] != '\r')
				return PROXY_V1_BAD_LINE;
			end = i + 1;
			break;
		}
		if (buf[i] == '\r' && i + 1 < len && buf[i + 1] != '\n')
			return PROXY_V1_BAD_LINE;
		if (buf[i] == '\0')
			return PROXY_V1_BAD_LINE;
	}
	if (end == 0) {
		if (len >= PROXY_V1_MAX)
			return PROXY_V1_TOO_LONG;
		out->len = len + 1;
		return PROXY_NEED_MORE;
	}
	out->len = end;
	memcpy(line, buf + V1_PREFIX_LEN, end - 2 - V1_PREFIX_LEN);
	line[end - 2 - V1_PREFIX_LEN] = '\0';
	return v1_line(line, out);
}

/* ---- version 2 ------------------------------------------------------------ */

static uint16_t
get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Type (1 byte), length (2), value, back to back to the end. */
static bool
v2_tlvs_fit(const uint8_t *p, size_t n)
{
	while (n > 0) {
		size_t vlen;
		if (n < 3)
			return false;
		vlen = get_u16(p + 1);
		if (n - 3 < vlen)
			return false;
		p += 3 + vlen;
		n -= 3 + vlen;
	}
	return true;
}

static enum proxy_result
v2_parse(const uint8_t *buf, size_t len, struct proxy_header *out)
{
	size_t n = len < PROXY_V2_SIG_LEN ? len : PROXY_V2_SIG_LEN;
	size_t body, need = 0;
	uint8_t cmd, fam = 0;

	out->version = 2;
	if (memcmp(buf, v2_sig, n) != 0)
		return PROXY_V2_BAD_SIGNATURE;
	out->len = PROXY_V2_FIXED;
	if (len <= PROXY_V2_SIG_LEN)
		return PROXY_NEED_MORE;
	if (buf[12] >> 4 != V2_VERSION)
		return PROXY_V2_BAD_VERSION;
	cmd = buf[12] & 0x0f;
	if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
		return PROXY_V2_BAD_COMMAND;
	if (len > 13 && cmd == V2_CMD_PROXY) {
		/* LOCAL ignores the family; PROXY names one we know. */
		fam = buf[13];
		switch (fam) {
		case V2_UNSPEC: need = 0; break;
		case V2_TCP4: need = V2_INET_LEN; break;
		case V2_TCP6: need = V2_INET6_LEN; break;
		case V2_UNIX_STREAM: need = V2_UNIX_LEN; break;
		default: return PROXY_V2_BAD_FAMILY;
		}
	}
	if (len < PROXY_V2_FIXED)
		return PROXY_NEED_MORE;
	body = get_u16(buf + 14);
	if (body > PROXY_V2_MAX_BODY)
		return PROXY_V2_TOO_LONG;
	if (body < need)
		return PROXY_V2_SHORT;
	out->len = PROXY_V2_FIXED + body;
	if (len < out->len)
		return PROXY_NEED_MORE;
	if (cmd == V2_CMD_LOCAL || fam == V2_UNSPEC) {
		out->local = true;
		return PROXY_DONE;
	}
	if (!v2_tlvs_fit(buf + PROXY_V2_FIXED + need, body - need))
		return PROXY_V2_BAD_TLV;
	if (fam == V2_UNIX_STREAM) {
		out->local = true;
		return PROXY_DONE;
	}
	if (fam == V2_TCP4) {
		const uint8_t *a = buf + PROXY_V2_FIXED;
		set_addr(&out->src, AF_INET, a, htons(get_u16(a + 8)));
		set_addr(&out->dst, AF_INET, a + 4, htons(get_u16(a + 10)));
	} else {
		const uint8_t *a = buf + PROXY_V2_FIXED;
		set_addr(&out->src, AF_INET6, a, htons(get_u16(a + 32)));
		set_addr(&out->dst, AF_INET6, a + 16, htons(get_u16(a + 34)));
	}
	return PROXY_DONE;
}

enum proxy_result
proxy_parse(const uint8_t *buf, size_t len, struct proxy_header *out)
{
	memset(out, 0, sizeof *out);
	out->len = 1;
	if (len == 0)
		return PROXY_NEED_MORE;
	if (buf[0] == v2_sig[0])
		return v2_parse(buf, len, out);
	if (memcmp(buf, v1_prefix, len < V1_PREFIX_LEN ? len : V1_PREFIX_LEN) != 0)
		return PROXY_NOT_PROXY;
	if (len < V1_PREFIX_LEN) {
		out->version = 1;
		out->len = V1_PREFIX_LEN;
		return PROXY_NEED_MORE;
	}
	return v1_parse(buf, len, out);
}
