/*
 * status.c - the status report (see status.h).  For example:
 *
 *   status: up 1h02m03s, 7 session(s): 1 TLS handshake, 6 relay; 2 worker(s)
 *   status: service desktop: 7 session(s) (1 TLS handshake, 6 relay);
 *     accepted 40, authorised 31, refused 8 (no certificate 3, certificate
 *     not allowed 3, bad password 2), backend failures 1; bytes client to
 *     backend 1234, backend to client 5678
 *   status: all services: ... the same, added up
 *
 * (each "status:" entry is one line).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "server.h"
#include "stats.h"
#include "status.h"

#define STATUS_LINE 1024

int
status_tally_init(struct status_tally *t, size_t nrows)
{
	memset(t, 0, sizeof *t);
	if ((t->rows = calloc(nrows ? nrows : 1, sizeof *t->rows)) == NULL)
		return -1;
	t->nrows = nrows;
	return 0;
}

void
status_tally_free(struct status_tally *t)
{
	free(t->rows);
	t->rows = NULL;
	t->nrows = 0;
}

static void
count_session(struct status_count *c, const struct session *s)
{
	c->sessions++;
	c->by_state[s->state]++;
	/* The counts are the relay's payload once the handshake is over. */
	if (s->hs == NULL) {
		c->up += s->client.nread;
		c->down += s->backend.nread;
	}
}

void
status_tally(const struct server *srv, struct status_tally *t)
{
	for (const struct session *s = srv->sessions; s != NULL; s = s->next) {
		const struct service_stats *ss = s->svc->stats;
		count_session(&t->all, s);
		if (ss != NULL && ss->index < t->nrows)
			count_session(&t->rows[ss->index], s);
	}
}

static void
add_count(struct status_count *to, const struct status_count *c)
{
	to->sessions += c->sessions;
	for (size_t i = 0; i < SESSION_NSTATES; i++)
		to->by_state[i] += c->by_state[i];
	to->up += c->up;
	to->down += c->down;
}

/* Appends to a line, cutting it at its end. */
struct line {
	char text[STATUS_LINE];
	size_t len;
};

static void put(struct line *l, const char *fmt, ...) PRINTF_LIKE(2, 3);

static void
put(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (l->len >= sizeof l->text - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(l->text + l->len, sizeof l->text - l->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len += (size_t)n;
	if (l->len > sizeof l->text - 1)
		l->len = sizeof l->text - 1;
}

/* "1 TLS handshake, 6 relay", in the order of the protocol. */
static void
put_states(struct line *l, const struct status_count *c)
{
	const char *sep = "";

	for (size_t i = 0; i < SESSION_NSTATES; i++) {
		if (c->by_state[i] == 0)
			continue;
		put(l, "%s%u %s", sep, c->by_state[i],
		    session_state_name((enum session_state)i));
		sep = ", ";
	}
}

/* The counters of one service, or their sum. */
struct totals {
	uint64_t accepted, authorised, refused[REFUSAL_REASONS];
	uint64_t backend_failures, up, down;
};

static void
read_totals(struct totals *t, const struct service_stats *ss)
{
	t->accepted += stats_get(&ss->accepted);
	t->authorised += stats_get(&ss->authorised);
	for (size_t i = 0; i < REFUSAL_REASONS; i++)
		t->refused[i] += stats_get(&ss->refused[i]);
	t->backend_failures += stats_get(&ss->backend_failures);
	t->up += stats_get(&ss->up);
	t->down += stats_get(&ss->down);
}

/* "status: NAME: 6 session(s) (6 relay); accepted ...; bytes ..." */
static void
log_service(const char *kind, const char *name, const char *note,
    const struct totals *t, const struct status_count *live)
{
	struct line l = { .len = 0 };
	uint64_t refused = 0;
	const char *sep = "";

	for (size_t i = 0; i < REFUSAL_REASONS; i++)
		refused += t->refused[i];
	put(&l, "status: %s%s%s: %u session(s)", kind, name, note,
	    live->sessions);
	if (live->sessions > 0) {
		put(&l, " (");
		put_states(&l, live);
		put(&l, ")");
	}
	put(&l, "; accepted %llu, authorised %llu, refused %llu",
	    (unsigned long long)t->accepted, (unsigned long long)t->authorised,
	    (unsigned long long)refused);
	if (refused > 0) {
		put(&l, " (");
		for (size_t i = 0; i < REFUSAL_REASONS; i++) {
			if (t->refused[i] == 0)
				continue;
			put(&l, "%s%s %llu", sep,
			    stats_refusal_name((enum refusal)i),
			    (unsigned long long)t->refused[i]);
			sep = ", ";
		}
		put(&l, ")");
	}
	put(&l, ", backend failures %llu; bytes client to backend %llu, "
	    "backend to client %llu", (unsigned long long)t->backend_failures,
	    (unsigned long long)(t->up + live->up),
	    (unsigned long long)(t->down + live->down));
	log_notice("%s", l.text);
}

static bool
configured(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nservices; i++)
		if (strcmp(cfg->services[i].name, name) == 0)
			return true;
	return false;
}

/* "1h02m03s", "2m03s", "3s"; days in front past 24 h. */
static void
put_uptime(struct line *l, double seconds)
{
	unsigned long long s = seconds > 0 ? (unsigned long long)seconds : 0;
	unsigned long long d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;

	if (d > 0)
		put(l, "%llud%02lluh%02llum%02llus", d, h, m, s % 60);
	else if (h > 0)
		put(l, "%lluh%02llum%02llus", h, m, s % 60);
	else if (m > 0)
		put(l, "%llum%02llus", m, s % 60);
	else
		put(l, "%llus", s % 60);
}

void
status_report(const struct stats *st, const struct config *cfg,
    const struct status_tally *tallies, unsigned n, double uptime)
{
	struct status_count all = { 0 };
	struct totals sum = { 0 };
	struct line l = { .len = 0 };

	for (unsigned i = 0; i < n; i++)
		add_count(&all, &tallies[i].all);
	put(&l, "status: up ");
	put_uptime(&l, uptime);
	put(&l, ", %u session(s)", all.sessions);
	if (all.sessions > 0) {
		put(&l, ": ");
		put_states(&l, &all);
	}
	put(&l, "; %u worker(s)", n);
	log_notice("%s", l.text);

	for (const struct service_stats *ss = st->head; ss != NULL;
	    ss = ss->next) {
		struct status_count live = { 0 };
		struct totals t = { 0 };
		bool now = configured(cfg, ss->name);
		for (unsigned i = 0; i < n; i++)
			if (ss->index < tallies[i].nrows)
				add_count(&live, &tallies[i].rows[ss->index]);
		read_totals(&t, ss);
		read_totals(&sum, ss);
		/* A name only a failed reload named has nothing to say. */
		if (!now && t.accepted == 0)
			continue;
		log_service("service ", ss->name, now ? "" :
		    " (no longer configured)", &t, &live);
	}
	log_service("", "all services", "", &sum, &all);
}
