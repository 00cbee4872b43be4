#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The front against peers that stall, readers that stop, clients that
leave, and a stop past its deadline.  Each check is about what the
service does (answers, closes, frees, reaps), never about how fast:

  - FastCGI peers that send 4 bytes and stall, over a unix socket and
    over TCP: other requests are answered meanwhile, and the stalled
    connections are closed after READ_TIMEOUT;
  - clients that start a large stream and never read: /health and POST
    /tiktok are answered meanwhile, and after SEND_TIMEOUT their threads
    and CDN connections are let go;
  - clients that leave while the CDN says nothing: their threads and CDN
    connections are let go long before DOWNLOAD_TIMEOUT;
  - many POSTs parked on slow extractions with only two slow threads:
    all answered, one extraction per post;
  - SIGTERM past SHUTDOWN_TIMEOUT with a render running: exit 0, ffmpeg
    killed and reaped, no render folder left.
"""

import os
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FAKES, check, done, free_port, skip_part,  # noqa
                     wait_for, within)
from fcgi_client import fcgi_get  # noqa: E402
from probes import all_dead, children_of, nfds, tcp_conns  # noqa: E402
from stack import Stack, ffmpeg_pids  # noqa: E402

TT = 'https://www.tiktok.com/@%s/video/%s'


def stall_peers(connect, n):
    """n FastCGI connections that send 4 bytes of a record and stop."""
    peers = []
    for _ in range(n):
        c = connect()
        c.sendall(b'\x01\x01\x00')      # a BEGIN_REQUEST header, cut
        c.sendall(b'\x01')
        peers.append(c)
    return peers


def closed_by_app(c, timeout):
    c.settimeout(timeout)
    try:
        return c.recv(1) == b''
    except socket.timeout:
        return False
    except OSError:
        return True


def check_stalled(s, connect, how):
    wait_for(lambda: fcgi_get('/health', connect()).startswith(
        'Status: 200'), 30, 'the helpers')
    peers = stall_peers(connect, 20)
    ans = fcgi_get('/health', connect())
    check(ans.startswith('Status: 200'), '%s: 20 stalled peers, /health '
          'still answers (%r)' % (how, ans[:40]))
    if s.use_nginx:
        r = s.tiktok(TT % ('ok', '7300000000000000011'), timeout=10)
        check(r.status == 200, '%s: and POST /tiktok' % how)
    closed = sum(closed_by_app(c, 10) for c in peers)
    check(closed == 20, '%s: the stalled connections are closed after '
          'READ_TIMEOUT (%d of 20)' % (how, closed))
    for c in peers:
        c.close()


ENV = {'READ_TIMEOUT': '2', 'SEND_TIMEOUT': '2', 'FCGI_THREADS': '8',
       'DOWNLOAD_TIMEOUT': '60'}

# Stalled peers on the unix socket.
with Stack(env=ENV) as s:
    def unix():
        c = socket.socket(socket.AF_UNIX)
        c.connect(s.sock)
        return c
    check_stalled(s, unix, 'unix socket')

    # Readers that never read: 30 streams of 64 MB, more than the 8 slow
    # threads; the fast work goes on, and SEND_TIMEOUT frees them all.
    r = s.tiktok(TT % ('cdn_gen_67108864', '7300000000000000012'))
    link = s.local(r.json()['download_link']['no_watermark'])
    base_fds = nfds(s.app.pid)
    cdn_port = int(s.cdn_url.rsplit(':', 1)[1])
    base_cdn = tcp_conns(s.app.pid, cdn_port)
    stuck = []
    for _ in range(30):
        c = socket.create_connection(('127.0.0.1', s.port))
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.sendall(('GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
                   % link).encode())
        stuck.append(c)
    wait_for(lambda: s.health()['threads']['busy'] >= 8, 20,
             'the slow threads to fill with stalled streams')
    r = s.get('/health', timeout=10)
    check(r.status == 200, 'non-reading stream clients: /health answers')
    r = s.tiktok(TT % ('ok', '7300000000000000013'), timeout=10)
    check(r.status == 200, 'non-reading stream clients: POST /tiktok '
          'answers')
    check(within(lambda: s.health()['threads']['busy'] <= 1, 60),
          'after SEND_TIMEOUT no thread holds a stalled stream')
    for c in stuck:
        c.close()
    # Kept CDN handles (one per slow thread at most) hold libcurl's
    # wake-up pair each; the cut streams' connections are closed.
    check(within(lambda: tcp_conns(s.app.pid, cdn_port) <= base_cdn, 20),
          'the cut streams\' CDN connections are closed (%d -> %d)'
          % (base_cdn, tcp_conns(s.app.pid, cdn_port)))
    wait_for(lambda: nfds(s.app.pid) <= base_fds + 2 + 2 * 8, 20,
             'descriptors back to the baseline')
    check('writing to the client' in s.log() or 'client went away' in
          s.log(), 'the cut streams are logged')

    # Clients that leave while the CDN says nothing (DOWNLOAD_TIMEOUT is
    # 60 s): their transfers end within seconds.
    r = s.tiktok(TT % ('cdn_stallhead', '7300000000000000014'))
    link = s.local(r.json()['download_link']['no_watermark'])
    base_fds = nfds(s.app.pid)
    leaving = []
    for _ in range(20):
        c = socket.create_connection(('127.0.0.1', s.port))
        c.sendall(('GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
                   % link).encode())
        leaving.append(c)
    wait_for(lambda: nfds(s.app.pid) >= base_fds + 20, 20,
             'the 20 CDN transfers to start')
    t0 = time.time()
    for c in leaving:
        c.close()
    wait_for(lambda: nfds(s.app.pid) <= base_fds + 2 and
             s.health()['threads']['busy'] <= 1, 30,
             'the departed clients to be noticed')
    check(time.time() - t0 < 60, 'clients that left while the CDN was '
          'silent are let go before DOWNLOAD_TIMEOUT (%.1f s)'
          % (time.time() - t0))

    # Parked: 300 POSTs over 3 slow posts, two slow threads, no wait.
    n0 = len(s.extractions())
    with ThreadPoolExecutor(300) as ex:
        res = list(ex.map(lambda i: s.tiktok(
            TT % ('slow1500', '73000000000000009%02d' % (i % 3)),
            timeout=60), range(300)))
    check(all(r.status == 200 for r in res), '300 parked POSTs: all 200 '
          '(%s)' % sorted(set(r.status for r in res)))
    got = s.extractions()[n0:]
    check(len(got) == 3, '300 parked POSTs over 3 posts: 3 extractions '
          '(%d)' % len(got))

# Stalled peers over TCP, as fleets deploy it.
port = free_port()
with Stack(env=ENV, bind=('127.0.0.1', port), nginx=False) as s:
    check_stalled(s, lambda: socket.create_connection(('127.0.0.1', port)),
                  'TCP')

# A stop past SHUTDOWN_TIMEOUT with a render running.
import tempfile  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
FFMPEG = shutil.which('ffmpeg')
if FFMPEG:
    d = tempfile.mkdtemp(prefix='tiktok-fcgi-peers-')
    for i in (1, 2, 3):
        subprocess.run([FFMPEG, '-loglevel', 'error', '-y', '-f', 'lavfi',
                        '-i', 'testsrc2=size=320x240:rate=1', '-frames:v',
                        '1', os.path.join(d, 'img%d.jpg' % i)], check=True)
    subprocess.run([FFMPEG, '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                    'sine=frequency=440:duration=1', '-c:a', 'libmp3lame',
                    os.path.join(d, 'audio.mp3')], check=True)
    with Stack(docroot=d, env=dict(ENV, SHUTDOWN_TIMEOUT='1',
                                   FFMPEG=os.path.join(FAKES,
                                                       'fake_ffmpeg.sh'),
                                   SLIDESHOW_TIMEOUT='60')) as s:
        with open(os.path.join(s.state, 'ffmpeg-sleep'), 'w') as f:
            f.write('30')
        r = s.tiktok(TT % ('ok', '7400000000000000015'))
        link = s.local(r.json()['download_slideshow_link'])
        got = {}
        t = threading.Thread(target=lambda: got.update(
            r=s.get(link, timeout=60)))
        t.start()
        ff = wait_for(lambda: ffmpeg_pids(s), 20, 'ffmpeg to start')
        kids = ff + [k for p in ff for k in children_of(p)]
        work = os.path.join(s.tmp, 'work')
        check(any(n.startswith('render-') for n in os.listdir(work)),
              'a render folder while rendering')
        t0 = time.time()
        s.app.send_signal(signal.SIGTERM)
        rc = s.app.wait(30)
        check(rc == 0, 'SIGTERM past SHUTDOWN_TIMEOUT with a render '
              'running: exit 0 (%.1f s)' % (time.time() - t0))
        t.join(60)
        check(kids and wait_for(lambda: all_dead(kids), 10,
                                'ffmpeg to die'),
              'ffmpeg and its children killed (%s)' % kids)
        check(not [n for n in os.listdir(work) if n.startswith('render-')],
              'no render folder left')
    shutil.rmtree(d, ignore_errors=True)
else:
    skip_part('the stop-with-a-render case: ffmpeg is not installed '
              '(apt-get install ffmpeg)')

done()
