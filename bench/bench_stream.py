#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Benchmark GET /stream.

    python3 bench/bench_stream.py                 # side by side
    BENCH_SECTIONS=side,single,memory python3 bench/bench_stream.py

side (the default): one fake CDN over TLS (tests/fakes/fake_cdn.py,
a certificate of a CA of our own appended to the system's 220 KB CA
bundle, as a server has it), reached through one HTTP proxy
(fake_proxy.py, CONNECT tunnels), relayed by three servers in turn:

  tiktok-fcgi   nginx -> tiktok-fcgi /stream (fake helper), through the
                proxy (OUTBOUND_PROXY), CA_FILE the bundle; and again
                straight to the CDN ("direct"), the way nginx goes
  serverpy      serverpy's /stream (uvicorn, one event loop, httpx)
                through the proxy (HTTPS_PROXY), SSL_CERT_FILE the
                bundle; from SERVERPY_DIR (a checkout's serverpy/
                folder; needs python3-fastapi, -uvicorn, -httpx,
                -dotenv, -redis), skipped when absent
  nginx         proxy_pass straight to the CDN (nginx cannot use a
                forward proxy), upstream keepalive, TLS verified: the
                floor

For each: CLIENTS clients (wrk, keep-alive) download the FILE_KB file
over and over for SECONDS seconds; CPU seconds (user + system, from
/proc) of the server's processes (tiktok-fcgi + its helpers + its nginx;
serverpy's python; nginx's) per GB the clients received, MB/s, and the
peak PSS of those processes; then the time to the first byte of a
single download (curl, median of TTFB_RUNS, each after the load, idle).
The CDN's and the proxy's own CPU is not counted for anyone.  Also
printed: the machine's load (uptime) before and after each run.
TOP_BUILDDIR=... measures another build of tiktok-fcgi (a "before");
BENCH_PERF=FILE records a profile of tiktok-fcgi (and its nginx) under
the load with perf (perf report -i FILE).

single: single-stream throughput of a 1000 MB file from a static nginx
"CDN", direct and through tiktok-fcgi.  memory: tiktok-fcgi's RSS with
1, 10 and 100 streams read at 2 MB/s.
"""

import base64
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
os.environ.setdefault('TOP_SRCDIR', TOP)
os.environ.setdefault('TOP_BUILDDIR', TOP)
sys.path.insert(0, os.path.join(TOP, 'tests', 'integration'))
from harness import free_port, wait_for, which  # noqa: E402
from probes import children_of, rss_kb  # noqa: E402
from stack import Stack, proxy_log  # noqa: E402
from webservers import nginx_http  # noqa: E402
from serve import Fake  # noqa: E402 (tests/fakes: on the path by harness)

SECTIONS = os.environ.get('BENCH_SECTIONS', 'side').split(',')
CLIENTS = int(os.environ.get('CLIENTS', '20'))
SECONDS = int(os.environ.get('SECONDS', '15'))
FILE_KB = int(os.environ.get('FILE_KB', '1600'))
TTFB_RUNS = int(os.environ.get('TTFB_RUNS', '21'))
SYSTEM_CAS = '/etc/ssl/certs/ca-certificates.crt'
CLK = os.sysconf('SC_CLK_TCK')


def load():
    return open('/proc/loadavg').read().split()[0]


def cpu_s(pids):
    """User + system CPU seconds of these processes (gone ones: 0)."""
    t = 0
    for p in pids:
        try:
            with open('/proc/%d/stat' % p) as f:
                fields = f.read().rsplit(')', 1)[1].split()
            t += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return t / CLK


def pss_kb(pids):
    t = 0
    for p in pids:
        try:
            with open('/proc/%d/smaps_rollup' % p) as f:
                for line in f:
                    if line.startswith('Pss:'):
                        t += int(line.split()[1])
        except OSError:
            pass
    return t


def tree(pid):
    out = [pid]
    for c in children_of(pid):
        out += tree(c)
    return out


def make_tls(tmp):
    def openssl(*args):
        subprocess.run(['openssl'] + list(args), cwd=tmp, check=True,
                       capture_output=True)
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
            '-subj', '/CN=bench CA', '-keyout', 'ca.key', '-out', 'ca.pem')
    with open(os.path.join(tmp, 'san.ext'), 'w') as f:
        f.write('subjectAltName=IP:127.0.0.1,DNS:localhost\n')
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj',
            '/CN=localhost', '-keyout', 'cdn.key', '-out', 'cdn.csr')
    openssl('x509', '-req', '-in', 'cdn.csr', '-CA', 'ca.pem', '-CAkey',
            'ca.key', '-CAcreateserial', '-days', '2', '-extfile',
            'san.ext', '-out', 'cdn.pem')
    bundle = os.path.join(tmp, 'bundle.pem')
    with open(bundle, 'w') as f:
        if os.path.exists(SYSTEM_CAS):
            f.write(open(SYSTEM_CAS).read())
        f.write(open(os.path.join(tmp, 'ca.pem')).read())
    return (os.path.join(tmp, 'cdn.pem'), os.path.join(tmp, 'cdn.key'),
            bundle)


def wrk(url, seconds):
    """(bytes received, requests, errors) of CLIENTS keep-alive clients
    downloading url for seconds."""
    lua = os.path.join(tempfile.gettempdir(), 'bench-stream-%d.lua'
                       % os.getpid())
    with open(lua, 'w') as f:
        f.write('done = function(summary, latency, requests)\n'
                '  io.write(string.format("RESULT %d %d %d\\n", '
                'summary.bytes, summary.requests, summary.errors.status + '
                'summary.errors.read + summary.errors.connect + '
                'summary.errors.timeout))\nend\n')
    out = subprocess.run(['wrk', '-t2', '-c%d' % CLIENTS, '-d%ds' % seconds,
                          '--timeout', '30s', '-s', lua, url],
                         capture_output=True, text=True).stdout
    os.unlink(lua)
    for line in out.splitlines():
        if line.startswith('RESULT '):
            b, r, e = (int(x) for x in line.split()[1:])
            return b, r, e
    raise RuntimeError('wrk said: %s' % out)


def ttfb(url):
    """Median time to first byte of a single download, ms (and the
    size, to be sure it was the file)."""
    times = []
    for _ in range(TTFB_RUNS):
        out = subprocess.run(['curl', '-s', '-o', '/dev/null', '-w',
                              '%{http_code} %{time_starttransfer} '
                              '%{size_download}', url],
                             capture_output=True, text=True).stdout.split()
        assert out[0] == '200' and int(out[2]) == FILE_KB * 1024, out
        times.append(float(out[1]) * 1000)
        time.sleep(0.05)
    return statistics.median(times)


def measure(name, url, pids_of):
    """Load url from CLIENTS clients; CPU of pids_of() per GB, MB/s,
    peak PSS; then the single-download TTFB."""
    ttfb(url)                   # warm: connections, caches
    l0 = load()
    pids = pids_of()
    c0 = cpu_s(pids)
    peak = [0]
    stop = threading.Event()

    own = [0]

    def sample():
        while not stop.is_set():
            now = pids_of()
            peak[0] = max(peak[0], pss_kb(now))
            own[0] = max(own[0], pss_kb(now[:1]))
            time.sleep(0.5)
    t = threading.Thread(target=sample)
    t.start()
    perf = None
    if os.environ.get('BENCH_PERF') and name == 'tiktok-fcgi':
        # A profile of the load (perf from Debian's linux-perf).
        perf = subprocess.Popen(
            ['perf', 'record', '-q', '-g', '-o', os.environ['BENCH_PERF'],
             '-p', ','.join(str(p) for p in pids), '--', 'sleep',
             str(SECONDS)], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
    t0 = time.time()
    nbytes, reqs, errs = wrk(url, SECONDS)
    wall = time.time() - t0
    stop.set()
    t.join()
    if perf is not None:
        perf.wait()
    cpu = cpu_s(pids) - c0
    first = ttfb(url)
    res = {'name': name, 'cpu_per_gb': cpu / (nbytes / 1e9),
           'mb_s': nbytes / wall / 1e6, 'ttfb_ms': first,
           'pss_mb': peak[0] / 1024, 'own_pss_mb': own[0] / 1024,
           'requests': reqs, 'errors': errs,
           'ms_per_request': cpu * 1000 / max(reqs, 1),
           'cores': cpu / wall, 'load': '%s -> %s' % (l0, load())}
    print('%-18s %5.1f CPU s/GB  %6.0f MB/s  TTFB %5.1f ms  peak PSS '
          '%5.1f MB (main process %.1f)  (%d requests, %.1f ms CPU each, '
          '%d errors, %.2f cores, load %s)'
          % (name, res['cpu_per_gb'], res['mb_s'], first, res['pss_mb'],
             res['own_pss_mb'], reqs, res['ms_per_request'], errs,
             res['cores'], res['load']), flush=True)
    return res


def serverpy_token(payload, key):
    """A /stream link's data as serverpy makes it (its encryption.py:
    the JSON XORed with the key, URL-safe base64)."""
    raw = json.dumps(payload).encode()
    k = key.encode()
    return base64.urlsafe_b64encode(bytes(
        b ^ k[i % len(k)] for i, b in enumerate(raw))).decode()


def run_side():
    tmp = tempfile.mkdtemp(prefix='tiktok-fcgi-bench-')
    os.chmod(tmp, 0o755)
    procs, fakes = [], []
    try:
        cert, key, bundle = make_tls(tmp)
        docroot = os.path.join(tmp, 'docroot')
        os.mkdir(docroot)
        with open(os.path.join(docroot, 'clip.bin'), 'wb') as f:
            f.write(os.urandom(FILE_KB * 1024))
        cdn = Fake('fake_cdn.py', os.path.join(tmp, 'cdn.port'), docroot,
                   cert, key, log=os.devnull)
        fakes.append(cdn)
        proxy = Fake('fake_proxy.py', os.path.join(tmp, 'proxy.port'),
                     os.path.join(tmp, 'proxy.log'), log=os.devnull)
        fakes.append(proxy)
        cdn_url = 'https://127.0.0.1:%d' % cdn.port
        proxy_url = 'http://127.0.0.1:%d' % proxy.port
        print('side by side: %d clients, %d s, a %d KB file, CDN over TLS '
              '(bundle of %d KB), through an HTTP proxy; load %s'
              % (CLIENTS, SECONDS, FILE_KB, os.path.getsize(bundle) // 1024,
                 load()), flush=True)
        results = []

        def tunnels():
            return proxy_log(os.path.join(tmp, 'proxy.log')).count(
                'CONNECT ')

        # tiktok-fcgi, through the proxy; then straight to the CDN, as
        # nginx goes
        for name, via in (('tiktok-fcgi', proxy_url),
                          ('tiktok-fcgi direct', None)):
            env = {'FAKE_CDN': cdn_url, 'LOG_LEVEL': 'warn',
                   'CA_FILE': bundle}
            if via:
                env['OUTBOUND_PROXY'] = via
            with Stack(cdn=False, cdn_url=cdn_url, env=env) as s:
                r = s.tiktok('https://www.tiktok.com/@cdn_files_clip.bin/'
                             'video/1')
                link = r.json()['download_link']['no_watermark']
                n0 = tunnels()
                results.append(measure(
                    name, link,
                    lambda: tree(s.app.pid) + tree(s.nginx.pid)))
                if via:
                    print('%-18s %d proxy tunnels opened for %d requests'
                          % ('', tunnels() - n0,
                             results[-1]['requests'] + 2 * TTFB_RUNS))

        # The real helpers, idle (streams never touch them; the runs
        # above have the fake helper): what they add to tiktok-fcgi.
        if subprocess.run(['/usr/bin/python3', '-c', 'import yt_dlp'],
                          capture_output=True).returncode == 0:
            with Stack(helper='real', cdn=False, cdn_url=cdn_url, env={
                    'YTDLP_PYTHON': '/usr/bin/python3', 'LOG_LEVEL': 'warn',
                    'CA_FILE': bundle}) as s:
                # The helper parent and its idle helper.
                wait_for(lambda: len(tree(s.app.pid)) >= 3, 30,
                         'the helpers')
                time.sleep(2)
                helpers = [p for c in children_of(s.app.pid)
                           for p in tree(c)]
                print('%-18s idle real helpers (%d processes, Debian\'s '
                      'yt-dlp): PSS %.1f MB' % ('', len(helpers),
                                                pss_kb(helpers) / 1024),
                      flush=True)

        # serverpy
        sp = os.environ.get('SERVERPY_DIR')
        if sp and os.path.exists(os.path.join(sp, 'main.py')):
            port = free_port()
            env = dict(os.environ, ENCRYPTION_KEY='bench-key',
                       BASE_URL='http://127.0.0.1:%d' % port,
                       HTTPS_PROXY=proxy_url, https_proxy=proxy_url,
                       SSL_CERT_FILE=bundle, REDIS_HOST='127.0.0.1',
                       REDIS_PORT='1', TEMP_DIR=os.path.join(tmp, 'sp'),
                       PORT=str(port))
            for k in ('NO_PROXY', 'no_proxy', 'HTTP_PROXY', 'http_proxy'):
                env.pop(k, None)
            # Debian's FastAPI (0.92) predates lifespan= (0.93): serverpy's
            # own lifespan (its httpx client) is run at startup here.
            with open(os.path.join(tmp, 'serverpy_app.py'), 'w') as f:
                f.write('import sys\nsys.path.insert(0, %r)\n'
                        'import contextlib, main\n'
                        'stack = contextlib.AsyncExitStack()\n'
                        '@main.app.on_event("startup")\n'
                        'async def up():\n'
                        '    await stack.enter_async_context('
                        'main.lifespan(main.app))\n'
                        '@main.app.on_event("shutdown")\n'
                        'async def down():\n'
                        '    await stack.aclose()\n'
                        'app = main.app\n' % os.path.abspath(sp))
            p = subprocess.Popen(
                ['/usr/bin/python3', '-m', 'uvicorn', 'serverpy_app:app',
                 '--host', '127.0.0.1', '--port', str(port), '--log-level',
                 'warning'], cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=open(os.path.join(tmp, 'serverpy.log'), 'w'))
            procs.append(p)
            tok = serverpy_token({'url': cdn_url + '/files/clip.bin',
                                  'author': 'bench', 'type': 'video',
                                  'http_headers': {}}, 'bench-key')
            link = 'http://127.0.0.1:%d/stream?data=%s' % (port, tok)

            def up():
                if p.poll() is not None:
                    raise RuntimeError('serverpy exited: %s' % open(
                        os.path.join(tmp, 'serverpy.log')).read()[-2000:])
                try:
                    return subprocess.run(
                        ['curl', '-s', '-o', '/dev/null', '-w',
                         '%{http_code}', link], capture_output=True,
                        text=True).stdout == '200'
                except OSError:
                    return False
            wait_for(up, 60, 'serverpy', 0.5)
            n0 = tunnels()
            results.append(measure('serverpy', link, lambda: tree(p.pid)))
            assert tunnels() > n0, 'serverpy did not use the proxy'
            print('%-18s %d proxy tunnels opened for %d requests'
                  % ('', tunnels() - n0,
                     results[-1]['requests'] + 2 * TTFB_RUNS))
            p.send_signal(signal.SIGINT)
            p.wait(10)
        else:
            print('serverpy           skipped: set SERVERPY_DIR to a checkout\'s '
                  'serverpy/ folder', flush=True)

        # nginx proxy_pass, straight to the CDN: the floor
        port = free_port()
        ngx = nginx_http(tmp, 'floor', '''
upstream cdn { server 127.0.0.1:%d; keepalive 32; }
server { listen 127.0.0.1:%d;
  location /files/ {
    proxy_pass https://cdn;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_ssl_verify on;
    proxy_ssl_name localhost;
    proxy_ssl_trusted_certificate %s;
    proxy_ssl_session_reuse on;
  } }
''' % (cdn.port, port, bundle))
        procs.append(ngx)
        url = 'http://127.0.0.1:%d/files/clip.bin' % port
        wait_for(lambda: subprocess.run(
            ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', url],
            capture_output=True, text=True).stdout == '200', 20, 'nginx')
        results.append(measure('nginx', url, lambda: tree(ngx.pid)))
        ngx.send_signal(signal.SIGQUIT)
        ngx.wait(10)

        floor = results[-1]
        print('\n| | CPU s per GB | MB/s | TTFB, single download | peak PSS '
              '| load |\n|---|---|---|---|---|---|')
        for r in results:
            print('| %s | %.1f (%.1fx nginx) | %.0f | %.1f ms | %.1f MB | %s |'
                  % (r['name'], r['cpu_per_gb'], r['cpu_per_gb'] /
                     floor['cpu_per_gb'], r['mb_s'], r['ttfb_ms'],
                     r['pss_mb'], r['load']))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for f in fakes:
            f.stop()
        if os.environ.get('KEEP_TMP'):
            print('kept %s' % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def run_single_and_memory():
    MB = int(os.environ.get('MB', '1000'))
    tmp = tempfile.mkdtemp(prefix='tiktok-fcgi-bench-')
    big = os.path.join(tmp, 'big.bin')
    with open(big, 'wb') as f:
        chunk = os.urandom(1 << 20)
        for _ in range(MB):
            f.write(chunk)
    port = free_port()
    conf = os.path.join(tmp, 'cdn.conf')
    with open(conf, 'w') as f:
        f.write('''%s
worker_processes 1; daemon off; pid %s/cdn.pid; error_log %s/cdn.err;
events { worker_connections 1024; }
http { access_log off; sendfile on;
  server { listen 127.0.0.1:%d;
    location /files/ { alias %s/; } } }
''' % ('user root;' if os.geteuid() == 0 else '', tmp, tmp, port, tmp))
    cdn = subprocess.Popen([which('nginx', 'NGINX_BIN'), '-p', tmp, '-c',
                            conf, '-e', os.path.join(tmp, 'cdn.err')])
    time.sleep(0.5)
    cdn_url = 'http://127.0.0.1:%d' % port

    def curl_speed(url, extra=()):
        out = subprocess.run(['curl', '-s', '-o', '/dev/null', '-w',
                              '%{http_code} %{speed_download} '
                              '%{size_download}', *extra, url],
                             capture_output=True, text=True)
        code, speed, size = out.stdout.split()
        assert code == '200' and int(float(size)) == MB << 20, out.stdout
        return float(speed) / (1 << 20)

    try:
        with Stack(env={'FAKE_CDN': cdn_url, 'LOG_LEVEL': 'warn',
                        'FCGI_THREADS': '256'}) as s:
            r = s.tiktok('https://www.tiktok.com/@cdn_files_big.bin/video/1')
            link = r.json()['download_link']['no_watermark']
            if 'single' in SECTIONS:
                direct = max(curl_speed(cdn_url + '/files/big.bin')
                             for _ in range(3))
                ours = max(curl_speed(link) for _ in range(3))
                print('single stream, %d MB: direct from nginx %.0f MB/s, '
                      'through tiktok-fcgi %.0f MB/s, ratio %.2f'
                      % (MB, direct, ours, ours / direct))
            if 'memory' not in SECTIONS:
                return
            time.sleep(1)
            idle = rss_kb(s.app.pid)
            print('idle RSS %.1f MB' % (idle / 1024))
            for n in (1, 10, 100):
                clients = [subprocess.Popen(
                    ['curl', '-s', '-o', '/dev/null', '--limit-rate', '2M',
                     link]) for _ in range(n)]
                time.sleep(3)
                peak = 0
                for _ in range(10):
                    peak = max(peak, rss_kb(s.app.pid))
                    time.sleep(0.2)
                busy = s.health()['threads']['busy'] - 1
                for c in clients:
                    c.kill()
                    c.wait()
                print('%3d streams (%d in flight): RSS %.1f MB, %.0f KB '
                      'more per stream' % (n, busy, peak / 1024,
                                           (peak - idle) / max(n, 1)))
                time.sleep(2)
    finally:
        cdn.terminate()
        cdn.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    if 'side' in SECTIONS:
        if not which('wrk'):
            sys.exit('side by side needs wrk (apt-get install wrk)')
        run_side()
    if 'single' in SECTIONS or 'memory' in SECTIONS:
        run_single_and_memory()
