#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""GET /download-slideshow through nginx: a photo post from the fake
helper, its images and sound from the fake CDN, rendered by the real
ffmpeg (wrapped to count runs and to be slowed down on demand).

The MP4 is checked with ffprobe; then a post without sound, a video post
(400), sharing one render among 20 requests and reusing it, the
SLIDESHOW_MAX limit (503), the timeout (504, ffmpeg killed), a client
that leaves (render killed), ffmpeg missing or failing (500, nothing
left), and the janitor (old folders only, never through a link).
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FAKES, HERE, check, done, skip, skip_part,  # noqa
                     wait_for)
from probes import all_dead, children_of  # noqa: E402
from stack import Stack, ffmpeg_pids, ffmpeg_slow, render_dirs  # noqa: E402

FFMPEG = shutil.which('ffmpeg')
FFPROBE = shutil.which('ffprobe')
if not FFMPEG or not FFPROBE:
    skip('ffmpeg/ffprobe are not installed (apt-get install ffmpeg)')
WRAP = os.path.join(FAKES, 'fake_ffmpeg.sh')
POST = 'https://www.tiktok.com/@%s/photo/74000000000000%05d'


def make_docroot(d):
    os.makedirs(d, exist_ok=True)
    for i, size in ((1, '1080x1440'), (2, '640x480'), (3, '720x1280')):
        subprocess.run([FFMPEG, '-loglevel', 'error', '-y', '-f', 'lavfi',
                        '-i', 'testsrc2=size=%s:rate=1' % size,
                        '-frames:v', '1', os.path.join(d, 'img%d.jpg' % i)],
                       check=True)
    subprocess.run([FFMPEG, '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                    'sine=frequency=440:duration=3', '-c:a', 'libmp3lame',
                    os.path.join(d, 'audio.mp3')], check=True)
    return d


def probe(path):
    out = subprocess.run([FFPROBE, '-v', 'error', '-show_entries',
                          'stream=codec_type,codec_name,width,height,pix_fmt'
                          ':format=duration', '-of', 'json', path],
                         capture_output=True, text=True).stdout
    return json.loads(out)


def slideshow_link(s, mode, n):
    r = s.tiktok(POST % (mode, n))
    assert r.status == 200, r.body
    return s.local(r.json()['download_slideshow_link'])


def ffmpeg_runs(s):
    return len(ffmpeg_pids(s))


def running(s, n):
    """The runs after the first n, with their children (the sleep)."""
    pids = ffmpeg_pids(s)[n:]
    return pids + [k for p in pids for k in children_of(p)]


base = tempfile.mkdtemp(prefix='tiktok-fcgi-slides-')
docroot = make_docroot(os.path.join(base, 'docroot'))

with Stack(docroot=docroot, env={'FFMPEG': WRAP, 'SLIDESHOW_MAX': '2',
                                 'SLIDESHOW_TIMEOUT': '30'}) as s:
    link = slideshow_link(s, 'ok', 1)
    t0 = time.time()
    r = s.get(link)
    took = time.time() - t0
    check(r.status == 200, 'slideshow: 200 (%.1f s)' % took)
    check(r.header('content-type') == 'video/mp4', 'Content-Type video/mp4')
    check(r.header('content-length') == str(len(r.body)),
          'Content-Length matches')
    cd = r.header('content-disposition')
    check(cd.startswith('attachment; filename="fakecreator02_') and
          cd.split('"')[1][len('fakecreator02_'):-4].isdigit(),
          'filename <author>_<unix time>.mp4 (%s)' % cd)
    mp4 = os.path.join(base, 'a.mp4')
    with open(mp4, 'wb') as f:
        f.write(r.body)
    p = probe(mp4)
    v = [x for x in p['streams'] if x['codec_type'] == 'video'][0]
    a = [x for x in p['streams'] if x['codec_type'] == 'audio']
    check(v['width'] == 1080 and v['height'] == 1920, '1080x1920')
    check(v['codec_name'] == 'h264' and v['pix_fmt'] == 'yuv420p',
          'h264 yuv420p')
    check(len(a) == 1 and a[0]['codec_name'] == 'aac', 'aac sound')
    check(abs(float(p['format']['duration']) - 12.0) <= 0.1,
          'duration 3 x 4 s (%s)' % p['format']['duration'])
    check(r.body[4:8] == b'ftyp' and b'moov' in r.body[:4096],
          'faststart: moov before the media')

    n = ffmpeg_runs(s)
    r2 = s.get(link)
    check(r2.status == 200 and ffmpeg_runs(s) == n,
          'a finished render is reused')
    r3 = s.get(link, headers={'Range': 'bytes=0-99'})
    check(r3.status == 206 and r3.body == r.body[:100] and
          r3.header('content-range') == 'bytes 0-99/%d' % len(r.body),
          'Range on the render')
    r4 = s.request('HEAD', link)
    check(r4.status == 200 and r4.body == b'' and
          r4.header('content-length') == str(len(r.body)), 'HEAD')

    r = s.get(slideshow_link(s, 'nosound', 2))
    with open(mp4, 'wb') as f:
        f.write(r.body)
    p = probe(mp4)
    check(r.status == 200 and
          not [x for x in p['streams'] if x['codec_type'] == 'audio'] and
          abs(float(p['format']['duration']) - 12.0) <= 0.1,
          'no sound: a silent video of the right length')

    node = shutil.which('node')
    if node:
        tok = subprocess.run(
            [node, os.path.join(HERE, 'serverjs_token.js'), 'encrypt',
             'test-key', 'https://www.tiktok.com/@ok/video/3'],
            capture_output=True, text=True).stdout
        r = s.get('/download-slideshow?url=' + tok)
        check(r.status == 400 and
              r.json()['error'] == 'Only image posts are supported',
              'a video post: 400 Only image posts are supported')
    else:
        skip_part('the video-post check: node is not installed (apt-get '
                  'install nodejs): it seals the token')
    r = s.get('/download-slideshow?url=garbage')
    check(r.status == 400, 'bad token: 400')

    # 20 at once for one post: one render.
    ffmpeg_slow(s, 2)
    n = ffmpeg_runs(s)
    link = slideshow_link(s, 'ok', 4)
    with ThreadPoolExecutor(20) as ex:
        res = list(ex.map(lambda i: s.get(link), range(20)))
    check(all(x.status == 200 for x in res) and
          len(set(x.body for x in res)) == 1, '20 concurrent: all 200, '
          'same file')
    check(ffmpeg_runs(s) - n == 1, '20 concurrent: one render (%d)'
          % (ffmpeg_runs(s) - n))

    # SLIDESHOW_MAX=2: a third render at once is refused.
    links = [slideshow_link(s, 'ok', 10 + i) for i in range(3)]
    with ThreadPoolExecutor(3) as ex:
        futs = []
        for l in links:
            futs.append(ex.submit(s.get, l))
            time.sleep(0.3)
        res = [f.result() for f in futs]
    codes = sorted(x.status for x in res)
    check(codes == [200, 200, 503] and
          [x for x in res if x.status == 503][0].header('retry-after'),
          'SLIDESHOW_MAX + 1 at once: one 503 with Retry-After (%s)'
          % codes)

    # A client that leaves: the render is killed, the folder removed.
    ffmpeg_slow(s, 30)
    link = slideshow_link(s, 'ok', 20)
    n = len(ffmpeg_pids(s))
    c = socket.create_connection(('127.0.0.1', s.port))
    c.sendall(('GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % link).encode())
    pids = wait_for(lambda: len(running(s, n)) >= 2 and running(s, n), 10,
                    'ffmpeg (and its sleep) to start')
    c.close()
    t0 = time.time()
    wait_for(lambda: all_dead(pids), 10, 'the render to be killed')
    check(time.time() - t0 < 5, 'client gone: render killed (%.1f s)'
          % (time.time() - t0))
    wait_for(lambda: s.health()['threads']['busy'] == 1, 10, 'the thread')
    ffmpeg_slow(s, 0)
    kept = len(render_dirs(s))
    check(kept <= 8, 'only kept renders remain on disk (%d)' % kept)

with Stack(docroot=docroot, env={'FFMPEG': WRAP,
                                 'SLIDESHOW_TIMEOUT': '2'}) as s:
    ffmpeg_slow(s, 30)
    t0 = time.time()
    got = {}
    t = threading.Thread(target=lambda: got.update(
        r=s.get(slideshow_link(s, 'ok', 30))))
    t.start()
    pids = wait_for(lambda: len(running(s, 0)) >= 2 and running(s, 0), 10,
                    'ffmpeg (and its sleep) to start')
    t.join(30)
    r = got['r']
    check(r.status == 504 and 'error' in r.json(),
          'past SLIDESHOW_TIMEOUT: 504 (%.1f s)' % (time.time() - t0))
    check(wait_for(lambda: all_dead(pids), 5, 'ffmpeg to die'),
          'ffmpeg killed')
    check(render_dirs(s) == [], 'timeout: no work folder left')

# "missing": there at the start (the start refuses a missing one),
# removed while the service runs.
gone = os.path.join(base, 'gone-ffmpeg')
for ff, what in ((gone, 'ffmpeg missing'), ('/bin/false', 'ffmpeg failing')):
    if ff == gone:
        shutil.copy('/bin/false', gone)
    with Stack(docroot=docroot, env={'FFMPEG': ff}) as s:
        if ff == gone:
            os.unlink(gone)
        r = s.get(slideshow_link(s, 'ok', 40))
        check(r.status == 500 and 'error' in r.json(),
              '%s: 500 JSON' % what)
        check(render_dirs(s) == [], '%s: no work folder left' % what)

# The janitor: old work folders go, new ones stay, links are not
# followed, nothing outside TEMP_DIR is touched.
tmp = os.path.join(base, 'jan')
work = os.path.join(tmp, 'work')
outside = os.path.join(tmp, 'outside')
os.makedirs(work)
os.makedirs(outside)
open(os.path.join(outside, 'precious'), 'w').write('keep me')
old = time.time() - 7200
for name in ('render-old', 'render-new', 'render-oldlink', 'other-old'):
    os.makedirs(os.path.join(work, name))
    open(os.path.join(work, name, 'f'), 'w').write('x')
os.symlink(outside, os.path.join(work, 'render-oldlink', 'escape'))
os.symlink(outside, os.path.join(work, 'render-link'))
for name in ('render-old', 'render-oldlink', 'other-old'):
    os.utime(os.path.join(work, name), (old, old))
os.utime(os.path.join(work, 'render-link'), (old, old),
         follow_symlinks=False)
with Stack(env={'TEMP_DIR': work}) as s:
    wait_for(lambda: not os.path.exists(os.path.join(work, 'render-old')),
             10, 'the janitor')
    left = sorted(os.listdir(work))
    check('render-new' in left and 'other-old' in left,
          'janitor: new and foreign folders stay (%s)' % left)
    check('render-oldlink' not in left, 'janitor: old folder with a link '
          'inside removed')
    check(os.path.isfile(os.path.join(outside, 'precious')) and
          os.path.islink(os.path.join(work, 'render-link')),
          'janitor: nothing followed through links, nothing outside '
          'touched')

shutil.rmtree(base, ignore_errors=True)
done()
