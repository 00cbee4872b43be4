#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The real helper with the real yt_dlp, end to end, on local URLs.

The fake CDN serves a DASH manifest (one muxed H.264+AAC representation)
that sets a cookie, and the media file behind it, which it serves only
with that cookie.  yt-dlp's generic extractor (allowed for tests through
TEST_POST_HOSTS) reads the manifest; the helper hands the cookie on in
the format's headers; libcurl must send it to get the file.  Then the
same through OUTBOUND_PROXY, and over HTTPS with a CA of our own given
as CA_FILE: both yt-dlp and libcurl must honour them.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, done, skip  # noqa: E402
from stack import Stack  # noqa: E402

PY = os.environ.get('YTDLP_PYTHON') or '/usr/bin/python3'
if subprocess.run([PY, '-c', 'import yt_dlp'],
                  capture_output=True).returncode != 0:
    skip('%s cannot import yt_dlp (apt-get install yt-dlp, or set '
         'YTDLP_PYTHON)' % PY)

MPD = '''<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"
 mediaPresentationDuration="PT3S" minBufferTime="PT1S"
 profiles="urn:mpeg:dash:profile:isoff-on-demand:2011">
 <Period><AdaptationSet mimeType="video/mp4">
  <Representation id="muxed-240p" codecs="avc1.42c00d,mp4a.40.2"
   width="320" height="240" bandwidth="200000">
   <BaseURL>clip.mp4</BaseURL>
  </Representation>
 </AdaptationSet></Period>
</MPD>
'''
MEDIA = os.urandom(300000)


def docroot(tmp):
    os.makedirs(tmp, exist_ok=True)
    for name in ('clip.mpd', 'clip-nocookie.mpd'):
        with open(os.path.join(tmp, name), 'w') as f:
            f.write(MPD)
    with open(os.path.join(tmp, 'clip.mp4'), 'wb') as f:
        f.write(MEDIA)
    return tmp


def roundtrip(s, what, manifest='clip.mpd'):
    r = s.tiktok(s.cdn_url + '/files/' + manifest, timeout=60)
    check(r.status == 200, '%s: POST /tiktok answers 200 (%d %s)'
          % (what, r.status, r.body[:200]))
    if r.status != 200:
        return
    a = r.json()
    check(a['status'] == 'tunnel', '%s: a video answer' % what)
    dl = a['download_link']
    check('no_watermark' in dl and 'no_watermark_hd' not in dl,
          '%s: a 240p format is no_watermark, not HD' % what)
    r = s.get(s.local(dl['no_watermark']))
    check(r.status == 200 and r.body == MEDIA,
          '%s: the media arrives whole (the cookie yt-dlp got reached '
          'libcurl)' % what)


import tempfile  # noqa: E402
base = tempfile.mkdtemp(prefix='tiktok-fcgi-ytdlp-')

with Stack(helper='real', docroot=docroot(os.path.join(base, 'd1')),
           env={'TEST_POST_HOSTS': '127.0.0.1'}) as s:
    h = s.health()
    want = subprocess.run([PY, '-c', 'from yt_dlp.version import '
                           '__version__ as v; print(v)'],
                          capture_output=True, text=True).stdout.strip()
    check(h['ytdlp'] == want, '/health reports yt-dlp %s' % want)
    roundtrip(s, 'direct')
    r = s.tiktok('http://127.0.0.1:1/nothing.mpd')
    check(r.status in (500, 502, 503, 504) and 'error' in r.json(),
          'an unreachable post: a JSON error')

    # Through a proxy: yt-dlp and libcurl both go through it.
    port, plog = s.side('fake_proxy.py', 'proxy')
    s.stop_app()
    s.extra_env['OUTBOUND_PROXY'] = 'http://127.0.0.1:%s' % port
    os.unlink(s.sock)
    s.start_app()
    s.wait_healthy()
    # (The CDN is on loopback here: FETCH_ALLOW_PRIVATE=1 lets it be.)
    roundtrip(s, 'via OUTBOUND_PROXY')
    seen = open(plog).read() if os.path.exists(plog) else ''
    check('/files/clip.mpd' in seen, 'yt-dlp went through the proxy')
    check('/files/clip.mp4' in seen, 'libcurl went through the proxy')

    # The guard on: the proxy is never asked for a loopback target.
    s.stop_app()
    s.extra_env['FETCH_ALLOW_PRIVATE'] = '0'
    os.unlink(s.sock)
    s.start_app()
    s.wait_healthy()
    open(plog, 'w').close()
    r = s.tiktok(s.cdn_url + '/files/clip.mpd', timeout=60)
    link = s.local(r.json()['download_link']['no_watermark'])
    r = s.get(link)
    seen = open(plog).read()
    check(r.status >= 400 and '/files/clip.mp4' not in seen,
          'guard on, through a proxy: a loopback CDN URL is refused and '
          'never asked of the proxy (%d)' % r.status)

# COOKIES_PATH: the manifest sets no cookie; the cookie the media needs
# is only in the Netscape cookie file given to yt-dlp.
jar = os.path.join(base, 'cookies.txt')
with open(jar, 'w') as f:
    f.write('# Netscape HTTP Cookie File\n'
            '127.0.0.1\tFALSE\t/\tFALSE\t0\tcdn_session\tfake\n')
with Stack(helper='real', docroot=docroot(os.path.join(base, 'd4')),
           env={'TEST_POST_HOSTS': '127.0.0.1'}) as s:
    r = s.tiktok(s.cdn_url + '/files/clip-nocookie.mpd', timeout=60)
    link = s.local(r.json()['download_link']['no_watermark'])
    r = s.get(link)
    check(r.status == 502, 'without COOKIES_PATH the CDN refuses the media '
          '(%d)' % r.status)
with Stack(helper='real', docroot=docroot(os.path.join(base, 'd5')),
           env={'TEST_POST_HOSTS': '127.0.0.1', 'COOKIES_PATH': jar}) as s:
    roundtrip(s, 'COOKIES_PATH', 'clip-nocookie.mpd')

# HTTPS with a CA of our own.
tls = os.path.join(base, 'tls')
os.makedirs(tls)


def openssl(*args):
    subprocess.run(['openssl'] + list(args), cwd=tls, check=True,
                   capture_output=True)


try:
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
            '-subj', '/CN=tiktok-fcgi test CA', '-keyout', 'ca.key',
            '-out', 'ca.pem', '-addext', 'basicConstraints=critical,CA:TRUE',
            '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1',
            '-keyout', 'cdn.key', '-out', 'cdn.csr')
    with open(os.path.join(tls, 'ext.cnf'), 'w') as f:
        f.write('subjectAltName=IP:127.0.0.1\n'
                'basicConstraints=CA:FALSE\n'
                'extendedKeyUsage=serverAuth\n')
    openssl('x509', '-req', '-in', 'cdn.csr', '-CA', 'ca.pem', '-CAkey',
            'ca.key', '-CAcreateserial', '-days', '2', '-out', 'cdn.pem',
            '-extfile', 'ext.cnf')
except (OSError, subprocess.CalledProcessError) as e:
    skip('cannot make test certificates with openssl: %s' % e)

cert = (os.path.join(tls, 'cdn.pem'), os.path.join(tls, 'cdn.key'))
with Stack(helper='real', docroot=docroot(os.path.join(base, 'd2')),
           tls=cert, env={'TEST_POST_HOSTS': '127.0.0.1',
                          'CA_FILE': os.path.join(tls, 'ca.pem')}) as s:
    roundtrip(s, 'HTTPS with CA_FILE')

with Stack(helper='real', docroot=docroot(os.path.join(base, 'd3')),
           tls=cert, env={'TEST_POST_HOSTS': '127.0.0.1'}) as s:
    r = s.tiktok(s.cdn_url + '/files/clip.mpd', timeout=60)
    check(r.status >= 500 and 'certificate' not in r.body.decode().lower()
          and 'certificate' in s.log().lower(),
          'HTTPS without CA_FILE: refused for the unknown CA (%d), the '
          'reason in the log only' % r.status)

import shutil  # noqa: E402
shutil.rmtree(base, ignore_errors=True)
done()
