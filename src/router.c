/*
 * The route table and what every answer shares: CORS, preflight, 404,
 * 405 with Allow, HEAD for GET routes.
 */
#include "config.h"

#include <string.h>
#include <time.h>

#include "app.h"
#include "http.h"
#include "log.h"
#include "metrics.h"

struct route {
	const char	*path;
	const char	*method;	/* GET (which also takes HEAD) or POST */
	void		 (*fn)(struct app *, struct http *);
};

static const struct route routes[] = {
	{ "/tiktok",	"POST",	handle_tiktok },
	{ "/stream",	"GET",	handle_stream },
	{ "/download",	"GET",	handle_download },
	{ "/download-slideshow", "GET", handle_slideshow },
	{ "/health",	"GET",	handle_health },
	{ "/metrics",	"GET",	handle_metrics },
};

/*
 * Answer one request: find its route by the last path segment (so the
 * app may be mounted under any prefix), check the method, run the
 * handler, and make sure an answer went out.
 */
static void	 dispatch(struct app *, struct http *);

static double
seconds(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Answer one request and count it (route, status, time) for /metrics. */
void
router_dispatch(struct app *app, struct http *h)
{
	double	 t0 = seconds();

	dispatch(app, h);
	metrics_request(http_route(h), http_get_status(h), seconds() - t0);
}

static void
dispatch(struct app *app, struct http *h)
{
	const struct route	*r = NULL;
	const char		*m = http_method(h);
	size_t			 i;

	http_header(h, "Access-Control-Allow-Origin", "*");
	http_header(h, "Access-Control-Expose-Headers",
	    "Content-Disposition, X-Filename, Content-Length");

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
	if (r == NULL) {
		http_error(h, 404, "Route not found");
		return;
	}
	if (strcmp(m, r->method) != 0 && !(strcmp(r->method, "GET") == 0 &&
	    strcmp(m, "HEAD") == 0)) {
		http_header(h, "Allow", strcmp(r->method, "GET") == 0 ?
		    "GET, HEAD, OPTIONS" : "POST, OPTIONS");
		http_error(h, 405, "Method not allowed");
		return;
	}
	r->fn(app, h);
	if (!http_headers_sent(h))
		http_error(h, 500, "Internal server error");
	http_end(h);
}
