/*
 * net.h - socket helpers.  They never log: they return 0 or -1 with errno,
 * or a parse result, and the caller reports.
 */
#ifndef VENCRYPTD_NET_H
#define VENCRYPTD_NET_H

#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#define NET_ADDRSTRLEN 128      /* "[v6]:port" or "unix:/path" */
#define NET_KEY_LEN 9           /* net_addr_key(): a tag, then 8 bytes */

struct net_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

enum net_parse_result {
	NET_PARSE_OK,
	NET_PARSE_BAD_FORMAT,   /* not host:port, [v6]:port or unix:/path */
	NET_PARSE_BAD_HOST,     /* host is not a numeric IPv4 or IPv6 address */
	NET_PARSE_BAD_PORT,     /* port missing or not 0-65535 */
	NET_PARSE_PATH_TOO_LONG,/* unix path does not fit sun_path */
};

/* "127.0.0.1:5900", "[::1]:5900", "unix:/run/x.sock" (unix only when
 * allow_unix).  Hosts are numeric: no DNS at start-up or at run time. */
enum net_parse_result net_parse_addr(const char *text, int allow_unix,
    struct net_addr *out);
const char *net_parse_result_str(enum net_parse_result r);
/* Formats as the parser accepts it. */
void net_format_addr(const struct net_addr *a, char *out, size_t cap);
/* The host alone, without brackets or port: "192.0.2.1", "2001:db8::1",
 * "unix". */
void net_format_host(const struct net_addr *a, char *out, size_t cap);
int net_addr_equal(const struct net_addr *a, const struct net_addr *b);
/* The client a source address stands for, as a table key, port left out:
 * an IPv4 address whole (an IPv4-mapped IPv6 one as that IPv4 address),
 * an IPv6 address by its /64, the least any site is given; every other
 * family is one key.  Never all zero bytes. */
void net_addr_key(const struct net_addr *a, uint8_t key[NET_KEY_LEN]);
/* Whether the key stands for an IPv6 /64 rather than one address. */
int net_key_is_prefix(const uint8_t key[NET_KEY_LEN]);

/* Non-blocking, close-on-exec, SO_REUSEADDR, IPV6_V6ONLY, and
 * SO_REUSEPORT when reuseport is set; -1 + errno. */
int net_listen(const struct net_addr *a, int backlog, int reuseport);
/* 0 when a socket without SO_REUSEPORT could bind a now (nothing listens
 * there), -1 + errno (EADDRINUSE) when not.  Binds and closes at once. */
int net_addr_free(const struct net_addr *a);
/* Before binding a Unix socket at a: 0 when the path is free, or held by
 * a stale socket file (nothing accepts on it: connect is refused), which
 * is removed; -1 with errno EADDRINUSE when something listens there,
 * ENOTSOCK when the path is not a socket, or another errno. */
int net_unix_clear(const struct net_addr *a);
/* Starts a non-blocking connect; 0 with *fd set (connect may be under way),
 * -1 + errno. */
int net_connect_start(const struct net_addr *a, int *fd);
/* After the socket became writable: 0 connected, -1 + errno. */
int net_connect_finish(int fd);
/* The address a listening socket is bound to (port 0 resolved). */
int net_local_addr(int fd, struct net_addr *out);
void net_set_nodelay(int fd);
/* TCP keepalive: the first probe after idle seconds without traffic, then
 * one every interval seconds, the connection dropped after count
 * unanswered; 0, or -1 + errno when an option is refused. */
int net_set_keepalive(int fd, unsigned idle, unsigned interval,
    unsigned count);

#endif
