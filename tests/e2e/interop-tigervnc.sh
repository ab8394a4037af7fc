#!/usr/bin/env bash
# TigerVNC's vncviewer under Xvfb through vencryptd in front of a real
# Xvnc.  vncviewer cannot present a client certificate, so it logs in with
# X509Plain (VNC_USERNAME / VNC_PASSWORD) to a service with
# client_cert = "optional"; success means its window shows Xvnc's root
# window pixel for pixel.  It exits 0 even when refused, so refusals are
# judged by the reason it logs.  Without a password it is refused by a
# service that requires a certificate, with that reason.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1
. "$top_srcdir/tests/e2e/viewer.sh" || exit 1
. "$top_srcdir/tests/e2e/interop.sh" || exit 1

for p in vncviewer Xvfb xwd xwininfo; do
	command -v "$p" >/dev/null || fail "$p is not installed (./quickstart check installs it)"
done

client_try() {
	local name=$1 port=$2 cert=$3 user=$4 pw=$5
	[ -z "$cert" ] || fail "$name: vncviewer cannot present a client certificate"
	CLIENT_RC=0
	if [ -n "$user" ]; then
		export VNC_USERNAME=$user VNC_PASSWORD=$pw
		VIEWER_SECURITY_TYPES=X509Plain run_viewer "$T/$name.out" "127.0.0.1::$port" || CLIENT_RC=1
		unset VNC_USERNAME VNC_PASSWORD
	else
		VIEWER_SECURITY_TYPES=X509None run_viewer "$T/$name.out" "127.0.0.1::$port" || CLIENT_RC=1
	fi
}
client_shows_backend() {
	local rc=0
	viewer_shows_backend "$DISPLAY_NUM" 10 || rc=1
	stop_viewer
	return $rc
}
client_reason() { printf '%s\n' "$VIEWER_ERROR"; }

interop_setup
start_xvfb
interop_case plain-nocert plain "" alice pw-of-alice ok \
	'authorised: .*service plain, dn "", subtype X509Plain, user "alice"'
interop_password_cases
interop_case no-cert x509 "" "" "" "Authentication failure: no client certificate" \
	'refused: no client certificate; .*service x509'
stop_daemon
log "PASS"
