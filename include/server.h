/*
 * server.h - the per-loop context: everything mutable lives here.
 */
#ifndef VENCRYPTD_SERVER_H
#define VENCRYPTD_SERVER_H

#include <stdint.h>
#include <ev.h>

#include "backoff.h"
#include "buf.h"
#include "config.h"
#include "verifier.h"

struct listener;
struct session;

struct server {
	struct ev_loop *loop;
	struct config *cfg;
	struct listener *listeners;
	size_t nlisteners;
	int accepting;          /* listener watchers are started */
	ev_timer accept_retry;  /* after EMFILE/ENFILE */
	struct session *sessions;
	unsigned nsessions;
	uint64_t next_id;
	struct buf_pool pool;
	struct verifier verifier;       /* password checks */
	struct backoff backoff;         /* failed logins per address */
	ev_signal sig_term;
	ev_signal sig_int;
	ev_signal sig_hup;
	int stopping;
	const char *ports_file; /* rewritten after a reload, when set */
	int verbose;            /* log levels above the configured one */
};

/* Takes over the caller's reference to cfg; -1 when out of resources. */
int server_init(struct server *srv, struct ev_loop *loop, struct config *cfg);
/* Opens listeners; -1 (logged) on failure. */
int server_start(struct server *srv);
void server_run(struct server *srv);
/* SIGHUP: the whole configuration anew, or (logged) nothing at all. */
void server_reload(struct server *srv);
/* Warnings about a loaded configuration: services open to anyone, our
 * certificates close to expiry.  At start, after every reload, and by
 * --check-config. */
void server_warn(const struct config *cfg);
/* The log target and level of srv->cfg, raised by srv->verbose. */
void server_apply_log(const struct server *srv);
/* Stop accepting, close every session, leave the loop. */
void server_stop(struct server *srv);
void server_destroy(struct server *srv);

#endif
