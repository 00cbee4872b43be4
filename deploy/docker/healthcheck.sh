#!/bin/sh
# SPDX-License-Identifier: ISC
# tiktok-fcgi-healthcheck: GET /health, sent to tiktok-fcgi over FastCGI
# as a web server sends it (cgi-fcgi, libfcgi's client), on the socket
# the entrypoint gave it (FCGI_SOCKET, or FCGI_BIND).  Prints the status
# and the answer; exits 0 on 200 (a helper alive), else 1: 503
# (degraded: no helper), no answer within 8 s, nobody listening.
if [ -n "${FCGI_BIND:-}" ]; then
	port=${FCGI_BIND##*:}
	host=${FCGI_BIND%:*}
	case $host in
	"$FCGI_BIND" | '' | 0.0.0.0 | '*') host=127.0.0.1 ;;
	esac
	addr=$host:$port
else
	addr=${FCGI_SOCKET:-/run/tiktok-fcgi/tiktok-fcgi.sock}
fi
out=$(timeout 8 env -i REQUEST_METHOD=GET REQUEST_URI=/health \
    SCRIPT_NAME=/health SERVER_NAME=localhost SERVER_PORT=80 \
    SERVER_PROTOCOL=HTTP/1.1 REMOTE_ADDR=127.0.0.1 \
    cgi-fcgi -bind -connect "$addr" </dev/null 2>&1)
rc=$?
status=$(printf '%s\n' "$out" | sed -n '1s/^Status: \([0-9]*\).*/\1/p')
if [ -z "$status" ]; then
	echo "no FastCGI answer from $addr (exit $rc): $out" | cut -c 1-300
	exit 1
fi
printf '%s %s\n' "$status" "$(printf '%s\n' "$out" | sed -n '$p')"
[ "$status" = 200 ]
