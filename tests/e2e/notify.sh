#!/usr/bin/env bash
# sd_notify: with NOTIFY_SOCKET set, the daemon tells the service manager
# READY=1 (with a STATUS=) once it serves, RELOADING=1 then READY=1 around
# each SIGHUP reload (a failed one too), and STOPPING=1 on SIGTERM.  A
# small AF_UNIX datagram listener stands in for systemd.  The daemon must
# be built with libsystemd (configure --with-systemd): without it nothing
# arrives and this test fails.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

NOTIFY="$T/notify.sock"
MSGS="$T/notify.msgs"
: >"$MSGS"
python3 -u - "$NOTIFY" "$MSGS" >"$T/notify-listener.log" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as out:
    while True:
        msg = s.recv(4096).decode()
        # One datagram may carry several assignments, one per line.
        for field in msg.split("\n"):
            if field:
                out.write(field + "\n")
        out.flush()
PY
PIDS+=($!)
wait_until 10 test -S "$NOTIFY" || fail "the notify listener did not start"

make_certs
start_backend backend --mode echo
write_config "$T/vencryptd.conf" "backend = \"$BACKEND_ADDR\";"
NOTIFY_SOCKET="$NOTIFY" start_daemon "$T/vencryptd.conf"

# expect_states LIST: the messages so far are exactly LIST (STATUS= lines
# left out), within 20 s.
states() { grep -v '^STATUS=' "$MSGS" | tr '\n' ' ' | sed 's/ $//'; }
states_are() { [ "$(states)" = "$WANT" ]; }
expect_states() {
	WANT=$1
	wait_until 20 states_are ||
		fail "notifications \"$(states)\", expected \"$1\" (is vencryptd built with libsystemd?)"
}
expect_states "READY=1"
grep -q '^STATUS=serving 1 service(s)$' "$MSGS" || fail "no STATUS= with READY=1"
good_client_works
log "ok: READY=1 with a status once serving"

kill -HUP "$DAEMON_PID"
expect_log 'reload succeeded'
expect_states "READY=1 RELOADING=1 READY=1"
log "ok: RELOADING=1, then READY=1 after a reload"

# A reload that fails still ends with READY=1: the old configuration serves.
echo 'oops' >>"$T/vencryptd.conf"
kill -HUP "$DAEMON_PID"
expect_log 'reload failed'
expect_states "READY=1 RELOADING=1 READY=1 RELOADING=1 READY=1"
good_client_works
log "ok: RELOADING=1, then READY=1 after a failed reload"

stop_daemon
expect_states "READY=1 RELOADING=1 READY=1 RELOADING=1 READY=1 STOPPING=1"
log "ok: STOPPING=1 on SIGTERM"
log "PASS"
