#!/usr/bin/env bash
# walkthrough.sh - the README's "A first connection in ten minutes", run
# from the README itself: the commands are read from that section, not
# copied here, so editing the section changes what this test runs.
#
# How the section is read: every block indented by 4 spaces is one step,
# run in order, in a new bash (-e) started in the directory the previous
# step ended in.  The last non-blank line of prose before a block says
# what it is:
#   - ending in "as root:": a step for the machine's administrator; it is
#     not run, but every package its apt-get install names must be
#     installed;
#   - ending in "like this:": output shown to the reader; the daemon log
#     must have an "authorised:" line for the same service, dn, subtype
#     and user as the one shown;
#   - anything else: commands, run.  When the last command of a block is
#     one that stays in the foreground (Xvnc, vencryptd -F, vncviewer,
#     remote-viewer, remmina), the lines before it run first, and the
#     program is then started in the background and judged as below.
# A step that fails fails the test.
#
# What is substituted, and nothing else:
#   - HOME is a private directory in the test's work directory, and so is
#     the home directory of the passwd entry that remote-viewer and
#     Remmina see (gtk-vnc reads ~/.pki from there; nss_wrapper);
#   - PATH starts with a directory holding vencryptd (the built daemon,
#     through VENCRYPTD_WRAPPER when set) and vencryptd-certs (certs/ of
#     the source tree);
#   - the listen ports of the configuration become 0; vencryptd -F gets
#     --ports-file, and each port the section names afterwards (5900,
#     5901) becomes the port the daemon bound for that service;
#   - Xvnc's display number becomes a free one;
#   - the password a person types to --hash-password (its standard input)
#     and to vncviewer (VNC_USERNAME, VNC_PASSWORD, user name taken from
#     the --hash-password command) is a fixed test password;
#   - the clients run on an Xvfb of the test's own (DISPLAY), with
#     vncviewer's test parameters ahead of the section's (viewer.sh,
#     whose later ones win), remote-viewer and Remmina on a D-Bus session
#     bus of the test's own, without the accessibility bus (NO_AT_BRIDGE=1)
#     and with XDG directories under the private HOME.
# The test also paints a pattern on Xvnc's root window (xsetroot), so a
# client showing the backend can be told from a black window.
#
# Each client is judged by its outcome: the daemon logs "authorised:" for
# it on the right service with the right dn, subtype and user, its screen
# on the Xvfb shows Xvnc's desktop pixel for pixel (vncviewer all of it,
# in a window of its size; remote-viewer and Remmina, whose window may
# come up smaller than the desktop, at least its top left 320x240), and
# once it is stopped the daemon logs the session's "closed:" line.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1
. "$top_srcdir/tests/e2e/viewer.sh" || exit 1

SECTION="A first connection in ten minutes"
PASSWORD="first-walkthrough-password"

for prog in Xvnc xsetroot vncviewer remote-viewer remmina dbus-daemon; do
	command -v "$prog" >/dev/null || fail "$prog is not installed (./quickstart check installs it)"
done
need_nss_wrapper

# ---- reading the section ---------------------------------------------------

# $T/blocks/N.sh (the block, indentation removed) and N.intro (the last
# line of prose before it), N from 1.
BLOCKS="$T/blocks"
mkdir -p "$BLOCKS"
awk -v title="$SECTION" -v dir="$BLOCKS" '
	{ line[NR] = $0 }
	END {
		for (i = 1; i < NR; i++)
			if (line[i] == title && line[i + 1] ~ /^-+$/) { start = i + 2; break }
		if (!start) { print "no section \"" title "\" in README" > "/dev/stderr"; exit 1 }
		end = NR
		for (i = start; i < NR; i++)
			if (line[i] ~ /^[^ ]/ && line[i + 1] ~ /^-+$/) { end = i - 1; break }
		n = 0; inblock = 0; intro = ""
		for (i = start; i <= end; i++) {
			if (line[i] ~ /^    /) {
				if (!inblock) {
					n++; inblock = 1
					print intro > (dir "/" n ".intro")
					close(dir "/" n ".intro")
				}
				l = line[i]; sub(/^    /, "", l)
				print l > (dir "/" n ".sh")
			} else if (line[i] == "") {
				if (inblock && line[i + 1] ~ /^    /)
					print "" > (dir "/" n ".sh")
				else if (inblock) { inblock = 0; close(dir "/" n ".sh") }
			} else {
				inblock = 0
				intro = line[i]
			}
		}
		print n > (dir "/count")
	}' "$top_srcdir/README" || fail "cannot read the section \"$SECTION\" of README"
NBLOCKS=$(cat "$BLOCKS/count")
[ "$NBLOCKS" -ge 5 ] || fail "the section has $NBLOCKS blocks"
log "$NBLOCKS blocks in \"$SECTION\""

# ---- the environment the steps run in -----------------------------------------

WHOME="$T/home"
WBIN="$T/bin"
mkdir -p "$WHOME" "$WBIN" "$WHOME/.config" "$WHOME/.local/share" "$WHOME/.cache"
mkdir -m 700 "$WHOME/run"
# Scripts, not links: vencryptd-certs finds its templates beside itself.
cat >"$WBIN/vencryptd" <<EOF
#!/bin/sh
exec $VENCRYPTD_WRAPPER "$VENCRYPTD" "\$@"
EOF
cat >"$WBIN/vencryptd-certs" <<EOF
#!/bin/sh
exec "$CERTTOOL_SCRIPT" "\$@"
EOF
chmod 755 "$WBIN/vencryptd" "$WBIN/vencryptd-certs"
getent passwd "$(id -u)" |
	awk -F: -v h="$WHOME" 'BEGIN {OFS=":"} {$6=h; print}' >"$T/passwd-home"

start_xvfb 1280x1024
STEP_ENV=(env -u DBUS_SESSION_BUS_ADDRESS -u VNC_USERNAME -u VNC_PASSWORD
	HOME="$WHOME" PATH="$WBIN:$PATH" DISPLAY=":$VIEWER_DISPLAY"
	XDG_CONFIG_HOME="$WHOME/.config" XDG_DATA_HOME="$WHOME/.local/share"
	XDG_CACHE_HOME="$WHOME/.cache" XDG_RUNTIME_DIR="$WHOME/run" NO_AT_BRIDGE=1)
# The graphical clients: gtk-vnc's ~/.pki from the private home, and a
# D-Bus session bus of the test's own (without one, they would start one
# with dbus-launch that outlives them).
dbus-daemon --session --nofork --nopidfile --print-address=3 3>"$T/dbus.address" \
	>"$T/dbus.log" 2>&1 &
PIDS+=($!)
wait_until 10 test -s "$T/dbus.address" || fail "dbus-daemon did not start"
CLIENT_ENV=("${STEP_ENV[@]}" DBUS_SESSION_BUS_ADDRESS="$(head -n 1 "$T/dbus.address")"
	LD_PRELOAD="$NSS_WRAPPER_LIB" NSS_WRAPPER_PASSWD="$T/passwd-home"
	NSS_WRAPPER_GROUP=/etc/group)
CWD="$WHOME"
declare -A PORT_MAP=()  # a port the section names -> the port bound
declare -A LISTEN_PORT=()  # a service -> the port the section gives it

# subst TEXT: TEXT with the ports the daemon bound for the ones named.
subst() {
	local text=$1 p
	for p in "${!PORT_MAP[@]}"; do
		text=$(printf '%s\n' "$text" | sed "s/\\b$p\\b/${PORT_MAP[$p]}/g")
	done
	printf '%s\n' "$text"
}

# run_step N TEXT: the commands TEXT in bash -e from $CWD, standard input
# the password; the directory it ends in becomes $CWD.
run_step() {
	local n=$1 text=$2 rc=0
	printf 'cd %q\n%s\npwd >%q\n' "$CWD" "$text" "$T/cwd" >"$T/step$n.sh"
	printf '%s\n' "$PASSWORD" |
		timeout 60 "${STEP_ENV[@]}" bash -e "$T/step$n.sh" >"$T/step$n.out" 2>&1 || rc=$?
	[ $rc -eq 0 ] || fail "step $n exited $rc: $(head -n 3 "$T/step$n.sh" | tail -n 2)"
	CWD=$(cat "$T/cwd")
}

# words TEXT: the words of the command TEXT, as bash expands them (in the
# steps' environment), one per line.
words() {
	# shellcheck disable=SC2016
	"${STEP_ENV[@]}" bash -c 'cd "$1" && eval "set -- $2" && printf "%s\n" "$@"' \
		words "$CWD" "$1"
}

# split_block TEXT: BEFORE, the lines of TEXT before its last command, and
# LAST, that command (its continuation lines joined).
split_block() {
	# shellcheck disable=SC2016
	local prog='{ l[NR] = $0 }
		END {
			e = NR
			while (e > 0 && l[e] == "") e--
			s = e
			while (s > 1 && l[s - 1] ~ /\\$/) s--
			if (part == "before") {
				for (i = 1; i < s; i++) print l[i]
			} else {
				for (i = s; i <= e; i++) { x = l[i]; sub(/\\$/, "", x); printf "%s", x }
				print ""
			}
		}'
	BEFORE=$(printf '%s\n' "$1" | awk -v part=before "$prog")
	LAST=$(printf '%s\n' "$1" | awk -v part=last "$prog")
}

# start_bg NAME TEXT [ENV...]: like run_step, but the last command of TEXT
# is exec'd in the background (the environment ENV, default the steps'),
# output in $T/NAME.log; BG_PID is its PID.
start_bg() {
	local name=$1 text=$2
	shift 2
	local envcmd=("${STEP_ENV[@]}")
	[ $# -eq 0 ] || envcmd=("$@")
	split_block "$text"
	printf 'cd %q\n%s\n: >%q\nexec %s\n' "$CWD" "$BEFORE" "$T/$name.started" "$LAST" \
		>"$T/$name.sh"
	rm -f "$T/$name.started"
	# env and bash exec: BG_PID ends up the program's own PID.
	"${envcmd[@]}" bash -e "$T/$name.sh" >"$T/$name.log" 2>&1 </dev/null &
	BG_PID=$!
	PIDS+=("$BG_PID")
	wait_until 10 test -e "$T/$name.started" || client_failed "$name" "$name: the commands before it failed"
}

# ---- judging -------------------------------------------------------------------

# shows_backend NAME SECONDS: within SECONDS the Xvfb screen shows the top
# left 320x240 of Xvnc's desktop somewhere, pixel for pixel.
screen_has_backend() {
	DISPLAY=":$XVNC_DISPLAY" xwd -root -silent >"$T/$1-backend.xwd" 2>/dev/null || return 1
	DISPLAY=":$VIEWER_DISPLAY" xwd -root -silent >"$T/$1-screen.xwd" 2>/dev/null || return 1
	/usr/bin/python3 "$XWDCMP" --find --region 0,0,320,240 \
		"$T/$1-screen.xwd" "$T/$1-backend.xwd" >"$T/$1-find.txt" 2>&1
}
shows_backend() {
	local i
	for ((i = 0; i < $2 * 2; i++)); do
		if screen_has_backend "$1"; then
			rm -f "$T/$1-screen.xwd" "$T/$1-backend.xwd"
			return 0
		fi
		sleep 0.5
	done
	return 1
}

# authorised_count: how many "authorised:" lines the daemon logged.
authorised_count() { grep -c ': authorised: ' "$DAEMON_LOG" || true; }

# expect_authorised NAME BEFORE SERVICE DN SUBTYPE [USER]: within 30 s a
# new "authorised:" line (after the first BEFORE) with these fields; sets
# SESSION_NO to its session number.
new_authorised() { [ "$(authorised_count)" -gt "$1" ]; }
expect_authorised() {
	local name=$1 before=$2 service=$3 dn=$4 subtype=$5 user=${6:-} line want
	wait_until 30 new_authorised "$before" || client_failed "$name" "no authorised: line for $name"
	line=$(grep ': authorised: ' "$DAEMON_LOG" | sed -n "$((before + 1))p")
	want="service $service, dn \"$dn\", subtype $subtype"
	[ -z "$user" ] || want="$want, user \"$user\""
	case $line in
	*"$want"*) ;;
	*) client_failed "$name" "$name: authorised with the wrong fields: $line (want: $want)" ;;
	esac
	SESSION_NO=$(printf '%s\n' "$line" | sed -n 's/.* session \([0-9]*\): authorised: .*/\1/p')
}

# client_failed NAME WHY: fail, showing the client's output.
client_failed() {
	echo "---- $T/$1.log"
	tail -n 40 "$T/$1.log" 2>/dev/null
	fail "$2"
}

# stop_client NAME PID: SIGTERM (SIGKILL after 5 s) to the client; then
# the daemon must log its session's end.
pid_gone() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0
	[ -z "$st" ] || [ "$st" = Z ]
}
# xvnc_up PID: Xvnc listens, or it is gone.
xvnc_up() { grep -q 'Listening for VNC connections' "$T/xvnc.log" || pid_gone "$1"; }
session_closed() { grep -q ": session $1: closed: " "$DAEMON_LOG"; }
stop_client() {
	kill -TERM "$2" 2>/dev/null
	wait_until 5 pid_gone "$2" || kill -KILL "$2" 2>/dev/null
	wait_until 5 pid_gone "$2" || fail "$1 (PID $2) did not stop"
	wait "$2" 2>/dev/null
	expect_closed "$1"
}
# expect_closed NAME: the daemon logs the end of session SESSION_NO.
expect_closed() {
	wait_until 15 session_closed "$SESSION_NO" || client_failed "$1" "no closed: line for $1's session $SESSION_NO"
	log "ok: $1: $(grep ": session $SESSION_NO: closed: " "$DAEMON_LOG" | sed 's/.*: closed: //')"
}

# ---- the steps -------------------------------------------------------------------

XVNC_DISPLAY=
DAEMON_PID=
HASH_USER=
CLIENTS=0
for ((n = 1; n <= NBLOCKS; n++)); do
	text=$(cat "$BLOCKS/$n.sh")
	intro=$(cat "$BLOCKS/$n.intro")
	case $intro in
	*"as root:")
		pkgs=$(printf '%s\n' "$text" | sed -e :a -e '/\\$/N; s/\\\n//; ta' |
			sed -n 's/^apt-get install //p' | tr -s ' ')
		[ -n "$pkgs" ] || fail "step $n: a root step without apt-get install"
		for p in $pkgs; do
			dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
				fail "step $n: package $p is not installed"
		done
		log "ok: step $n: packages installed: $pkgs"
		continue
		;;
	*"like this:")
		want=$(printf '%s\n' "$text" | sed -n 's/.*: authorised: peer [^,]*, \(service .*subtype [^,]*\(, user "[^"]*"\)\?\).*/\1/p')
		[ -n "$want" ] || fail "step $n: the shown line is no authorised: line"
		grep -qF -- "$want" "$DAEMON_LOG" || fail "step $n: no log line with: $want"
		log "ok: step $n: the log has a line like the one shown"
		continue
		;;
	esac
	text=$(subst "$text")
	split_block "$text"
	last=$LAST
	case $last in
	"Xvnc "*)
		# Another test may take the free display first: try again.
		for attempt in 1 2 3 4 5; do
			XVNC_DISPLAY=$(free_display) || fail "no free X display"
			start_bg xvnc "$(printf '%s\n' "$text" |
				sed "s/^Xvnc :[0-9][0-9]*/Xvnc :$XVNC_DISPLAY/")"
			wait_until 20 xvnc_up "$BG_PID" || fail "step $n: Xvnc did not start"
			! pid_gone "$BG_PID" && break
			wait "$BG_PID" 2>/dev/null
			[ "$attempt" -lt 5 ] || fail "step $n: Xvnc did not start"
		done
		DISPLAY=":$XVNC_DISPLAY" xsetroot -mod 7 5 -fg '#c04020' -bg '#2040c0' ||
			fail "xsetroot failed"
		log "ok: step $n: Xvnc on :$XVNC_DISPLAY"
		;;
	"vencryptd "*" -F"* | "vencryptd -F"*)
		text="$text --ports-file $T/daemon.ports"
		start_bg daemon "$text"
		DAEMON_PID=$BG_PID
		DAEMON_LOG="$T/daemon.log"
		wait_until 20 test -s "$T/daemon.ports" || fail "step $n: vencryptd did not start"
		while read -r svc port; do
			[ -n "${LISTEN_PORT[$svc]:-}" ] || fail "the daemon bound $svc, which the configuration step did not name"
			PORT_MAP[${LISTEN_PORT[$svc]}]=${port##*:}
		done <"$T/daemon.ports"
		log "ok: step $n: vencryptd -F ($(tr '\n' ' ' <"$T/daemon.ports"))"
		;;
	"vncviewer "*)
		[ -n "$DAEMON_PID" ] || fail "step $n: a client before vencryptd"
		mapfile -t args < <(words "$last")
		server=${args[-1]}
		unset 'args[-1]'
		! screen_has_backend vncviewer || fail "step $n: the screen shows the backend before vncviewer runs"
		before=$(authorised_count)
		VIEWER_TIMEOUT=30
		rc=0
		VNC_USERNAME=$HASH_USER VNC_PASSWORD=$PASSWORD \
			run_viewer "$T/vncviewer.log" "$server" "${args[@]:1}" || rc=$?
		[ $rc -eq 0 ] || client_failed vncviewer "vncviewer: $VIEWER_RESULT: $VIEWER_ERROR"
		expect_authorised vncviewer "$before" passwords "" X509Plain "$HASH_USER"
		viewer_shows_backend "$XVNC_DISPLAY" 15 || client_failed vncviewer "vncviewer does not show the backend"
		stop_viewer
		expect_closed vncviewer
		CLIENTS=$((CLIENTS + 1))
		;;
	"remote-viewer "* | "remmina "*)
		[ -n "$DAEMON_PID" ] || fail "step $n: a client before vencryptd"
		name=${last%% *}
		! screen_has_backend "$name" || fail "step $n: the screen shows the backend before $name runs"
		before=$(authorised_count)
		start_bg "$name" "$text" "${CLIENT_ENV[@]}"
		expect_authorised "$name" "$before" certificates "CN=alice,O=Example,C=GB" X509None
		shows_backend "$name" 30 || client_failed "$name" "$name does not show the backend: $(cat "$T/$name-find.txt")"
		stop_client "$name" "$BG_PID"
		CLIENTS=$((CLIENTS + 1))
		;;
	*)
		case $text in
		*"listen = ["*)
			# The configuration: each service's listen port is
			# remembered (LISTEN_PORT[service] = port) and becomes 0.
			while read -r svc port; do
				LISTEN_PORT[$svc]=$port
			done < <(printf '%s\n' "$text" | awk '
				/^ *name = "/ {split($0, q, "\""); svc = q[2]}
				/^ *listen = \[/ {
					split($0, q, "\"")
					port = q[2]; sub(/.*:/, "", port)
					print svc, port
				}')
			[ ${#LISTEN_PORT[@]} -gt 0 ] || fail "step $n: no service with a listen port"
			text=$(printf '%s\n' "$text" | sed '/^ *listen = \[/ s/:[0-9][0-9]*"/:0"/g')
			;;
		esac
		run_step "$n" "$text"
		case $text in
		*"--hash-password "*)
			HASH_USER=$(printf '%s\n' "$text" | sed -n 's/.*--hash-password \([^ >]*\).*/\1/p' | head -n 1)
			;;
		esac
		log "ok: step $n"
		;;
	esac
done
[ "$CLIENTS" -eq 3 ] || fail "$CLIENTS clients ran, not 3"
stop_daemon
log "PASS"
