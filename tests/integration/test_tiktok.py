#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""POST /tiktok through nginx with the fake helper: the answers, the
error mapping, and the pool's supervision (crash, restart, retry once,
timeout and replacement, garbage and over-long lines, queue full,
single-flight, SIGHUP under load, no zombies, fds back to baseline).
Helpers are forked by the helper parent (the fake's --parent), one at
idle, more as the work needs.
"""

import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, done, wait_for, within  # noqa: E402
from probes import all_dead, descendants, nfds, zombies_of  # noqa: E402
from stack import Stack  # noqa: E402

TT = 'https://www.tiktok.com/@%s/video/%s'

with Stack(env={'YTDLP_TIMEOUT': '3', 'MAX_WORKERS': '8',
                'QUEUE_MAX': '4', 'HELPERS': '2'}) as s:
    r = s.tiktok(TT % ('ok', '7300000000000000002'))
    check(r.status == 200, 'video post: 200')
    a = r.json()
    check(a['status'] == 'tunnel', 'video post is a tunnel answer')
    dl = a['download_link']
    check(set(dl) == {'watermark', 'no_watermark', 'no_watermark_hd',
                      'watermark_hd', 'mp3'}, 'all five links present')
    check(all(v.startswith(s.base + '/stream?data=') for k, v in dl.items()
              if k != 'mp3') and
          dl['mp3'].startswith(s.base + '/download-audio?url='),
          'links are BASE_URL/stream?data=TOKEN (mp3: the audio render), '
          'BASE derived from Host')
    check(a['author']['nickname'] == 'fakecreator02', 'author.nickname')
    check(a['duration'] == 5000 and a['music_duration'] == 5000,
          'duration in ms')
    check(a['statistics']['play_count'] == 2007, 'statistics.play_count')
    r2 = s.get(s.local(dl['no_watermark']))
    check(r2.status == 200 and len(r2.body) > 0,
          'no_watermark link streams from the CDN')
    # The baseline holds the CDN handle that stream keeps, with its
    # connection, for the next.
    base_fds = nfds(s.app.pid)

    r = s.tiktok(TT % ('ok', '7400000000000000002'))
    a = r.json()
    check(r.status == 200 and a['status'] == 'picker', 'photo post: picker')
    check(len(a['photos']) == 3 and len(a['download_link']['no_watermark'])
          == 3, 'three photos, three download links')
    check(a['download_slideshow_link'].startswith(
        s.base + '/download-slideshow?url='), 'slideshow link')

    # One post each (a post TikTok says is missing is remembered).
    for mode, status, vid in (('notfound', 404, '1'), ('private', 403, '5'),
                              ('blocked', 503, '6'), ('other', 500, '7')):
        r = s.tiktok(TT % (mode, vid))
        check(r.status == status, '%s: %d' % (mode, status))
        check('error' in r.json(), '%s: JSON error' % mode)
    r = s.tiktok(TT % ('blocked', '2'))
    check(r.header('retry-after') is not None, 'blocked: Retry-After')
    r = s.tiktok(TT % ('other', '3'))
    check('fake other' not in r.json()['error'] and
          r.json()['error'].startswith('Extraction failed'),
          "500 carries our words, not yt-dlp's")
    check('fake other' in s.log(), "yt-dlp's words went to the log")
    r = s.tiktok(TT % ('notfound', '4'))
    check(r.json()['error'].startswith('Video not found.'),
          '404 message as serverjs')
    # TikTok (or DNS, or the proxy) out of reach: not our failure, and
    # said so, with a time to come back; the cause is logged at warn.
    r = s.tiktok(TT % ('unreachable', '8'))
    check(r.status == 503 and r.header('retry-after') == '30' and
          r.json()['error'].startswith('TikTok could not be reached'),
          'unreachable: 503 "TikTok could not be reached", Retry-After '
          '(%d %s)' % (r.status, r.body[:80]))
    check(any(' warn: ' in ln and 'TikTok could not be reached' in ln and
              'fake unreachable' in ln for ln in s.log().splitlines()),
          'unreachable: the cause logged at warn')

    # A crash: the request is retried once on another helper and the
    # crashed helper restarted.
    before = s.health()['pool']['restarts']
    r = s.tiktok(TT % ('crashonce', '11'))
    check(r.status == 200, 'crash once: retried on another helper, 200')
    wait_for(lambda: s.health()['pool']['helpers'] >= 1, 10,
             'the crashed helper to be replaced')
    check(s.health()['pool']['restarts'] > before, 'restart counted')
    r = s.tiktok(TT % ('crash', '12'))
    check(r.status == 500 and 'crashed' in r.json()['error'],
          'crashing twice: 500, not a hang')
    wait_for(lambda: s.health()['pool']['helpers'] >= 1, 10,
             'helpers back after crashes')

    # Garbage and over-long lines: the helper is replaced.
    r = s.tiktok(TT % ('garbage', '13'))
    check(r.status in (500, 503), 'garbage answer: an error, not a hang')
    r = s.tiktok(TT % ('long', '14'))
    check(r.status in (500, 503), 'over-long answer: an error')
    wait_for(lambda: s.health()['pool']['helpers'] >= 1, 15,
             'helpers back after protocol errors')

    # Timeout: 504 within the deadline, the stuck helper replaced.
    pids = set(s.helper_pids())
    t0 = time.time()
    r = s.tiktok(TT % ('hang', '15'))
    took = time.time() - t0
    check(r.status == 504, 'hung extraction: 504')
    check(took < 3 + 2, 'answered near YTDLP_TIMEOUT (%.1f s)' % took)
    wait_for(lambda: s.health()['pool']['helpers'] >= 1 and
             set(s.helper_pids()) - pids, 15, 'a replacement helper')
    wait_for(lambda: not pids & set(descendants(s.app.pid)), 15,
             'the stuck helper to be killed')
    check(s.health()['pool']['timeouts'] >= 1, 'timeout counted')

    # Queue full: 8 running + 4 waiting; more answer 503 + Retry-After.
    with ThreadPoolExecutor(20) as ex:
        futs = [ex.submit(s.tiktok, TT % ('slow1500', str(100 + i)))
                for i in range(20)]
        res = [f.result() for f in futs]
    codes = sorted(r.status for r in res)
    check(codes.count(200) == 12, '8 running + 4 queued succeed (%s)'
          % codes)
    busy = [r for r in res if r.status == 503]
    check(len(busy) == 8 and all(r.header('retry-after') for r in busy),
          'the rest: 503 with Retry-After')

    # Single-flight: 200 concurrent POSTs for one post, one extraction.
    n0 = len(s.extractions())
    with ThreadPoolExecutor(200) as ex:
        res = list(ex.map(lambda i: s.tiktok(TT % ('slow800', '777')),
                          range(200)))
    check(all(r.status == 200 for r in res), '200 concurrent: all 200')
    got = [u for u in s.extractions()[n0:] if '777' in u]
    check(len(got) == 1, '200 concurrent POSTs: exactly one extraction '
          '(%d)' % len(got))
    r = s.tiktok(TT % ('slow800', '777') + '?is_from_webapp=1&_r=1')
    got = [u for u in s.extractions()[n0:] if '777' in u]
    check(r.status == 200 and len(got) == 1,
          'tracking parameters do not defeat the cache')

    # SIGHUP while requests flow: the helper parent and every helper
    # replaced, none failing.
    old = set(descendants(s.app.pid))
    stop = threading.Event()
    fails = []
    count = [0]

    def load(k):
        i = 0
        while not stop.is_set():
            i += 1
            r = s.tiktok(TT % ('slow100', '9%d%05d' % (k, i)))
            count[0] += 1
            if r.status != 200:
                fails.append(r.status)
    threads = [threading.Thread(target=load, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    s.app.send_signal(signal.SIGHUP)
    wait_for(lambda: not (old & set(descendants(s.app.pid))), 20,
             'the old parent and all old helpers to retire')
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    check(fails == [] and count[0] > 20,
          'SIGHUP under load: %d requests, none failed %s'
          % (count[0], fails))
    check(s.health()['pool']['helpers'] >= 1 and
          s.parent_pid() not in old, 'a new parent and helpers after SIGHUP')

    time.sleep(0.5)
    check(zombies_of(s.app.pid) == [], 'no zombie children')
    # Helpers beyond the one idle needs go after 10 s idle; then every
    # descriptor of the replaced parent and helpers must be closed.
    back = within(lambda: nfds(s.app.pid) <= base_fds + 2 and
                  len(s.helper_pids()) == 1, 30)
    check(back, 'fd count back to baseline when one helper is left (%d '
          '-> %d)' % (base_fds, nfds(s.app.pid)))

    # A helper stopped by SIGSTOP says nothing: it is replaced, not
    # handed work until timeouts.
    stopped = s.helper_pids()[0]
    os.kill(stopped, signal.SIGSTOP)
    t0 = time.time()
    wait_for(lambda: stopped not in descendants(s.app.pid) and
             s.health()['pool']['helpers'] >= 1, 30,
             'the stopped helper to be replaced')
    check(time.time() - t0 < 20, 'a stopped helper is replaced when it '
          'stops answering (%.1f s)' % (time.time() - t0))
    res = [s.tiktok(TT % ('ok', '96%05d' % i)).status for i in range(10)]
    check(res == [200] * 10, 'and requests go on (%s)' % res)

    helpers = descendants(s.app.pid)
    check(s.stop_app() == 0, 'SIGTERM: exit 0')
    check(wait_for(lambda: all_dead(helpers), 5, 'helpers to exit'),
          'SIGTERM leaves no helper nor the helper parent')

# Helpers that die as they start, always (the start's check passed: a
# yt-dlp that broke while the service runs): /health degraded (503), and
# POST /tiktok answers 503 at once instead of looping.
with Stack(env={'FAKE_START': 'die'}, expect_healthy=False) as s2:
    wait_for(lambda: s2.get('/health').status == 503, 10,
             '/health to say degraded')
    check(s2.get('/health').json()['status'] == 'degraded',
          'no helper alive: /health degraded with 503')
    time.sleep(2)
    t0 = time.time()
    r = s2.tiktok(TT % ('ok', '1'))
    check(r.status == 503 and r.header('retry-after'),
          'crash storm: 503 with Retry-After')
    check(time.time() - t0 < 1, 'crash storm: answered at once')
    check(zombies_of(s2.app.pid) == [], 'crash storm leaves no zombie')

# A helper whose handshake has a null version: replaced, never a crash.
with Stack(env={'FAKE_START': 'nullversion',
                'OUTBOUND_PROXY': 'http://u:p@127.0.0.1:9'},
           expect_healthy=False) as s3:
    wait_for(lambda: s3.get('/health').status == 503, 10,
             '/health to say degraded')
    time.sleep(1)
    check(s3.app.poll() is None and s3.get('/health').status == 503,
          'a ready line with "ytdlp": null: the helper is refused, the '
          'service stays up')
    check('malformed answer' in s3.log(), 'the broken helper is logged')
    names = open(os.path.join(s3.state, 'helper-env')).read().split()
    check('ENCRYPTION_KEY' not in names and 'OUTBOUND_PROXY' not in names
          and not any('PROXY' in n for n in names),
          'helpers get neither ENCRYPTION_KEY nor a proxy in their '
          'environment (each request names its proxy)')

done()
