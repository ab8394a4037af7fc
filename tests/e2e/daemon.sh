#!/usr/bin/env bash
# Daemon mode and pid_file: without -F, "vencryptd -c CONF" returns 0 only
# once the detached daemon serves, and the pid file then names it; a good
# client gets through; a second start on the same pid_file is refused
# naming that PID; SIGTERM stops the daemon and removes the pid file.  A
# start-up that fails in the detached process (an unknown user, a pid file
# that cannot be written, with the log going to stderr or to syslog)
# makes the command itself fail, with the reason on its stderr.  In the
# foreground the pid file names the process too.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

make_certs
start_backend backend --mode echo
PIDFILE="$T/vencryptd.pid"
write_config "$T/vencryptd.conf" "backend = \"$BACKEND_ADDR\";" \
	"pid_file = \"$PIDFILE\";"
DAEMON_LOG="$T/daemon.log"

# daemon_start NAME CONF: vencryptd without -F; its exit status in START_RC,
# its stdout and stderr (and so the daemon's log) in $T/NAME.log.
daemon_start() {
	START_RC=0
	vencryptd -c "$2" --ports-file "$T/$1.ports" >>"$T/$1.log" 2>&1 ||
		START_RC=$?
}

daemon_start daemon "$T/vencryptd.conf"
[ "$START_RC" -eq 0 ] || fail "vencryptd exited $START_RC when starting as a daemon"
# The command returned once the daemon served: the files are there now.
[ -s "$PIDFILE" ] || fail "no pid file when the start command returned"
[ -s "$T/daemon.ports" ] || fail "no ports file when the start command returned"
PID=$(cat "$PIDFILE")
[[ "$PID" =~ ^[0-9]+$ ]] || fail "the pid file holds \"$PID\", not a PID"
PIDS+=("$PID")
kill -0 "$PID" 2>/dev/null || fail "the pid file names $PID, which is not running"
tr '\0' ' ' <"/proc/$PID/cmdline" | grep -q 'vencryptd' ||
	fail "PID $PID is not vencryptd: $(tr '\0' ' ' <"/proc/$PID/cmdline")"
# Detached: its own session, not the test's.
[ "$(ps -o sid= -p "$PID" | tr -d ' ')" = "$PID" ] ||
	fail "the daemon does not lead a session of its own"
[ "$(readlink "/proc/$PID/cwd")" = / ] || fail "the daemon did not chdir to /"
grep -Eq 'started: 1 service' "$DAEMON_LOG" || fail "no start line in the log"
log "ok: detached daemon $PID serves, pid file written"

DAEMON_PORT=$(awk 'NR==1 {print $2}' "$T/daemon.ports" | sed 's/.*://')
good_client_works
log "ok: a good client gets through the detached daemon"

# A second daemon on the same pid_file: refused, naming the first.
daemon_start second "$T/vencryptd.conf"
[ "$START_RC" -ne 0 ] || fail "a second daemon on the same pid_file started"
grep -q "pid file $PIDFILE names PID $PID, a running vencryptd" "$T/second.log" ||
	fail "the second start did not name the running daemon"
[ "$(cat "$PIDFILE")" = "$PID" ] || fail "the refused start changed the pid file"
log "ok: a second start is refused naming PID $PID"

kill -TERM "$PID"
wait_until 60 eval '! kill -0 "$PID" 2>/dev/null' || fail "the daemon did not stop on SIGTERM"
[ ! -e "$PIDFILE" ] || fail "the pid file is left after SIGTERM"
grep -q 'notice: stopped' "$DAEMON_LOG" || fail "the daemon did not stop cleanly"
log "ok: SIGTERM stops the daemon and removes the pid file"

# A stale pid file (a PID that is not a vencryptd) is replaced.
echo 1 >"$PIDFILE"
daemon_start stale "$T/vencryptd.conf"
[ "$START_RC" -eq 0 ] || fail "a stale pid file stopped the start: $(cat "$T/stale.log")"
PID=$(cat "$PIDFILE")
PIDS+=("$PID")
[ "$PID" != 1 ] || fail "the stale pid file was not replaced"
kill -TERM "$PID"
wait_until 60 eval '! kill -0 "$PID" 2>/dev/null' || fail "the daemon did not stop on SIGTERM"
log "ok: a stale pid file is replaced"

# Failures after the fork: the command fails with the daemon's status and
# its reason on stderr.  An unknown user (the configuration is read by the
# detached process):
write_config "$T/nouser.conf" "backend = \"$BACKEND_ADDR\";" \
	'user = "no-such-user-vencryptd";'
daemon_start nouser "$T/nouser.conf"
[ "$START_RC" -eq 1 ] || fail "an unknown user: the start exited $START_RC, not 1"
grep -Eq "nouser.conf:[0-9]+: unknown user \"no-such-user-vencryptd\"" "$T/nouser.log" ||
	fail "an unknown user: no file:line error on stderr"
# A pid file in a directory that does not exist: found only when the
# daemon, bound and ready, writes it.  Logging to syslog, the error still
# reaches stderr.
for target in stderr syslog; do
	write_config "$T/nodir-$target.conf" "backend = \"$BACKEND_ADDR\";" \
		"pid_file = \"$T/no-such-dir/vencryptd.pid\";"
	sed -i "s/target = \"stderr\"/target = \"$target\"/" "$T/nodir-$target.conf"
	daemon_start "nodir-$target" "$T/nodir-$target.conf"
	[ "$START_RC" -eq 1 ] ||
		fail "an unwritable pid file ($target): the start exited $START_RC, not 1"
	grep -q "cannot write pid file $T/no-such-dir/vencryptd.pid: No such file or directory" \
		"$T/nodir-$target.log" || fail "an unwritable pid file ($target): no reason on stderr"
	[ -s "$T/nodir-$target.ports" ] ||
		fail "an unwritable pid file ($target): the daemon never bound its listeners"
	log "ok: a failure after binding ($target log) fails the start command"
done

# In the foreground, the pid file names the process that serves.
start_daemon "$T/vencryptd.conf"
wait_until 20 test -s "$PIDFILE" || fail "no pid file in the foreground"
[ "$(cat "$PIDFILE")" = "$DAEMON_PID" ] ||
	fail "the pid file names $(cat "$PIDFILE"), not the foreground daemon $DAEMON_PID"
good_client_works
stop_daemon
[ ! -e "$PIDFILE" ] || fail "the pid file is left after the foreground daemon stopped"
log "ok: foreground daemon writes and removes the pid file"
log "PASS"
