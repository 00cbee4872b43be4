#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Download tokens interoperate with serverjs both ways: node's crypto
runs serverjs's scheme; its tokens open here (ours, and serverjs's own
{url: page, format_id, author} shape, served by extracting), and ours
open there.
"""

import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import HERE, check, done, skip  # noqa: E402
from stack import Stack  # noqa: E402

NODE = shutil.which('node') or shutil.which('nodejs')
if NODE is None:
    skip('node is not installed: cannot run serverjs\'s token scheme')
JS = os.path.join(HERE, 'serverjs_token.js')
KEY = 'shared-between-serverjs-and-us'


def node(*args):
    r = subprocess.run([NODE, JS] + list(args), capture_output=True,
                       text=True, timeout=30)
    return r.returncode, r.stdout


def expected(n):
    return bytes(((i * 7) % 251) for i in range(n))


with Stack(env={'ENCRYPTION_KEY': KEY}) as s:
    # serverjs -> us: a token of serverjs's shape (a page URL and a
    # format_id) is served by extracting the post and streaming it.
    payload = json.dumps({'url': 'https://www.tiktok.com/@cdn_gen_4000/'
                          'video/21', 'format_id': 'h264_540p_800000',
                          'author': 'serverjs user'})
    rc, tok = node('encrypt', KEY, payload)
    check(rc == 0 and tok, 'node sealed a token')
    r = s.get('/stream?data=' + tok)
    check(r.status == 200 and r.body == expected(4000),
          "serverjs's token opens here and streams its format")
    check('serverjs_user' in r.header('content-disposition'),
          "serverjs's author names the file")

    # serverjs -> us: our own payload shape sealed by node.
    payload = json.dumps({'url': s.cdn_url + '/gen/1234', 'author': 'a',
                          'type': 'video'})
    rc, tok = node('encrypt', KEY, payload)
    r = s.get('/download?data=' + tok)
    check(r.status == 200 and r.body == expected(1234),
          'a node-sealed /download token opens here')

    rc, tok = node('encrypt', KEY, payload, '-1000')
    r = s.get('/stream?data=' + tok)
    check(r.status == 410, 'a node-sealed expired token: 410 here')
    rc, tok = node('encrypt', 'another key', payload)
    r = s.get('/stream?data=' + tok)
    check(r.status == 400, 'a token sealed under another key: 400')

    # us -> serverjs: our links' tokens open with node.
    r = s.tiktok('https://www.tiktok.com/@ok/video/22')
    links = r.json()['download_link']
    for name, link in sorted(links.items()):
        # mp3 is the audio render: its token holds the post's page URL.
        tok = link.split('url=' if name == 'mp3' else 'data=')[1]
        rc, out = node('decrypt', KEY, tok)
        ok = rc == 0
        if ok and name == 'mp3':
            ok = out.strip().startswith('https://www.tiktok.com/')
        elif ok:
            # serverjs's /stream runs yt-dlp -f format_id on "url": it
            # must be the post's page, the CDN URL under another key.
            p = json.loads(out)
            ok = (p['url'] == 'https://www.tiktok.com/@ok/video/22' and
                  p.get('format_id') and p.get('author') and
                  p.get('cdn_url', '').startswith(s.cdn_url))
        check(ok, 'our %s token opens in serverjs, in its shape (%s)'
              % (name, out.strip()[:120]))
        if name != 'mp3':
            r = s.get(s.local(link), headers={'Range': 'bytes=0-9'})
            check(r.status == 206 and len(r.body) == 10,
                  'and we still serve it (%d)' % r.status)
    r = s.tiktok('https://www.tiktok.com/@ok/video/7400000000000000001')
    photo = r.json()
    # /download (a photo): serverjs fetches "url" as it is: the file.
    rc, out = node('decrypt', KEY,
                   photo['download_link']['no_watermark'][0].split('data=')[1])
    check(rc == 0 and json.loads(out)['url'].startswith(s.cdn_url),
          'our /download token holds the file\'s URL, as serverjs\'s does')
    # The photo post's music is a /stream link: page URL + format_id.
    rc, out = node('decrypt', KEY,
                   photo['download_link']['mp3'].split('data=')[1])
    p = json.loads(out) if rc == 0 else {}
    check(p.get('url', '').endswith('/video/7400000000000000001') and
          p.get('format_id') == 'audio',
          'the music\'s /stream token: the page URL and its format')
    slide = photo['download_slideshow_link'].split('url=')[1]
    rc, out = node('decrypt', KEY, slide)
    check(rc == 0 and out.endswith('/video/7400000000000000001'),
          'our slideshow token opens in serverjs as the page URL')

done()
