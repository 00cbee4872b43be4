#!/bin/sh
# SPDX-License-Identifier: ISC
# Every configuration key the program reads (as `tiktok-fcgi -K` lists
# them) is documented in tiktok-fcgi.conf(5) and in the README's table,
# the man pages document no key the program does not read, and every
# number's bounds are in the manual's Limits list.
bin=$TOP_BUILDDIR/tiktok-fcgi
table=$("$bin" -K) || { echo "$bin -K failed"; exit 99; }
keys=$(echo "$table" | cut -f1)
echo "$table" | awk -F '\t' 'NF != 5 { exit 1 } $2 == "int" { n++ }
    END { exit !n }' ||
    { echo "$bin -K: not five fields a line, or no number"; exit 99; }
rc=0
for k in $keys; do
	grep -q "^\.It Ev $k\|Ev $k " "$TOP_SRCDIR/man/tiktok-fcgi.conf.5" ||
	    { echo "not in tiktok-fcgi.conf.5: $k"; rc=1; }
	grep -q "\`$k\`" "$TOP_SRCDIR/README.md" ||
	    { echo "not in README.md: $k"; rc=1; }
done
for k in $(sed -n 's/^\.It Ev \([A-Z_]*\).*/\1/p' \
    "$TOP_SRCDIR/man/tiktok-fcgi.conf.5"); do
	echo "$keys" | grep -qx "$k" ||
	    { echo "documented but not read: $k"; rc=1; }
done
# Every number's bounds, as the program checks them, in the manual's
# Limits list.
echo "$table" | awk -F '\t' '$2 == "int" { print $1, $4, $5 }' |
    while read -r k lo hi; do
	grep -qx "\.It Ev $k Ta $lo Ta $hi" \
	    "$TOP_SRCDIR/man/tiktok-fcgi.conf.5" ||
	    { echo "bounds of $k ($lo..$hi) not in tiktok-fcgi.conf.5"; \
	    exit 1; }
done || rc=1
[ $rc -eq 0 ] && echo "ok - $(echo "$keys" | wc -l) keys documented"
exit $rc
