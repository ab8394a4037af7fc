#!/usr/bin/env bash
# X509Plain and the client_cert modes, with the raw client: good logins in
# each mode, every refusal with the reason the client sees and the log
# line (with the user, never the password), credentials split over many
# records or malformed, the fixed delay on a wrong password, the per-address
# back-off, and --hash-password making the passwd_file.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

make_certs
certs client stranger --dn "CN=stranger,O=Elsewhere,C=GB"
certs client revoked --dn "CN=revoked,O=Example,C=GB"
certs revoke revoked

# The passwd file, made the way the manual says.
for u in alice bob carol; do
	printf 'pw-of-%s\n' "$u" | vencryptd --hash-password "$u" >>"$T/passwd" ||
		fail "--hash-password $u failed"
done
grep -Eq '^alice:\$y\$' "$T/passwd" || fail "--hash-password did not print a yescrypt line"
[ "$(wc -l <"$T/passwd")" -eq 3 ] || fail "--hash-password printed more than one line each"
printf '' | vencryptd --hash-password dave >"$T/empty.out" 2>&1 &&
	fail "--hash-password accepted an empty password"
printf 'pw\n' | vencryptd --hash-password " dave" >"$T/space.out" 2>&1 &&
	fail "--hash-password accepted a user name the passwd file would refuse"
grep -q 'bad user name: user name begins or ends with a space' "$T/space.out" ||
	fail "--hash-password did not say what is wrong with the user name"

start_backend backend --mode echo

cat >"$T/vencryptd.conf" <<CONF
log = { level = "debug"; target = "stderr"; };
tls = { cert_dir = "$PKI"; };
limits = { max_clients = 64; handshake_timeout = 5; backend_timeout = 2; };
services = (
  { name = "both"; listen = [ "127.0.0.1:0" ]; backend = "$BACKEND_ADDR";
    subtypes = [ "X509Plain", "X509None" ]; client_cert = "require";
    passwd_file = "$T/passwd"; allowed_users = [ "alice", "bob" ]; },
  { name = "optional"; listen = [ "127.0.0.1:0" ]; backend = "$BACKEND_ADDR";
    subtypes = [ "X509Plain", "X509None" ]; client_cert = "optional";
    allowed_dn = [ "CN=*,O=Example,C=GB" ]; passwd_file = "$T/passwd"; },
  { name = "nocert"; listen = [ "127.0.0.1:0" ]; backend = "$BACKEND_ADDR";
    subtypes = [ "X509Plain" ]; client_cert = "none"; passwd_file = "$T/passwd"; }
);
CONF
vencryptd -t -c "$T/vencryptd.conf" >"$T/check.out" 2>&1 || fail "--check-config refused the config"
start_daemon "$T/vencryptd.conf"
port_of() { awk -v s="$1" '$1 == s {print $2}' "$T/daemon.ports" | sed 's/.*://'; }
BOTH=$(port_of both)
OPT=$(port_of optional)
NOCERT=$(port_of nocert)
CA=(--ca "$PKI/ca-cert.pem")
with() { echo --cert "$(client_cert "$1")" --key "$(client_key "$1")"; }

# login NAME PORT ARGS...: vtclient on PORT
login() {
	local name=$1 port=$2
	shift 2
	VT_RC=0
	"$PEERS/vtclient" --connect "127.0.0.1:$port" --timeout 15 "${CA[@]}" "$@" \
		>"$T/$name.out" 2>&1 || VT_RC=$?
}

ok() {
	local name=$1
	shift
	login "$name" "$@" --echo-check 4096
	[ "$VT_RC" -eq 0 ] || fail "$name: refused"
	expect_out "$name" '^security-result ok$'
	expect_out "$name" '^echo ok 4096$'
	log "ok: $name"
}

# refused NAME CLIENT-REGEX LOG-REGEX PORT ARGS...: refused, and the
# backend was not contacted.
refused() {
	local name=$1 see=$2 said=$3 before
	shift 3
	before=$(backend_contacts "$BACKEND_LOG")
	login "$name" "$@"
	[ "$VT_RC" -ne 0 ] || fail "$name: the client was not refused"
	expect_out "$name" "$see"
	expect_log "$said"
	[ "$(backend_contacts "$BACKEND_LOG")" -eq "$before" ] ||
		fail "$name: the backend was contacted for a refused client"
	log "ok: $name"
}

# shellcheck disable=SC2046
{
# client_cert = require: a certificate and, for X509Plain, a password.
ok both-plain "$BOTH" $(with good) --subtype 262 --user alice --password pw-of-alice
expect_log 'authorised: peer 127\.0\.0\.1:[0-9]+, service both, dn "CN=good,O=Example,C=GB", subtype X509Plain, user "alice", TLS'
ok both-none "$BOTH" $(with good) --subtype 260
refused both-nocert '^security-result failed: no client certificate$' \
	'refused: no client certificate; peer [^ ]+, service both, dn ""' \
	"$BOTH" --subtype 262 --user alice --password pw-of-alice
refused both-carol '^security-result failed: authentication failed$' \
	'refused: authentication failed: the user is not in allowed_users; .*service both, dn "CN=good,O=Example,C=GB", user "carol"' \
	"$BOTH" $(with good) --subtype 262 --user carol --password pw-of-carol

# client_cert = optional: a password without a certificate; a certificate
# that is sent is still checked.
ok opt-plain "$OPT" --subtype 262 --user carol --password pw-of-carol
expect_log 'authorised: .*service optional, dn "", subtype X509Plain, user "carol"'
ok opt-plain-cert "$OPT" $(with good) --subtype 262 --user bob --password pw-of-bob
ok opt-none-cert "$OPT" $(with good) --subtype 260
refused opt-none-nocert '^security-result failed: no client certificate$' \
	'refused: no client certificate \(X509None needs one here; X509Plain would need a password\); .*service optional' \
	"$OPT" --subtype 260
refused opt-stranger '^security-result failed: not authorised$' \
	'refused: not authorised: the dn matches no allowed_dn; .*service optional, dn "CN=stranger,O=Elsewhere,C=GB"' \
	"$OPT" $(with stranger) --subtype 262 --user alice --password pw-of-alice
refused opt-revoked '^security-result failed: certificate revoked$' \
	'refused: certificate revoked; .*service optional, dn "CN=revoked,O=Example,C=GB"' \
	"$OPT" $(with revoked) --subtype 262 --user alice --password pw-of-alice

# client_cert = none: no certificate is asked for.
ok nocert-plain "$NOCERT" --subtype 262 --user alice --password pw-of-alice
ok nocert-split "$NOCERT" --subtype 262 --user bob --password pw-of-bob --split

# Wrong passwords and unknown users look the same to the client, come after
# the fixed delay, and the log tells them apart.
t0=$(date +%s%N)
refused wrong-password '^security-result failed: authentication failed$' \
	'refused: authentication failed: wrong password; .*service nocert, dn "", user "alice"' \
	"$NOCERT" --subtype 262 --user alice --password pw-of-bob
t1=$(date +%s%N)
[ $(((t1 - t0) / 1000000)) -ge 900 ] || fail "a wrong password was answered before the fixed delay"
refused unknown-user '^security-result failed: authentication failed$' \
	'refused: authentication failed: unknown user; .*user "mallory"' \
	"$NOCERT" --subtype 262 --user mallory --password pw-of-alice

# Malformed credentials: refused from the lengths alone, or for a NUL.
refused too-long '^security-result failed: user name or password too long$' \
	'refused: credentials refused: a length is over 1024 bytes' \
	"$NOCERT" --subtype 262 --user alice --password pw-of-alice --claim-lengths 1025:11
refused huge '^security-result failed: user name or password too long$' \
	'refused: credentials refused: a length is over 1024 bytes' \
	"$NOCERT" --subtype 262 --user alice --password pw-of-alice --claim-lengths 5:4000000000
refused nul-user '^security-result failed: user name or password contains a NUL byte$' \
	'refused: credentials refused: a NUL byte inside the user name or password' \
	"$NOCERT" --subtype 262 --user alice --password pw-of-alice --nul-in user
refused nul-password '^security-result failed: user name or password contains a NUL byte$' \
	'refused: credentials refused: a NUL byte inside' \
	"$NOCERT" --subtype 262 --user alice --password pw-of-alice --nul-in password
}

# No password ever reaches the log.
! grep -q 'pw-of-' "$DAEMON_LOG" || fail "a password is in the log"
stop_daemon

# The back-off: five failures from one address, then even the right
# password is refused until the block (2 s) has passed.
start_daemon "$T/vencryptd.conf"
NOCERT=$(port_of nocert)
pids=()
FROM=$(($(wc -l <"$DAEMON_LOG") + 1))   # this daemon's lines only
# Eight guesses at once: no more than five are ever checked, however they
# race, the others are refused unchecked.
for i in 1 2 3 4 5 6 7 8; do
	"$PEERS/vtclient" --connect "127.0.0.1:$NOCERT" --timeout 15 "${CA[@]}" \
		--subtype 262 --user alice --password "wrong-$i" >"$T/bad-$i.out" 2>&1 &
	pids+=($!)
done
# The block starts when the fifth check fails, a second before that client
# is told: try at once, not after the five have finished.
expect_log 'too many failed logins from the address of peer 127\.0\.0\.1:[0-9]+: blocked for 2 s'
refused blocked '^security-result failed: too many failed logins; try again later$' \
	'refused: too many failed logins from this address: blocked for [0-9]+ s more; .*user "alice"' \
	"$NOCERT" --subtype 262 --user alice --password pw-of-alice
for p in "${pids[@]}"; do wait "$p" && fail "a wrong password was accepted"; done
checked=$(tail -n +"$FROM" "$DAEMON_LOG" | grep -c 'refused: authentication failed: wrong password')
[ "$checked" -eq 5 ] || fail "$checked of eight parallel guesses were checked, not 5"
[ "$(grep -lE '^security-result failed: too many (logins at once|failed logins); try again later$' \
	"$T"/bad-*.out | wc -l)" -eq 3 ] || fail "three parallel guesses were not refused unchecked"
# When the block ends the right password works again; trying while it
# lasts is refused unchecked and does not lengthen it.
logs_in() {
	login after-block "$NOCERT" --subtype 262 --user alice --password pw-of-alice \
		--echo-check 4096
	[ "$VT_RC" -eq 0 ]
}
wait_until 10 logs_in || fail "the right password is still refused after the block"
expect_out after-block '^echo ok 4096$'
log "ok: after-block"
stop_daemon
log "PASS"
