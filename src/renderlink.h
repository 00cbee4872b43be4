/* SPDX-License-Identifier: ISC */
/*
 * The post a render link names (renderlink.c): the token in ?url=
 * opened, the post found and looked up; and what a render's downloads
 * came to.  Used by the render handlers (slideshow.c, audio.c).
 */
#ifndef RENDERLINK_H
#define RENDERLINK_H

#include <stddef.h>

struct app;
struct fetch_file;
struct http;
struct render_ctl;
struct json_object;
struct posturl;

int	 renderlink_open(struct app *, struct http *, struct posturl *,
	    struct json_object **info);
int	 renderlink_fetched(struct render_ctl *, const struct fetch_file *,
	    size_t n, const char *what);

#endif /* RENDERLINK_H */
