# SPDX-License-Identifier: ISC
"""TikTok's format ladders, for the fake TikTok (fake_tiktok.py) and the
tests that read what it serves.  Python stdlib only (and Debian's ffmpeg
to make the media files).

A ladder is the set of files TikTok keeps of one post: one per codec and
size ("rungs"), named in the page's bitrateInfo and the app API's
bit_rate by a url key CODEC_NNNp_BITRATE.  Posts 73000000000000007LN
(TikTok: the page and the app feed) and 73000000000000006LN (Douyin:
the web detail JSON and the app feed) have ladder L:

  1  today's: HD only in HEVC (bytevc1 1080x1920, with sound, and a
     video-only twin at a higher bit rate, its URL ending in
     /media-video-hvc1/ as TikTok's do), H.264 720x1280 and 540x960,
     HEVC 540x960, and a bytevc2 1080p rung at the highest bit rate
  2  HEVC only: 1080x1920, 720x1280, 540x960
  3  SD only: H.264 540x960 and 360x640, HEVC 540x960

(L = 0 is the classic ladder of fake_tiktok.FORMATS.)  Every post has
TikTok's watermarked download beside its ladder.  The files are real:
make_media() encodes them (libx264, libx265 tagged hvc1, AAC sound), a
second or two each; the bytevc2 rung is bytes nothing decodes.
"""

import collections
import os
import subprocess

WATERMARKED = 'watermarked_720x1280'
SILENT = 'media-video-hvc1'
URL_KEY = 'v12044gd0000cfake_%s'

# name: (encoder, width, height, sound, colour)
FILES = {
    'h264_720x1280': ('libx264', 720, 1280, True, 'blue'),
    'h264_540x960': ('libx264', 540, 960, True, 'green'),
    'h264_360x640': ('libx264', 360, 640, True, 'yellow'),
    'hevc_1080x1920': ('libx265', 1080, 1920, True, 'red'),
    'hevc_1080x1920_silent': ('libx265', 1080, 1920, False, 'purple'),
    'hevc_720x1280': ('libx265', 720, 1280, True, 'orange'),
    'hevc_540x960': ('libx265', 540, 960, True, 'cyan'),
    WATERMARKED: ('libx264', 720, 1280, True, 'white'),
}

Rung = collections.namedtuple('Rung', 'fid width height file')

LADDERS = {
    '1': [Rung('bytevc2_1080p_3000000', 1080, 1920, None),
          Rung('bytevc1_1080p_2600000', 1080, 1920, 'hevc_1080x1920_silent'),
          Rung('bytevc1_1080p_2000000', 1080, 1920, 'hevc_1080x1920'),
          Rung('h264_720p_1500000', 720, 1280, 'h264_720x1280'),
          Rung('h264_540p_900000', 540, 960, 'h264_540x960'),
          Rung('bytevc1_540p_600000', 540, 960, 'hevc_540x960')],
    '2': [Rung('bytevc1_1080p_2000000', 1080, 1920, 'hevc_1080x1920'),
          Rung('bytevc1_720p_1200000', 720, 1280, 'hevc_720x1280'),
          Rung('bytevc1_540p_600000', 540, 960, 'hevc_540x960')],
    '3': [Rung('h264_540p_900000', 540, 960, 'h264_540x960'),
          Rung('bytevc1_540p_600000', 540, 960, 'hevc_540x960'),
          Rung('h264_360p_500000', 360, 640, 'h264_360x640')],
}


def ladder(vid):
    """The rungs of post vid, or None (not a ladder post)."""
    if len(vid) != 19 or not vid.startswith('73') or vid[-3] not in '67':
        return None
    return LADDERS.get(vid[-2])


def codec(r):
    return r.fid.split('_')[0]


def silent(r):
    return r.file is not None and not FILES[r.file][3]


def playable(r):
    return r.file is not None and not silent(r)


def where(r):
    """The rung's file under the post's CDN folder."""
    return '%s/%s/' % (r.fid, SILENT) if silent(r) else r.fid + '.mp4'


def file_at(vid, rest):
    """(True, media file name or None for undecodable bytes) for the
    file REST of ladder post vid's CDN folder; (False, None) for any
    other."""
    rungs = ladder(vid)
    if rungs is None:
        return False, None
    if rest == 'download.mp4':
        return True, WATERMARKED
    for r in rungs:
        if rest == where(r):
            return True, r.file
    return False, None


def _addr(r, url, size_of, web):
    a = {'url_list': [url(where(r))], 'url_key': URL_KEY % r.fid,
         'width': r.width, 'height': r.height, 'data_size': size_of(r.file)}
    if web:
        a = {'UrlList': a['url_list'], 'UrlKey': a['url_key'],
             'Width': r.width, 'Height': r.height,
             'DataSize': a['data_size']}
    return a


def _bps(r):
    return int(r.fid.split('_')[2])


def _frame(rungs):
    top = max(rungs, key=lambda r: r.width)
    return top.width, top.height


def _default(rungs):
    """What TikTok plays first: the first H.264 rung on the web page,
    the first rung with sound in the app."""
    ok = [r for r in rungs if playable(r)]
    return next((r for r in ok if codec(r) == 'h264'), ok[0]), ok[0]


def web_video(vid, url, size_of, cover):
    """itemStruct.video of ladder post vid, as today's page has it.  Its
    playAddr is one of the rungs (yt-dlp keeps one format per URL)."""
    rungs = ladder(vid)
    w, h = _frame(rungs)
    play, _ = _default(rungs)
    return {
        'width': w, 'height': h, 'duration': 5, 'cover': cover,
        'playAddr': url(where(play)), 'downloadAddr': url('download.mp4'),
        'bitrateInfo': [{
            'GearName': 'normal_%s_0' % r.fid.split('_')[1][:-1],
            'Bitrate': _bps(r), 'CodecType': codec(r),
            'PlayAddr': _addr(r, url, size_of, True)} for r in rungs],
    }


def app_video(vid, url, size_of, cover):
    """aweme.video of ladder post vid, in the app API's shape: play_addr
    (what the app plays first), play_addr_h264, the watermarked
    download_addr, and every rung in bit_rate."""
    rungs = ladder(vid)
    w, h = _frame(rungs)
    h264, play = _default(rungs)
    v = {
        'width': w, 'height': h, 'duration': 5000, 'has_watermark': True,
        'is_bytevc1': int(codec(play) == 'bytevc1'),
        'cover': {'url_list': [cover]},
        'play_addr': _addr(play, url, size_of, False),
        'download_addr': {'url_list': [url('download.mp4')], 'width': 720,
                          'height': 1280,
                          'data_size': size_of(WATERMARKED)},
        'bit_rate': [{
            'gear_name': 'normal_%s_0' % r.fid.split('_')[1][:-1],
            'bit_rate': _bps(r), 'is_bytevc1': int(codec(r) == 'bytevc1'),
            'play_addr': _addr(r, url, size_of, False)} for r in rungs],
    }
    if codec(h264) == 'h264':
        v['play_addr_h264'] = _addr(h264, url, size_of, False)
    return v


def make_media(out, ffmpeg='ffmpeg'):
    """Encode every file of FILES into the folder out (NAME.mp4), two
    seconds each; raises CalledProcessError when ffmpeg cannot."""
    os.makedirs(out, exist_ok=True)
    for name, (enc, w, h, sound, colour) in FILES.items():
        path = os.path.join(out, name + '.mp4')
        if os.path.exists(path):
            continue
        cmd = [ffmpeg, '-nostdin', '-hide_banner', '-loglevel', 'error',
               '-y', '-f', 'lavfi', '-i',
               'color=c=%s:s=%dx%d:r=10:d=2' % (colour, w, h)]
        if sound:
            cmd += ['-f', 'lavfi', '-i', 'sine=frequency=440:duration=2',
                    '-c:a', 'aac', '-b:a', '48k']
        cmd += ['-c:v', enc, '-preset', 'ultrafast', '-pix_fmt', 'yuv420p',
                '-movflags', '+faststart']
        if enc == 'libx265':
            cmd += ['-tag:v', 'hvc1', '-x265-params', 'log-level=error']
        cmd += ['-shortest', path + '.tmp.mp4']
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        os.rename(path + '.tmp.mp4', path)
