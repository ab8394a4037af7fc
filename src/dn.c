/*
 * dn.c - match RFC 4514 distinguished names against allowlist patterns.
 *
 * The subject is the string gnutls_x509_crt_get_dn3(crt, &dn, 0) prints:
 * RFC 4514 order (CN first), attributes "type=value", RDNs separated by
 * ',', attributes of a multi-valued RDN by '+', and special characters
 * inside values escaped with a backslash ("\," or a hex pair "\2C").
 *
 * Matching is done attribute by attribute, never on the whole string:
 * a '*' that could run across an escaped comma would let
 * "CN=trudy,O=Evil\,O=Example,C=GB" pass for "CN=*,O=Example,C=GB".
 *
 * Rules:
 *  - Both strings are split at unescaped ',' and '+'.  They match only if
 *    they have the same number of attributes with the same separators
 *    between them (so the same RDNs and multi-valued groupings).
 *  - Attribute types compare case-insensitively ("cn" == "CN").  A type is
 *    [A-Za-z0-9.-]+, so a numeric OID such as 2.5.4.3 is allowed, but it is
 *    compared as written: "2.5.4.3" does not match "CN".
 *  - Values are decoded first ("\c" and "\XX" become one literal byte) and
 *    compared case-sensitively, byte for byte: "O=Example" does not match
 *    "O=example".  In a pattern value an unescaped '*' matches any run of
 *    characters and an unescaped '?' exactly one character, a character
 *    being a byte or a UTF-8 sequence (a lead byte and the continuation
 *    bytes after it), so neither splits a sequence; "\*" and "\?" are
 *    literal.  Every byte of the subject is literal.  Globs never reach
 *    beyond one value.
 *  - Whitespace is not special anywhere: RFC 4514 output has none around
 *    '=' or ',', so a space is just a byte (and not allowed in a type).
 *  - An escape is a backslash followed by two hex digits or by any one
 *    character that is not a hex digit.  "\4" followed by a non-hex
 *    character, or a backslash at the end, is malformed.
 *
 * Pure code: no allocation, no I/O, no globals.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "dn.h"

#define DN_MAX 1024             /* longest pattern or subject we accept */

/* One attribute of a DN or pattern, pointing into the original string. */
struct dn_attr {
	const char *type;       /* attribute type, not NUL-terminated */
	size_t type_len;
	const char *value;      /* raw value, still escaped */
	size_t value_len;
	char sep;               /* what ended it: ',', '+' or '\0' */
};

static bool
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

static unsigned
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return (unsigned)(c - '0');
	if (c >= 'a' && c <= 'f')
		return (unsigned)(c - 'a' + 10);
	return (unsigned)(c - 'A' + 10);
}

static bool
is_type_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '-';
}

static char
ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/*
 * Parse the attribute that starts at s[*pos] and advance *pos past its
 * separator.  Returns NULL on success or why the string is malformed.
 */
static const char *
next_attr(const char *s, size_t *pos, struct dn_attr *a)
{
	size_t i = *pos;

	a->type = s + i;
	while (is_type_char(s[i]))
		i++;
	a->type_len = (size_t)(s + i - a->type);
	if (s[i] != '=') {
		if (a->type_len == 0 &&
		    (s[i] == ',' || s[i] == '+' || s[i] == '\0'))
			return "empty RDN (leading, trailing or double separator)";
		/* A stray character in the type, or no '=' in this RDN? */
		while (s[i] != '=' && s[i] != ',' && s[i] != '+' &&
		    s[i] != '\0')
			i++;
		if (s[i] == '=')
			return "attribute type may only hold letters, digits, "
			    "'.' and '-'";
		return "RDN without '='";
	}
	if (a->type_len == 0)
		return "empty attribute type";
	i++;

	a->value = s + i;
	for (;;) {
		char c = s[i];

		if (c == '\0' || c == ',' || c == '+')
			break;
		if (c != '\\') {
			i++;
			continue;
		}
		if (s[i + 1] == '\0')
			return "dangling backslash at the end";
		if (is_hex(s[i + 1])) {
			if (!is_hex(s[i + 2]))
				return "bad hex escape (want \\XX)";
			i += 3;
		} else {
			i += 2;
		}
	}
	a->value_len = (size_t)(s + i - a->value);
	a->sep = s[i];
	if (s[i] != '\0') {
		i++;
		if (s[i] == '\0')
			return "empty RDN (leading, trailing or double separator)";
	}
	*pos = i;
	return NULL;
}

/* Check a whole pattern or subject: NULL if well-formed, else why not. */
static const char *
scan(const char *s)
{
	struct dn_attr a;
	size_t len, pos = 0;
	const char *why;

	if (s == NULL || s[0] == '\0')
		return "empty";
	for (len = 0; len <= DN_MAX && s[len] != '\0'; len++)
		;
	if (len > DN_MAX)
		return "longer than 1024 bytes";
	do {
		if ((why = next_attr(s, &pos, &a)) != NULL)
			return why;
	} while (a.sep != '\0');
	return NULL;
}

/*
 * Decode a raw value (already validated) into bytes.  lit[i] says the
 * byte was escaped; it may be NULL when the caller does not care.
 * Returns the number of bytes written (never more than len).
 */
static size_t
decode_value(const char *raw, size_t len, unsigned char *out,
    unsigned char *lit)
{
	size_t i = 0, n = 0;

	while (i < len) {
		if (raw[i] == '\\' && is_hex(raw[i + 1])) {
			out[n] = (unsigned char)(hex_value(raw[i + 1]) << 4 |
			    hex_value(raw[i + 2]));
			i += 3;
		} else if (raw[i] == '\\') {
			out[n] = (unsigned char)raw[i + 1];
			i += 2;
		} else {
			out[n] = (unsigned char)raw[i];
			i++;
			if (lit != NULL)
				lit[n] = 0;
			n++;
			continue;
		}
		if (lit != NULL)
			lit[n] = 1;
		n++;
	}
	return n;
}

/* Index just past the character starting at s[i]: one byte, plus the
 * continuation bytes when it starts a UTF-8 multi-byte sequence. */
static size_t
skip_char(const unsigned char *s, size_t n, size_t i)
{
	if (s[i++] < 0xC0)
		return i;
	while (i < n && (s[i] & 0xC0) == 0x80)
		i++;
	return i;
}

/*
 * Glob p (with lit flags) against the subject bytes s.  All the ways of
 * matching are followed at once, as the set of positions in s the pattern
 * read so far can end at: a single backtracking point for the last '*'
 * is not enough once '*' and '?' step by whole UTF-8 sequences.
 * O(pn * sn) time, no allocation.
 */
static bool
glob_match(const unsigned char *p, const unsigned char *lit, size_t pn,
    const unsigned char *s, size_t sn)
{
	bool a[DN_MAX + 1], b[DN_MAX + 1], *cur = a, *next = b, *t;

	memset(cur, 0, sn + 1);
	cur[0] = true;
	for (size_t pi = 0; pi < pn; pi++) {
		bool star = !lit[pi] && p[pi] == '*', any = false;

		memset(next, 0, sn + 1);
		for (size_t si = 0; si <= sn; si++) {
			if (star) {
				/* here, and a character further on from every
				 * position so reached (skip_char goes forward) */
				next[si] = next[si] || cur[si];
				if (next[si] && si < sn)
					next[skip_char(s, sn, si)] = true;
			} else if (cur[si] && si < sn) {
				if (!lit[pi] && p[pi] == '?')
					next[skip_char(s, sn, si)] = true;
				else if (p[pi] == s[si])
					next[si + 1] = true;
			}
			any = any || next[si];
		}
		if (!any)
			return false;
		t = cur, cur = next, next = t;
	}
	return cur[sn];
}

static bool
type_equal(const struct dn_attr *x, const struct dn_attr *y)
{
	size_t i;

	if (x->type_len != y->type_len)
		return false;
	for (i = 0; i < x->type_len; i++)
		if (ascii_lower(x->type[i]) != ascii_lower(y->type[i]))
			return false;
	return true;
}

static bool
value_match(const struct dn_attr *pat, const struct dn_attr *sub)
{
	unsigned char p[DN_MAX], lit[DN_MAX], s[DN_MAX];
	size_t pn, sn;

	pn = decode_value(pat->value, pat->value_len, p, lit);
	sn = decode_value(sub->value, sub->value_len, s, NULL);
	return glob_match(p, lit, pn, s, sn);
}

enum dn_result
dn_pattern_check(const char *pattern, const char **why)
{
	const char *err = scan(pattern);

	if (why != NULL)
		*why = err;
	return err == NULL ? DN_MATCH : DN_BAD_PATTERN;
}

enum dn_result
dn_match(const char *pattern, const char *dn)
{
	struct dn_attr pa, da;
	size_t ppos = 0, dpos = 0;

	if (scan(pattern) != NULL)
		return DN_BAD_PATTERN;
	if (scan(dn) != NULL)
		return DN_BAD_DN;

	/* Both are well-formed, so next_attr() cannot fail from here on. */
	for (;;) {
		(void)next_attr(pattern, &ppos, &pa);
		(void)next_attr(dn, &dpos, &da);
		if (pa.sep != da.sep)
			return DN_NO_MATCH;     /* RDN count or grouping differs */
		if (!type_equal(&pa, &da) || !value_match(&pa, &da))
			return DN_NO_MATCH;
		if (pa.sep == '\0')
			return DN_MATCH;
	}
}
