#!/bin/sh
# Every configuration key the program reads (src/conf.c's table) is
# documented in tiktok-fcgi.conf(5) and in the README's table, and the
# man pages document no key the program does not read.
conf=$TOP_SRCDIR/src/conf.c
keys=$(sed -n 's/^	{ "\([A-Z_]*\)",.*/\1/p' "$conf")
[ -n "$keys" ] || { echo "no keys found in $conf"; exit 99; }
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
[ $rc -eq 0 ] && echo "ok - $(echo "$keys" | wc -l) keys documented"
exit $rc
