/* SPDX-License-Identifier: ISC */
/*
 * The post a render link names: GET /download-slideshow?url=TOKEN and
 * GET /download-audio?url=TOKEN carry the post's page URL, sealed.  And
 * what both renders make of their downloads.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <curl/curl.h>

#include "answer.h"
#include "app.h"
#include "cache.h"
#include "fetch.h"
#include "http.h"
#include "post.h"
#include "render.h"
#include "renderlink.h"
#include "token.h"

/*
 * Open the token in ?url=, find the post and look it up (waiting in
 * place: renders hold a thread anyway).  Returns 0 with pu filled and
 * *info a cache reference (the caller gives both back), or -1 having
 * answered the error.
 */
int
renderlink_open(struct app *app, struct http *h, struct posturl *pu,
    struct json_object **info)
{
	char			*tok, *page = NULL, *msg = NULL;
	enum posturl_err	 pe;
	enum fail		 f;

	*info = NULL;
	if ((tok = http_query(h, "url")) == NULL || *tok == '\0') {
		free(tok);
		answer_fail(h, FAIL_PARAM_MISSING, "url");
		return -1;
	}
	if ((f = answer_token(token_open(app->token, tok, &page))) ==
	    FAIL_OK && (pe = post_find(&app->conf, page, pu)) != POSTURL_OK)
		f = pe == POSTURL_NOMEM ? FAIL_NOMEM : FAIL_LINK_INVALID;
	if (f == FAIL_OK)
		f = cache_get(app->cache, pu->key, pu->page, info, &msg);
	if (f != FAIL_OK)
		answer_fail(h, f, msg);
	free(msg);
	free(page);
	free(tok);
	return f == FAIL_OK ? 0 : -1;
}

/*
 * A render's downloads ended (fetch_many): the first of the n files that
 * failed becomes the render's failure, named what ("image": "image 3";
 * "the video").  A full disk is 503 (render_fail_io), more bytes than a
 * render may download or a CDN failure 502.  0 when all came, -1 (the
 * render failed) otherwise.
 */
int
renderlink_fetched(struct render_ctl *o, const struct fetch_file *files,
    size_t n, const char *what)
{
	char	 name[64], detail[256];
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (files[i].werr != 0) {
			render_fail_io(o, files[i].werr, "a download");
			return -1;
		}
		if (files[i].toobig ||
		    files[i].result == CURLE_FILESIZE_EXCEEDED) {
			render_fail(o, FAIL_MEDIA_TOO_LARGE, NULL);
			return -1;
		}
		if (files[i].result == CURLE_OK && files[i].status / 100 == 2)
			continue;
		if (n > 1)
			snprintf(name, sizeof(name), "%s %zu", what, i + 1);
		else
			snprintf(name, sizeof(name), "%s", what);
		snprintf(detail, sizeof(detail), "%s: %s %ld", name,
		    files[i].result == CURLE_OK ? "the CDN answered" :
		    curl_easy_strerror(files[i].result), files[i].status);
		render_fail(o, FAIL_MEDIA_FETCH, detail);
		return -1;
	}
	return 0;
}
