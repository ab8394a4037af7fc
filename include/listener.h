/*
 * listener.h - listening sockets, accept, and accept backpressure.
 *
 * A listen set holds the sockets of a configuration: for each configured
 * address one socket per worker, bound to the same port with SO_REUSEPORT
 * (when there is more than one worker) so that the kernel spreads the
 * connections.  The control thread owns the set; each worker watches its
 * own column of it through its struct listener array.
 */
#ifndef VENCRYPTD_LISTENER_H
#define VENCRYPTD_LISTENER_H

#include <stdbool.h>
#include <ev.h>
#include "net.h"

struct config;
struct listen_conf;
struct server;
struct service;

/* One configured address ("*:PORT" gives two).  A Unix socket is one
 * socket, duplicated for each worker (SO_REUSEPORT does not apply), and
 * its file is removed when it closes. */
struct listen_socket {
	const struct service *svc;      /* of the set's configuration */
	const struct listen_conf *lc;   /* likewise: its PROXY settings */
	struct net_addr conf;   /* as configured */
	struct net_addr bound;  /* with port 0 resolved */
	int *fds;               /* one per worker */
	bool inherited;         /* from the service manager (fds are dups of
	                         * one socket, all workers watch it) */
};

struct listen_set {
	struct listen_socket *socks;
	size_t n;
	unsigned nworkers;
};

/* What one worker watches of one listen_socket. */
struct listener {
	struct server *srv;
	const struct service *svc;
	const struct listen_conf *lc;
	int fd;                 /* the set's: not closed by the worker */
	ev_io io;
};

/* The sockets cfg names, for nworkers workers.  Those of old (NULL at
 * start) on the same configured address are kept, the others opened and
 * logged.  NULL on failure (logged; only what was opened here is closed,
 * old is untouched).
 *
 * At start (old NULL) it first takes over the listening sockets a
 * service manager passed (LISTEN_PID is this process, LISTEN_FDS > 0;
 * the LISTEN_* variables are then unset): each configured address with
 * a fixed port uses the inherited socket bound to it, if any, and every
 * inherited socket must be so used, else it fails naming it. */
struct listen_set *listen_set_open(const struct listen_set *old,
    const struct config *cfg, unsigned nworkers);
/* Closes the sockets of set that next (NULL: none) does not keep, logging
 * those cfg no longer names, and frees set. */
void listen_set_retire(struct listen_set *set, const struct listen_set *next);
/* "service address" lines, one per configured address, written
 * atomically. */
int listen_set_write_ports_file(const struct listen_set *set,
    const char *path);

/* For worker srv: its listeners on column index of set, not yet watched;
 * NULL when out of memory.  Touches nothing of srv: any thread. */
struct listener *listeners_prepare(struct server *srv,
    const struct listen_set *set, unsigned index);
/* On srv's loop: srv now listens on l[0..n), the old array is freed.
 * Accepting is paused: call listeners_resume(). */
void listeners_install(struct server *srv, struct listener *l, size_t n);
void listeners_resume(struct server *srv);
/* Stop watching and forget the listeners (the set closes the sockets). */
void listeners_close(struct server *srv);
/* Called when a session ends: the count goes down, and accepting resumes
 * wherever it was paused; while draining, the last session of a worker
 * wakes the control thread instead. */
void listeners_session_ended(struct server *srv);
/* On srv's loop, when another worker asked it to look again. */
void listeners_wake(struct server *srv);

#endif
