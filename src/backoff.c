/*
 * backoff.c - the failed-login table (see backoff.h for the policy).
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"

/* The source address without the port; every Unix-socket peer is one. */
static void
make_key(const struct net_addr *a, uint8_t key[17])
{
	memset(key, 0, 17);
	switch (a->ss.ss_family) {
	case AF_INET:
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
		break;
	case AF_INET6:
		key[0] = 6;
		memcpy(key + 1, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr,
		    16);
		break;
	default:
		key[0] = 1;
		break;
	}
}

int
backoff_init(struct backoff *b, size_t nslots)
{
	b->slots = calloc(nslots, sizeof *b->slots);
	b->nslots = b->slots != NULL ? nslots : 0;
	return b->slots != NULL ? 0 : -1;
}

void
backoff_destroy(struct backoff *b)
{
	free(b->slots);
	b->slots = NULL;
	b->nslots = 0;
}

static struct backoff_slot *
find(const struct backoff *b, const uint8_t key[17])
{
	for (size_t i = 0; i < b->nslots; i++)
		if (memcmp(b->slots[i].key, key, 17) == 0)
			return &b->slots[i];
	return NULL;
}

/* An entry quiet for long enough is forgotten. */
static int
stale(const struct backoff_slot *s, double now)
{
	return s->key[0] == 0 || (now - s->last > BACKOFF_FORGET &&
	    now >= s->until);
}

double
backoff_wait(const struct backoff *b, const struct net_addr *from, double now)
{
	uint8_t key[17];
	const struct backoff_slot *s;

	make_key(from, key);
	if ((s = find(b, key)) == NULL || now >= s->until)
		return 0;
	return s->until - now;
}

double
backoff_failed(struct backoff *b, const struct net_addr *from, double now)
{
	uint8_t key[17];
	struct backoff_slot *s;
	double block;

	if (b->nslots == 0)
		return 0;
	make_key(from, key);
	if ((s = find(b, key)) == NULL || stale(s, now)) {
		if (s == NULL) {
			/* A free or stale slot, else the least recently used. */
			s = &b->slots[0];
			for (size_t i = 0; i < b->nslots && !stale(s, now); i++)
				if (stale(&b->slots[i], now) ||
				    b->slots[i].last < s->last)
					s = &b->slots[i];
		}
		memset(s, 0, sizeof *s);
		memcpy(s->key, key, 17);
	}
	s->recent[s->next] = now;
	s->next = (s->next + 1) % BACKOFF_FREE;
	if (s->nrecent < BACKOFF_FREE)
		s->nrecent++;
	s->last = now;
	/* Once full, recent[next] is the oldest of the last BACKOFF_FREE. */
	if (s->blocks == 0 && (s->nrecent < BACKOFF_FREE ||
	    now - s->recent[s->next] > BACKOFF_WINDOW))
		return 0;
	block = BACKOFF_FIRST;
	for (unsigned i = 0; i < s->blocks && block < BACKOFF_MAX; i++)
		block *= 2;
	s->blocks++;
	if (block > BACKOFF_MAX)
		block = BACKOFF_MAX;
	s->until = now + block;
	return block;
}
