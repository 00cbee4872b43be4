/* SPDX-License-Identifier: ISC */
/*
 * Renders: files made from a post by ffmpeg (a slideshow), kept a while
 * and sent to whoever asks.  One render per key at a time (single
 * flight: later requests wait for it, as long as their client stays), at
 * most RENDER_MAX running (beyond: 503 + Retry-After), each within its
 * deadline (ffmpeg killed: 504), killed when every client waiting for it
 * has gone; finished ones kept keep_s seconds (a bounded number).  Each
 * render works in a fresh folder TEMP_DIR/render-XXXXXX, removed with
 * it (janitor_remove); the janitor sweeps what a crash left.  A render
 * downloads at most fetch_max bytes.  One that fails for a reason that
 * may pass (ffmpeg killed, the CDN failing) is tried once more, in a new
 * folder, before its waiters hear of it; every failure is logged with
 * its cause, and a full TEMP_DIR is 503 with Retry-After.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "answer.h"
#include "http.h"
#include "janitor.h"
#include "log.h"
#include "proc.h"
#include "render.h"

enum rstate { R_RUNNING, R_DONE, R_FAILED };

struct render {
	char		*key;
	char		*dir;		/* work folder */
	char		 file[1100];	/* what it made, in dir */
	enum rstate	 state;
	enum fail	 fail;		/* failure: what ... */
	char		*detail;	/* ... and more, or NULL */
	int		 waiters;	/* threads waiting, owner excluded */
	int		 alive;		/* of owner and waiters, clients left */
	int		 refs;		/* threads sending the file */
	int		 linked;
	long long	 done_at;
	pthread_cond_t	 cv;
	struct render	*next;
};

struct renders {
	pthread_mutex_t	 mtx;
	struct render	*list;
	int		 running;
	int		 kept;
	char		*temp_dir;
	char		*ffmpeg;
	int		 max, timeout;
	long long	 fetch_max;
	long long	 keep_ms;
	int		 keep_max;
	unsigned long	 renders, rejected, failed;
};

/* What a render's make function is handed (render_make_fn). */
struct render_ctl {
	struct renders		*s;
	struct render		*r;
	struct http		*h;
	int			 counted;	/* our leaving is counted */
	long long		 deadline;
	long long		 budget;	/* bytes it may still fetch */
};

/*
 * Renders in temp_dir: at most max at once, each at most timeout
 * seconds and fetch_max bytes downloaded, finished ones kept keep_s
 * seconds; ffmpeg is the program.  Strings are copied.  NULL on failure.
 */
struct renders *
render_new(const char *temp_dir, const char *ffmpeg, int max, int timeout,
    int keep_s, long long fetch_max)
{
	struct renders	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	pthread_mutex_init(&s->mtx, NULL);
	s->temp_dir = strdup(temp_dir);
	s->ffmpeg = strdup(ffmpeg);
	s->max = max;
	s->timeout = timeout;
	s->fetch_max = fetch_max;
	s->keep_ms = (long long)keep_s * 1000;
	s->keep_max = 4 * max;
	if (s->temp_dir == NULL || s->ffmpeg == NULL) {
		render_free(s);
		return NULL;
	}
	return s;
}

/* Free r, its work folder removed.  Unlinked, with nobody holding it. */
static void
dispose(struct render *r)
{
	if (r->dir != NULL)
		janitor_remove(r->dir);
	pthread_cond_destroy(&r->cv);
	free(r->dir);
	free(r->key);
	free(r->detail);
	free(r);
}

static void
unlink_render(struct renders *s, struct render *r)
{
	struct render	**pp;

	if (!r->linked)
		return;
	for (pp = &s->list; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	r->linked = 0;
	if (r->state == R_DONE)
		s->kept--;
}

/* Free the renders, their kept files removed.  render_free(NULL) is a
 * no-op.  Nobody may be rendering. */
void
render_free(struct renders *s)
{
	struct render	*r;

	if (s == NULL)
		return;
	while ((r = s->list) != NULL) {
		unlink_render(s, r);
		dispose(r);
	}
	pthread_mutex_destroy(&s->mtx);
	free(s->temp_dir);
	free(s->ffmpeg);
	free(s);
}

/* What the renders are doing, for /health and /metrics. */
void
render_stats(struct renders *s, struct render_stats *st)
{
	pthread_mutex_lock(&s->mtx);
	st->running = s->running;
	st->kept = s->kept;
	st->renders = s->renders;
	st->rejected = s->rejected;
	st->failed = s->failed;
	pthread_mutex_unlock(&s->mtx);
}

/* Drop kept renders past their time, and the oldest beyond the bound. */
static void
expire(struct renders *s, long long now)
{
	struct render	*r, *next, *oldest;

	for (r = s->list; r != NULL; r = next) {
		next = r->next;
		if (r->state == R_DONE && r->refs == 0 &&
		    now - r->done_at >= s->keep_ms) {
			unlink_render(s, r);
			dispose(r);
		}
	}
	while (s->kept > s->keep_max) {
		oldest = NULL;
		for (r = s->list; r != NULL; r = r->next)
			if (r->state == R_DONE && r->refs == 0 &&
			    (oldest == NULL || r->done_at < oldest->done_at))
				oldest = r;
		if (oldest == NULL)
			break;
		unlink_render(s, oldest);
		dispose(oldest);
	}
}

/*
 * Is anyone still waiting for this render?  Counts the owner's client
 * leaving once.  Called without the lock; fits fetch_many's "gone".
 */
int
render_nobody_waits(void *arg)
{
	struct render_ctl	*o = arg;
	int			 none;

	pthread_mutex_lock(&o->s->mtx);
	if (!o->counted && http_client_gone(o->h)) {
		o->counted = 1;
		o->r->alive--;
	}
	none = o->r->alive <= 0;
	pthread_mutex_unlock(&o->s->mtx);
	return none;
}

/*
 * The render failed: f, and detail (or NULL) where its words take one
 * (answer.c), for everyone waiting, and the cause in the log (the
 * words are the client's, the cause is there).
 */
void
render_fail(struct render_ctl *o, enum fail f, const char *detail)
{
	char	 words[256];

	if (f != FAIL_GONE) {
		answer_words(f, detail, words, sizeof(words));
		log_warnx("render %s: %d %s", o->r->key, answer_status(f),
		    words);
	}
	free(o->r->detail);
	o->r->fail = f;
	o->r->detail = detail != NULL ? strdup(detail) : NULL;
}

/*
 * The render failed on a system call (err its errno, what in the log):
 * a full disk (or quota) is 503, for a while; anything else 500.
 */
void
render_fail_io(struct render_ctl *o, int err, const char *what)
{
	if (err == ENOSPC || err == EDQUOT) {
		log_warnx("render %s: %s: %s: TEMP_DIR %s is full", o->r->key,
		    what, strerror(err), o->s->temp_dir);
		render_fail(o, FAIL_DISK_FULL, NULL);
	} else {
		log_warnx("render %s: %s: %s", o->r->key, what, strerror(err));
		render_fail(o, FAIL_WORKDIR_WRITE, NULL);
	}
}

/*
 * Is TEMP_DIR (nearly) full?  For failures whose errno we do not see
 * (ffmpeg's writes): less than a megabyte, or no inode, left.
 */
int
render_disk_full(const struct render_ctl *o)
{
	struct statvfs	 st;

	if (statvfs(o->r->dir != NULL ? o->r->dir : o->s->temp_dir, &st) ==
	    -1)
		return 0;
	return (unsigned long long)st.f_bavail * st.f_frsize < 1048576 ||
	    (st.f_files > 0 && st.f_favail == 0);
}

/* The bytes a render may still download, shared by its fetches
 * (fetch_file's budget). */
long long *
render_budget(struct render_ctl *o)
{
	return &o->budget;
}

/* The render's own work folder. */
const char *
render_dir(const struct render_ctl *o)
{
	return o->r->dir;
}

/* When the render must be done (monotonic ms). */
long long
render_deadline(const struct render_ctl *o)
{
	return o->deadline;
}

/* Name the file the render makes, in its folder; returns its path. */
const char *
render_output(struct render_ctl *o, const char *name)
{
	snprintf(o->r->file, sizeof(o->r->file), "%s/%s", o->r->dir, name);
	return o->r->file;
}

/* The file the render makes (render_output), its path. */
const char *
render_output_path(const struct render_ctl *o)
{
	return o->r->file;
}

/* The renders' time limit, s (for messages). */
int
render_timeout(const struct render_ctl *o)
{
	return o->s->timeout;
}

/* The ffmpeg program, for argv[0]. */
const char *
render_ffmpeg_path(const struct render_ctl *o)
{
	return o->s->ffmpeg;
}

/* A fresh work folder for the render: TEMP_DIR/render-XXXXXX. */
static int
workdir(struct render_ctl *o)
{
	char		 tmpl[960];
	struct stat	 st;

	/* Made again if something removed it; ours alone (see app.c). */
	if ((mkdir(o->s->temp_dir, 0700) == -1 && errno != EEXIST) ||
	    lstat(o->s->temp_dir, &st) == -1) {
		render_fail_io(o, errno, o->s->temp_dir);
		return -1;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 022) != 0) {
		log_warnx("%s: %s is not a private directory of ours: no "
		    "render", __func__, o->s->temp_dir);
		render_fail(o, FAIL_WORKDIR, NULL);
		return -1;
	}
	snprintf(tmpl, sizeof(tmpl), "%s/render-XXXXXX", o->s->temp_dir);
	if (mkdtemp(tmpl) == NULL) {
		render_fail_io(o, errno, "mkdtemp");
		return -1;
	}
	pthread_mutex_lock(&o->s->mtx);
	o->r->dir = strdup(tmpl);
	pthread_mutex_unlock(&o->s->mtx);
	return o->r->dir != NULL ? 0 : -1;
}

/*
 * Wait, holding s->mtx, for r (being made by another thread) to end, as
 * long as h's client stays.  Returns r with a reference when it was
 * made, or NULL having answered its failure (or with the client gone).
 * Returns with the lock released.
 */
static struct render *
wait_for(struct renders *s, struct render *r, struct http *h)
{
	struct timespec	 ts;
	char		 detail[256];
	enum fail	 f;
	int		 gone = 0;

	r->waiters++;
	r->alive++;
	while (r->state == R_RUNNING) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&r->cv, &s->mtx, &ts);
		if (!gone && r->state == R_RUNNING) {
			pthread_mutex_unlock(&s->mtx);
			gone = http_client_gone(h);
			pthread_mutex_lock(&s->mtx);
			if (gone) {
				r->alive--;
				r->waiters--;
				/* It may have failed meanwhile, counting on
				 * us to free it. */
				if (r->state == R_FAILED && r->waiters == 0)
					dispose(r);
				pthread_mutex_unlock(&s->mtx);
				return NULL;
			}
		}
	}
	r->waiters--;
	if (r->state == R_DONE) {
		r->refs++;
		pthread_mutex_unlock(&s->mtx);
		return r;
	}
	f = r->fail;
	snprintf(detail, sizeof(detail), "%s", r->detail ? r->detail : "");
	if (r->waiters == 0)
		dispose(r);		/* failed: unlinked already */
	pthread_mutex_unlock(&s->mtx);
	answer_fail(h, f, detail[0] != '\0' ? detail : NULL);
	return NULL;
}

/*
 * Make r (make(o, arg)) in a fresh folder; a failure that may pass (500:
 * ffmpeg died; 502: the CDN failed) is tried once more in another, with
 * its own deadline, while somebody waits.  As render_make_fn.
 */
static int
make_once_more(struct render_ctl *o, render_make_fn make, void *arg)
{
	char	*dir;
	int	 rc, attempt;

	for (attempt = 0;; attempt++) {
		o->deadline = proc_now_ms() + (long long)o->s->timeout * 1000;
		o->budget = o->s->fetch_max;
		if ((rc = workdir(o)) == 0)
			rc = make(o, arg);
		if (rc != -1 || attempt > 0 || (answer_status(o->r->fail) !=
		    500 && answer_status(o->r->fail) != 502) ||
		    render_nobody_waits(o))
			return rc;
		log_warnx("render %s: trying once more", o->r->key);
		pthread_mutex_lock(&o->s->mtx);
		dir = o->r->dir;
		o->r->dir = NULL;
		o->r->file[0] = '\0';
		pthread_mutex_unlock(&o->s->mtx);
		if (dir != NULL)
			janitor_remove(dir);
		free(dir);
	}
}

/*
 * Get the finished render of key, making it (make(ctl, arg), in this
 * thread) if nobody has or is.  Returns the render with a reference
 * (render_release gives it back), or NULL having answered the error (or
 * with the client gone).
 */
struct render *
render_acquire(struct renders *s, struct http *h, const char *key_,
    render_make_fn make, void *arg)
{
	struct render		*r;
	struct render_ctl	 o;
	char			*key, detail[256];
	enum fail		 f;
	int			 rc;

	if ((key = strdup(key_)) == NULL) {
		answer_fail(h, FAIL_NOMEM, NULL);
		return NULL;
	}
	pthread_mutex_lock(&s->mtx);
	expire(s, proc_now_ms());
	for (r = s->list; r != NULL; r = r->next)
		if (strcmp(r->key, key) == 0)
			break;
	if (r != NULL && r->state == R_DONE && access(r->file, R_OK) == -1) {
		/* Kept, but its file went (removed under us): made again. */
		log_warnx("render %s: its file is gone: rendering again", key);
		unlink_render(s, r);
		if (r->refs == 0)
			dispose(r);
		r = NULL;
	}
	if (r != NULL && r->state == R_DONE) {
		r->refs++;
		pthread_mutex_unlock(&s->mtx);
		free(key);
		return r;
	}
	if (r != NULL) {
		/* Being rendered: wait for it, as long as our client stays. */
		free(key);
		return wait_for(s, r, h);
	}
	if (s->running >= s->max) {
		s->rejected++;
		pthread_mutex_unlock(&s->mtx);
		free(key);
		answer_fail(h, FAIL_RENDERS_BUSY, NULL);
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		pthread_mutex_unlock(&s->mtx);
		free(key);
		answer_fail(h, FAIL_NOMEM, NULL);
		return NULL;
	}
	r->key = key;
	r->state = R_RUNNING;
	r->alive = 1;
	pthread_cond_init(&r->cv, NULL);
	r->next = s->list;
	s->list = r;
	r->linked = 1;
	s->running++;
	s->renders++;
	pthread_mutex_unlock(&s->mtx);

	o.s = s;
	o.r = r;
	o.h = h;
	o.counted = 0;
	rc = make_once_more(&o, make, arg);

	pthread_mutex_lock(&s->mtx);
	s->running--;
	if (rc == 0) {
		r->state = R_DONE;
		r->done_at = proc_now_ms();
		r->refs++;
		s->kept++;
		expire(s, proc_now_ms());
	} else {
		r->state = R_FAILED;
		if (rc == 1)
			render_fail(&o, FAIL_GONE, NULL);
		else
			s->failed++;
		unlink_render(s, r);
	}
	pthread_cond_broadcast(&r->cv);
	if (rc != 0) {
		f = r->fail;
		snprintf(detail, sizeof(detail), "%s", r->detail ? r->detail :
		    "");
		if (r->waiters == 0)
			dispose(r);
		pthread_mutex_unlock(&s->mtx);
		if (rc == -1)
			answer_fail(h, f, detail[0] != '\0' ? detail : NULL);
		return NULL;
	}
	pthread_mutex_unlock(&s->mtx);
	return r;
}

/* The path of a finished render's file. */
const char *
render_file(const struct render *r)
{
	return r->file;
}

/* Give back a render taken with render_acquire(). */
void
render_release(struct renders *s, struct render *r)
{
	pthread_mutex_lock(&s->mtx);
	r->refs--;
	if (!r->linked && r->refs == 0)
		dispose(r);
	else
		expire(s, proc_now_ms());
	pthread_mutex_unlock(&s->mtx);
}

