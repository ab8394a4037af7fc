#!/usr/bin/env bash
# soak.sh - many sessions at once through vencryptd for a while, every
# byte checked at both ends, the daemon's memory and descriptors watched.
#
#   tests/soak.sh [--sessions N] [--seconds S] [--build DIR] [--seed N]
#                 [--max-size BYTES] [--handshakes N] [--hold S] [--like N]
#
# From a built tree (./build by default, or --build DIR, or $top_builddir):
# makes certificates, starts tests/soak (the backend and N clients) and
# DIR/vencryptd on port 0 with room for the load, measures the daemon's
# idle descriptors and memory, lets the load run for S seconds (sessions
# replaced as they end), then waits until the daemon is back to its idle
# descriptors with no session left, and stops it (it must exit 0; under
# the sanitizers that includes the leak check).  Prints one summary and
# exits 1 if any byte was lost, any session failed, or the daemon did not
# come back to idle.  Defaults: 200 sessions for 30 s, the size make check
# runs (tests/e2e/soak.sh).  --seed, --max-size, --handshakes, --hold and
# --like go to tests/soak (see tests/soak --help): the seed is printed, and
# "--seed S --like N" makes every session do what session N of a run with
# seed S did, to repeat a failure.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir/build}

SESSIONS=200
SECONDS_LOAD=30
SOAK_ARGS=()
while [ $# -gt 0 ]; do
	case $1 in
	--sessions) SESSIONS=$2; shift 2 ;;
	--seconds) SECONDS_LOAD=$2; shift 2 ;;
	--seed | --max-size | --handshakes | --hold | --like) SOAK_ARGS+=("$1" "$2"); shift 2 ;;
	--build) top_builddir=$(cd "$2" && pwd) || exit 2; shift 2 ;;
	-h | --help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "soak.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
done
case $SESSIONS$SECONDS_LOAD in *[!0-9]*) echo "soak.sh: --sessions and --seconds take whole numbers" >&2; exit 2 ;; esac
export top_srcdir top_builddir
. "$top_srcdir/tests/e2e/lib.sh" || exit 1

[ -x "$VENCRYPTD" ] || fail "no daemon at $VENCRYPTD: build first (./quickstart build)"
[ -x "$PEERS/soak" ] || fail "no $PEERS/soak: make -C $top_builddir check TESTS="
SANITIZED=no
if grep -q __asan_init "$VENCRYPTD" 2>/dev/null; then
	SANITIZED=yes
fi

# Room for the load: sessions still lingering in the daemon when the
# client side has moved on count against max_clients too.
MAX_CLIENTS=$((SESSIONS * 3 / 2 + 16))
NOFILE=$((2 * MAX_CLIENTS + 256))
[ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge "$NOFILE" ] ||
	fail "$NOFILE descriptors needed, the hard limit (ulimit -Hn) is $(ulimit -Hn)"
[ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$NOFILE" ] && ulimit -Sn "$NOFILE"

make_certs

STALL=60
DRAIN=120
"$PEERS/soak" --ports-file "$T/backend.port" --connect-file "$T/go" \
	--ca "$PKI/ca-cert.pem" --cert "$(client_cert good)" --key "$(client_key good)" \
	--sessions "$SESSIONS" --seconds "$SECONDS_LOAD" --stall $STALL --drain $DRAIN \
	"${SOAK_ARGS[@]}" >"$T/soak.out" 2> >(tee "$T/soak.log" >&2) &
SOAK_PID=$!
PIDS+=($SOAK_PID)
wait_until 10 test -s "$T/backend.port" || fail "tests/soak did not start"
BACKEND_ADDR=$(head -n 1 "$T/backend.port")

cat >"$T/vencryptd.conf" <<CONF
log = { level = "info"; target = "stderr"; };
tls = { cert_dir = "$PKI"; };
limits = { max_clients = $MAX_CLIENTS; handshake_timeout = 30; backend_timeout = 30; };
services = (
  { name = "test";
    listen = [ "127.0.0.1:0" ];
    backend = "$BACKEND_ADDR";
  }
);
CONF
start_daemon "$T/vencryptd.conf"

# ---- the daemon, seen from /proc ---------------------------------------------

# FIELD (VmRSS, VmHWM) of the daemon in kB.  awk reads the file in one
# go: read line by line, /proc rewrites it between the reads.
proc_kb() {
	awk -v f="$1:" '$1 == f { print $2; found = 1 } END { exit !found }' \
		"/proc/$DAEMON_PID/status" 2>/dev/null
}
fd_count() {
	local fds=(/proc/"$DAEMON_PID"/fd/*)
	echo ${#fds[@]}
}
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }

# The daemon's own count of sessions: a reload reports it.
daemon_sessions() {
	local before
	before=$(grep -c 'reload succeeded' "$DAEMON_LOG")
	kill -HUP "$DAEMON_PID"
	wait_until 10 sh -c "[ \$(grep -c 'reload succeeded' '$DAEMON_LOG') -gt $before ]" ||
		fail "no reload line after SIGHUP"
	grep 'reload succeeded' "$DAEMON_LOG" | tail -n 1 |
		sed -n 's/.* \([0-9][0-9]*\) session(s) continue.*/\1/p'
}

IDLE_FDS=$(fd_count)
IDLE_RSS=$(proc_kb VmRSS)
[ "$(daemon_sessions)" = 0 ] || fail "the daemon has sessions before the load"

# ---- the load --------------------------------------------------------------------

log "$SESSIONS sessions for $SECONDS_LOAD s against $VENCRYPTD (sanitizers: $SANITIZED)"
echo "test $DAEMON_ADDR" >"$T/go.tmp" && mv "$T/go.tmp" "$T/go"
START=$(date +%s)
LIMIT=$((SECONDS_LOAD + DRAIN + STALL + 60))
PEAK_FDS=$IDLE_FDS
: >"$T/samples"
# One sample a second while tests/soak runs: seconds, RSS (kB), descriptors.
while kill -0 "$SOAK_PID" 2>/dev/null; do
	now=$(($(date +%s) - START))
	[ "$now" -le "$LIMIT" ] || fail "tests/soak still running after $LIMIT s"
	rss=$(proc_kb VmRSS) || fail "vencryptd died under load"
	fds=$(fd_count)
	[ "$fds" -gt "$PEAK_FDS" ] && PEAK_FDS=$fds
	echo "$now $rss $fds" >>"$T/samples"
	sleep 1
done
SOAK_RC=0
wait "$SOAK_PID" || SOAK_RC=$?
LOAD_END=$(date +%s)
# The kernel updates VmHWM lazily: the samples may have seen more.
PEAK_RSS=$(awk -v p="$(proc_kb VmHWM)" '$2 > p { p = $2 } END { print p }' "$T/samples")

# ---- back to idle ------------------------------------------------------------------

val() { awk -v k="$1" '$1 == k { print $2 }' "$T/soak.out"; }
CONNECTIONS=$(val connections)
[ -n "$CONNECTIONS" ] || fail "tests/soak printed no summary (exit $SOAK_RC)"
closed_lines() { grep -c 'closed: ' "$DAEMON_LOG"; }
idle() { [ "$(fd_count)" -le "$IDLE_FDS" ] && [ "$(closed_lines)" -ge "$CONNECTIONS" ]; }
PROBLEMS=()
if ! wait_until 60 idle; then
	PROBLEMS+=("not back to idle 60 s after the load: $(fd_count) descriptors (idle $IDLE_FDS), $(closed_lines) sessions closed of $CONNECTIONS")
fi
IDLE_AFTER=$(($(date +%s) - LOAD_END))
END_FDS=$(fd_count)
END_RSS=$(proc_kb VmRSS)
END_SESSIONS=$(daemon_sessions)
[ "$END_FDS" -eq "$IDLE_FDS" ] || PROBLEMS+=("descriptors at the end $END_FDS, idle $IDLE_FDS")
[ "$END_SESSIONS" = 0 ] || PROBLEMS+=("the daemon still counts $END_SESSIONS session(s)")
CLOSED=$(closed_lines)
[ "$CLOSED" -eq "$CONNECTIONS" ] ||
	PROBLEMS+=("the daemon logged $CLOSED closed sessions for $CONNECTIONS connections")
# Nothing in this load deserves a warning (descriptors run out, accept
# pauses, a bad record...).
WARNINGS=$(grep -cE ' vencryptd (warning|error): ' "$DAEMON_LOG")
[ "$WARNINGS" -eq 0 ] || PROBLEMS+=("$WARNINGS warning or error line(s) in the daemon log, first: $(grep -m 1 -E ' vencryptd (warning|error): ' "$DAEMON_LOG")")

# Memory must level off under a steady load: the highest RSS of the last
# third of the load may not be well above that of the middle third.  Only
# without the sanitizers (their quarantine grows by design) and for runs
# long enough to have thirds worth comparing.
RSS_TREND=""
if [ "$SANITIZED" = no ] && [ "$SECONDS_LOAD" -ge 60 ]; then
	read -r MID LAST < <(awk -v s="$SECONDS_LOAD" '
		$1 >= s / 3 && $1 < 2 * s / 3 && $2 > mid { mid = $2 }
		$1 >= 2 * s / 3 && $1 < s && $2 > last { last = $2 }
		END { print mid + 0, last + 0 }' "$T/samples")
	RSS_TREND="; highest RSS in the middle third of the load $(mb "$MID"), in the last third $(mb "$LAST")"
	[ "$LAST" -le $((MID + MID / 5 + 8192)) ] ||
		PROBLEMS+=("RSS still growing: $(mb "$MID") in the middle third of the load, $(mb "$LAST") in the last")
fi

stop_daemon

# ---- the summary ---------------------------------------------------------------------

COMPLETED=$(val sessions_completed)
FAILED=$(val sessions_failed)
LOSSY=$(val sessions_with_loss)
LOST=$(val bytes_lost)
VERIFIED=$(val bytes_verified)
[ "$SOAK_RC" -eq 0 ] || PROBLEMS+=("tests/soak exited $SOAK_RC")
[ "${LOST:-1}" -eq 0 ] || PROBLEMS+=("$LOST bytes lost in $LOSSY session(s)")
[ "${FAILED:-1}" -eq 0 ] || PROBLEMS+=("$FAILED session(s) failed")
[ "${COMPLETED:-0}" -gt 0 ] || PROBLEMS+=("no session completed")

log "seed $(val seed), $SESSIONS sessions at once for $SECONDS_LOAD s, daemon $VENCRYPTD (sanitizers: $SANITIZED)"
log "sessions completed $COMPLETED, failed $FAILED, with loss $LOSSY ($(sed -n 's/^closes //p' "$T/soak.out"))"
log "bytes verified $VERIFIED ($(awk -v b="$VERIFIED" 'BEGIN { printf "%.2f GB", b / 1e9 }')), bytes lost $LOST"
log "sessions open at once: mean $(val open_mean), peak $(val open_peak) (mean lifetime setting $(($(val hold_ms) / 1000)) s)"
log "client connections $CONNECTIONS, backend connections $(val backend_connections), resets seen $(val resets_seen), EOF without close_notify $(val eof_without_close_notify)"
log "daemon RSS idle $(mb "$IDLE_RSS"), peak $(mb "$PEAK_RSS"), end $(mb "$END_RSS")$RSS_TREND"
log "daemon descriptors idle $IDLE_FDS, peak $PEAK_FDS, end $END_FDS; back to idle $IDLE_AFTER s after the load"
log "session ends logged by the daemon:"
sed -n 's/.* closed: \([^;]*\);.*/\1/p' "$DAEMON_LOG" | sed 's/[0-9][0-9]*/N/g' |
	sort | uniq -c | sort -rn | head -n 8 | sed 's/^/    /'
if [ ${#PROBLEMS[@]} -gt 0 ]; then
	for p in "${PROBLEMS[@]}"; do
		log "problem: $p"
	done
	fail "soak found ${#PROBLEMS[@]} problem(s)"
fi
log "PASS"
