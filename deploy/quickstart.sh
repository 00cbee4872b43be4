#!/bin/sh
# SPDX-License-Identifier: ISC
# tiktok-fcgi quick start, for a Debian 12 machine.
#
#   sh deploy/quickstart.sh run    install, build, and serve on
#                                  http://127.0.0.1:3021 behind nginx
#                                  (foreground; Ctrl-C stops everything)
#   sh deploy/quickstart.sh test   install, build, run the test suite
#
# Installing packages needs root (or sudo).  PORT changes 3021 (a port
# another server holds, serverjs's say, is refused); a file
# ./tiktok-fcgi.conf (KEY=value lines) is used when present.  The service
# gets a current yt-dlp of its own in run/yt-dlp (tiktok-fcgi-ytdlp,
# from the package index; YTDLP_WHEELS names a folder of wheels to use
# instead); without one it falls back to Debian's, which is too old for
# today's TikTok.
set -eu
# nginx lives in /usr/sbin, which a user's PATH may lack.
PATH=$PATH:/usr/sbin:/sbin
export PATH

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
port=${PORT:-3021}

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		echo "quickstart: need root to run: $*" >&2
		exit 1
	fi
}

install_deps() {
	pkgs="build-essential autoconf automake pkg-config libfcgi-dev
	    libcurl4-openssl-dev libjson-c-dev libssl-dev libhiredis-dev
	    libcmocka-dev
	    nginx-light spawn-fcgi yt-dlp ffmpeg mandoc python3 python3-venv
	    openssl curl
	    $*"
	# node runs serverjs's token scheme in the interop test; any
	# version 16 or newer will do, so keep one that is there.
	command -v node >/dev/null 2>&1 || pkgs="$pkgs nodejs"
	missing=
	for p in $pkgs; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		    grep -q 'install ok installed' || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		echo "quickstart: installing$missing"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
		# Web servers are started by their packages on port 80: not
		# here.  policy-rc.d 101 tells Debian's scripts not to.
		norc=
		if [ ! -e /usr/sbin/policy-rc.d ]; then
			printf '#!/bin/sh\nexit 101\n' |
			    as_root tee /usr/sbin/policy-rc.d >/dev/null
			as_root chmod 755 /usr/sbin/policy-rc.d
			norc=1
		fi
		rc=0
		# shellcheck disable=SC2086
		as_root env DEBIAN_FRONTEND=noninteractive \
		    apt-get install -y -q --no-install-recommends $missing ||
		    rc=$?
		if [ -n "$norc" ]; then
			as_root rm -f /usr/sbin/policy-rc.d
		fi
		[ "$rc" -eq 0 ] || exit "$rc"
	fi
}

build() {
	[ -x configure ] || autoreconf -fi
	[ -f Makefile ] || ./configure
	make -j"$(nproc)"
}

# The service's own yt-dlp, current: installed, or brought up to date.
ytdlp() {
	HELPER_SCRIPT=$top/src/ytdlp_helper.py sh fcgi/tiktok-fcgi-ytdlp \
	    -d "$1" ${YTDLP_WHEELS:+-f "$YTDLP_WHEELS"} update ||
	    echo "quickstart: going on with the system's yt-dlp" >&2
	YTDLP_DIR=$1
	export YTDLP_DIR
}

# Is something listening on 127.0.0.1:$1 already?  (serverjs's default
# port is 3021 too.)  curl's 7 is "could not connect".
port_taken() {
	rc=0
	curl -s -o /dev/null --max-time 3 "http://127.0.0.1:$1/" || rc=$?
	[ "$rc" -ne 7 ]
}

run() {
	if port_taken "$port"; then
		echo "quickstart: 127.0.0.1:$port is taken by another server" \
		    "(serverjs's default port is 3021 too): stop it, or" \
		    "choose another port: PORT=8080 sh deploy/quickstart.sh run" >&2
		exit 1
	fi
	rundir=$top/run
	mkdir -p "$rundir"
	chmod 755 "$rundir"
	ytdlp "$rundir/yt-dlp"
	sock=$rundir/tiktok-fcgi.sock
	user=
	[ "$(id -u)" -eq 0 ] && user='user www-data;'
	sed -e "s|@PREFIX@|$rundir|g" -e "s|@LISTEN@|127.0.0.1:$port|" \
	    -e "s|@SOCKET@|$sock|" -e "s|@USER@|$user|" \
	    -e "s|@LOCATIONS@|$top/deploy/nginx/tiktok-fcgi-locations.conf|" \
	    deploy/nginx/nginx-standalone.conf.in > "$rundir/nginx.conf"
	conf=
	[ -f tiktok-fcgi.conf ] && conf="-c $top/tiktok-fcgi.conf"

	HELPER_SCRIPT=${HELPER_SCRIPT:-$top/src/ytdlp_helper.py}
	export HELPER_SCRIPT
	# spawn-fcgi -n execs tiktok-fcgi in the foreground (-f: log to
	# this terminal); nginx runs with "daemon off".
	# shellcheck disable=SC2086
	spawn-fcgi -n -s "$sock" -M 0666 -b 1024 -- "$top/tiktok-fcgi" -f \
	    $conf &
	app=$!
	: > "$rundir/nginx-error.log"
	nginx -p "$rundir" -c "$rundir/nginx.conf" \
	    -e "$rundir/nginx-error.log" &
	web=$!
	stop() {
		trap - INT TERM
		echo
		echo "quickstart: stopping"
		kill -QUIT "$web" 2>/dev/null || true
		kill -TERM "$app" 2>/dev/null || true
		wait "$web" 2>/dev/null || true
		wait "$app" 2>/dev/null || true
		rm -f "$sock"
		exit "${1:-0}"
	}
	trap 'stop 0' INT TERM
	i=0
	until curl -fs --max-time 2 "http://127.0.0.1:$port/health" \
	    >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 300 ] || ! kill -0 "$app" 2>/dev/null ||
		    ! kill -0 "$web" 2>/dev/null; then
			echo "quickstart: did not come up; see" \
			    "$rundir/nginx-error.log" >&2
			stop 1
		fi
		sleep 0.1
	done
	# The answer must have been ours: a server that took the port after
	# the check above answers too, while our nginx fails to bind.
	if grep -q 'bind() to .* failed' "$rundir/nginx-error.log"; then
		echo "quickstart: 127.0.0.1:$port is taken by another server:" \
		    "PORT=8080 sh deploy/quickstart.sh run" >&2
		stop 1
	fi
	echo "quickstart: tiktok-fcgi is answering on" \
	    "http://127.0.0.1:$port (Ctrl-C stops it)"
	echo "quickstart: open http://127.0.0.1:$port/ in a browser, or" \
	    "try: curl http://127.0.0.1:$port/health"
	# Whichever ends first ends both.
	while kill -0 "$app" 2>/dev/null && kill -0 "$web" 2>/dev/null; do
		sleep 1
	done
	stop 1
}

case ${1:-} in
run)
	install_deps
	build
	run
	;;
test)
	# The tests run the API behind each web server in deploy/ and the
	# page at / in headless chromium; clang builds the fuzzers (make
	# fuzz, run by CI); podman (with runc, netavark, aardvark-dns and
	# iptables), podman-compose and mmdebstrap run the container test.
	install_deps apache2 caddy lighttpd redis-server chromium clang \
	    libclang-rt-dev podman runc netavark aardvark-dns iptables \
	    podman-compose mmdebstrap
	build
	make -j"$(nproc)" check
	make -j"$(nproc)" distcheck
	;;
*)
	echo "usage: sh deploy/quickstart.sh run|test" >&2
	exit 1
	;;
esac
