#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""What the shipped files keep from the public, and the log's rotation.

1. deploy/nginx/tiktok-fcgi-locations.conf, the client's address taken
   from a header (nginx's realip, set up by the test around the shipped
   file, so that loopback can play a public and a private client):
   /metrics (also under a prefix) is 403 to a public address and
   answered to a private one; /health answers both, and names the egress
   proxies' addresses only to the private one; the access log starts
   with each client's address.
2. deploy/logrotate/tiktok-fcgi: its LOG_FILE and PID_FILE are those its
   header tells to set; its postrotate script, run as logrotate runs it
   after moving the log aside, makes tiktok-fcgi (SIGUSR1, found by
   PID_FILE) reopen LOG_FILE: later lines go to the new file, none to the
   old one, and the helpers are not replaced.  With logrotate installed
   (not a dependency of the suite) logrotate itself runs the file.
"""

import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (TOP_SRCDIR, check, done, free_port, skip_part,  # noqa
                     wait_for, which, within)
from probes import descendants  # noqa: E402
from stack import Stack  # noqa: E402
from webservers import nginx_http  # noqa: E402

PROXY = 'http://10.9.8.7:3128'
PUBLIC, PRIVATE = '93.184.216.34', '10.1.2.3'  # no traffic: a header

with Stack(nginx=False, env={'OUTBOUND_PROXY': PROXY}) as s:
    port = free_port()
    ngx = nginx_http(s.tmp, 'front', '''
upstream tiktok_fcgi { server unix:%s; }
server {
	listen 127.0.0.1:%d;
	set_real_ip_from 127.0.0.1;
	real_ip_header X-Test-Client;
	include %s;
}''' % (s.sock, port, os.path.join(TOP_SRCDIR, 'deploy', 'nginx',
                                   'tiktok-fcgi-locations.conf')))
    s.procs.append(ngx)
    s.port = port

    def get(path, who):
        return s.get(path, headers={'X-Test-Client': who}, timeout=10)

    def up():
        if ngx.poll() is not None:
            raise RuntimeError('nginx exited')
        try:
            return get('/health', PRIVATE).status == 200
        except OSError:
            return False
    wait_for(up, 20, 'nginx with the shipped locations')

    for path in ('/metrics', '/api/metrics'):
        r = get(path, PUBLIC)
        check(r.status == 403, '%s from a public address: 403 (%d)'
              % (path, r.status))
    r = get('/metrics', PRIVATE)
    check(r.status == 200 and b'tiktok_fcgi_requests_total' in r.body,
          '/metrics from a private address: answered (%d)' % r.status)
    r = get('/health', PUBLIC)
    eg = r.json()['egress'] if r.status == 200 else None
    check(eg is not None and len(eg) == 1 and 'proxy' not in eg[0] and
          b'10.9.8.7' not in r.body,
          '/health to a public client: the egress without its proxy (%s)'
          % eg)
    r = get('/health', PRIVATE)
    eg = r.json()['egress'] if r.status == 200 else None
    check(eg is not None and len(eg) == 1 and eg[0].get('proxy') == PROXY,
          '/health to a private client: its proxy named (%s)' % eg)
    def access():
        return [ln.split('access: ', 1)[1] for ln in s.log().splitlines()
                if ' access: ' in ln]

    def both(lines):
        return (any(ln.startswith(PUBLIC + ' GET /health 200')
                    for ln in lines) and
                any(ln.startswith(PRIVATE + ' GET /metrics 200')
                    for ln in lines))
    # A request's access line is written once its answer is sent.
    within(lambda: both(access()), 10)
    lines = access()
    check(both(lines),
          'the access log starts with each client\'s address (%s)'
          % lines[-2:])
    ngx.terminate()
    ngx.wait()

# -- 2. logrotate ---------------------------------------------------------

rot = open(os.path.join(TOP_SRCDIR, 'deploy', 'logrotate',
                        'tiktok-fcgi')).read()
want_log = re.search(r'LOG_FILE=(\S+)', rot).group(1)
want_pid = re.search(r'PID_FILE=(\S+)', rot).group(1)
check(re.search(r'(?m)^%s \{' % re.escape(want_log), rot) and
      'pid=%s' % want_pid in rot,
      'the logrotate file rotates the LOG_FILE and signals the PID_FILE '
      'its header names (%s, %s)' % (want_log, want_pid))
s = Stack(nginx=False, cdn=False, foreground=False)
log = os.path.join(s.tmp, 'log', 'tiktok-fcgi.log')
pid = os.path.join(s.tmp, 'run', 'tiktok-fcgi.pid')
os.mkdir(os.path.dirname(log))
os.mkdir(os.path.dirname(pid))
s.extra_env.update({'LOG_FILE': log, 'PID_FILE': pid})
with s:
    wait_for(lambda: os.path.exists(pid) and
             open(pid).read().strip() == str(s.app.pid), 10,
             'PID_FILE to name the service')
    # The helper parent and the helper it forked.
    wait_for(lambda: len(descendants(s.app.pid)) >= 2, 20, 'the helpers')
    helpers = sorted(descendants(s.app.pid))
    mine = rot.replace(want_log, log).replace(want_pid, pid)
    script = re.search(r'(?s)postrotate\n(.*?)\n\s*endscript',
                       mine).group(1)
    os.rename(log, log + '.1')
    r = subprocess.run(['sh', '-c', script])
    check(r.returncode == 0, 'the postrotate script runs (%d)'
          % r.returncode)
    wait_for(lambda: os.path.exists(log) and 'SIGUSR1' in open(log).read(),
             10, 'LOG_FILE reopened')
    check(sorted(descendants(s.app.pid)) == helpers,
          'SIGUSR1 reopens the log only: the helpers stay')
    os.kill(s.app.pid, signal.SIGHUP)
    wait_for(lambda: 'SIGHUP' in open(log).read(), 10, 'a later line')
    old = open(log + '.1').read()
    check('main: ready' in old and 'SIGUSR1' not in old and
          'SIGHUP' not in old,
          'later lines in the new LOG_FILE, none in the rotated one')
    lr = which('logrotate')
    if lr is None:
        skip_part('logrotate running the file: logrotate is not installed '
                  '(not a dependency of the suite)', expected=True)
    else:
        conf = os.path.join(s.tmp, 'logrotate.conf')
        with open(conf, 'w') as f:
            f.write(mine)
        os.chmod(conf, 0o644)
        r = subprocess.run([lr, '-f', '-s', os.path.join(s.tmp, 'lr.state'),
                            conf], capture_output=True, text=True)
        check(r.returncode == 0 and within(
            lambda: 'SIGUSR1' in open(log).read(), 10),
              'logrotate -f runs the shipped file (%s)'
              % (r.stderr.strip() or 'ok'))
    s.stop_app()
    check(not os.path.exists(pid), 'PID_FILE removed at the stop')
done()
