#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""REDIS_URL: what is in Redis is not trusted as it is, missing posts are
remembered, and Redis coming back is noticed soon.

1. An entry is sealed: not JSON, no Cookie of the formats' headers in it.
2. Entries written by someone else are ignored (the post is extracted):
   a JSON entry of their own, a genuine entry copied to another post's
   key, a genuine entry made to live forever (PERSIST): its own expiry
   holds.
3. A foreign lock (no expiry, not signed) costs nothing: the post is
   extracted at once instead of waiting for the lock's deadline (70 s).
4. MISSING_TTL: a missing post asked twice is extracted once; the fact
   is in Redis, so a fresh process (empty cache) does not extract it.
5. Redis killed, then started again, with no request meanwhile: the
   instance notices by itself (/health up) within a few seconds.
"""

import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, done, skip, which, within  # noqa: E402
from redis_server import Redis  # noqa: E402
from stack import Stack  # noqa: E402

if which('redis-server', 'REDIS_SERVER') is None:
    if os.environ.get('CI'):
        check(False, 'redis-server is installed in CI')
        done()
    skip('redis-server is not installed (apt-get install redis-server)')

TT = 'https://www.tiktok.com/@ok/video/%d'
rtmp = tempfile.mkdtemp(prefix='tiktok-fcgi-redis-')
redis = Redis(rtmp).start()


def extractions(s, vid):
    return sum(1 for l in s.extractions() if l.endswith('/%d' % vid))


def key(vid):
    return 'tiktok-fcgi:post:tiktok:%d' % vid


env = {'REDIS_URL': redis.url, 'CACHE_TTL': '3', 'MISSING_TTL': '60'}
with Stack(env=env) as s:
    # 1. Sealed.
    r = s.tiktok(TT % 7100001)
    raw = redis.call('GET', key(7100001))
    check(r.status == 200 and raw != '' and not raw.startswith('{') and
          'cdn_session' not in raw and 'Cookie' not in raw,
          'the entry in Redis is sealed: no JSON, no Cookie (%r...)'
          % raw[:40])

    # 2. Someone else's entries.
    forged = ('{"id":"7100002","formats":[{"url":"http://127.0.0.1:9/evil",'
              '"format_id":"x","vcodec":"h264","acodec":"aac"}]}')
    redis.call('SET', key(7100002), forged)
    r = s.tiktok(TT % 7100002)
    check(r.status == 200 and extractions(s, 7100002) == 1 and
          'evil' not in r.body.decode(),
          'a JSON entry written by someone else: ignored, extracted (%d)'
          % extractions(s, 7100002))
    check('was not written by this fleet' in s.log(),
          'and logged')
    redis.call('COPY', key(7100001), key(7100003))
    r = s.tiktok(TT % 7100003)
    check(r.status == 200 and extractions(s, 7100003) == 1,
          'a genuine entry copied under another post\'s key: ignored (%d)'
          % extractions(s, 7100003))
    s.tiktok(TT % 7100004)
    redis.call('PERSIST', key(7100004))
    check(redis.call('TTL', key(7100004)) == '-1', 'an entry made to live '
          'forever in Redis')
    # Past CACHE_TTL (3 s): the local copy is gone, the entry's own
    # expiry too.
    time.sleep(4)
    r = s.tiktok(TT % 7100004)
    check(r.status == 200 and extractions(s, 7100004) == 2,
          'is not taken past its sealed expiry (%d extractions)'
          % extractions(s, 7100004))

    # 3. A foreign lock.
    redis.call('SET', 'tiktok-fcgi:lock:tiktok:7100005', 'not-ours')
    t0 = time.time()
    try:
        st = s.tiktok(TT % 7100005, timeout=20).status
    except OSError as e:
        st = str(e)
    check(st == 200 and extractions(s, 7100005) == 1,
          'a foreign lock without expiry: extracted at once (%s in %.1f s, '
          'not after the lock deadline of 70 s)' % (st, time.time() - t0))

    # 4. Missing posts remembered, and shared.
    miss = 'https://www.tiktok.com/@notfound/video/%d'
    sts = [s.tiktok(miss % 7100006).status for _ in range(3)]
    check(sts == [404] * 3 and extractions(s, 7100006) == 1,
          'a missing post asked 3 times: 404 each time, 1 extraction (%s, '
          '%d)' % (sts, extractions(s, 7100006)))
    ttl = int(redis.call('TTL', key(7100006)))
    check(0 < ttl <= 60, 'remembered in Redis for MISSING_TTL (%d)' % ttl)
    priv = 'https://www.tiktok.com/@private/video/%d'
    sts = [s.tiktok(priv % 7100007).status for _ in range(2)]
    check(sts == [403] * 2 and extractions(s, 7100007) == 1,
          'a private post asked twice: 403, 1 extraction (%s)' % sts)
    s.stop_app()
    s.start_app()
    s.wait_healthy()
    sts = [s.tiktok(miss % 7100006).status, s.tiktok(priv % 7100007).status]
    check(sts == [404, 403] and extractions(s, 7100006) == 1 and
          extractions(s, 7100007) == 1,
          'a fresh process (empty cache) reads them from Redis: no '
          'extraction (%s)' % sts)

    # 5. Redis back, noticed without traffic.
    redis.kill()
    r = s.tiktok(TT % 7100008)
    check(r.status == 200 and within(
        lambda: s.health()['redis']['state'] == 'down', 10),
        'Redis killed: answered, /health says down')
    time.sleep(12)          # the back-off grows meanwhile
    redis.start()
    t0 = time.time()
    back = within(lambda: s.health()['redis']['state'] == 'up', 10)
    check(back, 'Redis back after 12 s, no request: /health up again '
          'within 10 s (%.1f s)' % (time.time() - t0))
redis.stop()
shutil.rmtree(rtmp, ignore_errors=True)
done()
