#!/usr/bin/env bash
# The configuration examples of the manual pages pass vencryptd -t.  An
# example is the .EX/.EE block right after a line
#   .\" test: check-config
# Every block of vencryptd.conf(5)'s EXAMPLES section must be marked; the
# first must be the shipped man/vencryptd.conf.example, word for word.
# The paths in the examples are moved into the test's directory: the
# certificates (made with vencryptd-certs) and the password files; the
# groups the examples name are added for vencryptd with nss_wrapper.
. "${top_srcdir:?run through make check}/tests/e2e/lib.sh" || exit 1

MARK='.\" test: check-config'

# examples PAGE DIR: each marked block of PAGE, roff escapes undone, as
# DIR/example-N.conf; prints how many.
examples() {
	MARK=$MARK awk -v dir="$2" '
		$0 == ENVIRON["MARK"] { getline; if ($0 != ".EX") { print "marker not before .EX at line " NR > "/dev/stderr"; exit 1 }
			n++; f = dir "/example-" n ".conf"; printf "" > f; next }
		f && /^\.EE/ { close(f); f = ""; next }
		f { gsub(/\\-/, "-"); gsub(/\\e/, "\\"); sub(/^\\&/, ""); print > f }
		END { print n + 0 }' "$1"
}

make_certs
mkdir -p "$T/etc"
for u in alice bob; do
	printf 'pw-of-%s\n' "$u" | vencryptd --hash-password "$u" >>"$T/etc/passwd" ||
		fail "--hash-password $u"
done
cp "$T/etc/passwd" "$T/etc/lab.passwd"

need_nss_wrapper
getent passwd >"$T/nss.passwd"
{ getent group; echo "vncweb:x:64999:"; } >"$T/nss.group"
# check CONF: vencryptd -t with the examples' groups known
check() {
	LD_PRELOAD="$NSS_WRAPPER_LIB" NSS_WRAPPER_PASSWD="$T/nss.passwd" \
		NSS_WRAPPER_GROUP="$T/nss.group" \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
		vencryptd -t -c "$1"
}

total=0
for page in man/vencryptd.conf.5 man/vencryptd.8; do
	d="$T/$(basename "$page")"
	mkdir -p "$d"
	n=$(examples "$top_srcdir/$page" "$d") || fail "$page: cannot extract the examples"
	if [ "$page" = man/vencryptd.conf.5 ]; then
		all=$(awk '/^\.SH EXAMPLES/ { e = 1; next } /^\.SH / { e = 0 } e && /^\.EX/ { c++ } END { print c + 0 }' \
			"$top_srcdir/$page")
		[ "$n" -ge 1 ] && [ "$n" = "$all" ] ||
			fail "$page: $n of the $all examples are marked for this test"
		cmp -s "$d/example-1.conf" "$top_srcdir/man/vencryptd.conf.example" ||
			fail "$page: the first example is not man/vencryptd.conf.example"
	fi
	for ((i = 1; i <= n; i++)); do
		src="$d/example-$i.conf"
		conf="$T/etc/$(basename "$page")-$i.conf"
		sed -e "s|/etc/pki/vencryptd|$PKI|g" -e "s|/etc/vencryptd/|$T/etc/|g" "$src" >"$conf"
		# an example without a tls group reads the default cert_dir
		grep -q '^tls = ' "$conf" || printf 'tls = { cert_dir = "%s"; };\n' "$PKI" >>"$conf"
		check "$conf" >"$T/check.out" 2>&1 || {
			cat "$T/check.out"
			fail "$page, example $i, does not pass vencryptd -t"
		}
		log "ok: $page example $i"
	done
	total=$((total + n))
done
[ "$total" -ge 5 ] || fail "only $total examples found"
log "PASS"
