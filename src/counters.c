/* SPDX-License-Identifier: ISC */
/*
 * Counters every layer feeds, with atomic operations and no lock:
 * requests by route and status, a latency histogram by route, streams
 * and bytes, upstream errors by kind.  counters_write() puts them in
 * Prometheus's text format for the /metrics page (metrics.c).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counters.h"

static const char *const routes[] = { "/tiktok", "/stream", "/download",
    "/download-slideshow", "/download-audio", "/health", "/metrics",
    "other" };
#define NROUTES	(sizeof(routes) / sizeof(routes[0]))
#define NLIMITED 5	/* routes[] starts with the routes with a budget */

static const double buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5, 1, 2.5, 5, 10, 30, 60 };
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

static const char *const upnames[UP_MAX] = { NULL, "extract_not_found",
    "extract_private", "extract_blocked", "extract_unsupported",
    "extract_timeout", "extract_busy", "extract_other",
    "extract_unreadable", "extract_unreachable", "cdn_status",
    "cdn_timeout", "cdn_connect", "cdn_cut" };

static unsigned long	 by_status[NROUTES][600];
static unsigned long	 hist[NROUTES][NBUCKETS + 1];
static unsigned long long sum_us[NROUTES];
static unsigned long	 upstream[UP_MAX];
static unsigned long	 limited[NROUTES];
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
counters_request(const char *route, int status, double seconds)
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
counters_stream(int delta)
{
	__atomic_add_fetch(&streams, delta, __ATOMIC_RELAXED);
}

void
counters_bytes(unsigned long long n)
{
	__atomic_add_fetch(&bytes, n, __ATOMIC_RELAXED);
}

void
counters_upstream(enum counter_upstream k)
{
	if (k > UP_NONE && k < UP_MAX)
		__atomic_add_fetch(&upstream[k], 1, __ATOMIC_RELAXED);
}

/* Count a request refused past its budget (429). */
void
counters_limited(const char *route)
{
	__atomic_add_fetch(&limited[route_index(route)], 1, __ATOMIC_RELAXED);
}

#define LOAD(x)	__atomic_load_n(&(x), __ATOMIC_RELAXED)

/* One unlabelled sample with its HELP and TYPE lines. */
void
counters_one(FILE *f, const char *name, const char *type, const char *help,
    unsigned long long value)
{
	fprintf(f, "# HELP tiktok_fcgi_%s %s\n# TYPE tiktok_fcgi_%s %s\n"
	    "tiktok_fcgi_%s %llu\n", name, help, name, type, name, value);
}

/*
 * The counters in Prometheus's text format (0.0.4), with the page's
 * helper one() for plain samples.
 */
void
counters_write(FILE *f)
{
	size_t		 r, b, s;
	unsigned long	 cum;

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

	counters_one(f, "streams", "gauge", "Downloads being streamed.", LOAD(streams));
	counters_one(f, "stream_bytes_total", "counter", "Body bytes sent by /stream "
	    "and /download.", LOAD(bytes));

	fprintf(f, "# HELP tiktok_fcgi_upstream_errors_total Errors from "
	    "yt-dlp and the CDN, by kind.\n"
	    "# TYPE tiktok_fcgi_upstream_errors_total counter\n");
	for (r = UP_NONE + 1; r < UP_MAX; r++)
		fprintf(f, "tiktok_fcgi_upstream_errors_total{kind=\"%s\"} "
		    "%lu\n", upnames[r], LOAD(upstream[r]));

	fprintf(f, "# HELP tiktok_fcgi_limited_total Requests refused past "
	    "their budget (429), by route.\n"
	    "# TYPE tiktok_fcgi_limited_total counter\n");
	for (r = 0; r < NLIMITED; r++)
		fprintf(f, "tiktok_fcgi_limited_total{route=\"%s\"} %lu\n",
		    routes[r], LOAD(limited[r]));
}
