/* SPDX-License-Identifier: ISC */
/*
 * The request/response interface that handlers are written against.  The
 * FastCGI front (fcgi/) implements struct http_io over FCGX; the tests
 * implement it in memory.  Handlers never see FCGX.
 *
 * Used by every handler and by the services that answer (answer.c,
 * media.c, render.c); implemented by the fronts.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>
#include <sys/types.h>

struct json_object;

/* One error vocabulary, as kcgi's enum kcgi_err. */
enum herr {
	HERR_OK = 0,
	HERR_HUP,		/* the client went away: not worth a warning */
	HERR_NOMEM,
	HERR_TOOBIG,		/* over a size limit */
	HERR_SYSTEM,		/* see errno */
	HERR_FORM		/* malformed input */
};

/* The two kinds of work a front runs requests on. */
enum http_kind {
	HTTP_FAST,		/* parse, answer from the cache, shape */
	HTTP_SLOW		/* stream, render, follow a short link */
};

/* What a front end provides.  ctx is the front end's own. */
struct http_io {
	/* A CGI/FastCGI parameter, or NULL; valid until the request ends. */
	const char	*(*param)(void *ctx, const char *name);
	/* Read up to len body bytes; returns bytes read, 0 at end, -1. */
	ssize_t		 (*read)(void *ctx, void *buf, size_t len);
	/* Write all len bytes; returns 0, or -1 when the client left. */
	int		 (*write)(void *ctx, const void *buf, size_t len);
	/* Push buffered output to the web server; 0 or -1 as write. */
	int		 (*flush)(void *ctx);
	/* Has the client gone away?  1 or 0; NULL if the front cannot
	 * tell.  Used while nothing is written (a render). */
	int		 (*gone)(void *ctx);
	/* Run fn(arg) for this request later, on a thread for that kind
	 * of work; callable from any thread (see http_later).  NULL if the
	 * front cannot park requests: handlers then wait in place. */
	void		 (*later)(void *ctx, enum http_kind,
			    void (*fn)(void *), void *arg);
};

struct http;

struct http	*http_new(const struct http_io *, void *ctx);
void		 http_free(struct http *);

const char	*http_method(const struct http *);
const char	*http_route(const struct http *);
const char	*http_prefix(const struct http *);
const char	*http_param(const struct http *, const char *);
int		 http_is_head(const struct http *);
char		*http_query(const struct http *, const char *);
enum herr	 http_body(struct http *, char **, size_t *, size_t max);
char		*http_base_url(const struct http *, const char *configured);
int		 http_host_allowed(const struct http *, const char *list);

void		 http_status(struct http *, int);
int		 http_get_status(const struct http *);
enum herr	 http_header(struct http *, const char *, const char *);
int		 http_headers_sent(const struct http *);
enum herr	 http_write(struct http *, const void *, size_t);
enum herr	 http_flush(struct http *);
enum herr	 http_end(struct http *);
void		 http_abort(struct http *);
int		 http_gone(const struct http *);
int		 http_client_gone(struct http *);
unsigned long long http_bytes_sent(const struct http *);
double		 http_age(const struct http *);
void		 http_note(struct http *, const char *);
const char	*http_get_note(const struct http *);
void		 http_set_client(struct http *, const char *addr,
		    const char *key);
const char	*http_client(const struct http *);
const char	*http_key_name(const struct http *);

int		 http_can_park(const struct http *);
void		 http_park(struct http *);
void		 http_unpark(struct http *);
int		 http_parked(const struct http *);
void		 http_later(struct http *, enum http_kind,
		    void (*fn)(void *), void *arg);

enum herr	 http_json(struct http *, int, struct json_object *);
enum herr	 http_error(struct http *, int, const char *);

#endif /* HTTP_H */
