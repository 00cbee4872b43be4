#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""GET /stream and /download through nginx: bodies streamed from the
fake CDN byte for byte with flat memory, Range and HEAD, clients that
leave, CDN stalls, drops, refusals and redirects, bad tokens, and author
names that try to break headers.
"""

import hashlib
import os
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SANITIZED, check, done, skip_part, wait_for  # noqa: E402
from probes import nfds, rss_kb  # noqa: E402
from stack import Stack  # noqa: E402

TT = 'https://www.tiktok.com/@%s/video/%s'


def expected(start, end):
    return bytes(((i * 7) % 251) for i in range(start, end))


def link(s, mode, vid='1', key='no_watermark'):
    r = s.tiktok(TT % (mode, vid))
    assert r.status == 200, (r.status, r.body)
    return s.local(r.json()['download_link'][key])


def raw_get(s, path):
    """GET over a plain socket until the server closes: (head, body), so
    that a cut answer shows as a short body instead of an exception."""
    c = socket.create_connection(('127.0.0.1', s.port), timeout=20)
    c.sendall(('GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % path).encode())
    data = b''
    while True:
        d = c.recv(65536)
        if not d:
            break
        data += d
    c.close()
    head, _, body = data.partition(b'\r\n\r\n')
    return head, body


BIG = 300 * 1000 * 1000

with Stack(env={'DOWNLOAD_TIMEOUT': '3'}) as s:
    pid = s.app.pid
    # Warm up: one small stream, then take the baseline.
    small = link(s, 'cdn_gen_5000', '2')
    r = s.get(small)
    check(r.status == 200 and r.body == expected(0, 5000),
          'small file arrives byte-identical')
    check(r.header('content-type') == 'video/mp4', 'Content-Type')
    check(r.header('content-length') == '5000', 'Content-Length')
    check(r.header('accept-ranges') == 'bytes', 'Accept-Ranges')
    check(r.header('content-disposition') ==
          'attachment; filename="fakecreator02.mp4"; '
          "filename*=UTF-8''fakecreator02.mp4", 'Content-Disposition')
    check(r.header('x-filename') == 'fakecreator02.mp4', 'X-Filename')
    check(r.header('access-control-allow-origin') == '*', 'CORS')
    time.sleep(0.3)
    base_rss = rss_kb(pid)
    base_fds = nfds(pid)

    # 300 MB, hashed as it arrives, RSS sampled meanwhile.
    path = link(s, 'cdn_gen_%d' % BIG, '3')
    peak = [base_rss]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kb(pid))
            time.sleep(0.05)
    t = threading.Thread(target=sample)
    t.start()
    import http.client
    conn = http.client.HTTPConnection('127.0.0.1', s.port, timeout=120)
    conn.request('GET', path)
    resp = conn.getresponse()
    h = hashlib.sha256()
    n = 0
    while True:
        chunk = resp.read(1 << 20)
        if not chunk:
            break
        h.update(chunk)
        n += len(chunk)
    conn.close()
    stop.set()
    t.join()
    want = hashlib.sha256()
    pattern = bytes((i * 7) % 251 for i in range(251 * 4096))
    left = BIG
    while left > 0:
        piece = pattern[:min(left, len(pattern))]
        want.update(piece)
        left -= len(piece)
    check(resp.status == 200 and n == BIG, '300 MB: all bytes arrive')
    check(h.hexdigest() == want.hexdigest(), '300 MB: sha256 identical')
    check(SANITIZED or peak[0] - base_rss < 8 * 1024,
          '300 MB: RSS stays flat (%d KiB -> peak %d KiB)%s'
          % (base_rss, peak[0], ' (not judged: sanitizer build)'
             if SANITIZED else ''))

    # Range, open-ended and suffix ranges, unsatisfiable, HEAD.
    path = link(s, 'cdn_gen_100000', '4')
    r = s.get(path, headers={'Range': 'bytes=100-199'})
    check(r.status == 206 and r.body == expected(100, 200),
          'Range bytes=100-199: 206 with those bytes')
    check(r.header('content-range') == 'bytes 100-199/100000' and
          r.header('content-length') == '100', 'Content-Range relayed')
    r = s.get(path, headers={'Range': 'bytes=99000-'})
    check(r.status == 206 and r.body == expected(99000, 100000),
          'open-ended range')
    r = s.get(path, headers={'Range': 'bytes=-500'})
    check(r.status == 206 and r.body == expected(99500, 100000),
          'suffix range')
    r = s.get(path, headers={'Range': 'bytes=200000-'})
    check(r.status == 416 and r.header('content-range') == 'bytes */100000',
          'unsatisfiable range: 416 relayed')
    r = s.get(path, headers={'Range': 'bytes=1-2,5-6'})
    check(r.status == 200 and len(r.body) == 100000,
          'multiple ranges: ignored, whole file')
    r = s.request('HEAD', path)
    check(r.status == 200 and r.body == b'' and
          r.header('content-length') == '100000', 'HEAD: length, no body')

    # Validators: the CDN's ETag and Last-Modified reach the client, and a
    # resumed download whose If-Range no longer matches gets the whole
    # file, not a piece of another version, whether the CDN checks
    # If-Range itself or ignores it.
    for mode, how in (('cdn_tagged_100000', 'the CDN checks If-Range'),
                      ('cdn_tagged_100000_ignore',
                       'the CDN ignores If-Range')):
        path = link(s, mode, '14')
        r = s.get(path)
        etag, lm = r.header('etag'), r.header('last-modified')
        check(etag == '"v-100000"' and
              lm == 'Tue, 24 Nov 2026 10:00:00 GMT',
              'ETag and Last-Modified relayed (%s, %s)' % (etag, lm))
        for ir, label in ((etag, 'ETag'), (lm, 'date')):
            r = s.get(path, headers={'Range': 'bytes=100-199',
                                     'If-Range': ir})
            check(r.status == 206 and r.body == expected(100, 200),
                  '%s: If-Range with the current %s: 206' % (how, label))
        for ir, label in (('"v-99"', 'another ETag'),
                          ('W/"v-100000"', 'a weak ETag'),
                          ('Mon, 23 Nov 2026 10:00:00 GMT', 'another date')):
            r = s.get(path, headers={'Range': 'bytes=100-199',
                                     'If-Range': ir})
            check(r.status == 200 and r.body == expected(0, 100000) and
                  r.header('content-range') is None,
                  '%s: If-Range with %s: 200, the whole file (%d, %d '
                  'bytes)' % (how, label, r.status, len(r.body)))
            r = s.request('HEAD', path, headers={'Range': 'bytes=100-199',
                                                 'If-Range': ir})
            check(r.status == 200 and
                  r.header('content-length') == '100000',
                  '%s: HEAD with %s: 200, whole length' % (how, label))
    expose = r.header('access-control-expose-headers') or ''
    check(all(k in expose for k in ('Content-Range', 'Accept-Ranges',
                                     'ETag', 'Last-Modified')),
          'CORS exposes Content-Range, Accept-Ranges, ETag, Last-Modified')

    # 100 clients that leave mid-stream.
    path = link(s, 'cdn_gen_50000000', '5')

    def leave(i):
        c = socket.create_connection(('127.0.0.1', s.port))
        c.sendall(('GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % path).encode())
        got = 0
        while got < 200000:
            d = c.recv(65536)
            if not d:
                break
            got += len(d)
        c.close()
        return got
    # A first round grows the threads' stacks and malloc arenas to their
    # working size; the second must not grow anything.
    with ThreadPoolExecutor(50) as ex:
        list(ex.map(leave, range(100)))
    wait_for(lambda: s.health()['threads']['busy'] <= 1, 20,
             'threads to come back')
    time.sleep(0.5)
    base_rss = rss_kb(pid)
    # Kept CDN handles hold a few descriptors each (their connections,
    # libcurl's wake-up pair), at most 32 of them: bounded, not leaked.
    check(nfds(pid) <= base_fds + 32 * 4, 'after 100 aborts: kept '
          'handles within their bound (%d -> %d fds)'
          % (base_fds, nfds(pid)))
    base_fds = nfds(pid)
    with ThreadPoolExecutor(50) as ex:
        got = list(ex.map(leave, range(100)))
    check(all(g >= 200000 for g in got), '100 clients got data, then left')
    wait_for(lambda: s.health()['threads']['busy'] <= 1, 20,
             'threads to come back')
    time.sleep(0.5)
    check(s.health()['threads']['busy'] == 1,
          'after 100 aborts: no thread busy but this one')
    check(nfds(pid) <= base_fds + 1, 'after 100 more aborts: fds at '
          'baseline (%d -> %d)' % (base_fds, nfds(pid)))
    if SANITIZED:
        skip_part('RSS after aborts: a sanitizer build\'s allocator '
                  'keeps freed memory', expected=True)
    else:
        check(rss_kb(pid) - base_rss < 2 * 1024, 'after 100 more aborts: '
              'RSS at baseline (%d -> %d KiB)' % (base_rss, rss_kb(pid)))
    cdn = s.get('/stats', port=int(s.cdn_url.rsplit(':', 1)[1])).json()
    check(cdn.get('gen', 0) >= 100, 'the CDN saw the transfers')

    # The CDN needs Referer and Cookie: the token's headers reach it.
    r = s.get(link(s, 'cdn_need_3000', '6'))
    check(r.status == 200 and r.body == expected(0, 3000),
          'CDN that needs Referer + Cookie: served')

    # 403 once (an expired CDN URL): extracted again, retried, served.
    n0 = len(s.extractions())
    r = s.get(link(s, 'cdn_once_k1_2000', '7'))
    check(r.status == 200 and r.body == expected(0, 2000),
          'CDN 403 once: re-extracted and served')
    check(len(s.extractions()) - n0 == 2, 'exactly one re-extraction')

    # A CDN that refuses a link every time: 30 downloads of it make one
    # re-extraction, not 30 (TikTok would see us hammering it).
    path = link(s, 'cdn_status_403', '17')
    n0 = len(s.extractions())
    codes = [s.get(path).status for _ in range(30)]
    check(codes == [502] * 30, 'a link the CDN keeps refusing: 502 '
          '(%s)' % sorted(set(codes)))
    check(len(s.extractions()) - n0 == 1, '30 refused downloads: one '
          're-extraction (%d)' % (len(s.extractions()) - n0))

    # CDN errors before the first byte: JSON errors.
    r = s.get(link(s, 'cdn_status_404', '8'))
    check(r.status == 502 and '404' in r.json()['error'],
          'CDN 404: 502 naming the status')
    t0 = time.time()
    r = s.get(link(s, 'cdn_stallhead', '9'))
    check(r.status == 504 and 'error' in r.json(),
          'CDN silent before headers: 504 JSON')
    check(time.time() - t0 < 3 + 3, 'within DOWNLOAD_TIMEOUT (%.1f s)'
          % (time.time() - t0))
    # ... and after the first byte: the answer is cut, never padded.
    t0 = time.time()
    head, body = raw_get(s, link(s, 'cdn_stall_2000000', '10'))
    check(b' 200 ' in head.split(b'\r\n')[0] and len(body) < 2000000,
          'CDN stalling mid-body: answer cut (%d bytes)' % len(body))
    check(time.time() - t0 < 3 + 5, 'cut within DOWNLOAD_TIMEOUT')
    head, body = raw_get(s, link(s, 'cdn_drop_2000000', '11'))
    check(len(body) < 2000000, 'CDN dropping mid-body: answer cut')

    # Bad tokens.
    r = s.get('/stream?data=nonsense')
    check(r.status == 400 and r.json()['error'] == 'Invalid download link',
          'garbage token: 400')
    good = link(s, 'cdn_gen_1000', '12')
    tok = good.split('data=')[1]
    bad = tok[:20] + ('A' if tok[20] != 'A' else 'B') + tok[21:]
    r = s.get('/stream?data=' + bad)
    check(r.status == 400 and r.json()['error'] == 'Invalid download link',
          'tampered token: 400')
    r = s.get('/stream?data=' + tok[:-5])
    check(r.status == 400, 'truncated token: 400')
    r = s.get('/download?data=' + tok)
    check(r.status == 200, '/download opens the same tokens')

    # Author names that try to break headers.
    for author in ('a"b\r\nX-Evil: 1', 'Ünïcødé 名前 🎵', '../../etc/passwd',
                   '"; filename=evil.exe', '\r\n\r\n<html>'):
        p = link(s, 'author_' + author.encode().hex(), '13')
        r = s.get(p)
        cd = r.header('content-disposition')
        fname = cd.split('filename="')[1].split('"')[0]
        check(r.status == 200 and r.header('x-evil') is None and
              all(ch.isalnum() or ch in '_.' for ch in fname) and
              '\r' not in cd and '\n' not in cd and
              cd.count('filename=') == 1,
              'author %r: safe headers (%s)' % (author, cd))

with Stack(env={'TOKEN_TTL': '1'}) as s:
    p = link(s, 'cdn_gen_1000', '1')
    time.sleep(1.2)
    r = s.get(p)
    check(r.status == 410 and
          r.json()['error'] == 'Download link has expired', 'expired: 410')

with Stack(env={'FETCH_ALLOW_PRIVATE': '0'}) as s:
    r = s.get(link(s, 'cdn_gen_1000', '1'))
    check(r.status == 502, 'guard on: a CDN URL on loopback is refused')
    r = s.get(link(s, 'cdn_redirect', '2'))
    check(r.status == 502, 'guard on: no fetch of loopback at all')

done()
