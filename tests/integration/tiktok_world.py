# SPDX-License-Identifier: ISC
"""The world the real-extractor tests run in: yt-dlp's generations (the
system's, and the current one installed by tiktok-fcgi-ytdlp from the
wheel folder in YTDLP_WHEELS) and fake TikToks (fake_tiktok.py) to send
them to.  Used by test_tiktok_real.py and test_egress.py.
"""

import fcntl
import os
import subprocess
import tempfile

from harness import TOP_BUILDDIR, TOP_SRCDIR, check, skip_part
# tests/fakes, which harness puts on the path:
import fake_tiktok  # noqa: E402
from serve import Fake  # noqa: E402

BASE = tempfile.mkdtemp(prefix='tiktok-fcgi-real-')
CI = os.environ.get('CI') == 'true'


def ytdlp_version(py):
    r = subprocess.run([py, '-c', 'from yt_dlp.version import __version__ '
                        'as v; print(v)'], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def generations():
    """[(name, python)]: Debian's yt-dlp, and the current one when it
    can be had: from the wheel folder in YTDLP_WHEELS (or ../shared/ytdlp
    beside the clone), else from the package index, as a user's machine
    gets it.  Installed once per build tree by tiktok-fcgi-ytdlp; where
    neither can be had the current generation is skipped, and said."""
    out = []
    if ytdlp_version('/usr/bin/python3'):
        out.append(('debian', '/usr/bin/python3'))
    elif CI:
        check(False, "Debian's yt-dlp is installed (apt-get install yt-dlp)")
    py = current_ytdlp()
    if py:
        out.append(('current', py))
    return out


def current_ytdlp():
    """The python of the current yt-dlp, installed once per build tree
    (tests running side by side take turns); None, said, when neither a
    wheel folder nor the package index gives one."""
    wheels = os.environ.get('YTDLP_WHEELS') or os.path.join(
        TOP_SRCDIR, '..', 'shared', 'ytdlp')
    if not os.path.isdir(wheels):
        wheels = None
    d = os.path.join(TOP_BUILDDIR, 'tests', 'yt-dlp-current')
    os.makedirs(d, exist_ok=True)
    py = os.path.join(d, 'current', 'bin', 'python3')
    failed = os.path.join(d, 'unreachable')
    with open(os.path.join(d, 'turn'), 'w') as turn:
        fcntl.flock(turn, fcntl.LOCK_EX)
        if not os.path.exists(py) and not (
                wheels is None and os.path.exists(failed)):
            env = dict(os.environ, HELPER_SCRIPT=os.path.join(
                TOP_SRCDIR, 'src', 'ytdlp_helper.py'))
            cmd = ['sh', os.path.join(TOP_BUILDDIR, 'fcgi',
                                      'tiktok-fcgi-ytdlp'), '-d', d]
            cmd += ['-f', wheels] if wheels else []
            r = subprocess.run(cmd + ['update'], env=env,
                               capture_output=True, text=True)
            if wheels:
                check(r.returncode == 0 and os.path.exists(py),
                      'tiktok-fcgi-ytdlp -f %s update installs the current '
                      'yt-dlp (%s)' % (wheels, r.stderr.strip()))
            elif r.returncode != 0:
                with open(failed, 'w') as f:
                    f.write(r.stderr)
    if os.path.exists(py) and ytdlp_version(py):
        return py
    skip_part('the current yt-dlp: no wheel folder (YTDLP_WHEELS, '
              '../shared/ytdlp) and the package index cannot be reached '
              '(tiktok-fcgi-ytdlp update failed); its parts run on '
              'Debian\'s only', expected=True)
    return None


class FakeTikTok(Fake):
    """A fake TikTok (fake_tiktok.py) in a folder of its own in BASE:
    an HTTP proxy (proxy) with its own CA (ca)."""

    def __init__(self, name, media=None):
        """media: the folder of ladders.make_media()'s files, which the
        ladder posts' rungs then are."""
        self.dir = os.path.join(BASE, 'tiktok-' + name)
        os.makedirs(self.dir)
        env = dict(os.environ)
        if media:
            env['FAKE_TIKTOK_MEDIA'] = media
        super().__init__('fake_tiktok.py', os.path.join(self.dir, 'port'),
                         self.dir, env=env,
                         log=os.path.join(self.dir, 'err.log'))
        self.proxy = 'http://127.0.0.1:%d' % self.port
        self.ca = os.path.join(self.dir, 'ca.pem')

    def log(self):
        return fake_tiktok.requests(self.dir)

    def block(self, on=True):
        """TikTok refuses (429) this fake's address, or stops refusing."""
        path = os.path.join(self.dir, 'blocked')
        if on:
            open(path, 'w').close()
        elif os.path.exists(path):
            os.unlink(path)


def expected(fake, since):
    """What the CDN sent for the last media request after line since."""
    return fake_tiktok.served(fake.log()[since:])


def fetch(s, fake, link):
    n = len(fake.log())
    r = s.get(s.local(link), timeout=60)
    path, want = expected(fake, n)
    return r, path, want
