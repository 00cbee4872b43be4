/* SPDX-License-Identifier: ISC */
/*
 * The handlers, one per route or small family (tiktok.c, stream.c,
 * slideshow.c, audio.c, health.c, metrics.c, openapi.c, page.c), and the
 * router that picks them (router.c).  Used by the front (fcgi/) and the
 * tests; handlers use the services, never each other.
 */
#ifndef HANDLERS_H
#define HANDLERS_H

struct app;
struct http;

void	 handle_health(struct app *, struct http *);
void	 handle_tiktok(struct app *, struct http *);
void	 handle_stream(struct app *, struct http *);
void	 handle_download(struct app *, struct http *);
void	 handle_slideshow(struct app *, struct http *);
void	 handle_audio(struct app *, struct http *);
void	 handle_metrics(struct app *, struct http *);
void	 handle_openapi(struct app *, struct http *);
void	 handle_page(struct app *, struct http *);

void	 router_dispatch(struct app *, struct http *);
void	 router_finish(struct app *, struct http *);

#endif /* HANDLERS_H */
