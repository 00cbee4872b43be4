#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The front at scale, with the real helper and a current yt-dlp against
the fake TikTok (tests/fakes/fake_tiktok.py) answering every page
after FAKE_TIKTOK_LATENCY_MS (default 500 ms):

    python3 bench/bench_front.py [USERS ...]        (default: 2000 10000)

Default settings, plain spawn-fcgi (backlog 1024), the shipped nginx
config.  For each USERS: that many clients at once, each POSTing one of
100 posts (new posts each round): how many got 200, the wall time, and
the peak PSS of tiktok-fcgi and its helpers.  Then: cache-miss
throughput (20 connections, every request a new post, no latency); /health
through FastCGI with 20 stalled FastCGI peers; /health and POST /tiktok
with 400 clients that requested a stream and never read.

yt-dlp: YTDLP_PYTHON if set, else installed with tiktok-fcgi-ytdlp from
YTDLP_WHEELS (or ../shared/ytdlp).  Needs nothing beyond the tests'.
"""

import asyncio
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from benchlib import (FakeTikTok, Peak, crowd, post_id, throughput,
                      ytdlp_python)
from harness import wait_for
from fcgi_client import fcgi_get, unix_connect
from stack import Stack

USERS = [int(a) for a in sys.argv[1:]] or [2000, 10000]
# BENCH_SECTIONS: crowd, miss, peers (default all).  TOP_BUILDDIR may
# name another build (an older tiktok-fcgi) to compare.
SECTIONS = os.environ.get('BENCH_SECTIONS', 'crowd,miss,peers').split(',')
LATENCY = os.environ.get('FAKE_TIKTOK_LATENCY_MS', '500')
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
tmp = tempfile.mkdtemp(prefix='tiktok-fcgi-bench-')


def main():
    py = ytdlp_python(tmp)
    fake = FakeTikTok(os.path.join(tmp, 'tiktok'), LATENCY)
    # Default settings: the harness's test values put back.
    env = {'YTDLP_PYTHON': py, 'OUTBOUND_PROXY': fake.proxy,
           'CA_FILE': fake.ca,
           'FETCH_ALLOW_PRIVATE': '0',
           'LOG_LEVEL': os.environ.get('BENCH_LOG_LEVEL', 'warn'),
           'HELPERS': str(os.cpu_count()), 'FCGI_THREADS': '256',
           'SHUTDOWN_TIMEOUT': '20'}
    print('yt-dlp %s, TikTok latency %s ms, default settings' % (
        subprocess.run([py, '-c', 'import yt_dlp.version as v;'
                        'print(v.__version__)'], capture_output=True,
                       text=True).stdout.strip(), LATENCY))
    with Stack(helper='real', env=env) as s:
        wait_for(lambda: s.health()['pool']['helpers'] >= 1, 60,
                 'a helper')
        time.sleep(1)
        for rnd, n in enumerate(USERS if 'crowd' in SECTIONS else [], 1):
            ids = [post_id(rnd, k % 100) for k in range(n)]
            peak = Peak(s.app.pid)
            t0 = time.monotonic()
            res = asyncio.run(crowd(s.port, ids))
            wall = time.monotonic() - t0
            total, at = peak.done()
            total, app = total / 1024, at.get(s.app.pid, 0) / 1024
            ok = sum(1 for st, _ in res if st == 200)
            codes = {}
            for st, _ in res:
                codes[st] = codes.get(st, 0) + 1
            print('%5d users, 100 posts: %d answered 200 %s, wall %.1f s, '
                  'peak PSS tiktok-fcgi + helpers %.1f MB (tiktok-fcgi '
                  '%.1f MB at that peak)' % (n, ok, codes, wall, total, app))
        h = s.health()
        print('  extractions so far: %d (cache misses)' %
              h['cache']['misses'])
    fake.stop()

    # Cache misses, no latency: what the helpers can do.
    fake = FakeTikTok(os.path.join(tmp, 'tiktok0'), 0)
    env.update(OUTBOUND_PROXY=fake.proxy, CA_FILE=fake.ca)
    with Stack(helper='real', env=env) as s:
        wait_for(lambda: s.health()['pool']['helpers'] >= 1, 60,
                 'a helper')
        secs = 15 if 'miss' in SECTIONS else 0
        res = asyncio.run(throughput(s.port, 20, secs, 99))
        ok = sum(1 for st, _ in res if st == 200)
        if secs:
            took = sorted(t for st, t in res if st == 200) or [0]
            print('cache misses, 20 connections, no latency: %.1f '
                  'extractions/s, p50 %.0f ms (%d of %d answered 200)'
                  % (ok / secs, 1000 * took[len(took) // 2], ok,
                     len(res)))
    fake.stop()

    # The front under stalled peers and readers that stop, fake helper.
    if 'peers' not in SECTIONS:
        shutil.rmtree(tmp, ignore_errors=True)
        return
    with Stack(env={'FCGI_THREADS': '256', 'HELPERS': '2',
                    'LOG_LEVEL': 'warn'}) as s:
        peers = []
        for _ in range(20):
            c = unix_connect(s.sock)
            c.sendall(b'\x01\x01\x00\x01')
            peers.append(c)
        best = []
        for _ in range(20):
            t0 = time.monotonic()
            ans = fcgi_get('/health', unix_connect(s.sock))
            best.append(time.monotonic() - t0)
            assert ans.startswith('Status: 200'), ans[:60]
        best.sort()
        print('20 stalled FastCGI peers: /health in %.1f ms (median of 20, '
              'worst %.1f ms)' % (best[10] * 1000, best[-1] * 1000))
        for c in peers:
            c.close()

        r = s.tiktok('https://www.tiktok.com/@cdn_gen_268435456/video/'
                     '7300000000000000001')
        link = s.local(r.json()['download_link']['no_watermark'])
        stuck = []
        for _ in range(400):
            c = socket.create_connection(('127.0.0.1', s.port))
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            c.sendall(('GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % link)
                      .encode())
            stuck.append(c)
        time.sleep(5)
        t0 = time.monotonic()
        h = s.get('/health', timeout=30)
        th = time.monotonic() - t0
        t0 = time.monotonic()
        p = s.tiktok('https://www.tiktok.com/@ok/video/7300000000000000099',
                     timeout=30)
        tp = time.monotonic() - t0
        print('400 non-reading stream clients (%d threads busy): /health '
              '%d in %.3f s, POST /tiktok %d in %.3f s'
              % (h.json()['threads']['busy'], h.status, th, p.status, tp))
        for c in stuck:
            c.close()
    shutil.rmtree(tmp, ignore_errors=True)


main()
