#!/usr/bin/env bash
# The reference scale-out deployment of the README: a real HAProxy on
# loopback in mode tcp, sending PROXY protocol v2, in front of two vencryptd
# instances with connect health checks.  Sessions through HAProxy reach both
# instances and each logs the original client address (the client binds
# 127.0.0.2, HAProxy connects from 127.0.0.1); stopping one instance
# gracefully sends new sessions to the other while its live session keeps
# relaying to the end, and then it exits 0.  HAProxy's health checks
# (with send-proxy-v2 they send a LOCAL header) are neither logged as
# sessions nor counted as connections.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

command -v haproxy >/dev/null || fail "haproxy is not installed (./quickstart installs it)"
make_certs
start_backend backend --mode echo
GOOD=(--ca "$PKI/ca-cert.pem" --cert "$(client_cert good)" --key "$(client_key good)")

# instance NAME: a vencryptd behind the proxy, trusting PROXY v2 headers
# from 127.0.0.1 only; sets NAME_PID, NAME_PORT and NAME_LOG (as A_PID...).
instance() {
	local name=$1 conf="$T/$1.conf" ports="$T/$1.ports" pid
	cat >"$conf" <<CONF
log = { level = "info"; target = "stderr"; };
tls = { cert_dir = "$PKI"; };
limits = { max_clients = 64; handshake_timeout = 20; backend_timeout = 5;
           shutdown_grace = 30; };
services = (
  { name = "desktop";
    listen = ( { address = "127.0.0.1:0"; proxy_protocol = "v2";
                 trusted_proxies = [ "127.0.0.1/32" ]; } );
    backend = "$BACKEND_ADDR";
  }
);
CONF
	$VENCRYPTD_WRAPPER "$VENCRYPTD" -F -c "$conf" --ports-file "$ports" \
		>"$T/$name.log" 2>&1 &
	pid=$!
	PIDS+=($pid)
	wait_until 30 test -s "$ports" || fail "vencryptd $name did not start"
	printf -v "${name}_PID" '%s' "$pid"
	printf -v "${name}_PORT" '%s' "$(awk 'NR==1 {sub(/.*:/, "", $2); print $2}' "$ports")"
	printf -v "${name}_LOG" '%s' "$T/$name.log"
}

instance A
instance B

# HAProxy on a free port (another one if it was taken meanwhile).
start_haproxy() {
	local attempt
	for attempt in 1 2 3 4 5; do
		HPORT=$(free_port)
		cat >"$T/haproxy.cfg" <<CFG
global
  maxconn 256
defaults
  mode tcp
  timeout connect 5s
  timeout client 1m
  timeout server 1m
  retries 3
  option redispatch
frontend vnc
  bind 127.0.0.1:$HPORT
  default_backend vencryptd
backend vencryptd
  balance roundrobin
  default-server send-proxy-v2 check inter 200ms fall 1 rise 2
  server a 127.0.0.1:$A_PORT
  server b 127.0.0.1:$B_PORT
CFG
		haproxy -db -f "$T/haproxy.cfg" >"$T/haproxy.log" 2>&1 &
		HPID=$!
		PIDS+=($HPID)
		if wait_until 20 haproxy_listens && kill -0 "$HPID" 2>/dev/null; then
			return 0
		fi
		kill "$HPID" 2>/dev/null
		wait "$HPID" 2>/dev/null
	done
	fail "haproxy did not start: $(tail -n 5 "$T/haproxy.log")"
}
haproxy_listens() { ss -Htln "sport = :$HPORT" | grep -q .; }
start_haproxy

# through NAME ARGS...: vtclient from 127.0.0.2 through HAProxy.
through() {
	local name=$1
	shift
	VT_RC=0
	"$PEERS/vtclient" --connect "127.0.0.1:$HPORT" --bind 127.0.0.2:0 --timeout 30 \
		"${GOOD[@]}" "$@" >"$T/$name.out" 2>&1 || VT_RC=$?
}
# sessions_in LOG: sessions an instance authorised for the client's address
# (the one HAProxy's PROXY header carries).
sessions_in() { grep -c 'authorised: peer 127\.0\.0\.2:' "$1" || true; }
is() { local want=$1; shift; [ "$("$@")" -eq "$want" ]; }

# ---- sessions through HAProxy reach both instances -----------------------------
for i in 1 2 3 4 5 6; do
	through "s$i" --echo-check $((5000 + i))
	[ "$VT_RC" -eq 0 ] || fail "session $i through haproxy failed: $(tail -n 2 "$T/s$i.out")"
	expect_out "s$i" "^echo ok $((5000 + i))\$"
done
a=$(sessions_in "$A_LOG")
b=$(sessions_in "$B_LOG")
log "6 sessions through haproxy: $a on A, $b on B"
[ $((a + b)) -eq 6 ] || fail "the instances logged $((a + b)) sessions from 127.0.0.2, not 6"
[ "$a" -gt 0 ] && [ "$b" -gt 0 ] || fail "haproxy did not spread the sessions"
# The address the instances saw on the wire is HAProxy's; they log the
# client's from the header.
for x in A B; do
	xlog="$T/$x.log"
	grep -Eq 'PROXY header from 127\.0\.0\.1:[0-9]+: client 127\.0\.0\.2:[0-9]+' "$xlog" ||
		fail "$x logged no PROXY header carrying the client's address"
	grep -q 'authorised: peer 127\.0\.0\.1:' "$xlog" &&
		fail "$x took HAProxy's address for the client's"
done

# ---- a graceful stop of A ------------------------------------------------------
# A live session on A: it relays, pauses while A is told to stop, and
# relays again.
: >"$A_LOG.mark"
before=$(sessions_in "$A_LOG")
for attempt in $(seq 1 10); do
	through live --echo-check 3000 --hold 4 --tick 0.25 &
	LIVE=$!
	PIDS+=($LIVE)
	wait_until 30 grep -q '^echo ok 3000' "$T/live.out" || fail "the live session did not start"
	[ "$(sessions_in "$A_LOG")" -gt "$before" ] && break
	# It went to B: let it finish and try again.
	wait "$LIVE" || fail "a session on B failed"
	before=$(sessions_in "$A_LOG")
	LIVE=
done
[ -n "$LIVE" ] || fail "no session reached A in 10 tries"
kill -TERM "$A_PID"
wait_until 10 grep -q 'SIGTERM received: stopping' "$A_LOG" || fail "A did not log that it is stopping"
# Its listener is closed: HAProxy's next health check marks it down.
wait_until 20 grep -q 'Server vencryptd/a is DOWN' "$T/haproxy.log" ||
	fail "haproxy did not see A go down: $(tail -n 5 "$T/haproxy.log")"
# HAProxy sees A down (its listener is closed) and sends everything to B.
b0=$(sessions_in "$B_LOG")
a0=$(sessions_in "$A_LOG")
for i in 1 2 3 4; do
	through "n$i" --echo-check 700
	[ "$VT_RC" -eq 0 ] || fail "new session $i during A's drain failed: $(tail -n 2 "$T/n$i.out")"
done
[ "$(sessions_in "$A_LOG")" -eq "$a0" ] || fail "A took a new session while stopping"
[ "$(sessions_in "$B_LOG")" -eq $((b0 + 4)) ] || fail "B did not take the 4 new sessions"
# The live session on A relays to its end, and A then exits 0.
wait "$LIVE" || fail "the live session on A failed during the drain: $(tail -n 3 "$T/live.out")"
# Every tick of the hold went through A, most of them after the signal
# (the client also sent its 1-byte ClientInit and the 3000 echoed bytes).
ticks=$(sed -n 's/^hold ok ticks=\([0-9]*\)$/\1/p' "$T/live.out")
[ -n "$ticks" ] && [ "$ticks" -ge 8 ] || fail "the live session sent ${ticks:-no} ticks: $(cat "$T/live.out")"
wait_until 10 grep -q "closed: .*peer 127\.0\.0\.2:.*client->backend $((3001 + ticks)) bytes" "$A_LOG" ||
	fail "A did not relay the live session's $((3001 + ticks)) bytes to its end"
wait_until 20 eval '! kill -0 "$A_PID" 2>/dev/null' || fail "A did not exit once its session ended"
wait "$A_PID"
rc=$?
[ $rc -eq 0 ] || fail "A exited $rc"
grep -q 'daemon stopping' "$A_LOG" && fail "A cut a session short"
log "ok: A stopped gracefully; its live session finished, new ones went to B"

# HAProxy's health checks (a LOCAL header, then a close) are neither
# sessions in the log nor connections in B's counters.
grep -q 'Server vencryptd/b is DOWN' "$T/haproxy.log" && fail "haproxy saw B go down"
grep -Eq 'info: session [0-9]+: closed: .*; peer 127\.0\.0\.1:' "$B_LOG" &&
	fail "B logged a health check as a session"
nb=$(sessions_in "$B_LOG")
kill -USR1 "$B_PID"
wait_until 10 grep -q 'status: service desktop: ' "$B_LOG" || fail "B gave no status report"
grep -q "status: service desktop: .*accepted $nb, authorised $nb, refused 0," "$B_LOG" ||
	fail "B's report does not count exactly its $nb sessions: $(grep 'status: service' "$B_LOG")"
log "ok: B counted its $nb sessions and none of HAProxy's health checks"
