#!/usr/bin/env python3
"""deploy/nginx/nginx-fleet.conf: one nginx in front of two tiktok-fcgi
instances on two loopback addresses (127.0.0.2 and 127.0.0.3, TCP
FastCGI), sharing ENCRYPTION_KEY.  Clients post and download without
pause; one instance is stopped (SIGTERM) mid-run; every request must
still succeed, and links made by one instance open on the other.
"""

import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (TOP_SRCDIR, Stack, check, done, free_port,  # noqa
                     skip, wait_for, which)

NGINX = which('nginx', 'NGINX_BIN')
if NGINX is None:
    skip('nginx is not installed')
TT = 'https://www.tiktok.com/@cdn_gen_20000/video/%d'

port_a, port_b = free_port('127.0.0.2'), free_port('127.0.0.3')
env = {'ENCRYPTION_KEY': 'one key for the whole fleet', 'HELPERS': '1'}
a = Stack(nginx=False, bind=('127.0.0.2', port_a), env=env)
a.__enter__()
b = Stack(nginx=False, cdn=False, cdn_url=a.cdn_url,
          bind=('127.0.0.3', port_b), env=env)
b.__enter__()

# The fleet config, with its upstream servers and listen address
# replaced by this test's.
conf = open(os.path.join(TOP_SRCDIR, 'deploy', 'nginx',
                         'nginx-fleet.conf')).read()
conf = re.sub(r'(upstream tiktok_fcgi_fleet \{)[^}]*\}',
              r'\1\n\tserver 127.0.0.2:%d max_fails=2 fail_timeout=10s;\n'
              r'\tserver 127.0.0.3:%d max_fails=2 fail_timeout=10s;\n}'
              % (port_a, port_b), conf)
lport = free_port()
conf = conf.replace('listen 80;', 'listen 127.0.0.1:%d;' % lport)
tmp = a.tmp
with open(os.path.join(tmp, 'fleet.conf'), 'w') as f:
    f.write('%s\nworker_processes 1; daemon off; pid %s/fleet.pid;\n'
            'error_log %s/fleet-error.log;\nevents { worker_connections 1024; }'
            '\nhttp { access_log off; client_body_temp_path %s/cb;\n'
            'fastcgi_temp_path %s/fc;\n%s\n}\n'
            % ('user root;' if os.geteuid() == 0 else '', tmp, tmp, tmp,
               tmp, conf))
ngx = subprocess.Popen([NGINX, '-p', tmp, '-c', os.path.join(tmp,
                        'fleet.conf'), '-e', os.path.join(tmp, 'fleet.err')],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
a.procs.append(ngx)     # stopped with the stack, whatever happens
a.port = lport          # requests through the fleet's nginx
a.base = 'http://127.0.0.1:%d' % lport


def up():
    try:
        return a.get('/health', timeout=2).status == 200
    except OSError:
        return False


wait_for(up, 20, 'the fleet to answer')

results = []
stop = threading.Event()
lock = threading.Lock()


def client(k):
    i = 0
    while not stop.is_set():
        i += 1
        try:
            r = a.tiktok(TT % (9000000 + k * 100000 + i), timeout=30)
            ok = r.status == 200
            if ok:
                r2 = a.get(a.local(r.json()['download_link']
                                   ['no_watermark']), timeout=30)
                ok = r2.status == 200 and len(r2.body) == 20000
            with lock:
                results.append((ok, r.status))
        except OSError as e:
            with lock:
                results.append((False, str(e)))


threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
for t in threads:
    t.start()
# Requests flowing (however busy the machine), then one instance is
# stopped mid-run, then requests flow on.
wait_for(lambda: len(results) >= 40, 120, 'requests to flow')
before = len(results)
b.stop_app()            # SIGTERM one instance mid-run
wait_for(lambda: len(results) >= before + 40, 120,
         'requests to flow after the stop')
stop.set()
for t in threads:
    t.join()
fails = [r for r in results if not r[0]]
check(before >= 40 and len(results) >= before + 40,
      'requests flowed before and after the stop (%d, %d)'
      % (before, len(results)))
check(fails == [], 'one instance stopped mid-run: all %d requests '
      'succeeded %s' % (len(results), fails[:5]))
check(len(a.extractions()) > 0 and len(b.extractions()) > 0,
      'both instances served (%d, %d extractions)'
      % (len(a.extractions()), len(b.extractions())))

ngx.terminate()
ngx.wait()
b.__exit__(None, None, None)
a.__exit__(None, None, None)
done()
