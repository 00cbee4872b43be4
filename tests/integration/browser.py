# SPDX-License-Identifier: ISC
"""Headless Chromium (Debian's chromium) driven over the DevTools
protocol, for the tests of the page at GET /.  Python stdlib only: the
browser is started with --remote-debugging-pipe and speaks JSON messages
ended by a NUL byte on descriptors 3 (to it) and 4 (from it), so no
WebSocket is needed.

It never reaches past loopback: every host name but 127.0.0.1 fails to
resolve (--host-resolver-rules), and the background services (updates,
sync, safe browsing, metrics) are off.  Every wait has a deadline.
"""

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
import urllib.parse

FLAGS = [
    '--headless', '--remote-debugging-pipe', '--no-first-run',
    '--no-default-browser-check', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-extensions',
    '--disable-default-apps', '--disable-domain-reliability',
    '--disable-client-side-phishing-detection', '--disable-breakpad',
    '--disable-features=Translate,MediaRouter,OptimizationHints,'
    'AutofillServerCommunication,CertificateTransparencyComponentUpdater',
    '--metrics-recording-only', '--mute-audio', '--hide-scrollbars',
    '--disable-dev-shm-usage', '--password-store=basic',
    '--use-mock-keychain', '--font-render-hinting=none',
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
]

# Seen in every document before its own scripts: layout shifts not
# caused by input, and Content-Security-Policy violations.
OBSERVE = """
window.__shift = 0;
window.__violations = [];
new PerformanceObserver(function (l) {
    l.getEntries().forEach(function (e) {
        if (!e.hadRecentInput) window.__shift += e.value;
    });
}).observe({type: 'layout-shift', buffered: true});
document.addEventListener('securitypolicyviolation', function (e) {
    window.__violations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


def find():
    """The chromium program: $CHROMIUM (configure's), else on PATH."""
    path = os.environ.get('CHROMIUM')
    if path and os.path.exists(path):
        return path
    for name in ('chromium', 'chromium-browser'):
        path = shutil.which(name)
        if path:
            return path
    return None


class Error(Exception):
    pass


class Browser:
    """One chromium process; pages are its tabs.  Stop it with close()
    (or use it as a context manager)."""

    def __init__(self, binary, timeout=30):
        self.tmp = tempfile.mkdtemp(prefix='tiktok-fcgi-chromium-')
        self.downloads = os.path.join(self.tmp, 'downloads')
        os.mkdir(self.downloads)
        to_r, self.to_w = os.pipe()         # we write, it reads (fd 3)
        self.from_r, from_w = os.pipe()     # it writes (fd 4), we read

        def fds():
            a = fcntl.fcntl(to_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)
            os.close(a)
            os.close(b)
        argv = [binary] + FLAGS + ['--user-data-dir=' +
                                   os.path.join(self.tmp, 'profile')]
        if os.geteuid() == 0:
            argv.append('--no-sandbox')     # chromium refuses root else
        self.log = open(os.path.join(self.tmp, 'chromium.log'), 'wb')
        self.proc = subprocess.Popen(argv + ['about:blank'],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log,
                                     preexec_fn=fds, close_fds=False)
        os.close(to_r)
        os.close(from_w)
        self.buf = b''
        self.next_id = 0
        self.events = []
        self.call('Browser.getVersion', timeout=timeout)
        # Downloads are saved in self.downloads, named by their guid.
        self.call('Browser.setDownloadBehavior', {
            'behavior': 'allowAndName', 'downloadPath': self.downloads,
            'eventsEnabled': True})

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        if self.proc.poll() is None:
            try:
                self.send('Browser.close')
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for fd in (self.to_w, self.from_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def send(self, method, params=None, session=None):
        self.next_id += 1
        msg = {'id': self.next_id, 'method': method,
               'params': params or {}}
        if session:
            msg['sessionId'] = session
        data = json.dumps(msg).encode() + b'\0'
        while data:
            data = data[os.write(self.to_w, data):]
        return self.next_id

    def read(self, deadline):
        """The next message, or None at the deadline."""
        while b'\0' not in self.buf:
            left = deadline - time.time()
            if left <= 0:
                return None
            r, _, _ = select.select([self.from_r], [], [], left)
            if not r:
                return None
            chunk = os.read(self.from_r, 1 << 20)
            if not chunk:
                raise Error('chromium went away (exit %s)'
                            % self.proc.poll())
            self.buf += chunk
        msg, self.buf = self.buf.split(b'\0', 1)
        return json.loads(msg)

    def call(self, method, params=None, session=None, timeout=30):
        """Send a command and wait for its answer; events that arrive
        meanwhile are kept for event()."""
        mid = self.send(method, params, session)
        deadline = time.time() + timeout
        while True:
            msg = self.read(deadline)
            if msg is None:
                raise Error('%s: no answer in %d s' % (method, timeout))
            if msg.get('id') == mid:
                if 'error' in msg:
                    raise Error('%s: %s' % (method, msg['error']))
                return msg.get('result', {})
            if 'method' in msg:
                self.events.append(msg)

    def event(self, name, pred=lambda p: True, timeout=30, session=None):
        """The first event called name (of session, if given) whose
        params satisfy pred, taken from those kept or waited for."""
        deadline = time.time() + timeout
        while True:
            for e in self.events:
                if e['method'] == name and pred(e.get('params', {})) and \
                        (session is None or e.get('sessionId') == session):
                    self.events.remove(e)
                    return e.get('params', {})
            msg = self.read(deadline)
            if msg is None:
                raise Error('no %s event in %d s' % (name, timeout))
            if 'method' in msg:
                self.events.append(msg)

    def drain(self):
        """Take in the events already sent."""
        while True:
            msg = self.read(time.time() + 0.01)
            if msg is None:
                return
            if 'method' in msg:
                self.events.append(msg)

    def page(self, width, height, scale=1, mobile=False):
        return Page(self, width, height, scale, mobile)


class Page:
    """A tab of a given window size, watching its own network requests,
    console errors, layout shifts and policy violations."""

    def __init__(self, browser, width, height, scale, mobile):
        self.b = browser
        tid = browser.call('Target.createTarget',
                           {'url': 'about:blank'})['targetId']
        self.target = tid
        self.sid = browser.call('Target.attachToTarget',
                                {'targetId': tid, 'flatten': True})[
                                    'sessionId']
        for m in ('Page.enable', 'Runtime.enable', 'Network.enable'):
            self.call(m)
        self.call('Emulation.setDeviceMetricsOverride', {
            'width': width, 'height': height, 'deviceScaleFactor': scale,
            'mobile': mobile})
        self.call('Emulation.setFocusEmulationEnabled', {'enabled': True})
        self.call('Page.addScriptToEvaluateOnNewDocument',
                  {'source': OBSERVE})

    def call(self, method, params=None, timeout=30):
        return self.b.call(method, params, self.sid, timeout)

    def event(self, name, pred=lambda p: True, timeout=30):
        return self.b.event(name, pred, timeout, self.sid)

    def all_events(self, name):
        """Every event called name of this tab seen so far (kept)."""
        self.b.drain()
        return [e['params'] for e in self.b.events
                if e['method'] == name and e.get('sessionId') == self.sid]

    def forget(self):
        """Drop this tab's events seen so far."""
        self.b.drain()
        self.b.events = [e for e in self.b.events
                         if e.get('sessionId') != self.sid]

    def goto(self, url, timeout=30):
        self.forget()
        r = self.call('Page.navigate', {'url': url})
        if r.get('errorText'):
            raise Error('%s: %s' % (url, r['errorText']))
        self.event('Page.loadEventFired', timeout=timeout)

    def js(self, expr, timeout=30):
        """The value of a JavaScript expression (promises awaited)."""
        r = self.call('Runtime.evaluate', {
            'expression': expr, 'returnByValue': True,
            'awaitPromise': True}, timeout)
        if 'exceptionDetails' in r:
            raise Error('%s: %s' % (expr, r['exceptionDetails']))
        return r['result'].get('value')

    def wait(self, expr, timeout=30, what=None):
        """Wait until expr is true; returns its value."""
        deadline = time.time() + timeout
        while True:
            v = self.js(expr)
            if v:
                return v
            if time.time() > deadline:
                raise Error('timed out waiting for %s' % (what or expr))
            time.sleep(0.05)

    def key(self, name):
        """Press and release a key: Tab, Enter, Escape, Space."""
        codes = {'Tab': (9, ''), 'Enter': (13, '\r'), 'Escape': (27, ''),
                 'Space': (32, ' ')}
        code, text = codes[name]
        key = ' ' if name == 'Space' else name
        down = {'type': 'keyDown', 'key': key, 'code': name,
                'windowsVirtualKeyCode': code}
        if text:
            down['text'] = text
        self.call('Input.dispatchKeyEvent', down)
        self.call('Input.dispatchKeyEvent', {
            'type': 'keyUp', 'key': key, 'code': name,
            'windowsVirtualKeyCode': code})

    def type(self, text):
        """Text typed (or pasted) into the focused field."""
        self.call('Input.insertText', {'text': text})

    def scheme(self, dark):
        self.call('Emulation.setEmulatedMedia', {'features': [
            {'name': 'prefers-color-scheme',
             'value': 'dark' if dark else 'light'}]})

    def screenshot(self, path):
        """The whole page as a PNG file."""
        data = self.call('Page.captureScreenshot', {
            'format': 'png', 'captureBeyondViewport': True})['data']
        with open(path, 'wb') as f:
            f.write(base64.b64decode(data))

    def requests(self):
        """(url, resource type) of every request this tab made."""
        return [(p['request']['url'], p.get('type'))
                for p in self.all_events('Network.requestWillBeSent')]

    def errors(self):
        """Uncaught exceptions and console errors of this tab."""
        out = [p['exceptionDetails'].get('text', '') + ' ' +
               str(p['exceptionDetails'].get('exception', {})
                   .get('description', ''))
               for p in self.all_events('Runtime.exceptionThrown')]
        out += [' '.join(str(a.get('value', '')) for a in p['args'])
                for p in self.all_events('Runtime.consoleAPICalled')
                if p['type'] == 'error']
        return out

    def ax_names(self, roles):
        """(role, name) of every node of the accessibility tree with one
        of these roles that a screen reader would reach."""
        nodes = self.call('Accessibility.getFullAXTree')['nodes']
        return [(n['role']['value'], (n.get('name') or {}).get('value', ''))
                for n in nodes if not n.get('ignored') and
                (n.get('role') or {}).get('value') in roles]

    def close(self):
        self.b.call('Target.closeTarget', {'targetId': self.target})


# Plays a video as a person opening a download link would: the clock must
# run past half a second (or to the end); frames says how many video
# frames were decoded (0: the sound played but not the picture).
PLAY = """new Promise(function (resolve) {
    var v = document.createElement('video');
    var seen = function (played, error) {
        resolve({played: played, error: error || null, time: v.currentTime,
                 width: v.videoWidth, height: v.videoHeight,
                 frames: v.getVideoPlaybackQuality().totalVideoFrames});
    };
    v.muted = true;
    v.addEventListener('timeupdate', function () {
        if (v.currentTime > 0.5) seen(true);
    });
    v.addEventListener('ended', function () { seen(true); });
    v.addEventListener('error', function () {
        seen(false, v.error ? v.error.code + ' ' + v.error.message : 'error');
    });
    setTimeout(function () { seen(false, 'not played within %d ms'); }, %d);
    document.body.appendChild(v);
    v.src = %s;
    v.play().catch(function (e) { seen(false, String(e)); });
})"""


def player():
    """(play, None) where play(url, seconds) plays url in headless
    chromium and returns what the page saw (a dict: played, error, time,
    width, height, frames), or (None, the reason it cannot be done
    here)."""
    binary = find()
    if binary is None:
        return None, 'no chromium (apt-get install chromium)'

    def play(url, seconds=40):
        ms = (seconds - 5) * 1000
        try:
            with Browser(binary) as b:
                p = b.page(640, 480)
                # From the link's own origin (from about:blank chromium
                # refuses the file: "Format error"), whatever the page
                # there allows (GET / is the page, whose policy allows
                # no media).
                p.call('Page.setBypassCSP', {'enabled': True})
                p.goto(urllib.parse.urljoin(url, '/'))
                return p.js(PLAY % (ms, ms, json.dumps(url)),
                            timeout=seconds)
        except (Error, OSError) as e:
            return {'played': False, 'error': str(e)}
    return play, None
