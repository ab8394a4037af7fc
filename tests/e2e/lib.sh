# lib.sh - shared functions of the end-to-end tests (sourced, not run).
#
# Every test works in its own temporary directory, starts the real daemon
# and real peers on port 0 (they report what they bound in a file), waits
# with a bound on every wait, and stops what it started by PID.

set -u

: "${top_srcdir:?run through make check}"
: "${top_builddir:?run through make check}"

VENCRYPTD="$top_builddir/vencryptd"
PEERS="$top_builddir/tests"
CERTTOOL_SCRIPT="$top_srcdir/certs/vencryptd-certs"
# A wrapper for the daemon command, for example "valgrind --error-exitcode=99".
VENCRYPTD_WRAPPER="${VENCRYPTD_WRAPPER:-}"

# vencryptd ARGS...: the daemon command, through the wrapper when set.
vencryptd() {
	# shellcheck disable=SC2086
	$VENCRYPTD_WRAPPER "$VENCRYPTD" "$@"
}

T=$(mktemp -d "${TMPDIR:-/tmp}/vencryptd-e2e.XXXXXX")
PIDS=()
TEST_NAME=$(basename "$0" .sh)
FAILED=0

log() { printf '%s: %s\n' "$TEST_NAME" "$*"; }

cleanup() {
	local pid
	# A daemon still running is not held up by sessions left open.
	if [ -n "${DAEMON_PID:-}" ] && ! daemon_gone; then
		term_daemon || true
	fi
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ "$FAILED" -eq 0 ]; then
		rm -rf "$T"
	else
		log "work directory kept: $T"
	fi
}
trap cleanup EXIT

fail() {
	FAILED=1
	log "FAIL: $*"
	local f
	for f in "$T"/*.log "$T"/*.out; do
		[ -f "$f" ] || continue
		echo "---- $f (last 40 lines)"
		tail -n 40 "$f"
	done
	exit 1
}

# wait_until SECONDS command...: poll (10 ms steps) until the command
# succeeds; 1 when the bound passes first.
wait_until() {
	local limit=$1 i=0
	shift
	local steps=$((limit * 100))
	until "$@"; do
		i=$((i + 1))
		[ $i -lt $steps ] || return 1
		sleep 0.01
	done
}

# ---- certificates ------------------------------------------------------------

PKI="$T/pki"
OTHER="$T/other-pki"

certs() { "$CERTTOOL_SCRIPT" -d "$PKI" "$@" >>"$T/certs.log" 2>&1 || fail "vencryptd-certs $*"; }

# The CA, a server certificate for localhost and 127.0.0.1, a good client.
make_certs() {
	certs init-ca --cn "Test CA"
	certs server localhost --ip 127.0.0.1 --ip ::1
	certs client good --dn "CN=good,O=Example,C=GB"
}

# Client certificates of our CA that are refused: expired, early (not yet
# valid), revoked (in the CRL), servereku (a server's usage only) and
# stranger (a subject outside O=Example).
make_bad_certs() {
	certs client expired --dn "CN=expired,O=Example,C=GB" \
		--activation "2001-01-01 00:00:00 UTC" --expiration "2002-01-01 00:00:00 UTC"
	certs client early --dn "CN=early,O=Example,C=GB" \
		--activation "2090-01-01 00:00:00 UTC" --expiration "2091-01-01 00:00:00 UTC"
	certs client revoked --dn "CN=revoked,O=Example,C=GB"
	certs revoke revoked
	certs client servereku --dn "CN=servereku,O=Example,C=GB" --eku server
	certs client stranger --dn "CN=stranger,O=Elsewhere,C=GB"
}

# need_nss_wrapper: NSS_WRAPPER_LIB, the path of libnss_wrapper.so, which
# gives a program a passwd or group file of the test's own.
need_nss_wrapper() {
	NSS_WRAPPER_LIB=$(dpkg -L libnss-wrapper 2>/dev/null | grep 'libnss_wrapper\.so$' | head -n 1)
	[ -n "$NSS_WRAPPER_LIB" ] || fail "libnss-wrapper is not installed"
}

client_cert() { echo "$PKI/clients/$1/cert.pem"; }
client_key() { echo "$PKI/clients/$1/key.pem"; }

# ---- the in-tree backend ---------------------------------------------------

# start_backend NAME ARGS...: an rfbbackend listening on 127.0.0.1:0 (or
# the --listen given in ARGS); sets BACKEND_ADDR and BACKEND_LOG.
start_backend() {
	local name=$1
	shift
	local ports="$T/$name.port"
	BACKEND_LOG="$T/$name.events"
	: >"$BACKEND_LOG"
	local listen=(--listen 127.0.0.1:0)
	case " $* " in *" --listen "*) listen=() ;; esac
	"$PEERS/rfbbackend" "${listen[@]}" --ports-file "$ports" \
		--log "$BACKEND_LOG" "$@" >"$T/$name.log" 2>&1 &
	PIDS+=($!)
	wait_until 10 test -s "$ports" || fail "backend $name did not start"
	BACKEND_ADDR=$(head -n 1 "$ports")
}

backend_contacts() { grep -c '^connect' "$1" || true; }

# ---- the daemon --------------------------------------------------------------

# config_head: the log, tls and limits lines every test config starts with.
config_head() {
	cat <<CONF
log = { level = "debug"; target = "stderr"; };
tls = { cert_dir = "$PKI"; };
limits = { max_clients = 64; handshake_timeout = 5; backend_timeout = 2; };
CONF
}

# write_config FILE SERVICE-BODY [GLOBAL-EXTRA]: a config with one service
# "test" listening on 127.0.0.1:0.
write_config() {
	local file=$1 body=$2 extra=${3:-}
	cat >"$file" <<CONF
$(config_head)
$extra
services = (
  { name = "test";
    listen = [ "127.0.0.1:0" ];
    $body
  }
);
CONF
}

# start_daemon CONFIG: vencryptd in the foreground; sets DAEMON_PID,
# DAEMON_LOG and DAEMON_PORT (of the first listener).  VENCRYPTD_WORKERS,
# when set, is added to CONFIG as its workers key (unless it has one), to
# run the suite with that many worker threads instead of one per CPU.
start_daemon() {
	local conf=$1
	local ports="$T/daemon.ports"
	if [ -n "${VENCRYPTD_WORKERS:-}" ] && ! grep -q '^workers' "$conf"; then
		printf 'workers = %s;\n' "$VENCRYPTD_WORKERS" >>"$conf"
	fi
	DAEMON_LOG="$T/daemon.log"
	rm -f "$ports"
	# Not through the function: DAEMON_PID must be the daemon's (or
	# its wrapper's) own PID, not a subshell's.
	# shellcheck disable=SC2086
	$VENCRYPTD_WRAPPER "$VENCRYPTD" -F -c "$conf" --ports-file "$ports" \
		>>"$DAEMON_LOG" 2>&1 &
	DAEMON_PID=$!
	PIDS+=($DAEMON_PID)
	wait_until 20 test -s "$ports" || fail "vencryptd did not start"
	DAEMON_ADDR=$(awk 'NR==1 {print $2}' "$ports")
	DAEMON_PORT=${DAEMON_ADDR##*:}
}

# stopping_lines: how many times the daemon log says a SIGTERM or SIGINT
# was taken.
stopping_lines() {
	local n
	n=$(grep -c ' received: stopping' "$DAEMON_LOG" 2>/dev/null)
	echo "${n:-0}"
}
# daemon_gone: the daemon has exited (a zombie until waited for).
daemon_gone() {
	local st
	st=$(awk '{print $3}' "/proc/$DAEMON_PID/stat" 2>/dev/null) || return 0
	[ -z "$st" ] || [ "$st" = Z ]
}
# daemon_took_term N: it exited, or logged more than N stopping lines.
daemon_took_term() { daemon_gone || [ "$(stopping_lines)" -gt "$1" ]; }

# term_daemon: SIGTERM, and once the daemon has taken it a second one.
# The first only stops accepting and gives live sessions shutdown_grace
# (drain.sh tests that); the second ends the sessions a test left open at
# once.  1 when the first was not taken within 10 s.
term_daemon() {
	local before
	before=$(stopping_lines)
	kill -TERM "$DAEMON_PID" 2>/dev/null || return 0
	wait_until 10 daemon_took_term "$before" || return 1
	kill -TERM "$DAEMON_PID" 2>/dev/null || true
}

# stop_daemon [LIMIT]: SIGTERM (twice, see term_daemon), and it must exit
# 0 within LIMIT s (10 unless given).
stop_daemon() {
	term_daemon || fail "vencryptd did not take SIGTERM"
	wait_until "${1:-10}" daemon_gone || fail "vencryptd did not stop on SIGTERM"
	wait "$DAEMON_PID"
	local rc=$?
	[ $rc -eq 0 ] || fail "vencryptd exited $rc after SIGTERM"
}

# expect_log REGEX: the daemon log gets a matching line within 5 s.
expect_log() {
	wait_until 5 grep -Eq -- "$1" "$DAEMON_LOG" || fail "no log line matching: $1"
}

# check_bad NAME REGEX: --check-config on $T/NAME.conf exits 1 and prints
# a line matching REGEX.
check_bad() {
	local name=$1 want=$2 rc=0
	vencryptd -t -c "$T/$name.conf" >"$T/$name.out" 2>&1 || rc=$?
	[ $rc -eq 1 ] || fail "$name: --check-config exited $rc, not 1"
	grep -Eq -- "$want" "$T/$name.out" || fail "$name: no line matching: $want"
	grep -q 'configuration OK' "$T/$name.out" && fail "$name: said OK"
	log "ok: $name"
}

# ---- a real Xvnc -----------------------------------------------------------------

# A free TCP port on 127.0.0.1 (the kernel's pick).
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

free_display() {
	local n
	for n in $(seq 40 99); do
		if [ ! -e "/tmp/.X$n-lock" ] && [ ! -e "/tmp/.X11-unix/X$n" ]; then
			echo "$n"
			return 0
		fi
	done
	return 1
}

# start_xvnc: Xvnc with None security on 127.0.0.1:XPORT and the Unix
# socket SOCK, showing a patterned root window that does not change; sets
# XPORT, SOCK and DISPLAY_NUM.  Retries if a port or display was taken.
start_xvnc() {
	command -v Xvnc >/dev/null || fail "Xvnc is not installed (tigervnc-standalone-server)"
	command -v xsetroot >/dev/null || fail "xsetroot is not installed (x11-xserver-utils)"
	SOCK="$T/xvnc.sock"
	local attempt xpid
	for attempt in 1 2 3 4 5; do
		DISPLAY_NUM=$(free_display) || fail "no free X display"
		XPORT=$(free_port)
		Xvnc ":$DISPLAY_NUM" -SecurityTypes None -localhost -rfbport "$XPORT" \
			-rfbunixpath "$SOCK" -nolisten tcp -geometry 320x200 -depth 24 \
			-desktop e2e >"$T/xvnc.log" 2>&1 &
		xpid=$!
		PIDS+=($xpid)
		if wait_until 10 test -S "$SOCK" && kill -0 "$xpid" 2>/dev/null &&
			wait_until 5 grep -q "Listening for VNC connections on .*port $XPORT" "$T/xvnc.log"; then
			DISPLAY=":$DISPLAY_NUM" xsetroot -mod 7 5 -fg '#c04020' -bg '#2040c0' ||
				fail "xsetroot failed"
			return 0
		fi
		kill "$xpid" 2>/dev/null
		wait "$xpid" 2>/dev/null
		rm -f "$SOCK"
	done
	fail "Xvnc did not start"
}

# ---- clients -----------------------------------------------------------------

# vt NAME ARGS...: the raw VeNCrypt client against the daemon; output in
# $T/NAME.out, exit status in VT_RC.
vt() {
	local name=$1
	shift
	VT_RC=0
	"$PEERS/vtclient" --connect "127.0.0.1:$DAEMON_PORT" --timeout 15 "$@" \
		>"$T/$name.out" 2>&1 || VT_RC=$?
}

# expect_out NAME REGEX: client output NAME has a matching line.
expect_out() {
	grep -Eq -- "$2" "$T/$1.out" || fail "$1: expected output matching: $2"
}

# good_client_works: the good client gets through to the backend now.
good_client_works() {
	vt good-after --ca "$PKI/ca-cert.pem" --cert "$(client_cert good)" \
		--key "$(client_key good)" --echo-check 1000
	[ "$VT_RC" -eq 0 ] || fail "the good client was refused after a refusal"
	expect_out good-after '^security-result ok'
	expect_out good-after '^echo ok 1000'
}

# ---- faults ------------------------------------------------------------------

# A backend started with --mode-file "$BACKEND_MODE" takes the mode of each
# new connection from that file: backend_mode MODE sets it.
BACKEND_MODE="$T/backend.mode"
backend_mode() { printf '%s\n' "$1" >"$BACKEND_MODE"; }

# Sessions the daemon log shows started and not (yet) closed.
open_sessions() {
	echo $(($(grep -c ': connection from ' "$DAEMON_LOG") - $(grep -c ': closed: ' "$DAEMON_LOG")))
}
no_open_sessions() { [ "$(open_sessions)" -eq 0 ]; }
# expect_no_sessions [SECONDS]: every session started is closed within the bound.
expect_no_sessions() {
	wait_until "${1:-10}" no_open_sessions || fail "$(open_sessions) session(s) still open"
}

# cpu_ticks PID: the user and system CPU time PID has used, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# vm_kib PID FIELD: a /proc/PID/status memory figure (VmRSS, VmHWM) in KiB.
vm_kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
# fresh_log: once every session has ended, empty the daemon log, so what
# follows is checked on its own lines.
fresh_log() {
	expect_no_sessions
	: >"$DAEMON_LOG"
}
# field LINE NAME: the value of NAME=VALUE in a "key=value ..." line.
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
