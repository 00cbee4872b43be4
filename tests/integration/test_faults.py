#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Faults under steady traffic, counting the requests lost.

Clients post and download, and render slideshows (each a new post, so
each a new render), without pause, while:

1. ffmpeg is killed mid-render, four times: each render is tried once
   more, so no render request fails;
2. bad input comes at volume (3000 malformed or oversized bodies, among
   them JSON of 20,000 empty objects, which the parser would have turned
   into some 16 MB each): each gets its 4xx, and the app's memory stays
   within a bound (a behavioural bound, generous: what the parser made
   of those bodies took it past 100 MB);
3. missing posts are asked again and again (300 requests over 5 posts):
   404 each time, one extraction each (MISSING_TTL).

No good request may be lost.
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import FAKES, SANITIZED, check, done, skip, wait_for  # noqa: E402
from fleet import post_and_download  # noqa: E402
from probes import all_dead, rss_kb  # noqa: E402
from stack import Stack, ffmpeg_pids, ffmpeg_slow  # noqa: E402

FFMPEG = shutil.which('ffmpeg')
if not FFMPEG:
    skip('ffmpeg is not installed (apt-get install ffmpeg)')
WRAP = os.path.join(FAKES, 'fake_ffmpeg.sh')
PHOTO = 'https://www.tiktok.com/@ok/photo/74%017d'
MISSING = 'https://www.tiktok.com/@notfound/video/%d'

base = tempfile.mkdtemp(prefix='tiktok-fcgi-faults-')
docroot = os.path.join(base, 'docroot')
os.makedirs(docroot)
for i in (1, 2, 3):
    subprocess.run([FFMPEG, '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                    'testsrc2=size=320x240:rate=1', '-frames:v', '1',
                    os.path.join(docroot, 'img%d.jpg' % i)], check=True)
subprocess.run([FFMPEG, '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                'sine=frequency=440:duration=2', '-c:a', 'libmp3lame',
                os.path.join(docroot, 'audio.mp3')], check=True)


class Clients:
    def __init__(self, s):
        self.s, self.stop = s, threading.Event()
        self.lock = threading.Lock()
        self.ok = {'post': 0, 'render': 0}
        self.lost = []
        self.n = 0
        self.threads = [threading.Thread(target=self.post, args=(k,))
                        for k in range(4)] + \
            [threading.Thread(target=self.render, args=(k,))
             for k in range(2)]
        for t in self.threads:
            t.start()

    def note(self, kind, ok, what):
        with self.lock:
            if ok:
                self.ok[kind] += 1
            else:
                self.lost.append((kind, what))

    def post(self, k):
        i = 0
        while not self.stop.is_set():
            i += 1
            ok, what = post_and_download(self.s, 7300000000000000000 +
                                         k * 10 ** 6 + i)
            self.note('post', ok, what)

    def render(self, k):
        i = 0
        while not self.stop.is_set():
            i += 1
            with self.lock:
                self.n += 1
                n = self.n
            try:
                r = self.s.tiktok(PHOTO % n, timeout=60)
                ok = r.status == 200
                if ok:
                    r2 = self.s.get(self.s.local(
                        r.json()['download_slideshow_link']), timeout=120)
                    ok = r2.status == 200 and r2.body[4:8] == b'ftyp'
                    st = r2.status
                else:
                    st = r.status
                self.note('render', ok, st)
            except OSError as e:
                self.note('render', False, str(e))

    def renders(self):
        with self.lock:
            return self.ok['render']

    def end(self):
        self.stop.set()
        for t in self.threads:
            t.join()


def bad_body(i):
    k = i % 6
    if k == 0:
        return b'[' + b'{},' * 20000 + b'{}]'
    if k == 1:
        return b'not json ' * random.randint(1, 2000)
    if k == 2:
        return b'{"url": "' + b'x' * random.randint(10, 60000)
    if k == 3:
        return json.dumps({'url': 'https://evil.example/' + 'y' * 3000}
                          ).encode()
    if k == 4:
        return b'x' * 70000                     # over BODY_MAX
    return bytes(random.getrandbits(8) for _ in range(2000))


env = {'FFMPEG': WRAP, 'SLIDESHOW_MAX': '4', 'FAKE_DELAY_MS': '100',
       'MISSING_TTL': '60'}
with Stack(docroot=docroot, env=env) as s:
    c = Clients(s)
    wait_for(lambda: c.renders() >= 4, 120, 'renders to flow')

    # 1. ffmpeg killed mid-render.
    ffmpeg_slow(s, 1)
    killed = []
    for _ in range(4):
        seen = len(ffmpeg_pids(s))
        pid = wait_for(lambda: [p for p in ffmpeg_pids(s)[seen:]
                                if not all_dead([p])], 60, 'a render')[0]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
        done_before = c.renders()
        wait_for(lambda: c.renders() >= done_before + 2, 120,
                 'renders after the kill')
    ffmpeg_slow(s, 0)
    log = s.log()
    check(all('ffmpeg %d killed by signal 9' % p in log for p in killed),
          'each kill is in the log with its cause (%s)' % killed)

    # 2. Bad input at volume.
    pid = s.app.pid
    before = rss_kb(pid)
    peak = [before]
    watching = threading.Event()

    def watch():
        while not watching.is_set():
            peak[0] = max(peak[0], rss_kb(pid))
            time.sleep(0.05)
    w = threading.Thread(target=watch)
    w.start()

    def bad(i):
        try:
            return s.request('POST', '/tiktok', body=bad_body(i),
                             headers={'Content-Type': 'application/json'},
                             timeout=60).status
        except OSError as e:
            return str(e)
    with ThreadPoolExecutor(16) as ex:
        sts = list(ex.map(bad, range(3000)))
    watching.set()
    w.join()
    check(all(isinstance(x, int) and 400 <= x < 500 for x in sts),
          'bad input: 3000 answered 4xx (%s)'
          % sorted(set(map(str, sts)))[:6])
    grew = (peak[0] - before) / 1024
    check(SANITIZED or grew < 40, 'bad input: memory grew %.1f MB at most '
          '(bound 40 MB)%s' % (grew, ' (sanitizer build: not judged)'
                               if SANITIZED else ''))

    # 3. Missing posts, again and again.
    with ThreadPoolExecutor(8) as ex:
        sts = list(ex.map(lambda i: s.tiktok(MISSING % (7300000000000009000
                                                        + i % 5)).status,
                          range(300)))
    n = sum(1 for l in s.extractions() if '/@notfound/' in l)
    check(sts == [404] * 300 and n == 5,
          'missing posts asked 300 times: 404 each, %d extractions (one '
          'per post)' % n)

    c.end()
    check(c.lost == [] and c.ok['post'] > 20 and c.ok['render'] > 8,
          'good requests lost: %d (%d posts with downloads and %d renders '
          'served) %s' % (len(c.lost), c.ok['post'], c.ok['render'],
                          c.lost[:5]))
shutil.rmtree(base, ignore_errors=True)
done()
