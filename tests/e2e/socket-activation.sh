#!/usr/bin/env bash
# Socket activation: systemd-socket-activate binds 127.0.0.1:PORT and, at
# the first connection, runs "vencryptd -F" whose configuration listens on
# that address.  The daemon adopts the inherited socket (log line, and ss
# shows the daemon holding it), serves that first client and later ones,
# binds a configured address that has no inherited socket itself, keeps
# the inherited socket across a reload that still names it, and closes it
# when a reload drops it.  An inherited socket that no listen entry names
# makes vencryptd exit non-zero, naming both addresses.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

command -v systemd-socket-activate >/dev/null ||
	fail "systemd-socket-activate is not installed (package systemd)"
command -v ss >/dev/null || fail "ss is not installed (package iproute2)"

make_certs
start_backend backend --mode echo

# systemd-socket-activate passes on only the variables it is told to.
PASS_ENV=()
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
	[ -z "${!v:-}" ] || PASS_ENV+=(-E "$v")
done

# activate NAME: systemd-socket-activate on a free port of 127.0.0.1
# (it cannot listen on port 0: a port is picked, and picked again if
# taken meanwhile), to run vencryptd -F -c $T/NAME.conf at the first
# connection.  Sets SA_PID and SA_PORT; the configuration may be written
# after it returns.
activate() {
	local name=$1 attempt
	for attempt in 1 2 3 4 5; do
		SA_PORT=$(free_port)
		# shellcheck disable=SC2086
		systemd-socket-activate "${PASS_ENV[@]}" -l "127.0.0.1:$SA_PORT" \
			$VENCRYPTD_WRAPPER "$VENCRYPTD" -F -c "$T/$name.conf" \
			--ports-file "$T/$name.ports" >"$T/$name.log" 2>&1 &
		SA_PID=$!
		PIDS+=($SA_PID)
		if wait_until 10 grep -q "Listening on 127.0.0.1:$SA_PORT" "$T/$name.log"; then
			return 0
		fi
		kill "$SA_PID" 2>/dev/null
		wait "$SA_PID" 2>/dev/null
	done
	fail "systemd-socket-activate did not listen: $(cat "$T/$name.log")"
}

# conf NAME LISTEN: $T/NAME.conf, its service listening on LISTEN (a
# list of quoted addresses).
conf() {
	write_config "$T/$1.conf.new" "backend = \"$BACKEND_ADDR\";"
	sed -i "s|listen = \\[ \"127.0.0.1:0\" \\];|listen = [ $2 ];|" "$T/$1.conf.new"
	mv "$T/$1.conf.new" "$T/$1.conf"
}

activate active
PORT=$SA_PORT
conf active "\"127.0.0.1:$PORT\", \"127.0.0.1:0\""
DAEMON_LOG="$T/active.log"
DAEMON_PID=$SA_PID
DAEMON_PORT=$PORT
# The first connection starts the daemon, which then serves it.
"$PEERS/vtclient" --connect "127.0.0.1:$PORT" --timeout 90 --ca "$PKI/ca-cert.pem" \
	--cert "$(client_cert good)" --key "$(client_key good)" --echo-check 1000 \
	>"$T/first.out" 2>&1 || fail "the first client, which starts the daemon, failed"
expect_out first '^echo ok 1000'
expect_log "service test: adopted inherited listener 127.0.0.1:$PORT \\(descriptor 3\\)"
expect_log "service test: no inherited socket for 127.0.0.1:0: binding it"
log "ok: the inherited socket is adopted and serves the client that started the daemon"

# ss: the listening socket on PORT belongs to the daemon (the PID
# systemd-socket-activate became), and the second listener is there too.
held_by_daemon() { ss -Hltnp "sport = :$PORT" | grep -q "pid=$SA_PID,"; }
wait_until 10 held_by_daemon || fail "ss does not show the daemon on port $PORT: $(ss -Hltnp "sport = :$PORT")"
[ "$(wc -l <"$T/active.ports")" -eq 2 ] || fail "expected two listeners: $(cat "$T/active.ports")"
OTHER=$(awk 'NR==2 {print $2}' "$T/active.ports")
[ "${OTHER##*:}" != 0 ] && [ "${OTHER##*:}" != "$PORT" ] || fail "the bound listener is $OTHER"
good_client_works
log "ok: ss shows the daemon holding port $PORT; later clients get in"

# A reload that keeps the address keeps the socket.
sed -i 's/level = "debug"/level = "info"/' "$T/active.conf"
kill -HUP "$SA_PID"
expect_log 'reload succeeded'
held_by_daemon || fail "the inherited socket is gone after a reload that kept it"
good_client_works
# A reload without it closes it.
conf active '"127.0.0.1:0"'
kill -HUP "$SA_PID"
wait_until 10 eval '[ "$(grep -c "reload succeeded" "$DAEMON_LOG")" -ge 2 ]' ||
	fail "the second reload did not succeed"
expect_log "no longer listening on 127.0.0.1:$PORT: inherited listener closed"
wait_until 10 eval '! held_by_daemon' || fail "the dropped inherited socket is still open"
log "ok: kept across a reload naming it, closed by one that drops it"
stop_daemon

# An inherited socket the configuration does not name: exit non-zero,
# naming the inherited address and the configured one.
activate mismatch
WRONG=$(free_port)
[ "$WRONG" != "$SA_PORT" ] || WRONG=$((SA_PORT + 1))
conf mismatch "\"127.0.0.1:$WRONG\""
"$PEERS/vtclient" --connect "127.0.0.1:$SA_PORT" --timeout 90 --ca "$PKI/ca-cert.pem" \
	>"$T/mismatch-client.out" 2>&1 &
PIDS+=($!)
wait_until 90 eval '! kill -0 "$SA_PID" 2>/dev/null' || fail "vencryptd did not exit on a mismatched socket"
rc=0
wait "$SA_PID" || rc=$?
[ "$rc" -ne 0 ] || fail "vencryptd exited 0 with a socket it was not configured for"
grep -q "inherited listener 127.0.0.1:$SA_PORT (descriptor 3) matches no configured listen address (compared with: test 127.0.0.1:$WRONG)" \
	"$T/mismatch.log" || fail "the error does not name both addresses"
log "ok: a socket no listen entry names: exit $rc, naming both addresses"
log "PASS"
