"""Playing a link in a real browser: Debian's chromium, driven by npm's
puppeteer-core (tests/browser: package.json, play_video.js).  Used by
test_ladder.py.

puppeteer-core is looked for in tests/browser/node_modules of the source
tree (deploy/quickstart.sh test runs npm ci there), then of the build
tree; else it is installed there once per build tree (npm ci, from the
npm registry).  Whatever cannot be had makes player() say why, and the
part that needs it is skipped with that reason.
"""

import fcntl
import json
import os
import shutil
import subprocess

from harness import TOP_BUILDDIR, TOP_SRCDIR, which

SRC = os.path.join(TOP_SRCDIR, 'tests', 'browser')
BUILD = os.path.join(TOP_BUILDDIR, 'tests', 'browser')


def _modules():
    for d in (SRC, BUILD):
        if os.path.isdir(os.path.join(d, 'node_modules', 'puppeteer-core')):
            return os.path.join(d, 'node_modules')
    return None


def _install(npm):
    """npm ci in the build tree's tests/browser; (ok, what npm said)."""
    os.makedirs(BUILD, exist_ok=True)
    with open(os.path.join(BUILD, 'turn'), 'w') as turn:
        fcntl.flock(turn, fcntl.LOCK_EX)
        if _modules():
            return True, ''
        for name in ('package.json', 'package-lock.json'):
            if os.path.abspath(SRC) != os.path.abspath(BUILD):
                shutil.copy(os.path.join(SRC, name), BUILD)
        try:
            r = subprocess.run([npm, 'ci', '--no-audit', '--no-fund',
                                '--loglevel=error'], cwd=BUILD,
                               capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            return False, 'npm ci took over 300 s'
        return r.returncode == 0, '; '.join(
            (r.stderr or r.stdout).strip().splitlines()[:2])


def player():
    """(play, None) where play(url, seconds) plays url in headless
    chromium and returns play_video.js's answer (a dict), or (None,
    the reason it cannot be done here)."""
    chromium = which(os.environ.get('CHROMIUM') or 'chromium') or \
        which('chromium-browser')
    node, npm = which('node'), which('npm')
    if not chromium:
        return None, 'no chromium (apt-get install chromium)'
    if not node:
        return None, 'no node (apt-get install nodejs)'
    modules = _modules()
    if modules is None:
        if not npm:
            return None, 'no puppeteer-core and no npm to install it ' \
                '(apt-get install npm; or npm ci in tests/browser)'
        ok, said = _install(npm)
        modules = _modules()
        if not ok or modules is None:
            return None, 'puppeteer-core could not be installed (npm ci: ' \
                '%s)' % said
    script = os.path.join(SRC, 'play_video.js')

    def play(url, seconds=40):
        env = dict(os.environ, NODE_PATH=modules)
        try:
            r = subprocess.run([node, script, chromium, url, str(seconds)],
                               capture_output=True, text=True, env=env,
                               timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            return {'played': False, 'error': 'node did not end'}
        try:
            return json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {'played': False, 'error': (r.stderr or '?')[-300:]}
    return play, None
