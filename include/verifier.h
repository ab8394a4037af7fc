/*
 * verifier.h - password checks off the event loop.
 *
 * Hashing a password is slow by design (tens of milliseconds for yescrypt),
 * so it never runs on the loop: a few worker threads take jobs from a
 * bounded queue and hand them back through an ev_async, and the job's done
 * callback then runs on the loop thread.
 */
#ifndef VENCRYPTD_VERIFIER_H
#define VENCRYPTD_VERIFIER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <ev.h>

#include "passwd.h"

#define VERIFIER_MAX_THREADS 4
#define VERIFIER_QUEUE_MAX 256  /* jobs waiting for a thread */

struct verify_job {
	const struct passwd_db *db;     /* must outlive the job */
	char *user;
	char *password;                 /* wiped by verify_job_free */
	enum passwd_result result;      /* set before done runs */
	/* Runs on the loop thread exactly once per submitted job, cancelled
	 * or not; it owns the job from then on. */
	void (*done)(struct verify_job *job);
	void *arg;
	bool cancelled;                 /* guarded by the verifier's lock */
	struct verify_job *next;
};

/* A job owning copies of user and password (ulen, plen bytes, no NUL
 * inside); NULL when out of memory. */
struct verify_job *verify_job_new(const struct passwd_db *db,
    const void *user, size_t ulen, const void *password, size_t plen);
void verify_job_free(struct verify_job *job);

struct verifier {
	struct ev_loop *loop;
	ev_async wake;
	pthread_mutex_t lock;
	pthread_cond_t work;
	pthread_t threads[VERIFIER_MAX_THREADS];
	unsigned nthreads;              /* started (on the first job) */
	struct verify_job *queue, *queue_tail;
	size_t queued;
	struct verify_job *finished, *finished_tail;
	bool stopping;
};

int verifier_init(struct verifier *v, struct ev_loop *loop);
/* 0 when queued; -1 when the queue is full or no thread could start
 * (done is then not called). */
int verifier_submit(struct verifier *v, struct verify_job *job);
/* The job's result is no longer wanted: it is skipped if still queued.
 * done still runs, with job->cancelled set. */
void verifier_cancel(struct verifier *v, struct verify_job *job);
/* Waits for the threads to finish the job in hand, then runs done for
 * every job left (cancelled or not). */
void verifier_destroy(struct verifier *v);

#endif
