# SPDX-License-Identifier: ISC
"""The integration tests' common ground: where things are, check() and
the skips, waiting with a deadline.  Python stdlib only.

Tests call check() for each assertion; a failed check prints the app's
log and exits 1 at the end.  skip(reason) exits 77; skip_part(reason)
says that a part of a test did not run.  Either says SKIP and why; under
CI=true a skip that is not expected (a tool the suite installs is
missing) fails instead.

The rest of the harness, by concern: stack.py (nginx + spawn-fcgi +
tiktok-fcgi + a fake CDN on loopback, in a temporary directory, ready
when /health answers, always torn down), webservers.py (the web servers
a stack runs behind), fleet.py (two instances behind one nginx),
redis_server.py, fcgi_client.py (FastCGI spoken directly), probes.py
(what /proc and the kernel say about processes).  Importing this module
puts the fakes (tests/fakes, FAKES) on the path.
"""

import os
import shutil
import socket
import sys
import time

TOP_BUILDDIR = os.path.abspath(os.environ.get('TOP_BUILDDIR', '.'))
TOP_SRCDIR = os.path.abspath(os.environ.get('TOP_SRCDIR', '.'))
HERE = os.path.join(TOP_SRCDIR, 'tests', 'integration')
# The fakes: servers (started as serve.py says), the helper, ffmpeg's
# wrapper.
FAKES = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'fakes')
sys.path.insert(0, FAKES)
FIXTURES = os.path.join(TOP_SRCDIR, 'tests', 'fixtures')
BINARY = os.path.join(TOP_BUILDDIR, 'tiktok-fcgi')

FAILED = []
CI = os.environ.get('CI') == 'true'
# Built with a sanitizer: memory figures mean little (ASan's quarantine,
# TSan's shadow memory), so tests skip them and say so.
SANITIZED = bool(os.environ.get('SAN_CFLAGS', '').strip())


def which(name, env_key=None, extra=('/usr/sbin', '/sbin')):
    path = os.environ.get(env_key) if env_key else None
    if path and os.path.exists(path):
        return path
    return shutil.which(name, path=os.environ.get('PATH', '') + ':' +
                        ':'.join(extra))


def check(cond, what):
    if cond:
        print('ok - %s' % what, flush=True)
    else:
        print('FAIL - %s' % what, flush=True)
        FAILED.append(what)
    return cond


def skip(reason, expected=False):
    """The whole test cannot run: exit 77 with the reason.  Under
    CI=true, unless expected, that is a failure (exit 1)."""
    if CI and not expected:
        print('FAIL - SKIP under CI=true, not expected: %s' % reason,
              flush=True)
        sys.exit(1)
    print('SKIP: %s' % reason, flush=True)
    sys.exit(77)


def skip_part(reason, expected=False):
    """A part of a test cannot run: a SKIP line with the reason.  Under
    CI=true, unless expected, a failed check."""
    if CI and not expected:
        check(False, 'SKIP under CI=true, not expected: %s' % reason)
    else:
        print('SKIP: %s' % reason, flush=True)


def done():
    if FAILED:
        print('%d check(s) failed' % len(FAILED))
        sys.exit(1)
    sys.exit(0)


def free_port(host='127.0.0.1'):
    """A port free on host (where it will be used) right now."""
    s = socket.socket()
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout, what, interval=0.05):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise RuntimeError('timed out waiting for %s' % what)


def within(pred, timeout, interval=0.05):
    """Whether pred() comes true within timeout seconds."""
    try:
        return bool(wait_for(pred, timeout, '', interval))
    except RuntimeError:
        return False
