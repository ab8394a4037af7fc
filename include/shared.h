/*
 * shared.h - what the workers' event loops share, safe from any thread:
 * session ids, the process-wide session count that max_clients bounds,
 * the failed-login table, the per-address limits and the password-check
 * threads.  Nothing here is
 * touched on the relay path.
 */
#ifndef VENCRYPTD_SHARED_H
#define VENCRYPTD_SHARED_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <ev.h>

#include "backoff.h"
#include "peerlimit.h"
#include "verifier.h"

struct server;

struct shared {
	atomic_uint_fast64_t next_id;   /* the last session id given */
	atomic_uint nsessions;  /* open sessions, and accepts under way */
	atomic_uint npaused;    /* workers paused at max_clients */
	atomic_uint nstarved;   /* workers paused out of descriptors (one
	                         * warning for all of them) */
	struct backoff backoff;         /* failed logins per address */
	struct peerlimit peerlimit;     /* sessions and connections per address */
	struct verifier_pool verifiers; /* password checks */
	struct server **servers;        /* every worker, to wake paused ones;
	                                 * set before any of them runs */
	unsigned nservers;
	struct ev_loop *control;        /* the control thread's loop, and the */
	ev_async *drained;              /* wake-up a draining worker sends it
	                                 * when its last session has ended */
};

/* 0, or -1 when out of resources. */
int shared_init(struct shared *sh);
/* After every worker is gone. */
void shared_destroy(struct shared *sh);
/* A session id unique in the process, from 1. */
uint64_t shared_next_id(struct shared *sh);
/* Room for one more session while fewer than max are counted: counts it
 * and returns true; false at the limit. */
bool shared_reserve(struct shared *sh, unsigned max);
/* A counted session (or an accept that found no connection) is over. */
void shared_release(struct shared *sh);

#endif
