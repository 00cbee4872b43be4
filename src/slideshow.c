/* SPDX-License-Identifier: ISC */
/*
 * GET /download-slideshow?url=TOKEN: a photo post rendered into an MP4 by
 * the ffmpeg CLI, as a render (render.c: single-flight, limited to
 * SLIDESHOW_MAX, time-limited, killed when nobody waits, kept CACHE_TTL
 * seconds).  This file says what the render is: the images and sound
 * fetched in parallel into its folder, and the ffmpeg command.
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

#include "answer.h"
#include "app.h"
#include "handlers.h"
#include "cache.h"
#include "egress.h"
#include "fetch.h"
#include "ffmpeg.h"
#include "http.h"
#include "log.h"
#include "proc.h"
#include "post.h"
#include "shape.h"
#include "render.h"
#include "renderlink.h"
#include "media.h"
#include "token.h"

#define SECONDS_PER_IMAGE	4
#define FPS			2
#define MAX_IMAGES		64

/*
 * Build the ffmpeg command line for n images (and a sound in format
 * audio, if not NULL).
 */
static char **
build_argv(const char *ffmpeg, const char *dir, size_t n, const char *audio,
    const char *out)
{
	char	**av, *fc = NULL, buf[64];
	size_t	  i, k = 0, cap = 64;	/* fewer than 50 */
	int	  total = (int)n * SECONDS_PER_IMAGE;

	if ((av = calloc(cap, sizeof(*av))) == NULL)
		return NULL;
#define ADD(x)	(av[k++] = strdup(x))
	ADD(ffmpeg); ADD("-nostdin"); ADD("-hide_banner");
	ADD("-loglevel"); ADD("error"); ADD("-y");
	/* The images, one after another on stdin (fed when fetched),
	 * each a frame lasting its 4 seconds. */
	ADD("-protocol_whitelist"); ADD("pipe");
	ADD("-f"); ADD("image2pipe");
	snprintf(buf, sizeof(buf), "1/%d", SECONDS_PER_IMAGE);
	ADD("-framerate"); ADD(buf);
	ADD("-i"); ADD("pipe:0");
	if (audio != NULL) {
		ADD("-protocol_whitelist"); ADD("file");
		ADD("-f"); ADD(audio);
		ADD("-stream_loop"); ADD("-1");
		ADD("-i");
		if (asprintf(&av[k++], "%s/audio", dir) == -1)
			av[k - 1] = NULL;
	}
	/* Each image scaled into 1080x1920 and padded with black once,
	 * then repeated at FPS by the fps filter (scaling every frame was
	 * most of the work). */
	if (asprintf(&fc, "[0:v]scale=1080:1920:force_original_aspect_ratio="
	    "decrease,pad=1080:1920:(ow-iw)/2:(oh-ih)/2,setsar=1,"
	    "format=yuv420p,fps=%d[v]", FPS) == -1)
		fc = NULL;
	ADD("-filter_complex");
	av[k++] = fc;
	ADD("-map"); ADD("[v]");
	if (audio) {
		ADD("-map"); ADD("1:a");
		ADD("-c:a"); ADD("aac"); ADD("-b:a"); ADD("128k");
	}
	/* Stills: 2 frames a second (a keyframe per image, so seeking
	 * lands on an image at once), stillimage tuning and a fast preset
	 * encode many times faster than 30 fps at "medium"; every player
	 * we know of plays and seeks such a file (bench/README). */
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
	ADD("-f"); ADD("mp4");
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

/* Start ffmpeg for n images (and a sound in format audio): its stdin
 * goes to *in. */
static pid_t
start(struct render_ctl *o, const char *dir, size_t n, const char *audio,
    const char *out, int *in)
{
	char	**av;
	pid_t	  pid;

	if ((av = build_argv(render_ffmpeg_path(o), dir, n, audio, out)) ==
	    NULL) {
		render_fail(o, FAIL_NOMEM, NULL);
		return -1;
	}
	pid = ffmpeg_start(o, av, in);
	free_argv(av);
	return pid;
}

/* The format the sound is likely in, from what yt-dlp says (ext): ffmpeg
 * starts with it, and again if the file says otherwise. */
static const char *
likely_format(struct json_object *audio)
{
	struct json_object	*e;
	const char		*ext;

	if (!json_object_object_get_ex(audio, "ext", &e) ||
	    (ext = json_object_get_string(e)) == NULL)
		return "mp3";
	if (strcmp(ext, "mp4") == 0 || strcmp(ext, "m4a") == 0)
		return "mov";
	if (strcmp(ext, "webm") == 0)
		return "matroska";
	return "mp3";
}

/*
 * Make the slideshow of a photo post (a render_make_fn): its images and
 * sound fetched in parallel into the render's folder, then ffmpeg.
 */
static int
make_slideshow(struct render_ctl *o, void *arg)
{
	struct json_object	*info = arg;
	struct json_object	*imgs[MAX_IMAGES], *audio, *hh;
	struct fetch_file	 files[MAX_IMAGES + 1];
	const char		*dir = render_dir(o), *out, *guess = NULL;
	const char		*fmt = NULL;
	char			 path[1100];
	size_t			 n, i, nf;
	int			 rc = -1, frc, in = -1;
	pid_t			 pid = -1;

	memset(files, 0, sizeof(files));
	for (i = 0; i <= MAX_IMAGES; i++)
		files[i].fd = -1;
	n = shape_images(info, imgs, MAX_IMAGES);
	audio = shape_audio(info);
	for (i = 0, nf = 0; i < n + (audio != NULL); i++, nf++) {
		struct json_object *f = i < n ? imgs[i] : audio, *u;
		if (i < n)
			snprintf(path, sizeof(path), "%s/img%03zu", dir, i);
		else
			snprintf(path, sizeof(path), "%s/audio", dir);
		files[i].fd = open(path, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC | O_NOFOLLOW, 0600);
		json_object_object_get_ex(f, "url", &u);
		files[i].url = json_object_get_string(u);
		files[i].budget = render_budget(o);
		hh = NULL;
		json_object_object_get_ex(f, "http_headers", &hh);
		files[i].headers = media_headers(hh, NULL);
		if (files[i].fd == -1) {
			render_fail_io(o, errno, path);
			nf++;
			goto out;
		}
	}
	/* ffmpeg loads (a good part of a second) while we fetch: it waits
	 * for its images on stdin. */
	out = render_output(o, "slideshow.mp4");
	if (audio != NULL)
		guess = likely_format(audio);
	if ((pid = start(o, dir, n, guess, out, &in)) == -1)
		goto out;
	frc = fetch_many(egress_find(shape_egress(info)), files, (int)nf,
	    render_deadline(o), render_nobody_waits, o);
	if (frc == -3) {
		rc = 1;
		goto out;
	}
	if (frc == -2) {
		render_fail(o, FAIL_FETCH_TIMEOUT, "the images");
		goto out;
	}
	for (i = 0; i < nf; i++) {
		close(files[i].fd);	/* written whole: ffmpeg reads them */
		files[i].fd = -1;
	}
	if (renderlink_fetched(o, files, n, "image") == -1)
		goto out;
	if (audio != NULL && files[n].werr != 0) {
		render_fail_io(o, files[n].werr, "the sound");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/audio", dir);
	if (audio != NULL && files[n].result == CURLE_OK &&
	    files[n].status / 100 == 2 && (fmt = ffmpeg_format(path)) ==
	    NULL)
		log_warnx("%s: the sound is in no format we know", __func__);
	if (audio != NULL && (fmt == NULL || strcmp(fmt, guess) != 0)) {
		/* Started with a sound it will not find, or in another
		 * format: again, as it is. */
		if (fmt == NULL)
			log_warnx("%s: the sound could not be fetched: "
			    "rendering without it", __func__);
		close(in);
		in = -1;
		ffmpeg_wait(o, pid, 2);
		if ((pid = start(o, dir, n, fmt, out, &in)) == -1)
			goto out;
	}
	for (i = 0, frc = 0; i < n && frc == 0; i++) {
		snprintf(path, sizeof(path), "%s/img%03zu", dir, i);
		frc = ffmpeg_feed(o, in, path);
	}
	close(in);		/* the end of the images */
	in = -1;
	rc = ffmpeg_wait(o, pid, frc);
	pid = -1;
out:
	if (in != -1)
		close(in);
	if (pid != -1)
		ffmpeg_wait(o, pid, rc == 1 ? 1 : -1);
	for (i = 0; i <= MAX_IMAGES; i++) {
		if (files[i].fd != -1)
			close(files[i].fd);
		curl_slist_free_all(files[i].headers);
	}
	return rc;
}

void
handle_slideshow(struct app *app, struct http *h)
{
	char			 name[200], key[128], author[128];
	struct posturl		 pu = { NULL, NULL, 0 };
	struct json_object	*info = NULL;
	struct render		*r;

	if (renderlink_open(app, h, &pu, &info) == -1)
		goto out;
	if (!shape_is_photo(info)) {
		answer_fail(h, FAIL_NOT_PHOTO, NULL);
		goto out;
	}
	snprintf(author, sizeof(author), "%s", shape_author(info));
	snprintf(key, sizeof(key), "slideshow %s", pu.key);
	if ((r = render_acquire(app->renders, h, key, make_slideshow,
	    info)) == NULL)
		goto out;
	snprintf(name, sizeof(name), "%.150s_%lld", author,
	    (long long)time(NULL));
	media_send_file(h, render_file(r), "video/mp4", name, "mp4");
	render_release(app->renders, r);
out:
	cache_release(app->cache, info);
	posturl_clear(&pu);
}
