#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""deploy/nginx/nginx-fleet.conf: one nginx in front of two tiktok-fcgi
instances on two loopback addresses (127.0.0.2 and 127.0.0.3, TCP
FastCGI), each started with deploy/tiktok-fcgi-fleet.conf (its addresses
replaced by the test's): one ENCRYPTION_KEY, a Redis of the test's own
(REDIS_URL) and two egress proxies (OUTBOUND_PROXY).

1. Clients post and download without pause; one instance is stopped
   (SIGTERM) mid-run; every request must still succeed, and links made
   by one instance open on the other.
2. Redis: one post asked of both instances is extracted once; 40
   concurrent requests for one post over both, once; Redis killed
   mid-run, every request still answered (each instance alone, /health
   says so); Redis back, the instances share again.
"""

import json
import os
import re
import shutil
import socket
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (check, done, skip, skip_part, wait_for, which,  # noqa: E402
                     within)
from fcgi_client import fcgi_get  # noqa: E402
from fleet import fleet, posts_at_once  # noqa: E402
from redis_server import Redis  # noqa: E402
from stack import Stack  # noqa: E402

NGINX = which('nginx', 'NGINX_BIN')
if NGINX is None:
    skip('nginx is not installed')
TT = 'https://www.tiktok.com/@cdn_gen_20000/video/%d'

REDIS = which('redis-server', 'REDIS_SERVER')
if REDIS is None and os.environ.get('CI'):
    check(False, 'redis-server is installed in CI')
env = {'ENCRYPTION_KEY': 'one key for the whole fleet', 'HELPERS': '1',
       'FAKE_DELAY_MS': '300'}
rtmp = tempfile.mkdtemp(prefix='tiktok-fcgi-redis-')
redis = Redis(rtmp).start() if REDIS else None
a, b, ngx = fleet(env, redis.url if redis else None, egresses=2)
if redis is not None:
    # Each instance connected at its start: "up" before any extraction.
    for inst in (a, b):
        ans = fcgi_get('/health', socket.create_connection(inst.bind, 10))
        check('"redis":{"state":"up"' in ans.replace(' ', ''),
              'instance %s: Redis "up" before its first extraction (%s)'
              % (inst.bind[0], ans[ans.find('"redis"'):][:60]))


results = []
stop = threading.Event()
lock = threading.Lock()


def client(k):
    i = 0
    while not stop.is_set():
        i += 1
        try:
            r = a.tiktok(TT % (9000000 + k * 100000 + i), timeout=30)
            ok = r.status == 200
            if ok:
                r2 = a.get(a.local(r.json()['download_link']
                                   ['no_watermark']), timeout=30)
                ok = r2.status == 200 and len(r2.body) == 20000
            with lock:
                results.append((ok, r.status))
        except OSError as e:
            with lock:
                results.append((False, str(e)))


threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
for t in threads:
    t.start()
# Requests flowing (however busy the machine), then one instance is
# stopped mid-run, then requests flow on.
wait_for(lambda: len(results) >= 40, 120, 'requests to flow')
before = len(results)
b.stop_app()            # SIGTERM one instance mid-run
wait_for(lambda: len(results) >= before + 40, 120,
         'requests to flow after the stop')
stop.set()
for t in threads:
    t.join()
fails = [r for r in results if not r[0]]
check(before >= 40 and len(results) >= before + 40,
      'requests flowed before and after the stop (%d, %d)'
      % (before, len(results)))
check(fails == [], 'one instance stopped mid-run: all %d requests '
      'succeeded %s' % (len(results), fails[:5]))
check(len(a.extractions()) > 0 and len(b.extractions()) > 0,
      'both instances served (%d, %d extractions)'
      % (len(a.extractions()), len(b.extractions())))


# -- 2. Redis -------------------------------------------------------------

def extractions(vid):
    return sum(1 for s in (a, b) for l in s.extractions()
               if l.endswith('/%d' % vid))


def served(s):
    return len(re.findall(r'access: \S+ POST /tiktok 200', s.log()))


def fan(vid, n):
    """n concurrent POSTs for one post through the fleet: statuses."""
    return posts_at_once(a, [TT % vid] * n)


if redis is not None:
    b.start_app()       # back in the fleet (stopped in part 1)
    wait_for(lambda: 'acceptor_start: listening' in b.log(), 20,
             'the second instance again')
    # nginx takes it back after fail_timeout (10 s): until requests
    # reach it again.
    k = [0]
    base_b = served(b)

    def b_serves():
        k[0] += 1
        a.tiktok(TT % (1000400 + k[0]), timeout=30)
        return served(b) > base_b
    wait_for(b_serves, 40, 'nginx to send requests to the second '
             'instance again', 0.5)
    sa, sb = served(a), served(b)
    for i in range(6):
        r = a.tiktok(TT % 1000001, timeout=30)
        check(r.status == 200, 'the same post, request %d: 200' % i)
    # Access lines are written once each answer is sent.
    within(lambda: served(a) > sa and served(b) > sb, 10)
    check(served(a) > sa and served(b) > sb and extractions(1000001) == 1,
          'one post asked of both instances: 1 extraction (%d; %d and %d '
          'requests)' % (extractions(1000001), served(a) - sa,
                         served(b) - sb))
    check(redis.call('EXISTS', 'tiktok-fcgi:post:tiktok:1000001') == '1',
          'the post is in Redis')
    ttl = int(redis.call('TTL', 'tiktok-fcgi:post:tiktok:1000001'))
    check(0 < ttl <= 300, 'with a TTL no longer than CACHE_TTL (%d)' % ttl)
    # CDN URLs valid 200 s more: the entry lives at most 200 - 60 s;
    # valid 50 s more: not shared at all (they die before it is used).
    for valid, vid in ((200, 1000011), (50, 1000012)):
        r = a.tiktok('https://www.tiktok.com/@expire%d/video/%d'
                     % (valid, vid))
        ttl = int(redis.call('TTL', 'tiktok-fcgi:post:tiktok:%d' % vid))
        ok = 0 < ttl <= valid - 60 if valid > 60 else ttl == -2
        check(r.status == 200 and ok, 'CDN URLs valid %d s: the entry\'s '
              'TTL is %d (never past the URLs, less a minute)'
              % (valid, ttl))

    sa, sb = served(a), served(b)
    sts = fan(1000002, 40)
    within(lambda: served(a) > sa and served(b) > sb, 10)
    check(sts == [200] * 40 and extractions(1000002) == 1 and
          served(a) > sa and served(b) > sb,
          '40 concurrent requests over both instances: 1 extraction (%d; '
          '%s; %d and %d requests)' % (extractions(1000002),
                                       sorted(set(map(str, sts))),
                                       served(a) - sa, served(b) - sb))

    # Redis stopped dead (SIGSTOP: connections open, no answer): calls
    # time out after REDIS_TIMEOUT, requests are answered all the same.
    redis.proc.send_signal(signal.SIGSTOP)
    t0 = time.time()
    sts = fan(1000050, 5) + fan(1000051, 5)
    check(sts == [200] * 10, 'Redis silent: all 10 requests answered in '
          '%.1f s (%s)' % (time.time() - t0, sorted(set(map(str, sts)))))
    redis.proc.send_signal(signal.SIGCONT)

    # Redis killed mid-run: every request still answered.
    redis.kill()
    sts = []
    for k in range(4):
        sts += fan(1000100 + k, 5)
    check(sts == [200] * 20, 'Redis killed: all 20 requests answered (%s)'
          % sorted(set(map(str, sts))))
    hs = [a.get('/health').json() for _ in range(4)]
    check(any(h['redis']['state'] == 'down' and
              any('Redis' in w for w in h['warnings']) for h in hs),
          '/health: redis down, with a warning')
    m = a.get('/metrics').body.decode() + a.get('/metrics').body.decode()
    check('tiktok_fcgi_redis_up 0' in m, '/metrics: redis_up 0')
    said = [s.log().count('without the fleet until it is back')
            for s in (a, b)]
    check(all(1 <= n <= 2 for n in said),
          'each instance logged each outage once (%s)' % said)

    # Redis back: the instances reconnect (with back-off) and share.
    # (Each may have said so already, back from the SIGSTOP before the
    # kill: a new line is wanted.)
    said = [s.log().count('sharing extractions again') for s in (a, b)]

    def back():
        return all(s.log().count('sharing extractions again') > n
                   for s, n in zip((a, b), said))
    redis.start()
    t0 = time.time()
    k = 0
    while time.time() - t0 < 60 and not back():
        a.tiktok(TT % (1000200 + k), timeout=30)
        k += 1
        time.sleep(0.3)
    check(back(), 'Redis back: both instances reconnected (%.1f s)'
          % (time.time() - t0))
    sts = fan(1000300, 20)
    check(sts == [200] * 20 and extractions(1000300) == 1,
          'and share again: 20 requests, 1 extraction (%d)'
          % extractions(1000300))
    redis.stop()

    # A Redis that refuses us (a password we do not have): answered all
    # the same, /health says why; with the password, shared.
    locked = Redis(a.tmp)
    locked.start_args = ['--requirepass', 'right-one']
    locked.start()
    for pw, state in (('wrong-one', 'down'), ('right-one', 'up')):
        with Stack(env={'REDIS_URL': 'redis://:%s@127.0.0.1:%d/0'
                        % (pw, locked.port)}) as s:
            r = s.tiktok(TT % 1000500)
            h = s.health()
            check(r.status == 200 and h['redis']['state'] == state and
                  'right-one' not in json.dumps(h) and
                  'right-one' not in s.log(),
                  'REDIS_URL with the %s password: 200, redis %s (%s), the '
                  'password shown nowhere' % (pw, state, h['redis']))
    locked.stop()
else:
    skip_part('the Redis part: redis-server is not installed (apt-get '
              'install redis-server)')

ngx.terminate()
ngx.wait()
b.__exit__(None, None, None)
a.__exit__(None, None, None)
shutil.rmtree(rtmp, ignore_errors=True)
done()
