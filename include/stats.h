/*
 * stats.h - what happened to each service's clients, for the status
 * report (SIGUSR1): accepted, authorised, refused by reason, backend
 * failures, bytes relayed by the sessions that ended.
 *
 * One entry per service name, made by the control thread when a
 * configuration naming the service is loaded and kept until the process
 * ends: a reload that keeps a name keeps its counts, and a service a
 * reload removed is still reported (as no longer configured, when it
 * accepted anything), with the sessions it still has.  Each service of a loaded configuration points
 * at its entry; the workers add to it with relaxed atomics, never on the
 * relay path (a session's bytes are added when it ends).
 */
#ifndef VENCRYPTD_STATS_H
#define VENCRYPTD_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct config;

/* Why a client was not let through, in the order of the protocol. */
enum refusal {
	REFUSAL_PROXY,          /* "bad PROXY header": malformed, cut short,
	                         * or from an address not trusted to send one */
	REFUSAL_LIMIT,          /* "per-address limit": max_clients_per_ip or
	                         * connect_rate_per_ip */
	REFUSAL_PROTOCOL,       /* "protocol error": the clear-text RFB and
	                         * VeNCrypt preamble, or a malformed
	                         * credentials message */
	REFUSAL_TLS,            /* "TLS handshake failed" */
	REFUSAL_NO_CERT,        /* "no certificate" */
	REFUSAL_CERT,           /* "certificate invalid": chain, expiry,
	                         * revocation, key usage, algorithm */
	REFUSAL_DN,             /* "certificate not allowed": no allowed_dn */
	REFUSAL_PASSWORD,       /* "bad password": wrong password, unknown
	                         * user, user not in allowed_users */
	REFUSAL_BLOCKED,        /* "blocked": too many failed logins */
	REFUSAL_BUSY,           /* "server busy": password checks backed up */
	REFUSAL_INTERNAL,       /* "internal error": a password check failed */
	REFUSAL_TIMEOUT,        /* "timeout": the handshake took too long */
	REFUSAL_BACKEND,        /* not a refusal: the backend failed a client
	                         * that was authorised (a backend failure) */
};
/* The reasons counted as refusals: every one before REFUSAL_BACKEND. */
#define REFUSAL_REASONS REFUSAL_BACKEND

struct service_stats {
	struct service_stats *next;
	char *name;
	unsigned index;         /* from 0, in the order first configured */
	atomic_uint_fast64_t accepted;
	atomic_uint_fast64_t authorised;
	atomic_uint_fast64_t refused[REFUSAL_REASONS];
	atomic_uint_fast64_t backend_failures;
	atomic_uint_fast64_t up;        /* client to backend, sessions ended */
	atomic_uint_fast64_t down;      /* backend to client, sessions ended */
};

/* Every service ever configured, on the control thread. */
struct stats {
	struct service_stats *head;
	struct service_stats **tail;
	unsigned n;
};

void stats_init(struct stats *st);
/* After every worker is gone. */
void stats_destroy(struct stats *st);
/* Points every service of cfg at the entry of its name, made when there
 * is none yet; -1 when out of memory (entries made so far are kept). */
int stats_attach(struct stats *st, struct config *cfg);
/* "bad password" and so on, for the report. */
const char *stats_refusal_name(enum refusal why);

/* From any worker; a NULL entry counts nowhere. */
void stats_accepted(struct service_stats *ss);
void stats_authorised(struct service_stats *ss);
/* A refusal, or with REFUSAL_BACKEND a backend failure. */
void stats_refused(struct service_stats *ss, enum refusal why);
/* A session ended after relaying up and down bytes. */
void stats_closed(struct service_stats *ss, uint64_t up, uint64_t down);
/* A counter's value, for the report. */
uint64_t stats_get(const atomic_uint_fast64_t *counter);

#endif
