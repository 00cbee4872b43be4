/* SPDX-License-Identifier: ISC */
/*
 * The route table and what every answer shares: CORS, preflight, 404,
 * 405 with Allow, HEAD for GET routes.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "admit.h"
#include "answer.h"
#include "app.h"
#include "handlers.h"
#include "http.h"
#include "log.h"
#include "counters.h"

struct route {
	const char	*path;
	const char	*method;	/* GET (which also takes HEAD) or POST */
	void		 (*fn)(struct app *, struct http *);
	int		 slow;		/* streams and renders: HTTP_SLOW */
};

static const struct route routes[] = {
	{ "/tiktok",	"POST",	handle_tiktok, 0 },
	{ "/stream",	"GET",	handle_stream, 1 },
	{ "/download",	"GET",	handle_download, 1 },
	{ "/download-slideshow", "GET", handle_slideshow, 1 },
	{ "/download-audio", "GET", handle_audio, 1 },
	{ "/health",	"GET",	handle_health, 0 },
	{ "/metrics",	"GET",	handle_metrics, 0 },
	{ "/openapi.json", "GET", handle_openapi, 0 },
	{ "/",		"GET",	handle_page, 0 },	/* WEB_UI */
};

/* A route's handler, run on a thread for slow work. */
struct slow {
	struct app		*app;
	struct http		*h;
	const struct route	*r;
};

static void	 dispatch(struct app *, struct http *);

/*
 * Answer one request: find its route by the last path segment (so the
 * app may be mounted under any prefix), check the method, run the
 * handler (on a thread for slow work, when the front has them), and, if
 * the handler did not park it, finish it (router_finish).
 */
void
router_dispatch(struct app *app, struct http *h)
{
	dispatch(app, h);
	if (!http_parked(h))
		router_finish(app, h);
}

/*
 * The end of every request, parked or not: make sure an answer went out,
 * count it (route, status, time) for /metrics, and log it at info, one
 * line as an access log: the peer's address (the web server's
 * REMOTE_ADDR), method, path (never the query: it holds tokens), status,
 * body bytes, milliseconds, the client (behind TRUSTED_PROXIES, the
 * forwarded one) and its API key's name (never the key), and what the
 * handler noted (the cache's hit or miss), or that the client left.
 */
void
router_finish(struct app *app, struct http *h)
{
	const char	*note = http_get_note(h), *key = http_key_name(h);
	const char	*peer;
	char		 addr[64], method[20], prefix[204], route[68];
	char		 client[68];

	(void)app;
	if (!http_headers_sent(h))
		answer_fail(h, FAIL_INTERNAL, NULL);
	http_end(h);
	counters_request(http_route(h), http_get_status(h), http_age(h));
	peer = http_param(h, "REMOTE_ADDR");
	/* What the client sent, filtered as every client's text is. */
	log_info("access: %s %s %s%s %d %llu %.0fms client=%s%s%s%s%s%s",
	    peer != NULL && *peer != '\0' ? log_filter(addr, sizeof(addr),
	    peer) : "-", log_filter(method, sizeof(method), http_method(h)),
	    log_filter(prefix, sizeof(prefix), http_prefix(h)),
	    log_filter(route, sizeof(route), http_route(h)), http_get_status(h),
	    http_bytes_sent(h), http_age(h) * 1000, log_filter(client,
	    sizeof(client), http_client(h)), key ? " key=" : "", key ? key : "",
	    note ? " cache=" : "",
	    note ? note : "", http_gone(h) ? " client-gone" : "");
}

static void
run_slow(void *arg)
{
	struct slow	*s = arg;

	s->r->fn(s->app, s->h);
	free(s);
}

static void
dispatch(struct app *app, struct http *h)
{
	const struct route	*r = NULL;
	struct slow		*s;
	const char		*m = http_method(h);
	size_t			 i;

	http_header(h, "Access-Control-Allow-Origin", "*");
	http_header(h, "Access-Control-Expose-Headers",
	    "Content-Disposition, X-Filename, Content-Length, Content-Range, "
	    "Accept-Ranges, ETag, Last-Modified, RateLimit, RateLimit-Policy, "
	    "Retry-After");
	admit_client(app->admit, h);

	if (strcmp(m, "OPTIONS") == 0) {
		http_status(h, 204);
		http_header(h, "Access-Control-Allow-Methods",
		    "GET, POST, OPTIONS");
		http_header(h, "Access-Control-Allow-Headers", "Origin, "
		    "Content-Type, Content-Length, Accept-Encoding, "
		    "Authorization");
		http_header(h, "Access-Control-Max-Age", "86400");
		http_header(h, "Content-Length", "0");
		http_end(h);
		return;
	}
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(http_route(h), routes[i].path) == 0) {
			r = &routes[i];
			break;
		}
	if (r != NULL && r->fn == handle_page && !app->conf.web_ui)
		r = NULL;	/* WEB_UI=0: no page, as if never there */
	if (r == NULL) {
		answer_fail(h, FAIL_NO_ROUTE, NULL);
		return;
	}
	if (strcmp(m, r->method) != 0 && !(strcmp(r->method, "GET") == 0 &&
	    strcmp(m, "HEAD") == 0)) {
		http_header(h, "Allow", strcmp(r->method, "GET") == 0 ?
		    "GET, HEAD, OPTIONS" : "POST, OPTIONS");
		answer_fail(h, FAIL_METHOD, NULL);
		return;
	}
	if (!admit_request(app->admit, h))
		return;		/* 401 or 429 */
	if (r->slow && http_can_park(h) && (s = malloc(sizeof(*s))) != NULL) {
		s->app = app;
		s->h = h;
		s->r = r;
		http_park(h);
		http_later(h, HTTP_SLOW, run_slow, s);
		return;
	}
	r->fn(app, h);
}
