#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""A soak: steady traffic for a while, with faults, counting what is lost
and watching memory.

    python3 bench/soak.py [--minutes N] [--rate R] [--faults LIST]
                          [--every S] [--restart handover|stop-start]

nginx -> spawn-fcgi -> tiktok-fcgi with the fake helper (each extraction
200 ms) and the real ffmpeg, as the tests run it.  R requests a second
(default 25), open loop (each sent at its time, however long the others
take), for N minutes (default 20), in this mix:

    57 %  POST /tiktok, a good post (one of 2000, so some are cached)
    15 %  its download link (GET /download: 20 KB from the fake CDN)
     3 %  a slideshow of a new photo post (a render: fetch, ffmpeg;
          SLIDESHOW_MAX 8)
    15 %  POST /tiktok, a missing post (one of 30): 404 expected
    10 %  a malformed or oversized body: 4xx expected

Every S seconds (default 30) the next fault of LIST (default
helper,ffmpeg,bad,restart; each may be left out): SIGKILL one helper;
SIGKILL the running ffmpeg (if a render runs); a burst of 1000 bad
bodies, 32 at once; a restart (SIGUSR2: the new process takes the socket
over, or with --restart stop-start, SIGTERM and a new start, as a
launcher without a handover does).

Lost: a request that did not get what it should (200 for good ones,
404 for missing posts, a 4xx for bad input), or no answer; a render
refused by SLIDESHOW_MAX (503 with Retry-After) is counted apart.  Each loss is
put down to the last fault before it (within 15 s), else to none.
Printed every 30 s and at the end: requests, lost, RSS of tiktok-fcgi
and its helpers (the new process after a restart), extractions.
"""

import argparse
import collections
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

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
os.environ.setdefault('TOP_SRCDIR', TOP)
os.environ.setdefault('TOP_BUILDDIR', TOP)
sys.path.insert(0, os.path.join(TOP, 'tests', 'integration'))
from harness import FAKES, wait_for  # noqa: E402
from probes import all_dead, children_of, descendants, rss_kb  # noqa: E402
from stack import Stack, ffmpeg_pids  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('--minutes', type=float, default=20)
ap.add_argument('--rate', type=float, default=25)
ap.add_argument('--faults', default='helper,ffmpeg,bad,restart')
ap.add_argument('--every', type=float, default=30)
ap.add_argument('--restart', choices=('handover', 'stop-start'),
                default='handover')
opt = ap.parse_args()
FAULTS = [f for f in opt.faults.split(',') if f]

GOOD = 'https://www.tiktok.com/@cdn_gen_20000/video/%d'
PHOTO = 'https://www.tiktok.com/@ok/photo/74%017d'
MISSING = 'https://www.tiktok.com/@notfound/video/%d'
FFMPEG = shutil.which('ffmpeg')


def comm(pid):
    try:
        with open('/proc/%d/comm' % pid) as f:
            return f.read().strip()
    except OSError:
        return ''


def cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read().decode(errors='replace')
    except OSError:
        return ''


def bad_body():
    k = random.randrange(5)
    if k == 0:
        return b'[' + b'{},' * 20000 + b'{}]'
    if k == 1:
        return b'not json ' * random.randint(1, 2000)
    if k == 2:
        return b'{"url": "' + b'x' * random.randint(10, 60000)
    if k == 3:
        return b'x' * 70000
    return bytes(random.getrandbits(8) for _ in range(2000))


class Soak:
    def __init__(self, s):
        self.s = s
        self.pid = s.app.pid
        self.lock = threading.Lock()
        self.sent = collections.Counter()
        self.lost = collections.Counter()       # (kind, fault)
        self.examples = collections.defaultdict(list)
        self.last_fault = (None, 0.0)
        self.photo = 0
        self.links = collections.deque(maxlen=200)
        self.faults = collections.Counter()
        self.refused = 0

    # -- requests --------------------------------------------------------

    def fault_now(self):
        name, at = self.last_fault
        return name if name and time.time() - at < 15 else 'none'

    def note(self, kind, ok, what):
        with self.lock:
            self.sent[kind] += 1
            if not ok and str(what).startswith('503 {"error":"Too many '
                                               'renders'):
                self.refused += 1       # SLIDESHOW_MAX: come back later
            elif not ok:
                f = self.fault_now()
                self.lost[(kind, f)] += 1
                if len(self.examples[(kind, f)]) < 3:
                    self.examples[(kind, f)].append(what)

    def request(self, kind):
        s = self.s
        try:
            if kind == 'post':
                r = s.tiktok(GOOD % (7400000000000000000 +
                                     random.randrange(2000)), timeout=90)
                ok = r.status == 200
                if ok:
                    with self.lock:
                        self.links.append(r.json()['download_link']
                                          ['no_watermark'])
                self.note(kind, ok, r.status)
            elif kind == 'download':
                with self.lock:
                    link = random.choice(self.links) if self.links else None
                if link is None:
                    return
                r = s.get(s.local(link), timeout=90)
                self.note(kind, r.status == 200 and len(r.body) == 20000,
                          r.status)
            elif kind == 'render':
                with self.lock:
                    self.photo += 1
                    n = self.photo
                r = s.tiktok(PHOTO % n, timeout=90)
                if r.status == 200:
                    r = s.get(s.local(r.json()['download_slideshow_link']),
                              timeout=180)
                self.note(kind, r.status == 200, '%d %s' % (
                    r.status, r.body[:60].decode(errors='replace')
                    if r.status != 200 else ''))
            elif kind == 'missing':
                r = s.tiktok(MISSING % (7400000000000090000 +
                                        random.randrange(30)), timeout=90)
                self.note(kind, r.status == 404, r.status)
            else:
                r = s.request('POST', '/tiktok', body=bad_body(), timeout=90,
                              headers={'Content-Type': 'application/json'})
                self.note(kind, 400 <= r.status < 500, r.status)
        except (OSError, ValueError, KeyError) as e:
            self.note(kind, False, str(e)[:60])

    # -- faults ----------------------------------------------------------

    def fault(self, name):
        with self.lock:
            self.last_fault = (name, time.time())
            self.faults[name] += 1
        if name == 'helper':
            # A helper, not the helper parent that forks them.
            hs = [p for p in descendants(self.pid) if 'helper' in
                  cmdline(p) and '--parent' not in cmdline(p)]
            if hs:
                os.kill(random.choice(hs), signal.SIGKILL)
        elif name == 'ffmpeg':
            run = [p for p in ffmpeg_pids(self.s) if not all_dead([p])]
            if run:
                os.kill(run[-1], signal.SIGKILL)
            else:
                with self.lock:
                    self.faults[name] -= 1
                    self.faults['ffmpeg (none running)'] += 1
        elif name == 'bad':
            with ThreadPoolExecutor(32) as ex:
                list(ex.map(lambda i: self.request('bad'), range(1000)))
        elif name == 'restart':
            self.restart()

    def restart(self):
        old = self.pid
        if opt.restart == 'stop-start':
            self.s.stop_app()
            self.s.start_app()
            self.pid = self.s.app.pid
            return
        os.kill(old, signal.SIGUSR2)
        new = wait_for(lambda: [p for p in children_of(old)
                                if comm(p) == 'tiktok-fcgi'], 60,
                       'the new process')[0]
        wait_for(lambda: all_dead([old]), 120, 'the old one to finish')
        self.pid = new
        NEW.append(new)

    # -- memory ----------------------------------------------------------

    def rss(self):
        """The RSS of tiktok-fcgi and of its helpers (not ffmpeg)."""
        try:
            app = rss_kb(self.pid)
        except OSError:
            return 0, 0
        helpers = 0
        for p in descendants(self.pid):
            try:
                if 'helper' in cmdline(p):
                    helpers += rss_kb(p)
            except OSError:
                pass
        return app, helpers


NEW = []


def main():
    if not FFMPEG:
        sys.exit('ffmpeg is not installed')
    tmp = tempfile.mkdtemp(prefix='tiktok-fcgi-soak-')
    docroot = os.path.join(tmp, 'docroot')
    os.makedirs(docroot)
    for i in (1, 2, 3):
        subprocess.run([FFMPEG, '-loglevel', 'error', '-y', '-f', 'lavfi',
                        '-i', 'testsrc2=size=640x480:rate=1', '-frames:v',
                        '1', os.path.join(docroot, 'img%d.jpg' % i)],
                       check=True)
    subprocess.run([FFMPEG, '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                    'sine=frequency=440:duration=3', '-c:a', 'libmp3lame',
                    os.path.join(docroot, 'audio.mp3')], check=True)
    # SLIDESHOW_MAX 8: renders come faster than two cores make them, and
    # 503 "too many renders" is the limit working, not a loss.
    env = {'FAKE_DELAY_MS': '200', 'HELPERS': '2', 'LOG_LEVEL': 'info',
           'FFMPEG': os.path.join(FAKES, 'fake_ffmpeg.sh'),
           'SHUTDOWN_TIMEOUT': '20', 'SLIDESHOW_MAX': '8'}
    s = Stack(docroot=docroot, env=env)
    with s:
        soak = Soak(s)
        mix = ['post'] * 57 + ['download'] * 15 + ['render'] * 3 + \
            ['missing'] * 15 + ['bad'] * 10
        end = time.time() + opt.minutes * 60
        pool = ThreadPoolExecutor(128)
        t0 = time.time()
        next_fault = t0 + opt.every
        next_report = t0 + 30
        k = 0
        rows = []
        print('%6s %8s %6s %9s %12s %11s' % ('t (s)', 'requests', 'lost',
                                             'faults', 'app RSS KB',
                                             'helpers KB'), flush=True)
        faulting = None
        while time.time() < end:
            now = time.time()
            due = t0 + k / opt.rate
            if due > now:
                time.sleep(min(due - now, 0.05))
                continue
            pool.submit(soak.request, random.choice(mix))
            k += 1
            if FAULTS and now >= next_fault and (faulting is None or
                                                 not faulting.is_alive()):
                name = FAULTS[int((now - t0) // opt.every - 1) % len(FAULTS)]
                faulting = threading.Thread(target=soak.fault, args=(name,))
                faulting.start()
                next_fault = now + opt.every
            if now >= next_report:
                app, helpers = soak.rss()
                with soak.lock:
                    row = (int(now - t0), sum(soak.sent.values()),
                           sum(soak.lost.values()),
                           sum(soak.faults.values()), app, helpers)
                rows.append(row)
                print('%6d %8d %6d %9d %12d %11d' % row, flush=True)
                next_report = now + 30
        if faulting is not None:
            faulting.join()
        pool.shutdown(wait=True)
        app, helpers = soak.rss()
        print('%6d %8d %6d %9d %12d %11d' % (
            int(time.time() - t0), sum(soak.sent.values()),
            sum(soak.lost.values()), sum(soak.faults.values()), app,
            helpers))
        print()
        print('requests by kind: %s' % dict(soak.sent))
        print('faults: %s' % dict(soak.faults))
        print('renders refused by SLIDESHOW_MAX (503, Retry-After; not '
              'counted as lost): %d' % soak.refused)
        print('lost, by kind and the fault before it: %s' % (
            {'%s/%s' % k: v for k, v in soak.lost.items()} or 'none'))
        for key, ex in soak.examples.items():
            print('  %s/%s e.g. %s' % (key[0], key[1], ex))
        ext = s.extractions()
        print('extractions: %d (missing posts: %d, for %d requests)' % (
            len(ext), sum(1 for l in ext if '/@notfound/' in l),
            soak.sent['missing']))
        print(json.dumps({'requests': sum(soak.sent.values()),
                          'lost': sum(soak.lost.values()),
                          'rss_kb': rows[-1][4] if rows else app}))
        if NEW:         # the harness stops the first process only
            os.kill(NEW[-1], signal.SIGTERM)
            wait_for(lambda: all_dead([NEW[-1]]), 60, 'the last process')
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
