#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Benchmark the renders.  Slideshows: the ffmpeg command tiktok-fcgi
really runs (captured from a live render of a photo post with 3 and with
10 images, 1080x1440 JPEGs and an MP3) against the reference pipeline
(libx264 -preset medium -crf 23, 30 fps, the same scale/pad/concat) on
the same inputs, wall and CPU time (user + sys), best of 3, and the whole
HTTP request against the reference.  Audio: the whole request for the
MP3 of a 60 s video post (720x1280 H.264 + AAC), first and reused.

    python3 bench/bench_slideshow.py
"""

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
os.environ.setdefault('TOP_SRCDIR', TOP)
os.environ.setdefault('TOP_BUILDDIR', TOP)
sys.path.insert(0, os.path.join(TOP, 'tests', 'integration'))
from stack import Stack  # noqa: E402

FF = shutil.which('ffmpeg')
tmp = tempfile.mkdtemp(prefix='tiktok-fcgi-bench-')
docroot = os.path.join(tmp, 'docroot')
os.makedirs(docroot)
for i in range(1, 11):
    subprocess.run([FF, '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                    'testsrc2=size=1080x1440:rate=1', '-vf',
                    'hue=h=%d' % (i * 30), '-frames:v', '1', '-q:v', '3',
                    os.path.join(docroot, 'img%d.jpg' % i)], check=True)
subprocess.run([FF, '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                'sine=frequency=440:duration=15', '-c:a', 'libmp3lame',
                os.path.join(docroot, 'audio.mp3')], check=True)

# A wrapper that keeps the argv, the sound and the images (its stdin) of
# each render, for timing the command alone.
cap = os.path.join(tmp, 'captured')
os.makedirs(cap)
wrap = os.path.join(tmp, 'ffmpeg-capture.sh')
with open(wrap, 'w') as f:
    f.write('#!/bin/sh\nd=%s/$$\nmkdir -p "$d"\n'
            'for a in "$@"; do printf "%%s\\0" "$a"; done > "$d/argv"\n'
            'cat > "$d/stdin"\n'       # the images: the sound is there then
            'for a in "$@"; do case "$a" in */audio) '
            'cp "$a" "$d/";; esac; done\n'
            'exec %s "$@" < "$d/stdin"\n' % (cap, FF))
os.chmod(wrap, 0o755)


def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(argv, stdin=None):
    best = None
    for _ in range(3):
        c0, t0 = cpu(), time.time()
        with open(stdin or os.devnull, 'rb') as f:
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL,
                           stdin=f)
        w, c = time.time() - t0, cpu() - c0
        best = (w, c) if best is None or w < best[0] else best
    return best


def reference(inputs, n, out):
    av = [FF, '-nostdin', '-loglevel', 'error', '-y']
    for i in range(n):
        av += ['-loop', '1', '-framerate', '30', '-t', '4', '-i',
               os.path.join(inputs, 'img%03d' % i)]
    av += ['-stream_loop', '-1', '-i', os.path.join(inputs, 'audio')]
    chains = ''.join('[%d:v]scale=1080:1920:force_original_aspect_ratio='
                     'decrease,pad=1080:1920:(ow-iw)/2:(oh-ih)/2,setsar=1'
                     '[v%d];' % (i, i) for i in range(n))
    chains += ''.join('[v%d]' % i for i in range(n))
    chains += 'concat=n=%d:v=1:a=0,format=yuv420p[v]' % n
    av += ['-filter_complex', chains, '-map', '[v]', '-map', '%d:a' % n,
           '-c:v', 'libx264', '-preset', 'medium', '-crf', '23', '-r', '30',
           '-c:a', 'aac', '-t', str(4 * n), '-movflags', '+faststart', out]
    return av


print('%-10s %-28s %-28s %s' % ('images', 'tiktok-fcgi (wall, cpu)',
                                 'reference (wall, cpu)', 'ratio (wall)'))
for n in (3, 10):
    # The whole request with the real ffmpeg, best of 3 (three posts: a
    # render is reused), as the reference is timed.
    with Stack(docroot=docroot, env={'LOG_LEVEL': 'warn'}) as s:
        e2e = None
        for k in range(3):
            r = s.tiktok('https://www.tiktok.com/@images%d/photo/74%015d%02d'
                         % (n, n, k))
            link = s.local(r.json()['download_slideshow_link'])
            t0 = time.time()
            r = s.get(link)
            w = time.time() - t0
            assert r.status == 200, r.body[:200]
            e2e = w if e2e is None else min(e2e, w)
    # The command alone, captured from a live render.
    shutil.rmtree(cap)
    os.makedirs(cap)
    with Stack(docroot=docroot, env={'FFMPEG': wrap, 'LOG_LEVEL': 'warn'}) \
            as s:
        r = s.tiktok('https://www.tiktok.com/@images%d/photo/74%017d'
                     % (n, n))
        r = s.get(s.local(r.json()['download_slideshow_link']))
        assert r.status == 200, r.body[:200]
    run = os.path.join(cap, os.listdir(cap)[0])
    argv = open(os.path.join(run, 'argv'), 'rb').read().split(b'\0')[:-1]
    argv = [FF] + [a.decode() for a in argv]
    # Point the captured command at the captured sound.
    argv = [os.path.join(run, os.path.basename(a)) if '/render-' in a else a
            for a in argv]
    argv[-1] = os.path.join(tmp, 'ours.mp4')
    ours = timed(argv, os.path.join(run, 'stdin'))
    # The reference on the same images (the CDN's files) and sound.
    inputs = os.path.join(tmp, 'inputs')
    shutil.rmtree(inputs, ignore_errors=True)
    os.makedirs(inputs)
    for i in range(n):
        shutil.copy(os.path.join(docroot, 'img%d.jpg' % (i + 1)),
                    os.path.join(inputs, 'img%03d' % i))
    shutil.copy(os.path.join(run, 'audio'), os.path.join(inputs, 'audio'))
    ref = timed(reference(inputs, n, os.path.join(tmp, 'ref.mp4')))
    print('%-10s %-28s %-28s %.1fx   (HTTP request end to end %.2f s: '
          '%.2f x the reference)'
          % (n, '%.2f s, %.2f s' % ours, '%.2f s, %.2f s' % ref,
             ref[0] / ours[0], e2e, e2e / ref[0]))

# Audio: the "mp3" link of a 60 s video post.
subprocess.run([FF, '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                'testsrc2=size=720x1280:rate=30', '-f', 'lavfi', '-i',
                'sine=frequency=440:sample_rate=44100', '-t', '60',
                '-c:v', 'libx264', '-preset', 'veryfast', '-c:a', 'aac',
                '-b:a', '128k', '-shortest',
                os.path.join(docroot, 'video.mp4')], check=True)
with Stack(docroot=docroot, env={'LOG_LEVEL': 'warn'}) as s:
    r = s.tiktok('https://www.tiktok.com/@cdn_files_video.mp4/video/'
                 '7300000000000000060')
    link = s.local(r.json()['download_link']['mp3'])
    t0 = time.time()
    r = s.get(link)
    first = time.time() - t0
    assert r.status == 200 and r.header('content-type') == 'audio/mpeg', \
        r.body[:200]
    t0 = time.time()
    r2 = s.get(link)
    again = time.time() - t0
print('audio, 60 s video: MP3 of %d KB, whole request %.2f s (fetch and '
      'ffmpeg), reused %.3f s' % (len(r.body) // 1024, first, again))
shutil.rmtree(tmp, ignore_errors=True)
