#!/usr/bin/env bash
# workers = 2: two event-loop threads, each with its own listening socket
# on the same port.  Concurrent sessions are spread over both and relayed
# byte for byte; max_clients bounds the whole process exactly; failed
# logins count for the address whichever worker sees them; a reload adds
# and removes listeners on every worker; SIGTERM ends both threads and
# exits 0; workers outside 1..256, or not an integer, is refused.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

make_certs
start_backend backend --mode echo
GOOD=(--ca "$PKI/ca-cert.pem" --cert "$(client_cert good)" --key "$(client_key good)")

# worker_threads: the daemon's worker threads, by name.
worker_threads() { cat "/proc/$DAEMON_PID/task/"*/comm 2>/dev/null | grep -c '^vencryptd-w' || true; }
# sessions_on N: sessions the log shows accepted by worker N.
sessions_on() { grep -c ": connection from .*, worker $1\$" "$DAEMON_LOG" || true; }
# ok_count PREFIX N: how many of PREFIX1..PREFIXN.out say "echo ok".
ok_count() {
	local n=0 i
	for i in $(seq 1 "$2"); do
		grep -q '^echo ok ' "$T/$1$i.out" 2>/dev/null && n=$((n + 1))
	done
	echo "$n"
}
# is N COMMAND...: the output of COMMAND is N (for wait_until, which runs
# it anew each time).
is() { local want=$1; shift; [ "$("$@")" -eq "$want" ]; }
# max_open: the most sessions open at once by the log's order (a session is
# counted before its first line and until after its last).
max_open() {
	awk '/: connection from / {n++; if (n > m) m = n} / closed: / {n--} END {print m + 0}' "$DAEMON_LOG"
}

# ---- 40 concurrent sessions, spread over both workers -------------------------
write_config "$T/vencryptd.conf" "backend = \"$BACKEND_ADDR\";" 'workers = 2;'
sed -i 's/handshake_timeout = 5;/handshake_timeout = 60;/' "$T/vencryptd.conf"
start_daemon "$T/vencryptd.conf"
wait_until 10 is 2 worker_threads || fail "$(worker_threads) worker threads, not 2"
pids=()
for i in $(seq 1 40); do
	"$PEERS/vtclient" --connect "127.0.0.1:$DAEMON_PORT" --timeout 60 "${GOOD[@]}" \
		--echo-check $((20000 + i * 997)) >"$T/many$i.out" 2>&1 &
	pids+=($!)
	PIDS+=($!)
done
for i in $(seq 1 40); do
	wait "${pids[$((i - 1))]}" || fail "session $i failed: $(tail -n 1 "$T/many$i.out")"
	expect_out "many$i" "^echo ok $((20000 + i * 997))\$"
done
expect_no_sessions 20
w1=$(sessions_on 1)
w2=$(sessions_on 2)
log "40 sessions relayed: $w1 on worker 1, $w2 on worker 2"
[ $((w1 + w2)) -eq 40 ] || fail "the log shows $((w1 + w2)) sessions with a worker, not 40"
[ "$w1" -gt 0 ] && [ "$w2" -gt 0 ] || fail "the sessions were not spread over both workers"
[ "$(grep -c ': closed: client closed' "$DAEMON_LOG")" -eq 40 ] || fail "not every session ended cleanly"
ids=$(sed -n 's/.*: session \([0-9]*\): connection from .*/\1/p' "$DAEMON_LOG" | sort -n | uniq | wc -l)
[ "$ids" -eq 40 ] || fail "$ids distinct session ids for 40 sessions"

# ---- SIGTERM with sessions open on both workers ---------------------------------
for i in $(seq 1 8); do
	"$PEERS/vtclient" --connect "127.0.0.1:$DAEMON_PORT" --silent --timeout 30 \
		>"$T/idle$i.out" 2>&1 &
	PIDS+=($!)
done
wait_until 10 is 8 open_sessions || fail "$(open_sessions) idle sessions open, not 8"
stop_daemon
[ "$(grep -c ': closed: daemon stopping' "$DAEMON_LOG")" -eq 8 ] ||
	fail "the open sessions did not all end with \"daemon stopping\""
expect_log 'notice: stopped$'
log "ok: SIGTERM closed 8 sessions and exited 0"

# ---- max_clients = 3 holds across both workers -------------------------------
: >"$DAEMON_LOG"
write_config "$T/limit.conf" "backend = \"$BACKEND_ADDR\";" 'workers = 2;'
sed -i 's/max_clients = 64; handshake_timeout = 5;/max_clients = 3; handshake_timeout = 60;/' "$T/limit.conf"
grep -q 'max_clients = 3;' "$T/limit.conf" || fail "limit not set"
start_daemon "$T/limit.conf"
holders=()
for i in 1 2 3; do
	"$PEERS/vtclient" --connect "127.0.0.1:$DAEMON_PORT" --silent --timeout 50 \
		>"$T/holder$i.out" 2>&1 &
	holders+=($!)
	PIDS+=($!)
done
wait_until 10 is 3 open_sessions || fail "the three holders did not get in"
expect_log 'max_clients \(3\) reached: accepting paused'
# Eight more, spread by the kernel over both workers' sockets: none may be
# taken while the three stay.
waiting=()
for i in $(seq 1 8); do
	"$PEERS/vtclient" --connect "127.0.0.1:$DAEMON_PORT" --timeout 50 "${GOOD[@]}" \
		--echo-check 5000 >"$T/wait$i.out" 2>&1 &
	waiting+=($!)
	PIDS+=($!)
done
# backlog: connections waiting in the kernel on the listening sockets.
backlog() { ss -ltnH "( sport = :$DAEMON_PORT )" | awk '{n += $2} END {print n + 0}'; }
wait_until 10 is 8 backlog || fail "$(backlog) connections waiting, not 8"
grep -q 'accepting paused' "$DAEMON_LOG" || fail "no worker paused"
[ "$(grep -c ': connection from ' "$DAEMON_LOG")" -eq 3 ] ||
	fail "a session was accepted beyond max_clients = 3"
[ "$(ok_count wait 8)" -eq 0 ] || fail "a waiting client was served beyond max_clients"
log "ok: 3 sessions, 8 connections waiting ($(ss -ltnH "( sport = :$DAEMON_PORT )" | awk '{printf "%s ", $2}')in the two backlogs)"
# One holder leaves: the waiting ones are served, never more than 3 at once.
kill "${holders[0]}"
for i in $(seq 1 8); do
	wait "${waiting[$((i - 1))]}" || fail "waiting client $i failed: $(tail -n 1 "$T/wait$i.out")"
done
[ "$(ok_count wait 8)" -eq 8 ] || fail "not every waiting client was relayed"
expect_log 'accepting resumed'
[ "$(max_open)" -le 3 ] || fail "the log shows $(max_open) sessions open at once"
log "ok: max_clients = 3 held (at most $(max_open) open at once by the log)"
stop_daemon

# ---- failed logins count whichever worker takes them ------------------------------
: >"$DAEMON_LOG"
printf 'pw-of-alice\n' | vencryptd --hash-password alice >"$T/passwd" || fail "--hash-password"
write_config "$T/pw.conf" "backend = \"$BACKEND_ADDR\";
    subtypes = [ \"X509Plain\" ]; client_cert = \"none\"; passwd_file = \"$T/passwd\";" 'workers = 2;'
start_daemon "$T/pw.conf"
PW=(--ca "$PKI/ca-cert.pem" --subtype 262 --user alice)
# Five wrong passwords at once from 127.0.0.1 block the address...
for i in $(seq 1 5); do
	"$PEERS/vtclient" --connect "127.0.0.1:$DAEMON_PORT" --timeout 30 "${PW[@]}" \
		--password wrong --echo-check 10 >"$T/wrong$i.out" 2>&1 &
	PIDS+=($!)
done
expect_log 'too many failed logins from the address of peer 127\.0\.0\.1:[0-9]+: blocked for 2 s'
# ...for 2 s: the right password is refused on whichever worker it lands.
right=()
for i in $(seq 1 6); do
	"$PEERS/vtclient" --connect "127.0.0.1:$DAEMON_PORT" --timeout 30 "${PW[@]}" \
		--password pw-of-alice --echo-check 10 >"$T/right$i.out" 2>&1 &
	right+=($!)
	PIDS+=($!)
done
for i in $(seq 1 6); do
	wait "${right[$((i - 1))]}" && fail "right password $i let in while the address was blocked"
	expect_out "right$i" '^security-result failed: too many failed logins; try again later$'
done
for i in $(seq 1 5); do
	wait_until 10 grep -q '^security-result failed: authentication failed$' "$T/wrong$i.out" ||
		fail "wrong password $i: $(tail -n 1 "$T/wrong$i.out")"
done
log "ok: failed logins counted across workers ($(sessions_on 1) sessions on worker 1, $(sessions_on 2) on worker 2)"
stop_daemon

# ---- reload: a listener appears on both workers, another goes ---------------------
: >"$DAEMON_LOG"
conf() {
	cat >"$T/reload.conf.new" <<CONF
log = { level = "debug"; target = "stderr"; };
tls = { cert_dir = "$PKI"; };
workers = 2;
services = (
  { name = "kept"; listen = [ "127.0.0.1:0" ]; backend = "$BACKEND_ADDR"; },
  { name = "$1"; listen = [ "127.0.0.1:0" ]; backend = "$BACKEND_ADDR"; }
);
CONF
	mv "$T/reload.conf.new" "$T/reload.conf"
}
conf old
start_daemon "$T/reload.conf"
port_of() { awk -v s="$1" '$1 == s {print $2}' "$T/daemon.ports" | sed 's/.*://'; }
KEPT=$(port_of kept)
OLD=$(port_of old)
[ "$(ss -ltnH "( sport = :$OLD )" | wc -l)" -eq 2 ] || fail "service old has not two listening sockets"
conf new
kill -HUP "$DAEMON_PID"
expect_log 'reload succeeded: 2 service\(s\)'
[ "$(grep -c 'reload succeeded' "$DAEMON_LOG")" -eq 1 ] || fail "more than one reload line"
wait_until 5 grep -q '^new ' "$T/daemon.ports" || fail "the ports file does not list the new service"
NEW=$(port_of new)
[ "$(port_of kept)" = "$KEPT" ] || fail "the kept listener was reopened"
[ "$(ss -ltnH "( sport = :$NEW )" | wc -l)" -eq 2 ] || fail "service new has not two listening sockets"
[ "$(ss -ltnH "( sport = :$OLD )" | wc -l)" -eq 0 ] || fail "service old still has listening sockets"
expect_log "no longer listening on 127\\.0\\.0\\.1:$OLD"
pids=()
for i in $(seq 1 16); do
	"$PEERS/vtclient" --connect "127.0.0.1:$NEW" --timeout 30 "${GOOD[@]}" \
		--echo-check 1000 >"$T/new$i.out" 2>&1 &
	pids+=($!)
	PIDS+=($!)
done
for i in $(seq 1 16); do
	wait "${pids[$((i - 1))]}" || fail "new service session $i failed"
done
n1=$(grep -c "service new, worker 1\$" "$DAEMON_LOG" || true)
n2=$(grep -c "service new, worker 2\$" "$DAEMON_LOG" || true)
log "the new service served 16 sessions: $n1 on worker 1, $n2 on worker 2"
[ "$n1" -gt 0 ] && [ "$n2" -gt 0 ] || fail "the new service is not served by both workers"
for i in $(seq 1 10); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$OLD") 2>/dev/null; then
		fail "the removed service still accepts connections"
	fi
done
vt kept-after "${GOOD[@]}" --echo-check 1000
[ "$VT_RC" -eq 0 ] || fail "the kept service stopped serving"
# A changed workers value waits for a restart; the rest of the reload applies.
sed -i 's/^workers = 2;/workers = 3;/' "$T/reload.conf"
kill -HUP "$DAEMON_PID"
expect_log 'workers = 3 takes effect on restart: still 2 worker\(s\)'
reloads() { grep -c 'reload succeeded' "$DAEMON_LOG"; }
wait_until 5 is 2 reloads || fail "the reload with workers = 3 failed"
[ "$(worker_threads)" -eq 2 ] || fail "$(worker_threads) worker threads after the reload, not 2"
stop_daemon

# ---- workers out of range, or not an integer -------------------------------------
write_config "$T/zero.conf" 'backend = "127.0.0.1:5901";' 'workers = 0;'
check_bad zero "^$T/zero.conf:[0-9]+: \"workers\" must be between 1 and 256, not 0\$"
write_config "$T/many.conf" 'backend = "127.0.0.1:5901";' 'workers = 257;'
check_bad many "^$T/many.conf:[0-9]+: \"workers\" must be between 1 and 256, not 257\$"
write_config "$T/text.conf" 'backend = "127.0.0.1:5901";' 'workers = "two";'
check_bad text "^$T/text.conf:[0-9]+: \"workers\" must be an integer\$"
write_config "$T/one.conf" 'backend = "127.0.0.1:5901";' 'workers = 1;'
out=$(vencryptd -t -c "$T/one.conf" 2>&1) || fail "workers = 1 refused: $out"

log "PASS"
