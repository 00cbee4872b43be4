#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""TikTok out of reach (no name resolution, no route, nobody listening,
the proxy down) is not "Extraction failed.": the helper says
"unreachable" in both yt-dlp generations, and the client gets 503 "TikTok
could not be reached" with Retry-After; the cause is logged at warn.

1. yt-dlp's own words: each generation's real extractor runs in a
   python whose socket module is made to fail the way the machine does
   (getaddrinfo's EAI_NONAME and EAI_AGAIN, ECONNREFUSED from loopback,
   ENETUNREACH, EHOSTUNREACH); nothing leaves this machine, no name is
   looked up.  The helper's classify() must say "unreachable" of each.
2. The whole way: the real helper behind nginx, its egress a proxy
   nobody listens on (a loopback port just closed).
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TOP_SRCDIR, check, done, free_port  # noqa: E402
from stack import Stack  # noqa: E402
from tiktok_world import generations  # noqa: E402

PROBE = r'''
import socket, sys
sys.path.insert(0, sys.argv[2])
import ytdlp_helper as H
import yt_dlp
how = sys.argv[1]
real = socket.getaddrinfo
if how.startswith('eai'):
    err = {'eai-noname': (-2, 'Name or service not known'),
           'eai-again': (-3, 'Temporary failure in name resolution')}[how]
    def gai(*a, **k):
        raise socket.gaierror(*err)
else:
    # Every name is loopback's port 1, where nobody listens.
    def gai(host, port, *a, **k):
        return real('127.0.0.1', 1, *a, **k)
    if how != 'refused':
        err = {'netunreach': (101, 'Network is unreachable'),
               'hostunreach': (113, 'No route to host')}[how]
        def connect(self, addr):
            raise OSError(*err)
        socket.socket.connect = connect
socket.getaddrinfo = gai
opts = dict(H.settings(), socket_timeout=10)
try:
    yt_dlp.YoutubeDL(opts).extract_info(
        'https://www.tiktok.com/@a/video/7300000000000000001',
        download=False)
    print('no error')
except Exception as e:
    m = H.ANSI.sub('', str(e))
    m = m[7:] if m.startswith('ERROR: ') else m
    print(H.classify(m) + '\t' + m)
'''

gens = generations()
if not gens:
    check(False, 'a yt-dlp to test with (apt-get install yt-dlp)')
for gen, py in gens:
    for how in ('eai-noname', 'eai-again', 'refused', 'netunreach',
                'hostunreach'):
        r = subprocess.run([py, '-c', PROBE, how,
                            os.path.join(TOP_SRCDIR, 'src')],
                           capture_output=True, text=True, timeout=120)
        kind, _, words = r.stdout.strip().partition('\t')
        check(kind == 'unreachable', '%s yt-dlp, %s: "unreachable" (%s: %s)'
              % (gen, how, kind, (words or r.stderr.strip())[-150:]))

    dead = free_port()      # nobody listens there
    with Stack(helper='real', env={
            'YTDLP_PYTHON': py, 'FETCH_ALLOW_PRIVATE': '0',
            'OUTBOUND_PROXY': 'http://127.0.0.1:%d' % dead}) as s:
        r = s.tiktok('https://www.tiktok.com/@a/video/7300000000000000001',
                     timeout=120)
        check(r.status == 503 and r.header('retry-after') == '30' and
              r.json().get('error', '').startswith(
                  'TikTok could not be reached'),
              '%s yt-dlp, its proxy down: 503 "TikTok could not be '
              'reached", Retry-After (%d %s)' % (gen, r.status, r.body[:90]))
        warned = [ln for ln in s.log().splitlines() if ' warn: ' in ln and
                  'TikTok could not be reached' in ln]
        check(warned and 'Connection refused' in warned[-1],
              '%s yt-dlp: the cause logged at warn (%s)'
              % (gen, warned[-1][-120:] if warned else 'none'))
done()
