/*
 * check_proxy.c - the PROXY protocol codec and the address ranges on byte
 * tables: every result, every header fed byte by byte (each prefix must
 * say PROXY_NEED_MORE, asking for no byte beyond the header, or fail at
 * once), and the bytes after a header never looked at.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "proxy.h"
#include "check_run.h"

#define SIG "\r\n\r\n\0\r\nQUIT\n"

/* A header table entry: the bytes, the result for all of them, and what
 * a DONE header says (source as the formatter prints it, "" when local). */
struct hcase {
	const char *name;
	const char *bytes;
	size_t len;
	enum proxy_result result;
	int version;
	const char *src;
	const char *dst;
};

#define T(name, lit, res, ver, src, dst) \
	{ name, lit, sizeof lit - 1, res, ver, src, dst }

static const struct hcase cases[] = {
	/* ---- v1 ---- */
	T("v1 tcp4", "PROXY TCP4 192.0.2.1 198.51.100.2 56324 5900\r\n",
	    PROXY_DONE, 1, "192.0.2.1:56324", "198.51.100.2:5900"),
	T("v1 tcp6", "PROXY TCP6 2001:db8::1 ::1 1 65535\r\n",
	    PROXY_DONE, 1, "[2001:db8::1]:1", "[::1]:65535"),
	T("v1 port 0", "PROXY TCP4 10.0.0.1 10.0.0.2 0 0\r\n",
	    PROXY_DONE, 1, "10.0.0.1:0", "10.0.0.2:0"),
	T("v1 unknown", "PROXY UNKNOWN\r\n", PROXY_DONE, 1, "", ""),
	T("v1 unknown with rest", "PROXY UNKNOWN ffff::1 ::2 1 2\r\n",
	    PROXY_DONE, 1, "", ""),
	T("v1 longest", "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
	    PROXY_DONE, 1, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
	    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"),
	T("v1 tcp4 with v6 address", "PROXY TCP4 ::1 ::1 1 2\r\n",
	    PROXY_V1_BAD_ADDRESS, 1, NULL, NULL),
	T("v1 tcp6 with v4 address", "PROXY TCP6 10.0.0.1 10.0.0.2 1 2\r\n",
	    PROXY_V1_BAD_ADDRESS, 1, NULL, NULL),
	T("v1 octal-looking address", "PROXY TCP4 010.0.0.1 10.0.0.2 1 2\r\n",
	    PROXY_V1_BAD_ADDRESS, 1, NULL, NULL),
	T("v1 host name", "PROXY TCP4 localhost 10.0.0.2 1 2\r\n",
	    PROXY_V1_BAD_ADDRESS, 1, NULL, NULL),
	T("v1 port too big", "PROXY TCP4 10.0.0.1 10.0.0.2 65536 2\r\n",
	    PROXY_V1_BAD_PORT, 1, NULL, NULL),
	T("v1 port leading zero", "PROXY TCP4 10.0.0.1 10.0.0.2 01 2\r\n",
	    PROXY_V1_BAD_PORT, 1, NULL, NULL),
	T("v1 port sign", "PROXY TCP4 10.0.0.1 10.0.0.2 +1 2\r\n",
	    PROXY_V1_BAD_PORT, 1, NULL, NULL),
	T("v1 port letters", "PROXY TCP4 10.0.0.1 10.0.0.2 1 2x\r\n",
	    PROXY_V1_BAD_PORT, 1, NULL, NULL),
	T("v1 double space", "PROXY TCP4 10.0.0.1  10.0.0.2 1 2\r\n",
	    PROXY_V1_BAD_LINE, 1, NULL, NULL),
	T("v1 three fields", "PROXY TCP4 10.0.0.1 10.0.0.2 1\r\n",
	    PROXY_V1_BAD_LINE, 1, NULL, NULL),
	T("v1 five fields", "PROXY TCP4 10.0.0.1 10.0.0.2 1 2 3\r\n",
	    PROXY_V1_BAD_LINE, 1, NULL, NULL),
	T("v1 trailing space", "PROXY TCP4 10.0.0.1 10.0.0.2 1 2 \r\n",
	    PROXY_V1_BAD_LINE, 1, NULL, NULL),
	T("v1 unknown protocol", "PROXY UDP4 10.0.0.1 10.0.0.2 1 2\r\n",
	    PROXY_V1_BAD_LINE, 1, NULL, NULL),
	T("v1 lower case", "PROXY tcp4 10.0.0.1 10.0.0.2 1 2\r\n",
	    PROXY_V1_BAD_LINE, 1, NULL, NULL),
	T("v1 LF only", "PROXY TCP4 10.0.0.1 10.0.0.2 1 2\n",
	    PROXY_V1_BAD_LINE, 1, NULL, NULL),
	T("v1 CR alone", "PROXY TCP4 10.0.0.1 10.0.0.2 1 2\rX\n",
	    PROXY_V1_BAD_LINE, 1, NULL, NULL),
	T("v1 NUL", "PROXY UNKNOWN\0\r\n", PROXY_V1_BAD_LINE, 1, NULL, NULL),
	T("v1 no CRLF in 107 bytes", "PROXY UNKNOWN "
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n",
	    PROXY_V1_TOO_LONG, 1, NULL, NULL),
	/* The 107th byte a CR, the 108th not LF: still "too long", however
	 * many bytes are in. */
	T("v1 CR as byte 107", "PROXY UNKNOWN "
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxx\rx\r\n",
	    PROXY_V1_TOO_LONG, 1, NULL, NULL),
	T("not proxy: rfb", "RFB 003.008\n", PROXY_NOT_PROXY, 0, NULL, NULL),
	T("not proxy: proxy lower", "proxy TCP4", PROXY_NOT_PROXY, 0, NULL, NULL),
	T("not proxy: no space", "PROXYTCP4", PROXY_NOT_PROXY, 0, NULL, NULL),
	/* ---- v2 ---- */
	T("v2 tcp4", SIG "\x21\x11\x00\x0c"
	    "\xc0\x00\x02\x01" "\xc6\x33\x64\x02" "\xdc\x04" "\x17\x0c",
	    PROXY_DONE, 2, "192.0.2.1:56324", "198.51.100.2:5900"),
	T("v2 tcp6", SIG "\x21\x21\x00\x24"
	    "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01"
	    "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01" "\x00\x01" "\xff\xff",
	    PROXY_DONE, 2, "[2001:db8::1]:1", "[::1]:65535"),
	T("v2 tcp4 with TLVs", SIG "\x21\x11\x00\x19"
	    "\x0a\x00\x00\x01" "\x0a\x00\x00\x02" "\x00\x01" "\x00\x02"
	    "\x04\x00\x00"              /* NOOP, empty */
	    "\x02\x00\x07" "example",   /* AUTHORITY */
	    PROXY_DONE, 2, "10.0.0.1:1", "10.0.0.2:2"),
	T("v2 local", SIG "\x20\x00\x00\x00", PROXY_DONE, 2, "", ""),
	T("v2 local ignores family", SIG "\x20\x77\x00\x03" "abc",
	    PROXY_DONE, 2, "", ""),
	T("v2 proxy unspec", SIG "\x21\x00\x00\x00", PROXY_DONE, 2, "", ""),
	T("v2 version 1", SIG "\x11\x11\x00\x0c", PROXY_V2_BAD_VERSION, 2,
	    NULL, NULL),
	T("v2 version 3", SIG "\x31\x11\x00\x0c", PROXY_V2_BAD_VERSION, 2,
	    NULL, NULL),
	T("v2 command 2", SIG "\x22\x11\x00\x0c", PROXY_V2_BAD_COMMAND, 2,
	    NULL, NULL),
	T("v2 udp4", SIG "\x21\x12\x00\x0c", PROXY_V2_BAD_FAMILY, 2, NULL, NULL),
	T("v2 family 4", SIG "\x21\x41\x00\x0c", PROXY_V2_BAD_FAMILY, 2,
	    NULL, NULL),
	T("v2 inet over unspec", SIG "\x21\x10\x00\x0c", PROXY_V2_BAD_FAMILY, 2,
	    NULL, NULL),
	T("v2 too long", SIG "\x21\x11\x10\x01", PROXY_V2_TOO_LONG, 2,
	    NULL, NULL),
	T("v2 local too long", SIG "\x20\x00\xff\xff", PROXY_V2_TOO_LONG, 2,
	    NULL, NULL),
	T("v2 tcp4 short", SIG "\x21\x11\x00\x0b", PROXY_V2_SHORT, 2, NULL, NULL),
	T("v2 tcp6 with v4 length", SIG "\x21\x21\x00\x0c", PROXY_V2_SHORT, 2,
	    NULL, NULL),
	T("v2 unix short", SIG "\x21\x31\x00\x24", PROXY_V2_SHORT, 2, NULL, NULL),
	T("v2 TLV past the end", SIG "\x21\x11\x00\x10"
	    "\x0a\x00\x00\x01" "\x0a\x00\x00\x02" "\x00\x01" "\x00\x02"
	    "\x04\x00\x05" "x",
	    PROXY_V2_BAD_TLV, 2, NULL, NULL),
	T("v2 TLV header cut", SIG "\x21\x11\x00\x0e"
	    "\x0a\x00\x00\x01" "\x0a\x00\x00\x02" "\x00\x01" "\x00\x02" "\x04\x00",
	    PROXY_V2_BAD_TLV, 2, NULL, NULL),
};

static void
check_done(const struct hcase *c, const struct proxy_header *h)
{
	char a[NET_ADDRSTRLEN];

	ck_assert_uint_eq(h->len, c->len);
	ck_assert_int_eq(h->version, c->version);
	if (c->src[0] == '\0') {
		ck_assert_msg(h->local, "%s: not local", c->name);
		return;
	}
	ck_assert_msg(!h->local, "%s: local", c->name);
	net_format_addr(&h->src, a, sizeof a);
	ck_assert_str_eq(a, c->src);
	net_format_addr(&h->dst, a, sizeof a);
	ck_assert_str_eq(a, c->dst);
}

START_TEST(test_table)
{
	const struct hcase *c = &cases[_i];
	struct proxy_header h;
	enum proxy_result r;

	r = proxy_parse((const uint8_t *)c->bytes, c->len, &h);
	ck_assert_msg(r == c->result, "%s: %s, not %s", c->name,
	    proxy_result_name(r), proxy_result_name(c->result));
	ck_assert_int_eq(h.version, c->version);
	if (r == PROXY_DONE)
		check_done(c, &h);
}
END_TEST

/* Byte by byte: NEED_MORE asking for no more than the header, then the
 * table's result, and once an error is seen it stays. */
START_TEST(test_byte_by_byte)
{
	const struct hcase *c = &cases[_i];
	struct proxy_header h;
	enum proxy_result r = PROXY_NEED_MORE;
	size_t n;

	for (n = 0; n < c->len; n++) {
		r = proxy_parse((const uint8_t *)c->bytes, n, &h);
		if (r != PROXY_NEED_MORE)
			break;
		ck_assert_msg(h.len > n, "%s: at %zu asks for %zu", c->name, n,
		    h.len);
		if (c->result == PROXY_DONE)
			ck_assert_msg(h.len <= c->len, "%s: at %zu asks for %zu "
			    "of %zu", c->name, n, h.len, c->len);
	}
	if (r == PROXY_NEED_MORE) {
		ck_assert_uint_eq(n, c->len);
		r = proxy_parse((const uint8_t *)c->bytes, n, &h);
	}
	ck_assert_msg(r == c->result, "%s: %s after %zu bytes, not %s", c->name,
	    proxy_result_name(r), n, proxy_result_name(c->result));
	for (; n <= c->len; n++)
		ck_assert_int_eq(proxy_parse((const uint8_t *)c->bytes, n, &h),
		    r == PROXY_DONE && n < c->len ? PROXY_NEED_MORE : r);
}
END_TEST

/* What follows a header (the client's RFB version) changes nothing. */
START_TEST(test_bytes_after)
{
	const struct hcase *c = &cases[_i];
	uint8_t buf[PROXY_MAX + 32];
	struct proxy_header h;

	if (c->result != PROXY_DONE)
		return;
	memcpy(buf, c->bytes, c->len);
	memcpy(buf + c->len, "RFB 003.008\n\r\n", 14);
	ck_assert_int_eq(proxy_parse(buf, c->len + 14, &h), PROXY_DONE);
	check_done(c, &h);
}
END_TEST

START_TEST(test_v2_bad_signature)
{
	uint8_t buf[16];
	struct proxy_header h;

	memcpy(buf, SIG "\x21\x11\x00\x0c", 16);
	for (size_t i = 1; i < PROXY_V2_SIG_LEN; i++) {
		buf[i] ^= 0x40;
		for (size_t n = i + 1; n <= 16; n++)
			ck_assert_int_eq(proxy_parse(buf, n, &h),
			    PROXY_V2_BAD_SIGNATURE);
		ck_assert_int_eq(proxy_parse(buf, i, &h), PROXY_NEED_MORE);
		buf[i] ^= 0x40;
	}
	/* Only the first byte decides between v2 and "not PROXY". */
	buf[0] = 'X';
	ck_assert_int_eq(proxy_parse(buf, 16, &h), PROXY_NOT_PROXY);
}
END_TEST

/* AF_UNIX over STREAM: 2 x 108 bytes of paths, no address to take. */
START_TEST(test_v2_unix)
{
	uint8_t buf[16 + 216 + 4];
	struct proxy_header h;

	memset(buf, 0, sizeof buf);
	memcpy(buf, SIG "\x21\x31\x00\xd8", 16);
	memcpy(buf + 16, "/run/lb.sock", 12);
	memcpy(buf + 16 + 108, "/run/vencryptd.sock", 19);
	for (size_t n = 0; n < 16 + 216; n++)
		ck_assert_int_eq(proxy_parse(buf, n, &h), PROXY_NEED_MORE);
	ck_assert_int_eq(proxy_parse(buf, 16 + 216, &h), PROXY_DONE);
	ck_assert_uint_eq(h.len, 16 + 216);
	ck_assert(h.local);
	/* With one empty TLV after the paths. */
	buf[15] = 0xdb;
	buf[16 + 216] = 0x04;
	ck_assert_int_eq(proxy_parse(buf, 16 + 219, &h), PROXY_DONE);
	ck_assert(h.local);
	/* Shorter than the two paths. */
	buf[15] = 0xd7;
	ck_assert_int_eq(proxy_parse(buf, 16, &h), PROXY_V2_SHORT);
}
END_TEST

START_TEST(test_v2_max_body)
{
	static uint8_t buf[PROXY_MAX + 1];
	struct proxy_header h;

	/* A LOCAL header of exactly the largest length we take. */
	memcpy(buf, SIG "\x20\x00\x10\x00", 16);
	ck_assert_int_eq(proxy_parse(buf, 16, &h), PROXY_NEED_MORE);
	ck_assert_uint_eq(h.len, PROXY_MAX);
	ck_assert_int_eq(proxy_parse(buf, PROXY_MAX, &h), PROXY_DONE);
	ck_assert_uint_eq(h.len, PROXY_MAX);
	/* A PROXY header whose TLVs fill it: one NOOP of 4096 - 12 - 3. */
	memcpy(buf, SIG "\x21\x11\x10\x00", 16);
	buf[16 + 12] = 0x04;
	buf[16 + 13] = (uint8_t)((4096 - 15) >> 8);
	buf[16 + 14] = (uint8_t)((4096 - 15) & 0xff);
	ck_assert_int_eq(proxy_parse(buf, PROXY_MAX, &h), PROXY_DONE);
	ck_assert(!h.local);
}
END_TEST

START_TEST(test_sniff)
{
	static const struct {
		const char *bytes;
		size_t len;
		enum proxy_sniff want;
	} t[] = {
		{ "", 0, PROXY_SNIFF_MAYBE },
		{ "P", 1, PROXY_SNIFF_MAYBE },
		{ "PROXY", 5, PROXY_SNIFF_MAYBE },
		{ "PROXY ", 6, PROXY_SNIFF_YES },
		{ "PROXY TCP4 1", 12, PROXY_SNIFF_YES },
		{ "PROXY-", 6, PROXY_SNIFF_NO },
		{ "RFB 003.008\n", 12, PROXY_SNIFF_NO },
		{ "\r\n", 2, PROXY_SNIFF_MAYBE },
		{ SIG, 11, PROXY_SNIFF_MAYBE },
		{ SIG, 12, PROXY_SNIFF_YES },
		{ "\r\n\r\n\0\r\nQUIX", 11, PROXY_SNIFF_NO },
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		ck_assert_msg(proxy_sniff((const uint8_t *)t[i].bytes, t[i].len) ==
		    t[i].want, "sniff entry %zu", i);
}
END_TEST

START_TEST(test_result_names)
{
	for (int r = PROXY_NEED_MORE; r <= PROXY_V2_BAD_TLV; r++)
		ck_assert_str_ne(proxy_result_name((enum proxy_result)r), "?");
}
END_TEST

/* ---- address ranges -------------------------------------------------------- */

static struct net_addr
addr(const char *text)
{
	struct net_addr a;

	ck_assert_int_eq(net_parse_addr(text, 1, &a), NET_PARSE_OK);
	return a;
}

START_TEST(test_cidr_parse)
{
	static const struct {
		const char *text;
		enum cidr_result result;
		int family;
		unsigned prefix;
	} t[] = {
		{ "10.0.0.0/8", CIDR_OK, AF_INET, 8 },
		{ "10.1.2.3", CIDR_OK, AF_INET, 32 },
		{ "0.0.0.0/0", CIDR_OK, AF_INET, 0 },
		{ "::1/128", CIDR_OK, AF_INET6, 128 },
		{ "::1", CIDR_OK, AF_INET6, 128 },
		{ "2001:db8::/32", CIDR_OK, AF_INET6, 32 },
		{ "::/0", CIDR_OK, AF_INET6, 0 },
		{ "::ffff:10.0.0.0/104", CIDR_OK, AF_INET, 8 },
		{ "10.0.0.0/33", CIDR_BAD_PREFIX, 0, 0 },
		{ "::/129", CIDR_BAD_PREFIX, 0, 0 },
		{ "10.0.0.0/", CIDR_BAD_PREFIX, 0, 0 },
		{ "10.0.0.0/08", CIDR_BAD_PREFIX, 0, 0 },
		{ "10.0.0.0/+8", CIDR_BAD_PREFIX, 0, 0 },
		{ "10.0.0.0/8/8", CIDR_BAD_PREFIX, 0, 0 },
		{ "10.0.0.0/1000", CIDR_BAD_PREFIX, 0, 0 },
		{ "10.1.0.0/8", CIDR_HOST_BITS, 0, 0 },
		{ "2001:db8::1/32", CIDR_HOST_BITS, 0, 0 },
		{ "10.0.0.128/25", CIDR_OK, AF_INET, 25 },
		{ "10.0.0.129/25", CIDR_HOST_BITS, 0, 0 },
		{ "", CIDR_BAD_ADDRESS, 0, 0 },
		{ "/8", CIDR_BAD_ADDRESS, 0, 0 },
		{ "localhost", CIDR_BAD_ADDRESS, 0, 0 },
		{ "10.0.0/8", CIDR_BAD_ADDRESS, 0, 0 },
		{ "[::1]/128", CIDR_BAD_ADDRESS, 0, 0 },
	};
	struct cidr c;

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		enum cidr_result r = cidr_parse(t[i].text, &c);
		ck_assert_msg(r == t[i].result, "\"%s\": %s", t[i].text,
		    cidr_result_str(r));
		if (r == CIDR_OK) {
			ck_assert_int_eq(c.family, t[i].family);
			ck_assert_uint_eq(c.prefix, t[i].prefix);
		}
	}
}
END_TEST

START_TEST(test_cidr_match)
{
	static const struct {
		const char *range;
		const char *peer;
		bool match;
	} t[] = {
		{ "10.0.0.0/8", "10.255.1.2:1", true },
		{ "10.0.0.0/8", "11.0.0.1:1", false },
		{ "10.0.0.0/8", "[::ffff:10.1.2.3]:1", true },  /* mapped */
		{ "10.0.0.0/8", "[::ffff:11.1.2.3]:1", false },
		{ "10.0.0.0/8", "[::10.1.2.3]:1", false },      /* compatible, not mapped */
		{ "127.0.0.1", "127.0.0.1:5900", true },
		{ "127.0.0.1", "127.0.0.2:5900", false },
		{ "10.0.0.128/25", "10.0.0.200:1", true },
		{ "10.0.0.128/25", "10.0.0.127:1", false },
		{ "0.0.0.0/0", "203.0.113.9:1", true },
		{ "0.0.0.0/0", "[2001:db8::1]:1", false },
		{ "::/0", "[2001:db8::1]:1", true },
		{ "::/0", "203.0.113.9:1", false },
		{ "::1/128", "[::1]:1", true },
		{ "::1/128", "127.0.0.1:1", false },
		{ "2001:db8::/33", "[2001:db8:7fff::1]:1", true },
		{ "2001:db8::/33", "[2001:db8:8000::1]:1", false },
		{ "::ffff:10.0.0.0/104", "10.9.9.9:1", true },
		{ "10.0.0.0/8", "unix:/run/x.sock", false },
	};
	struct cidr c;

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct net_addr a = addr(t[i].peer);
		ck_assert_int_eq(cidr_parse(t[i].range, &c), CIDR_OK);
		ck_assert_msg(cidr_match(&c, &a) == t[i].match, "%s in %s",
		    t[i].peer, t[i].range);
	}
}
END_TEST

START_TEST(test_cidr_any)
{
	struct cidr list[2];
	struct net_addr a = addr("192.168.1.1:1"), b = addr("[::1]:1");

	ck_assert_int_eq(cidr_parse("10.0.0.0/8", &list[0]), CIDR_OK);
	ck_assert_int_eq(cidr_parse("::1", &list[1]), CIDR_OK);
	ck_assert(!cidr_match_any(list, 2, &a));
	ck_assert(cidr_match_any(list, 2, &b));
	ck_assert(!cidr_match_any(list, 0, &b));
}
END_TEST

static Suite *
proxy_suite(void)
{
	Suite *s = suite_create("proxy");
	TCase *tc = tcase_create("codec");
	TCase *tr = tcase_create("cidr");
	int n = sizeof cases / sizeof cases[0];

	tcase_add_loop_test(tc, test_table, 0, n);
	tcase_add_loop_test(tc, test_byte_by_byte, 0, n);
	tcase_add_loop_test(tc, test_bytes_after, 0, n);
	tcase_add_test(tc, test_v2_bad_signature);
	tcase_add_test(tc, test_v2_unix);
	tcase_add_test(tc, test_v2_max_body);
	tcase_add_test(tc, test_sniff);
	tcase_add_test(tc, test_result_names);
	suite_add_tcase(s, tc);
	tcase_add_test(tr, test_cidr_parse);
	tcase_add_test(tr, test_cidr_match);
	tcase_add_test(tr, test_cidr_any);
	suite_add_tcase(s, tr);
	return s;
}

int
main(void)
{
	return check_run(proxy_suite());
}
