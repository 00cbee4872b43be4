#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The same API suite through each web server in deploy/: nginx, Apache
(mod_proxy_fcgi), Caddy and lighttpd at /, and Apache again with the API
mounted under /api/ (links must carry the prefix).  A web server that is
not installed is reported as skipped here, never passed.

Each: /health, CORS preflight, the page at / (or /api/) with its
headers, POST /tiktok (fake helper), /stream with
Range and a body that must arrive unbuffered (the fake CDN pauses 1.5 s
after its first 64 KiB: the client must have those bytes before the CDN
sends the rest), /download-slideshow, /metrics.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (check, done, skip, skip_part, which,  # noqa: E402
                     within)
from stack import Stack  # noqa: E402
from webservers import WEB_BINARIES  # noqa: E402

TT = 'https://www.tiktok.com/@%s/video/%s'
FFMPEG = shutil.which('ffmpeg')
# An API key: the Authorization header must reach the app (Apache keeps
# it without CGIPassAuth), and the RateLimit fields must reach the client.
KEY = 'web-server-key-0123456789abcdef'
KEYS_DIR = tempfile.mkdtemp(prefix='tiktok-fcgi-keys-')
KEYS = os.path.join(KEYS_DIR, 'keys')
with open(KEYS, 'w') as f:
    f.write('%s name=webkey\n' % KEY)
LIMITS = {'API_KEYS_FILE': KEYS, 'RATE_LIMIT': '1000/3600'}


def expected(start, end):
    return bytes(((i * 7) % 251) for i in range(start, end))


def first_byte_and_total(s, path):
    """Seconds to the first body byte and to the last, over a raw socket."""
    c = socket.create_connection(('127.0.0.1', s.port), timeout=30)
    t0 = time.time()
    c.sendall(('GET %s%s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close'
               '\r\n\r\n' % (s.prefix, path)).encode())
    data = b''
    first = None
    while True:
        d = c.recv(65536)
        if not d:
            break
        data += d
        if first is None and b'\r\n\r\n' in data and \
                len(data.split(b'\r\n\r\n', 1)[1]) > 0:
            first = time.time() - t0
    c.close()
    return first, time.time() - t0, data


def suite(web, mount, docroot):
    with Stack(web=web, mount=mount, docroot=docroot, env=LIMITS) as s:
        tag = '%s %s' % (web, mount)
        r = s.get('/health')
        check(r.status == 200 and r.json()['status'] == 'ok',
              '%s: /health' % tag)
        check(r.header('content-length') == str(len(r.body)),
              '%s: /health has Content-Length %s (body %d)'
              % (tag, r.header('content-length'), len(r.body)))
        r = s.request('OPTIONS', '/tiktok',
                      headers={'Origin': 'https://a.example',
                               'Access-Control-Request-Method': 'POST'})
        check(r.status == 204 and
              r.header('access-control-allow-origin') == '*',
              '%s: CORS preflight' % tag)
        r = s.get('/nope')
        check(r.status == 404 and r.json()['error'] == 'Route not found',
              '%s: 404 JSON' % tag)
        r = s.get('/?url=https%3A%2F%2Fvm.tiktok.com%2FZS1%2F')
        check(r.status == 200 and r.header('content-type') ==
              'text/html; charset=utf-8' and b'<form id="form"' in r.body,
              '%s: GET %s/?url= is the page' % (tag, s.prefix))
        check(r.header('content-length') == str(len(r.body)) and
              (r.header('content-security-policy') or '').startswith(
                  "default-src 'none'; script-src 'sha256-") and
              r.header('x-content-type-options') == 'nosniff' and
              r.header('referrer-policy') == 'no-referrer',
              '%s: the page has Content-Length, its policy and headers'
              % tag)
        r = s.tiktok(TT % ('cdn_gen_100000', '1'))
        check(r.status == 200 and r.json()['status'] == 'tunnel',
              '%s: POST /tiktok' % tag)
        check(r.header('content-length') == str(len(r.body)),
              '%s: POST /tiktok has Content-Length' % tag)
        check(r.header('ratelimit-policy') == '"api";q=1000;w=3600' and
              (r.header('ratelimit') or '').startswith('"api";r=999;'),
              '%s: the RateLimit fields reach the client (%s, %s)'
              % (tag, r.header('ratelimit-policy'), r.header('ratelimit')))
        links = r.json()['download_link']
        r2 = s.request('POST', '/tiktok', body='{"url": "%s"}'
                       % (TT % ('ok', '3')),
                       headers={'Authorization': 'Api-Key ' + KEY})
        r3 = s.request('POST', '/tiktok', body='{"url": "%s"}'
                       % (TT % ('ok', '4')),
                       headers={'Authorization': 'Api-Key wrong-'
                                '0123456789abcdef'})
        # Its access line is written once the answer is sent.
        check(r2.status == 200 and within(lambda: 'key=webkey' in s.log(),
                                          10) and r3.status == 401,
              '%s: the Authorization header reaches the app (a key: %d, '
              'an unknown one: %d)' % (tag, r2.status, r3.status))
        want = 'http://127.0.0.1:%d%s/stream?data=' % (s.port, s.prefix)
        audio = 'http://127.0.0.1:%d%s/download-audio?url=' % (s.port,
                                                               s.prefix)
        check(all(l.startswith(audio if k == 'mp3' else want)
                  for k, l in links.items()),
              '%s: links carry host, port and mount (%s)'
              % (tag, links['no_watermark'][:len(want) + 4]))
        path = s.local(links['no_watermark'])
        r = s.get(path, headers={'Range': 'bytes=100-199'})
        check(r.status == 206 and r.body == expected(100, 200) and
              r.header('content-range') == 'bytes 100-199/100000',
              '%s: /stream Range' % tag)
        check(r.header('content-length') == '100',
              '%s: the 206 has Content-Length 100 (%s)'
              % (tag, r.header('content-length')))
        r = s.request('HEAD', path)
        check(r.status == 200 and r.header('content-length') == '100000'
              and r.body == b'',
              '%s: HEAD /stream: Content-Length 100000 (%s), no body'
              % (tag, r.header('content-length')))
        r = s.get(path)
        check(r.status == 200 and r.body == expected(0, 100000) and
              'attachment' in (r.header('content-disposition') or ''),
              '%s: /stream whole file with its headers' % tag)
        check(r.header('content-length') == '100000' and
              'chunked' not in (r.header('transfer-encoding') or ''),
              '%s: GET /stream has Content-Length 100000 (%s), not chunked'
              % (tag, r.header('content-length')))

        slow = s.local(s.tiktok(TT % ('cdn_slow_600000', '2'))
                       .json()['download_link']['no_watermark'])
        first, total, data = first_byte_and_total(s, slow)
        body = data.split(b'\r\n\r\n', 1)[1]
        check(first is not None and first < 1.2 and total > 1.5,
              '%s: unbuffered: first bytes after %.2f s, all after %.2f s'
              % (tag, first or -1, total))
        check(b'600000' in data.split(b'\r\n\r\n')[0] or
              len(body) >= 600000, '%s: the slow body arrives' % tag)

        if docroot is not None:
            r = s.tiktok('https://www.tiktok.com/@ok/photo/'
                         '7400000000000000009')
            r = s.get(s.local(r.json()['download_slideshow_link']))
            check(r.status == 200 and r.body[4:8] == b'ftyp' and
                  r.header('content-type') == 'video/mp4',
                  '%s: /download-slideshow' % tag)

        r = s.get('/metrics')
        text = r.body.decode()
        check(r.status == 200 and
              r.header('content-type').startswith('text/plain'),
              '%s: /metrics' % tag)
        samples = {}
        for line in text.splitlines():
            if not line or line.startswith('#'):
                continue
            m = re.fullmatch(r'([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)', line)
            check(m is not None, '%s: metrics line parses: %s' % (tag, line)) \
                if m is None else None
            if m:
                samples[m.group(1) + (m.group(2) or '')] = float(m.group(3))
        check(samples.get('tiktok_fcgi_requests_total{route="/tiktok",'
                          'status="200"}', 0) >= 2,
              '%s: /metrics counts POST /tiktok 200s' % tag)
        check(samples.get('tiktok_fcgi_requests_total{route="/stream",'
                          'status="206"}', 0) >= 1, '%s: and the 206' % tag)
        check(samples.get('tiktok_fcgi_stream_bytes_total', 0) >= 700000,
              '%s: bytes streamed counted' % tag)
        check(samples.get('tiktok_fcgi_pool_helpers', 0) >= 1 and
              samples.get('tiktok_fcgi_pool_max_helpers') == 2,
              '%s: pool helpers gauges (%s of %s)' % (
                  tag, samples.get('tiktok_fcgi_pool_helpers'),
                  samples.get('tiktok_fcgi_pool_max_helpers')))
        check(any(k.startswith('tiktok_fcgi_helper_pss_bytes{') and
                  'role="parent"' in k and v > 0
                  for k, v in samples.items()),
              '%s: the helper parent\'s memory' % tag)
        check(samples.get('tiktok_fcgi_request_seconds_count{route='
                          '"/tiktok"}', 0) >= 2,
              '%s: latency histogram' % tag)


docroot = None
base = tempfile.mkdtemp(prefix='tiktok-fcgi-web-')
if FFMPEG:
    docroot = os.path.join(base, 'docroot')
    os.makedirs(docroot)
    for i in (1, 2, 3):
        subprocess.run([FFMPEG, '-loglevel', 'error', '-y', '-f', 'lavfi',
                        '-i', 'testsrc2=size=720x960:rate=1', '-frames:v',
                        '1', os.path.join(docroot, 'img%d.jpg' % i)],
                       check=True)
    subprocess.run([FFMPEG, '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                    'sine=duration=2', '-c:a', 'libmp3lame',
                    os.path.join(docroot, 'audio.mp3')], check=True)
else:
    skip_part('/download-slideshow through each server: ffmpeg is not '
              'installed (apt-get install ffmpeg)')

missing = []
for web, mount in (('nginx', '/'), ('apache', '/'), ('caddy', '/'),
                   ('lighttpd', '/'), ('apache', '/api/')):
    b = WEB_BINARIES[web]
    if not which(b[0], b[1]):
        skip_part('%s (mounted at %s): not installed (apt-get install %s)'
                  % (web, mount, b[2]))
        missing.append(web)
        continue
    suite(web, mount, docroot)
shutil.rmtree(base, ignore_errors=True)
if len(set(missing)) == 4:
    skip('no web server installed')
shutil.rmtree(KEYS_DIR, ignore_errors=True)
done()
