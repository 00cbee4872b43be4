/* SPDX-License-Identifier: ISC */
/*
 * The configuration's keys (a part of conf.c, conf_impl.h): each key's
 * name, kind and bounds, the defaults, finding a key by its name or by
 * a name near it, and the table printed for `tiktok-fcgi -K`.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf.h"
#include "conf_impl.h"
#include "log.h"

#ifndef HELPER_SCRIPT_PATH
#define HELPER_SCRIPT_PATH "ytdlp_helper.py"
#endif

/* Where TikTok and Douyin serve pages, short links and media from. */
#define CDN_DOMAINS	"tiktok.com, tiktokcdn.com, tiktokcdn-us.com, " \
	"tiktokcdn-eu.com, tiktokv.com, tiktokv.us, tiktokv.eu, " \
	"ttwstatic.com, ibytedtos.com, ibyteimg.com, byteoversea.com, " \
	"muscdn.com, douyin.com, douyinvod.com, douyinpic.com, " \
	"douyinstatic.com, douyincdn.com, amemv.com, snssdk.com, " \
	"zjcdn.com, bytecdn.cn, byteimg.com, pstatp.com"

#ifndef YTDLP_DIR_PATH
#define YTDLP_DIR_PATH "/var/lib/tiktok-fcgi/yt-dlp"
#endif

#define S(f)	CONF_OFF(f)

const struct conf_key conf_keys[] = {
	{ "BASE_URL",		K_URL,	S(base_url), 0, 0 },
	{ "ALLOWED_HOSTS",	K_STR,	S(allowed_hosts), 0, 0 },
	{ "ENCRYPTION_KEY",	K_STR,	S(encryption_key), 0, 0 },
	{ "TEMP_DIR",		K_STR,	S(temp_dir), 0, 0 },
	{ "COOKIES_PATH",	K_FILE,	S(cookies_path), 0, 0 },
	{ "MAX_WORKERS",	K_INT,	S(max_workers), 1, 1000 },
	{ "YTDLP_TIMEOUT",	K_INT,	S(ytdlp_timeout), 1, 600 },
	{ "DOWNLOAD_TIMEOUT",	K_INT,	S(download_timeout), 1, 3600 },
	{ "FCGI_THREADS",	K_INT,	S(fcgi_threads), 1, 8192 },
	{ "THREAD_STACK_KB",	K_INT,	S(thread_stack_kb), 64, 65536 },
	{ "LISTEN_BACKLOG",	K_INT,	S(listen_backlog), 0, 65535 },
	{ "READ_TIMEOUT",	K_INT,	S(read_timeout), 1, 3600 },
	{ "SEND_TIMEOUT",	K_INT,	S(send_timeout), 1, 3600 },
	{ "HELPERS",		K_INT,	S(helpers), 1, 64 },
	{ "HELPER_MAX_REQUESTS", K_INT,	S(helper_max_requests), 0, 10000000 },
	{ "HELPER_MAX_RSS_MB",	K_INT,	S(helper_max_rss_mb), 0, 65536 },
	{ "HELPER_SCRIPT",	K_FILE,	S(helper_script), 0, 0 },
	{ "QUEUE_MAX",		K_INT,	S(queue_max), 0, 1000000 },
	{ "TOKEN_TTL",		K_INT,	S(token_ttl), 1, 604800 },
	{ "CACHE_TTL",		K_INT,	S(cache_ttl), 0, 86400 },
	{ "CACHE_MAX",		K_INT,	S(cache_max), 0, 1000000 },
	{ "MISSING_TTL",	K_INT,	S(missing_ttl), 0, 3600 },
	{ "OUTBOUND_PROXY",	K_PROXIES, S(outbound_proxy), 0, 0 },
	{ "EGRESS_REST",	K_INT,	S(egress_rest), 1, 86400 },
	{ "REDIS_URL",		K_REDIS, S(redis_url), 0, 0 },
	{ "REDIS_TIMEOUT",	K_INT,	S(redis_timeout_ms), 10, 60000 },
	{ "RATE_LIMIT",		K_RATE,	S(rate_limit), 0, 0 },
	{ "RATE_LIMIT_MEDIA",	K_RATE,	S(rate_limit_media), 0, 0 },
	{ "RATE_LIMIT_CLIENTS",	K_INT,	S(rate_limit_clients), 1024, 16777216 },
	{ "TRUSTED_PROXIES",	K_NETS,	S(trusted_proxies), 0, 0 },
	{ "REAL_IP_HEADER",	K_STR,	S(real_ip_header), 0, 0 },
	{ "API_KEYS_FILE",	K_FILE,	S(api_keys_file), 0, 0 },
	{ "API_KEYS_REQUIRED",	K_BOOL,	S(api_keys_required), 0, 0 },
	{ "CA_FILE",		K_FILE,	S(ca_file), 0, 0 },
	{ "CDN_DOMAINS",	K_STR,	S(cdn_domains), 0, 0 },
	{ "YTDLP_PYTHON",	K_STR,	S(ytdlp_python), 0, 0 },
	{ "YTDLP_PYTHONPATH",	K_STR,	S(ytdlp_pythonpath), 0, 0 },
	{ "YTDLP_DIR",		K_STR,	S(ytdlp_dir), 0, 0 },
	{ "SLIDESHOW_MAX",	K_INT,	S(slideshow_max), 1, 256 },
	{ "SLIDESHOW_TIMEOUT",	K_INT,	S(slideshow_timeout), 1, 3600 },
	{ "RENDER_FETCH_MAX",	K_INT,	S(render_fetch_max_mb), 1, 65536 },
	{ "FFMPEG",		K_STR,	S(ffmpeg), 0, 0 },
	{ "LOG_LEVEL",		K_LEVEL, S(log_level), 0, 0 },
	{ "LOG_FILE",		K_STR,	S(log_file), 0, 0 },
	{ "PID_FILE",		K_STR,	S(pid_file), 0, 0 },
	{ "BODY_MAX",		K_INT,	S(body_max), 1024, 16777216 },
	{ "SHUTDOWN_TIMEOUT",	K_INT,	S(shutdown_timeout), 0, 3600 },
	{ "WEB_UI",		K_BOOL,	S(web_ui), 0, 0 },
	{ "FETCH_ALLOW_PRIVATE", K_BOOL, S(fetch_allow_private), 0, 0 },
	{ "TEST_POST_HOSTS",	K_STR,	S(test_post_hosts), 0, 0 },
};

const size_t conf_nkeys = sizeof(conf_keys) / sizeof(conf_keys[0]);

/* Number of online processors, at least 1. */
int
conf_ncpu(void)
{
	long	 n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : (n > 64 ? 64 : (int)n);
}

/*
 * The values before the file and the environment: c is zeroed, then
 * filled; its strings are the caller's to free (conf_clear).
 */
void
conf_defaults(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	c->temp_dir = strdup("/tmp/tiktok-fcgi");
	c->max_workers = 20;
	c->ytdlp_timeout = 30;
	c->download_timeout = 120;
	c->fcgi_threads = 256;
	c->thread_stack_kb = 256;
	c->listen_backlog = 0;		/* somaxconn */
	c->read_timeout = 30;
	c->send_timeout = 60;
	c->helpers = conf_ncpu();
	c->helper_max_requests = 1000;
	c->helper_max_rss_mb = 512;
	c->helper_script = strdup(HELPER_SCRIPT_PATH);
	c->queue_max = 1000;
	c->token_ttl = 360;
	c->cache_ttl = 300;
	c->cache_max = 1000;
	c->missing_ttl = 60;
	c->ytdlp_dir = strdup(YTDLP_DIR_PATH);
	c->slideshow_max = conf_ncpu();
	c->slideshow_timeout = 120;
	c->render_fetch_max_mb = 512;
	c->ffmpeg = strdup(DEFAULT_FFMPEG);
	c->log_level = LOG_LEVEL_INFO;
	c->body_max = 65536;
	c->shutdown_timeout = 20;
	c->egress_rest = 60;
	c->redis_timeout_ms = 500;
	c->cdn_domains = strdup(CDN_DOMAINS);
	c->rate_limit_clients = 65536;
	c->web_ui = 1;
}

/* The key of that name, or NULL. */
const struct conf_key *
conf_findkey(const char *name)
{
	size_t	 i;

	for (i = 0; i < conf_nkeys; i++)
		if (strcmp(conf_keys[i].name, name) == 0)
			return &conf_keys[i];
	return NULL;
}

/* Edits (insert, delete, replace) from a to b, ignoring case; at most
 * 3 counted. */
static int
distance(const char *a, const char *b)
{
	int	 row[64], prev, tmp, i, j, la = strlen(a), lb = strlen(b);

	if (la >= 64 || lb >= 64 || abs(la - lb) > 3)
		return 4;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			row[j] = prev + (toupper((unsigned char)a[i - 1]) !=
			    toupper((unsigned char)b[j - 1]));
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			if (tmp + 1 < row[j])
				row[j] = tmp + 1;
			prev = tmp;
		}
	}
	return row[lb];
}

/*
 * The key an unknown name was probably meant to be: one a typo or two
 * away (LOG_LEVL, log_level), or one the name starts with (serverjs's
 * FFMPEG_PATH); NULL when none is near.
 */
const char *
conf_nearkey(const char *name)
{
	const char	*best = NULL;
	size_t		 i, n;
	int		 d, bestd = 3;

	for (i = 0; i < conf_nkeys; i++) {
		n = strlen(conf_keys[i].name);
		if ((d = distance(name, conf_keys[i].name)) < bestd ||
		    (best == NULL && strncasecmp(name, conf_keys[i].name, n) == 0 &&
		    name[n] == '_')) {
			best = conf_keys[i].name;
			bestd = d < bestd ? d : bestd;
		}
	}
	return best;
}

/*
 * The key table on f, one key a line, tab-separated: its name, kind,
 * default ("-": none, or worked out at the start) and, for a number, the
 * least and greatest value it takes ("-" for other kinds).  For
 * `tiktok-fcgi -K`: the tests and the manuals' checks read the table
 * from the program.  Returns 0, or -1 when a default cannot be made.
 */
int
conf_list_keys(FILE *f)
{
	static const char *const kinds[] = { "string", "int", "bool", "url",
	    "file", "level", "proxies", "redis", "rate", "nets" };
	static const char *const levels[] = { "error", "warn", "info",
	    "debug" };
	const struct conf_key	*k;
	struct conf		 c;
	const char		*s;
	size_t			 i;
	int			 v;

	conf_defaults(&c);
	if (c.temp_dir == NULL || c.helper_script == NULL ||
	    c.ytdlp_dir == NULL || c.ffmpeg == NULL || c.cdn_domains == NULL) {
		conf_clear(&c);
		return -1;
	}
	for (i = 0; i < conf_nkeys; i++) {
		k = &conf_keys[i];
		fprintf(f, "%s\t%s\t", k->name, kinds[k->kind]);
		if (k->kind == K_INT || k->kind == K_BOOL ||
		    k->kind == K_LEVEL) {
			v = *(const int *)((const char *)&c + k->off);
			if (k->kind == K_LEVEL)
				fprintf(f, "%s\t-\t-\n", levels[v]);
			else if (k->kind == K_BOOL)
				fprintf(f, "%d\t-\t-\n", v);
			else
				fprintf(f, "%d\t%ld\t%ld\n", v, k->min, k->max);
			continue;
		}
		s = *(char *const *)((const char *)&c + k->off);
		fprintf(f, "%s\t-\t-\n", s != NULL ? s : "-");
	}
	conf_clear(&c);
	return 0;
}
