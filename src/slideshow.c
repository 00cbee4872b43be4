/*
 * GET /download-slideshow?url=TOKEN: a photo post rendered into an MP4 by
 * the ffmpeg CLI.  Images and sound are fetched in parallel into a fresh
 * work folder under TEMP_DIR; ffmpeg runs by argv in its own process
 * group with a deadline.  Renders are limited to SLIDESHOW_MAX at once;
 * requests for a post being rendered wait for that render; a finished
 * render is kept (CACHE_TTL seconds, a bounded number of them) and sent
 * again.  A render nobody waits for any more is killed.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "app.h"
#include "cache.h"
#include "fetch.h"
#include "http.h"
#include "janitor.h"
#include "log.h"
#include "proc.h"
#include "post.h"
#include "shape.h"
#include "slideshow.h"
#include "stream.h"
#include "token.h"

#define SECONDS_PER_IMAGE	4
#define FPS			5
#define MAX_IMAGES		64

extern char **environ;

enum rstate { R_RUNNING, R_DONE, R_FAILED };

struct render {
	char		*key;
	char		*dir;		/* work folder */
	char		 file[1100];	/* dir/slideshow.mp4 */
	enum rstate	 state;
	int		 status;	/* failure: HTTP status ... */
	char		*msg;		/* ... and message */
	int		 waiters;	/* threads waiting, owner excluded */
	int		 alive;		/* of owner and waiters, clients left */
	int		 refs;		/* threads sending the file */
	int		 linked;
	long long	 done_at;
	pthread_cond_t	 cv;
	struct render	*next;
};

struct slideshow {
	pthread_mutex_t	 mtx;
	struct render	*list;
	int		 running;
	int		 kept;
	char		*temp_dir;
	char		*ffmpeg;
	int		 max, timeout;
	long long	 keep_ms;
	int		 keep_max;
	unsigned long	 renders, rejected, failed;
};

/*
 * The renderer: at most max renders at once, each at most timeout
 * seconds, finished ones kept keep_s seconds.  Strings are copied.
 */
struct slideshow *
slideshow_new(const char *temp_dir, const char *ffmpeg, int max,
    int timeout, int keep_s)
{
	struct slideshow	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	pthread_mutex_init(&s->mtx, NULL);
	s->temp_dir = strdup(temp_dir);
	s->ffmpeg = strdup(ffmpeg);
	s->max = max;
	s->timeout = timeout;
	s->keep_ms = (long long)keep_s * 1000;
	s->keep_max = 4 * max;
	if (s->temp_dir == NULL || s->ffmpeg == NULL) {
		slideshow_free(s);
		return NULL;
	}
	return s;
}

static void
render_free(struct render *r)
{
	if (r->dir != NULL)
		janitor_remove(r->dir);
	pthread_cond_destroy(&r->cv);
	free(r->dir);
	free(r->key);
	free(r->msg);
	free(r);
}

static void
unlink_render(struct slideshow *s, struct render *r)
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

void
slideshow_free(struct slideshow *s)
{
	struct render	*r;

	if (s == NULL)
		return;
	while ((r = s->list) != NULL) {
		unlink_render(s, r);
		render_free(r);
	}
	pthread_mutex_destroy(&s->mtx);
	free(s->temp_dir);
	free(s->ffmpeg);
	free(s);
}

void
slideshow_stats(struct slideshow *s, struct slideshow_stats *st)
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
expire(struct slideshow *s, long long now)
{
	struct render	*r, *next, *oldest;

	for (r = s->list; r != NULL; r = next) {
		next = r->next;
		if (r->state == R_DONE && r->refs == 0 &&
		    now - r->done_at >= s->keep_ms) {
			unlink_render(s, r);
			render_free(r);
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
		render_free(oldest);
	}
}

/* Start ffmpeg: stdin and stdout /dev/null, stderr to errlog. */
static pid_t
spawn(char *const argv[], const char *errlog)
{
	int	 fds[3], i, saved;
	pid_t	 pid = -1;

	fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fds[1] = open("/dev/null", O_WRONLY | O_CLOEXEC);
	fds[2] = open(errlog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fds[0] != -1 && fds[1] != -1 && fds[2] != -1)
		pid = proc_spawn(argv, environ, fds);
	saved = errno;
	for (i = 0; i < 3; i++)
		if (fds[i] != -1)
			close(fds[i]);
	errno = saved;
	return pid;
}

/* The last line ffmpeg wrote, for the log. */
static void
log_ffmpeg(const char *errlog)
{
	char	 buf[4096], line[512], *p;
	ssize_t	 n;
	int	 fd;

	if ((fd = open(errlog, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	p = strrchr(buf, '\n');
	log_warnx("ffmpeg: %s", log_filter(line, sizeof(line),
	    p ? p + 1 : buf));
}

struct owner {
	struct slideshow	*s;
	struct render		*r;
	struct http		*h;
	int			 counted;	/* our leaving is counted */
};

/*
 * Is anyone still waiting for this render?  Counts the owner's client
 * leaving once.  Called without the lock.
 */
static int
nobody_waits(void *arg)
{
	struct owner	*o = arg;
	int		 none;

	pthread_mutex_lock(&o->s->mtx);
	if (!o->counted && http_client_gone(o->h)) {
		o->counted = 1;
		o->r->alive--;
	}
	none = o->r->alive <= 0;
	pthread_mutex_unlock(&o->s->mtx);
	return none;
}

static void
fail(struct render *r, int status, const char *msg)
{
	r->status = status;
	free(r->msg);
	r->msg = strdup(msg);
}

/* Build the ffmpeg command line for n images (and a sound, if any). */
static char **
build_argv(const char *ffmpeg, const char *dir, size_t n, int audio,
    const char *out)
{
	char	**av, *fc = NULL, *tmp, buf[64];
	size_t	  i, k = 0, cap = 64 + n * 10;	/* 10 per image, < 50 else */
	int	  total = (int)n * SECONDS_PER_IMAGE;

	if ((av = calloc(cap, sizeof(*av))) == NULL)
		return NULL;
#define ADD(x)	(av[k++] = strdup(x))
	ADD(ffmpeg); ADD("-nostdin"); ADD("-hide_banner");
	ADD("-loglevel"); ADD("error"); ADD("-y");
	for (i = 0; i < n; i++) {
		ADD("-protocol_whitelist"); ADD("file");
		ADD("-loop"); ADD("1");
		snprintf(buf, sizeof(buf), "%d", FPS);
		ADD("-framerate"); ADD(buf);
		snprintf(buf, sizeof(buf), "%d", SECONDS_PER_IMAGE);
		ADD("-t"); ADD(buf);
		ADD("-i");
		if (asprintf(&av[k++], "%s/img%03zu", dir, i) == -1)
			av[k - 1] = NULL;
	}
	if (audio) {
		ADD("-protocol_whitelist"); ADD("file");
		ADD("-stream_loop"); ADD("-1");
		ADD("-i");
		if (asprintf(&av[k++], "%s/audio", dir) == -1)
			av[k - 1] = NULL;
	}
	/* Each image scaled into 1080x1920 and padded with black, then
	 * all of them one after another. */
	fc = strdup("");
	for (i = 0; fc != NULL && i < n; i++) {
		if (asprintf(&tmp, "%s[%zu:v]scale=1080:1920:force_original_"
		    "aspect_ratio=decrease,pad=1080:1920:(ow-iw)/2:(oh-ih)/2,"
		    "setsar=1,format=yuv420p[v%zu];", fc, i, i) == -1)
			tmp = NULL;
		free(fc);
		fc = tmp;
	}
	for (i = 0; fc != NULL && i < n; i++) {
		if (asprintf(&tmp, "%s[v%zu]", fc, i) == -1)
			tmp = NULL;
		free(fc);
		fc = tmp;
	}
	if (fc != NULL) {
		if (asprintf(&tmp, "%sconcat=n=%zu:v=1:a=0[v]", fc, n) == -1)
			tmp = NULL;
		free(fc);
		fc = tmp;
	}
	ADD("-filter_complex");
	av[k++] = fc;
	ADD("-map"); ADD("[v]");
	if (audio) {
		snprintf(buf, sizeof(buf), "%zu:a", n);
		ADD("-map"); ADD(buf);
		ADD("-c:a"); ADD("aac"); ADD("-b:a"); ADD("128k");
	}
	/* Stills: a low frame rate, stillimage tuning and a fast preset
	 * encode several times faster than 30 fps at "medium". */
	ADD("-c:v"); ADD("libx264"); ADD("-preset"); ADD("veryfast");
	ADD("-tune"); ADD("stillimage"); ADD("-crf"); ADD("23");
	snprintf(buf, sizeof(buf), "%d", FPS);
	ADD("-r"); ADD(buf);
	snprintf(buf, sizeof(buf), "%d", FPS * SECONDS_PER_IMAGE);
	ADD("-g"); ADD(buf);
	ADD("-pix_fmt"); ADD("yuv420p");
	snprintf(buf, sizeof(buf), "%d", total);
	ADD("-t"); ADD(buf);
	ADD("-movflags"); ADD("+faststart");
	ADD(out);
#undef ADD
	if (k >= cap)
		abort();	/* cap above is wrong: a bug, not input */
	av[k] = NULL;
	for (i = 0; i < k; i++)
		if (av[i] == NULL) {
			for (i = 0; i < k; i++)
				free(av[i]);
			free(av);
			return NULL;
		}
	return av;
}

static void
free_argv(char **av)
{
	size_t	 i;

	if (av == NULL)
		return;
	for (i = 0; av[i] != NULL; i++)
		free(av[i]);
	free(av);
}

/*
 * Fetch and render, in the owner's thread.  Returns 0 with r->file
 * written, 1 when nobody waits any more, -1 with r->status/msg set.
 */
static int
render(struct owner *o, struct json_object *info)
{
	struct slideshow	*s = o->s;
	struct render		*r = o->r;
	struct json_object	*imgs[MAX_IMAGES], *audio, *hh;
	struct fetch_file	 files[MAX_IMAGES + 1];
	char			 path[1100], errlog[1100], tmpl[960], **av;
	size_t			 n, i, nf;
	long long		 deadline;
	pid_t			 pid;
	int			 rc = -1, status, have_audio, frc;
	struct stat		 st;

	memset(files, 0, sizeof(files));
	for (i = 0; i <= MAX_IMAGES; i++)
		files[i].fd = -1;
	deadline = proc_now_ms() + (long long)s->timeout * 1000;
	if (mkdir(s->temp_dir, 0700) == -1 && errno != EEXIST) {
		log_warn("%s: %s", __func__, s->temp_dir);
		fail(r, 500, "Could not make a work folder");
		return -1;
	}
	snprintf(tmpl, sizeof(tmpl), "%s/render-XXXXXX", s->temp_dir);
	if (mkdtemp(tmpl) == NULL) {
		log_warn("%s: mkdtemp %s", __func__, tmpl);
		fail(r, 500, "Could not make a work folder");
		return -1;
	}
	pthread_mutex_lock(&s->mtx);
	r->dir = strdup(tmpl);
	pthread_mutex_unlock(&s->mtx);

	n = shape_images(info, imgs, MAX_IMAGES);
	audio = shape_audio(info);
	for (i = 0, nf = 0; i < n + (audio != NULL); i++, nf++) {
		struct json_object *f = i < n ? imgs[i] : audio, *u;
		if (i < n)
			snprintf(path, sizeof(path), "%s/img%03zu", tmpl, i);
		else
			snprintf(path, sizeof(path), "%s/audio", tmpl);
		files[i].fd = open(path, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC | O_NOFOLLOW, 0600);
		json_object_object_get_ex(f, "url", &u);
		files[i].url = json_object_get_string(u);
		hh = NULL;
		json_object_object_get_ex(f, "http_headers", &hh);
		files[i].headers = stream_headers(hh, NULL);
		if (files[i].fd == -1) {
			log_warn("%s: %s", __func__, path);
			fail(r, 500, "Could not write to the work folder");
			nf++;
			goto out;
		}
	}
	frc = fetch_many(files, (int)nf, deadline, nobody_waits, o);
	if (frc == -3) {
		rc = 1;
		goto out;
	}
	if (frc == -2) {
		fail(r, 504, "Fetching the images took too long");
		goto out;
	}
	for (i = 0; i < n; i++)
		if (files[i].result != CURLE_OK || files[i].status / 100 != 2) {
			snprintf(path, sizeof(path), "Could not fetch image %zu: "
			    "%s %ld", i + 1, files[i].result == CURLE_OK ?
			    "the CDN answered" : curl_easy_strerror(
			    files[i].result), files[i].status);
			fail(r, 502, path);
			goto out;
		}
	have_audio = audio != NULL && files[n].result == CURLE_OK &&
	    files[n].status / 100 == 2;
	if (audio != NULL && !have_audio)
		log_warnx("%s: the sound could not be fetched: rendering "
		    "without it", __func__);

	snprintf(errlog, sizeof(errlog), "%s/ffmpeg.log", tmpl);
	snprintf(r->file, sizeof(r->file), "%s/slideshow.mp4", tmpl);
	if ((av = build_argv(s->ffmpeg, tmpl, n, have_audio, r->file)) ==
	    NULL) {
		fail(r, 500, "Out of memory");
		goto out;
	}
	pid = spawn(av, errlog);
	free_argv(av);
	if (pid == -1) {
		log_warn("%s: %s", __func__, s->ffmpeg);
		fail(r, 500, "Could not start ffmpeg");
		goto out;
	}
	for (;;) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		if (proc_now_ms() >= deadline || nobody_waits(o)) {
			kill(-pid, SIGKILL);
			while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
				continue;
			if (proc_now_ms() >= deadline) {
				log_warnx("%s: ffmpeg past %d s: killed",
				    __func__, s->timeout);
				fail(r, 504, "Rendering took too long");
			} else
				rc = 1;
			goto out;
		}
		usleep(50000);
	}
	/* ffmpeg's own children, if any, go with its group. */
	kill(-pid, SIGKILL);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    stat(r->file, &st) == -1 || st.st_size == 0) {
		log_ffmpeg(errlog);
		fail(r, 500, "Could not render the slideshow");
		goto out;
	}
	rc = 0;
out:
	for (i = 0; i <= MAX_IMAGES; i++) {
		if (files[i].fd != -1)
			close(files[i].fd);
		curl_slist_free_all(files[i].headers);
	}
	return rc;
}

/* Send the finished file: Range, HEAD, the author's name and the time. */
static void
send_file(struct http *h, const char *file, const char *author)
{
	char		 buf[65536], num[96], name[200];
	const char	*range;
	struct stat	 st;
	long long	 start = 0, end, size;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		if (fd != -1)
			close(fd);
		http_error(h, 500, "The rendered file is gone");
		return;
	}
	size = (long long)st.st_size;
	end = size - 1;
	if ((range = stream_range(http_param(h, "HTTP_RANGE"))) != NULL) {
		const char *dash = strchr(range + 6, '-');
		if (range[6] == '-')
			start = size - strtoll(range + 7, NULL, 10);
		else {
			start = strtoll(range + 6, NULL, 10);
			if (dash[1] != '\0')
				end = strtoll(dash + 1, NULL, 10);
		}
		if (start < 0)
			start = 0;
		if (end >= size)
			end = size - 1;
		if (start >= size || start > end) {
			snprintf(num, sizeof(num), "bytes */%lld", size);
			http_header(h, "Content-Range", num);
			http_error(h, 416, "Requested range not satisfiable");
			close(fd);
			return;
		}
		http_status(h, 206);
		snprintf(num, sizeof(num), "bytes %lld-%lld/%lld", start, end,
		    size);
		http_header(h, "Content-Range", num);
	}
	http_header(h, "Content-Type", "video/mp4");
	snprintf(num, sizeof(num), "%lld", end - start + 1);
	http_header(h, "Content-Length", num);
	http_header(h, "Accept-Ranges", "bytes");
	http_header(h, "Cache-Control", "private, no-store");
	snprintf(name, sizeof(name), "%.150s_%lld", author,
	    (long long)time(NULL));
	stream_disposition(h, name, "mp4");
	if (http_is_head(h)) {
		http_end(h);
		close(fd);
		return;
	}
	while (start <= end) {
		n = pread(fd, buf, (size_t)(end - start + 1) < sizeof(buf) ?
		    (size_t)(end - start + 1) : sizeof(buf), start);
		if (n <= 0)
			break;
		if (http_write(h, buf, (size_t)n) != HERR_OK)
			break;
		start += n;
	}
	close(fd);
}

/*
 * Get a finished render of the post, rendering it if needed.  Returns
 * the render with a reference (slideshow_release gives it back), or NULL
 * having answered the error (or with the client gone).
 */
static struct render *
acquire(struct slideshow *s, struct http *h, const char *post,
    struct json_object *info)
{
	struct render	*r;
	struct owner	 o;
	char		*key, msg[256];
	int		 rc, status, gone = 0;
	struct timespec	 ts;

	if ((key = strdup(post)) == NULL) {
		http_error(h, 500, "Out of memory");
		return NULL;
	}
	pthread_mutex_lock(&s->mtx);
	expire(s, proc_now_ms());
	for (r = s->list; r != NULL; r = r->next)
		if (strcmp(r->key, key) == 0)
			break;
	if (r != NULL && r->state == R_DONE) {
		r->refs++;
		pthread_mutex_unlock(&s->mtx);
		free(key);
		return r;
	}
	if (r != NULL) {
		/* Being rendered: wait for it, as long as our client stays. */
		free(key);
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
		status = r->status;
		snprintf(msg, sizeof(msg), "%s", r->msg ? r->msg : "failed");
		if (r->waiters == 0)
			render_free(r);		/* failed: unlinked already */
		pthread_mutex_unlock(&s->mtx);
		http_error(h, status, msg);
		return NULL;
	}
	if (s->running >= s->max) {
		s->rejected++;
		pthread_mutex_unlock(&s->mtx);
		free(key);
		http_header(h, "Retry-After", "10");
		http_error(h, 503, "Too many slideshows are being rendered. "
		    "Please try again shortly.");
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		pthread_mutex_unlock(&s->mtx);
		free(key);
		http_error(h, 500, "Out of memory");
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
	rc = render(&o, info);

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
			fail(r, 499, "nobody waits for this render");
		else
			s->failed++;
		unlink_render(s, r);
	}
	pthread_cond_broadcast(&r->cv);
	if (rc != 0) {
		status = r->status;
		snprintf(msg, sizeof(msg), "%s", r->msg ? r->msg : "failed");
		if (r->waiters == 0)
			render_free(r);
		pthread_mutex_unlock(&s->mtx);
		if (rc == -1)
			http_error(h, status, msg);
		return NULL;
	}
	pthread_mutex_unlock(&s->mtx);
	return r;
}

static void
release(struct slideshow *s, struct render *r)
{
	pthread_mutex_lock(&s->mtx);
	r->refs--;
	if (!r->linked && r->refs == 0)
		render_free(r);
	else
		expire(s, proc_now_ms());
	pthread_mutex_unlock(&s->mtx);
}

void
handle_slideshow(struct app *app, struct http *h)
{
	char			*tok, *page = NULL, *msg = NULL, author[128];
	struct posturl		 pu = { NULL, NULL, 0 };
	struct json_object	*info = NULL;
	struct render		*r;
	enum pool_err		 err;

	if ((tok = http_query(h, "url")) == NULL || *tok == '\0') {
		http_error(h, 400, "Missing url parameter");
		goto out;
	}
	switch (token_open(app->token, tok, &page)) {
	case TOKEN_OK:
		break;
	case TOKEN_EXPIRED:
		http_error(h, 410, "Download link has expired");
		goto out;
	default:
		http_error(h, 400, "Invalid download link");
		goto out;
	}
	if (post_find(app, page, &pu) != POSTURL_OK) {
		http_error(h, 400, "Invalid download link");
		goto out;
	}
	if ((err = cache_get(app->cache, pu.key, pu.page, &info, &msg)) !=
	    POOL_OK) {
		answer_pool_error(h, err, msg);
		goto out;
	}
	if (!shape_is_photo(info)) {
		http_error(h, 400, "Only image posts are supported");
		goto out;
	}
	snprintf(author, sizeof(author), "%s", shape_author(info));
	if ((r = acquire(app->slideshow, h, pu.key, info)) == NULL)
		goto out;
	send_file(h, r->file, author);
	release(app->slideshow, r);
out:
	cache_release(app->cache, info);
	free(msg);
	free(page);
	free(tok);
	posturl_clear(&pu);
}
