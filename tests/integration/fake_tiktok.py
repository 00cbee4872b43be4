#!/usr/bin/env python3
"""A fake TikTok (and Douyin), reached as an HTTP proxy: it answers
CONNECT for TikTok's and Douyin's host names itself, with a certificate
from a CA of its own (DIR/ca.pem), and serves what TikTok's pages, app
API, short links and CDN answer, so that yt-dlp's real TikTok extractor
runs against it through OUTBOUND_PROXY + CA_FILE.  Nothing leaves the
machine: other hosts get 403.

    fake_tiktok.py DIR

Writes DIR/ca.pem, then DIR/port when listening; logs every request as
"METHOD HOST PATH" to DIR/requests.log.  Stops when stdin closes.
Listens on 127.0.0.1, a free port; FAKE_TIKTOK_LISTEN=HOST:PORT elsewhere
(the container test runs it in a container of its own).

Posts, by id (19 digits; the user name in the URL does not matter):

  73000000000000001NN   video, today's TikTok: the page carries only
                        __UNIVERSAL_DATA_FOR_REHYDRATION__, the app feed
                        answers empty.  NN=02: a JS challenge page first.
  74000000000000001NN   photo post, today's TikTok (imagePost)
  73000000000000002NN   video, older TikTok: the app feed has it (the
                        app API's real shape: play_addr, download_addr
                        "watermarked", bit_rate), the page has both the
                        universal data and SIGI_STATE
  74000000000000002NN   photo post, older TikTok (app feed and page)
  73000000000000003NN   video, page with SIGI_STATE and universal data,
                        empty app feed
  7300000000000000404   missing (status 10204), both page shapes
  7300000000000000416   private post (10216), both page shapes
  7300000000000000422   private account (10222), both page shapes
  73...429, 73...403    TikTok refusing us: HTTP 429 (403) everywhere
  73...502              a page with nothing readable in it
  73000000000000006NN   a Douyin video (web detail JSON and app feed)

Short links: vm.tiktok.com/ZSV<id>/, vt.tiktok.com/ZSV<id>/,
www.tiktok.com/t/ZSV<id>/ and v.douyin.com/ZSV<id>/ redirect to the
post's page (with tracking parameters).

While DIR/blocked exists, every page and API answer is 429 (an address
TikTok blocks); the CDN still answers.

CDN: v16-webapp-prime.tiktok.com (web formats) answers only with the
tt_chain_token cookie the page set and a tiktok.com Referer, else 403;
v16m.tiktokcdn.com (app formats) and p16-sign.tiktokcdn.com (images,
sound) answer anyone.  Bodies are generated (byte i = (i*7+seed) % 251),
with Range.  FAKE_TIKTOK_SIZE sets the video size (default 300000);
FAKE_TIKTOK_LATENCY_MS delays every page and API answer (default 0).
"""

import base64
import hashlib
import http.server
import json
import os
import re
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

DIR = None      # set by main()
LOCK = threading.Lock()
SIZE = int(os.environ.get('FAKE_TIKTOK_SIZE', '300000'))
LATENCY = int(os.environ.get('FAKE_TIKTOK_LATENCY_MS', '0')) / 1000
DOMAINS = ('tiktok.com', 'tiktokv.com', 'tiktokcdn.com', 'douyin.com',
           'snssdk.com')
CHAIN = 'fakechain%s' % os.getpid()
CHALLENGE_N = 4321
CHALLENGE_A = b'fake-challenge-seed'
WEB_CDN = 'https://v16-webapp-prime.tiktok.com'
APP_CDN = 'https://v16m.tiktokcdn.com'
IMG_CDN = 'https://p16-sign.tiktokcdn.com'
FORMATS = (('h264_720p_1350000', 720, 1280, False),
           ('bytevc1_720p_1100000', 720, 1280, True),
           ('h264_540p_800000', 576, 1024, False),
           ('bytevc1_540p_650000', 576, 1024, True),
           ('h264_360p_500000', 360, 640, False))


def note(line):
    with LOCK, open(os.path.join(DIR, 'requests.log'), 'a') as f:
        f.write(line + '\n')


def ours(host):
    host = host.lower().rstrip('.')
    return any(host == d or host.endswith('.' + d) for d in DOMAINS)


def make_certs():
    def openssl(*args):
        subprocess.run(['openssl'] + list(args), cwd=DIR, check=True,
                       capture_output=True)
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
            '-subj', '/CN=fake TikTok test CA', '-keyout', 'ca.key',
            '-out', 'ca.pem', '-addext', 'basicConstraints=critical,CA:TRUE',
            '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj',
            '/CN=www.tiktok.com', '-keyout', 'site.key', '-out', 'site.csr')
    with open(os.path.join(DIR, 'ext.cnf'), 'w') as f:
        f.write('subjectAltName=' + ','.join(
            'DNS:%s,DNS:*.%s' % (d, d) for d in DOMAINS) + '\n'
            'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n')
    openssl('x509', '-req', '-in', 'site.csr', '-CA', 'ca.pem', '-CAkey',
            'ca.key', '-CAcreateserial', '-days', '2', '-out', 'site.pem',
            '-extfile', 'ext.cnf')


# -- what TikTok says about a post --------------------------------------

def family(vid):
    return vid[:2], vid[-3:-2] if len(vid) == 19 else ''


def blocked(vid):
    return vid.startswith('73') and vid[-3:] in ('429', '403')


def status_of(vid):
    return {'7300000000000000404': 10204, '7300000000000000416': 10216,
            '7300000000000000422': 10222}.get(vid, 0)


def media(kind, vid, what):
    if kind == 'web':
        return '%s/video/%s/%s.mp4' % (WEB_CDN, vid, what)
    if kind == 'app':
        return '%s/obj/%s/%s.mp4' % (APP_CDN, vid, what)
    return '%s/obj/%s/%s' % (IMG_CDN, vid, what)


def author():
    return {'uniqueId': 'fakecreator', 'nickname': 'Fake Creator',
            'id': '6900000000000000001', 'secUid': 'MS4wLjABAAAAfake'}


def item_web(vid):
    """itemStruct, as today's page (and SIGI_STATE's ItemModule) has it."""
    item = {
        'id': vid, 'desc': 'Fake TikTok post %s #fyp' % vid,
        'createTime': 1700000000, 'author': author(),
        'authorId': '6900000000000000001',
        'music': {'title': 'original sound', 'authorName': 'Fake Artist',
                  'duration': 5,
                  'playUrl': media('img', vid, 'sound.mp3')},
        'stats': {'playCount': 2007, 'diggCount': 10, 'commentCount': 3,
                  'shareCount': 4},
    }
    if vid.startswith('74'):
        item['imagePost'] = {'images': [
            {'imageURL': {'urlList': [media('img', vid, 'img%d.jpg' % k)]},
             'imageWidth': 1080, 'imageHeight': 1440} for k in (1, 2, 3)]}
        return item
    item['video'] = {
        'width': 720, 'height': 1280, 'duration': 5,
        'cover': media('img', vid, 'cover.jpg'),
        'playAddr': media('web', vid, 'play'),
        'downloadAddr': media('web', vid, 'download'),
        'bitrateInfo': [{'PlayAddr': {
            'UrlList': [media('web', vid, fid)],
            'UrlKey': 'v12044gd0000cfake_%s' % fid, 'DataSize': SIZE}}
            for fid, _, _, _ in FORMATS],
    }
    return item


def aweme_app(vid):
    """The app API's aweme (feed, detail), in its real shape."""
    a = {
        'aweme_id': vid, 'desc': 'Fake TikTok post %s #fyp' % vid,
        'create_time': 1700000000,
        'author': {'uid': '6900000000000000001', 'unique_id': 'fakecreator',
                   'nickname': 'Fake Creator', 'sec_uid': 'MS4wLjABAAAAfake'},
        'music': {'title': 'original sound', 'author': 'Fake Artist',
                  'duration': 5,
                  'play_url': {'url_list': [media('img', vid, 'sound.mp3')]}},
        'statistics': {'play_count': 2007, 'digg_count': 10,
                       'comment_count': 3, 'share_count': 4},
    }
    if vid.startswith('74'):
        # What the app feed gives for a photo post, as yt-dlp 2023.03.04
        # reads it: one "gear" per image, and the sound.
        a['video'] = {'bit_rate': [
            {'gear_name': 'image-%d' % k, 'bit_rate': 0,
             'play_addr': {'url_list': [media('img', vid, 'img%d.jpg' % k)]}}
            for k in (1, 2, 3)] + [
            {'gear_name': 'audio', 'bit_rate': 0,
             'play_addr': {'url_list': [media('img', vid, 'sound.mp3')]}}],
            'cover': {'url_list': [media('img', vid, 'cover.jpg')]}}
        return a
    a['video'] = {
        'width': 720, 'height': 1280, 'duration': 5000, 'has_watermark': True,
        'cover': {'url_list': [media('img', vid, 'cover.jpg')]},
        'play_addr': {'url_list': [media('app', vid, 'play')],
                      'url_key': 'v0_h264_720p_1350000', 'width': 720,
                      'height': 1280, 'data_size': SIZE},
        'download_addr': {'url_list': [media('app', vid, 'download')],
                          'width': 720, 'height': 1280, 'data_size': SIZE},
        'bit_rate': [{'gear_name': fid, 'bit_rate': 1000,
                      'is_bytevc1': int(hevc),
                      'play_addr': {'url_list': [media('app', vid, fid)],
                                    'url_key': 'v0_%s' % fid, 'width': w,
                                    'height': h, 'data_size': SIZE}}
                     for fid, w, h, hevc in FORMATS[2:]],
    }
    return a


def script(sid, obj):
    return ('<script id="%s" type="application/json">%s</script>'
            % (sid, json.dumps(obj).replace('</', '<\\/')))


def page(vid):
    """The post's page: today's shape, or both shapes for older posts."""
    st = status_of(vid)
    item = item_web(vid) if st == 0 else None
    detail = {'statusCode': st}
    if item:
        detail['itemInfo'] = {'itemStruct': item}
    body = script('__UNIVERSAL_DATA_FOR_REHYDRATION__',
                  {'__DEFAULT_SCOPE__': {'webapp.video-detail': detail}})
    if vid[-3] in '23' or st:
        sigi = {'VideoPage': {'statusCode': st}, 'ItemModule': {}}
        if item:
            sigi['ItemModule'][vid] = item
        body += script('SIGI_STATE', sigi)
    return '<!DOCTYPE html><html><head><title>TikTok</title></head>' \
        '<body>%s</body></html>' % body


def challenge_page():
    data = {'v': {'a': base64.b64encode(CHALLENGE_A).decode(),
                  'c': base64.b64encode(hashlib.sha256(
                      CHALLENGE_A + str(CHALLENGE_N).encode()).digest())
                  .decode()}, 's': 'fake'}
    cs = base64.b64encode(json.dumps(data).encode()).decode().rstrip('=')
    return ('<html><head><title>Please wait...</title></head><body>'
            '<p id="wci" class="_wafchallengeid"></p>'
            '<p id="cs" class="%s"></p></body></html>' % cs)


def challenge_solved(cookies):
    try:
        data = json.loads(base64.b64decode(cookies['_wafchallengeid']))
        return base64.b64decode(data['d']) == str(CHALLENGE_N).encode()
    except Exception:
        return False


def gen(seed, start, end):
    return bytes((i * 7 + seed) % 251 for i in range(start, end))


# -- what a test reads of a fake's folder -------------------------------

def requests(folder):
    """The requests a fake served from folder, "METHOD HOST PATH"."""
    try:
        with open(os.path.join(folder, 'requests.log')) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def served(lines):
    """(path, bytes) of the last media file the CDN sent in lines (of
    requests()); (None, None) when none."""
    for line in reversed(lines):
        method, host, path = line.split(' ', 2)
        if method == 'GET' and ('tiktokcdn' in host or
                                host == 'v16-webapp-prime.tiktok.com'):
            size = {'.jpg': 20000, '.mp3': 40000}.get(
                os.path.splitext(path)[1], SIZE)
            return path, gen(sum(path.encode()) % 251, 0, size)
    return None, None


# -- the server ---------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    host = None         # set for requests inside a CONNECT tunnel

    def log_message(self, fmt, *args):
        pass

    def do_CONNECT(self):
        host, _, port = self.path.rpartition(':')
        note('CONNECT %s' % self.path)
        if not ours(host):
            self.send_error(403, 'not a TikTok host')
            return
        self.send_response(200, 'Connection established')
        self.end_headers()
        self.wfile.flush()
        try:
            tls = self.server.ctx.wrap_socket(self.connection,
                                              server_side=True)
        except (ssl.SSLError, OSError):
            self.close_connection = True
            return
        inner = type('Inner', (Handler,), {'host': host.lower()})
        try:
            inner(tls, self.client_address, self.server)
        except (ssl.SSLError, OSError):
            pass
        self.close_connection = True

    def do_HEAD(self):
        self.do_GET(head=True)

    def do_POST(self):
        n = int(self.headers.get('Content-Length') or 0)
        self.rfile.read(n)
        self.do_GET()

    def do_GET(self, head=False):
        self.head = head
        if self.host is not None:
            host, path = self.host, self.path
        else:
            u = urllib.parse.urlsplit(self.path)
            host = (u.hostname or '').lower()
            path = u.path + ('?' + u.query if u.query else '')
        note('%s %s %s' % (self.command, host, path))
        if not ours(host):
            return self.reply(403, 'not a TikTok host')
        # DIR/blocked: TikTok refuses this address (every page and API
        # answer 429; the CDN still serves what was extracted before).
        if os.path.exists(os.path.join(DIR, 'blocked')) and \
                'cdn' not in host and not host.startswith('v16-webapp'):
            return self.reply(429, 'Too Many Requests')
        u = urllib.parse.urlsplit(path)
        q = urllib.parse.parse_qs(u.query)
        cookies = {}
        for part in (self.headers.get('Cookie') or '').split(';'):
            k, _, v = part.strip().partition('=')
            if k:
                cookies[k] = v.strip('"')
        try:
            self.route(host, u.path, q, cookies)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def reply(self, code, body, ctype='text/plain', headers=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if not self.head:
            self.wfile.write(data)

    def route(self, host, path, q, cookies):
        m = re.fullmatch(r'/(?:t/)?ZSV(\d+)/?', path)
        if m and (host in ('vm.tiktok.com', 'vt.tiktok.com', 'v.douyin.com')
                  or path.startswith('/t/')):
            vid = m.group(1)
            to = ('https://www.douyin.com/video/%s?previous_page=app' % vid
                  if host == 'v.douyin.com' else
                  'https://www.tiktok.com/@fakecreator/video/%s'
                  '?_r=1&_t=ZT-fake&is_from_webapp=1' % vid)
            return self.reply(301, '', headers=[('Location', to)])
        if host == 'www.tiktok.com':
            m = re.fullmatch(r'/@[\w.-]*/(?:video|photo)/(\d+)', path)
            if not m:
                return self.reply(404, 'no such page')
            return self.post_page(m.group(1), cookies)
        if host.endswith('tiktokv.com') and path.startswith('/aweme/v1/'):
            return self.app_api(q)
        if host == 'www.douyin.com' and path == \
                '/aweme/v1/web/aweme/detail/':
            vid = (q.get('aweme_id') or [''])[0]
            if vid[-3:-2] != '6':
                return self.reply(200, '', 'application/json')
            return self.reply(200, json.dumps(
                {'aweme_detail': aweme_app(vid)}), 'application/json')
        if host == 'aweme.snssdk.com':
            return self.app_api(q)
        if host == 'v16-webapp-prime.tiktok.com':
            ref = self.headers.get('Referer') or ''
            if cookies.get('tt_chain_token') != CHAIN or \
                    not ref.startswith('https://www.tiktok.com/'):
                return self.reply(403, 'Forbidden')
            return self.body(path)
        if host in ('v16m.tiktokcdn.com', 'p16-sign.tiktokcdn.com'):
            return self.body(path)
        return self.reply(404, 'not found')

    def post_page(self, vid, cookies):
        time.sleep(LATENCY)
        if blocked(vid):
            return self.reply(int(vid[-3:]), 'Too many requests')
        if vid.endswith('502'):
            return self.reply(200, '<html><body>Something went wrong'
                              '</body></html>', 'text/html')
        if vid.endswith('02') and vid[-3] == '1' and \
                not challenge_solved(cookies):
            return self.reply(200, challenge_page(), 'text/html')
        chain = ('tt_chain_token=%s; Domain=.tiktok.com; Path=/; '
                 'Max-Age=86400' % CHAIN)
        return self.reply(200, page(vid), 'text/html; charset=utf-8',
                          [('Set-Cookie', chain)])

    def app_api(self, q):
        time.sleep(LATENCY)
        vid = (q.get('aweme_id') or q.get('aweme_ids') or [''])[0].strip('[]')
        if blocked(vid):
            return self.reply(int(vid[-3:]), 'Too many requests')
        if vid[-3:-2] in ('2', '6') and len(vid) == 19:
            return self.reply(200, json.dumps(
                {'status_code': 0, 'aweme_list': [aweme_app(vid)]}),
                'application/json')
        # Today's app feed: an empty answer.
        return self.reply(200, '', 'application/json')

    def body(self, path):
        if path.endswith('.jpg'):
            ctype, size = 'image/jpeg', 20000
        elif path.endswith('.mp3'):
            ctype, size = 'audio/mpeg', 40000
        else:
            ctype, size = 'video/mp4', SIZE
        seed = sum(path.encode()) % 251
        start, end, code = 0, size, 200
        m = re.fullmatch(r'bytes=(\d*)-(\d*)', self.headers.get('Range', ''))
        if m and (m.group(1) or m.group(2)):
            if m.group(1):
                start = int(m.group(1))
                end = min(size, int(m.group(2)) + 1) if m.group(2) else size
            else:
                start = max(0, size - int(m.group(2)))
            if start >= size:
                return self.reply(416, '', headers=[
                    ('Content-Range', 'bytes */%d' % size)])
            code = 206
        self.send_response(code)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(end - start))
        self.send_header('Accept-Ranges', 'bytes')
        if code == 206:
            self.send_header('Content-Range', 'bytes %d-%d/%d'
                             % (start, end - 1, size))
        self.end_headers()
        if not self.head:
            self.wfile.write(gen(seed, start, end))


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def main():
    global DIR
    DIR = sys.argv[1]
    make_certs()
    host, _, port = os.environ.get('FAKE_TIKTOK_LISTEN',
                                   '127.0.0.1:0').rpartition(':')
    srv = Server((host, int(port)), Handler)
    srv.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv.ctx.load_cert_chain(os.path.join(DIR, 'site.pem'),
                            os.path.join(DIR, 'site.key'))
    port = os.path.join(DIR, 'port')
    with open(port + '.tmp', 'w') as f:
        f.write(str(srv.server_address[1]))
    os.rename(port + '.tmp', port)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        sys.stdin.read()
    finally:
        srv.shutdown()


if __name__ == '__main__':
    main()
