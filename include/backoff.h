/*
 * backoff.h - failed logins per source address, in a fixed-size table.
 *
 * When BACKOFF_FREE failures from one address fall within any
 * BACKOFF_WINDOW seconds, the address is blocked for BACKOFF_FIRST
 * seconds, and every failure after that doubles the block, up to
 * BACKOFF_MAX.  An address quiet for BACKOFF_FORGET seconds starts afresh.
 *
 * Checks under way count too, so that guesses sent all at once cannot
 * outrun the count: an address may have at most BACKOFF_FREE checks under
 * way and recent failures together (one at a time once it has been
 * blocked).  Addresses count as net_addr_key() says: IPv6 per /64.
 *
 * The table never grows: when it is full, the entry used longest ago
 * makes room, but never one that is blocked or has a check under way; if
 * every entry is such, a new address must wait.  The caller passes the
 * time.  One table serves every worker thread: each call holds the
 * table's lock, so attempts spread over the threads count as one.
 */
#ifndef VENCRYPTD_BACKOFF_H
#define VENCRYPTD_BACKOFF_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "net.h"

#define BACKOFF_SLOTS 4096
#define BACKOFF_FREE 5          /* failures allowed in a window */
#define BACKOFF_WINDOW 60.0
#define BACKOFF_FIRST 2.0
#define BACKOFF_MAX 300.0
#define BACKOFF_FORGET 900.0
#define BACKOFF_RETRY 1.0       /* the wait told when checks are under way */

struct backoff_slot {
	uint8_t key[NET_KEY_LEN];       /* net_addr_key(); zero: unused */
	double recent[BACKOFF_FREE];    /* the latest failures, a ring */
	unsigned nrecent;       /* how many of recent[] are set */
	unsigned next;          /* where the next failure goes */
	unsigned blocks;        /* blocks so far: each doubles the next */
	unsigned pending;       /* checks under way */
	double last;            /* latest failure or check */
	double until;           /* blocked until then */
};

struct backoff {
	pthread_mutex_t lock;   /* over slots; only when nslots > 0 */
	struct backoff_slot *slots;
	size_t nslots;
};

enum backoff_verdict {
	BACKOFF_GO,             /* the check may start; it is counted */
	BACKOFF_BLOCKED,        /* too many failures: blocked */
	BACKOFF_BUSY,           /* too many checks under way from it */
	BACKOFF_FULL,           /* no room to count it */
};

/* 0, or -1 when out of memory. */
int backoff_init(struct backoff *b, size_t nslots);
void backoff_destroy(struct backoff *b);

/* Before a password check from the address: BACKOFF_GO (and the check is
 * counted as under way until backoff_end), or why not, with *wait the
 * seconds to wait. */
enum backoff_verdict backoff_begin(struct backoff *b,
    const struct net_addr *from, double now, double *wait);
/* The check begun by backoff_begin is over (call after backoff_failed
 * when it failed). */
void backoff_end(struct backoff *b, const struct net_addr *from);
/* Seconds the address stays blocked from now, 0 when it is not. */
double backoff_wait(struct backoff *b, const struct net_addr *from,
    double now);
/* Records a failure; returns the seconds the address is now blocked for
 * (0 when it is not). */
double backoff_failed(struct backoff *b, const struct net_addr *from,
    double now);

#endif
