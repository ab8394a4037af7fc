#!/usr/bin/env bash
# Descriptor exhaustion: under a low RLIMIT_NOFILE, held connections use
# up the daemon's descriptors.  Accepting pauses with a log line, the
# daemon does not spin (its CPU time stays near idle), a client that
# arrives meanwhile waits in the listen queue, and it is served once the
# held connections go away.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

LIMIT=40        # the daemon's RLIMIT_NOFILE
WINDOW=3        # seconds over which the CPU time is measured

make_certs
GOOD=(--ca "$PKI/ca-cert.pem" --cert "$(client_cert good)" --key "$(client_key good)")
start_backend backend --mode echo
write_config "$T/vencryptd.conf" "backend = \"$BACKEND_ADDR\";"
# The held connections stay for as long as the test wants.
sed -i 's/handshake_timeout = 5;/handshake_timeout = 120;/' "$T/vencryptd.conf"
grep -q 'handshake_timeout = 120;' "$T/vencryptd.conf" || fail "handshake_timeout not set"

old_limit=$(ulimit -Sn)
ulimit -Sn "$LIMIT" || fail "cannot lower the descriptor limit"
start_daemon "$T/vencryptd.conf"
ulimit -Sn "$old_limit"
[ "$(awk '/^Max open files/ {print $4}' "/proc/$DAEMON_PID/limits")" -eq "$LIMIT" ] ||
	fail "the daemon does not run with RLIMIT_NOFILE $LIMIT"
good_client_works
expect_no_sessions
# The limit caps descriptor numbers: those below it not in use are the room.
idle_fds=$(find "/proc/$DAEMON_PID/fd" -mindepth 1 -printf '%f\n' | awk -v l="$LIMIT" '$1 < l' | wc -l)
room=$((LIMIT - idle_fds))
log "the daemon holds $idle_fds descriptors below $LIMIT idle: room for $room connections"
[ "$room" -gt 0 ] || fail "no room at all under the limit"

# Ten more connections than there is room for.
fresh_log
"$PEERS/flood" --connect "127.0.0.1:$DAEMON_PORT" --count $((room + 10)) --greeting none \
	--timeout 100 >"$T/hold.out" 2>&1 &
hold=$!
PIDS+=("$hold")
expect_log 'warning: accept on service test paused, looking again every 1 s: Too many open files'
started=$(grep -c ': connection from ' "$DAEMON_LOG")
log "$started sessions started before accepting paused"
[ "$started" -eq "$room" ] ||
	fail "$started sessions started, with room for $room"
wait_until 10 grep -q "^greeted $started\$" "$T/hold.out" ||
	fail "the $started connections accepted were not all served"

# A good client now waits in the listen queue, unserved.
"$PEERS/vtclient" --connect "127.0.0.1:$DAEMON_PORT" --timeout 60 "${GOOD[@]}" \
	--echo-check 1000 >"$T/waiting.out" 2>&1 &
waiting=$!
PIDS+=("$waiting")

# Paused, not spinning: over a few seconds the daemon uses next to no CPU
# (the sleep is the measuring window, not a wait for an event).
t0=$(cpu_ticks "$DAEMON_PID")
sleep "$WINDOW"
t1=$(cpu_ticks "$DAEMON_PID")
hz=$(getconf CLK_TCK)
log "CPU time while out of descriptors: $((t1 - t0)) ticks of $((WINDOW * hz))"
[ $((t1 - t0)) -le $((WINDOW * hz / 10)) ] ||
	fail "the daemon used $((t1 - t0)) ticks in $WINDOW s while out of descriptors: spinning"
grep -q 'server-version' "$T/waiting.out" && fail "a client was served with no descriptor to spare"
[ "$(grep -c ': connection from ' "$DAEMON_LOG")" -eq "$started" ] ||
	fail "sessions were started with no descriptor to spare"
# One warning, and no claim to have resumed while nothing is free.
[ "$(grep -c 'accept on service test paused' "$DAEMON_LOG")" -eq 1 ] ||
	fail "accept paused $(grep -c 'accept on service test paused' "$DAEMON_LOG") times, not once"
grep -q 'accepting resumed' "$DAEMON_LOG" && fail "accepting resumed with no descriptor free"

# The held connections go: the waiting client is served.
kill "$hold"
wait "$hold" 2>/dev/null
wait "$waiting" || fail "the waiting client was not served once descriptors were free"
grep -q '^echo ok 1000$' "$T/waiting.out" || fail "the waiting client was not relayed"
expect_log 'notice: accepting resumed \([0-9]+ sessions\)'
expect_no_sessions
good_client_works

stop_daemon
log "PASS"
