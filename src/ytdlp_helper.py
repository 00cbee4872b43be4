#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""tiktok-fcgi's yt-dlp helper.

Started by tiktok-fcgi, never by hand.  Imports yt_dlp once and serves
many extractions over stdin/stdout, one JSON object per line:

  -> {"id": 7, "op": "extract", "url": "https://www.tiktok.com/...",
      "proxy": "socks5h://..."}      (proxy: absent or "" = none)
  <- {"id": 7, "started": true}     (a thread began it: its clock runs)
  <- {"id": 7, "ok": true, "info": {...}}
  <- {"id": 7, "ok": false, "error": "...", "kind": "not_found"}
     (kinds: not_found, private, blocked, unreachable, timeout,
     unreadable, unsupported, other: as the table in answer.c knows
     them)
  -> {"id": 8, "op": "ping"}        (answered at once, busy or not)
  <- {"id": 8, "ok": true, "pong": true}

The first line it writes is {"ready": true, "ytdlp": "<version>"}.
Requests run on a thread pool, so answers come in any order.  At EOF on
stdin it finishes the work it has and exits.  Settings come from the
environment (TIKTOK_FCGI_*), set by tiktok-fcgi.  Works with yt-dlp
2023.03.04 (Debian 12) and current releases.

tiktok-fcgi starts it once as the helper parent ("--parent", see
parent()): it imports yt_dlp and the extractors this service uses,
freezes what it built, and forks each helper on request, so that every
helper shares those pages with it (copy-on-write) and is ready at once.
"""

import array
import gc
import json
import os
import re
import select
import signal
import socket
import sys
import threading
import time
import traceback
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
    opts = {
        'quiet': True,
        'no_warnings': False,
        'noprogress': True,
        'skip_download': True,
        'logger': Logger(),
        'socket_timeout': float(env.get('TIKTOK_FCGI_SOCKET_TIMEOUT', '30')),
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
    """What tiktok-fcgi needs of the info, with each format's headers;
    members yt-dlp left null are left out (tiktok-fcgi reads both the
    same, and keeps every post it answers)."""
    out = {k: info[k] for k in INFO_KEYS if info.get(k) is not None}
    out['thumbnails'] = [{'url': t.get('url'), 'id': t.get('id')}
                         for t in (info.get('thumbnails') or [])[:4]]
    formats = []
    for f in info.get('formats') or []:
        g = {k: f[k] for k in FORMAT_KEYS if f.get(k) is not None}
        headers = dict(f.get('http_headers') or {})
        if f.get('url'):
            cookie = cookie_header(ydl, f['url'])
            if cookie:
                headers['Cookie'] = cookie
        g['http_headers'] = headers
        formats.append(g)
    out['formats'] = formats
    return out



class Yt:
    """yt_dlp as this helper uses it: the module, its version, the
    extractors of TikTok, its short links and Douyin (and the generic
    one for tests), nothing else: registering every extractor costs
    each helper ~26 MB of modules it never uses."""

    def __init__(self):
        import yt_dlp
        from yt_dlp.version import __version__
        from yt_dlp.extractor.tiktok import DouyinIE, TikTokIE, TikTokVMIE
        self.yt_dlp = yt_dlp
        self.version = __version__
        self.ies = [TikTokIE, TikTokVMIE, DouyinIE]
        if os.environ.get('TIKTOK_FCGI_ALLOW_GENERIC') == '1':
            from yt_dlp.extractor.generic import GenericIE
            self.ies.append(GenericIE)  # tests only: local media URLs
        self.opts = settings()
        self.local = threading.local()
        remember_status(self.local)
        share_ssl()
        self.YoutubeDL = unprinting(yt_dlp.YoutubeDL)

    def ydl(self, proxy):
        """A YoutubeDL for one way out, with our extractors only."""
        y = self.YoutubeDL(
            dict(self.opts, proxy=proxy_for(self.yt_dlp, proxy)),
            auto_init=False)
        for ie in self.ies:
            y.add_info_extractor(ie())
        return y

    def warm(self):
        """What the first extraction would otherwise load, run or
        compile, done once before the helpers are forked, so that a
        fresh helper is as quick as one that has worked: the URL
        patterns, the request handlers (current releases), the modules
        imported on first use, and "ffmpeg -version" (asked before
        formats are sorted; ~75 ms)."""
        import _strptime    # noqa: F401 (cookie dates)
        time.strptime('2024', '%Y')
        'tiktok.com'.encode('idna')
        y = self.ydl('')
        for ie in y._ies.values():
            ie.suitable('https://www.tiktok.com/@u/video/1')
        try:
            y._request_director
        except AttributeError:
            pass
        try:
            from yt_dlp.postprocessor.ffmpeg import FFmpegMergerPP
            m = FFmpegMergerPP(y)
            if m.available:
                m.can_merge()
        except Exception:       # no ffmpeg: yt-dlp asks each time
            pass


def unprinting(base):
    """YoutubeDL less what --print costs when nothing is to be printed:
    at each stage of every extraction yt-dlp renders the formats table
    (and, current releases, a file name) for templates that this helper
    never sets, about a third of an extraction's processor time."""
    class YoutubeDL(base):
        def _forceprint(self, key, info_dict):
            if (self.params.get('forceprint') or {}).get(key) or \
                    (self.params.get('print_to_file') or {}).get(key):
                return super()._forceprint(key, info_dict)
            return info_dict
    return YoutubeDL


def share_ssl():
    """One SSL context for every YoutubeDL of a helper (current
    releases make one per YoutubeDL and way out: about 1 MB each with
    the system's CA bundle).  A context is only read once made."""
    try:
        from yt_dlp.networking import common
    except ImportError:
        return
    make, made, lock = common.make_ssl_context, {}, threading.Lock()

    def shared(**kw):
        key = tuple(sorted(kw.items()))
        with lock:
            if key not in made:
                made[key] = make(**kw)
            return made[key]
    common.make_ssl_context = shared


class Ydls:
    """YoutubeDLs by proxy, each lent to one extraction at a time (one
    is not thread-safe): as many as ran at once, each dropped IDLE s
    after its last use.  A YoutubeDL keeps its cookies between
    extractions (TikTok's, a solved challenge's)."""

    IDLE = 60

    def __init__(self, yt):
        self.yt = yt
        self.free = {}
        self.lock = threading.Lock()

    def take(self, proxy):
        with self.lock:
            if self.free.get(proxy):
                return self.free[proxy].pop()[0]
        return self.yt.ydl(proxy)

    def give(self, proxy, y):
        now = time.monotonic()
        with self.lock:
            self.free.setdefault(proxy, []).append((y, now))
            for k in list(self.free):
                self.free[k] = [e for e in self.free[k]
                                if now - e[1] < self.IDLE]
                if not self.free[k]:
                    del self.free[k]


def serve(yt):
    """One helper: requests from stdin, answers to stdout, until EOF."""
    out = sys.stdout.buffer
    lock = threading.Lock()
    yt_dlp = yt.yt_dlp
    local = yt.local
    ydls = Ydls(yt)

    def send(obj):
        line = json.dumps(obj, separators=(',', ':'), default=str)
        with lock:
            out.write(line.encode() + b'\n')
            out.flush()

    def extract(rid, url, proxy):
        local.status = None
        y = None
        send({'id': rid, 'started': True})
        try:
            y = ydls.take(proxy)
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
        finally:
            if y is not None:
                ydls.give(proxy, y)

    workers = max(1, int(os.environ.get('TIKTOK_FCGI_WORKERS', '4')))
    pool = ThreadPoolExecutor(max_workers=workers)
    send({'ready': True, 'ytdlp': yt.version})
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


def parent(prepare, child):
    """The helper parent.  fd 0 is a unix SOCK_SEQPACKET socket to
    tiktok-fcgi; each message is one JSON object.  After prepare() it
    says {"ready": true, "ytdlp": V} (V: prepare()'s version), then
    for each message "fork TAG" carrying three descriptors (a helper's
    stdin, stdout and stderr) forks a helper, in a process group of its
    own, that runs child(prepared) and exits with what it returns, and
    answers {"forked": PID, "tag": TAG} with a pidfd of it (when the
    system has them: a handle that cannot name another process once
    this one is gone), or {"failed": WHY, "tag": TAG}.  It reaps its
    helpers and says {"exited": PID, "status": N} (negative: killed by
    signal -N).  At EOF it exits; helpers live on until their stdin
    closes."""
    ctl = socket.socket(fileno=0)
    try:
        prepared, version = prepare()
    except Exception as e:      # tiktok-fcgi logs it and retries later
        sys.stderr.write('cannot import yt_dlp: %s\n' % e)
        return 3
    rd, wr = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wr)
    signal.signal(signal.SIGCHLD, lambda signo, frame: None)

    def say(obj, fds=()):
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                array.array('i', fds))] if fds else []
        ctl.sendmsg([json.dumps(obj).encode()], anc)

    def fork(tag, fds):
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            status = 70
            try:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.close(rd)
                os.close(wr)
                ctl.detach()
                for i, fd in enumerate(fds):
                    os.dup2(fd, i)
                for fd in fds:
                    if fd > 2:
                        os.close(fd)
                os.setpgid(0, 0)
                name('ytdlp-helper')
                status = child(prepared)
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(status)
        for fd in fds:
            os.close(fd)
        try:
            pidfd = [os.pidfd_open(pid)]
        except (AttributeError, OSError):
            pidfd = []
        say({'forked': pid, 'tag': tag}, pidfd)
        for fd in pidfd:
            os.close(fd)

    def reap():
        while True:
            try:
                pid, st = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            say({'exited': pid, 'status': os.waitstatus_to_exitcode(st)})

    # Everything built so far stays where it is: the collector leaves
    # it alone, so helpers keep sharing its pages.
    gc.freeze()
    name('ytdlp-parent')
    say({'ready': True, 'ytdlp': version})
    poll = select.poll()
    poll.register(ctl, select.POLLIN)
    poll.register(rd, select.POLLIN)
    while True:
        for fd, _ in poll.poll():
            if fd == rd:
                while True:
                    try:
                        if not os.read(rd, 64):
                            break
                    except BlockingIOError:
                        break
                reap()
                continue
            msg, anc, _, _ = ctl.recvmsg(
                256, socket.CMSG_SPACE(3 * array.array('i').itemsize),
                socket.MSG_CMSG_CLOEXEC)
            if not msg:
                return 0
            fds = array.array('i')
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[:len(data) - len(data) %
                                       fds.itemsize])
            words = msg.split()
            if len(words) != 2 or words[0] != b'fork' or len(fds) != 3:
                for fd in fds:
                    os.close(fd)
                say({'failed': 'bad request', 'tag': words[-1:] and
                     words[-1].decode(errors='replace')})
                continue
            try:
                fork(words[1].decode(), list(fds))
            except OSError as e:
                for fd in fds:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                say({'failed': str(e), 'tag': words[1].decode()})


def name(comm):
    """What ps and top call this process (its argv stays)."""
    try:
        with open('/proc/self/comm', 'w') as f:
            f.write(comm)
    except OSError:
        pass


def prepared():
    """The helper's preparation, in the parent: (Yt, its version)."""
    yt = Yt()
    yt.warm()
    return yt, yt.version


def main():
    if sys.argv[1:] == ['--parent']:
        return parent(prepared, serve)
    try:
        yt = Yt()
    except Exception as e:      # tiktok-fcgi logs it and retries later
        sys.stderr.write('cannot import yt_dlp: %s\n' % e)
        return 3
    if sys.argv[1:] == ['--check']:     # tiktok-fcgi -n and its start
        print(yt.version)
        return 0
    return serve(yt)


if __name__ == '__main__':
    sys.exit(main())
