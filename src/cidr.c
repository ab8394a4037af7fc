/*
 * cidr.c - address ranges and matching.  IPv4-mapped IPv6 addresses, on
 * either side, are compared as the IPv4 addresses they carry.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"

static const uint8_t v4_mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
};

const char *
cidr_result_str(enum cidr_result r)
{
	switch (r) {
	case CIDR_OK: return "ok";
	case CIDR_BAD_ADDRESS: return "not a numeric IPv4 or IPv6 address";
	case CIDR_BAD_PREFIX:
		return "prefix length must be 0-32 (IPv4) or 0-128 (IPv6)";
	case CIDR_HOST_BITS: return "address has bits set beyond the prefix length";
	}
	return "?";
}

static bool
host_bits_clear(const uint8_t *a, unsigned prefix, size_t bytes)
{
	for (size_t i = 0; i < bytes; i++) {
		unsigned keep = prefix >= 8 * (i + 1) ? 8 :
		    prefix > 8 * i ? prefix - 8 * (unsigned)i : 0;
		uint8_t mask = (uint8_t)(0xff00 >> keep);
		if (a[i] & (uint8_t)~mask)
			return false;
	}
	return true;
}

enum cidr_result
cidr_parse(const char *text, struct cidr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(text, '/');
	size_t hlen = slash != NULL ? (size_t)(slash - text) : strlen(text);
	unsigned max, prefix = 0;

	memset(out, 0, sizeof *out);
	if (hlen == 0 || hlen >= sizeof host)
		return CIDR_BAD_ADDRESS;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		return CIDR_BAD_ADDRESS;
	}
	if (slash == NULL) {
		prefix = max;
	} else {
		const char *p = slash + 1;
		/* 1-3 digits, no sign, no leading zero */
		if (*p == '\0' || strlen(p) > 3 || (p[0] == '0' && p[1] != '\0'))
			return CIDR_BAD_PREFIX;
		for (; *p != '\0'; p++) {
			if (*p < '0' || *p > '9')
				return CIDR_BAD_PREFIX;
			prefix = prefix * 10 + (unsigned)(*p - '0');
		}
		if (prefix > max)
			return CIDR_BAD_PREFIX;
	}
	if (!host_bits_clear(out->addr, prefix, max / 8))
		return CIDR_HOST_BITS;
	out->prefix = prefix;
	/* An IPv4-mapped range is the IPv4 range it maps. */
	if (out->family == AF_INET6 && prefix >= 96 &&
	    memcmp(out->addr, v4_mapped, sizeof v4_mapped) == 0) {
		memmove(out->addr, out->addr + 12, 4);
		memset(out->addr + 4, 0, 12);
		out->family = AF_INET;
		out->prefix = prefix - 96;
	}
	return CIDR_OK;
}

bool
cidr_match(const struct cidr *c, const struct net_addr *a)
{
	const uint8_t *p;
	int family = a->ss.ss_family;
	unsigned full, rest;

	if (family == AF_INET) {
		p = (const uint8_t *)&((const struct sockaddr_in *)&a->ss)->sin_addr;
	} else if (family == AF_INET6) {
		p = ((const struct sockaddr_in6 *)&a->ss)->sin6_addr.s6_addr;
		if (memcmp(p, v4_mapped, sizeof v4_mapped) == 0) {
			p += 12;
			family = AF_INET;
		}
	} else {
		return false;
	}
	if (family != c->family)
		return false;
	full = c->prefix / 8;
	rest = c->prefix % 8;
	if (memcmp(p, c->addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((p[full] ^ c->addr[full]) & (uint8_t)(0xff00 >> rest)) == 0;
}

bool
cidr_match_any(const struct cidr *list, size_t n, const struct net_addr *a)
{
	for (size_t i = 0; i < n; i++)
		if (cidr_match(&list[i], a))
			return true;
	return false;
}
