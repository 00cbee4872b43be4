#!/bin/sh
# SPDX-License-Identifier: ISC
# Run "make -j2 check" N times in a row (default 10) while a CPU-bound
# job runs beside it, as a busy machine would; print one line per run
# and end with how many passed.  A flaky test shows here.
#
#   sh tests/repeat_check.sh [N]        (from a configured build tree)
n=${1:-10}
( while :; do :; done ) &
hog=$!
trap 'kill $hog 2>/dev/null' EXIT INT TERM
ok=0
i=1
while [ "$i" -le "$n" ]; do
	start=$(date +%s)
	if make -j2 check > "repeat-$i.log" 2>&1; then
		ok=$((ok + 1))
		r=passed
	else
		r="FAILED: $(grep '^FAIL:' "repeat-$i.log" | tr '\n' ' ')"
	fi
	echo "run $i: $r ($(( $(date +%s) - start )) s, repeat-$i.log)"
	i=$((i + 1))
done
echo "$ok of $n runs passed"
[ "$ok" -eq "$n" ]
