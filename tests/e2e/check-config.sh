#!/usr/bin/env bash
# --check-config: the shipped example passes (with certificates in place);
# every broken configuration or credential gives "FILE:LINE: message" and
# exit 1; nothing is listened on.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

make_certs

# The shipped example, pointed at our certificates.
sed "s|/etc/pki/vencryptd|$PKI|" "$top_srcdir/man/vencryptd.conf.example" >"$T/example.conf"
out=$(vencryptd --check-config -c "$T/example.conf" 2>&1) ||
	fail "the shipped example config fails --check-config: $out"
[ "$out" = "configuration OK" ] || fail "unexpected output: $out"

# An unknown key, on its own line.
write_config "$T/unknown.conf" 'backend = "127.0.0.1:5901";
    colour = "blue";'
line=$(grep -n 'colour' "$T/unknown.conf" | cut -d: -f1)
check_bad unknown "^$T/unknown.conf:$line: .*colour"

# A server key that does not belong to the certificate.
mkdir -p "$T/mismatch"
certs client other --dn "CN=other"
cp "$PKI/ca-cert.pem" "$PKI/server-cert.pem" "$T/mismatch/"
cp "$(client_key other)" "$T/mismatch/server-key.pem"
write_config "$T/mismatch.conf" 'backend = "127.0.0.1:5901";'
sed -i "s|cert_dir = \"$PKI\"|cert_dir = \"$T/mismatch\"|" "$T/mismatch.conf"
check_bad mismatch "^$T/mismatch.conf:[0-9]+: .*key $T/mismatch/server-key.pem does not match certificate $T/mismatch/server-cert.pem"

# A missing certificate file is named.
write_config "$T/missing.conf" 'backend = "127.0.0.1:5901";
    tls = { cert_file = "/nonexistent/cert.pem"; };'
check_bad missing "^$T/missing.conf:[0-9]+: .*/nonexistent/cert.pem"

# An expired server certificate.
mkdir -p "$T/old"
"$CERTTOOL_SCRIPT" -d "$T/old" init-ca --cn "Old CA" >>"$T/certs.log" 2>&1 || fail "old CA"
"$CERTTOOL_SCRIPT" -d "$T/old" server localhost --activation "2001-01-01 00:00:00 UTC" \
	--expiration "2002-01-01 00:00:00 UTC" >>"$T/certs.log" 2>&1 || fail "old server cert"
write_config "$T/expired.conf" 'backend = "127.0.0.1:5901";'
sed -i "s|cert_dir = \"$PKI\"|cert_dir = \"$T/old\"|" "$T/expired.conf"
check_bad expired "^$T/expired.conf:[0-9]+: .*certificate $T/old/server-cert.pem has expired"

# A server certificate from another CA than the one configured.
mkdir -p "$T/foreign"
"$CERTTOOL_SCRIPT" -d "$T/foreign" init-ca --cn "Foreign CA" >>"$T/certs.log" 2>&1 || fail "foreign CA"
write_config "$T/foreign.conf" "backend = \"127.0.0.1:5901\";
    tls = { ca_file = \"$T/foreign/ca-cert.pem\"; };"
check_bad foreign "^$T/foreign.conf:[0-9]+: .*does not chain to the CA"

# Several errors are all reported, each with its line.
write_config "$T/several.conf" 'backend = "nowhere";
    subtypes = [ "X509Nonsense" ];' 'limits = { max_clients = 0; };'
sed -i '0,/^limits = { max_clients = 64.*$/{//d}' "$T/several.conf"
vencryptd -t -c "$T/several.conf" >"$T/several.out" 2>&1 && fail "several: exit 0"
[ "$(grep -c "^$T/several.conf:[0-9]*: " "$T/several.out")" -ge 3 ] ||
	fail "several: not every error was reported"

# The per-address limits, the idle timeout and TCP keepalive, each out of
# range on a line of its own: named with that line and its range.
bad_number() {
	local name=$1 group=$2 key=$3 value=$4 range=$5 line
	if [ "$group" = limits ]; then
		# into the limits group write_config writes
		write_config "$T/$name.conf" 'backend = "127.0.0.1:5901";'
		sed -i "s/^limits = { /limits = {\n  $key = $value;\n  /" "$T/$name.conf"
	else
		write_config "$T/$name.conf" 'backend = "127.0.0.1:5901";' "$group = {
  $key = $value;
};"
	fi
	line=$(grep -n "^  $key = " "$T/$name.conf" | cut -d: -f1)
	check_bad "$name" "^$T/$name.conf:$line: \"$key\" must be between $range, not $value\$"
}
bad_number max-per-ip limits max_clients_per_ip 1000001 "0 and 1000000"
bad_number rate-per-ip limits connect_rate_per_ip -1 "0 and 1000000"
bad_number idle-timeout limits idle_timeout 604801 "0 and 604800"
bad_number keepalive-idle keepalive idle 86401 "0 and 86400"
bad_number keepalive-interval keepalive interval 0 "1 and 3600"
bad_number keepalive-count keepalive count 101 "1 and 100"

# A syntax error.
printf 'services = ( { name = "x" \n' >"$T/syntax.conf"
check_bad syntax "^$T/syntax.conf:[0-9]+: "

# X509Plain: a password file made with --hash-password, and one with a DES
# hash on its second line, named with its line.
for u in alice bob; do
	printf 'pw-of-%s\n' "$u" | vencryptd --hash-password "$u" >>"$T/passwd" ||
		fail "--hash-password $u failed"
done
{ head -n 1 "$T/passwd"; echo 'bob:2b3vdo8n90Ggc'; } >"$T/des.passwd"
write_config "$T/des.conf" "backend = \"127.0.0.1:5901\";
    subtypes = [ \"X509Plain\" ]; passwd_file = \"$T/des.passwd\";"
check_bad des "^$T/des.passwd:2: user bob: DES hashes are too weak; rehash with vencryptd --hash-password\$"
grep -q "^$T/des.conf:" "$T/des.out" && fail "des: the error was put on the config file"

# allowed_users naming someone not in the password file.
write_config "$T/nouser.conf" "backend = \"127.0.0.1:5901\";
    subtypes = [ \"X509Plain\" ]; passwd_file = \"$T/passwd\";
    allowed_users = [ \"alice\", \"mallory\" ];"
users_line=$(grep -n 'allowed_users' "$T/nouser.conf" | cut -d: -f1)
check_bad nouser "^$T/nouser.conf:$users_line: service test: allowed_users names \"mallory\", who is not in $T/passwd\$"
grep -q '"alice"' "$T/nouser.out" && fail "nouser: alice, who is in the file, was named"

# No client certificate and X509None: anyone at all gets in, so it takes
# allow_unauthenticated = true to say that is meant.
write_config "$T/open.conf" 'backend = "127.0.0.1:5901";
    client_cert = "none";'
svc_line=$(grep -n 'name = "test"' "$T/open.conf" | cut -d: -f1)
check_bad open "^$T/open.conf:$svc_line: service \"test\" lets any client in without a certificate or a password \(client_cert = \"none\" with X509None\)"
write_config "$T/open-meant.conf" 'backend = "127.0.0.1:5901";
    client_cert = "none"; allow_unauthenticated = true;'
vencryptd -t -c "$T/open-meant.conf" >"$T/open-meant.out" 2>&1 ||
	fail "allow_unauthenticated = true was still refused"
[ "$(tail -n 1 "$T/open-meant.out")" = "configuration OK" ] ||
	fail "open-meant: does not end with configuration OK"
grep -q 'warning: service test lets clients in without a certificate or a password (allow_unauthenticated)' \
	"$T/open-meant.out" || fail "open-meant: no warning that the service is open"
log "ok: open-meant"

# The daemon itself refuses to start on a bad config, and says why.
rc=0
vencryptd -F -c "$T/unknown.conf" >"$T/start.out" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "the daemon started (or exited $rc) with a bad config"
grep -q "unknown.conf:$line: .*colour" "$T/start.out" || fail "the daemon did not name the error"

# A ports file that cannot be written stops the daemon (exit 1) rather
# than leave a supervisor waiting for it.
write_config "$T/ports.conf" 'backend = "127.0.0.1:5901";'
rc=0
timeout 20 $VENCRYPTD_WRAPPER "$VENCRYPTD" -F -c "$T/ports.conf" --ports-file "$T/no/such/dir/ports" \
	>"$T/ports.out" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "an unwritable ports file gave exit $rc, not 1"
grep -q "cannot write ports file $T/no/such/dir/ports: No such file or directory" "$T/ports.out" ||
	fail "the unwritable ports file was not named"

# --version and --help
vencryptd --version | grep -Eq '^vencryptd [0-9]+\.[0-9]+' || fail "--version"
vencryptd --help | grep -q -- '--check-config' || fail "--help"

log "PASS"
