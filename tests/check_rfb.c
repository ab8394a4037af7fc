/*
 * check_rfb.c - the RFB / VeNCrypt codec on byte tables: every message,
 * every short read (each prefix must say RFB_NEED_MORE or, for a bad
 * prefix, fail at once), every bad value.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "rfb.h"
#include "check_run.h"

#define B(...) ((const uint8_t[]){ __VA_ARGS__ })

/* ---- versions ----------------------------------------------------------- */

static const struct {
	const char *text;       /* 12 bytes on the wire */
	enum rfb_result result;
	unsigned minor;         /* normalised, when OK or OLD */
} versions[] = {
	{ "RFB 003.008\n", RFB_OK, 8 },
	{ "RFB 003.007\n", RFB_OK, 7 },
	{ "RFB 003.889\n", RFB_OK, 8 },        /* Apple: treated as 3.8 */
	{ "RFB 003.009\n", RFB_OK, 8 },        /* any later minor */
	{ "RFB 004.000\n", RFB_OK, 8 },        /* any later major */
	{ "RFB 003.003\n", RFB_OLD_VERSION, 3 },
	{ "RFB 003.005\n", RFB_OLD_VERSION, 3 }, /* 3.5 means 3.3 */
	{ "RFB 003.004\n", RFB_OLD_VERSION, 3 },
	{ "RFB 000.000\n", RFB_BAD_VERSION, 0 },
	{ "RFB 002.999\n", RFB_BAD_VERSION, 0 },
	{ "RFB 003.00a\n", RFB_BAD_VERSION, 0 },
	{ "RFB 003.008\r", RFB_BAD_VERSION, 0 },
	{ "rfb 003.008\n", RFB_BAD_VERSION, 0 },
	{ "RFB 003,008\n", RFB_BAD_VERSION, 0 },
	{ "GET / HTTP/1", RFB_BAD_VERSION, 0 },
	{ "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x00", RFB_BAD_VERSION, 0 },
};

START_TEST(test_version_table)
{
	const uint8_t *b = (const uint8_t *)versions[_i].text;
	struct rfb_version v = { 0, 0 };
	size_t used = 0;

	ck_assert_int_eq(rfb_parse_version(b, 12, &v, &used), versions[_i].result);
	if (versions[_i].result != RFB_BAD_VERSION) {
		ck_assert_uint_eq(used, 12);
		ck_assert_uint_eq(v.major, 3);
		ck_assert_uint_eq(v.minor, versions[_i].minor);
	}
}
END_TEST

START_TEST(test_version_short_reads)
{
	const uint8_t *b = (const uint8_t *)versions[_i].text;
	struct rfb_version v;
	size_t used;
	int bad_seen = 0;

	for (size_t n = 0; n < 12; n++) {
		enum rfb_result r = rfb_parse_version(b, n, &v, &used);
		if (versions[_i].result == RFB_BAD_VERSION && r == RFB_BAD_VERSION)
			bad_seen = 1;
		else
			ck_assert_msg(r == RFB_NEED_MORE && !bad_seen,
			    "prefix %zu of %s gave %d", n, versions[_i].text, r);
	}
}
END_TEST

START_TEST(test_version_bad_prefix_early)
{
	struct rfb_version v;
	size_t used;

	/* A TLS ClientHello is refused from its first byte. */
	ck_assert_int_eq(rfb_parse_version(B(0x16), 1, &v, &used), RFB_BAD_VERSION);
	ck_assert_int_eq(rfb_parse_version((const uint8_t *)"RFX", 3, &v, &used),
	    RFB_BAD_VERSION);
	ck_assert_int_eq(rfb_parse_version((const uint8_t *)"RFB 0", 5, &v, &used),
	    RFB_NEED_MORE);
}
END_TEST

START_TEST(test_version_put)
{
	uint8_t out[12];
	struct rfb_version v = { 3, 8 };

	ck_assert_uint_eq(rfb_put_version(out, sizeof out, &v), 12);
	ck_assert(memcmp(out, "RFB 003.008\n", 12) == 0);
	v.minor = 3;
	ck_assert_uint_eq(rfb_put_version(out, sizeof out, &v), 12);
	ck_assert(memcmp(out, "RFB 003.003\n", 12) == 0);
	ck_assert_uint_eq(rfb_put_version(out, 11, &v), 0);
}
END_TEST

/* ---- client side -------------------------------------------------------- */

START_TEST(test_security_types)
{
	uint8_t out[4];
	uint8_t choice = 0;
	size_t used = 0;

	ck_assert_uint_eq(rfb_put_security_types(out, sizeof out), 2);
	ck_assert(memcmp(out, B(1, 19), 2) == 0);   /* one type: VeNCrypt */
	ck_assert_int_eq(rfb_parse_security_choice(out, 0, &choice, &used),
	    RFB_NEED_MORE);
	ck_assert_int_eq(rfb_parse_security_choice(B(19), 1, &choice, &used), RFB_OK);
	ck_assert_uint_eq(used, 1);
	for (unsigned t = 0; t < 256; t++) {
		uint8_t b = (uint8_t)t;
		if (t == 19)
			continue;
		ck_assert_int_eq(rfb_parse_security_choice(&b, 1, &choice, &used),
		    RFB_BAD_VALUE);
		ck_assert_uint_eq(choice, t);
	}
}
END_TEST

START_TEST(test_vencrypt_version)
{
	static const struct {
		uint8_t b[2];
		enum rfb_result r;
	} t[] = {
		{ { 0, 2 }, RFB_OK },
		{ { 0, 1 }, RFB_BAD_VALUE },   /* VeNCrypt 0.1 */
		{ { 0, 3 }, RFB_BAD_VALUE },
		{ { 1, 2 }, RFB_BAD_VALUE },
		{ { 2, 0 }, RFB_BAD_VALUE },
		{ { 0xff, 0xff }, RFB_BAD_VALUE },
	};
	struct rfb_version v;
	size_t used;
	uint8_t out[2];

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		ck_assert_int_eq(vencrypt_parse_version(t[i].b, 0, &v, &used), RFB_NEED_MORE);
		ck_assert_int_eq(vencrypt_parse_version(t[i].b, 1, &v, &used), RFB_NEED_MORE);
		ck_assert_int_eq(vencrypt_parse_version(t[i].b, 2, &v, &used), t[i].r);
		ck_assert_uint_eq(v.major, t[i].b[0]);
		ck_assert_uint_eq(v.minor, t[i].b[1]);
	}
	ck_assert_uint_eq(vencrypt_put_version(out, sizeof out), 2);
	ck_assert(memcmp(out, B(0, 2), 2) == 0);
	ck_assert_uint_eq(vencrypt_put_version_status(out, 1, 1), 1);
	ck_assert_uint_eq(out[0], 0);                /* 0 = accepted */
	ck_assert_uint_eq(vencrypt_put_version_status(out, 1, 0), 1);
	ck_assert_uint_eq(out[0], 0xff);
}
END_TEST

START_TEST(test_subtypes)
{
	const uint32_t offered[] = { VENCRYPT_X509NONE, VENCRYPT_X509PLAIN };
	uint8_t out[16];
	uint32_t choice = 0;
	size_t used = 0;

	ck_assert_uint_eq(vencrypt_put_subtypes(out, sizeof out, offered, 2), 9);
	ck_assert(memcmp(out, B(2, 0, 0, 1, 4, 0, 0, 1, 6), 9) == 0);
	ck_assert_uint_eq(vencrypt_put_subtypes(out, 8, offered, 2), 0);

	for (size_t n = 0; n < 4; n++)
		ck_assert_int_eq(vencrypt_parse_subtype(B(0, 0, 1, 4), n, offered, 2,
		    &choice, &used), RFB_NEED_MORE);
	ck_assert_int_eq(vencrypt_parse_subtype(B(0, 0, 1, 4), 4, offered, 2,
	    &choice, &used), RFB_OK);
	ck_assert_uint_eq(choice, 260);
	ck_assert_uint_eq(used, 4);
	ck_assert_int_eq(vencrypt_parse_subtype(B(0, 0, 1, 6), 4, offered, 1,
	    &choice, &used), RFB_BAD_VALUE);     /* X509Plain, not offered */
	ck_assert_uint_eq(choice, 262);
	ck_assert_int_eq(vencrypt_parse_subtype(B(0, 0, 1, 1), 4, offered, 2,
	    &choice, &used), RFB_BAD_VALUE);     /* TLSNone: never */
	ck_assert_int_eq(vencrypt_parse_subtype(B(0xff, 0, 1, 4), 4, offered, 2,
	    &choice, &used), RFB_BAD_VALUE);

	ck_assert_uint_eq(vencrypt_put_subtype_ack(out, 1, 1), 1);
	ck_assert_uint_eq(out[0], 1);                /* 1 = accepted, sic */
	ck_assert_uint_eq(vencrypt_put_subtype_ack(out, 1, 0), 1);
	ck_assert_uint_eq(out[0], 0);
}
END_TEST

START_TEST(test_subtype_names)
{
	ck_assert_uint_eq(vencrypt_subtype_from_name("X509None"), 260);
	ck_assert_uint_eq(vencrypt_subtype_from_name("x509plain"), 262);
	ck_assert_uint_eq(vencrypt_subtype_from_name("X509Nonsense"), 0);
	ck_assert_str_eq(vencrypt_subtype_name(260), "X509None");
	ck_assert_str_eq(vencrypt_subtype_name(263), "unknown");
}
END_TEST

START_TEST(test_failures_out)
{
	uint8_t out[64];

	ck_assert_uint_eq(rfb_put_security_failure(out, sizeof out, "no"), 10);
	ck_assert(memcmp(out, B(0, 0, 0, 1, 0, 0, 0, 2, 'n', 'o'), 10) == 0);
	ck_assert_uint_eq(rfb_put_refusal_33(out, sizeof out, "old"), 11);
	ck_assert(memcmp(out, B(0, 0, 0, 0, 0, 0, 0, 3, 'o', 'l', 'd'), 11) == 0);
	ck_assert_uint_eq(rfb_put_security_failure(out, 9, "no"), 0);
	ck_assert_uint_eq(rfb_put_security_ok(out, sizeof out), 4);
	ck_assert(memcmp(out, B(0, 0, 0, 0), 4) == 0);
}
END_TEST

/* ---- backend side ------------------------------------------------------- */

START_TEST(test_security_result)
{
	struct rfb_reason reason;
	size_t used = 0;
	const uint8_t fail[] = { 0, 0, 0, 1, 0, 0, 0, 3, 'b', 'a', 'd' };

	ck_assert_int_eq(rfb_parse_security_result(B(0, 0, 0, 0), 3, 1, &reason,
	    &used), RFB_NEED_MORE);
	ck_assert_int_eq(rfb_parse_security_result(B(0, 0, 0, 0), 4, 1, &reason,
	    &used), RFB_OK);
	ck_assert_uint_eq(used, 4);
	for (size_t n = 0; n < sizeof fail; n++)
		ck_assert_int_eq(rfb_parse_security_result(fail, n, 1, &reason, &used),
		    RFB_NEED_MORE);
	ck_assert_int_eq(rfb_parse_security_result(fail, sizeof fail, 1, &reason,
	    &used), RFB_REFUSED);
	ck_assert_uint_eq(used, 11);
	ck_assert_str_eq(reason.text, "bad");
	/* without a reason (3.7): four bytes are all */
	ck_assert_int_eq(rfb_parse_security_result(fail, 4, 0, &reason, &used),
	    RFB_REFUSED);
	ck_assert_uint_eq(used, 4);
	/* a huge reason length is refused before it is read */
	ck_assert_int_eq(rfb_parse_security_result(B(0, 0, 0, 1, 0x7f, 0xff, 0xff,
	    0xff), 8, 1, &reason, &used), RFB_TOO_LONG);
}
END_TEST

START_TEST(test_reason_sanitised)
{
	struct rfb_reason reason;
	size_t used;
	const uint8_t b[] = { 0, 0, 0, 1, 0, 0, 0, 4, 'a', 0, '\n', 0xff };

	ck_assert_int_eq(rfb_parse_security_result(b, sizeof b, 1, &reason, &used),
	    RFB_REFUSED);
	ck_assert_str_eq(reason.text, "a???");
}
END_TEST

START_TEST(test_security_33)
{
	struct rfb_offer offer;
	struct rfb_reason reason;
	size_t used = 0;
	const uint8_t refused[] = { 0, 0, 0, 0, 0, 0, 0, 2, 'n', 'o' };

	for (size_t n = 0; n < 4; n++)
		ck_assert_int_eq(rfb_parse_security_33(B(0, 0, 0, 1), n, &offer,
		    &reason, &used), RFB_NEED_MORE);
	ck_assert_int_eq(rfb_parse_security_33(B(0, 0, 0, 1), 4, &offer, &reason,
	    &used), RFB_OK);
	ck_assert(offer.has_none);
	ck_assert_int_eq(rfb_parse_security_33(B(0, 0, 0, 2), 4, &offer, &reason,
	    &used), RFB_OK);
	ck_assert(!offer.has_none);
	ck_assert_uint_eq(offer.types[0], 2);
	for (size_t n = 4; n < sizeof refused; n++)
		ck_assert_int_eq(rfb_parse_security_33(refused, n, &offer, &reason,
		    &used), RFB_NEED_MORE);
	ck_assert_int_eq(rfb_parse_security_33(refused, sizeof refused, &offer,
	    &reason, &used), RFB_REFUSED);
	ck_assert_str_eq(reason.text, "no");
	ck_assert_int_eq(rfb_parse_security_33(B(0, 0, 1, 0), 4, &offer, &reason,
	    &used), RFB_BAD_VALUE);
}
END_TEST

START_TEST(test_security_types_list)
{
	struct rfb_offer offer;
	struct rfb_reason reason;
	size_t used = 0;
	const uint8_t list[] = { 3, 2, 16, 1 };
	const uint8_t vnc_only[] = { 1, 2 };
	const uint8_t refused[] = { 0, 0, 0, 0, 4, 'b', 'u', 's', 'y' };
	char words[64];

	for (size_t n = 0; n < sizeof list; n++)
		ck_assert_int_eq(rfb_parse_security_types(list, n, &offer, &reason,
		    &used), RFB_NEED_MORE);
	ck_assert_int_eq(rfb_parse_security_types(list, sizeof list, &offer,
	    &reason, &used), RFB_OK);
	ck_assert_uint_eq(used, 4);
	ck_assert(offer.has_none);
	ck_assert_uint_eq(offer.ntypes, 3);
	ck_assert_int_eq(rfb_parse_security_types(vnc_only, 2, &offer, &reason,
	    &used), RFB_OK);
	ck_assert(!offer.has_none);
	rfb_offer_describe(&offer, words, sizeof words);
	ck_assert_str_eq(words, "VncAuth");
	ck_assert_int_eq(rfb_parse_security_types(list, sizeof list, &offer,
	    &reason, &used), RFB_OK);
	rfb_offer_describe(&offer, words, sizeof words);
	ck_assert_str_eq(words, "VncAuth, Tight, None");
	for (size_t n = 0; n < sizeof refused; n++)
		ck_assert_int_eq(rfb_parse_security_types(refused, n, &offer, &reason,
		    &used), RFB_NEED_MORE);
	ck_assert_int_eq(rfb_parse_security_types(refused, sizeof refused, &offer,
	    &reason, &used), RFB_REFUSED);
	ck_assert_str_eq(reason.text, "busy");
	ck_assert_uint_eq(used, sizeof refused);
	ck_assert_int_eq(rfb_parse_security_types(B(2, 1, 0), 3, &offer, &reason,
	    &used), RFB_BAD_VALUE);   /* type 0 inside a list */
	ck_assert_int_eq(rfb_parse_security_types(B(0, 0, 0, 4, 1), 5, &offer,
	    &reason, &used), RFB_TOO_LONG);
}
END_TEST

/* ---- Plain credentials --------------------------------------------------- */

START_TEST(test_plain)
{
	static const uint8_t msg[] = { 0, 0, 0, 5, 0, 0, 0, 3,
	    'a', 'l', 'i', 'c', 'e', 'p', 'w', '!', 'X' };
	struct vencrypt_plain p;
	size_t used;

	/* Every prefix asks for more, and says how much the whole is. */
	for (size_t len = 0; len < 16; len++) {
		ck_assert_int_eq(vencrypt_parse_plain(msg, len, &p, &used),
		    RFB_NEED_MORE);
		ck_assert_uint_eq(used, len < 8 ? 8 : 16);
	}
	/* A byte beyond the message is not taken. */
	ck_assert_int_eq(vencrypt_parse_plain(msg, sizeof msg, &p, &used), RFB_OK);
	ck_assert_uint_eq(used, 16);
	ck_assert_uint_eq(p.ulen, 5);
	ck_assert_uint_eq(p.plen, 3);
	ck_assert(memcmp(p.user, "alice", 5) == 0);
	ck_assert(memcmp(p.password, "pw!", 3) == 0);
	/* Empty fields are well-formed. */
	ck_assert_int_eq(vencrypt_parse_plain(B(0, 0, 0, 0, 0, 0, 0, 0), 8, &p,
	    &used), RFB_OK);
	ck_assert_uint_eq(p.ulen + p.plen, 0);
}
END_TEST

START_TEST(test_plain_bad)
{
	struct vencrypt_plain p;
	size_t used;

	/* The cap, exactly, is fine; one more is refused from the lengths
	 * alone, whichever of the two it is. */
	ck_assert_int_eq(vencrypt_parse_plain(B(0, 0, 4, 0, 0, 0, 4, 0), 8, &p,
	    &used), RFB_NEED_MORE);
	ck_assert_uint_eq(used, 8 + 2 * VENCRYPT_PLAIN_MAX);
	ck_assert_int_eq(vencrypt_parse_plain(B(0, 0, 4, 1, 0, 0, 0, 1), 8, &p,
	    &used), RFB_TOO_LONG);
	ck_assert_int_eq(vencrypt_parse_plain(B(0, 0, 0, 1, 0, 0, 4, 1), 8, &p,
	    &used), RFB_TOO_LONG);
	ck_assert_int_eq(vencrypt_parse_plain(B(0xff, 0xff, 0xff, 0xff, 0, 0, 0,
	    1), 8, &p, &used), RFB_TOO_LONG);
	/* A NUL anywhere in either field. */
	ck_assert_int_eq(vencrypt_parse_plain(B(0, 0, 0, 3, 0, 0, 0, 1,
	    'a', 0, 'b', 'p'), 12, &p, &used), RFB_BAD_VALUE);
	ck_assert_int_eq(vencrypt_parse_plain(B(0, 0, 0, 1, 0, 0, 0, 3,
	    'a', 'p', 'w', 0), 12, &p, &used), RFB_BAD_VALUE);
	ck_assert_int_eq(vencrypt_parse_plain(B(0, 0, 0, 1, 0, 0, 0, 1,
	    0, 'p'), 10, &p, &used), RFB_BAD_VALUE);
}
END_TEST

static Suite *
rfb_suite(void)
{
	Suite *s = suite_create("rfb");
	TCase *tc = tcase_create("codec");

	tcase_add_loop_test(tc, test_version_table, 0,
	    sizeof versions / sizeof versions[0]);
	tcase_add_loop_test(tc, test_version_short_reads, 0,
	    sizeof versions / sizeof versions[0]);
	tcase_add_test(tc, test_version_bad_prefix_early);
	tcase_add_test(tc, test_version_put);
	tcase_add_test(tc, test_security_types);
	tcase_add_test(tc, test_vencrypt_version);
	tcase_add_test(tc, test_subtypes);
	tcase_add_test(tc, test_subtype_names);
	tcase_add_test(tc, test_failures_out);
	tcase_add_test(tc, test_security_result);
	tcase_add_test(tc, test_reason_sanitised);
	tcase_add_test(tc, test_security_33);
	tcase_add_test(tc, test_security_types_list);
	tcase_add_test(tc, test_plain);
	tcase_add_test(tc, test_plain_bad);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(rfb_suite());
}
