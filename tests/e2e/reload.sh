#!/usr/bin/env bash
# SIGHUP reloads everything, all or nothing: while a session sits in the
# relay, the server certificate is renewed (to one expiring in 10 days),
# a client is revoked, allowed_dn and the passwd file change, a service
# is added and one removed.  The live session keeps relaying; the next
# connections see the new certificate and the new rules; broken
# configurations are refused whole and the previous one keeps serving.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

make_certs
certs client alice --dn "CN=alice,O=Example,C=GB"
certs client bob --dn "CN=bob,O=Example,C=GB"
for u in alice bob carol; do
	printf 'pw-of-%s\n' "$u" | vencryptd --hash-password "$u" >"$T/hash-$u" ||
		fail "--hash-password $u"
done
cat "$T/hash-alice" "$T/hash-bob" >"$T/passwd"

start_backend backend --mode echo
# conf ALLOWED-DN LAST-SERVICE: the configuration, as it is before and after.
conf() {
	cat >"$T/vencryptd.conf.new" <<CONF
log = { level = "debug"; target = "stderr"; };
tls = { cert_dir = "$PKI"; };
limits = { max_clients = 64; handshake_timeout = 5; backend_timeout = 2; };
services = (
  { name = "test"; listen = [ "127.0.0.1:0" ]; backend = "$BACKEND_ADDR";
    allowed_dn = [ $1 ]; },
  { name = "pw"; listen = [ "[::1]:0" ]; backend = "$BACKEND_ADDR";
    subtypes = [ "X509Plain" ]; client_cert = "none"; passwd_file = "$T/passwd"; },
  $2
);
CONF
	mv "$T/vencryptd.conf.new" "$T/vencryptd.conf"
}
conf '"CN=good,O=Example,C=GB", "CN=alice,O=Example,C=GB"' \
	"{ name = \"old\"; listen = [ \"127.0.0.1:0\" ]; backend = \"$BACKEND_ADDR\"; }"
start_daemon "$T/vencryptd.conf"
port_of() { awk -v s="$1" '$1 == s {print $2}' "$T/daemon.ports" | sed 's/.*://'; }
TEST=$(port_of test)
PW=$(port_of pw)
OLD=$(port_of old)
[ -n "$TEST" ] && [ -n "$PW" ] && [ -n "$OLD" ] || fail "missing listeners: $(cat "$T/daemon.ports")"
CA=(--ca "$PKI/ca-cert.pem")
with() { echo --cert "$(client_cert "$1")" --key "$(client_key "$1")"; }
serial() { sed -n 's/^server-cert-serial //p' "$T/$1.out"; }

# at HOST PORT NAME ARGS...: vtclient; VT_RC as vt() sets it.
at() {
	local host=$1 port=$2 name=$3
	shift 3
	VT_RC=0
	"$PEERS/vtclient" --connect "$host:$port" --timeout 15 "${CA[@]}" "$@" \
		>"$T/$name.out" 2>&1 || VT_RC=$?
}
works() {
	[ "$VT_RC" -eq 0 ] || fail "$1: refused"
	expect_out "$1" '^echo ok 1000$'
	log "ok: $1"
}
refused_with() {
	[ "$VT_RC" -ne 0 ] || fail "$1: not refused"
	expect_out "$1" "^security-result failed: $2\$"
	log "ok: $1 refused ($2)"
}

# shellcheck disable=SC2046
{
at 127.0.0.1 "$TEST" before $(with alice) --echo-check 1000
works before
OLD_SERIAL=$(serial before)
at '[::1]' "$PW" pw-before --subtype 262 --user alice --password pw-of-alice --echo-check 1000
works pw-before

# A session in the relay, idle until told to go on.
"$PEERS/vtclient" --connect "127.0.0.1:$TEST" --timeout 60 "${CA[@]}" $(with good) \
	--echo-check 100000 --resume-file "$T/go" >"$T/live.out" 2>&1 &
LIVE=$!
PIDS+=($LIVE)
wait_until 10 grep -q '^paused$' "$T/live.out" || fail "the live session did not start"

# Everything changes at once.
certs server localhost --ip 127.0.0.1 --ip ::1 --days 10 --force
certs revoke alice
cat "$T/hash-carol" "$T/hash-bob" >"$T/passwd.new" && mv "$T/passwd.new" "$T/passwd"
conf '"CN=alice,O=Example,C=GB", "CN=bob,O=Example,C=GB"' \
	"{ name = \"extra\"; listen = [ \"127.0.0.1:0\" ]; backend = \"$BACKEND_ADDR\"; }"
kill -HUP "$DAEMON_PID"
expect_log 'reload succeeded: 3 service\(s\), 1 session\(s\) continue'
expect_log "service test: certificate $PKI/server-cert.pem expires on [0-9-]+ [0-9:]+ UTC, in (9|10) day\(s\)"
wait_until 5 grep -q '^extra ' "$T/daemon.ports" || fail "the ports file does not list the new service"
! grep -q '^old ' "$T/daemon.ports" || fail "the ports file still lists the removed service"
[ "$(port_of test)" = "$TEST" ] || fail "an unchanged listener was reopened"
EXTRA=$(port_of extra)

# New connections: the new certificate, CRL, allowed_dn, passwd file.
at 127.0.0.1 "$TEST" bob-after $(with bob) --echo-check 1000
works bob-after
NEW_SERIAL=$(serial bob-after)
[ -n "$NEW_SERIAL" ] && [ "$NEW_SERIAL" != "$OLD_SERIAL" ] ||
	fail "the server certificate did not change ($OLD_SERIAL -> $NEW_SERIAL)"
at 127.0.0.1 "$TEST" alice-after $(with alice) --echo-check 1000
refused_with alice-after 'certificate revoked'
at 127.0.0.1 "$TEST" good-after $(with good) --echo-check 1000
refused_with good-after 'not authorised'
at '[::1]' "$PW" pw-carol --subtype 262 --user carol --password pw-of-carol --echo-check 1000
works pw-carol
at '[::1]' "$PW" pw-alice --subtype 262 --user alice --password pw-of-alice --echo-check 1000
refused_with pw-alice 'authentication failed'
at 127.0.0.1 "$EXTRA" extra $(with bob) --echo-check 1000
works extra
at 127.0.0.1 "$OLD" old $(with bob) --echo-check 1000
[ "$VT_RC" -ne 0 ] && ! grep -q '^server-version' "$T/old.out" ||
	fail "the removed service still accepts connections"

# The live session is untouched: it relays again, still as itself.
touch "$T/go"
wait "$LIVE" || fail "the live session failed after the reload"
expect_out live '^echo-again ok sent=100000 received=100000$'
expect_log 'closed: client closed; peer [^ ]+, service test, dn "CN=good,O=Example,C=GB", subtype X509None, client->backend 200001 bytes'

# Broken configurations: each is refused whole, with file and line, and
# the running set (new certificate, bob allowed, carol's password) stays.
failures_beyond() { [ "$(grep -c 'reload failed' "$DAEMON_LOG")" -gt "$1" ]; }
reload_fails() {
	local what=$1 regex=$2 n
	n=$(grep -c 'reload failed' "$DAEMON_LOG" || true)
	kill -HUP "$DAEMON_PID"
	wait_until 5 failures_beyond "$n" || fail "$what: no 'reload failed' line"
	expect_log "$regex"
	at 127.0.0.1 "$TEST" "still-$what" $(with bob) --echo-check 1000
	works "still-$what"
	[ "$(serial "still-$what")" = "$NEW_SERIAL" ] || fail "$what: the certificate changed"
	at '[::1]' "$PW" "still-pw-$what" --subtype 262 --user carol --password pw-of-carol --echo-check 1000
	works "still-pw-$what"
	kill -0 "$DAEMON_PID" || fail "$what: the daemon died"
}
cp "$T/vencryptd.conf" "$T/good.conf"
printf 'services = ( { name = "x"; \n' >"$T/vencryptd.conf"
reload_fails syntax "$T/vencryptd\\.conf:[0-9]+: "
cp "$T/good.conf" "$T/vencryptd.conf"
sed -i 's|passwd_file = "[^"]*"|passwd_file = "'"$T"'/nonexistent"|' "$T/vencryptd.conf"
reload_fails passwd "$T/nonexistent"
cp "$T/good.conf" "$T/vencryptd.conf"
printf 'carol:$1$abc$defghijklmnopqrstuvwx\n' >"$T/passwd.bad"
sed -i 's|passwd_file = "[^"]*"|passwd_file = "'"$T"'/passwd.bad"|' "$T/vencryptd.conf"
reload_fails md5 "$T/passwd\\.bad:1: "
# A listener that cannot be opened (the backend's port) fails it too.
cp "$T/good.conf" "$T/vencryptd.conf"
sed -i "s|{ name = \"extra\"; listen = \[ \"127.0.0.1:0\" \]|{ name = \"extra\"; listen = [ \"$BACKEND_ADDR\" ]|" "$T/vencryptd.conf"
reload_fails listen "service extra: cannot listen on $BACKEND_ADDR"
at 127.0.0.1 "$EXTRA" extra-kept $(with bob) --echo-check 1000
works extra-kept
}
stop_daemon
log "PASS"
