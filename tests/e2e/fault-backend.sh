#!/usr/bin/env bash
# The backend fails at every step: it refuses the connection, accepts and
# then closes or stalls before its version, after it, after the security
# types, after the SecurityResult and in the middle of the ServerInit,
# resets in the middle of a relay, or sends a ServerInit claiming a 2 GiB
# name.  Each time the client sees the outcome, the daemon logs what the
# backend did, no session is left behind, and the next good client is
# served by the same daemon.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

make_certs
GOOD=(--ca "$PKI/ca-cert.pem" --cert "$(client_cert good)" --key "$(client_key good)")
backend_mode echo
start_backend backend --mode-file "$BACKEND_MODE" --reset-after 65536
backend_pid=${PIDS[-1]}
write_config "$T/vencryptd.conf" "backend = \"$BACKEND_ADDR\";"
start_daemon "$T/vencryptd.conf"
BE=${BACKEND_ADDR//./\\.}
good_client_works

# fault MODE CLIENT-REGEX LOG-REGEX [VTCLIENT-ARGS...]: the backend does
# MODE to the next connection; the client's output and the daemon's log
# match, every session ends, and a good client is served next.
fault() {
	local mode=$1 said=$2 logged=$3
	shift 3
	fresh_log
	backend_mode "$mode"
	vt "$mode" "${GOOD[@]}" --echo-check 1000 "$@"
	[ "$VT_RC" -eq 1 ] || fail "$mode: the client exited $VT_RC, not 1"
	expect_out "$mode" "$said"
	expect_log "$logged"
	grep -q "^mode [0-9]* $mode\$" "$BACKEND_LOG" || fail "$mode: the backend did not use the mode"
	expect_no_sessions
	backend_mode echo
	good_client_works
	expect_no_sessions
	log "ok: $mode"
}

UNAVAILABLE='^security-result failed: backend unavailable$'
PEER='peer 127\.0\.0\.1:[0-9]+, service test'

# Closed at each step of the negotiation.
fault close-before-version "$UNAVAILABLE" \
	"refused: backend $BE closed the connection during the version; $PEER"
fault close-after-version "$UNAVAILABLE" \
	"refused: backend $BE closed the connection during security negotiation; $PEER"
fault close-after-types "$UNAVAILABLE" \
	"refused: backend $BE closed the connection during the security result; $PEER"
# After the SecurityResult the relay runs: the client is in, and sees the
# close where the ServerInit should be (whole, or after its first 12 bytes).
fault close-after-result '^closed-by-server$' \
	"closed: backend closed; $PEER, .*backend->client 0 bytes"
expect_out close-after-result '^security-result ok$'
fault close-in-server-init '^closed-by-server$' \
	"closed: backend closed; $PEER, .*backend->client 12 bytes"
expect_out close-in-server-init '^security-result ok$'

# Stalled at each step: backend_timeout (2 s) ends the negotiation.
fault silent "$UNAVAILABLE" \
	"refused: backend $BE: no answer within 2 s \(backend version\); $PEER"
fault stall-after-version "$UNAVAILABLE" \
	"refused: backend $BE: no answer within 2 s \(backend security\); $PEER"
fault stall-after-types "$UNAVAILABLE" \
	"refused: backend $BE: no answer within 2 s \(backend security result\); $PEER"
# Once relaying, a quiet backend is an idle session (the daemon does not
# parse the ServerInit): the client gives up (its own 3 s), and its close
# ends the backend connection too.
fault stall-after-result '^timeout$' \
	"closed: client closed; $PEER, .*backend->client 0 bytes" --timeout 3
expect_out stall-after-result '^security-result ok$'
fault stall-in-server-init '^timeout$' \
	"closed: client closed; $PEER, .*backend->client 12 bytes" --timeout 3
expect_out stall-in-server-init '^security-result ok$'
[ "$(grep -c '^closed ' "$BACKEND_LOG")" -eq "$(backend_contacts "$BACKEND_LOG")" ] ||
	fail "a backend connection was left open"

# A reset in the middle of a relay: the client gets what was relayed,
# then the end.
fault reset-in-relay '^echo SHORT received=[0-9]+$' \
	"closed: backend error: (Connection reset by peer|Broken pipe); $PEER" \
	--echo-check 1000000
grep -q '^reset [0-9]* after [0-9]*$' "$BACKEND_LOG" || fail "the backend did not reset"

# A ServerInit claiming a 2 GiB name reaches the client as it was sent.
fault huge-name '^server-init 64x48 name-length=2147483647$' \
	"closed: client (closed|error: Connection reset by peer); $PEER"

# Refused: nothing listens on the backend's address, then it is back.
kill "$backend_pid"
wait "$backend_pid" 2>/dev/null || true
fresh_log
vt down "${GOOD[@]}" --echo-check 1000
expect_out down "$UNAVAILABLE"
expect_log "refused: backend $BE refused the connection: Connection refused; $PEER"
expect_no_sessions
start_backend backend-again --listen "$BACKEND_ADDR" --mode echo
good_client_works
log "ok: down"

stop_daemon
log "PASS"
