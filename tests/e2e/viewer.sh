# viewer.sh - TigerVNC's vncviewer under Xvfb, judged by what it shows
# (sourced after lib.sh, not run).
#
# vncviewer exits 0 whatever happens, so the outcome is read from its log
# and from the screen: the viewer's window must show the backend's
# framebuffer pixel for pixel.  Every dialog is avoided or detected:
# fatal errors are logged instead of shown (-AlertOnFatalError=0), the
# server certificate is checked against -X509CA by a name in it, and any
# other window the viewer opens (an unknown issuer, a password prompt)
# ends the run as a failure named after the window's title.
#
#   start_xvfb [WxH]
#   run_viewer OUTFILE HOST::PORT [vncviewer parameters...]
#   viewer_shows_backend DISPLAY_NUM [SECONDS]
#   stop_viewer
#   viewer_log OUTFILE
#
# shellcheck shell=bash disable=SC2034
# (the VIEWER_* variables are results for the caller)

XWDCMP="$top_srcdir/tests/xwdcmp.py"

# Wall-clock milliseconds (bash 5 EPOCHREALTIME), for bounding waits.
viewer_ms() {
	local t=${EPOCHREALTIME/[.,]/}
	echo $((t / 1000))
}

# start_xvfb [WxH]: an Xvfb (depth 24, default 1024x768, larger than the
# backend so the viewer's window fits at 1:1) on a display it picks itself;
# sets VIEWER_DISPLAY (the number) and XVFB_PID.
start_xvfb() {
	local geometry=${1:-1024x768}
	command -v Xvfb >/dev/null || fail "Xvfb is not installed (xvfb)"
	command -v vncviewer >/dev/null || fail "vncviewer is not installed (tigervnc-viewer)"
	command -v xwd >/dev/null || fail "xwd is not installed (x11-apps)"
	command -v xwininfo >/dev/null || fail "xwininfo is not installed (x11-utils)"
	local dfile="$T/xvfb.display"
	: >"$dfile"
	# -displayfd: the server takes the first free display and writes its
	# number once it accepts clients.
	Xvfb -displayfd 3 -screen 0 "${geometry}x24" -nolisten tcp -noreset \
		3>"$dfile" >"$T/xvfb.log" 2>&1 &
	XVFB_PID=$!
	PIDS+=("$XVFB_PID")
	wait_until 10 test -s "$dfile" || fail "Xvfb did not start"
	VIEWER_DISPLAY=$(head -n 1 "$dfile")
}

# The top-level windows of the viewer's display that are mapped, one per
# line: "ID NAME" (NAME without quotes, empty for unnamed ones).
viewer_windows() {
	local id
	for id in $(DISPLAY=":$VIEWER_DISPLAY" xwininfo -root -children 2>/dev/null |
		awk '$1 ~ /^0x/ && $2 ~ /^"/ {print $1}'); do
		DISPLAY=":$VIEWER_DISPLAY" xwininfo -id "$id" 2>/dev/null | awk -v id="$id" '
			/^xwininfo: Window id:/ {
				name = $0
				sub(/^[^"]*"/, "", name)
				sub(/"[^"]*$/, "", name)
			}
			/Map State: IsViewable/ {print id, name}'
	done
}

# viewer_log OUTFILE: the viewer's log messages one per line as
# "Component: text", with the lines the viewer wrapped at 80 columns
# joined again (a wrapped message is split at spaces).
viewer_log() {
	awk '
		function flush() { if (msg != "") print msg; msg = "" }
		/^ [^ ]+: / {
			flush()
			msg = $0
			sub(/^ /, "", msg)
			sub(/: +/, ": ", msg)
			next
		}
		/^  +[^ ]/ && msg != "" {
			line = $0
			sub(/^ +/, "", line)
			msg = msg " " line
			next
		}
		{ flush() }
		END { flush() }' "$1"
}

# run_viewer OUTFILE HOST::PORT [vncviewer parameters...]: start vncviewer
# on the Xvfb and wait (at most VIEWER_TIMEOUT seconds, default 10) until
# its desktop window is mapped, or it exits, or it opens any other window.
#
# The server certificate is checked against VIEWER_CA (default
# $PKI/ca-cert.pem) and VIEWER_CRL (default $PKI/ca-crl.pem when it
# exists); connect by a name the certificate holds (localhost, 127.0.0.1).
# VIEWER_SECURITY_TYPES (default X509Plain,X509None) is the -SecurityTypes;
# parameters given after HOST::PORT come later and win.  VNC_USERNAME and
# VNC_PASSWORD reach the viewer when set (for Plain), and are removed from
# its environment otherwise.  Its output goes to OUTFILE (name it
# $T/NAME.out so that fail shows it).
#
# 0: the desktop window is up; VIEWER_PID runs, VIEWER_WINDOW is the
#    window's id, VIEWER_RESULT=shown.
# 1: no desktop; the viewer is gone (VIEWER_PID is empty).  VIEWER_RESULT is exited (it gave
#    up: VIEWER_ERROR is its last log message, e.g. "CConn: Authentication
#    failure: <the server's reason>"), dialog (it opened a window titled
#    VIEWER_ERROR="dialog: TITLE" and was stopped) or timeout.
run_viewer() {
	local out=$1 server=$2
	shift 2
	[ -n "${VIEWER_DISPLAY:-}" ] || fail "run_viewer before start_xvfb"
	local limit=${VIEWER_TIMEOUT:-10}
	local ca=${VIEWER_CA:-$PKI/ca-cert.pem}
	local crl=${VIEWER_CRL-}
	[ -n "$crl" ] || [ ! -f "$PKI/ca-crl.pem" ] || crl="$PKI/ca-crl.pem"
	local home="$T/viewer-home"
	mkdir -p "$home"

	local env=(env -u VNC_USERNAME -u VNC_PASSWORD HOME="$home" DISPLAY=":$VIEWER_DISPLAY")
	[ -z "${VNC_USERNAME+set}" ] || env+=(VNC_USERNAME="$VNC_USERNAME")
	[ -z "${VNC_PASSWORD+set}" ] || env+=(VNC_PASSWORD="$VNC_PASSWORD")

	# -MenuKey= drops the "Press F8" hint drawn over the framebuffer for
	# its first 4 s; -NoJPEG and -FullColor keep the encoding lossless;
	# -RemoteResize=0 leaves the backend's size alone; -geometry +0+0
	# puts the window at the top left, sized to the framebuffer.
	VIEWER_ARGS=(-AlertOnFatalError=0 -ReconnectOnError=0 -MenuKey=
		-geometry +0+0 -RemoteResize=0 -Shared=1
		-AutoSelect=0 -FullColor=1 -NoJPEG=1
		-X509CA "$ca" -X509CRL="$crl"
		-SecurityTypes "${VIEWER_SECURITY_TYPES:-X509Plain,X509None}"
		"$@" "$server")
	VIEWER_OUT=$out
	VIEWER_WINDOW=
	VIEWER_ERROR=
	VIEWER_RESULT=
	"${env[@]}" vncviewer "${VIEWER_ARGS[@]}" >"$out" 2>&1 &
	VIEWER_PID=$!
	PIDS+=("$VIEWER_PID")

	local deadline=$(($(viewer_ms) + limit * 1000)) id name
	while :; do
		if ! kill -0 "$VIEWER_PID" 2>/dev/null; then
			wait "$VIEWER_PID" 2>/dev/null
			VIEWER_PID=
			VIEWER_RESULT=exited
			VIEWER_ERROR=$(viewer_log "$out" | tail -n 1)
			return 1
		fi
		while read -r id name; do
			case $name in
			"") ;;
			*" - TigerVNC")
				VIEWER_WINDOW=$id
				VIEWER_RESULT=shown
				return 0
				;;
			*)
				stop_viewer
				VIEWER_RESULT=dialog
				VIEWER_ERROR="dialog: $name"
				return 1
				;;
			esac
		done < <(viewer_windows)
		if [ "$(viewer_ms)" -ge $deadline ]; then
			stop_viewer
			VIEWER_RESULT=timeout
			VIEWER_ERROR="timeout: no window within $limit s"
			return 1
		fi
		sleep 0.05
	done
}

# stop_viewer: SIGTERM to the viewer, SIGKILL if it is still there after
# 5 s; returns when it is gone.
stop_viewer() {
	[ -n "${VIEWER_PID:-}" ] || return 0
	kill -TERM "$VIEWER_PID" 2>/dev/null
	local i=0
	while kill -0 "$VIEWER_PID" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -eq 500 ]; then
			log "vncviewer ignored SIGTERM; killing it"
			kill -KILL "$VIEWER_PID" 2>/dev/null
		fi
		sleep 0.01
	done
	wait "$VIEWER_PID" 2>/dev/null
	VIEWER_PID=
	return 0
}

# root_size DISPLAY_NUM: "W H" of that display's root window.
root_size() {
	DISPLAY=":$1" xwininfo -root 2>/dev/null | awk '
		/^  Width:/ {w = $NF}
		/^  Height:/ {h = $NF}
		END {print w, h}'
}

# The viewer window's position and size on the Xvfb screen: "X Y W H".
viewer_geometry() {
	DISPLAY=":$VIEWER_DISPLAY" xwininfo -id "$VIEWER_WINDOW" 2>/dev/null | awk '
		/Absolute upper-left X:/ {x = $NF}
		/Absolute upper-left Y:/ {y = $NF}
		/^  Width:/ {w = $NF}
		/^  Height:/ {h = $NF}
		END {if (w != "") print x, y, w, h}'
}

# viewer_shows_backend DISPLAY_NUM [SECONDS]: within SECONDS (default 5),
# the viewer's window has exactly the size of the root window of the X
# server :DISPLAY_NUM (the backend Xvnc), lies wholly on the Xvfb screen,
# and the screen inside it equals that root window pixel for pixel.  The
# last comparison is in VIEWER_COMPARE; on failure the screenshots stay
# in $T (NAME-screen.xwd, NAME-backend.xwd, NAME-seen.png).
viewer_shows_backend() {
	local backend=$1 limit=${2:-5}
	local name
	name=$(basename "$VIEWER_OUT" .out)
	local screen="$T/$name-screen.xwd" want="$T/$name-backend.xwd"
	local deadline=$(($(viewer_ms) + limit * 1000)) geom x y w h sw sh bw bh
	VIEWER_COMPARE=
	while :; do
		if [ -z "${VIEWER_PID:-}" ] || ! kill -0 "$VIEWER_PID" 2>/dev/null; then
			VIEWER_COMPARE="the viewer is not running: $(viewer_log "$VIEWER_OUT" | tail -n 1)"
			break
		fi
		DISPLAY=":$backend" xwd -root -silent >"$want" 2>/dev/null ||
			fail "xwd of the backend display :$backend failed"
		DISPLAY=":$VIEWER_DISPLAY" xwd -root -silent >"$screen" 2>/dev/null ||
			fail "xwd of the viewer display :$VIEWER_DISPLAY failed"
		geom=$(viewer_geometry)
		if [ -z "$geom" ]; then
			VIEWER_COMPARE="the viewer window $VIEWER_WINDOW is gone"
		else
			read -r x y w h <<<"$geom"
			read -r bw bh < <(root_size "$backend")
			read -r sw sh < <(root_size "$VIEWER_DISPLAY")
			if [ "$w" != "$bw" ] || [ "$h" != "$bh" ]; then
				VIEWER_COMPARE="the viewer window is ${w}x$h, the backend ${bw}x$bh"
			elif [ "$x" -lt 0 ] || [ "$y" -lt 0 ] ||
				[ $((x + w)) -gt "$sw" ] || [ $((y + h)) -gt "$sh" ]; then
				VIEWER_COMPARE="the viewer window ${w}x$h+$x+$y is not wholly on the ${sw}x$sh screen"
			elif VIEWER_COMPARE=$(/usr/bin/python3 "$XWDCMP" --at "$x,$y" \
				--save "$T/$name-seen.png" "$screen" "$want"); then
				rm -f "$screen" "$want" "$T/$name-seen.png"
				return 0
			fi
		fi
		[ "$(viewer_ms)" -lt $deadline ] || break
		sleep 0.1
	done
	log "the viewer does not show the backend: $VIEWER_COMPARE"
	return 1
}
