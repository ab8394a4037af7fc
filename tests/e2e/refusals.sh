#!/usr/bin/env bash
# Every refusal: what the client sees, the log line, that the backend was
# never contacted, and that a good client works right after.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

make_certs
make_bad_certs
certs client trudy --dn "CN=trudy,O=Evil\\,O=Example,C=GB"
"$CERTTOOL_SCRIPT" -d "$OTHER" init-ca --cn "Other CA" >>"$T/certs.log" 2>&1 || fail "other CA"
"$CERTTOOL_SCRIPT" -d "$OTHER" client good --dn "CN=good,O=Example,C=GB" >>"$T/certs.log" 2>&1 ||
	fail "other CA client"

start_backend backend --mode echo
write_config "$T/vencryptd.conf" "backend = \"$BACKEND_ADDR\";
    allowed_dn = [ \"CN=*,O=Example,C=GB\" ];"
start_daemon "$T/vencryptd.conf"
CA=(--ca "$PKI/ca-cert.pem")

good_client_works
[ "$(backend_contacts "$BACKEND_LOG")" -eq 1 ] || fail "the good client did not reach the backend"

# refused NAME CLIENT-REGEX LOG-REGEX -- vtclient args: the client is
# refused as CLIENT-REGEX says, the log says LOG-REGEX, the backend is not
# contacted, and the good client works right after.
refused() {
	local name=$1 see=$2 said=$3
	shift 4
	local before
	before=$(backend_contacts "$BACKEND_LOG")
	vt "$name" "$@"
	[ "$VT_RC" -ne 0 ] || fail "$name: the client was not refused"
	expect_out "$name" "$see"
	expect_log "$said"
	good_client_works
	# The good client's own session is the only new contact.
	[ "$(backend_contacts "$BACKEND_LOG")" -eq $((before + 1)) ] ||
		fail "$name: the backend was contacted for a refused client"
	log "ok: $name"
}

with() { echo --cert "$(client_cert "$1")" --key "$(client_key "$1")"; }

# shellcheck disable=SC2046
{
refused no-cert '^security-result failed: no client certificate$' \
	'refused: no client certificate; peer 127\.0\.0\.1:[0-9]+, service test, dn ""' -- "${CA[@]}"
# A GnuTLS client does not send a certificate from a CA the server does not
# list, so "another CA" arrives as "no client certificate".
refused other-ca '^security-result failed: (no client certificate|certificate not trusted)$' \
	'refused: (no client certificate|certificate not trusted)' -- "${CA[@]}" \
	--cert "$OTHER/clients/good/cert.pem" --key "$OTHER/clients/good/key.pem"
refused expired '^security-result failed: certificate expired$' \
	'refused: certificate expired; peer 127\.0\.0\.1:[0-9]+, service test, dn "CN=expired,O=Example,C=GB"' \
	-- "${CA[@]}" $(with expired)
refused not-yet-valid '^security-result failed: certificate not yet valid$' \
	'refused: certificate not yet valid; peer 127\.0\.0\.1:[0-9]+, service test, dn "CN=early,O=Example,C=GB"' \
	-- "${CA[@]}" $(with early)
refused revoked '^security-result failed: certificate revoked$' \
	'refused: certificate revoked; peer 127\.0\.0\.1:[0-9]+, service test, dn "CN=revoked,O=Example,C=GB"' \
	-- "${CA[@]}" $(with revoked)
refused no-client-eku '^security-result failed: certificate not for client authentication$' \
	'refused: certificate not for client authentication; peer 127\.0\.0\.1:[0-9]+, service test, dn "CN=servereku,O=Example,C=GB"' \
	-- "${CA[@]}" $(with servereku)
refused dn-not-allowed '^security-result failed: not authorised$' \
	'refused: not authorised: the dn matches no allowed_dn; peer 127\.0\.0\.1:[0-9]+, service test, dn "CN=stranger,O=Elsewhere,C=GB"' \
	-- "${CA[@]}" $(with stranger)
refused dn-escaped-comma '^security-result failed: not authorised$' \
	'refused: not authorised: the dn matches no allowed_dn; peer 127\.0\.0\.1:[0-9]+, service test, dn "CN=trudy,O=Evil\\,O=Example,C=GB"' \
	-- "${CA[@]}" $(with trudy)
}

refused rfb-3.3 '^refused: VeNCrypt needs RFB 3\.7 or later$' \
	'refused: client speaks RFB 3\.3; peer 127\.0\.0\.1:[0-9]+, service test, dn ""' -- --rfb-version 3.3
refused wrong-sectype '^security-result failed: only VeNCrypt is offered$' \
	'refused: client chose security type 2; peer 127\.0\.0\.1:[0-9]+, service test, ' -- --sectype 2
refused vencrypt-0.1 '^vencrypt-refused' \
	'refused: client asked for VeNCrypt 0\.1; peer 127\.0\.0\.1:[0-9]+, service test, ' -- --vencrypt 0.1
refused subtype-not-offered '^subtype-ack 0' \
	'refused: client chose subtype 262 \(X509Plain\), which is not offered; peer 127\.0\.0\.1:[0-9]+, service test, ' -- --subtype 262
refused tlsnone '^subtype-ack 0' \
	'refused: client chose subtype 257 \(TLSNone\), which is not offered; peer 127\.0\.0\.1:[0-9]+, service test, ' -- --subtype 257
refused garbage '^closed-by-server' \
	'refused: client sent no RFB version; peer 127\.0\.0\.1:[0-9]+, service test, ' -- --rfb-version garbage

# Silence: the handshake deadline (5 s here) closes the connection.
vt silence --silent
expect_out silence '^closed-by-server after=[4-6]\.'
expect_log 'refused: handshake timeout in state version; peer 127\.0\.0\.1:[0-9]+, service test, '
good_client_works

# Trickle: a byte a second never rests for 5 s, so an idle timer would
# never fire; the deadline is counted from accept, so it ends at 5 s.
: >"$T/trickle.out"
(
	trap '' PIPE
	exec 3<>"/dev/tcp/127.0.0.1/$DAEMON_PORT" || exit 1
	for c in R F B ' ' 0 0 3 . 0 0; do
		printf %s "$c" >&3 2>/dev/null || break
		grep -q 'handshake timeout in state version' "$DAEMON_LOG" && break
		sleep 1
	done
	echo "trickle done after $SECONDS s" >>"$T/trickle.out"
) &
trickle=$!
wait "$trickle"
expect_log 'refused: handshake timeout in state version; peer 127\.0\.0\.1:[0-9]+, service test, '
[ "$(grep -c 'handshake timeout' "$DAEMON_LOG")" -eq 2 ] ||
	fail "the trickling client was not cut at the deadline"
good_client_works

stop_daemon
log "PASS"
