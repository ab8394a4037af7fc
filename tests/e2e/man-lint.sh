#!/usr/bin/env bash
# Every manual page is lint-clean: mandoc -Tlint and groff -ww report
# nothing at all.  Both linters are first shown a page with known faults,
# so a linter that has stopped reporting cannot pass the real pages.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

command -v mandoc >/dev/null || fail "mandoc is not installed (./quickstart check installs it)"
command -v groff >/dev/null || fail "groff is not installed (./quickstart check installs it)"

PAGES=(man/vencryptd.8 man/vencryptd.conf.5 man/vencryptd-certs.1)

# lint PAGE OUT: both linters' complaints about PAGE into OUT.
lint() {
	{
		mandoc -Tlint "$1" 2>&1
		groff -ww -man -z "$1" 2>&1
	} >"$2"
}

# A page with an empty paragraph, an unknown macro and a missing NAME.
cat >"$T/bad.1" <<'PAGE'
.TH BAD 1 2026-01-01 "x" "x"
.SH DESCRIPTION
.PP
.PP
.XYZZY
text
PAGE
lint "$T/bad.1" "$T/bad.out"
grep -q 'mandoc: .*WARNING' "$T/bad.out" || fail "mandoc reported nothing about a faulty page"
grep -q 'XYZZY' "$T/bad.out" || fail "groff -ww reported nothing about an unknown macro"

for p in "${PAGES[@]}"; do
	[ -f "$top_srcdir/$p" ] || fail "$p is missing"
done
# every installed page is in the list
for p in "$top_srcdir"/man/*.[1-8]; do
	case " ${PAGES[*]} " in
	*" man/${p##*/} "*) ;;
	*) fail "man/${p##*/} is not linted by this test" ;;
	esac
done
for p in "${PAGES[@]}"; do
	lint "$top_srcdir/$p" "$T/lint.out"
	if [ -s "$T/lint.out" ]; then
		cat "$T/lint.out"
		fail "$p is not lint-clean"
	fi
	log "ok: $p"
done
log "PASS"
