/*
 * backoff.c - the failed-login table (see backoff.h for the policy).
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"

#define KEY_LEN NET_KEY_LEN

int
backoff_init(struct backoff *b, size_t nslots)
{
	b->slots = nslots > 0 ? calloc(nslots, sizeof *b->slots) : NULL;
	b->nslots = b->slots != NULL ? nslots : 0;
	if (nslots == 0)
		return 0;       /* counts nothing, needs no lock */
	if (b->slots == NULL)
		return -1;
	if (pthread_mutex_init(&b->lock, NULL) != 0) {
		free(b->slots);
		b->slots = NULL;
		b->nslots = 0;
		return -1;
	}
	return 0;
}

void
backoff_destroy(struct backoff *b)
{
	if (b->nslots > 0)
		pthread_mutex_destroy(&b->lock);
	free(b->slots);
	b->slots = NULL;
	b->nslots = 0;
}

static struct backoff_slot *
find(const struct backoff *b, const uint8_t key[KEY_LEN])
{
	for (size_t i = 0; i < b->nslots; i++)
		if (memcmp(b->slots[i].key, key, KEY_LEN) == 0)
			return &b->slots[i];
	return NULL;
}

/* An entry that may be forgotten: unused, or with nothing under way, not
 * blocked, and no failure to remember (none, or all long ago). */
static int
stale(const struct backoff_slot *s, double now)
{
	if (s->key[0] == 0)
		return 1;
	if (s->pending > 0 || now < s->until)
		return 0;
	return (s->nrecent == 0 && s->blocks == 0) ||
	    now - s->last > BACKOFF_FORGET;
}

/* May make way for another address. */
static int
evictable(const struct backoff_slot *s, double now)
{
	return s->pending == 0 && now >= s->until;
}

/* The entry for key, made (from a stale entry, or the evictable one used
 * longest ago) when there is none; NULL when every entry is pinned. */
static struct backoff_slot *
slot_for(struct backoff *b, const uint8_t key[KEY_LEN], double now)
{
	struct backoff_slot *s = find(b, key), *victim = NULL;

	if (s != NULL && !stale(s, now))
		return s;
	if (s == NULL) {
		for (size_t i = 0; i < b->nslots; i++) {
			struct backoff_slot *c = &b->slots[i];
			if (stale(c, now)) {
				victim = c;
				break;
			}
			if (evictable(c, now) &&
			    (victim == NULL || c->last < victim->last))
				victim = c;
		}
		if ((s = victim) == NULL)
			return NULL;
	}
	memset(s, 0, sizeof *s);
	memcpy(s->key, key, KEY_LEN);
	return s;
}

static unsigned
failures_within_window(const struct backoff_slot *s, double now)
{
	unsigned n = 0;

	for (unsigned i = 0; i < s->nrecent; i++)
		if (now - s->recent[i] <= BACKOFF_WINDOW)
			n++;
	return n;
}

static enum backoff_verdict
begin_locked(struct backoff *b, const struct net_addr *from, double now,
    double *wait)
{
	uint8_t key[KEY_LEN];
	struct backoff_slot *s;
	unsigned limit;

	*wait = 0;
	if (b->nslots == 0)
		return BACKOFF_GO;
	net_addr_key(from, key);
	if ((s = slot_for(b, key, now)) == NULL) {
		*wait = BACKOFF_RETRY;
		return BACKOFF_FULL;
	}
	if (now < s->until) {
		*wait = s->until - now;
		return BACKOFF_BLOCKED;
	}
	limit = s->blocks > 0 ? 1 : BACKOFF_FREE - failures_within_window(s, now);
	if (s->pending >= limit) {
		*wait = BACKOFF_RETRY;
		return BACKOFF_BUSY;
	}
	s->pending++;
	s->last = now;
	return BACKOFF_GO;
}

static void
end_locked(struct backoff *b, const struct net_addr *from)
{
	uint8_t key[KEY_LEN];
	struct backoff_slot *s;

	net_addr_key(from, key);
	if ((s = find(b, key)) != NULL && s->pending > 0)
		s->pending--;
}

static double
wait_locked(const struct backoff *b, const struct net_addr *from, double now)
{
	uint8_t key[KEY_LEN];
	const struct backoff_slot *s;

	net_addr_key(from, key);
	if ((s = find(b, key)) == NULL || now >= s->until)
		return 0;
	return s->until - now;
}

static double
failed_locked(struct backoff *b, const struct net_addr *from, double now)
{
	uint8_t key[KEY_LEN];
	struct backoff_slot *s;
	double block;

	if (b->nslots == 0)
		return 0;
	net_addr_key(from, key);
	if ((s = slot_for(b, key, now)) == NULL)
		return 0;
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
	if (block > BACKOFF_MAX)
		block = BACKOFF_MAX;
	s->blocks++;
	s->until = now + block;
	return block;
}

/* ---- the same, under the table's lock ------------------------------------ */

/* An empty table (none, or destroyed) has no lock and counts nothing;
 * nslots only changes in backoff_init and backoff_destroy. */

enum backoff_verdict
backoff_begin(struct backoff *b, const struct net_addr *from, double now,
    double *wait)
{
	enum backoff_verdict v;

	if (b->nslots == 0) {
		*wait = 0;
		return BACKOFF_GO;
	}
	pthread_mutex_lock(&b->lock);
	v = begin_locked(b, from, now, wait);
	pthread_mutex_unlock(&b->lock);
	return v;
}

void
backoff_end(struct backoff *b, const struct net_addr *from)
{
	if (b->nslots == 0)
		return;
	pthread_mutex_lock(&b->lock);
	end_locked(b, from);
	pthread_mutex_unlock(&b->lock);
}

double
backoff_wait(struct backoff *b, const struct net_addr *from, double now)
{
	double w;

	if (b->nslots == 0)
		return 0;
	pthread_mutex_lock(&b->lock);
	w = wait_locked(b, from, now);
	pthread_mutex_unlock(&b->lock);
	return w;
}

double
backoff_failed(struct backoff *b, const struct net_addr *from, double now)
{
	double block;

	if (b->nslots == 0)
		return 0;
	pthread_mutex_lock(&b->lock);
	block = failed_locked(b, from, now);
	pthread_mutex_unlock(&b->lock);
	return block;
}
