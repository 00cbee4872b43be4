#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""A public instance: per-client budgets, the client behind a trusted
proxy, API keys (nginx, fake helper).

1. RATE_LIMIT=3/3600: one address gets 3 answers, then 429 with
   Retry-After and the RateLimit fields; another address (a client
   socket bound to 127.0.0.2) is not affected.  X-Forwarded-For names
   the client only when the peer is in TRUSTED_PROXIES (127.0.0.1 here),
   read from the right; IPv6 clients are counted by /64.
   RATE_LIMIT_MEDIA=4/3600 for /stream (HEAD included).  /metrics counts
   the 429s by route; /health shows the settings.  nginx's realip
   module, the alternative to TRUSTED_PROXIES, gives the same client.
2. API keys: a key has its own budget (Api-Key and Bearer alike), an
   unknown key is 401, the log names the key and never shows it; SIGHUP
   reads the file again (a new key works, a removed one is 401, a kept
   one keeps its window); a bad file at SIGHUP keeps the keys before.
3. API_KEYS_REQUIRED=1: POST /tiktok without a key is 401, the links of
   an answer open without one.
4. -n refuses a bad keys file naming its line, and the other settings.
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BINARY, FAKES, TOP_SRCDIR, check, done, free_port,  # noqa
                     wait_for, within)
from stack import Stack  # noqa: E402
from webservers import nginx_http  # noqa: E402

TT = 'https://www.tiktok.com/@ok/video/73000000000000%05d'
K1 = 'partner-key-0123456789abcdef'
K2 = 'removed-key-0123456789abcdef'
K3 = 'new-key-0123456789abcdef0123'
seq = [0]


def post(s, headers=None, source=None):
    seq[0] += 1
    h = {'Content-Type': 'application/json'}
    h.update(headers or {})
    return s.request('POST', '/tiktok', body=json.dumps({'url': TT % seq[0]}),
                     headers=h, source=source)


def budget(r):
    """(RateLimit-Policy, remaining, reset) of an answer."""
    m = re.fullmatch(r'"(\w+)";r=(\d+);t=(\d+)', r.header('ratelimit') or '')
    if m is None:
        return (r.header('ratelimit-policy'), None, None)
    return (r.header('ratelimit-policy'), int(m.group(2)), int(m.group(3)))


def statuses(rs):
    return [r.status for r in rs]


def write_keys(path, text):
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, 0o600)


with Stack(env={'RATE_LIMIT': '3/3600', 'RATE_LIMIT_MEDIA': '4/3600',
                'TRUSTED_PROXIES': '127.0.0.1/32, 10.0.0.0/8'}) as s:
    rs = [post(s) for _ in range(4)]
    check(statuses(rs) == [200, 200, 200, 429],
          'one address: 3 answers, then 429 (%s)' % statuses(rs))
    b = [budget(r) for r in rs]
    check(all(p == '"api";q=3;w=3600' for p, _, _ in b),
          'RateLimit-Policy "api";q=3;w=3600 on every answer (%s)'
          % [p for p, _, _ in b])
    check([x[1] for x in b] == [2, 1, 0, 0] and
          all(0 < x[2] <= 3600 for x in b),
          'RateLimit: remaining 2, 1, 0, 0 and reset within the window (%s)'
          % b)
    ra = rs[3].header('retry-after') or ''
    check(ra.isdigit() and 0 < int(ra) <= 3600 and int(ra) >= b[3][2],
          'the 429 has Retry-After (%s s), not before the reset' % ra)
    err = rs[3].json().get('error', '')
    check('Too many requests' in err and '3 per 3600 s' in err,
          'the 429 says why in {"error": ...} (%s)' % err)
    check(rs[0].header('retry-after') is None,
          'an answer within the budget has no Retry-After')
    expose = rs[3].header('access-control-expose-headers') or ''
    check(all(k in expose for k in ('RateLimit', 'RateLimit-Policy',
                                    'Retry-After')),
          'CORS exposes the RateLimit fields and Retry-After')

    r = post(s, source='127.0.0.2')
    check(r.status == 200 and budget(r)[1] == 2,
          'another address (127.0.0.2): unaffected, its own budget (%d, %s)'
          % (r.status, budget(r)))

    # X-Forwarded-For from a trusted peer (127.0.0.1): its right-most
    # untrusted address is the client.
    xff = {'X-Forwarded-For': '198.51.100.7'}
    rs = [post(s, xff) for _ in range(4)]
    check(statuses(rs) == [200, 200, 200, 429],
          'X-Forwarded-For from a trusted peer: a client of its own (%s)'
          % statuses(rs))
    r = post(s, {'X-Forwarded-For': '198.51.100.8, 10.1.2.3'})
    check(r.status == 200, 'another forwarded client, through a trusted '
          'proxy of 10.0.0.0/8: its own budget (%d)' % r.status)
    r = post(s, {'X-Forwarded-For': '198.51.100.99, 198.51.100.7'})
    check(r.status == 429, 'a left-most address the client wrote is not '
          'believed: the right-most untrusted one counts (%d)' % r.status)
    # A request's access line is written once its answer is sent.
    check(within(lambda: 'client=198.51.100.7' in s.log() and
                 'client=198.51.100.8' in s.log(), 10),
          'the access log names the forwarded client')
    # From an untrusted peer the header is ignored: 127.0.0.2 has used 1.
    rs = [post(s, {'X-Forwarded-For': '203.0.113.%d' % i},
               source='127.0.0.2') for i in range(3)]
    check(statuses(rs) == [200, 200, 429],
          'X-Forwarded-For from an untrusted peer (127.0.0.2) is ignored '
          '(%s)' % statuses(rs))
    check('client=203.0.113.' not in s.log(),
          'an untrusted peer\'s header never reaches the log as its client')
    # IPv6 by /64.
    rs = [post(s, {'X-Forwarded-For': '2001:db8:1:2::%x' % (i + 1)})
          for i in range(4)]
    r = post(s, {'X-Forwarded-For': '2001:db8:1:3::1'})
    check(statuses(rs) == [200, 200, 200, 429] and r.status == 200,
          'IPv6 clients are counted by /64 (%s; another /64: %d)'
          % (statuses(rs), r.status))

    # Media: 4 per minute for /stream, HEAD included; its own policy.
    a = post(s, source='127.0.0.3').json()
    link = s.local(a['download_link']['no_watermark'])
    rs = [s.get(link, source='127.0.0.3') for _ in range(3)]
    rs.append(s.request('HEAD', link, source='127.0.0.3'))
    rs.append(s.get(link, source='127.0.0.3'))
    check(statuses(rs) == [200, 200, 200, 200, 429],
          'RATE_LIMIT_MEDIA=4/3600: /stream 4 times (one HEAD), then 429 (%s)'
          % statuses(rs))
    check(all(budget(r)[0] == '"media";q=4;w=3600' for r in rs),
          'the media routes answer under "media";q=4;w=3600')
    check(rs[4].header('retry-after') is not None and
          len(rs[0].body) > 0, 'the 429 has Retry-After; the 200s the media')
    r = post(s, source='127.0.0.3')
    check(r.status == 200 and budget(r)[1] == 1,
          'media and POST /tiktok are budgets apart (%d, %s)'
          % (r.status, budget(r)))
    h = s.get('/health')
    check(h.header('ratelimit') is None and
          h.header('ratelimit-policy') is None,
          'routes without a budget say nothing of one (/health)')

    def api_429s():
        return len([1 for l in s.log().splitlines()
                    if re.search(r'access: \S+ POST /tiktok 429', l)])
    m = s.get('/metrics').body.decode()
    # Counted and logged as each request ends: the log may lag a little.
    within(lambda: 'tiktok_fcgi_limited_total{route="/tiktok"} %d'
           % api_429s() in m, 10)
    n_api = api_429s()
    check('tiktok_fcgi_limited_total{route="/tiktok"} %d' % n_api in m and
          'tiktok_fcgi_limited_total{route="/stream"} 1' in m and
          'tiktok_fcgi_requests_total{route="/tiktok",status="429"} %d'
          % n_api in m,
          '/metrics counts the 429s by route (%d on /tiktok, 1 on /stream)'
          % n_api)
    lim = h.json()['limits']
    check(lim['api'] == '3/3600' and lim['media'] == '4/3600' and
          lim['counting'] == 'local' and lim['api_keys'] is None and
          lim['trusted_proxies'] == '127.0.0.1/32, 10.0.0.0/8' and
          lim['real_ip_header'] == 'X-Forwarded-For' and
          lim['clients']['api'] == 7 and lim['clients']['media'] == 1 and
          lim['clients_max'] == 65536 and
          lim['limited']['api'] == n_api and lim['limited']['media'] == 1,
          '/health shows the settings and counts (%s)' % lim)

# -- 1b. nginx's realip instead of TRUSTED_PROXIES --------------------------
with Stack(env={'RATE_LIMIT': '2/3600'}) as s:
    port = free_port()
    ngx = nginx_http(s.tmp, 'realip', '''
upstream tiktok_fcgi { server unix:%s; }
server {
	listen 127.0.0.1:%d;
	set_real_ip_from 127.0.0.1;
	real_ip_header X-Forwarded-For;
	real_ip_recursive on;
	include %s/deploy/nginx/tiktok-fcgi-locations.conf;
}''' % (s.sock, port, TOP_SRCDIR))
    s.procs.append(ngx)

    def up():
        try:
            return s.get('/health', port=port, timeout=2).status == 200
        except OSError:
            return False
    wait_for(up, 20, 'the realip nginx')
    xff = {'X-Forwarded-For': '198.51.100.20'}
    rs = [s.request('POST', '/tiktok', body=json.dumps({'url': TT % i}),
                    headers=xff, port=port) for i in (900, 901, 902)]
    r = s.request('POST', '/tiktok', body=json.dumps({'url': TT % 903}),
                  headers={'X-Forwarded-For': '198.51.100.21'}, port=port)
    check(statuses(rs) == [200, 200, 429] and r.status == 200 and
          within(lambda: 'client=198.51.100.20' in s.log(), 10),
          'nginx realip (TRUSTED_PROXIES unset): REMOTE_ADDR is the '
          'forwarded client (%s, another: %d)' % (statuses(rs), r.status))
    rs = [s.request('POST', '/tiktok', body=json.dumps({'url': TT % i}),
                    headers={'X-Forwarded-For': '198.51.100.%d' % i},
                    port=port, source='127.0.0.2') for i in (30, 31, 32)]
    check(statuses(rs) == [200, 200, 429],
          'and from a peer nginx does not trust, the header is ignored '
          '(%s)' % statuses(rs))
    ngx.terminate()     # its workers with it (SIGKILL would orphan them)
    ngx.wait()

# -- 2. API keys ---------------------------------------------------------

fd, keyfile = tempfile.mkstemp(prefix='tiktok-fcgi-test-keys-')
os.close(fd)
write_keys(keyfile, '# the partners\n%s name=partner limit=5/3600\n'
           '%s name=old\n' % (K1, K2))
try:
    with Stack(env={'RATE_LIMIT': '2/3600', 'API_KEYS_FILE': keyfile}) as s:
        rs = [post(s) for _ in range(3)]
        check(statuses(rs) == [200, 200, 429],
              'without a key: the address\'s budget, 2 (%s)'
              % statuses(rs))
        ak = {'Authorization': 'Api-Key ' + K1}
        rs = [post(s, ak) for _ in range(3)] + \
            [post(s, {'Authorization': 'Bearer ' + K1}) for _ in range(3)]
        check(statuses(rs) == [200] * 5 + [429],
              'with a key: its own budget of 5 (limit=5/3600), Api-Key and '
              'Bearer alike, past the address\'s (%s)' % statuses(rs))
        check(budget(rs[0])[0] == '"api";q=5;w=3600',
              'the key\'s answers carry its policy (%s)' % budget(rs[0])[0])
        check('API key' in rs[5].json()['error'],
              'its 429 says the key\'s budget is spent')
        rs = [post(s, {'Authorization': 'Api-Key ' + K2}, source='127.0.0.2')
              for _ in range(3)]
        check(statuses(rs) == [200, 200, 429],
              'a key without limit=: a budget of RATE_LIMIT of its own (%s)'
              % statuses(rs))
        r = post(s, {'Authorization': 'Api-Key not-a-key-0123456789abcdef'},
                 source='127.0.0.3')
        check(r.status == 401 and r.json()['error'] == 'Unknown API key' and
              'Api-Key' in (r.header('www-authenticate') or ''),
              'an unknown key: 401 with WWW-Authenticate (%d %s)'
              % (r.status, r.body[:80]))
        r = post(s, {'Authorization': 'Api-Key not-a-key-0123456789abcdef'},
                 source='127.0.0.3')
        r = post(s, {'Authorization': 'Bearer another-guess-0123456789'},
                 source='127.0.0.3')
        check(r.status == 429, 'guesses count against the address: the '
              'third from one address is 429 (%d)' % r.status)
        r = post(s, {'Authorization': 'Basic dXNlcjpwYXNz'},
                 source='127.0.0.4')
        check(r.status == 200, 'another scheme (a web server\'s Basic '
              'password) is no key: the address counts (%d)' % r.status)
        within(lambda: 'key=partner' in s.log() and 'key=old' in s.log(), 10)
        log = s.log()
        check('key=partner' in log and 'key=old' in log,
              'the access log names the keys')
        check(K1 not in log and K2 not in log and 'not-a-key' not in log,
              'no key ever in the log')
        h = s.health()['limits']
        check(h['api_keys'] == {'keys': 2, 'required': False,
                                'loaded': h['api_keys']['loaded']},
              '/health: 2 keys, not required (%s)' % h['api_keys'])

        # SIGHUP: K2 removed, K3 added; K1 keeps its spent window.
        write_keys(keyfile, '%s name=partner limit=5/3600\n%s name=new\n'
                   % (K1, K3))
        before = s.log().count('API keys from')
        s.app.send_signal(signal.SIGHUP)
        wait_for(lambda: s.log().count('API keys from') > before, 10,
                 'the keys to be read again')
        check(post(s, {'Authorization': 'Api-Key ' + K3},
                   source='127.0.0.5').status == 200,
              'SIGHUP: a new key works without a restart')
        check(post(s, {'Authorization': 'Api-Key ' + K2},
                   source='127.0.0.6').status == 401,
              'SIGHUP: a removed key is 401')
        check(post(s, ak).status == 429,
              'SIGHUP: a kept key keeps its window (still spent)')
        check(s.health()['limits']['api_keys']['keys'] == 2,
              '/health: 2 keys after the reload')
        # A bad file at SIGHUP: logged with its line, the keys stay.
        write_keys(keyfile, '%s name=new\nshort\n' % K3)
        s.app.send_signal(signal.SIGHUP)
        wait_for(lambda: 'keeping the 2 keys' in s.log(), 10,
                 'the bad file to be refused')
        check(re.search(r'keys-\w+:2: a key must have 16', s.log()) is not
              None, 'the refused file is logged with its line')
        check(post(s, {'Authorization': 'Api-Key ' + K3},
                   source='127.0.0.7').status == 200,
              'and the keys before still work')

    # -- 3. API_KEYS_REQUIRED ------------------------------------------------
    write_keys(keyfile, '%s name=partner\n' % K1)
    with Stack(env={'API_KEYS_FILE': keyfile, 'API_KEYS_REQUIRED': '1'}) \
            as s:
        r = post(s)
        check(r.status == 401 and 'API key is required' in
              r.json()['error'] and r.header('ratelimit') is None,
              'API_KEYS_REQUIRED=1: POST /tiktok without a key is 401 (%d)'
              % r.status)
        r = post(s, {'Authorization': 'Api-Key ' + K1})
        check(r.status == 200, 'with the key: 200')
        link = s.local(r.json()['download_link']['no_watermark'])
        r2 = s.get(link, source='127.0.0.2')
        check(r2.status == 200 and len(r2.body) > 0,
              'its download link opens without a key, from anyone')
        r2 = s.get(link, headers={'Authorization': 'Api-Key wrong-key-'
                                  '0123456789abcdef'})
        check(r2.status == 401, 'a link asked with an unknown key: 401')
        check(s.get('/health').status == 200,
              '/health needs no key')

    # -- 4. -n ---------------------------------------------------------------
    def dry(extra):
        env = {k: v for k, v in os.environ.items()
               if k not in ('LOG_FILE', 'HELPER_SCRIPT')}
        env.update({'ENCRYPTION_KEY': 'a-long-enough-test-key',
                    'YTDLP_PYTHON': sys.executable, 'HELPERS': '1',
                    'HELPER_SCRIPT': os.path.join(FAKES, 'fake_helper.py')})
        env.update(extra)
        p = subprocess.run([BINARY, '-n'], env=env, capture_output=True,
                           text=True, timeout=30, stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout + p.stderr

    write_keys(keyfile, '# ok\n%s\n%s limit=20/0\n' % (K1, K3))
    rc, out = dry({'API_KEYS_FILE': keyfile})
    check(rc == 1 and '%s:3: ' % keyfile in out and 'N/SECONDS' in out and
          K3 not in out, '-n refuses a bad keys file naming its line (%s)'
          % out.strip()[-120:])
    write_keys(keyfile, '%s\n%s\n' % (K1, K3))
    rc, out = dry({'API_KEYS_FILE': keyfile, 'RATE_LIMIT': '20/60',
                   'RATE_LIMIT_MEDIA': '40/60', 'API_KEYS_REQUIRED': '1',
                   'TRUSTED_PROXIES': '10.0.0.0/8 ::1',
                   'REAL_IP_HEADER': 'Forwarded'})
    check(rc == 0 and 'configuration OK' in out,
          '-n takes a good public configuration (%s)' % out.strip()[-80:])
    for extra, word in (({'API_KEYS_REQUIRED': '1'}, 'API_KEYS_REQUIRED'),
                        ({'RATE_LIMIT': '20'}, 'RATE_LIMIT'),
                        ({'RATE_LIMIT_MEDIA': '0/60'}, 'RATE_LIMIT_MEDIA'),
                        ({'TRUSTED_PROXIES': '10.0.0.0/40'},
                         'TRUSTED_PROXIES'),
                        ({'REAL_IP_HEADER': 'X-Real-IP'}, 'REAL_IP_HEADER'),
                        ({'RATE_LIMIT_CLIENTS': '10'}, 'RATE_LIMIT_CLIENTS')):
        rc, out = dry(extra)
        check(rc == 1 and word in out, '-n refuses %s (%s)'
              % (extra, out.strip()[-100:]))
finally:
    os.unlink(keyfile)
done()
