/*
 * shared.c - the state every worker thread shares (see shared.h).
 */
#include <string.h>

#include "shared.h"

int
shared_init(struct shared *sh)
{
	memset(sh, 0, sizeof *sh);
	atomic_init(&sh->next_id, 0);
	atomic_init(&sh->nsessions, 0);
	atomic_init(&sh->npaused, 0);
	atomic_init(&sh->nstarved, 0);
	if (backoff_init(&sh->backoff, BACKOFF_SLOTS) < 0)
		return -1;
	if (peerlimit_init(&sh->peerlimit, PEERLIMIT_BUCKETS) < 0) {
		backoff_destroy(&sh->backoff);
		return -1;
	}
	if (verifier_pool_init(&sh->verifiers) < 0) {
		peerlimit_destroy(&sh->peerlimit);
		backoff_destroy(&sh->backoff);
		return -1;
	}
	return 0;
}

void
shared_destroy(struct shared *sh)
{
	verifier_pool_destroy(&sh->verifiers);
	peerlimit_destroy(&sh->peerlimit);
	backoff_destroy(&sh->backoff);
}

uint64_t
shared_next_id(struct shared *sh)
{
	return atomic_fetch_add_explicit(&sh->next_id, 1,
	    memory_order_relaxed) + 1;
}

bool
shared_reserve(struct shared *sh, unsigned max)
{
	unsigned n = atomic_load(&sh->nsessions);

	do {
		if (n >= max)
			return false;
	} while (!atomic_compare_exchange_weak(&sh->nsessions, &n, n + 1));
	return true;
}

void
shared_release(struct shared *sh)
{
	atomic_fetch_sub(&sh->nsessions, 1);
}
