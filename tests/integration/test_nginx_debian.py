#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The README's nginx site inside Debian's own nginx layout: the stock
nginx.conf and default site (which holds "listen 80 default_server") as
the package installs them, deploy/nginx/tiktok-fcgi-site.conf in
sites-enabled and the locations in snippets.  Requests for the site's
server_name reach the API, links carry that name, media streams; other
names still go to Debian's default site (what the README warns about).
deploy/nginx/nginx-migration.conf then goes in conf.d beside the site,
as the README says (the site renamed): nginx -t passes, with no warning.
"""

import os
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TOP_SRCDIR, check, done, free_port  # noqa: E402
from stack import Stack  # noqa: E402

HOST = 'dl.example.com'

with Stack(web='nginx-debian', host=HOST) as s:
    r = s.get('/health')
    check(r.status == 200 and r.json()['status'] == 'ok',
          'Host %s: /health answered by tiktok-fcgi' % HOST)
    r = s.tiktok('https://www.tiktok.com/@cdn_gen_5000/video/1')
    check(r.status == 200, 'POST /tiktok through the site: %d' % r.status)
    link = r.json()['download_link']['no_watermark']
    check(link.startswith('http://%s/stream?data=' % HOST),
          'links carry the Host the client asked for: %s' % link[:60])
    u = urllib.parse.urlsplit(link)
    r = s.get(u.path + '?' + u.query)
    check(r.status == 200 and len(r.body) == 5000 and
          r.header('content-length') == '5000',
          '/stream through the site: %d, %d bytes'
          % (r.status, len(r.body)))
    # The default site keeps every other name, as the README says.
    r = s.get('/health', headers={'Host': '127.0.0.1'})
    check(r.status == 404 and b'"status"' not in r.body,
          'another Host goes to Debian\'s default site (%d)' % r.status)

    # The migration's balancer beside the site: one upstream tiktok_fcgi
    # (the site's), the public name moved to the balancer.
    etc = os.path.join(s.tmp, 'etc-nginx')
    site = os.path.join(etc, 'sites-available', 'tiktok-fcgi')
    text = open(site).read()
    with open(site, 'w') as f:
        f.write(text.replace('server_name %s;' % HOST,
                             'server_name tiktok.internal;'))
    mig = open(os.path.join(TOP_SRCDIR, 'deploy', 'nginx',
                            'nginx-migration.conf')).read()
    for old, new in (('listen 80;', 'listen 127.0.0.1:%d;' % free_port()),
                     ('127.0.0.1:8081', '127.0.0.1:%d' % free_port()),
                     ('/etc/nginx/', etc + '/')):
        check(old in mig, 'nginx-migration.conf has %s' % old)
        mig = mig.replace(old, new)
    with open(os.path.join(etc, 'conf.d', 'tiktok-fcgi-migration.conf'),
              'w') as f:
        f.write(mig)
    r = subprocess.run([s.web_bin, '-t', '-c', os.path.join(etc, 'nginx.conf'),
                        '-e', os.path.join(s.tmp, 'nginx-t.log')],
                       capture_output=True, text=True)
    out = r.stdout + r.stderr
    check(r.returncode == 0 and '[emerg]' not in out and '[warn]' not in out,
          'nginx-migration.conf beside the site: nginx -t passes, no '
          'warning (%s)' % out.strip()[-200:])
done()
