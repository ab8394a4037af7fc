#!/usr/bin/env bash
# TLS session resumption, per service.  Off (the default), no ticket is
# sent and a client offering an earlier session gets a full handshake.
# On, a second connection resumes (TLS 1.3 and TLS 1.2), says so in the
# log and is relayed; a resumed session is authorised like a full one:
# allowed_dn applies (a ticket from a service sharing the credentials is
# refused where the DN is not allowed), a certificate that expired since
# the ticket was issued is refused, and after a reload (a new ticket key)
# an old ticket resumes nothing, so a certificate revoked meanwhile is
# refused in a full handshake.  bench/loadgen --resume resumes where it
# is on and not where it is off.  --check-config rejects a non-boolean
# resumption.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

make_certs
certs client other --dn "CN=other,O=Example,C=GB"
certs client victim --dn "CN=victim,O=Example,C=GB"
start_backend backend --mode echo

# "on" and "narrow" have the same TLS settings, so they share one set of
# credentials and one ticket key; "off" differs only by resumption.
cat >"$T/vencryptd.conf" <<CONF
log = { level = "debug"; target = "stderr"; };
tls = { cert_dir = "$PKI"; };
limits = { max_clients = 64; handshake_timeout = 10; backend_timeout = 5; };
services = (
  { name = "off"; listen = [ "127.0.0.1:0" ]; backend = "$BACKEND_ADDR"; },
  { name = "on"; listen = [ "127.0.0.1:0" ]; backend = "$BACKEND_ADDR";
    tls = { resumption = true; }; },
  { name = "narrow"; listen = [ "127.0.0.1:0" ]; backend = "$BACKEND_ADDR";
    allowed_dn = [ "CN=good,O=Example,C=GB" ];
    tls = { resumption = true; }; }
);
CONF
start_daemon "$T/vencryptd.conf"
port_of() { awk -v s="$1" '$1 == s {print $2}' "$T/daemon.ports" | sed 's/.*://'; }

# conn SERVICE NAME CLIENT TICKET [ARGS...]: vtclient as CLIENT against
# SERVICE with --ticket-file $T/TICKET.t and an echo check; output in
# $T/NAME.out, exit status in VT_RC.
conn() {
	local svc=$1 name=$2 client=$3 ticket=$4
	shift 4
	VT_RC=0
	"$PEERS/vtclient" --connect "127.0.0.1:$(port_of "$svc")" --timeout 15 \
		--ca "$PKI/ca-cert.pem" --cert "$(client_cert "$client")" \
		--key "$(client_key "$client")" --ticket-file "$T/$ticket.t" \
		--echo-check 1000 "$@" >"$T/$name.out" 2>&1 || VT_RC=$?
}
# relayed NAME yes|no: the connection got through, resumed or not.
relayed() {
	[ "$VT_RC" -eq 0 ] || fail "$1: refused (exit $VT_RC)"
	expect_out "$1" "^tls-resumed $2\$"
	expect_out "$1" '^echo ok 1000$'
	log "ok: $1 (resumed: $2)"
}
# refused NAME yes|no REASON: refused with REASON, resumed or not.
refused() {
	[ "$VT_RC" -eq 1 ] || fail "$1: expected a refusal, got exit $VT_RC"
	expect_out "$1" "^tls-resumed $2\$"
	expect_out "$1" "^security-result failed: $3\$"
	grep -q '^echo ok' "$T/$1.out" && fail "$1: relayed although refused"
	log "ok: $1 refused: $3 (resumed: $2)"
}
# resumed_in_log COUNT: the log (since fresh_log) shows COUNT resumptions,
# each on an authorised line too unless the session was refused.
resumed_in_log() {
	expect_no_sessions
	local n
	n=$(grep -c ': TLS session resumed$' "$DAEMON_LOG")
	[ "$n" -eq "$1" ] || fail "$n sessions logged as resumed, expected $1"
}

# ---- off (the default): no ticket, nothing resumed ---------------------------
conn off off-1 good off
relayed off-1 no
expect_out off-1 '^session-ticket none$'
[ ! -e "$T/off.t" ] || fail "off: a session was saved without a ticket"

# ---- on: the second connection resumes and is relayed ------------------------
fresh_log
conn on on-1 good good
relayed on-1 no
expect_out on-1 '^ticket-saved$'
conn on on-2 good good
relayed on-2 yes
expect_log 'authorised: peer 127\.0\.0\.1:[0-9]+, service on, dn "CN=good,O=Example,C=GB", subtype X509None, TLS1\.3 [A-Z0-9-]+, resumed$'
resumed_in_log 1
[ "$(grep -c 'authorised: .*, resumed$' "$DAEMON_LOG")" -eq 1 ] ||
	fail "a full handshake was logged as resumed"

# TLS 1.2 session tickets are accepted too.
TLS12=(--priority "NORMAL:-VERS-ALL:+VERS-TLS1.2")
conn on tls12-1 good tls12 "${TLS12[@]}"
relayed tls12-1 no
expect_out tls12-1 '^tls-ok TLS1\.2$'
conn on tls12-2 good tls12 "${TLS12[@]}"
relayed tls12-2 yes
expect_log 'service on, .*TLS1\.2 [A-Z0-9-]+, resumed$'

# A ticket from "on" offered to "off": a full handshake there.
fresh_log
cp "$T/good.t" "$T/to-off.t"
conn off off-2 good to-off
relayed off-2 no
resumed_in_log 0

# The load generator's --resume: against "on" every handshake after the
# first resumes (one session at a time), against "off" none does.
for svc in on off; do
	rc=0
	"$top_builddir/bench/loadgen" --connect "127.0.0.1:$(port_of $svc)" \
		--mode vencrypt --cert "$(client_cert good)" --key "$(client_key good)" \
		--test handshake --sessions 1 --seconds 1 --timeout 15 --resume \
		>"$T/lg-$svc.out" 2>&1 || rc=$?
	[ $rc -eq 0 ] || fail "loadgen --resume against $svc exited $rc"
	out=$(tail -n 1 "$T/lg-$svc.out")
	hs=$(field "$out" handshakes)
	res=$(field "$out" resumed)
	if [ "$(field "$out" failures)" != 0 ] || [ "${hs:-0}" -lt 2 ]; then
		fail "loadgen against $svc: $out"
	fi
	want=0
	[ "$svc" = off ] || want=$((hs - 1))
	[ "$res" = "$want" ] || fail "loadgen against $svc: resumed=$res, expected $want: $out"
	log "ok: loadgen --resume against $svc: $out"
done

# ---- allowed_dn applies on resumption ------------------------------------------
# "other" may use "on", not "narrow"; its ticket from "on" resumes on
# "narrow" (the same ticket key) and is refused there all the same.
fresh_log
conn on other-1 other other
relayed other-1 no
conn narrow other-2 other other
refused other-2 yes 'not authorised'
expect_log 'refused: not authorised: the dn matches no allowed_dn; peer 127\.0\.0\.1:[0-9]+, service narrow, dn "CN=other,O=Example,C=GB"'
resumed_in_log 1
backend_before=$(backend_contacts "$BACKEND_LOG")
# good's ticket resumes on "narrow" and gets in.
conn narrow narrow-good good good
relayed narrow-good yes
[ "$(backend_contacts "$BACKEND_LOG")" -eq $((backend_before + 1)) ] ||
	fail "the backend count does not show exactly the one session let in"

# ---- a certificate that expired since the ticket was issued ----------------------
# Valid for a few seconds: the full handshake is made while it is, the
# resumption once it is not.
fresh_log
valid_for=8
until_s=$(($(date +%s) + valid_for))
certs client brief --dn "CN=brief,O=Example,C=GB" \
	--expiration "$(date -u -d "@$until_s" '+%Y-%m-%d %H:%M:%S UTC')"
conn on brief-1 brief brief
relayed brief-1 no
[ "$(date +%s)" -lt "$until_s" ] ||
	fail "the first connection ended after the certificate expired: raise valid_for"
after_expiry() { [ "$(date +%s)" -gt "$until_s" ]; }
wait_until $((valid_for + 5)) after_expiry || fail "the clock did not pass $until_s"
conn on brief-2 brief brief
refused brief-2 yes 'certificate expired'
expect_log 'refused: certificate expired; peer 127\.0\.0\.1:[0-9]+, service on, dn "CN=brief,O=Example,C=GB"'
resumed_in_log 1

# ---- revoked, then reloaded: the old ticket resumes nothing ------------------------
fresh_log
conn on victim-1 victim victim
relayed victim-1 no
conn on victim-2 victim victim
relayed victim-2 yes
certs revoke victim
kill -HUP "$DAEMON_PID"
expect_log 'reload succeeded'
conn on victim-3 victim victim
refused victim-3 no 'certificate revoked'
expect_log 'refused: certificate revoked; peer 127\.0\.0\.1:[0-9]+, service on, dn "CN=victim,O=Example,C=GB"'
# The reload made a new ticket key: good's old ticket resumes nothing
# either, and the ticket it gets now resumes again.
conn on good-3 good good
relayed good-3 no
conn on good-4 good good
relayed good-4 yes
resumed_in_log 2        # victim-2 and good-4

# ---- check-config --------------------------------------------------------------
for bad in '"yes"' 1; do
	write_config "$T/bad.conf" "backend = \"$BACKEND_ADDR\";
    tls = { resumption = $bad; };"
	rc=0
	vencryptd -t -c "$T/bad.conf" >"$T/bad.out" 2>&1 || rc=$?
	[ $rc -eq 1 ] || fail "--check-config with resumption = $bad exited $rc, not 1"
	line=$(grep -n 'resumption' "$T/bad.conf" | cut -d: -f1)
	grep -q "^$T/bad.conf:$line: \"resumption\" must be true or false$" "$T/bad.out" ||
		fail "resumption = $bad: $(cat "$T/bad.out")"
done
log "ok: check-config rejects a non-boolean resumption"

stop_daemon
