#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The real helper and yt-dlp's real TikTok extractor against a fake
TikTok (fake_tiktok.py, reached through OUTBOUND_PROXY with its own CA in
CA_FILE), with both yt-dlp generations:

  debian    Debian 12's yt-dlp 2023.03.04 (/usr/bin/python3)
  current   the newest yt-dlp, installed the way users install it: by
            tiktok-fcgi-ytdlp update, from the wheel folder in
            YTDLP_WHEELS (the stand-in for the package index here)

For each: the helper registers only the TikTok, short-link and Douyin
extractors; every URL form users paste gives the same answer as the
canonical URL with one extraction; links stream the bytes TikTok's CDN
serves (cookie and Referer reach libcurl); the watermarked file is only
ever the watermark link; photo posts and Douyin; every error means what
it says and carries our words, not yt-dlp's; /health notices an outdated
yt-dlp and an address TikTok blocks.  Today's TikTok is readable by the
current yt-dlp only: the Debian one is checked on older page shapes and
must answer today's with 502 "may be outdated".
"""

import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TOP_SRCDIR, check, done, skip  # noqa: E402
from stack import Stack  # noqa: E402
from tiktok_world import (BASE, FakeTikTok, expected, fetch,  # noqa
                         generations, ytdlp_version)


def same_answer(a, b):
    """Two answers agree but for the (randomly sealed) tokens."""
    def strip(x):
        x = dict(x)
        dl = x.pop('download_link', {})
        x.pop('download_slideshow_link', None)
        if '?url=' in x.get('audio', ''):
            x.pop('audio')      # our link: its token is sealed anew
        return x, sorted(dl)
    return strip(a) == strip(b)


def forms(vid):
    u = 'https://www.tiktok.com/@fakecreator/video/%s' % vid
    return [
        ('spaces', '  %s \n' % u),
        ('share text', 'Check this out %s?is_from_webapp=1 #fyp' % u),
        ('vm. short link', 'https://vm.tiktok.com/ZSV%s/' % vid),
        ('vt. short link', 'https://vt.tiktok.com/ZSV%s/' % vid),
        ('/t/ short link', 'https://www.tiktok.com/t/ZSV%s/' % vid),
        ('m.tiktok.com/v/ID.html', 'https://m.tiktok.com/v/%s.html' % vid),
        ('m.tiktok.com/@u/video/ID',
         'https://m.tiktok.com/@fakecreator/video/%s' % vid),
        ('no www', 'https://tiktok.com/@fakecreator/video/%s' % vid),
        ('/embed/ID', 'https://www.tiktok.com/embed/%s' % vid),
        ('/embed/v2/ID', 'https://www.tiktok.com/embed/v2/%s' % vid),
        ('/@u/photo/ID', 'https://www.tiktok.com/@fakecreator/photo/%s'
         % vid),
        ('tracking parameters', u + '?_r=1&_t=8abc&sender_device=pc'),
        ('another user name', 'https://www.tiktok.com/@b/video/%s' % vid),
    ]


def misses(s):
    return s.health()['cache']['misses']


def check_url_forms(s, gen, vid):
    canon = 'https://www.tiktok.com/@fakecreator/video/%s' % vid
    m0 = misses(s)
    r = s.tiktok(canon, timeout=90)
    if not check(r.status == 200, '%s: %s answers 200 (%d %s)'
                 % (gen, vid, r.status, r.body[:200])):
        return None
    ref = r.json()
    for what, text in forms(vid):
        r = s.tiktok(text, timeout=90)
        check(r.status == 200 and same_answer(r.json(), ref),
              '%s: %s gives the canonical answer (%d)'
              % (gen, what, r.status))
    check(misses(s) - m0 == 1, '%s: %d spellings of one post, one '
          'extraction (%d)' % (gen, len(forms(vid)) + 1, misses(s) - m0))
    return ref


def check_video(s, fake, gen, ans):
    dl = ans['download_link']
    clean = dl.get('no_watermark') or dl.get('no_watermark_hd')
    check(ans['status'] == 'tunnel' and clean and 'watermark' in dl,
          '%s: a video answer with clean and watermarked links (%s)'
          % (gen, sorted(dl)))
    if not clean or 'watermark' not in dl:
        return
    check(ans['author']['nickname'] == 'fakecreator' and
          ans['statistics']['play_count'] == 2007,
          '%s: author and statistics' % gen)
    r, wpath, want = fetch(s, fake, dl['watermark'])
    check(r.status == 200 and wpath is not None and
          wpath.endswith('/download.mp4') and r.body == want,
          '%s: the watermark link streams the watermarked file (%s)'
          % (gen, wpath))
    # The sound of a video post is an MP3 render of the post (test_audio
    # checks what it delivers); "audio" names the same link.
    check('/download-audio?url=' in dl.get('mp3', '') and
          ans['audio'] == dl['mp3'], '%s: mp3 is the audio render of the '
          'post, and "audio" names it' % gen)
    for name in ('no_watermark', 'no_watermark_hd', 'watermark_hd'):
        if name not in dl:
            continue
        r, path, want = fetch(s, fake, dl[name])
        check(r.status == 200 and path is not None and r.body == want and
              len(r.body) > 0, '%s: %s streams what the CDN serves (%s, '
              '%d bytes)' % (gen, name, path, len(r.body)))
        check(path != wpath, '%s: %s is not the watermarked file'
              % (gen, name))
    r = s.get(s.local(clean), headers={'Range':
                                                     'bytes=100-199'})
    _, want = expected(fake, 0)
    check(r.status == 206 and r.body == want[100:200],
          '%s: Range 100-199 gives those bytes' % gen)


def check_photo(s, fake, gen, vid):
    r = s.tiktok('https://www.tiktok.com/@fakecreator/photo/%s' % vid,
                 timeout=90)
    if not check(r.status == 200, '%s: photo post %s: 200 (%d %s)'
                 % (gen, vid, r.status, r.body[:200])):
        return
    a = r.json()
    check(a['status'] == 'picker' and len(a['photos']) == 3 and
          len(a['download_link']['no_watermark']) == 3 and
          a['download_slideshow_link'], '%s: picker with 3 photos, their '
          'links and the slideshow link' % gen)
    r, path, want = fetch(s, fake, a['download_link']['no_watermark'][1])
    check(r.status == 200 and path and path.endswith('img2.jpg') and
          r.body == want, '%s: the second photo downloads (%s)'
          % (gen, path))
    names = [s.request('HEAD', s.local(u)).header('x-filename')
             for u in a['download_link']['no_watermark']]
    check(names == ['fakecreator_%d.jpg' % k for k in (1, 2, 3)],
          '%s: each photo has its own file name, numbered (%s)'
          % (gen, names))
    r, path, want = fetch(s, fake, a['download_link']['mp3'])
    check(r.status == 200 and path and path.endswith('.mp3') and
          r.body == want, '%s: the sound downloads' % gen)


def check_douyin(s, gen):
    vid = '7300000000000000601'
    m0 = misses(s)
    r = s.tiktok('https://www.douyin.com/video/%s' % vid, timeout=90)
    if not check(r.status == 200, '%s: Douyin /video/ID: 200 (%d %s)'
                 % (gen, r.status, r.body[:200])):
        return
    ref = r.json()
    for text in ('https://www.douyin.com/discover?modal_id=%s' % vid,
                 'https://v.douyin.com/ZSV%s/' % vid):
        r = s.tiktok(text, timeout=90)
        check(r.status == 200 and same_answer(r.json(), ref),
              '%s: %s gives the same answer' % (gen, text.split('/')[2]))
    check(misses(s) - m0 == 1, '%s: one Douyin extraction' % gen)


RAW = ('please report', 'yt-dlp/issues', 'ERROR', 'Traceback', 'HTTP Error',
       'status code', 'json object')


def check_error(s, gen, vid, status, what, words=None):
    r = s.tiktok('https://www.tiktok.com/@fakecreator/video/%s' % vid,
                 timeout=90)
    try:
        msg = r.json()['error']
    except (ValueError, KeyError):
        msg = ''
    check(r.status == status and msg and
          not any(w.lower() in msg.lower() for w in RAW) and
          (words is None or words in msg),
          '%s: %s: %d with our words (%d %r)' % (gen, what, status,
                                                  r.status, msg))
    return r


REGISTRY = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import ytdlp_helper
yt = ytdlp_helper.Yt()
y = yt.ydl('')
print(json.dumps({'ies': sorted(y._ies), 'all': [m for m in sys.modules if
      m in ('yt_dlp.extractor._extractors', 'yt_dlp.extractor.extractors',
            'yt_dlp.extractor.youtube')]}))
"""


def helper_says(py, code):
    """The JSON that code, run by py with the helper importable, printed
    last; else the end of its stderr, as text."""
    r = subprocess.run([py, '-c', code, os.path.join(TOP_SRCDIR, 'src')],
                       capture_output=True, text=True)
    try:
        return json.loads(r.stdout.splitlines()[-1])
    except (ValueError, IndexError):
        return r.stderr.strip()[-300:]


def check_registry(gen, py):
    """The helper registers TikTok's, its short links' and Douyin's
    extractors only; yt-dlp's table of every extractor is never loaded."""
    got = helper_says(py, REGISTRY)
    check(isinstance(got, dict) and
          got['ies'] == ['Douyin', 'TikTok', 'TikTokVM'] and
          got['all'] == [], '%s: only the TikTok, short-link and Douyin '
          'extractors, no table of all (%s)' % (gen, got))


# What yt-dlp prints for --print: the helper sets no template, so no
# stage of an extraction renders the formats table, and a template set
# is still honoured.
UNPRINTING = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import ytdlp_helper
yt = ytdlp_helper.Yt()
y = yt.ydl('')
tables = []
type(y).render_formats_table = lambda self, info: tables.append(1) or ''
info = {'id': '1', 'title': 't', 'ext': 'mp4', 'url': 'https://x/1',
        'formats': [{'format_id': 'h264', 'url': 'https://x/1',
                     'ext': 'mp4'}]}
for key in ('pre_process', 'after_filter', 'video'):
    y._forceprint(key, info)
unset = len(tables)
y.params['forceprint'] = {'pre_process': ['%(id)s']}
y._forceprint('pre_process', info)
print(json.dumps({'unset': unset, 'set': len(tables) - unset}))
"""


def check_unprinting(gen, py):
    got = helper_says(py, UNPRINTING)
    check(got == {'unset': 0, 'set': 1}, '%s: no formats table rendered '
          'for --print templates the helper never sets; one set is '
          'still printed (%s)' % (gen, got))


def run(gen, py):
    check_registry(gen, py)
    check_unprinting(gen, py)
    fake = FakeTikTok(gen)
    want = ytdlp_version(py)
    with Stack(helper='real', env={
            'YTDLP_PYTHON': py, 'OUTBOUND_PROXY': fake.proxy,
            'CA_FILE': fake.ca, 'FETCH_ALLOW_PRIVATE': '0',
            'YTDLP_TIMEOUT': '60'}) as s:
        h = s.health()
        check(h['ytdlp'] == want and isinstance(h['ytdlp_age_days'], int),
              '%s: /health names yt-dlp %s and its age (%s days)'
              % (gen, want, h['ytdlp_age_days']))
        if gen == 'current':
            # Today's TikTok: universal data, a JS challenge, imagePost.
            ans = check_url_forms(s, gen, '7300000000000000101')
            if ans:
                check_video(s, fake, gen, ans)
            r = s.tiktok('https://www.tiktok.com/@fakecreator/video/'
                         '7300000000000000102', timeout=90)
            check(r.status == 200, '%s: a post behind the JS challenge'
                  % gen)
            check_photo(s, fake, gen, '7400000000000000101')
        else:
            # The app API's real shape: download_addr is watermarked.
            ans = check_url_forms(s, gen, '7300000000000000201')
            if ans:
                check_video(s, fake, gen, ans)
            check_photo(s, fake, gen, '7400000000000000201')
        # The older page (SIGI_STATE and universal data), both read it:
        # with yt-dlp 2023.03.04 every codec is null there.
        r = s.tiktok('https://www.tiktok.com/@u/video/7300000000000000301',
                     timeout=90)
        if check(r.status == 200, '%s: the older page shape: 200 (%d)'
                 % (gen, r.status)):
            check_video(s, fake, gen, r.json())
        check_douyin(s, gen)

        check_error(s, gen, '7300000000000000404', 404, 'missing post',
                    'Video not found')
        check_error(s, gen, '7300000000000000416', 403, 'private post')
        check_error(s, gen, '7300000000000000422', 403, 'private account')
        for vid in ('7300000000000000429', '7300000000000000403',
                    '7300000000000001429'):
            r = check_error(s, gen, vid, 503, 'TikTok refusing (%s)'
                            % vid[-3:])
            check(r.header('retry-after') is not None,
                  '%s: 503 with Retry-After' % gen)
        h = s.health()
        check(h['pool']['tiktok_blocking'] and
              any('refusing' in w for w in h['warnings']),
              '%s: /health says TikTok is blocking this address' % gen)
        fresh = '7300000000000000103' if gen == 'current' else \
            '7300000000000000202'
        r = s.tiktok('https://www.tiktok.com/@u/video/%s' % fresh,
                     timeout=90)
        check(r.status == 200 and not s.health()['pool']['tiktok_blocking'],
              '%s: a success clears the block warning' % gen)
        r = s.tiktok('https://www.tiktok.com/@fakecreator', timeout=30)
        check(r.status == 400 and 'single post' in r.json()['error'],
              '%s: a profile link: 400, not a post' % gen)

        # Unreadable answers: 502, "may be outdated"; again and again:
        # /health says yt-dlp is outdated.
        unreadable = ['7300000000000000502']
        if gen == 'debian':
            unreadable += ['7300000000000000101', '7300000000000000102',
                           '7400000000000000101']
        else:
            unreadable += ['7300000000000001502', '7300000000000002502']
        for vid in unreadable:
            check_error(s, gen, vid, 502, 'unreadable answer (%s)' % vid,
                        'outdated')
        h = s.health()
        check(h['pool']['ytdlp_outdated'] and
              any('outdated' in w for w in h['warnings']),
              '%s: /health says yt-dlp is probably outdated' % gen)
        log = s.log()
        check('Your IP address is blocked' in log or
              'Video not available' in log,
              "%s: yt-dlp's own words went to the log" % gen)
    fake.stop()


gens = generations()
if not gens:
    skip('no yt-dlp to test with (apt-get install yt-dlp; YTDLP_WHEELS)')
for gen, py in gens:
    run(gen, py)
print('# yt-dlp generations tested: %s' % ', '.join(g for g, _ in gens))
shutil.rmtree(BASE, ignore_errors=True)
done()
