/*
 * POST /tiktok {"url": ...}: validate the URL by its parsed host, extract
 * through the cache (single-flight), answer serverjs's JSON.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "app.h"
#include "cache.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "post.h"
#include "shape.h"

#define JSON_DEPTH	16

/*
 * Answer an extraction failure with its status: the same mapping serves
 * /stream when it has to extract.  msg is the pool's reason, in its own
 * words (yt-dlp's text stays in the log: pool.c).
 */
void
answer_pool_error(struct http *h, enum pool_err err, const char *msg)
{
	char	 buf[1024];

	metrics_upstream(err == POOL_NOT_FOUND ? UP_POOL_NOT_FOUND :
	    err == POOL_PRIVATE ? UP_POOL_PRIVATE :
	    err == POOL_BLOCKED ? UP_POOL_BLOCKED :
	    err == POOL_UNSUPPORTED ? UP_POOL_UNSUPPORTED :
	    err == POOL_TIMEOUT ? UP_POOL_TIMEOUT :
	    err == POOL_UNREADABLE ? UP_POOL_UNREADABLE :
	    err == POOL_BUSY ? UP_POOL_BUSY : UP_POOL_OTHER);
	switch (err) {
	case POOL_NOT_FOUND:
		http_error(h, 404, "Video not found. Please check the URL "
		    "and make sure the video exists.");
		break;
	case POOL_PRIVATE:
		http_error(h, 403, "This video is private or needs a login.");
		break;
	case POOL_BLOCKED:
		http_header(h, "Retry-After", "60");
		http_error(h, 503, "TikTok is refusing our requests right "
		    "now. Please try again later.");
		break;
	case POOL_UNSUPPORTED:
		http_error(h, 400, "This TikTok or Douyin URL is not a "
		    "single post.");
		break;
	case POOL_TIMEOUT:
		http_error(h, 504, "Extraction timed out.");
		break;
	case POOL_UNREADABLE:
		http_error(h, 502, "TikTok's answer could not be read. The "
		    "yt-dlp on this server may be outdated.");
		break;
	case POOL_BUSY:
		http_header(h, "Retry-After", "5");
		snprintf(buf, sizeof(buf), "Server busy (%s). Please try "
		    "again shortly.", msg ? msg : "no extraction slot");
		http_error(h, 503, buf);
		break;
	default:
		/* The pool's own words (yt-dlp's go to the log only). */
		snprintf(buf, sizeof(buf), "Extraction failed%s%s.",
		    msg ? ": " : "", msg ? msg : "");
		http_error(h, 500, buf);
		break;
	}
}

/* A POST /tiktok between its parts: parsed, waiting, answering. */
struct ask {
	struct app		*app;
	struct http		*h;
	struct posturl		 pu;
	enum pool_err		 err;
	struct json_object	*info;	/* a cache reference, on POOL_OK */
	char			*msg;
};

static void
ask_free(struct ask *a)
{
	cache_release(a->app->cache, a->info);
	posturl_clear(&a->pu);
	free(a->msg);
	free(a);
}

/* The answer, from the post's info or the reason there is none. */
static void
answer(struct ask *a)
{
	struct http		*h = a->h;
	struct json_object	*ans = NULL;
	char			*base = NULL, logbuf[256];

	if (a->err != POOL_OK) {
		log_info("%s: %s: %s", __func__, log_filter(logbuf,
		    sizeof(logbuf), a->pu.page), pool_strerror(a->err));
		answer_pool_error(h, a->err, a->msg);
		return;
	}
	if ((base = http_base_url(h, a->app->conf.base_url)) == NULL ||
	    (ans = shape_answer(a->info, base, a->app->token,
	    a->pu.page)) == NULL)
		http_error(h, 500, "Could not build the answer");
	else if (!shape_has_link(ans)) {
		log_warnx("%s: %s: no downloadable format in yt-dlp's answer",
		    __func__, log_filter(logbuf, sizeof(logbuf), a->pu.page));
		http_error(h, 502, "TikTok returned no downloadable media for "
		    "this post");
	} else
		http_json(h, 200, ans);
	json_object_put(ans);
	free(base);
}

/* The parked request goes on: answer it (on a thread for fast work). */
static void
answer_later(void *arg)
{
	struct ask	*a = arg;

	answer(a);
	ask_free(a);
}

/* The extraction ended (any thread): keep the result, go on later. */
static void
extracted(void *arg, enum pool_err err, struct json_object *info,
    const char *msg)
{
	struct ask	*a = arg;

	a->err = err;
	a->info = info;
	a->msg = msg != NULL ? strdup(msg) : NULL;
	http_later(a->h, HTTP_FAST, answer_later, a);
}

/*
 * Look the post up.  A hit is answered at once; a miss parks the
 * request on the extraction (single-flight: many requests, one
 * extraction), and no thread waits for it.  Takes a.
 */
static void
lookup(struct ask *a)
{
	if (!http_can_park(a->h)) {
		a->err = cache_get(a->app->cache, a->pu.key, a->pu.page,
		    &a->info, &a->msg);
		answer_later(a);
		return;
	}
	if (cache_lookup(a->app->cache, a->pu.key, a->pu.page, extracted, a,
	    &a->info)) {
		a->err = POOL_OK;
		answer_later(a);
		return;
	}
	http_park(a->h);
}

/* A short link: followed on a thread for slow work, then looked up. */
static void
follow_later(void *arg)
{
	struct ask	*a = arg;

	if (post_follow(a->app, &a->pu) == POSTURL_NOT_POST) {
		http_error(a->h, 400, "This TikTok or Douyin URL is not a "
		    "single post.");
		ask_free(a);
		return;
	}
	lookup(a);
}

void
handle_tiktok(struct app *app, struct http *h)
{
	char			*body = NULL;
	size_t			 len;
	struct json_tokener	*jt = NULL;
	struct json_object	*req = NULL, *u;
	const char		*url;
	struct ask		*a = NULL;

	switch (http_body(h, &body, &len, (size_t)app->conf.body_max)) {
	case HERR_OK:
		break;
	case HERR_TOOBIG:
		http_error(h, 413, "Request body too large");
		goto out;
	default:
		http_error(h, 400, "Could not read the request body");
		goto out;
	}
	if ((jt = json_tokener_new_ex(JSON_DEPTH)) == NULL)
		goto out;
	req = json_tokener_parse_ex(jt, body, (int)len);
	if (req == NULL || json_tokener_get_error(jt) != json_tokener_success) {
		http_error(h, 400, len == 0 ? "URL parameter is required" :
		    "Request body must be JSON");
		goto out;
	}
	if (!json_object_is_type(req, json_type_object) ||
	    !json_object_object_get_ex(req, "url", &u) ||
	    !json_object_is_type(u, json_type_string) ||
	    *(url = json_object_get_string(u)) == '\0') {
		http_error(h, 400, "URL parameter is required");
		goto out;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		http_error(h, 500, "Out of memory");
		goto out;
	}
	a->app = app;
	a->h = h;
	switch (posturl_parse(url, app->conf.test_post_hosts, &a->pu)) {
	case POSTURL_OK:
		break;
	case POSTURL_NOT_POST:
		http_error(h, 400, "This TikTok or Douyin URL is not a "
		    "single post.");
		goto out;
	case POSTURL_NOMEM:
		http_error(h, 500, "Out of memory");
		goto out;
	default:
		http_error(h, 400, "Only TikTok and Douyin URLs are supported");
		goto out;
	}
	if (a->pu.is_short && http_can_park(h)) {
		http_park(h);
		http_later(h, HTTP_SLOW, follow_later, a);
	} else if (a->pu.is_short)
		follow_later(a);
	else
		lookup(a);
	a = NULL;
out:
	if (a != NULL)
		ask_free(a);
	json_object_put(req);
	if (jt != NULL)
		json_tokener_free(jt);
	free(body);
}
