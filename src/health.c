/* SPDX-License-Identifier: ISC */
/*
 * GET /health: liveness and the numbers an operator looks at first.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "admit.h"
#include "app.h"
#include "egress.h"
#include "fetch.h"
#include "guard.h"
#include "handlers.h"
#include "cache.h"
#include "http.h"
#include "pool.h"
#include "procstat.h"
#include "render.h"
#include "shared.h"

#define YTDLP_OLD_DAYS	90

/* A number member. */
static void
num(struct json_object *o, const char *key, long long v)
{
	json_object_object_add(o, key, json_object_new_int64(v));
}

/*
 * Is the client (REMOTE_ADDR) on a loopback or private address: the
 * operator's balancer or monitor rather than the public?  0 when the web
 * server gives no address.
 */
static int
client_private(struct http *h)
{
	const char		*a = http_param(h, "REMOTE_ADDR");
	struct sockaddr_in	 in;
	struct sockaddr_in6	 in6;

	memset(&in, 0, sizeof(in));
	memset(&in6, 0, sizeof(in6));
	if (a == NULL)
		return 0;
	if (inet_pton(AF_INET, a, &in.sin_addr) == 1) {
		in.sin_family = AF_INET;
		return !guard_addr_public((struct sockaddr *)&in);
	}
	if (inet_pton(AF_INET6, a, &in6.sin6_addr) == 1) {
		in6.sin6_family = AF_INET6;
		return !guard_addr_public((struct sockaddr *)&in6);
	}
	return 0;
}

/*
 * Each way out (egress.h), credentials never shown, the proxy's address
 * only to the operator's own networks (shown); a warning in w when
 * TikTok refuses every one of them.
 */
static struct json_object *
egress_json(struct json_object *w, int shown)
{
	struct json_object	*a = json_object_new_array(), *e;
	struct egress_stats	 es;
	int			 i, resting = 0;

	for (i = 0; egress_stats(i, &es) == 0; i++) {
		e = json_object_new_object();
		json_object_object_add(e, "id", json_object_new_string(es.id));
		if (shown)
			json_object_object_add(e, "proxy",
			    json_object_new_string(es.shown));
		json_object_object_add(e, "state",
		    json_object_new_string(es.resting ? "resting" : "ok"));
		num(e, "successes", (long long)es.successes);
		num(e, "blocks", (long long)es.blocks);
		num(e, "back_in_s", (es.back_in_ms + 999) / 1000);
		json_object_array_add(a, e);
		resting += es.resting;
	}
	if (i > 0 && resting == i)
		json_object_array_add(w, json_object_new_string("TikTok "
		    "refuses every egress (OUTBOUND_PROXY): each rests; see "
		    "\"egress\""));
	return a;
}

/* The fleet's shared cache (shared.h): "off" without REDIS_URL. */
static struct json_object *
redis_json(struct app *app, struct json_object *w)
{
	struct json_object	*r = json_object_new_object();
	struct shared_stats	 st;

	if (app->shared == NULL) {
		json_object_object_add(r, "state",
		    json_object_new_string("off"));
		return r;
	}
	shared_stats(app->shared, &st);
	json_object_object_add(r, "state",
	    json_object_new_string(st.up ? "up" : "down"));
	num(r, "hits", (long long)st.hits);
	num(r, "stored", (long long)st.stored);
	num(r, "waits", (long long)st.waits);
	num(r, "alone", (long long)st.alone);
	num(r, "errors", (long long)st.errors);
	num(r, "down_s", st.down_ms / 1000);
	if (st.down_ms != 0)
		json_object_array_add(w, json_object_new_string("Redis "
		    "(REDIS_URL) cannot be reached: this instance extracts "
		    "without the fleet until it is back"));
	return r;
}

/* A budget as N/SECONDS, or null. */
static struct json_object *
rate_json(const struct limit_rate *r)
{
	char	 buf[32];

	if (r->n == 0)
		return NULL;
	snprintf(buf, sizeof(buf), "%d/%d", r->n, r->w);
	return json_object_new_string(buf);
}

/*
 * The budgets (admit.h): settings, clients tracked, API keys, who
 * counts (this instance, the fleet through Redis, or this instance
 * alone while Redis is down, with a warning in w), 429s so far.
 */
static struct json_object *
limits_json(struct app *app, struct json_object *w)
{
	struct json_object	*o = json_object_new_object(), *k, *l;
	struct admit_stats	 st;
	const struct conf	*c = &app->conf;
	char			 when[32];
	struct tm		 tm;

	admit_stats(app->admit, &st);
	json_object_object_add(o, "api", rate_json(&st.rate[LIMIT_API]));
	json_object_object_add(o, "media", rate_json(&st.rate[LIMIT_MEDIA]));
	json_object_object_add(o, "counting", json_object_new_string(
	    st.slots == 0 && !st.keys_on ? "off" : !st.shared ? "local" :
	    st.shared_up ? "fleet" : "alone"));
	if (st.shared && !st.shared_up)
		json_object_array_add(w, json_object_new_string("Redis "
		    "(REDIS_URL) cannot be reached: rate limits are counted "
		    "by each instance alone until it is back"));
	l = json_object_new_object();
	num(l, "api", (long long)st.clients[LIMIT_API]);
	num(l, "media", (long long)st.clients[LIMIT_MEDIA]);
	json_object_object_add(o, "clients", l);
	num(o, "clients_max", (long long)st.slots);
	num(o, "memory_kb", (long long)(st.bytes / 1024));
	json_object_object_add(o, "trusted_proxies", c->trusted_proxies ?
	    json_object_new_string(c->trusted_proxies) : NULL);
	json_object_object_add(o, "real_ip_header", json_object_new_string(
	    c->real_ip_header != NULL ? c->real_ip_header :
	    "X-Forwarded-For"));
	k = NULL;
	if (st.keys_on) {
		k = json_object_new_object();
		num(k, "keys", (long long)st.keys);
		json_object_object_add(k, "required",
		    json_object_new_boolean(st.required));
		gmtime_r(&st.keys_loaded, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_object_object_add(k, "loaded",
		    json_object_new_string(when));
	}
	json_object_object_add(o, "api_keys", k);
	l = json_object_new_object();
	num(l, "api", (long long)st.limited[LIMIT_API]);
	num(l, "media", (long long)st.limited[LIMIT_MEDIA]);
	json_object_object_add(o, "limited", l);
	num(o, "counted_alone", (long long)st.alone);
	return o;
}

/*
 * The memory of this process and of each process of the pool (the
 * helper parent and the helpers): RSS, and PSS (shared pages divided
 * among their sharers: what a process costs), each and summed.
 */
static struct json_object *
memory_json(struct app *app)
{
	struct json_object	*m, *a, *e;
	struct pool_proc	*pp;
	long long		 rss = 0, pss = 0;
	int			 i, n = 0;

	m = json_object_new_object();
	num(m, "rss_kb", procstat_rss_kb(getpid()));
	num(m, "pss_kb", procstat_pss_kb(getpid()));
	a = json_object_new_array();
	if (app->pool != NULL &&
	    (pp = calloc(POOL_PROCS_MAX, sizeof(*pp))) != NULL) {
		n = pool_procs(app->pool, pp, POOL_PROCS_MAX);
		for (i = 0; i < n; i++) {
			e = json_object_new_object();
			num(e, "pid", pp[i].pid);
			json_object_object_add(e, "role",
			    json_object_new_string(pp[i].parent ? "parent" :
			    "helper"));
			json_object_object_add(e, "state",
			    json_object_new_string(pp[i].state));
			num(e, "inflight", pp[i].inflight);
			num(e, "served", pp[i].served);
			num(e, "rss_kb", pp[i].rss_kb);
			num(e, "pss_kb", pp[i].pss_kb);
			json_object_array_add(a, e);
			rss += pp[i].rss_kb > 0 ? pp[i].rss_kb : 0;
			pss += pp[i].pss_kb > 0 ? pp[i].pss_kb : 0;
		}
		free(pp);
	}
	num(m, "helpers_rss_kb", rss);
	num(m, "helpers_pss_kb", pss);
	json_object_object_add(m, "helpers", a);
	return m;
}

/*
 * Answer the health document.  "degraded" with 503 when no helper is
 * alive, so that a load balancer takes the instance out.
 */
void
handle_health(struct app *app, struct http *h)
{
	struct json_object	*o, *t, *p, *c, *f, *s;
	struct render_stats	 ss;
	struct pool_stats	 ps;
	struct cache_stats	 cs;
	struct rlimit		 rl;
	char			 now[32], *ver;
	struct tm		 tm;
	time_t			 tnow = time(NULL);
	int			 degraded, age;
	struct json_object	*w;

	memset(&ps, 0, sizeof(ps));
	memset(&cs, 0, sizeof(cs));
	if (app->pool != NULL)
		pool_stats(app->pool, &ps);
	if (app->cache != NULL)
		cache_stats(app->cache, &cs);
	ver = app->pool != NULL ? pool_version(app->pool) : NULL;
	degraded = ps.helpers == 0;

	gmtime_r(&tnow, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);

	o = json_object_new_object();
	json_object_object_add(o, "status",
	    json_object_new_string(degraded ? "degraded" : "ok"));
	json_object_object_add(o, "time", json_object_new_string(now));
	json_object_object_add(o, "ytdlp",
	    ver != NULL ? json_object_new_string(ver) : NULL);
	age = pool_version_age(ver, tnow);
	json_object_object_add(o, "ytdlp_age_days",
	    age >= 0 ? json_object_new_int(age) : NULL);
	num(o, "uptime_s", (long long)(tnow - app->started));
	/* What an operator must act on, in words. */
	w = json_object_new_array();
	if (ps.outdated)
		json_object_array_add(w, json_object_new_string("extractions "
		    "keep failing because TikTok's answers cannot be read: "
		    "yt-dlp is probably outdated (run tiktok-fcgi-ytdlp "
		    "update)"));
	if (age > YTDLP_OLD_DAYS)
		json_object_array_add(w, json_object_new_string("yt-dlp is "
		    "more than 90 days old: TikTok changes often (run "
		    "tiktok-fcgi-ytdlp update)"));
	if (ps.blocking)
		json_object_array_add(w, json_object_new_string("TikTok is "
		    "refusing this address: several posts were refused in "
		    "the last minutes"));
	json_object_object_add(o, "warnings", w);
	json_object_object_add(o, "egress", egress_json(w,
	    client_private(h)));
	json_object_object_add(o, "redis", redis_json(app, w));
	json_object_object_add(o, "limits", limits_json(app, w));

	t = json_object_new_object();
	num(t, "max", app->threads_max);
	num(t, "busy", __atomic_load_n(&app->threads_busy, __ATOMIC_RELAXED));
	json_object_object_add(o, "threads", t);

	p = json_object_new_object();
	num(p, "helpers", ps.helpers);
	num(p, "max_helpers", ps.max_helpers);
	num(p, "busy", ps.busy);
	num(p, "inflight", ps.inflight);
	num(p, "queued", ps.queued);
	num(p, "restarts", (long long)ps.restarts);
	num(p, "timeouts", (long long)ps.timeouts);
	num(p, "max_concurrency", ps.max_concurrency);
	json_object_object_add(p, "ytdlp_outdated",
	    json_object_new_boolean(ps.outdated));
	json_object_object_add(p, "tiktok_blocking",
	    json_object_new_boolean(ps.blocking));
	json_object_object_add(o, "pool", p);

	c = json_object_new_object();
	num(c, "entries", cs.entries);
	num(c, "inflight", cs.inflight);
	num(c, "hits", (long long)cs.hits);
	num(c, "misses", (long long)cs.misses);
	json_object_object_add(o, "cache", c);

	json_object_object_add(o, "memory", memory_json(app));

	if (app->renders != NULL) {
		render_stats(app->renders, &ss);
		s = json_object_new_object();
		num(s, "running", ss.running);
		num(s, "kept", ss.kept);
		num(s, "renders", (long long)ss.renders);
		num(s, "rejected", (long long)ss.rejected);
		num(s, "failed", (long long)ss.failed);
		json_object_object_add(o, "slideshow", s);
	}

	f = json_object_new_object();
	num(f, "current", procstat_nfds());
	getrlimit(RLIMIT_NOFILE, &rl);
	num(f, "soft_limit", (long long)rl.rlim_cur);
	json_object_object_add(o, "file_descriptors", f);

	http_json(h, degraded ? 503 : 200, o);
	json_object_put(o);
	free(ver);
}
