/*
 * check_verifier.c - password checks on the worker threads: each job comes
 * back exactly once, on the loop thread, with the right result; cancelled
 * jobs come back cancelled; verifier_destroy hands back every job still
 * queued; the queue is bounded; two loops on two threads share one pool,
 * each getting its own jobs back on its own thread.
 *
 * The password file is made at test time with passwd_hash(), so the hashes
 * are real yescrypt ones and every check does the full work.  Every loop
 * run is bounded by a timer that fails the test.
 */
#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "config.h"
#include "passwd.h"
#include "verifier.h"
#include "check_run.h"

#define LOOP_LIMIT 30.0         /* seconds a loop run may take */

/* ---- fixture ------------------------------------------------------------- */

static char passwd_path[64];
static struct passwd_db *db;
static struct ev_loop *loop;
static struct verifier_pool pool;
static struct verifier v;
static bool v_live;             /* v initialised and not yet destroyed */
static pthread_t loop_thread;

/* What came back, per submitted job. */
struct record {
	int calls;              /* times done ran for the job */
	bool cancelled;
	enum passwd_result result;
	bool on_loop_thread;
};

static struct record *records;
static size_t nrecords;
static size_t outstanding;      /* submitted jobs not yet back */

static void
setup(void)
{
	static const char *const users[] = { "alice", "bob" };
	char hash[PASSWD_HASH_SIZE], pw[32];
	struct config_errors errs = { NULL, 0 };
	FILE *fp;
	int fd;

	snprintf(passwd_path, sizeof passwd_path, "/tmp/check_verifier.XXXXXX");
	fd = mkstemp(passwd_path);
	ck_assert_int_ge(fd, 0);
	fp = fdopen(fd, "w");
	ck_assert_ptr_nonnull(fp);
	for (size_t i = 0; i < sizeof users / sizeof users[0]; i++) {
		snprintf(pw, sizeof pw, "pw-of-%s", users[i]);
		ck_assert_int_eq(passwd_hash(pw, hash, sizeof hash), PASSWD_OK);
		fprintf(fp, "%s:%s\n", users[i], hash);
	}
	ck_assert_int_eq(fclose(fp), 0);
	db = passwd_load(passwd_path, &errs);
	ck_assert_msg(db != NULL, "passwd_load: %s",
	    errs.n > 0 ? errs.lines[0] : "?");
	config_errors_free(&errs);

	loop = ev_loop_new(EVFLAG_AUTO);
	ck_assert_ptr_nonnull(loop);
	loop_thread = pthread_self();
	ck_assert_int_eq(verifier_pool_init(&pool), 0);
	ck_assert_int_eq(verifier_init(&v, &pool, loop), 0);
	v_live = true;
	records = NULL;
	nrecords = 0;
	outstanding = 0;
}

static void
teardown(void)
{
	if (v_live)
		verifier_destroy(&v);
	v_live = false;
	verifier_pool_destroy(&pool);
	ev_loop_destroy(loop);
	loop = NULL;
	passwd_free(db);
	db = NULL;
	unlink(passwd_path);
	free(records);
	records = NULL;
}

/* ---- jobs ---------------------------------------------------------------- */

static void
done_cb(struct verify_job *job)
{
	struct record *r = job->arg;

	r->calls++;
	r->cancelled = job->cancelled;
	r->result = job->result;
	r->on_loop_thread = pthread_equal(pthread_self(), loop_thread) != 0;
	verify_job_free(job);
	outstanding--;
	if (outstanding == 0 && loop != NULL)
		ev_break(loop, EVBREAK_ALL);
}

/* Room for n records (all zero). */
static void
make_records(size_t n)
{
	records = calloc(n, sizeof *records);
	ck_assert_ptr_nonnull(records);
	nrecords = n;
}

static struct verify_job *
new_job(const char *user, const char *password, struct record *r)
{
	struct verify_job *job = verify_job_new(db, user, strlen(user),
	    password, strlen(password));

	ck_assert_ptr_nonnull(job);
	job->done = done_cb;
	job->arg = r;
	return job;
}

/* Submits a job that must be accepted. */
static struct verify_job *
submit(const char *user, const char *password, struct record *r)
{
	struct verify_job *job = new_job(user, password, r);

	ck_assert_int_eq(verifier_submit(&v, job), 0);
	outstanding++;
	return job;
}

static void
timeout_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	bool *expired = w->data;

	*expired = true;
	ev_break(l, EVBREAK_ALL);
}

/* Runs the loop until every submitted job is back; fails the test if that
 * takes more than LOOP_LIMIT seconds. */
static void
run_until_all_back(void)
{
	ev_timer limit;
	bool expired = false;

	if (outstanding == 0)
		return;
	ev_timer_init(&limit, timeout_cb, LOOP_LIMIT, 0.);
	limit.data = &expired;
	ev_timer_start(loop, &limit);
	ev_run(loop, 0);
	ev_timer_stop(loop, &limit);
	ck_assert_msg(!expired, "%zu jobs still out after %g s", outstanding,
	    LOOP_LIMIT);
	ck_assert_uint_eq(outstanding, 0);
}

/* Whether job is still waiting in the queue (no thread has taken it). */
static bool
still_queued(const struct verify_job *job)
{
	bool found = false;

	pthread_mutex_lock(&pool.lock);
	for (const struct verify_job *j = pool.queue; j != NULL; j = j->next)
		found = found || j == job;
	pthread_mutex_unlock(&pool.lock);
	return found;
}

/* ---- tests --------------------------------------------------------------- */

START_TEST(test_good_and_bad_password)
{
	make_records(4);
	submit("alice", "pw-of-alice", &records[0]);
	submit("alice", "pw-of-bob", &records[1]);
	submit("bob", "pw-of-bob", &records[2]);
	submit("mallory", "pw-of-alice", &records[3]);
	run_until_all_back();

	ck_assert_int_eq(records[0].result, PASSWD_OK);
	ck_assert_int_eq(records[1].result, PASSWD_BAD_PASSWORD);
	ck_assert_int_eq(records[2].result, PASSWD_OK);
	ck_assert_int_eq(records[3].result, PASSWD_NO_USER);
	for (size_t i = 0; i < nrecords; i++) {
		ck_assert_int_eq(records[i].calls, 1);
		ck_assert(!records[i].cancelled);
		ck_assert_msg(records[i].on_loop_thread,
		    "done of job %zu ran off the loop thread", i);
	}
	ck_assert_uint_ge(pool.nthreads, 1);
	ck_assert_uint_le(pool.nthreads, VERIFIER_MAX_THREADS);
}
END_TEST

/* The job holds its own copies: the caller's buffers may change at once,
 * and a user or password need not be NUL-terminated. */
START_TEST(test_job_copies_its_input)
{
	char user[] = "aliceXX", password[] = "pw-of-aliceYY";
	struct verify_job *job;

	make_records(1);
	job = verify_job_new(db, user, 5, password, 11);
	ck_assert_ptr_nonnull(job);
	ck_assert_str_eq(job->user, "alice");
	ck_assert_str_eq(job->password, "pw-of-alice");
	ck_assert_int_eq(job->result, PASSWD_ERROR);
	memset(user, 'z', 5);
	memset(password, 'z', 11);
	job->done = done_cb;
	job->arg = &records[0];
	ck_assert_int_eq(verifier_submit(&v, job), 0);
	outstanding++;
	run_until_all_back();
	ck_assert_int_eq(records[0].result, PASSWD_OK);

	verify_job_free(NULL);
}
END_TEST

START_TEST(test_many_jobs_each_back_once)
{
	enum { N = 50 };

	make_records(N);
	for (size_t i = 0; i < N; i++) {
		switch (i % 3) {
		case 0:
			submit("alice", "pw-of-alice", &records[i]);
			break;
		case 1:
			submit("bob", "wrong", &records[i]);
			break;
		default:
			submit("nobody", "pw-of-bob", &records[i]);
			break;
		}
	}
	run_until_all_back();
	for (size_t i = 0; i < N; i++) {
		static const enum passwd_result want[] = { PASSWD_OK,
		    PASSWD_BAD_PASSWORD, PASSWD_NO_USER };

		ck_assert_msg(records[i].calls == 1, "job %zu came back %d times",
		    i, records[i].calls);
		ck_assert_int_eq(records[i].result, want[i % 3]);
		ck_assert(!records[i].cancelled);
		ck_assert(records[i].on_loop_thread);
	}
	/* the loop stays usable, and the threads too */
	submit("bob", "pw-of-bob", &records[0]);
	run_until_all_back();
	ck_assert_int_eq(records[0].calls, 2);
	ck_assert_int_eq(records[0].result, PASSWD_OK);
}
END_TEST

/* Cancelled while queued behind enough work to keep every thread busy: it
 * is skipped, and comes back cancelled with no result. */
START_TEST(test_cancel_queued)
{
	enum { BUSY = 4 * VERIFIER_MAX_THREADS };
	struct verify_job *job;
	bool queued;

	make_records(BUSY + 1);
	for (size_t i = 0; i < BUSY; i++)
		submit("alice", "pw-of-alice", &records[i]);
	job = submit("alice", "pw-of-alice", &records[BUSY]);
	verifier_cancel(&v, job);
	queued = still_queued(job);
	ck_assert_msg(queued, "a thread took the job before it was cancelled "
	    "(%d jobs ahead of it)", BUSY);
	run_until_all_back();

	ck_assert_int_eq(records[BUSY].calls, 1);
	ck_assert(records[BUSY].cancelled);
	ck_assert_int_eq(records[BUSY].result, PASSWD_ERROR);
	ck_assert(records[BUSY].on_loop_thread);
	for (size_t i = 0; i < BUSY; i++) {
		ck_assert_int_eq(records[i].calls, 1);
		ck_assert(!records[i].cancelled);
		ck_assert_int_eq(records[i].result, PASSWD_OK);
	}
}
END_TEST

/* Cancelled after a thread took it: the check is finished anyway, and the
 * job comes back cancelled, with that result. */
START_TEST(test_cancel_in_hand)
{
	struct verify_job *job;
	ev_tstamp until;

	make_records(1);
	job = submit("bob", "pw-of-bob", &records[0]);
	until = ev_time() + LOOP_LIMIT;
	while (still_queued(job)) {
		ck_assert_msg(ev_time() < until, "no thread took the job");
		usleep(1000);
	}
	verifier_cancel(&v, job);
	run_until_all_back();
	ck_assert_int_eq(records[0].calls, 1);
	ck_assert(records[0].cancelled);
	ck_assert_int_eq(records[0].result, PASSWD_OK);
	ck_assert(records[0].on_loop_thread);
}
END_TEST

/* verifier_destroy with work queued and in hand: every job comes back,
 * right then, on the calling thread; those no thread took are cancelled. */
START_TEST(test_destroy_returns_every_job)
{
	enum { N = 8 * VERIFIER_MAX_THREADS };
	size_t ncancelled = 0, nchecked = 0;

	make_records(N);
	for (size_t i = 0; i < N; i++)
		submit("alice", i % 2 == 0 ? "pw-of-alice" : "wrong",
		    &records[i]);
	verifier_destroy(&v);
	v_live = false;
	ck_assert_uint_eq(outstanding, 0);
	for (size_t i = 0; i < N; i++) {
		ck_assert_msg(records[i].calls == 1, "job %zu came back %d times",
		    i, records[i].calls);
		ck_assert(records[i].on_loop_thread);
		if (records[i].cancelled) {
			ck_assert_int_eq(records[i].result, PASSWD_ERROR);
			ncancelled++;
		} else {
			ck_assert_int_eq(records[i].result, i % 2 == 0 ?
			    PASSWD_OK : PASSWD_BAD_PASSWORD);
			nchecked++;
		}
	}
	/* the threads were busy with the first few; the rest never ran */
	ck_assert_uint_ge(ncancelled, N - 2 * VERIFIER_MAX_THREADS);
	ck_assert_uint_eq(ncancelled + nchecked, N);
	/* the loop itself is unharmed */
	ev_run(loop, EVRUN_NOWAIT);
}
END_TEST

/* Whether ev_run returns at once, that is, nothing keeps the loop alive.
 * A timer that does not count either bounds the wait if something does. */
static bool
loop_not_kept_alive(void)
{
	ev_timer limit;
	bool expired = false;

	ev_timer_init(&limit, timeout_cb, 5.0, 0.);
	limit.data = &expired;
	ev_timer_start(loop, &limit);
	ev_unref(loop);
	ev_run(loop, 0);
	ev_ref(loop);
	ev_timer_stop(loop, &limit);
	return !expired;
}

/* The verifier's watcher never keeps the loop running on its own: not
 * before any job, not after, not once destroyed. */
START_TEST(test_loop_not_kept_alive)
{
	ck_assert(loop_not_kept_alive());
	ck_assert_uint_eq(pool.nthreads, 0);       /* none before the first job */

	make_records(1);
	submit("alice", "pw-of-alice", &records[0]);
	run_until_all_back();
	ck_assert_int_eq(records[0].calls, 1);
	ck_assert(loop_not_kept_alive());

	verifier_destroy(&v);
	v_live = false;
	ck_assert(loop_not_kept_alive());
}
END_TEST

/* Submitted faster than the threads can take them: past
 * VERIFIER_QUEUE_MAX waiting jobs, verifier_submit says -1 and done is
 * not called for those. */
START_TEST(test_queue_is_bounded)
{
	enum { N = VERIFIER_QUEUE_MAX + VERIFIER_MAX_THREADS + 10 };
	struct verify_job *jobs[N];
	size_t accepted = 0, refused = 0;

	make_records(N);
	for (size_t i = 0; i < N; i++) {
		jobs[i] = new_job("alice", "pw-of-alice", &records[i]);
		if (verifier_submit(&v, jobs[i]) == 0) {
			outstanding++;
			accepted++;
		} else {
			refused++;
			verify_job_free(jobs[i]);
			jobs[i] = NULL;
		}
	}
	ck_assert_uint_ge(accepted, VERIFIER_QUEUE_MAX);
	ck_assert_uint_le(accepted, VERIFIER_QUEUE_MAX + pool.nthreads);
	ck_assert_uint_ge(refused, 10);
	ck_assert_uint_eq(accepted + refused, N);
	/* drain quickly: cancel what is queued */
	for (size_t i = 0; i < N; i++)
		if (jobs[i] != NULL)
			verifier_cancel(&v, jobs[i]);
	run_until_all_back();
	for (size_t i = 0; i < N; i++)
		ck_assert_int_eq(records[i].calls, jobs[i] != NULL ? 1 : 0);

	/* drained: there is room again */
	submit("alice", "pw-of-alice", &records[0]);
	run_until_all_back();
	ck_assert_int_eq(records[0].result, PASSWD_OK);
	ck_assert(!records[0].cancelled);
}
END_TEST


/* A second loop on its own thread, sharing the pool with the first. */
struct other_loop {
	struct ev_loop *loop;
	struct verifier v;
	pthread_t thread;
	pthread_t self;         /* as the thread itself sees it */
	struct record rec[8];
	size_t outstanding;
	bool expired;
};

static void
other_done(struct verify_job *job)
{
	struct other_loop *o = job->arg;
	struct record *r = &o->rec[job->user[1] - '0'];

	r->calls++;
	r->cancelled = job->cancelled;
	r->result = job->result;
	r->on_loop_thread = pthread_equal(pthread_self(), o->self) != 0;
	verify_job_free(job);
	if (--o->outstanding == 0)
		ev_break(o->loop, EVBREAK_ALL);
}

static void *
other_main(void *arg)
{
	struct other_loop *o = arg;
	ev_timer limit;

	o->self = pthread_self();
	o->loop = ev_loop_new(EVFLAG_AUTO);
	if (o->loop == NULL || verifier_init(&o->v, &pool, o->loop) != 0)
		return NULL;
	for (size_t i = 0; i < 8; i++) {
		/* users "b0".."b7" are unknown: PASSWD_NO_USER, after the
		 * same work as a real check */
		char user[3] = { 'b', (char)('0' + i), '\0' };
		struct verify_job *job = verify_job_new(db, user, 2, "x", 1);
		if (job == NULL)
			break;
		job->done = other_done;
		job->arg = o;
		if (verifier_submit(&o->v, job) != 0) {
			verify_job_free(job);
			break;
		}
		o->outstanding++;
	}
	ev_timer_init(&limit, timeout_cb, LOOP_LIMIT, 0.);
	limit.data = &o->expired;
	ev_timer_start(o->loop, &limit);
	if (o->outstanding > 0)
		ev_run(o->loop, 0);
	ev_timer_stop(o->loop, &limit);
	verifier_destroy(&o->v);
	ev_loop_destroy(o->loop);
	return NULL;
}

START_TEST(test_two_loops_share_the_pool)
{
	struct other_loop o;

	memset(&o, 0, sizeof o);
	make_records(8);
	ck_assert_int_eq(pthread_create(&o.thread, NULL, other_main, &o), 0);
	for (size_t i = 0; i < 8; i++)
		submit(i % 2 ? "alice" : "bob", i % 2 ? "pw-of-alice" : "no",
		    &records[i]);
	run_until_all_back();
	ck_assert_int_eq(pthread_join(o.thread, NULL), 0);
	ck_assert(!o.expired);
	ck_assert(!pthread_equal(o.self, loop_thread));
	ck_assert_uint_eq(o.outstanding, 0);
	for (size_t i = 0; i < 8; i++) {
		ck_assert_int_eq(records[i].calls, 1);
		ck_assert(records[i].on_loop_thread);
		ck_assert_int_eq(records[i].result, i % 2 ? PASSWD_OK :
		    PASSWD_BAD_PASSWORD);
		ck_assert_msg(o.rec[i].calls == 1, "other job %zu back %d "
		    "times", i, o.rec[i].calls);
		ck_assert_msg(o.rec[i].on_loop_thread, "other job %zu came "
		    "back on the wrong thread", i);
		ck_assert_int_eq(o.rec[i].result, PASSWD_NO_USER);
	}
	ck_assert_uint_le(pool.nthreads, VERIFIER_MAX_THREADS);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("verifier");
	TCase *tc = tcase_create("verifier");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 2 * LOOP_LIMIT + 30);
	tcase_add_test(tc, test_good_and_bad_password);
	tcase_add_test(tc, test_job_copies_its_input);
	tcase_add_test(tc, test_many_jobs_each_back_once);
	tcase_add_test(tc, test_cancel_queued);
	tcase_add_test(tc, test_cancel_in_hand);
	tcase_add_test(tc, test_destroy_returns_every_job);
	tcase_add_test(tc, test_loop_not_kept_alive);
	tcase_add_test(tc, test_two_loops_share_the_pool);
	tcase_add_test(tc, test_queue_is_bounded);
	suite_add_tcase(s, tc);
	return check_run(s);
}
