/*
 * backoff.h - failed logins per source address, in a fixed-size table.
 *
 * When BACKOFF_FREE failures from one address fall within any
 * BACKOFF_WINDOW seconds, the address is blocked for BACKOFF_FIRST
 * seconds, and every failure after that doubles the block, up to
 * BACKOFF_MAX.  An address
 * quiet for BACKOFF_FORGET seconds starts afresh.  When the table is
 * full the entry used longest ago makes room, so memory stays bounded
 * whatever the peers do.  Pure: the caller passes the time.
 */
#ifndef VENCRYPTD_BACKOFF_H
#define VENCRYPTD_BACKOFF_H

#include <stddef.h>
#include <stdint.h>

#include "net.h"

#define BACKOFF_SLOTS 4096
#define BACKOFF_FREE 5          /* failures allowed in a window */
#define BACKOFF_WINDOW 60.0
#define BACKOFF_FIRST 2.0
#define BACKOFF_MAX 300.0
#define BACKOFF_FORGET 900.0

struct backoff_slot {
	uint8_t key[17];        /* family, then the address; zero: unused */
	double recent[BACKOFF_FREE];    /* the latest failures, a ring */
	unsigned nrecent;       /* how many of recent[] are set */
	unsigned next;          /* where the next failure goes */
	unsigned blocks;        /* blocks so far: each doubles the next */
	double last;            /* latest failure */
	double until;           /* blocked until then */
};

struct backoff {
	struct backoff_slot *slots;
	size_t nslots;
};

/* 0, or -1 when out of memory. */
int backoff_init(struct backoff *b, size_t nslots);
void backoff_destroy(struct backoff *b);

/* Seconds the address stays blocked from now, 0 when it may try. */
double backoff_wait(const struct backoff *b, const struct net_addr *from,
    double now);
/* Records a failure; returns the seconds the address is now blocked for
 * (0 when it may try again at once). */
double backoff_failed(struct backoff *b, const struct net_addr *from,
    double now);

#endif
