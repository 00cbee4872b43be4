#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Budgets across a fleet: two instances behind one nginx (harness
fleet(): deploy/tiktok-fcgi-fleet.conf, deploy/nginx/nginx-fleet.conf)
with a redis-server of the test's own, RATE_LIMIT=4/3600 and the
fleet's nginx (127.0.0.1) as a trusted proxy, so each part of the test
is a client of its own (X-Forwarded-For).

1. Redis up: one client's requests, spread over both instances, share
   one budget: 4 answers in all, then 429; RateLimit counts down across
   instances; the window is in Redis with its expiry.
2. Redis silent (SIGSTOP): every request is answered, each instance
   holding the budget alone.
3. Redis killed: each instance counts alone (4 answers from each),
   nothing refused for it, /health and /metrics say so.
4. Redis back: the instances share again.
"""

import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, done, skip, which, within  # noqa: E402
from fleet import fleet  # noqa: E402
from redis_server import Redis  # noqa: E402

if which('nginx', 'NGINX_BIN') is None:
    skip('nginx is not installed')
if which('redis-server', 'REDIS_SERVER') is None:
    if os.environ.get('CI'):
        check(False, 'redis-server is installed in CI')
        done()
    skip('redis-server is not installed (apt-get install redis-server)')

TT = 'https://www.tiktok.com/@ok/video/73100000000%08d'
seq = [0]
rtmp = tempfile.mkdtemp(prefix='tiktok-fcgi-redis-')
redis = Redis(rtmp).start()
a, b, ngx = fleet({'RATE_LIMIT': '4/3600', 'TRUSTED_PROXIES': '127.0.0.1',
                   'HELPERS': '1'}, redis.url)


def post(client, timeout=30):
    seq[0] += 1
    return a.request('POST', '/tiktok', body=json.dumps({'url': TT % seq[0]}),
                     headers={'Content-Type': 'application/json',
                              'X-Forwarded-For': client}, timeout=timeout)


def served(s, client, status=None):
    """Requests of client an instance answered (with status)."""
    return sum(1 for ln in s.log().splitlines()
               if re.search(r'access: \S+ POST /tiktok %s' % (status or ''),
                            ln) and
               ln.split(' client=')[-1].split()[0] == client)


def remaining(r):
    v = r.header('ratelimit') or ''
    return int(v.split(';r=')[1].split(';')[0]) if ';r=' in v else None


# -- 1. one budget for the fleet ----------------------------------------------
c1 = '198.51.100.1'
rs = [post(c1) for _ in range(8)]
check([r.status for r in rs] == [200] * 4 + [429] * 4,
      'Redis up: one client over two instances: 4 answers, then 429 (%s)'
      % [r.status for r in rs])
check([remaining(r) for r in rs[:4]] == [3, 2, 1, 0],
      'RateLimit counts down across instances (%s)'
      % [remaining(r) for r in rs[:4]])
check(within(lambda: served(a, c1) > 0 and served(b, c1) > 0, 10),
      'both instances served the client (%d, %d)'
      % (served(a, c1), served(b, c1)))
key = 'tiktok-fcgi:rl:api:3600:ip:' + c1
ttl = int(redis.call('PTTL', key) or -9)
check(redis.call('GET', key) == '8' and 0 < ttl <= 3600 * 1000,
      'the window is in Redis: 8 requests, expiring within the hour (%s, '
      '%d ms)' % (redis.call('GET', key), ttl))
hs = [a.get('/health').json()['limits'] for _ in range(4)]
check(all(h['counting'] == 'fleet' for h in hs),
      '/health: the fleet counts (%s)' % [h['counting'] for h in hs])

# -- 2. Redis silent -----------------------------------------------------------
# Stopped dead (SIGSTOP: connections open, no answer): a call times out
# after REDIS_TIMEOUT, then each instance counts alone.
redis.proc.send_signal(signal.SIGSTOP)
c2 = '198.51.100.2'
t0 = time.time()
rs = []
for _ in range(12):
    t = time.time()
    r = post(c2)
    rs.append((r.status, time.time() - t))
redis.proc.send_signal(signal.SIGCONT)
sts = [st for st, _ in rs]
check(all(st in (200, 429) for st in sts),
      'Redis silent: every request answered (%s in %.1f s, the slowest '
      '%.2f s)' % (sts, time.time() - t0, max(d for _, d in rs)))
check(served(a, c2, 200) <= 4 and served(b, c2, 200) <= 4 and
      sts.count(429) >= 4,
      'and the budget holds on each instance (%d and %d answered, %d '
      'refused)' % (served(a, c2, 200), served(b, c2, 200), sts.count(429)))

# -- 3. Redis killed: each instance alone --------------------------------------
redis.kill()
c3 = '198.51.100.3'
end = time.time() + 60
sts = []
while time.time() < end and (served(a, c3) < 6 or served(b, c3) < 6):
    sts.append(post(c3).status)
check(served(a, c3) >= 6 and served(b, c3) >= 6,
      'Redis killed: both instances answer (%d, %d requests)'
      % (served(a, c3), served(b, c3)))
check(served(a, c3, 200) == 4 and served(b, c3, 200) == 4,
      'each instance counts alone: 4 answers from each (%d, %d; %s)'
      % (served(a, c3, 200), served(b, c3, 200), sts))
hs = [a.get('/health').json() for _ in range(4)]
check(all(h['limits']['counting'] == 'alone' and
          any('counted by each instance alone' in w for w in h['warnings'])
          for h in hs),
      '/health: counting alone, with a warning (%s)'
      % [h['limits']['counting'] for h in hs])
m = a.get('/metrics').body.decode() + a.get('/metrics').body.decode()
check('tiktok_fcgi_limit_redis_up 0' in m and
      'tiktok_fcgi_limit_alone_total' in m,
      '/metrics: limit_redis_up 0, limit_alone_total')
said = [s.log().count('rate limits are counted by this instance alone')
        for s in (a, b)]
check(all(1 <= n <= 2 for n in said),
      'each instance logged the outage once per outage (%s)' % said)

# -- 4. Redis back ---------------------------------------------------------------
redis.start()
end = time.time() + 60
k = 0
while time.time() < end and not all(
        'rate limits are shared by the fleet again' in s.log()
        for s in (a, b)):
    k += 1
    post('198.51.100.%d' % (100 + k % 100))
    time.sleep(0.2)
check(all('rate limits are shared by the fleet again' in s.log()
          for s in (a, b)), 'Redis back: both instances count in it again')
c4 = '198.51.100.4'
rs = [post(c4) for _ in range(8)]
check([r.status for r in rs] == [200] * 4 + [429] * 4 and
      served(a, c4) > 0 and served(b, c4) > 0,
      'and share one budget again (%s)' % [r.status for r in rs])

redis.stop()
ngx.terminate()
ngx.wait()
b.__exit__(None, None, None)
a.__exit__(None, None, None)
shutil.rmtree(rtmp, ignore_errors=True)
done()
