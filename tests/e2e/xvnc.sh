#!/usr/bin/env bash
# A real Xvnc behind vencryptd: the libvncclient test client (an
# independent VeNCrypt implementation that checks our certificate and host
# name and presents its own) reads the framebuffer through vencryptd, over
# a TCP backend and over a Unix-socket backend, and it equals the
# framebuffer read from Xvnc directly.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

make_certs

start_xvnc

"$PEERS/vncclient" --host 127.0.0.1 --port "$XPORT" --out "$T/direct.ppm" \
	--timeout 20 >"$T/direct.out" 2>&1 || fail "direct read from Xvnc failed"
grep -q '^framebuffer 320x200$' "$T/direct.out" || fail "direct read: unexpected size"

TLSARGS=(--ca "$PKI/ca-cert.pem" --cert "$(client_cert good)" --key "$(client_key good)"
	--crl "$PKI/ca-crl.pem")

# through BACKEND: read the framebuffer through vencryptd in front of it.
through() {
	local name=$1 backend=$2
	write_config "$T/$name.conf" "backend = \"$backend\";
    allowed_dn = [ \"CN=good,O=Example,C=GB\" ];"
	start_daemon "$T/$name.conf"
	"$PEERS/vncclient" --host 127.0.0.1 --port "$DAEMON_PORT" "${TLSARGS[@]}" \
		--out "$T/$name.ppm" --timeout 20 >"$T/$name.out" 2>&1 ||
		fail "$name: read through vencryptd failed"
	cmp -s "$T/direct.ppm" "$T/$name.ppm" ||
		fail "$name: the framebuffer through vencryptd differs from Xvnc's own"
	expect_log 'authorised: .*dn "CN=good,O=Example,C=GB", subtype X509None'
	stop_daemon
	log "ok: $name"
}

through tcp "127.0.0.1:$XPORT"
through unix "unix:$SOCK"

# A refused libvncclient learns why.
write_config "$T/refuse.conf" "backend = \"unix:$SOCK\";
    allowed_dn = [ \"CN=somebody-else,O=Example,C=GB\" ];"
start_daemon "$T/refuse.conf"
if "$PEERS/vncclient" --host 127.0.0.1 --port "$DAEMON_PORT" "${TLSARGS[@]}" \
	--out "$T/refused.ppm" --timeout 20 >"$T/refused.out" 2>&1; then
	fail "a client outside allowed_dn read the framebuffer"
fi
grep -q 'not authorised' "$T/refused.out" || fail "libvncclient did not show the reason"
expect_log 'refused: not authorised'
stop_daemon

log "PASS"
