#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""deploy/systemd: the units (the services as make made them from their
.in, with this build's directories) pass systemd-analyze verify, and the
binary answers on a socket handed over the way systemd's socket
activation does (descriptor 3, LISTEN_FDS=1, LISTEN_PID = its pid), and
on spawn-fcgi's descriptor 0 (the other tests), and exits 0 on SIGTERM.
(This machine runs no systemd as PID 1, so the units cannot be started
here; test_install runs their commands from an installation.)
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BINARY, FAKES, TOP_BUILDDIR, TOP_SRCDIR, check,  # noqa
                     done, skip_part, wait_for)
from fcgi_client import fcgi_get, unix_connect  # noqa: E402


tmp = tempfile.mkdtemp(prefix='tiktok-fcgi-sd-')
try:
    # Socket activation: systemd puts the socket on fd 3.
    path = os.path.join(tmp, 'sd.sock')
    ls = socket.socket(socket.AF_UNIX)
    ls.bind(path)
    ls.listen(16)
    env = dict(os.environ, ENCRYPTION_KEY='k', HELPERS='1',
               YTDLP_PYTHON=sys.executable,
               HELPER_SCRIPT=os.path.join(FAKES, 'fake_helper.py'),
               FAKE_FIXTURES=os.path.join(TOP_SRCDIR, 'tests', 'fixtures'),
               FCGI_THREADS='4', TEMP_DIR=os.path.join(tmp, 'work'))
    fd = ls.fileno()

    def hand_over():
        os.dup2(fd, 3)          # a no-op if it is 3 already, so:
        os.set_inheritable(3, True)
    log = open(os.path.join(tmp, 'app.log'), 'wb')
    p = subprocess.Popen(['sh', '-c', 'LISTEN_PID=$$ LISTEN_FDS=1 exec '
                          '"$0" -f', BINARY], env=env, pass_fds=(),
                         preexec_fn=hand_over, stdin=subprocess.DEVNULL,
                         stdout=log, stderr=log, close_fds=False)
    ls.close()
    ans = wait_for(lambda: (lambda a: a if '"status":"ok"' in a else None)(
        fcgi_get('/health', unix_connect(path))), 20, '/health on the handed-over socket')
    check(ans.startswith('Status: 200'), 'LISTEN_FDS: /health answers 200 '
          'on descriptor 3')
    p.send_signal(signal.SIGTERM)
    check(p.wait(30) == 0, 'socket-activated: SIGTERM exits 0')

    names = ('tiktok-fcgi.socket', 'tiktok-fcgi.service',
             'tiktok-fcgi-ytdlp.service', 'tiktok-fcgi-ytdlp.timer')
    texts = {}
    for name in names:
        made = os.path.join(TOP_BUILDDIR, 'deploy', 'systemd', name)
        texts[name] = open(made if os.path.exists(made) else os.path.join(
            TOP_SRCDIR, 'deploy', 'systemd', name)).read()
    execs = [ln for t in texts.values() for ln in t.splitlines()
             if ln.startswith('ExecStart=')]
    check(len(execs) == 2 and not any('@' in t for t in texts.values()),
          'the services carry the build\'s directories, no @word@ left '
          '(%s)' % execs)
    sa = shutil.which('systemd-analyze')
    if sa is None:
        skip_part('systemd-analyze verify: systemd is not installed (not '
                  'a dependency of the suite)', expected=True)
    else:
        units = os.path.join(tmp, 'units')
        os.mkdir(units)
        for name in names:
            # verify wants ExecStart to exist: point it at the build.
            text = re.sub(r'(?m)^ExecStart=\S*/tiktok-fcgi-ytdlp ',
                          'ExecStart=%s ' % os.path.join(
                              TOP_BUILDDIR, 'fcgi', 'tiktok-fcgi-ytdlp'),
                          texts[name])
            text = re.sub(r'(?m)^ExecStart=\S*/tiktok-fcgi ',
                          'ExecStart=%s ' % BINARY, text)
            with open(os.path.join(units, name), 'w') as f:
                f.write(text)
        r = subprocess.run([sa, 'verify', '--man=no'] +
                           [os.path.join(units, n) for n in names],
                           capture_output=True, text=True)
        check(r.returncode == 0 and 'tiktok-fcgi' not in r.stderr,
              'systemd-analyze verify: clean (%s)' % r.stderr.strip())
finally:
    shutil.rmtree(tmp, ignore_errors=True)
done()
