#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Do the renders play and seek in a browser?  A slideshow (3 images,
sound) and the MP3 of a video post, served through nginx and tiktok-fcgi
(Range and all), loaded by headless Chromium: each is played, seeked
into, and played on; the page reports durations, sizes and positions.

    python3 bench/check_playback.py        (needs chromium: apt-get
                                             install chromium)

Not part of make check (a browser is not among the test tools); a
manual check whose output goes into bench/README.
"""
import os
import subprocess
import sys
import tempfile
HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
os.environ.setdefault('TOP_SRCDIR', TOP)
os.environ.setdefault('TOP_BUILDDIR', TOP)
sys.path.insert(0, os.path.join(TOP, 'tests', 'integration'))
from stack import Stack  # noqa: E402
tmp = tempfile.mkdtemp(prefix='tiktok-fcgi-play-')
d = os.path.join(tmp, 'docroot')
os.makedirs(d)
for i in (1, 2, 3):
    subprocess.run(['ffmpeg', '-loglevel', 'error', '-y', '-f', 'lavfi',
                    '-i', 'testsrc2=size=1080x1440:rate=1', '-frames:v', '1',
                    os.path.join(d, 'img%d.jpg' % i)], check=True)
subprocess.run(['ffmpeg', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
                'sine=frequency=440:duration=15', '-c:a', 'libmp3lame',
                os.path.join(d, 'audio.mp3')], check=True)
subprocess.run(['ffmpeg','-loglevel','error','-y','-f','lavfi','-i','testsrc2=size=320x240:rate=25','-f','lavfi','-i','sine=frequency=440:sample_rate=44100','-t','6','-c:v','libx264','-preset','ultrafast','-c:a','aac','-shortest',os.path.join(d,'video.mp4')], check=True)
with Stack(docroot=d, env={'LOG_LEVEL': 'warn'}) as s:
    r = s.tiktok('https://www.tiktok.com/@images3/photo/7400000000000000042')
    slide = r.json()['download_slideshow_link']
    r = s.tiktok('https://www.tiktok.com/@cdn_files_video.mp4/video/7300000000000000042')
    mp3 = r.json()['download_link']['mp3']
    html = '''<html><body><pre id=out>pending</pre><script>
const out = document.getElementById('out'); const res = {};
function test(tag, src, seekTo, key) { return new Promise(done => {
  const m = document.createElement(tag); m.muted = true; m.preload = 'auto'; m.src = src;
  m.onerror = () => { res[key] = 'error ' + (m.error && m.error.code); done(); };
  m.onloadedmetadata = () => { res[key + '_duration'] = m.duration;
    if (m.videoWidth) res[key + '_size'] = m.videoWidth + 'x' + m.videoHeight;
    m.currentTime = seekTo; };
  m.onseeked = () => { res[key + '_seeked'] = m.currentTime; m.play().then(() => {
      setTimeout(() => { res[key + '_playing_at'] = m.currentTime; done(); }, 1500); },
      e => { res[key + '_play'] = 'refused ' + e; done(); }); };
  document.body.appendChild(m); }); }
test('video', '%s', 6, 'slideshow').then(() => test('audio', '%s', 3, 'mp3')).then(() => {
  out.textContent = JSON.stringify(res);
  fetch('http://127.0.0.1:REPORT/r?' + encodeURIComponent(JSON.stringify(res))); });
</script></body></html>''' % (slide, mp3)
    import http.server, threading, urllib.parse
    page = os.path.join(tmp, 'page.html')
    got = {}
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a): pass
        def do_GET(self):
            got['r'] = urllib.parse.unquote(self.path.split('?', 1)[1])
            self.send_response(200); self.send_header('Access-Control-Allow-Origin', '*'); self.end_headers()
    srv = http.server.HTTPServer(('127.0.0.1', 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    html = html.replace('REPORT', str(srv.server_address[1]))
    open(page, 'w').write(html)
    import time
    c = subprocess.Popen(['chromium', '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--no-first-run', '--disable-sync', '--autoplay-policy=no-user-gesture-required',
        '--user-data-dir=' + os.path.join(tmp, 'profile'), 'file://' + page], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while 'r' not in got and time.time() - t0 < 60:
        time.sleep(0.2)
    c.kill(); c.wait()
    print(subprocess.run(['chromium', '--version'], capture_output=True, text=True).stdout.strip())
    print(got.get('r', 'no report'))
import shutil  # noqa: E402
shutil.rmtree(tmp, ignore_errors=True)
