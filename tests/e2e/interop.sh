# interop.sh - the cases every real client runs against vencryptd in front
# of a real Xvnc (sourced after lib.sh by the interop-*.sh tests, not run).
#
# A test defines the client adapter, then calls interop_setup and runs
# interop_case for what its client can do:
#   client_try NAME PORT CERT USER PASSWORD
#       connect to 127.0.0.1:PORT (CERT: a client name from make_certs, or
#       empty for none; USER empty: no password); CLIENT_RC 0 when the
#       client got the desktop, the output in $T/NAME.out
#   client_shows_backend NAME
#       after a success: what the client got equals Xvnc's framebuffer
#   client_reason NAME
#       after a refusal: print the reason as the client shows it
#
# Services: "x509" (X509None, client_cert require) and "plain"
# (X509Plain, client_cert optional, allowed_users alice); both allow
# CN=*,O=Example,C=GB.  Users: alice (pw-of-alice), carol (pw-of-carol,
# not in allowed_users).  Certificates: good, stranger (another O),
# revoked.
# shellcheck shell=bash

interop_setup() {
	make_certs
	certs client stranger --dn "CN=stranger,O=Elsewhere,C=GB"
	certs client revoked --dn "CN=revoked,O=Example,C=GB"
	certs revoke revoked
	local u
	for u in alice carol; do
		printf 'pw-of-%s\n' "$u" | vencryptd --hash-password "$u" >>"$T/passwd" ||
			fail "--hash-password $u"
	done

	start_xvnc
	"$PEERS/vncclient" --host 127.0.0.1 --port "$XPORT" --out "$T/direct.ppm" \
		--timeout 20 >"$T/direct.out" 2>&1 || fail "direct read from Xvnc failed"

	cat >"$T/vencryptd.conf" <<CONF
log = { level = "debug"; target = "stderr"; };
tls = { cert_dir = "$PKI"; };
limits = { handshake_timeout = 10; };
services = (
  { name = "x509"; listen = [ "127.0.0.1:0" ]; backend = "unix:$SOCK";
    subtypes = [ "X509None" ]; client_cert = "require";
    allowed_dn = [ "CN=*,O=Example,C=GB" ]; },
  { name = "plain"; listen = [ "127.0.0.1:0" ]; backend = "unix:$SOCK";
    subtypes = [ "X509Plain" ]; client_cert = "optional";
    allowed_dn = [ "CN=*,O=Example,C=GB" ];
    passwd_file = "$T/passwd"; allowed_users = [ "alice" ]; }
);
CONF
	start_daemon "$T/vencryptd.conf"
	X509_PORT=$(awk '$1 == "x509" {print $2}' "$T/daemon.ports" | sed 's/.*://')
	PLAIN_PORT=$(awk '$1 == "plain" {print $2}' "$T/daemon.ports" | sed 's/.*://')
}

# interop_args NAME PORT CERT USER PASSWORD: CLIENT_ARGS for the test
# clients sharing one set of options (tests/vncclient, tests/gvncclient.py).
interop_args() {
	local name=$1 port=$2 cert=$3 user=$4 pw=$5
	CLIENT_ARGS=(--host 127.0.0.1 --port "$port" --ca "$PKI/ca-cert.pem"
		--crl "$PKI/ca-crl.pem" --out "$T/$name.ppm" --timeout 20)
	[ -z "$cert" ] || CLIENT_ARGS+=(--cert "$(client_cert "$cert")" --key "$(client_key "$cert")")
	[ -z "$user" ] || CLIENT_ARGS+=(--user "$user" --password "$pw")
}

# interop_case NAME SERVICE CERT USER PASSWORD ok|REASON [LOG-REGEX]: the
# client gets the desktop, or is refused and shows REASON; the daemon log
# has the authorised or refused line (LOG-REGEX, default from REASON).
interop_case() {
	local name=$1 svc=$2 cert=$3 user=$4 pw=$5 expect=$6 said=${7:-}
	local port=$X509_PORT
	[ "$svc" = plain ] && port=$PLAIN_PORT
	client_try "$name" "$port" "$cert" "$user" "$pw"
	if [ "$expect" = ok ]; then
		[ "$CLIENT_RC" -eq 0 ] || fail "$name: the client was refused"
		client_shows_backend "$name" ||
			fail "$name: what the client shows is not Xvnc's framebuffer"
		expect_log "${said:-authorised: .*service $svc}"
	else
		[ "$CLIENT_RC" -ne 0 ] || fail "$name: the client was not refused"
		local seen
		seen=$(client_reason "$name")
		case $seen in
		*"$expect"*) ;;
		*) fail "$name: the client shows \"$seen\", not \"$expect\"" ;;
		esac
		expect_log "${said:-refused: $expect}"
	fi
	log "ok: $name"
}

# The cases for a client that can present certificates.
interop_all_cases() {
	interop_case x509-good x509 good "" "" ok \
		'authorised: .*service x509, dn "CN=good,O=Example,C=GB", subtype X509None'
	interop_case plain-nocert plain "" alice pw-of-alice ok \
		'authorised: .*service plain, dn "", subtype X509Plain, user "alice"'
	interop_case plain-cert plain good alice pw-of-alice ok \
		'authorised: .*service plain, dn "CN=good,O=Example,C=GB", subtype X509Plain, user "alice"'
	interop_password_cases
	interop_case refused-dn x509 stranger "" "" "not authorised" \
		'refused: not authorised: the dn matches no allowed_dn; .*dn "CN=stranger,O=Elsewhere,C=GB"'
	interop_case revoked x509 revoked "" "" "certificate revoked" \
		'refused: certificate revoked; .*dn "CN=revoked,O=Example,C=GB"'
}

# Wrong password, unknown user, a user outside allowed_users.
interop_password_cases() {
	interop_case wrong-password plain "" alice pw-of-carol "authentication failed" \
		'refused: authentication failed: wrong password; .*user "alice"'
	interop_case unknown-user plain "" mallory pw-of-alice "authentication failed" \
		'refused: authentication failed: unknown user; .*user "mallory"'
	interop_case not-allowed plain "" carol pw-of-carol "authentication failed" \
		'refused: authentication failed: the user is not in allowed_users; .*user "carol"'
	! grep -q 'pw-of-' "$DAEMON_LOG" || fail "a password is in the daemon's log"
}

# interop_exported NAME [--as DIRNAME]: client_try_exported NAME, the client
# reading the files `vencryptd-certs export good` wrote into $T/export
# (each adapter reads them as its real client does), gets the desktop
# through the x509 service; the keys it reads are mode 0600.
interop_exported() {
	local name=$1
	shift
	certs export good "$T/export" "$@"
	grep -q 'copy' "$T/certs.log" || fail "export printed no instructions"
	local k
	for k in "$T/export/good.pem" "$T/export"/*/private/clientkey.pem; do
		[ "$(stat -c %a "$k")" = 600 ] || fail "$k is mode $(stat -c %a "$k"), not 600"
	done
	CLIENT_RC=0
	client_try_exported "$name" "$X509_PORT" || CLIENT_RC=$?
	[ "$CLIENT_RC" -eq 0 ] || fail "$name: the client was refused with the exported files"
	client_shows_backend "$name" ||
		fail "$name: what the client shows is not Xvnc's framebuffer"
	expect_log 'authorised: .*service x509, dn "CN=good,O=Example,C=GB", subtype X509None'
	log "ok: $name"
}
