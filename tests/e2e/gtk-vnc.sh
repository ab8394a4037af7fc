#!/usr/bin/env bash
# gtk-vnc (gvnccapture, the library behind virt-viewer and remote-viewer)
# presents a client certificate through vencryptd in front of a real Xvnc:
# its capture equals the one taken from Xvnc directly, and a certificate
# outside allowed_dn is refused with the reason shown to the client.
#
# gtk-vnc reads ~/.pki of the passwd entry's home, not $HOME, so the test
# gives it a home of its own with nss_wrapper.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

command -v gvnccapture >/dev/null ||
	fail "gvnccapture is not installed (gvncviewer; ./quickstart check installs it)"
need_nss_wrapper

make_certs
certs client stranger --dn "CN=stranger,O=Elsewhere,C=GB"

start_xvnc

# home NAME CLIENT: a home whose ~/.pki holds the CA and CLIENT's files
# under gvnccapture's client name, and a passwd file pointing at it.
home() {
	local h="$T/home-$1"
	mkdir -p "$h/.pki/CA" "$h/.pki/gvnccapture/private"
	cp "$PKI/ca-cert.pem" "$h/.pki/CA/cacert.pem"
	cp "$(client_cert "$2")" "$h/.pki/gvnccapture/clientcert.pem"
	cp "$(client_key "$2")" "$h/.pki/gvnccapture/private/clientkey.pem"
	getent passwd "$(id -u)" | awk -F: -v h="$h" 'BEGIN {OFS=":"} {$6=h; print}' >"$T/passwd-$1"
}
home good good
home stranger stranger

# capture OUT.png PORT [HOME]: gvnccapture of localhost:PORT, bounded.
capture() {
	local out=$1 port=$2 who=${3:-}
	local env=()
	[ -n "$who" ] && env=(LD_PRELOAD="$NSS_WRAPPER_LIB" NSS_WRAPPER_PASSWD="$T/passwd-$who"
		NSS_WRAPPER_GROUP=/etc/group)
	env "${env[@]}" timeout 30 gvnccapture "localhost:$((port - 5900))" "$out"
}

capture "$T/direct.png" "$XPORT" >"$T/direct.out" 2>&1 || fail "direct capture of Xvnc failed"

VPORT=$(free_port)
write_config "$T/vencryptd.conf" "backend = \"unix:$SOCK\";
    allowed_dn = [ \"CN=good,O=Example,C=GB\" ];"
sed -i "s/127.0.0.1:0/127.0.0.1:$VPORT/" "$T/vencryptd.conf"
start_daemon "$T/vencryptd.conf"
[ "$DAEMON_PORT" = "$VPORT" ] || fail "vencryptd is not on port $VPORT"

capture "$T/through.png" "$VPORT" good >"$T/through.out" 2>&1 ||
	fail "gvnccapture through vencryptd failed"
cmp -s "$T/direct.png" "$T/through.png" ||
	fail "the capture through vencryptd differs from Xvnc's own"
expect_log 'authorised: .*dn "CN=good,O=Example,C=GB", subtype X509None'

if capture "$T/stranger.png" "$VPORT" stranger >"$T/stranger.out" 2>&1; then
	fail "a certificate outside allowed_dn captured the desktop"
fi
[ ! -s "$T/stranger.png" ] || fail "a refused client wrote a capture"
expect_log 'refused: not authorised: the dn matches no allowed_dn; .*dn "CN=stranger,O=Elsewhere,C=GB"'

stop_daemon
log "PASS"
