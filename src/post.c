/*
 * Finding a post.  A short link (vm.tiktok.com/CODE, vt., /t/CODE,
 * v.douyin.com/CODE) names no id until followed; following it here, with
 * one HEAD request, gives the id, so that a short link and the long URL
 * of the same post share one cache entry and one extraction.  If it
 * cannot be followed, the short link is handed to yt-dlp as it is (its
 * vm.tiktok extractor follows it too), keyed by the link.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "fetch.h"
#include "log.h"
#include "post.h"

#define SHORT_TIMEOUT	15	/* seconds, at most, to follow a short link */

/* Throw a body away (a short link's page). */
static size_t
discard(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	(void)arg;
	return size * n;
}

/*
 * Where a short link (vm.tiktok.com/CODE and kin) leads: its redirects
 * followed with a HEAD request, as yt-dlp does, through the proxy and
 * guard like every fetch, within timeout_s.  Returns the final URL (the
 * caller frees it), or NULL; *refused tells whether the guard refused
 * the link or a hop of it.
 */
static char *
final_url(const char *url, int timeout_s, int *refused)
{
	struct fetch_conn	*c;
	struct fetch_hops	 hops;
	char			*final = NULL, *out = NULL;
	CURL			*h;

	*refused = 0;
	if ((c = fetch_take(NULL, url)) == NULL)
		return NULL;
	h = fetch_curl(c);
	if (fetch_url(c, url) == -1) {
		*refused = 1;
		fetch_give(c);
		return NULL;
	}
	fetch_headers(c, &hops, NULL, NULL);
	if (curl_easy_setopt(h, CURLOPT_NOBODY, 1L) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_USERAGENT,
	    "facebookexternalhit/1.1") == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)timeout_s) ==
	    CURLE_OK && curl_easy_perform(h) == CURLE_OK &&
	    curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &final) == CURLE_OK &&
	    final != NULL)
		out = strdup(final);
	*refused = hops.refused || fetch_blocked();
	fetch_give(c);
	return out;
}

/*
 * Follow pu's short link, if it is one, and name the post it leads to
 * (blocking: at most SHORT_TIMEOUT seconds, on a thread for slow work).
 * POSTURL_OK, or POSTURL_NOT_POST when it leads to no single post.
 */
enum posturl_err
post_follow(const struct conf *conf, struct posturl *pu)
{
	enum posturl_err	 rc;
	struct posturl		 longer;
	char			*final;
	char			 buf[256];
	int			 t, refused;

	if (!pu->is_short)
		return POSTURL_OK;
	t = conf->ytdlp_timeout < SHORT_TIMEOUT ?
	    conf->ytdlp_timeout : SHORT_TIMEOUT;
	if ((final = final_url(pu->page, t, &refused)) == NULL) {
		if (refused) {
			/* Not handed to yt-dlp either: it would go there. */
			log_info("%s: %s: leads where fetches may not go",
			    __func__, log_filter(buf, sizeof(buf), pu->page));
			posturl_clear(pu);
			return POSTURL_REFUSED;
		}
		log_info("%s: %s: could not follow the short link", __func__,
		    log_filter(buf, sizeof(buf), pu->page));
		return POSTURL_OK;
	}
	rc = posturl_parse(final, conf->test_post_hosts, &longer);
	free(final);
	if (rc == POSTURL_OK && !longer.is_short) {
		posturl_clear(pu);
		*pu = longer;
		return POSTURL_OK;
	}
	posturl_clear(&longer);
	if (rc == POSTURL_NOT_POST) {
		posturl_clear(pu);
		return rc;
	}
	log_info("%s: %s: leads to no post", __func__,
	    log_filter(buf, sizeof(buf), pu->page));
	return POSTURL_OK;
}

/*
 * Fill pu with the post text names, a short link followed.  POSTURL_OK,
 * or why not (see posturl_parse).  The caller clears pu.
 */
enum posturl_err
post_find(const struct conf *conf, const char *text, struct posturl *pu)
{
	enum posturl_err	 rc;

	if ((rc = posturl_parse(text, conf->test_post_hosts, pu)) !=
	    POSTURL_OK)
		return rc;
	return post_follow(conf, pu);
}
