# SPDX-License-Identifier: ISC
"""Where the container test runs: podman with a store and configuration
of its own, a Debian base image made here, the images built from HEAD's
files, and compose projects that are torn down whatever happens.  Used by
test_container.py.

Nothing here touches the user's podman: CONTAINERS_CONF and
CONTAINERS_STORAGE_CONF point every podman and podman-compose call at
files written below (runtime runc: crun cannot run on kernels with mixed
cgroups; default ulimits within the hard ones), whose store lives in
CACHE.  No registry is needed: the base, debian:bookworm-slim, is made by
mmdebstrap from Debian's archive and imported under that name.  The tar
and the layers built on it are kept in CACHE between runs on one machine
(a new base each ISO week), and the last images built stay tagged
CACHE_REPO:* so that their layers are the next build's cache; whatever
else a run makes is named after it (RUN_ID) and removed by it.  Several
runs may share the machine and CACHE: the base is made under a lock, and
nothing a run did not make is removed but layers no tag has held for a
day.
"""

import fcntl
import glob
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time

from harness import check, skip

CACHE = os.environ.get('CONTAINER_TEST_CACHE', '/var/cache/tiktok-fcgi-test')
CI = os.environ.get('CI') == 'true'
RUN_ID = 'tft%d%s' % (os.getpid(), os.urandom(3).hex())
BASE = 'docker.io/library/debian:bookworm-slim'
CACHE_REPO = 'localhost/tiktok-fcgi-test-cache'
BASE_LABEL = 'org.tiktok-fcgi.test-base'
# debian:bookworm-slim as Docker Hub makes it: minbase, merged /usr,
# no documentation, manuals or translations (kept out by dpkg).
SLIM = ['--variant=minbase',
        '--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr'] + [
    '--dpkgopt=path-%s=%s' % kv for kv in (
        ('exclude', '/usr/share/man/*'), ('exclude', '/usr/share/doc/*'),
        ('include', '/usr/share/doc/*/copyright'),
        ('exclude', '/usr/share/locale/*'), ('exclude', '/usr/share/info/*'),
        ('exclude', '/usr/share/groff/*'),
        ('exclude', '/usr/share/lintian/*'))] + ['bookworm']

TMP = LOG = ENV = None     # set by setup()


def unavailable(reason):
    """Skip, saying why; under CI a missing piece fails instead."""
    if CI:
        check(False, 'the container test can run: %s' % reason)
        tail()
    if TMP is not None:
        shutil.rmtree(TMP, ignore_errors=True)
    if CI:
        raise SystemExit(1)
    skip(reason)


def setup():
    """This run's folder, and the configuration every podman call of
    this run reads."""
    global TMP, LOG, ENV
    TMP = tempfile.mkdtemp(prefix='tiktok-fcgi-container-')
    LOG = os.path.join(TMP, 'podman.log')
    ENV = dict(os.environ,
               CONTAINERS_CONF=os.path.join(TMP, 'containers.conf'),
               CONTAINERS_STORAGE_CONF=os.path.join(TMP, 'storage.conf'),
               BUILDAH_FORMAT='docker')     # OCI images drop HEALTHCHECK
    for d in ('storage', 'networks', 'run'):
        os.makedirs(os.path.join(CACHE, d), exist_ok=True)
    with open(ENV['CONTAINERS_CONF'], 'w') as f:
        f.write('[containers]\n'
                'default_ulimits = ["nofile=20000:20000", '
                '"nproc=32768:32768"]\n'
                '[engine]\nruntime = "runc"\n'
                'tmp_dir = "%s/run/libpod"\n'
                '[network]\nnetwork_config_dir = "%s/networks"\n'
                % (CACHE, CACHE))
    with open(ENV['CONTAINERS_STORAGE_CONF'], 'w') as f:
        f.write('[storage]\ndriver = "overlay"\ngraphroot = "%s/storage"\n'
                'runroot = "%s/run/storage"\n' % (CACHE, CACHE))


def run(argv, timeout=600, cwd=None, env=None, ok=True):
    """argv with the podman environment, its output appended to LOG.
    Returns (exit status, output); a failure when ok is said in LOG."""
    t0 = time.time()
    with open(LOG, 'a') as log:
        log.write('\n$ %s\n' % ' '.join(argv))
        log.flush()
        try:
            p = subprocess.run(argv, cwd=cwd, env=env or ENV,
                               stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=timeout)
            rc, out = p.returncode, p.stdout.decode('utf-8', 'replace')
        except subprocess.TimeoutExpired as e:
            rc, out = -1, (e.stdout or b'').decode('utf-8', 'replace') + \
                '\n(killed after %d s)' % timeout
        log.write(out)
        log.write('(exit %d, %.1f s)\n' % (rc, time.time() - t0))
    if rc != 0 and ok:
        print('# %s: exit %d' % (' '.join(argv[:4]), rc), flush=True)
    return rc, out


def podman(*args, **kw):
    return run(['podman'] + list(args), **kw)


def tail(n=60):
    if LOG is None:
        return
    try:
        with open(LOG) as f:
            lines = f.read().splitlines()[-n:]
    except FileNotFoundError:
        return
    print('# --- the last %d lines of the podman log ---' % len(lines))
    for line in lines:
        print('# ' + line)


def base_image():
    """debian:bookworm-slim in the store: this week's tar from CACHE (made
    by mmdebstrap when missing), imported once.  Under a lock: other runs
    may be doing the same."""
    key = '%s-%s' % (time.strftime('%G-W%V'), hashlib.sha256(
        ' '.join(SLIM).encode()).hexdigest()[:8])
    tar = os.path.join(CACHE, 'debian-bookworm-slim-%s.tar' % key)
    with open(os.path.join(CACHE, 'lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(tar):
            t0 = time.time()
            part = tar[:-len('.tar')] + '.part.tar'    # .tar: a tarball
            rc, out = run(['mmdebstrap', '--quiet'] + SLIM + [part],
                          ok=False)
            if rc != 0:
                unavailable('the base image cannot be built (mmdebstrap '
                            'exit %d: %s)' % (rc, out.strip()[-300:]))
            os.rename(part, tar)
            print('# base: mmdebstrap made %s in %.0f s'
                  % (os.path.basename(tar), time.time() - t0))
            for old in glob.glob(os.path.join(
                    CACHE, 'debian-bookworm-slim-*.tar')):
                if old != tar:
                    os.unlink(old)
        rc, out = podman('image', 'inspect', BASE, ok=False)
        have = json.loads(out)[0].get('Labels') or {} if rc == 0 else {}
        if have.get(BASE_LABEL) != key:
            rc, out = podman('import', '--change', 'LABEL %s=%s'
                             % (BASE_LABEL, key), tar, BASE)
            if rc != 0:
                unavailable('podman cannot import the base image: %s'
                            % out.strip()[-300:])
            print('# base: %s imported' % os.path.basename(tar))
        # The cache's bound: layers of builds superseded a day ago.
        podman('image', 'prune', '-f', '--filter', 'until=24h')


def context(top, wheels):
    """A clean build context: HEAD's files (never the working tree's),
    with the wheel folder at .test-wheels.  Returns its path."""
    ctx = os.path.join(TMP, 'ctx')
    os.makedirs(ctx)
    arch = os.path.join(TMP, 'head.tar')
    rc, out = run(['git', '-C', top, 'archive', '-o', arch, 'HEAD'],
                  env=os.environ)
    if rc != 0:
        unavailable('git archive HEAD failed: %s' % out.strip())
    with tarfile.open(arch) as t:
        t.extractall(ctx)
    os.unlink(arch)
    shutil.copytree(wheels, os.path.join(ctx, '.test-wheels'))
    return ctx


def keep(ref, name):
    """ref stays tagged CACHE_REPO:name: the next build's cache."""
    podman('tag', ref, '%s:%s' % (CACHE_REPO, name))


def image_size(ref):
    rc, out = podman('image', 'inspect', '--format', '{{.Size}}', ref)
    return int(out.strip()) if rc == 0 and out.strip().isdigit() else 0


class Project:
    """A compose project of this run (its name is unique): podman-compose
    with the files given, in the context's folder."""

    def __init__(self, ctx, files, env):
        self.ctx = ctx
        self.name = RUN_ID
        self.files = files
        self.env = dict(ENV, **env)

    def compose(self, *args, timeout=600):
        argv = ['podman-compose', '-p', self.name]
        for f in self.files:
            argv += ['-f', f]
        return run(argv + list(args), cwd=self.ctx, env=self.env,
                   timeout=timeout)

    def container(self, service, n=1):
        return '%s_%s_%d' % (self.name, service, n)

    def containers(self):
        rc, out = podman('ps', '-a', '--format', '{{.Names}}', '--filter',
                         'label=io.podman.compose.project=' + self.name)
        return out.split() if rc == 0 else ['(podman ps failed)']

    def volumes(self):
        """The project's volumes: named ones (labelled) and the anonymous
        ones its containers hold (found by their mounts)."""
        rc, out = podman('volume', 'ls', '--format', '{{.Name}}', '--filter',
                         'label=io.podman.compose.project=' + self.name)
        names = set(out.split()) if rc == 0 else set()
        for c in self.containers():
            rc, out = podman('inspect', '--format',
                             '{{range .Mounts}}{{.Name}} {{end}}', c,
                             ok=False)
            names.update(out.split() if rc == 0 else [])
        return sorted(names)

    def remove(self):
        """Everything the project made: containers, volumes, network."""
        vols = self.volumes()
        for c in self.containers():
            podman('rm', '-f', '-t', '5', c, ok=False)
        for v in vols:
            podman('volume', 'rm', '-f', v, ok=False)
        podman('network', 'rm', '-f', self.name + '_default', ok=False)
