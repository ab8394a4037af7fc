/*
 * fuzz_dn.c - allowed_dn patterns against certificate subjects (src/dn.c).
 *
 * Input: the pattern, a NUL byte, the subject (a missing NUL makes the
 * subject empty).
 *
 * dn_match() is checked against a second, deliberately plain reading of
 * the rules in dn.h, written here from the documentation:
 *  - both strings split at unescaped ',' and '+'; same separators, same
 *    attribute types (case-insensitive) in the same order;
 *  - values decoded ("\c", "\XX"); '*' and '?' are globs only unescaped in
 *    the pattern; '*' is any run of characters, '?' one character, where
 *    a character is a byte, or a UTF-8 lead byte with the continuation
 *    bytes that follow it (vencryptd.conf(5): "any run of characters");
 *    globs never cross a value;
 *  - malformed input (empty RDN, a type that is not [A-Za-z0-9.-]+, no
 *    '=', a dangling or half hex escape, over 1024 bytes) is refused.
 * The glob here is a set-of-positions simulation, which cannot miss a
 * match the way a backtracking matcher can.  Also: every well-formed
 * subject matches itself used as a pattern, and dn_pattern_check agrees
 * with dn_match on what is a pattern.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dn.h"
#include "fuzz.h"

#define REF_MAX 1024
#define REF_ATTRS 513   /* "a=,a=,...": at most one attribute per 2 bytes */

struct ref_attr {
	char type[REF_MAX];
	size_t type_len;
	unsigned char value[REF_MAX];
	bool glob[REF_MAX];     /* value[i] is an unescaped '*' or '?' */
	size_t value_len;
	char sep;
};

struct ref_dn {
	struct ref_attr *attrs;
	size_t n;
};

static bool
ref_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

static unsigned
ref_hexval(char c)
{
	return c <= '9' ? (unsigned)(c - '0') :
	    c <= 'F' ? (unsigned)(c - 'A' + 10) : (unsigned)(c - 'a' + 10);
}

/* Splits s into out; false when s is malformed. */
static bool
ref_parse(const char *s, bool pattern, struct ref_dn *out)
{
	size_t len = strlen(s), i = 0;

	out->n = 0;
	if (len == 0 || len > REF_MAX)
		return false;
	for (;;) {
		struct ref_attr *a = &out->attrs[out->n++];

		a->type_len = a->value_len = 0;
		while (s[i] != '=') {
			char c = s[i];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '.' || c == '-'))
				return false;
			a->type[a->type_len++] = c >= 'A' && c <= 'Z' ?
			    (char)(c - 'A' + 'a') : c;
			i++;
		}
		if (a->type_len == 0)
			return false;
		i++;
		while (s[i] != '\0' && s[i] != ',' && s[i] != '+') {
			unsigned char b;
			bool glob = false;
			if (s[i] == '\\') {
				if (s[i + 1] == '\0')
					return false;
				if (ref_hex(s[i + 1])) {
					if (!ref_hex(s[i + 2]))
						return false;
					b = (unsigned char)(ref_hexval(s[i + 1]) << 4 |
					    ref_hexval(s[i + 2]));
					i += 3;
				} else {
					b = (unsigned char)s[i + 1];
					i += 2;
				}
			} else {
				b = (unsigned char)s[i];
				glob = pattern && (b == '*' || b == '?');
				i++;
			}
			a->glob[a->value_len] = glob;
			a->value[a->value_len++] = b;
		}
		a->sep = s[i];
		if (s[i] == '\0')
			return true;
		i++;
		if (s[i] == '\0')
			return false;
	}
}

/* Just past the character at s[i]: a UTF-8 lead byte takes its
 * continuation bytes with it. */
static size_t
ref_next_char(const unsigned char *s, size_t n, size_t i)
{
	if (s[i++] < 0xc0)
		return i;
	while (i < n && (s[i] & 0xc0) == 0x80)
		i++;
	return i;
}

/* Every way of matching, position set by position set. */
static bool
ref_glob(const struct ref_attr *p, const struct ref_attr *s)
{
	size_t sn = s->value_len;
	bool *cur = calloc(sn + 1, 1), *next = calloc(sn + 1, 1), *t, any;

	FUZZ_CHECK(cur != NULL && next != NULL, "out of memory");
	cur[0] = true;
	for (size_t pi = 0; pi < p->value_len; pi++) {
		memset(next, 0, sn + 1);
		for (size_t si = 0; si <= sn; si++) {
			if (!cur[si])
				continue;
			if (p->glob[pi] && p->value[pi] == '*') {
				/* here, and every character further on (below) */
				next[si] = true;
			} else if (si < sn && p->glob[pi]) {
				next[ref_next_char(s->value, sn, si)] = true;
			} else if (si < sn && p->value[pi] == s->value[si]) {
				next[si + 1] = true;
			}
		}
		if (p->glob[pi] && p->value[pi] == '*')
			for (size_t si = 0; si < sn; si++)
				if (next[si])
					next[ref_next_char(s->value, sn, si)] = true;
		t = cur, cur = next, next = t;
	}
	any = cur[sn];
	free(cur);
	free(next);
	return any;
}

static bool
ref_match(const struct ref_dn *p, const struct ref_dn *d)
{
	if (p->n != d->n)
		return false;
	for (size_t i = 0; i < p->n; i++) {
		const struct ref_attr *pa = &p->attrs[i], *da = &d->attrs[i];
		if (pa->sep != da->sep || pa->type_len != da->type_len ||
		    memcmp(pa->type, da->type, pa->type_len) != 0 ||
		    !ref_glob(pa, da))
			return false;
	}
	return true;
}

static struct ref_dn ref_p, ref_d;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	ref_p.attrs = calloc(REF_ATTRS, sizeof *ref_p.attrs);
	ref_d.attrs = calloc(REF_ATTRS, sizeof *ref_d.attrs);
	FUZZ_CHECK(ref_p.attrs != NULL && ref_d.attrs != NULL, "out of memory");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t plen = nul != NULL ? (size_t)(nul - data) : size;
	size_t dlen = nul != NULL ? size - plen - 1 : 0;
	char *pattern = malloc(plen + 1), *dn = malloc(dlen + 1);
	bool pok, dok;
	enum dn_result r;
	const char *why = NULL;

	FUZZ_CHECK(pattern != NULL && dn != NULL, "out of memory");
	memcpy(pattern, data, plen);
	pattern[plen] = '\0';
	if (dlen > 0)
		memcpy(dn, nul + 1, dlen);
	dn[dlen] = '\0';
	/* The subject stops at its first NUL, as a C string does. */

	pok = ref_parse(pattern, true, &ref_p);
	dok = ref_parse(dn, false, &ref_d);
	r = dn_match(pattern, dn);

	FUZZ_CHECK((dn_pattern_check(pattern, &why) == DN_MATCH) == pok,
	    "pattern \"%s\": dn_pattern_check says %s, the rules %s", pattern,
	    why != NULL ? why : "well-formed", pok ? "well-formed" : "malformed");
	FUZZ_CHECK(pok || why != NULL, "a malformed pattern without a reason");
	if (!pok) {
		FUZZ_CHECK(r == DN_BAD_PATTERN, "bad pattern \"%s\" gave %d",
		    pattern, r);
	} else if (!dok) {
		FUZZ_CHECK(r == DN_BAD_DN, "bad subject \"%s\" gave %d", dn, r);
	} else {
		bool want = ref_match(&ref_p, &ref_d);
		FUZZ_CHECK(r == (want ? DN_MATCH : DN_NO_MATCH), "\"%s\" against "
		    "\"%s\": dn_match says %s, the rules say %s", pattern, dn,
		    r == DN_MATCH ? "match" : "no match",
		    want ? "match" : "no match");
	}
	if (dok)
		FUZZ_CHECK(dn_match(dn, dn) == DN_MATCH, "\"%s\" does not match "
		    "itself", dn);
	free(pattern);
	free(dn);
	return 0;
}
