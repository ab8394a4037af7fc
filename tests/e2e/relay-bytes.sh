#!/usr/bin/env bash
# Several megabytes of random bytes each way, through vencryptd to the
# in-tree backend, arrive unchanged and in order; several sessions at once;
# the summary line counts the bytes; SIGTERM ends the daemon with status 0.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

make_certs
MB=$((1024 * 1024))
UP=$((6 * MB + 12345))      # client -> backend
DOWN=$((8 * MB + 777))      # backend -> client

start_backend backend --mode stream --send $DOWN --send-seed 7 \
	--expect $UP --expect-seed 11
write_config "$T/vencryptd.conf" "backend = \"$BACKEND_ADDR\";"
start_daemon "$T/vencryptd.conf"

vt bulk --ca "$PKI/ca-cert.pem" --cert "$(client_cert good)" --key "$(client_key good)" \
	--send $UP --send-seed 11 --expect $DOWN --expect-seed 7
[ "$VT_RC" -eq 0 ] || fail "bulk transfer failed (exit $VT_RC)"
expect_out bulk "^stream ok sent=$UP received=$DOWN\$"
# No TLS 1.3 session tickets: TigerVNC 1.12 hangs on them.
expect_out bulk "^session-ticket none$"
wait_until 10 grep -q "^stream ok sent=$DOWN received=$UP\$" "$BACKEND_LOG" ||
	fail "the backend did not receive the client's bytes intact"
expect_log "authorised: peer 127\.0\.0\.1:[0-9]+, service test, dn \"CN=good,O=Example,C=GB\", subtype X509None"
expect_log "closed: (backend|client) closed; .*client->backend $UP bytes, backend->client $DOWN bytes"

# Four sessions at once, each with its own byte streams.
pids=()
for i in 1 2 3 4; do
	"$PEERS/vtclient" --connect "127.0.0.1:$DAEMON_PORT" --timeout 30 \
		--ca "$PKI/ca-cert.pem" --cert "$(client_cert good)" --key "$(client_key good)" \
		--send $UP --send-seed 11 --expect $DOWN --expect-seed 7 \
		>"$T/par$i.out" 2>&1 &
	pids+=($!)
done
for i in 1 2 3 4; do
	wait "${pids[$((i - 1))]}" || fail "parallel session $i failed"
	expect_out "par$i" "^stream ok sent=$UP received=$DOWN\$"
done
five_intact() { [ "$(grep -c "^stream ok sent=$DOWN received=$UP\$" "$BACKEND_LOG")" -eq 5 ]; }
wait_until 10 five_intact || fail "the backend did not see five intact sessions"

# SIGHUP with the configuration unchanged reloads it and changes nothing.
kill -HUP "$DAEMON_PID"
expect_log "reload succeeded: 1 service"
vt after-hup --ca "$PKI/ca-cert.pem" --cert "$(client_cert good)" --key "$(client_key good)" \
	--send $UP --send-seed 11 --expect $DOWN --expect-seed 7
kill -0 "$DAEMON_PID" || fail "SIGHUP ended the daemon"
expect_out after-hup "^stream ok sent=$UP received=$DOWN\$"

stop_daemon
expect_log "stopped"
log "PASS"
