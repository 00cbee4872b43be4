#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The front over real HTTP: nginx -> spawn-fcgi -> tiktok-fcgi.

/health, CORS preflight, 404, 405, 413, HEAD, malformed requests, and
SIGTERM with a request in flight: it finishes, nothing is left behind.
"""

import json
import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, done, wait_for, within  # noqa: E402
from probes import all_dead, descendants, unix_backlogs  # noqa: E402
from stack import Stack  # noqa: E402

with Stack() as s:
    r = s.get('/health')
    h = r.json()
    check(r.status == 200, '/health answers 200')
    check(r.header('content-type').startswith('application/json'),
          '/health is JSON')
    check(h['status'] == 'ok' and h['ytdlp'] == 'fake-1.0',
          '/health reports the helper version')
    for k in ('time', 'uptime_s', 'threads', 'pool', 'cache', 'memory',
              'file_descriptors'):
        check(k in h, '/health has %s' % k)
    check(h['threads']['max'] > 64,
          'threads.max counts FCGI_THREADS and the fast workers (%d)'
          % h['threads']['max'])
    # At idle one helper, forked by the helper parent; more (up to
    # HELPERS) only while the work needs them.
    check(wait_for(lambda: s.health()['pool']['helpers'] == 1, 30,
                   'the helper'), 'one helper alive at idle')
    h = s.health()
    check(h['pool']['max_helpers'] == 2, 'max_helpers is HELPERS')
    m = h['memory']
    check(m['rss_kb'] > 0 and m['pss_kb'] > 0, 'rss_kb and pss_kb reported')
    procs = m['helpers']
    roles = sorted((p['role'], p['state']) for p in procs)
    check(roles == [('helper', 'ready'), ('parent', 'ready')],
          '/health lists the helper parent and the helper (%s)' % roles)
    check(all(p['pss_kb'] > 0 and p['rss_kb'] >= p['pss_kb'] and
              p['pid'] in descendants(s.app.pid) for p in procs),
          "each one's memory (RSS, PSS), by pid (%s)" % procs)
    check(m['helpers_pss_kb'] == sum(p['pss_kb'] for p in procs) or
          m['helpers_pss_kb'] > 0, 'and their sum')
    metrics = s.get('/metrics').body.decode()
    for p in procs:
        check(re.search(r'tiktok_fcgi_helper_pss_bytes\{pid="%d",role="%s"'
                        r'\} [1-9]' % (p['pid'], p['role']), metrics) and
              re.search(r'tiktok_fcgi_helper_rss_bytes\{pid="%d",role="%s"'
                        r'\} [1-9]' % (p['pid'], p['role']), metrics),
              '/metrics: the %s\'s RSS and PSS' % p['role'])
    check(r.header('access-control-allow-origin') == '*', 'CORS on /health')
    check(r.header('cache-control') == 'no-store', 'Cache-Control on /health')

    r = s.request('OPTIONS', '/tiktok', headers={
        'Origin': 'https://example.com',
        'Access-Control-Request-Method': 'POST'})
    check(r.status == 204, 'preflight answers 204')
    check('POST' in r.header('access-control-allow-methods'),
          'preflight allows POST')
    check('Content-Type' in r.header('access-control-allow-headers'),
          'preflight allows Content-Type')
    check(r.body == b'', 'preflight has no body')

    r = s.get('/nope')
    check(r.status == 404 and r.json() == {'error': 'Route not found'},
          'unknown route: 404 Route not found')
    check(r.header('access-control-allow-origin') == '*', 'CORS on 404')

    r = s.get('/tiktok')
    check(r.status == 405, 'GET /tiktok: 405')
    check(r.header('allow') == 'POST, OPTIONS', '405 names Allow')
    check('error' in r.json(), '405 is a JSON error')
    r = s.request('POST', '/health', body='{}')
    check(r.status == 405 and 'GET' in r.header('allow'),
          'POST /health: 405 with Allow')

    r = s.request('HEAD', '/health')
    check(r.status == 200 and r.body == b'', 'HEAD /health: 200, no body')
    check(int(r.header('content-length')) > 0,
          'HEAD keeps the Content-Length of GET')

    big = json.dumps({'url': 'https://www.tiktok.com/@a/video/1',
                      'pad': 'x' * 100000})
    r = s.request('POST', '/tiktok', body=big,
                  headers={'Content-Type': 'application/json'})
    check(r.status == 413 and 'error' in r.json(),
          'body over BODY_MAX: 413 JSON')

    cases = [
        (b'not json', 400, 'Request body must be JSON'),
        (b'', 400, 'URL parameter is required'),
        (b'{}', 400, 'URL parameter is required'),
        (b'[1,2]', 400, 'URL parameter is required'),
        (b'{"url": 5}', 400, 'URL parameter is required'),
        (b'{"url": ""}', 400, 'URL parameter is required'),
        (b'[' * 100 + b']' * 100, 400,
         'Request body must be a small JSON object with a url'),
        (b'[' * 20 + b']' * 20, 400, 'Request body must be JSON'),
        (b'[' + b'{},' * 20000 + b'{}]', 400,
         'Request body must be a small JSON object with a url'),
        (b'{"url": "https://evil.com/?x=tiktok.com", "x": "' +
         b'{},' * 1000 + b'"}', 400,
         'Only TikTok and Douyin URLs are supported'),
        (b'{"url": "https://evil.com/?x=tiktok.com"}', 400,
         'Only TikTok and Douyin URLs are supported'),
        (b'{"url": "https://tiktok.com.evil.com/@a/video/1"}', 400,
         'Only TikTok and Douyin URLs are supported'),
        (b'{"url": "https://www.tiktok.com@evil.com/video/1"}', 400,
         'Only TikTok and Douyin URLs are supported'),
        (b'{"url": "ftp://www.tiktok.com/@a/video/1"}', 400,
         'Only TikTok and Douyin URLs are supported'),
        (b'{"url": "nottiktok.com/video/1"}', 400,
         'Only TikTok and Douyin URLs are supported'),
    ]
    for body, status, msg in cases:
        r = s.request('POST', '/tiktok', body=body,
                      headers={'Content-Type': 'application/json'})
        check(r.status == status and r.json().get('error') == msg,
              'POST %r: %d %s' % (body[:40], status, msg))
    # serverjs parses JSON whatever the content type says; so do we.
    r = s.request('POST', '/tiktok', body=b'{"url":"https://evil.com/"}',
                  headers={'Content-Type': 'text/plain'})
    check(r.status == 400 and 'Only TikTok' in r.json()['error'],
          'JSON body with another content type is still read')

    r = s.get('/stream')
    check(r.status == 400 and 'error' in r.json(), '/stream without data: 400')

    # SIGTERM with a request in flight: it completes, then the process
    # exits 0 and leaves no helper behind.
    helpers = descendants(s.app.pid)
    check(len(helpers) == 2, 'the helper parent and its helper run below '
          'tiktok-fcgi (%s)' % helpers)
    result = {}

    def slow():
        result['r'] = s.tiktok('https://www.tiktok.com/@slow1500/video/1')
    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.5)
    s.app.send_signal(signal.SIGTERM)
    t.join(30)
    check('r' in result and result['r'].status == 200,
          'request in flight at SIGTERM finishes with 200')
    rc = s.app.wait(30)
    check(rc == 0, 'tiktok-fcgi exits 0 after SIGTERM')
    check(within(lambda: all_dead(helpers), 5),
          'no helper nor helper parent left after SIGTERM')

# BASE_URL unset: links come from the Host, so only listed hosts get them.
with Stack(env={'ALLOWED_HOSTS': 'dl.example.com, 127.0.0.1'}) as s:
    body = '{"url": "https://www.tiktok.com/@ok/video/7300000000000000002"}'
    r = s.request('POST', '/tiktok', body=body,
                  headers={'Host': 'evil.example'})
    check(r.status == 400 and 'host' in r.json()['error'],
          'ALLOWED_HOSTS: another Host gets no links (400)')
    r = s.request('POST', '/tiktok', body=body,
                  headers={'Host': 'dl.example.com'})
    check(r.status == 200 and r.json()['download_link']['no_watermark']
          .startswith('http://dl.example.com/stream'),
          'ALLOWED_HOSTS: a listed Host gets links on it')
    r = s.tiktok('https://www.tiktok.com/@ok/video/7300000000000000002')
    check(r.status == 200, 'ALLOWED_HOSTS: the host with its port too')

    # The access log: a line per request at info, no query (tokens).
    s.get('/stream?data=SECRETTOKEN')

    def access():
        return [ln.split('access: ', 1)[1] for ln in s.log().splitlines()
                if ' info: access: ' in ln]

    def logged(lines):
        lines = [ln.split(' ', 1)[1] for ln in lines]
        return (any(ln.startswith('POST /tiktok 400 ') for ln in lines) and
                any(ln.startswith('POST /tiktok 200 ') and
                    ln.endswith('cache=miss') for ln in lines) and
                any(ln.startswith('POST /tiktok 200 ') and
                    ln.endswith('cache=hit') for ln in lines) and
                any(ln.startswith('GET /stream 400 ') for ln in lines))
    # A request's line is written once its answer is sent: the client
    # may be on to the next one by then.
    within(lambda: logged(access()), 10)
    lines = access()
    check(lines and all(ln.startswith('127.0.0.1 ') for ln in lines),
          'access log: the client\'s address first (%s)' % lines[-1:])
    check(logged(lines), 'access log: method, path, status, bytes, ms, '
          'cache hit/miss (%s)' % lines[-5:])
    check('SECRETTOKEN' not in s.log(), 'access log: no query, no token')

# LISTEN_BACKLOG: spawn-fcgi made the socket with -b 1024; tiktok-fcgi
# listens on it again with its own backlog (what ss shows for the socket).
with Stack(env={'LISTEN_BACKLOG': '77'}, nginx=False, cdn=False) as s:
    wait_for(lambda: 'listening, backlog 77' in s.log(), 10,
             'the listener with its backlog')
    got = unix_backlogs(s.sock)
    check(got == [77], "LISTEN_BACKLOG sets the backlog of spawn-fcgi's "
          "socket (%s)" % got)

done()
