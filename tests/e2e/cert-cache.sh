#!/usr/bin/env bash
# Client certificate chains that verified are remembered: a client coming
# back is let in without a second chain verification, but only while its
# certificate is valid; a chain that failed is never remembered; a reload
# forgets them all.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

# The brief client's certificate ends SPAN seconds from now: long enough
# for two connections on a loaded machine, short enough to wait out.
SPAN=12
END_EPOCH=$(($(date +%s) + SPAN))
END=$(date -u -d "@$END_EPOCH" '+%Y-%m-%d %H:%M:%S UTC')
make_certs
certs client brief --dn "CN=brief,O=Example,C=GB" --expiration "$END"
certs client revoked --dn "CN=revoked,O=Example,C=GB"
certs revoke revoked

start_backend backend --mode echo
write_config "$T/vencryptd.conf" "backend = \"$BACKEND_ADDR\";
    allowed_dn = [ \"CN=*,O=Example,C=GB\" ];"
start_daemon "$T/vencryptd.conf"
CA=(--ca "$PKI/ca-cert.pem")
with() { echo --cert "$(client_cert "$1")" --key "$(client_key "$1")"; }
REMEMBERED='client certificate chain verified before, still valid'

# connect NAME CLIENT: a session with CLIENT's certificate; its session id
# in SID once it has ended.
closed_count() { grep -c ': closed: ' "$DAEMON_LOG"; }
more_closed() { [ "$(closed_count)" -gt "$1" ]; }
connect() {
	local before
	before=$(closed_count)
	# shellcheck disable=SC2046
	vt "$1" "${CA[@]}" $(with "$2") --echo-check 100
	wait_until 10 more_closed "$before" || fail "$1: the session did not end"
	SID=$(sed -n 's/^.*session \([0-9]*\): closed: .*$/\1/p' "$DAEMON_LOG" | tail -n 1)
}
remembered() { grep -q "session $SID: $REMEMBERED" "$DAEMON_LOG"; }
served() {
	[ "$VT_RC" -eq 0 ] || fail "$1: refused"
	expect_out "$1" '^echo ok 100'
}

connect brief-1 brief
served brief-1
! remembered || fail "brief-1: a chain never seen was taken as verified before"
connect brief-2 brief
served brief-2
remembered || fail "brief-2: the chain verified a moment ago was verified again"
[ "$(date +%s)" -lt "$END_EPOCH" ] ||
	fail "the machine took more than $SPAN s for two sessions: cannot test expiry"
log "ok: the second session of one certificate used the remembered chain"

# Past its end the remembered chain does not let the certificate in.
past_end() { [ "$(date +%s)" -gt "$END_EPOCH" ]; }
wait_until $((SPAN + 5)) past_end || fail "the certificate's end did not come"
connect brief-3 brief
[ "$VT_RC" -ne 0 ] || fail "brief-3: an expired certificate was let in"
expect_out brief-3 '^security-result failed: certificate expired$'
! remembered || fail "brief-3: an expired chain was taken as verified before"
log "ok: expired at its end, remembered or not"

# Failures are never remembered.
connect revoked-1 revoked
expect_out revoked-1 '^security-result failed: certificate revoked$'
connect revoked-2 revoked
expect_out revoked-2 '^security-result failed: certificate revoked$'
! remembered || fail "revoked-2: a failed chain was remembered"
log "ok: a refused chain is verified every time"

# A reload forgets: the next session verifies the chain again.
connect good-1 good
served good-1
connect good-2 good
remembered || fail "good-2: not remembered"
kill -HUP "$DAEMON_PID"
expect_log 'reload succeeded'
connect good-3 good
served good-3
! remembered || fail "good-3: a chain remembered across a reload"
connect good-4 good
remembered || fail "good-4: not remembered after the reload"
log "ok: a reload forgets the remembered chains"
[ "$(backend_contacts "$BACKEND_LOG")" -eq 6 ] ||
	fail "the backend saw $(backend_contacts "$BACKEND_LOG") sessions, not 6"
