/*
 * server.c - the per-loop context: listeners, sessions, the buffer pool
 * and the signals that stop the loop.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "listener.h"
#include "server.h"
#include "session.h"
#include "tls.h"

#define POOL_SPARE 64           /* relay chunks kept for reuse */
#define EXPIRY_WARN_DAYS 30     /* warn when our certificate ends sooner */

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
	log_notice("SIGHUP received: reloading %s", ((struct server *)w->data)->cfg->path);
	server_reload(w->data);
}

void
server_apply_log(const struct server *srv)
{
	int level = (int)srv->cfg->log_level + srv->verbose;

	if (level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_DEBUG;
	log_init(srv->cfg->log_target, (enum log_level)level);
}

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

void
server_reload(struct server *srv)
{
	struct config_errors errs = { NULL, 0 };
	struct config *cfg, *old = srv->cfg;

	cfg = config_load(old->path, &errs);
	if (cfg != NULL && config_load_credentials(cfg, &errs) < 0) {
		config_free(cfg);
		cfg = NULL;
	}
	for (size_t i = 0; i < errs.n; i++)
		log_errx("%s", errs.lines[i]);
	if (cfg == NULL) {
		log_errx("reload failed: %zu error(s) in the configuration; "
		    "still serving with the previous one", errs.n);
		config_errors_free(&errs);
		return;
	}
	config_errors_free(&errs);
	if (listeners_apply(srv, cfg) < 0) {
		config_free(cfg);
		listeners_resume(srv);
		log_errx("reload failed: cannot open a listener; still serving "
		    "with the previous configuration");
		return;
	}
	/* Sessions keep the generation they started with; new ones get
	 * this one from now on. */
	srv->cfg = cfg;
	config_unref(old);
	server_apply_log(srv);
	listeners_resume(srv);
	if (srv->ports_file != NULL &&
	    listeners_write_ports_file(srv, srv->ports_file) < 0)
		log_warn("cannot write ports file %s", srv->ports_file);
	server_warn(cfg);
	log_notice("reload succeeded: %zu service(s), %u session(s) "
	    "continue with the configuration they started with",
	    cfg->nservices, srv->nsessions);
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
	if (buf_pool_init(&srv->pool, POOL_SPARE) < 0) {
		verifier_destroy(&srv->verifier);
		backoff_destroy(&srv->backoff);
		return -1;
	}
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
