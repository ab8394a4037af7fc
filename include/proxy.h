/*
 * proxy.h - pure PROXY protocol codec (versions 1 and 2, as HAProxy's
 * proxy-protocol.txt defines them): bytes in, named result out, no I/O.
 *
 * A load balancer in front of vencryptd sends one header before anything
 * else, saying which client it is relaying.  proxy_parse() looks at the
 * bytes received so far and says whether it needs more (and how many in
 * all, at least), has a whole header (how long it is and what it says),
 * or why the bytes are not one.  It never asks for a byte beyond the
 * header, so the reader can take exactly what it needs and leave the
 * client's first RFB bytes in the socket.
 */
#ifndef VENCRYPTD_PROXY_H
#define VENCRYPTD_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net.h"

#define PROXY_V1_MAX 107        /* the longest v1 line, CRLF included */
#define PROXY_V2_FIXED 16       /* signature, version/command, family, length */
#define PROXY_V2_SIG_LEN 12
#define PROXY_V2_MAX_BODY 4096  /* addresses and TLVs we accept after the
                                 * fixed part (the format allows 65535) */
#define PROXY_MAX (PROXY_V2_FIXED + PROXY_V2_MAX_BODY)

enum proxy_result {
	PROXY_NEED_MORE,        /* a prefix of a header: out->len bytes at least */
	PROXY_DONE,             /* a whole header, out->len bytes long */
	PROXY_NOT_PROXY,        /* neither "PROXY " nor the v2 signature */
	PROXY_V1_TOO_LONG,      /* no CRLF within PROXY_V1_MAX bytes */
	PROXY_V1_BAD_LINE,      /* not "PROXY TCP4|TCP6|UNKNOWN ...\r\n" */
	PROXY_V1_BAD_ADDRESS,   /* an address that is not of the line's family */
	PROXY_V1_BAD_PORT,      /* a port that is not a plain 0..65535 */
	PROXY_V2_BAD_SIGNATURE, /* starts like the v2 signature, then differs */
	PROXY_V2_BAD_VERSION,   /* version nibble other than 2 */
	PROXY_V2_BAD_COMMAND,   /* command other than LOCAL or PROXY */
	PROXY_V2_BAD_FAMILY,    /* not INET, INET6, UNIX or UNSPEC over STREAM */
	PROXY_V2_TOO_LONG,      /* length beyond PROXY_V2_MAX_BODY */
	PROXY_V2_SHORT,         /* length too short for the family's addresses */
	PROXY_V2_BAD_TLV,       /* a TLV running past the header's end */
};

struct proxy_header {
	int version;            /* 1 or 2 once the first byte says which (also
	                         * with NEED_MORE and the errors after it) */
	size_t len;             /* DONE: the header's length; NEED_MORE: the
	                         * bytes needed in all, at least */
	bool local;             /* no client address in it (v1 UNKNOWN, v2
	                         * LOCAL, UNSPEC or UNIX): keep the
	                         * connection's own */
	struct net_addr src;    /* the client, when !local */
	struct net_addr dst;    /* the address it connected to, when !local */
};

enum proxy_sniff {
	PROXY_SNIFF_NO,         /* not the start of a PROXY header */
	PROXY_SNIFF_MAYBE,      /* a prefix of "PROXY " or of the v2 signature */
	PROXY_SNIFF_YES,        /* starts with "PROXY " or the v2 signature */
};

const char *proxy_result_name(enum proxy_result r);
enum proxy_result proxy_parse(const uint8_t *buf, size_t len,
    struct proxy_header *out);
/* Whether bytes that came where something else was expected are a PROXY
 * header's beginning. */
enum proxy_sniff proxy_sniff(const uint8_t *buf, size_t len);

#endif
