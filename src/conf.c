/*
 * Configuration loading and validation.
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "client.h"
#include "conf.h"
#include "dotenv.h"
#include "egress.h"
#include "limit.h"
#include "log.h"

#ifndef HELPER_SCRIPT_PATH
#define HELPER_SCRIPT_PATH "ytdlp_helper.py"
#endif
#define KEY_MIN_LENGTH	16	/* below: a warning */

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

enum kind { K_STR, K_INT, K_BOOL, K_URL, K_FILE, K_LEVEL, K_PROXIES,
    K_REDIS, K_RATE, K_NETS };

struct key {
	const char	*name;
	enum kind	 kind;
	size_t		 off;
	long		 min, max;
};

#define S(f)	offsetof(struct conf, f)

static const struct key keys[] = {
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

#define NKEYS	(sizeof(keys) / sizeof(keys[0]))

/* ENCRYPTION_KEY values our own examples show: never a real key. */
static const char *const placeholders[] = {
	"change-me-to-a-long-random-string", "change-me", NULL
};

/* Number of online processors, at least 1. */
int
conf_ncpu(void)
{
	long	 n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : (n > 64 ? 64 : (int)n);
}

static void
defaults(struct conf *c)
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

static const struct key *
findkey(const char *name)
{
	size_t	 i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
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
static const char *
nearkey(const char *name)
{
	const char	*best = NULL;
	size_t		 i, n;
	int		 d, bestd = 3;

	for (i = 0; i < NKEYS; i++) {
		n = strlen(keys[i].name);
		if ((d = distance(name, keys[i].name)) < bestd ||
		    (best == NULL && strncasecmp(name, keys[i].name, n) == 0 &&
		    name[n] == '_')) {
			best = keys[i].name;
			bestd = d < bestd ? d : bestd;
		}
	}
	return best;
}

/*
 * YTDLP_PYTHON unset: the interpreter of the yt-dlp environment that
 * tiktok-fcgi-ytdlp keeps in YTDLP_DIR ("current" is the live one), or
 * else the one configure found (the system's yt-dlp, which may be too
 * old for today's TikTok: ytdlp_fallback says so).
 */
static int
pick_python(struct conf *c)
{
	char	*p = NULL;

	if (c->ytdlp_dir != NULL && asprintf(&p, "%s/current/bin/python3",
	    c->ytdlp_dir) == -1)
		return -1;
	if (p != NULL && access(p, X_OK) == 0) {
		c->ytdlp_python = p;
		return 0;
	}
	free(p);
	c->ytdlp_fallback = 1;
	return (c->ytdlp_python = strdup(DEFAULT_YTDLP_PYTHON)) ? 0 : -1;
}

/*
 * A URL fit to show in a message: whatever stands between "://" and an
 * "@" (a user and a password) replaced by "***".
 */
static const char *
masked(const char *v, char *buf, size_t sz)
{
	const char	*s = strstr(v, "://"), *at;

	if (s == NULL || (at = strchr(s + 3, '@')) == NULL)
		return v;
	snprintf(buf, sz, "%.*s***%s", (int)(s + 3 - v), v, at);
	return buf;
}

/*
 * Set one key from its text.  Returns 0, or -1 with a message naming the
 * key in err.
 */
static int
setkey(struct conf *c, const struct key *k, const char *v, char *err,
    size_t errsz)
{
	char		**sp = (char **)((char *)c + k->off);
	int		 *ip = (int *)((char *)c + k->off);
	char		 *end;
	long		  n;
	enum log_level	  lvl;
	CURLU		 *u;
	char		 *scheme = NULL, shown[256], why[256];
	int		  bad;
	struct stat	  st;

	switch (k->kind) {
	case K_INT:
		errno = 0;
		n = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || errno != 0 ||
		    n < k->min || n > k->max) {
			snprintf(err, errsz, "%s: \"%s\" is not a whole number "
			    "from %ld to %ld", k->name, v, k->min, k->max);
			return -1;
		}
		*ip = (int)n;
		return 0;
	case K_BOOL:
		if (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 ||
		    strcasecmp(v, "yes") == 0)
			*ip = 1;
		else if (strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0 ||
		    strcasecmp(v, "no") == 0 || *v == '\0')
			*ip = 0;
		else {
			snprintf(err, errsz, "%s: \"%s\" is not 0 or 1",
			    k->name, v);
			return -1;
		}
		return 0;
	case K_LEVEL:
		if (log_level_parse(v, &lvl) == -1) {
			snprintf(err, errsz, "%s: \"%s\" is not one of error, "
			    "warn, info, debug", k->name, v);
			return -1;
		}
		*ip = (int)lvl;
		return 0;
	case K_PROXIES:
		if (*v != '\0' && egress_check(v, why, sizeof(why)) == -1) {
			snprintf(err, errsz, "%s: %s", k->name, why);
			return -1;
		}
		break;
	case K_REDIS:
		free(c->redis_host);
		free(c->redis_socket);
		free(c->redis_password);
		c->redis_host = c->redis_socket = c->redis_password = NULL;
		if (*v != '\0' && conf_redis_parse(c, v, why,
		    sizeof(why)) == -1) {
			snprintf(err, errsz, "%s: %s", k->name, why);
			return -1;
		}
		break;
	case K_RATE:
	case K_NETS:
		if (*v != '\0' && (k->kind == K_RATE ? limit_rate_parse(v, NULL,
		    why, sizeof(why)) : client_nets_check(v, why,
		    sizeof(why))) == -1) {
			snprintf(err, errsz, "%s: %s", k->name, why);
			return -1;
		}
		break;
	case K_URL:
		if (*v == '\0')
			break;
		bad = 1;
		if ((u = curl_url()) != NULL &&
		    curl_url_set(u, CURLUPART_URL, v, 0) == CURLUE_OK &&
		    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK)
			bad = strcmp(scheme, "http") != 0 &&
			    strcmp(scheme, "https") != 0;
		curl_free(scheme);
		curl_url_cleanup(u);
		if (bad) {
			snprintf(err, errsz, "%s: \"%s\" is not an http or "
			    "https URL", k->name, masked(v, shown,
			    sizeof(shown)));
			return -1;
		}
		break;
	case K_FILE:
		if (*v == '\0')
			break;
		if (access(v, R_OK) == -1 || stat(v, &st) == -1) {
			snprintf(err, errsz, "%s: %s: %s", k->name, v,
			    strerror(errno));
			return -1;
		}
		if (!S_ISREG(st.st_mode)) {
			snprintf(err, errsz, "%s: %s is not a file", k->name, v);
			return -1;
		}
		break;
	case K_STR:
		if (*v == '\0' && k->off == S(encryption_key)) {
			snprintf(err, errsz, "%s: empty: set a long random "
			    "string (openssl rand -hex 32), or leave the key "
			    "out for a random one per run", k->name);
			return -1;
		}
		if (*v != '\0' && *v != '/' && k->off == S(pid_file)) {
			snprintf(err, errsz, "%s: %s: not an absolute path",
			    k->name, v);
			return -1;
		}
		break;
	}
	free(*sp);
	*sp = NULL;
	if (*v == '\0')
		return 0;
	if ((*sp = strdup(v)) == NULL) {
		snprintf(err, errsz, "%s: out of memory", k->name);
		return -1;
	}
	/* BASE_URL is joined with "/stream" etc.: no trailing slash. */
	if (k->off == S(base_url))
		while (strlen(*sp) > 0 && (*sp)[strlen(*sp) - 1] == '/')
			(*sp)[strlen(*sp) - 1] = '\0';
	return 0;
}

struct fileread {
	struct conf	*c;
	const char	*file;
};

/* One line of the file: a key we know is set, unless the environment
 * sets it (the environment wins); another is warned about. */
static int
fileline(void *arg, const char *k, const char *v, int lineno, char *err,
    size_t errsz)
{
	struct fileread		*fr = arg;
	const struct key	*key;
	const char		*near;

	if ((key = findkey(k)) == NULL) {
		near = nearkey(k);
		log_warnx("%s:%d: unknown key %s ignored%s%s%s", fr->file,
		    lineno, k, near ? " (did you mean " : "",
		    near ? near : "", near ? "?)" : "");
		return 0;
	}
	if (getenv(k) != NULL)
		return 0;
	return setkey(fr->c, key, v, err, errsz);
}

/*
 * Fill c with defaults, then the file (if not NULL), then the
 * environment.  Returns 0, or -1 with a message in err; c is then
 * cleared.  conf_clear() frees the strings.
 */
int
conf_load(struct conf *c, const char *file, char *err, size_t errsz)
{
	struct fileread		 fr;
	size_t			 i;
	const char		*v;
	struct stat		 st;
	enum client_header	 hdr;

	defaults(c);
	fr.c = c;
	fr.file = file;
	if (file != NULL && dotenv_read(file, fileline, &fr, err, errsz) == -1)
		goto fail;
	for (i = 0; i < NKEYS; i++)
		if ((v = getenv(keys[i].name)) != NULL &&
		    setkey(c, &keys[i], v, err, errsz) == -1)
			goto fail;
	if (c->temp_dir == NULL || c->temp_dir[0] != '/' ||
	    strlen(c->temp_dir) > 900) {
		snprintf(err, errsz, "TEMP_DIR: must be an absolute path of at "
		    "most 900 characters");
		goto fail;
	}
	if (lstat(c->temp_dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
		snprintf(err, errsz, "TEMP_DIR: %s is %s, not a directory",
		    c->temp_dir, S_ISLNK(st.st_mode) ? "a symbolic link" :
		    "a file");
		goto fail;
	}
	if (c->helper_script == NULL || c->ffmpeg == NULL) {
		snprintf(err, errsz, "%s: must not be empty",
		    c->helper_script == NULL ? "HELPER_SCRIPT" : "FFMPEG");
		goto fail;
	}
	for (i = 0; c->encryption_key != NULL && placeholders[i] != NULL; i++)
		if (strcmp(c->encryption_key, placeholders[i]) == 0) {
			snprintf(err, errsz, "ENCRYPTION_KEY: still the "
			    "example's \"%s\": set a long random string "
			    "(openssl rand -hex 32), the same on every "
			    "instance", placeholders[i]);
			goto fail;
		}
	if (client_header_parse(c->real_ip_header, &hdr) == -1) {
		snprintf(err, errsz, "REAL_IP_HEADER: \"%s\" is neither "
		    "X-Forwarded-For nor Forwarded", c->real_ip_header);
		goto fail;
	}
	if (c->encryption_key != NULL &&
	    strlen(c->encryption_key) < KEY_MIN_LENGTH)
		c->weak_key = 1;
	if (c->ytdlp_python == NULL && pick_python(c) == -1) {
		snprintf(err, errsz, "YTDLP_PYTHON: out of memory");
		goto fail;
	}
	return 0;
fail:
	conf_clear(c);
	return -1;
}

void
conf_clear(struct conf *c)
{
	size_t	 i;
	char	**sp;

	for (i = 0; i < NKEYS; i++) {
		if (keys[i].kind == K_INT || keys[i].kind == K_BOOL ||
		    keys[i].kind == K_LEVEL)
			continue;
		sp = (char **)((char *)c + keys[i].off);
		free(*sp);
		*sp = NULL;
	}
	free(c->redis_host);
	free(c->redis_socket);
	free(c->redis_password);
	c->redis_host = c->redis_socket = c->redis_password = NULL;
}

/*
 * The keys whose values differ between a and b (YTDLP_PYTHON too when
 * only the environment YTDLP_DIR holds changed), at most max of them,
 * into names (static strings).  Returns how many.  For SIGHUP: what the
 * file and the environment say now against what runs.
 */
int
conf_diff(const struct conf *a, const struct conf *b, const char **names,
    int max)
{
	const char	*sa, *sb;
	size_t		 i;
	int		 n = 0, same;

	for (i = 0; i < NKEYS && n < max; i++) {
		if (keys[i].kind == K_INT || keys[i].kind == K_BOOL ||
		    keys[i].kind == K_LEVEL)
			same = *(const int *)((const char *)a + keys[i].off) ==
			    *(const int *)((const char *)b + keys[i].off);
		else {
			sa = *(char *const *)((const char *)a + keys[i].off);
			sb = *(char *const *)((const char *)b + keys[i].off);
			same = sa == sb || (sa != NULL && sb != NULL &&
			    strcmp(sa, sb) == 0);
		}
		if (!same)
			names[n++] = keys[i].name;
	}
	return n;
}

/*
 * Move the value of key name from one configuration to another (a
 * string changes hands: from's becomes NULL), with what is derived from
 * it.  Returns 0, or -1 for a name that is no key.
 */
int
conf_take(struct conf *to, struct conf *from, const char *name)
{
	const struct key	*k;
	char			**sto, **sfrom;

	if ((k = findkey(name)) == NULL)
		return -1;
	if (k->kind == K_INT || k->kind == K_BOOL || k->kind == K_LEVEL) {
		*(int *)((char *)to + k->off) = *(int *)((char *)from + k->off);
		return 0;
	}
	sto = (char **)((char *)to + k->off);
	sfrom = (char **)((char *)from + k->off);
	free(*sto);
	*sto = *sfrom;
	*sfrom = NULL;
	if (k->off == S(ytdlp_python))
		to->ytdlp_fallback = from->ytdlp_fallback;
	return 0;
}
