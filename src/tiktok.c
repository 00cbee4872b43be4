/* SPDX-License-Identifier: ISC */
/*
 * POST /tiktok {"url": ..., "allowH265": ...}: validate the URL by its
 * parsed host, extract through the cache (single-flight), answer
 * serverjs's JSON.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "answer.h"
#include "app.h"
#include "handlers.h"
#include "cache.h"
#include "http.h"
#include "log.h"
#include "counters.h"
#include "post.h"
#include "shape.h"

#define JSON_DEPTH	16
#define JSON_VALUES	64	/* values a body may hold (objects, arrays,
				 * and what commas separate) */

/* A POST /tiktok between its parts: parsed, waiting, answering. */
struct ask {
	struct app		*app;
	struct http		*h;
	struct posturl		 pu;
	int			 flags;	/* shape_answer's */
	enum fail		 err;
	struct json_object	*info;	/* a cache reference (FAIL_OK) */
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

/*
 * Does the body hold at most max values?  Counted before json-c builds
 * them, by the characters that open or separate values outside strings
 * (json-c still parses and judges the text): json-c spends some 700
 * bytes on every object it builds, so 64 KB of "{}," would cost some 16
 * MB to parse, times the workers parsing at once, kept by the allocator
 * until its next trim.  {"url": ...} is a handful.
 */
static int
few_values(const char *b, size_t len, int max)
{
	size_t	 i;
	int	 n = 0, in = 0;

	for (i = 0; i < len; i++) {
		if (in) {
			if (b[i] == '\\')
				i++;
			else if (b[i] == '"')
				in = 0;
		} else if (b[i] == '"')
			in = 1;
		else if ((b[i] == '{' || b[i] == '[' || b[i] == ',') &&
		    ++n > max)
			return 0;
	}
	return 1;
}

/* The answer, from the post's info or the reason there is none. */
static void
answer(struct ask *a)
{
	struct http		*h = a->h;
	struct json_object	*ans = NULL;
	char			*base = NULL, logbuf[256];

	if (a->err != FAIL_OK) {
		log_info("%s: %s: %s", __func__, log_filter(logbuf,
		    sizeof(logbuf), a->pu.page), answer_name(a->err));
		answer_fail(h, a->err, a->msg);
		return;
	}
	if ((base = http_base_url(h, a->app->conf.base_url)) == NULL ||
	    (ans = shape_answer(a->info, a->flags, base, a->app->token,
	    a->pu.page)) == NULL)
		answer_fail(h, FAIL_NO_ANSWER, NULL);
	else if (!shape_has_link(ans)) {
		log_warnx("%s: %s: no downloadable format in yt-dlp's answer",
		    __func__, log_filter(logbuf, sizeof(logbuf), a->pu.page));
		answer_fail(h, FAIL_NO_MEDIA, NULL);
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
extracted(void *arg, enum fail err, struct json_object *info,
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
		http_note(a->h, "hit");
		a->err = FAIL_OK;
		answer_later(a);
		return;
	}
	http_note(a->h, "miss");
	http_park(a->h);
}

/* A short link: followed on a thread for slow work, then looked up. */
static void
follow_later(void *arg)
{
	struct ask	*a = arg;

	switch (post_follow(&a->app->conf, &a->pu)) {
	case POSTURL_NOT_POST:
		answer_fail(a->h, FAIL_NOT_POST, NULL);
		ask_free(a);
		return;
	case POSTURL_REFUSED:
		answer_fail(a->h, FAIL_SHORT_OUTSIDE, NULL);
		ask_free(a);
		return;
	default:
		lookup(a);
	}
}

void
handle_tiktok(struct app *app, struct http *h)
{
	char			*body = NULL;
	size_t			 len;
	struct json_tokener	*jt = NULL;
	struct json_object	*req = NULL, *u, *h265;
	const char		*url;
	struct ask		*a = NULL;
	int			 flags = 0;

	switch (http_body(h, &body, &len, (size_t)app->conf.body_max)) {
	case HERR_OK:
		break;
	case HERR_TOOBIG:
		answer_fail(h, FAIL_BODY_TOO_LARGE, NULL);
		goto out;
	case HERR_NOMEM:
		answer_fail(h, FAIL_NOMEM, NULL);
		goto out;
	default:
		answer_fail(h, FAIL_BODY_UNREAD, NULL);
		goto out;
	}
	/* Links are built from the Host when BASE_URL is unset: only for
	 * the hosts we serve. */
	if ((app->conf.base_url == NULL || *app->conf.base_url == '\0') &&
	    !http_host_allowed(h, app->conf.allowed_hosts)) {
		answer_fail(h, FAIL_HOST, NULL);
		goto out;
	}
	if (!few_values(body, len, JSON_VALUES)) {
		answer_fail(h, FAIL_BODY_VALUES, NULL);
		goto out;
	}
	if ((jt = json_tokener_new_ex(JSON_DEPTH)) == NULL)
		goto out;
	req = json_tokener_parse_ex(jt, body, (int)len);
	if (req == NULL || json_tokener_get_error(jt) != json_tokener_success) {
		answer_fail(h, len == 0 ? FAIL_URL_MISSING : FAIL_BODY_JSON,
		    NULL);
		goto out;
	}
	if (!json_object_is_type(req, json_type_object) ||
	    !json_object_object_get_ex(req, "url", &u) ||
	    !json_object_is_type(u, json_type_string) ||
	    *(url = json_object_get_string(u)) == '\0') {
		answer_fail(h, FAIL_URL_MISSING, NULL);
		goto out;
	}
	/* cobalt's name: the best HD file whatever its codec. */
	if (json_object_object_get_ex(req, "allowH265", &h265) &&
	    h265 != NULL) {
		if (!json_object_is_type(h265, json_type_boolean)) {
			answer_fail(h, FAIL_H265, NULL);
			goto out;
		}
		if (json_object_get_boolean(h265))
			flags |= SHAPE_ALLOW_H265;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		answer_fail(h, FAIL_NOMEM, NULL);
		goto out;
	}
	a->app = app;
	a->h = h;
	a->flags = flags;
	switch (posturl_parse(url, app->conf.test_post_hosts, &a->pu)) {
	case POSTURL_OK:
		break;
	case POSTURL_NOT_POST:
		answer_fail(h, FAIL_NOT_POST, NULL);
		goto out;
	case POSTURL_NOMEM:
		answer_fail(h, FAIL_NOMEM, NULL);
		goto out;
	default:
		answer_fail(h, FAIL_NOT_TIKTOK, NULL);
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
