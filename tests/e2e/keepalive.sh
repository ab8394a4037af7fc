#!/usr/bin/env bash
# keepalive: the daemon's end of an accepted client connection and of its
# backend connection carry the TCP keepalive timer with the configured
# idle time (ss -o shows it); idle = 0 sets none; a Unix socket backend is
# not given TCP options at all.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

make_certs
start_backend backend --mode echo
TCP_BACKEND=$BACKEND_ADDR
GOOD=(--ca "$PKI/ca-cert.pem" --cert "$(client_cert good)" --key "$(client_key good)")

# relayed NAME: a session held open in the background, once it relays.
relayed() {
	local name=$1
	: >"$T/$name.out"
	"$PEERS/vtclient" --connect "127.0.0.1:$DAEMON_PORT" --timeout 90 "${GOOD[@]}" \
		--echo-check 100 --hold 60 >"$T/$name.out" 2>&1 &
	HELD=$!
	PIDS+=($HELD)
	wait_until 30 grep -q '^echo ok 100$' "$T/$name.out" || fail "$name was not relayed"
}

# timers FILTER: the timer column of the established sockets ss finds.
timers() {
	ss -tno state established "$1" | awk 'NR > 1 { print ($5 == "" ? "none" : $5) }'
}

# keepalive_due FILTER SECONDS: the one socket FILTER finds has its
# keepalive timer, due in at most SECONDS (ss writes "6.984ms" or
# "6.984sec" for 6.984 s, depending on its version; never minutes).
keepalive_due() {
	local t
	t=$(timers "$1")
	[ "$(printf '%s\n' "$t" | grep -c .)" -eq 1 ] || return 1
	printf '%s\n' "$t" | awk -v max="$2" '
		match($0, /^timer:\(keepalive,[0-9.]+(ms|sec),/) {
			split(substr($0, 18), f, /[a-z,]/)
			exit !(f[1] > 0 && f[1] <= max)
		}
		{ exit 1 }'
}

# keepalive_within WHAT FILTER SECONDS: keepalive_due, polled (a socket
# still waiting for an acknowledgement shows its retransmission timer).
keepalive_within() {
	wait_until 10 keepalive_due "$2" "$3" ||
		fail "$1: no keepalive due within $3 s: $(timers "$2")"
	log "ok: $1: $(timers "$2")"
}

# ---- keepalive = { idle = 7; ... }: both sides ------------------------------------
write_config "$T/on.conf" "backend = \"$TCP_BACKEND\";" \
	'keepalive = { idle = 7; interval = 3; count = 2; };'
start_daemon "$T/on.conf"
relayed on
keepalive_within client "( sport = :$DAEMON_PORT )" 7
keepalive_within backend "( dport = :${TCP_BACKEND##*:} )" 7
kill "$HELD"
expect_no_sessions
stop_daemon

# ---- idle = 0: none ---------------------------------------------------------------
: >"$DAEMON_LOG"
write_config "$T/off.conf" "backend = \"$TCP_BACKEND\";" 'keepalive = { idle = 0; };'
start_daemon "$T/off.conf"
relayed off
t=$(timers "( sport = :$DAEMON_PORT or dport = :${TCP_BACKEND##*:} )")
[ "$(printf '%s\n' "$t" | grep -c .)" -eq 2 ] || fail "idle = 0: not two sockets: $t"
printf '%s\n' "$t" | grep -q keepalive && fail "idle = 0: a keepalive timer: $t"
log "ok: idle = 0 sets none"
kill "$HELD"
expect_no_sessions
stop_daemon

# ---- a Unix socket backend: no TCP options tried on it ------------------------------
: >"$DAEMON_LOG"
start_backend unix-backend --mode echo --listen "unix:$T/backend.sock"
write_config "$T/unix.conf" "backend = \"unix:$T/backend.sock\";" \
	'keepalive = { idle = 7; interval = 3; count = 2; };'
start_daemon "$T/unix.conf"
relayed unix
keepalive_within "client of a unix backend" "( sport = :$DAEMON_PORT )" 7
grep -q 'cannot set TCP keepalive' "$DAEMON_LOG" && fail "keepalive was tried on a unix socket"
kill "$HELD"
expect_no_sessions
stop_daemon
log "PASS"
