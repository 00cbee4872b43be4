#!/bin/sh
# Every file of deploy/ that the README tells users to copy is installed
# by make install (listed in Makefile.am's nobase_dist_pkgdata_DATA), so
# a new one cannot be forgotten.  (quickstart.sh runs from a source tree.)
rc=0
n=0
for f in "$TOP_SRCDIR"/deploy/*/*; do
	rel=deploy/${f#"$TOP_SRCDIR"/deploy/}
	n=$((n + 1))
	grep -q "^	$rel \\\\\$\|^	$rel\$" "$TOP_SRCDIR/Makefile.am" ||
	    { echo "not installed by make install: $rel"; rc=1; }
done
[ "$n" -gt 0 ] || { echo "no files under $TOP_SRCDIR/deploy"; exit 99; }
[ $rc -eq 0 ] && echo "ok - $n deploy files installed"
exit $rc
