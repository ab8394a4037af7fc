#!/usr/bin/env bash
# limits.stall_timeout: a side that takes none of the bytes queued for it
# for that long ends its session, with a line naming the side and the
# bytes queued; an idle session is left alone.  With 50 clients that never
# read while their backends stream, the daemon's memory stays within the
# bound the manual states per stalled session, every session ends at the
# limit, and a good client is served afterwards.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

STALL=3         # stall_timeout, seconds
CLIENTS=50
# The bound man/vencryptd.conf.5 states for one session, in KiB (two
# 67 KiB queues, 67 KiB read ahead from the client, a TLS record, the TLS
# state); a client that stops reading fills only one of those.
BOUND_KIB=232

make_certs
GOOD=(--ca "$PKI/ca-cert.pem" --cert "$(client_cert good)" --key "$(client_key good)")
backend_mode echo
# stream: endless bytes to the client; deaf: reads nothing once in the relay.
start_backend backend --mode-file "$BACKEND_MODE" --send 1000000000000 --send-seed 7
write_config "$T/vencryptd.conf" "backend = \"$BACKEND_ADDR\";"
# Generous handshake bounds: 50 clients start at once on a busy machine.
sed -i "s/handshake_timeout = 5; backend_timeout = 2;/handshake_timeout = 30; backend_timeout = 20; stall_timeout = $STALL;/" \
	"$T/vencryptd.conf"
grep -q "stall_timeout = $STALL;" "$T/vencryptd.conf" || fail "stall_timeout not set"
# Under ASan, keep its own bookkeeping out of the measure: freed memory
# set aside (the quarantine) and the stack recorded with every allocation.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:malloc_context_size=0"
start_daemon "$T/vencryptd.conf"
PEER='peer 127\.0\.0\.1:[0-9]+, service test'

# at_least A B: A >= B, for decimal numbers.
at_least() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

# ---- idle is not stalled -------------------------------------------------------
# Nothing queued for anyone: a session idle for longer than the limit lives.
vt idle "${GOOD[@]}" --echo-check 1000 --hold $((STALL + 2))
[ "$VT_RC" -eq 0 ] || fail "an idle session was ended"
expect_out idle '^hold ok$'
expect_no_sessions
log "ok: idle for $((STALL + 2)) s"

# ---- a client that never reads -------------------------------------------------
backend_mode stream
fresh_log
vt stalled "${GOOD[@]}" --stall --timeout 30
[ "$VT_RC" -eq 0 ] || fail "the stalled client was not let go"
after=$(sed -n 's/^stall ended by the server after=//p' "$T/stalled.out")
at_least "$after" "$STALL" || fail "the stalled client was let go after $after s, before $STALL s"
at_least $((STALL + 10)) "$after" || fail "the stalled client was let go only after $after s"
expect_log "closed: client stalled: took none of [1-9][0-9]* queued bytes in $STALL s; $PEER"
expect_no_sessions
wait_until 10 grep -q '^stream SHORT' "$BACKEND_LOG" || fail "the backend connection did not end"
backend_mode echo
good_client_works
log "ok: a client stalled, let go after $after s"

# ---- a backend that never reads ------------------------------------------------
backend_mode deaf
fresh_log
vt deaf "${GOOD[@]}" --send 1000000000000 --expect 0 --timeout 30
[ "$VT_RC" -eq 1 ] || fail "the client sending to a stalled backend exited $VT_RC"
expect_out deaf '^stream SHORT sent=[0-9]+$'
expect_log "closed: backend stalled: took none of [1-9][0-9]* queued bytes in $STALL s; $PEER"
expect_no_sessions
backend_mode echo
good_client_works
log "ok: a backend stalled"

# ---- many stalled clients: memory ----------------------------------------------
backend_mode stream
fresh_log
base=$(vm_kib "$DAEMON_PID" VmRSS)
stalled=()
for i in $(seq "$CLIENTS"); do
	"$PEERS/vtclient" --connect "127.0.0.1:$DAEMON_PORT" --timeout 60 "${GOOD[@]}" \
		--stall >"$T/many$i.out" 2>&1 &
	PIDS+=($!)
	stalled+=($!)
done
for pid in "${stalled[@]}"; do
	wait "$pid" || fail "a stalled client was not let go (exit $?)"
done
peak=$(vm_kib "$DAEMON_PID" VmHWM)
[ "$(grep -l '^stall ended by the server after=' "$T"/many*.out | wc -l)" -eq "$CLIENTS" ] ||
	fail "not every stalled client was let go by the server"
expect_no_sessions
n=$(grep -Ec "closed: client stalled: took none of [1-9][0-9]* queued bytes in $STALL s; $PEER" "$DAEMON_LOG")
[ "$n" -eq "$CLIENTS" ] || fail "$n of $CLIENTS sessions ended as stalled"
per=$(((peak - base) / CLIENTS))
log "resident: $base KiB before, $peak KiB at most with $CLIENTS stalled sessions: $per KiB each (bound $BOUND_KIB KiB)"
[ "$per" -le "$BOUND_KIB" ] || fail "$per KiB per stalled session, over the bound of $BOUND_KIB KiB"
backend_mode echo
good_client_works

stop_daemon
log "PASS"
