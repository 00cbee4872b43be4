#!/bin/sh
# SPDX-License-Identifier: ISC
# ffmpeg as tiktok-fcgi starts it, counted (one line per run in
# $FAKE_STATE/ffmpeg.log, its arguments in ffmpeg-args) and, when $FAKE_STATE/ffmpeg-sleep holds a
# number, slowed down by that many seconds first.  Then the real ffmpeg.
if [ -n "${FAKE_STATE:-}" ]; then
	echo "$$" >> "$FAKE_STATE/ffmpeg.log"
	# Its arguments, one run a line, each argument ended by a tab.
	printf '%s\t' "$@" >> "$FAKE_STATE/ffmpeg-args"
	echo >> "$FAKE_STATE/ffmpeg-args"
	env | sed 's/=.*//' > "$FAKE_STATE/ffmpeg-env"
	if [ -f "$FAKE_STATE/ffmpeg-sleep" ]; then
		sleep "$(cat "$FAKE_STATE/ffmpeg-sleep")"
	fi
fi
exec ffmpeg "$@"
