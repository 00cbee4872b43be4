#!/usr/bin/env python3
"""tiktok-fcgi's yt-dlp helper.

Started by tiktok-fcgi, never by hand.  Imports yt_dlp once and serves
many extractions over stdin/stdout, one JSON object per line:

  -> {"id": 7, "op": "extract", "url": "https://www.tiktok.com/...",
      "proxy": "socks5h://..."}      (proxy: absent or "" = none)
  <- {"id": 7, "ok": true, "info": {...}}
  <- {"id": 7, "ok": false, "error": "...", "kind": "not_found"}
     (kinds: not_found, private, blocked, unreachable, timeout,
     unreadable, unsupported, other: as pool_answer.c and answer.c
     know them)
  -> {"id": 8, "op": "ping"}        (answered at once, busy or not)
  <- {"id": 8, "ok": true, "pong": true}

The first line it writes is {"ready": true, "ytdlp": "<version>"}.
Requests run on a thread pool, so answers come in any order.  At EOF on
stdin it finishes the work it has and exits.  Settings come from the
environment (TIKTOK_FCGI_*), set by tiktok-fcgi.  Works with yt-dlp
2023.03.04 (Debian 12) and current releases.
"""

import json
import os
import re
import sys
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

INFO_KEYS = (
    'id', 'title', 'fulltitle', 'description', 'view_count', 'like_count',
    'comment_count', 'repost_count', 'artist', 'artists', 'creator',
    'uploader', 'uploader_id', 'channel', 'channel_id', 'author',
    'thumbnail', 'duration', 'webpage_url', 'original_url', 'extractor',
    'extractor_key', 'timestamp',
)
FORMAT_KEYS = (
    'format_id', 'url', 'ext', 'vcodec', 'acodec', 'width', 'height',
    'filesize', 'filesize_approx', 'format_note', 'protocol', 'tbr',
)
ANSI = re.compile(r'\x1b\[[0-9;]*m')


class Logger:
    """yt-dlp's messages go to stderr, which tiktok-fcgi logs."""

    def debug(self, msg):
        pass

    def info(self, msg):
        pass

    def warning(self, msg):
        msg = ANSI.sub('', str(msg))
        # Said on every page fetch without curl_cffi; nothing to act on.
        if 'no impersonate target is available' in msg:
            return
        sys.stderr.write('warning: %s\n' % msg)

    def error(self, msg):
        pass    # raised as DownloadError and answered to the caller


def settings():
    env = os.environ
    allowed = ['tiktok', 'vm.tiktok', 'douyin']
    if env.get('TIKTOK_FCGI_ALLOW_GENERIC') == '1':
        allowed.append('generic')   # tests only: local media URLs
    opts = {
        'quiet': True,
        'no_warnings': False,
        'noprogress': True,
        'skip_download': True,
        'logger': Logger(),
        'socket_timeout': float(env.get('TIKTOK_FCGI_SOCKET_TIMEOUT', '30')),
        'allowed_extractors': allowed,
    }
    # The proxy comes with each request (tiktok-fcgi's egress); none
    # means straight out, never the environment's.
    opts['proxy'] = ''
    if env.get('TIKTOK_FCGI_COOKIES'):
        opts['cookiefile'] = env['TIKTOK_FCGI_COOKIES']
    if env.get('TIKTOK_FCGI_CA_FILE'):
        # yt-dlp loads certifi's bundle whenever certifi imports and has
        # no CA-file option; 'no-certifi' makes it use OpenSSL's default
        # paths, which honour SSL_CERT_FILE (set by tiktok-fcgi).
        opts['compat_opts'] = ['no-certifi']
    return opts


def proxy_for(yt_dlp, proxy):
    """The proxy as this yt-dlp spells it.  Releases before the
    networking framework (2023.03.04, Debian 12's) know no socks5h://
    and would speak HTTP to the SOCKS proxy; their socks5:// already
    leaves names to the proxy (remote DNS), which is what socks5h
    means."""
    if proxy[:10].lower() == 'socks5h://' and not has_networking(yt_dlp):
        return 'socks5://' + proxy[10:]
    return proxy


def has_networking(yt_dlp):
    try:
        import yt_dlp.networking     # noqa: F401 (2023.11 and later)
        return True
    except ImportError:
        return False


def cookie_header(ydl, url):
    """The Cookie header the jar holds for url (old and new yt-dlp)."""
    jar = ydl.cookiejar
    get = getattr(jar, 'get_cookie_header', None)
    if get is not None:
        return get(url)
    req = urllib.request.Request(url)
    jar.add_cookie_header(req)
    return req.get_header('Cookie')


# TikTok's status codes for a post it will not show.
STATUS_KIND = {10204: 'not_found', 10216: 'private', 10222: 'private'}

# yt-dlp's words for "TikTok answered something I cannot read": its
# extractor no longer matches TikTok's pages (yt-dlp is outdated).
UNREADABLE = (
    'the json object must be str',      # 2023.03.04 on today's pages
    'unable to extract universal data', 'unable to extract sigi',
    'unable to extract challenge', 'unable to solve js challenge',
    'unexpected response from webpage', 'unable to extract video or image',
    'expecting value', 'jsondecodeerror', 'failed to parse json',
    'unable to extract aweme detail', 'video not available, status code 0',
)

# yt-dlp's words (2023.03.04's urllib, current releases' urllib and
# requests handlers alike) for TikTok, or the proxy on the way, not
# reached at all: no name, no route, nobody listening.
UNREACHABLE = (
    'name or service not known', 'temporary failure in name resolution',
    'no address associated with hostname', 'failed to resolve',
    'connection refused', 'network is unreachable', 'no route to host',
    'host unreachable', 'unable to connect to proxy',
)


def classify(msg, status=None):
    """The kind of a failure, from yt-dlp's message (worded differently
    by each release) and TikTok's own status code when the page gave
    one."""
    m = msg.lower()
    if 'unsupported url' in m or 'no suitable extractor' in m:
        return 'unsupported'
    if status in STATUS_KIND:
        return STATUS_KIND[status]
    # Current releases word a missing post (status 10204) as a block.
    if 'your ip address is blocked from accessing this post' in m:
        return 'not_found'
    if ('private' in m or 'login required' in m or 'log in' in m
            or 'permission to view' in m or 'requiring login' in m):
        return 'private'
    if ('http error 403' in m or 'http error 429' in m
            or 'too many requests' in m or 'captcha' in m):
        return 'blocked'
    if any(u in m for u in UNREACHABLE):
        return 'unreachable'
    if 'timed out' in m or 'timeout' in m:
        return 'timeout'
    if any(u in m for u in UNREADABLE):
        return 'unreadable'
    if ('http error 404' in m or 'not available' in m or 'not found' in m
            or 'does not exist' in m or 'unavailable' in m
            or 'status code 10204' in m or 'status code 10216' in m):
        return 'not_found'
    return 'other'


def remember_status(local):
    """yt-dlp 2023.03.04 says "Video not available" for a missing post
    and a private account alike; the page's status code tells them
    apart.  Keep the last one its SIGI_STATE reader saw, per thread."""
    try:
        from yt_dlp.extractor.tiktok import TikTokBaseIE
    except ImportError:
        return
    read = getattr(TikTokBaseIE, '_get_sigi_state', None)
    if read is None:
        return

    def reader(self, webpage, display_id):
        data = read(self, webpage, display_id)
        try:
            local.status = int(data['VideoPage']['statusCode'])
        except (KeyError, TypeError, ValueError):
            pass
        return data
    TikTokBaseIE._get_sigi_state = reader


def shape(ydl, info):
    """What tiktok-fcgi needs of the info, with each format's headers."""
    out = {k: info[k] for k in INFO_KEYS if k in info}
    out['thumbnails'] = [{'url': t.get('url'), 'id': t.get('id')}
                         for t in (info.get('thumbnails') or [])[:4]]
    formats = []
    for f in info.get('formats') or []:
        g = {k: f[k] for k in FORMAT_KEYS if k in f}
        headers = dict(f.get('http_headers') or {})
        if f.get('url'):
            cookie = cookie_header(ydl, f['url'])
            if cookie:
                headers['Cookie'] = cookie
        g['http_headers'] = headers
        formats.append(g)
    out['formats'] = formats
    return out


def main():
    out = sys.stdout.buffer
    lock = threading.Lock()

    def send(obj):
        line = json.dumps(obj, separators=(',', ':'), default=str)
        with lock:
            out.write(line.encode() + b'\n')
            out.flush()

    try:
        import yt_dlp
        from yt_dlp.version import __version__
    except Exception as e:      # tiktok-fcgi logs it and retries later
        sys.stderr.write('cannot import yt_dlp: %s\n' % e)
        return 3
    if sys.argv[1:] == ['--check']:     # tiktok-fcgi -n and its start
        print(__version__)
        return 0

    opts = settings()
    local = threading.local()

    def ydl(proxy):
        # One YoutubeDL per thread and way out (its cookies, sessions).
        if getattr(local, 'ydls', None) is None:
            local.ydls = {}
        if proxy not in local.ydls:
            local.ydls[proxy] = yt_dlp.YoutubeDL(
                dict(opts, proxy=proxy_for(yt_dlp, proxy)))
        return local.ydls[proxy]

    remember_status(local)

    def extract(rid, url, proxy):
        local.status = None
        try:
            y = ydl(proxy)
            info = y.extract_info(url, download=False)
            if info is None:
                raise yt_dlp.utils.DownloadError('no information')
            if info.get('_type') in ('playlist', 'multi_video'):
                send({'id': rid, 'ok': False, 'kind': 'unsupported',
                      'error': 'not a single post'})
                return
            info = y.sanitize_info(info)
            send({'id': rid, 'ok': True, 'info': shape(y, info)})
        except Exception as e:
            msg = ANSI.sub('', str(e))
            if msg.startswith('ERROR: '):
                msg = msg[7:]
            send({'id': rid, 'ok': False, 'error': msg,
                  'kind': classify(msg, getattr(local, 'status', None))})

    workers = max(1, int(os.environ.get('TIKTOK_FCGI_WORKERS', '4')))
    pool = ThreadPoolExecutor(max_workers=workers)
    send({'ready': True, 'ytdlp': __version__})
    for line in sys.stdin.buffer:
        try:
            req = json.loads(line)
            rid = req['id']
        except (ValueError, KeyError, TypeError):
            sys.stderr.write('bad request line ignored\n')
            continue
        if req.get('op') == 'ping':
            send({'id': rid, 'ok': True, 'pong': True})
        elif req.get('op') == 'extract' and isinstance(req.get('url'), str):
            proxy = req.get('proxy')
            pool.submit(extract, rid, req['url'],
                        proxy if isinstance(proxy, str) else '')
        else:
            send({'id': rid, 'ok': False, 'kind': 'other',
                  'error': 'unknown operation'})
    pool.shutdown(wait=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
