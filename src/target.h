/* SPDX-License-Identifier: ISC */
/*
 * What a download link points at: the payload of a /stream or /download
 * token read into the CDN URL, its headers and what names the file, or
 * the post page and format to extract again.  Pure: no I/O.
 *
 * Services: used by the download handlers (stream.c).
 */
#ifndef TARGET_H
#define TARGET_H

struct json_object;

struct target {
	char			*url;		/* the CDN URL, or NULL */
	struct json_object	*headers;	/* what it needs, or NULL */
	char			*author;
	char			*type;		/* video, mp3, image */
	char			*page_url;	/* for re-extraction */
	char			*format_id;
	char			*egress;	/* the way it came, or NULL */
};

int		 target_parse(const char *payload, const char *deftype,
		    struct target *);
void		 target_clear(struct target *);

#endif /* TARGET_H */
