/*
 * daemon.c - the control thread.  It owns the configuration generations
 * and the listening sockets, starts one thread per worker, each running
 * its own event loop, and talks to them only through an ev_async and a
 * few fields under one lock: "serve this configuration on these
 * listeners" on a reload, "stop accepting" on SIGTERM, "count your
 * sessions" on SIGUSR1, "stop" at the end.  Signals reach this thread
 * alone.
 *
 * Stopping: the first SIGTERM or SIGINT closes every listening socket
 * (once each worker has let go of it) and gives the live sessions
 * limits.shutdown_grace seconds.  The loop ends when the last of them
 * ends (its worker wakes this thread), when the grace is over, or on a
 * second SIGTERM or SIGINT; daemon_destroy() then closes what is left.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "listener.h"
#include "log.h"
#include "notify.h"
#include "status.h"

static const char *
signal_name(int signum)
{
	switch (signum) {
	case SIGTERM: return "SIGTERM";
	case SIGINT: return "SIGINT";
	case SIGHUP: return "SIGHUP";
	case SIGUSR1: return "SIGUSR1";
	default: return strsignal(signum);
	}
}

static double
monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sessions open in every worker. */
static unsigned
live_sessions(struct daemon *d)
{
	return atomic_load(&d->shared.nsessions);
}

void
daemon_apply_log(const struct daemon *d)
{
	int level = (int)d->cfg->log_level + d->verbose;

	if (level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_DEBUG;
	log_init(d->cfg->log_target, (enum log_level)level);
}

/* ---- on a worker's thread ----------------------------------------------- */

/* A message from the control thread is done with. */
static void
answered(struct daemon *d)
{
	pthread_mutex_lock(&d->lock);
	d->nswapped++;
	pthread_cond_signal(&d->swapped);
	pthread_mutex_unlock(&d->lock);
}

static void
ctl_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	struct worker *w = a->data;
	struct daemon *d = w->d;
	struct config *cfg;
	struct listener *l;
	struct status_tally *tally;
	size_t n;
	bool stop, drain;

	pthread_mutex_lock(&d->lock);
	stop = w->stop;
	cfg = w->next_cfg;
	l = w->next_listeners;
	n = w->next_n;
	drain = w->drain;
	tally = w->tally;
	w->next_cfg = NULL;
	w->next_listeners = NULL;
	w->drain = false;
	w->tally = NULL;
	pthread_mutex_unlock(&d->lock);
	if (cfg != NULL) {
		server_swap(&w->srv, cfg, l, n);
		answered(d);
	}
	if (drain) {
		server_drain(&w->srv);
		answered(d);
	}
	if (tally != NULL) {
		status_tally(&w->srv, tally);
		answered(d);
	}
	if (stop) {
		ev_async_stop(loop, a);
		server_stop(&w->srv);
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	char name[16];

	/* Shown by ps -T and in /proc/PID/task/TID/comm. */
	snprintf(name, sizeof name, "vencryptd-w%u", w->index + 1);
	pthread_setname_np(pthread_self(), name);
	ev_run(w->loop, 0);
	server_destroy(&w->srv);
	return NULL;
}

/* ---- on the control thread ------------------------------------------------ */

/* Each worker's listeners on set; false (logged, nothing kept) when out
 * of memory. */
static bool
prepare_all(struct daemon *d, const struct listen_set *set,
    struct listener **out)
{
	for (unsigned i = 0; i < d->nworkers; i++) {
		out[i] = listeners_prepare(&d->workers[i].srv, set, i);
		if (out[i] == NULL) {
			while (i-- > 0)
				free(out[i]);
			log_errx("out of memory");
			return false;
		}
	}
	return true;
}

static bool
str_differs(const char *a, const char *b)
{
	return a != b && (a == NULL || b == NULL || strcmp(a, b) != 0);
}

/* What only a restart changes: say so. */
static void
note_restart_only(const struct daemon *d, const struct config *cfg)
{
	if (cfg->workers != d->nworkers)
		log_notice("workers = %u takes effect on restart: still %u "
		    "worker(s)", cfg->workers, d->nworkers);
	if (str_differs(cfg->user, d->started_user))
		log_notice("user = %s takes effect on restart: still %s",
		    cfg->user != NULL ? cfg->user : "(none)",
		    d->started_user != NULL ? d->started_user : "as started");
	if (str_differs(cfg->group, d->started_group))
		log_notice("group = %s takes effect on restart: still %s",
		    cfg->group != NULL ? cfg->group : "(none)",
		    d->started_group != NULL ? d->started_group : "as started");
	if (str_differs(cfg->pid_file, d->started_pid_file))
		log_notice("pid_file = %s takes effect on restart: still %s",
		    cfg->pid_file != NULL ? cfg->pid_file : "(none)",
		    d->started_pid_file != NULL ? d->started_pid_file : "none");
}

/* Leaves every worker the message set(w, arg) writes (under d->lock),
 * wakes them all and waits until each has acted on it. */
static void
ask_workers(struct daemon *d, void (*set)(struct worker *, void *),
    void *arg)
{
	pthread_mutex_lock(&d->lock);
	d->nswapped = 0;
	for (unsigned i = 0; i < d->nworkers; i++) {
		struct worker *w = &d->workers[i];
		set(w, arg);
		ev_async_send(w->loop, &w->ctl);
	}
	while (d->nswapped < d->nworkers)
		pthread_cond_wait(&d->swapped, &d->lock);
	pthread_mutex_unlock(&d->lock);
}

/* A reload's message: a configuration and each worker's listeners. */
struct swap {
	struct config *cfg;
	struct listener **ls;
	size_t n;
};

static void
set_swap(struct worker *w, void *arg)
{
	const struct swap *sw = arg;

	w->next_cfg = config_ref(sw->cfg);
	w->next_listeners = sw->ls[w->index];
	w->next_n = sw->n;
}

static void
set_drain(struct worker *w, void *arg)
{
	w->drain = true;
}

static void
set_tally(struct worker *w, void *arg)
{
	w->tally = (struct status_tally *)arg + w->index;
}

/* SIGHUP: the whole configuration anew, or (logged) nothing at all. */
static void
reload(struct daemon *d)
{
	struct config_errors errs = { NULL, 0 };
	struct config *cfg;
	struct listen_set *set;
	struct listener **ls;

	cfg = config_load(d->cfg->path, &errs);
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
	if (stats_attach(&d->stats, cfg) < 0) {
		config_free(cfg);
		log_errx("reload failed: out of memory; still serving with the "
		    "previous configuration");
		return;
	}
	if ((set = listen_set_open(d->set, cfg, d->nworkers)) == NULL) {
		config_free(cfg);
		log_errx("reload failed: cannot open a listener; still serving "
		    "with the previous configuration");
		return;
	}
	if ((ls = calloc(d->nworkers, sizeof *ls)) == NULL ||
	    !prepare_all(d, set, ls)) {
		free(ls);
		listen_set_retire(set, d->set);
		config_free(cfg);
		log_errx("reload failed: out of memory; still serving with the "
		    "previous configuration");
		return;
	}
	note_restart_only(d, cfg);

	/* Every worker switches on its own loop; the sockets no longer
	 * named close once none of them watches them. */
	ask_workers(d, set_swap, &(struct swap){ cfg, ls, set->n });
	free(ls);
	listen_set_retire(d->set, set);
	d->set = set;
	config_unref(d->cfg);
	d->cfg = cfg;
	daemon_apply_log(d);
	if (d->ports_file != NULL &&
	    listen_set_write_ports_file(set, d->ports_file) < 0)
		log_warn("cannot write ports file %s", d->ports_file);
	server_warn(cfg);
	log_notice("reload succeeded: %zu service(s), %u session(s) "
	    "continue with the configuration they started with",
	    cfg->nservices, atomic_load(&d->shared.nsessions));
}

static void
hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;

	if (d->draining) {
		log_notice("SIGHUP received: ignored, the daemon is stopping");
		return;
	}
	notify_reloading();
	log_notice("SIGHUP received: reloading %s", d->cfg->path);
	reload(d);
	notify_status("serving %zu service(s)", d->cfg->nservices);
	notify_ready();
}

static bool
copy_started(char **out, const char *s)
{
	*out = s != NULL ? strdup(s) : NULL;
	return s == NULL || *out != NULL;
}

static void
free_started(struct daemon *d)
{
	free(d->started_user);
	free(d->started_group);
	free(d->started_pid_file);
}

/* SIGUSR1: every worker counts its sessions; the report is logged. */
static void
usr1_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;
	struct status_tally *t;
	unsigned i;

	if ((t = calloc(d->nworkers, sizeof *t)) == NULL) {
		log_errx("status report: out of memory");
		return;
	}
	for (i = 0; i < d->nworkers; i++)
		if (status_tally_init(&t[i], d->stats.n) < 0)
			break;
	if (i < d->nworkers) {
		log_errx("status report: out of memory");
	} else {
		ask_workers(d, set_tally, t);
		status_report(&d->stats, d->cfg, t, d->nworkers,
		    monotonic() - d->started);
	}
	for (i = 0; i < d->nworkers; i++)
		status_tally_free(&t[i]);
	free(t);
}

/* The first SIGTERM or SIGINT: no worker accepts any more, the listening
 * sockets close (a connection is refused, not queued), and the live
 * sessions have shutdown_grace seconds to end. */
static void
drain(struct daemon *d, int signum)
{
	unsigned grace = d->cfg->shutdown_grace, n;

	notify_stopping();
	if (grace == 0) {
		log_notice("%s received: stopping; closing %u session(s) now "
		    "(shutdown_grace = 0)", signal_name(signum),
		    live_sessions(d));
		ev_break(d->loop, EVBREAK_ALL);
		return;
	}
	d->draining = true;
	ask_workers(d, set_drain, NULL);
	listen_set_retire(d->set, NULL);
	d->set = NULL;
	/* From here only a worker whose last session ends wakes us. */
	n = live_sessions(d);
	log_notice("%s received: stopping; %u session(s) have up to %u s",
	    signal_name(signum), n, grace);
	if (n == 0) {
		ev_break(d->loop, EVBREAK_ALL);
		return;
	}
	ev_timer_set(&d->grace, grace, 0.);
	ev_timer_start(d->loop, &d->grace);
}

static void
term_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;

	if (!d->draining) {
		drain(d, w->signum);
		return;
	}
	log_notice("%s received again: closing %u session(s) now",
	    signal_name(w->signum), live_sessions(d));
	ev_break(loop, EVBREAK_ALL);
}

static void
grace_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;

	log_notice("shutdown_grace (%u s) is over: closing %u session(s)",
	    d->cfg->shutdown_grace, live_sessions(d));
	ev_break(loop, EVBREAK_ALL);
}

/* A draining worker's last session ended: were they the last of all? */
static void
drained_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct daemon *d = w->data;

	if (!d->draining || live_sessions(d) > 0)
		return;
	log_notice("every session has ended");
	ev_break(loop, EVBREAK_ALL);
}

int
daemon_init(struct daemon *d, struct ev_loop *loop, struct config *cfg)
{
	memset(d, 0, sizeof *d);
	d->loop = loop;
	d->cfg = cfg;
	d->nworkers = cfg->workers;
	stats_init(&d->stats);
	if (!copy_started(&d->started_user, cfg->user) ||
	    !copy_started(&d->started_group, cfg->group) ||
	    !copy_started(&d->started_pid_file, cfg->pid_file))
		goto fail_stats;
	if (stats_attach(&d->stats, cfg) < 0)
		goto fail_stats;
	if (shared_init(&d->shared) < 0)
		goto fail_stats;
	if (pthread_mutex_init(&d->lock, NULL) != 0)
		goto fail_shared;
	if (pthread_cond_init(&d->swapped, NULL) != 0)
		goto fail_lock;
	ev_signal_init(&d->sig_term, term_cb, SIGTERM);
	ev_signal_init(&d->sig_int, term_cb, SIGINT);
	ev_signal_init(&d->sig_hup, hup_cb, SIGHUP);
	ev_signal_init(&d->sig_usr1, usr1_cb, SIGUSR1);
	ev_init(&d->grace, grace_cb);
	ev_async_init(&d->drained, drained_cb);
	d->sig_term.data = d->sig_int.data = d->sig_hup.data = d;
	d->sig_usr1.data = d->grace.data = d->drained.data = d;
	return 0;
fail_lock:
	pthread_mutex_destroy(&d->lock);
fail_shared:
	shared_destroy(&d->shared);
fail_stats:
	stats_destroy(&d->stats);
	free_started(d);
	return -1;
}

int
daemon_listen(struct daemon *d)
{
	if ((d->set = listen_set_open(NULL, d->cfg, d->nworkers)) == NULL)
		return -1;
	/* Before the ports file tells anyone we are there: a signal sent
	 * from then on is handled (once the loop runs), never fatal. */
	ev_signal_start(d->loop, &d->sig_term);
	ev_signal_start(d->loop, &d->sig_int);
	ev_signal_start(d->loop, &d->sig_hup);
	ev_signal_start(d->loop, &d->sig_usr1);
	if (d->ports_file != NULL &&
	    listen_set_write_ports_file(d->set, d->ports_file) < 0) {
		log_err("cannot write ports file %s", d->ports_file);
		return -1;
	}
	return 0;
}

int
daemon_start(struct daemon *d)
{
	struct listener **ls;
	sigset_t all, old;
	unsigned i;
	int err;

	d->workers = calloc(d->nworkers, sizeof *d->workers);
	d->shared.servers = calloc(d->nworkers, sizeof *d->shared.servers);
	ls = calloc(d->nworkers, sizeof *ls);
	if (d->workers == NULL || d->shared.servers == NULL || ls == NULL)
		goto nomem;
	for (i = 0; i < d->nworkers; i++) {
		struct worker *w = &d->workers[i];
		w->d = d;
		w->index = i;
		if ((w->loop = ev_loop_new(EVFLAG_AUTO)) == NULL) {
			log_errx("cannot create the event loop of worker %u",
			    i + 1);
			goto fail;
		}
		if (server_init(&w->srv, &d->shared, w->loop,
		    config_ref(d->cfg), i + 1) < 0) {
			ev_loop_destroy(w->loop);
			w->loop = NULL;
			goto nomem;
		}
		ev_async_init(&w->ctl, ctl_cb);
		w->ctl.data = w;
		ev_async_start(w->loop, &w->ctl);
		d->shared.servers[i] = &w->srv;
	}
	d->shared.nservers = d->nworkers;
	d->shared.control = d->loop;
	d->shared.drained = &d->drained;
	ev_async_start(d->loop, &d->drained);
	d->started = monotonic();
	if (!prepare_all(d, d->set, ls))
		goto fail;
	for (i = 0; i < d->nworkers; i++)
		server_swap(&d->workers[i].srv, config_ref(d->cfg), ls[i],
		    d->set->n);
	free(ls);
	ls = NULL;

	/* Signals stay with this thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < d->nworkers; i++) {
		struct worker *w = &d->workers[i];
		if ((err = pthread_create(&w->thread, NULL, worker_main, w)) != 0)
			break;
		w->running = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (i < d->nworkers) {
		log_errx("cannot start worker %u of %u: %s", i + 1, d->nworkers,
		    strerror(err));
		return -1;
	}
	return 0;
nomem:
	log_errx("out of memory");
fail:
	free(ls);
	return -1;
}

void
daemon_run(struct daemon *d)
{
	ev_run(d->loop, 0);
}

void
daemon_destroy(struct daemon *d)
{
	sigset_t ours;

	/* On the way out: a signal now (a second SIGTERM a moment late, a
	 * status request) must not turn exit status 0 into death by it.
	 * Blocked first, since stopping a watcher restores the default. */
	sigemptyset(&ours);
	sigaddset(&ours, SIGTERM);
	sigaddset(&ours, SIGINT);
	sigaddset(&ours, SIGHUP);
	sigaddset(&ours, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &ours, NULL);
	ev_signal_stop(d->loop, &d->sig_term);
	ev_signal_stop(d->loop, &d->sig_int);
	ev_signal_stop(d->loop, &d->sig_hup);
	ev_signal_stop(d->loop, &d->sig_usr1);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	ev_timer_stop(d->loop, &d->grace);
	ev_async_stop(d->loop, &d->drained);
	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; d->workers != NULL && i < d->nworkers; i++)
		d->workers[i].stop = true;
	pthread_mutex_unlock(&d->lock);
	for (unsigned i = 0; d->workers != NULL && i < d->nworkers; i++) {
		struct worker *w = &d->workers[i];
		if (w->running)
			ev_async_send(w->loop, &w->ctl);
	}
	/* Every thread is gone before any loop goes: a session ending on
	 * one worker may still wake another. */
	for (unsigned i = 0; d->workers != NULL && i < d->nworkers; i++) {
		struct worker *w = &d->workers[i];
		if (w->running)
			pthread_join(w->thread, NULL);
		else if (w->loop != NULL)
			server_destroy(&w->srv);
	}
	for (unsigned i = 0; d->workers != NULL && i < d->nworkers; i++)
		if (d->workers[i].loop != NULL)
			ev_loop_destroy(d->workers[i].loop);
	free(d->workers);
	free(d->shared.servers);
	listen_set_retire(d->set, NULL);
	shared_destroy(&d->shared);
	pthread_cond_destroy(&d->swapped);
	pthread_mutex_destroy(&d->lock);
	config_unref(d->cfg);
	d->cfg = NULL;
	free_started(d);
	stats_destroy(&d->stats);
}
