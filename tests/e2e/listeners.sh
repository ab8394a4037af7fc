#!/usr/bin/env bash
# Listeners: IPv4 and IPv6 side by side, "*:0" as two sockets on one port
# (and as one, with a warning, on a host without IPv6), a unix: listener with its mode, owner and group (a stale socket file
# replaced, a regular file or a live listener at the path refused, the
# file removed at exit), a reload that changes a listener's PROXY settings
# and a socket's mode, and the configuration errors, each with file:line.
# Needs root (chown to nobody:nogroup); CI runs as root.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

[ "$(id -u)" -eq 0 ] || fail "needs root: the unix: listener is chowned to nobody:nogroup"

make_certs
start_backend backend --mode echo
SOCK="$T/vnc.sock"
CA=(--ca "$PKI/ca-cert.pem")
GOOD=(--cert "$(client_cert good)" --key "$(client_key good)")

# conf FILE MODE PROXY-KEYS: two services and a unix: listener
conf() {
	cat >"$1" <<CONF
$(config_head)
workers = 2;
services = (
  { name = "both"; backend = "$BACKEND_ADDR";
    listen = [ "[::1]:0", "127.0.0.1:0" ]; $3 },
  { name = "all"; backend = "$BACKEND_ADDR"; listen = [ "*:0" ]; },
  { name = "sock"; backend = "$BACKEND_ADDR";
    listen = ( { address = "unix:$SOCK"; mode = "$2";
                 owner = "nobody"; group = "nogroup"; } ); }
);
CONF
}
# refused_start NAME CONF: the daemon exits (within 20 s) without serving;
# its status in RC.
gone() { ! kill -0 "$1" 2>/dev/null; }
refused_start() {
	vencryptd -F -c "$2" >"$T/$1.out" 2>&1 &
	local pid=$!
	PIDS+=($pid)
	wait_until 20 gone "$pid" || fail "$1: the daemon started"
	RC=0
	wait "$pid" || RC=$?
}
addr_of() { awk -v s="$1" '$1 == s {print $2}' "$T/daemon.ports" | sed -n "${2}p"; }
port() { addr_of "$1" "$2" | sed 's/.*://'; }
client() { # client NAME ADDR ARGS...
	local name=$1 addr=$2
	shift 2
	VT_RC=0
	"$PEERS/vtclient" --connect "$addr" --timeout 15 "${CA[@]}" "${GOOD[@]}" \
		--echo-check 1000 "$@" >"$T/$name.out" 2>&1 || VT_RC=$?
	[ "$VT_RC" -eq 0 ] || fail "$name: the client through $addr was refused"
	expect_out "$name" '^echo ok 1000'
}

# A stale socket file (bound, closed, never removed) is where the daemon
# is to listen: it is replaced.
python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.close()' \
	"$SOCK" || fail "cannot make a stale socket"
[ -S "$SOCK" ] || fail "no stale socket made"
conf "$T/vencryptd.conf" 0660 ""
vencryptd -t -c "$T/vencryptd.conf" >"$T/check.out" 2>&1 || fail "--check-config refused the config"
start_daemon "$T/vencryptd.conf"

# ---- IPv4 and IPv6 ------------------------------------------------------------
[ "$(addr_of both 1)" != "" ] && [[ "$(addr_of both 1)" == "[::1]:"* ]] ||
	fail "no [::1] listener in the ports file"
[[ "$(addr_of both 2)" == "127.0.0.1:"* ]] || fail "no 127.0.0.1 listener in the ports file"
client both-v6 "$(addr_of both 1)"
expect_log 'authorised: peer \[::1\]:[0-9]+, service both'
client both-v4 "$(addr_of both 2)"
expect_log 'authorised: peer 127\.0\.0\.1:[0-9]+, service both'
log "ok: [::1]:0 and 127.0.0.1:0 in one service"

# ---- *:0 -------------------------------------------------------------------------
[ "$(awk '$1 == "all"' "$T/daemon.ports" | wc -l)" -eq 2 ] || fail "*:0 is not two sockets"
[[ "$(addr_of all 1)" == "0.0.0.0:"* ]] || fail "*:0: no 0.0.0.0 socket"
[[ "$(addr_of all 2)" == "[::]:"* ]] || fail "*:0: no [::] socket"
ALL=$(port all 1)
[ "$(port all 2)" = "$ALL" ] || fail "*:0: the IPv6 socket is not on the IPv4 one's port"
expect_log "service all listening on 0\\.0\\.0\\.0:$ALL, "
expect_log "service all listening on \\[::\\]:$ALL, "
client all-v6 "[::1]:$ALL"
expect_log 'authorised: peer \[::1\]:[0-9]+, service all'
client all-v4 "127.0.0.1:$ALL"
expect_log 'authorised: peer 127\.0\.0\.1:[0-9]+, service all'
log "ok: *:0 listens on 0.0.0.0 and [::], one port"

# ---- unix: --------------------------------------------------------------------------
[ "$(addr_of sock 1)" = "unix:$SOCK" ] || fail "ports file: $(addr_of sock 1), not unix:$SOCK"
[ -S "$SOCK" ] || fail "no socket at $SOCK"
[ "$(stat -c '%a %U %G' "$SOCK")" = "660 nobody nogroup" ] ||
	fail "socket is $(stat -c '%a %U %G' "$SOCK"), not 660 nobody nogroup"
client unix "unix:$SOCK"
expect_log 'authorised: peer unix, service sock'
log "ok: a unix: listener, stale file replaced, 0660 nobody:nogroup"

# Something else listening at the path: a second daemon refuses to start.
conf "$T/second.conf" 0660 ""
sed -i 's/"\[::1\]:0", "127.0.0.1:0"/"127.0.0.1:0"/; s/"\*:0"/"127.0.0.1:0"/' "$T/second.conf"
refused_start second "$T/second.conf"
[ "$RC" -eq 1 ] || fail "a second daemon on the same unix: path exited $RC, not 1"
grep -Eq "second\\.conf:[0-9]+: service sock: cannot listen on unix:$SOCK: another process is listening there" \
	"$T/second.out" || fail "no error naming the live listener"
[ -S "$SOCK" ] || fail "the refused daemon removed the live socket"
client unix-still "unix:$SOCK"
log "ok: a live listener at the path is an error"

# ---- reload: PROXY settings and the socket's mode follow the new config ---------------
BOTH4=$(addr_of both 2)
conf "$T/vencryptd.conf" 0600 'proxy_protocol = "v1"; trusted_proxies = [ "127.0.0.1", "::1" ];'
kill -HUP "$DAEMON_PID"
expect_log 'reload succeeded'
[ "$(stat -c '%a %U %G' "$SOCK")" = "600 nobody nogroup" ] ||
	fail "after reload the socket is $(stat -c '%a %U %G' "$SOCK"), not 600"
[ "$(addr_of both 2)" = "$BOTH4" ] || fail "reload moved the 127.0.0.1 listener"
client reload-proxy "$(addr_of both 2)" --proxy-v1 192.0.2.44:4444
expect_log 'PROXY header from 127\.0\.0\.1:[0-9]+: client 192\.0\.2\.44:4444$'
expect_log 'authorised: peer 192\.0\.2\.44:4444, service both'
client reload-proxy6 "$(addr_of both 1)" --proxy-v1 '[2001:db8::44]:4445'
expect_log 'authorised: peer \[2001:db8::44\]:4445, service both'
log "ok: reload applies the new PROXY settings and mode to kept sockets"

expect_no_sessions
stop_daemon
[ -e "$SOCK" ] && fail "the socket file is still there after the daemon stopped"
log "ok: the socket file is removed at exit"

# ---- a regular file at the path ----------------------------------------------------
echo "not a socket" >"$SOCK"
refused_start regular "$T/second.conf"
[ "$RC" -eq 1 ] || fail "a regular file at the unix: path: exit $RC, not 1"
grep -q "cannot listen on unix:$SOCK: $SOCK exists and is not a socket" "$T/regular.out" ||
	fail "no error naming the regular file"
[ "$(cat "$SOCK")" = "not a socket" ] || fail "the regular file was touched"
log "ok: a regular file at the path is an error"

# ---- *:0 on a host without IPv6 -------------------------------------------------------
# tests/noipv6.so makes socket(AF_INET6) fail with EAFNOSUPPORT, as on a
# kernel booted with ipv6.disable=1: "*:0" listens on 0.0.0.0 alone, with
# a warning naming the file and line; an explicit IPv6 address is still
# an error that stops the start.
cat >"$T/noipv6.conf" <<CONF
$(config_head)
services = (
  { name = "all"; backend = "$BACKEND_ADDR"; listen = [ "*:0" ]; }
);
CONF
# without_ipv6 COMMAND...: COMMAND (a function) with noipv6.so preloaded.
without_ipv6() {
	local LD_PRELOAD="$top_builddir/tests/noipv6.so"
	local ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
	export LD_PRELOAD ASAN_OPTIONS
	"$@"
}
: >"$T/daemon.log"
without_ipv6 start_daemon "$T/noipv6.conf"
[ "$(awk '$1 == "all"' "$T/daemon.ports" | wc -l)" -eq 1 ] ||
	fail "*:0 without IPv6 is not one socket: $(cat "$T/daemon.ports")"
[[ "$(addr_of all 1)" == "0.0.0.0:"* ]] || fail "*:0 without IPv6: no 0.0.0.0 socket"
expect_log "noipv6\.conf:5: service all: no IPv6 for \*:0: listening on IPv4 only"
client noipv6 "127.0.0.1:$(port all 1)"
expect_log 'authorised: peer 127\.0\.0\.1:[0-9]+, service all'
expect_no_sessions
stop_daemon
sed -i 's/"\*:0"/"[::1]:0"/' "$T/noipv6.conf"
without_ipv6 refused_start noipv6-explicit "$T/noipv6.conf"
[ "$RC" -eq 1 ] || fail "[::1]:0 without IPv6: exit $RC, not 1"
grep -q "noipv6\.conf:5: service all: cannot listen on \[::1\]:0: Address family not supported" \
	"$T/noipv6-explicit.out" || fail "[::1]:0 without IPv6: no error naming it"
log "ok: *:0 falls back to IPv4 alone where there is no IPv6"

# ---- configuration errors, with file:line ------------------------------------------
bad_conf() { # bad_conf NAME LISTEN-ENTRY [SERVICE-KEYS]
	cat >"$T/$1.conf" <<CONF
tls = { cert_dir = "$PKI"; };
services = (
  { name = "x"; backend = "$BACKEND_ADDR";
    listen = ( $2 ); ${3:-} }
);
CONF
}
bad_conf mode-on-tcp '{ address = "127.0.0.1:0"; mode = "0660"; }'
check_bad mode-on-tcp "mode-on-tcp\\.conf:4: \"mode\" is only for unix: listeners, not \"127\\.0\\.0\\.1:0\""
bad_conf owner-on-tcp '{ address = "[::1]:0"; owner = "nobody"; }'
check_bad owner-on-tcp "owner-on-tcp\\.conf:4: \"owner\" is only for unix: listeners"
bad_conf no-trusted '{ address = "127.0.0.1:0"; proxy_protocol = "v2"; }'
check_bad no-trusted "no-trusted\\.conf:4: listen address \"127\\.0\\.0\\.1:0\" has proxy_protocol \"v2\" but no trusted_proxies"
bad_conf no-trusted-svc '"127.0.0.1:0"' 'proxy_protocol = "v1";'
check_bad no-trusted-svc "no-trusted-svc\\.conf:4: listen address \"127\\.0\\.0\\.1:0\" has proxy_protocol \"v1\" but no trusted_proxies"
bad_conf bad-cidr '{ address = "127.0.0.1:0"; proxy_protocol = "v1"; trusted_proxies = [ "10.0.0.0/40" ]; }'
check_bad bad-cidr "bad-cidr\\.conf:4: bad trusted_proxies entry \"10\\.0\\.0\\.0/40\": prefix length must be"
bad_conf bad-owner "{ address = \"unix:$T/x.sock\"; owner = \"no-such-user-e2e\"; }"
check_bad bad-owner "bad-owner\\.conf:4: unknown user \"no-such-user-e2e\""
bad_conf bad-mode "{ address = \"unix:$T/x.sock\"; mode = \"660x\"; }"
check_bad bad-mode "bad-mode\\.conf:4: \"mode\" must be octal permissions"
bad_conf unknown-key '{ address = "127.0.0.1:0"; proxy = "v1"; }'
check_bad unknown-key "unknown-key\\.conf:4: unknown key \"proxy\" in a listen entry"
bad_conf bad-proxy '{ address = "127.0.0.1:0"; proxy_protocol = "v9"; }'
check_bad bad-proxy "bad-proxy\\.conf:4: unknown proxy_protocol \"v9\" \\(valid: none, v1, v2\\)"
log "PASS"
