/*
 * server.h - one worker's event loop and everything mutable on it: its
 * listening sockets, its sessions, its buffer pool.  A session lives and
 * ends on the loop that accepted it.  What the workers share is in
 * struct shared.
 */
#ifndef VENCRYPTD_SERVER_H
#define VENCRYPTD_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <ev.h>

#include "buf.h"
#include "config.h"
#include "shared.h"
#include "verifier.h"

struct listener;
struct session;

struct server {
	struct ev_loop *loop;
	struct shared *shared;
	unsigned index;         /* the worker's number, from 1, for logs */
	struct config *cfg;     /* the generation new sessions get */
	struct listener *listeners;
	size_t nlisteners;
	int accepting;          /* listener watchers are started */
	atomic_bool paused_full;/* paused at max_clients: wake on any end */
	ev_timer accept_retry;  /* after EMFILE/ENFILE */
	ev_async resume;        /* a session ended on another worker */
	struct session *sessions;
	unsigned nsessions;     /* on this loop */
	struct buf_pool pool;
	struct verifier verifier;       /* this loop's end of the pool */
	int stopping;
	int draining;           /* accepting no more: the daemon ends when
	                         * the sessions have */
};

/* Takes over the caller's reference to cfg; -1 when out of resources.
 * index numbers the worker (from 1). */
int server_init(struct server *srv, struct shared *sh, struct ev_loop *loop,
    struct config *cfg, unsigned index);
/* On the worker's loop (or before it runs): new sessions get cfg from now
 * on (its reference is taken over), and the worker listens on the n
 * listeners prepared by listeners_prepare(). */
void server_swap(struct server *srv, struct config *cfg,
    struct listener *listeners, size_t n);
/* Warnings about a loaded configuration: services open to anyone, our
 * certificates close to expiry.  At start, after every reload, and by
 * --check-config. */
void server_warn(const struct config *cfg);
/* Stop accepting for good and let go of the listeners; the sessions go
 * on.  When the last one ends, the control thread is woken (shared). */
void server_drain(struct server *srv);
/* Stop accepting, close every session, leave the loop. */
void server_stop(struct server *srv);
/* On the worker's thread, after its loop has stopped. */
void server_destroy(struct server *srv);

#endif
