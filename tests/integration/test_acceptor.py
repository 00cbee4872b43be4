#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The acceptor (fcgi/acceptor.c) and the FastCGI it speaks.

1. CPU beside half-sent requests: a few connections hold part of a
   request (a whole BEGIN_REQUEST and nothing more; part of a PARAMS);
   the app's CPU time (/proc/PID/stat, utime + stime) over 3 seconds must
   stay near zero.  A behavioural bound, not a benchmark: an acceptor
   woken again and again by what is already there burns most of a core
   (2.5 s and more of the 3 s), an idle one a few hundredths.
2. FCGI_GET_VALUES is answered (FCGI_MAX_CONNS, FCGI_MAX_REQS,
   FCGI_MPXS_CONNS=0); a request in a role other than RESPONDER gets
   END_REQUEST with FCGI_UNKNOWN_ROLE; a request with FCGI_KEEP_CONN is
   answered and its connection closed (not left open); a request that
   parked (a cache miss) ends in the records libfcgi would send.
3. The access log filters what the client controls (method, path).
4. Over TCP through nginx (the fleet layout), bodies larger than a socket
   holds: over BODY_MAX 413 at once (not 502 after READ_TIMEOUT), under
   it 200.
5. -s PATH: the socket file is removed at SIGTERM, and when the start
   fails after binding it.
"""

import json
import os
import pwd
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BINARY, FAKES, check, done, free_port,  # noqa
                     wait_for)
from stack import Stack  # noqa: E402
from webservers import nginx_http  # noqa: E402

TT = 'https://www.tiktok.com/@ok/video/%d'
TICK = os.sysconf('SC_CLK_TCK')


def rec(t, content, rid=1):
    return struct.pack('>BBHHBx', 1, t, rid, len(content), 0) + content


def nv(k, v):
    k, v = k.encode(), v.encode() if isinstance(v, str) else v
    return bytes([len(k)]) + bytes([len(v)]) + k + v


def begin(role=1, flags=0, rid=1):
    return rec(1, struct.pack('>HB5x', role, flags), rid)


def records(s, timeout=10):
    """Every record the peer sends until it closes: [(type, id, body)]."""
    s.settimeout(timeout)
    data = b''
    while True:
        try:
            chunk = s.recv(65536)
        except OSError:     # a timeout, or a reset
            return None
        if not chunk:
            break
        data += chunk
    out = []
    while len(data) >= 8:
        _, t, rid, cl, pl = struct.unpack('>BBHHBx', data[:8])
        out.append((t, rid, data[8:8 + cl]))
        data = data[8 + cl + pl:]
    return out


def cpu_s(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(') ', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


with Stack() as s:
    # The start settled: the helper parent has forked the idle helper.
    wait_for(lambda: s.health()['pool']['helpers'] >= 1, 30, 'a helper')
    # 1. Half-sent requests.
    held = []
    for part in (begin(), begin() + rec(4, nv('REQUEST_METHOD', 'GET'))):
        c = socket.socket(socket.AF_UNIX)
        c.connect(s.sock)
        c.sendall(part)
        held.append(c)
    time.sleep(0.5)         # whatever the start still does, done
    c0 = cpu_s(s.app.pid)
    time.sleep(3)
    used = cpu_s(s.app.pid) - c0
    check(used < 0.6, 'CPU beside 2 half-sent requests: %.2f s in 3 s '
          '(a spinning acceptor burns most of it)' % used)
    r = s.get('/health', timeout=10)
    check(r.status == 200, 'and requests are served meanwhile')
    for c in held:
        c.close()

    # 2. GET_VALUES, roles, FCGI_KEEP_CONN.
    c = socket.socket(socket.AF_UNIX)
    c.connect(s.sock)
    c.sendall(rec(9, nv('FCGI_MAX_CONNS', '') + nv('FCGI_MAX_REQS', '') +
                  nv('FCGI_MPXS_CONNS', '') + nv('SOMETHING_ELSE', ''), 0))
    c.shutdown(socket.SHUT_WR)
    got = records(c) or []
    c.close()
    vals = {}
    for t, rid, body in got:
        if t == 10 and rid == 0:
            i = 0
            while i < len(body):
                nl, vl = body[i], body[i + 1]
                vals[body[i + 2:i + 2 + nl].decode()] = \
                    body[i + 2 + nl:i + 2 + nl + vl].decode()
                i += 2 + nl + vl
    check(vals.get('FCGI_MPXS_CONNS') == '0' and
          int(vals.get('FCGI_MAX_CONNS', '0')) > 0 and
          int(vals.get('FCGI_MAX_REQS', '0')) > 0 and
          'SOMETHING_ELSE' not in vals,
          'FCGI_GET_VALUES answered (%s)' % vals)
    for role in (2, 3, 99):
        c = socket.socket(socket.AF_UNIX)
        c.connect(s.sock)
        c.sendall(begin(role=role) + rec(4, nv('REQUEST_METHOD', 'GET') +
                                         nv('REQUEST_URI', '/health')) +
                  rec(4, b'') + rec(5, b''))
        got = records(c)
        c.close()
        check(got is not None and len(got) == 1 and got[0][0] == 3 and
              got[0][1] == 1 and got[0][2][4] == 3,
              'role %d: END_REQUEST with FCGI_UNKNOWN_ROLE (%s)'
              % (role, got))
    c = socket.socket(socket.AF_UNIX)
    c.connect(s.sock)
    c.sendall(begin(flags=1) + rec(4, nv('REQUEST_METHOD', 'GET') +
                                   nv('REQUEST_URI', '/health')) +
              rec(4, b'') + rec(5, b''))
    got = records(c)
    c.close()
    check(got is not None and got[-1][0] == 3 and
          any(t == 6 and b'Status: 200' in b for t, _, b in got),
          'FCGI_KEEP_CONN: answered, then the connection closed')

    # A request that parks (a cache miss waits for its extraction) gave
    # back libfcgi's streams: its answer is records of the front's own,
    # and must end as libfcgi ends one.  Request id 7, with and without
    # FCGI_KEEP_CONN, a post of its own each.
    for n, flags in ((7100000000000000011, 0), (7100000000000000012, 1)):
        body = json.dumps({'url': TT % n}).encode()
        c = socket.socket(socket.AF_UNIX)
        c.connect(s.sock)
        c.sendall(begin(flags=flags, rid=7) + rec(4, nv(
            'REQUEST_METHOD', 'POST') + nv('REQUEST_URI', '/tiktok') +
            nv('CONTENT_TYPE', 'application/json') +
            nv('CONTENT_LENGTH', str(len(body))), 7) + rec(4, b'', 7) +
            rec(5, body, 7) + rec(5, b'', 7))
        got = records(c, 30) or []
        c.close()
        out = b''.join(b for t, _, b in got if t == 6)
        head, _, text = out.partition(b'\r\n\r\n')
        try:
            answer = json.loads(text)
        except ValueError:
            answer = {}
        kinds = [(t, rid, len(b)) for t, rid, b in got]
        check(len(got) >= 3 and all(rid == 7 for _, rid, _ in got) and
              got[-2][0] == 6 and got[-2][2] == b'' and
              got[-1][0] == 3 and got[-1][2] == b'\0' * 8 and
              all(t == 6 for t, _, _ in got[:-1]) and
              b'Status: 200' in head and isinstance(answer, dict) and
              answer.get('status') == 'tunnel' and
              'no_watermark' in answer.get('download_link', {}),
              'a parked POST /tiktok (flags %d): STDOUT with its answer, '
              'an empty STDOUT, END_REQUEST complete, then closed (%s)'
              % (flags, kinds))

    # 3. The access log.
    c = socket.socket(socket.AF_UNIX)
    c.connect(s.sock)
    c.sendall(begin() + rec(4, nv('REQUEST_METHOD', 'GET\nforged: line') +
                            nv('REQUEST_URI', '/x\x1b[2J\nINJECTED')) +
              rec(4, b'') + rec(5, b''))
    got = records(c)
    c.close()
    log = s.log()
    check(got is not None and 'INJECTED' in log and
          not any(l.startswith('INJECTED') or l.startswith('forged')
                  for l in log.splitlines()) and '\x1b' not in log,
          'the access log filters method and path (no forged line, no '
          'escape)')

# 4. TCP through nginx, bodies larger than a socket holds.
port = free_port()
with Stack(nginx=False, bind=('127.0.0.1', port),
           env={'BODY_MAX': '300000'}) as s:
    lport = free_port()
    locations = os.path.join(os.environ.get('TOP_SRCDIR', '.'), 'deploy',
                             'nginx', 'tiktok-fcgi-locations.conf')
    # The shipped locations as they are: nginx answers bodies over their
    # client_max_body_size (1m) itself; under it the app decides.
    ngx = nginx_http(s.tmp, 'tcp', 'upstream tiktok_fcgi { server '
                     '127.0.0.1:%d; }\nserver { listen 127.0.0.1:%d; '
                     'include %s; }'
                     % (port, lport, os.path.abspath(locations)))
    s.procs.append(ngx)
    s.port = lport
    s.base = 'http://127.0.0.1:%d' % lport
    s.nginx = None
    def up():
        try:
            return s.get('/health', timeout=2).status == 200
        except OSError:
            return False
    wait_for(up, 20, 'nginx over TCP')
    for size, want in ((400000, 413), (250000, 200), (900000, 413),
                       (2000000, 413)):
        body = json.dumps({'url': TT % 7100000000000000001,
                           'pad': 'x' * size})
        t0 = time.time()
        try:
            r = s.request('POST', '/tiktok', body=body, timeout=15,
                          headers={'Content-Type': 'application/json'})
            # Under nginx's limit, the app's own answer (JSON).
            st = r.status if size > 1000000 or \
                (r.header('Content-Type') or '').startswith(
                    'application/json') else \
                '%d from nginx' % r.status
        except OSError as e:
            st = str(e)
        check(st == want, 'over TCP, a %d KB body (BODY_MAX 300000): %s in '
              '%.1f s (want %d)' % (size // 1000, st, time.time() - t0,
                                    want))

# 5. -s PATH: the socket file goes with the process.
tmp = tempfile.mkdtemp(prefix='tiktok-fcgi-sock-')
os.chmod(tmp, 0o755)
sock = os.path.join(tmp, 'app.sock')
env = dict(os.environ, ENCRYPTION_KEY='a key for this test only',
           YTDLP_PYTHON=sys.executable, TEMP_DIR=os.path.join(tmp, 'work'),
           HELPER_SCRIPT=os.path.join(FAKES, 'fake_helper.py'),
           FAKE_FIXTURES=os.path.join(os.environ.get('TOP_SRCDIR', '.'),
                                      'tests', 'fixtures'))
log = open(os.path.join(tmp, 'app.log'), 'wb')
p = subprocess.Popen([BINARY, '-f', '-s', sock], env=env, stdout=log,
                     stderr=log, stdin=subprocess.DEVNULL)
wait_for(lambda: os.path.exists(sock) or p.poll() is not None, 20,
         'the socket')
p.send_signal(signal.SIGTERM)
p.wait(30)
check(p.returncode == 0 and not os.path.exists(sock),
      '-s: the socket file is removed at SIGTERM (%s)' % p.returncode)
if os.geteuid() == 0:
    # A TEMP_DIR of another user fails the start after the socket is
    # bound.
    work = os.path.join(tmp, 'theirs')
    os.mkdir(work, 0o700)
    os.chown(work, pwd.getpwnam('nobody').pw_uid, -1)
    p = subprocess.run([BINARY, '-f', '-s', sock], env=dict(
        env, TEMP_DIR=work), capture_output=True, timeout=60)
    check(p.returncode != 0 and b'TEMP_DIR' in p.stderr and
          not os.path.exists(sock),
          '-s: a start that fails after binding leaves no socket file '
          '(%s)' % p.stderr.decode(errors='replace').strip()[-80:])
else:
    print('# SKIP the failed-start part: making a folder of another user '
          'needs root')
subprocess.run(['rm', '-rf', tmp])
done()
