/*
 * status.h - the status report SIGUSR1 asks for.  Each worker counts its
 * own sessions, on its own loop, into a tally the control thread gave it;
 * the control thread adds the tallies to the per-service counters and
 * logs a few lines at notice level.
 */
#ifndef VENCRYPTD_STATUS_H
#define VENCRYPTD_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "session.h"

struct config;
struct server;
struct stats;

/* Live sessions, of one service or of all. */
struct status_count {
	unsigned sessions;
	unsigned by_state[SESSION_NSTATES];
	uint64_t up, down;      /* relayed so far, each way */
};

/* One worker's sessions: rows[i] for the service whose stats index is i. */
struct status_tally {
	struct status_count all;
	struct status_count *rows;
	size_t nrows;
};

/* Room for nrows services, all zero; -1 when out of memory. */
int status_tally_init(struct status_tally *t, size_t nrows);
void status_tally_free(struct status_tally *t);
/* On srv's loop: adds its sessions to t. */
void status_tally(const struct server *srv, struct status_tally *t);
/* On the control thread: logs the report from the n tallies of the
 * workers, the counters in st and the configuration cfg now served. */
void status_report(const struct stats *st, const struct config *cfg,
    const struct status_tally *tallies, unsigned n, double uptime);

#endif
