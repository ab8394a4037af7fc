#!/usr/bin/env bash
# The client goes away: reset after every byte offset of the handshake
# (RFB preamble, TLS flight, X509Plain credentials), killed in the middle
# of a relay while idle, and while bytes flow.  Each time the daemon logs
# the client's end in the state it was in, closes every session, never
# contacts the backend for a client that did not finish, and serves the
# next good client.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

make_certs
printf 'pw-of-alice\n' | "$VENCRYPTD" --hash-password alice >"$T/passwd" ||
	fail "--hash-password failed"
GOOD=(--ca "$PKI/ca-cert.pem" --cert "$(client_cert good)" --key "$(client_key good)")
start_backend backend --mode echo
# X509None first: good_client_works takes the first subtype offered.
write_config "$T/vencryptd.conf" "backend = \"$BACKEND_ADDR\";
    subtypes = [ \"X509None\", \"X509Plain\" ]; passwd_file = \"$T/passwd\";"
start_daemon "$T/vencryptd.conf"
PEER='peer 127\.0\.0\.1:[0-9]+, service test'

# ---- a reset after every offset of the handshake ------------------------------
# One client process: for N = 0, 1, 2, ... it connects, runs the whole
# handshake with a client certificate and X509Plain, and resets the
# connection after exactly N bytes, until the next N would send the
# credentials whole.  Some thousand connections, each a TLS handshake:
# a few seconds for the daemon as built, 20 s under valgrind on an idle
# machine, over 100 s when valgrind's daemon shares the CPUs with other
# work.  So the loop has 600 s, and each connection 20 s of its own
# (vtclient), which a stalled daemon overruns.
"$PEERS/vtclient" --connect "127.0.0.1:$DAEMON_PORT" --timeout 600 "${GOOD[@]}" \
	--subtype 262 --user alice --password pw-of-alice --reset-each-offset \
	>"$T/resets.out" 2>&1 || fail "the reset loop failed"
line=$(grep '^reset-loop ok ' "$T/resets.out") || fail "the reset loop did not finish"
log "$line"
loop_offsets=$(field "$line" offsets)
loop_connections=$(field "$line" connections)
loop_preamble=$(field "$line" preamble)
loop_tls=$(field "$line" tls)
loop_credentials=$(field "$line" credentials)
[ "$loop_preamble" -eq 19 ] || fail "the clear-text preamble was $loop_preamble bytes, not 12+1+2+4"
# The loop stops at the first N at which the last connection's credentials
# fit whole; the TLS flight differs by a byte or two between connections
# (the length of an ECDSA signature varies).
whole=$((loop_preamble + loop_tls + loop_credentials))
{ [ "$loop_offsets" -ge "$whole" ] && [ "$loop_offsets" -le $((whole + 8)) ]; } ||
	fail "$loop_offsets offsets do not cover preamble, TLS and credentials ($whole bytes)"
{ [ "$loop_tls" -gt 500 ] && [ "$loop_credentials" -gt 22 ]; } ||
	fail "implausible TLS ($loop_tls) or credentials ($loop_credentials) sizes"

# Every connection ends, each logged as the client's end in its state.
expect_no_sessions 30
[ "$(grep -c ': connection from ' "$DAEMON_LOG")" -eq "$loop_connections" ] ||
	fail "the daemon saw $(grep -c ': connection from ' "$DAEMON_LOG") connections, not $loop_connections"
ended=$(grep -Ec ": closed: client (error|closed) during [a-zA-Z ]+(: Connection reset by peer)?; $PEER" "$DAEMON_LOG")
[ "$ended" -eq "$loop_connections" ] ||
	fail "$ended of $loop_connections sessions were logged as the client's reset"
for state in version "security type" "VeNCrypt version" "VeNCrypt subtype" \
	"TLS handshake" credentials; do
	n=$(grep -c ": closed: client error during $state: Connection reset by peer" "$DAEMON_LOG")
	[ "$n" -gt 0 ] || fail "no reset seen during $state"
	log "resets during $state: $n"
done
grep -q ': refused: ' "$DAEMON_LOG" && fail "a client's reset was logged as a refusal"
[ "$(backend_contacts "$BACKEND_LOG")" -eq 0 ] || fail "the backend was contacted for an unfinished handshake"
grep -q ': authorised: ' "$DAEMON_LOG" && fail "a client was authorised without its credentials"
good_client_works
log "ok: reset at every offset"

# ---- gone in the middle of a relay ------------------------------------------------

# relay_then_kill NAME CLIENT-ARGS...: a client relays until its output
# matches VANISH_WHEN, and is killed; every session ends.
relay_then_kill() {
	local name=$1
	shift
	fresh_log
	"$PEERS/vtclient" --connect "127.0.0.1:$DAEMON_PORT" --timeout 60 "${GOOD[@]}" \
		"$@" >"$T/$name.out" 2>&1 &
	local pid=$!
	PIDS+=("$pid")
	wait_until 30 grep -q "$VANISH_WHEN" "$T/$name.out" || fail "$name: the client did not get going"
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	expect_no_sessions
}

# Idle inside the relay: killed, its socket closes in order.
VANISH_WHEN='^paused$'
relay_then_kill idle --echo-check 100000 --resume-file "$T/never"
# ClientInit and the echoed bytes one way, ServerInit, name and echo the other.
expect_log "closed: client closed; $PEER, .*client->backend 100001 bytes, backend->client 100034 bytes"
good_client_works
log "ok: killed while idle"

# Bytes flowing both ways: killed with data unread, its socket resets.
VANISH_WHEN='^security-result ok$'
relay_then_kill busy --send 4000000000 --expect 0
expect_log "closed: client (closed|error: Connection reset by peer); $PEER"
good_client_works
log "ok: killed while sending ($(grep -o 'closed: client [^;]*' "$DAEMON_LOG" | head -n 1))"

stop_daemon
log "PASS"
