/*
 * verifier.c - a small pool of threads running passwd_verify() for the
 * event loops.  The threads touch nothing but the job in hand, the queue
 * and the finished list of the job's loop, under the pool's one lock;
 * everything else stays on the loop threads.
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

/* Under the pool's lock: the job goes back to its loop. */
static void
hand_back(struct verifier_pool *p, struct verify_job *job)
{
	struct verifier *v = job->home;

	append(&v->finished, &v->finished_tail, job);
	v->outstanding--;
	ev_async_send(v->loop, &v->wake);
	pthread_cond_broadcast(&p->returned);
}

static void *
worker(void *arg)
{
	struct verifier_pool *p = arg;
	struct verify_job *job;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (p->queue == NULL && !p->stopping)
			pthread_cond_wait(&p->work, &p->lock);
		if (p->stopping)
			break;
		job = p->queue;
		if ((p->queue = job->next) == NULL)
			p->queue_tail = NULL;
		p->queued--;
		if (!job->cancelled) {
			pthread_mutex_unlock(&p->lock);
			job->result = passwd_verify(job->db, job->user,
			    job->password);
			pthread_mutex_lock(&p->lock);
		}
		/* The password is not needed any more: do not keep it. */
		explicit_bzero(job->password, strlen(job->password));
		hand_back(p, job);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* On the loop thread: hand every finished job to its owner. */
static void
run_finished(struct verifier *v)
{
	struct verify_job *job, *next;

	pthread_mutex_lock(&v->pool->lock);
	job = v->finished;
	v->finished = v->finished_tail = NULL;
	pthread_mutex_unlock(&v->pool->lock);
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
verifier_pool_init(struct verifier_pool *p)
{
	memset(p, 0, sizeof *p);
	if (pthread_mutex_init(&p->lock, NULL) != 0)
		return -1;
	if (pthread_cond_init(&p->work, NULL) != 0)
		goto fail_lock;
	if (pthread_cond_init(&p->returned, NULL) != 0)
		goto fail_work;
	return 0;
fail_work:
	pthread_cond_destroy(&p->work);
fail_lock:
	pthread_mutex_destroy(&p->lock);
	return -1;
}

void
verifier_pool_destroy(struct verifier_pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	p->nthreads = 0;
	pthread_cond_destroy(&p->returned);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
}

int
verifier_init(struct verifier *v, struct verifier_pool *p,
    struct ev_loop *loop)
{
	memset(v, 0, sizeof *v);
	v->pool = p;
	v->loop = loop;
	ev_async_init(&v->wake, wake_cb);
	v->wake.data = v;
	ev_async_start(loop, &v->wake);
	/* Do not keep the loop alive for this watcher alone. */
	ev_unref(loop);
	return 0;
}

/* Under the pool's lock.  Threads start with the first job, so a daemon
 * that forks to detach (or never checks a password) never has any before
 * it must. */
static void
start_threads(struct verifier_pool *p)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned want = ncpu < 1 ? 1 : ncpu > VERIFIER_MAX_THREADS ?
	    VERIFIER_MAX_THREADS : (unsigned)ncpu;
	sigset_t all, old;

	/* Signals stay with the thread that handles them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	while (p->nthreads < want &&
	    pthread_create(&p->threads[p->nthreads], NULL, worker, p) == 0)
		p->nthreads++;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (p->nthreads < want)
		log_warnx("password checks: started %u of %u threads",
		    p->nthreads, want);
}

int
verifier_submit(struct verifier *v, struct verify_job *job)
{
	struct verifier_pool *p = v->pool;
	int ret = -1;

	pthread_mutex_lock(&p->lock);
	if (p->nthreads == 0 && !p->stopping)
		start_threads(p);
	if (p->nthreads > 0 && !p->stopping && p->queued < VERIFIER_QUEUE_MAX) {
		job->cancelled = false;
		job->home = v;
		append(&p->queue, &p->queue_tail, job);
		p->queued++;
		v->outstanding++;
		pthread_cond_signal(&p->work);
		ret = 0;
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

void
verifier_cancel(struct verifier *v, struct verify_job *job)
{
	pthread_mutex_lock(&v->pool->lock);
	job->cancelled = true;
	pthread_mutex_unlock(&v->pool->lock);
}

void
verifier_destroy(struct verifier *v)
{
	struct verifier_pool *p = v->pool;
	struct verify_job *job, *prev = NULL, *next;

	pthread_mutex_lock(&p->lock);
	/* This loop's jobs no thread took: back at once, cancelled. */
	for (job = p->queue; job != NULL; job = next) {
		next = job->next;
		if (job->home != v) {
			prev = job;
			continue;
		}
		if (prev != NULL)
			prev->next = next;
		else
			p->queue = next;
		if (p->queue_tail == job)
			p->queue_tail = prev;
		p->queued--;
		job->cancelled = true;
		hand_back(p, job);
	}
	/* Those in hand: when the threads are done with them. */
	while (v->outstanding > 0)
		pthread_cond_wait(&p->returned, &p->lock);
	pthread_mutex_unlock(&p->lock);
	run_finished(v);
	ev_ref(v->loop);
	ev_async_stop(v->loop, &v->wake);
}
