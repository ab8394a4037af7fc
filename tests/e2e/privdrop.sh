#!/usr/bin/env bash
# user and group: started as root with user = "nobody" and group =
# "nogroup", every thread of the daemon runs with nobody's uid and
# nogroup's gid in all four slots and no other supplementary group; a
# session works; with the certificates readable by nobody, a reload that
# changes allowed_dn succeeds as nobody; a key nobody cannot read makes
# the reload fail with a clear error while the previous configuration
# keeps serving; an unknown user or group is a configuration error with
# file:line.  Needs root (CI runs the suite as root).
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

[ "$(id -u)" -eq 0 ] || fail "this test needs root: it starts vencryptd as root and checks the drop"
NOBODY_UID=$(id -u nobody) || fail "no user nobody"
NOGROUP_GID=$(getent group nogroup | cut -d: -f3)
[ -n "$NOGROUP_GID" ] || fail "no group nogroup"

make_certs
certs client alice --dn "CN=alice,O=Example,C=GB"
# What a reload reads must be readable by nobody: the configuration, the
# certificates, the keys (here world-readable: a test CA only).
chmod 755 "$T"
chmod -R a+rX "$PKI"
chmod 644 "$PKI/server-key.pem"
start_backend backend --mode echo

# conf ALLOWED-DN: the configuration (replaced atomically).
conf() {
	write_config "$T/vencryptd.conf.new" "backend = \"$BACKEND_ADDR\";
    allowed_dn = [ \"$1\" ];" 'user = "nobody";
group = "nogroup";'
	chmod 644 "$T/vencryptd.conf.new"
	mv "$T/vencryptd.conf.new" "$T/vencryptd.conf"
}
conf "CN=good,O=Example,C=GB"
# A temporary directory nobody may write to as well: a wrapper such as
# valgrind makes files there as root and removes them at exit as nobody.
mkdir -m 0777 "$T/tmp"
TMPDIR="$T/tmp" start_daemon "$T/vencryptd.conf"
expect_log 'running as user nobody'

# ids TASK-STATUS-FILE: every id and group of one thread as nobody has them.
ids_dropped() {
	local f=$1 uids gids groups
	uids=$(awk '$1 == "Uid:" {print $2, $3, $4, $5}' "$f")
	gids=$(awk '$1 == "Gid:" {print $2, $3, $4, $5}' "$f")
	groups=$(awk '$1 == "Groups:" {$1 = ""; print}' "$f" | tr -s ' ' | sed 's/^ //; s/ $//')
	[ "$uids" = "$NOBODY_UID $NOBODY_UID $NOBODY_UID $NOBODY_UID" ] ||
		fail "$f: Uid $uids, not all $NOBODY_UID"
	[ "$gids" = "$NOGROUP_GID $NOGROUP_GID $NOGROUP_GID $NOGROUP_GID" ] ||
		fail "$f: Gid $gids, not all $NOGROUP_GID"
	[ -z "$groups" ] || [ "$groups" = "$NOGROUP_GID" ] ||
		fail "$f: supplementary groups \"$groups\", not only $NOGROUP_GID"
}
good_client_works
ntasks=0
for f in /proc/"$DAEMON_PID"/task/*/status; do
	ids_dropped "$f"
	ntasks=$((ntasks + 1))
done
[ "$ntasks" -ge 2 ] || fail "only $ntasks thread(s): the workers are not running"
log "ok: all $ntasks threads run as nobody:nogroup, no other group; a session works"

# A reload as nobody: allowed_dn now names alice only.
: >"$DAEMON_LOG"
conf "CN=alice,O=Example,C=GB"
kill -HUP "$DAEMON_PID"
expect_log 'reload succeeded'
vt alice --ca "$PKI/ca-cert.pem" --cert "$(client_cert alice)" \
	--key "$(client_key alice)" --echo-check 1000
[ "$VT_RC" -eq 0 ] || fail "alice was refused after the reload allowed her"
vt good-refused --ca "$PKI/ca-cert.pem" --cert "$(client_cert good)" \
	--key "$(client_key good)" --echo-check 1000
[ "$VT_RC" -ne 0 ] || fail "good still got in after the reload left it out"
log "ok: a reload as nobody applies the new allowed_dn"

# A key nobody cannot read: the reload fails whole, naming the key.
: >"$DAEMON_LOG"
chmod 600 "$PKI/server-key.pem"
conf "CN=good,O=Example,C=GB"
kill -HUP "$DAEMON_PID"
expect_log 'reload failed'
grep -q "server-key.pem" "$DAEMON_LOG" || fail "the reload error does not name the key file"
grep -q ': key [^ ]*/server-key.pem: Permission denied' "$DAEMON_LOG" ||
	fail "the reload error does not say the key could not be read"
vt alice-after --ca "$PKI/ca-cert.pem" --cert "$(client_cert alice)" \
	--key "$(client_key alice)" --echo-check 1000
[ "$VT_RC" -eq 0 ] || fail "the previous configuration stopped serving after a failed reload"
for f in /proc/"$DAEMON_PID"/task/*/status; do
	ids_dropped "$f"
done
log "ok: an unreadable key fails the reload; the previous configuration serves"
stop_daemon

# Unknown user or group: vencryptd -t says where.
write_config "$T/baduser.conf" "backend = \"$BACKEND_ADDR\";" \
	'user = "no-such-user-vencryptd";'
check_bad baduser "baduser.conf:[0-9]+: unknown user \"no-such-user-vencryptd\""
write_config "$T/badgroup.conf" "backend = \"$BACKEND_ADDR\";" \
	'group = "no-such-group-vencryptd";'
check_bad badgroup "badgroup.conf:[0-9]+: unknown group \"no-such-group-vencryptd\""
log "PASS"
