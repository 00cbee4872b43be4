#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Renders under hostile input and faults (the real ffmpeg, wrapped to
count runs and slowed down on demand).

1. ffmpeg never guesses an input's format: a post whose "video" is an
   HLS playlist naming a local file is refused (502) by /download-audio,
   the file never served; as a slideshow's sound it is left out.
2. RENDER_FETCH_MAX: a render downloads no more than that (502).
   Every ffmpeg run reads only pipe:0 and files of its render's folder,
   each input's format named and its protocols limited.
3. A kept render whose folder went (a janitor, a person) is made again
   (200), not a 500.
4. ffmpeg killed mid-render, three clients waiting: the render is tried
   once more, all three get it, and the log says why.
5. A full TEMP_DIR (a small tmpfs, in a mount namespace of the app's own:
   unshare): 503 with Retry-After, in the log as a full disk; room again,
   200.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import FAKES, check, done, skip, wait_for  # noqa: E402
from stack import Stack, ffmpeg_pids, ffmpeg_slow, render_dirs  # noqa: E402

FFMPEG = shutil.which('ffmpeg')
FFPROBE = shutil.which('ffprobe')
if not FFMPEG or not FFPROBE:
    skip('ffmpeg/ffprobe are not installed (apt-get install ffmpeg)')
WRAP = os.path.join(FAKES, 'fake_ffmpeg.sh')
PHOTO = 'https://www.tiktok.com/@%s/photo/74000000000000%05d'
VIDEO = 'https://www.tiktok.com/@cdn_files_%s/video/%d'


def ff(*args):
    subprocess.run([FFMPEG, '-loglevel', 'error', '-y'] + list(args),
                   check=True)


def streams(body, tmp):
    p = os.path.join(tmp, 'probe.bin')
    with open(p, 'wb') as f:
        f.write(body)
    out = subprocess.run([FFPROBE, '-v', 'error', '-show_entries',
                          'stream=codec_type', '-of', 'json', p],
                         capture_output=True, text=True).stdout
    return [x['codec_type'] for x in json.loads(out).get('streams', [])]


base = tempfile.mkdtemp(prefix='tiktok-fcgi-renders-')
docroot = os.path.join(base, 'docroot')
os.makedirs(docroot)
for i in (1, 2, 3):
    ff('-f', 'lavfi', '-i', 'testsrc2=size=640x480:rate=1', '-frames:v', '1',
       os.path.join(docroot, 'img%d.jpg' % i))
ff('-f', 'lavfi', '-i', 'sine=frequency=440:duration=3', '-c:a',
   'libmp3lame', os.path.join(docroot, 'audio.mp3'))
ff('-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-f', 'lavfi', '-i',
   'sine=frequency=440', '-t', '4', '-c:v', 'libx264', '-preset',
   'ultrafast', '-c:a', 'aac', '-shortest',
   os.path.join(docroot, 'video.mp4'))
# A file of the machine's that must never come out (a sound, so that
# ffmpeg would gladly serve it), and a playlist that names it.
secret = os.path.join(base, 'secret.mp3')
ff('-f', 'lavfi', '-i', 'sine=frequency=1000:duration=2', '-c:a',
   'libmp3lame', secret)
playlist = ('#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n'
            '#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.0,\n%s\n#EXT-X-ENDLIST\n'
            % secret)
with open(os.path.join(docroot, 'playlist.mp4'), 'w') as f:
    f.write(playlist)
# Big enough for RENDER_FETCH_MAX=1 (MB).
with open(os.path.join(docroot, 'big.mp4'), 'wb') as f:
    f.write(open(os.path.join(docroot, 'video.mp4'), 'rb').read())
    f.write(os.urandom(2 * 1024 * 1024))


def audio_link(s, name, vid):
    r = s.tiktok(VIDEO % (name, vid))
    assert r.status == 200, r.body
    return s.local(r.json()['download_link']['mp3'])


def slideshow_link(s, mode, n):
    r = s.tiktok(PHOTO % (mode, n))
    assert r.status == 200, r.body
    return s.local(r.json()['download_slideshow_link'])


with Stack(docroot=docroot, env={'FFMPEG': WRAP, 'SLIDESHOW_TIMEOUT': '30',
                                 'RENDER_FETCH_MAX': '1'}) as s:
    # 1. A playlist for a video.
    r = s.get(audio_link(s, 'playlist.mp4', 7300000000000000001))
    check(r.status == 502 and 'error' in r.json(),
          'a playlist naming a local file as the video: 502 (%d %r)'
          % (r.status, r.body[:80]))
    check('in no format we know' in s.log(), 'and the log says why')
    r = s.get(audio_link(s, 'video.mp4', 7300000000000000002))
    check(r.status == 200 and streams(r.body, base) == ['audio'],
          'a real video: its MP3 (200)')

    # 2. More than a render may download.
    r = s.get(audio_link(s, 'big.mp4', 7300000000000000003))
    check(r.status == 502 and 'larger than a render may download' in
          r.json()['error'], 'over RENDER_FETCH_MAX: 502 (%d %r)'
          % (r.status, r.body[:100]))

    # 3. A kept render whose folder went.
    link = slideshow_link(s, 'ok', 1)
    r = s.get(link)
    check(r.status == 200, 'a slideshow (200)')
    for d in render_dirs(s):
        shutil.rmtree(os.path.join(s.tmp, 'work', d))
    n = len(ffmpeg_pids(s))
    r = s.get(link)
    check(r.status == 200 and len(ffmpeg_pids(s)) == n + 1 and
          'its file is gone: rendering again' in s.log(),
          'its folder removed: rendered again, 200 (%d)' % r.status)

    # 4. ffmpeg killed, three waiting.
    ffmpeg_slow(s, 5)
    link = slideshow_link(s, 'ok', 2)
    n = len(ffmpeg_pids(s))
    with ThreadPoolExecutor(3) as ex:
        futs = [ex.submit(s.get, link) for _ in range(3)]
        pid = wait_for(lambda: ffmpeg_pids(s)[n:], 20, 'ffmpeg')[0]
        ffmpeg_slow(s, 0)
        os.kill(pid, 9)
        res = [f.result() for f in futs]
    check([x.status for x in res] == [200] * 3 and
          len(set(x.body for x in res)) == 1,
          'ffmpeg killed, 3 waiting: the render tried again, all 3 get it '
          '(%s)' % [x.status for x in res])
    log = s.log()
    check('killed by signal 9' in log and 'trying once more' in log,
          'the log names the cause (ffmpeg killed) and the retry')

    # ffmpeg only ever gets pipes and files of the render's folder, each
    # with its format named and its protocols limited.
    work = os.path.join(s.tmp, 'work', 'render-')
    runs = [l.split('\t')[:-1] for l in open(os.path.join(
        s.state, 'ffmpeg-args')).read().splitlines()]
    bad = []
    for args in runs:
        fmt = proto = None
        for i, a in enumerate(args):
            if a == '-f':
                fmt = args[i + 1]
            elif a == '-protocol_whitelist':
                proto = args[i + 1]
            elif a == '-i':
                src = args[i + 1]
                if not ((src == 'pipe:0' and proto == 'pipe') or
                        (src.startswith(work) and proto == 'file')) or \
                        fmt is None:
                    bad.append(args)
                fmt = proto = None
    check(len(runs) >= 4 and bad == [], 'every ffmpeg run (%d): inputs are '
          'pipe:0 or files of the render\'s folder, each with -f and '
          '-protocol_whitelist %s' % (len(runs), bad[:1]))

with Stack(docroot=docroot, env={'FFMPEG': WRAP}) as s:
    # 1. A playlist for a slideshow's sound: rendered without it.
    shutil.copy(os.path.join(docroot, 'playlist.mp4'),
                os.path.join(docroot, 'audio.mp3'))
    try:
        r = s.get(slideshow_link(s, 'ok', 3))
    finally:
        ff('-f', 'lavfi', '-i', 'sine=frequency=440:duration=3', '-c:a',
           'libmp3lame', os.path.join(docroot, 'audio.mp3'))
    check(r.status == 200 and streams(r.body, base) == ['video'],
          'a playlist as a slideshow\'s sound: left out, a silent video '
          '(%d, %s)' % (r.status, streams(r.body, base)
                        if r.status == 200 else r.body[:80]))

# 5. A full TEMP_DIR: a 1 MB tmpfs mounted over it for the app alone.
unshare = shutil.which('unshare')
probe = subprocess.run([unshare or 'unshare', '-rm', 'true'],
                       capture_output=True) if unshare else None
if probe is None or probe.returncode != 0:
    print('# SKIP the full-disk part: no unshare, or no mount namespace '
          'here (%s)' % (probe.stderr.decode().strip() if probe else
                         'util-linux missing'))
else:
    s = Stack(docroot=docroot, env={'FFMPEG': WRAP})
    real_spawn = s.spawn_bin
    wrapper = os.path.join(s.tmp, 'spawn-in-tmpfs')
    with open(wrapper, 'w') as f:
        f.write('#!/bin/sh\nmkdir -p "$TEMP_DIR"\nexec %s -rm sh -c '
                '\'mount -t tmpfs -o size=1m tmpfs "$TEMP_DIR" && exec '
                '"$0" "$@"\' %s "$@"\n' % (unshare, real_spawn))
    os.chmod(wrapper, 0o755)
    s.spawn_bin = wrapper
    with s:
        work = '/proc/%d/root%s' % (s.app.pid, os.path.join(s.tmp, 'work'))
        filler = os.path.join(work, 'filler')
        with open(filler, 'wb') as f:
            try:
                while True:
                    f.write(b'\0' * 65536)
                    f.flush()
            except OSError:
                pass
        r = s.get(slideshow_link(s, 'ok', 5))
        check(r.status == 503 and r.header('retry-after') and
              'error' in r.json(),
              'TEMP_DIR full: 503 with Retry-After (%d %r)'
              % (r.status, r.body[:100]))
        check('is full' in s.log(), 'the log says the disk is full')
        check(render_dirs(s) == [] or all(
            not os.listdir(os.path.join(work, d)) for d in render_dirs(s)),
            'nothing half-written left')
        os.unlink(filler)
        r = s.get(slideshow_link(s, 'ok', 6))
        check(r.status == 200, 'room again: 200 (%d)' % r.status)

shutil.rmtree(base, ignore_errors=True)
done()
