#!/bin/sh
# SPDX-License-Identifier: ISC
# tiktok-fcgi-entrypoint: how the container starts.
#
#   (no argument, or options)   tiktok-fcgi -f (logs to stderr) on the
#                               unix socket FCGI_SOCKET, or on FCGI_BIND
#                               (host:port) when set; the options are
#                               added (-n: check the configuration)
#   COMMAND [ARG...]            runs COMMAND (tiktok-fcgi-ytdlp, sh, ...)
#
# Every setting comes from the environment (tiktok-fcgi.conf(5)).
# ENCRYPTION_KEY must be set: a random key would make every download link
# die with the container, and differ between instances.
#
# YTDLP_DIR is a volume that outlives the image.  Its "current" is
# pointed at the image's own yt-dlp (made at build time) when it has
# none, or an older one (the image was rebuilt with a newer yt-dlp); a
# newer one put there by "tiktok-fcgi-ytdlp update" stays.
set -eu

image_env=/usr/lib/tiktok-fcgi/yt-dlp/current

say() {
	echo "tiktok-fcgi-entrypoint: $*" >&2
}

# The yt-dlp version the virtual environment $1 imports (its dist-info
# folder's name, read without starting Python: the environment's own, or
# the system's for one made with --system-site-packages); empty if none.
installed() {
	set -- "$1"/lib/python3*/site-packages/yt_dlp-*.dist-info
	if [ ! -d "$1" ] && grep -qs '^include-system-site-packages *= *true' \
	    "${1%/lib/*}/pyvenv.cfg"; then
		set -- /usr/lib/python3/dist-packages/yt_dlp-*.dist-info
	fi
	if [ -d "$1" ]; then
		set -- "${1##*/yt_dlp-}"
		echo "${1%.dist-info}"
	fi
}

seed_ytdlp() {
	dir=${YTDLP_DIR:-/var/lib/tiktok-fcgi/yt-dlp}
	[ -d "$image_env" ] || return 0
	ship=$(installed "$image_env")
	have=$(installed "$dir/current")
	if [ -n "$have" ] && [ "$(printf '%s\n%s\n' "$ship" "$have" |
	    sort -V | tail -n 1)" = "$have" ]; then
		return 0
	fi
	target=$(readlink -f "$image_env")
	# A link renamed over the old one: the switch is atomic, as
	# tiktok-fcgi-ytdlp's own.
	if ln -s "$target" "$dir/current.image.$$" 2>/dev/null &&
	    mv -T "$dir/current.image.$$" "$dir/current"; then
		say "yt-dlp ${have:-none} -> $ship (the image's) in $dir"
	else
		rm -f "$dir/current.image.$$"
		say "cannot write $dir: yt-dlp stays ${have:-the system's}"
	fi
}

case ${1:-} in
'' | -*)
	;;
*)
	exec "$@"
	;;
esac

if [ -z "${ENCRYPTION_KEY:-}" ]; then
	say "ENCRYPTION_KEY is not set: refusing to start (download links" \
	    "would die with this container and differ between instances)." \
	    "Set it to a long random string, the same for every instance," \
	    "e.g. the output of: openssl rand -hex 32"
	exit 1
fi
seed_ytdlp
if [ -n "${FCGI_BIND:-}" ]; then
	set -- -b "$FCGI_BIND" "$@"
else
	set -- -s "${FCGI_SOCKET:-/run/tiktok-fcgi/tiktok-fcgi.sock}" "$@"
fi
exec tiktok-fcgi -f "$@"
