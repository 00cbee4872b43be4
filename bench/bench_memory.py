#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Memory at every load, tiktok-fcgi beside serverpy, on the same fake
TikTok (tests/fakes/fake_tiktok.py):

    python3 bench/bench_memory.py [SERVERPY_DIR]
    BENCH_BEFORE=/path/to/an/older/tree       # measure that build too
    BENCH_SET=MAX_WORKERS=40,...              # settings for tiktok-fcgi
                                              # (MAX_WORKERS: serverpy's too)
    BENCH_PHASES=a|b                          # one latency only

SERVERJS_DIR=dir (the serverjs/ folder of the same checkout, after
"npm install --ignore-scripts" in it) adds serverjs at idle only: it
listens on every address, so it runs in a network namespace of its own
("unshare -n", as root), where nothing reaches it.

SERVERPY_DIR (or the environment's SERVERPY_DIR) is the serverpy/ folder
of a checkout of github.com/bestdownloaderoverflow/yt-dlp, whose parent
holds the yt_dlp it imports; without it only tiktok-fcgi is measured.
serverpy runs as its start.sh runs it (one process: uvicorn, one
worker; its Dockerfile's gunicorn has 5), on Debian's python3-fastapi,
-uvicorn, -httpx, -dotenv and -redis, bound to 127.0.0.1, Redis and the
VPN controller pointed at a closed port, TikTok reached through the
fake's proxy (HTTPS_PROXY) and trusted through its CA (SSL_CERT_FILE; a
certifi of the bench's own on PYTHONPATH names that file, as yt-dlp
asks certifi first).

tiktok-fcgi runs with default settings behind nginx (not counted),
with a current yt-dlp (YTDLP_PYTHON, else installed from YTDLP_WHEELS or
../shared/ytdlp); BENCH_BEFORE names another built tree (its binary,
helper and nginx configuration) to measure beside it in the same run.

What is measured: the PSS of each process of each server's tree (the
server's own pid and every descendant) and their total, at idle, after
one request (and its latency), at the peak of 10 and of 100 requests at
once, the peak of 20 connections posting new posts for BENCH_SECS
(default 15) with no latency, idle again after BENCH_IDLE s (default
40), and one request then (its latency: no cold start); then, with
TikTok answering each page in 500 ms, 100 connections for BENCH_SECS
and 2000 users at once (and BENCH_USERS more, e.g. 10000, for
tiktok-fcgi only); the users ask for 100 posts (as bench_front.py's).
"""

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from benchlib import (FakeTikTok, Peak, cmdline, crowd, post_id, pss_kb,
                      throughput, tree, ytdlp_python, ytdlp_version)
from harness import free_port, wait_for
from stack import Stack

SECS = int(os.environ.get('BENCH_SECS', '15'))
IDLE = int(os.environ.get('BENCH_IDLE', '40'))
MORE = [int(u) for u in os.environ.get('BENCH_USERS', '').split(',') if u]
SERVERPY = (sys.argv[1] if len(sys.argv) > 1 else
            os.environ.get('SERVERPY_DIR'))
SERVERJS = os.environ.get('SERVERJS_DIR')
BEFORE = os.environ.get('BENCH_BEFORE')
SETTINGS = dict(kv.split('=', 1) for kv in
                os.environ.get('BENCH_SET', '').split(',') if kv)
PHASES = os.environ.get('BENCH_PHASES', 'a,b').split(',')
tmp = tempfile.mkdtemp(prefix='tiktok-fcgi-bench-mem-')
ROUND = [0]


def round_no():
    ROUND[0] += 1
    return ROUND[0]


class Ours:
    def __init__(self, fake, py, tree=None, name='tiktok-fcgi'):
        """tiktok-fcgi of this tree, or of another built tree."""
        self.name = name
        # None: this tree, built in or out of its sources.
        self.s = Stack(helper='real', tree=tree, env={
            'YTDLP_PYTHON': py, 'OUTBOUND_PROXY': fake.proxy,
            'CA_FILE': fake.ca, 'FETCH_ALLOW_PRIVATE': '0',
            'LOG_LEVEL': 'warn', 'HELPERS': str(os.cpu_count()),
            'FCGI_THREADS': '256', 'SHUTDOWN_TIMEOUT': '20', **SETTINGS})
        self.s.start()
        wait_for(lambda: self.s.health()['pool']['helpers'] >= 1, 60,
                 'a helper')
        self.pid, self.port = self.s.app.pid, self.s.port

    def role(self, pid):
        if pid == self.pid:
            return 'tiktok-fcgi'
        comm = open_text('/proc/%d/comm' % pid)
        if comm == 'ytdlp-parent':
            return 'helper parent'
        if comm == 'ytdlp-helper' or any(
                a.endswith(b'.py') for a in cmdline(pid)):
            return 'helper'
        return named(pid)

    def stop(self):
        self.s.stop()


def stop(proc, secs):
    """SIGTERM, and SIGKILL after secs (serverpy's executor may never
    let it exit)."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(secs)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class ServerPy:
    name = 'serverpy'

    def __init__(self, fake, dir):
        shim = os.path.join(tmp, 'certifi-shim', 'certifi')
        os.makedirs(shim, exist_ok=True)
        with open(os.path.join(shim, '__init__.py'), 'w') as f:
            f.write('import os\n\n\ndef where():\n'
                    "    return os.environ['SSL_CERT_FILE']\n\n\n"
                    'def contents():\n'
                    '    return open(where()).read()\n')
        self.port = free_port()
        closed = str(free_port())
        env = dict(os.environ)
        for k in ('http_proxy', 'https_proxy', 'no_proxy', 'PYTHONPATH'):
            env.pop(k, None)
        env.update({
            'HTTPS_PROXY': fake.proxy, 'HTTP_PROXY': fake.proxy,
            'NO_PROXY': '127.0.0.1,localhost', 'SSL_CERT_FILE': fake.ca,
            'PYTHONPATH': os.path.dirname(shim), 'REDIS_HOST': '127.0.0.1',
            'REDIS_PORT': closed, 'GLUETUN_CONTROL_PORT': closed,
            'TEMP_DIR': os.path.join(tmp, 'serverpy-temp'),
            'BASE_URL': 'http://127.0.0.1:%d' % self.port})
        # Extractions at once: the same limit for both (serverpy's
        # ThreadPoolExecutor), when BENCH_SET gives one.
        if 'MAX_WORKERS' in SETTINGS:
            env['MAX_WORKERS'] = SETTINGS['MAX_WORKERS']
        self.log = open(os.path.join(tmp, 'serverpy.log'), 'ab')
        self.proc = subprocess.Popen(
            ['/usr/bin/python3', '-m', 'uvicorn', 'main:app', '--host',
             '127.0.0.1', '--port', str(self.port)], cwd=dir, env=env,
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        self.pid = self.proc.pid

        def up():
            try:
                return urllib.request.urlopen('http://127.0.0.1:%d/health'
                                              % self.port, timeout=5)
            except OSError:
                return None
        wait_for(up, 60, 'serverpy')

    def role(self, pid):
        return 'serverpy' if pid == self.pid else named(pid)

    def stop(self):
        stop(self.proc, 30)


class ServerJs:
    """serverjs, at idle: node index.js, alone in a network namespace
    (it listens on every address)."""
    name = 'serverjs'

    def __init__(self, dir):
        self.log = os.path.join(tmp, 'serverjs.log')
        env = dict(os.environ, PORT=str(free_port()),
                   TEMP_DIR=os.path.join(tmp, 'serverjs-temp'))
        with open(self.log, 'ab') as log:
            self.proc = subprocess.Popen(
                ['unshare', '-n', 'node', 'index.js'], cwd=dir, env=env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.pid = self.proc.pid
        wait_for(lambda: b'Server started' in open(self.log, 'rb').read(),
                 30, 'serverjs')

    def role(self, pid):
        return 'node' if b'node' in b' '.join(cmdline(pid)) else named(pid)

    def stop(self):
        stop(self.proc, 10)


RESULTS = {}    # (row, server) -> text


def open_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ''


def named(pid):
    """Some other process in a tree: its command line."""
    return b' '.join(cmdline(pid)).decode(errors='replace')[:40] or '?'


def mb(kb):
    return '%.1f' % (kb / 1024)


def show(srv, row, total, per, extra=''):
    parts = {}
    for pid, kb in per.items():
        r = srv.role(pid)
        parts.setdefault(r, []).append(kb)
    detail = ', '.join('%s %s' % (r, '+'.join(mb(k) for k in kbs))
                       for r, kbs in parts.items())
    print('  %-34s %7s MB  (%s)%s' % (row, mb(total), detail,
                                     ' ' + extra if extra else ''))
    RESULTS[(row, srv.name)] = '%s MB%s' % (mb(total),
                                            ', ' + extra if extra else '')
    sys.stdout.flush()


def now(srv, row, extra=''):
    per = {p: pss_kb(p) for p in tree(srv.pid)}
    show(srv, row, sum(per.values()), per, extra)


def codes(res):
    c = {}
    for st, _ in res:
        c[st] = c.get(st, 0) + 1
    return c


def burst(srv, row, n, posts=None):
    """n clients at once, each POSTing one of posts posts (default: a
    post each)."""
    rnd = round_no()
    ids = [post_id(rnd, k % (posts or n)) for k in range(n)]
    peak = Peak(srv.pid)
    t0 = time.monotonic()
    res = asyncio.run(crowd(srv.port, ids))
    wall = time.monotonic() - t0
    total, per = peak.done()
    ok = sum(1 for st, _ in res if st == 200)
    show(srv, row, total, per, '%d/%d answered 200 in %.1f s' % (
        ok, n, wall))
    if ok < n:
        print('    statuses: %s' % codes(res))


def steady(srv, row, conns):
    peak = Peak(srv.pid)
    t0 = time.monotonic()
    res = asyncio.run(throughput(srv.port, conns, SECS, round_no()))
    wall = time.monotonic() - t0
    total, per = peak.done()
    ok = sum(1 for st, _ in res if st == 200)
    lat = sorted(t for st, t in res if st == 200)
    show(srv, row, total, per, '%.1f req/s, p50 %.0f ms' % (
        ok / wall, 1000 * lat[len(lat) // 2] if lat else 0))
    if ok < len(res):
        print('    statuses: %s' % codes(res))


def one(srv):
    """One request of a new post: its latency, as text."""
    res = asyncio.run(crowd(srv.port, [post_id(round_no(), 0)]))
    return '%d in %.0f ms' % (res[0][0], 1000 * res[0][1])


def phase_a(srv):
    time.sleep(3)
    now(srv, 'idle')
    took = one(srv)
    time.sleep(2)
    now(srv, 'after one request', took)
    burst(srv, '10 at once', 10)
    burst(srv, '100 at once', 100)
    steady(srv, '20 connections, misses', 20)
    time.sleep(IDLE)
    now(srv, 'idle %d s after' % IDLE)
    took = one(srv)
    now(srv, 'one request after that', took)


def phase_b(srv, more):
    steady(srv, '100 connections, 500 ms', 100)
    burst(srv, '2000 users, 500 ms', 2000, 100)
    for n in more:
        burst(srv, '%d users, 500 ms' % n, n, 100)


def main():
    py = ytdlp_python(tmp)
    servers = []
    if BEFORE:
        servers.append(('before', lambda f: Ours(f, py, BEFORE, 'before'),
                        MORE))
    servers.append(('tiktok-fcgi', lambda f: Ours(f, py), MORE))
    if SERVERPY:
        if not os.path.exists(os.path.join(SERVERPY, 'main.py')):
            sys.exit('%s: no serverpy there' % SERVERPY)
        servers.append(('serverpy', lambda f: ServerPy(f, SERVERPY), []))
    else:
        print('# serverpy skipped: no SERVERPY_DIR')
    if SERVERJS:
        print('serverjs, idle only:')
        js = ServerJs(SERVERJS)
        try:
            time.sleep(3)
            now(js, 'idle')
        finally:
            js.stop()
        names_js = ['serverjs']
    else:
        names_js = []
    print('yt-dlp %s; tiktok-fcgi %s %s; load average %s' % (
        ytdlp_version(py), os.environ['TOP_BUILDDIR'], SETTINGS or '',
        open('/proc/loadavg').read().split()[0]))
    for latency, phase in [(ms, f) for ms, f, name in ((0, phase_a, 'a'),
                           (500, phase_b, 'b')) if name in PHASES]:
        fake = FakeTikTok(os.path.join(tmp, 'tiktok%d' % latency), latency)
        for name, start, more in servers:
            print('%s, TikTok answering in %d ms:' % (name, latency))
            srv = start(fake)
            try:
                if phase is phase_a:
                    phase(srv)
                else:
                    phase(srv, more)
            finally:
                srv.stop()
        fake.stop()
    names = [n for n, _, _ in servers] + names_js
    print('\n| load | %s |' % ' | '.join(names))
    print('|---|%s' % ('---|' * len(names)))
    rows = []
    for (row, _) in RESULTS:
        if row not in rows:
            rows.append(row)
    for row in rows:
        print('| %s | %s |' % (row, ' | '.join(
            RESULTS.get((row, n), '–') for n in names)))
    print('load average at the end: %s' %
          open('/proc/loadavg').read().split()[0])
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
