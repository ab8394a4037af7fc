/*
 * verifier.h - password checks off the event loops.
 *
 * Hashing a password is slow by design (tens of milliseconds for yescrypt),
 * so it never runs on a loop: one pool of a few threads, shared by every
 * event loop, takes jobs from a bounded queue and hands each back to the
 * loop that submitted it through that loop's ev_async; the job's done
 * callback then runs on that loop's thread.
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
	bool cancelled;                 /* guarded by the pool's lock */
	struct verifier *home;          /* the loop it goes back to */
	struct verify_job *next;
};

/* A job owning copies of user and password (ulen, plen bytes, no NUL
 * inside); NULL when out of memory. */
struct verify_job *verify_job_new(const struct passwd_db *db,
    const void *user, size_t ulen, const void *password, size_t plen);
void verify_job_free(struct verify_job *job);

/* The threads and the queue, shared by every loop. */
struct verifier_pool {
	pthread_mutex_t lock;           /* over everything here, and over
	                                 * every verifier's finished list */
	pthread_cond_t work;            /* a job is queued, or stopping */
	pthread_cond_t returned;        /* a job went back to its loop */
	pthread_t threads[VERIFIER_MAX_THREADS];
	unsigned nthreads;              /* started (on the first job) */
	struct verify_job *queue, *queue_tail;
	size_t queued;
	bool stopping;
};

/* One loop's end of the pool. */
struct verifier {
	struct verifier_pool *pool;
	struct ev_loop *loop;
	ev_async wake;
	struct verify_job *finished, *finished_tail;    /* pool->lock */
	size_t outstanding;             /* submitted, not yet finished;
	                                 * pool->lock */
};

int verifier_pool_init(struct verifier_pool *p);
/* Stops the threads (after the jobs in hand).  Every loop's verifier
 * must be destroyed first. */
void verifier_pool_destroy(struct verifier_pool *p);

/* On the loop's thread; the pool must outlive v. */
int verifier_init(struct verifier *v, struct verifier_pool *p,
    struct ev_loop *loop);
/* 0 when queued; -1 when the queue is full or no thread could start
 * (done is then not called). */
int verifier_submit(struct verifier *v, struct verify_job *job);
/* The job's result is no longer wanted: it is skipped if still queued.
 * done still runs, with job->cancelled set. */
void verifier_cancel(struct verifier *v, struct verify_job *job);
/* On the loop's thread: waits for the threads to finish this loop's jobs
 * in hand, then runs done for every job of this loop left (those no
 * thread took, cancelled). */
void verifier_destroy(struct verifier *v);

#endif
