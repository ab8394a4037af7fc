#!/usr/bin/env bash
# libvncclient (Remmina, KRDC) through vencryptd in front of a real Xvnc:
# X509None with a client certificate, X509Plain with and without one, and
# every refusal with the reason the client shows.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1
. "$top_srcdir/tests/e2e/interop.sh" || exit 1

client_try() {
	interop_args "$@"
	CLIENT_RC=0
	"$PEERS/vncclient" "${CLIENT_ARGS[@]}" >"$T/$1.out" 2>&1 || CLIENT_RC=$?
}
client_shows_backend() { cmp -s "$T/direct.ppm" "$T/$1.ppm"; }
client_reason() { sed -n 's/^refused: //p' "$T/$1.out" | head -n 1; }

# The one PEM file export writes for libvncclient, given as all four files.
client_try_exported() {
	local b="$T/export/good.pem"
	"$PEERS/vncclient" --host 127.0.0.1 --port "$2" --ca "$b" --crl "$b" \
		--cert "$b" --key "$b" --out "$T/$1.ppm" --timeout 20 >"$T/$1.out" 2>&1
}

interop_setup
interop_all_cases
interop_exported exported-bundle
stop_daemon
log "PASS"
