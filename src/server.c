/*
 * server.c - one worker's event loop: its listeners, its sessions, its
 * buffer pool, and the generation of the configuration it serves.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "listener.h"
#include "server.h"
#include "session.h"
#include "tls.h"

#define POOL_SPARE 64           /* relay chunks kept for reuse */
#define EXPIRY_WARN_DAYS 30     /* warn when our certificate ends sooner */

void
server_warn(const struct config *cfg)
{
	time_t now = time(NULL);

	for (size_t i = 0; i < cfg->nservices; i++) {
		const struct service *svc = &cfg->services[i];
		bool seen = false;
		double days;
		char when[32];
		struct tm tm;

		if (service_is_open(svc))
			log_warnx("service %s lets clients in without a "
			    "certificate or a password (allow_unauthenticated)",
			    svc->name);
		for (size_t j = 0; j < i; j++)
			seen = seen || cfg->services[j].creds == svc->creds;
		if (seen || svc->creds == NULL)
			continue;
		days = difftime(svc->creds->expires, now) / 86400.0;
		if (days >= EXPIRY_WARN_DAYS)
			continue;
		days = days < 0 ? 0 : (double)(long)days;  /* whole days left */
		gmtime_r(&svc->creds->expires, &tm);
		strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
		log_warnx("service %s: certificate %s expires on %s, in %.0f "
		    "day(s): renew it and send SIGHUP", svc->name,
		    svc->tls.cert_file, when, days);
	}
}

static void
resume_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	listeners_wake(w->data);
}

int
server_init(struct server *srv, struct shared *sh, struct ev_loop *loop,
    struct config *cfg, unsigned index)
{
	memset(srv, 0, sizeof *srv);
	srv->loop = loop;
	srv->shared = sh;
	srv->index = index;
	srv->cfg = cfg;
	atomic_init(&srv->paused_full, false);
	if (verifier_init(&srv->verifier, &sh->verifiers, loop) < 0)
		return -1;
	if (buf_pool_init(&srv->pool, POOL_SPARE) < 0) {
		verifier_destroy(&srv->verifier);
		return -1;
	}
	ev_async_init(&srv->resume, resume_cb);
	srv->resume.data = srv;
	ev_async_start(loop, &srv->resume);
	/* Not a reason for the loop to run on. */
	ev_unref(loop);
	return 0;
}

void
server_swap(struct server *srv, struct config *cfg, struct listener *l,
    size_t n)
{
	struct config *old = srv->cfg;

	/* Sessions keep the generation they started with; new ones get
	 * this one from now on. */
	srv->cfg = cfg;
	config_unref(old);
	listeners_install(srv, l, n);
	listeners_resume(srv);
}

void
server_drain(struct server *srv)
{
	srv->draining = 1;
	listeners_close(srv);
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
	/* After the sessions: jobs they left behind come back here. */
	verifier_destroy(&srv->verifier);
	ev_ref(srv->loop);
	ev_async_stop(srv->loop, &srv->resume);
	if (atomic_load(&srv->paused_full))
		atomic_fetch_sub(&srv->shared->npaused, 1);
	buf_pool_destroy(&srv->pool);
	config_unref(srv->cfg);
	srv->cfg = NULL;
}
