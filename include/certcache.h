/*
 * certcache.h - client certificate chains already verified, remembered so
 * a client that comes back does not cost a chain verification again.
 *
 * The key is the SHA-256 of the exact chain the client sent.  Only chains
 * that verified are remembered, each with the span of time in which that
 * verification holds (every certificate's, the CA's and the CRL's
 * validity) and the subject DN.  Nothing else a verification depends on
 * (the CA, the CRL, the purpose) changes while a cache exists: a cache
 * belongs to one loaded set of credentials, and a reload makes new ones.
 *
 * A fixed-size table, one entry per slot chosen by the key, so its size
 * never grows; a newer chain takes the slot of an older one.  Safe to use
 * from several threads.  Pure apart from the lock: the caller passes the
 * time.
 */
#ifndef VENCRYPTD_CERTCACHE_H
#define VENCRYPTD_CERTCACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CERTCACHE_SLOTS 256
#define CERTCACHE_KEY 32        /* SHA-256 */

struct certcache_entry {
	uint8_t key[CERTCACHE_KEY];
	time_t from, until;     /* the verification holds from <= t < until */
	char *dn;               /* NULL: the slot is free */
};

struct certcache {
	pthread_mutex_t lock;
	struct certcache_entry *slots;  /* allocated by the first insert */
	size_t nslots;
	uint64_t hits, misses;
};

int certcache_init(struct certcache *c, size_t nslots);
void certcache_destroy(struct certcache *c);
/* true, with the chain's subject DN in dn, when key was remembered and
 * now is inside its span. */
bool certcache_lookup(struct certcache *c, const uint8_t *key, time_t now,
    char *dn, size_t dncap);
/* Remember a chain that verified; nothing when out of memory or the span
 * is empty. */
void certcache_insert(struct certcache *c, const uint8_t *key, time_t from,
    time_t until, const char *dn);

#endif
