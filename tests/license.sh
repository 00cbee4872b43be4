#!/bin/sh
# SPDX-License-Identifier: ISC
# The tree is ISC-licensed (LICENSE) and every file of it that can hold a
# comment says so in an SPDX line near its top; what cannot (JSON, test
# data, the fuzzers' seeds) and the prose (README, LICENSE) are exempt.
# Needs git's list of the tree's files: skipped, saying so, in a copy
# without it (distcheck).
cd "$TOP_SRCDIR" || exit 99
grep -q '^ISC License' LICENSE || { echo "LICENSE: not the ISC license"; exit 1; }
if ! files=$(git ls-files 2>/dev/null) || [ -z "$files" ]; then
	echo "SKIP: not a git checkout (a distcheck copy): no list of the" \
	    "tree's own files"
	exit 77
fi
rc=0
for f in $files; do
	case $f in
	*.json|*.md|*.keep|tests/fixtures/*|tests/fuzz/corpus/*|LICENSE|\
	*/README|README)
		continue ;;
	esac
	[ -f "$f" ] || continue
	head -n 3 "$f" | grep -q 'SPDX-License-Identifier: ISC' ||
	    { echo "no SPDX line: $f"; rc=1; }
done
[ $rc -eq 0 ] && echo "every file of the tree carries its SPDX line"
exit $rc
