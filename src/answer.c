/* SPDX-License-Identifier: ISC */
/*
 * Every failure's answer, in one table: its status, the client's words
 * (with a detail, where the words take one), Retry-After, the level it
 * is logged at when answered, and the upstream counter it feeds.  The
 * failures an extraction reports carry the name the helper gives them
 * (ytdlp_helper.py: "kind"), spelled here and nowhere else in C.
 *
 * A failure found where more is known of it is logged there, and at
 * debug here, so that the log says it once: an extraction by the pool
 * (yt-dlp's words), and by /tiktok (the page); a render by render_fail
 * (its key); no media by /tiktok.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "answer.h"
#include "counters.h"
#include "http.h"
#include "log.h"

#define DEBUG	LOG_LEVEL_DEBUG
#define INFO	LOG_LEVEL_INFO
#define WARN	LOG_LEVEL_WARN

static const char not_post[] = "This TikTok or Douyin URL is not a single "
    "post.";

/*
 * One failure.  words is what the client reads; with, when not NULL,
 * what it reads when there is a detail (which takes the place of its
 * one %s): otherwise the detail goes only to the log.
 */
static const struct failure {
	int			 status;
	const char		*retry;	/* Retry-After, or NULL */
	enum log_level		 level;
	enum counter_upstream	 counter;
	const char		*name;	/* in logs; the helper's kind */
	int			 kind;	/* 1: a helper may say it */
	const char		*words;
	const char		*with;
} failures[FAIL_MAX] = {
	[FAIL_NOT_FOUND] = { 404, NULL, DEBUG, UP_POOL_NOT_FOUND,
	    "not_found", 1, "Video not found. Please check the URL and make "
	    "sure the video exists.", NULL },
	[FAIL_PRIVATE] = { 403, NULL, DEBUG, UP_POOL_PRIVATE, "private", 1,
	    "This video is private or needs a login.", NULL },
	[FAIL_BLOCKED] = { 503, "60", DEBUG, UP_POOL_BLOCKED, "blocked", 1,
	    "TikTok is refusing our requests right now. Please try again "
	    "later.", NULL },
	[FAIL_UNSUPPORTED] = { 400, NULL, DEBUG, UP_POOL_UNSUPPORTED,
	    "unsupported", 1, not_post, NULL },
	[FAIL_TIMEOUT] = { 504, NULL, DEBUG, UP_POOL_TIMEOUT, "timeout", 1,
	    "Extraction timed out.", NULL },
	[FAIL_BUSY] = { 503, "5", DEBUG, UP_POOL_BUSY, "busy", 0,
	    "Server busy (no extraction slot). Please try again shortly.",
	    "Server busy (%s). Please try again shortly." },
	[FAIL_UNREADABLE] = { 502, NULL, DEBUG, UP_POOL_UNREADABLE,
	    "unreadable", 1, "TikTok's answer could not be read. The yt-dlp "
	    "on this server may be outdated.", NULL },
	[FAIL_UNREACHABLE] = { 503, "30", DEBUG, UP_POOL_UNREACHABLE,
	    "unreachable", 1, "TikTok could not be reached. Please try again "
	    "later.", NULL },
	[FAIL_OTHER] = { 500, NULL, DEBUG, UP_POOL_OTHER, "other", 1,
	    "Extraction failed.", "Extraction failed: %s." },

	[FAIL_NOMEM] = { 500, NULL, WARN, UP_NONE, "nomem", 0,
	    "Out of memory", NULL },
	/* router_finish's, for a handler that said nothing: most often
	 * a render whose client left, no fault to warn of. */
	[FAIL_INTERNAL] = { 500, NULL, DEBUG, UP_NONE, "internal", 0,
	    "Internal server error", NULL },
	[FAIL_NO_ROUTE] = { 404, NULL, DEBUG, UP_NONE, "no_route", 0,
	    "Route not found", NULL },
	[FAIL_METHOD] = { 405, NULL, DEBUG, UP_NONE, "method", 0,
	    "Method not allowed", NULL },
	[FAIL_KEY_UNKNOWN] = { 401, NULL, DEBUG, UP_NONE, "key_unknown", 0,
	    "Unknown API key", NULL },
	[FAIL_KEY_REQUIRED] = { 401, NULL, DEBUG, UP_NONE, "key_required", 0,
	    "An API key is required: send Authorization: Api-Key KEY (or "
	    "Bearer KEY)", NULL },
	[FAIL_LIMITED] = { 429, NULL, DEBUG, UP_NONE, "limited", 0,
	    "Too many requests", "Too many requests: %s" },
	[FAIL_BODY_TOO_LARGE] = { 413, NULL, DEBUG, UP_NONE, "body_too_large",
	    0, "Request body too large", NULL },
	[FAIL_BODY_UNREAD] = { 400, NULL, DEBUG, UP_NONE, "body_unread", 0,
	    "Could not read the request body", NULL },
	[FAIL_HOST] = { 400, NULL, DEBUG, UP_NONE, "host", 0,
	    "This host is not served here", NULL },
	[FAIL_BODY_VALUES] = { 400, NULL, DEBUG, UP_NONE, "body_values", 0,
	    "Request body must be a small JSON object with a url", NULL },
	[FAIL_BODY_JSON] = { 400, NULL, DEBUG, UP_NONE, "body_json", 0,
	    "Request body must be JSON", NULL },
	[FAIL_URL_MISSING] = { 400, NULL, DEBUG, UP_NONE, "url_missing", 0,
	    "URL parameter is required", NULL },
	[FAIL_H265] = { 400, NULL, DEBUG, UP_NONE, "h265", 0,
	    "allowH265 must be true or false", NULL },
	[FAIL_NOT_TIKTOK] = { 400, NULL, DEBUG, UP_NONE, "not_tiktok", 0,
	    "Only TikTok and Douyin URLs are supported", NULL },
	[FAIL_NOT_POST] = { 400, NULL, DEBUG, UP_NONE, "not_post", 0,
	    not_post, NULL },
	[FAIL_SHORT_OUTSIDE] = { 400, NULL, DEBUG, UP_NONE, "short_outside",
	    0, "This short link leads outside TikTok and Douyin", NULL },
	[FAIL_NO_ANSWER] = { 500, NULL, WARN, UP_NONE, "no_answer", 0,
	    "Could not build the answer", NULL },
	[FAIL_NO_MEDIA] = { 502, NULL, DEBUG, UP_NONE, "no_media", 0,
	    "TikTok returned no downloadable media for this post", NULL },

	[FAIL_PARAM_MISSING] = { 400, NULL, DEBUG, UP_NONE, "param_missing",
	    0, "Missing parameter", "Missing %s parameter" },
	[FAIL_LINK_EXPIRED] = { 410, NULL, DEBUG, UP_NONE, "link_expired", 0,
	    "Download link has expired", NULL },
	[FAIL_LINK_INVALID] = { 400, NULL, DEBUG, UP_NONE, "link_invalid", 0,
	    "Invalid download link", NULL },
	[FAIL_NOT_PHOTO] = { 400, NULL, DEBUG, UP_NONE, "not_photo", 0,
	    "Only image posts are supported", NULL },
	[FAIL_NO_SOUND] = { 400, NULL, DEBUG, UP_NONE, "no_sound", 0,
	    "Only video posts with sound are supported", NULL },

	[FAIL_CDN_TIMEOUT] = { 504, NULL, INFO, UP_CDN_TIMEOUT, "cdn_timeout",
	    0, "The CDN did not answer in time", NULL },
	[FAIL_CDN_STATUS] = { 502, NULL, INFO, UP_CDN_STATUS, "cdn_status", 0,
	    "The CDN answered with an error",
	    "The CDN answered with status %s" },
	[FAIL_CDN_PROXY] = { 502, NULL, INFO, UP_CDN_CONNECT, "cdn_proxy", 0,
	    "The proxy refused the way to the CDN",
	    "The proxy refused the way to the CDN (status %s)" },
	[FAIL_CDN_CONNECT] = { 502, NULL, INFO, UP_CDN_CONNECT, "cdn_connect",
	    0, "Could not fetch from the CDN",
	    "Could not fetch from the CDN: %s" },
	[FAIL_RANGE] = { 416, NULL, DEBUG, UP_NONE, "range", 0,
	    "Requested range not satisfiable", NULL },

	[FAIL_RENDERS_BUSY] = { 503, "10", INFO, UP_NONE, "renders_busy", 0,
	    "Too many renders are running. Please try again shortly.", NULL },
	[FAIL_DISK_FULL] = { 503, "30", DEBUG, UP_NONE, "disk_full", 0,
	    "The server has no room for renders right now. Please try again "
	    "later.", NULL },
	[FAIL_WORKDIR] = { 500, NULL, DEBUG, UP_NONE, "workdir", 0,
	    "Could not make a work folder", NULL },
	[FAIL_WORKDIR_WRITE] = { 500, NULL, DEBUG, UP_NONE, "workdir_write",
	    0, "Could not write to the work folder", NULL },
	[FAIL_WORKDIR_READ] = { 500, NULL, DEBUG, UP_NONE, "workdir_read", 0,
	    "Could not read the work folder", NULL },
	[FAIL_FFMPEG_START] = { 500, NULL, DEBUG, UP_NONE, "ffmpeg_start", 0,
	    "Could not start ffmpeg", NULL },
	[FAIL_FFMPEG_STOPPED] = { 500, NULL, DEBUG, UP_NONE, "ffmpeg_stopped",
	    0, "ffmpeg stopped reading its input", NULL },
	[FAIL_RENDER] = { 500, NULL, DEBUG, UP_NONE, "render", 0,
	    "Could not render the file", NULL },
	[FAIL_RENDER_TIMEOUT] = { 504, NULL, DEBUG, UP_NONE, "render_timeout",
	    0, "Rendering took too long", NULL },
	[FAIL_FETCH_TIMEOUT] = { 504, NULL, DEBUG, UP_NONE, "fetch_timeout",
	    0, "Fetching took too long", "Fetching %s took too long" },
	[FAIL_MEDIA_TOO_LARGE] = { 502, NULL, DEBUG, UP_NONE,
	    "media_too_large", 0, "The post's media is larger than a render "
	    "may download", NULL },
	[FAIL_MEDIA_FETCH] = { 502, NULL, DEBUG, UP_NONE, "media_fetch", 0,
	    "Could not fetch the post's media", "Could not fetch %s" },
	[FAIL_MEDIA_FORMAT] = { 502, NULL, DEBUG, UP_NONE, "media_format", 0,
	    "The post's media is in no format we know", NULL },
	[FAIL_RENDER_GONE] = { 500, NULL, WARN, UP_NONE, "render_gone", 0,
	    "The rendered file is gone", NULL },
	[FAIL_GONE] = { 499, NULL, DEBUG, UP_NONE, "gone", 0,
	    "The client went away", NULL },
};

/* f's row; FAIL_OK and what is not a failure are a handler's fault. */
static const struct failure *
row(enum fail f)
{
	if ((int)f <= FAIL_OK || f >= FAIL_MAX)
		f = FAIL_INTERNAL;
	return &failures[f];
}

/*
 * The client's words for f, with detail where they take one (NULL: the
 * words without), into buf of sz bytes.
 */
void
answer_words(enum fail f, const char *detail, char *buf, size_t sz)
{
	const struct failure	*r = row(f);
	const char		*at;

	if (detail == NULL || r->with == NULL ||
	    (at = strstr(r->with, "%s")) == NULL)
		snprintf(buf, sz, "%s", r->words);
	else
		snprintf(buf, sz, "%.*s%s%s", (int)(at - r->with), r->with,
		    detail, at + 2);
}

/*
 * Answer f: its status, Retry-After, {"error": words}; its counter fed,
 * and a line at its level (detail, filtered, says what happened: the
 * CDN's status, the pool's reason).  A handler that has something to
 * add (Allow, Content-Range, the RateLimit fields) sets it first.
 * After the headers were sent the answer is cut instead (http_error).
 */
void
answer_fail(struct http *h, enum fail f, const char *detail)
{
	const struct failure	*r = row(f);
	char			 buf[1024], logbuf[256], route[68];

	counters_upstream(r->counter);
	log_at(r->level, "%s: %s: %d %s%s%s", __func__, log_filter(route,
	    sizeof(route), http_route(h)), r->status, r->name,
	    detail != NULL ? ": " : "", detail != NULL ? log_filter(logbuf,
	    sizeof(logbuf), detail) : "");
	if (r->retry != NULL)
		http_header(h, "Retry-After", r->retry);
	answer_words(f, detail, buf, sizeof(buf));
	http_error(h, r->status, buf);
}

/* f's HTTP status. */
int
answer_status(enum fail f)
{
	return row(f)->status;
}

/* f's name, for logs: for an extraction's failure, the helper's kind. */
const char *
answer_name(enum fail f)
{
	return f == FAIL_OK ? "ok" : row(f)->name;
}

/*
 * The failure a helper names by kind (only the kinds a helper may say:
 * never busy, which is the pool's); unknown or NULL: FAIL_OTHER.
 */
enum fail
answer_kind(const char *kind)
{
	int	 f;

	for (f = FAIL_OK + 1; kind != NULL && f < FAIL_MAX; f++)
		if (failures[f].kind && strcmp(kind, failures[f].name) == 0)
			return (enum fail)f;
	return FAIL_OTHER;
}

/* What a download link that does not open (token_open) is to its client:
 * the same in every handler that opens one. */
enum fail
answer_token(enum token_err e)
{
	switch (e) {
	case TOKEN_OK:
		return FAIL_OK;
	case TOKEN_EXPIRED:
		return FAIL_LINK_EXPIRED;
	case TOKEN_NOMEM:
		return FAIL_NOMEM;
	default:
		return FAIL_LINK_INVALID;
	}
}
