#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""GET /download-audio: the "mp3" link of a video post delivers a real
MP3 (one audio stream, mp3, as long as the video), shared by concurrent
requests (one ffmpeg run), reused, with Range and HEAD; killed when its
client leaves, cut at its deadline, and a missing or failing ffmpeg
answers JSON and leaves nothing behind.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import FAKES, check, done, skip, wait_for  # noqa: E402
from probes import all_dead  # noqa: E402
from stack import Stack, ffmpeg_pids, ffmpeg_slow, render_dirs  # noqa: E402

FFMPEG = shutil.which('ffmpeg')
FFPROBE = shutil.which('ffprobe')
if not FFMPEG or not FFPROBE:
    skip('ffmpeg/ffprobe are not installed (apt-get install ffmpeg)')
WRAP = os.path.join(FAKES, 'fake_ffmpeg.sh')
# Every format of the post points at a real video on the fake CDN.
TT = 'https://www.tiktok.com/@cdn_files_video.mp4/video/%s'


def probe(path):
    out = subprocess.run([FFPROBE, '-v', 'error', '-show_entries',
                          'stream=codec_type,codec_name:format=duration',
                          '-of', 'json', path], capture_output=True,
                         text=True).stdout
    return json.loads(out)


def audio_link(s, vid):
    r = s.tiktok(TT % vid)
    assert r.status == 200, r.body
    a = r.json()
    return s.local(a['download_link']['mp3']), a


base = tempfile.mkdtemp(prefix='tiktok-fcgi-audio-')
docroot = os.path.join(base, 'docroot')
os.makedirs(docroot)
subprocess.run([FFMPEG, '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                'testsrc2=size=320x240:rate=25', '-f', 'lavfi', '-i',
                'sine=frequency=440:sample_rate=44100', '-t', '6',
                '-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'aac',
                '-shortest', os.path.join(docroot, 'video.mp4')], check=True)
video = probe(os.path.join(docroot, 'video.mp4'))
vdur = float(video['format']['duration'])

with Stack(docroot=docroot, env={'FFMPEG': WRAP, 'SLIDESHOW_MAX': '2',
                                 'SLIDESHOW_TIMEOUT': '20'}) as s:
    link, ans = audio_link(s, '7300000000000000701')
    check(link.startswith('/download-audio?url=') and
          ans['audio'] == ans['download_link']['mp3'],
          'a video answer: mp3 is /download-audio, and "audio" names it')
    r = s.get(link, timeout=60)
    check(r.status == 200 and r.header('content-type') == 'audio/mpeg',
          'audio: 200 audio/mpeg (%d %s)' % (r.status, r.body[:100]))
    check(r.header('content-length') == str(len(r.body)),
          'Content-Length exact')
    cd = r.header('content-disposition') or ''
    check('filename="fakecreator02.mp3"' in cd, 'named <author>.mp3 (%s)'
          % cd)
    mp3 = os.path.join(base, 'a.mp3')
    with open(mp3, 'wb') as f:
        f.write(r.body)
    p = probe(mp3)
    st = p.get('streams', [])
    check(len(st) == 1 and st[0]['codec_type'] == 'audio' and
          st[0]['codec_name'] == 'mp3', 'one audio stream, mp3 (%s)' % st)
    adur = float(p['format']['duration'])
    check(abs(adur - vdur) <= 0.1, 'as long as the video (%.3f s, video '
          '%.3f s)' % (adur, vdur))

    names = open(os.path.join(s.state, 'ffmpeg-env')).read().split()
    check('ENCRYPTION_KEY' not in names and 'PATH' in names,
          'ffmpeg does not inherit ENCRYPTION_KEY')
    n = len(ffmpeg_pids(s))
    r2 = s.get(link)
    check(r2.status == 200 and r2.body == r.body and len(ffmpeg_pids(s)) == n,
          'a finished render is reused')
    r3 = s.get(link, headers={'Range': 'bytes=100-199'})
    check(r3.status == 206 and r3.body == r.body[100:200] and
          r3.header('content-range') == 'bytes 100-199/%d' % len(r.body),
          'Range')
    r4 = s.request('HEAD', link)
    check(r4.status == 200 and r4.body == b'' and
          r4.header('content-length') == str(len(r.body)), 'HEAD')
    etag = r2.header('etag')
    check(etag and etag == r.header('etag') and r.header('last-modified'),
          'the render has an ETag and a Last-Modified (%s)' % etag)
    r5 = s.get(link, headers={'Range': 'bytes=100-199', 'If-Range': etag})
    check(r5.status == 206 and r5.body == r.body[100:200],
          'Range with If-Range of this render: 206')
    r6 = s.get(link, headers={'Range': 'bytes=100-199',
                              'If-Range': '"another-render"'})
    check(r6.status == 200 and r6.body == r.body,
          'Range with If-Range of another render: 200, the whole file')

    # 20 at once for a new post: one ffmpeg run.
    link, _ = audio_link(s, '7300000000000000702')
    n = len(ffmpeg_pids(s))
    with ThreadPoolExecutor(20) as ex:
        res = list(ex.map(lambda i: s.get(link, timeout=60), range(20)))
    check(all(x.status == 200 for x in res) and
          len(set(x.body for x in res)) == 1,
          '20 concurrent requests: all 200, the same file')
    check(len(ffmpeg_pids(s)) - n == 1, '20 concurrent requests: one ffmpeg run '
          '(%d)' % (len(ffmpeg_pids(s)) - n))

    # The client leaves: ffmpeg is killed, its folder removed.
    ffmpeg_slow(s, 30)
    link, _ = audio_link(s, '7300000000000000703')
    n = len(ffmpeg_pids(s))
    kept = set(render_dirs(s))
    c = socket.create_connection(('127.0.0.1', s.port))
    c.sendall(('GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % link).encode())
    wait_for(lambda: len(ffmpeg_pids(s)) > n, 20, 'ffmpeg to start')
    pids = ffmpeg_pids(s)[n:]
    c.close()
    check(wait_for(lambda: all_dead(pids) and set(render_dirs(s)) == kept, 10,
                   'the render to stop'),
          'client gone: ffmpeg killed, its folder removed')

    # The deadline: 504, killed, nothing left.
    s.stop_app()
    s.extra_env['SLIDESHOW_TIMEOUT'] = '2'
    os.unlink(s.sock)
    s.start_app()
    s.wait_healthy()
    link, _ = audio_link(s, '7300000000000000704')
    n = len(ffmpeg_pids(s))
    kept = set(render_dirs(s))
    r = s.get(link, timeout=30)
    check(r.status == 504 and 'error' in r.json(), 'past the deadline: '
          '504 JSON (%d)' % r.status)
    check(wait_for(lambda: all_dead(ffmpeg_pids(s)[n:]) and set(render_dirs(s)) == kept,
                   10, 'the render to stop'), 'timeout: ffmpeg killed, '
          'its folder removed')
    ffmpeg_slow(s, 0)

    # A photo post has no audio render (its sound is an MP3 already).
    r = s.tiktok('https://www.tiktok.com/@ok/photo/7400000000000000705')
    a = r.json()
    check('/stream?data=' in a['download_link']['mp3'],
          'a photo post: mp3 streams its music as it is')

# ffmpeg missing, ffmpeg failing: JSON, nothing left.
fail = os.path.join(base, 'fail-ffmpeg.sh')
with open(fail, 'w') as f:
    f.write('#!/bin/sh\necho "broken on purpose" >&2\nexit 1\n')
os.chmod(fail, 0o755)
# "missing": an ffmpeg that was there at the start (the start refuses
# a missing one) and is removed while the service runs.
gone = os.path.join(base, 'gone-ffmpeg')
for what, ff in (('missing', gone), ('failing', fail)):
    if ff == gone:
        shutil.copy(fail, gone)
    with Stack(docroot=docroot, env={'FFMPEG': ff}) as s:
        if ff == gone:
            os.unlink(gone)
        link, _ = audio_link(s, '7300000000000000710')
        r = s.get(link, timeout=30)
        check(r.status == 500 and 'error' in r.json(),
              'ffmpeg %s: 500 JSON (%d)' % (what, r.status))
        check(not render_dirs(s), 'ffmpeg %s: no folder left' % what)

shutil.rmtree(base, ignore_errors=True)
done()
