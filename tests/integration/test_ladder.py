#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Today's ladder (issue 27), with yt-dlp's real TikTok and Douyin
extractors against the fake TikTok (ladders.py), in both generations:
Debian's 2023.03.04 reads the app API, the current one the web page.

For each post (today's ladder on TikTok and on Douyin, one with only
HEVC rungs, one with only SD rungs): the links are the ones the rules
give (SD < 720 <= HD by the short side; H.264 first, then larger, then
the higher bit rate; the best HEVC as no_watermark_hevc when larger; no
bytevc2, no video-only rung, the watermarked file only as watermark),
the same with both generations; each link's file, as we relay it, is
checked with ffprobe (codec, short side, sound, HEVC tagged hvc1);
"allowH265": true makes no_watermark_hd the HEVC 1080p (no new
extraction); no_watermark_hd plays in headless Chromium.  The files are
real, encoded at test time by ffmpeg (libx264, libx265).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, done, skip, which  # noqa: E402
from stack import Stack  # noqa: E402
from tiktok_world import BASE, FakeTikTok, generations  # noqa: E402
import browser  # noqa: E402
import ladders  # noqa: E402

TT = 'https://www.tiktok.com/@fakecreator/video/%s'
DY = 'https://www.douyin.com/video/%s'
TODAY = {'watermark': 'download', 'no_watermark': 'h264_540p_900000',
         'no_watermark_hd': 'h264_720p_1500000',
         'watermark_hd': 'bytevc1_1080p_2000000',
         'no_watermark_hevc': 'bytevc1_1080p_2000000'}
TODAY_H265 = {'watermark': 'download', 'no_watermark': 'h264_540p_900000',
              'no_watermark_hd': 'bytevc1_1080p_2000000',
              'watermark_hd': 'h264_720p_1500000'}
POSTS = [
    ('today', TT % '7300000000000000711', TODAY),
    ('Douyin today', DY % '7300000000000000611', TODAY),
    ('HEVC only', TT % '7300000000000000721',
     {'watermark': 'download', 'no_watermark': 'bytevc1_540p_600000',
      'no_watermark_hd': 'bytevc1_1080p_2000000',
      'watermark_hd': 'bytevc1_720p_1200000'}),
    ('SD only', TT % '7300000000000000731',
     {'watermark': 'download', 'no_watermark': 'h264_540p_900000'}),
]
HD_LINKS = ('no_watermark_hd', 'watermark_hd')


def file_of(rung):
    """The media file (ladders.FILES) behind a rung's name, or None."""
    if rung == 'download':
        return ladders.WATERMARKED
    for rungs in ladders.LADDERS.values():
        for r in rungs:
            if r.fid == rung:
                return r.file
    return None


def rung_at(path):
    """The rung a CDN path names: /video/ID/RUNG.mp4, /obj/ID/RUNG.mp4,
    /video/ID/RUNG/media-video-hvc1/."""
    parts = path.split('?')[0].split('/')
    return parts[3][:-4] if parts[3].endswith('.mp4') else parts[3]


def last_media(fake, since):
    for line in reversed(fake.log()[since:]):
        method, host, path = line.split(' ', 2)
        if method == 'GET' and ('tiktokcdn' in host or
                                host == 'v16-webapp-prime.tiktok.com'):
            return path
    return None


def probe(ffprobe, data):
    """What ffprobe says of data: {'video': stream or None, 'audio':
    bool}, or None when it cannot read it."""
    with tempfile.NamedTemporaryFile(suffix='.mp4', dir=BASE) as f:
        f.write(data)
        f.flush()
        r = subprocess.run([ffprobe, '-v', 'error', '-show_entries',
                            'stream=codec_type,codec_name,codec_tag_string,'
                            'width,height', '-of', 'json', f.name],
                           capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return None
    streams = json.loads(r.stdout).get('streams') or []
    video = [x for x in streams if x.get('codec_type') == 'video']
    return {'video': video[0] if video else None,
            'audio': any(x.get('codec_type') == 'audio' for x in streams)}


def post(s, url, **extra):
    return s.request('POST', '/tiktok', body=json.dumps(dict(url=url,
                     **extra)), headers={'Content-Type': 'application/json'},
                     timeout=90)


def check_file(gen, what, key, rung, body, media, ffprobe):
    """The relayed file is the rung's, whole, and is what it should be."""
    name = file_of(rung)
    path = name and os.path.join(media, name + '.mp4')
    want = open(path, 'rb').read() if path and os.path.exists(path) \
        else None
    check(want is not None and body == want, '%s: %s: %s relays the rung '
          '%s whole (%d bytes)' % (gen, what, key, rung, len(body)))
    p = probe(ffprobe, body)
    if not check(p is not None and p['video'] is not None,
                 '%s: %s: ffprobe reads %s\'s video' % (gen, what, key)):
        return
    enc, w, h = ladders.FILES[name][:3] if name else ('?', 0, 0)
    v = p['video']
    side = min(v.get('width', 0), v.get('height', 0))
    codec = {'libx264': 'h264', 'libx265': 'hevc'}.get(enc)
    check(v.get('codec_name') == codec and side == min(w, h),
          '%s: %s: %s is %s with a short side of %d (%s, %s)'
          % (gen, what, key, codec, min(w, h), v.get('codec_name'), side))
    if key in HD_LINKS or key == 'no_watermark_hevc':
        check(side >= 720, '%s: %s: %s is HD (%d)' % (gen, what, key, side))
    elif key == 'no_watermark':
        check(side < 720, '%s: %s: %s is SD (%d)' % (gen, what, key, side))
    check(p['audio'], '%s: %s: %s has sound' % (gen, what, key))
    if codec == 'hevc':
        check(v.get('codec_tag_string') == 'hvc1', '%s: %s: the relayed '
              'HEVC keeps its hvc1 tag (%s)' % (gen, what,
                                                v.get('codec_tag_string')))


def links(s, fake, gen, what, ans, want, media, ffprobe):
    """{link: rung} of a video answer, each link fetched (and its file
    checked when there are real files); checked against want."""
    dl = ans.get('download_link') or {}
    got = {}
    for key in sorted(k for k in dl if k != 'mp3'):
        n = len(fake.log())
        r = s.get(s.local(dl[key]), timeout=60)
        path = last_media(fake, n)
        got[key] = rung_at(path) if path else None
        if not check(r.status == 200 and path, '%s: %s: %s streams (%d)'
                     % (gen, what, key, r.status)):
            continue
        if media:
            check_file(gen, what, key, got[key], r.body, media, ffprobe)
    check(got == want, '%s: %s: the links are %s (%s)'
          % (gen, what, want, got))
    return got


def check_mp3(s, gen, ans, ffprobe):
    r = s.get(s.local(ans['download_link']['mp3']), timeout=90)
    p = probe(ffprobe, r.body) if r.status == 200 else None
    check(p is not None and p['audio'] and p['video'] is None,
          '%s: today: the mp3 link is sound made from a file that has it '
          '(%d)' % (gen, r.status))


def check_h265(s, fake, gen, media, ffprobe):
    """allowH265: the best HD file whatever its codec, from the same
    extraction; anything but a boolean is refused."""
    url = POSTS[0][1]
    m0 = s.health()['cache']['misses']
    r = post(s, url, allowH265=True)
    if check(r.status == 200, '%s: allowH265: 200 (%d)' % (gen, r.status)):
        links(s, fake, gen, 'today, allowH265', r.json(), TODAY_H265,
              media, ffprobe)
    r = post(s, url, allowH265=False)
    if check(r.status == 200, '%s: allowH265 false: 200' % gen):
        check(sorted(r.json()['download_link']) ==
              sorted(list(TODAY) + ['mp3']),
              '%s: allowH265 false: the default links' % gen)
    check(s.health()['cache']['misses'] == m0, '%s: allowH265 reshapes the '
          'cached post, no new extraction' % gen)
    for bad in ('yes', 1, [True]):
        r = post(s, url, allowH265=bad)
        check(r.status == 400 and 'allowH265' in r.json().get('error', ''),
              '%s: allowH265=%r: 400 naming it (%d)' % (gen, bad, r.status))


def check_browser(s, gen, ans, play):
    dl = ans['download_link']
    r = play(dl['no_watermark_hd'])
    check(r.get('played') and r.get('width') == 720 and
          r.get('height') == 1280 and r.get('frames', 0) > 0,
          '%s: no_watermark_hd plays in headless Chromium, picture and '
          'all (%s: %s)' % (gen, dl['no_watermark_hd'][:60], r))
    r = play(dl['no_watermark_hevc'])
    print('# this Chromium with the HEVC link: %s' % r)


def run(gen, py, media, ffprobe, play):
    fake = FakeTikTok('ladder-' + gen, media)
    seen = {}
    with Stack(helper='real', env={
            'YTDLP_PYTHON': py, 'OUTBOUND_PROXY': fake.proxy,
            'CA_FILE': fake.ca, 'FETCH_ALLOW_PRIVATE': '0',
            'YTDLP_TIMEOUT': '60'}) as s:
        for what, url, want in POSTS:
            r = post(s, url)
            if not check(r.status == 200, '%s: %s: 200 (%d %s)'
                         % (gen, what, r.status, r.body[:200])):
                continue
            ans = r.json()
            seen[what] = links(s, fake, gen, what, ans, want, media,
                               ffprobe)
            if what == 'today' and media:
                check_mp3(s, gen, ans, ffprobe)
                if play:
                    check_browser(s, gen, ans, play)
        check_h265(s, fake, gen, media, ffprobe)
    fake.stop()
    return seen


gens = generations()
if not gens:
    skip('no yt-dlp to test with (apt-get install yt-dlp; YTDLP_WHEELS)')
ffmpeg, ffprobe = which('ffmpeg'), which('ffprobe')
media = os.path.join(BASE, 'media')
try:
    if not ffmpeg or not ffprobe:
        raise OSError('no ffmpeg and ffprobe (apt-get install ffmpeg)')
    ladders.make_media(media, ffmpeg)
except (OSError, subprocess.SubprocessError) as e:
    media = None
    print('# SKIP the files\' checks (ffprobe, Chromium): the media files '
          'cannot be made: %s' % e)
play, why = browser.player() if media else (None, None)
if media and play is None:
    print('# SKIP playing in headless Chromium: %s' % why)

seen = {gen: run(gen, py, media, ffprobe, play) for gen, py in gens}
if len(seen) == 2:
    for what, _, _ in POSTS:
        check(seen['debian'].get(what) == seen['current'].get(what),
              '%s: both yt-dlp generations give the same links (%s / %s)'
              % (what, seen['debian'].get(what), seen['current'].get(what)))
else:
    print('# SKIP comparing the generations: only %s ran'
          % ', '.join(seen))
print('# yt-dlp generations tested: %s' % ', '.join(seen))
shutil.rmtree(BASE, ignore_errors=True)
done()
