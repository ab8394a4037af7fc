#!/usr/bin/env bash
# gtk-vnc (virt-viewer, remote-viewer, virt-manager) through its GObject
# API, driven by tests/gvncclient.py, through vencryptd in front of a real
# Xvnc: X509None with a client certificate, X509Plain with and without
# one, and every refusal with the reason the client shows.  gvncclient.py
# gives gtk-vnc a home of its own (nss_wrapper): gtk-vnc reads ~/.pki of
# the passwd entry, never the machine's.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1
. "$top_srcdir/tests/e2e/interop.sh" || exit 1

/usr/bin/python3 -c 'import gi; gi.require_version("GVnc", "1.0"); from gi.repository import GVnc' \
	2>/dev/null || fail "python3-gi and gir1.2-gtk-vnc-2.0 are needed (./quickstart check installs them)"

client_try() {
	interop_args "$@"
	CLIENT_RC=0
	/usr/bin/python3 "$top_srcdir/tests/gvncclient.py" "${CLIENT_ARGS[@]}" >"$T/$1.out" 2>&1 ||
		CLIENT_RC=$?
}
client_shows_backend() { cmp -s "$T/direct.ppm" "$T/$1.ppm"; }
client_reason() { sed -n 's/^auth-failure: //p' "$T/$1.out" | head -n 1; }

# The gtk-vnc layout export writes, as the ~/.pki of a home of its own
# (nss_wrapper), under the client name "libvirt" remote-viewer asks for.
client_try_exported() {
	getent passwd "$(id -u)" |
		awk -F: -v h="$T/home" 'BEGIN {OFS=":"} {$6=h; print}' >"$T/passwd-home"
	mkdir -p "$T/home"
	ln -sfn "$T/export" "$T/home/.pki"
	LD_PRELOAD="$NSS_WRAPPER_LIB" NSS_WRAPPER_PASSWD="$T/passwd-home" \
		NSS_WRAPPER_GROUP=/etc/group GVNCCLIENT_PKI_HOME="$T/home" \
		/usr/bin/python3 "$top_srcdir/tests/gvncclient.py" --host 127.0.0.1 \
		--port "$2" --client-name libvirt --out "$T/$1.ppm" --timeout 20 \
		>"$T/$1.out" 2>&1
}
need_nss_wrapper

interop_setup
interop_all_cases
interop_exported exported-pki --as libvirt
stop_daemon
log "PASS"
