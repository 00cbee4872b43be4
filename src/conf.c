/* SPDX-License-Identifier: ISC */
/*
 * Configuration loading and validation: the file and the environment
 * read into struct conf, each value checked by its key's kind; what
 * changed between two (SIGHUP).  The table of keys and the defaults are
 * conf_keys.c's (conf_impl.h).
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
#include "conf_impl.h"
#include "dotenv.h"
#include "egress.h"
#include "limit.h"
#include "log.h"

#define KEY_MIN_LENGTH	16	/* below: a warning */

/* ENCRYPTION_KEY values our own examples show: never a real key. */
static const char *const placeholders[] = {
	"change-me-to-a-long-random-string", "change-me", NULL
};

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
setkey(struct conf *c, const struct conf_key *k, const char *v, char *err,
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
		if (*v == '\0' && k->off == CONF_OFF(encryption_key)) {
			snprintf(err, errsz, "%s: empty: set a long random "
			    "string (openssl rand -hex 32), or leave the key "
			    "out for a random one per run", k->name);
			return -1;
		}
		if (*v != '\0' && *v != '/' && k->off == CONF_OFF(pid_file)) {
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
	if (k->off == CONF_OFF(base_url))
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
	const struct conf_key	*key;
	const char		*near;

	if ((key = conf_findkey(k)) == NULL) {
		near = conf_nearkey(k);
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

	conf_defaults(c);
	fr.c = c;
	fr.file = file;
	if (file != NULL && dotenv_read(file, fileline, &fr, err, errsz) == -1)
		goto fail;
	for (i = 0; i < conf_nkeys; i++)
		if ((v = getenv(conf_keys[i].name)) != NULL &&
		    setkey(c, &conf_keys[i], v, err, errsz) == -1)
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

	for (i = 0; i < conf_nkeys; i++) {
		if (conf_keys[i].kind == K_INT || conf_keys[i].kind == K_BOOL ||
		    conf_keys[i].kind == K_LEVEL)
			continue;
		sp = (char **)((char *)c + conf_keys[i].off);
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

	for (i = 0; i < conf_nkeys && n < max; i++) {
		if (conf_keys[i].kind == K_INT || conf_keys[i].kind == K_BOOL ||
		    conf_keys[i].kind == K_LEVEL)
			same = *(const int *)((const char *)a + conf_keys[i].off) ==
			    *(const int *)((const char *)b + conf_keys[i].off);
		else {
			sa = *(char *const *)((const char *)a + conf_keys[i].off);
			sb = *(char *const *)((const char *)b + conf_keys[i].off);
			same = sa == sb || (sa != NULL && sb != NULL &&
			    strcmp(sa, sb) == 0);
		}
		if (!same)
			names[n++] = conf_keys[i].name;
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
	const struct conf_key	*k;
	char			**sto, **sfrom;

	if ((k = conf_findkey(name)) == NULL)
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
	if (k->off == CONF_OFF(ytdlp_python))
		to->ytdlp_fallback = from->ytdlp_fallback;
	return 0;
}
