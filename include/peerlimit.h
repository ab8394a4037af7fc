/*
 * peerlimit.h - sessions and new connections per client address, in a
 * fixed-size table that every worker shares.
 *
 * Each address (net_addr_key(): IPv4 whole, IPv6 by its /64, an
 * IPv4-mapped IPv6 address as its IPv4 address) has a count of the
 * sessions admitted and not yet released, and a token bucket for new
 * connections: rate tokens a minute, at most rate in hand, one spent per
 * admission.  A refused connection spends nothing, so a client that keeps
 * trying gets rate connections a minute, however fast it tries.  Unix
 * socket peers are never limited nor counted.
 *
 * The table never grows.  An address hashes (with a secret seed, so that
 * nobody outside can aim addresses at one place) to a bucket of
 * PEERLIMIT_WAYS entries.  An entry with live sessions is never given up:
 * its count must survive until the last release.  An entry without any
 * may be: first one with nothing to remember (a full bucket of tokens,
 * nothing being held back from the log), then the one seen longest ago,
 * which forgets the tokens its address spent.  When every entry of the
 * bucket has live sessions, a new address is let in uncounted: a client is
 * never refused because the table is full of others (max_clients still
 * bounds the whole), and the bucket takes it again once one of them ends.
 *
 * The caller passes the time, in seconds; the limits come with each call,
 * so that a reload takes effect at the next connection.  One table serves
 * every worker thread: each call holds the table's lock.
 */
#ifndef VENCRYPTD_PEERLIMIT_H
#define VENCRYPTD_PEERLIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net.h"

#define PEERLIMIT_WAYS 8
#define PEERLIMIT_BUCKETS 1024          /* a power of two */
#define PEERLIMIT_LOG_EVERY 10.0        /* seconds between refusal lines
                                         * for one address */

struct peerlimit_slot {
	uint8_t key[NET_KEY_LEN];       /* net_addr_key(); zero: unused */
	unsigned sessions;      /* admitted, not yet released */
	double spent;           /* connection tokens spent and not yet back
	                         * at seen (they come back at the rate) */
	double seen;            /* the latest admission or refusal */
	double quiet_until;     /* no refusal is logged before then */
	unsigned unlogged;      /* refusals not logged since the last line */
};

struct peerlimit {
	pthread_mutex_t lock;   /* over slots */
	struct peerlimit_slot *slots;   /* nbuckets * PEERLIMIT_WAYS */
	size_t nbuckets;
	uint64_t seed;
};

enum admit_result {
	ADMIT_OK,               /* counted: peerlimit_release() at its end */
	ADMIT_UNCOUNTED,        /* let in without counting (a Unix socket
	                         * peer, or no room in the table): no release */
	ADMIT_TOO_MANY,         /* max_per_ip sessions from it already */
	ADMIT_TOO_FAST,         /* its connection rate is spent */
};

/* About a refusal. */
struct admit_refusal {
	unsigned sessions;      /* the address's live sessions */
	bool log;               /* the first refusal of the address in
	                         * PEERLIMIT_LOG_EVERY seconds: log it */
	unsigned unlogged;      /* refusals not logged before this one */
};

/* nbuckets a power of two; 0, or -1 when out of resources. */
int peerlimit_init(struct peerlimit *pl, size_t nbuckets);
void peerlimit_destroy(struct peerlimit *pl);

/* A new connection from the address: let in (and counted, with ADMIT_OK)
 * or why not, with *why filled for a refusal.  max_per_ip and
 * rate_per_min are off at 0. */
enum admit_result peerlimit_admit(struct peerlimit *pl,
    const struct net_addr *from, unsigned max_per_ip, unsigned rate_per_min,
    double now, struct admit_refusal *why);
/* A session that peerlimit_admit() answered ADMIT_OK for is over; exactly
 * once per such session, with the same address. */
void peerlimit_release(struct peerlimit *pl, const struct net_addr *from);
/* The sessions counted for the address now (for tests and reports). */
unsigned peerlimit_sessions(struct peerlimit *pl, const struct net_addr *from);

#endif
