/*
 * peerlimit.c - the per-address table (see peerlimit.h for the policy).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "peerlimit.h"

/* Room for rounding in the token sums: whole tokens stay whole. */
#define TOKEN_SLACK 1e-9

/* Spreads addresses over the buckets; not a secret worth more than that,
 * so a clock will do while the kernel's pool is not ready. */
static uint64_t
random_seed(void)
{
	struct timespec ts;
	uint64_t seed;

	if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed)
		return seed;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 32 ^
	    (uint64_t)getpid();
}

int
peerlimit_init(struct peerlimit *pl, size_t nbuckets)
{
	memset(pl, 0, sizeof *pl);
	if (nbuckets == 0 || (nbuckets & (nbuckets - 1)) != 0)
		return -1;
	pl->slots = calloc(nbuckets * PEERLIMIT_WAYS, sizeof *pl->slots);
	if (pl->slots == NULL)
		return -1;
	if (pthread_mutex_init(&pl->lock, NULL) != 0) {
		free(pl->slots);
		pl->slots = NULL;
		return -1;
	}
	pl->nbuckets = nbuckets;
	pl->seed = random_seed();
	return 0;
}

void
peerlimit_destroy(struct peerlimit *pl)
{
	if (pl->slots != NULL)
		pthread_mutex_destroy(&pl->lock);
	free(pl->slots);
	pl->slots = NULL;
	pl->nbuckets = 0;
}

/* The first of the key's PEERLIMIT_WAYS entries: FNV-1a from the seed,
 * then a 64-bit finaliser so that every bit of the key moves the bucket. */
static struct peerlimit_slot *
bucket_of(const struct peerlimit *pl, const uint8_t key[NET_KEY_LEN])
{
	uint64_t h = pl->seed ^ UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < NET_KEY_LEN; i++) {
		h ^= key[i];
		h *= UINT64_C(0x100000001b3);
	}
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64_C(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return &pl->slots[(h & (pl->nbuckets - 1)) * PEERLIMIT_WAYS];
}

static struct peerlimit_slot *
find(const struct peerlimit *pl, const uint8_t key[NET_KEY_LEN])
{
	struct peerlimit_slot *b = bucket_of(pl, key);

	for (size_t i = 0; i < PEERLIMIT_WAYS; i++)
		if (memcmp(b[i].key, key, NET_KEY_LEN) == 0)
			return &b[i];
	return NULL;
}

/* Tokens spent and not yet back at now: they come back at rate a minute;
 * with no rate there is nothing to remember. */
static double
spent_at(const struct peerlimit_slot *s, unsigned rate, double now)
{
	double back;

	if (rate == 0)
		return 0;
	back = now > s->seen ? (now - s->seen) * rate / 60.0 : 0;
	return s->spent > back ? s->spent - back : 0;
}

/* An entry that holds nothing worth keeping. */
static bool
idle_entry(const struct peerlimit_slot *s, unsigned rate, double now)
{
	if (s->key[0] == 0)
		return true;
	return s->sessions == 0 && spent_at(s, rate, now) <= TOKEN_SLACK &&
	    s->unlogged == 0;
}

/* The key's entry, made when there is none (in an idle entry of its
 * bucket, or the session-less one seen longest ago); NULL when every
 * entry of the bucket has live sessions. */
static struct peerlimit_slot *
slot_for(struct peerlimit *pl, const uint8_t key[NET_KEY_LEN], unsigned rate,
    double now)
{
	struct peerlimit_slot *b, *s, *victim = NULL;

	if ((s = find(pl, key)) != NULL)
		return s;
	b = bucket_of(pl, key);
	for (size_t i = 0; i < PEERLIMIT_WAYS; i++) {
		struct peerlimit_slot *c = &b[i];
		if (idle_entry(c, rate, now)) {
			victim = c;
			break;
		}
		if (c->sessions == 0 && (victim == NULL || c->seen < victim->seen))
			victim = c;
	}
	if (victim == NULL)
		return NULL;
	memset(victim, 0, sizeof *victim);
	memcpy(victim->key, key, NET_KEY_LEN);
	victim->seen = now;
	return victim;
}

static enum admit_result
admit_locked(struct peerlimit *pl, const uint8_t key[NET_KEY_LEN],
    unsigned max_per_ip, unsigned rate, double now, struct admit_refusal *why)
{
	struct peerlimit_slot *s;
	enum admit_result r;

	if ((s = slot_for(pl, key, rate, now)) == NULL)
		return ADMIT_UNCOUNTED;
	s->spent = spent_at(s, rate, now);
	s->seen = now;
	if (max_per_ip > 0 && s->sessions >= max_per_ip)
		r = ADMIT_TOO_MANY;
	else if (rate > 0 && s->spent + 1 > rate + TOKEN_SLACK)
		r = ADMIT_TOO_FAST;
	else {
		s->sessions++;
		if (rate > 0)
			s->spent += 1;
		return ADMIT_OK;
	}
	why->sessions = s->sessions;
	/* A quiet time longer than it can be means the clock went back. */
	if (now >= s->quiet_until ||
	    s->quiet_until - now > PEERLIMIT_LOG_EVERY) {
		why->log = true;
		why->unlogged = s->unlogged;
		s->unlogged = 0;
		s->quiet_until = now + PEERLIMIT_LOG_EVERY;
	} else
		s->unlogged++;
	return r;
}

enum admit_result
peerlimit_admit(struct peerlimit *pl, const struct net_addr *from,
    unsigned max_per_ip, unsigned rate_per_min, double now,
    struct admit_refusal *why)
{
	uint8_t key[NET_KEY_LEN];
	enum admit_result r;

	memset(why, 0, sizeof *why);
	if (from->ss.ss_family == AF_UNIX)
		return ADMIT_UNCOUNTED;
	net_addr_key(from, key);
	pthread_mutex_lock(&pl->lock);
	r = admit_locked(pl, key, max_per_ip, rate_per_min, now, why);
	pthread_mutex_unlock(&pl->lock);
	return r;
}

void
peerlimit_release(struct peerlimit *pl, const struct net_addr *from)
{
	uint8_t key[NET_KEY_LEN];
	struct peerlimit_slot *s;

	net_addr_key(from, key);
	pthread_mutex_lock(&pl->lock);
	if ((s = find(pl, key)) != NULL && s->sessions > 0)
		s->sessions--;
	pthread_mutex_unlock(&pl->lock);
}

unsigned
peerlimit_sessions(struct peerlimit *pl, const struct net_addr *from)
{
	uint8_t key[NET_KEY_LEN];
	const struct peerlimit_slot *s;
	unsigned n;

	net_addr_key(from, key);
	pthread_mutex_lock(&pl->lock);
	n = (s = find(pl, key)) != NULL ? s->sessions : 0;
	pthread_mutex_unlock(&pl->lock);
	return n;
}
