/*
 * The post a render link names: GET /download-slideshow?url=TOKEN and
 * GET /download-audio?url=TOKEN carry the post's page URL, sealed.
 */
#include "config.h"

#include <stdlib.h>

#include "answer.h"
#include "app.h"
#include "cache.h"
#include "http.h"
#include "post.h"
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
	char		*tok, *page = NULL, *msg = NULL;
	enum pool_err	 err;
	int		 rc = -1;

	*info = NULL;
	if ((tok = http_query(h, "url")) == NULL || *tok == '\0') {
		http_error(h, 400, "Missing url parameter");
		goto out;
	}
	switch (token_open(app->token, tok, &page)) {
	case TOKEN_OK:
		break;
	case TOKEN_EXPIRED:
		http_error(h, 410, "Download link has expired");
		goto out;
	default:
		http_error(h, 400, "Invalid download link");
		goto out;
	}
	if (post_find(&app->conf, page, pu) != POSTURL_OK) {
		http_error(h, 400, "Invalid download link");
		goto out;
	}
	if ((err = cache_get(app->cache, pu->key, pu->page, info, &msg)) !=
	    POOL_OK) {
		answer_pool_error(h, err, msg);
		goto out;
	}
	rc = 0;
out:
	free(msg);
	free(page);
	free(tok);
	return rc;
}
