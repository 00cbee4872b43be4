#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The helper parent and its helpers, under faults, with requests
flowing (fake helper: its --parent forks as src/ytdlp_helper.py's does):

1. The helper parent is killed: its helpers go on serving, a new parent
   starts, and they are replaced by its own; no request fails, nothing
   is left behind, also when tiktok-fcgi is PID 1 of its namespace (a
   container's init) and so inherits them.
2. Helpers die with extractions in flight: each is retried on another
   helper.  One handed to a helper that was dying at that moment (it
   never began it) is not charged its one retry: killing every helper
   at once fails no request.
3. A helper is replaced under load while a fresh process is slow to
   warm (FAKE_COLD_MS longer than YTDLP_TIMEOUT, as a cold yt-dlp on a
   busy machine): helpers are forked warm from the parent, so no 504.
   The same at SIGHUP: the new parent warms while the old helpers serve.
4. The real helper: tiktok-fcgi-ytdlp updates yt-dlp (a new virtual
   environment, "current" switched, SIGHUP) while requests flow: a new
   parent with the new yt-dlp, new helpers, the old ones retired, no
   request failed.
5. A helper that served HELPER_MAX_REQUESTS extractions is replaced once
   it has none in flight, not beside its work; with another helper to
   carry the work, it exits before its replacement is forked.  Under
   steady load, helpers due together go one at a time: never more
   helpers at once than HELPERS; if the helper carrying the work is
   lost meanwhile, the replacement comes at once.
6. Extractions that wait on TikTok all run at once on one helper (a
   helper takes only a few new ones at a time).
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (TOP_BUILDDIR, TOP_SRCDIR, check, done, wait_for,  # noqa
                     within)
from fleet import posts_at_once  # noqa: E402
from probes import all_dead, descendants, zombies_of  # noqa: E402
from stack import Stack  # noqa: E402
from tiktok_world import BASE, FakeTikTok, current_ytdlp  # noqa: E402

TT = 'https://www.tiktok.com/@%s/video/%s'


class Load:
    """Clients posting new posts until stopped; every status kept."""

    def __init__(self, s, n, post):
        self.s, self.stop, self.codes = s, threading.Event(), []
        self.lock = threading.Lock()
        self.ts = [threading.Thread(target=self.run, args=(k, post))
                   for k in range(n)]
        for t in self.ts:
            t.start()

    def run(self, k, post):
        i = 0
        while not self.stop.is_set():
            i += 1
            try:
                st = self.s.tiktok(post(k, i), timeout=120).status
            except OSError as e:
                st = str(e)
            with self.lock:
                self.codes.append(st)

    def count(self):
        with self.lock:
            return len(self.codes)

    def end(self):
        self.stop.set()
        for t in self.ts:
            t.join()
        return [c for c in self.codes if c != 200]


def procs(s, role=None, state=None):
    """/health's processes of the pool, by role and state."""
    return [p['pid'] for p in s.health()['memory']['helpers']
            if (role is None or p['role'] == role) and
            (state is None or p['state'] == state)]


def busy_helpers(s, n):
    """[(pid, inflight)] of n helpers with work, most work first; None
    while fewer than n have work."""
    b = sorted(((p['pid'], p['inflight']) for p in
                s.health()['memory']['helpers']
                if p['role'] == 'helper' and p['inflight'] > 0),
               key=lambda x: -x[1])
    return b[:n] if len(b) >= n else None


def inflight(s, pid):
    return sum(p['inflight'] for p in s.health()['memory']['helpers']
               if p['pid'] == pid)


def slow(ms):
    return lambda k, i: TT % ('slow%d' % ms, '7%d%07d' % (k, i))


# 1. The parent dies.
with Stack(env={'HELPERS': '2', 'MAX_WORKERS': '8', 'YTDLP_TIMEOUT': '10'}
           ) as s:
    parent = procs(s, 'parent', 'ready')[0]
    load = Load(s, 4, slow(100))
    wait_for(lambda: load.count() >= 8, 20, 'requests to flow')
    old = set(procs(s, 'helper'))
    os.kill(parent, signal.SIGKILL)
    wait_for(lambda: [p for p in procs(s, 'parent', 'ready')
                      if p != parent], 20, 'a new helper parent')
    new = procs(s, 'parent', 'ready')[0]
    gone = within(lambda: all_dead(old) and procs(s, 'helper', 'ready'),
                  30)
    n0 = load.count()
    wait_for(lambda: load.count() >= n0 + 8, 20, 'requests to go on')
    fails = load.end()
    check(gone, "the dead parent's helpers are replaced (%s)" % old)
    check(set(procs(s, 'helper')) <= set(descendants(new)),
          'every helper is a child of the new parent')
    check(fails == [] and load.count() > 16,
          'the helper parent killed under load: %d requests, none failed '
          '%s' % (load.count(), fails[:5]))
    check(within(lambda: zombies_of(s.app.pid) == [], 5),
          'no zombie below tiktok-fcgi')


def host_pids(top):
    """{pid in top's PID namespace: pid here} for top and below."""
    out = {}
    for p in [top] + descendants(top):
        try:
            with open('/proc/%d/status' % p) as f:
                for line in f:
                    if line.startswith('NSpid:'):
                        out[int(line.split()[-1])] = p
        except OSError:
            pass
    return out


# ... and when tiktok-fcgi is a container's init (PID 1 of a PID
# namespace of its own), the dead parent's helpers become its children:
# it reaps them once they are replaced.
if os.geteuid() != 0 or not shutil.which('unshare'):
    print('# SKIP tiktok-fcgi as PID 1: a PID namespace needs root and '
          'unshare(1)')
else:
    with Stack(env={'HELPERS': '2', 'MAX_WORKERS': '8'},
               wrap=['unshare', '--pid', '--fork', '--mount-proc',
                     '--kill-child=SIGTERM']) as s:
        posts_at_once(s, [TT % ('slow500', '81%05d' % i) for i in range(8)])
        parent = procs(s, 'parent', 'ready')[0]
        old = procs(s, 'helper')
        os.kill(host_pids(s.app.pid)[parent], signal.SIGKILL)
        wait_for(lambda: [p for p in procs(s, 'parent', 'ready')
                          if p != parent], 20, 'a new helper parent')
        gone = within(lambda: not set(old) & set(procs(s, 'helper')), 30)
        codes = [s.tiktok(TT % ('ok', '81%05d' % (100 + i))).status
                 for i in range(4)]
        check(gone and len(old) == 2 and codes == [200] * 4,
              'tiktok-fcgi as PID 1: the dead parent\'s %d helpers '
              'replaced, requests answered (%s)' % (len(old), codes))
        check(within(lambda: zombies_of(s.app.pid) == [], 5),
              'tiktok-fcgi as PID 1 reaps the helpers it adopted from the '
              'dead parent (zombies: %s)' % zombies_of(s.app.pid))

# 2. Helpers die with extractions in flight.
with Stack(env={'HELPERS': '2', 'MAX_WORKERS': '8', 'YTDLP_TIMEOUT': '20'}
           ) as s:
    # One helper dies: its work is retried on the other.
    out = []
    t = threading.Thread(target=lambda: out.extend(posts_at_once(
        s, [TT % ('slow1500', '81%05d' % i) for i in range(8)])))
    t.start()
    (a, n), _ = wait_for(lambda: busy_helpers(s, 2), 10,
                         'two busy helpers')
    os.kill(a, signal.SIGKILL)
    t.join()
    check(out == [200] * 8, 'a helper killed with %d extractions in '
          'flight: all 8 answered 200 (%s)' % (n, out))
    # Both die "at once": the second was stopped when the first one's
    # work was handed to it, and is killed before it could begin it.
    out = []
    t = threading.Thread(target=lambda: out.extend(posts_at_once(
        s, [TT % ('slow3000', '82%05d' % i) for i in range(6)])))
    t.start()
    (a, _), (b, nb) = wait_for(lambda: busy_helpers(s, 2), 10,
                               'two busy helpers')
    os.kill(b, signal.SIGSTOP)
    os.kill(a, signal.SIGKILL)
    moved = within(lambda: inflight(s, b) > nb, 10)
    os.kill(b, signal.SIGKILL)
    t.join()
    check(moved, "the first one's work was handed to the stopped one")
    check(out == [200] * 6, 'both helpers killed with extractions in '
          'flight: all 6 answered 200, retried on new helpers (%s)' % out)

# 3. A fresh process needs 4 s before its first extraction (> the 3 s
# YTDLP_TIMEOUT); a helper is killed under load, then SIGHUP.
with Stack(env={'HELPERS': '2', 'MAX_WORKERS': '8', 'YTDLP_TIMEOUT': '3',
                'FAKE_COLD_MS': '4000'}) as s:
    load = Load(s, 6, slow(300))
    wait_for(lambda: load.count() >= 12, 30, 'requests to flow')
    victim = procs(s, 'helper', 'ready')[0]
    os.kill(victim, signal.SIGKILL)
    n0 = load.count()
    wait_for(lambda: load.count() >= n0 + 40, 60,
             'requests after the replacement')
    old = set(descendants(s.app.pid))
    s.app.send_signal(signal.SIGHUP)
    wait_for(lambda: not old & set(descendants(s.app.pid)), 60,
             'the old parent and helpers to retire')
    n1 = load.count()
    wait_for(lambda: load.count() >= n1 + 12, 30, 'requests after SIGHUP')
    fails = load.end()
    check(fails == [], 'helper replaced, then SIGHUP, with a 4 s cold '
          'start: %d requests, none failed (%s)' % (load.count(),
                                                   fails[:10]))
    check(s.health()['pool']['timeouts'] == 0, 'no extraction timed out')

# 5. Recycling after HELPER_MAX_REQUESTS: the replacement is forked once
# the helper has no work in flight, not beside its work (both would be
# held in memory until that work ended).
with Stack(env={'HELPERS': '1', 'MAX_WORKERS': '4',
                'HELPER_MAX_REQUESTS': '10'}) as s:
    wait_for(lambda: procs(s, 'helper', 'ready'), 20, 'a helper')
    first = procs(s, 'helper', 'ready')[0]
    codes = [s.tiktok(TT % ('ok', '84%05d' % i)).status for i in range(9)]
    out = []
    t = threading.Thread(target=lambda: out.append(s.tiktok(
        TT % ('slow2500', '8500001'), timeout=30).status))
    t.start()
    wait_for(lambda: inflight(s, first) == 1, 10, 'the slow extraction')
    codes.append(s.tiktok(TT % ('ok', '8500002')).status)   # the 10th
    seen = set()
    for _ in range(10):     # 1 s of the slow one's 2.5 s
        seen.update(procs(s, 'helper'))
        time.sleep(0.1)
    t.join()
    check(seen == {first} and out == [200],
          'its 10th extraction done while one more is in flight: no '
          'replacement beside it (%s)' % sorted(seen))
    check(within(lambda: first not in procs(s, 'helper') and
                 procs(s, 'helper', 'ready'), 10),
          'once that one ended, it is replaced by a fresh helper')
    codes += [s.tiktok(TT % ('ok', '86%05d' % i)).status for i in range(3)]
    check(codes == [200] * 13, 'every request around it answered 200 (%s)'
          % codes)
# With another helper to carry the work, the idle one even goes before
# its replacement is forked: the two are never held at once.
with Stack(env={'HELPERS': '2', 'MAX_WORKERS': '4', 'LOG_LEVEL': 'debug',
                'HELPER_MAX_REQUESTS': '10'}) as s:
    out = posts_at_once(s, [TT % ('slow1000', '87%05d' % i)
                            for i in range(4)])
    two = procs(s, 'helper', 'ready')
    # One at a time from here: the first slot's helper takes them all.
    codes = [s.tiktok(TT % ('ok', '88%05d' % i)).status for i in range(12)]
    within(lambda: len([p for p in procs(s, 'helper', 'ready')
                        if p not in two]) == 1, 10)
    new = [p for p in procs(s, 'helper', 'ready') if p not in two]
    gone = [p for p in two if p not in procs(s, 'helper')]
    log = s.log()

    def at(text):
        return log.find(text)
    order = gone and new and (
        0 <= at('helper %d goes, then its replacement comes' % gone[0]) <
        at('helper %d (drained) exited' % gone[0]) <
        at('helper %d forked by' % new[0]))
    check(out == [200] * 4 and len(two) == 2 and codes == [200] * 12 and
          len(gone) == 1 and order,
          'HELPERS=2: the recycled helper exited before its replacement '
          'was forked, every request answered 200 (helpers %s, gone %s, '
          'new %s, %s %s)' % (two, gone, new, out, codes))


# A helper due goes first while another carries the work; if that one
# is lost meanwhile, the replacement comes at once, not after the old
# one's slow extraction.
with Stack(env={'HELPERS': '2', 'MAX_WORKERS': '4', 'LOG_LEVEL': 'debug',
                'HELPER_MAX_REQUESTS': '10'}) as s:
    posts_at_once(s, [TT % ('slow1000', '82%05d' % i) for i in range(4)])
    two = procs(s, 'helper', 'ready')
    out = []
    t = threading.Thread(target=lambda: out.append(s.tiktok(
        TT % ('slow5000', '8200100'), timeout=30).status))
    t.start()
    wait_for(lambda: any(inflight(s, p) == 1 for p in two), 10,
             'the slow extraction')
    first = [p for p in two if inflight(s, p) == 1][0]
    carrier = [p for p in two if p != first][0]
    k = 0
    while 'helper %d goes, then' % first not in s.log() and k < 30:
        s.tiktok(TT % ('ok', '83%05d' % k))
        k += 1
    os.kill(carrier, signal.SIGKILL)
    codes = [s.tiktok(TT % ('ok', '84%05d' % i), timeout=30).status
             for i in range(3)]
    t.join()
    within(lambda: 'helper %d (drained) exited' % first in s.log(), 10)
    log = s.log()
    went = log.find('helper %d goes, then' % first)
    exited = log.find('helper %d (drained) exited' % first)
    m = re.search(r'helper (\d+) forked by \d+ \(slot \d\)', log[went:])
    check(went >= 0 and m is not None and
          went + m.start() < exited and codes == [200] * 3 and
          out == [200], 'the helper that carried the work killed while '
          'the one due drains its slow extraction: a replacement forked '
          'before that one exited, every request answered 200 (%s %s)'
          % (codes, out))


def most_helpers(log):
    """The most helper processes at once, by the log: each from its fork
    (said by the parent) to its loss (seen by tiktok-fcgi)."""
    alive, most = set(), 0
    for line in log.splitlines():
        m = re.search(r'helper (\d+) forked by', line)
        if m:
            alive.add(m.group(1))
            most = max(most, len(alive))
        m = re.search(r'pool_member_lost: helper (\d+)', line)
        if m:
            alive.discard(m.group(1))
    return most


# Under steady load neither helper is ever idle: each due one goes while
# the other carries the work (it takes no new work and ends its own),
# and only then is its replacement forked; the next due waits its turn.
# (Before, one's replacement was forked beside the other's drain: four
# helpers in memory at once with HELPERS=2.)
with Stack(env={'HELPERS': '2', 'MAX_WORKERS': '8', 'LOG_LEVEL': 'debug',
                'HELPER_MAX_REQUESTS': '20'}) as s:
    load = Load(s, 6, lambda k, i: TT % ('slow%d' % (20 + 10 * k),
                                         '6%d%07d' % (k, i)))
    wait_for(lambda: s.log().count('requests: recycling') >= 6, 60,
             'six helpers due')
    fails = load.end()
    most = most_helpers(s.log())
    check(fails == [] and most == 2,
          'HELPERS=2, HELPER_MAX_REQUESTS=20, 6 clients without pause: '
          '%d requests, %d helpers due, at most %d helpers at once, none '
          'failed (%s)' % (
              len(load.codes), s.log().count('requests: recycling'), most,
              fails[:5]))

# 6. A helper takes few new extractions at once (YOUNG_MAX in YOUNG_MS),
# but work that waits on TikTok makes room: 8 slow ones at once on one
# helper all run together.
with Stack(env={'HELPERS': '1', 'MAX_WORKERS': '8'}) as s:
    wait_for(lambda: procs(s, 'helper', 'ready'), 20, 'a helper')
    one = procs(s, 'helper', 'ready')[0]
    out, most = [], [0]
    t = threading.Thread(target=lambda: out.extend(posts_at_once(
        s, [TT % ('slow3000', '89%05d' % i) for i in range(8)])))
    t.start()

    def all_in():
        most[0] = max(most[0], inflight(s, one))
        return most[0] == 8
    ran = within(all_in, 10)
    t.join()
    check(ran and out == [200] * 8, '8 extractions waiting on TikTok ran '
          'at once on one helper (at most %d seen; %s)' % (most[0], out))

# ... and a helper whose work is seen waiting (little processor time)
# takes as much as comes: 40 at once are all in flight well before the
# 2 s that YOUNG_MAX in YOUNG_MS alone would take.
with Stack(env={'HELPERS': '1', 'MAX_WORKERS': '40'}) as s:
    wait_for(lambda: procs(s, 'helper', 'ready'), 20, 'a helper')
    one = procs(s, 'helper', 'ready')[0]
    out, most, first = [], [0], [None]
    t = threading.Thread(target=lambda: out.extend(posts_at_once(
        s, [TT % ('slow4000', '88%05d' % i) for i in range(40)])))
    t.start()

    def all_40():
        n = inflight(s, one)
        if n > 0 and first[0] is None:
            first[0] = time.monotonic()
        most[0] = max(most[0], n)
        return most[0] == 40
    ran = within(all_40, 10)
    took = time.monotonic() - first[0] if first[0] else -1
    t.join()
    check(ran and took < 1.5 and out == [200] * 40,
          '40 extractions waiting on TikTok: all in flight on one helper '
          '%.2f s after the first (at most %d seen; %s)' % (
              took, most[0], sorted(set(out))))


# 4. A yt-dlp update while requests flow (the real helper).
def update_under_load():
    wheels = os.environ.get('YTDLP_WHEELS') or os.path.join(
        TOP_SRCDIR, '..', 'shared', 'ytdlp')
    if not os.path.isdir(wheels) or current_ytdlp() is None:
        print('# SKIP the update under load: no wheel folder of the '
              'current yt-dlp (YTDLP_WHEELS, ../shared/ytdlp)')
        return
    if subprocess.run(['/usr/bin/python3', '-c', 'import yt_dlp'],
                      capture_output=True).returncode != 0:
        print("# SKIP the update under load: Debian's yt-dlp (the one "
              'updated from) is not installed')
        return
    d = os.path.join(BASE, 'ytdlp-dir')
    os.makedirs(d)
    # Live before the update: a virtual environment with Debian's
    # yt-dlp 2023.03.04 (through its system site packages).
    subprocess.run(['/usr/bin/python3', '-m', 'venv',
                    '--system-site-packages', os.path.join(d, 'env-0')],
                   check=True)
    os.symlink('env-0', os.path.join(d, 'current'))
    fake = FakeTikTok('update')
    with Stack(helper='real', env={
            'YTDLP_PYTHON': os.path.join(d, 'current', 'bin', 'python3'),
            'OUTBOUND_PROXY': fake.proxy, 'CA_FILE': fake.ca,
            'FETCH_ALLOW_PRIVATE': '0', 'YTDLP_TIMEOUT': '60',
            'HELPERS': '2'}) as s:
        check(s.health()['ytdlp'] == '2023.03.04', 'before: yt-dlp '
              '2023.03.04 (%s)' % s.health()['ytdlp'])
        pidfile = os.path.join(BASE, 'tiktok-fcgi.pid')
        with open(pidfile, 'w') as f:
            f.write('%d\n' % s.app.pid)
        # Posts of the page shape both generations read.
        load = Load(s, 3, lambda k, i: TT % ('u', '73%06d%08d2%02d' % (
            k, i, i % 100)))
        wait_for(lambda: load.count() >= 6, 60, 'requests to flow')
        old = set(descendants(s.app.pid))
        r = subprocess.run(
            ['sh', os.path.join(TOP_BUILDDIR, 'fcgi', 'tiktok-fcgi-ytdlp'),
             '-d', d, '-f', wheels, '-k', pidfile, 'update'],
            env=dict(os.environ, HELPER_SCRIPT=os.path.join(
                TOP_SRCDIR, 'src', 'ytdlp_helper.py')),
            capture_output=True, text=True)
        check(r.returncode == 0 and 'replaces its helpers' in r.stderr,
              'tiktok-fcgi-ytdlp update: installed, switched, SIGHUP '
              '(%s)' % r.stderr.strip()[-300:])
        wait_for(lambda: not old & set(descendants(s.app.pid)), 120,
                 'the old parent and helpers to retire')
        n = load.count()
        wait_for(lambda: load.count() >= n + 6, 60, 'requests after it')
        fails = load.end()
        h = s.health()
        check(h['ytdlp'] == '2026.02.04' and
              h['memory']['helpers'] and all(
                  p['pid'] in descendants(s.app.pid)
                  for p in h['memory']['helpers']),
              'after: a new parent and helpers with yt-dlp 2026.02.04 '
              '(%s)' % h['ytdlp'])
        check(fails == [], 'yt-dlp updated under load: %d requests, none '
              'failed (%s)' % (load.count(), fails[:5]))
    fake.stop()


update_under_load()
shutil.rmtree(BASE, ignore_errors=True)
done()
