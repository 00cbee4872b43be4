#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""An installation as a user makes it, and its yt-dlp kept current the
way the timer keeps it.

This tree's distribution (make distdir) is configured with a prefix of
its own (no DESTDIR: paths are compiled in), built and installed.  Two
stand-in yt-dlp wheels (versions the real one will not have for decades;
they import, say their version and have the names the helper loads before
any extraction, which is all its handshake needs) play new releases, so that nothing leaves the machine.

1. make install with no usable wheel: no yt-dlp of its own; the service
   (the installed tiktok-fcgi.service's ExecStart, its socket given with
   -s instead of by systemd) starts on the system's, and -n says so.
2. The installed tiktok-fcgi-ytdlp.service's ExecStart, run as systemd
   runs it (a stand-in systemctl runs the service unit's ExecReload):
   it installs the new yt-dlp into the directory the service reads, the
   service reloads, and /health and `tiktok-fcgi -n` both say the new
   version.
3. PID_FILE and tiktok-fcgi-ytdlp -k: the next release by SIGHUP to the
   pid in the file; a pid file naming no process: exit status 3.
4. deploy/quickstart.sh run in the built tree: a port another server
   holds is refused (no "answering"); a free one answers /health, and
   Ctrl-C stops it.
"""

import base64
import hashlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import http.server
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (TOP_BUILDDIR, check, done, free_port, wait_for,  # noqa
                     within)
from fcgi_client import fcgi_get, unix_connect  # noqa: E402

tmp = tempfile.mkdtemp(prefix='tiktok-fcgi-install-')
os.chmod(tmp, 0o755)
src, prefix = os.path.join(tmp, 'src'), os.path.join(tmp, 'prefix')
env = {k: v for k, v in os.environ.items()
       if k not in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'MAKEOVERRIDES',
                    'DESTDIR', 'YTDLP_WHEELS', 'YTDLP_DIR', 'YTDLP_PYTHON',
                    'HELPER_SCRIPT', 'ENCRYPTION_KEY', 'LOG_FILE',
                    'PID_FILE', 'TEMP_DIR', 'OUTBOUND_PROXY')}
procs = []


def run(cmd, cwd=None, extra=None, timeout=600):
    r = subprocess.run(cmd, cwd=cwd, env=dict(env, **(extra or {})),
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def said(rc, out):
    """What a command said, for a check's line: only when it failed, its
    error lines first."""
    if rc == 0:
        return ''
    errs = [ln for ln in out.splitlines() if 'error' in ln.lower()]
    return ' (exit %d: %s ... %s)' % (rc, '\n'.join(errs[:10])[:1500],
                                      out.strip()[-300:])


def wheel(version):
    """A folder with a yt-dlp wheel of that version (YYYY.M.D) whose
    yt_dlp imports and says it, with the names the helper takes from it
    before any extraction (YoutubeDL, the TikTok and Douyin extractors),
    none of which does anything."""
    d = os.path.join(tmp, 'wheels-' + version)
    os.mkdir(d)
    y, m, dd = version.split('.')
    files = {
        'yt_dlp/__init__.py':
            'class YoutubeDL:\n'
            '    def __init__(self, params=None, auto_init=True):\n'
            '        self._ies = {}\n'
            '    def add_info_extractor(self, ie):\n'
            '        self._ies[type(ie).__name__] = ie\n',
        'yt_dlp/extractor/__init__.py': '',
        'yt_dlp/extractor/tiktok.py':
            'class TikTokBaseIE:\n'
            '    @classmethod\n'
            '    def suitable(cls, url):\n'
            '        return False\n'
            'class TikTokIE(TikTokBaseIE): pass\n'
            'class TikTokVMIE(TikTokBaseIE): pass\n'
            'class DouyinIE(TikTokIE): pass\n',
        'yt_dlp/version.py': "__version__ = '%s.%02d.%02d'\n"
                             % (y, int(m), int(dd)),
        'yt_dlp-%s.dist-info/METADATA' % version:
            'Metadata-Version: 2.1\nName: yt-dlp\nVersion: %s\n' % version,
        'yt_dlp-%s.dist-info/WHEEL' % version:
            'Wheel-Version: 1.0\nGenerator: test_install\n'
            'Root-Is-Purelib: true\nTag: py3-none-any\n',
    }
    record = 'yt_dlp-%s.dist-info/RECORD' % version
    lines = []
    for name, text in files.items():
        h = base64.urlsafe_b64encode(hashlib.sha256(
            text.encode()).digest()).rstrip(b'=').decode()
        lines.append('%s,sha256=%s,%d' % (name, h, len(text.encode())))
    files[record] = '\n'.join(lines + [record + ',,']) + '\n'
    with zipfile.ZipFile(os.path.join(
            d, 'yt_dlp-%s-py3-none-any.whl' % version), 'w') as z:
        for name, text in files.items():
            z.writestr(name, text)
    return d


def unit_line(path, key):
    """A unit's KEY= value, continuation lines joined."""
    text = open(path).read().replace('\\\n', ' ')
    m = re.search(r'(?m)^%s=(.*)$' % key, text)
    return m.group(1).strip() if m else None


def health(sock):
    try:
        a = fcgi_get('/health', unix_connect(sock))
    except OSError:
        return None
    m = re.search(r'"ytdlp":"([^"]*)"', a)
    return m.group(1) if m else None


try:
    # -- the installation --------------------------------------------------
    rc, out = run(['make', '-C', TOP_BUILDDIR, 'distdir', 'distdir=' + src])
    check(rc == 0, 'make distdir' + said(rc, out))
    rc, out = run(['./configure', '-q', '--prefix=' + prefix], cwd=src)
    check(rc == 0, 'configure --prefix=%s%s' % (prefix, said(rc, out)))
    rc, out = run(['nice', 'make', '-j2'], cwd=src)
    check(rc == 0, 'make' + said(rc, out))
    empty = os.path.join(tmp, 'no-wheels')
    os.mkdir(empty)
    rc, out = run(['make', 'install'], cwd=src,
                  extra={'YTDLP_WHEELS': empty})
    check(rc == 0 and 'no yt-dlp of its own' in out,
          'make install: done, without a yt-dlp of its own (%s)'
          % out.strip()[-160:])

    units = os.path.join(prefix, 'share', 'tiktok-fcgi', 'deploy',
                         'systemd')
    svc = shlex.split(unit_line(os.path.join(units, 'tiktok-fcgi.service'),
                                'ExecStart'))
    upd = shlex.split(unit_line(os.path.join(
        units, 'tiktok-fcgi-ytdlp.service'), 'ExecStart'))
    reload_cmd = unit_line(os.path.join(units, 'tiktok-fcgi.service'),
                           'ExecReload')
    ytdir = upd[upd.index('-d') + 1]
    check(svc[0] == os.path.join(prefix, 'bin', 'tiktok-fcgi') and
          upd[0] == os.path.join(prefix, 'bin', 'tiktok-fcgi-ytdlp') and
          ytdir == os.path.join(prefix, 'var', 'lib', 'tiktok-fcgi',
                                'yt-dlp') and
          svc[svc.index('-c') + 1] == os.path.join(prefix, 'etc',
                                                   'tiktok-fcgi.conf'),
          'the installed units name the installation\'s paths (%s; %s)'
          % (' '.join(svc), ' '.join(upd)))
    conf = svc[svc.index('-c') + 1]
    os.makedirs(os.path.dirname(conf), exist_ok=True)
    pidfile = os.path.join(tmp, 'tiktok-fcgi.pid')
    with open(conf, 'w') as f:
        f.write('ENCRYPTION_KEY=%s\nTEMP_DIR=%s\nHELPERS=1\n'
                'PID_FILE=%s\nFCGI_THREADS=8\n'
                % ('k' * 32, os.path.join(tmp, 'work'), pidfile))
    os.chmod(conf, 0o640)

    # -- 1. the service before its first yt-dlp --------------------------
    rc, out = run(svc + ['-n'])
    check(rc == 0 and 'YTDLP_DIR %s: no environment there' % ytdir in out,
          'tiktok-fcgi -n as the unit runs it: the updater\'s directory, '
          'empty: the system\'s yt-dlp (%s)' % out.strip()[-200:])
    sock = os.path.join(tmp, 'fcgi.sock')
    applog = open(os.path.join(tmp, 'app.log'), 'wb')
    app = subprocess.Popen(svc + ['-s', sock], env=env, stdout=applog,
                           stderr=applog, stdin=subprocess.DEVNULL)
    procs.append(app)
    first = wait_for(lambda: app.poll() is None and health(sock), 60,
                     'the installed service')
    check(first is not None, 'the installed service answers (yt-dlp %s)'
          % first)

    # -- 2. the timer's unit ------------------------------------------------
    bindir = os.path.join(tmp, 'fake-bin')
    os.mkdir(bindir)
    calls = os.path.join(tmp, 'systemctl.log')
    with open(os.path.join(bindir, 'systemctl'), 'w') as f:
        # systemd runs the service unit's ExecReload with its MAINPID.
        f.write('#!/bin/sh\necho "$*" >> %s\nMAINPID=%d\nexec %s\n'
                % (calls, app.pid, reload_cmd))
    os.chmod(os.path.join(bindir, 'systemctl'), 0o755)
    timer_env = {'PATH': bindir + ':' + env['PATH'],
                 'YTDLP_WHEELS': wheel('2099.1.1')}
    rc, out = run(upd, extra=timer_env)
    check(rc == 0 and 'none -> 2099.01.01' in out,
          'the timer\'s ExecStart installs the new yt-dlp (%d: %s)'
          % (rc, out.strip()[-200:]))
    check(os.path.exists(calls) and open(calls).read().strip() ==
          'try-reload-or-restart tiktok-fcgi.service',
          'and reloads the service through systemctl (%s)'
          % (open(calls).read().strip() if os.path.exists(calls) else ''))
    check(within(lambda: health(sock) == '2099.01.01', 60),
          'the running service now uses it (/health: %s)' % health(sock))
    rc, out = run(svc + ['-n'])
    check(rc == 0 and 'yt-dlp 2099.01.01' in out and
          'YTDLP_DIR %s: in use' % ytdir in out,
          'tiktok-fcgi -n as the unit runs it: the new yt-dlp, from the '
          'updater\'s directory (%s)' % out.strip()[-200:])

    # -- 3. PID_FILE and -k -------------------------------------------------
    check(open(pidfile).read().strip() == str(app.pid),
          'PID_FILE holds the service\'s pid')
    rc, out = run([upd[0], '-d', ytdir, '-k', pidfile, 'update'],
                  extra={'YTDLP_WHEELS': wheel('2099.2.2')})
    check(rc == 0 and within(lambda: health(sock) == '2099.02.02', 60),
          'tiktok-fcgi-ytdlp -k PID_FILE: switched and signalled (%d, '
          '/health: %s)' % (rc, health(sock)))
    gone = subprocess.Popen(['true'])
    gone.wait()
    stale = os.path.join(tmp, 'stale.pid')
    with open(stale, 'w') as f:
        f.write('%d\n' % gone.pid)
    rc, out = run([upd[0], '-d', ytdir, '-k', stale, 'update'],
                  extra={'YTDLP_WHEELS': wheel('2099.3.3')})
    check(rc == 3 and 'could not signal' in out,
          'a pid file naming no process: exit status 3 (%d: %s)'
          % (rc, out.strip()[-160:]))
    app.send_signal(signal.SIGTERM)
    check(app.wait(30) == 0 and not os.path.exists(pidfile),
          'SIGTERM: exit 0, PID_FILE removed')

    # -- 4. quickstart run in the built tree --------------------------------
    # A stand-in apt-get: quickstart must find every package there.
    with open(os.path.join(bindir, 'apt-get'), 'w') as f:
        f.write('#!/bin/sh\necho "apt-get $*: not in a test" >&2\nexit 1\n')
    os.chmod(os.path.join(bindir, 'apt-get'), 0o755)

    class Other(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"status":"ok"}'
            self.send_response(200)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass
    other = http.server.HTTPServer(('127.0.0.1', 0), Other)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    qs = ['sh', os.path.join(src, 'deploy', 'quickstart.sh'), 'run']
    qenv = {'PATH': bindir + ':' + env['PATH'],
            'YTDLP_WHEELS': os.path.join(tmp, 'wheels-2099.2.2')}
    rc, out = run(qs, cwd=src, extra=dict(
        qenv, PORT=str(other.server_address[1])), timeout=300)
    check(rc != 0 and 'is taken by another server' in out and
          'answering' not in out,
          'quickstart run on a port another server holds: refused (%d: %s)'
          % (rc, out.strip()[-160:]))
    other.shutdown()
    port = free_port()
    qlog = open(os.path.join(tmp, 'quickstart.log'), 'w')
    q = subprocess.Popen(qs, cwd=src, env=dict(env, PORT=str(port), **qenv),
                         stdin=subprocess.DEVNULL, stdout=qlog,
                         stderr=subprocess.STDOUT, start_new_session=True)
    procs.append(q)
    up = within(lambda: q.poll() is None and 'is answering on' in open(
        os.path.join(tmp, 'quickstart.log')).read(), 120)
    ans = ''
    if up:
        s = socket.create_connection(('127.0.0.1', port), 10)
        s.sendall(b'GET /health HTTP/1.0\r\n\r\n')
        ans = s.makefile('rb').read().decode(errors='replace')
        s.close()
    check(up and '"ytdlp":"2099.02.02"' in ans,
          'quickstart run on a free port: answering, its own yt-dlp (%s)'
          % (ans[-120:] or open(os.path.join(tmp, 'quickstart.log'))
             .read()[-300:]))
    q.send_signal(signal.SIGINT)
    check(q.wait(60) == 0, 'quickstart: Ctrl-C stops it, exit 0')
finally:
    for p in procs:
        if p.poll() is None:
            try:
                # quickstart's group: its nginx and tiktok-fcgi too.
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                p.kill()
            p.wait()
    if os.environ.get('KEEP_TMP') is None:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print('kept %s' % tmp)
done()
