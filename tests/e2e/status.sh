#!/usr/bin/env bash
# SIGUSR1 logs the status report: uptime, sessions by state and by
# service, and per service the clients accepted, authorised, refused (by
# reason) and failed by the backend, and the bytes relayed each way, the
# live session's so far included.  Every number is checked against what
# the test did.  Two workers, each counting its own sessions.  A reload
# keeps the counters of a service it keeps; a service it removes is still
# reported, as no longer configured.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

make_certs
certs client stranger --dn "CN=stranger,O=Elsewhere,C=GB"
certs client expired --dn "CN=expired,O=Example,C=GB" \
	--activation "2001-01-01 00:00:00 UTC" --expiration "2002-01-01 00:00:00 UTC"
GOOD=(--ca "$PKI/ca-cert.pem" --cert "$(client_cert good)" --key "$(client_key good)")
STRANGER=(--ca "$PKI/ca-cert.pem" --cert "$(client_cert stranger)" --key "$(client_key stranger)")
printf 'pw-of-alice\n' | vencryptd --hash-password alice >"$T/passwd" || fail "--hash-password"

# A backend address nothing listens on any more, then the real backend.
start_backend gone
GONE=$BACKEND_ADDR
kill "${PIDS[-1]}"
wait "${PIDS[-1]}" 2>/dev/null || true
start_backend backend --mode echo

# conf MORE: services "desk" and "pw", then MORE.
conf() {
	cat >"$T/vencryptd.conf.new" <<CONF
log = { level = "debug"; target = "stderr"; };
tls = { cert_dir = "$PKI"; };
limits = { max_clients = 64; handshake_timeout = 120; backend_timeout = 5; };
workers = 2;
services = (
  { name = "desk"; listen = [ "127.0.0.1:0" ]; backend = "$BACKEND_ADDR";
    allowed_dn = [ "CN=good,O=Example,C=GB" ]; },
  { name = "pw"; listen = [ "127.0.0.1:0" ]; backend = "$BACKEND_ADDR";
    subtypes = [ "X509Plain" ]; client_cert = "none"; passwd_file = "$T/passwd"; }$1
);
CONF
	mv "$T/vencryptd.conf.new" "$T/vencryptd.conf"
}
conf ", { name = \"down\"; listen = [ \"127.0.0.1:0\" ]; backend = \"$GONE\"; }"
start_daemon "$T/vencryptd.conf"
port_of() { awk -v s="$1" '$1 == s {print $2}' "$T/daemon.ports" | sed 's/.*://'; }
DOWN=$(port_of down)
PW=$(port_of pw)
[ -n "$DOWN" ] && [ -n "$PW" ] || fail "missing listeners: $(cat "$T/daemon.ports")"

# Bytes each way of one session that echoes N bytes: ClientInit (1 byte)
# and N up; ServerInit (24 bytes and the name "rfbbackend") and N down.
up() { echo $((1 + $1)); }
down() { echo $((24 + 10 + $1)); }
closed() { grep -c ': closed: ' "$DAEMON_LOG" || true; }
is() { [ "$($2)" -eq "$1" ]; }

# ---- the events -------------------------------------------------------------
for i in 1 2; do
	vt "good$i" "${GOOD[@]}" --echo-check 1000
	[ "$VT_RC" -eq 0 ] || fail "good$i: refused"
	expect_out "good$i" '^echo ok 1000$'
	vt "stranger$i" "${STRANGER[@]}" --echo-check 1000
	expect_out "stranger$i" '^security-result failed: not authorised$'
done
vt nocert --ca "$PKI/ca-cert.pem" --echo-check 1000
expect_out nocert '^security-result failed: no client certificate$'
vt garbage --rfb-version garbage
expect_out garbage '^closed-by-server'
vt expired --ca "$PKI/ca-cert.pem" --cert "$(client_cert expired)" \
	--key "$(client_key expired)" --echo-check 1000
expect_out expired '^security-result failed: certificate expired$'
# CBC only, which the daemon's default priority does not allow.
vt cbc "${GOOD[@]}" --priority "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-CBC" \
	--echo-check 1000
[ "$VT_RC" -ne 0 ] || fail "cbc: a CBC-only client was let in"
expect_log 'refused: TLS handshake failed: '
DAEMON_PORT=$DOWN vt backend-down "${GOOD[@]}" --echo-check 1000
expect_out backend-down '^security-result failed: backend unavailable$'
PLAIN=(--ca "$PKI/ca-cert.pem" --subtype 262 --user alice --echo-check 1000)
DAEMON_PORT=$PW vt pw-bad "${PLAIN[@]}" --password wrong
expect_out pw-bad '^security-result failed: authentication failed$'
DAEMON_PORT=$PW vt pw-good "${PLAIN[@]}" --password pw-of-alice
expect_out pw-good '^echo ok 1000$'
# Every one of them has ended in the daemon too (its bytes are counted).
wait_until 10 is 11 closed || fail "$(closed) sessions closed, not 11"

# A session in the relay, idle after its first 1000 bytes each way.
"$PEERS/vtclient" --connect "127.0.0.1:$DAEMON_PORT" --timeout 60 "${GOOD[@]}" \
	--echo-check 1000 --resume-file "$T/go" >"$T/live.out" 2>&1 &
LIVE=$!
PIDS+=($LIVE)
wait_until 20 grep -qs '^paused$' "$T/live.out" || fail "the live session did not start"
# A client that connects and says nothing: in the version state.
"$PEERS/vtclient" --connect "127.0.0.1:$DAEMON_PORT" --silent --timeout 60 \
	>"$T/silent.out" 2>&1 &
PIDS+=($!)
wait_until 10 is 2 open_sessions || fail "$(open_sessions) sessions open, not 2"

# report FILE: SIGUSR1, and the report's lines (without the log prefix)
# in FILE, the uptime replaced by UPTIME once checked.
report() {
	: >"$DAEMON_LOG"
	kill -USR1 "$DAEMON_PID"
	expect_log 'notice: status: all services: '
	sed -n 's/^.* vencryptd notice: \(status: .*\)$/\1/p' "$DAEMON_LOG" >"$1.raw"
	grep -Eq '^status: up ([0-9]+h)?([0-9]+m)?[0-9]+s, ' "$1.raw" ||
		fail "no uptime in the report: $(head -n 1 "$1.raw")"
	sed -E 's/^status: up [0-9hms]+, /status: up UPTIME, /' "$1.raw" >"$1"
}
# expect_report FILE: the report in FILE is exactly the lines on stdin.
expect_report() {
	cat >"$1.want"
	diff -u "$1.want" "$1" >"$1.diff" || fail "the report differs: $(cat "$1.diff")"
}

report "$T/report1"
UP=$((2 * $(up 1000) + $(up 1000)))
DN=$((2 * $(down 1000) + $(down 1000)))
REFUSED="refused 6 (protocol error 1, TLS handshake failed 1, no certificate 1, certificate invalid 1, certificate not allowed 2)"
ALL_REFUSED="refused 7 (protocol error 1, TLS handshake failed 1, no certificate 1, certificate invalid 1, certificate not allowed 2, bad password 1)"
PW_LINE="status: service pw: 0 session(s); accepted 2, authorised 1, refused 1 (bad password 1), backend failures 0; bytes client to backend $(up 1000), backend to client $(down 1000)"
expect_report "$T/report1" <<WANT
status: up UPTIME, 2 session(s): 1 version, 1 relay; 2 worker(s)
status: service desk: 2 session(s) (1 version, 1 relay); accepted 10, authorised 3, $REFUSED, backend failures 0; bytes client to backend $UP, backend to client $DN
$PW_LINE
status: service down: 0 session(s); accepted 1, authorised 1, refused 0, backend failures 1; bytes client to backend 0, backend to client 0
status: all services: 2 session(s) (1 version, 1 relay); accepted 13, authorised 5, $ALL_REFUSED, backend failures 1; bytes client to backend $((UP + $(up 1000))), backend to client $((DN + $(down 1000)))
WANT
log "ok: the report counts every event"

# ---- after a reload that removes "down" ----------------------------------------
touch "$T/go"
wait "$LIVE" || fail "the live session failed"
expect_out live '^echo-again ok sent=1000 received=1000$'
# (The log starts at the report: the live session's end is its first.)
wait_until 10 is 1 closed || fail "the live session did not end in the daemon"
conf ""
kill -HUP "$DAEMON_PID"
expect_log 'reload succeeded: 2 service'
vt stranger3 "${STRANGER[@]}" --echo-check 1000
expect_out stranger3 '^security-result failed: not authorised$'
wait_until 10 is 2 closed || fail "the refused session did not end in the daemon"

report "$T/report2"
UP=$((2 * $(up 1000) + $(up 2000)))
DN=$((2 * $(down 1000) + $(down 2000)))
REFUSED="refused 7 (protocol error 1, TLS handshake failed 1, no certificate 1, certificate invalid 1, certificate not allowed 3)"
ALL_REFUSED="refused 8 (protocol error 1, TLS handshake failed 1, no certificate 1, certificate invalid 1, certificate not allowed 3, bad password 1)"
expect_report "$T/report2" <<WANT
status: up UPTIME, 1 session(s): 1 version; 2 worker(s)
status: service desk: 1 session(s) (1 version); accepted 11, authorised 3, $REFUSED, backend failures 0; bytes client to backend $UP, backend to client $DN
$PW_LINE
status: service down (no longer configured): 0 session(s); accepted 1, authorised 1, refused 0, backend failures 1; bytes client to backend 0, backend to client 0
status: all services: 1 session(s) (1 version); accepted 14, authorised 5, $ALL_REFUSED, backend failures 1; bytes client to backend $((UP + $(up 1000))), backend to client $((DN + $(down 1000)))
WANT
log "ok: the counters outlive a reload"

stop_daemon
log "PASS"
