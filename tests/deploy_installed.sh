#!/bin/sh
# SPDX-License-Identifier: ISC
# Every file of deploy/ that the README tells users to copy is installed
# by make install (listed in Makefile.am's nobase_dist_pkgdata_DATA, or
# made from its .in: nobase_nodist_pkgdata_DATA), so a new one cannot be
# forgotten.  (quickstart.sh runs from a source tree.)
rc=0
n=0
# A unit made from its .in (with the build's directories) counts as its
# .in; what was made from one in this tree is not a file of its own.
listed() {
	grep -q "^	$1 \\\\\$\|^	$1\$" "$TOP_SRCDIR/Makefile.am"
}
for f in "$TOP_SRCDIR"/deploy/*/*; do
	rel=deploy/${f#"$TOP_SRCDIR"/deploy/}
	[ -f "$f.in" ] && continue
	n=$((n + 1))
	case $rel in
	*.service.in) listed "${rel%.in}" ;;
	*) listed "$rel" ;;
	esac || { echo "not installed by make install: $rel"; rc=1; }
done
[ "$n" -gt 0 ] || { echo "no files under $TOP_SRCDIR/deploy"; exit 99; }
[ $rc -eq 0 ] && echo "ok - $n deploy files installed"
exit $rc
