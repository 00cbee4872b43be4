#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""SIGHUP reads the configuration file (and the environment) again.

The service runs with a -c file and none of its keys in the environment.
The file changes, SIGHUP: what can change live does (LOG_LEVEL, the
egress list OUTBOUND_PROXY, the helpers' program HELPER_SCRIPT: new
helpers run it, QUEUE_MAX); what cannot (BASE_URL, HELPERS) is named in
the log and keeps its running value.  A file that does not check (a bad
number, a helper that is not there) changes nothing, and the log says
why; the helpers are still replaced.  An egress list emptied again:
straight out.
"""

import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import FAKES, check, done, wait_for, within  # noqa: E402
from stack import Stack  # noqa: E402

TT = 'https://www.tiktok.com/@ok/video/%d'
KEYS = ('LOG_LEVEL', 'OUTBOUND_PROXY', 'HELPER_SCRIPT', 'BASE_URL',
        'HELPERS', 'QUEUE_MAX', 'MAX_WORKERS')

s = Stack()
conf = os.path.join(s.tmp, 'tiktok-fcgi.conf')
fake2 = os.path.join(s.tmp, 'fake_helper2.py')
with open(fake2, 'w') as f:
    f.write(open(os.path.join(FAKES, 'fake_helper.py')).read()
            .replace("'fake-1.0'", "'fake-2.0'"))
proxy, _ = s.side('fake_proxy.py', 'proxy')
purl = 'http://127.0.0.1:%d' % proxy


def write(**kv):
    with open(conf, 'w') as f:
        f.write(''.join('%s=%s\n' % kv_ for kv_ in kv.items()))


def hup(mark):
    """SIGHUP, and the log from then on once the reload is through."""
    n = len(s.log())
    s.app.send_signal(signal.SIGHUP)
    wait_for(lambda: 'reload: done' in s.log()[n:], 30, mark)
    return s.log()[n:]


def proxies():
    """The proxy each extraction named, in order ('-': none)."""
    try:
        with open(os.path.join(s.state, 'proxies.log')) as f:
            return [ln.split(' ')[1] for ln in f.read().splitlines()]
    except FileNotFoundError:
        return []


write(LOG_LEVEL='info', HELPER_SCRIPT=os.path.join(FAKES, 'fake_helper.py'),
      BASE_URL='http://one.example', HELPERS=2, QUEUE_MAX=1000)
s.conf = conf
base_env = s.app_env
s.app_env = lambda: {k: v for k, v in base_env().items() if k not in KEYS}
with s:
    r = s.tiktok(TT % 1)
    check(r.status == 200 and r.json()['download_link']['no_watermark']
          .startswith('http://one.example/'), 'BASE_URL from the file')
    check(' debug: ' not in s.log(), 'LOG_LEVEL=info from the file')

    write(LOG_LEVEL='debug', HELPER_SCRIPT=fake2, OUTBOUND_PROXY=purl,
          BASE_URL='http://two.example', HELPERS=3, QUEUE_MAX=500)
    since = len(s.log())
    log = hup('the first reload')
    for key in ('LOG_LEVEL', 'HELPER_SCRIPT', 'OUTBOUND_PROXY', 'QUEUE_MAX'):
        check('reload: %s changed: applied' % key in log,
              'SIGHUP: %s changed live' % key)
    for key in ('BASE_URL', 'HELPERS'):
        check(' warn: reload: %s changed: it cannot change while running'
              % key in log, 'SIGHUP: %s cannot change live: said' % key)
    check(within(lambda: s.health()['ytdlp'] == 'fake-2.0', 30),
          'the new HELPER_SCRIPT runs in the new helpers (%s)'
          % s.health()['ytdlp'])
    h = s.health()
    check([e.get('proxy') for e in h['egress']] == [purl] and
          h['pool']['max_helpers'] == 2,
          'the egress list is the file\'s; HELPERS kept (%s, %d)'
          % (json.dumps(h['egress']), h['pool']['max_helpers']))
    n = len(proxies())
    r = s.tiktok(TT % 2)
    check(r.status == 200 and r.json()['download_link']['no_watermark']
          .startswith('http://one.example/'),
          'BASE_URL keeps its running value')
    check(proxies()[n:] == [purl], 'the next extraction goes out through '
          'the new egress (%s)' % proxies()[n:])
    check(within(lambda: ' debug: ' in s.log()[since:], 20),
          'LOG_LEVEL=debug: debug lines from then on')

    # A file that does not check: nothing changes, the log says why.
    write(LOG_LEVEL='info', HELPER_SCRIPT=fake2, MAX_WORKERS='ten')
    since = len(s.log())
    log = hup('a bad number')
    check('the configuration is kept: MAX_WORKERS: "ten" is not a whole '
          'number' in log and 'changed: applied' not in log,
          'a bad number: the configuration is kept, and why')
    check(within(lambda: 'helper parent' in s.log()[since:] and
                 ' debug: ' in s.log()[since:], 20),
          'LOG_LEVEL stays debug (the helpers replaced, in debug lines)')
    write(LOG_LEVEL='info', HELPER_SCRIPT=os.path.join(s.tmp, 'none.py'),
          OUTBOUND_PROXY=purl)
    log = hup('a missing helper')
    check('the configuration is kept: HELPER_SCRIPT' in log and
          'No such file' in log, 'a missing HELPER_SCRIPT: kept, and why')
    check(within(lambda: s.health()['ytdlp'] == 'fake-2.0' and
                 s.health()['pool']['max_helpers'] == 2, 30),
          'the helpers still run the running program')

    # The egress list emptied: straight out again.
    write(LOG_LEVEL='debug', HELPER_SCRIPT=fake2)
    hup('no egress')
    n = len(proxies())
    r = s.tiktok(TT % 3)
    check(r.status == 200 and s.health()['egress'] == [] and
          proxies()[n:] == ['-'],
          'OUTBOUND_PROXY gone: no egress, straight out (%s)'
          % proxies()[n:])
done()
