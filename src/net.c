/*
 * net.c - socket helpers: address parsing and formatting, non-blocking
 * listen and connect.  Nothing here logs; errors go back to the caller.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "net.h"

static enum net_parse_result
parse_port(const char *s, in_port_t *port)
{
	char *end;
	long v;

	if (*s == '\0' || *s == '+' || *s == '-')
		return NET_PARSE_BAD_PORT;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0 || v > 65535)
		return NET_PARSE_BAD_PORT;
	*port = htons((in_port_t)v);
	return NET_PARSE_OK;
}

enum net_parse_result
net_parse_addr(const char *text, int allow_unix, struct net_addr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon;
	enum net_parse_result r;
	in_port_t port;

	memset(out, 0, sizeof *out);
	if (allow_unix && strncmp(text, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&out->ss;
		const char *path = text + 5;
		size_t len = strlen(path);
		if (len == 0 || path[0] != '/')
			return NET_PARSE_BAD_FORMAT;
		if (len >= sizeof sun->sun_path)
			return NET_PARSE_PATH_TOO_LONG;
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, path, len + 1);
		out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
		return NET_PARSE_OK;
	}

	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (close == NULL || close[1] != ':')
			return NET_PARSE_BAD_FORMAT;
		size_t hlen = (size_t)(close - text - 1);
		if (hlen == 0 || hlen >= sizeof host)
			return NET_PARSE_BAD_HOST;
		memcpy(host, text + 1, hlen);
		host[hlen] = '\0';
		if ((r = parse_port(close + 2, &port)) != NET_PARSE_OK)
			return r;
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return NET_PARSE_BAD_HOST;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = port;
		out->len = sizeof *sin6;
		return NET_PARSE_OK;
	}

	colon = strrchr(text, ':');
	if (colon == NULL)
		return NET_PARSE_BAD_FORMAT;
	size_t hlen = (size_t)(colon - text);
	if (hlen == 0 || hlen >= sizeof host)
		return NET_PARSE_BAD_HOST;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	if (strchr(host, ':') != NULL)
		return NET_PARSE_BAD_FORMAT;    /* IPv6 needs brackets */
	if ((r = parse_port(colon + 1, &port)) != NET_PARSE_OK)
		return r;
	struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return NET_PARSE_BAD_HOST;
	sin->sin_family = AF_INET;
	sin->sin_port = port;
	out->len = sizeof *sin;
	return NET_PARSE_OK;
}

const char *
net_parse_result_str(enum net_parse_result r)
{
	switch (r) {
	case NET_PARSE_OK: return "ok";
	case NET_PARSE_BAD_FORMAT:
		return "expected host:port, [v6]:port or unix:/path (or *:port "
		    "to listen on all addresses)";
	case NET_PARSE_BAD_HOST: return "host must be a numeric IPv4 or IPv6 address";
	case NET_PARSE_BAD_PORT: return "port must be a number from 0 to 65535";
	case NET_PARSE_PATH_TOO_LONG: return "unix socket path too long";
	}
	return "?";
}

void
net_format_host(const struct net_addr *a, char *out, size_t cap)
{
	const void *host;

	switch (a->ss.ss_family) {
	case AF_INET:
		host = &((const struct sockaddr_in *)&a->ss)->sin_addr;
		break;
	case AF_INET6:
		host = &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
		break;
	case AF_UNIX:
		snprintf(out, cap, "unix");
		return;
	default:
		snprintf(out, cap, "?");
		return;
	}
	if (inet_ntop(a->ss.ss_family, host, out, (socklen_t)cap) == NULL)
		snprintf(out, cap, "?");
}

void
net_format_addr(const struct net_addr *a, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN];

	switch (a->ss.ss_family) {
	case AF_INET: {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->ss;
		net_format_host(a, host, sizeof host);
		snprintf(out, cap, "%s:%u", host, ntohs(sin->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->ss;
		net_format_host(a, host, sizeof host);
		snprintf(out, cap, "[%s]:%u", host, ntohs(sin6->sin6_port));
		break;
	}
	case AF_UNIX: {
		const struct sockaddr_un *sun = (const struct sockaddr_un *)&a->ss;
		if (a->len > offsetof(struct sockaddr_un, sun_path) && sun->sun_path[0])
			snprintf(out, cap, "unix:%s", sun->sun_path);
		else
			snprintf(out, cap, "unix");
		break;
	}
	default:
		snprintf(out, cap, "?");
	}
}

#define KEY_V4 4
#define KEY_V6 6
#define KEY_OTHER 1

void
net_addr_key(const struct net_addr *a, uint8_t key[NET_KEY_LEN])
{
	memset(key, 0, NET_KEY_LEN);
	switch (a->ss.ss_family) {
	case AF_INET:
		key[0] = KEY_V4;
		memcpy(key + 1, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
		break;
	case AF_INET6: {
		const struct in6_addr *in6 =
		    &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(in6)) {
			key[0] = KEY_V4;
			memcpy(key + 1, in6->s6_addr + 12, 4);
		} else {
			key[0] = KEY_V6;
			memcpy(key + 1, in6->s6_addr, 8);
		}
		break;
	}
	default:
		key[0] = KEY_OTHER;
		break;
	}
}

int
net_key_is_prefix(const uint8_t key[NET_KEY_LEN])
{
	return key[0] == KEY_V6;
}

int
net_addr_equal(const struct net_addr *a, const struct net_addr *b)
{
	if (a->ss.ss_family != b->ss.ss_family)
		return 0;
	switch (a->ss.ss_family) {
	case AF_INET: {
		const struct sockaddr_in *x = (const struct sockaddr_in *)&a->ss;
		const struct sockaddr_in *y = (const struct sockaddr_in *)&b->ss;
		return x->sin_port == y->sin_port &&
		    x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)&a->ss;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)&b->ss;
		return x->sin6_port == y->sin6_port &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
	}
	case AF_UNIX:
		return strcmp(((const struct sockaddr_un *)&a->ss)->sun_path,
		    ((const struct sockaddr_un *)&b->ss)->sun_path) == 0;
	}
	return 0;
}

int
net_listen(const struct net_addr *a, int backlog, int reuseport)
{
	int fd, one = 1;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (a->ss.ss_family != AF_UNIX &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
		goto fail;
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
		goto fail;
	if (a->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0)
		goto fail;
	if (listen(fd, backlog) < 0)
		goto fail;
	return fd;
fail:;
	int err = errno;
	close(fd);
	errno = err;
	return -1;
}

int
net_addr_free(const struct net_addr *a)
{
	int fd, one = 1, ret = -1;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
	    (a->ss.ss_family != AF_INET6 || setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof one) == 0) &&
	    bind(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
		ret = 0;
	int err = errno;
	close(fd);
	errno = err;
	return ret;
}

int
net_unix_clear(const struct net_addr *a)
{
	const char *path = ((const struct sockaddr_un *)&a->ss)->sun_path;
	struct stat st;
	int fd, r, err;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		errno = ENOTSOCK;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	r = connect(fd, (const struct sockaddr *)&a->ss, a->len);
	err = errno;
	close(fd);
	if (r == 0 || err == EAGAIN || err == EINPROGRESS) {
		/* Accepting (or with a full backlog): a live listener. */
		errno = EADDRINUSE;
		return -1;
	}
	if (err != ECONNREFUSED) {
		errno = err;
		return -1;
	}
	if (unlink(path) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

int
net_connect_start(const struct net_addr *a, int *fdp)
{
	int fd;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (a->ss.ss_family != AF_UNIX)
		net_set_nodelay(fd);
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0 &&
	    errno != EINPROGRESS) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	*fdp = fd;
	return 0;
}

int
net_connect_finish(int fd)
{
	int err = 0;
	socklen_t len = sizeof err;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -1;
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

int
net_local_addr(int fd, struct net_addr *out)
{
	memset(out, 0, sizeof *out);
	out->len = sizeof out->ss;
	return getsockname(fd, (struct sockaddr *)&out->ss, &out->len);
}

void
net_set_nodelay(int fd)
{
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int
net_set_keepalive(int fd, unsigned idle, unsigned interval, unsigned count)
{
	int on = 1, i = (int)idle, n = (int)interval, c = (int)count;

	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &i, sizeof i) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &n, sizeof n) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &c, sizeof c) < 0)
		return -1;
	return 0;
}
