#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""openapi.json against the real answers.

GET /openapi.json serves the repository's openapi.json (same document,
its version the program's).  Its paths are the routes the app answers,
no more and no less.  Then real requests (fake helper, fake CDN, ffmpeg):
a video post, a photo post, every error the fakes can provoke, /stream
whole and in part, HEAD, /download, /download-slideshow, /download-audio,
/health, /metrics, the page at / (and its 404 with WEB_UI=0).  Each answer's status must be one the description
lists for that path and method, its Content-Type one it lists, its JSON
body valid against the schema given, and its required headers present.

The schema check is a small validator for the subset of JSON Schema the
document uses (type, properties, required, additionalProperties, items,
minItems, minProperties, minLength, minimum, enum, pattern, oneOf,
$ref); a keyword it does not know fails the test, so the document cannot
grow past what is checked.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BINARY, TOP_SRCDIR, check, done, skip  # noqa: E402
from stack import Stack  # noqa: E402

FFMPEG = shutil.which('ffmpeg')
if not FFMPEG:
    skip('ffmpeg is not installed (apt-get install ffmpeg): the render '
         'answers cannot be checked')
SPEC = json.load(open(os.path.join(TOP_SRCDIR, 'openapi.json')))
KNOWN = {'type', 'properties', 'required', 'additionalProperties',
         'items', 'minItems', 'minProperties', 'minLength', 'minimum',
         'enum', 'pattern', 'oneOf', '$ref', 'description', 'format'}
TYPES = {'object': dict, 'array': list, 'string': str, 'boolean': bool,
         'null': type(None)}


def resolve(schema):
    while '$ref' in schema:
        name = schema['$ref'].rsplit('/', 1)[1]
        schema = SPEC['components']['schemas'][name]
    return schema


def errors(value, schema, where='$'):
    """What is wrong with value under schema: a list of words."""
    schema = resolve(schema)
    unknown = set(schema) - KNOWN
    if unknown:
        return ['%s: schema keywords not checked: %s' % (where, unknown)]
    out = []
    if 'type' in schema:
        types = schema['type'] if isinstance(schema['type'], list) \
            else [schema['type']]
        ok = False
        for t in types:
            if t == 'integer':
                ok |= isinstance(value, int) and not isinstance(value, bool)
            elif t == 'number':
                ok |= isinstance(value, (int, float)) and \
                    not isinstance(value, bool)
            elif t == 'boolean':
                ok |= isinstance(value, bool)
            else:
                ok |= isinstance(value, TYPES[t]) and \
                    not isinstance(value, bool)
        if not ok:
            return ['%s: %r is not %s' % (where, value, types)]
    if 'enum' in schema and value not in schema['enum']:
        out.append('%s: %r not in %s' % (where, value, schema['enum']))
    if isinstance(value, str):
        if len(value) < schema.get('minLength', 0):
            out.append('%s: shorter than %d' % (where, schema['minLength']))
        if 'pattern' in schema and not re.search(schema['pattern'], value):
            out.append('%s: %r does not match %s'
                       % (where, value[:80], schema['pattern']))
    if isinstance(value, (int, float)) and not isinstance(value, bool) \
            and 'minimum' in schema and value < schema['minimum']:
        out.append('%s: %r < %r' % (where, value, schema['minimum']))
    if isinstance(value, dict):
        for k in schema.get('required', []):
            if k not in value:
                out.append('%s: %s is missing' % (where, k))
        props = schema.get('properties', {})
        for k, v in value.items():
            if k in props:
                out += errors(v, props[k], '%s.%s' % (where, k))
            elif schema.get('additionalProperties') is False:
                out.append('%s: %s is not described' % (where, k))
        if len(value) < schema.get('minProperties', 0):
            out.append('%s: fewer than %d properties'
                       % (where, schema['minProperties']))
    if isinstance(value, list):
        if len(value) < schema.get('minItems', 0):
            out.append('%s: fewer than %d items' % (where, schema['minItems']))
        for i, v in enumerate(value):
            out += errors(v, schema.get('items', {}), '%s[%d]' % (where, i))
    if 'oneOf' in schema:
        passing = [s for s in schema['oneOf'] if not errors(value, s, where)]
        if len(passing) != 1:
            out.append('%s: matches %d of oneOf, not 1 (%s)'
                       % (where, len(passing), [errors(value, s, where)[:2]
                                                for s in schema['oneOf']]))
    return out


# The validator itself must be able to fail.
assert errors({'error': 1}, {'$ref': '#/components/schemas/Error'})
assert errors({}, {'$ref': '#/components/schemas/Error'})
assert not errors({'error': 'x'}, {'$ref': '#/components/schemas/Error'})
assert errors({'status': 'tunnel'}, {'$ref': '#/components/schemas/Video'})

seen = set()


def conforms(r, path, method, what):
    """r is an answer the description allows for path and method."""
    op = SPEC['paths'][path][method.lower()]
    st = str(r.status)
    seen.add((path, method, st))
    if st not in op['responses']:
        check(False, '%s: status %s is not described for %s %s (%s)'
              % (what, st, method, path, sorted(op['responses'])))
        return
    resp = op['responses'][st]
    bad = []
    for name, h in resp.get('headers', {}).items():
        if '$ref' in h:
            h = SPEC['components']['headers'][h['$ref'].rsplit('/', 1)[1]]
        v = r.header(name)
        if v is None:
            if h.get('required'):
                bad.append('header %s missing' % name)
            continue
        schema = dict(h['schema'])
        if schema.get('type') == 'integer':
            if not v.isdigit():
                bad.append('header %s=%r is not an integer' % (name, v))
            continue
        bad += errors(v, schema, 'header ' + name)
    ctype = (r.header('content-type') or '').split(';')[0].strip()
    content = resp.get('content', {})
    if content and ctype not in content:
        bad.append('Content-Type %s not in %s' % (ctype, sorted(content)))
    elif ctype == 'application/json' and method != 'HEAD':
        bad += errors(json.loads(r.body), content[ctype]['schema'])
    check(not bad, '%s: %s %s %s conforms %s'
          % (what, method, path, st, bad[:4]))


base = tempfile.mkdtemp(prefix='tiktok-fcgi-openapi-')
docroot = os.path.join(base, 'docroot')
os.makedirs(docroot)
for i in (1, 2, 3):
    subprocess.run([FFMPEG, '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                    'testsrc2=size=320x480:rate=1', '-frames:v', '1',
                    os.path.join(docroot, 'img%d.jpg' % i)], check=True)
subprocess.run([FFMPEG, '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                'testsrc2=size=320x240:rate=25', '-f', 'lavfi', '-i',
                'sine=frequency=440:sample_rate=44100', '-t', '2',
                '-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'aac',
                '-shortest', os.path.join(docroot, 'video.mp4')], check=True)
subprocess.run([FFMPEG, '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                'sine=duration=2', '-c:a', 'libmp3lame',
                os.path.join(docroot, 'audio.mp3')], check=True)

TT = 'https://www.tiktok.com/@%s/video/%s'
with Stack(docroot=docroot) as s:
    r = s.get('/openapi.json')
    conforms(r, '/openapi.json', 'GET', 'the description')
    served = json.loads(r.body)
    check(served == SPEC, 'GET /openapi.json is the repository\'s '
          'openapi.json')
    version = subprocess.run([BINARY, '-V'], capture_output=True,
                             text=True).stdout.split()[-1]
    check(SPEC['info']['version'] == version,
          'its version is the program\'s (%s, %s)'
          % (SPEC['info']['version'], version))
    check(SPEC['openapi'].startswith('3.'), 'OpenAPI 3')

    # Its paths are the routes: each answers something but "Route not
    # found"; a path it does not list does.
    for path, ops in SPEC['paths'].items():
        for method in ops:
            r = s.request(method.upper(), path,
                          body=b'{}' if method == 'post' else None)
            check(not (r.status == 404 and r.body and
                       json.loads(r.body).get('error') == 'Route not found'),
                  '%s %s is a route of the app (%d)'
                  % (method.upper(), path, r.status))
    for path in ('/nope', '/openapi.yaml', '/docs'):
        r = s.get(path)
        check(r.status == 404, '%s is not a route, nor described' % path)
        check(path not in SPEC['paths'], '%s not described' % path)

    # POST /tiktok: a video post, a photo post, and the errors.
    r = s.tiktok(TT % ('cdn_files_video.mp4', '7300000000000000901'))
    conforms(r, '/tiktok', 'POST', 'a video post')
    video = r.json()
    r = s.tiktok('https://www.tiktok.com/@ok/photo/7400000000000000902')
    conforms(r, '/tiktok', 'POST', 'a photo post')
    photo = r.json()
    for h265 in (False, True):
        r = s.request('POST', '/tiktok', body=json.dumps({
            'url': TT % ('ladder', '7300000000000000903'),
            'allowH265': h265}))
        conforms(r, '/tiktok', 'POST', 'today\'s ladder, allowH265 %s'
                 % h265)
        check(r.status == 200 and ('no_watermark_hevc' in
                                   r.json()['download_link']) != h265,
              'today\'s ladder, allowH265 %s: no_watermark_hevc %s'
              % (h265, 'absent' if h265 else 'present'))
    for what, body in (('no url', '{}'), ('not JSON', 'nope'),
                       ('not TikTok', '{"url": "https://example.com/x"}'),
                       ('a profile', '{"url": "https://www.tiktok.com/@u"}'),
                       ('allowH265 not a boolean',
                        json.dumps({'url': TT % ('ok', '1'),
                                    'allowH265': 'yes'})),
                       ('too big', json.dumps({'url': 'x' * 70000}))):
        r = s.request('POST', '/tiktok', body=body)
        conforms(r, '/tiktok', 'POST', what)
    for mode, vid in (('notfound', '1'), ('private', '2'), ('blocked', '3'),
                      ('garbage', '4'), ('other', '5')):
        r = s.tiktok(TT % (mode, vid))
        conforms(r, '/tiktok', 'POST', mode)

    # /stream: whole, range, HEAD, out of range, bad token.
    link = s.local(video['download_link']['no_watermark'])
    for what, hdrs, method in (('whole', {}, 'GET'),
                               ('range', {'Range': 'bytes=0-99'}, 'GET'),
                               ('HEAD', {}, 'HEAD'),
                               ('past the end',
                                {'Range': 'bytes=99999999-'}, 'GET')):
        r = s.request(method, link, headers=hdrs)
        conforms(r, '/stream', method, '/stream ' + what)
    for what, q in (('no token', ''), ('bad token', '?data=AAAA')):
        r = s.get('/stream' + q)
        conforms(r, '/stream', 'GET', '/stream ' + what)
    r = s.get(s.local(photo['download_link']['no_watermark'][0]))
    conforms(r, '/download', 'GET', 'a photo')
    r = s.get(s.local(photo['download_link']['mp3']))
    conforms(r, '/stream', 'GET', 'the photo post\'s music')

    # Renders.
    r = s.get(s.local(photo['download_slideshow_link']), timeout=120)
    check(r.status == 200, 'the slideshow renders (%d)' % r.status)
    conforms(r, '/download-slideshow', 'GET', 'a slideshow')
    r = s.get(s.local(photo['download_slideshow_link']),
              headers={'Range': 'bytes=0-9'}, timeout=120)
    conforms(r, '/download-slideshow', 'GET', 'a slideshow, in part')
    r = s.get(s.local(video['download_link']['mp3']), timeout=120)
    check(r.status == 200, 'the MP3 renders (%d)' % r.status)
    conforms(r, '/download-audio', 'GET', 'an MP3')
    r = s.get('/download-slideshow?url=' +
              video['download_link']['mp3'].split('url=')[1])
    conforms(r, '/download-slideshow', 'GET', 'a slideshow of a video')
    r = s.get('/download-audio')
    conforms(r, '/download-audio', 'GET', 'no url')

    r = s.get('/health')
    conforms(r, '/health', 'GET', 'health')
    r = s.get('/metrics')
    conforms(r, '/metrics', 'GET', 'metrics')
    r = s.get('/?url=' + TT % ('ok', '7300000000000000903'))
    conforms(r, '/', 'GET', 'the page')

# The page off: / is 404 as described.
with Stack(env={'WEB_UI': '0'}) as s:
    conforms(s.get('/'), '/', 'GET', 'WEB_UI=0')

# A degraded instance: /health 503 as described.
with Stack(env={'FAKE_START': 'die'}, expect_healthy=False) as s:
    from harness import wait_for
    wait_for(lambda: s.get('/health').status == 503, 10, 'degraded')
    conforms(s.get('/health'), '/health', 'GET', 'degraded')

# Budgets and API keys: the RateLimit fields, 429 and 401 as described.
keys = os.path.join(base, 'keys')
with open(keys, 'w') as f:
    f.write('a-test-key-0123456789abcdef name=t\n')
os.chmod(keys, 0o600)
unknown = {'Authorization': 'Api-Key not-a-key-0123456789abcdef'}
with Stack(env={'RATE_LIMIT': '1/3600', 'RATE_LIMIT_MEDIA': '1/3600',
                'API_KEYS_FILE': keys}) as s:
    r = s.tiktok(TT % ('ok', '7300000000000000950'))
    conforms(r, '/tiktok', 'POST', 'within the budget')
    check(r.header('ratelimit') is not None and
          r.header('ratelimit-policy') is not None,
          'the answer carries RateLimit and RateLimit-Policy')
    link = s.local(r.json()['download_link']['no_watermark'])
    conforms(s.tiktok(TT % ('ok', '7300000000000000951')), '/tiktok', 'POST',
             'past the budget')
    conforms(s.request('POST', '/tiktok', body='{}', headers=unknown,
                       source='127.0.0.2'), '/tiktok', 'POST', 'unknown key')
    conforms(s.get(link), '/stream', 'GET', '/stream within the budget')
    conforms(s.get(link), '/stream', 'GET', '/stream past the budget')
    conforms(s.get(link, headers=unknown, source='127.0.0.2'), '/stream',
             'GET', '/stream with an unknown key')
with Stack(env={'API_KEYS_FILE': keys, 'API_KEYS_REQUIRED': '1'}) as s:
    conforms(s.tiktok(TT % ('ok', '7300000000000000952')), '/tiktok', 'POST',
             'no key where one is required')

check(len(seen) >= 20, '%d distinct (path, method, status) answers were '
      'checked' % len(seen))
shutil.rmtree(base, ignore_errors=True)
done()
