"""The integration test harness: nginx + spawn-fcgi + tiktok-fcgi (+ a
fake CDN) on loopback, in a temporary directory, ready when /health
answers, always torn down.  Python stdlib only.

Tests call check() for each assertion; a failed check prints the app's
log and exits 1 at the end.  skip(reason) exits 77; skip_part(reason)
says that a part of a test did not run.  Either says SKIP and why; under
CI=true a skip that is not expected (a tool the suite installs is
missing) fails instead.
"""

import atexit
import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

TOP_BUILDDIR = os.path.abspath(os.environ.get('TOP_BUILDDIR', '.'))
TOP_SRCDIR = os.path.abspath(os.environ.get('TOP_SRCDIR', '.'))
HERE = os.path.join(TOP_SRCDIR, 'tests', 'integration')
FIXTURES = os.path.join(TOP_SRCDIR, 'tests', 'fixtures')
BINARY = os.path.join(TOP_BUILDDIR, 'tiktok-fcgi')

FAILED = []
CI = os.environ.get('CI') == 'true'
# Built with a sanitizer: memory figures mean little (ASan's quarantine,
# TSan's shadow memory), so tests skip them and say so.
SANITIZED = bool(os.environ.get('SAN_CFLAGS', '').strip())

# Each web server: its program, the variable configure sets, its package.
WEB_BINARIES = {
    'nginx': ('nginx', 'NGINX_BIN', 'nginx-light'),
    'nginx-debian': ('nginx', 'NGINX_BIN', 'nginx-light'),
    'apache': ('apache2', 'APACHE2', 'apache2'),
    'caddy': ('caddy', 'CADDY', 'caddy'),
    'lighttpd': ('lighttpd', 'LIGHTTPD', 'lighttpd'),
}


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


def children_of(pid):
    """Pids whose parent is pid (from /proc)."""
    out = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(')') + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


def descendants(pid):
    """Every process below pid (children, theirs, ...)."""
    out, todo = [], children_of(pid)
    while todo:
        c = todo.pop()
        out.append(c)
        todo.extend(children_of(c))
    return out


def zombies_of(pid):
    """Zombies anywhere below pid (the app's, or the helper parent's)."""
    z = []
    for c in descendants(pid):
        try:
            with open('/proc/%d/stat' % c) as f:
                stat = f.read()
            if stat[stat.rindex(')') + 2] == 'Z':
                z.append(c)
        except OSError:
            pass
    return z


def all_dead(pids):
    """Are these processes (ours, found by pid) all gone?  A zombie
    counts as gone: its parent (init, for an orphan) reaps it."""
    for p in pids:
        try:
            with open('/proc/%d/stat' % p) as f:
                if f.read().rsplit(') ', 1)[1][0] != 'Z':
                    return False
        except OSError:
            pass
    return True


def rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def nfds(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


def proxy_log(path):
    """What a fake proxy (fake_proxy.py, fake_socks.py) logged so far."""
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ''


def tcp_conns(pid, port):
    """The TCP connections process pid holds to port on loopback (its
    descriptors' sockets, found in /proc/net/tcp and tcp6)."""
    inodes = set()
    for fd in os.listdir('/proc/%d/fd' % pid):
        try:
            t = os.readlink('/proc/%d/fd/%s' % (pid, fd))
        except OSError:
            continue
        if t.startswith('socket:['):
            inodes.add(t[8:-1])
    n = 0
    for name in ('tcp', 'tcp6'):
        with open('/proc/net/' + name) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[9] in inodes and \
                        int(cols[2].rsplit(':', 1)[1], 16) == port:
                    n += 1
    return n


def nthreads(pid):
    return len(os.listdir('/proc/%d/task' % pid))


def unix_backlogs(path):
    """The backlogs of the listening unix sockets bound at path, as the
    kernel's sock_diag netlink answers them (ss's Send-Q), so that no
    tool is needed: [] when none listens there."""
    sock_diag, by_family = 4, 20
    show_name, show_rqlen = 0x01, 0x10
    attr_name, attr_rqlen = 0, 4
    req = struct.pack('=BBHIII2I', socket.AF_UNIX, 0, 0, 1 << 10, 0,
                      show_name | show_rqlen, 0xffffffff, 0xffffffff)
    hdr = struct.pack('=IHHII', 16 + len(req), by_family, 0x301, 1, 0)
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, sock_diag)
    s.settimeout(10)
    found = []
    try:
        s.sendall(hdr + req)
        while True:
            data = s.recv(65536)
            off = 0
            while off + 16 <= len(data):
                ln, typ = struct.unpack_from('=IH', data, off)
                if typ in (2, 3):       # NLMSG_ERROR, NLMSG_DONE
                    return found
                a, name, rq = off + 32, None, None
                while a + 4 <= off + ln:
                    alen, atyp = struct.unpack_from('=HH', data, a)
                    if atyp == attr_name:
                        name = data[a + 4:a + alen].rstrip(b'\0').decode(
                            errors='replace')
                    elif atyp == attr_rqlen:
                        rq = struct.unpack_from('=II', data, a + 4)
                    a += (alen + 3) & ~3
                if name == path and rq is not None:
                    found.append(rq[1])
                off += (ln + 3) & ~3
    finally:
        s.close()


def unix_connect(path):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return s


def fcgi_get(path, s):
    """One FastCGI GET on the connected socket s (closed after); returns
    the CGI answer text, headers and body."""
    def rec(t, content):
        return struct.pack('>BBHHBx', 1, t, 1, len(content), 0) + content

    def nv(k, v):
        k, v = k.encode(), v.encode()
        return bytes([len(k)]) + bytes([len(v)]) + k + v
    s.settimeout(20)
    s.sendall(rec(1, struct.pack('>HB5x', 1, 0)))
    params = nv('REQUEST_METHOD', 'GET') + nv('REQUEST_URI', path)
    s.sendall(rec(4, params) + rec(4, b'') + rec(5, b''))
    out = b''
    while True:
        h = s.recv(8, socket.MSG_WAITALL)
        if len(h) < 8:
            break
        _, t, _, cl, pl = struct.unpack('>BBHHBx', h)
        c = b''
        while len(c) < cl + pl:
            c += s.recv(cl + pl - len(c))
        if t == 6:
            out += c[:cl]
        if t == 3:
            break
    s.close()
    return out.decode(errors='replace')


class Redis:
    """A redis-server of the test's own on a free loopback port, no
    persistence; stopped (or killed, and started again on the same port)
    by its pid."""

    def __init__(self, tmp):
        self.bin = which('redis-server', 'REDIS_SERVER')
        self.cli = which('redis-cli')
        self.tmp = tmp
        self.port = free_port()
        self.proc = None
        self.url = 'redis://127.0.0.1:%d/0' % self.port
        self.start_args = []

    def start(self):
        self.proc = subprocess.Popen(
            [self.bin, '--port', str(self.port), '--bind', '127.0.0.1',
             '--save', '', '--appendonly', 'no', '--dir', self.tmp,
             '--daemonize', 'no'] + self.start_args,
            stdin=subprocess.DEVNULL,
            stdout=open(os.path.join(self.tmp, 'redis.log'), 'a'),
            stderr=subprocess.STDOUT)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError('redis-server exited (port %d taken?)'
                                   % self.port)
            return self.call('PING') in ('PONG', 'NOAUTH Authentication '
                                         'required.')
        wait_for(ready, 10, 'redis-server')
        return self

    def call(self, *args):
        """One command, by redis-cli; its answer as text."""
        r = subprocess.run([self.cli, '-h', '127.0.0.1', '-p',
                            str(self.port)] + [str(a) for a in args],
                           capture_output=True, text=True, timeout=10,
                           errors="replace")
        return r.stdout.strip()

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name.lower())


class Stack:
    """nginx -> spawn-fcgi -> tiktok-fcgi, with a fake CDN beside.

    helper: 'fake' (tests/integration/fake_helper.py) or 'real'
    (src/ytdlp_helper.py with YTDLP_PYTHON).  env: extra settings.
    """

    def __init__(self, helper='fake', env=None, nginx=True, cdn=True,
                 docroot=None, expect_healthy=True, tls=None, web='nginx',
                 mount='/', bind=None, cdn_url=None, host=None,
                 conf=None, foreground=True):
        self.host = host        # a Host header for every request
        self.foreground = foreground    # -f: log to app.log, not LOG_FILE
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
        if not os.path.exists(BINARY):
            skip('%s is not built' % BINARY)
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

    def start_cdn(self):
        portfile = os.path.join(self.tmp, 'cdn.port')
        self.cdn = subprocess.Popen(
            [sys.executable, os.path.join(HERE, 'fake_cdn.py'),
             self.docroot, portfile] + list(self.tls or ()),
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.tmp, 'cdn.log'), 'w'))
        self.procs.append(self.cdn)
        port = wait_for(lambda: os.path.exists(portfile) and
                        open(portfile).read(), 10, 'the fake CDN')
        self.cdn_url = '%s://127.0.0.1:%s' % (
            'https' if self.tls else 'http', port)

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
                'HELPER_SCRIPT': os.path.join(HERE, 'fake_helper.py'),
                'FAKE_FIXTURES': FIXTURES,
                'FAKE_STATE': self.state,
                'FAKE_CDN': getattr(self, 'cdn_url', 'http://127.0.0.1:9'),
            })
        else:
            py = os.environ.get('YTDLP_PYTHON') or '/usr/bin/python3'
            env.update({
                'YTDLP_PYTHON': py,
                'HELPER_SCRIPT': os.path.join(TOP_SRCDIR, 'src',
                                              'ytdlp_helper.py'),
            })
        env.update(self.extra_env)
        return env

    def start_app(self):
        self.applog = open(os.path.join(self.tmp, 'app.log'), 'ab')
        # spawn-fcgi -n execs tiktok-fcgi in its place: same pid.
        if self.bind:
            cmd = [self.spawn_bin, '-n', '-a', self.bind[0], '-p',
                   str(self.bind[1]), '-b', '1024', '--', BINARY]
        else:
            cmd = [self.spawn_bin, '-n', '-s', self.sock, '-M', '0666',
                   '-b', '1024', '--', BINARY]
        if self.foreground:
            cmd += ['-f']
        if self.conf:
            cmd += ['-c', self.conf]
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

    def fill(self, template, **extra):
        text = open(os.path.join(TOP_SRCDIR, 'deploy', template)).read()
        subst = {'@PREFIX@': self.tmp, '@SOCKET@': self.sock,
                 '@PORT@': str(self.port), '@MOUNT@': self.mount,
                 '@LISTEN@': '127.0.0.1:%d' % self.port}
        subst.update(extra)
        for k, v in subst.items():
            text = text.replace(k, v)
        path = os.path.join(self.tmp, os.path.basename(template)[:-3])
        with open(path, 'w') as f:
            f.write(text)
        return path

    def start_server(self, argv, env=None):
        self.nginx = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.tmp, self.web + '.log'), 'w'),
            env=env)
        self.procs.append(self.nginx)
        self.base = 'http://127.0.0.1:%d%s' % (self.port, self.prefix)

    def start_apache(self):
        self.port = free_port()
        user = 'User www-data\nGroup www-data' if os.geteuid() == 0 else ''
        conf = self.fill('apache/apache-standalone.conf.in', **{
            '@SNIPPET@': os.path.join(TOP_SRCDIR, 'deploy', 'apache',
                                      'tiktok-fcgi.conf'),
            '@USER@': user})
        self.start_server([self.web_bin, '-f', conf, '-DFOREGROUND'])

    def start_caddy(self):
        self.port = free_port()
        conf = self.fill('caddy/Caddyfile-standalone.in')
        env = dict(os.environ, XDG_DATA_HOME=self.tmp,
                   XDG_CONFIG_HOME=self.tmp, HOME=self.tmp)
        self.start_server([self.web_bin, 'run', '--config', conf,
                           '--adapter', 'caddyfile'], env)

    def start_lighttpd(self):
        self.port = free_port()
        conf = self.fill('lighttpd/lighttpd-standalone.conf.in')
        self.start_server([self.web_bin, '-D', '-f', conf])

    def start_nginx(self):
        self.port = free_port()
        tpl = open(os.path.join(TOP_SRCDIR, 'deploy', 'nginx',
                                'nginx-standalone.conf.in')).read()
        conf = (tpl.replace('@PREFIX@', self.tmp)
                .replace('@LISTEN@', '127.0.0.1:%d' % self.port)
                .replace('@SOCKET@', self.sock)
                .replace('@LOCATIONS@', os.path.join(
                    TOP_SRCDIR, 'deploy', 'nginx',
                    'tiktok-fcgi-locations.conf'))
                .replace('@USER@', 'user root;' if os.geteuid() == 0
                         else ''))
        path = os.path.join(self.tmp, 'nginx.conf')
        with open(path, 'w') as f:
            f.write(conf)
        self.nginx = subprocess.Popen(
            [self.web_bin, '-p', self.tmp, '-c', path, '-e',
             os.path.join(self.tmp, 'nginx-error.log')],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.tmp, 'nginx.log'), 'w'))
        self.procs.append(self.nginx)
        self.base = 'http://127.0.0.1:%d' % self.port

    def start_nginx_debian(self):
        """Debian's packaged nginx layout, copied from /etc/nginx: its
        nginx.conf and default site as installed, the README's site file
        in sites-enabled and the locations in snippets.  Only paths, the
        port and the socket are changed; a line that is not found fails,
        so a changed Debian layout is noticed."""
        if not os.path.exists('/etc/nginx/nginx.conf') or not \
                os.path.exists('/etc/nginx/sites-available/default'):
            skip('no /etc/nginx from Debian\'s nginx-common')
        self.port = free_port()
        etc = os.path.join(self.tmp, 'etc-nginx')
        shutil.copytree('/etc/nginx', etc)
        listen = '127.0.0.1:%d' % self.port

        def edit(path, pairs, src=None):
            text = open(src or path).read()
            for old, new in pairs:
                if old not in text:
                    raise RuntimeError('%s: no %r' % (src or path, old))
                text = text.replace(old, new)
            with open(path, 'w') as f:
                f.write(text)
        temp = ''.join('\t%s_temp_path %s/%s;\n' % (k, self.tmp, k)
                       for k in ('client_body', 'proxy', 'fastcgi',
                                 'uwsgi', 'scgi'))
        edit(os.path.join(etc, 'nginx.conf'), [
            ('/etc/nginx/', etc + '/'),
            ('user www-data;', 'user root;' if os.geteuid() == 0 else ''),
            ('pid /run/nginx.pid;', 'pid %s/nginx.pid;' % self.tmp),
            ('/var/log/nginx/', self.tmp + '/'),
            ('http {\n', 'http {\n' + temp)])
        edit(os.path.join(etc, 'sites-enabled', 'default'), [
            ('listen 80 default_server;', 'listen %s default_server;'
             % listen),
            ('listen [::]:80 default_server;', '')])
        shutil.copy(os.path.join(TOP_SRCDIR, 'deploy', 'nginx',
                                 'tiktok-fcgi-locations.conf'),
                    os.path.join(etc, 'snippets'))
        site = os.path.join(etc, 'sites-available', 'tiktok-fcgi')
        edit(site, [('listen 80;', 'listen %s;' % listen),
                    ('listen [::]:80;', ''),
                    ('/run/tiktok-fcgi/tiktok-fcgi.sock', self.sock),
                    ('/etc/nginx/', etc + '/')],
             src=os.path.join(TOP_SRCDIR, 'deploy', 'nginx',
                              'tiktok-fcgi-site.conf'))
        os.symlink('../sites-available/tiktok-fcgi',
                   os.path.join(etc, 'sites-enabled', 'tiktok-fcgi'))
        # Debian's prefix stays (modules-enabled names modules relative
        # to it); every path the service writes is moved above.
        self.start_server([self.web_bin, '-c',
                           os.path.join(etc, 'nginx.conf'), '-e',
                           os.path.join(self.tmp, 'nginx-error.log'),
                           '-g', 'daemon off;'])

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
        """Start a helper server of the tests (fake_proxy.py,
        fake_socks.py: PORTFILE LOGFILE ARGS...) beside this stack,
        stopped with it.  Returns (port, its log file)."""
        portfile = os.path.join(self.tmp, name + '.port')
        logfile = os.path.join(self.tmp, name + '.log')
        p = subprocess.Popen([sys.executable, os.path.join(HERE, script),
                              portfile, logfile] + list(args),
                             stdin=subprocess.PIPE)
        self.procs.append(p)
        port = wait_for(lambda: os.path.exists(portfile) and
                        open(portfile).read(), 10, name)
        return int(port), logfile

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
        if self.cdn is not None and self.cdn.poll() is None:
            try:
                self.cdn.stdin.close()
                self.cdn.wait(5)
            except (subprocess.TimeoutExpired, OSError):
                self.cdn.kill()
                self.cdn.wait()
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def nginx_http(tmp, name, http):
    """An nginx of the test's own running the http-context text http
    (a file of deploy/nginx with its addresses replaced), its files in
    tmp.  Returns its process (the caller stops it)."""
    conf = os.path.join(tmp, name + '.conf')
    with open(conf, 'w') as f:
        f.write('%s\nworker_processes 1; daemon off; pid %s/%s.pid;\n'
                'error_log %s/%s-error.log;\nevents { worker_connections '
                '4096; }\nhttp { access_log off; client_body_temp_path '
                '%s/cb;\nfastcgi_temp_path %s/fc;\nproxy_temp_path %s/px;\n'
                '%s\n}\n' % ('user root;' if os.geteuid() == 0 else '', tmp,
                             name, tmp, name, tmp, tmp, tmp, http))
    return subprocess.Popen(
        [which('nginx', 'NGINX_BIN'), '-p', tmp, '-c', conf, '-e',
         os.path.join(tmp, name + '.err')], stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def fleet(env, redis_url=None, egresses=0):
    """Two instances, on 127.0.0.2 and 127.0.0.3 (TCP FastCGI), each
    started with deploy/tiktok-fcgi-fleet.conf (its addresses replaced:
    BASE_URL the fleet's nginx, REDIS_URL redis_url or none,
    OUTBOUND_PROXY that many fake_proxy.py egresses or none), behind one
    nginx with deploy/nginx/nginx-fleet.conf.  Returns (a, b, nginx):
    requests made through a go through the fleet's nginx.  The caller
    ends them: nginx.terminate(), b.__exit__(...), a.__exit__(...).
    """
    port_a, port_b = free_port('127.0.0.2'), free_port('127.0.0.3')
    lport = free_port()
    a = Stack(nginx=False, bind=('127.0.0.2', port_a), env=env)
    ports = [a.side('fake_proxy.py', 'egress%d' % i)[0]
             for i in range(egresses)]
    conf = open(os.path.join(TOP_SRCDIR, 'deploy',
                             'tiktok-fcgi-fleet.conf')).read()
    for key, value in (
            ('BASE_URL', 'http://127.0.0.1:%d' % lport),
            ('OUTBOUND_PROXY', ', '.join('http://127.0.0.1:%d' % p
                                         for p in ports)),
            ('REDIS_URL', redis_url or '')):
        conf = re.sub(r'(?m)^%s=.*$' % key, '%s=%s' % (key, value), conf)
    a.conf = os.path.join(a.tmp, 'tiktok-fcgi.conf')
    with open(a.conf, 'w') as f:
        f.write(conf)
    a.__enter__()
    b = Stack(nginx=False, cdn=False, cdn_url=a.cdn_url,
              bind=('127.0.0.3', port_b), env=env, conf=a.conf)
    b.__enter__()
    # The balancer, its upstream servers and listen address replaced.
    ngx = open(os.path.join(TOP_SRCDIR, 'deploy', 'nginx',
                            'nginx-fleet.conf')).read()
    ngx = re.sub(r'(upstream tiktok_fcgi_fleet \{)[^}]*\}',
                 r'\1\n\tserver 127.0.0.2:%d max_fails=2 fail_timeout=10s;'
                 r'\n\tserver 127.0.0.3:%d max_fails=2 fail_timeout=10s;\n}'
                 % (port_a, port_b), ngx)
    ngx = ngx.replace('listen 80;', 'listen 127.0.0.1:%d;' % lport)
    proc = nginx_http(a.tmp, 'fleet', ngx)
    a.procs.append(proc)    # stopped with the stack, whatever happens
    a.port = lport          # requests through the fleet's nginx
    a.base = 'http://127.0.0.1:%d' % lport

    def up():
        if proc.poll() is not None:
            raise RuntimeError('the fleet\'s nginx exited')
        try:
            return a.get('/health', timeout=2).status == 200
        except OSError:
            return False
    wait_for(up, 20, 'the fleet to answer')
    return a, b, proc


def post_and_download(s, vid, timeout=60):
    """POST /tiktok for @cdn_gen_20000's post vid, then its no-watermark
    link (20000 bytes from the fake CDN).  Returns (ok, what): what is
    the status that failed, or the error."""
    try:
        r = s.tiktok('https://www.tiktok.com/@cdn_gen_20000/video/%d' % vid,
                     timeout=timeout)
        if r.status != 200:
            return False, r.status
        r2 = s.get(s.local(r.json()['download_link']['no_watermark']),
                   timeout=timeout)
        return r2.status == 200 and len(r2.body) == 20000, r2.status
    except OSError as e:
        return False, str(e)


def posts_at_once(s, urls, timeout=60):
    """POST /tiktok for each of urls, all at once: their statuses (or
    the error, for a request that got no answer)."""
    out, lk = [], threading.Lock()

    def one(u):
        try:
            st = s.tiktok(u, timeout=timeout).status
        except OSError as e:
            st = str(e)
        with lk:
            out.append(st)
    ts = [threading.Thread(target=one, args=(u,)) for u in urls]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out
