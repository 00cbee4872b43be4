#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The containers as a user runs them: the Dockerfile's images built from
HEAD's files, compose.yaml brought up with podman-compose (.env made from
.env.example), and the API checked through the published port.

  images   compose build makes nginx, redis and the app with the current
           yt-dlp (from the wheel folder, YTDLP_WHEELS); a build with
           neither wheels nor a package index says so and runs Debian's;
           the image refuses to start without ENCRYPTION_KEY; its ffmpeg
           encodes the renders' codecs
  API      /health 200, a non-TikTok link 400 JSON, a video post through
           the fake TikTok (fake_tiktok.py in a container of its own on
           the compose network, as OUTBOUND_PROXY, its CA as CA_FILE) and
           its stream link, byte for byte
  yt-dlp   kept current by a rebuild (up -d: the volume takes the image's
           newer yt-dlp) and by tiktok-fcgi-ytdlp update in the running
           container with SIGHUP (no restart)
  process  the containers healthy (their HEALTHCHECKs, run by podman),
           nothing running as root, the root filesystem read-only
  restart  keeps the yt-dlp volume and the key (an old link still
           streams), and nothing else: no cache, no stale work folder,
           nothing in /tmp; SIGTERM stops it cleanly (exit 0)
  fleet    compose.fleet.yaml: three instances behind the one nginx, one
           extraction for a post asked of all three (Redis)
  down     leaves nothing: no container, nothing on the port

podman runs with a store and configuration of the test's own
(podman_world.py), so it needs root; the base image is made with
mmdebstrap and cached in /var/cache/tiktok-fcgi-test.  Skipped, saying
why, without podman, podman-compose or mmdebstrap, outside a git checkout
(distcheck, copies), without a wheel folder, when the base image cannot
be made, or with CONTAINER_TEST=no (.ci/run runs it as a step of its
own); under CI=true the missing pieces fail instead.
"""

import glob
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FAILED, FAKES, TOP_SRCDIR, check, done, free_port,  # noqa
                     skip, wait_for, within)
from stack import Response  # noqa: E402
import fake_tiktok  # noqa: E402 (tests/fakes: FAKES)
import podman_world as pw  # noqa: E402

VIDEO = 'https://www.tiktok.com/@fakecreator/video/%s'
APP = 'tiktok-fcgi'
YTDLP_DIR = '/var/lib/tiktok-fcgi/yt-dlp'
KEY = 'container-test-' + os.urandom(16).hex()


def prerequisites():
    """The wheel folder, or a skip saying what is missing."""
    if os.environ.get('CONTAINER_TEST') == 'no':
        skip('CONTAINER_TEST=no: .ci/run runs this test as a step of its '
             'own', expected=True)
    top = subprocess.run(['git', '-C', TOP_SRCDIR, 'rev-parse',
                          '--show-toplevel'], capture_output=True, text=True)
    if top.returncode != 0 or os.path.realpath(top.stdout.strip()) != \
            os.path.realpath(TOP_SRCDIR):
        skip('not a git checkout (distcheck, a copy): the images are '
             "built from HEAD's files", expected=True)
    for prog in ('podman', 'podman-compose', 'mmdebstrap', 'runc'):
        if not shutil.which(prog):
            pw.unavailable('%s is not installed (sh deploy/quickstart.sh '
                           'test installs it)' % prog)
    if os.geteuid() != 0:
        pw.unavailable('needs root (podman with a store of its own in %s)'
                       % pw.CACHE)
    wheels = os.environ.get('YTDLP_WHEELS') or os.path.join(
        TOP_SRCDIR, '..', 'shared', 'ytdlp')
    if not glob.glob(os.path.join(wheels, 'yt_dlp-*.whl')):
        pw.unavailable('no yt-dlp wheel folder (YTDLP_WHEELS, or '
                       '../shared/ytdlp beside the clone): the current '
                       'yt-dlp is installed from one, offline')
    return os.path.abspath(wheels)


def version(v):
    """2026.02.04 and 2026.2.4 alike, comparable."""
    return tuple(int(x) for x in v.split('.') if x.isdigit())


class Web:
    """HTTP to the published port, as a client sees it."""

    def __init__(self, port):
        self.port = port
        self.base = 'http://127.0.0.1:%d' % port

    def request(self, method, path, body=None, timeout=90):
        conn = http.client.HTTPConnection('127.0.0.1', self.port,
                                          timeout=timeout)
        try:
            conn.request(method, path, body=body,
                         headers={'Content-Type': 'application/json'}
                         if body else {})
            r = conn.getresponse()
            return Response(r.status, {k.lower(): v for k, v in
                                       r.getheaders()}, r.read())
        finally:
            conn.close()

    def tiktok(self, url):
        return self.request('POST', '/tiktok', json.dumps({'url': url}))

    def health(self):
        try:
            r = self.request('GET', '/health', timeout=10)
        except OSError:
            return None
        return r.json() if r.status == 200 else None

    def wait_health(self, want=None, timeout=120):
        """/health's JSON once it answers 200 (and names yt-dlp want)."""
        def ok():
            h = self.health()
            return h if h and (want is None or
                               version(h['ytdlp']) == want) else None
        try:
            return wait_for(ok, timeout, '/health', 0.5)
        except RuntimeError:
            return {}

    def closed(self):
        try:
            self.request('GET', '/health', timeout=5)
        except OSError:
            return True
        return False


class Fake:
    """The fake TikTok's folder, shared with its container."""

    def __init__(self):
        self.dir = os.path.join(pw.TMP, 'fake')
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)

    def reset(self):
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))

    def log(self):
        return fake_tiktok.requests(self.dir)

    def pages(self, vid, since=0):
        return [x for x in self.log()[since:]
                if x.startswith('GET www.tiktok.com ') and vid in x]


def override(ctx, fake, image, apps):
    """The test's compose file: the fake TikTok in a container of its own
    (the app image has python3 and openssl), each app pointed at it, the
    wheel folder mounted for tiktok-fcgi-ytdlp update."""
    app = {'environment': {'OUTBOUND_PROXY': 'http://fake-tiktok:8080',
                           'CA_FILE': '/fake/ca.pem'},
           'volumes': ['%s:/fake:ro' % fake.dir,
                       '%s/.test-wheels:/wheels:ro' % ctx]}
    services = {name: app for name in apps}
    services['fake-tiktok'] = {
        'image': image, 'user': '0', 'stdin_open': True,
        'entrypoint': ['python3', '/fake-src/fake_tiktok.py', '/fake/port',
                       '/fake'],
        'environment': {'FAKE_TIKTOK_LISTEN': '0.0.0.0:8080'},
        'volumes': ['%s:/fake' % fake.dir, '%s:/fake-src:ro' % FAKES],
        'tmpfs': [YTDLP_DIR, '/var/tmp/tiktok-fcgi'],
        'stop_signal': 'SIGKILL', 'healthcheck': {'test': ['NONE']}}
    path = os.path.join(pw.TMP, 'compose.test-%d.json' % len(apps))
    with open(path, 'w') as f:
        json.dump({'services': services}, f)
    return path


def up(p, fake, web):
    """The fake TikTok first (the apps read its CA at start), then all."""
    fake.reset()
    p.compose('up', '-d', '--no-build', 'fake-tiktok')
    if not within(lambda: os.path.exists(os.path.join(fake.dir, 'port')),
                  60, 0.2):
        check(False, 'the fake TikTok starts in its container')
    rc, _ = p.compose('up', '-d', '--no-build')
    check(rc == 0, 'podman-compose up -d')
    return web.wait_health()


def sh(container, script, *args):
    """A shell script in a running container: (exit status, output)."""
    return pw.podman('exec', container, 'sh', '-c', script, 'sh', *args,
                     ok=False)


def inspect(container, fmt):
    return pw.podman('inspect', '--format', fmt, container,
                     ok=False)[1].strip()


def video(web, fake, vid, what):
    """POST the video post vid, fetch its no_watermark link: the link,
    or None."""
    r = web.tiktok(VIDEO % vid)
    body = r.json() if r.status == 200 else {}
    link = body.get('download_link', {}).get('no_watermark', '')
    if not check(r.status == 200 and body.get('status') == 'tunnel' and
                 link.startswith(web.base + '/stream?data='),
                 '%s: POST /tiktok (video %s) 200 with stream links (%d %s)'
                 % (what, vid, r.status, r.body[:200])):
        return None
    stream(web, fake, link, what)
    return link


def stream(web, fake, link, what):
    n = len(fake.log())
    r = web.request('GET', link[len(web.base):], timeout=60)
    want = fake_tiktok.served(fake.log()[n:])[1]
    check(r.status == 200 and want is not None and r.body == want and
          r.header('content-type') == 'video/mp4',
          '%s: its stream link gives the CDN\'s bytes (%d, %d bytes)'
          % (what, r.status, len(r.body)))


def images(p, ctx, tags):
    """compose build (current yt-dlp from the wheels), and the app with
    no yt-dlp source at all.  Returns the seconds of each."""
    t0 = time.time()
    rc, _ = p.compose('build', '--build-arg', 'YTDLP_WHEELS=.test-wheels',
                      timeout=1800)
    check(rc == 0, 'podman-compose build: nginx, redis and the app (from '
          'HEAD, the current yt-dlp from YTDLP_WHEELS)')
    t1 = time.time()
    for name in ('nginx', 'redis'):
        pw.podman('tag', 'localhost/tiktok-fcgi-%s:%s' % (name, tags['cur']),
                  'localhost/tiktok-fcgi-%s:%s' % (name, tags['deb']))
    # A cached step says nothing: YTDLP_REFRESH makes this one run.
    rc, out = pw.podman('build', '-t', 'localhost/tiktok-fcgi:' +
                        tags['deb'], '--build-arg',
                        'PIP_INDEX_URL=http://127.0.0.1:9/simple',
                        '--build-arg', 'YTDLP_REFRESH=' + pw.RUN_ID, ctx,
                        timeout=1800)
    check(rc == 0 and 'WARNING: no current yt-dlp from the package index'
          in out, 'a build with no package index and no wheels says so '
          "and falls back to Debian's yt-dlp")
    for name, tag in (('', 'cur'), ('', 'deb'), ('-nginx', 'cur'),
                      ('-redis', 'cur')) if not FAILED else ():
        pw.keep('localhost/tiktok-fcgi%s:%s' % (name, tags[tag]),
                (name[1:] or 'app') + ('-debian' if tag == 'deb' else ''))
    return t1 - t0, time.time() - t1


def image_checks(image, wheel):
    once = ['run', '--rm', '--label', 'org.tiktok-fcgi.test=' + pw.RUN_ID]
    rc, out = pw.podman(*once, '--name', pw.RUN_ID + '-nokey', image,
                        ok=False)
    check(rc != 0 and 'ENCRYPTION_KEY is not set: refusing to start' in out,
          'the image refuses to start without ENCRYPTION_KEY (exit %d)'
          % rc)
    rc, out = pw.podman(*once, '--name', pw.RUN_ID + '-check', '-e',
                        'ENCRYPTION_KEY=' + KEY, image, '-n', ok=False)
    said = [x.split()[1] for x in out.splitlines()
            if x.startswith('yt-dlp ')]
    check(rc == 0 and 'configuration OK' in out and said and
          version(said[0]) == wheel,
          "the image checks its configuration (-n), with the wheel's "
          'yt-dlp, made at build time (%s)' % (said or out[-200:]))
    rc, out = pw.podman(
        *once, '--name', pw.RUN_ID + '-ffmpeg', '--read-only', '--tmpfs',
        '/tmp', '--entrypoint',
        'sh', image, '-c', 'cd /tmp && ffmpeg -v error -f lavfi -i '
        'color=s=1080x1920:r=2 -f lavfi -i sine -t 2 -c:v libx264 '
        '-pix_fmt yuv420p -c:a aac -shortest a.mp4 && ffmpeg -v error '
        '-i a.mp4 -vn -c:a libmp3lame -q:a 2 a.mp3 && ! command -v cc && '
        '! command -v gcc && id -u')
    check(rc == 0 and out.strip().splitlines()[-1:] == ['10001'],
          "the image's ffmpeg encodes H.264, AAC and MP3; no compiler; "
          'user 10001')


def single(p, web, fake, tags, wheel):
    app = p.container(APP)
    h = up(p, fake, web)
    check(h.get('status') == 'ok' and h.get('ytdlp') and
          version(h['ytdlp']) < wheel and h.get('warnings'),
          "/health through the published port: 200, Debian's yt-dlp (%s) "
          'and a warning' % h.get('ytdlp'))
    r = web.tiktok('https://example.com/video/7300000000000000101')
    check(r.status == 400 and (r.header('content-type') or '').startswith(
        'application/json') and r.json().get('error') ==
        'Only TikTok and Douyin URLs are supported',
        'a non-TikTok link: 400 JSON (%d %s)' % (r.status, r.body[:100]))
    r = web.tiktok(VIDEO % '7300000000000000101')
    check(r.status == 502 and 'outdated' in r.body.decode(),
          "Debian's yt-dlp cannot read today's TikTok: 502 (%d)" % r.status)

    # A rebuild with a newer yt-dlp: up -d takes it, volume or not.
    p.env['TIKTOK_FCGI_TAG'] = tags['cur']
    p.compose('up', '-d', '--no-build', '--force-recreate', APP)
    h = web.wait_health(want=wheel)
    _, cur = sh(app, 'readlink %s/current' % YTDLP_DIR)
    check(h.get('ytdlp') and cur.startswith('/usr/lib/tiktok-fcgi/yt-dlp/'),
          "after a rebuild, up -d: the image's yt-dlp %s replaces the "
          "volume's older one (current -> %s)" % (h.get('ytdlp'),
                                                 cur.strip()))
    n = len(fake.log())
    link = video(web, fake, '7300000000000000101', 'current yt-dlp')
    pages = len(fake.pages('7300000000000000101', n))

    for svc in ('nginx', APP, 'redis'):
        c = p.container(svc)
        rc, _ = pw.podman('healthcheck', 'run', c, ok=False)
        check(rc == 0 and inspect(c, '{{.State.Health.Status}}') ==
              'healthy', '%s: its health check passes: healthy' % svc)
    rc, out = pw.podman('top', app, 'user,pid,comm')
    procs = out.split('\n')[1:]
    procs = [x.split() for x in procs if x.strip()]
    check(rc == 0 and len(procs) >= 3 and
          all(x[0] == 'tiktok-fcgi' for x in procs),
          'tiktok-fcgi and its helpers run as user tiktok-fcgi, not root '
          '(%s)' % ', '.join(' '.join(x) for x in procs))
    rc, _ = sh(app, 'touch /usr/lib/tiktok-fcgi/x')
    check(rc != 0, 'the root filesystem is read-only')

    # A restart keeps the volumes' yt-dlp and the key, and nothing else.
    sh(app, 'mkdir $TEMP_DIR/render-old && touch -d "3 hours ago" '
       '$TEMP_DIR/render-old && touch /tmp/stray')
    p.compose('restart', APP)
    h = web.wait_health(want=wheel)
    _, left = sh(app, 'ls -A $TEMP_DIR /tmp')
    check(h.get('uptime_s', 99) < 60 and h['cache']['entries'] == 0 and
          h['cache']['misses'] == 0 and 'render-old' not in left and
          'stray' not in left,
          'a restart keeps nothing it should not: cache empty, old work '
          'folder removed, /tmp empty (%r)' % left.strip())
    if link:
        stream(web, fake, link, 'after the restart, the old link (same '
               'key, yt-dlp %s kept)' % h.get('ytdlp'))

    # tiktok-fcgi-ytdlp update in the running container, then SIGHUP.
    p.env['TIKTOK_FCGI_TAG'] = tags['deb']
    p.compose('up', '-d', '--no-build', '--force-recreate', APP)
    h = web.wait_health()
    started = inspect(app, '{{.State.StartedAt}}')
    rc, out = sh(app, 'tiktok-fcgi-ytdlp -f /wheels -r "kill -HUP 1" update')
    h2 = web.wait_health(want=wheel, timeout=60)
    # /health names the newest helper's yt-dlp: wait for every helper's
    # replacement (the old ones stop taking work when theirs is ready).
    replaced = within(lambda: pw.podman('logs', app, ok=False)[1].split(
        'SIGHUP: reloading')[-1].count('ready (yt-dlp %s)' % h2.get(
            'ytdlp')) >= h2['pool']['helpers'], 60, 0.5) if h2 else False
    check(h.get('ytdlp') and version(h['ytdlp']) < wheel and rc == 0 and
          replaced and inspect(app, '{{.State.StartedAt}}') == started,
          'tiktok-fcgi-ytdlp update + SIGHUP in the running container: '
          'yt-dlp %s -> %s in every helper, without a restart'
          % (h.get('ytdlp'), h2.get('ytdlp')))
    video(web, fake, '7300000000000000104', 'after the update')

    rc, _ = pw.podman('stop', '-t', '30', app)
    _, log = pw.podman('logs', app, ok=False)
    check(rc == 0 and inspect(app, '{{.State.ExitCode}}') == '0' and
          'signal 15: finishing requests' in log and 'main: stopped' in log,
          'SIGTERM (the STOPSIGNAL) stops tiktok-fcgi cleanly: exit 0')
    rc, _ = p.compose('down', '-v', '-t', '30')
    check(rc == 0 and p.containers() == [] and web.closed(),
          'podman-compose down: no container left, nothing on the port')
    return pages


def fleet(p, web, fake, wheel, pages):
    h = up(p, fake, web)
    check(h.get('ytdlp') and version(h['ytdlp']) == wheel,
          'compose.fleet.yaml: /health through the one nginx (%s)'
          % h.get('ytdlp'))
    vid = '7300000000000000105'
    body = json.dumps({'url': VIDEO % vid})
    answers = []
    for i, svc in enumerate((APP, APP + '-2', APP + '-3')):
        rc, out = sh(p.container(svc), 'printf %s "$1" | CONTENT_LENGTH='
                     '${#1} REQUEST_METHOD=POST REQUEST_URI=/tiktok '
                     'SCRIPT_NAME=/tiktok CONTENT_TYPE=application/json '
                     'SERVER_NAME=localhost SERVER_PORT=80 '
                     'cgi-fcgi -bind -connect $FCGI_SOCKET', body)
        answers.append(out.startswith('Status: 200'))
        rc, out = sh(p.container(svc), 'tiktok-fcgi-healthcheck')
        hs = json.loads(out.split(' ', 1)[1]) if rc == 0 else {}
        if i > 0:
            answers.append(hs.get('redis', {}).get('hits', 0) >= 1)
    got = len(fake.pages(vid))
    check(all(answers) and len(answers) == 5 and got == pages,
          'three instances, each asked for one post: one extraction in '
          'all (%d page fetches, one extraction makes %d), two Redis hits'
          % (got, pages))
    rc, _ = p.compose('down', '-v', '-t', '30')
    check(rc == 0 and p.containers() == [] and web.closed(),
          'podman-compose down (fleet): nothing left')


def stopped(sig, frame):
    raise SystemExit('signal %d' % sig)


def main():
    wheels = prerequisites()
    # Killed (make's Ctrl-C, a CI time limit): clean up all the same.
    signal.signal(signal.SIGTERM, stopped)
    signal.signal(signal.SIGINT, stopped)
    wheel = version(os.path.basename(glob.glob(os.path.join(
        wheels, 'yt_dlp-*.whl'))[0]).split('-')[1])
    pw.setup()
    t0 = time.time()
    pw.base_image()
    base_s = time.time() - t0
    tags = {'cur': pw.RUN_ID + '-cur', 'deb': pw.RUN_ID + '-deb'}
    made = ['localhost/tiktok-fcgi%s:%s' % (n, t) for n in
            ('', '-nginx', '-redis') for t in tags.values()]
    ctx = pw.context(TOP_SRCDIR, wheels)
    with open(os.path.join(ctx, '.env.example')) as f:
        env = f.read().replace('\nENCRYPTION_KEY=\n',
                               '\nENCRYPTION_KEY=%s\n' % KEY)
    port = free_port()
    with open(os.path.join(ctx, '.env'), 'w') as f:
        f.write(env.replace('\nPORT=3021\n', '\nPORT=%d\n' % port))
    fake = Fake()
    web = Web(port)
    one = ['compose.yaml', override(ctx, fake, 'localhost/tiktok-fcgi:' +
                                    tags['cur'], [APP])]
    p = pw.Project(ctx, one, {'TIKTOK_FCGI_TAG': tags['cur']})
    try:
        print('# base image ready in %.0f s; images built in %.0f s '
              '(compose build) + %.0f s (no yt-dlp source)'
              % ((base_s,) + images(p, ctx, tags)), flush=True)
        sizes = {n: pw.image_size('localhost/tiktok-fcgi%s:%s'
                                  % (n, tags['cur']))
                 for n in ('', '-nginx', '-redis')}
        print('# image sizes: app %.0f MB, nginx %.0f MB, redis %.0f MB '
              '(base %.0f MB)' % tuple(x / 1e6 for x in list(
                  sizes.values()) + [pw.image_size(pw.BASE)]), flush=True)
        if not FAILED:      # without both images, nothing below runs
            image_checks('localhost/tiktok-fcgi:' + tags['cur'], wheel)
            t1 = time.time()
            p.env['TIKTOK_FCGI_TAG'] = tags['deb']
            pages = single(p, web, fake, tags, wheel)
            p.files = ['compose.yaml', 'compose.fleet.yaml', override(
                ctx, fake, 'localhost/tiktok-fcgi:' + tags['cur'],
                [APP, APP + '-2', APP + '-3'])]
            p.env['TIKTOK_FCGI_TAG'] = tags['cur']
            fleet(p, web, fake, wheel, pages)
            print('# compose checks took %.0f s; the whole test %.0f s'
                  % (time.time() - t1, time.time() - t0), flush=True)
    except (Exception, SystemExit) as e:   # reported, then cleaned up
        check(False, 'the test ran to its end (%s: %s)'
              % (type(e).__name__, e))
    finally:
        if FAILED:
            pw.tail()
        p.remove()
        for ref in made:
            pw.podman('rmi', ref, ok=False)
        shutil.rmtree(pw.TMP, ignore_errors=True)
    done()


if __name__ == '__main__':
    main()
