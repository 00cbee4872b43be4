#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The page at GET /, in headless Chromium (browser.py) behind nginx with
the fake helper and a fake CDN serving real media (made by ffmpeg).

What a person does: a video post typed and submitted with the keyboard,
and its files downloaded (one by the browser, every one over HTTP); a
photo post opened as /?url=LINK (photos shown, each file served); share
text; a missing post, a private one, TikTok refusing (503): the API's
words; a title and an author holding <script> and "><img onerror>: shown
as text, no script run, no markup made; an answer with a download_link
key the page does not know (and one that is no http link); the
bookmarklet run on another page.  Each time: nothing but this origin and
the CDN's images loaded, no script or style file, no error, no layout
shift, no policy violation, every control named for screen readers.
Then the page under the prefix /api/ behind Apache, Caddy and lighttpd,
and WEB_UI=0 (/ is 404 as before, the API unchanged).

Screenshots of a phone-sized and a desktop window, light and dark, are
kept in the build tree's tests/integration/screenshots/.
"""

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import browser  # noqa
from harness import (TOP_BUILDDIR, check, done, skip, which,  # noqa
                     within)
from stack import Stack  # noqa: E402
from webservers import WEB_BINARIES  # noqa: E402

TT = 'https://www.tiktok.com/@%s/video/%s'
FFMPEG = shutil.which('ffmpeg')
CHROMIUM = browser.find()
if not CHROMIUM:
    if os.environ.get('CI'):
        check(False, 'chromium installed in CI (apt-get install chromium)')
        done()
    skip('chromium is not installed (apt-get install chromium)')
if not FFMPEG:
    skip('ffmpeg is not installed (apt-get install ffmpeg): no media for '
         'the fake CDN')

SHOTS = os.path.join(TOP_BUILDDIR, 'tests', 'integration', 'screenshots')
shutil.rmtree(SHOTS, ignore_errors=True)
os.makedirs(SHOTS)
PHONE = (390, 844, 2, True)
DESKTOP = (1280, 860, 1, False)

# The fake CDN's files: a video with sound, three photos, a cover, music.
base = tempfile.mkdtemp(prefix='tiktok-fcgi-webui-')
docroot = os.path.join(base, 'docroot')
os.makedirs(docroot)


def ff(*args):
    subprocess.run([FFMPEG, '-loglevel', 'error', '-y'] + list(args),
                   check=True)


for i in (1, 2, 3):
    ff('-f', 'lavfi', '-i', 'testsrc2=size=720x960:rate=1', '-vf',
       'hue=h=%d' % (i * 100), '-frames:v', '1',
       os.path.join(docroot, 'img%d.jpg' % i))
ff('-f', 'lavfi', '-i', 'testsrc2=size=540x720:rate=1', '-frames:v', '1',
   os.path.join(docroot, 'cover.jpg'))
ff('-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-f', 'lavfi',
   '-i', 'sine=frequency=440:sample_rate=44100', '-t', '2', '-c:v',
   'libx264', '-preset', 'ultrafast', '-c:a', 'aac', '-shortest',
   os.path.join(docroot, 'video.mp4'))
ff('-f', 'lavfi', '-i', 'sine=duration=2', '-c:a', 'libmp3lame',
   os.path.join(docroot, 'audio.mp3'))
VIDEO_BYTES = open(os.path.join(docroot, 'video.mp4'), 'rb').read()

STATE = 'document.documentElement.dataset.state'
FILES = """Array.from(document.querySelectorAll('#files a')).map(a => [
    a.querySelector('.name').textContent, a.querySelector('.what')
    .textContent, a.href, a.hasAttribute('download')])"""
PHOTOS = """Array.from(document.querySelectorAll('#photos a')).map(a => [
    a.href, a.hasAttribute('download'), a.textContent,
    a.querySelector('img').src])"""
IMAGES_IN = """Array.from(document.querySelectorAll('#result img'))
    .filter(i => i.getAttribute('src')).every(i => i.complete &&
    i.naturalWidth > 0)"""


def settled(p, timeout=60):
    """Wait for the lookup to end; its state (done or error)."""
    return p.wait("['done', 'error'].includes(%s) && %s" % (STATE, STATE),
                  timeout, 'the lookup to end')


def text(p, sel):
    return p.js('document.querySelector(%s).textContent' % json.dumps(sel))


def clean(p, s, tag):
    """What every view must be: only loopback loaded, nothing but the
    document itself from our origin (no script, style or font file), no
    error, no layout shift, no policy violation, every control named."""
    reqs = p.requests()
    hosts = {urllib.parse.urlsplit(u).hostname for u, _ in reqs
             if not u.startswith('data:')}
    check(hosts <= {'127.0.0.1'}, '%s: only loopback loaded (%s)'
          % (tag, hosts))
    files = [u for u, t in reqs if t in ('Script', 'Stylesheet', 'Font')]
    check(files == [], '%s: no script, style or font file (%s)'
          % (tag, files))
    check(p.errors() == [], '%s: no script error %s' % (tag, p.errors()))
    check(p.js('window.__violations') == [], '%s: no policy violation %s'
          % (tag, p.js('window.__violations')))
    check(p.js('window.__shift') == 0, '%s: no layout shift (%s)'
          % (tag, p.js('window.__shift')))
    named = p.ax_names({'link', 'button', 'textbox', 'image', 'heading'})
    check(named and all(n.strip() for _, n in named),
          '%s: every link, button, field, image and heading has a name '
          'for screen readers %s' % (tag, [r for r, n in named
                                           if not n.strip()]))


def fetched(s, href, ctype, tag, body=None):
    """A link of the page, fetched as a person's browser would."""
    r = s.get(s.local(href), timeout=120)
    check(r.status == 200 and (r.header('content-type') or '')
          .startswith(ctype) and 'attachment' in
          (r.header('content-disposition') or '') and len(r.body) > 0 and
          (body is None or r.body == body),
          '%s: %s... serves %s as an attachment (%d, %s, %d bytes)'
          % (tag, s.local(href)[:24], ctype, r.status,
             r.header('content-type'), len(r.body)))


def shoot(p, name, dark):
    p.scheme(dark)
    p.screenshot(os.path.join(SHOTS, name + ('-dark' if dark else '-light')
                              + '.png'))


with Stack(docroot=docroot) as s, browser.Browser(CHROMIUM) as b:
    # -- headers and the document ------------------------------------
    r = s.get('/')
    html = r.body.decode()
    csp = r.header('content-security-policy') or ''
    check(r.status == 200 and r.header('content-type') ==
          'text/html; charset=utf-8', 'GET /: the page, text/html')
    check(r.header('x-content-type-options') == 'nosniff' and
          r.header('referrer-policy') == 'no-referrer',
          'GET /: nosniff and no-referrer')
    check(r.header('content-length') == str(len(r.body)),
          'GET /: Content-Length')
    scripts = re.findall(r'<script([^>]*)>(.*?)</script>', html, re.S)
    styles = re.findall(r'<style([^>]*)>(.*?)</style>', html, re.S)

    def sha(t):
        return "'sha256-%s'" % base64.b64encode(
            hashlib.sha256(t.encode()).digest()).decode()
    policy = dict((d.split()[0], d.split()[1:]) for d in csp.split('; '))
    check(len(scripts) == 1 and scripts[0][0] == '' and
          policy.get('script-src') == [sha(scripts[0][1])],
          'CSP: the one script, inline, allowed by its hash alone')
    check(len(styles) == 1 and policy.get('style-src') == [sha(styles[0][1])],
          'CSP: the one style, allowed by its hash alone')
    check(policy.get('default-src') == ["'none'"] and
          policy.get('connect-src') == ["'self'"] and
          'unsafe' not in csp, 'CSP: nothing else (%s)' % csp)
    check(not re.search(r'<(script|link)[^>]+(src|href)="(https?:)?//',
                        html), 'no script or style from elsewhere')
    check(len(r.body) < 32768, 'the page is small (%d bytes)' % len(r.body))
    r = s.request('HEAD', '/')
    check(r.status == 200 and r.body == b'' and
          r.header('content-length') == str(len(html.encode())),
          'HEAD /: the headers only')

    # -- a video post, by keyboard, on a phone -------------------------
    video = TT % ('cdn_files_video.mp4', '7300000000000000501')
    p = b.page(*PHONE)
    p.scheme(False)
    p.goto(s.base + '/')
    shoot(p, 'start-phone', False)
    check(within(lambda: p.js('document.activeElement.id') == 'url',
                  5), 'the link field has the focus at first')
    p.type(video)
    p.key('Enter')
    check(settled(p) == 'done', 'video: looked up (%s)' % text(p, '#status'))
    check(p.js('document.activeElement.id') == 'title',
          'video: the focus moves to the post\'s title')
    check(text(p, '#status') == 'Found a video.', 'video: said so')
    check(text(p, '#title') == 'Fake TikTok video 2 #faketiktok #test' and
          text(p, '#author') == 'by fakecreator02' and
          '0:05' in text(p, '#facts'),
          'video: title, author and duration (%s)' % text(p, '#facts'))
    p.wait(IMAGES_IN, 10, 'the cover')
    check(p.js("document.getElementById('cover').src") ==
          s.cdn_url + '/files/cover.jpg', 'video: the cover shown')
    got = p.js(FILES)
    check([(n, w) for n, w, _, _ in got] == [
        ('Video HD', 'No watermark'), ('Video SD', 'No watermark'),
        ('Video HD', 'Another HD file, no watermark'),
        ('Video', 'With TikTok\u2019s watermark'), ('MP3', 'Sound only')],
        'video: a button per file, saying what it is (%s)'
        % [(n, w) for n, w, _, _ in got])
    check(all(d for _, _, _, d in got), 'video: each a download link')
    links = p.ax_names({'link'})
    check(('link', 'Video HD No watermark') in links and
          ('link', 'MP3 Sound only') in links,
          'video: a screen reader names each file by what it is (%s)'
          % links)
    check(all(h.startswith(s.base + ('/download-audio?url=' if n == 'MP3'
                                     else '/stream?data='))
              for n, _, h, _ in got), 'video: each link one of our routes')
    check(p.js('location.search') == '?url=' +
          urllib.parse.quote(video, safe=''),
          'video: the address now names the post (%s)'
          % p.js('location.search'))
    posts = [u for u, t in p.requests() if t == 'Fetch']
    check(posts == [s.base + '/tiktok'], 'video: one POST /tiktok (%s)'
          % posts)
    clean(p, s, 'video')
    shoot(p, 'video-phone', False)
    shoot(p, 'video-phone', True)
    check(p.js('getComputedStyle(document.body).backgroundColor') ==
          'rgb(15, 16, 20)', 'dark scheme: dark background')
    p.scheme(False)
    check(p.js('getComputedStyle(document.body).backgroundColor') ==
          'rgb(244, 244, 246)', 'light scheme: light background')

    # The first button, by keyboard: the browser downloads the file.
    p.key('Tab')
    check(p.js('document.activeElement.matches("#files a.file.first")'),
          'Tab from the title reaches the first file')
    p.key('Enter')
    begun = b.event('Browser.downloadWillBegin', timeout=30)
    end = b.event('Browser.downloadProgress',
                  lambda e: e['guid'] == begun['guid'] and
                  e['state'] != 'inProgress', timeout=60)
    path = os.path.join(b.downloads, begun['guid'])
    check(end['state'] == 'completed' and
          begun['suggestedFilename'] == 'fakecreator02.mp4' and
          open(path, 'rb').read() == VIDEO_BYTES,
          'Enter on it: the browser saves %s, the whole video (%s)'
          % (begun['suggestedFilename'], end['state']))
    for name, what, href, _ in got:
        if name == 'MP3':
            fetched(s, href, 'audio/mpeg', 'video MP3')
        else:
            fetched(s, href, 'video/mp4', 'video %s (%s)' % (name, what),
                    VIDEO_BYTES)
    p.close()

    # -- a photo post, opened as /?url=, on a desktop ------------------
    photo = 'https://www.tiktok.com/@ok/photo/7400000000000000502'
    p = b.page(*DESKTOP)
    p.scheme(True)
    p.goto(s.base + '/?url=' + urllib.parse.quote(photo, safe=''))
    check(settled(p) == 'done', '/?url=: looked up at once (%s)'
          % text(p, '#status'))
    check(p.js("document.getElementById('url').value") == photo,
          '/?url=: the field holds the link')
    check(text(p, '#status') == 'Found a photo post.' and
          text(p, '#facts').startswith('3 photos'), 'photo: said so')
    pics = p.js(PHOTOS)
    check(len(pics) == 3 and all(
        h.startswith(s.base + '/download?data=') and d and
        a == 'Photo %dJPEG\u2193' % (i + 1) and src == h
        for i, (h, d, a, src) in enumerate(pics)),
        'photo: three photos, each shown and a download link')
    p.wait(IMAGES_IN, 20, 'the photos to load')
    links = p.ax_names({'link'})
    check(all(('link', 'Photo %d JPEG' % i) in links for i in (1, 2, 3)),
          'photo: a screen reader names each photo once (%s)' % links)
    check(p.js("""Array.from(document.querySelectorAll('#photos img'))
        .every(i => i.naturalWidth === 720)"""),
          'photo: the photos are shown (through our route)')
    got = p.js(FILES)
    check([(n, w) for n, w, _, _ in got] == [
        ('Slideshow', 'MP4 of the photos with sound'), ('MP3', 'Sound only')],
        'photo: the slideshow and the MP3 (%s)' % [n for n, _, _, _ in got])
    clean(p, s, 'photo')
    shoot(p, 'photo-desktop', True)
    shoot(p, 'photo-desktop', False)
    p.call('Emulation.setDeviceMetricsOverride', {
        'width': PHONE[0], 'height': PHONE[1], 'deviceScaleFactor': PHONE[2],
        'mobile': PHONE[3]})
    shoot(p, 'photo-phone', False)
    for i, (h, _, _, _) in enumerate(pics):
        fetched(s, h, 'image/jpeg', 'photo %d' % (i + 1), open(
            os.path.join(docroot, 'img%d.jpg' % (i + 1)), 'rb').read())
    fetched(s, got[0][2], 'video/mp4', 'photo slideshow')
    fetched(s, got[1][2], 'audio/mpeg', 'photo MP3')
    p.close()

    # -- share text, then the errors, in the API's words ---------------
    p = b.page(*DESKTOP)
    p.scheme(False)
    p.goto(s.base + '/')
    shoot(p, 'start-desktop', False)
    share = ('Check out this video \U0001F440 https://www.tiktok.com/@ok/'
             'video/7300000000000000503?is_from_webapp=1&sender_device=pc '
             '#fyp #foryou')
    p.type(share)
    p.key('Enter')
    check(settled(p) == 'done' and text(p, '#title').startswith(
        'Fake TikTok video'), 'share text: the post found in it')
    shoot(p, 'video-desktop', False)
    shoot(p, 'video-desktop', True)
    p.scheme(False)
    for mode, status, n in (('notfound', 404, 505), ('private', 403, 506),
                            ('blocked', 503, 507)):
        link = TT % (mode, '7300000000000000%d' % n)
        p.goto(s.base + '/?url=' + urllib.parse.quote(link, safe=''))
        check(settled(p) == 'error', '%s: an error' % mode)
        api = s.tiktok(link)
        said = text(p, '#status')
        check(api.status == status and said.startswith(api.json()['error']),
              '%s (%d): the API\'s words: %s' % (mode, status, said))
        check(p.js("document.getElementById('result').hidden") and
              p.js("document.getElementById('status').classList"
                   ".contains('error')"), '%s: shown as an error' % mode)
        if api.header('retry-after'):
            check(said.endswith('Try again in %s seconds.'
                                % api.header('retry-after')),
                  '%s: and when to try again' % mode)
        clean(p, s, mode)
        if mode == 'notfound':
            p.call('Emulation.setDeviceMetricsOverride', {
                'width': PHONE[0], 'height': PHONE[1],
                'deviceScaleFactor': PHONE[2], 'mobile': PHONE[3]})
            shoot(p, 'error-phone', True)
            p.call('Emulation.setDeviceMetricsOverride', {
                'width': DESKTOP[0], 'height': DESKTOP[1],
                'deviceScaleFactor': DESKTOP[2], 'mobile': DESKTOP[3]})
            p.scheme(False)

    # -- markup in what TikTok says ------------------------------------
    evil = ('<script>window.__pwned=1</script>"><img src=x '
            'onerror="window.__pwned=2">')
    with open(os.path.join(s.state, 'text-markup'), 'w') as f:
        f.write(evil)
    link = TT % ('text_markup', '7300000000000000508')
    p.goto(s.base + '/?url=' + urllib.parse.quote(link, safe=''))
    check(settled(p) == 'done', 'markup: looked up')
    check(text(p, '#title') == evil and text(p, '#author') == 'by ' + evil
          and p.js('document.title') == evil + ' \u2013 TikTok downloader',
          'markup: title and author shown as text (the window\'s title too)')
    check(p.js('document.scripts.length') == 1 and
          p.js("document.querySelectorAll('[onerror], #result script')"
               ".length") == 0 and
          p.js("document.querySelectorAll('#result img').length") == 1,
          'markup: no element made from it')
    check(p.js('typeof window.__pwned') == 'undefined',
          'markup: no script of it ran')
    clean(p, s, 'markup')
    shoot(p, 'markup-desktop', False)

    # -- download_link keys the page does not know ---------------------
    p.call('Fetch.enable', {'patterns': [{'urlPattern': '*/tiktok',
                                          'requestStage': 'Response'}]})
    link = TT % ('ok', '7300000000000000509')
    p.forget()
    p.call('Page.navigate', {'url': s.base + '/?url=' +
                             urllib.parse.quote(link, safe='')})
    paused = p.event('Fetch.requestPaused', timeout=30)
    body = p.call('Fetch.getResponseBody', {'requestId': paused['requestId']})
    answer = json.loads(base64.b64decode(body['body']) if body['base64Encoded']
                        else body['body'])
    answer['download_link']['no_watermark_h265'] = \
        answer['download_link']['no_watermark']
    answer['download_link']['bonus_clips'] = [
        answer['download_link']['no_watermark']] * 2
    answer['download_link']['evil'] = 'javascript:window.__pwned=3'
    p.call('Fetch.fulfillRequest', {
        'requestId': paused['requestId'], 'responseCode': 200,
        'responseHeaders': [{'name': 'Content-Type',
                             'value': 'application/json'}],
        'body': base64.b64encode(json.dumps(answer).encode()).decode()})
    check(settled(p) == 'done', 'new keys: looked up')
    names = [(n, w) for n, w, _, _ in p.js(FILES)]
    check(('No watermark H.265', 'File') in names and
          ('Bonus clips 1', 'File') in names and
          ('Bonus clips 2', 'File') in names,
          'a key the page does not know gets a button of its own (%s)'
          % names)
    check(p.js("""Array.from(document.querySelectorAll('a'))
        .filter(a => a.id !== 'bookmarklet' &&
        !/^https?:/.test(a.href)).length""") == 0,
          'a link that is not http(s) gets none')
    p.call('Fetch.disable')

    # -- the bookmarklet, run on another page --------------------------
    p.goto(s.base + '/')
    code = p.js("document.getElementById('bookmarklet').href")
    check(code.startswith('javascript:location.href=') and
          json.dumps(s.base + '/?url=') in urllib.parse.unquote(code),
          'the bookmarklet names this page')
    check(text(p, '#open-url') == s.base + '/?url=LINK',
          'the share address is shown')
    p.goto(s.base + '/health')
    p.forget()
    p.js(urllib.parse.unquote(code[len('javascript:'):]))
    p.event('Page.loadEventFired', timeout=30)
    check(settled(p) == 'error' and p.js('location.href') == s.base +
          '/?url=' + urllib.parse.quote(s.base + '/health', safe='') and
          text(p, '#status') == 'Only TikTok and Douyin URLs are supported',
          'the bookmarklet on a page opens this one with that page looked '
          'up (%s)' % text(p, '#status'))
    p.close()

# -- under a prefix, /api/, behind the other web servers -----------------
for web in ('apache', 'caddy', 'lighttpd'):
    if not which(WEB_BINARIES[web][0], WEB_BINARIES[web][1]):
        print('# SKIP %s /api/: not installed (apt-get install %s)'
              % (web, WEB_BINARIES[web][2]))
        if os.environ.get('CI'):
            check(False, '%s installed in CI' % web)
        continue
    with Stack(web=web, mount='/api/', docroot=docroot) as s, \
            browser.Browser(CHROMIUM) as b:
        tag = '%s /api/' % web
        check(s.base.endswith(':%d/api' % s.port), '%s: mounted' % tag)
        link = TT % ('cdn_files_video.mp4', '7300000000000000510')
        p = b.page(*PHONE)
        p.goto(s.base + '/?url=' + urllib.parse.quote(link, safe=''))
        check(settled(p) == 'done', '%s: looked up (%s)'
              % (tag, text(p, '#status')))
        got = p.js(FILES)
        check(len(got) == 5 and all(h.startswith(s.base + '/')
                                    for _, _, h, _ in got),
              '%s: every link under /api/' % tag)
        check([u for u, t in p.requests() if t == 'Fetch'] ==
              [s.base + '/tiktok'], '%s: the page asks /api/tiktok' % tag)
        fetched(s, got[0][2], 'video/mp4', tag, VIDEO_BYTES)
        check(text(p, '#open-url') == s.base + '/?url=LINK',
              '%s: the share address names /api/' % tag)
        clean(p, s, tag)

# -- WEB_UI=0: no page, the API as it was ----------------------------------
with Stack(env={'WEB_UI': '0'}) as s:
    for method, path in (('GET', '/'), ('GET', '/?url=x'), ('HEAD', '/'),
                         ('POST', '/')):
        r = s.request(method, path)
        check(r.status == 404 and (method == 'HEAD' or r.json() ==
                                   {'error': 'Route not found'}),
              'WEB_UI=0: %s %s is 404 Route not found' % (method, path))
    check(s.get('/health').status == 200 and
          s.get('/openapi.json').status == 200 and
          s.tiktok(TT % ('ok', '7300000000000000511')).status == 200,
          'WEB_UI=0: /health, /openapi.json and POST /tiktok unchanged')

shutil.rmtree(base, ignore_errors=True)
print('# screenshots in %s' % SHOTS)
done()
