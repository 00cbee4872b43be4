#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Egress that survives TikTok's IP blocks (OUTBOUND_PROXY as a list).

1. Fake helper, two HTTP proxies (fake_proxy.py) in front of the fake
   CDN; TikTok "refuses" one of them (the fake helper answers "blocked"
   for requests naming it).  Every POST still answers 200: a refused
   extraction is retried once on the other proxy; the refused proxy
   rests (/health, /metrics); each link's bytes come through the proxy
   that extracted it.  Unblocked, it comes back after EGRESS_REST; both
   refused: 503 with Retry-After and a warning.
2. The real helper and yt-dlp's real extractor against two fake TikToks
   (fake_tiktok.py), one of them answering 429 to everything as TikTok
   does to a blocked address: the extraction goes through the other, and
   so does the CDN fetch.
3. A SOCKS5 proxy with a password (fake_socks.py, chained to a fake
   TikTok), as socks5h://user:pass@...: both yt-dlp and libcurl go
   through it and authenticate.
"""

import hashlib
import json
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, done, skip_part, within  # noqa: E402
from stack import Stack, proxy_log  # noqa: E402
from tiktok_world import BASE, FakeTikTok, fetch, generations  # noqa

TT = 'https://www.tiktok.com/@ok/video/%d'


def egress(s):
    """/health's egress list, by proxy URL."""
    return {e['proxy']: e for e in s.health()['egress']}


# -- 1. the pool's egress logic, with the fake helper ---------------------

s = Stack(env={'EGRESS_REST': '3'})
p1, log1 = s.side('fake_proxy.py', 'proxy1')
p2, log2 = s.side('fake_proxy.py', 'proxy2')
u1, u2 = 'http://127.0.0.1:%d' % p1, 'http://127.0.0.1:%d' % p2
blocked = os.path.join(s.state, 'blocked-proxies')
with open(blocked, 'w') as f:
    f.write(u1 + '\n')
s.extra_env['OUTBOUND_PROXY'] = '%s, %s' % (u1, u2)
with s:
    h = egress(s)
    check(set(h) == {u1, u2} and all(e['state'] == 'ok' and
                                     re.fullmatch('[0-9a-f]{16}', e['id'])
                                     for e in h.values()),
          '/health lists both egresses, ok, with ids')
    answers = [s.tiktok(TT % (7300000000000000700 + i)) for i in range(4)]
    check(all(r.status == 200 for r in answers),
          'one proxy refused: every POST still 200 (%s)'
          % [r.status for r in answers])
    tried = open(os.path.join(s.state, 'proxies.log')).read().split('\n')
    check(any(l.endswith(' ' + u1) for l in tried) and
          any(l.endswith(' ' + u2) for l in tried),
          'the refused extraction was tried on the other proxy')
    h = egress(s)
    check(h[u1]['state'] == 'resting' and h[u1]['blocks'] >= 1 and
          0 < h[u1]['back_in_s'] <= 3 and h[u2]['state'] == 'ok' and
          h[u2]['successes'] == 4,
          '/health: the refused proxy rests, the other carried all 4 (%s)'
          % json.dumps(h))
    m = s.get('/metrics').body.decode()
    check('tiktok_fcgi_egress_up{egress="%s",proxy="%s"} 0'
          % (h[u1]['id'], u1) in m and
          'tiktok_fcgi_egress_successes_total{egress="%s",proxy="%s"} 4'
          % (h[u2]['id'], u2) in m, '/metrics: each egress\'s state')
    # Each link streams through the proxy that extracted the post.
    before1 = proxy_log(log1)
    for r in answers:
        link = r.json()['download_link']['no_watermark']
        got = s.get(s.local(link))
        check(got.status == 200 and len(got.body) > 0,
              'the link streams (%d)' % got.status)
    cdn_path = re.compile(r'GET http://127\.0\.0\.1:\d+/gen/')
    check(len(cdn_path.findall(proxy_log(log2))) == 4 and
          proxy_log(log1) == before1,
          'every CDN fetch went out through the proxy that extracted it')

    # Unblocked: back after its rest, no restart.
    open(blocked, 'w').close()
    t0 = time.time()
    back = within(lambda: egress(s)[u1]['state'] == 'ok', 10)
    n = 0
    while egress(s)[u1]['successes'] == 0 and n < 10:
        r = s.tiktok(TT % (7300000000000000800 + n))
        n += 1
    check(back and egress(s)[u1]['successes'] >= 1,
          'unblocked: the proxy extracts again after its rest (%.1f s, '
          '%d posts)' % (time.time() - t0, n))

    # Both refused: 503 with Retry-After, and /health says so.
    with open(blocked, 'w') as f:
        f.write(u1 + '\n' + u2 + '\n')
    r = s.tiktok(TT % 7300000000000000900)
    check(r.status == 503 and r.header('retry-after'),
          'every proxy refused: 503 with Retry-After (%d)' % r.status)
    h = s.health()
    check(all(e['state'] == 'resting' for e in h['egress']) and
          any('every egress' in w for w in h['warnings']),
          '/health warns that TikTok refuses every egress')


# An egress where every post fails while the other succeeds (TikTok
# answering 10204 to a blocked address): after 5 in a row, it rests.
s = Stack(env={'EGRESS_REST': '60'})
f1, f2 = 'http://127.0.0.1:9', 'http://127.0.0.1:10'
with open(os.path.join(s.state, 'failing-proxies'), 'w') as f:
    f.write(f1 + '\n')
s.extra_env['OUTBOUND_PROXY'] = '%s,%s' % (f1, f2)
with s:
    sts = [s.tiktok(TT % (7300000000000001000 + i)).status
           for i in range(14)]
    h = egress(s)
    check(sts.count(404) == 5 and sts.count(200) == 9 and
          h[f1]['state'] == 'resting' and h[f2]['state'] == 'ok',
          'every post failing through one egress, the other succeeding: '
          'it rests after 5 (%s; %s)' % (sts, json.dumps(h)))
    check('every post fails through it' in s.log(), 'and says why')
# Posts that are really missing fail on every egress: none rests.
s = Stack(env={'OUTBOUND_PROXY': '%s,%s' % (f1, f2)})
with s:
    sts = [s.tiktok('https://www.tiktok.com/@notfound/video/%d'
                    % (7300000000000002000 + i)).status for i in range(12)]
    h = egress(s)
    check(sts == [404] * 12 and all(e['state'] == 'ok' for e in h.values()),
          '12 missing posts over both egresses: none rests (%s)'
          % json.dumps(h))

# The id of an egress is keyed with ENCRYPTION_KEY: a hash of the URL
# alone would let anyone who reads /health try passwords against it.
# The same list and key give the same id (tokens name it across a
# fleet); another key, another id.
secret = 'http://user:hunter2@127.0.0.1:9'
ids = []
for key in ('one fleet key', 'one fleet key', 'another key'):
    with Stack(env={'OUTBOUND_PROXY': secret, 'ENCRYPTION_KEY': key}) as s:
        ids.append(s.health()['egress'][0]['id'])
        m = s.get('/metrics').body.decode()
        check('hunter2' not in json.dumps(s.health()) and
              'hunter2' not in m and 'hunter2' not in s.log(),
              'the proxy password is shown nowhere')
guess = hashlib.sha256(secret.encode()).hexdigest()[:16]
check(guess not in ids, 'the egress id is not a hash of the URL (a '
      'guessed password does not reproduce it: %s, %s)' % (ids, guess))
check(ids[0] == ids[1] and ids[0] != ids[2],
      'the same key gives the same id, another key another (%s)' % ids)

# -- 2. the real extractor, one fake TikTok blocking us -------------------

gens = dict(generations())
# Today's TikTok needs the current yt-dlp; Debian's reads the older page.
if 'current' in gens:
    py, vids = gens['current'], (7300000000000000101, 7300000000000000103)
elif 'debian' in gens:
    py, vids = gens['debian'], (7300000000000000201, 7300000000000000203)
else:
    py = None
    skip_part('the real-extractor parts: no yt-dlp here (apt-get '
              'install yt-dlp; YTDLP_WHEELS)')
if py is not None:
    t1, t2 = FakeTikTok('blocking'), FakeTikTok('open')
    t1.block()
    bundle = os.path.join(BASE, 'cas.pem')
    with open(bundle, 'w') as f:
        f.write(open(t1.ca).read() + open(t2.ca).read())
    with Stack(helper='real', env={
            'YTDLP_PYTHON': py, 'CA_FILE': bundle, 'FETCH_ALLOW_PRIVATE': '0',
            'YTDLP_TIMEOUT': '60', 'EGRESS_REST': '3',
            'OUTBOUND_PROXY': '%s,%s' % (t1.proxy, t2.proxy)}) as s:
        r = s.tiktok(TT % vids[0], timeout=120)
        check(r.status == 200, 'real extractor, one TikTok address '
              'blocked (429): 200 through the other (%d)' % r.status)
        refused = [l for l in t1.log() if l.startswith('GET www.tiktok')]
        check(len(refused) >= 1, 'the blocked address was tried first '
              'and refused (%d page requests)' % len(refused))
        h = egress(s)
        check(h[t1.proxy]['state'] == 'resting' and
              h[t2.proxy]['successes'] >= 1,
              '/health names the resting egress (%s)' % json.dumps(h))
        if r.status == 200:
            n1 = len(t1.log())
            got, path, want = fetch(s, t2, r.json()['download_link'][
                'no_watermark'])
            check(got.status == 200 and path is not None and
                  got.body == want and len(t1.log()) == n1,
                  'the link streams through the egress that extracted it '
                  '(%s, %d bytes; nothing through the blocked one)'
                  % (path, len(got.body)))
        # TikTok lets the first address in again: after its rest it
        # extracts again.
        t1.block(False)
        t0 = time.time()
        ok = within(lambda: egress(s)[t1.proxy]['state'] == 'ok', 10)
        r = s.tiktok(TT % vids[1], timeout=120)
        check(ok and r.status == 200 and
              egress(s)[t1.proxy]['successes'] == 1,
              'unblocked, the first address extracts again (%.1f s)'
              % (time.time() - t0))

    # -- 3. SOCKS5 with a password: yt-dlp and libcurl both use it -------

    s = Stack(helper='real', env={
        'YTDLP_PYTHON': py, 'CA_FILE': t2.ca, 'FETCH_ALLOW_PRIVATE': '0',
        'YTDLP_TIMEOUT': '60'})
    sport, slog = s.side('fake_socks.py', 'socks',
                         '127.0.0.1:%s' % t2.port, 'tt-user:s3cret')
    s.extra_env['OUTBOUND_PROXY'] = \
        'socks5h://tt-user:s3cret@127.0.0.1:%d' % sport
    with s:
        r = s.tiktok(TT % vids[0], timeout=120)
        # The current yt-dlp reads the web page, Debian's the app API.
        pages = ('CONNECT www.tiktok.com:443',
                 'CONNECT api16-normal-c-useast1a.tiktokv.com:443')
        seen = proxy_log(slog).splitlines()
        check(r.status == 200 and any(p in seen for p in pages),
              'socks5h with a password: yt-dlp (%s) extracts through it '
              '(%d)' % (py, r.status))
        if r.status == 200:
            got, path, want = fetch(s, t2, r.json()['download_link'][
                'no_watermark'])
            cdn = [l for l in proxy_log(slog).splitlines()
                   if 'tiktokcdn' in l or 'v16-webapp' in l]
            check(got.status == 200 and got.body == want and cdn,
                  'and libcurl streams through it (%s)' % cdn[:2])
        check('AUTH-FAILED' not in proxy_log(slog) and
              's3cret' not in json.dumps(s.health()) and
              's3cret' not in s.get('/metrics').body.decode() and
              's3cret' not in s.log(),
              'the password authenticates, and is shown nowhere')
    t1.stop()
    t2.stop()
shutil.rmtree(BASE, ignore_errors=True)
done()
