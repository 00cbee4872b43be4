// Plays a video in headless Chromium, as a browser user would open a
// download link: prints one line of JSON, {"played": true|false, "width",
// "height", "frames", "time", "error"}.  Used by test_ladder.py.
//
//   node play_video.js CHROMIUM URL [SECONDS]
//
// puppeteer-core (package.json here; NODE_PATH points at its
// node_modules) drives the installed browser.  "played" means the clock
// ran past half a second or to the end; "frames" says how many video
// frames were decoded (0: the sound played but not the picture).  Gives
// up after SECONDS (default 30).
'use strict';
const puppeteer = require('puppeteer-core');

async function main() {
  const [chromium, url, secs] = process.argv.slice(2);
  const limit = (Number(secs) || 30) * 1000;
  const browser = await puppeteer.launch({
    executablePath: chromium, headless: true, protocolTimeout: limit,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
      '--autoplay-policy=no-user-gesture-required'],
  });
  try {
    const page = await browser.newPage();
    const r = await page.evaluate((src, ms) => new Promise((resolve) => {
      const v = document.createElement('video');
      const seen = (played, error) => resolve({
        played, error: error || null, time: v.currentTime,
        width: v.videoWidth, height: v.videoHeight,
        frames: v.getVideoPlaybackQuality().totalVideoFrames,
      });
      v.muted = true;
      v.addEventListener('timeupdate', () => {
        if (v.currentTime > 0.5)
          seen(true);
      });
      v.addEventListener('ended', () => seen(true));
      v.addEventListener('error', () => seen(false,
        v.error ? v.error.code + ' ' + v.error.message : 'error'));
      setTimeout(() => seen(false, 'not played within ' + ms + ' ms'), ms);
      document.body.appendChild(v);
      v.src = src;
      v.play().catch((e) => seen(false, String(e)));
    }), url, limit - 5000);
    console.log(JSON.stringify(r));
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.log(JSON.stringify({played: false, error: String(e)}));
  process.exitCode = 1;
});
