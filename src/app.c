/*
 * Building and tearing down the service's long-lived parts.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
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
 * TEMP_DIR holds the renders, and the janitor removes old folders in it:
 * it must be ours alone.  Made (0700) if missing; a directory of ours is
 * made private; a symbolic link, something else than a directory, or a
 * directory of another user (anyone can make /tmp/tiktok-fcgi first) is
 * refused: its owner could swap a render folder for a link and have us
 * write where they choose.  Returns 0, or -1 with a message in err.
 */
static int
own_temp_dir(const char *dir, char *err, size_t errsz)
{
	struct stat	 st;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errsz, "TEMP_DIR: %s: %s", dir, strerror(errno));
		return -1;
	}
	if (lstat(dir, &st) == -1) {
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
	if ((st.st_mode & 077) != 0 && chmod(dir, 0700) == -1) {
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
 * Make the token key (a random one, with a warning, when ENCRYPTION_KEY
 * is unset), start the helper pool and the cache.  Returns 0, or -1 with
 * a message in err.
 */
int
app_init(struct app *app, char *err, size_t errsz)
{
	struct pool_opts	 po;
	unsigned char		 rnd[32];
	char			 secret[65];
	size_t			 i;
	const struct conf	*c = &app->conf;

	app->started = time(NULL);
	if (own_temp_dir(c->temp_dir, err, errsz) == -1)
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
	if (egress_init(c->outbound_proxy, c->egress_rest) == -1) {
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
	if (c->redis_url != NULL && (app->shared = shared_new(c,
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
	if ((app->renders = renders_new(c->temp_dir, c->ffmpeg,
	    c->slideshow_max, c->slideshow_timeout, c->cache_ttl)) == NULL) {
		snprintf(err, errsz, "could not make the renderer");
		return -1;
	}
	/* Work folders older than an hour are leftovers (of a crash, or a
	 * kill -9): at start and every 15 minutes. */
	if ((app->janitor = janitor_start(c->temp_dir, 3600, 900)) == NULL) {
		snprintf(err, errsz, "could not start the janitor");
		return -1;
	}
	return 0;
}

/* SIGHUP: reopen the log, replace the helpers (a new yt-dlp). */
void
app_reload(struct app *app)
{
	if (log_reopen() == -1)
		log_warn("%s: %s", __func__, app->conf.log_file);
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
	renders_free(app->renders);
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
