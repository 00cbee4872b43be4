/* SPDX-License-Identifier: ISC */
/*
 * What every download shares (media.c): used by /stream and /download
 * (stream.c) and by the render handlers (slideshow.c, audio.c).
 */
#ifndef MEDIA_H
#define MEDIA_H

#include <stddef.h>

struct http;
struct json_object;
struct curl_slist;

void		 media_safe_name(const char *, char *, size_t);
void		 media_disposition(struct http *, const char *name,
		    const char *ext);
const char	*media_range(const char *);
int		 media_type_served(const char *);
int		 media_if_range(const char *ifrange, const char *etag,
		    const char *lastmod);
struct curl_slist *media_headers(struct json_object *, const char *range);
void		 media_send_file(struct http *, const char *file,
		    const char *ctype, const char *name, const char *ext);

#endif /* MEDIA_H */
