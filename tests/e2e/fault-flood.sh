#!/usr/bin/env bash
# A flood of 2,000 half-open connections (nothing sent, half a version,
# half the VeNCrypt version, the first bytes of a TLS record): good clients
# are served meanwhile, the handshake deadline reaps every one of them,
# and the same again with a SIGHUP reload in the middle of the flood.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

FLOOD=2000
DEADLINE=12     # handshake_timeout, seconds

# The daemon needs a descriptor per connection.
ulimit -Sn 4096 2>/dev/null || fail "cannot raise the descriptor limit to 4096 (hard limit $(ulimit -Hn))"

make_certs
start_backend backend --mode echo
write_config "$T/vencryptd.conf" "backend = \"$BACKEND_ADDR\";"
sed -i "s/max_clients = 64; handshake_timeout = 5;/max_clients = 3000; handshake_timeout = $DEADLINE;/" \
	"$T/vencryptd.conf"
grep -q "max_clients = 3000; handshake_timeout = $DEADLINE;" "$T/vencryptd.conf" || fail "limits not set"
start_daemon "$T/vencryptd.conf"

# flood NAME: FLOOD connections, each greeted by the daemon and then
# left half-open; output in $T/NAME.out, PID in FLOOD_PID.
flood() {
	"$PEERS/flood" --connect "127.0.0.1:$DAEMON_PORT" --count "$FLOOD" --greeting mixed \
		--timeout $((DEADLINE * 4)) >"$T/$1.out" 2>&1 &
	FLOOD_PID=$!
	PIDS+=("$FLOOD_PID")
	wait_until 60 grep -q "^greeted $FLOOD\$" "$T/$1.out" ||
		fail "$1: the daemon did not greet all $FLOOD connections"
	log "$1: $FLOOD connections open and greeted"
}

# served_during NAME: good clients get through while the flood is open.
served_during() {
	for i in 1 2 3; do
		good_client_works
	done
	grep -q '^closed ' "$T/$1.out" &&
		fail "$1: the flood was reaped before the good clients were done: no proof they were served during it"
	log "$1: good clients served during the flood"
}

# reaped NAME: the deadline closed every flood connection, at the deadline.
reaped() {
	wait "$FLOOD_PID" || fail "$1: not every flood connection was closed by the daemon"
	local line
	line=$(grep '^done ' "$T/$1.out") || fail "$1: no summary"
	log "$1: $line"
	local closed first last
	closed=$(field "$line" closed)
	first=$(field "$line" first)
	last=$(field "$line" last)
	[ "$closed" -eq "$FLOOD" ] || fail "$1: $closed of $FLOOD closed"
	awk -v a="$first" -v d="$DEADLINE" 'BEGIN { exit !(a >= d - 1) }' ||
		fail "$1: a connection was closed after $first s, before the $DEADLINE s deadline"
	awk -v a="$last" -v d="$DEADLINE" 'BEGIN { exit !(a <= d + 20) }' ||
		fail "$1: a connection was closed only after $last s"
	expect_no_sessions 30
	local n state
	n=$(grep -c ': refused: handshake timeout in state ' "$DAEMON_LOG")
	[ "$n" -eq "$FLOOD" ] || fail "$1: $n handshake timeouts logged, not $FLOOD"
	# By turns: nothing or half a version, half the VeNCrypt version,
	# the start of a TLS record.
	for state in "version:$((FLOOD / 2))" "VeNCrypt version:$((FLOOD / 4))" \
		"TLS handshake:$((FLOOD / 4))"; do
		n=$(grep -c ": refused: handshake timeout in state ${state%:*}; " "$DAEMON_LOG")
		[ "$n" -eq "${state#*:}" ] || fail "$1: $n timeouts in state ${state%:*}, not ${state#*:}"
	done
}

# ---- a flood ----------------------------------------------------------------------
fresh_log
flood flood
served_during flood
reaped flood
good_client_works
log "ok: flood reaped"

# ---- a reload during a flood --------------------------------------------------------
# Sessions keep the configuration they started with: the flood is reaped
# at the old deadline, new clients get the new configuration.
fresh_log
flood reload
sed -i "s/handshake_timeout = $DEADLINE;/handshake_timeout = $((DEADLINE + 30));/" "$T/vencryptd.conf"
kill -HUP "$DAEMON_PID"
expect_log "reload succeeded: 1 service\(s\), [0-9]+ session\(s\) continue"
n=$(sed -n 's/.*reload succeeded: 1 service(s), \([0-9]*\) session(s) continue.*/\1/p' "$DAEMON_LOG")
[ "$n" -ge "$FLOOD" ] || fail "the reload counted $n sessions, with $FLOOD flood connections open"
served_during reload
reaped reload
good_client_works
log "ok: reload during a flood"

stop_daemon
log "PASS"
