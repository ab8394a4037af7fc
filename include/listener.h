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
	struct net_addr conf;   /* as configured */
	struct net_addr bound;  /* with port 0 resolved */
};

struct config;

/* Binds every listen address of every service in srv->cfg; logs and
 * returns -1 on the first failure (nothing left open). */
int listeners_open(struct server *srv);
/* Makes the listeners those cfg names: a socket already open on the same
 * configured address is kept (and now serves cfg's service), the others
 * are opened, and those cfg no longer names are closed.  On failure
 * (logged) only what was opened here is closed, and srv's set is as it
 * was.  Accepting stays paused either way: call listeners_resume(). */
int listeners_apply(struct server *srv, const struct config *cfg);
void listeners_resume(struct server *srv);
void listeners_close(struct server *srv);
/* Called when a session ends: resume accepting if it was paused. */
void listeners_session_ended(struct server *srv);
/* "service address" lines, one per listener, written atomically. */
int listeners_write_ports_file(struct server *srv, const char *path);

#endif
