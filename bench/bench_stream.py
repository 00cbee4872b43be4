#!/usr/bin/env python3
"""Benchmark GET /stream: a static nginx plays the CDN, so that the
numbers are tiktok-fcgi's and not a Python stand-in's.

    python3 bench/bench_stream.py [size in MB]

1. Single-stream throughput of a file through nginx -> tiktok-fcgi ->
   CDN-nginx, against the CDN-nginx serving the same file directly
   (curl to /dev/null, best of 3), and the ratio.
2. tiktok-fcgi's RSS with 1, 10 and 100 concurrent streams held open by
   clients reading at 2 MB/s, minus its idle RSS, per stream.
"""

import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
os.environ.setdefault('TOP_SRCDIR', TOP)
os.environ.setdefault('TOP_BUILDDIR', TOP)
sys.path.insert(0, os.path.join(TOP, 'tests', 'integration'))
from harness import Stack, free_port, rss_kb, which  # noqa

MB = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
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
cdn = subprocess.Popen([which('nginx', 'NGINX_BIN'), '-p', tmp, '-c', conf,
                        '-e', os.path.join(tmp, 'cdn.err')])
time.sleep(0.5)
cdn_url = 'http://127.0.0.1:%d' % port


def curl_speed(url, extra=()):
    out = subprocess.run(['curl', '-s', '-o', '/dev/null', '-w',
                          '%{http_code} %{speed_download} %{size_download}',
                          *extra, url], capture_output=True, text=True)
    code, speed, size = out.stdout.split()
    assert code == '200' and int(float(size)) == MB << 20, out.stdout
    return float(speed) / (1 << 20)


try:
    with Stack(env={'FAKE_CDN': cdn_url, 'LOG_LEVEL': 'warn',
                    'FCGI_THREADS': '256'}) as s:
        r = s.tiktok('https://www.tiktok.com/@cdn_files_big.bin/video/1')
        link = r.json()['download_link']['no_watermark']
        direct = max(curl_speed(cdn_url + '/files/big.bin')
                     for _ in range(3))
        ours = max(curl_speed(link) for _ in range(3))
        print('single stream, %d MB: direct from nginx %.0f MB/s, through '
              'tiktok-fcgi %.0f MB/s, ratio %.2f'
              % (MB, direct, ours, ours / direct))
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
            print('%3d streams (%d in flight): RSS %.1f MB, %.0f KB more '
                  'per stream' % (n, busy, peak / 1024,
                                  (peak - idle) / max(n, 1)))
            time.sleep(2)
finally:
    cdn.terminate()
    cdn.wait()
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)
