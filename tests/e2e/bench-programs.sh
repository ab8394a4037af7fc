#!/usr/bin/env bash
# The benchmark's programs work end to end: bench/loadgen runs each of its
# tests through the real daemon (X509None, client certificates required)
# to bench/backend, and in plain mode straight to the backend.  Outcomes,
# never timings: handshakes complete without failure, every byte down and
# up arrives and matches the pattern, idle sessions all become ready and
# are closed, round trips are all counted and ordered.  The loadgen's own
# checks are tested too: a server that is not the backend fails it.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

BENCH="$top_builddir/bench"
SESSIONS=5                      # odd splits of the byte counts below
BYTES=3000017                   # not a multiple of the sessions nor the period
ROUND_TRIPS=200
IDLE=40

# bench_backend: bench/backend on 127.0.0.1:0; sets BENCH_ADDR.
bench_backend() {
	"$BENCH/backend" --listen 127.0.0.1:0 --port-file "$T/bench-backend.port" \
		>"$T/bench-backend.log" 2>&1 &
	BENCH_BACKEND_PID=$!
	PIDS+=($BENCH_BACKEND_PID)
	wait_until 10 test -s "$T/bench-backend.port" || fail "bench/backend did not start"
	BENCH_ADDR=$(cat "$T/bench-backend.port")
}

# lg_command MODE ADDR: the loadgen command line for MODE against ADDR
# (the CA and the good client's certificate unless plain), in LG.
lg_command() {
	LG=("$BENCH/loadgen" --connect "$2" --mode "$1" --timeout 20)
	[ "$1" = plain ] || LG+=(--ca "$PKI/ca-cert.pem" --cert "$(client_cert good)"
		--key "$(client_key good)")
}

# loadgen NAME MODE ADDR ARGS...: a loadgen run; its last result line in
# LG_OUT (all in $T/NAME.out), stderr in $T/NAME.err, exit status in LG_RC.
loadgen() {
	local name=$1
	lg_command "$2" "$3"
	shift 3
	LG_RC=0
	"${LG[@]}" "$@" </dev/null >"$T/$name.out" 2>"$T/$name.err" || LG_RC=$?
	LG_OUT=$(tail -n 1 "$T/$name.out")
}

# expect_ok NAME: the run exited 0 and reported no error.
expect_ok() {
	[ "$LG_RC" -eq 0 ] || fail "$1: loadgen exited $LG_RC: $(cat "$T/$1.err")"
	[ ! -s "$T/$1.err" ] || fail "$1: loadgen reported errors: $(cat "$T/$1.err")"
}

# le A B: A <= B, both decimal numbers.
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'; }

# every_test NAME-PREFIX MODE ADDR: loadgen's five tests against ADDR.
every_test() {
	local p=$1 mode=$2 addr=$3 v

	loadgen "$p-handshake" "$mode" "$addr" --test handshake --sessions 4 --seconds 1
	expect_ok "$p-handshake"
	v=$(field "$LG_OUT" handshakes)
	[ "${v:-0}" -gt 0 ] || fail "$p-handshake: no handshake completed: $LG_OUT"
	[ "$(field "$LG_OUT" failures)" = 0 ] || fail "$p-handshake: failures: $LG_OUT"

	for t in down up; do
		loadgen "$p-$t" "$mode" "$addr" --test $t --sessions $SESSIONS --bytes $BYTES
		expect_ok "$p-$t"
		[ "$(field "$LG_OUT" bytes)" = $BYTES ] ||
			fail "$p-$t: expected bytes=$BYTES: $LG_OUT"
		[ -n "$(field "$LG_OUT" gbps)" ] || fail "$p-$t: no gbps: $LG_OUT"
	done

	loadgen "$p-latency" "$mode" "$addr" --test latency --sessions 2 --count $ROUND_TRIPS
	expect_ok "$p-latency"
	[ "$(field "$LG_OUT" count)" = $((2 * ROUND_TRIPS)) ] ||
		fail "$p-latency: expected count=$((2 * ROUND_TRIPS)): $LG_OUT"
	local p50 p99 max
	p50=$(field "$LG_OUT" p50_us)
	p99=$(field "$LG_OUT" p99_us)
	max=$(field "$LG_OUT" max_us)
	[ -n "$p50" ] && [ -n "$p99" ] && [ -n "$max" ] || fail "$p-latency: $LG_OUT"
	le 0 "$p50" && le "$p50" "$p99" && le "$p99" "$max" ||
		fail "$p-latency: not 0 <= p50 <= p99 <= max: $LG_OUT"

	# idle: held until stdin ends; here a FIFO the test closes once it
	# has seen ready=N (and checked the server side if it can).
	local hold lg
	mkfifo "$T/$p-idle.in"
	lg_command "$mode" "$addr"
	"${LG[@]}" --test idle --sessions $IDLE --parallel 8 <"$T/$p-idle.in" \
		>"$T/$p-idle.out" 2>"$T/$p-idle.err" &
	lg=$!
	PIDS+=($lg)
	exec {hold}>"$T/$p-idle.in"
	wait_until 20 grep -q '^ready=' "$T/$p-idle.out" ||
		fail "$p-idle: no ready line: $(cat "$T/$p-idle.err")"
	grep -qx "ready=$IDLE" "$T/$p-idle.out" || fail "$p-idle: $(cat "$T/$p-idle.out")"
	if [ "$mode" = vencrypt ]; then
		held() { [ "$(open_sessions)" -eq $IDLE ]; }
		wait_until 10 held ||
			fail "$p-idle: the daemon holds $(open_sessions) sessions, not $IDLE"
	fi
	kill -0 $lg 2>/dev/null || fail "$p-idle: loadgen did not hold its sessions"
	exec {hold}>&-
	wait $lg || fail "$p-idle: loadgen exited $?: $(cat "$T/$p-idle.err")"
	grep -qx "closed=$IDLE" "$T/$p-idle.out" || fail "$p-idle: $(cat "$T/$p-idle.out")"
	[ ! -s "$T/$p-idle.err" ] || fail "$p-idle: $(cat "$T/$p-idle.err")"
}

make_certs
bench_backend
write_config "$T/vencryptd.conf" "backend = \"$BENCH_ADDR\";
    subtypes = [ \"X509None\" ]; client_cert = \"require\";"
start_daemon "$T/vencryptd.conf"

every_test plain plain "$BENCH_ADDR"
every_test vencrypt vencrypt "127.0.0.1:$DAEMON_PORT"
expect_no_sessions
grep -q 'client->backend' "$DAEMON_LOG" || fail "no session summary in the daemon log"

# The loadgen fails loudly when the server is wrong: vencrypt mode straight
# to the backend (it offers None, not VeNCrypt), plain mode to the daemon.
loadgen wrong-1 vencrypt "$BENCH_ADDR" --test latency --count 1
[ "$LG_RC" -eq 1 ] || fail "wrong-1: loadgen exited $LG_RC against a server without VeNCrypt"
grep -q '^session 0: security types: type 19 not offered' "$T/wrong-1.err" ||
	fail "wrong-1: $(cat "$T/wrong-1.err")"
loadgen wrong-2 plain "127.0.0.1:$DAEMON_PORT" --test handshake --sessions 1 --seconds 0.3
[ "$LG_RC" -eq 1 ] || fail "wrong-2: loadgen exited $LG_RC against the daemon in plain mode"
[ "$(field "$LG_OUT" handshakes)" = 0 ] || fail "wrong-2: $LG_OUT"
grep -q '^session 0: security types: type 1 not offered' "$T/wrong-2.err" ||
	fail "wrong-2: $(cat "$T/wrong-2.err")"

# A relay that changes one byte on the way down fails the down test (and
# passes the handshake, so it is the pattern check that catches it).
python3 - "$BENCH_ADDR" "$T/corrupt.port" >"$T/corrupt.log" 2>&1 <<'PY' &
import os, socket, sys, threading
host, port = sys.argv[1].rsplit(":", 1)
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(4)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write("127.0.0.1:%d\n" % ls.getsockname()[1])
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
ls.settimeout(30)
c, _ = ls.accept()
b = socket.create_connection((host, int(port)), timeout=30)
def pump(src, dst, flip_at):
    seen = 0
    while True:
        data = bytearray(src.recv(65536))
        if not data:
            break
        if seen <= flip_at < seen + len(data):
            data[flip_at - seen] ^= 0x20
        seen += len(data)
        dst.sendall(data)
    dst.shutdown(socket.SHUT_WR)
threading.Thread(target=pump, args=(c, b, -1), daemon=True).start()
pump(b, c, 1000000)
PY
PIDS+=($!)
wait_until 10 test -s "$T/corrupt.port" || fail "the corrupting relay did not start"
loadgen corrupt plain "$(cat "$T/corrupt.port")" --test down --bytes $BYTES
[ "$LG_RC" -eq 1 ] || fail "corrupt: loadgen exited $LG_RC though a byte was changed"
grep -q '^session 0: down data: bytes [0-9]*\.\.[0-9]* differ from the pattern' \
	"$T/corrupt.err" || fail "corrupt: $(cat "$T/corrupt.err")"

# The backend checks 'U' data: bytes that are not the pattern end the
# connection with a line on stderr (a plain client sends them by hand).
printf 'RFB 003.008\n\001\001U\000\000\000\000\000\000\000\004XXXX' |
	timeout 10 python3 -c '
import socket, sys
h, p = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((h, int(p)), timeout=10)
s.sendall(sys.stdin.buffer.read())
try:
    while s.recv(4096):
        pass
except ConnectionResetError:
    pass
' "$BENCH_ADDR" || fail "the backend did not close a connection that sent bad 'U' data"
wait_until 10 grep -q "'U' data differs from the pattern" "$T/bench-backend.log" ||
	fail "the backend did not report bad 'U' data"

stop_daemon
kill -TERM "$BENCH_BACKEND_PID"
wait "$BENCH_BACKEND_PID" || fail "bench/backend exited $? on SIGTERM"
log "PASS"
