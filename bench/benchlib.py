# SPDX-License-Identifier: ISC
"""What the benchmarks share: PSS of a process and of its tree, a
sampler for the peak, the fake TikTok, the current yt-dlp, and an
asyncio client that POSTs /tiktok and counts the answers.
"""

import asyncio
import json
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
os.environ.setdefault('TOP_SRCDIR', TOP)
os.environ.setdefault('TOP_BUILDDIR', TOP)
sys.path.insert(0, os.path.join(TOP, 'tests', 'integration'))
sys.path.insert(0, os.path.join(TOP, 'tests', 'fakes'))
from probes import children_of  # noqa: E402
from serve import Fake  # noqa: E402


def pss_kb(pid):
    try:
        with open('/proc/%d/smaps_rollup' % pid) as f:
            for line in f:
                if line.startswith('Pss:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree(pid):
    """pid and every descendant, parents first."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        out.append(p)
        todo.extend(children_of(p))
    return out


def cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read().split(b'\0')
    except OSError:
        return []


class Peak:
    """Samples the PSS of a process tree in the background: the largest
    total seen, and each process's PSS at that moment."""

    def __init__(self, pid, every=0.1):
        self.pid, self.every = pid, every
        self.peak, self.at = 0, {}
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def run(self):
        while not self.stop.is_set():
            now = {p: pss_kb(p) for p in tree(self.pid)}
            if sum(now.values()) > self.peak:
                self.peak, self.at = sum(now.values()), now
            time.sleep(self.every)

    def done(self):
        """(peak total in kB, {pid: kB} at the peak)."""
        self.stop.set()
        self.t.join()
        return self.peak, self.at


class FakeTikTok(Fake):
    """tests/fakes/fake_tiktok.py in dir, answering pages after latency
    ms: an HTTP proxy (proxy) with its own CA (ca)."""

    def __init__(self, dir, latency=0):
        os.makedirs(dir, exist_ok=True)
        super().__init__('fake_tiktok.py', os.path.join(dir, 'port'), dir,
                         env=dict(os.environ,
                                  FAKE_TIKTOK_LATENCY_MS=str(latency)),
                         log=os.path.join(dir, 'err.log'))
        self.proxy = 'http://127.0.0.1:%d' % self.port
        self.ca = os.path.join(dir, 'ca.pem')


def ytdlp_python(tmp):
    """YTDLP_PYTHON, else a current yt-dlp installed into tmp with
    tiktok-fcgi-ytdlp from YTDLP_WHEELS (or ../shared/ytdlp)."""
    if os.environ.get('YTDLP_PYTHON'):
        return os.environ['YTDLP_PYTHON']
    wheels = os.environ.get('YTDLP_WHEELS') or os.path.join(
        TOP, '..', 'shared', 'ytdlp')
    d = os.path.join(tmp, 'yt-dlp')
    # The updater is made by make: in the build tree.
    build = os.environ.get('TOP_BUILDDIR', TOP)
    subprocess.run(['sh', os.path.join(build, 'fcgi', 'tiktok-fcgi-ytdlp'),
                    '-d', d, '-f', wheels, 'update'], check=True,
                   env=dict(os.environ, HELPER_SCRIPT=os.path.join(
                       TOP, 'src', 'ytdlp_helper.py')))
    return os.path.join(d, 'current', 'bin', 'python3')


def ytdlp_version(py):
    return subprocess.run([py, '-c', 'import yt_dlp.version as v;'
                           'print(v.__version__)'], capture_output=True,
                          text=True).stdout.strip()


def post_id(rnd, k):
    """A post of today's TikTok shape, new for each round and k."""
    return '73%09d%05d1%02d' % (rnd, k // 100, k % 100)


async def post(port, vid, out, timeout=120):
    """POST /tiktok for post vid to 127.0.0.1:port; appends (status,
    seconds) to out, status -1 when there was no answer."""
    body = json.dumps({'url': 'https://www.tiktok.com/@fakecreator/'
                       'video/%s' % vid}).encode()
    req = (b'POST /tiktok HTTP/1.1\r\nHost: 127.0.0.1\r\n'
           b'Content-Type: application/json\r\nConnection: close\r\n'
           b'Content-Length: %d\r\n\r\n' % len(body)) + body
    t0 = time.monotonic()
    try:
        r, w = await asyncio.open_connection('127.0.0.1', port)
        w.write(req)
        await w.drain()
        data = await asyncio.wait_for(r.read(), timeout)
        w.close()
        status = int(data.split(b' ', 2)[1]) if data else 0
    except (OSError, asyncio.TimeoutError, ValueError, IndexError):
        status = -1
    out.append((status, time.monotonic() - t0))


async def crowd(port, ids, timeout=120):
    """Every post of ids at once; [(status, seconds)]."""
    out = []
    await asyncio.gather(*(post(port, v, out, timeout) for v in ids))
    return out


async def throughput(port, conns, secs, rnd):
    """conns connections, each POSTing a new post after the last answer,
    for secs; [(status, seconds)]."""
    out, n = [], [0]
    end = time.monotonic() + secs

    async def one():
        while time.monotonic() < end:
            n[0] += 1
            await post(port, post_id(rnd, n[0]), out)
    await asyncio.gather(*(one() for _ in range(conns)))
    return out
