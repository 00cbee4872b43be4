/* SPDX-License-Identifier: ISC */
/*
 * The answer to POST /tiktok from real yt-dlp output (tests/fixtures:
 * Debian's 2023.03.04 and a current release): the fields, and which
 * format stands behind each link (formats.c's choice), found by opening
 * the link's token.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "shape.h"
#include "token.h"

#define BASE	"https://dl.example.com/api"
#define DL	BASE "/download?data="
#define SL	BASE "/download-slideshow?url="

static struct token	*tk;

static struct json_object *
fixture(const char *name)
{
	char			 path[1024];
	struct json_object	*o;

	snprintf(path, sizeof(path), "%s/%s", FIXTURES, name);
	o = json_object_from_file(path);
	assert_non_null(o);
	return o;
}

static const char *
str(struct json_object *o, const char *k)
{
	struct json_object	*v;

	assert_true(json_object_object_get_ex(o, k, &v));
	return json_object_get_string(v);
}

/* Open a link's token; return the payload's member k (static buffer). */
static const char *
link_field(struct json_object *dl, const char *name, const char *route,
    const char *k)
{
	static char		 out[4096];
	struct json_object	*l, *p, *v;
	const char		*s, *tok;
	char			*payload, prefix[256];

	if (!json_object_object_get_ex(dl, name, &l))
		return NULL;
	s = json_object_get_string(l);
	snprintf(prefix, sizeof(prefix), BASE "/%s?data=", route);
	assert_memory_equal(s, prefix, strlen(prefix));
	tok = s + strlen(prefix);
	assert_int_equal(token_open(tk, tok, &payload), TOKEN_OK);
	p = json_tokener_parse(payload);
	assert_non_null(p);
	if (!json_object_object_get_ex(p, k, &v))
		out[0] = '\0';
	else
		snprintf(out, sizeof(out), "%s", json_object_get_string(v));
	json_object_put(p);
	free(payload);
	return out;
}

/* Open a link's token; return its payload as it is (static buffer). */
static const char *
link_payload(struct json_object *dl, const char *name, const char *route,
    const char *param)
{
	static char		 out[4096];
	struct json_object	*l;
	const char		*s;
	char			*payload, prefix[256];

	assert_true(json_object_object_get_ex(dl, name, &l));
	s = json_object_get_string(l);
	snprintf(prefix, sizeof(prefix), BASE "/%s?%s=", route, param);
	assert_memory_equal(s, prefix, strlen(prefix));
	assert_int_equal(token_open(tk, s + strlen(prefix), &payload),
	    TOKEN_OK);
	snprintf(out, sizeof(out), "%s", payload);
	free(payload);
	return out;
}

static void
check_common(struct json_object *a, const char *nick, const char *uid)
{
	struct json_object	*au, *st, *v;

	assert_true(json_object_object_get_ex(a, "author", &au));
	assert_string_equal(str(au, "nickname"), nick);
	assert_string_equal(str(au, "uniqueId"), uid);
	assert_true(strncmp(str(au, "avatar"), "https://p16-sign-va.", 20)
	    == 0);
	assert_string_equal(str(au, "avatar"), str(au, "avatarLarger"));
	assert_true(json_object_object_get_ex(a, "statistics", &st));
	assert_true(json_object_object_get_ex(st, "play_count", &v));
	assert_true(json_object_get_int(v) > 1000);
	assert_true(json_object_object_get_ex(a, "duration", &v));
	assert_int_equal(json_object_get_int(v), 5000);
	assert_true(json_object_object_get_ex(a, "music_duration", &v));
	assert_int_equal(json_object_get_int(v), 5000);
	assert_true(strncmp(str(a, "cover"), "https://", 8) == 0);
	assert_true(strncmp(str(a, "title"), "Fake TikTok", 11) == 0);
	assert_string_equal(str(a, "title"), str(a, "description"));
}

static void
test_video_2023(void **state)
{
	struct json_object	*info = fixture("ytdlp-2023.03.04-video.json");
	struct json_object	*a, *dl;

	(void)state;
	assert_false(shape_is_photo(info));
	a = shape_answer(info, 0, BASE, tk, "https://www.tiktok.com/@x/video/1");
	assert_string_equal(str(a, "status"), "tunnel");
	assert_string_equal(str(a, "artist"), "Fake Artist 1");
	check_common(a, "fakecreator01", "6900000000000000001");
	assert_true(json_object_object_get_ex(a, "download_link", &dl));
	/* 720x1280 H.264 first, then H.265; 360p/540p have no size here
	 * (null): their format ids say 360p and 540p, so SD, the larger
	 * first.  HEVC is no larger than the H.264 HD: no HEVC link. */
	assert_string_equal(link_field(dl, "watermark", "stream",
	    "format_id"), "download");
	assert_string_equal(link_field(dl, "no_watermark_hd", "stream",
	    "format_id"), "h264_720p_1350000");
	assert_string_equal(link_field(dl, "watermark_hd", "stream",
	    "format_id"), "bytevc1_720p_1100000");
	assert_string_equal(link_field(dl, "no_watermark", "stream",
	    "format_id"), "h264_540p_800000");
	assert_false(json_object_object_get_ex(dl, "no_watermark_hevc",
	    NULL));
	/* No MP3 among the formats: the mp3 link is the audio render of
	 * the post, from a clean format, and "audio" names that link. */
	assert_string_equal(link_payload(dl, "mp3", "download-audio", "url"),
	    "https://www.tiktok.com/@x/video/1");
	assert_string_equal(str(a, "audio"), str(dl, "mp3"));
	assert_string_not_equal(str(shape_audio(info), "format_id"),
	    "download");
	/* The token carries what the CDN needs. */
	assert_true(strlen(link_field(dl, "no_watermark", "stream",
	    "http_headers")) > 10);
	/* serverjs's shape: "url" the page as we named it (the cache key's
	 * post, not yt-dlp's), the CDN URL beside it. */
	assert_string_equal(link_field(dl, "no_watermark", "stream",
	    "url"), "https://www.tiktok.com/@x/video/1");
	assert_true(strncmp(link_field(dl, "no_watermark", "stream",
	    "cdn_url"), "https://", 8) == 0);
	assert_string_equal(link_field(dl, "no_watermark", "stream",
	    "filesize"), "507844");
	json_object_put(a);
	json_object_put(info);
}

static void
test_video_2026(void **state)
{
	struct json_object	*info = fixture("ytdlp-2026.02.04-video.json");
	struct json_object	*a, *dl;

	(void)state;
	a = shape_answer(info, 0, BASE, tk, NULL);
	check_common(a, "fakecreator02", "6900000000000000002");
	assert_true(json_object_object_get_ex(a, "download_link", &dl));
	assert_string_equal(link_field(dl, "watermark", "stream",
	    "format_id"), "download");
	assert_string_equal(link_field(dl, "no_watermark_hd", "stream",
	    "format_id"), "h264_720p_1350000");
	assert_string_equal(link_field(dl, "watermark_hd", "stream",
	    "format_id"), "bytevc1_720p_1100000");
	/* 576x1024 is SD (short side < 720), the largest SD H.264. */
	assert_string_equal(link_field(dl, "no_watermark", "stream",
	    "format_id"), "h264_540p_800000");
	json_object_put(a);
	json_object_put(info);
}

/*
 * yt-dlp may say height: null, or nothing at all: both are unknown, and
 * the format id's NNNp says the short side; without it, nothing does
 * and the format is SD.
 */
static void
test_unknown_sizes(void **state)
{
	struct json_object	*info = fixture("ytdlp-2026.02.04-video.json");
	struct json_object	*fs, *a, *dl, *f;
	size_t			 i;

	(void)state;
	assert_true(json_object_object_get_ex(info, "formats", &fs));
	for (i = 0; i < json_object_array_length(fs); i++) {
		f = json_object_array_get_idx(fs, i);
		if (i % 2)
			json_object_object_add(f, "height", NULL);
		else
			json_object_object_del(f, "height");
		json_object_object_del(f, "width");
	}
	a = shape_answer(info, 0, BASE, tk, NULL);
	assert_true(json_object_object_get_ex(a, "download_link", &dl));
	assert_string_equal(link_field(dl, "no_watermark_hd", "stream",
	    "format_id"), "h264_720p_1350000");
	assert_string_equal(link_field(dl, "no_watermark", "stream",
	    "format_id"), "h264_540p_800000");
	json_object_put(a);

	/* Ids that say nothing: all SD, H.264 first, then the higher bit
	 * rate; the watermarked file skipped. */
	for (i = 0; i < json_object_array_length(fs); i++) {
		f = json_object_array_get_idx(fs, i);
		if (strcmp(str(f, "format_id"), "download") != 0)
			json_object_object_add(f, "format_id",
			    json_object_new_string(i == 3 ? "hevc" : "play"));
	}
	a = shape_answer(info, 0, BASE, tk, NULL);
	assert_true(json_object_object_get_ex(a, "download_link", &dl));
	assert_false(json_object_object_get_ex(dl, "no_watermark_hd", NULL));
	assert_false(json_object_object_get_ex(dl, "watermark_hd", NULL));
	assert_string_equal(link_field(dl, "no_watermark", "stream",
	    "cdn_url"), str(json_object_array_get_idx(fs, 4), "url"));
	assert_string_equal(link_field(dl, "watermark", "stream",
	    "format_id"), "download");
	json_object_put(a);
	json_object_put(info);
}

static void
test_photo(void **state)
{
	const char		*names[] = { "ytdlp-2023.03.04-photo.json",
	    "ytdlp-2026.02.04-photo.json" };
	struct json_object	*info, *a, *dl, *ph, *nw, *p0, *v;
	char			*payload;
	const char		*s;
	size_t			 i;

	(void)state;
	for (i = 0; i < 2; i++) {
		info = fixture(names[i]);
		assert_true(shape_is_photo(info));
		a = shape_answer(info, 0, BASE, tk, NULL);
		assert_string_equal(str(a, "status"), "picker");
		assert_true(json_object_object_get_ex(a, "photos", &ph));
		assert_int_equal(json_object_array_length(ph), 3);
		p0 = json_object_array_get_idx(ph, 0);
		assert_string_equal(str(p0, "type"), "photo");
		assert_true(strstr(str(p0, "url"), "photomode") != NULL);
		assert_true(json_object_object_get_ex(a, "download_link", &dl));
		assert_true(json_object_object_get_ex(dl, "no_watermark", &nw));
		assert_int_equal(json_object_array_length(nw), 3);
		s = json_object_get_string(json_object_array_get_idx(nw, 0));
		assert_true(strncmp(s, DL, strlen(DL)) == 0);
		assert_int_equal(token_open(tk, s + strlen(DL), &payload),
		    TOKEN_OK);
		v = json_tokener_parse(payload);
		assert_string_equal(str(v, "type"), "image");
		assert_string_equal(str(v, "format_id"), "image-1");
		json_object_put(v);
		free(payload);
		assert_string_equal(link_field(dl, "mp3", "stream",
		    "format_id"), "audio");
		assert_true(strstr(str(a, "audio"), "ies-music") != NULL);
		s = str(a, "download_slideshow_link");
		assert_true(strncmp(s, SL, strlen(SL)) == 0);
		assert_int_equal(token_open(tk, s + strlen(SL), &payload),
		    TOKEN_OK);
		assert_true(strstr(payload, "/7400000000000000") != NULL);
		free(payload);
		json_object_put(a);
		json_object_put(info);
	}
}

/* Set a member of every format (NULL value: null; del: no key). */
static void
set_all(struct json_object *info, const char *k, const char *v, int del)
{
	struct json_object	*fs, *f;
	size_t			 i;

	assert_true(json_object_object_get_ex(info, "formats", &fs));
	for (i = 0; i < json_object_array_length(fs); i++) {
		f = json_object_array_get_idx(fs, i);
		if (del && i % 2)
			json_object_object_del(f, k);
		else
			json_object_object_add(f, k, v ?
			    json_object_new_string(v) : NULL);
	}
}

/*
 * The app API's real shape: the watermarked file is "download_addr",
 * 720 wide, noted "Download video, watermarked".  It is the watermark
 * link and nothing else.
 */
static void
test_app_api_watermark(void **state)
{
	struct json_object	*info = fixture("ytdlp-2023.03.04-video.json");
	struct json_object	*fs, *f, *a, *dl;
	size_t			 i;
	const char		*id;

	(void)state;
	assert_true(json_object_object_get_ex(info, "formats", &fs));
	for (i = 0; i < json_object_array_length(fs); i++) {
		f = json_object_array_get_idx(fs, i);
		if (strcmp(str(f, "format_id"), "download") != 0)
			continue;
		json_object_object_add(f, "format_id",
		    json_object_new_string("download_addr"));
		json_object_object_add(f, "format_note",
		    json_object_new_string("Download video, watermarked"));
		json_object_object_add(f, "width", json_object_new_int(720));
		json_object_object_add(f, "height", json_object_new_int(1280));
	}
	a = shape_answer(info, 0, BASE, tk, NULL);
	assert_true(json_object_object_get_ex(a, "download_link", &dl));
	assert_string_equal(link_field(dl, "watermark", "stream",
	    "format_id"), "download_addr");
	assert_string_equal(link_field(dl, "no_watermark_hd", "stream",
	    "format_id"), "h264_720p_1350000");
	assert_string_equal(link_field(dl, "watermark_hd", "stream",
	    "format_id"), "bytevc1_720p_1100000");
	id = str(shape_audio(info), "format_id");
	assert_string_not_equal(id, "download_addr");
	json_object_put(a);

	/* A note alone says it, whatever the id. */
	json_object_object_add(json_object_array_get_idx(fs, 0), "format_id",
	    json_object_new_string("play_wm"));
	json_object_object_add(json_object_array_get_idx(fs, 0),
	    "format_note", json_object_new_string("Watermarked copy"));
	a = shape_answer(info, 0, BASE, tk, NULL);
	assert_true(json_object_object_get_ex(a, "download_link", &dl));
	assert_string_not_equal(link_field(dl, "no_watermark_hd", "stream",
	    "format_id"), "play_wm");
	assert_string_not_equal(link_field(dl, "no_watermark", "stream",
	    "format_id"), "play_wm");
	json_object_put(a);
	json_object_put(info);
}

/*
 * yt-dlp 2023.03.04 reading the web page: every codec null (or absent).
 * Unknown is not "none": the clean formats are offered.
 */
static void
test_null_codecs(void **state)
{
	struct json_object	*info = fixture("ytdlp-2026.02.04-video.json");
	struct json_object	*a, *dl;

	(void)state;
	set_all(info, "vcodec", NULL, 1);
	set_all(info, "acodec", NULL, 1);
	a = shape_answer(info, 0, BASE, tk, NULL);
	assert_true(shape_has_link(a));
	assert_true(json_object_object_get_ex(a, "download_link", &dl));
	assert_string_equal(link_field(dl, "no_watermark_hd", "stream",
	    "format_id"), "h264_720p_1350000");
	/* Portrait: 576x1024 is SD by its short side; codecs unknown, so
	 * the higher bit rate of the two 576x1024 files. */
	assert_string_equal(link_field(dl, "no_watermark", "stream",
	    "format_id"), "h264_540p_800000");
	assert_string_equal(link_field(dl, "watermark", "stream",
	    "format_id"), "download");
	json_object_put(a);
	json_object_put(info);
}

/* Nothing to download: no 200 (the handler answers 502). */
static void
test_no_link(void **state)
{
	struct json_object	*info, *a;

	(void)state;
	info = fixture("ytdlp-2026.02.04-video.json");
	json_object_object_add(info, "formats", json_object_new_array());
	a = shape_answer(info, 0, BASE, tk, NULL);
	assert_false(shape_has_link(a));
	json_object_put(a);
	json_object_put(info);

	info = fixture("ytdlp-2026.02.04-photo.json");
	set_all(info, "url", NULL, 0);
	a = shape_answer(info, 0, BASE, tk, NULL);
	assert_false(shape_has_link(a));
	json_object_put(a);
	json_object_put(info);
}

/* Numbers past any real one are capped, never converted out of range. */
static void
test_huge_numbers(void **state)
{
	struct json_object	*info = fixture("ytdlp-2026.02.04-video.json");
	struct json_object	*a, *st, *v, *fs;

	(void)state;
	json_object_object_add(info, "view_count",
	    json_object_new_uint64(18446744073709551615ULL));
	json_object_object_add(info, "like_count",
	    json_object_new_double(-5));
	json_object_object_add(info, "duration", json_object_new_double(1e300));
	assert_true(json_object_object_get_ex(info, "formats", &fs));
	json_object_object_add(json_object_array_get_idx(fs, 1), "filesize",
	    json_object_new_double(1e300));
	a = shape_answer(info, 0, BASE, tk, NULL);
	assert_true(json_object_object_get_ex(a, "statistics", &st));
	assert_true(json_object_object_get_ex(st, "play_count", &v));
	assert_true(json_object_get_int64(v) > 0);
	assert_true(json_object_object_get_ex(st, "digg_count", &v));
	assert_int_equal(json_object_get_int64(v), 0);
	assert_true(json_object_object_get_ex(a, "duration", &v));
	assert_true(json_object_get_int64(v) > 0);
	json_object_put(a);
	json_object_put(info);
}

static void
test_find_format(void **state)
{
	struct json_object	*info = fixture("ytdlp-2023.03.04-video.json");

	(void)state;
	assert_non_null(shape_find_format(info, "bytevc1_540p_650000"));
	assert_null(shape_find_format(info, "nope"));
	assert_string_equal(shape_author(info), "fakecreator01");
	json_object_put(info);
}

/* The format_id behind link name, "" when there is no such link. */
static const char *
behind(struct json_object *dl, const char *name)
{
	const char	*id = link_field(dl, name, "stream", "format_id");

	return id != NULL ? id : "";
}

/* Every link of a video answer names none of these formats. */
static void
check_never(struct json_object *dl, const char **ids)
{
	const char	*links[] = { "watermark", "no_watermark",
	    "no_watermark_hd", "watermark_hd", "no_watermark_hevc" };
	size_t		 i, j;

	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		for (j = 0; ids[j] != NULL; j++)
			assert_string_not_equal(behind(dl, links[i]), ids[j]);
}

/*
 * Today's ladder as each generation reads it (tests/fixtures, from the
 * fake TikTok: Debian's yt-dlp on the app API, most sizes null; the
 * current one on the web page, "540p" as 576x1024; the current one on
 * Douyin's app JSON, every size): the same links, H.264 by default, the
 * HEVC 1080p under its own key, and with allowH265 as no_watermark_hd;
 * never the bytevc2 rung or the video-only one.  (test_formats.c tests
 * the choice itself: classes, codecs, partial ladders.)
 */
static void
test_ladder(void **state)
{
	const char		*names[] = { "ytdlp-2023.03.04-ladder.json",
	    "ytdlp-2026.02.04-ladder.json",
	    "ytdlp-2026.02.04-douyin-ladder.json" };
	const char		*never[] = { "bytevc2_1080p_3000000",
	    "bytevc1_1080p_2600000", NULL };
	struct json_object	*info, *a, *dl;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		info = fixture(names[i]);
		a = shape_answer(info, 0, BASE, tk, NULL);
		assert_true(json_object_object_get_ex(a, "download_link", &dl));
		assert_true(strncmp(behind(dl, "watermark"), "download", 8)
		    == 0);
		assert_string_equal(behind(dl, "no_watermark"),
		    "h264_540p_900000");
		assert_string_equal(behind(dl, "no_watermark_hd"),
		    "h264_720p_1500000");
		assert_string_equal(behind(dl, "watermark_hd"),
		    "bytevc1_1080p_2000000");
		assert_string_equal(behind(dl, "no_watermark_hevc"),
		    "bytevc1_1080p_2000000");
		check_never(dl, never);
		/* The sound comes from a file that has it. */
		assert_string_equal(str(shape_audio(info), "format_id"),
		    "h264_720p_1500000");
		json_object_put(a);

		a = shape_answer(info, SHAPE_ALLOW_H265, BASE, tk, NULL);
		assert_true(json_object_object_get_ex(a, "download_link", &dl));
		assert_string_equal(behind(dl, "no_watermark_hd"),
		    "bytevc1_1080p_2000000");
		assert_string_equal(behind(dl, "watermark_hd"),
		    "h264_720p_1500000");
		assert_string_equal(behind(dl, "no_watermark"),
		    "h264_540p_900000");
		assert_false(json_object_object_get_ex(dl, "no_watermark_hevc",
		    NULL));
		check_never(dl, never);
		json_object_put(a);
		json_object_put(info);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_video_2023),
		cmocka_unit_test(test_video_2026),
		cmocka_unit_test(test_unknown_sizes),
		cmocka_unit_test(test_photo),
		cmocka_unit_test(test_find_format),
		cmocka_unit_test(test_app_api_watermark),
		cmocka_unit_test(test_null_codecs),
		cmocka_unit_test(test_no_link),
		cmocka_unit_test(test_huge_numbers),
		cmocka_unit_test(test_ladder),
	};
	int	 rc;

	tk = token_new("k", 360);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	token_free(tk);
	return rc;
}
