#!/usr/bin/env bash
# A real Xvnc behind vencryptd: the libvncclient test client (an
# independent VeNCrypt implementation that checks our certificate and host
# name and presents its own) reads the framebuffer through vencryptd, over
# a TCP backend and over a Unix-socket backend, and it equals the
# framebuffer read from Xvnc directly.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

command -v Xvnc >/dev/null || fail "Xvnc is not installed (tigervnc-standalone-server)"
command -v xsetroot >/dev/null || fail "xsetroot is not installed (x11-xserver-utils)"
make_certs

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
free_display() {
	local n
	for n in $(seq 40 99); do
		if [ ! -e "/tmp/.X$n-lock" ] && [ ! -e "/tmp/.X11-unix/X$n" ]; then
			echo "$n"
			return 0
		fi
	done
	return 1
}

SOCK="$T/xvnc.sock"
started=0
for attempt in 1 2 3 4 5; do
	DISPLAY_NUM=$(free_display) || fail "no free X display"
	XPORT=$(free_port)
	Xvnc ":$DISPLAY_NUM" -SecurityTypes None -localhost -rfbport "$XPORT" \
		-rfbunixpath "$SOCK" -nolisten tcp -geometry 320x200 -depth 24 \
		-desktop e2e >"$T/xvnc.log" 2>&1 &
	XPID=$!
	PIDS+=($XPID)
	if wait_until 10 test -S "$SOCK" && kill -0 "$XPID" 2>/dev/null &&
		wait_until 5 grep -q "Listening for VNC connections on .*port $XPORT" "$T/xvnc.log"; then
		started=1
		break
	fi
	kill "$XPID" 2>/dev/null; wait "$XPID" 2>/dev/null
	rm -f "$SOCK"
done
[ $started -eq 1 ] || fail "Xvnc did not start"
# Something to see that does not change: a patterned root window.
DISPLAY=":$DISPLAY_NUM" xsetroot -mod 7 5 -fg '#c04020' -bg '#2040c0' ||
	fail "xsetroot failed"

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
