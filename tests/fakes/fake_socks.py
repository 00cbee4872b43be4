#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""A SOCKS5 proxy for tests (RFC 1928, with RFC 1929 user/password
authentication when USER:PASS is given), chained to an upstream HTTP
proxy: each CONNECT it is asked for becomes an HTTP CONNECT to UPSTREAM
(the fake TikTok), so that clients reach the fake TikTok through SOCKS
exactly as they would reach TikTok through a SOCKS egress.  Host names
are passed on unresolved (socks5h); nothing goes anywhere but UPSTREAM.

    fake_socks.py PORTFILE LOGFILE UPSTREAM_HOST:PORT [USER:PASS]

Logs "CONNECT host:port" (or "AUTH-FAILED user") to LOGFILE.  Run as
every fake is (serve.py).
"""

import select
import socket
import socketserver
import struct
import sys
import threading

import serve

PORTFILE, LOG, UPSTREAM = sys.argv[1], sys.argv[2], sys.argv[3]
CRED = sys.argv[4] if len(sys.argv) > 4 else None
LOCK = threading.Lock()


def note(line):
    with LOCK, open(LOG, 'a') as f:
        f.write(line + '\n')


def recv_exact(s, n):
    data = b''
    while len(data) < n:
        d = s.recv(n - len(data))
        if not d:
            raise ConnectionError('short read')
        data += d
    return data


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        c = self.request
        try:
            self.serve(c)
        except (OSError, ConnectionError, struct.error):
            pass

    def serve(self, c):
        ver, n = recv_exact(c, 2)
        methods = recv_exact(c, n)
        if ver != 5:
            return
        want = 2 if CRED else 0
        if want not in methods:
            c.sendall(b'\x05\xff')
            return
        c.sendall(bytes([5, want]))
        if CRED:
            _, ulen = recv_exact(c, 2)
            user = recv_exact(c, ulen).decode()
            plen = recv_exact(c, 1)[0]
            pw = recv_exact(c, plen).decode()
            if '%s:%s' % (user, pw) != CRED:
                note('AUTH-FAILED ' + user)
                c.sendall(b'\x01\x01')
                return
            c.sendall(b'\x01\x00')
        ver, cmd, _, atyp = recv_exact(c, 4)
        if atyp == 1:
            host = socket.inet_ntoa(recv_exact(c, 4))
        elif atyp == 3:
            host = recv_exact(c, recv_exact(c, 1)[0]).decode()
        elif atyp == 4:
            host = socket.inet_ntop(socket.AF_INET6, recv_exact(c, 16))
        else:
            return
        port = struct.unpack('!H', recv_exact(c, 2))[0]
        reply = b'\x05%c\x00\x01\x00\x00\x00\x00\x00\x00'
        if cmd != 1:
            c.sendall(reply % 7)
            return
        note('CONNECT %s:%d' % (host, port))
        uh, up = UPSTREAM.rsplit(':', 1)
        u = socket.create_connection((uh, int(up)), timeout=30)
        u.sendall(('CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n'
                   % (host, port, host, port)).encode())
        head = b''
        while b'\r\n\r\n' not in head:
            d = u.recv(4096)
            if not d:
                break
            head += d
        if b' 200 ' not in head.split(b'\r\n', 1)[0]:
            c.sendall(reply % 5)
            u.close()
            return
        c.sendall(reply % 0)
        rest = head.split(b'\r\n\r\n', 1)[1]
        if rest:
            c.sendall(rest)
        socks = [c, u]
        while True:
            r, _, _ = select.select(socks, [], [], 60)
            if not r:
                break
            for s in r:
                d = s.recv(65536)
                if not d:
                    u.close()
                    return
                (u if s is c else c).sendall(d)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    serve.serve(Server(('127.0.0.1', 0), Handler), PORTFILE)


if __name__ == '__main__':
    main()
