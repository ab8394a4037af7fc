#!/usr/bin/env bash
# The shipped systemd units: systemd-analyze verify accepts
# vencryptd.service (as configure generated it, with the daemon's path set
# to this build's) and vencryptd.socket without a word; the service is
# Type=notify, runs "vencryptd --foreground", checks the configuration
# first, reloads with SIGHUP; the socket listens on exactly the example
# configuration's listen addresses; and "systemd-analyze security" rates
# the service's exposure no higher than the README says.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

command -v systemd-analyze >/dev/null || fail "systemd-analyze is not installed (package systemd)"
SERVICE="$top_builddir/systemd/vencryptd.service"
SOCKET="$top_srcdir/systemd/vencryptd.socket"
[ -f "$SERVICE" ] || fail "$SERVICE was not generated"
grep -q '@[a-z]*@' "$SERVICE" && fail "unsubstituted variables in $SERVICE: $(grep '@[a-z]*@' "$SERVICE")"

# key FILE KEY: the values of KEY= in FILE, one per line.
key() { sed -n "s/^$2=//p" "$1"; }
[ "$(key "$SERVICE" Type)" = notify ] || fail "the service is not Type=notify"
key "$SERVICE" ExecStart | grep -Eq '^/.*/vencryptd --foreground$' ||
	fail "ExecStart is \"$(key "$SERVICE" ExecStart)\""
key "$SERVICE" ExecStartPre | grep -Eq '^/.*/vencryptd -t$' ||
	fail "ExecStartPre is \"$(key "$SERVICE" ExecStartPre)\""
[ "$(key "$SERVICE" ExecReload)" = '/bin/kill -HUP $MAINPID' ] || fail "ExecReload is not SIGHUP"
[ "$(key "$SERVICE" Restart)" = on-failure ] || fail "Restart is not on-failure"
for k in NoNewPrivileges ProtectSystem ProtectHome PrivateTmp PrivateDevices \
	ProtectKernelTunables ProtectKernelModules ProtectControlGroups ProtectClock \
	ProtectHostname RestrictNamespaces RestrictRealtime RestrictSUIDSGID \
	LockPersonality MemoryDenyWriteExecute SystemCallArchitectures \
	SystemCallFilter RuntimeDirectory UMask; do
	[ -n "$(key "$SERVICE" "$k")" ] || fail "the service does not set $k="
done
[ "$(key "$SERVICE" RestrictAddressFamilies)" = "AF_INET AF_INET6 AF_UNIX" ] ||
	fail "RestrictAddressFamilies is \"$(key "$SERVICE" RestrictAddressFamilies)\""
[ "$(key "$SERVICE" CapabilityBoundingSet)" = "CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID" ] ||
	fail "CapabilityBoundingSet is \"$(key "$SERVICE" CapabilityBoundingSet)\""
log "ok: the service runs vencryptd --foreground as Type=notify, hardened"

# verify wants the programs the unit runs: this build's daemon stands in
# for the installed one.  The man pages are not installed here.
mkdir -p "$T/units"
sed "s|^\(Exec[A-Za-z]*=\)/[^ ]*/vencryptd|\1$top_builddir/vencryptd|" "$SERVICE" \
	>"$T/units/vencryptd.service"
cp "$SOCKET" "$T/units/vencryptd.socket"
rc=0
systemd-analyze verify --man=no "$T/units/vencryptd.service" "$T/units/vencryptd.socket" \
	>"$T/verify.out" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || fail "systemd-analyze verify exited $rc: $(cat "$T/verify.out")"
[ ! -s "$T/verify.out" ] || fail "systemd-analyze verify complains: $(cat "$T/verify.out")"
log "ok: systemd-analyze verify accepts both units"

# The socket's addresses are the example configuration's listen entries.
want=$(sed -n 's/^ *listen = \[\(.*\)\];/\1/p' "$top_srcdir/man/vencryptd.conf.example" |
	tr ',' '\n' | tr -d ' "' | sort)
got=$(key "$SOCKET" ListenStream | sort)
[ -n "$want" ] && [ "$want" = "$got" ] ||
	fail "the socket listens on \"$got\", the example configuration on \"$want\""
log "ok: the socket's addresses are the example configuration's"

# The exposure level: no higher than the README states.
stated=$(sed -n 's/.*overall exposure level of \([0-9.]*\).*/\1/p' "$top_srcdir/README" | head -n 1)
[ -n "$stated" ] || fail "the README states no exposure level"
systemd-analyze security --offline=true --no-pager "$T/units/vencryptd.service" \
	>"$T/security.out" 2>&1 || fail "systemd-analyze security failed: $(cat "$T/security.out")"
level=$(sed -n 's/.*Overall exposure level for vencryptd.service: \([0-9.]*\).*/\1/p' "$T/security.out")
[ -n "$level" ] || fail "no exposure level in: $(tail -n 3 "$T/security.out")"
awk -v l="$level" -v s="$stated" 'BEGIN { exit !(l <= s) }' ||
	fail "exposure level $level, above the $stated the README states"
log "ok: exposure level $level, at most the README's $stated"
log "PASS"
