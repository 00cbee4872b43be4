#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""A stand-in for the yt-dlp helper that speaks the same protocol, for
fault injection.  What it does is chosen by the post URL's user name:

  https://www.tiktok.com/@MODE/video/ID

  ok            answer the video fixture (photo fixture when ID starts
                with 74), its media URLs pointing at the fake CDN's /gen
  crash         exit at once, every time
  crashonce     exit the first time (per ID), answer afterwards
  hang          never answer
  slowMS        answer after MS milliseconds (e.g. slow300)
  garbage       write a line that is not JSON
  long          write a line longer than tiktok-fcgi accepts
  notfound, private, blocked, unreachable, other
                fail with that kind
  cdn_A_B_C     as ok, but every format's URL is CDN/A/B/C
  given_N       as ok, with what $FAKE_STATE/given-N.json says: "url"
                (every format's URL), "uploader"
  author_HEX    as ok, with uploader = the UTF-8 text HEX encodes
  text_NAME     as ok, with title, description and uploader = the text
                of $FAKE_STATE/text-NAME (a test writes it: any length)
  nohd          as ok, with every format's height unknown (null)
  expireS       as ok, every format's URL valid S more seconds (expire=)
  nosound       as ok, without the audio format
  ladder        as ok, with today's ladder (ytdlp-2026.02.04-ladder.json:
                HEVC 1080p, H.264 720p and 540p, ...; a video-only
                rung's URL keeps its /media-video-hvc1/ tail)
  imagesN       a photo post with N images (image-k at /files/imgk.jpg)

Photo posts (ID starting with 74) point their images at the fake CDN's
/files/imgN.jpg and their sound at /files/audio.mp3.  Every post's cover
(thumbnail) is the fake CDN's /files/cover.jpg.

Each request's proxy (tiktok-fcgi's egress) is appended with its URL to
$FAKE_STATE/proxies.log; a proxy listed in $FAKE_STATE/blocked-proxies
(one a line, read for every request) is refused as TikTok refuses a
blocked address (kind "blocked"); one in $FAKE_STATE/failing-proxies
gets every post "missing" (kind "not_found", status 10204's words).

With --parent it is the helper parent (src/ytdlp_helper.py's parent():
the same fork protocol), its helpers forked from it; a forked helper
says {"id": N, "started": true} when an extraction begins, as the real
one does (started alone, it speaks the protocol before that message).  FAKE_START=die
exits at once (the parent, or a helper started alone); FAKE_START=
nullversion says it is ready with a null yt-dlp version.
FAKE_COLD_MS=N: a process needs N ms of work (as importing yt-dlp and
loading its extractors) before its first extraction can run; the parent
does it before it forks, a helper started alone on its first
extraction, holding up every extraction until it is done.  With --check
(the start's check) it prints its version, or fails as a python without
yt_dlp when FAKE_CHECK=fail.

Environment: FAKE_CDN (base URL of the fake CDN), FAKE_STATE (a directory
where each extraction appends its URL to extract.log), FAKE_FIXTURES (the
directory of yt-dlp fixtures), FAKE_DELAY_MS (added to every answer).
"""

import copy
import json
import os
import re
import sys
import threading
import time

LOCK = threading.Lock()
OUT = sys.stdout.buffer
COLD = threading.Lock()
WARM = []
FORKED = []     # a helper forked by the parent (today's protocol)


def send(obj):
    line = json.dumps(obj).encode() + b'\n'
    with LOCK:
        OUT.write(line)
        OUT.flush()


def raw(data):
    with LOCK:
        OUT.write(data)
        OUT.flush()


def load(name):
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(os.environ.get('FAKE_FIXTURES') or os.path.join(
            here, '..', 'fixtures'), name)) as f:
        return json.load(f)


VIDEO = load('ytdlp-2026.02.04-video.json')
LADDER = load('ytdlp-2026.02.04-ladder.json')
PHOTO = load('ytdlp-2026.02.04-photo.json')


def info_for(url, mode, vid):
    cdn = os.environ.get('FAKE_CDN', 'http://127.0.0.1:9')
    info = copy.deepcopy(PHOTO if vid.startswith('74') else
                         LADDER if mode == 'ladder' else VIDEO)
    info['webpage_url'] = url
    info['id'] = vid
    # given_N: what FAKE_STATE/given-N.json says (a URL, an uploader
    # longer than a user name may be).
    given = {}
    if re.fullmatch(r'given_\d+', mode):
        with open(os.path.join(os.environ['FAKE_STATE'],
                               'given-%s.json' % mode[6:])) as g:
            given = json.load(g)
    m = re.fullmatch(r'images(\d+)', mode)
    if m and vid.startswith('74'):
        first = [f for f in info['formats'] if f['format_id'] == 'image-1'][0]
        rest = [f for f in info['formats']
                if not f['format_id'].startswith('image-')]
        imgs = []
        for k in range(1, int(m.group(1)) + 1):
            g = copy.deepcopy(first)
            g['format_id'] = 'image-%d' % k
            imgs.append(g)
        info['formats'] = imgs + rest
    if mode == 'nosound':
        info['formats'] = [f for f in info['formats']
                           if f['format_id'] != 'audio']
    for i, f in enumerate(info['formats']):
        if vid.startswith('74') and f['format_id'].startswith('image-'):
            f['url'] = '%s/files/img%s.jpg' % (cdn, f['format_id'][6:])
        elif vid.startswith('74') and f['format_id'] == 'audio':
            f['url'] = '%s/files/audio.mp3' % cdn
        elif mode.startswith('cdn_'):
            f['url'] = cdn + '/' + '/'.join(mode.split('_')[1:])
        elif given.get('url'):
            f['url'] = given['url']
        else:
            silent = '/media-video-hvc1/'
            f['url'] = '%s/gen/%d%s?fmt=%s' % (
                cdn, 1000 + i * 100, silent if f['url'].split('?')[0]
                .endswith(silent) else '', f['format_id'])
        f['http_headers'] = dict(f.get('http_headers') or {})
        f['http_headers']['Cookie'] = 'cdn_session=fake'
        f['http_headers']['Referer'] = 'https://www.tiktok.com/'
        f.pop('cookies', None)
        if mode == 'nohd':
            f['height'] = None
        if re.fullmatch(r'expire\d+', mode):
            # TikTok's CDN URLs say until when they are valid.
            f['url'] += '%sexpire=%d' % ('&' if '?' in f['url'] else '?',
                                        time.time() + int(mode[6:]))
    if mode.startswith('author_'):
        info['uploader'] = bytes.fromhex(mode[7:]).decode('utf-8')
    if given.get('uploader'):
        info['uploader'] = given['uploader']
    if mode.startswith('text_'):
        with open(os.path.join(os.environ['FAKE_STATE'],
                               'text-' + mode[5:]), encoding='utf-8') as f:
            text = f.read()
        info['title'] = info['description'] = info['uploader'] = text
    info['thumbnail'] = '%s/files/cover.jpg' % cdn
    return info


def warm_up():
    """FAKE_COLD_MS of work, once per process (forks inherit it done)."""
    with COLD:
        if not WARM:
            time.sleep(int(os.environ.get('FAKE_COLD_MS', '0')) / 1000)
            WARM.append(True)


def extract(rid, url):
    warm_up()
    if FORKED:
        send({'id': rid, 'started': True})
    m = re.search(r'/@([\w.-]+)/(?:video|photo)/(\d+)', url)
    mode, vid = (m.group(1), m.group(2)) if m else ('ok', '1')
    state = os.environ.get('FAKE_STATE')
    if state:
        with LOCK, open(os.path.join(state, 'extract.log'), 'a') as f:
            f.write(url + '\n')
    delay = int(os.environ.get('FAKE_DELAY_MS', '0'))
    if delay:
        time.sleep(delay / 1000)
    if mode == 'crash':
        os._exit(1)
    if mode == 'crashonce':
        marker = os.path.join(state, 'crashed-' + vid)
        if not os.path.exists(marker):
            open(marker, 'w').close()
            os._exit(1)
    if mode == 'hang':
        time.sleep(3600)
    if mode.startswith('slow'):
        time.sleep(int(mode[4:]) / 1000)
    if mode == 'garbage':
        raw(b'this is not json\n')
        return
    if mode == 'long':
        raw(b'{"id": %d, "pad": "' % rid + b'x' * (17 * 1024 * 1024) +
            b'"}\n')
        return
    if mode in ('notfound', 'private', 'blocked', 'unreachable', 'other'):
        kind = 'not_found' if mode == 'notfound' else mode
        send({'id': rid, 'ok': False, 'kind': kind,
              'error': '[TikTok] %s: fake %s' % (vid, mode)})
        return
    send({'id': rid, 'ok': True, 'info': info_for(url, mode, vid)})


def listed(state, name):
    """The words of $FAKE_STATE/name (none when it is not there)."""
    try:
        with open(os.path.join(state, name)) as f:
            return f.read().split()
    except (OSError, TypeError):
        return []


def prepare():
    """What a process does before it serves: the start's faults, the
    environment it got (for the tests), the cold work.  (None, the
    version it says)."""
    if os.environ.get('FAKE_START') == 'die':
        sys.stderr.write('fake helper: dying at start\n')
        sys.exit(3)
    state = os.environ.get('FAKE_STATE')
    if state:
        with open(os.path.join(state, 'helper-env'), 'w') as f:
            f.write('\n'.join(sorted(os.environ)) + '\n')
    if os.environ.get('FAKE_START') == 'nullversion':
        return None, None
    return None, 'fake-1.0'


def serve(_, version='fake-1.0'):
    state = os.environ.get('FAKE_STATE')
    send({'ready': True, 'ytdlp': version})
    for line in sys.stdin.buffer:
        req = json.loads(line)
        if req.get('op') == 'ping':
            send({'id': req['id'], 'ok': True, 'pong': True})
            continue
        proxy = req.get('proxy') or ''
        if state:
            with LOCK, open(os.path.join(state, 'proxies.log'), 'a') as f:
                f.write('%s %s\n' % (req['url'], proxy or '-'))
        # $FAKE_STATE/blocked-proxies: proxies TikTok refuses, one a line
        # (read for every request: a test blocks and unblocks).
        if proxy in listed(state, 'blocked-proxies'):
            send({'id': req['id'], 'ok': False, 'kind': 'blocked',
                  'error': 'HTTP Error 429: Too Many Requests (fake, '
                  'through this proxy)'})
            continue
        # $FAKE_STATE/failing-proxies: every post "missing" through them
        # (TikTok's status 10204 for a blocked address).
        if proxy in listed(state, 'failing-proxies'):
            send({'id': req['id'], 'ok': False, 'kind': 'not_found',
                  'error': 'Your IP address is blocked from accessing this '
                  'post (fake, through this proxy)'})
            continue
        threading.Thread(target=extract, args=(req['id'], req['url']),
                         daemon=True).start()
    # EOF: let running work finish (hang excepted), then leave.
    deadline = time.time() + 5
    while threading.active_count() > 1 and time.time() < deadline:
        time.sleep(0.05)
    return 0


def main():
    if sys.argv[1:] == ['--check']:
        # The start's check.  FAKE_CHECK=fail: as a python without yt_dlp.
        # FAKE_START faults come later: the check passes, the helpers
        # then fail (a yt-dlp broken while the service runs).
        if os.environ.get('FAKE_CHECK') == 'fail':
            sys.stderr.write("cannot import yt_dlp: No module named "
                             "'yt_dlp'\n")
            return 3
        print('fake-1.0')
        return 0
    if sys.argv[1:] == ['--parent']:
        sys.path.insert(0, os.path.join(os.environ.get('TOP_SRCDIR') or
                                        os.path.join(os.path.dirname(
                                            __file__), '..', '..'), 'src'))
        import ytdlp_helper

        def prepared():
            _, version = prepare()
            warm_up()
            FORKED.append(True)
            return version, version
        return ytdlp_helper.parent(prepared, lambda v: serve(None, v))
    _, version = prepare()
    return serve(None, version)


if __name__ == '__main__':
    sys.exit(main())
