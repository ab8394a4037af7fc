/*
 * noipv6.so - a host without IPv6, for the tests: preloaded into the
 * daemon (LD_PRELOAD), it makes every socket(AF_INET6, ...) fail with
 * EAFNOSUPPORT, as a kernel booted with ipv6.disable=1 does, and passes
 * every other socket() call on.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <sys/socket.h>

int
socket(int domain, int type, int protocol)
{
	static int (*real_socket)(int, int, int);

	if (domain == AF_INET6) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	if (real_socket == NULL &&
	    (real_socket = (int (*)(int, int, int))dlsym(RTLD_NEXT, "socket")) == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return real_socket(domain, type, protocol);
}
