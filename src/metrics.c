/*
 * GET /metrics: requests by route and status, a latency histogram by
 * route, the pool, the cache, streams and bytes, slideshow renders and
 * upstream errors by kind, in Prometheus's text format.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cache.h"
#include "http.h"
#include "metrics.h"
#include "pool.h"
#include "slideshow.h"

static const char *const routes[] = { "/tiktok", "/stream", "/download",
    "/download-slideshow", "/health", "/metrics", "other" };
#define NROUTES	(sizeof(routes) / sizeof(routes[0]))

static const double buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5, 1, 2.5, 5, 10, 30, 60 };
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

static const char *const upnames[UP_MAX] = { "extract_not_found",
    "extract_private", "extract_blocked", "extract_unsupported",
    "extract_timeout", "extract_busy", "extract_other",
    "extract_unreadable", "cdn_status",
    "cdn_timeout", "cdn_connect", "cdn_cut" };

static unsigned long	 by_status[NROUTES][600];
static unsigned long	 hist[NROUTES][NBUCKETS + 1];
static unsigned long long sum_us[NROUTES];
static unsigned long	 upstream[UP_MAX];
static int		 streams;
static unsigned long long bytes;

static size_t
route_index(const char *route)
{
	size_t	 i;

	for (i = 0; i + 1 < NROUTES; i++)
		if (strcmp(routes[i], route) == 0)
			return i;
	return NROUTES - 1;
}

/* Count one answered request. */
void
metrics_request(const char *route, int status, double seconds)
{
	size_t	 r = route_index(route), b;

	if (status < 100 || status > 599)
		status = 500;
	__atomic_add_fetch(&by_status[r][status], 1, __ATOMIC_RELAXED);
	for (b = 0; b < NBUCKETS && seconds > buckets[b]; b++)
		continue;
	__atomic_add_fetch(&hist[r][b], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&sum_us[r], (unsigned long long)(seconds * 1e6),
	    __ATOMIC_RELAXED);
}

void
metrics_stream(int delta)
{
	__atomic_add_fetch(&streams, delta, __ATOMIC_RELAXED);
}

void
metrics_bytes(unsigned long long n)
{
	__atomic_add_fetch(&bytes, n, __ATOMIC_RELAXED);
}

void
metrics_upstream(enum metric_upstream k)
{
	if (k < UP_MAX)
		__atomic_add_fetch(&upstream[k], 1, __ATOMIC_RELAXED);
}

#define LOAD(x)	__atomic_load_n(&(x), __ATOMIC_RELAXED)

/* One unlabelled sample with its HELP and TYPE lines. */
static void
one(FILE *f, const char *name, const char *type, const char *help,
    unsigned long long value)
{
	fprintf(f, "# HELP tiktok_fcgi_%s %s\n# TYPE tiktok_fcgi_%s %s\n"
	    "tiktok_fcgi_%s %llu\n", name, help, name, type, name, value);
}

/* The whole exposition; the caller frees it.  NULL on failure. */
char *
metrics_text(struct app *app)
{
	char			*buf = NULL;
	size_t			 len = 0, r, b, s;
	FILE			*f;
	unsigned long		 cum;
	struct pool_stats	 ps;
	struct cache_stats	 cs;
	struct slideshow_stats	 ss;
	char			*ver;
	int			 age;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return NULL;
	fprintf(f, "# HELP tiktok_fcgi_requests_total Requests answered, by "
	    "route and status.\n# TYPE tiktok_fcgi_requests_total counter\n");
	for (r = 0; r < NROUTES; r++)
		for (s = 100; s < 600; s++)
			if (LOAD(by_status[r][s]) > 0)
				fprintf(f, "tiktok_fcgi_requests_total{route=\"%s\","
				    "status=\"%zu\"} %lu\n", routes[r], s,
				    LOAD(by_status[r][s]));
	fprintf(f, "# HELP tiktok_fcgi_request_seconds Time to answer, by "
	    "route (streams: until the last byte).\n"
	    "# TYPE tiktok_fcgi_request_seconds histogram\n");
	for (r = 0; r < NROUTES; r++) {
		cum = 0;
		for (b = 0; b <= NBUCKETS; b++) {
			cum += LOAD(hist[r][b]);
			if (b < NBUCKETS)
				fprintf(f, "tiktok_fcgi_request_seconds_bucket"
				    "{route=\"%s\",le=\"%g\"} %lu\n", routes[r],
				    buckets[b], cum);
			else
				fprintf(f, "tiktok_fcgi_request_seconds_bucket"
				    "{route=\"%s\",le=\"+Inf\"} %lu\n",
				    routes[r], cum);
		}
		fprintf(f, "tiktok_fcgi_request_seconds_sum{route=\"%s\"} "
		    "%.6f\n", routes[r], LOAD(sum_us[r]) / 1e6);
		fprintf(f, "tiktok_fcgi_request_seconds_count{route=\"%s\"} "
		    "%lu\n", routes[r], cum);
	}

	memset(&ps, 0, sizeof(ps));
	if (app->pool != NULL)
		pool_stats(app->pool, &ps);
	one(f, "pool_helpers", "gauge", "Helpers alive and ready.",
	    ps.helpers);
	one(f, "pool_busy", "gauge", "Helpers with work.", ps.busy);
	one(f, "pool_inflight", "gauge", "Extractions running.", ps.inflight);
	one(f, "pool_queued", "gauge", "Extractions waiting.", ps.queued);
	one(f, "pool_restarts_total", "counter", "Helpers restarted after a "
	    "crash or a timeout.", ps.restarts);
	one(f, "pool_timeouts_total", "counter", "Extractions past "
	    "YTDLP_TIMEOUT.", ps.timeouts);
	one(f, "pool_extractions_total", "counter", "Extractions sent to "
	    "helpers.", ps.requests);
	one(f, "ytdlp_outdated", "gauge", "1 when extractions keep failing "
	    "because answers cannot be read (yt-dlp outdated).", ps.outdated);
	one(f, "tiktok_blocking", "gauge", "1 when TikTok refused several "
	    "posts lately (this address is blocked).", ps.blocking);
	ver = app->pool != NULL ? pool_version(app->pool) : NULL;
	age = pool_version_age(ver, time(NULL));
	if (age >= 0)
		one(f, "ytdlp_age_days", "gauge", "Days since the running "
		    "yt-dlp was released.", (unsigned long)age);
	free(ver);

	memset(&cs, 0, sizeof(cs));
	if (app->cache != NULL)
		cache_stats(app->cache, &cs);
	one(f, "cache_hits_total", "counter", "Lookups answered from the "
	    "cache or a shared extraction.", cs.hits);
	one(f, "cache_misses_total", "counter", "Lookups that extracted.",
	    cs.misses);
	one(f, "cache_entries", "gauge", "Posts cached.", cs.entries);

	one(f, "streams", "gauge", "Downloads being streamed.", LOAD(streams));
	one(f, "stream_bytes_total", "counter", "Body bytes sent by /stream "
	    "and /download.", LOAD(bytes));

	memset(&ss, 0, sizeof(ss));
	if (app->slideshow != NULL)
		slideshow_stats(app->slideshow, &ss);
	one(f, "slideshow_running", "gauge", "Renders running.", ss.running);
	one(f, "slideshow_renders_total", "counter", "Renders started.",
	    ss.renders);
	one(f, "slideshow_rejected_total", "counter", "Renders refused at "
	    "SLIDESHOW_MAX.", ss.rejected);
	one(f, "slideshow_failed_total", "counter", "Renders that failed.",
	    ss.failed);

	fprintf(f, "# HELP tiktok_fcgi_upstream_errors_total Errors from "
	    "yt-dlp and the CDN, by kind.\n"
	    "# TYPE tiktok_fcgi_upstream_errors_total counter\n");
	for (r = 0; r < UP_MAX; r++)
		fprintf(f, "tiktok_fcgi_upstream_errors_total{kind=\"%s\"} "
		    "%lu\n", upnames[r], LOAD(upstream[r]));
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

void
handle_metrics(struct app *app, struct http *h)
{
	char	*text, cl[32];

	if ((text = metrics_text(app)) == NULL) {
		http_error(h, 500, "Out of memory");
		return;
	}
	http_header(h, "Content-Type", "text/plain; version=0.0.4; "
	    "charset=utf-8");
	snprintf(cl, sizeof(cl), "%zu", strlen(text));
	http_header(h, "Content-Length", cl);
	http_write(h, text, strlen(text));
	free(text);
}
