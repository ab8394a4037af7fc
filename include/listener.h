/*
 * listener.h - listening sockets, accept, and accept backpressure.
 */
#ifndef VENCRYPTD_LISTENER_H
#define VENCRYPTD_LISTENER_H

#include <ev.h>
#include "net.h"

struct server;
struct service;

struct listener {
	struct server *srv;
	const struct service *svc;
	int fd;
	ev_io io;
	struct net_addr bound;  /* with port 0 resolved */
};

/* Binds every listen address of every service; logs and returns -1 on
 * the first failure (nothing left open). */
int listeners_open(struct server *srv);
void listeners_close(struct server *srv);
/* Called when a session ends: resume accepting if it was paused. */
void listeners_session_ended(struct server *srv);
/* "service address" lines, one per listener, written atomically. */
int listeners_write_ports_file(struct server *srv, const char *path);

#endif
