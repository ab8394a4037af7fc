# tlslib.sh - shared functions of the TLS configuration tests (sourced
# after lib.sh).
#
# vencryptd speaks RFB before TLS, so TLS tools reach it through
# tests/vencrypt-unwrap.py: it does the VeNCrypt preamble, then copies the
# raw bytes both ways and records, per connection, the ClientHello that
# went by and vencryptd's first answer.

UNWRAP="$top_srcdir/tests/vencrypt-unwrap.py"
PYTHON=/usr/bin/python3

# Where the server certificates say the CRL is published (a scanner
# looks for it; nothing fetches it here).
CRL_URL=http://localhost/ca-crl.pem

# The same CA layout as make_certs, with RSA keys (3072 bits), in DIR.
make_rsa_certs() {
	local dir=$1
	"$CERTTOOL_SCRIPT" -d "$dir" init-ca --cn "Test RSA CA" --key-type rsa \
		>>"$T/certs.log" 2>&1 || fail "RSA CA"
	"$CERTTOOL_SCRIPT" -d "$dir" server localhost --ip 127.0.0.1 --key-type rsa \
		--crl-url "$CRL_URL" >>"$T/certs.log" 2>&1 || fail "RSA server certificate"
}

# What the "rsa" service (and the scanned "ecdsa" one) asks of a client:
# a password, a client certificate only if it has one.
PLAIN_AUTH="subtypes = [ \"X509Plain\" ]; client_cert = \"optional\"; passwd_file = \"$T/passwd\";"

# start_tls_services ECDSA-AUTH: the certificates, alice's password, an
# echo backend, and vencryptd with two services on the default priority
# (no priority key anywhere): "ecdsa" with an ECDSA certificate and
# ECDSA-AUTH (subtypes and client_cert), "rsa" with an RSA certificate
# and PLAIN_AUTH.
start_tls_services() {
	make_certs
	certs server localhost --ip 127.0.0.1 --ip ::1 --crl-url "$CRL_URL" --force
	make_rsa_certs "$T/rsa-pki"
	printf 'pw-of-alice\n' | "$VENCRYPTD" --hash-password alice >"$T/passwd" ||
		fail "--hash-password failed"
	start_backend backend --mode echo
	cat >"$T/vencryptd.conf" <<CONF
log = { level = "debug"; target = "stderr"; };
tls = { cert_dir = "$PKI"; };
limits = { max_clients = 256; handshake_timeout = 10; backend_timeout = 5; };
services = (
  { name = "ecdsa"; listen = [ "127.0.0.1:0" ]; backend = "$BACKEND_ADDR";
    $1 },
  { name = "rsa"; listen = [ "127.0.0.1:0" ]; backend = "$BACKEND_ADDR";
    $PLAIN_AUTH tls = { cert_dir = "$T/rsa-pki"; }; }
);
CONF
	start_daemon "$T/vencryptd.conf"
}

# ca_of SERVICE: the CA file its certificate chains to.
ca_of() {
	case $1 in
	ecdsa) echo "$PKI/ca-cert.pem" ;;
	rsa) echo "$T/rsa-pki/ca-cert.pem" ;;
	*) fail "no service $1" ;;
	esac
}

# service_addr SERVICE: the address the daemon bound for SERVICE.
service_addr() {
	awk -v s="$1" '$1 == s {print $2; exit}' "$T/daemon.ports"
}

# start_unwrap NAME SERVICE SUBTYPE: a shim in front of SERVICE choosing
# SUBTYPE; its connections are recorded in $T/NAME.rec.  Sets UNWRAP_PORT.
start_unwrap() {
	local name=$1 addr
	addr=$(service_addr "$2")
	[ -n "$addr" ] || fail "service $2 is not in the ports file"
	"$PYTHON" "$UNWRAP" serve --connect "$addr" --subtype "$3" \
		--ports-file "$T/$name.port" --record "$T/$name.rec" \
		>"$T/$name-unwrap.log" 2>&1 &
	PIDS+=($!)
	wait_until 10 test -s "$T/$name.port" || fail "shim $name did not start"
	UNWRAP_PORT=$(cat "$T/$name.port")
}

# unwrap_conns NAME: how many connections shim NAME has finished.
unwrap_conns() {
	if [ -f "$T/$1.rec" ]; then wc -l <"$T/$1.rec"; else echo 0; fi
}

# conns_reached NAME N: shim NAME has finished N connections.
conns_reached() { [ "$(unwrap_conns "$1")" -ge "$2" ]; }

# through SHIM CLASS refused|accepted OUT CLIENT...: run CLIENT against
# shim SHIM (the client bounds its own run time; its stdin is
# $CLIENT_STDIN or /dev/null, its output goes to $T/OUT.out, its exit
# status to CLIENT_RC), then check what the shim saw: the client offered
# CLASS and nothing else, and vencryptd refused it with a fatal alert or
# accepted it.  "Could not offer" is a test error, not a pass.  Sets CHECK
# (the checker's verdict) and VIA (the port vencryptd logs as the peer's).
through() {
	local shim=$1 cls=$2 expect=$3 out=$4 n rc=0
	shift 4
	n=$(($(unwrap_conns "$shim") + 1))
	CLIENT_RC=0
	"$@" <"${CLIENT_STDIN:-/dev/null}" >"$T/$out.out" 2>&1 || CLIENT_RC=$?
	wait_until 20 conns_reached "$shim" "$n" ||
		fail "$out: no connection reached the shim: the client could not offer $cls"
	CHECK=$("$PYTHON" "$UNWRAP" check --record "$T/$shim.rec" --id "$n" \
		--class "$cls" --expect "$expect") || rc=$?
	case $rc in
	0) ;;
	3) fail "$out: test error, the client could not offer $cls: $CHECK" ;;
	*) fail "$out: $CHECK" ;;
	esac
	VIA=$(printf '%s\n' "$CHECK" | sed -n 's/^connection [0-9]* via \([0-9]*\):.*/\1/p')
	[ -n "$VIA" ] || fail "$out: no port in: $CHECK"
}
