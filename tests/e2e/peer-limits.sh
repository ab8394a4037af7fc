#!/usr/bin/env bash
# limits.max_clients_per_ip and limits.connect_rate_per_ip: a connection
# over either limit is closed before the greeting (not a byte of RFB, the
# backend never contacted) with one notice line naming the address and the
# limit; a place comes back when a session ends, and only then; another
# address is not affected; a flood of refused connections adds a bounded
# number of lines to the log.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

make_certs
start_backend backend --mode echo
GOOD=(--ca "$PKI/ca-cert.pem" --cert "$(client_cert good)" --key "$(client_key good)")

# limits_config FILE KEYS: the test config with KEYS added to its limits.
limits_config() {
	write_config "$1" "backend = \"$BACKEND_ADDR\";"
	sed -i "s/^limits = { /limits = { $2 /" "$1"
}

# holder NAME ARGS...: a relayed session from 127.0.0.1, kept open in the
# background; its PID in HOLDER.
holder() {
	local name=$1
	shift
	: >"$T/$name.out"
	"$PEERS/vtclient" --connect "127.0.0.1:$DAEMON_PORT" --timeout 90 "${GOOD[@]}" \
		--echo-check 100 --hold 80 "$@" >"$T/$name.out" 2>&1 &
	HOLDER=$!
	PIDS+=($HOLDER)
	wait_until 30 grep -q '^echo ok 100$' "$T/$name.out" || fail "$name was not relayed"
}

# refused NAME ARGS...: a client from 127.0.0.1 (unless ARGS --bind
# elsewhere) is closed before it is sent anything.
refused() {
	local name=$1
	shift
	vt "$name" "${GOOD[@]}" --echo-check 100 "$@"
	[ "$VT_RC" -eq 1 ] || fail "$name: exit $VT_RC, not 1 (refused)"
	grep -q 'server-version' "$T/$name.out" && fail "$name: was greeted"
	expect_out "$name" '^closed-by-server$'
}

# admitted NAME ARGS...: a client that gets through to the backend.
admitted() {
	local name=$1
	shift
	vt "$name" "${GOOD[@]}" --echo-check 100 "$@"
	[ "$VT_RC" -eq 0 ] || fail "$name: refused (exit $VT_RC)"
	expect_out "$name" '^echo ok 100$'
}

count() { grep -c -- "$1" "$DAEMON_LOG" || true; }

# ---- max_clients_per_ip = 2 ---------------------------------------------------
limits_config "$T/max.conf" "max_clients_per_ip = 2;"
start_daemon "$T/max.conf"

holder first
first=$HOLDER
holder second
contacts=$(backend_contacts "$BACKEND_LOG")
[ "$contacts" -eq 2 ] || fail "the backend saw $contacts connections, not 2"

refused third
expect_log ': client 127\.0\.0\.1: 2 sessions from this address \(max_clients_per_ip 2\): refused$'
# closed at once, the refusal counted nothing, and released nothing: a
# second try is refused the same way
wait_until 10 grep -Eq 'closed: 2 sessions from this address \(max_clients_per_ip 2\); peer 127\.0\.0\.1:[0-9]+, service test, dn "", subtype -, client->backend 0 bytes, backend->client 0 bytes, 0\.[0-9]+ s$' \
	"$DAEMON_LOG" || fail "the refused session was not closed at once"
refused fourth
[ "$(count 'max_clients_per_ip 2): refused')" -eq 1 ] ||
	fail "a refusal within 10 s of the last one was logged"
contacts=$(backend_contacts "$BACKEND_LOG")
[ "$contacts" -eq 2 ] || fail "the backend was contacted for a refused client ($contacts)"

# another address is not affected
admitted other --bind 127.0.0.2:0
grep -q 'peer 127\.0\.0\.2:' "$DAEMON_LOG" || fail "the other client did not come from 127.0.0.2"

# one ends: exactly one place comes back
closed_before=$(count ': closed: ')
kill "$first"
wait_until 10 sh -c "[ \$(grep -c ': closed: ' '$DAEMON_LOG') -gt $closed_before ]" ||
	fail "the first session did not end"
holder fifth
refused sixth
stop_daemon
log "ok: max_clients_per_ip"

# ---- connect_rate_per_ip = 2 --------------------------------------------------
# 2 a minute: a token comes back every 30 s, far longer than this part
# takes, so nothing comes back while it runs.
: >"$DAEMON_LOG"
contacts_before=$(backend_contacts "$BACKEND_LOG")
limits_config "$T/rate.conf" "connect_rate_per_ip = 2;"
start_daemon "$T/rate.conf"

admitted rate1
admitted rate2
refused rate3
expect_log ': client 127\.0\.0\.1: more than 2 new connections a minute from this address \(connect_rate_per_ip 2\): refused$'
first_line=$(date +%s)
admitted rate-other --bind 127.0.0.2:0

# A flood of refused connections: each is closed unserved, and the log
# gets no line for them (the next line is due 10 s after the last).
# (flood exits 1 when connections are closed before the version: here
# that is what is wanted, of every one of them.)
"$PEERS/flood" --connect "127.0.0.1:$DAEMON_PORT" --count 200 --greeting none \
	--timeout 60 >"$T/flood.out" 2>&1
grep -q '^done count=200 greeted=0 closed=200 ' "$T/flood.out" ||
	fail "flood: $(tail -n 1 "$T/flood.out")"
[ "$(grep -c '^closed-before-version ' "$T/flood.out")" -eq 200 ] ||
	fail "flood: not every connection was closed before the version"
wait_until 30 sh -c "[ \$(grep -c 'closed: more than 2 new connections' '$DAEMON_LOG') -ge 201 ]" ||
	fail "not every flood connection was refused"
[ "$(count 'connect_rate_per_ip 2): refused')" -eq 1 ] ||
	fail "the flood added refusal lines: $(count 'connect_rate_per_ip 2): refused')"

# 10 s on, the next refusal is logged, with the count of those left out.
wait_until 20 sh -c "[ \$(date +%s) -ge $((first_line + 11)) ]"
refused rate4
expect_log ': client 127\.0\.0\.1: more than 2 new connections a minute from this address \(connect_rate_per_ip 2\): refused, and 200 more since the last such line$'
contacts=$(($(backend_contacts "$BACKEND_LOG") - contacts_before))
[ "$contacts" -eq 3 ] || fail "the backend saw $contacts connections, not the 3 admitted"

stop_daemon
log "ok: connect_rate_per_ip"

# ---- behind a load balancer, the carried address is the one limited ---------
# Every connection comes from 127.0.0.1; the PROXY header says who the
# client is.  A LOCAL header (the balancer's own health check) is held to
# no limit.
: >"$DAEMON_LOG"
limits_config "$T/proxy.conf" "max_clients_per_ip = 1;"
sed -i 's|listen = \[ "127.0.0.1:0" \];|listen = ( { address = "127.0.0.1:0"; proxy_protocol = "v2"; trusted_proxies = [ "127.0.0.1/32" ]; } );|' \
	"$T/proxy.conf"
grep -q 'proxy_protocol = "v2"' "$T/proxy.conf" || fail "proxy.conf has no PROXY listener"
start_daemon "$T/proxy.conf"
holder carried1 --proxy-v2 198.51.100.7:40001
refused carried2 --proxy-v2 198.51.100.7:40002
expect_log ': client 198\.51\.100\.7: 1 session from this address \(max_clients_per_ip 1\): refused$'
admitted carried3 --proxy-v2 198.51.100.8:40003
holder local1 --proxy-v2-local
admitted local2 --proxy-v2-local
expect_log 'authorised: peer 127\.0\.0\.1:[0-9]+, service test'
grep -q 'client 127\.0\.0\.1: .*refused' "$DAEMON_LOG" && fail "the balancer's address was limited"
stop_daemon
log "ok: the carried address is the one limited"
log "PASS"
