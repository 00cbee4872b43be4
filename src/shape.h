/* SPDX-License-Identifier: ISC */
/*
 * Shaping: yt-dlp's info for a post into serverjs's answer (shape.c);
 * formats.c chooses the format behind each download link.
 *
 * Used by the handlers: /tiktok (the answer), /stream and /download
 * (the format a token names, afresh), the renders (slideshow.c,
 * audio.c: the images, the sound).
 */
#ifndef SHAPE_H
#define SHAPE_H

#include <stddef.h>

struct json_object;
struct token;

int		 shape_is_photo(struct json_object *info);
int		 shape_has_link(struct json_object *answer);
/* shape_answer's flags. */
#define SHAPE_ALLOW_H265	0x01	/* POST /tiktok's "allowH265": true */

struct json_object *shape_answer(struct json_object *info, int flags,
		    const char *base, const struct token *,
		    const char *page_url);
struct json_object *shape_find_format(struct json_object *info,
		    const char *format_id);
char		*shape_stream_payload(struct json_object *info,
		    struct json_object *fmt, const char *type,
		    const char *page_url);
const char	*shape_author(struct json_object *info);
const char	*shape_egress(struct json_object *info);
struct json_object *shape_audio(struct json_object *info);
size_t		 shape_images(struct json_object *info,
		    struct json_object **out, size_t max);

#endif /* SHAPE_H */
