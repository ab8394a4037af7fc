#!/usr/bin/env bash
# The default TLS priority refuses every obsolete protocol and weak suite
# class.  Each class is offered alone (gnutls-cli with a forced priority,
# or a hand-made ClientHello for what neither Debian 12's gnutls-cli nor
# its openssl s_client can offer any more: SSL 2.0, SSL 3.0, export
# suites) through tests/vencrypt-unwrap.py,
# and must be refused: a fatal handshake_failure or protocol_version alert
# in the client's output and in the bytes the shim saw, and a "TLS
# handshake failed" refusal in the daemon log for that very connection.
# A client that turns out unable to offer its class fails the test.  The
# default client priority and a well-formed hand-made TLS 1.2 hello succeed
# before and after, so the refusals are the server's doing.  Two services
# on the default priority: an ECDSA certificate with X509None (client
# certificate required) and an RSA certificate with X509Plain (client
# certificate optional), where static RSA and finite-field DHE key
# exchanges would be possible and must be refused too.  Classes: SSL 2.0,
# SSL 3.0, TLS 1.0, TLS 1.1, RC4, 3DES, CBC with SHA-1, CBC with SHA-2,
# anonymous DH and ECDH, NULL, export, static RSA, DHE, and a TLS 1.2
# client accepting only SHA-1 signatures.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1
. "$top_srcdir/tests/e2e/tlslib.sh" || exit 1

command -v gnutls-cli >/dev/null || fail "gnutls-cli is not installed (gnutls-bin)"

start_tls_services 'subtypes = [ "X509None" ]; client_cert = "require";'
start_unwrap ecdsa ecdsa X509None
start_unwrap rsa rsa X509Plain

# What every forced priority shares: no compression, every signature
# algorithm and group, so only the class itself can make it fail.
ANY="+COMP-NULL:+SIGN-ALL:+GROUP-ALL"
KX="+RSA:+ECDHE-RSA:+ECDHE-ECDSA:+DHE-RSA"
declare -A PRIORITY=(
	[tls1.0]="NORMAL:-VERS-ALL:+VERS-TLS1.0"
	[tls1.1]="NORMAL:-VERS-ALL:+VERS-TLS1.1"
	[rc4]="NONE:+VERS-TLS1.2:+ARCFOUR-128:+SHA1:+MD5:$KX:$ANY"
	[3des]="NONE:+VERS-TLS1.2:+3DES-CBC:+SHA1:$KX:$ANY"
	[cbc-sha1]="NONE:+VERS-TLS1.2:+AES-128-CBC:+AES-256-CBC:+CAMELLIA-128-CBC:+CAMELLIA-256-CBC:+SHA1:$KX:$ANY"
	[cbc-sha2]="NONE:+VERS-TLS1.2:+AES-128-CBC:+AES-256-CBC:+CAMELLIA-128-CBC:+CAMELLIA-256-CBC:+SHA256:+SHA384:$KX:$ANY"
	[anon]="NONE:+VERS-TLS1.2:+AES-128-GCM:+AES-256-GCM:+AES-128-CBC:+AES-256-CBC:+AEAD:+SHA1:+SHA256:+ANON-DH:+ANON-ECDH:$ANY"
	[null]="NONE:+VERS-TLS1.2:+NULL:+SHA1:+SHA256:+MD5:$KX:$ANY"
	[rsa-kx]="NONE:+VERS-TLS1.2:+AES-128-GCM:+AES-256-GCM:+AES-128-CCM:+AES-256-CCM:+AEAD:+RSA:$ANY"
	[dhe]="NONE:+VERS-TLS1.2:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-CCM:+AES-256-CCM:+AEAD:+DHE-RSA:$ANY"
	[sha1-sig]="NORMAL:-VERS-ALL:+VERS-TLS1.2:-SIGN-ALL:+SIGN-RSA-SHA1:+SIGN-ECDSA-SHA1:+SIGN-DSA-SHA1"
)
GNUTLS_CLASSES=(tls1.0 tls1.1 rc4 3des cbc-sha1 cbc-sha2 anon null rsa-kx dhe sha1-sig)
HAND_MADE=(ssl2 ssl3 export)

gnutls_cli() {
	local svc=$1 port=$2
	shift 2
	timeout 60 gnutls-cli --x509cafile "$(ca_of "$svc")" -p "$port" "$@" 127.0.0.1
}

# The daemon's verdict on connection VIA of service SVC.
logged_refusal() {
	expect_log "refused: TLS handshake failed: [^;]*; peer 127\\.0\\.0\\.1:$1, service $2, "
}

# accepted SVC PORT STEP: the default client priority (with the good
# client's certificate, or alice's password, so the session goes all the
# way to the backend) and the hand-made TLS 1.2 hello both get a
# ServerHello; the first negotiates TLS 1.3.
accepted() {
	local svc=$1 port=$2 step=$3 auth=() stdin=/dev/null
	if [ "$svc" = ecdsa ]; then
		auth=(--x509certfile "$(client_cert good)" --x509keyfile "$(client_key good)")
	else
		# X509Plain: u32 user length, u32 password length, both.
		stdin="$T/alice.creds"
		printf '\0\0\0\5\0\0\0\013alicepw-of-alice' >"$stdin"
	fi
	CLIENT_STDIN=$stdin through "$svc" modern accepted "$svc-default-$step" \
		gnutls_cli "$svc" "$port" "${auth[@]}"
	[ "$CLIENT_RC" -eq 0 ] || fail "$svc-default-$step: gnutls-cli exited $CLIENT_RC"
	expect_out "$svc-default-$step" '^- Handshake was completed'
	expect_out "$svc-default-$step" '^- Description: \(TLS1\.3-'
	expect_log "authorised: peer 127\\.0\\.0\\.1:$VIA, service $svc, .*TLS1\\.3 "
	log "ok: $svc: default client priority: $CHECK"

	through "$svc" modern accepted "$svc-hello-modern-$step" \
		"$PYTHON" "$UNWRAP" hello --connect "127.0.0.1:$port" --kind modern
	expect_out "$svc-hello-modern-$step" '^reply server-hello TLS1\.2 TLS_ECDHE_(ECDSA|RSA)_WITH_'
	# It leaves after the ServerHello: the client going away, not a refusal.
	expect_log "closed: client closed during TLS handshake; peer 127\\.0\\.0\\.1:$VIA, "
	log "ok: $svc: hand-made TLS 1.2 hello: $CHECK"
}

for svc in ecdsa rsa; do
	port=$(cat "$T/$svc.port")
	accepted "$svc" "$port" before

	for cls in "${GNUTLS_CLASSES[@]}"; do
		out="$svc-$cls"
		through "$svc" "$cls" refused "$out" \
			gnutls_cli "$svc" "$port" --priority "${PRIORITY[$cls]}"
		[ "$CLIENT_RC" -ne 0 ] || fail "$out: gnutls-cli exited 0"
		expect_out "$out" '^\*\*\* Received alert \[(40|70|71)\]'
		grep -q '^- Handshake was completed' "$T/$out.out" &&
			fail "$out: gnutls-cli completed a handshake"
		logged_refusal "$VIA" "$svc"
		log "ok: $svc: $cls (gnutls-cli): $CHECK"
	done

	for kind in "${HAND_MADE[@]}"; do
		out="$svc-hello-$kind"
		through "$svc" "$kind" refused "$out" \
			"$PYTHON" "$UNWRAP" hello --connect "127.0.0.1:$port" --kind "$kind"
		[ "$CLIENT_RC" -eq 0 ] || fail "$out: the hand-made hello could not be sent"
		expect_out "$out" '^reply alert fatal (handshake_failure|protocol_version|insufficient_security) '
		logged_refusal "$VIA" "$svc"
		log "ok: $svc: $kind (hand-made hello): $CHECK"
	done

	accepted "$svc" "$port" after
done

# Every connection the shims made is accounted for: two controls twice,
# and one refusal per class, per service; no other handshake failed, and
# the hand-made modern hello left four times in all.
want=$((2 * 2 + ${#GNUTLS_CLASSES[@]} + ${#HAND_MADE[@]}))
for svc in ecdsa rsa; do
	[ "$(unwrap_conns "$svc")" -eq "$want" ] ||
		fail "$svc: $(unwrap_conns "$svc") connections through the shim, expected $want"
done
failed=$(grep -c 'refused: TLS handshake failed' "$DAEMON_LOG")
[ "$failed" -eq $((2 * (${#GNUTLS_CLASSES[@]} + ${#HAND_MADE[@]}))) ] ||
	fail "$failed TLS handshake failures logged"
left=$(grep -c 'closed: client closed during TLS handshake' "$DAEMON_LOG")
[ "$left" -eq 4 ] || fail "$left clients logged as leaving during the TLS handshake, expected 4"
stop_daemon
log "ok: all classes refused by both services"
