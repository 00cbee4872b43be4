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

#include "conf.h"
#include "egress.h"
#include "log.h"

#ifndef HELPER_SCRIPT_PATH
#define HELPER_SCRIPT_PATH "ytdlp_helper.py"
#endif
#define KEY_MIN_LENGTH	16	/* below: a warning */

#ifndef YTDLP_DIR_PATH
#define YTDLP_DIR_PATH "/var/lib/tiktok-fcgi/yt-dlp"
#endif

enum kind { K_STR, K_INT, K_BOOL, K_URL, K_FILE, K_LEVEL, K_PROXIES,
    K_REDIS };

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
	{ "OUTBOUND_PROXY",	K_PROXIES, S(outbound_proxy), 0, 0 },
	{ "EGRESS_REST",	K_INT,	S(egress_rest), 1, 86400 },
	{ "REDIS_URL",		K_REDIS, S(redis_url), 0, 0 },
	{ "REDIS_TIMEOUT",	K_INT,	S(redis_timeout_ms), 10, 60000 },
	{ "CA_FILE",		K_FILE,	S(ca_file), 0, 0 },
	{ "YTDLP_PYTHON",	K_STR,	S(ytdlp_python), 0, 0 },
	{ "YTDLP_PYTHONPATH",	K_STR,	S(ytdlp_pythonpath), 0, 0 },
	{ "YTDLP_DIR",		K_STR,	S(ytdlp_dir), 0, 0 },
	{ "SLIDESHOW_MAX",	K_INT,	S(slideshow_max), 1, 256 },
	{ "SLIDESHOW_TIMEOUT",	K_INT,	S(slideshow_timeout), 1, 3600 },
	{ "FFMPEG",		K_STR,	S(ffmpeg), 0, 0 },
	{ "LOG_LEVEL",		K_LEVEL, S(log_level), 0, 0 },
	{ "LOG_FILE",		K_STR,	S(log_file), 0, 0 },
	{ "BODY_MAX",		K_INT,	S(body_max), 1024, 16777216 },
	{ "SHUTDOWN_TIMEOUT",	K_INT,	S(shutdown_timeout), 0, 3600 },
	{ "WEB_UI",		K_BOOL,	S(web_ui), 0, 0 },
	{ "FETCH_ALLOW_PRIVATE", K_BOOL, S(fetch_allow_private), 0, 0 },
	{ "TEST_POST_HOSTS",	K_STR,	S(test_post_hosts), 0, 0 },
};

#define NKEYS	(sizeof(keys) / sizeof(keys[0]))

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
	c->ytdlp_dir = strdup(YTDLP_DIR_PATH);
	c->slideshow_max = conf_ncpu();
	c->slideshow_timeout = 120;
	c->ffmpeg = strdup(DEFAULT_FFMPEG);
	c->log_level = LOG_LEVEL_INFO;
	c->body_max = 65536;
	c->shutdown_timeout = 20;
	c->egress_rest = 60;
	c->redis_timeout_ms = 500;
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
 * REDIS_URL's unix://[:password@]/path[?db=N] (after "unix://"): a path
 * is no host, so this is not a URL libcurl parses.  0, or -1 and err.
 */
static int
redis_unix(struct conf *c, const char *v, char *err, size_t errsz)
{
	const char	*at, *path, *q;
	char		*pass, *end;
	long		 db = 0;
	int		 n;

	path = v;
	if (*v == ':' && (at = strchr(v, '@')) != NULL) {
		if ((pass = curl_easy_unescape(NULL, v + 1, (int)(at - v - 1),
		    &n)) == NULL) {
			snprintf(err, errsz, "out of memory");
			return -1;
		}
		if (*pass != '\0')
			c->redis_password = strdup(pass);
		curl_free(pass);
		path = at + 1;
	}
	q = strchrnul(path, '?');
	if (*path != '/' || q - path < 2) {
		snprintf(err, errsz, "unix:// needs a socket path "
		    "(unix:///run/redis/redis.sock)");
		return -1;
	}
	if (*q == '?') {
		if (strncmp(q, "?db=", 4) != 0 || (db = strtol(q + 4, &end,
		    10), *end != '\0') || q[4] == '\0' || db < 0 ||
		    db > 1000) {
			snprintf(err, errsz, "?db= must be a number");
			return -1;
		}
	}
	c->redis_socket = strndup(path, (size_t)(q - path));
	c->redis_db = (int)db;
	return 0;
}

/*
 * REDIS_URL: redis://[[user]:password@]host[:port][/db] or
 * unix://[:password@]/path[?db=N], into the conf's redis_* fields.
 * Returns 0, or -1 with why in err (never the password).
 */
static int
redis_parse(struct conf *c, const char *v, char *err, size_t errsz)
{
	CURLU	*u;
	char	*host = NULL, *port = NULL, *path = NULL, *pass = NULL;
	char	*end;
	long	 db = 0;
	int	 rc = -1;

	c->redis_port = 6379;
	if (strncmp(v, "unix://", 7) == 0)
		return redis_unix(c, v + 7, err, errsz);
	if (strncmp(v, "redis://", 8) != 0) {
		snprintf(err, errsz, "not a redis:// or unix:// URL");
		return -1;
	}
	if ((u = curl_url()) == NULL ||
	    curl_url_set(u, CURLUPART_URL, v, CURLU_NON_SUPPORT_SCHEME) !=
	    CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    *host == '\0') {
		snprintf(err, errsz, "redis:// needs a host");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK)
		c->redis_port = atoi(port);
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK &&
	    path[0] == '/' && path[1] != '\0') {
		db = strtol(path + 1, &end, 10);
		if (*end != '\0' || db < 0 || db > 1000) {
			snprintf(err, errsz, "the database must be a number "
			    "(redis://host:port/0)");
			goto out;
		}
	}
	curl_url_get(u, CURLUPART_PASSWORD, &pass, CURLU_URLDECODE);
	c->redis_host = strdup(host);
	c->redis_db = (int)db;
	if (pass != NULL && *pass != '\0')
		c->redis_password = strdup(pass);
	rc = 0;
out:
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(pass);
	curl_url_cleanup(u);
	return rc;
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
		if (*v != '\0' && redis_parse(c, v, why, sizeof(why)) == -1) {
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

/*
 * The value of a KEY=value line, read as the dotenv package (v16)
 * reads it, so that a serverjs .env means the same here: a value in
 * single, double or back quotes is what is between them (double quotes
 * also turn \n and \r into line breaks), and a comment may follow; an
 * unquoted value ends at the first '#' and is trimmed.  v is changed in
 * place; returns where the value starts.
 */
static char *
dotenv_value(char *v)
{
	char	*e, *r, *w, q;
	size_t	 len;

	while (isspace((unsigned char)*v))
		v++;
	q = *v;
	if (q == '"' || q == '\'' || q == '`') {
		for (e = v + 1; *e != '\0' && *e != q; e++)
			if (q == '"' && e[0] == '\\' && e[1] == '"')
				e++;
		for (r = e + (*e != '\0'); isspace((unsigned char)*r); r++)
			continue;
		if (*e == q && (*r == '\0' || *r == '#')) {
			*e = '\0';
			if (q != '"')
				return v + 1;
			for (r = w = v + 1; *r != '\0'; r++, w++) {
				if (r[0] == '\\' && (r[1] == 'n' || r[1] == 'r')) {
					*w = r[1] == 'n' ? '\n' : '\r';
					r++;
				} else
					*w = *r;
			}
			*w = '\0';
			return v + 1;
		}
	}
	v[strcspn(v, "#")] = '\0';
	len = strlen(v);
	while (len > 0 && isspace((unsigned char)v[len - 1]))
		v[--len] = '\0';
	return v;
}

/*
 * Read KEY=value lines.  Blank lines and comment lines are skipped; a
 * UTF-8 byte order mark, "export" before a key, quotes and a trailing
 * comment are read as dotenv reads them (see dotenv_value).  Keys we do
 * not know are warned about, not refused.
 */
static int
readfile(struct conf *c, const char *file, char *err, size_t errsz)
{
	FILE			*f;
	char			*line = NULL, *k, *v, *e;
	size_t			 cap = 0, len;
	ssize_t			 n;
	int			 lineno = 0, rc = -1;
	const struct key	*key;
	struct stat		 st;

	if ((f = fopen(file, "re")) == NULL || fstat(fileno(f), &st) == -1) {
		snprintf(err, errsz, "%s: %s", file, strerror(errno));
		if (f != NULL)
			fclose(f);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errsz, "%s is not a file", file);
		fclose(f);
		return -1;
	}
	while ((n = getline(&line, &cap, f)) != -1) {
		k = line;
		if (lineno++ == 0 && strncmp(k, "\xef\xbb\xbf", 3) == 0)
			k += 3;
		while (isspace((unsigned char)*k))
			k++;
		len = strlen(k);
		while (len > 0 && isspace((unsigned char)k[len - 1]))
			k[--len] = '\0';
		if (*k == '\0' || *k == '#')
			continue;
		if (strncmp(k, "export", 6) == 0 &&
		    isspace((unsigned char)k[6]))
			for (k += 6; isspace((unsigned char)*k); k++)
				continue;
		if ((v = strchr(k, '=')) == NULL) {
			snprintf(err, errsz, "%s:%d: expected KEY=value",
			    file, lineno);
			goto out;
		}
		*v++ = '\0';
		for (e = v - 2; e >= k && isspace((unsigned char)*e); e--)
			*e = '\0';
		v = dotenv_value(v);
		if ((key = findkey(k)) == NULL) {
			log_warnx("%s: %s:%d: unknown key %s ignored",
			    __func__, file, lineno, k);
			continue;
		}
		if (getenv(k) != NULL)
			continue;	/* the environment wins */
		if (setkey(c, key, v, err, errsz) == -1)
			goto out;
	}
	rc = 0;
out:
	free(line);
	fclose(f);
	return rc;
}

/*
 * Fill c with defaults, then the file (if not NULL), then the
 * environment.  Returns 0, or -1 with a message in err; c is then
 * cleared.  conf_clear() frees the strings.
 */
int
conf_load(struct conf *c, const char *file, char *err, size_t errsz)
{
	size_t		 i;
	const char	*v;
	struct stat	 st;

	defaults(c);
	if (file != NULL && readfile(c, file, err, errsz) == -1)
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
