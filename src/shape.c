/*
 * The answer to POST /tiktok, field by field as DESIGN.md §2 and
 * serverjs have it, from the info yt-dlp gives (old and new releases).
 * Everything here only reads info: it may be shared through the cache.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "shape.h"
#include "token.h"

#define MAX_FORMATS	256

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

/* A non-empty string member, or NULL. */
static const char *
jstr(struct json_object *o, const char *key)
{
	struct json_object	*v;
	const char		*s;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	return *s != '\0' ? s : NULL;
}

/* A numeric member into *out; 0 if absent, null or not a number. */
static int
jnum(struct json_object *o, const char *key, double *out)
{
	struct json_object	*v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int) &&
	    !json_object_is_type(v, json_type_double))
		return 0;
	*out = json_object_get_double(v);
	return 1;
}

static const char *
first(const char *a, const char *b, const char *c)
{
	return a != NULL ? a : b != NULL ? b : c;
}

static struct json_object *
formats_of(struct json_object *info)
{
	struct json_object	*f;

	if (!json_object_object_get_ex(info, "formats", &f) ||
	    !json_object_is_type(f, json_type_array))
		return NULL;
	return f;
}

static int
is_image(struct json_object *f)
{
	const char	*id = jstr(f, "format_id");

	return id != NULL && strncmp(id, "image-", 6) == 0;
}

/*
 * A codec is absent only when yt-dlp says "none": null or no key means
 * unknown (yt-dlp 2023.03.04 reading the web page gives every format
 * null codecs), and an unknown codec counts as there.
 */
static int
codec_none(struct json_object *f, const char *key)
{
	const char	*c = jstr(f, key);

	return c != NULL && strcmp(c, "none") == 0;
}

/* Some yt-dlp releases name the post's sound "audio" whatever it says
 * of its codecs (the app API's photo posts). */
static int
is_audio_only(struct json_object *f)
{
	const char	*id = jstr(f, "format_id");

	if (is_image(f) || jstr(f, "url") == NULL)
		return 0;
	if (id != NULL && strcmp(id, "audio") == 0)
		return 1;
	return codec_none(f, "vcodec") && !codec_none(f, "acodec");
}

static int
is_video(struct json_object *f)
{
	return !is_image(f) && !is_audio_only(f) && jstr(f, "url") != NULL &&
	    !codec_none(f, "vcodec") && !codec_none(f, "acodec");
}

/* An MP3 file already (a photo post's music, an MP3 audio format). */
static int
is_mp3(struct json_object *f)
{
	const char	*c = jstr(f, "acodec"), *e = jstr(f, "ext");

	return is_audio_only(f) && ((c != NULL && strcmp(c, "mp3") == 0) ||
	    (e != NULL && strcmp(e, "mp3") == 0));
}

static int
is_hevc(struct json_object *f)
{
	const char	*c = jstr(f, "vcodec");

	return c != NULL && (strncasecmp(c, "h265", 4) == 0 ||
	    strncasecmp(c, "hevc", 4) == 0 || strncasecmp(c, "hvc1", 4) == 0 ||
	    strncasecmp(c, "hev1", 4) == 0 ||
	    strncasecmp(c, "bytevc1", 7) == 0);
}

static double
area(struct json_object *f)
{
	double	 w, h;

	if (!jnum(f, "width", &w) || !jnum(f, "height", &h))
		return 0;
	return w * h;
}

/* Height, or -1 when unknown (null or absent). */
static double
height(struct json_object *f)
{
	double	 h;

	return jnum(f, "height", &h) ? h : -1;
}

/*
 * TikTok's watermarked file, whatever yt-dlp calls it: "download" (web
 * page), "download_addr" (the app API: "Download video, watermarked"),
 * or any format whose note says so.
 */
static int
is_watermarked(struct json_object *f)
{
	const char	*id = jstr(f, "format_id"), *note = jstr(f, "format_note");

	if (id != NULL && (strcmp(id, "download") == 0 ||
	    strncmp(id, "download_addr", 13) == 0))
		return 1;
	return note != NULL && strcasestr(note, "watermark") != NULL;
}

/*
 * The video formats (no codec "none"), largest first, unknown size
 * as 0; at equal size H.264 before H.265; else yt-dlp's order (a stable
 * insertion sort).  Returns how many were put in out.
 */
static size_t
sorted_videos(struct json_object *info, struct json_object **out)
{
	struct json_object	*fs = formats_of(info), *f;
	size_t			 n = 0, i, j, len;

	if (fs == NULL)
		return 0;
	len = json_object_array_length(fs);
	for (i = 0; i < len && n < MAX_FORMATS; i++) {
		f = json_object_array_get_idx(fs, i);
		if (!is_video(f))
			continue;
		for (j = n; j > 0; j--) {
			if (area(out[j - 1]) > area(f) ||
			    (area(out[j - 1]) == area(f) &&
			    (is_hevc(out[j - 1]) <= is_hevc(f))))
				break;
			out[j] = out[j - 1];
		}
		out[j] = f;
		n++;
	}
	return n;
}

/* The format for the "mp3" link and the "audio" field. */
static struct json_object *
audio_format(struct json_object *info, struct json_object **v, size_t nv)
{
	struct json_object	*fs = formats_of(info), *f;
	size_t			 i, len;

	len = fs ? json_object_array_length(fs) : 0;
	for (i = 0; i < len; i++) {
		f = json_object_array_get_idx(fs, i);
		if (is_audio_only(f))
			return f;
	}
	for (i = 0; i < nv; i++)
		if (!is_watermarked(v[i]))
			return v[i];
	return NULL;
}

/* The author's name as we put it in file names and tokens. */
const char *
shape_author(struct json_object *info)
{
	return first(jstr(info, "uploader"), jstr(info, "channel"),
	    "unknown");
}

/* The format with this format_id, or NULL. */
struct json_object *
shape_find_format(struct json_object *info, const char *id)
{
	struct json_object	*fs = formats_of(info), *f;
	const char		*fid;
	size_t			 i, len;

	len = fs ? json_object_array_length(fs) : 0;
	for (i = 0; i < len; i++) {
		f = json_object_array_get_idx(fs, i);
		if ((fid = jstr(f, "format_id")) != NULL &&
		    strcmp(fid, id) == 0)
			return f;
	}
	return NULL;
}

/* The format of the post's sound ("mp3" link), or NULL. */
struct json_object *
shape_audio(struct json_object *info)
{
	struct json_object	*v[MAX_FORMATS];
	size_t			 n;

	n = sorted_videos(info, v);
	return audio_format(info, v, n);
}

/* The photo formats (image-N) in order, at most max; returns how many. */
size_t
shape_images(struct json_object *info, struct json_object **out, size_t max)
{
	struct json_object	*fs = formats_of(info), *f;
	size_t			 i, len, n = 0;

	len = fs ? json_object_array_length(fs) : 0;
	for (i = 0; i < len && n < max; i++) {
		f = json_object_array_get_idx(fs, i);
		if (is_image(f) && jstr(f, "url") != NULL)
			out[n++] = f;
	}
	return n;
}

int
shape_is_photo(struct json_object *info)
{
	struct json_object	*fs = formats_of(info);
	size_t			 i, len;

	len = fs ? json_object_array_length(fs) : 0;
	for (i = 0; i < len; i++)
		if (is_image(json_object_array_get_idx(fs, i)))
			return 1;
	return 0;
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
	return jstr(info, "_egress");
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
	    image || page_url == NULL ? jstr(fmt, "url") : page_url));
	if (!image && page_url != NULL)
		json_object_object_add(o, "cdn_url",
		    json_object_new_string(jstr(fmt, "url")));
	json_object_object_add(o, "author",
	    json_object_new_string(shape_author(info)));
	json_object_object_add(o, "type", json_object_new_string(type));
	if (jnum(fmt, "filesize", &size) && size > 0)
		json_object_object_add(o, "filesize",
		    json_object_new_int64(to_int64(size)));
	json_object_object_add(o, "http_headers", headers_copy(fmt));
	if (page_url != NULL && image)
		json_object_object_add(o, "page_url",
		    json_object_new_string(page_url));
	if (jstr(fmt, "format_id") != NULL)
		json_object_object_add(o, "format_id",
		    json_object_new_string(jstr(fmt, "format_id")));
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

	jnum(info, from, &d);
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

	title = first(jstr(info, "title"), jstr(info, "fulltitle"), "");
	json_object_object_add(o, "title", json_object_new_string(title));
	json_object_object_add(o, "description", json_object_new_string(
	    first(jstr(info, "description"), jstr(info, "title"), "")));
	st = json_object_new_object();
	add_num(st, "play_count", info, "view_count");
	add_num(st, "digg_count", info, "like_count");
	add_num(st, "comment_count", info, "comment_count");
	add_num(st, "share_count", info, "repost_count");
	json_object_object_add(o, "statistics", st);
	if (json_object_object_get_ex(info, "author", &an) &&
	    json_object_is_type(an, json_type_object))
		nick = jstr(an, "nickname");
	json_object_object_add(o, "artist", json_object_new_string(
	    first(jstr(info, "artist"), nick, "")));
	json_object_object_add(o, "cover", json_object_new_string(
	    first(jstr(info, "thumbnail"), NULL, "")));
	jnum(info, "duration", &dur);
	ms = to_int64(dur * 1000 + 0.5);
	json_object_object_add(o, "duration", json_object_new_int64(ms));
	json_object_object_add(o, "audio",
	    json_object_new_string(audio_url ? audio_url : ""));
	json_object_object_add(o, "music_duration", json_object_new_int64(ms));

	if (json_object_object_get_ex(info, "thumbnails", &th) &&
	    json_object_is_type(th, json_type_array) &&
	    json_object_array_length(th) > 0 &&
	    (t0 = json_object_array_get_idx(th, 0)) != NULL)
		avatar = jstr(t0, "url");
	if (avatar == NULL)
		avatar = "";
	au = json_object_new_object();
	json_object_object_add(au, "nickname", json_object_new_string(
	    first(jstr(info, "uploader"), jstr(info, "channel"), "unknown")));
	json_object_object_add(au, "uniqueId", json_object_new_string(
	    first(jstr(info, "uploader_id"), jstr(info, "uploader"),
	    "unknown")));
	json_object_object_add(au, "signature", json_object_new_string(
	    first(jstr(info, "description"), NULL, "")));
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

static struct json_object *
video_answer(struct json_object *info, const char *base,
    const struct token *t, const char *page)
{
	struct json_object	*v[MAX_FORMATS], *o, *dl, *fs, *f, *a;
	struct json_object	*nw = NULL, *nwhd = NULL, *wmhd = NULL, *wm = NULL;
	struct json_object	*mp3;
	size_t			 n, i, len;
	int			 hd = 0;

	n = sorted_videos(info, v);
	for (i = 0; i < n; i++) {
		if (is_watermarked(v[i]))
			continue;
		if (height(v[i]) >= 720) {
			if (hd == 0)
				nwhd = v[i];
			else if (hd == 1)
				wmhd = v[i];
			hd++;
		} else if (nw == NULL)
			nw = v[i];
	}
	fs = formats_of(info);
	len = fs ? json_object_array_length(fs) : 0;
	for (i = 0; i < len; i++) {
		f = json_object_array_get_idx(fs, i);
		if (is_watermarked(f) && jstr(f, "url") != NULL)
			wm = f;
	}
	a = audio_format(info, v, n);
	mp3 = a == NULL ? NULL : is_mp3(a) ?
	    format_link(info, a, "mp3", base, t, page) :
	    make_link(base, "download-audio", "url", t, page);

	o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string("tunnel"));
	/* "audio" names what the mp3 link delivers: the link itself. */
	add_metadata(o, info, mp3 ? json_object_get_string(mp3) : NULL);
	dl = json_object_new_object();
	if (wm != NULL)
		add_link(dl, "watermark", format_link(info, wm, "video", base,
		    t, page));
	if (nw != NULL)
		add_link(dl, "no_watermark", format_link(info, nw, "video",
		    base, t, page));
	if (nwhd != NULL)
		add_link(dl, "no_watermark_hd", format_link(info, nwhd,
		    "video", base, t, page));
	if (wmhd != NULL)
		add_link(dl, "watermark_hd", format_link(info, wmhd, "video",
		    base, t, page));
	add_link(dl, "mp3", mp3);
	json_object_object_add(o, "download_link", dl);
	return o;
}

static struct json_object *
photo_answer(struct json_object *info, const char *base,
    const struct token *t, const char *page)
{
	struct json_object	*v[MAX_FORMATS], *o, *dl, *photos, *imgs;
	struct json_object	*fs, *f, *a, *p;
	size_t			 n, i, len;
	char			*payload;

	n = sorted_videos(info, v);
	a = audio_format(info, v, n);
	o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string("picker"));
	photos = json_object_new_array();
	imgs = json_object_new_array();
	fs = formats_of(info);
	len = fs ? json_object_array_length(fs) : 0;
	for (i = 0; i < len; i++) {
		f = json_object_array_get_idx(fs, i);
		if (!is_image(f) || jstr(f, "url") == NULL)
			continue;
		p = json_object_new_object();
		json_object_object_add(p, "type",
		    json_object_new_string("photo"));
		json_object_object_add(p, "url",
		    json_object_new_string(jstr(f, "url")));
		json_object_array_add(photos, p);
		payload = shape_stream_payload(info, f, "image", page);
		if ((p = make_link(base, "download", "data", t, payload)) != NULL)
			json_object_array_add(imgs, p);
		free(payload);
	}
	json_object_object_add(o, "photos", photos);
	add_metadata(o, info, a ? jstr(a, "url") : NULL);
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
 * slideshows; yt-dlp's webpage_url if NULL).
 * Returns a new object the caller puts, or NULL.
 */
struct json_object *
shape_answer(struct json_object *info, const char *base,
    const struct token *t, const char *page_url)
{
	const char	*page = first(page_url, jstr(info, "webpage_url"), NULL);

	if (shape_is_photo(info))
		return photo_answer(info, base, t, page);
	return video_answer(info, base, t, page);
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
