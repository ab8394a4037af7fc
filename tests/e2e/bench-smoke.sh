#!/usr/bin/env bash
# bench/compare --smoke against the build under test: vencryptd, haproxy,
# hitch and stunnel in front of bench/backend, each refusing a client
# without a certificate and one with a certificate from another CA, then
# one short round of every test (idle
# sessions, 8-byte round trips, handshakes, transfers down and up).  Every
# relay must give a number for every figure, every run must succeed,
# vencryptd and the backend must exit 0 on SIGTERM, and nothing the run
# started may be left running.  Then --resumption with vencryptd alone:
# the row for resumed handshakes has a number.  No timing is asserted.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

for prog in haproxy hitch stunnel4 certtool; do
	command -v "$prog" >/dev/null ||
		fail "$prog is not installed (./quickstart check installs it)"
done

# The run's own temporary directory lives in $T, so every process it
# started names $T in its command line.
left_running() { pgrep -f -- "$T/" >/dev/null; }

rc=0
TMPDIR="$T" timeout -k 10 150 "$top_srcdir/bench/compare" --smoke --markdown \
	--build "$top_builddir" >"$T/compare.out" 2>"$T/compare.log" || rc=$?
if left_running; then
	pgrep -af -- "$T/" >>"$T/compare.log"
	fail "bench/compare left processes running"
fi
[ "$rc" -eq 0 ] || fail "bench/compare --smoke exited $rc"

# The Markdown table: a header naming the four relays, then twelve rows
# with a number in each relay's column.
header=$(grep -m 1 '^| figure |' "$T/compare.out") || fail "no table in the output"
[ "$(printf '%s\n' "$header" | awk -F' [|] ' '{print $2, $3, $4, $5}')" = \
	"vencryptd haproxy hitch stunnel" ] || fail "unexpected columns: $header"
rows=$(awk -F' [|] ' '/^\| / && !/^\| figure/ {
	ok = 1
	for (i = 2; i <= 5; i++)
		if ($i !~ /^-?[0-9]+(\.[0-9]+)?$/) ok = 0
	if (ok) n++; else print "not a number: " $0 > "/dev/stderr"
} END {print n + 0}' "$T/compare.out" 2>>"$T/compare.log")
[ "$rows" -eq 12 ] || fail "$rows of 12 rows have a number for every relay"
grep -q '^- versions: vencryptd ' "$T/compare.out" || fail "no versions line"
grep -q '^compare: done in ' "$T/compare.log" || fail "bench/compare did not finish"

# --resumption: vencryptd alone, one more row with a number for it.
rc=0
TMPDIR="$T" timeout -k 10 150 "$top_srcdir/bench/compare" --smoke --markdown \
	--resumption --only vencryptd --build "$top_builddir" \
	>"$T/resumed.out" 2>"$T/resumed.log" || rc=$?
left_running && fail "bench/compare --resumption left processes running"
[ "$rc" -eq 0 ] || fail "bench/compare --smoke --resumption exited $rc"
grep -Eq '^\| CPU ms per resumed handshake \| [0-9]+(\.[0-9]+)? \|' "$T/resumed.out" ||
	fail "no resumed handshake row with a number for vencryptd"
grep -Eq '^Resumed handshakes .*: [0-9]+ of [0-9]+ resumed' "$T/resumed.out" ||
	fail "no note on the resumed handshakes"
log "PASS"
