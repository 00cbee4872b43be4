/* SPDX-License-Identifier: ISC */
/*
 * Post URLs.  What users paste is rarely the canonical URL: share text
 * around the link, m.tiktok.com/v/ID.html, tiktok.com without www,
 * /embed/v2/ID, /@u/photo/ID, short links, tracking parameters.  yt-dlp's
 * TikTok extractor reads only a few of these, so the link is found in
 * the text, its host judged by libcurl's URL parser (so
 * "https://evil.com/?tiktok.com", "https://tiktok.com.evil.com/" and
 * "https://user@evil.com" are all told apart from TikTok), and the post
 * named by its id: yt-dlp is handed https://www.tiktok.com/@USER/video/ID
 * (USER "_" when the link has none), which it reads for any TikTok post,
 * video or photo, and the cache is keyed by the id, never by the
 * spelling: @a/video/ID and @b/video/ID are one post.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "posturl.h"

#define TEXT_MAX	4096	/* what we look at of a pasted text */
#define ID_MIN		1
#define USER_MAX	64
#define ID_MAX		24

/* host is domain or a subdomain of it (case-insensitive). */
int
posturl_in_domain(const char *host, const char *domain)
{
	size_t	 hl = strlen(host), dl = strlen(domain);

	if (hl > 0 && host[hl - 1] == '.')
		hl--;	/* "tiktok.com." is tiktok.com */
	if (hl == dl)
		return strncasecmp(host, domain, dl) == 0;
	return hl > dl && host[hl - dl - 1] == '.' &&
	    strncasecmp(host + hl - dl, domain, dl) == 0;
}

static int
in_list(const char *host, const char *list)
{
	char	*copy, *tok, *save;
	int	 ok = 0;

	if (list == NULL || (copy = strdup(list)) == NULL)
		return 0;
	for (tok = strtok_r(copy, ", ", &save); tok != NULL && !ok;
	    tok = strtok_r(NULL, ", ", &save))
		ok = strcasecmp(tok, host) == 0;
	free(copy);
	return ok;
}

/*
 * Is url an http(s) URL on tiktok.com, douyin.com or a subdomain (vt.,
 * vm., www., m. ...), or (tests only) on one of the comma-separated
 * extra_hosts?  Returns 1 or 0.
 */
int
posturl_allowed(const char *url, const char *extra_hosts)
{
	CURLU		*u;
	char		*scheme = NULL, *host = NULL;
	int		 ok = 0;

	if ((u = curl_url()) == NULL)
		return 0;
	if (strlen(url) > 2048 ||
	    curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
		goto out;
	ok = posturl_in_domain(host, "tiktok.com") ||
	    posturl_in_domain(host, "douyin.com") || in_list(host, extra_hosts);
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

/* A post id: ID_MIN to ID_MAX digits, optionally followed by ".html". */
static int
is_id(const char *s, size_t len)
{
	size_t	 i;

	if (len > 5 && strncmp(s + len - 5, ".html", 5) == 0)
		len -= 5;
	if (len < ID_MIN || len > ID_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

/* If s (len bytes) is an id, copy its digits into id (ID_MAX + 1). */
static int
take_id(const char *s, size_t len, char *id)
{
	if (!is_id(s, len))
		return 0;
	len = strspn(s, "0123456789");
	memcpy(id, s, len);
	id[len] = '\0';
	return 1;
}

/*
 * The post id in a path: the digits after /video/, /photo/, /v/,
 * /embed/, /embed/v2/ or /note/.  Copied into id (ID_MAX + 1 bytes);
 * returns 1 or 0.
 */
static int
path_id(const char *path, char *id)
{
	static const char *const before[] = { "video", "photo", "v",
	    "embed", "v2", "note", NULL };
	const char	*seg, *next, *end;
	size_t		 len, nlen, i;

	for (seg = path; *seg != '\0'; seg = next) {
		while (*seg == '/')
			seg++;
		end = strchr(seg, '/');
		len = end ? (size_t)(end - seg) : strlen(seg);
		next = seg + len;
		if (*next == '\0')
			break;
		nlen = strcspn(next + 1, "/");
		for (i = 0; before[i] != NULL; i++)
			if (strlen(before[i]) == len &&
			    strncmp(seg, before[i], len) == 0)
				break;
		if (before[i] != NULL && take_id(next + 1, nlen, id))
			return 1;
	}
	return 0;
}

/* Douyin's ?modal_id=ID (the post shown over a feed page). */
static int
query_id(const char *query, char *id)
{
	const char	*p;
	size_t		 len;

	for (p = query; p != NULL && *p != '\0'; p = strchr(p, '&')) {
		if (*p == '&')
			p++;
		if (strncmp(p, "modal_id=", 9) == 0) {
			len = strcspn(p + 9, "&");
			return take_id(p + 9, len, id);
		}
	}
	return 0;
}

/* The user name of /@USER/..., if it is one yt-dlp accepts; else "_". */
static void
path_user(const char *path, char *user)
{
	size_t	 len;

	strcpy(user, "_");
	if (strncmp(path, "/@", 2) != 0)
		return;
	len = strcspn(path + 2, "/");
	if (len == 0 || len > USER_MAX ||
	    strspn(path + 2, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_.-") != len)
		return;
	memcpy(user, path + 2, len);
	user[len] = '\0';
}

/* Characters that end a link in running text. */
static int
ends_link(unsigned char c)
{
	return c <= ' ' || c >= 0x7f || strchr("\"'<>`{}|\\^", c) != NULL;
}

/*
 * Judge one candidate link.  Returns POSTURL_OK (out filled),
 * POSTURL_NOT_POST (ours, but no post in it), POSTURL_NONE or
 * POSTURL_NOMEM.
 */
static enum posturl_err
judge(const char *cand, const char *extra_hosts, struct posturl *out)
{
	CURLU			*u;
	char			*scheme = NULL, *host = NULL, *path = NULL;
	char			*query = NULL, id[ID_MAX + 1];
	char			 user[USER_MAX + 1];
	enum posturl_err	 rc = POSTURL_NONE;
	int			 tiktok, douyin, n;

	if ((u = curl_url()) == NULL)
		return POSTURL_NOMEM;
	if (curl_url_set(u, CURLUPART_URL, cand, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		goto out;
	curl_url_get(u, CURLUPART_QUERY, &query, 0);
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
		goto out;
	tiktok = posturl_in_domain(host, "tiktok.com");
	douyin = posturl_in_domain(host, "douyin.com");
	if (!tiktok && !douyin) {
		if (in_list(host, extra_hosts)) {
			/* Tests: a local URL, handed on as it is. */
			if ((out->page = strdup(cand)) == NULL ||
			    (out->key = strdup(cand)) == NULL)
				rc = POSTURL_NOMEM;
			else
				rc = POSTURL_OK;
		}
		goto out;
	}
	rc = POSTURL_NOT_POST;
	if (path_id(path, id) || (douyin && query_id(query, id))) {
		path_user(path, user);
		n = tiktok ?
		    asprintf(&out->page, "https://www.tiktok.com/@%s/video/%s",
		    user, id) : asprintf(&out->page,
		    "https://www.douyin.com/video/%s", id);
		if (n == -1) {
			out->page = NULL;
			rc = POSTURL_NOMEM;
		} else if (asprintf(&out->key, "%s:%s", tiktok ? "tiktok" :
		    "douyin", id) == -1) {
			out->key = NULL;
			rc = POSTURL_NOMEM;
		} else
			rc = POSTURL_OK;
		goto out;
	}
	/* Short links: vm.tiktok.com/CODE, vt.tiktok.com/CODE,
	 * www.tiktok.com/t/CODE, v.douyin.com/CODE. */
	if ((strcasecmp(host, "vm.tiktok.com") == 0 ||
	    strcasecmp(host, "vt.tiktok.com") == 0 ||
	    strcasecmp(host, "v.douyin.com") == 0) && strlen(path) > 1)
		out->is_short = 1;
	else if (tiktok && strncmp(path, "/t/", 3) == 0 && path[3] != '\0')
		out->is_short = 1;
	if (out->is_short) {
		/* Tracking parameters go: the code names the post. */
		if (asprintf(&out->page, "https://%s%s", host, path) == -1) {
			out->page = NULL;
			rc = POSTURL_NOMEM;
		} else if ((out->key = strdup(out->page)) == NULL)
			rc = POSTURL_NOMEM;
		else
			rc = POSTURL_OK;
	}
out:
	if (rc != POSTURL_OK)
		posturl_clear(out);
	curl_free(scheme);
	curl_free(host);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(u);
	return rc;
}

/*
 * Find the first link to a post in text (a URL, or share text around
 * one; "tiktok.com/..." without a scheme counts).  On POSTURL_OK, out
 * holds the page to extract and the post's key; the caller clears it.
 * POSTURL_NOT_POST when the only links are TikTok's or Douyin's but to
 * no single post (a profile, a tag); POSTURL_NONE when there is none.
 */
enum posturl_err
posturl_parse(const char *text, const char *extra_hosts, struct posturl *out)
{
	const char		*p, *start, *end, *scheme;
	char			*cand;
	size_t			 len, limit;
	enum posturl_err	 rc, best = POSTURL_NONE;

	memset(out, 0, sizeof(*out));
	limit = strnlen(text, TEXT_MAX);
	for (p = text; p < text + limit; p = end) {
		while (p < text + limit && ends_link((unsigned char)*p))
			p++;
		for (end = p; end < text + limit &&
		    !ends_link((unsigned char)*end); end++)
			continue;
		if (end == p)
			break;
		/* The link may sit inside the word: "(https://…)". */
		start = p;
		scheme = "";
		while (start < end && strncasecmp(start, "http://", 7) != 0 &&
		    strncasecmp(start, "https://", 8) != 0)
			start++;
		if (start == end) {
			/* No scheme: "tiktok.com/..." or "www.douyin.com/…"
			 * (the first word's host must be ours). */
			start = p;
			while (start < end && !isalnum((unsigned char)*start))
				start++;
			len = strcspn(start, "/");
			if (len == 0 || start + len >= end)
				continue;
			scheme = "https://";
		}
		len = (size_t)(end - start);
		while (len > 0 && strchr(".,;:!?)]", start[len - 1]) != NULL)
			len--;
		if (asprintf(&cand, "%s%.*s", scheme, (int)len, start) == -1)
			return POSTURL_NOMEM;
		rc = judge(cand, extra_hosts, out);
		free(cand);
		if (rc == POSTURL_OK || rc == POSTURL_NOMEM)
			return rc;
		if (rc == POSTURL_NOT_POST)
			best = rc;
	}
	return best;
}

void
posturl_clear(struct posturl *pu)
{
	free(pu->page);
	free(pu->key);
	pu->page = pu->key = NULL;
	pu->is_short = 0;
}
