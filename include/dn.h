/*
 * dn.h - match RFC 4514 distinguished names against allowlist patterns.
 *
 * A DN is split at unescaped ',' into RDNs.  A pattern matches when it has
 * the same number of RDNs, the same attribute types in the same order
 * (case-insensitive), and each value matches the pattern's value as a glob
 * ('*' any run, '?' one character) confined to that one value.  A
 * backslash-escaped character is literal on both sides.  Multi-valued RDNs
 * ('+') are compared the same way, attribute by attribute.
 */
#ifndef VENCRYPTD_DN_H
#define VENCRYPTD_DN_H

#include <stddef.h>

enum dn_result {
	DN_MATCH,
	DN_NO_MATCH,
	DN_BAD_PATTERN,         /* pattern is not a well-formed DN pattern */
	DN_BAD_DN,              /* subject is not a well-formed RFC 4514 DN */
};

/* For config validation: DN_MATCH (meaning valid) or DN_BAD_PATTERN with a
 * short explanation in why (may be NULL). */
enum dn_result dn_pattern_check(const char *pattern, const char **why);
enum dn_result dn_match(const char *pattern, const char *dn);

#endif
