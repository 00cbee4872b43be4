#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""deploy/nginx/nginx-migration.conf: serverjs and tiktok-fcgi behind one
nginx during a migration, sharing the traffic by weight (serverjs 3,
tiktok-fcgi 1, as shipped).  serverjs is played by a small HTTP server
that says who answered.  Both answer POST /tiktok in the shipped
proportion; tiktok-fcgi's links point at the balancer (BASE_URL) and
stream through it; /download-audio, which only tiktok-fcgi has, always
reaches it.  (That serverjs opens our tokens, and we its, is
test_interop's.)
"""

import http.server
import json
import os
import re
import socketserver
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (TOP_SRCDIR, check, done, free_port, skip,  # noqa
                     wait_for, which)
from stack import Stack  # noqa: E402
from webservers import nginx_http  # noqa: E402

if which('nginx', 'NGINX_BIN') is None:
    skip('nginx is not installed')


class ServerJS(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def answer(self):
        body = json.dumps({'status': 'tunnel', 'served_by': 'serverjs'})
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def do_POST(self):
        self.rfile.read(int(self.headers.get('Content-Length') or 0))
        self.answer()

    do_GET = answer


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


sjs = Server(('127.0.0.1', 0), ServerJS)
threading.Thread(target=sjs.serve_forever, daemon=True).start()

lport, inner = free_port(), free_port()
s = Stack(nginx=False, env={'BASE_URL': 'http://127.0.0.1:%d' % lport})
with s:
    conf = open(os.path.join(TOP_SRCDIR, 'deploy', 'nginx',
                             'nginx-migration.conf')).read()
    for old, new in (
            ('127.0.0.1:8081', '127.0.0.1:%d' % inner),
            ('127.0.0.1:3021', '127.0.0.1:%d' % sjs.server_address[1]),
            ('listen 80;', 'listen 127.0.0.1:%d;' % lport),
            ('/etc/nginx/snippets/tiktok-fcgi-locations.conf',
             os.path.join(TOP_SRCDIR, 'deploy', 'nginx',
                          'tiktok-fcgi-locations.conf'))):
        check(old in conf, 'the shipped file has %s' % old)
        conf = conf.replace(old, new)
    # The upstream is the site file's (the migration file sits beside it).
    site = open(os.path.join(TOP_SRCDIR, 'deploy', 'nginx',
                             'tiktok-fcgi-site.conf')).read()
    upstream = re.search(r'(?s)upstream tiktok_fcgi \{.*?\}', site).group(0)
    conf = upstream.replace('/run/tiktok-fcgi/tiktok-fcgi.sock', s.sock) + \
        '\n' + conf
    ngx = nginx_http(s.tmp, 'migration', conf)
    s.procs.append(ngx)
    s.port = lport
    s.base = 'http://127.0.0.1:%d' % lport

    def up():
        try:
            return s.get('/health', timeout=2).status == 200
        except OSError:
            return False
    wait_for(up, 20, 'the balancer')

    who = {'serverjs': 0, 'tiktok-fcgi': 0}
    ours = None
    for i in range(40):
        r = s.tiktok('https://www.tiktok.com/@cdn_gen_5000/video/%d' % i)
        a = r.json()
        if r.status == 200 and a.get('served_by') == 'serverjs':
            who['serverjs'] += 1
        elif r.status == 200 and 'download_link' in a:
            who['tiktok-fcgi'] += 1
            ours = a
    weights = [int(w) for w in re.findall(r'weight=(\d+)', conf)]
    check(who['serverjs'] + who['tiktok-fcgi'] == 40 and
          who['tiktok-fcgi'] == 40 * weights[1] // sum(weights),
          'POST /tiktok shared by weight %s: %s' % (weights, who))
    if ours is not None:
        link = ours['download_link']['no_watermark']
        check(link.startswith(s.base + '/stream?data='),
              'tiktok-fcgi\'s links point at the balancer (%s)' % link[:40])
        # In turn, one of four requests goes to tiktok-fcgi.
        got = [s.get(s.local(link)) for _ in range(4)]
        mine = [r for r in got if r.header('content-type') != 'application/json']
        check(len(mine) >= 1 and all(r.status == 200 and len(r.body) == 5000
                                     for r in mine),
              'the link streams through the balancer (%s)'
              % [(r.status, len(r.body)) for r in mine])
    for i in range(4):
        r = s.get('/download-audio?url=not-a-token')
        check(r.status == 400 and 'served_by' not in r.json(),
              '/download-audio reaches tiktok-fcgi only (%d)' % r.status)
    ngx.terminate()
    ngx.wait()
sjs.shutdown()
done()
