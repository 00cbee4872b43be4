/* SPDX-License-Identifier: ISC */
/*
 * GET /download-audio?url=TOKEN: the sound of a video post as a real
 * MP3 (audio/mpeg), the "mp3" link of a video answer.  A render (render.c:
 * single-flight, kept a while, limited to SLIDESHOW_MAX with the
 * slideshows, time-limited, killed when nobody waits): the source (the
 * first audio-only format, else the best clean video: shape_audio) is
 * fetched into the render's folder, and ffmpeg takes its first audio
 * stream into MP3.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "answer.h"
#include "app.h"
#include "cache.h"
#include "egress.h"
#include "fetch.h"
#include "ffmpeg.h"
#include "handlers.h"
#include "http.h"
#include "log.h"
#include "media.h"
#include "post.h"
#include "render.h"
#include "renderlink.h"
#include "shape.h"

/* Make the MP3 (a render_make_fn): the source fetched, then ffmpeg. */
static int
make_audio(struct render_ctl *o, void *arg)
{
	struct json_object	*info = arg, *f = shape_audio(info), *u;
	struct json_object	*hh = NULL;
	struct fetch_file	 src;
	char			 path[1100];
	char			*av[26] = { NULL };
	const char		*out, *fmt;
	int			 rc = -1, frc, k;

	memset(&src, 0, sizeof(src));
	snprintf(path, sizeof(path), "%s/source", render_dir(o));
	src.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	json_object_object_get_ex(f, "url", &u);
	src.url = json_object_get_string(u);
	src.budget = render_budget(o);
	json_object_object_get_ex(f, "http_headers", &hh);
	src.headers = media_headers(hh, NULL);
	if (src.fd == -1) {
		render_fail_io(o, errno, path);
		goto out;
	}
	frc = fetch_many(egress_find(shape_egress(info)), &src, 1,
	    render_deadline(o), render_nobody_waits, o);
	if (frc == -3) {
		rc = 1;
		goto out;
	}
	if (frc == -2) {
		render_fail(o, FAIL_FETCH_TIMEOUT, "the video");
		goto out;
	}
	if (renderlink_fetched(o, &src, 1, "the video") == -1)
		goto out;
	if ((fmt = ffmpeg_format(path)) == NULL) {
		/* A playlist, say: not handed to ffmpeg. */
		render_fail(o, FAIL_MEDIA_FORMAT, NULL);
		goto out;
	}
	out = render_output(o, "audio.mp3");
	{
		/* The first sound, whatever else the file holds; VBR
		 * quality 2, about 190 kbit/s. */
		const char *const args[] = { render_ffmpeg_path(o),
		    "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
		    "-protocol_whitelist", "file", "-f", fmt, "-i", path,
		    "-map", "0:a:0", "-vn", "-c:a", "libmp3lame", "-q:a", "2",
		    "-f", "mp3", out, NULL };

		for (k = 0; args[k] != NULL; k++)
			if ((av[k] = strdup(args[k])) == NULL)
				break;
		av[k] = NULL;
		if (args[k] != NULL) {
			render_fail(o, FAIL_NOMEM, NULL);
			goto out;
		}
	}
	rc = ffmpeg_run(o, av);
out:
	for (k = 0; k < 26 && av[k] != NULL; k++)
		free(av[k]);
	if (src.fd != -1)
		close(src.fd);
	curl_slist_free_all(src.headers);
	return rc;
}

void
handle_audio(struct app *app, struct http *h)
{
	char			 key[128];
	struct posturl		 pu = { NULL, NULL, 0 };
	struct json_object	*info = NULL;
	struct render		*r;

	if (renderlink_open(app, h, &pu, &info) == -1)
		goto out;
	if (shape_is_photo(info) || shape_audio(info) == NULL) {
		answer_fail(h, FAIL_NO_SOUND, NULL);
		goto out;
	}
	snprintf(key, sizeof(key), "audio %s", pu.key);
	if ((r = render_acquire(app->renders, h, key, make_audio, info)) ==
	    NULL)
		goto out;
	media_send_file(h, render_file(r), "audio/mpeg", shape_author(info),
	    "mp3");
	render_release(app->renders, r);
out:
	cache_release(app->cache, info);
	posturl_clear(&pu);
}
