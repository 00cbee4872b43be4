# SPDX-License-Identifier: ISC
"""A stack: nginx (or another web server) -> spawn-fcgi -> tiktok-fcgi,
with a fake CDN beside, on loopback, in a temporary directory, ready
when /health answers, always torn down; requests to it, what it logged,
what its fakes saw.  Python stdlib only.
"""

import atexit
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

from harness import (FAILED, FAKES, FIXTURES, TOP_BUILDDIR, TOP_SRCDIR,
                     check, skip, wait_for, which)
from serve import Fake
from webservers import WEB_BINARIES, WebServers


def ffmpeg_pids(s):
    """The fake ffmpeg's runs in stack s: their pids, from
    $FAKE_STATE/ffmpeg.log.  Whole lines only: the file exists a moment
    before its first line is in it."""
    try:
        with open(os.path.join(s.state, 'ffmpeg.log')) as f:
            data = f.read()
    except FileNotFoundError:
        return []
    return [int(x) for x in data.split('\n')[:-1] if x.strip()]


def ffmpeg_slow(s, secs):
    """Make the fake ffmpeg of stack s take secs seconds (0: no delay)."""
    p = os.path.join(s.state, 'ffmpeg-sleep')
    if secs:
        with open(p, 'w') as f:
            f.write(str(secs))
    elif os.path.exists(p):
        os.unlink(p)


def render_dirs(s):
    """The render folders in stack s's TEMP_DIR."""
    w = os.path.join(s.tmp, 'work')
    return [n for n in os.listdir(w) if n.startswith('render-')] \
        if os.path.isdir(w) else []


def proxy_log(path):
    """What a fake proxy (fake_proxy.py, fake_socks.py) logged so far."""
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ''


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name.lower())


class Stack(WebServers):
    """nginx -> spawn-fcgi -> tiktok-fcgi, with a fake CDN beside.

    helper: 'fake' (tests/fakes/fake_helper.py) or 'real'
    (src/ytdlp_helper.py with YTDLP_PYTHON).  env: extra settings.
    """

    def __init__(self, helper='fake', env=None, nginx=True, cdn=True,
                 docroot=None, expect_healthy=True, tls=None, web='nginx',
                 mount='/', bind=None, cdn_url=None, host=None,
                 conf=None, foreground=True, tree=None, wrap=None):
        # Another built tree (its binary, deploy/ files and helper), for
        # benchmarks comparing builds; else this one.
        self.binary = os.path.join(tree or TOP_BUILDDIR, 'tiktok-fcgi')
        self.srcdir = tree or TOP_SRCDIR
        self.host = host        # a Host header for every request
        self.foreground = foreground    # -f: log to app.log, not LOG_FILE
        self.wrap = wrap or []  # a command spawn-fcgi runs under (unshare)
        self.conf = conf        # a configuration file (-c)
        self.bind = bind        # (host, port): TCP FastCGI, no unix socket
        if cdn_url is not None:
            self.cdn_url = cdn_url
        self.expect_healthy = expect_healthy
        self.web = web          # nginx, apache, caddy or lighttpd
        self.mount = mount      # where the API is mounted
        self.prefix = mount.rstrip('/')
        self.tls = tls          # (cert, key) for an HTTPS fake CDN
        self.spawn_bin = which('spawn-fcgi', 'SPAWN_FCGI')
        if not os.path.exists(self.binary):
            skip('%s is not built' % self.binary)
        self.web_bin = which(WEB_BINARIES[web][0], WEB_BINARIES[web][1])
        if nginx and not self.web_bin:
            skip('%s is not installed (apt-get install %s)'
                 % (web, WEB_BINARIES[web][2]))
        if not self.spawn_bin:
            skip('spawn-fcgi is not installed (apt-get install spawn-fcgi)')
        self.tmp = tempfile.mkdtemp(prefix='tiktok-fcgi-test-')
        os.chmod(self.tmp, 0o755)
        self.state = os.path.join(self.tmp, 'state')
        os.mkdir(self.state)
        self.docroot = docroot or os.path.join(self.tmp, 'docroot')
        os.makedirs(self.docroot, exist_ok=True)
        self.procs = []
        self.fakes = []         # stopped by closing their stdin
        self.app = None
        self.cdn = None
        self.nginx = None
        self.helper = helper
        self.extra_env = env or {}
        self.use_nginx = nginx
        self.use_cdn = cdn
        self.sock = os.path.join(self.tmp, 'fcgi.sock')
        atexit.register(self.stop)

    # -- start -----------------------------------------------------------

    def __enter__(self):
        try:
            self.start()
        except Exception:
            self.dump()
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        if exc[0] is not None or FAILED:
            self.dump()
        self.stop()
        return False

    def start(self):
        if self.use_cdn:
            self.start_cdn()
        self.start_app()
        if self.use_nginx:
            getattr(self, 'start_' + self.web.replace('-', '_'))()
            self.wait_healthy()

    def start_fake(self, script, name, *args, **kw):
        """A fake server (tests/fakes: serve.py) beside this stack,
        its port file and log in the stack's folder, stopped with it."""
        f = Fake(script, os.path.join(self.tmp, name + '.port'), *args,
                 **kw)
        self.fakes.append(f)
        return f

    def start_cdn(self):
        self.cdn = self.start_fake('fake_cdn.py', 'cdn', self.docroot,
                                   *(self.tls or ()),
                                   log=os.path.join(self.tmp, 'cdn.log'))
        self.cdn_url = '%s://127.0.0.1:%d' % (
            'https' if self.tls else 'http', self.cdn.port)

    def app_env(self):
        env = dict(os.environ)
        for k in list(env):
            if k in ('BASE_URL', 'ENCRYPTION_KEY', 'TEST_POST_HOSTS',
                     'http_proxy', 'https_proxy', 'HTTP_PROXY',
                     'HTTPS_PROXY', 'no_proxy', 'NO_PROXY', 'SSL_CERT_FILE',
                     'HELPERS', 'MAX_WORKERS',
                     'QUEUE_MAX', 'YTDLP_TIMEOUT', 'CACHE_TTL', 'TOKEN_TTL',
                     'FCGI_THREADS', 'OUTBOUND_PROXY', 'CA_FILE',
                     'COOKIES_PATH', 'LOG_FILE'):
                del env[k]
        env.update({
            'ENCRYPTION_KEY': 'test-key',
            'HELPERS': '2',
            'FCGI_THREADS': '64',
            'LOG_LEVEL': 'debug',
            'TEMP_DIR': os.path.join(self.tmp, 'work'),
            'FETCH_ALLOW_PRIVATE': '1',
            'SHUTDOWN_TIMEOUT': '10',
        })
        if self.helper == 'fake':
            env.update({
                'YTDLP_PYTHON': sys.executable,
                'HELPER_SCRIPT': os.path.join(FAKES, 'fake_helper.py'),
                'FAKE_FIXTURES': FIXTURES,
                'FAKE_STATE': self.state,
                'FAKE_CDN': getattr(self, 'cdn_url', 'http://127.0.0.1:9'),
            })
        else:
            py = os.environ.get('YTDLP_PYTHON') or '/usr/bin/python3'
            env.update({
                'YTDLP_PYTHON': py,
                'HELPER_SCRIPT': os.path.join(self.srcdir, 'src',
                                              'ytdlp_helper.py'),
            })
        env.update(self.extra_env)
        return env

    def start_app(self):
        self.applog = open(os.path.join(self.tmp, 'app.log'), 'ab')
        # spawn-fcgi -n execs tiktok-fcgi in its place: same pid.
        if self.bind:
            cmd = [self.spawn_bin, '-n', '-a', self.bind[0], '-p',
                   str(self.bind[1]), '-b', '1024', '--', self.binary]
        else:
            cmd = [self.spawn_bin, '-n', '-s', self.sock, '-M', '0666',
                   '-b', '1024', '--', self.binary]
        if self.foreground:
            cmd += ['-f']
        if self.conf:
            cmd += ['-c', self.conf]
        cmd = self.wrap + cmd
        self.app = subprocess.Popen(cmd, env=self.app_env(),
                                    stdin=subprocess.DEVNULL,
                                    stdout=self.applog, stderr=self.applog)
        self.procs.append(self.app)
        if self.bind:
            # Our own process must be the one listening (another test's
            # could hold the port): it says so in its log.
            def listening():
                if self.app.poll() is not None:
                    raise RuntimeError('tiktok-fcgi exited with %s (port '
                                       '%s taken?)' % (self.app.returncode,
                                                       self.bind))
                return 'acceptor_start: listening' in self.log()
            wait_for(listening, 10, 'the FastCGI port')
        else:
            wait_for(lambda: os.path.exists(self.sock), 10,
                     'the FastCGI socket')

    def wait_healthy(self, timeout=30):
        def ok():
            if self.app.poll() is not None:
                raise RuntimeError('tiktok-fcgi exited with %s'
                                   % self.app.returncode)
            if self.nginx is not None and self.nginx.poll() is not None:
                raise RuntimeError('%s exited with %s'
                                   % (self.web, self.nginx.returncode))
            try:
                st = self.get('/health', timeout=2).status
                return st == 200 or (not self.expect_healthy and
                                     st == 503)
            except OSError:
                return False
        wait_for(ok, timeout, '/health to answer 200', 0.1)

    # -- requests ----------------------------------------------------------

    def request(self, method, path, body=None, headers=None, timeout=60,
                port=None, source=None):
        """source: the local address to come from (127.0.0.2, say: the
        web server sees another client)."""
        if port is None and not path.startswith(self.prefix + '/'):
            path = self.prefix + path
        conn = http.client.HTTPConnection(
            '127.0.0.1', port or self.port, timeout=timeout,
            source_address=(source, 0) if source else None)
        headers = dict(headers or {})
        if self.host and port is None:
            headers.setdefault('Host', self.host)
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            hdrs = {}
            for k, v in r.getheaders():
                hdrs[k.lower()] = v
            return Response(r.status, hdrs, data)
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request('GET', path, **kw)

    def tiktok(self, url, **kw):
        body = json.dumps({'url': url})
        return self.request('POST', '/tiktok', body=body,
                            headers={'Content-Type': 'application/json'},
                            **kw)

    def local(self, link):
        """The path part of a link the app handed out."""
        assert link.startswith(self.base), link
        return link[len(self.base):]

    def extractions(self):
        try:
            with open(os.path.join(self.state, 'extract.log')) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def side(self, script, name, *args):
        """A fake proxy beside this stack (fake_proxy.py, fake_socks.py:
        PORTFILE LOGFILE ARGS...), stopped with it.  Returns (port, the
        log file it keeps)."""
        logfile = os.path.join(self.tmp, name + '.log')
        return self.start_fake(script, name, logfile, *args).port, logfile

    def health(self):
        return self.get('/health').json()

    def helper_pids(self):
        """The helpers (forked by the helper parent), as /health lists
        them."""
        return [h['pid'] for h in self.health()['memory']['helpers']
                if h['role'] == 'helper']

    def parent_pid(self):
        """The helper parent, as /health lists it (the ready one)."""
        return [h['pid'] for h in self.health()['memory']['helpers']
                if h['role'] == 'parent' and h['state'] == 'ready'][0]

    def log(self):
        try:
            with open(os.path.join(self.tmp, 'app.log'), errors='replace') \
                    as f:
                return f.read()
        except OSError:
            return ''

    def dump(self):
        print('--- app.log (last 60 lines) ---')
        print('\n'.join(self.log().splitlines()[-60:]))
        for name in ('nginx-error.log', 'cdn.log', 'apache-error.log',
                     'lighttpd-error.log', 'apache.log', 'caddy.log',
                     'lighttpd.log'):
            p = os.path.join(self.tmp, name)
            if os.path.exists(p):
                lines = open(p, errors='replace').read().splitlines()[-15:]
                if lines:
                    print('--- %s ---' % name)
                    print('\n'.join(lines))

    # -- stop ----------------------------------------------------------------

    def stop_app(self, timeout=30):
        if self.app is None or self.app.poll() is not None:
            return self.app.returncode if self.app else None
        self.app.send_signal(signal.SIGTERM)
        try:
            return self.app.wait(timeout)
        except subprocess.TimeoutExpired:
            self.app.kill()
            self.app.wait()
            return None

    def sanitizer_reports(self):
        """Reports of ASan, UBSan or TSan in the app's log."""
        return [line for line in self.log().splitlines()
                if 'Sanitizer' in line and ('ERROR' in line or
                                            'WARNING' in line)
                or ': runtime error: ' in line]

    def stop(self):
        if getattr(self, 'stopped', False):
            return
        self.stopped = True
        self.stop_all()
        bad = self.sanitizer_reports()
        check(not bad, 'no sanitizer report in the log %s' % bad[:3])
        if os.environ.get('KEEP_TMP') is None and not FAILED:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            print('kept %s' % self.tmp)

    def stop_all(self):
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT if self.web.startswith('nginx')
                                   else signal.SIGTERM)
            try:
                self.nginx.wait(10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait()
        self.stop_app()
        for f in self.fakes:
            f.stop()
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
