/* SPDX-License-Identifier: ISC */
/*
 * What every download shares, whoever makes the bytes (/stream and
 * /download from the CDN, renders from a file): a file name made safe
 * for headers, Content-Disposition, the client's Range, the request
 * headers for the CDN, and sending a local file with Range and HEAD.
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "answer.h"
#include "http.h"
#include "media.h"

/*
 * The author as a file name: [A-Za-z0-9_] only, runs of anything else as
 * one '_', at most 64 characters, "tiktok" if nothing is left.
 */
void
media_safe_name(const char *in, char *out, size_t sz)
{
	size_t	 n = 0;

	for (; in != NULL && *in != '\0' && n + 1 < sz && n < 64; in++) {
		if (isalnum((unsigned char)*in) || *in == '_')
			out[n++] = *in;
		else if (n > 0 && out[n - 1] != '_')
			out[n++] = '_';
	}
	while (n > 0 && out[n - 1] == '_')
		n--;
	out[n] = '\0';
	if (n == 0)
		snprintf(out, sz, "tiktok");
}

/*
 * Content-Disposition and X-Filename for name + "." + ext: an ASCII
 * filename= and an RFC 5987 filename*= with the author percent-encoded.
 */
void
media_disposition(struct http *h, const char *author, const char *ext)
{
	char		 safe[80], val[1024], xf[96];
	char		*enc;
	const char	*src;
	size_t		 len;

	media_safe_name(author, safe, sizeof(safe));
	snprintf(xf, sizeof(xf), "%s.%s", safe, ext);
	src = author != NULL && *author != '\0' ? author : safe;
	if ((len = strlen(src)) > 200) {
		len = 200;
		/* Not in the middle of a UTF-8 character. */
		while (len > 0 && ((unsigned char)src[len] & 0xc0) == 0x80)
			len--;
	}
	enc = curl_easy_escape(NULL, src, (int)len);
	snprintf(val, sizeof(val), "attachment; filename=\"%s\"; "
	    "filename*=UTF-8''%s.%s", xf, enc ? enc : safe, ext);
	curl_free(enc);
	http_header(h, "Content-Disposition", val);
	http_header(h, "X-Filename", xf);
}

/*
 * Is ctype (a Content-Type value) one of the media types we serve?
 * Anything else a CDN says (text/html, image/svg+xml: what a browser
 * would run) is replaced by the type's default.  Returns 1 or 0.
 */
int
media_type_served(const char *ctype)
{
	static const char *const served[] = { "video/mp4", "video/webm",
	    "audio/mpeg", "audio/mp4", "audio/x-m4a", "audio/aac",
	    "image/jpeg", "image/png", "image/webp", "image/heic",
	    "image/heif", "image/avif", "image/gif", NULL };
	size_t	 n, i;

	if (ctype == NULL)
		return 0;
	n = strcspn(ctype, "; \t");
	for (i = 0; served[i] != NULL; i++)
		if (strlen(served[i]) == n &&
		    strncasecmp(ctype, served[i], n) == 0)
			return 1;
	return 0;
}

/* A single "bytes=a-b", "bytes=a-" or "bytes=-n" range, else NULL. */
const char *
media_range(const char *r)
{
	const char	*p;
	int		 digits = 0, dash = 0;

	if (r == NULL || strncmp(r, "bytes=", 6) != 0 || strlen(r) > 64)
		return NULL;
	for (p = r + 6; *p != '\0'; p++) {
		if (*p == '-' && !dash)
			dash = 1;
		else if (isdigit((unsigned char)*p))
			digits++;
		else
			return NULL;
	}
	return dash && digits > 0 ? r : NULL;
}

/*
 * The request headers for the CDN from a format's http_headers (may be
 * NULL), with Range from the client if given.  Caller frees with
 * curl_slist_free_all.
 */
struct curl_slist *
media_headers(struct json_object *hh, const char *range)
{
	struct curl_slist	*l = NULL, *n;
	char			 line[8192];
	const char		*val;
	int			 have_ua = 0;

	if (hh != NULL) {
		json_object_object_foreach(hh, k, v) {
			if (!json_object_is_type(v, json_type_string))
				continue;
			val = json_object_get_string(v);
			if (strpbrk(k, "\r\n: ") != NULL ||
			    strpbrk(val, "\r\n") != NULL ||
			    strcasecmp(k, "Range") == 0 ||
			    strcasecmp(k, "Host") == 0 ||
			    strcasecmp(k, "Accept-Encoding") == 0 ||
			    strcasecmp(k, "Content-Length") == 0)
				continue;
			if (strcasecmp(k, "User-Agent") == 0)
				have_ua = 1;
			snprintf(line, sizeof(line), "%s: %s", k, val);
			if ((n = curl_slist_append(l, line)) == NULL)
				break;
			l = n;
		}
	}
	if (!have_ua && (n = curl_slist_append(l, "User-Agent: Mozilla/5.0 "
	    "(Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
	    "Gecko) Chrome/120.0 Safari/537.36")) != NULL)
		l = n;
	if (range != NULL) {
		snprintf(line, sizeof(line), "Range: %s", range);
		if ((n = curl_slist_append(l, line)) != NULL)
			l = n;
	}
	return l;
}

/*
 * Whether a Range may be honoured, given the client's If-Range (RFC 9110
 * 13.1.5): always without one; with an entity tag only when it is the
 * body's strong ETag, with a date only when it is the body's
 * Last-Modified.  Otherwise the whole body is sent, never a piece of
 * another version of it.
 */
int
media_if_range(const char *ifr, const char *etag, const char *lastmod)
{
	if (ifr == NULL || *ifr == '\0')
		return 1;
	if (ifr[0] == '"')
		return etag != NULL && strcmp(ifr, etag) == 0;
	if (strncmp(ifr, "W/", 2) == 0)
		return 0;	/* a weak tag never matches */
	return lastmod != NULL && strcmp(ifr, lastmod) == 0;
}

/* Send the finished file: Range (If-Range), HEAD, ETag, the name. */
void
media_send_file(struct http *h, const char *file, const char *ctype,
    const char *name, const char *ext)
{
	char		 buf[65536], num[96], etag[64], lastmod[40];
	const char	*range;
	struct stat	 st;
	struct tm	 tm;
	long long	 start = 0, end, size;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		if (fd != -1)
			close(fd);
		answer_fail(h, FAIL_RENDER_GONE, NULL);
		return;
	}
	size = (long long)st.st_size;
	end = size - 1;
	/* A render of the same post made later is another file. */
	snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (long long)st.st_ino,
	    (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec);
	gmtime_r(&st.st_mtim.tv_sec, &tm);
	strftime(lastmod, sizeof(lastmod), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	http_header(h, "ETag", etag);
	http_header(h, "Last-Modified", lastmod);
	range = media_range(http_param(h, "HTTP_RANGE"));
	if (!media_if_range(http_param(h, "HTTP_IF_RANGE"), etag, lastmod))
		range = NULL;
	if (range != NULL) {
		const char *dash = strchr(range + 6, '-');
		if (range[6] == '-')
			start = size - strtoll(range + 7, NULL, 10);
		else {
			start = strtoll(range + 6, NULL, 10);
			if (dash[1] != '\0')
				end = strtoll(dash + 1, NULL, 10);
		}
		if (start < 0)
			start = 0;
		if (end >= size)
			end = size - 1;
		if (start >= size || start > end) {
			snprintf(num, sizeof(num), "bytes */%lld", size);
			http_header(h, "Content-Range", num);
			answer_fail(h, FAIL_RANGE, NULL);
			close(fd);
			return;
		}
		http_status(h, 206);
		snprintf(num, sizeof(num), "bytes %lld-%lld/%lld", start, end,
		    size);
		http_header(h, "Content-Range", num);
	}
	http_header(h, "Content-Type", ctype);
	http_header(h, "X-Content-Type-Options", "nosniff");
	snprintf(num, sizeof(num), "%lld", end - start + 1);
	http_header(h, "Content-Length", num);
	http_header(h, "Accept-Ranges", "bytes");
	http_header(h, "Cache-Control", "private, no-store");
	media_disposition(h, name, ext);
	if (http_is_head(h)) {
		http_end(h);
		close(fd);
		return;
	}
	while (start <= end) {
		n = pread(fd, buf, (size_t)(end - start + 1) < sizeof(buf) ?
		    (size_t)(end - start + 1) : sizeof(buf), start);
		if (n <= 0)
			break;
		if (http_write(h, buf, (size_t)n) != HERR_OK)
			break;
		start += n;
	}
	close(fd);
}
