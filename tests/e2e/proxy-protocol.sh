#!/usr/bin/env bash
# The PROXY protocol: v1 and v2 headers from a trusted address carry the
# client's address into every log line and into the failed-login back-off;
# v2 LOCAL keeps the connection's address; malformed headers, and headers
# from an address not in trusted_proxies, are closed with a warning before
# the backend is contacted; a trusted peer that connects and closes (a
# load balancer's health check) leaves no warning.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

make_certs
for u in alice; do
	printf 'pw-of-%s\n' "$u" | vencryptd --hash-password "$u" >>"$T/passwd" ||
		fail "--hash-password $u failed"
done
start_backend backend --mode echo

cat >"$T/vencryptd.conf" <<CONF
$(config_head)
services = (
  { name = "v1"; backend = "$BACKEND_ADDR";
    listen = ( { address = "127.0.0.1:0"; proxy_protocol = "v1";
                 trusted_proxies = [ "127.0.0.0/8" ]; } ); },
  { name = "v2"; backend = "$BACKEND_ADDR";
    proxy_protocol = "v2"; trusted_proxies = [ "::1", "127.0.0.1" ];
    listen = [ "127.0.0.1:0" ]; },
  { name = "untrusted"; backend = "$BACKEND_ADDR";
    listen = ( { address = "127.0.0.1:0"; proxy_protocol = "v2";
                 trusted_proxies = [ "10.0.0.0/8" ]; } ); },
  { name = "direct"; backend = "$BACKEND_ADDR"; listen = [ "127.0.0.1:0" ]; },
  { name = "pw"; backend = "$BACKEND_ADDR";
    proxy_protocol = "v2"; trusted_proxies = [ "127.0.0.1/32" ];
    listen = [ "127.0.0.1:0" ];
    subtypes = [ "X509Plain" ]; client_cert = "none";
    passwd_file = "$T/passwd"; }
);
CONF
vencryptd -t -c "$T/vencryptd.conf" >"$T/check.out" 2>&1 || fail "--check-config refused the config"
start_daemon "$T/vencryptd.conf"
port_of() { awk -v s="$1" '$1 == s {print $2}' "$T/daemon.ports" | sed 's/.*://'; }
CA=(--ca "$PKI/ca-cert.pem")
GOOD=(--cert "$(client_cert good)" --key "$(client_key good)")

# on NAME SERVICE ARGS...: vtclient on SERVICE's port
on() {
	local name=$1 port
	port=$(port_of "$2")
	shift 2
	VT_RC=0
	"$PEERS/vtclient" --connect "127.0.0.1:$port" --timeout 15 "${CA[@]}" "$@" \
		>"$T/$name.out" 2>&1 || VT_RC=$?
}
works() { # works NAME SERVICE ARGS...
	on "$@"
	[ "$VT_RC" -eq 0 ] || fail "$1: the client was refused"
	expect_out "$1" '^echo ok 1000'
}
warnings() { grep -c 'vencryptd warning: ' "$DAEMON_LOG" || true; }
hex() { printf '%b' "$1" | od -An -tx1 -v | tr -d ' \n'; }

# ---- good headers ------------------------------------------------------------
works v1-good v1 "${GOOD[@]}" --echo-check 1000 --proxy-v1 192.0.2.10:40001
expect_out v1-good '^proxy-header-sent [0-9]+$'
expect_log 'info: session [0-9]+: PROXY header from 127\.0\.0\.1:[0-9]+: client 192\.0\.2\.10:40001$'
expect_log 'authorised: peer 192\.0\.2\.10:40001, service v1, dn "CN=good,O=Example,C=GB"'
expect_log 'closed: .*; peer 192\.0\.2\.10:40001, service v1, '
log "ok: v1 header, client 192.0.2.10"

works v2-good v2 "${GOOD[@]}" --echo-check 1000 --proxy-v2 '[2001:db8::7]:40002'
expect_log 'PROXY header from 127\.0\.0\.1:[0-9]+: client \[2001:db8::7\]:40002$'
expect_log 'authorised: peer \[2001:db8::7\]:40002, service v2'
expect_log 'closed: .*; peer \[2001:db8::7\]:40002, service v2, '
log "ok: v2 header, client [2001:db8::7]"

works v2-good4 v2 "${GOOD[@]}" --echo-check 1000 --proxy-v2 198.51.100.3:40003
expect_log 'authorised: peer 198\.51\.100\.3:40003, service v2'

works v2-local v2 "${GOOD[@]}" --echo-check 1000 --proxy-v2-local
expect_log 'PROXY header from (127\.0\.0\.1:[0-9]+): client \1 \(the header carries no address\)$'
expect_log 'authorised: peer 127\.0\.0\.1:[0-9]+, service v2'
log "ok: v2 LOCAL keeps the connection's address"
[ "$(warnings)" -eq 0 ] || fail "warnings for good headers"

# ---- bad headers: a warning, and the backend never contacted -------------------
contacts=$(backend_contacts "$BACKEND_LOG")
bad() { # bad NAME SERVICE HEADER-BYTES LOG-REGEX
	local before
	before=$(warnings)
	on "$1" "$2" "${GOOD[@]}" --echo-check 10 --proxy-hex "$(hex "$3")"
	[ "$VT_RC" -ne 0 ] || fail "$1: a bad header was let through"
	expect_out "$1" '^proxy-header-sent'
	grep -q '^security-result ok' "$T/$1.out" && fail "$1: the client got in"
	expect_log "warning: session [0-9]+: $4"
	[ "$(warnings)" -eq $((before + 1)) ] || fail "$1: not exactly one warning"
	log "ok: $1"
}
bad v1-three-fields v1 'PROXY TCP4 192.0.2.1 10.0.0.1 1\r\n' \
	'PROXY header from 127\.0\.0\.1:[0-9]+: malformed v1 line$'
bad v1-port v1 'PROXY TCP4 192.0.2.1 10.0.0.1 1 65536\r\n' \
	'PROXY header from 127\.0\.0\.1:[0-9]+: v1 port not a number from 0 to 65535$'
bad v1-family v1 'PROXY TCP6 192.0.2.1 10.0.0.1 1 2\r\n' \
	"PROXY header from 127\\.0\\.0\\.1:[0-9]+: v1 address not of the line's family\$"
bad v1-long v1 "PROXY UNKNOWN $(printf '%0100d' 0)\r\n" \
	'PROXY header from 127\.0\.0\.1:[0-9]+: v1 line longer than 107 bytes$'
bad v1-rfb v1 'RFB 003.008\n' \
	'PROXY header from 127\.0\.0\.1:[0-9]+: not a PROXY protocol header$'
bad v2-version v2 '\r\n\r\n\0\r\nQUIT\n\x31\x11\x00\x0c' \
	'PROXY header from 127\.0\.0\.1:[0-9]+: v2 header of an unknown version$'
bad v2-udp v2 '\r\n\r\n\0\r\nQUIT\n\x21\x12\x00\x0c' \
	'PROXY header from 127\.0\.0\.1:[0-9]+: v2 address family or transport not supported$'
bad v2-short v2 '\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x04\x01\x02\x03\x04' \
	'PROXY header from 127\.0\.0\.1:[0-9]+: v2 length too short for its addresses$'
bad v2-on-v1 v1 '\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c' \
	'PROXY header from 127\.0\.0\.1:[0-9]+: a v2 header on a listener set to v1$'
bad v1-on-v2 v2 'PROXY TCP4 192.0.2.1 10.0.0.1 1 2\r\n' \
	'PROXY header from 127\.0\.0\.1:[0-9]+: a v1 header on a listener set to v2$'
# A header cut short: the connection closes in the middle of it.
before=$(warnings)
printf 'PROXY TCP4 192.0.2.1' | python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(sys.stdin.buffer.read())
s.close()' "$(port_of v1)" || fail "cannot send half a header"
expect_log 'PROXY header from 127\.0\.0\.1:[0-9]+: closed in the middle of it$'
[ "$(warnings)" -eq $((before + 1)) ] || fail "cut header: not exactly one warning"

# From an address not in trusted_proxies no header is read: one that
# comes anyway is refused as such; a plain client is served directly.
bad untrusted-v2 untrusted '\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c0123456789ab' \
	'PROXY header from untrusted address 127\.0\.0\.1:[0-9]+$'
bad untrusted-v1 untrusted 'PROXY TCP4 192.0.2.1 10.0.0.1 1 2\r\n' \
	'PROXY header from untrusted address 127\.0\.0\.1:[0-9]+$'
bad direct-v1 direct 'PROXY TCP4 192.0.2.1 10.0.0.1 1 2\r\n' \
	'PROXY header from untrusted address 127\.0\.0\.1:[0-9]+ \(proxy_protocol is off on this listener\)$'
[ "$(backend_contacts "$BACKEND_LOG")" -eq "$contacts" ] ||
	fail "the backend was contacted for a bad header"
works untrusted-plain untrusted "${GOOD[@]}" --echo-check 1000
expect_log 'authorised: peer 127\.0\.0\.1:[0-9]+, service untrusted'
log "ok: an untrusted peer is served as a direct client"

# ---- a health check: connect, close, no warning ------------------------------
before=$(warnings)
closed=$(grep -c 'closed without sending a PROXY header' "$DAEMON_LOG" || true)
python3 -c '
import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10).close()' \
	"$(port_of v2)" || fail "cannot connect for the health check"
wait_until 10 test "$(grep -c 'closed without sending a PROXY header' "$DAEMON_LOG")" -gt "$closed" ||
	fail "the health check's close was not seen"
expect_log 'debug: session [0-9]+: 127\.0\.0\.1:[0-9]+ closed without sending a PROXY header$'
expect_log 'debug: session [0-9]+: closed: closed before the PROXY header; peer 127\.0\.0\.1:[0-9]+, service v2, '
expect_no_sessions
[ "$(warnings)" -eq "$before" ] || fail "a health check gave a warning"
log "ok: a health check is quiet"

# ---- the back-off counts the carried address ----------------------------------
pids=()
for i in 1 2 3 4 5; do
	"$PEERS/vtclient" --connect "127.0.0.1:$(port_of pw)" --timeout 15 "${CA[@]}" \
		--subtype 262 --user alice --password "wrong-$i" \
		--proxy-v2 203.0.113.5:$((50000 + i)) >"$T/wrong-$i.out" 2>&1 &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" && fail "a wrong password was accepted"; done
expect_log 'too many failed logins from the address of peer 203\.0\.113\.5:5000[1-5]: blocked for 2 s'
on blocked pw --subtype 262 --user alice --password pw-of-alice --proxy-v2 203.0.113.5:50009
[ "$VT_RC" -ne 0 ] || fail "the blocked address got in"
expect_out blocked '^security-result failed: too many failed logins; try again later$'
# Another client behind the same load balancer is not blocked.
works other pw --subtype 262 --user alice --password pw-of-alice --echo-check 1000 \
	--proxy-v2 203.0.113.6:50010
expect_log 'authorised: peer 203\.0\.113\.6:50010, service pw'
log "ok: the back-off blocks the carried address, not the load balancer's"

! grep -q 'pw-of-' "$DAEMON_LOG" || fail "a password is in the log"
expect_no_sessions

# The status report counts every refused header, and no health check.
bad=$(grep -Ec ': closed: (bad PROXY header|PROXY header from an untrusted address)' "$DAEMON_LOG")
[ "$bad" -gt 0 ] || fail "no refused header in the log"
kill -USR1 "$DAEMON_PID"
expect_log 'status: all services: '
grep -q "status: all services: .*refused [0-9]* (bad PROXY header $bad[,)]" "$DAEMON_LOG" ||
	fail "the report does not count the $bad refused headers: $(grep 'status: all' "$DAEMON_LOG")"
log "ok: the status report counts $bad refused headers"
stop_daemon
log "PASS"
