#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Benchmark POST /tiktok through nginx on loopback, with the fake helper
answering after a fixed latency (FAKE_DELAY_MS, default 100 ms), so that
what is measured is tiktok-fcgi: its threads, pool, queue and cache.

    python3 bench/bench_tiktok.py [seconds per run]

Reports requests/s and p50/p99 latency for cache misses at 10, 100 and
1000 concurrent connections, cache hits at 100, and the summed PSS of
tiktok-fcgi and its helpers at idle and under load.  Needs wrk.
"""

import os
import re
import shutil
import subprocess
import sys
import threading
import time

from benchlib import HERE, pss_kb, tree
from stack import Stack

SECS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
DELAY = os.environ.get('FAKE_DELAY_MS', '100')
WRK = shutil.which('wrk')
if WRK is None:
    sys.exit('wrk is not installed: apt-get install wrk')


def total_pss(app):
    """PSS of tiktok-fcgi and every process below it (the helper parent
    and the helpers), and how many those are."""
    pids = tree(app)
    return sum(pss_kb(p) for p in pids), len(pids) - 1


RUNS = [0]


def wrk(s, conns, hit=False):
    env = dict(os.environ)
    RUNS[0] += 1
    env['RUN'] = str(RUNS[0])
    if hit:
        env['HIT'] = '1'
    threads = min(conns, 4)
    out = subprocess.run(
        [WRK, '-t%d' % threads, '-c%d' % conns, '-d%ds' % SECS,
         '--timeout', '30s', '-s', os.path.join(HERE, 'tiktok.lua'),
         s.base], capture_output=True, text=True, env=env).stdout
    m = re.search(r'RESULT (.*)', out)
    return dict(kv.split('=') for kv in m.group(1).split()) if m else out


env = {'FAKE_DELAY_MS': DELAY, 'HELPERS': '2', 'MAX_WORKERS': '100',
       'QUEUE_MAX': '4000', 'FCGI_THREADS': '1100', 'THREAD_STACK_KB': '128',
       'LOG_LEVEL': 'warn', 'CACHE_MAX': '1000', 'YTDLP_TIMEOUT': '60'}
print('fake helper latency %s ms, %d s per run, HELPERS=2 MAX_WORKERS=100 '
      'FCGI_THREADS=1100' % (DELAY, SECS))
with Stack(env=env) as s:
    time.sleep(1)
    idle, nh = total_pss(s.app.pid)
    print('idle: PSS tiktok-fcgi + %d helper processes = %.1f MB (tiktok-fcgi '
          'alone %.1f MB, %d threads)' % (nh, idle / 1024,
                                          pss_kb(s.app.pid) / 1024,
                                          len(os.listdir('/proc/%d/task'
                                                         % s.app.pid))))
    peak = [0, 0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], total_pss(s.app.pid)[0])
            peak[1] = max(peak[1], pss_kb(s.app.pid))
            time.sleep(0.2)
    t = threading.Thread(target=sample)
    t.start()
    for conns in (10, 100, 1000):
        r = wrk(s, conns)
        print('cache miss, %4d concurrent: %s' % (conns, r))
    r = wrk(s, 100, hit=True)
    print('cache hit,   100 concurrent: %s' % r)
    stop.set()
    t.join()
    print('under load: peak PSS tiktok-fcgi + helpers = %.1f MB, '
          'tiktok-fcgi alone %.1f MB' % (peak[0] / 1024, peak[1] / 1024))
    print('health after: %s' % s.health()['pool'])
