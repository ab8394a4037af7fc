/*
 * server.c - the per-loop context: listeners, sessions, the buffer pool
 * and the signals that stop the loop.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "listener.h"
#include "server.h"
#include "session.h"

#define POOL_SPARE 64           /* relay chunks kept for reuse */

static void
signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct server *srv = w->data;

	log_notice("%s received: stopping", strsignal(w->signum));
	server_stop(srv);
}

static void
hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	log_warnx("SIGHUP received: reload is not supported in this version; "
	    "restart vencryptd to apply changes");
}

int
server_init(struct server *srv, struct ev_loop *loop, struct config *cfg)
{
	memset(srv, 0, sizeof *srv);
	srv->loop = loop;
	srv->cfg = cfg;
	if (backoff_init(&srv->backoff, BACKOFF_SLOTS) < 0)
		return -1;
	if (verifier_init(&srv->verifier, loop) < 0) {
		backoff_destroy(&srv->backoff);
		return -1;
	}
	buf_pool_init(&srv->pool, POOL_SPARE);
	ev_signal_init(&srv->sig_term, signal_cb, SIGTERM);
	srv->sig_term.data = srv;
	ev_signal_init(&srv->sig_int, signal_cb, SIGINT);
	srv->sig_int.data = srv;
	ev_signal_init(&srv->sig_hup, hup_cb, SIGHUP);
	srv->sig_hup.data = srv;
	return 0;
}

int
server_start(struct server *srv)
{
	if (listeners_open(srv) < 0)
		return -1;
	ev_signal_start(srv->loop, &srv->sig_term);
	ev_signal_start(srv->loop, &srv->sig_int);
	ev_signal_start(srv->loop, &srv->sig_hup);
	return 0;
}

void
server_run(struct server *srv)
{
	ev_run(srv->loop, 0);
}

void
server_stop(struct server *srv)
{
	if (srv->stopping)
		return;
	srv->stopping = 1;
	listeners_close(srv);
	while (srv->sessions != NULL) {
		snprintf(srv->sessions->reason, sizeof srv->sessions->reason,
		    "daemon stopping");
		session_close(srv->sessions);
	}
	ev_break(srv->loop, EVBREAK_ALL);
}

void
server_destroy(struct server *srv)
{
	if (!srv->stopping)
		server_stop(srv);
	ev_signal_stop(srv->loop, &srv->sig_term);
	ev_signal_stop(srv->loop, &srv->sig_int);
	ev_signal_stop(srv->loop, &srv->sig_hup);
	/* After the sessions: jobs they left behind come back here. */
	verifier_destroy(&srv->verifier);
	backoff_destroy(&srv->backoff);
	buf_pool_destroy(&srv->pool);
	config_unref(srv->cfg);
	srv->cfg = NULL;
}
