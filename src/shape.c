/* SPDX-License-Identifier: ISC */
/*
 * The answer to POST /tiktok, field by field as serverjs has it and
 * README.md ("POST /tiktok") and openapi.json describe it, from the
 * info yt-dlp gives (old and new releases).
 * Everything here only reads info: it may be shared through the cache.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "formats.h"
#include "info.h"
#include "shape.h"
#include "token.h"

#define MAX_PHOTOS	256

/*
 * A count or size as an integer: negative, NaN and absurd values (yt-dlp
 * passes through whatever TikTok says) become 0 or are capped, never an
 * out-of-range conversion.
 */
static int64_t
to_int64(double d)
{
	if (!(d > 0))
		return 0;
	if (d >= 9.0e15)	/* beyond any real count, still exact */
		return (int64_t)9.0e15;
	return (int64_t)d;
}

static const char *
first(const char *a, const char *b, const char *c)
{
	return a != NULL ? a : b != NULL ? b : c;
}

/* The author's name as we put it in file names and tokens. */
const char *
shape_author(struct json_object *info)
{
	return first(info_str(info, "uploader"), info_str(info, "channel"),
	    "unknown");
}

/*
 * What handlers ask of a post's formats, answered by formats.c (which
 * decides what each link names): the format with this format_id, the
 * post's sound, its photos, whether it is a photo post.
 */
struct json_object *
shape_find_format(struct json_object *info, const char *id)
{
	return formats_find(info, id);
}

struct json_object *
shape_audio(struct json_object *info)
{
	return formats_audio(info);
}

size_t
shape_images(struct json_object *info, struct json_object **out, size_t max)
{
	return formats_images(info, out, max);
}

int
shape_is_photo(struct json_object *info)
{
	return formats_is_photo(info);
}

/* A deep copy of the format's http_headers (string values only). */
static struct json_object *
headers_copy(struct json_object *fmt)
{
	struct json_object	*hh, *out = json_object_new_object();

	if (json_object_object_get_ex(fmt, "http_headers", &hh) &&
	    json_object_is_type(hh, json_type_object)) {
		json_object_object_foreach(hh, k, v) {
			if (json_object_is_type(v, json_type_string))
				json_object_object_add(out, k,
				    json_object_new_string(
				    json_object_get_string(v)));
		}
	}
	return out;
}

/* The egress (egress.h) that extracted info, or NULL. */
const char *
shape_egress(struct json_object *info)
{
	return info_str(info, "_egress");
}

/*
 * The payload of a /stream (or /download) token for one format, in
 * serverjs's shape so that serverjs serves it too: a /stream token's
 * "url" is the post's page URL (serverjs runs yt-dlp -f format_id on
 * it), a /download token's (type "image") the file's own URL (serverjs
 * fetches it).  What we need beside it goes under keys serverjs ignores:
 * cdn_url, http_headers and egress (the fetch) and, in a /download token,
 * page_url (the page, to extract afresh when the CDN URL has expired).
 * Caller frees.
 */
char *
shape_stream_payload(struct json_object *info, struct json_object *fmt,
    const char *type, const char *page_url)
{
	struct json_object	*o = json_object_new_object();
	double			 size;
	char			*out;
	int			 image = strcmp(type, "image") == 0;

	json_object_object_add(o, "url", json_object_new_string(
	    image || page_url == NULL ? info_str(fmt, "url") : page_url));
	if (!image && page_url != NULL)
		json_object_object_add(o, "cdn_url",
		    json_object_new_string(info_str(fmt, "url")));
	json_object_object_add(o, "author",
	    json_object_new_string(shape_author(info)));
	json_object_object_add(o, "type", json_object_new_string(type));
	if (info_num(fmt, "filesize", &size) && size > 0)
		json_object_object_add(o, "filesize",
		    json_object_new_int64(to_int64(size)));
	json_object_object_add(o, "http_headers", headers_copy(fmt));
	if (page_url != NULL && image)
		json_object_object_add(o, "page_url",
		    json_object_new_string(page_url));
	if (info_str(fmt, "format_id") != NULL)
		json_object_object_add(o, "format_id",
		    json_object_new_string(info_str(fmt, "format_id")));
	if (shape_egress(info) != NULL)
		json_object_object_add(o, "egress",
		    json_object_new_string(shape_egress(info)));
	out = strdup(json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return out;
}

/* BASE/route?param=TOKEN for a payload, as a new JSON string; or NULL. */
static struct json_object *
make_link(const char *base, const char *route, const char *param,
    const struct token *t, const char *payload)
{
	char			*tok, *s;
	struct json_object	*o;

	if (payload == NULL || (tok = token_seal(t, payload)) == NULL)
		return NULL;
	if (asprintf(&s, "%s/%s?%s=%s", base, route, param, tok) == -1) {
		free(tok);
		return NULL;
	}
	free(tok);
	o = json_object_new_string(s);
	free(s);
	return o;
}

static struct json_object *
format_link(struct json_object *info, struct json_object *fmt,
    const char *type, const char *base, const struct token *t,
    const char *page_url)
{
	char			*payload;
	struct json_object	*o;

	payload = shape_stream_payload(info, fmt, type, page_url);
	o = make_link(base, "stream", "data", t, payload);
	free(payload);
	return o;
}

static void
add_num(struct json_object *o, const char *key, struct json_object *info,
    const char *from)
{
	double	 d = 0;

	info_num(info, from, &d);
	json_object_object_add(o, key, json_object_new_int64(to_int64(d)));
}

/* The fields video and photo answers share. */
static void
add_metadata(struct json_object *o, struct json_object *info,
    const char *audio_url)
{
	struct json_object	*st, *au, *th, *t0, *an;
	const char		*title, *avatar = NULL, *nick = NULL;
	double			 dur = 0;
	int64_t			 ms;

	title = first(info_str(info, "title"), info_str(info, "fulltitle"), "");
	json_object_object_add(o, "title", json_object_new_string(title));
	json_object_object_add(o, "description", json_object_new_string(
	    first(info_str(info, "description"), info_str(info, "title"), "")));
	st = json_object_new_object();
	add_num(st, "play_count", info, "view_count");
	add_num(st, "digg_count", info, "like_count");
	add_num(st, "comment_count", info, "comment_count");
	add_num(st, "share_count", info, "repost_count");
	json_object_object_add(o, "statistics", st);
	if (json_object_object_get_ex(info, "author", &an) &&
	    json_object_is_type(an, json_type_object))
		nick = info_str(an, "nickname");
	json_object_object_add(o, "artist", json_object_new_string(
	    first(info_str(info, "artist"), nick, "")));
	json_object_object_add(o, "cover", json_object_new_string(
	    first(info_str(info, "thumbnail"), NULL, "")));
	info_num(info, "duration", &dur);
	ms = to_int64(dur * 1000 + 0.5);
	json_object_object_add(o, "duration", json_object_new_int64(ms));
	json_object_object_add(o, "audio",
	    json_object_new_string(audio_url ? audio_url : ""));
	json_object_object_add(o, "music_duration", json_object_new_int64(ms));

	if (json_object_object_get_ex(info, "thumbnails", &th) &&
	    json_object_is_type(th, json_type_array) &&
	    json_object_array_length(th) > 0 &&
	    (t0 = json_object_array_get_idx(th, 0)) != NULL)
		avatar = info_str(t0, "url");
	if (avatar == NULL)
		avatar = "";
	au = json_object_new_object();
	json_object_object_add(au, "nickname", json_object_new_string(
	    first(info_str(info, "uploader"), info_str(info, "channel"), "unknown")));
	json_object_object_add(au, "uniqueId", json_object_new_string(
	    first(info_str(info, "uploader_id"), info_str(info, "uploader"),
	    "unknown")));
	json_object_object_add(au, "signature", json_object_new_string(
	    first(info_str(info, "description"), NULL, "")));
	json_object_object_add(au, "avatar", json_object_new_string(avatar));
	json_object_object_add(au, "avatarThumb",
	    json_object_new_string(avatar));
	json_object_object_add(au, "avatarMedium",
	    json_object_new_string(avatar));
	json_object_object_add(au, "avatarLarger",
	    json_object_new_string(avatar));
	json_object_object_add(o, "author", au);
}

static void
add_link(struct json_object *dl, const char *key, struct json_object *l)
{
	if (l != NULL)
		json_object_object_add(dl, key, l);
}

/* A /stream link for fmt under key, when there is such a format. */
static void
add_video(struct json_object *dl, const char *key, struct json_object *info,
    struct json_object *fmt, const char *base, const struct token *t,
    const char *page)
{
	if (fmt != NULL)
		add_link(dl, key, format_link(info, fmt, "video", base, t,
		    page));
}

static struct json_object *
video_answer(struct json_object *info, int flags, const char *base,
    const struct token *t, const char *page)
{
	struct formats_choice	 c;
	struct json_object	*o, *dl, *a, *mp3;

	formats_choose(info, flags & SHAPE_ALLOW_H265 ?
	    FORMATS_ALLOW_H265 : 0, &c);
	a = formats_audio(info);
	mp3 = a == NULL ? NULL : formats_is_mp3(a) ?
	    format_link(info, a, "mp3", base, t, page) :
	    make_link(base, "download-audio", "url", t, page);

	o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string("tunnel"));
	/* "audio" names what the mp3 link delivers: the link itself. */
	add_metadata(o, info, mp3 ? json_object_get_string(mp3) : NULL);
	dl = json_object_new_object();
	add_video(dl, "watermark", info, c.watermark, base, t, page);
	add_video(dl, "no_watermark", info, c.sd, base, t, page);
	add_video(dl, "no_watermark_hd", info, c.hd, base, t, page);
	add_video(dl, "watermark_hd", info, c.hd2, base, t, page);
	add_video(dl, "no_watermark_hevc", info, c.hevc, base, t, page);
	add_link(dl, "mp3", mp3);
	json_object_object_add(o, "download_link", dl);
	return o;
}

static struct json_object *
photo_answer(struct json_object *info, const char *base,
    const struct token *t, const char *page)
{
	struct json_object	*img[MAX_PHOTOS], *o, *dl, *photos, *imgs;
	struct json_object	*a, *p;
	size_t			 n, i;
	char			*payload;

	a = formats_audio(info);
	o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string("picker"));
	photos = json_object_new_array();
	imgs = json_object_new_array();
	n = formats_images(info, img, MAX_PHOTOS);
	for (i = 0; i < n; i++) {
		p = json_object_new_object();
		json_object_object_add(p, "type",
		    json_object_new_string("photo"));
		json_object_object_add(p, "url",
		    json_object_new_string(info_str(img[i], "url")));
		json_object_array_add(photos, p);
		payload = shape_stream_payload(info, img[i], "image", page);
		if ((p = make_link(base, "download", "data", t, payload)) != NULL)
			json_object_array_add(imgs, p);
		free(payload);
	}
	json_object_object_add(o, "photos", photos);
	add_metadata(o, info, a ? info_str(a, "url") : NULL);
	dl = json_object_new_object();
	json_object_object_add(dl, "no_watermark", imgs);
	if (a != NULL)
		add_link(dl, "mp3", format_link(info, a, "mp3", base, t,
		    page));
	json_object_object_add(o, "download_link", dl);
	add_link(o, "download_slideshow_link", make_link(base, "download-slideshow",
	    "url", t, page));
	return o;
}

/*
 * The answer for a post: "tunnel" for a video, "picker" for a photo
 * post.  Links are base + "/stream?data=" etc. with tokens sealed by t.
 * page_url is the post's page as we name it (for re-extraction and
 * slideshows; yt-dlp's webpage_url if NULL).  flags: SHAPE_ALLOW_H265
 * makes no_watermark_hd the best HD file whatever its codec (formats.c
 * chooses every link).
 * Returns a new object the caller puts, or NULL.
 */
struct json_object *
shape_answer(struct json_object *info, int flags, const char *base,
    const struct token *t, const char *page_url)
{
	const char	*page = first(page_url, info_str(info, "webpage_url"),
			    NULL);

	if (formats_is_photo(info))
		return photo_answer(info, base, t, page);
	return video_answer(info, flags, base, t, page);
}

/*
 * Does an answer offer anything to download?  A 200 without a link
 * helps nobody: the handler answers 502 instead.
 */
int
shape_has_link(struct json_object *ans)
{
	struct json_object	*dl, *nw;

	if (!json_object_object_get_ex(ans, "download_link", &dl) ||
	    !json_object_is_type(dl, json_type_object))
		return 0;
	if (json_object_object_get_ex(dl, "no_watermark", &nw) &&
	    json_object_is_type(nw, json_type_array))
		return json_object_array_length(nw) > 0;
	return json_object_object_length(dl) > 0;
}
