#!/usr/bin/env bash
# README's "Troubleshooting by log line", held to the daemon: every log
# line the section shows (indented by four spaces, N a number, ... any
# text) is provoked against the real daemon by the scenario the table
# below names for it, and must then be in the log exactly as shown (the
# whole line after the time and level); a line under a heading that names
# a reason of the status report must also raise that reason's count in
# the SIGUSR1 report (backend failure: the backend failures count).
# Every reason src/stats.c names must be a heading of the section with at
# least one line; a documented line no scenario provokes fails, and so
# does a scenario key no documented line uses.
# shellcheck disable=SC2046 # $(with NAME), $(plain USER PASSWORD): words
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

README_FILE="$top_srcdir/README"
SECTION="Troubleshooting by log line"

# ---- what the README documents --------------------------------------------

# The section, as "H<TAB>heading" (a line underlined with ~) and
# "L<TAB>line" (a line indented by exactly four spaces) records.
awk -v title="$SECTION" '
	{ line[NR] = $0 }
	END {
		for (i = 1; i < NR; i++)
			if (line[i] == title && line[i + 1] ~ /^-+$/)
				break
		if (i >= NR)
			exit 1
		for (i += 2; i <= NR; i++) {
			if (line[i + 1] ~ /^-+$/ && line[i] != "")
				break
			if (line[i + 1] ~ /^~+$/ && line[i] != "")
				printf "H\t%s\n", line[i]
			else if (line[i] ~ /^    [^ ]/)
				printf "L\t%s\n", substr(line[i], 5)
		}
	}' "$README_FILE" >"$T/section" || fail "README has no section \"$SECTION\""

DOC_LINE=()     # the line as documented
DOC_HEAD=()     # the heading it is under
heading=""
while IFS=$'\t' read -r kind text; do
	case $kind in
	H) heading=$text ;;
	L)
		[ -n "$heading" ] || fail "README line before any heading: $text"
		DOC_LINE+=("$text")
		DOC_HEAD+=("$heading")
		;;
	esac
done <"$T/section"
[ "${#DOC_LINE[@]}" -gt 0 ] || fail "no log lines in the README section"

# The reasons of the status report, from the names src/stats.c gives them.
mapfile -t REASONS < <(sed -n 's/^[[:space:]]*\[REFUSAL_[A-Z_]*\] = "\(.*\)",$/\1/p' \
	"$top_srcdir/src/stats.c")
[ "${#REASONS[@]}" -ge 13 ] || fail "cannot read the reason names in src/stats.c"
is_reason() {
	local r
	for r in "${REASONS[@]}"; do [ "$r" = "$1" ] && return 0; done
	return 1
}
for r in "${REASONS[@]}"; do
	n=0
	for h in "${DOC_HEAD[@]}"; do [ "$h" = "$r" ] && n=$((n + 1)); done
	[ "$n" -gt 0 ] || fail "the status report counts \"$r\", the README has no entry for it"
done

# A documented line as an extended regex for a whole log line.
pattern_of() {
	local p
	p=$(printf '%s' "$1" | sed -e 's/[][\.*^$()+?{}|/]/\\&/g' -e 's/\\\.\\\.\\\./.*/g' \
		-e 's/\(^\|[^A-Za-z0-9_]\)N\([^A-Za-z0-9_]\|$\)/\1[0-9]+\2/g' \
		-e 's/\(^\|[^A-Za-z0-9_]\)N\([^A-Za-z0-9_]\|$\)/\1[0-9]+\2/g')
	printf '^[^ ]+ vencryptd [a-z]+: %s$' "$p"
}

# Which scenario provokes a documented line: the first field is a part of
# the line, the second the scenario (a function below).  A line must
# contain exactly one key.
PROVOKE=(
	"PROXY header from untrusted address|proxy_untrusted"
	": malformed v1 line|proxy_bad"
	": a v2 header on a listener set to v1|proxy_bad"
	": closed in the middle of it|proxy_bad"
	"(max_clients_per_ip N): refused|max_per_ip"
	"(connect_rate_per_ip N): refused|connect_rate"
	"refused: client speaks RFB 3.3;|preamble"
	"refused: client sent no RFB version;|preamble"
	"refused: client chose security type N;|preamble"
	"refused: client asked for VeNCrypt N.N;|preamble"
	"refused: client chose subtype N (...), which is not offered;|preamble"
	"credentials refused: a length is over 1024 bytes;|bad_credentials"
	"credentials refused: a NUL byte inside|bad_credentials"
	"refused: TLS handshake failed: ...;|tls_failed"
	"refused: TLS handshake failed: the client sent the alert|tls_rejected"
	"refused: TLS handshake failed: Decryption has failed;|tls_rejected"
	"refused: no client certificate;|no_cert"
	"refused: no client certificate (X509None needs one here;|no_cert"
	"refused: certificate expired;|cert_invalid"
	"refused: certificate not yet valid;|cert_invalid"
	"refused: certificate revoked;|cert_invalid"
	"refused: certificate not trusted;|cert_invalid"
	"refused: certificate not for client authentication;|cert_invalid"
	"refused: certificate uses an insecure algorithm;|cert_invalid"
	"refused: not authorised: the dn matches no allowed_dn;|dn_not_allowed"
	"authentication failed: wrong password;|bad_password"
	"authentication failed: unknown user;|bad_password"
	"authentication failed: the user is not in allowed_users;|bad_password"
	"too many failed logins from the address of peer|blocked"
	"too many failed logins from this address: blocked for N s more;|blocked"
	"too many password checks under way from this address;|slow_check"
	"password check not done within the handshake timeout;|slow_check"
	"the password check failed (out of memory, or libcrypt refused the hash);|internal_error"
	"handshake timeout in state version;|timeouts"
	"handshake timeout in state credentials;|timeouts"
	"cannot be reached: ...;|backend_down"
	"refused the connection: ...;|backend_down"
	"offered only ..., not None;|backend_vncauth"
	"no answer within N s (...);|backend_mute"
	"closed: client closed during TLS handshake;|tls_abandoned"
	"closed: client error during TLS handshake: ...;|tls_abandoned"
	"reload failed: N error(s) in the configuration;|reload_failed"
	"expires on ..., in N day(s): renew it and send SIGHUP|reload_ok"
)

DOC_SCEN=()
declare -A KEY_USED=()
for i in "${!DOC_LINE[@]}"; do
	found=""
	for entry in "${PROVOKE[@]}"; do
		key=${entry%|*}
		case ${DOC_LINE[i]} in
		*"$key"*)
			[ -z "$found" ] || fail "README line matches two scenario keys: ${DOC_LINE[i]}"
			found=${entry##*|}
			KEY_USED[$key]=1
			;;
		esac
	done
	[ -n "$found" ] || fail "README documents a line this test cannot provoke: ${DOC_LINE[i]}"
	DOC_SCEN[i]=$found
done
for entry in "${PROVOKE[@]}"; do
	[ -n "${KEY_USED[${entry%|*}]:-}" ] ||
		fail "the test provokes a line the README no longer documents: ${entry%|*}"
done
log "ok: ${#DOC_LINE[@]} documented lines, ${#REASONS[@]} reasons, each with its scenario"

# ---- certificates, passwords, backends, the daemon ----------------------------

certs init-ca --cn "Test CA"
# Ten days left: the expiry warning at start and at every reload.
certs server localhost --ip 127.0.0.1 --days 10
certs client good --dn "CN=good,O=Example,C=GB"
make_bad_certs
# Another CA of the very same name: a GnuTLS client sends its certificate
# (the server's request names that CA), which then does not verify.
"$CERTTOOL_SCRIPT" -d "$OTHER" init-ca --cn "Test CA" >>"$T/certs.log" 2>&1 || fail "other CA"
"$CERTTOOL_SCRIPT" -d "$OTHER" client good --dn "CN=good,O=Example,C=GB" \
	>>"$T/certs.log" 2>&1 || fail "other CA's client"
# Signed by our CA with SHA-1.
certtool --generate-privkey --key-type ecdsa --outfile "$T/sha1-key.pem" >>"$T/certs.log" 2>&1 ||
	fail "certtool: SHA-1 key"
printf 'cn = "sha1"\norganization = "Example"\ncountry = GB\ntls_www_client\nsigning_key\nexpiration_days = 30\n' \
	>"$T/sha1.tmpl"
certtool --generate-certificate --load-privkey "$T/sha1-key.pem" --hash SHA1 \
	--load-ca-certificate "$PKI/ca-cert.pem" --load-ca-privkey "$PKI/ca-key.pem" \
	--template "$T/sha1.tmpl" --outfile "$T/sha1-cert.pem" >>"$T/certs.log" 2>&1 ||
	fail "certtool: SHA-1 certificate"

# alice, bob and, for now, slow with yescrypt (slow's slow hash replaces
# it once the daemon's speed is known: see "how fast this daemon is");
# calib with sha512-crypt rounds enough for about 0.2 s here; broken with
# yescrypt parameters this libcrypt will not compute.
for u in alice bob slow; do
	printf 'pw-of-%s\n' "$u" | vencryptd --hash-password "$u" >>"$T/passwd" ||
		fail "--hash-password $u"
done
# sha512_crypt USER PASSWORD ROUNDS: a passwd line, made with libcrypt.
sha512_crypt() {
	python3 -c '
import ctypes, sys
lib = ctypes.CDLL("libcrypt.so.1")
lib.crypt.restype = ctypes.c_char_p
lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
h = lib.crypt(sys.argv[2].encode(), b"$6$rounds=%d$saltsaltsalt$" % int(sys.argv[3]))
if h is None or not h.startswith(b"$6$rounds="):
    sys.exit("libcrypt made no sha512-crypt hash")
print("%s:%s" % (sys.argv[1], h.decode()))' "$@"
}
CALIB_ROUNDS=$(python3 -c '
import ctypes, time
lib = ctypes.CDLL("libcrypt.so.1")
lib.crypt.restype = ctypes.c_char_p
lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
t = time.monotonic()
lib.crypt(b"x", b"$6$rounds=200000$calibrate$")
t = max(time.monotonic() - t, 0.001)
print(max(10000, int(200000 * 0.2 / t)))') || fail "cannot time sha512-crypt"
sha512_crypt calib pw-of-calib "$CALIB_ROUNDS" >>"$T/passwd" || fail "cannot make calib's hash"
printf 'broken:$y$jTT$abcdefghijklmnop$%s\n' "$(printf 'A%.0s' $(seq 43))" >>"$T/passwd"

start_backend echo --mode echo
ECHO_ADDR=$BACKEND_ADDR
start_backend vncauth --security 2
VNCAUTH_ADDR=$BACKEND_ADDR
start_backend mute --mode silent
MUTE_ADDR=$BACKEND_ADDR
CLOSED_PORT=$(free_port)

cat >"$T/vencryptd.conf" <<CONF
log = { level = "debug"; target = "stderr"; };
tls = { cert_dir = "$PKI"; };
limits = { max_clients = 64; handshake_timeout = @HS@; backend_timeout = 1;
           max_clients_per_ip = 8; connect_rate_per_ip = 12; };
services = (
  { name = "cert"; listen = [ "127.0.0.1:0" ]; backend = "$ECHO_ADDR";
    allowed_dn = [ "CN=*,O=Example,C=GB" ]; },
  { name = "plain"; listen = [ "127.0.0.1:0" ]; backend = "$ECHO_ADDR";
    subtypes = [ "X509Plain", "X509None" ]; client_cert = "optional";
    passwd_file = "$T/passwd";
    allowed_users = [ "alice", "calib", "slow", "broken" ]; },
  { name = "lb"; backend = "$ECHO_ADDR";
    listen = ( { address = "127.0.0.1:0"; proxy_protocol = "v1";
                 trusted_proxies = [ "127.0.0.0/8" ]; } ); },
  { name = "nosocket"; listen = [ "127.0.0.1:0" ]; backend = "unix:$T/nowhere.sock"; },
  { name = "closed"; listen = [ "127.0.0.1:0" ]; backend = "127.0.0.1:$CLOSED_PORT"; },
  { name = "vncauth"; listen = [ "127.0.0.1:0" ]; backend = "$VNCAUTH_ADDR"; },
  { name = "mute"; listen = [ "127.0.0.1:0" ]; backend = "$MUTE_ADDR"; }
);
CONF
cp "$T/vencryptd.conf" "$T/vencryptd.conf.in"
HS=12
sed "s/@HS@/$HS/" "$T/vencryptd.conf.in" >"$T/vencryptd.conf"
vencryptd -t -c "$T/vencryptd.conf" >"$T/check.out" 2>&1 || fail "--check-config: $(cat "$T/check.out")"
start_daemon "$T/vencryptd.conf"
port_of() { awk -v s="$1" '$1 == s {print $2}' "$T/daemon.ports" | sed 's/.*://'; }

# Each scenario's clients come from an address of their own, so that the
# per-address limits, the failed-login counts and the one-line-per-10-s
# rule of one scenario do not touch another.
NEXT=10
new_addr() { NEXT=$((NEXT + 1)); ADDR=127.0.0.$NEXT; }
addr_re() { printf '%s' "$ADDR" | sed 's/\./\\./g'; }

CA=(--ca "$PKI/ca-cert.pem")
with() { echo --cert "$(client_cert "$1")" --key "$(client_key "$1")"; }
# on SERVICE NAME ARGS...: vtclient to SERVICE from the scenario's address.
on() {
	local DAEMON_PORT
	DAEMON_PORT=$(port_of "$1")
	vt "$2" --bind "$ADDR:0" "${@:3}"
}
# bg SERVICE NAME ARGS...: the same in the background (BG: its PID).
bg() {
	"$PEERS/vtclient" --connect "127.0.0.1:$(port_of "$1")" --timeout 15 \
		--bind "$ADDR:0" "${@:3}" >"$T/$2.out" 2>&1 &
	BG=$!
	PIDS+=("$BG")
}
plain() { echo --subtype 262 --user "$1" --password "$2"; }

# raw SERVICE MODE [N]: a hand-made client from the scenario's address.
#   touch       a connection, closed once greeted (or closed unread)
#   hold N      N connections at once; prints how many were greeted and
#               how many closed unread, once each was one or the other
#   half-proxy  the start of a PROXY v1 line, then close
#   tls-close   the clear-text VeNCrypt preamble (X509None), then close
#               where the TLS ClientHello should come
#   tls-reset   the same, then a reset
#   tls-reject12, tls-reject13
#               the same, then TLS 1.2 or 1.3 from Python's ssl (OpenSSL)
#               trusting the other CA only, so that it refuses our
#               certificate
raw() {
	python3 - "$(port_of "$1")" "$ADDR" "$2" "${3:-1}" "$OTHER/ca-cert.pem" \
		"$top_srcdir/tests/vencrypt-unwrap.py" >"$T/raw-$2.out" 2>&1 <<'PY' ||
import importlib.util, socket, ssl, struct, sys
port, addr, mode, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
spec = importlib.util.spec_from_file_location("unwrap", sys.argv[6])
unwrap = importlib.util.module_from_spec(spec)
spec.loader.exec_module(unwrap)
def conn():
    s = socket.socket()
    s.settimeout(10)
    s.bind((addr, 0))
    s.connect(("127.0.0.1", port))
    return s
def greeted(s):
    try:
        return len(s.recv(12)) > 0
    except ConnectionResetError:
        return False
if mode == "touch":
    s = conn()
    greeted(s)
    s.close()
elif mode == "hold":
    socks = [conn() for _ in range(n)]
    g = sum(greeted(s) for s in socks)
    print("greeted %d closed %d" % (g, n - g))
    for s in socks:
        s.close()
elif mode == "half-proxy":
    s = conn()
    s.sendall(b"PROXY TCP4 192.0.2.1")
    s.close()
elif mode in ("tls-close", "tls-reset", "tls-reject12", "tls-reject13"):
    s = conn()
    unwrap.preamble(s, 260)
    if mode == "tls-reset":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    if mode.startswith("tls-reject"):
        ctx = ssl.create_default_context(cafile=sys.argv[5])
        v = ssl.TLSVersion.TLSv1_2 if mode == "tls-reject12" else ssl.TLSVersion.TLSv1_3
        ctx.minimum_version = ctx.maximum_version = v
        try:
            ctx.wrap_socket(s, server_hostname="localhost")
            raise SystemExit("the TLS handshake succeeded")
        except ssl.SSLCertVerificationError as e:
            print("rejected:", e.verify_message)
    s.close()
print("done")
PY
		fail "raw $2: $(cat "$T/raw-$2.out")"
}

# ---- how fast this daemon is ------------------------------------------------------
# slow_check needs a password check that outlasts a handshake timeout,
# and a second client through TLS while it runs. Both are timed in the
# daemon itself, which a wrapper (valgrind) slows down many times over:
# a login as alice (yescrypt, fast) is a handshake, the first one slower
# (under valgrind, much slower) than the next; a login as calib adds to a
# handshake a hash of known cost (no less than half the 0.2 s it takes
# here: the daemon runs the same libcrypt, so a smaller figure is the
# noise of the handshakes). The handshake timeout becomes five first
# handshakes, or 2 s if that is more; slow's hash costs four timeouts; a
# reload takes both in (until then the handshake timeout is 12 s, enough
# for the logins whatever the wrapper).
now() { date +%s.%N; }
new_addr
t0=$(now)
on plain calib-alice "${CA[@]}" $(plain alice pw-of-alice)
t1=$(now)
on plain calib-alice2 "${CA[@]}" $(plain alice pw-of-alice)
t2=$(now)
on plain calib "${CA[@]}" $(plain calib pw-of-calib)
t3=$(now)
expect_out calib-alice '^security-result ok$'
expect_out calib-alice2 '^security-result ok$'
expect_out calib '^security-result ok$'
read -r HS SLOW_ROUNDS FIRST HASHING < <(python3 -c '
import math, sys
t0, t1, t2, t3, rounds = map(float, sys.argv[1:])
first, hashing = t1 - t0, max(t3 - t2 - (t2 - t1), 0.1)
hs = max(2, math.ceil(5 * first))
print(hs, max(1000, int(rounds * 4 * hs / hashing)), "%.2f" % first, "%.2f" % hashing)' \
	"$t0" "$t1" "$t2" "$t3" "$CALIB_ROUNDS")
log "a first handshake takes $FIRST s, calib's hash $HASHING s:" \
	"handshake_timeout $HS s, slow's hash $SLOW_ROUNDS rounds"
[ "$HS" -le 12 ] || fail "a handshake takes $FIRST s: too slow for the clients' 15 s timeouts"
sha512_crypt slow pw-of-slow "$SLOW_ROUNDS" >"$T/slow.passwd" || fail "cannot make slow's hash"
{ grep -v '^slow:' "$T/passwd" && cat "$T/slow.passwd"; } >"$T/passwd.new"
mv "$T/passwd.new" "$T/passwd"
sed "s/@HS@/$HS/" "$T/vencryptd.conf.in" >"$T/vencryptd.conf"
kill -HUP "$DAEMON_PID"
wait_until 10 grep -q 'reload succeeded' "$DAEMON_LOG" ||
	fail "the reload with slow's hash did not succeed"

# ---- the scenarios ------------------------------------------------------------

proxy_untrusted() {
	new_addr
	on cert proxy-untrusted --proxy-v1 192.0.2.10:40001 "${CA[@]}" $(with good)
}

proxy_bad() {
	new_addr
	on lb proxy-malformed --proxy-hex "$(printf 'PROXY TCP4 192.0.2.1 10.0.0.1 1\r\n' | od -An -tx1 | tr -d ' \n')"
	on lb proxy-v2-on-v1 --proxy-v2 192.0.2.11:40002 "${CA[@]}" $(with good)
	raw lb half-proxy
}

max_per_ip() {
	new_addr
	raw cert hold 9
	grep -q '^greeted 8 closed 1$' "$T/raw-hold.out" ||
		fail "max_clients_per_ip 8: $(cat "$T/raw-hold.out")"
}

# One at a time, so that only the rate can refuse.
connect_rate() {
	local i
	new_addr
	for i in $(seq 13); do
		raw cert touch
		expect_no_sessions
	done
}

preamble() {
	new_addr
	on cert rfb33 --rfb-version 3.3
	expect_out rfb33 '^refused: VeNCrypt needs RFB 3\.7 or later$'
	on cert no-version --rfb-version garbage
	on cert sectype --sectype 2
	expect_out sectype '^security-result failed: only VeNCrypt is offered$'
	on cert vencrypt01 --vencrypt 0.1
	on cert subtype --subtype 262
}

bad_credentials() {
	new_addr
	on plain too-long "${CA[@]}" $(plain alice pw-of-alice) --claim-lengths 2000:11
	expect_out too-long '^security-result failed: user name or password too long$'
	on plain nul "${CA[@]}" $(plain alice pw-of-alice) --nul-in password
	expect_out nul '^security-result failed: user name or password contains a NUL byte$'
}

tls_failed() {
	new_addr
	on cert tls11 "${CA[@]}" $(with good) --priority "NORMAL:-VERS-ALL:+VERS-TLS1.1"
}

no_cert() {
	new_addr
	on cert no-cert "${CA[@]}"
	expect_out no-cert '^security-result failed: no client certificate$'
	on plain none-no-cert "${CA[@]}" --subtype 260
	expect_out none-no-cert '^security-result failed: no client certificate$'
}

cert_invalid() {
	new_addr
	local c
	for c in expired early revoked servereku; do
		on cert "cert-$c" "${CA[@]}" $(with "$c")
	done
	expect_out cert-expired '^security-result failed: certificate expired$'
	expect_out cert-early '^security-result failed: certificate not yet valid$'
	expect_out cert-revoked '^security-result failed: certificate revoked$'
	expect_out cert-servereku '^security-result failed: certificate not for client authentication$'
	on cert cert-other "${CA[@]}" --cert "$OTHER/clients/good/cert.pem" \
		--key "$OTHER/clients/good/key.pem"
	expect_out cert-other '^security-result failed: certificate not trusted$'
	on cert cert-sha1 "${CA[@]}" --cert "$T/sha1-cert.pem" --key "$T/sha1-key.pem"
	expect_out cert-sha1 '^security-result failed: certificate uses an insecure algorithm$'
}

dn_not_allowed() {
	new_addr
	on cert stranger "${CA[@]}" $(with stranger)
	expect_out stranger '^security-result failed: not authorised$'
}

bad_password() {
	new_addr
	bg plain pw-wrong "${CA[@]}" $(plain alice wrong)
	local p1=$BG
	bg plain pw-unknown "${CA[@]}" $(plain mallory wrong)
	local p2=$BG
	bg plain pw-not-allowed "${CA[@]}" $(plain bob pw-of-bob)
	wait "$p1" "$p2" "$BG"
	expect_out pw-wrong '^security-result failed: authentication failed$'
	expect_out pw-unknown '^security-result failed: authentication failed$'
	expect_out pw-not-allowed '^security-result failed: authentication failed$'
}

# failures NAME N: N wrong passwords at once from the address, in the
# background (FAILING: their PIDs).
failures() {
	local i
	FAILING=()
	for i in $(seq "$2"); do
		bg plain "$1-$i" "${CA[@]}" $(plain alice "wrong-$i")
		FAILING+=("$BG")
	done
}

# The fifth failure blocks the address for 2 s, logged as its check ends,
# a second before its client is told: the next client comes right then.
blocked() {
	new_addr
	failures blk 5
	expect_log "too many failed logins from the address of peer $(addr_re):"
	on plain blocked "${CA[@]}" $(plain alice pw-of-alice)
	expect_out blocked '^security-result failed: too many failed logins; try again later$'
	wait "${FAILING[@]}"
}

# A report (SIGUSR1) newer than any before; its "all services" line in
# $T/report.
reports() { grep -c 'status: all services: ' "$DAEMON_LOG"; }
more_reports() { [ "$(reports)" -gt "$1" ]; }
report() {
	local n
	n=$(reports)
	kill -USR1 "$DAEMON_PID"
	wait_until 10 more_reports "$n" || fail "no status report"
	grep 'status: all services: ' "$DAEMON_LOG" | tail -n 1 >"$T/report"
}
in_password_check() { report; grep -q '[(,] *1 password check' "$T/report"; }

slow_check() {
	new_addr
	# Four failures and the check of slow make five: the next is over.
	failures slow-fail 4
	wait "${FAILING[@]}"
	bg plain slow "${CA[@]}" $(plain slow pw-of-slow)
	local slow=$BG
	wait_until "$HS" in_password_check || fail "the slow check is not under way: $(cat "$T/report")"
	on plain under-way "${CA[@]}" $(plain alice pw-of-alice)
	expect_out under-way '^security-result failed: too many logins at once; try again later$'
	wait "$slow"
	expect_out slow '^security-result failed: server busy; try again later$'
}

internal_error() {
	new_addr
	on plain broken "${CA[@]}" $(plain broken anything)
	expect_out broken '^security-result failed: internal error$'
}

timeouts() {
	new_addr
	bg cert silent --silent
	local silent=$BG
	on plain no-credentials "${CA[@]}" $(plain alice pw-of-alice) --claim-lengths 5:100
	wait "$silent"
	expect_out silent '^closed-by-server'
}

backend_down() {
	new_addr
	on nosocket nosocket "${CA[@]}" $(with good)
	expect_out nosocket '^security-result failed: backend unavailable$'
	on closed closed "${CA[@]}" $(with good)
	expect_out closed '^security-result failed: backend unavailable$'
}

backend_vncauth() {
	new_addr
	on vncauth vncauth "${CA[@]}" $(with good)
	expect_out vncauth '^security-result failed: backend unavailable$'
}

backend_mute() {
	new_addr
	on mute mute "${CA[@]}" $(with good)
	expect_out mute '^security-result failed: backend unavailable$'
}

tls_abandoned() {
	new_addr
	raw cert tls-close
	raw cert tls-reset
}

# An OpenSSL client refusing our certificate: in TLS 1.2 its alert names
# the reason; in TLS 1.3 it sends the alert before it has keys, and
# GnuTLS, expecting an encrypted record, cannot decrypt it.
tls_rejected() {
	local v
	for v in 12 13; do
		new_addr
		raw cert "tls-reject$v"
		expect_out "raw-tls-reject$v" '^rejected: '
	done
	# A GnuTLS client (vtclient) that does not trust our certificate, or
	# finds another name in it, sends "Certificate is bad" and closes:
	# the alert, or the close when it overtakes the alert.
	local bad
	for bad in other-ca other-name; do
		new_addr
		case $bad in
		other-ca) on cert "$bad" --ca "$OTHER/ca-cert.pem" $(with good) ;;
		other-name) on cert "$bad" "${CA[@]}" --servername wrong.example $(with good) ;;
		esac
		expect_out "$bad" '^tls-error: certificate verification failed'
		expect_log "(refused: TLS handshake failed: the client sent the alert \"Certificate is bad\"|closed: client (closed|error) during TLS handshake[^;]*); peer $(addr_re):"
	done
}

reload_failed() {
	cp "$T/vencryptd.conf" "$T/vencryptd.conf.good"
	echo 'no_such_key = 1;' >>"$T/vencryptd.conf"
	kill -HUP "$DAEMON_PID"
	expect_log 'reload failed: '
	mv "$T/vencryptd.conf.good" "$T/vencryptd.conf"
}

reloads() { grep -c 'reload succeeded: ' "$DAEMON_LOG"; }
more_reloads() { [ "$(reloads)" -gt "$1" ]; }
reload_ok() {
	local n
	n=$(reloads)
	kill -HUP "$DAEMON_PID"
	wait_until 10 more_reloads "$n" || fail "no reload succeeded"
}

# ---- every documented line, provoked ---------------------------------------------

# The count of REASON in the report in $T/report.
count_of() {
	if [ "$1" = "backend failure" ]; then
		sed -n 's/.*backend failures \([0-9]*\).*/\1/p' "$T/report"
		return
	fi
	sed -n 's/.*; accepted [0-9]*, authorised [0-9]*, refused [0-9]* (\([^)]*\)).*/\1/p' \
		"$T/report" | tr ',' '\n' | sed 's/^ *//' |
		awk -v r="$1" '{ n = $NF; $NF = ""; sub(/ $/, ""); if ($0 == r) print n }' |
		grep . || echo 0
}

# logged_since OFFSET REGEX: a line after the first OFFSET lines matches.
logged_since() { tail -n +"$(($1 + 1))" "$DAEMON_LOG" | grep -Eq -- "$2"; }

declare -A RAN=()
for i in "${!DOC_LINE[@]}"; do
	scen=${DOC_SCEN[i]}
	[ -z "${RAN[$scen]:-}" ] || continue
	RAN[$scen]=1
	report
	declare -A BEFORE=()
	for r in "${REASONS[@]}"; do BEFORE[$r]=$(count_of "$r"); done
	offset=$(wc -l <"$DAEMON_LOG")
	"$scen"
	for j in "${!DOC_LINE[@]}"; do
		[ "${DOC_SCEN[j]}" = "$scen" ] || continue
		pat=$(pattern_of "${DOC_LINE[j]}")
		wait_until 10 logged_since "$offset" "$pat" ||
			fail "$scen: the daemon did not log the README's line: ${DOC_LINE[j]}"
	done
	expect_no_sessions
	report
	for j in "${!DOC_LINE[@]}"; do
		[ "${DOC_SCEN[j]}" = "$scen" ] && is_reason "${DOC_HEAD[j]}" || continue
		r=${DOC_HEAD[j]}
		[ "$(count_of "$r")" -gt "${BEFORE[$r]}" ] ||
			fail "$scen: \"${DOC_LINE[j]}\" is under \"$r\", which the report did not count: $(cat "$T/report")"
	done
	log "ok: $scen"
done

good_client_works

# A stopping daemon waits for a password check under way: slow's takes
# four handshake timeouts, or up to twice that where calib's hash was
# measured at the floor.
stop_daemon $((8 * HS + 10))
log "PASS"
