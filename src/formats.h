/* SPDX-License-Identifier: ISC */
/*
 * Formats (formats.c): which of yt-dlp's formats stands behind each
 * download link, and what kind of format each one is.
 *
 * Used by shape.c (the answer to POST /tiktok) and, through it, by the
 * handlers that serve what a link names.
 */
#ifndef FORMATS_H
#define FORMATS_H

#include <stddef.h>

struct json_object;

/* The short side from which a frame is HD. */
#define FORMATS_HD_SIDE		720

/* formats_choose's flags. */
#define FORMATS_ALLOW_H265	0x01	/* no_watermark_hd: any codec */

/*
 * The formats behind a video answer's links, each NULL when there is
 * none.  They belong to the info they were chosen from.
 */
struct formats_choice {
	struct json_object	*watermark;	/* TikTok's watermarked file */
	struct json_object	*sd;		/* no_watermark */
	struct json_object	*hd;		/* no_watermark_hd */
	struct json_object	*hd2;		/* watermark_hd (a clean file) */
	struct json_object	*hevc;		/* no_watermark_hevc */
};

void		 formats_choose(struct json_object *info, int flags,
		    struct formats_choice *);
int		 formats_short_side(struct json_object *fmt);
struct json_object *formats_audio(struct json_object *info);
int		 formats_is_mp3(struct json_object *fmt);
struct json_object *formats_find(struct json_object *info,
		    const char *format_id);
size_t		 formats_images(struct json_object *info,
		    struct json_object **out, size_t max);
int		 formats_is_photo(struct json_object *info);

#endif /* FORMATS_H */
