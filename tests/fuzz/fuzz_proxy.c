/*
 * fuzz_proxy.c - the PROXY protocol codec (src/proxy.c) and address
 * ranges (src/cidr.c).
 *
 * Input: the bytes a peer sends where a PROXY header is expected.
 *
 * Checked, on the whole input and on every prefix of it (the bytes as
 * they might arrive):
 *  - NEED_MORE asks for more than it has; once a prefix gives DONE or an
 *    error, every longer one gives the same (no byte after a header, and
 *    none after the point of failure, changes the verdict);
 *  - DONE is reached exactly at the header's length, with the same
 *    header whatever follows, and the prefix one byte shorter needs more;
 *  - a header with addresses has two of one family, and the header built
 *    again from them, in the same version, parses to the same addresses;
 *  - proxy_sniff() agrees: "not PROXY" only for bytes the parser calls
 *    not a header (or a broken v2 signature), and a whole header is one;
 *  - the input read as text, when it is a valid range, contains its own
 *    network address.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "cidr.h"
#include "fuzz.h"
#include "proxy.h"

static bool
same_header(const struct proxy_header *a, const struct proxy_header *b)
{
	return a->version == b->version && a->len == b->len &&
	    a->local == b->local && (a->local ||
	    (net_addr_equal(&a->src, &b->src) && net_addr_equal(&a->dst, &b->dst)));
}

static uint16_t
port_of(const struct net_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
}

static const void *
host_of(const struct net_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return &((const struct sockaddr_in *)&a->ss)->sin_addr;
	return &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
}

/* The header h describes, written again in its version. */
static size_t
rebuild(const struct proxy_header *h, uint8_t *out, size_t cap)
{
	static const uint8_t sig[PROXY_V2_SIG_LEN] = "\r\n\r\n\0\r\nQUIT\n";
	bool v6 = h->src.ss.ss_family == AF_INET6;
	size_t alen = v6 ? 16 : 4, n;

	if (h->version == 1) {
		char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
		inet_ntop(h->src.ss.ss_family, host_of(&h->src), s, sizeof s);
		inet_ntop(h->dst.ss.ss_family, host_of(&h->dst), d, sizeof d);
		return (size_t)snprintf((char *)out, cap, "PROXY TCP%c %s %s %u %u\r\n",
		    v6 ? '6' : '4', s, d, port_of(&h->src), port_of(&h->dst));
	}
	memcpy(out, sig, sizeof sig);
	out[12] = 0x21;
	out[13] = v6 ? 0x21 : 0x11;
	out[14] = 0;
	out[15] = (uint8_t)(2 * alen + 4);
	n = PROXY_V2_FIXED;
	memcpy(out + n, host_of(&h->src), alen);
	memcpy(out + n + alen, host_of(&h->dst), alen);
	n += 2 * alen;
	out[n++] = (uint8_t)(port_of(&h->src) >> 8);
	out[n++] = (uint8_t)port_of(&h->src);
	out[n++] = (uint8_t)(port_of(&h->dst) >> 8);
	out[n++] = (uint8_t)port_of(&h->dst);
	return n;
}

static void
check_cidr(const uint8_t *data, size_t size)
{
	char text[64];
	struct cidr c;
	struct net_addr a;

	if (size >= sizeof text)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	if (cidr_parse(text, &c) != CIDR_OK)
		return;
	FUZZ_CHECK((c.family == AF_INET && c.prefix <= 32) ||
	    (c.family == AF_INET6 && c.prefix <= 128), "range \"%s\": family %d "
	    "prefix %u", text, c.family, c.prefix);
	memset(&a, 0, sizeof a);
	if (c.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a.ss;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, c.addr, 4);
		a.len = sizeof *sin;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a.ss;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, c.addr, 16);
		a.len = sizeof *sin6;
	}
	FUZZ_CHECK(cidr_match(&c, &a), "range \"%s\" does not contain its "
	    "own network address", text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_header whole, h, first;
	enum proxy_result r, verdict = PROXY_NEED_MORE;
	size_t at = 0, limit = size < PROXY_MAX + 1 ? size : PROXY_MAX + 1;
	enum proxy_sniff sniff;

	check_cidr(data, size);
	r = proxy_parse(data, size, &whole);
	memset(&first, 0, sizeof first);
	for (size_t n = 0; n <= limit; n++) {
		enum proxy_result p = proxy_parse(data, n, &h);

		if (verdict == PROXY_NEED_MORE) {
			if (p == PROXY_NEED_MORE) {
				FUZZ_CHECK(h.len > n, "prefix %zu asks for %zu", n, h.len);
				continue;
			}
			verdict = p;
			at = n;
			first = h;
			if (p == PROXY_DONE) {
				FUZZ_CHECK(h.len == n, "DONE at %zu says %zu long", n, h.len);
				FUZZ_CHECK(h.version == (data[0] == 'P' ? 1 : 2),
				    "DONE as version %d", h.version);
			}
			continue;
		}
		FUZZ_CHECK(p == verdict, "%s at %zu, then %s at %zu",
		    proxy_result_name(verdict), at, proxy_result_name(p), n);
		if (p == PROXY_DONE)
			FUZZ_CHECK(same_header(&h, &first), "the header changed "
			    "with the bytes after it (%zu then %zu)", at, n);
	}
	/* The loop saw the whole input, or went far enough for a verdict. */
	FUZZ_CHECK(r == verdict, "whole input: %s, its prefixes: %s",
	    proxy_result_name(r), proxy_result_name(verdict));

	sniff = proxy_sniff(data, size);
	if (sniff == PROXY_SNIFF_NO)
		FUZZ_CHECK(r == PROXY_NOT_PROXY || r == PROXY_V2_BAD_SIGNATURE,
		    "sniff says no, the parser %s", proxy_result_name(r));
	if (r == PROXY_NOT_PROXY)
		FUZZ_CHECK(sniff == PROXY_SNIFF_NO, "not PROXY, but sniffed %d",
		    sniff);
	if (r == PROXY_DONE)
		FUZZ_CHECK(sniff == PROXY_SNIFF_YES, "a header, but sniffed %d",
		    sniff);

	if (r == PROXY_DONE && !whole.local) {
		uint8_t again[PROXY_V1_MAX + PROXY_V2_FIXED + 64];
		size_t n;
		int fam = whole.src.ss.ss_family;

		FUZZ_CHECK((fam == AF_INET || fam == AF_INET6) &&
		    whole.dst.ss.ss_family == fam, "addresses of families %d, %d",
		    fam, whole.dst.ss.ss_family);
		n = rebuild(&whole, again, sizeof again);
		FUZZ_CHECK(proxy_parse(again, n, &h) == PROXY_DONE && h.len == n &&
		    !h.local && net_addr_equal(&h.src, &whole.src) &&
		    net_addr_equal(&h.dst, &whole.dst),
		    "the header built again from its addresses parses otherwise");
	}
	return 0;
}
