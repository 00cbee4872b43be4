#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""A tiny forward HTTP proxy for tests: absolute-URI GET/HEAD requests
and CONNECT tunnels, to loopback only.  Counts what passed through.

    fake_proxy.py PORTFILE LOGFILE [CERT KEY]

Each request appends "METHOD TARGET" to LOGFILE.  With a certificate
and key it is an HTTPS proxy (TLS to the proxy itself).  Run as every
fake is (serve.py).
"""

import http.server
import select
import socket
import socketserver
import sys
import threading
import urllib.parse

import serve

LOG = sys.argv[2]
LOCK = threading.Lock()


def note(line):
    with LOCK, open(LOG, 'a') as f:
        f.write(line + '\n')


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.0'

    def log_message(self, fmt, *args):
        pass

    def do_CONNECT(self):
        note('CONNECT ' + self.path)
        host, port = self.path.rsplit(':', 1)
        if host not in ('127.0.0.1', 'localhost'):
            self.send_error(403)
            return
        up = socket.create_connection((host, int(port)))
        self.send_response(200, 'Connection established')
        self.end_headers()
        conns = [self.connection, up]
        while True:
            r, _, _ = select.select(conns, [], [], 30)
            if not r:
                break
            for c in r:
                data = c.recv(65536)
                if not data:
                    up.close()
                    return
                (up if c is self.connection else self.connection) \
                    .sendall(data)

    def relay(self):
        note('%s %s' % (self.command, self.path))
        u = urllib.parse.urlsplit(self.path)
        if u.hostname not in ('127.0.0.1', 'localhost'):
            self.send_error(403)
            return
        up = socket.create_connection((u.hostname, u.port or 80))
        path = u.path + ('?' + u.query if u.query else '')
        head = '%s %s HTTP/1.0\r\n' % (self.command, path)
        for k, v in self.headers.items():
            if k.lower() not in ('proxy-connection', 'connection'):
                head += '%s: %s\r\n' % (k, v)
        up.sendall((head + 'Connection: close\r\n\r\n').encode())
        while True:
            data = up.recv(65536)
            if not data:
                break
            self.wfile.write(data)
        up.close()

    do_GET = relay
    do_HEAD = relay


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def main():
    serve.serve(Server(('127.0.0.1', 0), Handler), sys.argv[1],
                sys.argv[3:5])


if __name__ == '__main__':
    main()
