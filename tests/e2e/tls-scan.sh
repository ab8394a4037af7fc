#!/usr/bin/env bash
# testssl.sh against the default TLS configuration, through
# tests/vencrypt-unwrap.py (X509Plain, client_cert "optional", so every
# handshake completes without a client certificate; the priority is the
# same in every client_cert mode).  Two services on DEFAULT_PRIORITY, one
# with an ECDSA and one with an RSA certificate (ROBOT, DROWN, FREAK and
# the RSA key size only apply to the second), each scanned with testssl's
# full default run: protocols, cipher categories, forward secrecy, server
# preferences and defaults, the certificate, every vulnerability check,
# every cipher it knows one by one, client simulations.  Nothing is left out; the
# HTTP checks are skipped by testssl itself, as VNC is not HTTP.  testssl
# stays offline: no DNS (--nodns none), no CRL or OCSP fetches (no
# --phone-out); it has no update check.  Its JSON is parsed: no finding
# of severity MEDIUM, HIGH or CRITICAL, no scan problem; the LOW and INFO
# findings are listed in this test's log.
# The server certificates name a CRL distribution point
# (vencryptd-certs --crl-url), as testssl counts a certificate without one
# as a HIGH finding.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1
. "$top_srcdir/tests/e2e/tlslib.sh" || exit 1

command -v testssl >/dev/null || fail "testssl is not installed (testssl.sh)"
# Bound on one scan; an idle run takes about a minute.
SCAN_LIMIT=900

start_tls_services "$PLAIN_AUTH"

# judge JSON: the verdict on one scan, with every finding listed.
judge() {
	"$PYTHON" - "$1" <<'PY'
import json
import sys

# Problems of the local tools that do not lessen the scan: without a GOST
# engine openssl cannot offer GOST suites, which testssl then probes with
# its own sockets.
LOCAL = {"engine_problem"}
# Checks that must have run, so a scan cut short cannot pass.
EXPECTED = ["SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3",
            "cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT",
            "cipherlist_LOW", "cipherlist_3DES_IDEA", "cipherlist_AVERAGE",
            "PFS", "cipher_order", "cert_chain_of_trust", "cert_keySize",
            "heartbleed", "CCS", "ROBOT", "secure_renego",
            "secure_client_renego", "CRIME_TLS", "POODLE_SSL",
            "fallback_SCSV", "SWEET32", "FREAK", "DROWN", "LOGJAM", "BEAST",
            "LUCKY13", "RC4", "scanTime"]
BAD = ("MEDIUM", "HIGH", "CRITICAL")

with open(sys.argv[1]) as f:
    findings = json.load(f)
by_id = {x["id"]: x for x in findings}
errors = []
for x in findings:
    sev, fid, text = x["severity"], x["id"], x["finding"]
    if fid == "cert":
        text = "(the PEM of the certificate served)"
    line = "%-8s %s: %s" % (sev, fid, text)
    if sev in BAD:
        errors.append(line)
        print(line + "  [FAIL]")
    elif sev in ("WARN", "FATAL") and fid not in LOCAL:
        errors.append("scan problem: " + line)
        print(line + "  [FAIL: scan problem]")
    else:
        print(line)
missing = [i for i in EXPECTED if i not in by_id]
if missing:
    errors.append("checks missing from the scan: " + ", ".join(missing))
# It saw vencryptd's TLS, not a refusal of everything.
for fid, want in (("TLS1_3", "offered with final"), ("TLS1_2", "offered"),
                  ("cert_chain_of_trust", "passed.")):
    got = by_id.get(fid, {}).get("finding", "")
    if got != want:
        errors.append("%s is %r, expected %r" % (fid, got, want))
counts = {}
for x in findings:
    counts[x["severity"]] = counts.get(x["severity"], 0) + 1
print("severities: " + ", ".join("%s %d" % kv for kv in sorted(counts.items())))
for e in errors:
    print("FAIL: " + e)
sys.exit(1 if errors else 0)
PY
}

for svc in ecdsa rsa; do
	start_unwrap "$svc" "$svc" X509Plain
	json="$T/$svc-scan.json"
	started=$SECONDS
	rc=0
	timeout "$SCAN_LIMIT" testssl --quiet --color 0 --warnings off --nodns none \
		--connect-timeout 30 --openssl-timeout 30 --add-ca "$(ca_of "$svc")" \
		--jsonfile "$json" "127.0.0.1:$UNWRAP_PORT" >"$T/$svc-scan.out" 2>&1 || rc=$?
	[ $rc -ne 124 ] || fail "$svc: testssl did not finish within $SCAN_LIMIT s"
	[ $rc -lt 240 ] || fail "$svc: testssl failed (exit $rc)"
	[ -s "$json" ] || fail "$svc: testssl wrote no JSON"
	log "$svc: testssl took $((SECONDS - started)) s, $(unwrap_conns "$svc") connections; findings:"
	judge "$json" | sed "s/^/$TEST_NAME: $svc: /" >"$T/$svc-judge.out"
	verdict=${PIPESTATUS[0]}
	cat "$T/$svc-judge.out"
	[ "$verdict" -eq 0 ] || fail "$svc: testssl found problems (see above)"
	# Every connection testssl made reached vencryptd's TLS.
	if grep -q '"error": "preamble' "$T/$svc.rec"; then
		fail "$svc: the shim could not do the VeNCrypt preamble"
	fi
	log "ok: $svc: no finding of severity MEDIUM or higher"
done

# vencryptd kept serving through both scans and stops cleanly.
vt after --ca "$PKI/ca-cert.pem" --subtype 262 --user alice --password pw-of-alice \
	--echo-check 1000
[ "$VT_RC" -eq 0 ] || fail "a client was refused after the scans"
expect_out after '^echo ok 1000'
stop_daemon
log "ok: both scans clean"
