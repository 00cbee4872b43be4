/* SPDX-License-Identifier: ISC */
/*
 * The request/response object handed to every handler: request
 * parameters and body with limits, status and headers kept until the
 * first body byte, then written once; "headers sent" and "client gone"
 * tracked so that errors after the first byte cut the answer instead of
 * corrupting it.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "http.h"

#define HDR_MAX		16384	/* all response headers together */

struct http {
	const struct http_io	*io;
	void			*ctx;
	char			*method;
	char			*path;		/* request path, no query */
	const char		*route;		/* last segment of path */
	char			*prefix;	/* path before the route */
	int			 status;
	char			*hdrs;		/* grows up to HDR_MAX */
	size_t			 hlen, hcap;
	int			 have_cc;	/* Cache-Control set */
	int			 sent;		/* headers written */
	int			 head;		/* HEAD: no body */
	int			 gone;		/* client went away */
	int			 parked;	/* answered later */
	unsigned long long	 bytes;		/* body bytes written */
	const char		*note;		/* for the access log */
	char			 client[64];	/* who, for the access log */
	char			 key[65];	/* the API key's name, or "" */
	struct timespec		 start;
};

/* Characters we let into a link we build from the request. */
static int
urlsafe(const char *s)
{
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) &&
		    strchr("-._~%/!$&'()*+,;=:@", *s) == NULL)
			return 0;
	return 1;
}

/*
 * Wrap a request coming from a front end.  Returns NULL on memory
 * exhaustion.  The caller frees with http_free() after the front end has
 * finished the request.
 */
struct http *
http_new(const struct http_io *io, void *ctx)
{
	struct http	*h;
	const char	*m, *uri, *q, *pi;
	char		*slash;
	size_t		 len;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->io = io;
	h->ctx = ctx;
	h->status = 200;
	clock_gettime(CLOCK_MONOTONIC, &h->start);
	m = io->param(ctx, "REQUEST_METHOD");
	h->method = strdup(m != NULL && *m != '\0' ? m : "GET");
	if ((uri = io->param(ctx, "REQUEST_URI")) != NULL && *uri == '/') {
		len = (q = strchr(uri, '?')) != NULL ? (size_t)(q - uri) :
		    strlen(uri);
		h->path = strndup(uri, len);
	} else {
		uri = io->param(ctx, "SCRIPT_NAME");
		pi = io->param(ctx, "PATH_INFO");
		if (asprintf(&h->path, "%s%s", uri ? uri : "",
		    pi ? pi : "") == -1)
			h->path = NULL;
	}
	if (h->method == NULL || h->path == NULL)
		goto fail;
	if ((slash = strrchr(h->path, '/')) == NULL) {
		h->route = h->path;
		h->prefix = strdup("");
	} else {
		h->route = slash;
		h->prefix = strndup(h->path, slash - h->path);
	}
	if (h->prefix == NULL)
		goto fail;
	if (!urlsafe(h->prefix))
		h->prefix[0] = '\0';
	h->head = strcmp(h->method, "HEAD") == 0;
	return h;
fail:
	http_free(h);
	return NULL;
}

void
http_free(struct http *h)
{
	if (h == NULL)
		return;
	free(h->method);
	free(h->path);
	free(h->prefix);
	free(h->hdrs);
	free(h);
}

const char *
http_method(const struct http *h)
{
	return h->method;
}

/* The last path segment with its slash ("/tiktok"): what routes match. */
const char *
http_route(const struct http *h)
{
	return h->route;
}

/* The path before the route ("/api" when mounted under /api/), or "". */
const char *
http_prefix(const struct http *h)
{
	return h->prefix;
}

const char *
http_param(const struct http *h, const char *name)
{
	return h->io->param(h->ctx, name);
}

int
http_is_head(const struct http *h)
{
	return h->head;
}

/*
 * The decoded value of query parameter name ('+' as space, %XX decoded),
 * or NULL if absent.  The caller frees the result with free().
 */
char *
http_query(const struct http *h, const char *name)
{
	const char	*qs, *p, *end, *eq;
	size_t		 nlen = strlen(name);
	char		*raw, *dec, *out;
	int		 outlen;
	size_t		 i;

	if ((qs = h->io->param(h->ctx, "QUERY_STRING")) == NULL)
		return NULL;
	for (p = qs; *p != '\0'; p = *end ? end + 1 : end) {
		end = strchr(p, '&');
		if (end == NULL)
			end = p + strlen(p);
		eq = memchr(p, '=', end - p);
		if ((eq ? (size_t)(eq - p) : (size_t)(end - p)) != nlen ||
		    strncmp(p, name, nlen) != 0)
			continue;
		if (eq == NULL)
			return strdup("");
		if ((raw = strndup(eq + 1, end - eq - 1)) == NULL)
			return NULL;
		for (i = 0; raw[i] != '\0'; i++)
			if (raw[i] == '+')
				raw[i] = ' ';
		dec = curl_easy_unescape(NULL, raw, 0, &outlen);
		free(raw);
		if (dec == NULL)
			return NULL;
		out = strndup(dec, outlen);
		curl_free(dec);
		return out;
	}
	return NULL;
}

/*
 * Read the whole request body, at most max bytes, into a NUL-terminated
 * buffer the caller frees.  Returns HERR_TOOBIG when the body (as
 * announced or as read) is larger than max, HERR_SYSTEM on a read error.
 */
enum herr
http_body(struct http *h, char **out, size_t *outlen, size_t max)
{
	const char	*cl;
	char		*buf, *end, *nb;
	size_t		 len = 0, cap;
	ssize_t		 n;
	unsigned long long announced = 0;

	*out = NULL;
	*outlen = 0;
	if ((cl = h->io->param(h->ctx, "CONTENT_LENGTH")) != NULL &&
	    *cl != '\0') {
		announced = strtoull(cl, &end, 10);
		if (*end != '\0')
			return HERR_FORM;
		if (announced > max)
			return HERR_TOOBIG;
	}
	/* Start at the announced size (most bodies are tiny), grow up to
	 * max + 1, which tells an oversized body apart. */
	cap = announced > 0 ? (size_t)announced + 1 : 1024;
	if ((buf = malloc(cap + 1)) == NULL)
		return HERR_NOMEM;
	while (len <= max) {
		if (len == cap) {
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			if ((nb = realloc(buf, cap + 1)) == NULL) {
				free(buf);
				return HERR_NOMEM;
			}
			buf = nb;
		}
		n = h->io->read(h->ctx, buf + len, cap - len);
		if (n < 0) {
			free(buf);
			return HERR_SYSTEM;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		free(buf);
		return HERR_TOOBIG;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return HERR_OK;
}


void
http_status(struct http *h, int status)
{
	if (!h->sent)
		h->status = status;
}

int
http_get_status(const struct http *h)
{
	return h->status;
}

/*
 * Add a response header.  Names must be HTTP tokens and values must not
 * hold control characters: anything a client sent that reaches a header
 * goes through here, so CR/LF can never split one.  Returns HERR_FORM
 * for a bad name or value, HERR_TOOBIG when the headers are full,
 * HERR_FORM too after the headers were sent.
 */
enum herr
http_header(struct http *h, const char *name, const char *value)
{
	const char	*p;
	char		*nb;
	size_t		 need, ncap;

	if (h->sent)
		return HERR_FORM;
	if (*name == '\0')
		return HERR_FORM;
	for (p = name; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return HERR_FORM;
	for (p = value; *p != '\0'; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
			return HERR_FORM;
	need = h->hlen + strlen(name) + strlen(value) + 5;
	if (need > HDR_MAX)
		return HERR_TOOBIG;
	if (need > h->hcap) {
		ncap = h->hcap ? h->hcap : 1024;
		while (ncap < need)
			ncap *= 2;
		if ((nb = realloc(h->hdrs, ncap)) == NULL)
			return HERR_NOMEM;
		h->hdrs = nb;
		h->hcap = ncap;
	}
	h->hlen += (size_t)snprintf(h->hdrs + h->hlen, h->hcap - h->hlen,
	    "%s: %s\r\n", name, value);
	if (strcasecmp(name, "Cache-Control") == 0)
		h->have_cc = 1;
	return HERR_OK;
}

int
http_headers_sent(const struct http *h)
{
	return h->sent;
}

int
http_gone(const struct http *h)
{
	return h->gone;
}

/*
 * Ask the front whether the client left, without writing anything (the
 * web server closes the FastCGI connection when its client goes).
 */
int
http_client_gone(struct http *h)
{
	if (h->gone)
		return 1;
	if (h->io->gone != NULL && h->io->gone(h->ctx))
		h->gone = 1;
	return h->gone;
}

/* A word for the access log line ("hit", "miss"): a static string. */
void
http_note(struct http *h, const char *note)
{
	h->note = note;
}

const char *
http_get_note(const struct http *h)
{
	return h->note;
}

/*
 * Who made the request, for the access log: the client's address as
 * admission resolved it (admit.c), and the name of its API key (NULL:
 * none).  Both are copied.
 */
void
http_set_client(struct http *h, const char *addr, const char *key)
{
	snprintf(h->client, sizeof(h->client), "%s", addr);
	snprintf(h->key, sizeof(h->key), "%s", key != NULL ? key : "");
}

/* The client set above, else REMOTE_ADDR, else "-". */
const char *
http_client(const struct http *h)
{
	const char	*ra;

	if (h->client[0] != '\0')
		return h->client;
	ra = h->io->param(h->ctx, "REMOTE_ADDR");
	return ra != NULL && *ra != '\0' ? ra : "-";
}

/* The API key's name, or NULL. */
const char *
http_key_name(const struct http *h)
{
	return h->key[0] != '\0' ? h->key : NULL;
}

/* Seconds since the request arrived. */
double
http_age(const struct http *h)
{
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - h->start.tv_sec) +
	    (now.tv_nsec - h->start.tv_nsec) / 1e9;
}

/*
 * Parking.  A handler that must wait (for an extraction, say) parks the
 * request and returns; no thread waits with it.  Whoever ends the wait
 * calls http_later() with the continuation, from any thread; the front
 * runs it on one of its threads for that kind of work, and answers the
 * request when the continuation returns without parking again.  The
 * front never runs a continuation while a thread still holds the request
 * (a continuation asked for before the handler returned runs after).
 */
int
http_can_park(const struct http *h)
{
	return h->io->later != NULL;
}

void
http_park(struct http *h)
{
	h->parked = 1;
}

void
http_unpark(struct http *h)
{
	h->parked = 0;
}

int
http_parked(const struct http *h)
{
	return h->parked;
}

/* Continue a parked request with fn(arg) on a thread of that kind. */
void
http_later(struct http *h, enum http_kind kind, void (*fn)(void *),
    void *arg)
{
	h->io->later(h->ctx, kind, fn, arg);
}

unsigned long long
http_bytes_sent(const struct http *h)
{
	return h->bytes;
}

/* The reason phrase of the Status line. */
static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 410: return "Gone";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default:  return "Unknown";
	}
}

static enum herr
send_headers(struct http *h)
{
	char	 status[64];
	int	 n;

	if (h->sent)
		return HERR_OK;
	h->sent = 1;
	n = snprintf(status, sizeof(status), "Status: %d %s\r\n", h->status,
	    reason(h->status));
	if (h->io->write(h->ctx, status, (size_t)n) == -1)
		goto gone;
	if (!h->have_cc && h->io->write(h->ctx,
	    "Cache-Control: no-store\r\n", 25) == -1)
		goto gone;
	if ((h->hlen > 0 && h->io->write(h->ctx, h->hdrs, h->hlen) == -1) ||
	    h->io->write(h->ctx, "\r\n", 2) == -1)
		goto gone;
	return HERR_OK;
gone:
	h->gone = 1;
	return HERR_HUP;
}

/*
 * Write body bytes, sending the headers first if they were not.  For HEAD
 * the body is counted but not sent.  Returns HERR_HUP once the client
 * went away; the caller should stop producing.
 */
enum herr
http_write(struct http *h, const void *buf, size_t len)
{
	if (h->gone)
		return HERR_HUP;
	if (send_headers(h) != HERR_OK)
		return HERR_HUP;
	h->bytes += len;
	if (h->head || len == 0)
		return HERR_OK;
	if (h->io->write(h->ctx, buf, len) == -1) {
		h->gone = 1;
		return HERR_HUP;
	}
	return HERR_OK;
}

enum herr
http_flush(struct http *h)
{
	if (h->gone)
		return HERR_HUP;
	if (send_headers(h) != HERR_OK)
		return HERR_HUP;
	if (h->io->flush(h->ctx) == -1) {
		h->gone = 1;
		return HERR_HUP;
	}
	return HERR_OK;
}

/*
 * Cut an answer whose headers are out (the CDN failed mid-body): nothing
 * more is written, never padding.  The request then ends normally; the
 * web server compares the body with the Content-Length we sent and cuts
 * the client's connection (nginx does so since 1.19.1; shutting the
 * FastCGI connection down instead leaves nginx's client waiting).
 */
void
http_abort(struct http *h)
{
	h->gone = 1;
}

/* Finish the answer: headers out if no body was written. */
enum herr
http_end(struct http *h)
{
	if (h->gone)
		return HERR_HUP;
	return send_headers(h);
}

/*
 * Answer with a JSON document and the given status.  Does not take
 * ownership of obj.
 */
enum herr
http_json(struct http *h, int status, struct json_object *obj)
{
	const char	*s;
	size_t		 len;
	char		 cl[32];

	if (h->sent)
		return HERR_FORM;
	s = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	http_status(h, status);
	http_header(h, "Content-Type", "application/json; charset=utf-8");
	snprintf(cl, sizeof(cl), "%zu", len);
	http_header(h, "Content-Length", cl);
	return http_write(h, s, len);
}

/*
 * Answer {"error": msg} with status.  After the headers were sent nothing
 * can be said any more: the answer is cut (HERR_FORM returned).
 */
enum herr
http_error(struct http *h, int status, const char *msg)
{
	struct json_object	*o, *v;
	enum herr		 rc;

	if (h->sent)
		return HERR_FORM;
	if ((o = json_object_new_object()) == NULL)
		return HERR_NOMEM;
	if ((v = json_object_new_string(msg)) == NULL ||
	    json_object_object_add(o, "error", v) != 0) {
		json_object_put(v);
		json_object_put(o);
		return HERR_NOMEM;
	}
	rc = http_json(h, status, o);
	json_object_put(o);
	return rc;
}
