#!/usr/bin/env bash
# vencryptd-certs makes what issue-level users rely on: the verbs, ECDSA
# P-256 (or RSA 3072) keys of mode 0600, server certificates with the
# serverAuth EKU and the SANs asked for, client certificates with the
# clientAuth EKU, the default lifetimes, a CRL that revoke rewrites, a
# list with each certificate's expiry date, the export layouts, and a
# clear error for bad input.  That vencryptd and real clients accept what
# it makes is shown by interop-libvncclient.sh and interop-gtk-vnc.sh
# (including export's files), that vencryptd refuses a client revoked with
# it after SIGHUP by reload.sh.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

info() { certtool -i --infile "$1"; }
has() { grep -qE "$2" <(info "$1") || fail "$1: no \"$2\" in certtool -i"; }
hasnt() { ! grep -qE "$2" <(info "$1") || fail "$1: \"$2\" in certtool -i"; }
mode_600() { [ "$(stat -c %a "$1")" = 600 ] || fail "$1 is mode $(stat -c %a "$1"), not 600"; }
# days_left FILE: whole days from now to the certificate's Not After
days_left() {
	local na
	na=$(info "$1" | sed -n 's/^[[:space:]]*Not After: //p' | head -n 1)
	echo $(( ($(date -u -d "$na" +%s) - $(date -u +%s) + 43200) / 86400 ))
}
# refuses MESSAGE ARGS...: the helper fails with MESSAGE on stderr
refuses() {
	local want=$1
	shift
	if "$CERTTOOL_SCRIPT" -d "$PKI" "$@" >"$T/err.out" 2>&1; then
		fail "vencryptd-certs $* succeeded"
	fi
	grep -q -- "$want" "$T/err.out" || fail "vencryptd-certs $*: no \"$want\" in: $(cat "$T/err.out")"
}

refuses "no CA in" server localhost
make_certs
certs server other.example --ip 192.0.2.7 --key-type rsa --force
certs client rsa --key-type rsa --days 30

# the CA
has "$PKI/ca-cert.pem" 'Certificate Authority \(CA\): TRUE'
has "$PKI/ca-cert.pem" 'Subject: CN=Test CA$'
has "$PKI/ca-cert.pem" 'Curve:[[:space:]]+SECP256R1'
[ "$(days_left "$PKI/ca-cert.pem")" = 3650 ] || fail "the CA does not live 3650 days"
mode_600 "$PKI/ca-key.pem"
refuses "already has a CA" init-ca

# the server (replaced by an RSA one) and a good client
has "$PKI/server-cert.pem" 'Subject: CN=other.example$'
has "$PKI/server-cert.pem" 'DNSname: other.example'
has "$PKI/server-cert.pem" 'IPAddress: 192.0.2.7'
has "$PKI/server-cert.pem" 'TLS WWW Server'
hasnt "$PKI/server-cert.pem" 'TLS WWW Client'
has "$PKI/server-cert.pem" 'Modulus \(bits 3072\)'
[ "$(days_left "$PKI/server-cert.pem")" = 730 ] || fail "the server certificate does not live 730 days"
mode_600 "$PKI/server-key.pem"
refuses "exists; --force" server localhost
good=$(client_cert good)
has "$good" 'Subject: CN=good,O=Example,C=GB$'
has "$good" 'TLS WWW Client'
hasnt "$good" 'TLS WWW Server'
has "$good" 'Curve:[[:space:]]+SECP256R1'
has "$good" 'Certificate Authority \(CA\): FALSE'
mode_600 "$(client_key good)"
mode_600 "$(client_key rsa)"
[ "$(days_left "$(client_cert rsa)")" = 30 ] || fail "--days 30 is not 30 days"
certtool --verify --load-ca-certificate "$PKI/ca-cert.pem" --infile "$good" \
	--verify-purpose 1.3.6.1.5.5.7.3.2 >"$T/verify.out" 2>&1 ||
	fail "certtool does not verify a client certificate for clientAuth"

# bad input
refuses "bad name" client ../evil
refuses "positive number" client x --days 0
refuses "key-type wants" client x --key-type dsa
refuses "unsupported attribute" client x --dn "FOO=bar"
refuses "unknown verb" frobnicate
refuses "no client" revoke nobody

# list: each certificate, its status and its expiry date
"$CERTTOOL_SCRIPT" -d "$PKI" list >"$T/list.out" 2>&1 || fail "list failed"
for name in good rsa; do
	exp=$(date -u -d "$(info "$(client_cert "$name")" | sed -n 's/^[[:space:]]*Not After: //p')" \
		'+%Y-%m-%d %H:%M:%S UTC')
	grep -qE "^client +$name +valid +$exp " "$T/list.out" ||
		fail "list has no valid line for $name expiring $exp: $(cat "$T/list.out")"
done
grep -qE '^ca +- +valid +[0-9]{4}-[0-9]{2}-[0-9]{2} ' "$T/list.out" || fail "list shows no CA expiry"
grep -q 'CRL: .*, 0 revoked' "$T/list.out" || fail "list does not count 0 revoked"

# revoke rewrites the CRL with the serial, and list shows it
serial=$(info "$good" | sed -n 's/^[[:space:]]*Serial Number (hex): //p')
crl_before=$(cksum <"$PKI/ca-crl.pem")
certs revoke good
[ "$(cksum <"$PKI/ca-crl.pem")" != "$crl_before" ] || fail "revoke left the CRL as it was"
certtool --crl-info --infile "$PKI/ca-crl.pem" | grep -q "Serial Number (hex): $serial" ||
	fail "the CRL does not hold the revoked serial $serial"
certtool --verify-crl --load-ca-certificate "$PKI/ca-cert.pem" --infile "$PKI/ca-crl.pem" \
	>"$T/crl.out" 2>&1 || fail "the CRL is not signed by the CA"
"$CERTTOOL_SCRIPT" -d "$PKI" list >"$T/list.out" 2>&1 || fail "list failed"
grep -qE '^client +good +revoked ' "$T/list.out" || fail "list does not show good revoked"
grep -q 'CRL: .*, 1 revoked' "$T/list.out" || fail "list does not count 1 revoked"

# export: both layouts, keys 0600, and what to copy where
"$CERTTOOL_SCRIPT" -d "$PKI" export rsa "$T/out" --as libvirt >"$T/export.out" 2>&1 ||
	fail "export failed"
for f in CA/cacert.pem CA/cacrl.pem libvirt/clientcert.pem libvirt/private/clientkey.pem rsa.pem; do
	[ -s "$T/out/$f" ] || fail "export wrote no $f"
done
cmp -s "$T/out/CA/cacert.pem" "$PKI/ca-cert.pem" || fail "export's cacert.pem is not the CA"
cmp -s "$T/out/libvirt/private/clientkey.pem" "$(client_key rsa)" || fail "export's key is not rsa's"
mode_600 "$T/out/libvirt/private/clientkey.pem"
mode_600 "$T/out/rsa.pem"
[ "$(grep -c -- '-----BEGIN CERTIFICATE-----' "$T/out/rsa.pem")" = 2 ] ||
	fail "the bundle does not hold two certificates"
grep -q -- '-----BEGIN X509 CRL-----' "$T/out/rsa.pem" || fail "the bundle holds no CRL"
grep -q -- '-----BEGIN RSA PRIVATE KEY-----' "$T/out/rsa.pem" || fail "the bundle holds no key"
grep -q "cp -r $T/out/CA $T/out/libvirt ~/.pki/" "$T/export.out" ||
	fail "export does not say where the gtk-vnc files go"
grep -q "copy $T/out/rsa.pem" "$T/export.out" || fail "export does not say what to do with the bundle"

log "PASS"
