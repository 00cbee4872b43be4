/* SPDX-License-Identifier: ISC */
/*
 * Renders (render.c): files made by ffmpeg for a post, single-flight,
 * limited, time-limited, killed when nobody waits, kept a while.  Used
 * by the slideshow handler, which says how to make its file (a
 * render_make_fn: fetch the inputs into render_dir(), run ffmpeg with
 * ffmpeg.h).  The app holds one struct renders; /health and
 * /metrics read its stats.
 */
#ifndef RENDER_H
#define RENDER_H

#include "fail.h"

struct http;
struct render;
struct render_ctl;
struct renders;

struct render_stats {
	int		 running;
	int		 kept;
	unsigned long	 renders, rejected, failed;
};

/*
 * Make the render's file in render_dir(ctl) (named with render_output):
 * 0 when made, 1 when nobody waits any more (render_nobody_waits), -1
 * with render_fail() said.  Runs in the thread that asked first.
 */
typedef int (*render_make_fn)(struct render_ctl *, void *arg);

struct renders	*render_new(const char *temp_dir, const char *ffmpeg,
		    int max, int timeout, int keep_s, long long fetch_max);
void		 render_free(struct renders *);
void		 render_stats(struct renders *, struct render_stats *);

struct render	*render_acquire(struct renders *, struct http *,
		    const char *key, render_make_fn, void *arg);
const char	*render_file(const struct render *);
void		 render_release(struct renders *, struct render *);

/* For make functions. */
const char	*render_dir(const struct render_ctl *);
const char	*render_output(struct render_ctl *, const char *name);
const char	*render_ffmpeg_path(const struct render_ctl *);
long long	 render_deadline(const struct render_ctl *);
int		 render_nobody_waits(void *ctl);
void		 render_fail(struct render_ctl *, enum fail,
		    const char *detail);
void		 render_fail_io(struct render_ctl *, int err, const char *what);
int		 render_disk_full(const struct render_ctl *);
long long	*render_budget(struct render_ctl *);
const char	*render_output_path(const struct render_ctl *);
int		 render_timeout(const struct render_ctl *);

#endif /* RENDER_H */
