/* SPDX-License-Identifier: ISC */
/*
 * GET /stream?data=TOKEN and GET /download?data=TOKEN: open the token,
 * fetch the CDN URL with the headers it needs and stream the body into
 * the answer as it arrives (Range and HEAD passed through).  Nothing is
 * buffered beyond libcurl's and libfcgi's fixed buffers.
 */
#include "config.h"

#include <ctype.h>
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
#include "egress.h"
#include "fetch.h"
#include "http.h"
#include "log.h"
#include "counters.h"
#include "post.h"
#include "shape.h"
#include "media.h"
#include "target.h"
#include "token.h"

/* A post is extracted again for a refused link at most this often. */
#define REEXTRACT_MIN_MS	30000

struct xfer {
	struct http		*h;
	const struct target	*t;
	long			 status;	/* of the latest response */
	char			 ctype[128];
	char			 crange[128];
	char			 etag[128];
	char			 lastmod[64];
	long long		 clen;
	int			 ranges;
	const char		*ifrange;	/* the client's If-Range */
	int			 stale;		/* a 206 of another version */
	int			 started;	/* our headers are out */
	int			 hup;		/* the client left */
	struct fetch_hops	 hops;		/* redirects, judged */
};

/*
 * Fill in the CDN URL and headers of t's format from the post's info,
 * through the cache (extracting when it is not there: forget_post).
 * Returns FAIL_OK or why not, with *msg (the caller frees it) saying
 * more, or NULL.  A link whose page is no post is no valid link.
 */
static enum fail
target_resolve(struct app *app, struct target *t, char **msg)
{
	struct json_object	*info = NULL, *fmt, *hh, *v;
	struct posturl		 pu;
	enum posturl_err	 pe;
	enum fail		 err;

	*msg = NULL;
	if (t->page_url == NULL || t->format_id == NULL)
		return FAIL_LINK_INVALID;
	if ((pe = post_find(&app->conf, t->page_url, &pu)) != POSTURL_OK) {
		posturl_clear(&pu);
		return pe == POSTURL_NOMEM ? FAIL_NOMEM : FAIL_LINK_INVALID;
	}
	err = cache_get(app->cache, pu.key, pu.page, &info, msg);
	posturl_clear(&pu);
	if (err != FAIL_OK)
		return err;
	if ((fmt = shape_find_format(info, t->format_id)) == NULL ||
	    !json_object_object_get_ex(fmt, "url", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		cache_release(app->cache, info);
		*msg = strdup("that format is no longer offered");
		return FAIL_NOT_FOUND;
	}
	free(t->url);
	t->url = strdup(json_object_get_string(v));
	json_object_put(t->headers);
	t->headers = json_object_new_object();
	if (json_object_object_get_ex(fmt, "http_headers", &hh) &&
	    json_object_is_type(hh, json_type_object)) {
		json_object_object_foreach(hh, k, hv)
			if (json_object_is_type(hv, json_type_string))
				json_object_object_add(t->headers, k,
				    json_object_new_string(
				    json_object_get_string(hv)));
	}
	if (t->author == NULL)
		t->author = strdup(shape_author(info));
	free(t->egress);
	t->egress = shape_egress(info) != NULL ?
	    strdup(shape_egress(info)) : NULL;
	cache_release(app->cache, info);
	return t->url != NULL ? FAIL_OK : FAIL_OTHER;
}

static const char *
default_ctype(const char *type)
{
	if (strcmp(type, "mp3") == 0 || strcmp(type, "audio") == 0)
		return "audio/mpeg";
	if (strcmp(type, "image") == 0)
		return "image/jpeg";
	return "video/mp4";
}

static const char *
extension(const char *type, const char *ctype)
{
	if (strcmp(type, "mp3") == 0 || strcmp(type, "audio") == 0)
		return strncmp(ctype, "audio/mp4", 9) == 0 ? "m4a" : "mp3";
	if (strcmp(type, "image") == 0) {
		if (strncmp(ctype, "image/png", 9) == 0)
			return "png";
		if (strncmp(ctype, "image/webp", 10) == 0)
			return "webp";
		if (strncmp(ctype, "image/heic", 10) == 0)
			return "heic";
		return "jpg";
	}
	return "mp4";
}

/*
 * The file's name: the author's, and for a photo its number in the post
 * (yt-dlp's format "image-N"), so that the photos of a post do not
 * overwrite each other in a download folder.
 */
static const char *
file_name(const struct target *t, char *buf, size_t sz)
{
	const char	*n;

	if (t->format_id == NULL || strcmp(t->type, "image") != 0 ||
	    strncmp(t->format_id, "image-", 6) != 0)
		return t->author;
	n = t->format_id + 6;
	if (*n == '\0' || n[strspn(n, "0123456789")] != '\0' ||
	    strlen(n) > 6)
		return t->author;
	snprintf(buf, sz, "%.100s_%s", t->author != NULL ? t->author :
	    "tiktok", n);
	return buf;
}

/*
 * A 206 the client's If-Range does not allow (the CDN ignored If-Range,
 * or its validators changed): not to be spliced onto what the client
 * has.  The attempt is made again without Range.
 */
static int
stale_range(struct xfer *x)
{
	if (x->status != 206 ||
	    media_if_range(x->ifrange, x->etag, x->lastmod))
		return 0;
	x->stale = 1;
	return 1;
}

/* Our headers, once the CDN's final response is known to be good. */
static enum herr
begin(struct xfer *x)
{
	const char	*ct;
	char		 num[32], name[128];

	x->started = 1;
	counters_stream(1);
	http_status(x->h, x->status == 206 ? 206 : 200);
	ct = media_type_served(x->ctype) ? x->ctype :
	    default_ctype(x->t->type);
	http_header(x->h, "Content-Type", ct);
	http_header(x->h, "X-Content-Type-Options", "nosniff");
	if (x->clen >= 0) {
		snprintf(num, sizeof(num), "%lld", x->clen);
		http_header(x->h, "Content-Length", num);
	}
	if (x->status == 206 && x->crange[0] != '\0')
		http_header(x->h, "Content-Range", x->crange);
	if (x->etag[0] != '\0')
		http_header(x->h, "ETag", x->etag);
	if (x->lastmod[0] != '\0')
		http_header(x->h, "Last-Modified", x->lastmod);
	http_header(x->h, "Accept-Ranges", x->ranges ? "bytes" : "none");
	http_header(x->h, "X-Accel-Buffering", "no");
	http_header(x->h, "Cache-Control", "private, no-store");
	media_disposition(x->h, file_name(x->t, name, sizeof(name)),
	    extension(x->t->type, ct));
	if (http_flush(x->h) != HERR_OK) {
		x->hup = 1;
		return HERR_HUP;
	}
	return HERR_OK;
}

/* Copy a header value (after "Name:") trimmed, into out. */
static void
hvalue(const char *line, size_t len, size_t namelen, char *out, size_t sz)
{
	const char	*v = line + namelen, *e = line + len;

	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
		e--;
	snprintf(out, sz, "%.*s", (int)(e - v), v);
}

static size_t
on_header(char *line, size_t size, size_t n, void *arg)
{
	struct xfer	*x = arg;
	size_t		 len = size * n;
	char		 val[128];

	if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* A new response (a redirect hop, or 100): start over. */
		const char *sp = memchr(line, ' ', len);
		x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		x->ctype[0] = x->crange[0] = x->etag[0] = x->lastmod[0] = '\0';
		x->clen = -1;
		x->ranges = 0;
	} else if (len > 13 && strncasecmp(line, "Content-Type:", 13) == 0)
		hvalue(line, len, 13, x->ctype, sizeof(x->ctype));
	else if (len > 15 && strncasecmp(line, "Content-Length:", 15) == 0) {
		hvalue(line, len, 15, val, sizeof(val));
		x->clen = strtoll(val, NULL, 10);
	} else if (len > 14 && strncasecmp(line, "Content-Range:", 14) == 0)
		hvalue(line, len, 14, x->crange, sizeof(x->crange));
	else if (len > 5 && strncasecmp(line, "ETag:", 5) == 0)
		hvalue(line, len, 5, x->etag, sizeof(x->etag));
	else if (len > 14 && strncasecmp(line, "Last-Modified:", 14) == 0)
		hvalue(line, len, 14, x->lastmod, sizeof(x->lastmod));
	else if (len > 14 && strncasecmp(line, "Accept-Ranges:", 14) == 0) {
		hvalue(line, len, 14, val, sizeof(val));
		x->ranges = strcasecmp(val, "bytes") == 0;
	}
	return len;
}

static size_t
on_data(char *data, size_t size, size_t n, void *arg)
{
	struct xfer	*x = arg;
	size_t		 len = size * n;

	if (!x->started) {
		if (x->status != 200 && x->status != 206)
			return 0;	/* an error page: not for the client */
		if (stale_range(x))
			return 0;
		if (begin(x) != HERR_OK)
			return 0;
	}
	if (http_write(x->h, data, len) != HERR_OK) {
		x->hup = 1;
		return 0;	/* stops the transfer at once */
	}
	return len;
}

static int
client_gone(void *h)
{
	return http_client_gone(h);
}

/*
 * The CDN refused t's URL: drop the post's cached info so that it is
 * extracted afresh, unless it was extracted moments ago (its URLs would
 * be the same: at most one extraction per REEXTRACT_MIN_MS for a link
 * the CDN keeps refusing).  Returns 1 when it was dropped.
 */
static int
forget_post(struct app *app, const struct target *t)
{
	struct posturl	 pu;
	int		 rc = 0;

	if (post_find(&app->conf, t->page_url, &pu) == POSTURL_OK)
		rc = cache_forget(app->cache, pu.key, REEXTRACT_MIN_MS);
	posturl_clear(&pu);
	return rc;
}

/*
 * One attempt at the CDN.  Returns 0 when the answer went to the client
 * (whole, or cut after the first byte), else the CDN's HTTP status (or
 * -1 for no answer) with *cerr set, nothing sent yet; *proxy_st is the
 * proxy's status when it refused to open the way.
 */
static long
attempt(struct http *h, const struct target *t, CURLcode *cerr, int ranged,
    long *proxy_st)
{
	struct fetch_conn	*fc;
	CURL			*c;
	struct curl_slist	*hdrs, *n;
	struct xfer		 x;
	CURLcode		 rc;
	int			 blocked;
	long			 proxy;
	struct fetch_watch	 watch;
	const char		*range, *ifr;
	char			 line[192];

	memset(&x, 0, sizeof(x));
	x.h = h;
	x.t = t;
	x.clen = -1;
	*cerr = CURLE_OK;
	if ((fc = fetch_take(egress_find(t->egress), t->url)) == NULL) {
		*cerr = CURLE_OUT_OF_MEMORY;
		return -1;
	}
	c = fetch_curl(fc);
	if (fetch_url(fc, t->url) == -1) {
		/* Refused before anything was asked of anyone. */
		fetch_give(fc);
		*cerr = CURLE_COULDNT_CONNECT;
		return -1;
	}
	range = ranged ? media_range(http_param(h, "HTTP_RANGE")) : NULL;
	hdrs = media_headers(t->headers, range);
	ifr = http_param(h, "HTTP_IF_RANGE");
	if (range != NULL && ifr != NULL && *ifr != '\0') {
		/* The CDN decides first; stale_range() checks its answer. */
		x.ifrange = ifr;
		if (strlen(ifr) < 128 && strpbrk(ifr, "\r\n") == NULL) {
			snprintf(line, sizeof(line), "If-Range: %s", ifr);
			if ((n = curl_slist_append(hdrs, line)) != NULL)
				hdrs = n;
		}
	}
	memset(&watch, 0, sizeof(watch));
	if ((rc = curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs)) == CURLE_OK &&
	    (rc = fetch_headers(fc, &x.hops, on_header, &x)) == CURLE_OK &&
	    (rc = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data)) ==
	    CURLE_OK &&
	    (rc = curl_easy_setopt(c, CURLOPT_WRITEDATA, &x)) == CURLE_OK &&
	    (rc = curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 65536L)) ==
	    CURLE_OK &&
	    (rc = curl_easy_setopt(c, CURLOPT_NOBODY, http_is_head(h) ? 1L :
	    0L)) == CURLE_OK &&
	    (rc = fetch_watch(c, &watch, client_gone, h)) == CURLE_OK)
		rc = curl_easy_perform(c);
	if (watch.stalled)
		rc = CURLE_OPERATION_TIMEDOUT;
	if (watch.left)
		x.hup = 1;
	blocked = fetch_blocked();
	proxy = fetch_proxy_refused(fc);
	fetch_give(fc);
	curl_slist_free_all(hdrs);
	*cerr = rc;

	if (!x.started && (x.stale || (rc == CURLE_OK && stale_range(&x)))) {
		log_debug("%s: If-Range does not match: the whole file",
		    __func__);
		return attempt(h, t, cerr, 0, proxy_st);
	}

	if (x.started) {
		counters_stream(-1);
		counters_bytes(http_bytes_sent(h));
		if (!x.hup && rc != CURLE_OK)
			counters_upstream(UP_CDN_CUT);
		if (x.hup)
			log_debug("%s: client went away", __func__);
		else if (rc != CURLE_OK) {
			log_warnx("%s: CDN transfer failed after %llu bytes: "
			    "%s", __func__, http_bytes_sent(h),
			    curl_easy_strerror(rc));
			http_abort(h);	/* cut, never padded */
		}
		return 0;
	}
	if (rc == CURLE_OK && (x.status == 200 || x.status == 206)) {
		/* HEAD, or an empty body. */
		begin(&x);
		counters_stream(-1);
		return 0;
	}
	if (x.status == 416) {
		if (x.crange[0] != '\0')
			http_header(h, "Content-Range", x.crange);
		answer_fail(h, FAIL_RANGE, NULL);
		return 0;
	}
	if (blocked) {
		/* Said as a closed port is: nothing told about the target. */
		*cerr = CURLE_COULDNT_CONNECT;
		return -1;
	}
	if (proxy > 0) {
		/* The proxy's answer, not the CDN's: nothing to re-extract. */
		*cerr = CURLE_COULDNT_CONNECT;
		*proxy_st = proxy;
		return -1;
	}
	return x.status > 0 ? x.status : -1;
}

/* Serve a target: one attempt, and one more after re-extraction if the
 * CDN refused a URL that may simply have expired. */
static void
serve(struct app *app, struct http *h, struct target *t)
{
	long		 st, proxy = 0;
	CURLcode	 cerr;
	enum fail	 err = FAIL_OK;
	char		*msg = NULL, num[32];

	if (t->url == NULL)
		err = target_resolve(app, t, &msg);
	if (err != FAIL_OK)
		goto fail;
	st = attempt(h, t, &cerr, 1, &proxy);
	if ((st == 403 || st == 410) && t->page_url != NULL &&
	    t->format_id != NULL) {
		log_info("%s: CDN answered %ld: extracting the post again",
		    __func__, st);
		if (!forget_post(app, t))
			log_info("%s: the post was extracted moments ago: "
			    "not again", __func__);
		else if ((err = target_resolve(app, t, &msg)) != FAIL_OK)
			goto fail;
		else
			st = attempt(h, t, &cerr, 1, &proxy);
	}
	if (st == 0)
		return;
	if (cerr == CURLE_OPERATION_TIMEDOUT)
		answer_fail(h, FAIL_CDN_TIMEOUT, NULL);
	else if (proxy > 0 || st > 0) {
		snprintf(num, sizeof(num), "%ld", proxy > 0 ? proxy : st);
		answer_fail(h, proxy > 0 ? FAIL_CDN_PROXY : FAIL_CDN_STATUS,
		    num);
	} else
		answer_fail(h, FAIL_CDN_CONNECT, curl_easy_strerror(cerr));
	return;
fail:
	answer_fail(h, err, msg);
	free(msg);
}

static void
handle(struct app *app, struct http *h, const char *deftype)
{
	char		*tok, *payload = NULL;
	struct target	 t;
	enum fail	 f;

	memset(&t, 0, sizeof(t));
	if ((tok = http_query(h, "data")) == NULL || *tok == '\0') {
		answer_fail(h, FAIL_PARAM_MISSING, "data");
		goto out;
	}
	if ((f = answer_token(token_open(app->token, tok, &payload))) !=
	    FAIL_OK) {
		answer_fail(h, f, NULL);
		goto out;
	}
	if (target_parse(payload, deftype, &t) == -1) {
		answer_fail(h, FAIL_LINK_INVALID, NULL);
		goto out;
	}
	serve(app, h, &t);
out:
	target_clear(&t);
	free(payload);
	free(tok);
}

void
handle_stream(struct app *app, struct http *h)
{
	handle(app, h, "video");
}

void
handle_download(struct app *app, struct http *h)
{
	handle(app, h, "video");
}
