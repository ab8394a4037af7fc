#!/usr/bin/env bash
# The backend is down, silent, talks garbage, refuses, or offers no None:
# the authorised client is told "backend unavailable" inside TLS and the
# log names the backend and what it did.  RFB 3.3, 3.7 and 3.8 backends
# all work.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

make_certs
GOOD=(--ca "$PKI/ca-cert.pem" --cert "$(client_cert good)" --key "$(client_key good)")

# run_against NAME BACKEND-ADDR: a daemon in front of BACKEND-ADDR, one
# good client; output in $T/NAME.out.
run_against() {
	local name=$1 addr=$2
	write_config "$T/$name.conf" "backend = \"$addr\";"
	DAEMON_LOG="$T/daemon.log"
	start_daemon "$T/$name.conf"
	vt "$name" "${GOOD[@]}" --echo-check 4096
	stop_daemon
}

# Versions: each backend version negotiates None the way it must.
for v in 3.3 3.7 3.8; do
	start_backend "b$v" --version "$v" --security 1
	run_against "v$v" "$BACKEND_ADDR"
	[ "$VT_RC" -eq 0 ] || fail "backend RFB $v: client failed"
	expect_out "v$v" '^server-init 64x48 name=rfbbackend$'
	expect_out "v$v" '^echo ok 4096$'
	grep -q "^negotiated $v none" "$BACKEND_LOG" || fail "backend $v: not negotiated"
done

# A backend offering several types, None last.
start_backend multi --security 2,16,1
run_against multi "$BACKEND_ADDR"
[ "$VT_RC" -eq 0 ] || fail "backend offering None last: client failed"

# unavailable NAME LOG-REGEX BACKEND-ARGS...
unavailable() {
	local name=$1 said=$2
	shift 2
	start_backend "$name" "$@"
	: >"$T/daemon.log"
	run_against "$name" "$BACKEND_ADDR"
	[ "$VT_RC" -ne 0 ] || fail "$name: client was not refused"
	expect_out "$name" '^security-result failed: backend unavailable$'
	grep -Eq -- "$said" "$T/daemon.log" || fail "$name: no log line matching: $said"
	log "ok: $name"
}

unavailable vncauth-only "refused: backend 127\.0\.0\.1:[0-9]+ offered only VncAuth, not None" \
	--security 2
unavailable vncauth-only-33 "refused: backend 127\.0\.0\.1:[0-9]+ offered only VncAuth, not None" \
	--version 3.3 --security 2
unavailable backend-refuses 'refused: backend .* refused the connection: "too many connections"' \
	--security 0 --reason "too many connections"
unavailable garbage "refused: backend .* sent garbage instead of an RFB version" --mode garbage
unavailable closes "refused: backend .* closed the connection during security negotiation" \
	--mode close-after-version
unavailable silent "refused: backend .* no answer within 2 s \(backend version\)" --mode silent

# Down: nothing listens on the port the closed backend had.
start_backend gone
gone_addr=$BACKEND_ADDR
kill "${PIDS[-1]}"
wait "${PIDS[-1]}" 2>/dev/null || true
: >"$T/daemon.log"
run_against down "$gone_addr"
expect_out down '^security-result failed: backend unavailable$'
grep -Eq "refused: backend 127\.0\.0\.1:[0-9]+ refused the connection: Connection refused" \
	"$T/daemon.log" || fail "down: no log line naming the backend"

log "PASS"
