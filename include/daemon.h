/*
 * daemon.h - the control thread: the worker threads, each with its own
 * event loop, the listening sockets they share out, the signals, the
 * reload that hands every worker the new configuration, the drain on
 * SIGTERM and the status report on SIGUSR1.
 */
#ifndef VENCRYPTD_DAEMON_H
#define VENCRYPTD_DAEMON_H

#include <pthread.h>
#include <stdbool.h>
#include <ev.h>

#include "config.h"
#include "server.h"
#include "shared.h"
#include "stats.h"

struct daemon;
struct listen_set;
struct listener;
struct status_tally;

/* One worker thread and its loop. */
struct worker {
	struct daemon *d;
	unsigned index;         /* from 0: its column of the listen set */
	struct ev_loop *loop;
	struct server srv;
	pthread_t thread;
	bool running;           /* the thread was started */
	ev_async ctl;           /* a message below is waiting */
	/* Messages from the control thread, under d->lock. */
	bool stop;
	struct config *next_cfg;        /* a reference, NULL when none */
	struct listener *next_listeners;
	size_t next_n;
	bool drain;                     /* stop accepting: server_drain() */
	struct status_tally *tally;     /* count your sessions here */
};

struct daemon {
	struct ev_loop *loop;   /* the control loop: signals only */
	struct config *cfg;     /* the current generation */
	struct shared shared;
	struct listen_set *set;
	struct worker *workers;
	unsigned nworkers;      /* fixed at start */
	ev_signal sig_term;
	ev_signal sig_int;
	ev_signal sig_hup;
	ev_signal sig_usr1;
	const char *ports_file; /* rewritten after a reload, when set */
	int verbose;            /* log levels above the configured one */
	pthread_mutex_t lock;   /* over the workers' messages and nswapped */
	pthread_cond_t swapped;
	unsigned nswapped;      /* workers done with the latest message
	                         * (a reload, the drain, a status tally) */
	/* As started: a reload that changes them says they wait for a
	 * restart. */
	char *started_user;
	char *started_group;
	char *started_pid_file;
	struct stats stats;     /* per service, across reloads */
	double started;         /* monotonic seconds, for the uptime */
	bool draining;          /* SIGTERM or SIGINT came: no more accepts,
	                         * the sessions are given shutdown_grace */
	ev_timer grace;         /* the end of shutdown_grace */
	ev_async drained;       /* a worker's last session ended (draining) */
};

/* Takes over the caller's reference to cfg; -1 when out of resources. */
int daemon_init(struct daemon *d, struct ev_loop *loop, struct config *cfg);
/* The log target and level of d->cfg, raised by d->verbose. */
void daemon_apply_log(const struct daemon *d);
/* Opens every listening socket, starts watching the signals and writes
 * the ports file; -1 (logged) on failure. */
int daemon_listen(struct daemon *d);
/* Starts the worker threads (after any fork); -1 (logged) on failure. */
int daemon_start(struct daemon *d);
/* Handles signals until the end: SIGTERM or SIGINT stops accepting, and
 * returns once every session has ended or limits.shutdown_grace is over,
 * or on a second SIGTERM or SIGINT; at once with a grace of 0. */
void daemon_run(struct daemon *d);
/* Stops every worker (their sessions end "daemon stopping"), joins the
 * threads and closes everything. */
void daemon_destroy(struct daemon *d);

#endif
