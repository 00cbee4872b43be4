# SPDX-License-Identifier: ISC
"""FastCGI spoken directly to the app, no web server between: a unix
socket connected, one GET and its answer.  Python stdlib only.
"""

import socket
import struct


def unix_connect(path):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return s


def fcgi_get(path, s):
    """One FastCGI GET on the connected socket s (closed after); returns
    the CGI answer text, headers and body."""
    def rec(t, content):
        return struct.pack('>BBHHBx', 1, t, 1, len(content), 0) + content

    def nv(k, v):
        k, v = k.encode(), v.encode()
        return bytes([len(k)]) + bytes([len(v)]) + k + v
    s.settimeout(20)
    s.sendall(rec(1, struct.pack('>HB5x', 1, 0)))
    params = nv('REQUEST_METHOD', 'GET') + nv('REQUEST_URI', path)
    s.sendall(rec(4, params) + rec(4, b'') + rec(5, b''))
    out = b''
    while True:
        h = s.recv(8, socket.MSG_WAITALL)
        if len(h) < 8:
            break
        _, t, _, cl, pl = struct.unpack('>BBHHBx', h)
        c = b''
        while len(c) < cl + pl:
            c += s.recv(cl + pl - len(c))
        if t == 6:
            out += c[:cl]
        if t == 3:
            break
    s.close()
    return out.decode(errors='replace')
