/* SPDX-License-Identifier: ISC */
/*
 * GET /metrics: the counters (counters.c), the pool, the cache and the
 * slideshow renderer, in Prometheus's text format.  A handler like the
 * others: it reads the services, nobody includes it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admit.h"
#include "answer.h"
#include "app.h"
#include "cache.h"
#include "counters.h"
#include "egress.h"
#include "handlers.h"
#include "http.h"
#include "pool.h"
#include "procstat.h"
#include "render.h"
#include "shared.h"

/* Each egress (egress.h), labelled by id and proxy (no credentials). */
static void
egress_metrics(FILE *f)
{
	static const char *const fam[][3] = {
		{ "egress_up", "gauge", "1 when the egress extracts, 0 while "
		    "it rests (TikTok refused it)." },
		{ "egress_successes_total", "counter", "Extractions through "
		    "the egress." },
		{ "egress_blocks_total", "counter", "Times TikTok refused the "
		    "egress (HTTP 403/429)." },
		{ "egress_back_in_seconds", "gauge", "Seconds until a resting "
		    "egress is tried again." },
	};
	struct egress_stats	 es;
	unsigned long		 v;
	size_t			 k;
	int			 i;

	if (egress_count() == 0)
		return;
	for (k = 0; k < sizeof(fam) / sizeof(fam[0]); k++) {
		fprintf(f, "# HELP tiktok_fcgi_%s %s\n# TYPE tiktok_fcgi_%s "
		    "%s\n", fam[k][0], fam[k][2], fam[k][0], fam[k][1]);
		for (i = 0; egress_stats(i, &es) == 0; i++) {
			v = k == 0 ? !es.resting : k == 1 ? es.successes :
			    k == 2 ? es.blocks :
			    (unsigned long)((es.back_in_ms + 999) / 1000);
			fprintf(f, "tiktok_fcgi_%s{egress=\"%s\",proxy=\"%s\"} "
			    "%lu\n", fam[k][0], es.id, es.shown, v);
		}
	}
}

/*
 * The memory of this process, and of each process of the pool (labelled
 * by pid and role: parent or helper): RSS, and PSS (shared pages divided
 * among their sharers).
 */
static void
memory_metrics(FILE *f, struct app *app)
{
	static const char *const fam[][2] = {
		{ "helper_rss_bytes", "Resident memory of each process of "
		    "the helper pool." },
		{ "helper_pss_bytes", "Proportional memory (shared pages "
		    "divided among their sharers) of each process of the "
		    "helper pool." },
	};
	struct pool_proc	*pp = NULL;
	long			 v;
	int			 i, k, n = 0;

	v = procstat_pss_kb(getpid());
	counters_one(f, "pss_bytes", "gauge", "Proportional memory of "
	    "tiktok-fcgi itself.", v > 0 ? 1024ULL * (unsigned long)v : 0);
	if (app->pool != NULL &&
	    (pp = calloc(POOL_PROCS_MAX, sizeof(*pp))) != NULL)
		n = pool_procs(app->pool, pp, POOL_PROCS_MAX);
	for (k = 0; k < 2; k++) {
		fprintf(f, "# HELP tiktok_fcgi_%s %s\n# TYPE tiktok_fcgi_%s "
		    "gauge\n", fam[k][0], fam[k][1], fam[k][0]);
		for (i = 0; i < n; i++) {
			v = k == 0 ? pp[i].rss_kb : pp[i].pss_kb;
			if (v >= 0)
				fprintf(f, "tiktok_fcgi_%s{pid=\"%d\",role="
				    "\"%s\"} %lld\n", fam[k][0],
				    (int)pp[i].pid, pp[i].parent ? "parent" :
				    "helper", 1024LL * v);
		}
	}
	free(pp);
}

/* The whole exposition; the caller frees it.  NULL on failure. */
static char *
metrics_text(struct app *app)
{
	char			*buf = NULL;
	size_t			 len = 0;
	FILE			*f;
	struct pool_stats	 ps;
	struct cache_stats	 cs;
	struct render_stats	 ss;
	struct shared_stats	 rs;
	struct admit_stats	 as;
	char			*ver;
	int			 age;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return NULL;
	counters_write(f);

	memset(&ps, 0, sizeof(ps));
	if (app->pool != NULL)
		pool_stats(app->pool, &ps);
	counters_one(f, "pool_helpers", "gauge", "Helpers alive and ready.",
	    ps.helpers);
	counters_one(f, "pool_max_helpers", "gauge", "Helpers at most "
	    "(HELPERS).", ps.max_helpers);
	counters_one(f, "pool_busy", "gauge", "Helpers with work.", ps.busy);
	counters_one(f, "pool_inflight", "gauge", "Extractions running.", ps.inflight);
	counters_one(f, "pool_queued", "gauge", "Extractions waiting.", ps.queued);
	counters_one(f, "pool_restarts_total", "counter", "Helpers restarted after a "
	    "crash or a timeout.", ps.restarts);
	counters_one(f, "pool_timeouts_total", "counter", "Extractions past "
	    "YTDLP_TIMEOUT.", ps.timeouts);
	counters_one(f, "pool_extractions_total", "counter", "Extractions sent to "
	    "helpers.", ps.requests);
	counters_one(f, "ytdlp_outdated", "gauge", "1 when extractions keep failing "
	    "because answers cannot be read (yt-dlp outdated).", ps.outdated);
	counters_one(f, "tiktok_blocking", "gauge", "1 when TikTok refused several "
	    "posts lately (this address is blocked).", ps.blocking);
	ver = app->pool != NULL ? pool_version(app->pool) : NULL;
	age = pool_version_age(ver, time(NULL));
	if (age >= 0)
		counters_one(f, "ytdlp_age_days", "gauge", "Days since the running "
		    "yt-dlp was released.", (unsigned long)age);
	free(ver);

	memset(&cs, 0, sizeof(cs));
	if (app->cache != NULL)
		cache_stats(app->cache, &cs);
	counters_one(f, "cache_hits_total", "counter", "Lookups answered from the "
	    "cache or a shared extraction.", cs.hits);
	counters_one(f, "cache_misses_total", "counter", "Lookups that extracted.",
	    cs.misses);
	counters_one(f, "cache_entries", "gauge", "Posts cached.", cs.entries);

	memset(&ss, 0, sizeof(ss));
	if (app->renders != NULL)
		render_stats(app->renders, &ss);
	counters_one(f, "slideshow_running", "gauge", "Renders running.", ss.running);
	counters_one(f, "slideshow_renders_total", "counter", "Renders started.",
	    ss.renders);
	counters_one(f, "slideshow_rejected_total", "counter", "Renders refused at "
	    "SLIDESHOW_MAX.", ss.rejected);
	counters_one(f, "slideshow_failed_total", "counter", "Renders that failed.",
	    ss.failed);

	egress_metrics(f);
	memory_metrics(f, app);
	if (app->shared != NULL) {
		shared_stats(app->shared, &rs);
		counters_one(f, "redis_up", "gauge", "1 while Redis (REDIS_URL) "
		    "answers.", (unsigned long)rs.up);
		counters_one(f, "redis_hits_total", "counter", "Posts read from "
		    "Redis (another instance extracted them).", rs.hits);
		counters_one(f, "redis_stored_total", "counter", "Posts this "
		    "instance extracted and shared.", rs.stored);
		counters_one(f, "redis_waits_total", "counter", "Waits for "
		    "another instance's extraction.", rs.waits);
		counters_one(f, "redis_alone_total", "counter", "Extractions "
		    "made without the fleet (Redis down, or a wait too long).",
		    rs.alone);
		counters_one(f, "redis_errors_total", "counter", "Redis calls "
		    "that failed.", rs.errors);
	}

	admit_stats(app->admit, &as);
	fprintf(f, "# HELP tiktok_fcgi_limit_clients Clients with a window, by "
	    "budget (RATE_LIMIT_CLIENTS at most).\n"
	    "# TYPE tiktok_fcgi_limit_clients gauge\n"
	    "tiktok_fcgi_limit_clients{budget=\"api\"} %zu\n"
	    "tiktok_fcgi_limit_clients{budget=\"media\"} %zu\n",
	    as.clients[LIMIT_API], as.clients[LIMIT_MEDIA]);
	if (as.shared) {
		counters_one(f, "limit_redis_up", "gauge", "1 while the fleet "
		    "counts budgets in Redis, 0 while this instance counts "
		    "alone.", (unsigned long)as.shared_up);
		counters_one(f, "limit_alone_total", "counter", "Requests "
		    "counted without Redis (down, or busy past REDIS_TIMEOUT).",
		    as.alone);
	}

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
		answer_fail(h, FAIL_NOMEM, NULL);
		return;
	}
	http_header(h, "Content-Type", "text/plain; version=0.0.4; "
	    "charset=utf-8");
	snprintf(cl, sizeof(cl), "%zu", strlen(text));
	http_header(h, "Content-Length", cl);
	http_write(h, text, strlen(text));
	free(text);
}
