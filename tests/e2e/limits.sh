#!/usr/bin/env bash
# limits.max_clients: at the limit accepting pauses (a further client waits
# in the backlog, unserved), and it resumes as soon as a session ends.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

make_certs
start_backend backend --mode echo
write_config "$T/vencryptd.conf" "backend = \"$BACKEND_ADDR\";"
sed -i 's/max_clients = 64; handshake_timeout = 5;/max_clients = 2; handshake_timeout = 30;/' \
	"$T/vencryptd.conf"
start_daemon "$T/vencryptd.conf"

# Two clients take both places and stay silent.
for i in 1 2; do
	"$PEERS/vtclient" --connect "127.0.0.1:$DAEMON_PORT" --silent --timeout 25 \
		>"$T/silent$i.out" 2>&1 &
	PIDS+=($!)
	eval "silent$i=\$!"
done
expect_log 'max_clients \(2\) reached: accepting paused'

# A third is not served while both are there...
"$PEERS/vtclient" --connect "127.0.0.1:$DAEMON_PORT" --timeout 20 \
	--ca "$PKI/ca-cert.pem" --cert "$(client_cert good)" --key "$(client_key good)" \
	--echo-check 100 >"$T/third.out" 2>&1 &
third=$!
PIDS+=($third)
wait_until 5 sh -c "ss -tn state established '( dport = :$DAEMON_PORT )' | grep -q 127.0.0.1" ||
	fail "the third client did not connect"
grep -q 'server-version' "$T/third.out" && fail "a third client was served beyond max_clients"
[ "$(grep -c 'connection from' "$DAEMON_LOG")" -eq 2 ] || fail "more than two sessions accepted"

# ...and is, as soon as one of them leaves.
kill "$silent1"
wait "$third" || fail "the third client failed once a place was free"
grep -q '^echo ok 100$' "$T/third.out" || fail "the third client was not relayed"
expect_log 'accepting resumed'

stop_daemon
log "PASS"
