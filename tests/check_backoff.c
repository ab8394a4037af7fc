/*
 * check_backoff.c - the failed-login table, against the policy written in
 * backoff.h: BACKOFF_FREE - 1 failures are free, the next one within
 * BACKOFF_WINDOW blocks for BACKOFF_FIRST, each further one doubles the
 * block up to BACKOFF_MAX, an address quiet for BACKOFF_FORGET starts
 * afresh, one key per source address (IPv6: per /64), checks under way
 * count against the threshold, and a full table evicts the entry used
 * longest ago, never a blocked or busy one, without ever growing.
 *
 * Times are whole or half seconds from T0, so every expected wait is exact
 * in a double.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "backoff.h"
#include "net.h"
#include "check_run.h"

#define T0 1000.0

/* The address text parsed (Unix sockets allowed); asserts it parses. */
static struct net_addr
addr(const char *text)
{
	struct net_addr a;

	ck_assert_msg(net_parse_addr(text, 1, &a) == NET_PARSE_OK,
	    "cannot parse %s", text);
	return a;
}

/* n failures from a at now, each of which must leave it free. */
static void
fail_free(struct backoff *b, const struct net_addr *a, int n, double now)
{
	for (int i = 0; i < n; i++) {
		ck_assert_msg(backoff_failed(b, a, now) == 0,
		    "blocked after %d failures", i + 1);
		ck_assert(backoff_wait(b, a, now) == 0);
	}
}

/* ---- the threshold and the doubling -------------------------------------- */

START_TEST(test_free_failures_then_block)
{
	struct backoff b;
	struct net_addr a = addr("192.0.2.1:40000");

	ck_assert_int_eq(backoff_init(&b, 16), 0);
	ck_assert(backoff_wait(&b, &a, T0) == 0);       /* never seen */
	/* one a second, all well inside the window */
	for (int i = 0; i < BACKOFF_FREE - 1; i++) {
		ck_assert(backoff_failed(&b, &a, T0 + i) == 0);
		ck_assert(backoff_wait(&b, &a, T0 + i) == 0);
	}
	ck_assert(backoff_failed(&b, &a, T0 + BACKOFF_FREE - 1) ==
	    BACKOFF_FIRST);
	ck_assert(backoff_wait(&b, &a, T0 + BACKOFF_FREE - 1) ==
	    BACKOFF_FIRST);
	backoff_destroy(&b);
}
END_TEST

START_TEST(test_block_doubles_up_to_max)
{
	struct backoff b;
	struct net_addr a = addr("[2001:db8::1]:40000");
	double now = T0, want = BACKOFF_FIRST, got;
	int blocks = 0;

	ck_assert_int_eq(backoff_init(&b, 16), 0);
	fail_free(&b, &a, BACKOFF_FREE - 1, now);
	/* each further failure made once the last block is over: 2, 4, 8,
	 * ..., 256, then BACKOFF_MAX for good */
	while (blocks < 14) {
		got = backoff_failed(&b, &a, now);
		ck_assert_msg(got == want, "block %d: %g s, expected %g s",
		    blocks + 1, got, want);
		ck_assert(backoff_wait(&b, &a, now) == want);
		ck_assert(backoff_wait(&b, &a, now + want) == 0);
		now += want;
		want = want * 2 > BACKOFF_MAX ? BACKOFF_MAX : want * 2;
		blocks++;
	}
	ck_assert(want == BACKOFF_MAX);
	backoff_destroy(&b);
}
END_TEST

/* A failure while still blocked counts too: the block restarts from now,
 * doubled. */
START_TEST(test_failure_while_blocked_doubles)
{
	struct backoff b;
	struct net_addr a = addr("192.0.2.1:1");

	ck_assert_int_eq(backoff_init(&b, 16), 0);
	fail_free(&b, &a, BACKOFF_FREE - 1, T0);
	ck_assert(backoff_failed(&b, &a, T0) == BACKOFF_FIRST);
	ck_assert(backoff_failed(&b, &a, T0 + 1) == 2 * BACKOFF_FIRST);
	ck_assert(backoff_wait(&b, &a, T0 + 1) == 2 * BACKOFF_FIRST);
	backoff_destroy(&b);
}
END_TEST

/* ---- the window ---------------------------------------------------------- */

START_TEST(test_failures_outside_window_do_not_add_up)
{
	struct backoff b;
	struct net_addr a = addr("198.51.100.7:5000");
	double gap = BACKOFF_WINDOW / (BACKOFF_FREE - 1) + 1, now = T0;

	ck_assert_int_eq(backoff_init(&b, 16), 0);
	/* BACKOFF_FREE failures spread over more than the window */
	for (int i = 0; i < BACKOFF_FREE; i++, now += gap)
		ck_assert_msg(backoff_failed(&b, &a, now) == 0,
		    "failure %d, %g s after the first, blocked", i + 1, now - T0);
	ck_assert(now - gap - T0 > BACKOFF_WINDOW);
	/* and more, each further apart than the window */
	for (int i = 0; i < 3 * BACKOFF_FREE; i++, now += BACKOFF_WINDOW + 1)
		ck_assert(backoff_failed(&b, &a, now) == 0);
	backoff_destroy(&b);
}
END_TEST

/* Once the count starts afresh, BACKOFF_FREE failures within the window
 * still block. */
START_TEST(test_count_restarts_after_window)
{
	struct backoff b;
	struct net_addr a = addr("198.51.100.7:5000");
	double now = T0 + BACKOFF_WINDOW + 1;

	ck_assert_int_eq(backoff_init(&b, 16), 0);
	fail_free(&b, &a, BACKOFF_FREE - 1, T0);
	fail_free(&b, &a, BACKOFF_FREE - 1, now);
	ck_assert(backoff_failed(&b, &a, now + BACKOFF_WINDOW - 1) ==
	    BACKOFF_FIRST);
	backoff_destroy(&b);
}
END_TEST

/* ---- waiting and forgetting ---------------------------------------------- */

/* The window slides: any BACKOFF_FREE failures within it block, however
 * they fall against the first failure ever seen. */
START_TEST(test_window_slides)
{
	struct backoff b;
	struct net_addr a = addr("192.0.2.7:1");
	const double w = BACKOFF_WINDOW;

	ck_assert_int_eq(backoff_init(&b, 16), 0);
	fail_free(&b, &a, 1, T0);
	/* three just before the first one's window ends, one just after */
	fail_free(&b, &a, 1, T0 + w - 1);
	fail_free(&b, &a, 1, T0 + w - 0.8);
	fail_free(&b, &a, 1, T0 + w - 0.6);
	fail_free(&b, &a, 1, T0 + w + 0.5);
	/* the last five now span 1.6 s */
	ck_assert(backoff_failed(&b, &a, T0 + w + 0.6) == BACKOFF_FIRST);
	backoff_destroy(&b);
}
END_TEST

START_TEST(test_wait_counts_down)
{
	struct backoff b;
	struct net_addr a = addr("192.0.2.9:1234");

	ck_assert_int_eq(backoff_init(&b, 16), 0);
	fail_free(&b, &a, BACKOFF_FREE - 1, T0);
	ck_assert(backoff_failed(&b, &a, T0) == BACKOFF_FIRST);
	ck_assert(backoff_wait(&b, &a, T0) == BACKOFF_FIRST);
	ck_assert(backoff_wait(&b, &a, T0 + 0.5) == BACKOFF_FIRST - 0.5);
	ck_assert(backoff_wait(&b, &a, T0 + 1.5) == BACKOFF_FIRST - 1.5);
	ck_assert(backoff_wait(&b, &a, T0 + BACKOFF_FIRST) == 0);
	ck_assert(backoff_wait(&b, &a, T0 + BACKOFF_FIRST + 1) == 0);
	ck_assert(backoff_wait(&b, &a, T0 + BACKOFF_FORGET * 2) == 0);
	backoff_destroy(&b);
}
END_TEST

START_TEST(test_forgotten_after_quiet_time)
{
	struct backoff b;
	struct net_addr a = addr("192.0.2.9:1234");
	double now;

	ck_assert_int_eq(backoff_init(&b, 16), 0);
	fail_free(&b, &a, BACKOFF_FREE - 1, T0);
	ck_assert(backoff_failed(&b, &a, T0) == BACKOFF_FIRST);

	/* quiet for less than BACKOFF_FORGET: still remembered, doubles */
	now = T0 + BACKOFF_FORGET - 1;
	ck_assert(backoff_failed(&b, &a, now) == 2 * BACKOFF_FIRST);

	/* quiet for longer: starts afresh, BACKOFF_FREE - 1 free again */
	now += BACKOFF_FORGET + 1;
	ck_assert(backoff_wait(&b, &a, now) == 0);
	fail_free(&b, &a, BACKOFF_FREE - 1, now);
	ck_assert(backoff_failed(&b, &a, now) == BACKOFF_FIRST);
	backoff_destroy(&b);
}
END_TEST

/* Even at BACKOFF_MAX, the address is forgotten once quiet long enough. */
START_TEST(test_forgotten_after_max_block)
{
	struct backoff b;
	struct net_addr a = addr("192.0.2.9:1234");
	double now = T0, block = 0;

	ck_assert_int_eq(backoff_init(&b, 16), 0);
	fail_free(&b, &a, BACKOFF_FREE - 1, now);
	while (block < BACKOFF_MAX) {
		block = backoff_failed(&b, &a, now);
		ck_assert(block > 0);
		now += 1;
	}
	now += BACKOFF_FORGET + 1;
	ck_assert(backoff_wait(&b, &a, now) == 0);
	ck_assert(backoff_failed(&b, &a, now) == 0);
	backoff_destroy(&b);
}
END_TEST

/* ---- keys ---------------------------------------------------------------- */

START_TEST(test_keys_by_family_not_port)
{
	struct backoff b;
	struct net_addr v4 = addr("127.0.0.1:1000");
	struct net_addr v4_other_port = addr("127.0.0.1:2000");
	struct net_addr v4_other_host = addr("127.0.0.2:1000");
	struct net_addr v6 = addr("[::1]:1000");
	struct net_addr unix_a = addr("unix:/run/a.sock");
	struct net_addr unix_b = addr("unix:/run/b.sock");

	ck_assert_int_eq(backoff_init(&b, 16), 0);
	/* BACKOFF_FREE - 1 failures each from four different keys: none is
	 * blocked, so none shares a count with another */
	fail_free(&b, &v4, BACKOFF_FREE - 1, T0);
	fail_free(&b, &v4_other_host, BACKOFF_FREE - 1, T0);
	fail_free(&b, &v6, BACKOFF_FREE - 1, T0);
	fail_free(&b, &unix_a, BACKOFF_FREE - 1, T0);

	/* the same IPv4 address from another port is the same key */
	ck_assert(backoff_failed(&b, &v4_other_port, T0) == BACKOFF_FIRST);
	ck_assert(backoff_wait(&b, &v4, T0) == BACKOFF_FIRST);
	ck_assert(backoff_wait(&b, &v4_other_port, T0) == BACKOFF_FIRST);
	ck_assert(backoff_wait(&b, &v4_other_host, T0) == 0);
	ck_assert(backoff_wait(&b, &v6, T0) == 0);
	ck_assert(backoff_wait(&b, &unix_a, T0) == 0);

	/* every Unix-socket peer is one key, whatever the path */
	ck_assert(backoff_failed(&b, &unix_b, T0) == BACKOFF_FIRST);
	ck_assert(backoff_wait(&b, &unix_a, T0) == BACKOFF_FIRST);
	ck_assert(backoff_wait(&b, &v6, T0) == 0);
	backoff_destroy(&b);
}
END_TEST

START_TEST(test_ipv6_ports_are_one_key)
{
	struct backoff b;
	struct net_addr a, last = addr("[2001:db8::7]:65535");
	char text[64];

	ck_assert_int_eq(backoff_init(&b, 16), 0);
	for (int i = 0; i < BACKOFF_FREE - 1; i++) {
		snprintf(text, sizeof text, "[2001:db8::7]:%d", 1000 + i);
		a = addr(text);
		ck_assert(backoff_failed(&b, &a, T0) == 0);
	}
	ck_assert(backoff_failed(&b, &last, T0) == BACKOFF_FIRST);
	backoff_destroy(&b);
}
END_TEST

/* ---- a full table -------------------------------------------------------- */

START_TEST(test_full_table_evicts_least_recent)
{
	static const char *const names[] = { "10.0.0.1:1", "10.0.0.2:1",
	    "10.0.0.3:1", "10.0.0.4:1", "10.0.0.5:1" };
	struct net_addr a[5];
	struct backoff b;
	struct backoff_slot *slots;

	for (size_t i = 0; i < 5; i++)
		a[i] = addr(names[i]);
	ck_assert_int_eq(backoff_init(&b, 4), 0);
	slots = b.slots;

	/* a[0] to a[3] fill the table, a[0] the least recently */
	for (int i = 0; i < 4; i++)
		fail_free(&b, &a[i], BACKOFF_FREE - 1, T0 + i);
	/* a fifth address takes a[0]'s place */
	fail_free(&b, &a[4], 1, T0 + 4);
	ck_assert_ptr_eq(b.slots, slots);
	ck_assert_uint_eq(b.nslots, 4);

	/* a[1] kept its count: one more failure blocks it */
	ck_assert(backoff_failed(&b, &a[1], T0 + 5) == BACKOFF_FIRST);
	/* a[0] lost its count and starts afresh, taking a[2]'s place (a[1]
	 * was used just now) */
	ck_assert(backoff_failed(&b, &a[0], T0 + 6) == 0);
	/* so a[2] starts afresh too, taking a[3]'s place */
	ck_assert(backoff_failed(&b, &a[2], T0 + 7) == 0);
	/* a[4] (used at T0 + 4) is the oldest now: a[3] takes its place */
	ck_assert(backoff_failed(&b, &a[3], T0 + 8) == 0);
	/* and a[1], used more recently than a[4], is still there: blocked,
	 * its next failure doubles the block */
	ck_assert(backoff_failed(&b, &a[1], T0 + 9) == 2 * BACKOFF_FIRST);
	ck_assert_ptr_eq(b.slots, slots);
	ck_assert_uint_eq(b.nslots, 4);
	backoff_destroy(&b);
}
END_TEST

/* Many more addresses than slots: the table stays its size; a blocked
 * address keeps its place while blocked and makes room after. */
START_TEST(test_full_table_never_grows)
{
	struct backoff b;
	struct backoff_slot *slots;
	struct net_addr blocked = addr("203.0.113.1:1"), a;
	char text[64];

	ck_assert_int_eq(backoff_init(&b, 4), 0);
	slots = b.slots;
	fail_free(&b, &blocked, BACKOFF_FREE - 1, T0);
	ck_assert(backoff_failed(&b, &blocked, T0) == BACKOFF_FIRST);
	for (int i = 0; i < 1000; i++) {
		snprintf(text, sizeof text, "[2001:db8:%x::1]:1", i + 1);
		a = addr(text);
		ck_assert(backoff_failed(&b, &a, T0 + 1 + i * 0.0005) == 0);
		ck_assert_ptr_eq(b.slots, slots);
		ck_assert_uint_eq(b.nslots, 4);
	}
	ck_assert(backoff_wait(&b, &blocked, T0 + 1.5) > 0);
	/* once the block is over, four others push it out: it starts afresh */
	for (int i = 0; i < 4; i++) {
		snprintf(text, sizeof text, "10.9.0.%d:1", i + 1);
		a = addr(text);
		ck_assert(backoff_failed(&b, &a, T0 + 3 + i) == 0);
	}
	fail_free(&b, &blocked, BACKOFF_FREE - 1, T0 + 10);
	backoff_destroy(&b);
}
END_TEST

/* A table full of blocked addresses has no room: a new one must wait. */
START_TEST(test_full_of_blocked)
{
	struct backoff b;
	struct net_addr a = addr("10.8.0.1:1"), c = addr("10.8.0.2:1");
	double wait;

	ck_assert_int_eq(backoff_init(&b, 1), 0);
	fail_free(&b, &a, BACKOFF_FREE - 1, T0);
	ck_assert(backoff_failed(&b, &a, T0) == BACKOFF_FIRST);
	ck_assert_int_eq(backoff_begin(&b, &c, T0 + 1, &wait), BACKOFF_FULL);
	ck_assert(wait > 0);
	ck_assert(backoff_failed(&b, &c, T0 + 1) == 0);   /* not recorded */
	ck_assert(backoff_wait(&b, &a, T0 + 1) > 0);      /* a kept its block */
	ck_assert_int_eq(backoff_begin(&b, &c, T0 + 3, &wait), BACKOFF_GO);
	backoff_destroy(&b);
}
END_TEST

/* ---- checks under way ---------------------------------------------------- */

/* Guesses sent all at once cannot outrun the count. */
START_TEST(test_checks_under_way_count)
{
	struct backoff b;
	struct net_addr a = addr("192.0.2.9:1"), other = addr("192.0.2.10:1");
	double wait;

	ck_assert_int_eq(backoff_init(&b, 16), 0);
	for (int i = 0; i < BACKOFF_FREE; i++)
		ck_assert_int_eq(backoff_begin(&b, &a, T0, &wait), BACKOFF_GO);
	ck_assert_int_eq(backoff_begin(&b, &a, T0, &wait), BACKOFF_BUSY);
	ck_assert(wait == BACKOFF_RETRY);
	/* another address is not affected */
	ck_assert_int_eq(backoff_begin(&b, &other, T0, &wait), BACKOFF_GO);
	backoff_end(&b, &other);
	/* one fails: its place is taken by the failure, not freed */
	ck_assert(backoff_failed(&b, &a, T0 + 1) == 0);
	backoff_end(&b, &a);
	ck_assert_int_eq(backoff_begin(&b, &a, T0 + 1, &wait), BACKOFF_BUSY);
	/* one succeeds: its place is free again */
	backoff_end(&b, &a);
	ck_assert_int_eq(backoff_begin(&b, &a, T0 + 1, &wait), BACKOFF_GO);
	/* the four left fail: the fifth failure blocks */
	for (int i = 0; i < 3; i++) {
		ck_assert(backoff_failed(&b, &a, T0 + 2) == 0);
		backoff_end(&b, &a);
	}
	ck_assert(backoff_failed(&b, &a, T0 + 2) == BACKOFF_FIRST);
	backoff_end(&b, &a);
	ck_assert_int_eq(backoff_begin(&b, &a, T0 + 2, &wait), BACKOFF_BLOCKED);
	ck_assert(wait == BACKOFF_FIRST);
	/* after a block, one check at a time */
	ck_assert_int_eq(backoff_begin(&b, &a, T0 + 5, &wait), BACKOFF_GO);
	ck_assert_int_eq(backoff_begin(&b, &a, T0 + 5, &wait), BACKOFF_BUSY);
	backoff_end(&b, &a);
	ck_assert_int_eq(backoff_begin(&b, &a, T0 + 5, &wait), BACKOFF_GO);
	backoff_end(&b, &a);
	backoff_destroy(&b);
}
END_TEST

/* An address with a check under way keeps its entry in a full table. */
START_TEST(test_check_under_way_pins)
{
	struct backoff b;
	struct net_addr a = addr("10.7.0.1:1"), c = addr("10.7.0.2:1");
	double wait;

	ck_assert_int_eq(backoff_init(&b, 1), 0);
	ck_assert_int_eq(backoff_begin(&b, &a, T0, &wait), BACKOFF_GO);
	ck_assert_int_eq(backoff_begin(&b, &c, T0, &wait), BACKOFF_FULL);
	backoff_end(&b, &a);
	ck_assert_int_eq(backoff_begin(&b, &c, T0, &wait), BACKOFF_GO);
	backoff_end(&b, &c);
	backoff_destroy(&b);
}
END_TEST

/* IPv6 addresses count per /64. */
START_TEST(test_ipv6_per_64)
{
	struct backoff b;
	struct net_addr a = addr("[2001:db8::1]:1"), same = addr("[2001:db8::ffff:2]:2");
	struct net_addr next = addr("[2001:db8:0:1::1]:1");

	ck_assert_int_eq(backoff_init(&b, 16), 0);
	fail_free(&b, &a, BACKOFF_FREE - 1, T0);
	ck_assert(backoff_failed(&b, &same, T0) == BACKOFF_FIRST);
	ck_assert(backoff_wait(&b, &a, T0) > 0);
	ck_assert(backoff_wait(&b, &next, T0) == 0);
	backoff_destroy(&b);
}
END_TEST

/* An entry quiet for BACKOFF_FORGET makes room before any recent one. */
START_TEST(test_stale_entry_reused_first)
{
	struct backoff b;
	struct net_addr old = addr("10.1.0.1:1"), recent = addr("10.1.0.2:1");
	struct net_addr c = addr("10.1.0.3:1"), d = addr("10.1.0.4:1");
	struct net_addr e = addr("10.1.0.5:1");
	double now = T0 + BACKOFF_FORGET + 100;

	ck_assert_int_eq(backoff_init(&b, 4), 0);
	fail_free(&b, &old, 1, T0);
	fail_free(&b, &recent, BACKOFF_FREE - 1, now - 10);
	fail_free(&b, &c, BACKOFF_FREE - 1, now - 5);
	fail_free(&b, &d, BACKOFF_FREE - 1, now - 5);
	/* old is quiet for longer than BACKOFF_FORGET: e takes its slot, and
	 * recent keeps its count */
	fail_free(&b, &e, 1, now);
	ck_assert(backoff_failed(&b, &recent, now) == BACKOFF_FIRST);
	ck_assert(backoff_failed(&b, &c, now) == BACKOFF_FIRST);
	ck_assert(backoff_failed(&b, &d, now) == BACKOFF_FIRST);
	backoff_destroy(&b);
}
END_TEST

START_TEST(test_one_slot)
{
	struct backoff b;
	struct net_addr a = addr("10.2.0.1:1"), c = addr("10.2.0.2:1");

	ck_assert_int_eq(backoff_init(&b, 1), 0);
	fail_free(&b, &a, BACKOFF_FREE - 1, T0);
	fail_free(&b, &c, 1, T0 + 1);
	/* a was evicted by c */
	fail_free(&b, &a, BACKOFF_FREE - 1, T0 + 2);
	ck_assert(backoff_failed(&b, &a, T0 + 3) == BACKOFF_FIRST);
	backoff_destroy(&b);
}
END_TEST

/* ---- no slots at all ----------------------------------------------------- */

START_TEST(test_zero_slots)
{
	struct backoff b;
	struct net_addr a = addr("192.0.2.1:1");

	ck_assert_int_eq(backoff_init(&b, 0), 0);
	ck_assert_uint_eq(b.nslots, 0);
	for (int i = 0; i < 3 * BACKOFF_FREE; i++) {
		ck_assert(backoff_failed(&b, &a, T0 + i) == 0);
		ck_assert(backoff_wait(&b, &a, T0 + i) == 0);
	}
	backoff_destroy(&b);
	ck_assert_ptr_null(b.slots);
	ck_assert_uint_eq(b.nslots, 0);
	/* a destroyed table is an empty one */
	ck_assert(backoff_wait(&b, &a, T0) == 0);
	ck_assert(backoff_failed(&b, &a, T0) == 0);
	backoff_destroy(&b);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("backoff");
	TCase *tc;

	tc = tcase_create("policy");
	tcase_add_test(tc, test_free_failures_then_block);
	tcase_add_test(tc, test_block_doubles_up_to_max);
	tcase_add_test(tc, test_failure_while_blocked_doubles);
	tcase_add_test(tc, test_failures_outside_window_do_not_add_up);
	tcase_add_test(tc, test_count_restarts_after_window);
	tcase_add_test(tc, test_window_slides);
	tcase_add_test(tc, test_wait_counts_down);
	tcase_add_test(tc, test_forgotten_after_quiet_time);
	tcase_add_test(tc, test_forgotten_after_max_block);
	suite_add_tcase(s, tc);

	tc = tcase_create("keys");
	tcase_add_test(tc, test_keys_by_family_not_port);
	tcase_add_test(tc, test_ipv6_ports_are_one_key);
	suite_add_tcase(s, tc);

	tc = tcase_create("table");
	tcase_add_test(tc, test_full_table_evicts_least_recent);
	tcase_add_test(tc, test_full_table_never_grows);
	tcase_add_test(tc, test_full_of_blocked);
	tcase_add_test(tc, test_checks_under_way_count);
	tcase_add_test(tc, test_check_under_way_pins);
	tcase_add_test(tc, test_ipv6_per_64);
	tcase_add_test(tc, test_stale_entry_reused_first);
	tcase_add_test(tc, test_one_slot);
	tcase_add_test(tc, test_zero_slots);
	suite_add_tcase(s, tc);

	return check_run(s);
}
