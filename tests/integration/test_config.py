#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Settings that cannot work stop `-n` and the start, with a message
naming the key; TEMP_DIR must be ours alone.

Each bad value is tried with `tiktok-fcgi -n` and with a real start (on
a unix socket of our own, in the foreground); both must exit 1 and name
what is wrong, and the start must leave no socket behind.
"""

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BINARY, FAKES, check, done, skip_part,  # noqa
                     wait_for)
from stack import Stack  # noqa: E402

FAKE = os.path.join(FAKES, 'fake_helper.py')
base = tempfile.mkdtemp(prefix='tiktok-fcgi-config-')
os.chmod(base, 0o755)
work = os.path.join(base, 'work')
conf_dir = os.path.join(base, 'conf.d')
os.mkdir(conf_dir)
afile = os.path.join(base, 'afile')
open(afile, 'w').write('x\n')


def env_with(extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ('LOG_FILE', 'HELPER_SCRIPT', 'CA_FILE',
                        'COOKIES_PATH', 'TEMP_DIR', 'OUTBOUND_PROXY')}
    env.update({'ENCRYPTION_KEY': 'a-long-enough-test-key',
                'TEMP_DIR': work, 'HELPERS': '1', 'SHUTDOWN_TIMEOUT': '2',
                'YTDLP_PYTHON': sys.executable, 'HELPER_SCRIPT': FAKE})
    env.update(extra)
    return env


def run(args, extra, timeout=20):
    p = subprocess.run([BINARY] + args, env=env_with(extra),
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def refused(what, args, extra, words, start=True):
    rc, out = run(['-n'] + args, extra)
    check(rc == 1 and all(w in out for w in words),
          '%s: -n refuses it (%d: %s)' % (what, rc, out.strip()[-160:]))
    if not start:
        return
    sock = os.path.join(base, 'app.sock')
    rc, out = run(['-f', '-s', sock] + args, extra)
    check(rc == 1 and all(w in out for w in words) and
          not os.path.exists(sock),
          '%s: the start is refused, no socket left (%d: %s)'
          % (what, rc, out.strip()[-160:]))


rc, out = run(['-n'], {})
check(rc == 0 and 'configuration OK' in out, 'a good configuration: -n OK')

# Every key the program reads, as it lists them (-K: name, kind,
# default, bounds), by kind: each bad value stops -n with a message
# naming the key (the start reads the same table).
rc, out = run(['-K'], {})
table = [ln.split('\t') for ln in out.splitlines()]
check(rc == 0 and len(table) >= 38 and all(len(r) == 5 for r in table),
      '-K lists the keys, five fields each (%d keys)' % len(table))
check(len({r[0] for r in table}) == len(table) and
      all(re.fullmatch(r'[A-Z][A-Z_]*', r[0]) for r in table),
      '-K: each key once, by its name')
ints = [r for r in table if r[1] == 'int']
check(ints and all(int(r[3]) <= int(r[2]) <= int(r[4]) for r in ints) and
      all(r[3] == r[4] == '-' for r in table if r[1] != 'int'),
      '-K: a number\'s default within its bounds, bounds for numbers only')
# The defaults it lists are values the program takes: all set, -n passes.
listed = {r[0]: r[2] for r in table if r[1] in ('int', 'bool', 'level')}
rc, out = run(['-n'], listed)
check(rc == 0 and 'configuration OK' in out,
      '-K\'s defaults of numbers, flags and the level pass -n (%s)'
      % out.strip()[-120:])
bad_of = {
    'bool': ['maybe', '2', 'on'],
    'level': ['loud', '5'],
    'url': ['ftp://x.example', 'not a url'],
    'file': [os.path.join(base, 'none'), conf_dir],
    'proxies': ['ftp://p:1', 'http://p:1,,http://q:2', 'nothing'],
    'redis': ['http://r:6379', 'redis://', 'redis://r/db', 'unix://'],
    'rate': ['20', '0/60', '20/0', '20/60s', '1000001/60', '1/86401'],
    'nets': ['10.0.0.0/33', 'proxy.example', '::1/129', '10.0.0.0/8,,'],
}
check(all(r[1] in bad_of or r[1] in ('int', 'string') for r in table),
      '-K: every kind one this test knows (%s)'
      % sorted({r[1] for r in table}))
free = []
for key, kind, _, lo, hi in table:
    values = bad_of.get(kind, [])
    if kind == 'int':
        values = [str(int(lo) - 1), str(int(hi) + 1), 'ten', '', '1.5']
    if not values:
        free.append(key)
        continue
    for v in values:
        rc, out = run(['-n'], {key: v})
        check(rc == 1 and key in out and 'configuration OK' not in out,
              '%s=%r: -n refuses it (%s)' % (key, v, out.strip()[-90:]))
print('# keys that take any text (checked where used, or free): %s'
      % ' '.join(free))

refused('-c naming a directory', ['-c', conf_dir], {}, [conf_dir, 'not a file'])
for key in ('HELPER_SCRIPT', 'CA_FILE', 'COOKIES_PATH'):
    refused('%s a directory' % key, [], {key: conf_dir},
            [key, 'not a file'])
    refused('%s missing' % key, [], {key: os.path.join(base, 'none')},
            [key, 'No such file'])
# The programs: FFMPEG must be an executable, YTDLP_PYTHON must run the
# helper (which imports yt_dlp and says its version).
noexec = os.path.join(base, 'noexec')
open(noexec, 'w').write('#!/bin/sh\n')
for key in ('FFMPEG', 'YTDLP_PYTHON'):
    refused('%s missing' % key, [], {key: os.path.join(base, 'none')},
            [key, 'No such file'])
    refused('%s a directory' % key, [], {key: conf_dir},
            [key, 'Is a directory'])
    refused('%s not executable' % key, [], {key: noexec},
            [key, 'Permission denied'])
    refused('%s not in PATH' % key, [], {key: 'no-such-program-here'},
            [key, 'not found in PATH'])
# A python that cannot import yt_dlp, as the real helper finds it: no
# site directories (-S), so no yt_dlp whatever is installed.
bare = os.path.join(base, 'bare-python')
with open(bare, 'w') as f:
    f.write('#!/bin/sh\nexec %s -S -I "$@"\n' % sys.executable)
os.chmod(bare, 0o755)
real = os.path.join(os.environ.get('TOP_SRCDIR', '.'), 'src',
                    'ytdlp_helper.py')
refused('a python without yt_dlp (the real helper)', [],
        {'YTDLP_PYTHON': bare, 'HELPER_SCRIPT': real},
        ['YTDLP_PYTHON', bare, 'cannot import yt_dlp'])
refused('a helper that cannot start (FAKE_CHECK=fail)', [],
        {'FAKE_CHECK': 'fail'}, ['YTDLP_PYTHON', 'cannot import yt_dlp'])
rc, out = run(['-n'], {})
check(rc == 0 and 'yt-dlp fake-1.0' in out,
      '-n says which yt-dlp the helpers will use (%s)' % out.strip())

refused('TEMP_DIR a file', [], {'TEMP_DIR': afile},
        ['TEMP_DIR', 'not a directory'])
refused('TEMP_DIR relative', [], {'TEMP_DIR': 'tmp/x'}, ['TEMP_DIR'])

# What the start makes or opens, -n judges too (and makes nothing).
# (LOG_FILE: -f logs to stderr whatever it says: the start without it.)
refused('LOG_FILE in a missing folder', [],
        {'LOG_FILE': os.path.join(base, 'no', 'x.log')},
        ['LOG_FILE', os.path.join(base, 'no')], start=False)
rc, out = run(['-s', os.path.join(base, 'app.sock')],
              {'LOG_FILE': os.path.join(base, 'no', 'x.log')})
check(rc == 1 and 'LOG_FILE' in out and
      not os.path.exists(os.path.join(base, 'app.sock')),
      'LOG_FILE in a missing folder: the start is refused (%d: %s)'
      % (rc, out.strip()[-120:]))
refused('PID_FILE in a missing folder', [],
        {'PID_FILE': os.path.join(base, 'no', 'x.pid')},
        ['PID_FILE', os.path.join(base, 'no')])
refused('PID_FILE relative', [], {'PID_FILE': 'x.pid'},
        ['PID_FILE', 'not an absolute path'])
refused('TEMP_DIR in a missing folder', [],
        {'TEMP_DIR': os.path.join(base, 'no', 'work')},
        ['TEMP_DIR', os.path.join(base, 'no')])
check(not os.path.exists(os.path.join(base, 'no')), '-n made nothing')
refused('an empty ENCRYPTION_KEY', [], {'ENCRYPTION_KEY': ''},
        ['ENCRYPTION_KEY', 'empty'])
fleet_conf = os.path.join(os.environ.get('TOP_SRCDIR', '.'), 'deploy',
                          'tiktok-fcgi-fleet.conf')
placeholder = [ln.strip().split('=', 1)[1] for ln in open(fleet_conf)
               if ln.startswith('ENCRYPTION_KEY=')][0]
env_nokey = {'ENCRYPTION_KEY': placeholder}
refused('the fleet file\'s placeholder key', [], env_nokey,
        ['ENCRYPTION_KEY', placeholder, 'openssl rand'])
refused('REDIS_URL with a port out of range', [],
        {'REDIS_URL': 'redis://127.0.0.1:99999'},
        ['REDIS_URL', 'port must be a number from 1 to 65535'])

# A key the program does not know: warned about, with the key it was
# probably meant to be.
typo = os.path.join(base, 'typo.conf')
with open(typo, 'w') as f:
    f.write('LOG_LEVL=debug\nffmpeg_path=/usr/bin/ffmpeg\nPORT=3021\n')
rc, out = run(['-n', '-c', typo], {})
check(rc == 0 and 'unknown key LOG_LEVL ignored (did you mean LOG_LEVEL?)'
      in out and 'unknown key ffmpeg_path ignored (did you mean FFMPEG?)'
      in out and 'unknown key PORT ignored\n' in out,
      'unknown keys: warned, with "did you mean" where one is near (%s)'
      % out.strip()[-300:])

# --help and --version, as every program takes them.
rc, out = run(['--help'], {})
check(rc == 0 and out.startswith('usage: tiktok-fcgi'), '--help: the usage')
rc, out = run(['--version'], {})
check(rc == 0 and re.fullmatch(r'tiktok-fcgi \S+\n', out),
      '--version: the version (%r)' % out)

# A port another program holds: -n and the start name the address.
import socket  # noqa: E402
held = socket.socket()
held.bind(('127.0.0.1', 0))
held.listen(1)
addr = '127.0.0.1:%d' % held.getsockname()[1]
for args in (['-n', '-b', addr], ['-f', '-b', addr]):
    rc, out = run(args, {})
    check(rc == 1 and addr in out and 'Address already in use' in out,
          '%s on a port in use: refused, naming it (%s)'
          % (' '.join(args), out.strip()[-120:]))
held.close()
sock = os.path.join(base, 'app.sock')

for b in ('127.0.0.1:notaport', '', '127.0.0.1:0', '127.0.0.1:70000'):
    rc, out = run(['-b', b], {})
    check(rc == 1 and '-b' in out and not os.path.exists(b or 'x-none'),
          '-b "%s": refused, no socket file of that name (%s)'
          % (b, out.strip()))
rc, out = run(['-s', ''], {})
check(rc == 1 and '-s' in out, '-s "": refused')

# TEMP_DIR: a symbolic link and another user's folder are refused at the
# start; a folder of ours open to others is made private.
link = os.path.join(base, 'link')
os.mkdir(os.path.join(base, 'elsewhere'))
os.symlink(os.path.join(base, 'elsewhere'), link)
refused('TEMP_DIR a symbolic link', [], {'TEMP_DIR': link},
        ['TEMP_DIR', 'symbolic link'])
if os.geteuid() == 0:
    theirs = os.path.join(base, 'theirs')
    os.mkdir(theirs)
    os.chown(theirs, 65534, 65534)
    refused('TEMP_DIR of another user', [], {'TEMP_DIR': theirs},
            ['TEMP_DIR', 'belongs to user 65534'])
else:
    skip_part('TEMP_DIR of another user: not root, such a folder cannot '
              'be made here', expected=True)

opened = os.path.join(base, 'opened')
os.mkdir(opened)
os.chmod(opened, 0o777)


def environ(pid):
    with open('/proc/%d/environ' % pid, 'rb') as f:
        return f.read().split(b'\0')


with Stack(env={'TEMP_DIR': opened, 'GNUTLS_NO_IMPLICIT_INIT': '0'},
           nginx=False, cdn=False) as s:
    # spawn-fcgi makes the socket before tiktok-fcgi starts: wait for it.
    wait_for(lambda: 'acceptor_start: listening' in s.log(), 10,
             'tiktok-fcgi to be up')
    check(b'GNUTLS_NO_IMPLICIT_INIT=0' in environ(s.app.pid),
          'GNUTLS_NO_IMPLICIT_INIT given: kept as it is')
    mode = stat.S_IMODE(os.stat(opened).st_mode)
    check(mode == 0o700, 'TEMP_DIR of ours open to others: made 0700 '
          '(%o)' % mode)
fresh = os.path.join(base, 'fresh')
with Stack(env={'TEMP_DIR': fresh}, nginx=False, cdn=False) as s:
    wait_for(lambda: 'acceptor_start: listening' in s.log(), 10,
             'tiktok-fcgi to be up')
    st = os.lstat(fresh)
    check(stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700,
          'TEMP_DIR missing: made, 0700')
    # The process spawn-fcgi started runs itself again, with libgnutls
    # (loaded for libcurl's LDAP and RTMP) told not to initialise.
    check(b'GNUTLS_NO_IMPLICIT_INIT=1' in environ(s.app.pid),
          'started without GNUTLS_NO_IMPLICIT_INIT: the same process '
          'runs again with it set to 1')
    with open('/proc/%d/comm' % s.app.pid) as f:
        comm = f.read().strip()
    check(comm == 'tiktok-fcgi', 'and ps still shows its name (%s)' % comm)

shutil.rmtree(base, ignore_errors=True)
done()
