/* SPDX-License-Identifier: ISC */
/*
 * Building and tearing down the service's long-lived parts.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "admit.h"
#include "app.h"
#include "cache.h"
#include "egress.h"
#include "fetch.h"
#include "helper.h"
#include "janitor.h"
#include "render.h"
#include "shared.h"
#include "log.h"
#include "pool.h"
#include "proc.h"
#include "token.h"

/* An extraction by this instance's pool (shared_extract_fn). */
static void
extract_here(void *arg, const char *url, pool_done_fn done, void *done_arg)
{
	pool_extract(arg, url, done, done_arg);
}

/* Without REDIS_URL, the cache extracts through the pool. */
static void
fill(void *arg, const char *key, const char *url, int fresh,
    cache_done_fn done, void *done_arg)
{
	(void)key;
	(void)fresh;
	extract_here(arg, url, done, done_arg);
}

/*
 * Can a file be made at path (for writing), or is one there to write?
 * For -n: what the start will open.  Returns 0, or -1 with a message
 * naming key in err.
 */
static int
writable(const char *key, const char *path, char *err, size_t errsz)
{
	char	 dir[PATH_MAX];
	int	 fd;

	if ((fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)) != -1) {
		close(fd);
		return 0;
	}
	if (errno == ENOENT) {
		snprintf(dir, sizeof(dir), "%s", path);
		if (access(dirname(dir), W_OK | X_OK) == 0)
			return 0;
		snprintf(err, errsz, "%s: %s: its folder %s: %s", key, path,
		    dir, strerror(errno));
		return -1;
	}
	snprintf(err, errsz, "%s: %s: %s", key, path, strerror(errno));
	return -1;
}

/*
 * TEMP_DIR holds the renders, and the janitor removes old folders in it:
 * it must be ours alone.  Made (0700) if missing; a directory of ours is
 * made private; a symbolic link, something else than a directory, or a
 * directory of another user (anyone can make /tmp/tiktok-fcgi first) is
 * refused: its owner could swap a render folder for a link and have us
 * write where they choose.  make 0 (for -n): nothing is made or changed,
 * only judged.  Returns 0, or -1 with a message in err.
 */
static int
own_temp_dir(const char *dir, int make, char *err, size_t errsz)
{
	struct stat	 st;

	if (make && mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errsz, "TEMP_DIR: %s: %s", dir, strerror(errno));
		return -1;
	}
	if (lstat(dir, &st) == -1) {
		if (!make && errno == ENOENT)
			return writable("TEMP_DIR", dir, err, errsz);
		snprintf(err, errsz, "TEMP_DIR: %s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errsz, "TEMP_DIR: %s is %s, not a directory", dir,
		    S_ISLNK(st.st_mode) ? "a symbolic link" : "a file");
		return -1;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errsz, "TEMP_DIR: %s belongs to user %u, not to "
		    "us (%u): remove it, or choose another", dir,
		    (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	if (make && (st.st_mode & 077) != 0 && chmod(dir, 0700) == -1) {
		snprintf(err, errsz, "TEMP_DIR: chmod %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* What helpers are told, from the configuration. */
static void
helper_settings(const struct conf *c, struct helper_settings *hs)
{
	memset(hs, 0, sizeof(*hs));
	hs->pythonpath = c->ytdlp_pythonpath;
	hs->socket_timeout = c->ytdlp_timeout;
	hs->cookies = c->cookies_path;
	hs->ca_file = c->ca_file;
	hs->allow_generic = c->test_post_hosts != NULL;
}

/*
 * The programs the settings name must run: FFMPEG an executable, and
 * YTDLP_PYTHON able to run HELPER_SCRIPT (it imports yt_dlp and says
 * its version, in the helpers' own environment, within YTDLP_TIMEOUT).
 * For -n and the start: a setting that cannot work stops both (so does
 * a bad line in API_KEYS_FILE: admit_check).  Returns
 * 0 with yt-dlp's version in version, or -1 with a message naming the
 * key in err.
 */
int
app_check(const struct conf *c, char *version, size_t vsz, char *err,
    size_t errsz)
{
	struct helper_settings	 hs;
	char			**env, why[512];
	int			 rc;

	if (proc_runnable(c->ffmpeg) == -1) {
		snprintf(err, errsz, "FFMPEG: %s: %s", c->ffmpeg,
		    errno == ENOENT && strchr(c->ffmpeg, '/') == NULL ?
		    "not found in PATH" : strerror(errno));
		return -1;
	}
	if (proc_runnable(c->ytdlp_python) == -1) {
		snprintf(err, errsz, "YTDLP_PYTHON: %s: %s", c->ytdlp_python,
		    errno == ENOENT && strchr(c->ytdlp_python, '/') == NULL ?
		    "not found in PATH" : strerror(errno));
		return -1;
	}
	if (access(c->helper_script, R_OK) == -1) {
		snprintf(err, errsz, "HELPER_SCRIPT: %s: %s", c->helper_script,
		    strerror(errno));
		return -1;
	}
	helper_settings(c, &hs);
	hs.workers = 1;
	if ((env = helper_env(&hs)) == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	rc = helper_probe(c->ytdlp_python, c->helper_script, env,
	    c->ytdlp_timeout, why, sizeof(why));
	helper_env_free(env);
	if (rc == -1) {
		snprintf(err, errsz, "YTDLP_PYTHON %s cannot run HELPER_SCRIPT "
		    "%s: %s", c->ytdlp_python, c->helper_script, why);
		return -1;
	}
	snprintf(version, vsz, "%s", why);
	return admit_check(c, err, errsz);
}

/*
 * What the start makes or opens besides the programs, judged without
 * making anything, for -n and before the start makes anything: TEMP_DIR
 * ours alone (or makeable), LOG_FILE (when log_file: not with -f) and
 * PID_FILE writable.  Returns 0, or -1 with a message naming the key in
 * err.
 */
int
app_check_files(const struct conf *c, int log_file, char *err, size_t errsz)
{
	if (own_temp_dir(c->temp_dir, 0, err, errsz) == -1)
		return -1;
	if (log_file && c->log_file != NULL && writable("LOG_FILE",
	    c->log_file, err, errsz) == -1)
		return -1;
	if (c->pid_file != NULL && writable("PID_FILE", c->pid_file, err,
	    errsz) == -1)
		return -1;
	return 0;
}

/*
 * Make the token key (a random one, with a warning, when ENCRYPTION_KEY
 * is unset), start the helper pool and the cache.  Returns 0, or -1 with
 * a message in err.
 */
int
app_init(struct app *app, char *err, size_t errsz)
{
	struct pool_opts	 po;
	unsigned char		 rnd[32], key[32];
	char			 secret[65];
	size_t			 i;
	int			 age;
	const struct conf	*c = &app->conf;

	app->started = time(NULL);
	if (own_temp_dir(c->temp_dir, 1, err, errsz) == -1)
		return -1;
	if (c->ytdlp_fallback)
		log_warnx("no yt-dlp environment in %s (YTDLP_DIR): using %s, "
		    "whose yt-dlp may be too old for today's TikTok; run "
		    "tiktok-fcgi-ytdlp update", c->ytdlp_dir, c->ytdlp_python);
	if (c->weak_key)
		log_warnx("ENCRYPTION_KEY is shorter than 16 characters: "
		    "download links are only as safe as it is hard to guess "
		    "(use a long random string)");
	if (c->encryption_key != NULL)
		app->token = token_new(c->encryption_key, c->token_ttl);
	else {
		log_warnx("ENCRYPTION_KEY is not set: using a random key. "
		    "Download links die with this process and differ "
		    "between instances.");
		if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
			snprintf(err, errsz, "no randomness for a key");
			return -1;
		}
		for (i = 0; i < sizeof(rnd); i++)
			snprintf(secret + 2 * i, 3, "%02x", rnd[i]);
		app->token = token_new(secret, c->token_ttl);
	}
	if (app->token == NULL) {
		snprintf(err, errsz, "could not derive the token key");
		return -1;
	}

	if ((app->admit = admit_new(c, err, errsz)) == NULL)
		return -1;
	token_subkey(app->token, "tiktok-fcgi egress id", key);
	if (egress_init(c->outbound_proxy, c->egress_rest, key) == -1) {
		snprintf(err, errsz, "OUTBOUND_PROXY: out of memory");
		return -1;
	}
	if (fetch_init(c) == -1) {
		snprintf(err, errsz, "could not initialise libcurl");
		return -1;
	}

	memset(&po, 0, sizeof(po));
	po.python = c->ytdlp_python;
	po.script = c->helper_script;
	po.helpers = c->helpers;
	po.max_workers = c->max_workers;
	po.queue_max = c->queue_max;
	po.timeout = c->ytdlp_timeout;
	po.max_requests = c->helper_max_requests;
	po.max_rss_mb = c->helper_max_rss_mb;
	helper_settings(c, &po.helper);
	if ((app->pool = pool_new(&po)) == NULL || pool_start(app->pool) ==
	    -1) {
		snprintf(err, errsz, "could not start the helper pool");
		return -1;
	}
	if (c->redis_url != NULL && c->encryption_key == NULL)
		log_warnx("REDIS_URL without ENCRYPTION_KEY: entries are "
		    "sealed with this process's random key, so no other "
		    "instance can read them");
	if (c->redis_url != NULL && (app->shared = shared_new(c, app->token,
	    extract_here, app->pool)) == NULL) {
		snprintf(err, errsz, "REDIS_URL: could not start its thread");
		return -1;
	}
	if ((app->cache = app->shared != NULL ? cache_new(c->cache_max,
	    c->cache_ttl, shared_fill, app->shared) : cache_new(c->cache_max,
	    c->cache_ttl, fill, app->pool)) == NULL) {
		snprintf(err, errsz, "could not make the cache");
		return -1;
	}
	cache_remember_missing(app->cache, c->missing_ttl);
	if ((app->renders = render_new(c->temp_dir, c->ffmpeg,
	    c->slideshow_max, c->slideshow_timeout, c->cache_ttl,
	    (long long)c->render_fetch_max_mb * 1024 * 1024)) == NULL) {
		snprintf(err, errsz, "could not make the renderer");
		return -1;
	}
	/* Work folders older than an hour, and than any render is kept
	 * (CACHE_TTL after it was made, twice SLIDESHOW_TIMEOUT after it
	 * began), are leftovers (of a crash, or a kill -9): at start and
	 * every 15 minutes. */
	age = c->cache_ttl + 2 * c->slideshow_timeout + 600;
	if ((app->janitor = janitor_start(c->temp_dir, age > 3600 ? age :
	    3600, 900)) == NULL) {
		snprintf(err, errsz, "could not start the janitor");
		return -1;
	}
	return 0;
}

/* LOG_LEVEL, at once. */
static int
live_log(struct app *app, const struct conf *old, const struct conf *new)
{
	(void)app;
	(void)old;
	log_set_level((enum log_level)new->log_level);
	return 0;
}

/* OUTBOUND_PROXY, EGRESS_REST: the next extraction and fetch. */
static int
live_egress(struct app *app, const struct conf *old, const struct conf *new)
{
	(void)app;
	(void)old;
	if (egress_reload(new->outbound_proxy, new->egress_rest) == -1) {
		log_warnx("reload: OUTBOUND_PROXY: more than 64 proxies in "
		    "this run: it takes effect at the next start");
		return -1;
	}
	log_info("reload: OUTBOUND_PROXY: %d egress%s, resting %d s",
	    egress_count(), egress_count() == 1 ? "" : "es",
	    new->egress_rest);
	return 0;
}

/* The helpers' program and settings: the helpers started from now on
 * (every one, as app_reload replaces them). */
static int
live_helpers(struct app *app, const struct conf *old, const struct conf *new)
{
	struct helper_settings	 hs;

	(void)old;
	helper_settings(new, &hs);
	if (pool_set_program(app->pool, new->ytdlp_python, new->helper_script,
	    &hs) == -1) {
		log_warnx("reload: the helpers' settings: out of memory");
		return -1;
	}
	if (new->ytdlp_fallback)
		log_warnx("reload: no yt-dlp environment in %s (YTDLP_DIR): "
		    "helpers use %s", new->ytdlp_dir, new->ytdlp_python);
	else
		log_info("reload: helpers use %s", new->ytdlp_python);
	return 0;
}

/* The pool's limits that bound no running structure. */
static int
live_pool(struct app *app, const struct conf *old, const struct conf *new)
{
	(void)old;
	pool_set_limits(app->pool, new->helper_max_requests,
	    new->helper_max_rss_mb, new->queue_max);
	return 0;
}

typedef int (*live_fn)(struct app *, const struct conf *old,
    const struct conf *new);

/*
 * The keys that change live at SIGHUP, each with what applies it (once,
 * however many of its keys changed; it returns -1 when it could not, and
 * they keep their running value).  Every other key keeps its running
 * value until the next start, and the log says so: those that threads
 * read without a lock (BASE_URL, ENCRYPTION_KEY, the timeouts, ...) or
 * that size what runs (HELPERS, MAX_WORKERS, FCGI_THREADS, ...).
 */
static const struct {
	const char	*key;
	live_fn		 apply;
} live[] = {
	{ "LOG_LEVEL",		live_log },
	{ "OUTBOUND_PROXY",	live_egress },
	{ "EGRESS_REST",	live_egress },
	{ "YTDLP_DIR",		live_helpers },
	{ "YTDLP_PYTHON",	live_helpers },
	{ "YTDLP_PYTHONPATH",	live_helpers },
	{ "HELPER_SCRIPT",	live_helpers },
	{ "COOKIES_PATH",	live_helpers },
	{ "HELPER_MAX_REQUESTS", live_pool },
	{ "HELPER_MAX_RSS_MB",	live_pool },
	{ "QUEUE_MAX",		live_pool },
};
#define NLIVE	(sizeof(live) / sizeof(live[0]))

static live_fn
live_for(const char *key)
{
	size_t	 i;

	for (i = 0; i < NLIVE; i++)
		if (strcmp(live[i].key, key) == 0)
			return live[i].apply;
	return NULL;
}

/*
 * The configuration read again (new, checked as the start checks it)
 * against the running one (old, app->conf): each live function whose
 * keys changed runs once with both, and on success those keys' values
 * move into old; the other changed keys are logged and kept.  Called by
 * the main thread only, which alone writes app->conf; what other
 * threads read of it never changes.  new keeps what was not taken.
 */
static void
reconf(struct app *app, struct conf *old, struct conf *new)
{
	const char	*changed[64];
	live_fn		 done[NLIVE], fn;
	int		 n, i, j, ndone = 0, rc;

	if ((n = conf_diff(old, new, changed, 64)) == 0) {
		log_info("reload: no setting changed");
		return;
	}
	for (i = 0; i < n; i++) {
		if ((fn = live_for(changed[i])) == NULL) {
			log_warnx("reload: %s changed: it cannot change while "
			    "running, the running value stays until the next "
			    "start", changed[i]);
			continue;
		}
		for (j = 0; j < ndone && done[j] != fn; j++)
			continue;
		if (j < ndone)
			continue;
		done[ndone++] = fn;
		rc = fn(app, old, new);
		for (j = i; j < n; j++)
			if (live_for(changed[j]) == fn && rc == 0) {
				conf_take(old, new, changed[j]);
				log_info("reload: %s changed: applied",
				    changed[j]);
			}
	}
}

/*
 * SIGHUP: reopen the log; with a configuration read again (new, checked
 * by app_check; NULL: none usable), apply what can change live
 * (reconf); and replace every helper, gracefully, so that a new yt-dlp
 * in YTDLP_DIR and new helper settings are used.  new stays the
 * caller's to clear.  What must be read again at every SIGHUP whether
 * its key changed or not (a file's contents) belongs here, after
 * reconf, with app->conf then holding the running values.
 */
void
app_reload(struct app *app, struct conf *new)
{
	if (log_reopen() == -1)
		log_warn("%s: %s", __func__, app->conf.log_file);
	if (new != NULL)
		reconf(app, &app->conf, new);
	if (app->pool != NULL)
		pool_reload(app->pool);
	/* The API keys file, as the configuration names it now. */
	admit_reload(app->admit, &app->conf);
}

/*
 * Stop the helpers (what waits for them is told "shutting down") without
 * freeing anything: threads may still use the pool, which now answers
 * every extraction at once.
 */
void
app_stop(struct app *app)
{
	pool_stop(app->pool);
}

void
app_free(struct app *app)
{
	janitor_stop(app->janitor);
	app->janitor = NULL;
	render_free(app->renders);
	app->renders = NULL;
	/* Before the cache: posts still waiting in it are answered. */
	shared_free(app->shared);
	app->shared = NULL;
	cache_free(app->cache);
	app->cache = NULL;
	pool_free(app->pool);
	app->pool = NULL;
	token_free(app->token);
	app->token = NULL;
	admit_free(app->admit);
	app->admit = NULL;
	fetch_cleanup();
	egress_free();
	conf_clear(&app->conf);
}
