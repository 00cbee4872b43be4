/* SPDX-License-Identifier: ISC */
/*
 * The one failure vocabulary: every way a request can fail, from an
 * extraction (the first ones are the kinds ytdlp_helper.py names) to a
 * render.  What each means to the client (status, words, Retry-After)
 * and to the log is answer.c's table, the only place that says it.
 *
 * A leaf with no code: the pool, the cache, the fleet's copy of it
 * and the renders report failures in it; the handlers answer them
 * (answer_fail).
 */
#ifndef FAIL_H
#define FAIL_H

enum fail {
	FAIL_OK = 0,

	/* An extraction: the helper's kinds, and the pool's busy. */
	FAIL_NOT_FOUND,
	FAIL_PRIVATE,
	FAIL_BLOCKED,		/* TikTok refuses us */
	FAIL_UNSUPPORTED,	/* a TikTok URL, but not one post */
	FAIL_TIMEOUT,
	FAIL_BUSY,		/* queue full, no helper alive, stopping */
	FAIL_UNREADABLE,	/* yt-dlp could not read TikTok's answer */
	FAIL_UNREACHABLE,	/* TikTok (or the proxy) not reached */
	FAIL_OTHER,		/* an extraction failed otherwise */

	/* The request. */
	FAIL_NOMEM,
	FAIL_INTERNAL,		/* a handler said nothing */
	FAIL_NO_ROUTE,
	FAIL_METHOD,
	FAIL_KEY_UNKNOWN,
	FAIL_KEY_REQUIRED,
	FAIL_LIMITED,		/* past the budget */
	FAIL_BODY_TOO_LARGE,
	FAIL_BODY_UNREAD,
	FAIL_HOST,		/* a Host we do not serve */
	FAIL_BODY_VALUES,	/* too many values to be {"url": ...} */
	FAIL_BODY_JSON,
	FAIL_URL_MISSING,
	FAIL_H265,		/* allowH265 not a boolean */
	FAIL_NOT_TIKTOK,	/* no TikTok or Douyin link */
	FAIL_NOT_POST,		/* a TikTok link, but not to one post */
	FAIL_SHORT_OUTSIDE,	/* a short link leading elsewhere */
	FAIL_NO_ANSWER,		/* the answer could not be built */
	FAIL_NO_MEDIA,		/* nothing to download in the post */

	/* A download link. */
	FAIL_PARAM_MISSING,
	FAIL_LINK_EXPIRED,
	FAIL_LINK_INVALID,
	FAIL_NOT_PHOTO,
	FAIL_NO_SOUND,

	/* The CDN. */
	FAIL_CDN_TIMEOUT,
	FAIL_CDN_STATUS,
	FAIL_CDN_PROXY,		/* the proxy refused the way */
	FAIL_CDN_CONNECT,
	FAIL_RANGE,		/* not satisfiable */

	/* A render. */
	FAIL_RENDERS_BUSY,
	FAIL_DISK_FULL,
	FAIL_WORKDIR,
	FAIL_WORKDIR_WRITE,
	FAIL_WORKDIR_READ,
	FAIL_FFMPEG_START,
	FAIL_FFMPEG_STOPPED,
	FAIL_RENDER,
	FAIL_RENDER_TIMEOUT,
	FAIL_FETCH_TIMEOUT,
	FAIL_MEDIA_TOO_LARGE,
	FAIL_MEDIA_FETCH,
	FAIL_MEDIA_FORMAT,
	FAIL_RENDER_GONE,	/* its file went before it was sent */
	FAIL_GONE,		/* nobody waits: never answered */

	FAIL_MAX
};

#endif /* FAIL_H */
