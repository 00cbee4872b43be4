/* SPDX-License-Identifier: ISC */
/*
 * Which format stands behind each link.  yt-dlp lists a post's formats
 * (TikTok's "ladder": one file per codec and size, the watermarked
 * download, the sound); its two generations describe the same ladder
 * differently: Debian's 2023.03.04 reads the app API and gives most
 * formats no size, a current one reads the web page and gives every
 * size, "540p" as 576x1024.  The rules here read both alike:
 *
 *  - A format is a video only with sound, a URL and a codec ffmpeg
 *    decodes (or an unknown one: yt-dlp 2023.03.04 reading a web page
 *    names none); never bytevc2, never a video-only rung.
 *  - Its class is its frame's short side: SD below 720, HD from 720; the
 *    short side comes from width and height, else from the "NNNp" in its
 *    format id or note (TikTok's NNNp names the short side).
 *  - Within a class: H.264 first (it plays everywhere), then the larger
 *    frame, then the higher bit rate, then yt-dlp's order.
 *
 * Everything here only reads the info: it may be shared through the
 * cache.
 */
#include "config.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "formats.h"
#include "info.h"

/* What a codec name says, best first for the default links. */
enum codec {
	CODEC_H264,
	CODEC_UNKNOWN,		/* null or absent: counted as there */
	CODEC_HEVC,
	CODEC_OTHER,		/* another codec ffmpeg decodes */
	CODEC_BAD		/* bytevc2 and anything else */
};

/* Codec names (yt-dlp's, or RFC 6381's) by their start. */
static const struct {
	const char	*prefix;
	enum codec	 codec;
} codecs[] = {
	{ "h264", CODEC_H264 }, { "avc", CODEC_H264 },
	{ "h265", CODEC_HEVC }, { "hevc", CODEC_HEVC },
	{ "hvc1", CODEC_HEVC }, { "hev1", CODEC_HEVC },
	{ "bytevc1", CODEC_HEVC },
	{ "vp8", CODEC_OTHER }, { "vp9", CODEC_OTHER },
	{ "vp09", CODEC_OTHER }, { "av1", CODEC_OTHER },
	{ "av01", CODEC_OTHER }, { "mpeg4", CODEC_OTHER },
	{ "mp4v", CODEC_OTHER },
};

/* What the ordering reads of one video format. */
struct rung {
	struct json_object	*f;
	int			 side;	/* short side, 0 if unknown */
	double			 area;	/* width x height, 0 if unknown */
	double			 tbr;	/* kbit/s, 0 if unknown */
	enum codec		 codec;
};

static int
is_image(struct json_object *f)
{
	const char	*id = info_str(f, "format_id");

	return id != NULL && strncmp(id, "image-", 6) == 0;
}

/*
 * A codec is absent only when yt-dlp says "none": null or no key means
 * unknown, and an unknown codec counts as there.
 */
static int
codec_none(struct json_object *f, const char *key)
{
	const char	*c = info_str(f, key);

	return c != NULL && strcmp(c, "none") == 0;
}

static enum codec
codec_of(struct json_object *f)
{
	const char	*c = info_str(f, "vcodec");
	size_t		 i;

	if (c == NULL)
		return CODEC_UNKNOWN;
	for (i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
		if (strncasecmp(c, codecs[i].prefix,
		    strlen(codecs[i].prefix)) == 0)
			return codecs[i].codec;
	return CODEC_BAD;
}

/*
 * TikTok's video-only HEVC rungs: their URL's path ends in
 * /media-video-hvc1/ (yt-dlp 2026.08.19 marks them acodec "none"; older
 * releases say "aac" of them).
 */
static int
is_silent_rung(struct json_object *f)
{
	static const char	 tail[] = "/media-video-hvc1/";
	const char		*url = info_str(f, "url");
	CURLU			*u;
	char			*path = NULL;
	size_t			 n;
	int			 silent = 0;

	if (url == NULL || strstr(url, tail) == NULL ||
	    (u = curl_url()) == NULL)
		return 0;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK) {
		n = strlen(path);
		silent = n >= sizeof(tail) - 1 &&
		    strcmp(path + n - (sizeof(tail) - 1), tail) == 0;
	}
	curl_free(path);
	curl_url_cleanup(u);
	return silent;
}

/* Some yt-dlp releases name the post's sound "audio" whatever it says
 * of its codecs (the app API's photo posts). */
static int
is_audio_only(struct json_object *f)
{
	const char	*id = info_str(f, "format_id");

	if (is_image(f) || info_str(f, "url") == NULL)
		return 0;
	if (id != NULL && strcmp(id, "audio") == 0)
		return 1;
	return codec_none(f, "vcodec") && !codec_none(f, "acodec");
}

/* A video with sound that ffmpeg (and so a player) can decode. */
static int
is_video(struct json_object *f)
{
	return !is_image(f) && !is_audio_only(f) &&
	    info_str(f, "url") != NULL && !codec_none(f, "vcodec") &&
	    !codec_none(f, "acodec") && codec_of(f) != CODEC_BAD &&
	    !is_silent_rung(f);
}

/*
 * TikTok's watermarked file, whatever yt-dlp calls it: "download" (web
 * page), "download_addr" (the app API: "Download video, watermarked"),
 * or any format whose note says so.
 */
static int
is_watermarked(struct json_object *f)
{
	const char	*id = info_str(f, "format_id");
	const char	*note = info_str(f, "format_note");

	if (id != NULL && (strcmp(id, "download") == 0 ||
	    strncmp(id, "download_addr", 13) == 0))
		return 1;
	return note != NULL && strcasestr(note, "watermark") != NULL;
}

/* The NNN of a word "NNNp" (3 or 4 digits) in s, or 0. */
static int
res_in(const char *s)
{
	const char	*p, *q;
	int		 n;

	if (s == NULL)
		return 0;
	for (p = s; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p) ||
		    (p > s && isalnum((unsigned char)p[-1])))
			continue;
		for (q = p, n = 0; isdigit((unsigned char)*q) && q - p < 5;
		    q++)
			n = n * 10 + (*q - '0');
		if (q - p >= 3 && q - p <= 4 && (*q == 'p' || *q == 'P') &&
		    !isalnum((unsigned char)q[1]))
			return n;
	}
	return 0;
}

/* A dimension as an int, 0 if unknown or absurd. */
static int
dim(struct json_object *f, const char *key)
{
	double	 d;

	if (!info_num(f, key, &d) || !(d >= 1) || d > 100000)
		return 0;
	return (int)d;
}

/*
 * The short side of a format's frame: from width and height, else the
 * "NNNp" of its format id or note, else the one dimension yt-dlp gives;
 * 0 when nothing says.  This is what makes it SD or HD.
 */
int
formats_short_side(struct json_object *f)
{
	int	 w = dim(f, "width"), h = dim(f, "height"), n;

	if (w > 0 && h > 0)
		return w < h ? w : h;
	if ((n = res_in(info_str(f, "format_id"))) > 0 ||
	    (n = res_in(info_str(f, "format_note"))) > 0)
		return n;
	return w > 0 ? w : h;
}

static void
rung_of(struct json_object *f, struct rung *r)
{
	double	 tbr = 0;

	r->f = f;
	r->side = formats_short_side(f);
	r->area = (double)dim(f, "width") * dim(f, "height");
	r->tbr = info_num(f, "tbr", &tbr) && tbr > 0 ? tbr : 0;
	r->codec = codec_of(f);
}

/* < 0 when a's frame is larger than b's, > 0 when smaller, else 0. */
static int
by_size(const struct rung *a, const struct rung *b)
{
	if (a->side != b->side)
		return a->side > b->side ? -1 : 1;
	if (a->area > 0 && b->area > 0 && a->area != b->area)
		return a->area > b->area ? -1 : 1;
	return 0;
}

/* < 0 when a is the better file: larger, then a higher bit rate. */
static int
by_quality(const struct rung *a, const struct rung *b)
{
	int	 c;

	if ((c = by_size(a, b)) != 0)
		return c;
	if (a->tbr != b->tbr)
		return a->tbr > b->tbr ? -1 : 1;
	return 0;
}

/* As by_quality, H.264 first (then unknown codecs, then the others). */
static int
by_codec(const struct rung *a, const struct rung *b)
{
	int	 ra = a->codec > CODEC_HEVC ? CODEC_HEVC : (int)a->codec;
	int	 rb = b->codec > CODEC_HEVC ? CODEC_HEVC : (int)b->codec;

	if (ra != rb)
		return ra < rb ? -1 : 1;
	return by_quality(a, b);
}

/*
 * Keep r in *best (and the one it displaces in *next, when next is
 * given) if it comes before them; at a tie the earlier stays, which
 * keeps yt-dlp's order.
 */
static void
keep(const struct rung *r, struct rung *best, struct rung *next,
    int (*cmp)(const struct rung *, const struct rung *))
{
	if (best->f == NULL || cmp(r, best) < 0) {
		if (next != NULL)
			*next = *best;
		*best = *r;
	} else if (next != NULL && (next->f == NULL || cmp(r, next) < 0))
		*next = *r;
}

/*
 * Choose the format behind each video link of info (see the top of this
 * file): the first SD and the first two HD clean videos by the default
 * order (with FORMATS_ALLOW_H265 the HD ones by size and bit rate alone,
 * whatever their codec), the best HEVC when its frame is larger than
 * what no_watermark_hd (else no_watermark) holds, and TikTok's
 * watermarked file, which no other link ever names.  Fills *c.
 */
void
formats_choose(struct json_object *info, int flags, struct formats_choice *c)
{
	struct json_object	*fs = info_formats(info), *f;
	struct rung		 r, sd = { 0 }, hd = { 0 }, hd2 = { 0 };
	struct rung		 hevc = { 0 }, ref;
	size_t			 i, len;
	int			(*hd_order)(const struct rung *,
				    const struct rung *);

	memset(c, 0, sizeof(*c));
	hd_order = flags & FORMATS_ALLOW_H265 ? by_quality : by_codec;
	len = fs != NULL ? json_object_array_length(fs) : 0;
	for (i = 0; i < len; i++) {
		f = json_object_array_get_idx(fs, i);
		if (!is_video(f))
			continue;
		if (is_watermarked(f)) {
			c->watermark = f;
			continue;
		}
		rung_of(f, &r);
		if (r.side >= FORMATS_HD_SIDE)
			keep(&r, &hd, &hd2, hd_order);
		else
			keep(&r, &sd, NULL, by_codec);
		if (r.codec == CODEC_HEVC)
			keep(&r, &hevc, NULL, by_quality);
	}
	c->sd = sd.f;
	c->hd = hd.f;
	c->hd2 = hd2.f;
	ref = hd.f != NULL ? hd : sd;
	if (hevc.f != NULL && ref.f != NULL && hevc.f != ref.f &&
	    by_size(&hevc, &ref) < 0)
		c->hevc = hevc.f;
}

/*
 * The format of the post's sound (the "mp3" link, renders): the first
 * audio-only format, else the clean video no_watermark_hd (else
 * no_watermark) holds by default.  NULL when there is none; it belongs
 * to info.
 */
struct json_object *
formats_audio(struct json_object *info)
{
	struct json_object	*fs = info_formats(info), *f;
	struct formats_choice	 c;
	size_t			 i, len;

	len = fs != NULL ? json_object_array_length(fs) : 0;
	for (i = 0; i < len; i++) {
		f = json_object_array_get_idx(fs, i);
		if (is_audio_only(f))
			return f;
	}
	formats_choose(info, 0, &c);
	return c.hd != NULL ? c.hd : c.sd;
}

/* Is fmt an MP3 file already (a photo post's music, an MP3 format)? */
int
formats_is_mp3(struct json_object *f)
{
	const char	*c = info_str(f, "acodec"), *e = info_str(f, "ext");

	return is_audio_only(f) && ((c != NULL && strcmp(c, "mp3") == 0) ||
	    (e != NULL && strcmp(e, "mp3") == 0));
}

/* The format with this format_id, or NULL; it belongs to info. */
struct json_object *
formats_find(struct json_object *info, const char *id)
{
	struct json_object	*fs = info_formats(info), *f;
	const char		*fid;
	size_t			 i, len;

	len = fs != NULL ? json_object_array_length(fs) : 0;
	for (i = 0; i < len; i++) {
		f = json_object_array_get_idx(fs, i);
		if ((fid = info_str(f, "format_id")) != NULL &&
		    strcmp(fid, id) == 0)
			return f;
	}
	return NULL;
}

/*
 * The photo formats (image-N) that have a URL, in order, at most max,
 * into out (they belong to info); returns how many.
 */
size_t
formats_images(struct json_object *info, struct json_object **out,
    size_t max)
{
	struct json_object	*fs = info_formats(info), *f;
	size_t			 i, len, n = 0;

	len = fs != NULL ? json_object_array_length(fs) : 0;
	for (i = 0; i < len && n < max; i++) {
		f = json_object_array_get_idx(fs, i);
		if (is_image(f) && info_str(f, "url") != NULL)
			out[n++] = f;
	}
	return n;
}

/* Is info a photo post (some format is image-N)? */
int
formats_is_photo(struct json_object *info)
{
	struct json_object	*fs = info_formats(info);
	size_t			 i, len;

	len = fs != NULL ? json_object_array_length(fs) : 0;
	for (i = 0; i < len; i++)
		if (is_image(json_object_array_get_idx(fs, i)))
			return 1;
	return 0;
}
