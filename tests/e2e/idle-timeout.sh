#!/usr/bin/env bash
# limits.idle_timeout: a relayed session in which no byte moves either way
# for that long is closed, with the reason in its summary line; one that
# moves a byte every 0.5 s for longer lives on; a session still in its
# handshake is bound by handshake_timeout alone.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

make_certs
start_backend backend --mode echo
write_config "$T/vencryptd.conf" "backend = \"$BACKEND_ADDR\";"
sed -i 's/^limits = { /limits = { idle_timeout = 2; /' "$T/vencryptd.conf"
start_daemon "$T/vencryptd.conf"
GOOD=(--ca "$PKI/ca-cert.pem" --cert "$(client_cert good)" --key "$(client_key good)")

# seconds LINE: the duration at the end of a summary line.
seconds() { printf '%s\n' "$1" | sed -n 's/.*, \([0-9.]*\) s$/\1/p'; }
# between X LO HI: LO <= X <= HI.
between() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x >= lo && x <= hi) }'; }

# A client that stays silent in the handshake, alongside the rest.
"$PEERS/vtclient" --connect "127.0.0.1:$DAEMON_PORT" --silent --timeout 30 \
	>"$T/silent.out" 2>&1 &
silent=$!
PIDS+=($silent)

# Relayed, then nothing either way: closed after 2 s of it.
vt idle "${GOOD[@]}" --echo-check 1000 --hold 30
[ "$VT_RC" -eq 1 ] || fail "the idle session was not closed (exit $VT_RC)"
expect_out idle '^echo ok 1000$'
expect_out idle '^closed-by-server during hold'
expect_log ': closed: idle for 2 s; peer 127\.0\.0\.1:'
line=$(grep ': closed: idle for 2 s; ' "$DAEMON_LOG")
# from the start of the session: the handshake, the echo, then 2 s idle
between "$(seconds "$line")" 2.0 12 || fail "closed after $(seconds "$line") s: $line"
log "ok: idle session closed"

# A byte each way every 0.5 s for 5 s: never idle for 2 s.
vt busy "${GOOD[@]}" --echo-check 1000 --hold 5 --tick 0.5
[ "$VT_RC" -eq 0 ] || fail "the busy session was cut (exit $VT_RC)"
expect_out busy '^hold ok ticks=(8|9|10)$'
ticks=$(sed -n 's/^hold ok ticks=//p' "$T/busy.out")
# ClientInit, the echo check, the ticks
expect_log ": closed: client closed; peer .*, client->backend $((1 + 1000 + ticks)) bytes, "
log "ok: busy session lives on"

# The silent client was ended by the handshake timeout (5 s), not the
# idle one.
wait "$silent" || fail "the silent client timed out"
expect_out silent '^closed-by-server after='
expect_log ': closed: handshake timeout in state version; '
line=$(grep ': closed: handshake timeout in state version; ' "$DAEMON_LOG")
between "$(seconds "$line")" 5.0 20 || fail "handshake ended after $(seconds "$line") s: $line"
[ "$(grep -c ': closed: idle for' "$DAEMON_LOG")" -eq 1 ] ||
	fail "another session was closed as idle"

stop_daemon
log "PASS"
