#!/usr/bin/env bash
# SIGTERM drains: the listening sockets close at once (a new connection
# is refused, not queued), a session in the relay goes on relaying both
# ways, SIGHUP is ignored meanwhile, and the daemon exits 0 as soon as the
# last session ends.  With a short limits.shutdown_grace the daemon closes
# the session itself when the grace is over; a second signal ends the
# drain at once; a grace of 0 closes everything at once.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

make_certs
start_backend backend --mode echo
GOOD=(--ca "$PKI/ca-cert.pem" --cert "$(client_cert good)" --key "$(client_key good)")

# with_grace SECONDS: a fresh daemon with limits.shutdown_grace = SECONDS.
with_grace() {
	local conf="$T/grace$1.conf"
	write_config "$conf" "backend = \"$BACKEND_ADDR\";"
	sed -i "s/^limits = { /limits = { shutdown_grace = $1; /" "$conf"
	grep -q "shutdown_grace = $1;" "$conf" || fail "no shutdown_grace in $conf"
	: >"$T/daemon.log"
	start_daemon "$conf"
}

# live NAME: a session in the relay that has echoed 100000 bytes and then
# idles until $T/NAME.go exists, when it echoes 100000 more and ends.
live() {
	"$PEERS/vtclient" --connect "127.0.0.1:$DAEMON_PORT" --timeout 60 "${GOOD[@]}" \
		--echo-check 100000 --resume-file "$T/$1.go" >"$T/$1.out" 2>&1 &
	LIVE_PID=$!
	PIDS+=($LIVE_PID)
	wait_until 20 grep -qs '^paused$' "$T/$1.out" || fail "$1: the session did not start"
}

# connects: a TCP connection to the daemon's port is accepted (0), refused
# (1), or neither within 5 s (124).
connects() {
	timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$DAEMON_PORT" 2>/dev/null
}

now() { date +%s.%N; }
# since T0: seconds from T0 to now, two decimals.
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
# exited_ok SECONDS: the daemon exits within SECONDS, with status 0.
exited_ok() {
	wait_until "$1" daemon_gone || fail "vencryptd still runs $1 s later"
	local rc=0
	wait "$DAEMON_PID" || rc=$?
	[ $rc -eq 0 ] || fail "vencryptd exited $rc"
}

# ---- the session ends by itself well before the grace ------------------------
# (Bounds generous enough for the daemon under valgrind.)
with_grace 120
connects || fail "a connection was not accepted before SIGTERM"
expect_no_sessions
live a
t0=$(now)
kill -TERM "$DAEMON_PID"
expect_log 'notice: SIGTERM received: stopping; 1 session\(s\) have up to 120 s$'
rc=0
connects || rc=$?
[ $rc -eq 1 ] || fail "a connection after SIGTERM was not refused at once (status $rc)"
daemon_gone && fail "the daemon did not wait for the live session"
kill -HUP "$DAEMON_PID"
expect_log 'notice: SIGHUP received: ignored, the daemon is stopping$'
grep -q 'reloading' "$DAEMON_LOG" && fail "SIGHUP reloaded while stopping"
# The session still relays, both ways, after the signal.
touch "$T/a.go"
wait "$LIVE_PID" || fail "the live session failed after SIGTERM"
expect_out a '^echo-again ok sent=100000 received=100000$'
exited_ok 60
took=$(since "$t0")
awk -v t="$took" 'BEGIN { exit !(t < 60) }' || fail "the daemon took $took s, not ended with the session"
expect_log 'notice: every session has ended$'
expect_log ': closed: client closed; .*client->backend 200001 bytes, backend->client 200034 bytes'
grep -q 'closed: daemon stopping' "$DAEMON_LOG" && fail "the daemon closed the session itself"
expect_log 'notice: stopped$'
log "ok: drained in $took s: refused new connections, the live session relayed and ended"

# ---- the grace is over: the daemon closes the session -----------------------
with_grace 2
live b
t0=$(now)
kill -INT "$DAEMON_PID"
expect_log 'notice: SIGINT received: stopping; 1 session\(s\) have up to 2 s$'
exited_ok 40
took=$(since "$t0")
awk -v t="$took" 'BEGIN { exit !(t >= 1.9) }' || fail "the daemon ended after $took s, before the grace"
expect_log 'notice: shutdown_grace \(2 s\) is over: closing 1 session\(s\)$'
expect_log ': closed: daemon stopping; .*client->backend 100001 bytes, backend->client 100034 bytes'
expect_log 'notice: stopped$'
touch "$T/b.go"
wait "$LIVE_PID" && fail "the client's session went on after the daemon ended"
log "ok: closed the session after the grace, $took s"

# ---- a second signal ends the drain at once ----------------------------------
with_grace 120
live c
kill -TERM "$DAEMON_PID"
expect_log 'SIGTERM received: stopping; 1 session\(s\) have up to 120 s$'
t0=$(now)
kill -TERM "$DAEMON_PID"
exited_ok 30
took=$(since "$t0")
expect_log 'notice: SIGTERM received again: closing 1 session\(s\) now$'
expect_log ': closed: daemon stopping; '
expect_log 'notice: stopped$'
log "ok: the second SIGTERM ended it in $took s"

# ---- shutdown_grace = 0: everything closes at once ---------------------------
with_grace 0
live d
kill -TERM "$DAEMON_PID"
exited_ok 30
expect_log 'notice: SIGTERM received: stopping; closing 1 session\(s\) now \(shutdown_grace = 0\)$'
expect_log ': closed: daemon stopping; '
log "ok: shutdown_grace = 0 closes at once"

log "PASS"
