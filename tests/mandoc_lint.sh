#!/bin/sh
# SPDX-License-Identifier: ISC
# The manual pages are mandoc -Tlint clean (warnings and above; "style"
# notes about this machine's mandoc.db are not about the pages).
mandoc=${MANDOC:-$(command -v mandoc)}
if [ -z "$mandoc" ]; then
	echo "SKIP: mandoc is not installed (apt-get install mandoc)"
	# CI installs it: there, a skip is a failure.
	[ "${CI:-}" = true ] && exit 1
	exit 77
fi
rc=0
for page in "$TOP_SRCDIR"/man/*.[0-9]; do
	out=$("$mandoc" -Tlint -Wwarning "$page" 2>&1)
	if [ -n "$out" ]; then
		echo "$out"
		rc=1
	else
		echo "ok - $(basename "$page") is lint clean"
	fi
done
exit $rc
