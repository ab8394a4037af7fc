/*
 * check_certcache.c - the verified-chain cache, against certcache.h: a
 * chain is found only with its exact key and only inside its span (from
 * inclusive, until exclusive), with the DN it was stored with; a newer
 * chain takes the slot of an older one; an empty span is not stored; the
 * table never grows.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certcache.h"
#include "check_run.h"

#define T0 ((time_t)1800000000)

/* A key whose slot byte (the first four) and tail are chosen. */
static void
make_key(uint8_t *key, uint32_t slot, uint8_t tail)
{
	memset(key, tail, CERTCACHE_KEY);
	key[0] = (uint8_t)(slot >> 24);
	key[1] = (uint8_t)(slot >> 16);
	key[2] = (uint8_t)(slot >> 8);
	key[3] = (uint8_t)slot;
}

START_TEST(test_empty_finds_nothing)
{
	struct certcache c;
	uint8_t key[CERTCACHE_KEY];
	char dn[64] = "untouched";

	ck_assert_int_eq(certcache_init(&c, 8), 0);
	make_key(key, 1, 0xaa);
	ck_assert(!certcache_lookup(&c, key, T0, dn, sizeof dn));
	ck_assert_str_eq(dn, "untouched");
	ck_assert_uint_eq(c.misses, 1);
	ck_assert_uint_eq(c.hits, 0);
	certcache_destroy(&c);
}
END_TEST

START_TEST(test_found_inside_span_only)
{
	struct certcache c;
	uint8_t key[CERTCACHE_KEY];
	char dn[64];

	ck_assert_int_eq(certcache_init(&c, 8), 0);
	make_key(key, 3, 0x11);
	certcache_insert(&c, key, T0, T0 + 100, "CN=alice,O=Example");
	ck_assert(!certcache_lookup(&c, key, T0 - 1, dn, sizeof dn));
	ck_assert(certcache_lookup(&c, key, T0, dn, sizeof dn));
	ck_assert_str_eq(dn, "CN=alice,O=Example");
	ck_assert(certcache_lookup(&c, key, T0 + 99, dn, sizeof dn));
	ck_assert(!certcache_lookup(&c, key, T0 + 100, dn, sizeof dn));
	ck_assert_uint_eq(c.hits, 2);
	ck_assert_uint_eq(c.misses, 2);
	certcache_destroy(&c);
}
END_TEST

START_TEST(test_exact_key_only)
{
	struct certcache c;
	uint8_t key[CERTCACHE_KEY], other[CERTCACHE_KEY];
	char dn[64];

	ck_assert_int_eq(certcache_init(&c, 8), 0);
	make_key(key, 5, 0x22);
	certcache_insert(&c, key, T0, T0 + 100, "CN=alice");
	/* The same slot, one bit different at the end. */
	memcpy(other, key, sizeof other);
	other[CERTCACHE_KEY - 1] ^= 1;
	ck_assert(!certcache_lookup(&c, other, T0, dn, sizeof dn));
	ck_assert(certcache_lookup(&c, key, T0, dn, sizeof dn));
	certcache_destroy(&c);
}
END_TEST

START_TEST(test_newer_takes_the_slot)
{
	struct certcache c;
	uint8_t a[CERTCACHE_KEY], b[CERTCACHE_KEY], d[CERTCACHE_KEY];
	char dn[64];

	ck_assert_int_eq(certcache_init(&c, 4), 0);
	make_key(a, 1, 0x01);
	make_key(b, 5, 0x02);   /* 5 % 4 == 1: a's slot */
	make_key(d, 2, 0x03);   /* another slot */
	certcache_insert(&c, a, T0, T0 + 10, "CN=a");
	certcache_insert(&c, d, T0, T0 + 10, "CN=d");
	certcache_insert(&c, b, T0, T0 + 10, "CN=b");
	ck_assert(!certcache_lookup(&c, a, T0, dn, sizeof dn));
	ck_assert(certcache_lookup(&c, b, T0, dn, sizeof dn));
	ck_assert_str_eq(dn, "CN=b");
	ck_assert(certcache_lookup(&c, d, T0, dn, sizeof dn));
	ck_assert_str_eq(dn, "CN=d");
	certcache_destroy(&c);
}
END_TEST

START_TEST(test_empty_span_not_stored)
{
	struct certcache c;
	uint8_t key[CERTCACHE_KEY];
	char dn[64];

	ck_assert_int_eq(certcache_init(&c, 8), 0);
	make_key(key, 1, 0x33);
	certcache_insert(&c, key, T0, T0, "CN=never");
	certcache_insert(&c, key, T0 + 5, T0, "CN=never");
	ck_assert(!certcache_lookup(&c, key, T0, dn, sizeof dn));
	ck_assert_ptr_null(c.slots);    /* nothing was even allocated */
	certcache_destroy(&c);
}
END_TEST

START_TEST(test_dn_truncated_to_caller)
{
	struct certcache c;
	uint8_t key[CERTCACHE_KEY];
	char dn[6];

	ck_assert_int_eq(certcache_init(&c, 8), 0);
	make_key(key, 7, 0x44);
	certcache_insert(&c, key, T0, T0 + 1, "CN=a long name");
	ck_assert(certcache_lookup(&c, key, T0, dn, sizeof dn));
	ck_assert_str_eq(dn, "CN=a ");
	certcache_destroy(&c);
}
END_TEST

START_TEST(test_never_grows)
{
	struct certcache c;
	uint8_t key[CERTCACHE_KEY];
	char dn[64];
	unsigned found = 0;

	ck_assert_int_eq(certcache_init(&c, 16), 0);
	for (uint32_t i = 0; i < 1000; i++) {
		make_key(key, i, (uint8_t)i);
		certcache_insert(&c, key, T0, T0 + 10, "CN=x");
	}
	/* Only the last chain of each slot is left: the 16 latest. */
	for (uint32_t i = 0; i < 1000; i++) {
		make_key(key, i, (uint8_t)i);
		found += certcache_lookup(&c, key, T0, dn, sizeof dn);
	}
	ck_assert_uint_eq(found, 16);
	ck_assert_uint_eq(c.nslots, 16);
	certcache_destroy(&c);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("certcache");
	TCase *tc = tcase_create("cache");

	tcase_add_test(tc, test_empty_finds_nothing);
	tcase_add_test(tc, test_found_inside_span_only);
	tcase_add_test(tc, test_exact_key_only);
	tcase_add_test(tc, test_newer_takes_the_slot);
	tcase_add_test(tc, test_empty_span_not_stored);
	tcase_add_test(tc, test_dn_truncated_to_caller);
	tcase_add_test(tc, test_never_grows);
	suite_add_tcase(s, tc);
	return check_run(s);
}
