#!/usr/bin/env python3
"""deploy/systemd: the units pass systemd-analyze verify, and the binary
answers on a socket handed over the way systemd's socket activation does
(descriptor 3, LISTEN_FDS=1, LISTEN_PID = its pid), and on spawn-fcgi's
descriptor 0 (the other tests), and exits 0 on SIGTERM.  (This machine
runs no systemd as PID 1, so the units cannot be started here.)
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BINARY, HERE, TOP_SRCDIR, check, done,  # noqa
                     fcgi_get, unix_connect, wait_for)


tmp = tempfile.mkdtemp(prefix='tiktok-fcgi-sd-')
try:
    # Socket activation: systemd puts the socket on fd 3.
    path = os.path.join(tmp, 'sd.sock')
    ls = socket.socket(socket.AF_UNIX)
    ls.bind(path)
    ls.listen(16)
    env = dict(os.environ, ENCRYPTION_KEY='k', HELPERS='1',
               YTDLP_PYTHON=sys.executable,
               HELPER_SCRIPT=os.path.join(HERE, 'fake_helper.py'),
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

    sa = shutil.which('systemd-analyze')
    if sa is None:
        print('# systemd-analyze missing: units not verified')
    else:
        units = os.path.join(tmp, 'units')
        os.mkdir(units)
        names = ('tiktok-fcgi.socket', 'tiktok-fcgi.service',
                 'tiktok-fcgi-ytdlp.service', 'tiktok-fcgi-ytdlp.timer')
        for name in names:
            text = open(os.path.join(TOP_SRCDIR, 'deploy', 'systemd',
                                     name)).read()
            # verify wants ExecStart to exist: point it at the build.
            text = text.replace('/usr/local/bin/tiktok-fcgi-ytdlp',
                                os.path.join(os.path.dirname(BINARY),
                                             'fcgi', 'tiktok-fcgi-ytdlp'))
            text = text.replace('/usr/local/bin/tiktok-fcgi ', BINARY + ' ')
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
