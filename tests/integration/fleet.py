# SPDX-License-Identifier: ISC
"""The fleet: two instances sharing one configuration file behind one
nginx, as deploy/ describes it; and the load the fleet tests put on a
stack (a post and its download, posts all at once).  Python stdlib only.
"""

import os
import re
import threading

from harness import TOP_SRCDIR, free_port, wait_for
from stack import Stack
from webservers import nginx_http


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
