/*
 * stats.c - per-service counters (see stats.h).
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "stats.h"

static const char *const refusal_names[] = {
	[REFUSAL_PROXY] = "bad PROXY header",
	[REFUSAL_LIMIT] = "per-address limit",
	[REFUSAL_PROTOCOL] = "protocol error",
	[REFUSAL_TLS] = "TLS handshake failed",
	[REFUSAL_NO_CERT] = "no certificate",
	[REFUSAL_CERT] = "certificate invalid",
	[REFUSAL_DN] = "certificate not allowed",
	[REFUSAL_PASSWORD] = "bad password",
	[REFUSAL_BLOCKED] = "blocked",
	[REFUSAL_BUSY] = "server busy",
	[REFUSAL_INTERNAL] = "internal error",
	[REFUSAL_TIMEOUT] = "timeout",
	[REFUSAL_BACKEND] = "backend failure",
};

void
stats_init(struct stats *st)
{
	st->head = NULL;
	st->tail = &st->head;
	st->n = 0;
}

void
stats_destroy(struct stats *st)
{
	struct service_stats *ss, *next;

	for (ss = st->head; ss != NULL; ss = next) {
		next = ss->next;
		free(ss->name);
		free(ss);
	}
	stats_init(st);
}

static struct service_stats *
entry(struct stats *st, const char *name)
{
	struct service_stats *ss;

	for (ss = st->head; ss != NULL; ss = ss->next)
		if (strcmp(ss->name, name) == 0)
			return ss;
	if ((ss = calloc(1, sizeof *ss)) == NULL)
		return NULL;
	atomic_init(&ss->accepted, 0);
	atomic_init(&ss->authorised, 0);
	for (size_t i = 0; i < REFUSAL_REASONS; i++)
		atomic_init(&ss->refused[i], 0);
	atomic_init(&ss->backend_failures, 0);
	atomic_init(&ss->up, 0);
	atomic_init(&ss->down, 0);
	if ((ss->name = strdup(name)) == NULL) {
		free(ss);
		return NULL;
	}
	ss->index = st->n++;
	*st->tail = ss;
	st->tail = &ss->next;
	return ss;
}

int
stats_attach(struct stats *st, struct config *cfg)
{
	for (size_t i = 0; i < cfg->nservices; i++)
		if ((cfg->services[i].stats = entry(st, cfg->services[i].name)) == NULL)
			return -1;
	return 0;
}

const char *
stats_refusal_name(enum refusal why)
{
	return refusal_names[why];
}

static void
add(atomic_uint_fast64_t *counter, uint64_t n)
{
	atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

uint64_t
stats_get(const atomic_uint_fast64_t *counter)
{
	return atomic_load_explicit(counter, memory_order_relaxed);
}

void
stats_accepted(struct service_stats *ss)
{
	if (ss != NULL)
		add(&ss->accepted, 1);
}

void
stats_authorised(struct service_stats *ss)
{
	if (ss != NULL)
		add(&ss->authorised, 1);
}

void
stats_refused(struct service_stats *ss, enum refusal why)
{
	if (ss == NULL)
		return;
	if (why == REFUSAL_BACKEND)
		add(&ss->backend_failures, 1);
	else
		add(&ss->refused[why], 1);
}

void
stats_closed(struct service_stats *ss, uint64_t up, uint64_t down)
{
	if (ss == NULL)
		return;
	add(&ss->up, up);
	add(&ss->down, down);
}
