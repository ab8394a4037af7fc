/*
 * certcache.c - verified client certificate chains, by the SHA-256 of the
 * chain, in a fixed table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certcache.h"

int
certcache_init(struct certcache *c, size_t nslots)
{
	memset(c, 0, sizeof *c);
	c->nslots = nslots > 0 ? nslots : 1;
	return pthread_mutex_init(&c->lock, NULL) == 0 ? 0 : -1;
}

void
certcache_destroy(struct certcache *c)
{
	if (c->slots != NULL)
		for (size_t i = 0; i < c->nslots; i++)
			free(c->slots[i].dn);
	free(c->slots);
	c->slots = NULL;
	pthread_mutex_destroy(&c->lock);
}

/* The key is a hash already: its first bytes pick the slot. */
static size_t
slot_of(const struct certcache *c, const uint8_t *key)
{
	uint32_t h = (uint32_t)key[0] << 24 | (uint32_t)key[1] << 16 |
	    (uint32_t)key[2] << 8 | key[3];

	return h % c->nslots;
}

bool
certcache_lookup(struct certcache *c, const uint8_t *key, time_t now,
    char *dn, size_t dncap)
{
	bool found = false;

	pthread_mutex_lock(&c->lock);
	if (c->slots != NULL) {
		struct certcache_entry *e = &c->slots[slot_of(c, key)];
		if (e->dn != NULL && memcmp(e->key, key, CERTCACHE_KEY) == 0 &&
		    now >= e->from && now < e->until) {
			snprintf(dn, dncap, "%s", e->dn);
			found = true;
		}
	}
	if (found)
		c->hits++;
	else
		c->misses++;
	pthread_mutex_unlock(&c->lock);
	return found;
}

void
certcache_insert(struct certcache *c, const uint8_t *key, time_t from,
    time_t until, const char *dn)
{
	char *copy;

	if (from >= until || (copy = strdup(dn)) == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	if (c->slots == NULL)
		c->slots = calloc(c->nslots, sizeof *c->slots);
	if (c->slots == NULL) {
		pthread_mutex_unlock(&c->lock);
		free(copy);
		return;
	}
	struct certcache_entry *e = &c->slots[slot_of(c, key)];
	free(e->dn);
	memcpy(e->key, key, CERTCACHE_KEY);
	e->from = from;
	e->until = until;
	e->dn = copy;
	pthread_mutex_unlock(&c->lock);
}
