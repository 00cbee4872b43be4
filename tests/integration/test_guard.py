#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The address guard with a proxy, and what a stream may carry.

1. Through OUTBOUND_PROXY with the guard on: a CDN URL naming a
   loopback address (https or http), or a name outside CDN_DOMAINS
   (localhost.), is refused before the proxy is asked anything, and an
   open port reads as a closed one; a name in CDN_DOMAINS is asked of
   the proxy as it is (no local lookup).  The proxy refusing CONNECT is
   the proxy's answer: never "the CDN answered 403", never a
   re-extraction.
2. A redirect whose target the guard refuses is not followed: the proxy
   is never asked for it; an allowed one is.
3. A short link the guard refuses is a 400 and never reaches yt-dlp.
4. Only the media types served go out, with nosniff: a CDN's
   image/svg+xml does not.
5. filename* cut at 200 bytes never splits a UTF-8 character.
6. Short-link follows are shared and bounded: with FCGI_THREADS=4 and a
   proxy that never answers, 8 POSTs of one short link and 8 of others
   make one follow per link at most, and the slow work beside them (GET
   /stream) is answered while the follows still wait.
7. An HTTPS proxy is verified against CA_FILE, loaded once for every
   connection: a stream passes through one whose CA is in CA_FILE, and
   not through one whose CA is not.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, done, within  # noqa: E402
from stack import Stack, proxy_log  # noqa: E402

TT = 'https://www.tiktok.com/@%s/video/%s'


def given(s, vid, **what):
    """A post (fake helper mode given_N) with what: a CDN url, an
    uploader."""
    with open(os.path.join(s.state, 'given-%s.json' % vid), 'w') as f:
        json.dump(what, f)
    r = s.tiktok(TT % ('given_' + vid, vid))
    assert r.status == 200, (r.status, r.body)
    return r.json()


def link_to(s, url, vid):
    """A /stream link whose CDN URL is url."""
    return s.local(given(s, vid, url=url)['download_link']['no_watermark'])


# -- 1. through a proxy, the guard on ------------------------------------

s = Stack(env={'FETCH_ALLOW_PRIVATE': '0', 'DOWNLOAD_TIMEOUT': '5'})
pport, plog = s.side('fake_proxy.py', 'proxy')
s.extra_env['OUTBOUND_PROXY'] = 'http://127.0.0.1:%d' % pport
with s:
    cdn = int(s.cdn_url.rsplit(':', 1)[1])
    answers = {}
    for i, url in enumerate((
            'https://127.0.0.1:%d/gen/100' % cdn,
            'http://127.0.0.1:%d/gen/100' % cdn,
            'http://127.0.0.1:1/gen/100',
            'https://[::ffff:127.0.0.1]:%d/gen/100' % cdn,
            'http://localhost.:%d/gen/100' % cdn,
            'http://169.254.169.254/latest/meta-data/')):
        r = s.get(link_to(s, url, str(100 + i)))
        answers[url] = (r.status, r.body)
    seen = proxy_log(plog)
    check(all(st == 502 for st, _ in answers.values()),
          'loopback, link-local and unlisted targets: 502 (%s)'
          % [st for st, _ in answers.values()])
    check('127.0.0.1' not in seen and 'localhost' not in seen and
          '169.254' not in seen and '::ffff' not in seen,
          'the proxy was asked for none of them (%r)' % seen[:200])
    check(len(set(b for _, b in answers.values())) == 1,
          'an open port and a closed one answer alike (%s)'
          % set(b for _, b in answers.values()))

    # A CDN name: asked of the proxy as it is; the proxy refuses it.
    n0 = len(s.extractions())
    r = s.get(link_to(s, 'https://v16m.tiktokcdn.com/video/x.mp4', '120'))
    seen = proxy_log(plog)
    check('CONNECT v16m.tiktokcdn.com:443' in seen,
          'a name in CDN_DOMAINS goes to the proxy unresolved')
    err = r.json().get('error', '') if r.status == 502 else ''
    check(r.status == 502 and 'proxy' in err and '403' in err and
          'CDN answered' not in err,
          'the proxy refusing CONNECT is the proxy\'s answer (%d %s)'
          % (r.status, err))
    check(len(s.extractions()) - n0 == 1,
          'and no re-extraction for it (%d extractions)'
          % (len(s.extractions()) - n0))

# -- 2. redirects through the proxy (literals allowed, as in tests) ------

s = Stack(env={'FETCH_ALLOW_PRIVATE': '1'})
pport, plog = s.side('fake_proxy.py', 'proxy')
s.extra_env['OUTBOUND_PROXY'] = 'http://127.0.0.1:%d' % pport
with s:
    cdn = int(s.cdn_url.rsplit(':', 1)[1])
    to = 'http://localhost:%d/gen/100' % cdn
    r = s.get(link_to(s, '%s/redirect?to=%s' % (s.cdn_url, to), '200'))
    asked = [l.split()[1] for l in proxy_log(plog).splitlines()]
    check(r.status == 502 and any('/redirect' in a for a in asked) and
          not any(a.startswith(('http://localhost', 'localhost'))
                  for a in asked),
          'a redirect to a name outside CDN_DOMAINS: not followed, '
          'never asked of the proxy (%d, %s)' % (r.status, asked))
    to = 'http://127.0.0.1:%d/gen/100' % cdn
    r = s.get(link_to(s, '%s/redirect?to=%s' % (s.cdn_url, to), '201'))
    check(r.status == 200 and len(r.body) == 100,
          'an allowed redirect is followed (%d)' % r.status)

# -- 3. a short link the guard refuses -----------------------------------

with Stack(env={'CDN_DOMAINS': 'tiktokcdn.com'}) as s:
    r = s.tiktok('https://vm.tiktok.com/ZSabcdef/')
    check(r.status == 400 and 'error' in r.json(),
          'a short link the guard refuses: 400 (%d)' % r.status)
    check(not any('ZSabcdef' in u for u in s.extractions()),
          'and it is not handed to yt-dlp')

# -- 4, 5. what a stream carries -----------------------------------------

with Stack() as s:
    with open(os.path.join(s.docroot, 'x.svg'), 'w') as f:
        f.write('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>')
    r = s.tiktok(TT % ('cdn_files_x.svg', '300'))
    r = s.get(s.local(r.json()['download_link']['no_watermark']))
    check(r.status == 200 and r.header('content-type') == 'video/mp4',
          'a CDN\'s image/svg+xml is not relayed (%s)'
          % r.header('content-type'))
    check(r.header('x-content-type-options') == 'nosniff',
          'X-Content-Type-Options: nosniff')

    author = 'a' + '\u00e9' * 120       # 241 bytes: byte 200 is inside
    r = s.get(s.local(given(s, '301', uploader=author)['download_link'][
        'no_watermark']))
    cd = r.header('content-disposition') or ''
    enc = cd.split("filename*=UTF-8''", 1)[-1].rsplit('.', 1)[0]
    try:
        name = urllib.parse.unquote_to_bytes(enc).decode('utf-8')
    except UnicodeDecodeError:
        name = None
    check(name is not None and author.startswith(name) and
          len(name.encode()) <= 200,
          'filename* cut at 200 bytes is whole UTF-8 (%r)' % enc[-12:])

# -- 6. short-link follows through a silent proxy ------------------------

silent = socket.socket()
silent.bind(('127.0.0.1', 0))
silent.listen(64)
held = []


def hold():
    while True:
        try:
            c, _ = silent.accept()
        except OSError:
            return
        held.append(c)      # read nothing, answer nothing


threading.Thread(target=hold, daemon=True).start()
with Stack(env={'FCGI_THREADS': '4', 'YTDLP_TIMEOUT': '8',
                'OUTBOUND_PROXY': 'http://127.0.0.1:%d'
                % silent.getsockname()[1]}) as s:
    out = []
    posts = [threading.Thread(target=lambda u=u: out.append(
        s.tiktok(u, timeout=60).status))
        for u in ['https://vm.tiktok.com/ZSsame/'] * 8 +
        ['https://vm.tiktok.com/ZSother%d/' % i for i in range(8)]]
    for p in posts:
        p.start()
    # Either the follows took every slow thread (4 proxy connections),
    # or all but the one following have their answer.
    ok = within(lambda: len(held) >= 4 or (len(held) >= 1 and
                                           len(out) >= len(posts) - 1), 30)
    r = s.get('/stream?data=nonsense', timeout=60)


    def still_open(c):
        """Has the app not closed c (what it sent read and dropped)?"""
        try:
            while c.recv(65536, socket.MSG_DONTWAIT) != b'':
                pass
            return False
        except BlockingIOError:
            return True
        except OSError:
            return False
    # The first follow still waits on the proxy (it gives up after 8 s,
    # closing its connection): the slow thread GET /stream needed was
    # not taken by the follows.
    check(ok and r.status == 400 and still_open(held[0]),
          'GET /stream answered while a short link was being followed '
          '(%d)' % r.status)
    for p in posts:
        p.join()
    check(sorted(set(out)) == [200], 'every POST answered 200 (%s)'
          % sorted(set(out)))
    check(len(held) <= 1, 'one follow at a time with 4 slow threads, '
          'shared by the 8 POSTs of one link (%d proxy connections)'
          % len(held))
silent.close()
for c in held:
    c.close()

# -- 7. an HTTPS proxy, verified against CA_FILE ----------------------------

tls = tempfile.mkdtemp(prefix='tiktok-fcgi-tls-')


def openssl(*args):
    subprocess.run(['openssl'] + list(args), cwd=tls, check=True,
                   capture_output=True)


for name in ('ca', 'other'):
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
            '-subj', '/CN=%s' % name, '-keyout', name + '.key', '-out',
            name + '.pem', '-addext', 'basicConstraints=critical,CA:TRUE',
            '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1',
        '-keyout', 'proxy.key', '-out', 'proxy.csr')
with open(os.path.join(tls, 'ext.cnf'), 'w') as f:
    f.write('subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n'
            'extendedKeyUsage=serverAuth\n')
openssl('x509', '-req', '-in', 'proxy.csr', '-CA', 'ca.pem', '-CAkey',
        'ca.key', '-CAcreateserial', '-days', '2', '-out', 'proxy.pem',
        '-extfile', 'ext.cnf')
for ca, want in (('ca.pem', 200), ('other.pem', 502)):
    s = Stack(env={'CA_FILE': os.path.join(tls, ca)})
    pport, plog = s.side('fake_proxy.py', 'proxy',
                         os.path.join(tls, 'proxy.pem'),
                         os.path.join(tls, 'proxy.key'))
    s.extra_env['OUTBOUND_PROXY'] = 'https://127.0.0.1:%d' % pport
    with s:
        r = s.tiktok(TT % ('cdn_gen_3000', '700'))
        r = s.get(s.local(r.json()['download_link']['no_watermark']))
        asked = proxy_log(plog)
        check(r.status == want and (want != 200 or (
              len(r.body) == 3000 and 'GET http://127.0.0.1' in asked)),
              'HTTPS proxy, CA_FILE %s its CA: %d (%d)'
              % ('with' if want == 200 else 'without', want, r.status))
shutil.rmtree(tls, ignore_errors=True)

done()
