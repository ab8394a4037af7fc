/*
 * verifier.c - a small pool of threads running passwd_verify() for the
 * loop.  The threads touch nothing but the job in hand and the two lists
 * below, under one lock; everything else stays on the loop thread.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "verifier.h"

static char *
copy_text(const void *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s != NULL) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

struct verify_job *
verify_job_new(const struct passwd_db *db, const void *user, size_t ulen,
    const void *password, size_t plen)
{
	struct verify_job *job = calloc(1, sizeof *job);

	if (job == NULL)
		return NULL;
	job->db = db;
	job->result = PASSWD_ERROR;
	job->user = copy_text(user, ulen);
	job->password = copy_text(password, plen);
	if (job->user == NULL || job->password == NULL) {
		verify_job_free(job);
		return NULL;
	}
	return job;
}

void
verify_job_free(struct verify_job *job)
{
	if (job == NULL)
		return;
	if (job->password != NULL) {
		explicit_bzero(job->password, strlen(job->password));
		free(job->password);
	}
	free(job->user);
	free(job);
}

static void
append(struct verify_job **head, struct verify_job **tail,
    struct verify_job *job)
{
	job->next = NULL;
	if (*tail != NULL)
		(*tail)->next = job;
	else
		*head = job;
	*tail = job;
}

static void *
worker(void *arg)
{
	struct verifier *v = arg;
	struct verify_job *job;

	pthread_mutex_lock(&v->lock);
	for (;;) {
		while (v->queue == NULL && !v->stopping)
			pthread_cond_wait(&v->work, &v->lock);
		if (v->stopping)
			break;
		job = v->queue;
		if ((v->queue = job->next) == NULL)
			v->queue_tail = NULL;
		v->queued--;
		if (!job->cancelled) {
			pthread_mutex_unlock(&v->lock);
			job->result = passwd_verify(job->db, job->user,
			    job->password);
			pthread_mutex_lock(&v->lock);
		}
		/* The password is not needed any more: do not keep it. */
		explicit_bzero(job->password, strlen(job->password));
		append(&v->finished, &v->finished_tail, job);
		ev_async_send(v->loop, &v->wake);
	}
	pthread_mutex_unlock(&v->lock);
	return NULL;
}

/* On the loop thread: hand every finished job to its owner. */
static void
run_finished(struct verifier *v)
{
	struct verify_job *job, *next;

	pthread_mutex_lock(&v->lock);
	job = v->finished;
	v->finished = v->finished_tail = NULL;
	pthread_mutex_unlock(&v->lock);
	for (; job != NULL; job = next) {
		next = job->next;
		job->done(job);
	}
}

static void
wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	run_finished(w->data);
}

int
verifier_init(struct verifier *v, struct ev_loop *loop)
{
	memset(v, 0, sizeof *v);
	v->loop = loop;
	if (pthread_mutex_init(&v->lock, NULL) != 0)
		return -1;
	if (pthread_cond_init(&v->work, NULL) != 0) {
		pthread_mutex_destroy(&v->lock);
		return -1;
	}
	ev_async_init(&v->wake, wake_cb);
	v->wake.data = v;
	ev_async_start(loop, &v->wake);
	/* Do not keep the loop alive for this watcher alone. */
	ev_unref(loop);
	return 0;
}

/* Threads start with the first job, so a daemon that forks to detach
 * (or never checks a password) never has any before it must. */
static void
start_threads(struct verifier *v)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned want = ncpu < 1 ? 1 : ncpu > VERIFIER_MAX_THREADS ?
	    VERIFIER_MAX_THREADS : (unsigned)ncpu;
	sigset_t all, old;

	/* Signals stay with the loop thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	while (v->nthreads < want &&
	    pthread_create(&v->threads[v->nthreads], NULL, worker, v) == 0)
		v->nthreads++;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (v->nthreads < want)
		log_warnx("password checks: started %u of %u threads",
		    v->nthreads, want);
}

int
verifier_submit(struct verifier *v, struct verify_job *job)
{
	int ret = -1;

	if (v->nthreads == 0)
		start_threads(v);
	pthread_mutex_lock(&v->lock);
	if (v->nthreads > 0 && !v->stopping && v->queued < VERIFIER_QUEUE_MAX) {
		job->cancelled = false;
		append(&v->queue, &v->queue_tail, job);
		v->queued++;
		pthread_cond_signal(&v->work);
		ret = 0;
	}
	pthread_mutex_unlock(&v->lock);
	return ret;
}

void
verifier_cancel(struct verifier *v, struct verify_job *job)
{
	pthread_mutex_lock(&v->lock);
	job->cancelled = true;
	pthread_mutex_unlock(&v->lock);
}

void
verifier_destroy(struct verifier *v)
{
	struct verify_job *job, *next;

	pthread_mutex_lock(&v->lock);
	v->stopping = true;
	pthread_cond_broadcast(&v->work);
	pthread_mutex_unlock(&v->lock);
	for (unsigned i = 0; i < v->nthreads; i++)
		pthread_join(v->threads[i], NULL);
	v->nthreads = 0;
	run_finished(v);
	/* Jobs no thread took: their owners still get them back. */
	for (job = v->queue; job != NULL; job = next) {
		next = job->next;
		job->cancelled = true;
		job->done(job);
	}
	v->queue = v->queue_tail = NULL;
	v->queued = 0;
	ev_ref(v->loop);
	ev_async_stop(v->loop, &v->wake);
	pthread_cond_destroy(&v->work);
	pthread_mutex_destroy(&v->lock);
}
