/* SPDX-License-Identifier: ISC */
/*
 * What a budget check costs (bench/README.md): the table alone (one
 * thread, then several, over a million distinct clients), and a whole
 * admission as the router makes it (client resolved from REMOTE_ADDR and
 * X-Forwarded-For, table, RateLimit fields written), without and, with
 * REDIS_URL in the environment, with Redis counting.  A measurement, not
 * a test.
 *
 *	make bench/bench_limit && bench/bench_limit [THREADS ...]
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admit.h"
#include "conf.h"
#include "http.h"
#include "limit.h"

#define CLIENTS		1000000
#define PER_THREAD	2000000

static double
now_s(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long
rss_kb(void)
{
	FILE	*f = fopen("/proc/self/status", "r");
	char	 line[256];
	long	 kb = -1;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	if (f != NULL)
		fclose(f);
	return kb;
}

struct run {
	struct limit_table	*t;
	struct admit		*ad;
	unsigned		 seed;
	int			 n;
};

static void *
table_run(void *arg)
{
	struct run		*r = arg;
	struct limit_rate	 rate = { 20, 60 };
	struct limit_verdict	 v;
	unsigned		 x = r->seed;
	int			 i;

	for (i = 0; i < r->n; i++) {
		x = x * 1103515245 + 12345;
		limit_table_hit(r->t, 4, x % CLIENTS, &rate, 1000 + i / 1000,
		    &v);
	}
	return NULL;
}

/* The request of a memory front: REMOTE_ADDR and X-Forwarded-For. */
struct req {
	char	 xff[32];
};

static const char *
req_param(void *ctx, const char *name)
{
	struct req	*q = ctx;

	if (strcmp(name, "REQUEST_METHOD") == 0)
		return "POST";
	if (strcmp(name, "REQUEST_URI") == 0)
		return "/tiktok";
	if (strcmp(name, "REMOTE_ADDR") == 0)
		return "10.0.0.1";
	if (strcmp(name, "HTTP_X_FORWARDED_FOR") == 0)
		return q->xff;
	return NULL;
}

static const struct http_io req_io = { req_param, NULL, NULL, NULL, NULL,
    NULL };

static void *
admit_run(void *arg)
{
	struct run	*r = arg;
	struct req	 q;
	struct http	*h;
	unsigned	 x = r->seed;
	int		 i;

	for (i = 0; i < r->n; i++) {
		x = x * 1103515245 + 12345;
		snprintf(q.xff, sizeof(q.xff), "198.%u.%u.%u",
		    (x >> 16) % 16, (x >> 8) & 255, x & 255);
		if ((h = http_new(&req_io, &q)) == NULL)
			abort();
		if (r->ad != NULL)
			admit_request(r->ad, h);
		http_free(h);
	}
	return NULL;
}

static double
run_threads(int nthreads, void *(*fn)(void *), struct run *proto)
{
	pthread_t	*th = calloc((size_t)nthreads, sizeof(*th));
	struct run	*rs = calloc((size_t)nthreads, sizeof(*rs));
	double		 t0;
	int		 i;

	t0 = now_s();
	for (i = 0; i < nthreads; i++) {
		rs[i] = *proto;
		rs[i].seed = (unsigned)i * 7919 + 1;
		pthread_create(&th[i], NULL, fn, &rs[i]);
	}
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	t0 = now_s() - t0;
	free(th);
	free(rs);
	return t0;
}

int
main(int argc, char *argv[])
{
	struct run	 r;
	struct conf	 c;
	char		 err[512];
	double		 secs;
	long		 before;
	int		 i, n, ths[8] = { 1, 2, 8 }, nths = 3;

	if (argc > 1) {
		nths = 0;
		for (i = 1; i < argc && nths < 8; i++)
			ths[nths++] = atoi(argv[i]);
	}
	memset(&r, 0, sizeof(r));
	before = rss_kb();
	r.t = limit_table_new(65536);
	printf("table: %zu slots, %zu KB\n", limit_table_slots(r.t),
	    limit_table_bytes(r.t) / 1024);
	for (i = 0; i < nths; i++) {
		n = ths[i];
		r.n = PER_THREAD;
		secs = run_threads(n, table_run, &r);
		printf("table, %d thread(s), %d checks over %d clients: %.0f ns "
		    "a check, %.1f M checks/s; RSS +%ld KB\n", n, n * PER_THREAD,
		    CLIENTS, secs * 1e9 / PER_THREAD, n * PER_THREAD / secs / 1e6,
		    rss_kb() - before);
	}
	limit_table_free(r.t);

	/* The request object alone, to tell admission's own cost. */
	r.ad = NULL;
	r.n = 500000;
	secs = run_threads(1, admit_run, &r);
	printf("the request object alone (http_new, http_free), 1 thread: "
	    "%.2f us\n", secs * 1e6 / r.n);
	if (conf_load(&c, NULL, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	free(c.rate_limit);
	c.rate_limit = strdup("20/60");
	free(c.trusted_proxies);
	c.trusted_proxies = strdup("10.0.0.0/8");
	if ((r.ad = admit_new(&c, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	for (i = 0; i < nths; i++) {
		n = ths[i];
		r.n = c.redis_url != NULL ? 20000 : 500000;
		secs = run_threads(n, admit_run, &r);
		printf("admission%s, %d thread(s), %d requests: %.2f us a "
		    "request (client, table, fields; http_new included)\n",
		    c.redis_url != NULL ? " with Redis" : "", n, n * r.n,
		    secs * 1e6 / r.n);
	}
	admit_free(r.ad);
	conf_clear(&c);
	return 0;
}
