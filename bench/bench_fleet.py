#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""A fleet's shared work and its egress, measured:

    python3 bench/bench_fleet.py [POSTS [CLIENTS]]   (default: 60 8)

1. Extractions saved by REDIS_URL.  Two instances behind one nginx with
   deploy/nginx/nginx-fleet.conf and deploy/tiktok-fcgi-fleet.conf (the
   harness's fleet()), the fake helper answering after 500 ms.  The same
   load twice, without and with a redis-server: POSTS posts, each asked
   by CLIENTS clients at once (in rounds of 4 posts), through nginx.
   Reported: extractions made by both instances, and the wall time.
2. Recovering from a blocked egress.  One instance, two egress proxies,
   EGRESS_REST=5; 4 clients POST new posts without pause.  TikTok blocks
   the first proxy (the fake helper refuses it) for 8 s, then lets it in
   again.  Reported: failed requests, latency while it is blocked, and
   the time from the unblocking to its first extraction.
"""

import os
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
os.environ.setdefault('TOP_SRCDIR', TOP)
os.environ.setdefault('TOP_BUILDDIR', TOP)
sys.path.insert(0, os.path.join(TOP, 'tests', 'integration'))
from fleet import fleet, posts_at_once  # noqa: E402
from redis_server import Redis  # noqa: E402
from stack import Stack  # noqa: E402

POSTS = int(sys.argv[1]) if len(sys.argv) > 1 else 60
CLIENTS = int(sys.argv[2]) if len(sys.argv) > 2 else 8
TT = 'https://www.tiktok.com/@cdn_gen_20000/video/%d'
ENV = {'ENCRYPTION_KEY': 'one key for the whole bench fleet',
       'HELPERS': '1', 'FAKE_DELAY_MS': '500'}


def shared_work(redis_url, base):
    a, b, ngx = fleet(ENV, redis_url)
    try:
        t0 = time.time()
        sts = []
        for i in range(0, POSTS, 4):
            sts += posts_at_once(a, [TT % v for v in range(
                base + i, base + min(i + 4, POSTS)) for _ in range(CLIENTS)])
        wall = time.time() - t0
        n = len(a.extractions()) + len(b.extractions())
        return n, wall, sum(1 for x in sts if x == 200), len(sts)
    finally:
        ngx.terminate()
        ngx.wait()
        b.__exit__(None, None, None)
        a.__exit__(None, None, None)


print('# 1. %d posts x %d clients through two instances' % (POSTS, CLIENTS))
n0, w0, ok0, all0 = shared_work(None, 5000000)
print('without Redis: %d extractions, %d/%d answered 200, %.1f s'
      % (n0, ok0, all0, w0))
redis = Redis(tempfile.mkdtemp(prefix='tiktok-fcgi-bench-redis-')).start()
n1, w1, ok1, all1 = shared_work(redis.url, 6000000)
redis.stop()
print('with Redis:    %d extractions, %d/%d answered 200, %.1f s'
      % (n1, ok1, all1, w1))
print('saved: %d extractions (%.0f %%)' % (n0 - n1, 100.0 * (n0 - n1) / n0))

print('# 2. one egress of two blocked for 8 s (EGRESS_REST=5)')
s = Stack(env=dict(ENV, EGRESS_REST='5', FAKE_DELAY_MS='100'))
p1, _ = s.side('fake_proxy.py', 'egress1')
p2, _ = s.side('fake_proxy.py', 'egress2')
u1 = 'http://127.0.0.1:%d' % p1
s.extra_env['OUTBOUND_PROXY'] = '%s, http://127.0.0.1:%d' % (u1, p2)
blocked = os.path.join(s.state, 'blocked-proxies')
with s:
    stop = threading.Event()
    rows, lk, seq = [], threading.Lock(), [7000000]

    def client():
        while not stop.is_set():
            with lk:
                seq[0] += 1
                v = seq[0]
            t = time.time()
            st = s.tiktok(TT % v, timeout=60).status
            with lk:
                rows.append((t, time.time() - t, st))
    ts = [threading.Thread(target=client) for _ in range(4)]
    for t in ts:
        t.start()
    time.sleep(3)
    t_block = time.time()
    with open(blocked, 'w') as f:
        f.write(u1 + '\n')
    time.sleep(8)
    t_free = time.time()
    open(blocked, 'w').close()

    def first_success():
        for e in s.health()['egress']:
            if e['proxy'] == u1:
                return e['successes']
        return 0
    before = first_success()
    while first_success() == before and time.time() - t_free < 120:
        time.sleep(0.05)
    back = time.time() - t_free
    stop.set()
    for t in ts:
        t.join()
    fails = [r for r in rows if r[2] != 200]
    lat = lambda rs: statistics.median(r[1] for r in rs) * 1000  # noqa
    pre = [r for r in rows if r[0] < t_block]
    during = [r for r in rows if t_block <= r[0] < t_free]
    print('requests: %d, failed: %d' % (len(rows), len(fails)))
    print('median latency before the block %.0f ms, while blocked %.0f ms '
          '(max %.0f ms)' % (lat(pre), lat(during),
                             max(r[1] for r in during) * 1000))
    print('unblocked: first extraction through it again after %.1f s'
          % back)
