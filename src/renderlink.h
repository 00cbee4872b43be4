/*
 * The post a render link names (renderlink.c): the token in ?url=
 * opened, the post found and looked up.  Used by the render handlers
 * (slideshow.c, audio.c).
 */
#ifndef RENDERLINK_H
#define RENDERLINK_H

struct app;
struct http;
struct json_object;
struct posturl;

int	 renderlink_open(struct app *, struct http *, struct posturl *,
	    struct json_object **info);

#endif /* RENDERLINK_H */
