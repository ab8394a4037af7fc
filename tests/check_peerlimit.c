/*
 * check_peerlimit.c - the per-address table, against the policy written in
 * peerlimit.h: sessions counted and released per address, a token bucket
 * of rate connections a minute (burst = rate) that refusals do not spend,
 * one refusal line per address per PEERLIMIT_LOG_EVERY with the count of
 * those left out, keys as net_addr_key() makes them (IPv4-mapped folded,
 * IPv6 per /64), Unix peers never limited, and a full table that lets new
 * addresses in uncounted rather than refuse them.
 *
 * Times are whole or half seconds from T0, and where a test sits on a
 * boundary the rate is 60 or 120 a minute, so the token sums there are
 * exact in a double.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "net.h"
#include "peerlimit.h"
#include "check_run.h"

#define T0 1000.0

static struct peerlimit pl;

static void
setup(void)
{
	ck_assert_int_eq(peerlimit_init(&pl, PEERLIMIT_BUCKETS), 0);
}

/* A table of one bucket: PEERLIMIT_WAYS entries, every address in it. */
static void
setup_one_bucket(void)
{
	ck_assert_int_eq(peerlimit_init(&pl, 1), 0);
}

static void
teardown(void)
{
	peerlimit_destroy(&pl);
}

/* The address text parsed (Unix sockets allowed); asserts it parses. */
static struct net_addr
addr(const char *text)
{
	struct net_addr a;

	ck_assert_msg(net_parse_addr(text, 1, &a) == NET_PARSE_OK,
	    "cannot parse %s", text);
	return a;
}

static enum admit_result
admit(const char *from, unsigned max, unsigned rate, double now,
    struct admit_refusal *why)
{
	struct admit_refusal ignored;
	struct net_addr a = addr(from);

	return peerlimit_admit(&pl, &a, max, rate, now, why ? why : &ignored);
}

static void
release(const char *from)
{
	struct net_addr a = addr(from);

	peerlimit_release(&pl, &a);
}

static unsigned
sessions(const char *from)
{
	struct net_addr a = addr(from);

	return peerlimit_sessions(&pl, &a);
}

/* "192.0.2.N:1" for N in 1..254, in a buffer of the caller's. */
static const char *
nth(char *buf, size_t cap, unsigned n)
{
	snprintf(buf, cap, "192.0.2.%u:%u", n, 40000 + n);
	return buf;
}

/* ---- sessions at once ------------------------------------------------------ */

START_TEST(test_counts_and_refuses_at_max)
{
	struct admit_refusal why;

	ck_assert_int_eq(admit("192.0.2.1:1000", 2, 0, T0, NULL), ADMIT_OK);
	ck_assert_int_eq(admit("192.0.2.1:1001", 2, 0, T0, NULL), ADMIT_OK);
	ck_assert_uint_eq(sessions("192.0.2.1:0"), 2);
	ck_assert_int_eq(admit("192.0.2.1:1002", 2, 0, T0, &why),
	    ADMIT_TOO_MANY);
	ck_assert_uint_eq(why.sessions, 2);
	ck_assert(why.log);
	ck_assert_uint_eq(why.unlogged, 0);
	/* the refusal counted nothing */
	ck_assert_uint_eq(sessions("192.0.2.1:0"), 2);
	/* another address has its own count */
	ck_assert_int_eq(admit("192.0.2.2:1000", 2, 0, T0, NULL), ADMIT_OK);
	ck_assert_uint_eq(sessions("192.0.2.2:0"), 1);
}
END_TEST

START_TEST(test_release_makes_room)
{
	ck_assert_int_eq(admit("192.0.2.1:1", 1, 0, T0, NULL), ADMIT_OK);
	ck_assert_int_eq(admit("192.0.2.1:2", 1, 0, T0, NULL), ADMIT_TOO_MANY);
	release("192.0.2.1:1");
	ck_assert_uint_eq(sessions("192.0.2.1:1"), 0);
	ck_assert_int_eq(admit("192.0.2.1:3", 1, 0, T0 + 1, NULL), ADMIT_OK);
	ck_assert_uint_eq(sessions("192.0.2.1:1"), 1);
}
END_TEST

/* Counted with the limit off, so a reload that sets one finds the sessions
 * already there. */
START_TEST(test_counted_when_off)
{
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(admit("192.0.2.1:1", 0, 0, T0, NULL), ADMIT_OK);
	ck_assert_uint_eq(sessions("192.0.2.1:1"), 100);
	ck_assert_int_eq(admit("192.0.2.1:1", 100, 0, T0, NULL),
	    ADMIT_TOO_MANY);
	ck_assert_int_eq(admit("192.0.2.1:1", 101, 0, T0, NULL), ADMIT_OK);
	for (int i = 0; i < 101; i++)
		release("192.0.2.1:1");
	ck_assert_uint_eq(sessions("192.0.2.1:1"), 0);
}
END_TEST

START_TEST(test_release_never_underflows)
{
	release("192.0.2.1:1");                 /* never seen */
	ck_assert_int_eq(admit("192.0.2.1:1", 1, 0, T0, NULL), ADMIT_OK);
	release("192.0.2.1:1");
	release("192.0.2.1:1");                 /* one too many */
	ck_assert_uint_eq(sessions("192.0.2.1:1"), 0);
	ck_assert_int_eq(admit("192.0.2.1:1", 1, 0, T0, NULL), ADMIT_OK);
	ck_assert_int_eq(admit("192.0.2.1:1", 1, 0, T0, NULL), ADMIT_TOO_MANY);
}
END_TEST

/* ---- the connection rate ------------------------------------------------- */

START_TEST(test_burst_then_refill)
{
	struct admit_refusal why;

	/* 60 a minute: a burst of 60, then one a second */
	for (int i = 0; i < 60; i++)
		ck_assert_int_eq(admit("192.0.2.1:1", 0, 60, T0, NULL), ADMIT_OK);
	ck_assert_int_eq(admit("192.0.2.1:1", 0, 60, T0, &why), ADMIT_TOO_FAST);
	ck_assert(why.log);
	ck_assert_uint_eq(why.sessions, 60);
	ck_assert_int_eq(admit("192.0.2.1:1", 0, 60, T0 + 0.5, NULL),
	    ADMIT_TOO_FAST);
	ck_assert_int_eq(admit("192.0.2.1:1", 0, 60, T0 + 1, NULL), ADMIT_OK);
	ck_assert_int_eq(admit("192.0.2.1:1", 0, 60, T0 + 1, NULL),
	    ADMIT_TOO_FAST);
	ck_assert_int_eq(admit("192.0.2.1:1", 0, 60, T0 + 3, NULL), ADMIT_OK);
	ck_assert_int_eq(admit("192.0.2.1:1", 0, 60, T0 + 3, NULL), ADMIT_OK);
	ck_assert_int_eq(admit("192.0.2.1:1", 0, 60, T0 + 3, NULL),
	    ADMIT_TOO_FAST);
	/* another address has its own bucket */
	ck_assert_int_eq(admit("192.0.2.2:1", 0, 60, T0 + 3, NULL), ADMIT_OK);
}
END_TEST

/* A long quiet time fills the bucket to the rate, never beyond. */
START_TEST(test_burst_capped_at_rate)
{
	for (int i = 0; i < 120; i++)
		ck_assert_int_eq(admit("192.0.2.1:1", 0, 120, T0, NULL), ADMIT_OK);
	ck_assert_int_eq(admit("192.0.2.1:1", 0, 120, T0, NULL), ADMIT_TOO_FAST);
	for (int i = 0; i < 120; i++)
		ck_assert_int_eq(admit("192.0.2.1:1", 0, 120, T0 + 3600, NULL),
		    ADMIT_OK);
	ck_assert_int_eq(admit("192.0.2.1:1", 0, 120, T0 + 3600, NULL),
	    ADMIT_TOO_FAST);
}
END_TEST

/* A client that keeps trying still gets the rate: refusals spend nothing. */
START_TEST(test_refusals_spend_nothing)
{
	double t;

	for (int i = 0; i < 60; i++)
		ck_assert_int_eq(admit("192.0.2.1:1", 0, 60, T0, NULL), ADMIT_OK);
	for (t = T0; t < T0 + 1; t += 0.5)
		for (int i = 0; i < 50; i++)
			ck_assert_int_eq(admit("192.0.2.1:1", 0, 60, t, NULL),
			    ADMIT_TOO_FAST);
	ck_assert_int_eq(admit("192.0.2.1:1", 0, 60, T0 + 1, NULL), ADMIT_OK);
}
END_TEST

/* Both limits: the session count is checked first, and a refusal for it
 * spends no token. */
START_TEST(test_both_limits)
{
	struct admit_refusal why;

	ck_assert_int_eq(admit("192.0.2.1:1", 1, 60, T0, NULL), ADMIT_OK);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(admit("192.0.2.1:1", 1, 60, T0, &why),
		    ADMIT_TOO_MANY);
	release("192.0.2.1:1");
	for (int i = 0; i < 59; i++) {
		ck_assert_int_eq(admit("192.0.2.1:1", 1, 60, T0, NULL), ADMIT_OK);
		release("192.0.2.1:1");
	}
	ck_assert_int_eq(admit("192.0.2.1:1", 1, 60, T0, NULL), ADMIT_TOO_FAST);
}
END_TEST

/* A reload may lower the rate below what was spent, or turn it off. */
START_TEST(test_rate_changes)
{
	for (int i = 0; i < 120; i++)
		ck_assert_int_eq(admit("192.0.2.1:1", 0, 120, T0, NULL), ADMIT_OK);
	/* 120 spent, 60 allowed: refused until 61 have come back */
	ck_assert_int_eq(admit("192.0.2.1:1", 0, 60, T0, NULL), ADMIT_TOO_FAST);
	ck_assert_int_eq(admit("192.0.2.1:1", 0, 60, T0 + 60, NULL),
	    ADMIT_TOO_FAST);
	ck_assert_int_eq(admit("192.0.2.1:1", 0, 60, T0 + 61, NULL), ADMIT_OK);
	/* off: anything goes, and nothing is remembered */
	for (int i = 0; i < 500; i++)
		ck_assert_int_eq(admit("192.0.2.1:1", 0, 0, T0 + 61, NULL),
		    ADMIT_OK);
	for (int i = 0; i < 60; i++)
		ck_assert_int_eq(admit("192.0.2.1:1", 0, 60, T0 + 61, NULL),
		    ADMIT_OK);
	ck_assert_int_eq(admit("192.0.2.1:1", 0, 60, T0 + 61, NULL),
	    ADMIT_TOO_FAST);
}
END_TEST

/* A clock that goes back gives no tokens, and takes none. */
START_TEST(test_clock_back)
{
	for (int i = 0; i < 60; i++)
		ck_assert_int_eq(admit("192.0.2.1:1", 0, 60, T0, NULL), ADMIT_OK);
	ck_assert_int_eq(admit("192.0.2.1:1", 0, 60, T0 - 100, NULL),
	    ADMIT_TOO_FAST);
	ck_assert_int_eq(admit("192.0.2.1:1", 0, 60, T0 - 99, NULL), ADMIT_OK);
}
END_TEST

/* ---- the refusal log ----------------------------------------------------- */

START_TEST(test_refusal_lines_limited)
{
	struct admit_refusal why;

	ck_assert_int_eq(admit("192.0.2.1:1", 1, 0, T0, NULL), ADMIT_OK);
	ck_assert_int_eq(admit("192.0.2.1:1", 1, 0, T0, &why), ADMIT_TOO_MANY);
	ck_assert(why.log);
	ck_assert_uint_eq(why.unlogged, 0);
	for (int i = 0; i < 200; i++) {
		ck_assert_int_eq(admit("192.0.2.1:1", 1, 0,
		    T0 + PEERLIMIT_LOG_EVERY - 0.5, &why), ADMIT_TOO_MANY);
		ck_assert(!why.log);
	}
	/* another address logs on its own */
	ck_assert_int_eq(admit("192.0.2.2:1", 1, 0, T0, NULL), ADMIT_OK);
	ck_assert_int_eq(admit("192.0.2.2:1", 1, 0, T0 + 1, &why),
	    ADMIT_TOO_MANY);
	ck_assert(why.log);
	/* the next line says how many were left out */
	ck_assert_int_eq(admit("192.0.2.1:1", 1, 0, T0 + PEERLIMIT_LOG_EVERY,
	    &why), ADMIT_TOO_MANY);
	ck_assert(why.log);
	ck_assert_uint_eq(why.unlogged, 200);
	ck_assert_int_eq(admit("192.0.2.1:1", 1, 0, T0 + PEERLIMIT_LOG_EVERY,
	    &why), ADMIT_TOO_MANY);
	ck_assert(!why.log);
	ck_assert_int_eq(admit("192.0.2.1:1", 1, 0,
	    T0 + 2 * PEERLIMIT_LOG_EVERY, &why), ADMIT_TOO_MANY);
	ck_assert(why.log);
	ck_assert_uint_eq(why.unlogged, 1);
}
END_TEST

/* ---- keys ---------------------------------------------------------------- */

START_TEST(test_ipv4_mapped_is_ipv4)
{
	ck_assert_int_eq(admit("192.0.2.1:1", 2, 0, T0, NULL), ADMIT_OK);
	ck_assert_int_eq(admit("[::ffff:192.0.2.1]:2", 2, 0, T0, NULL),
	    ADMIT_OK);
	ck_assert_uint_eq(sessions("192.0.2.1:3"), 2);
	ck_assert_int_eq(admit("192.0.2.1:4", 2, 0, T0, NULL), ADMIT_TOO_MANY);
	release("[::ffff:192.0.2.1]:5");
	ck_assert_uint_eq(sessions("192.0.2.1:3"), 1);
	/* an IPv6 address with the same low bytes is another client */
	ck_assert_int_eq(admit("[::192.0.2.1]:1", 2, 0, T0, NULL), ADMIT_OK);
	ck_assert_uint_eq(sessions("192.0.2.1:3"), 1);
}
END_TEST

START_TEST(test_ipv6_per_64)
{
	ck_assert_int_eq(admit("[2001:db8::1]:1", 2, 0, T0, NULL), ADMIT_OK);
	ck_assert_int_eq(admit("[2001:db8::ffff:2]:1", 2, 0, T0, NULL),
	    ADMIT_OK);
	ck_assert_int_eq(admit("[2001:db8::3]:1", 2, 0, T0, NULL),
	    ADMIT_TOO_MANY);
	/* the next /64 is another client */
	ck_assert_int_eq(admit("[2001:db8:0:1::1]:1", 2, 0, T0, NULL), ADMIT_OK);
}
END_TEST

START_TEST(test_unix_not_limited)
{
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(admit("unix:/run/vnc.sock", 1, 1, T0, NULL),
		    ADMIT_UNCOUNTED);
	ck_assert_uint_eq(sessions("unix:/run/vnc.sock"), 0);
}
END_TEST

/* ---- a full table -------------------------------------------------------- */

/* Every entry holds live sessions: a new address is let in, uncounted,
 * however often, and counted again once an entry is free. */
START_TEST(test_full_of_live_sessions)
{
	char buf[64];

	for (unsigned n = 1; n <= PEERLIMIT_WAYS; n++)
		ck_assert_int_eq(admit(nth(buf, sizeof buf, n), 1, 1, T0, NULL),
		    ADMIT_OK);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(admit("198.51.100.1:1", 1, 1, T0, NULL),
		    ADMIT_UNCOUNTED);
	ck_assert_uint_eq(sessions("198.51.100.1:1"), 0);
	/* those in the table are still limited */
	ck_assert_int_eq(admit(nth(buf, sizeof buf, 1), 1, 1, T0 + 120, NULL),
	    ADMIT_TOO_MANY);
	release(nth(buf, sizeof buf, 3));
	ck_assert_int_eq(admit("198.51.100.1:1", 1, 1, T0, NULL), ADMIT_OK);
	ck_assert_int_eq(admit("198.51.100.1:1", 1, 1, T0, NULL),
	    ADMIT_TOO_MANY);
	ck_assert_int_eq(admit(nth(buf, sizeof buf, 3), 1, 1, T0, NULL),
	    ADMIT_UNCOUNTED);
}
END_TEST

/* Entries without sessions but with tokens spent: the one seen longest ago
 * makes way, the others keep what they spent. */
START_TEST(test_full_evicts_least_recent)
{
	char buf[64];

	for (unsigned n = 1; n <= PEERLIMIT_WAYS; n++) {
		ck_assert_int_eq(admit(nth(buf, sizeof buf, n), 0, 1, T0 + n,
		    NULL), ADMIT_OK);
		release(buf);
	}
	ck_assert_int_eq(admit("198.51.100.1:1", 0, 1, T0 + 10, NULL),
	    ADMIT_OK);
	/* 192.0.2.1, seen first, was forgotten; 192.0.2.2 was not */
	ck_assert_int_eq(admit(nth(buf, sizeof buf, 2), 0, 1, T0 + 11, NULL),
	    ADMIT_TOO_FAST);
	ck_assert_int_eq(admit(nth(buf, sizeof buf, 1), 0, 1, T0 + 11, NULL),
	    ADMIT_OK);
}
END_TEST

/* Entries with nothing left to remember are reused before any other. */
START_TEST(test_idle_entry_reused_first)
{
	char buf[64];

	for (unsigned n = 1; n <= PEERLIMIT_WAYS; n++) {
		ck_assert_int_eq(admit(nth(buf, sizeof buf, n), 0, 60, T0 + n,
		    NULL), ADMIT_OK);
		release(buf);
	}
	/* at 60 a minute the token of 192.0.2.8 (spent last, at T0 + 8) is
	 * back at T0 + 9, the others' sooner; spend again on all but 5 */
	for (unsigned n = 1; n <= PEERLIMIT_WAYS; n++) {
		if (n == 5)
			continue;
		for (int i = 0; i < 60; i++) {
			ck_assert_int_eq(admit(nth(buf, sizeof buf, n), 0, 60,
			    T0 + 20, NULL), ADMIT_OK);
			release(buf);
		}
	}
	ck_assert_int_eq(admit("198.51.100.1:1", 0, 60, T0 + 20, NULL),
	    ADMIT_OK);
	/* 192.0.2.5 made way; 192.0.2.1, first in the bucket and as old as
	 * the rest, kept its spent tokens */
	ck_assert_int_eq(admit(nth(buf, sizeof buf, 1), 0, 60, T0 + 20, NULL),
	    ADMIT_TOO_FAST);
}
END_TEST

START_TEST(test_init_rejects_odd_sizes)
{
	struct peerlimit other;

	ck_assert_int_eq(peerlimit_init(&other, 0), -1);
	ck_assert_int_eq(peerlimit_init(&other, 3), -1);
	ck_assert_int_eq(peerlimit_init(&other, 4), 0);
	peerlimit_destroy(&other);
}
END_TEST

/* ---- threads ------------------------------------------------------------- */

#define THREAD_ROUNDS 20000

static void *
admit_release_loop(void *arg)
{
	struct net_addr a = addr(arg);
	struct admit_refusal why;
	uintptr_t over = 0;

	for (int i = 0; i < THREAD_ROUNDS; i++) {
		if (peerlimit_admit(&pl, &a, 2, 0, T0, &why) != ADMIT_OK)
			continue;
		if (peerlimit_sessions(&pl, &a) > 2)
			over++;
		peerlimit_release(&pl, &a);
	}
	return (void *)over;
}

/* Four threads on one address under max 2: never more than two in, every
 * admission released, nothing left counted. */
START_TEST(test_threads_share_one_count)
{
	static char from[] = "192.0.2.1:1";
	pthread_t t[4];
	void *over;

	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, admit_release_loop,
		    from), 0);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(t[i], &over), 0);
		ck_assert_ptr_null(over);
	}
	ck_assert_uint_eq(sessions("192.0.2.1:1"), 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("peerlimit");
	TCase *tc;

	tc = tcase_create("sessions");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_counts_and_refuses_at_max);
	tcase_add_test(tc, test_release_makes_room);
	tcase_add_test(tc, test_counted_when_off);
	tcase_add_test(tc, test_release_never_underflows);
	tcase_add_test(tc, test_threads_share_one_count);
	suite_add_tcase(s, tc);

	tc = tcase_create("rate");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_burst_then_refill);
	tcase_add_test(tc, test_burst_capped_at_rate);
	tcase_add_test(tc, test_refusals_spend_nothing);
	tcase_add_test(tc, test_both_limits);
	tcase_add_test(tc, test_rate_changes);
	tcase_add_test(tc, test_clock_back);
	tcase_add_test(tc, test_refusal_lines_limited);
	suite_add_tcase(s, tc);

	tc = tcase_create("keys");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ipv4_mapped_is_ipv4);
	tcase_add_test(tc, test_ipv6_per_64);
	tcase_add_test(tc, test_unix_not_limited);
	suite_add_tcase(s, tc);

	tc = tcase_create("table");
	tcase_add_checked_fixture(tc, setup_one_bucket, teardown);
	tcase_add_test(tc, test_full_of_live_sessions);
	tcase_add_test(tc, test_full_evicts_least_recent);
	tcase_add_test(tc, test_idle_entry_reused_first);
	tcase_add_test(tc, test_init_rejects_odd_sizes);
	suite_add_tcase(s, tc);

	return check_run(s);
}
