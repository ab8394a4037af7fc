/*
 * cidr.h - address ranges ("10.0.0.0/8", "::1/128", a bare address) and
 * whether a peer's address falls in one.  Pure: no I/O, no logging.
 */
#ifndef VENCRYPTD_CIDR_H
#define VENCRYPTD_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net.h"

struct cidr {
	int family;             /* AF_INET or AF_INET6 */
	uint8_t addr[16];       /* network byte order, host bits zero */
	unsigned prefix;        /* 0..32 or 0..128 */
};

enum cidr_result {
	CIDR_OK,
	CIDR_BAD_ADDRESS,       /* not a numeric IPv4 or IPv6 address */
	CIDR_BAD_PREFIX,        /* not /0../32 (IPv4) or /0../128 (IPv6) */
	CIDR_HOST_BITS,         /* bits set beyond the prefix: "10.1.2.3/8" */
};

const char *cidr_result_str(enum cidr_result r);
/* A bare address is /32 or /128. */
enum cidr_result cidr_parse(const char *text, struct cidr *out);
/* An IPv4 range also matches IPv4-mapped IPv6 peers (::ffff:a.b.c.d), and
 * an IPv4-mapped IPv6 range IPv4 peers.  Never a Unix peer. */
bool cidr_match(const struct cidr *c, const struct net_addr *a);
bool cidr_match_any(const struct cidr *list, size_t n, const struct net_addr *a);

#endif
