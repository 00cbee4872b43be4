/* SPDX-License-Identifier: ISC */
/*
 * The choice of formats (formats.c): SD or HD by the frame's short side,
 * what is a video (sound, a codec ffmpeg decodes), the order within a
 * class, the HEVC link and allowH265, on today's ladder as both yt-dlp
 * generations read it (tests/fixtures, from the fake TikTok) and on
 * formats made here.  test_shape.c checks the links an answer carries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "formats.h"

/* Today's ladder, as each generation reads it. */
static const char	*ladders[] = {
	FIXTURES "/ytdlp-2023.03.04-ladder.json",
	FIXTURES "/ytdlp-2026.02.04-ladder.json",
	FIXTURES "/ytdlp-2026.02.04-douyin-ladder.json",
};

/* The fixture at path (it must be there). */
static struct json_object *
ladder(const char *path)
{
	struct json_object	*o = json_object_from_file(path);

	assert_non_null(o);
	return o;
}

/* A format's id, "" for no format. */
static const char *
id(struct json_object *f)
{
	struct json_object	*v;

	if (f == NULL || !json_object_object_get_ex(f, "format_id", &v))
		return "";
	return json_object_get_string(v);
}

/* A format as yt-dlp gives it (w, h, tbr 0: absent; codecs NULL: null). */
static struct json_object *
fmt(const char *fid, const char *vcodec, const char *acodec, int w, int h,
    int tbr, const char *url)
{
	struct json_object	*f = json_object_new_object();

	json_object_object_add(f, "format_id", json_object_new_string(fid));
	json_object_object_add(f, "vcodec", vcodec ?
	    json_object_new_string(vcodec) : NULL);
	json_object_object_add(f, "acodec", acodec ?
	    json_object_new_string(acodec) : NULL);
	if (w > 0)
		json_object_object_add(f, "width", json_object_new_int(w));
	if (h > 0)
		json_object_object_add(f, "height", json_object_new_int(h));
	if (tbr > 0)
		json_object_object_add(f, "tbr", json_object_new_int(tbr));
	json_object_object_add(f, "url", json_object_new_string(url));
	return f;
}

/* An info with these formats (taken). */
static struct json_object *
info_of(struct json_object **f, size_t n)
{
	struct json_object	*info = json_object_new_object();
	struct json_object	*fs = json_object_new_array();
	size_t			 i;

	for (i = 0; i < n; i++)
		json_object_array_add(fs, f[i]);
	json_object_object_add(info, "formats", fs);
	return info;
}

/*
 * The short side: width and height, else the NNNp of the format id
 * (TikTok's, and with yt-dlp's -N suffix), else the note's, else the one
 * dimension there is.
 */
static void
test_short_side(void **state)
{
	const struct {
		const char	*id, *note;
		int		 w, h, side;
	} cases[] = {
		{ "a", NULL, 1080, 1920, 1080 },
		{ "a", NULL, 1920, 1080, 1080 },
		{ "a", NULL, 540, 960, 540 },
		{ "h264_540p_800000", NULL, 0, 0, 540 },
		{ "bytevc1_1080p_2000000-1", NULL, 0, 0, 1080 },
		{ "h264_720p_1350000", NULL, 576, 1024, 576 },
		{ "play", "Direct video 720p", 0, 0, 720 },
		{ "play", "(API)", 0, 0, 0 },
		{ "h264_1080p60", NULL, 0, 0, 0 },
		{ "x2160p", NULL, 0, 0, 0 },
		{ "gen", NULL, 0, 480, 480 },
		{ "0", NULL, 0, 0, 0 },
	};
	struct json_object	*f;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f = fmt(cases[i].id, "h264", "aac", cases[i].w, cases[i].h,
		    0, "https://cdn.example/v.mp4");
		if (cases[i].note != NULL)
			json_object_object_add(f, "format_note",
			    json_object_new_string(cases[i].note));
		assert_int_equal(formats_short_side(f), cases[i].side);
		json_object_put(f);
	}
	/* 576 is SD, 720 is HD: the portrait 576x1024 file is no HD. */
	assert_true(576 < FORMATS_HD_SIDE && 720 >= FORMATS_HD_SIDE);
}

/* No choice names the bytevc2 rung or the video-only one. */
static void
check_never(const struct formats_choice *c)
{
	struct json_object	*all[] = { c->watermark, c->sd, c->hd,
	    c->hd2, c->hevc };
	size_t			 i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		assert_string_not_equal(id(all[i]), "bytevc2_1080p_3000000");
		assert_string_not_equal(id(all[i]), "bytevc1_1080p_2600000");
	}
}

/*
 * Today's ladder in the three shapes: H.264 540p and 720p by default,
 * the HEVC 1080p as the HEVC link (and as watermark_hd, the second HD);
 * with allowH265 the HEVC 1080p is no_watermark_hd and there is no
 * separate HEVC link; the sound comes from a file that has it.
 */
static void
test_ladder(void **state)
{
	struct formats_choice	 c;
	struct json_object	*info;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(ladders) / sizeof(ladders[0]); i++) {
		info = ladder(ladders[i]);
		formats_choose(info, 0, &c);
		assert_true(strncmp(id(c.watermark), "download", 8) == 0);
		assert_string_equal(id(c.sd), "h264_540p_900000");
		assert_string_equal(id(c.hd), "h264_720p_1500000");
		assert_string_equal(id(c.hd2), "bytevc1_1080p_2000000");
		assert_string_equal(id(c.hevc), "bytevc1_1080p_2000000");
		check_never(&c);
		assert_string_equal(id(formats_audio(info)),
		    "h264_720p_1500000");

		formats_choose(info, FORMATS_ALLOW_H265, &c);
		assert_string_equal(id(c.sd), "h264_540p_900000");
		assert_string_equal(id(c.hd), "bytevc1_1080p_2000000");
		assert_string_equal(id(c.hd2), "h264_720p_1500000");
		assert_null(c.hevc);
		check_never(&c);
		json_object_put(info);
	}
}

/* Drop the formats (but the watermarked one) that drop() says. */
static void
drop_formats(struct json_object *info, int (*drop)(struct json_object *))
{
	struct json_object	*fs, *f;
	size_t			 i;

	assert_true(json_object_object_get_ex(info, "formats", &fs));
	for (i = json_object_array_length(fs); i-- > 0;) {
		f = json_object_array_get_idx(fs, i);
		if (strncmp(id(f), "download", 8) != 0 && drop(f))
			json_object_array_del_idx(fs, i, 1);
	}
}

static int
is_h264(struct json_object *f)
{
	return strncmp(id(f), "h264", 4) == 0;
}

static int
is_hd(struct json_object *f)
{
	return formats_short_side(f) >= FORMATS_HD_SIDE;
}

/*
 * A post with only HEVC rungs: HEVC is what there is (and no separate
 * HEVC link); a post with only SD rungs: no HD link, and the HEVC 540p
 * is no larger than the H.264 one.  Both shapes, with and without
 * allowH265.
 */
static void
test_partial_ladders(void **state)
{
	struct formats_choice	 c;
	struct json_object	*info;
	size_t			 i;
	int			 flags;

	(void)state;
	for (i = 0; i < sizeof(ladders) / sizeof(ladders[0]); i++)
	for (flags = 0; flags <= FORMATS_ALLOW_H265;
	    flags += FORMATS_ALLOW_H265) {
		info = ladder(ladders[i]);
		drop_formats(info, is_h264);
		formats_choose(info, flags, &c);
		assert_string_equal(id(c.sd), "bytevc1_540p_600000");
		assert_string_equal(id(c.hd), "bytevc1_1080p_2000000");
		assert_null(c.hd2);
		assert_null(c.hevc);
		assert_true(strncmp(id(c.watermark), "download", 8) == 0);
		check_never(&c);
		json_object_put(info);

		info = ladder(ladders[i]);
		drop_formats(info, is_hd);
		formats_choose(info, flags, &c);
		assert_string_equal(id(c.sd), "h264_540p_900000");
		assert_null(c.hd);
		assert_null(c.hd2);
		assert_null(c.hevc);
		assert_true(strncmp(id(c.watermark), "download", 8) == 0);
		json_object_put(info);
	}
}

/*
 * What is a video: sound ("none", or TikTok's video-only URL, is none),
 * a codec ffmpeg decodes (or an unknown one); and the HEVC link only for
 * a larger frame than the ones the other links hold.
 */
static void
test_codecs_and_sound(void **state)
{
	struct formats_choice	 c;
	struct json_object	*f[9], *info;

	(void)state;
	f[0] = fmt("h264_360p_1", "avc1.64001F", "mp4a.40.2", 360, 640, 500,
	    "https://cdn.example/a.mp4");
	f[1] = fmt("hevc_540p_1", "hev1.1.6.L93.B0", "aac", 540, 960, 600,
	    "https://cdn.example/b.mp4");
	f[2] = fmt("vvc_1080p_1", "vvc1", "aac", 1080, 1920, 900,
	    "https://cdn.example/c.mp4");
	f[3] = fmt("none_1080p_1", "h264", "none", 1080, 1920, 900,
	    "https://cdn.example/d.mp4");
	f[4] = fmt("silent_1080p_1", "h265", "aac", 1080, 1920, 900,
	    "https://cdn.example/x/media-video-hvc1/?a=1&b=2");
	f[5] = fmt("vp9_720p_1", "vp9", "opus", 720, 1280, 700,
	    "https://cdn.example/media-video-hvc1/e.mp4");
	f[6] = fmt("audio_1", "none", "aac", 0, 0, 64,
	    "https://cdn.example/f.m4a");
	f[7] = fmt("bvc2_540p_1", "bytevc2", "aac", 540, 960, 2000,
	    "https://cdn.example/g.mp4");
	f[8] = fmt("unknown_360p_1", NULL, NULL, 360, 640, 9000,
	    "https://cdn.example/h.mp4");
	info = info_of(f, 9);
	formats_choose(info, 0, &c);
	/* H.264 before an unknown codec, whatever the bit rate. */
	assert_string_equal(id(c.sd), "h264_360p_1");
	assert_string_equal(id(c.hd), "vp9_720p_1");
	assert_null(c.hd2);
	/* HEVC 540p is not larger than the VP9 720p no_watermark_hd. */
	assert_null(c.hevc);
	assert_null(c.watermark);
	assert_string_equal(id(formats_audio(info)), "audio_1");

	/* Without the 720p: the HEVC 540p beats the SD link's 360p. */
	json_object_array_del_idx(json_object_object_get(info, "formats"), 5,
	    1);
	formats_choose(info, FORMATS_ALLOW_H265, &c);
	assert_string_equal(id(c.sd), "h264_360p_1");
	assert_string_equal(id(c.hevc), "hevc_540p_1");
	assert_null(c.hd);
	json_object_put(info);
}

/*
 * At the same frame the higher bit rate comes first; at the same frame
 * and bit rate, yt-dlp's order; a larger frame beats any bit rate.
 */
static void
test_bit_rate(void **state)
{
	struct formats_choice	 c;
	struct json_object	*f[4], *info;

	(void)state;
	f[0] = fmt("h264_720p_800000", "h264", "aac", 720, 1280, 800,
	    "https://cdn.example/a.mp4");
	f[1] = fmt("h264_720p_1500000", "h264", "aac", 720, 1280, 1500,
	    "https://cdn.example/b.mp4");
	f[2] = fmt("h264_720p_1500000-1", "h264", "aac", 720, 1280, 1500,
	    "https://cdn.example/c.mp4");
	f[3] = fmt("h264_1080p_900000", "h264", "aac", 1080, 1920, 900,
	    "https://cdn.example/d.mp4");
	info = info_of(f, 4);
	formats_choose(info, 0, &c);
	assert_string_equal(id(c.hd), "h264_1080p_900000");
	assert_string_equal(id(c.hd2), "h264_720p_1500000");
	json_object_array_del_idx(json_object_object_get(info, "formats"), 3,
	    1);
	formats_choose(info, FORMATS_ALLOW_H265, &c);
	assert_string_equal(id(c.hd), "h264_720p_1500000");
	assert_string_equal(id(c.hd2), "h264_720p_1500000-1");
	json_object_put(info);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_side),
		cmocka_unit_test(test_ladder),
		cmocka_unit_test(test_partial_ladders),
		cmocka_unit_test(test_codecs_and_sound),
		cmocka_unit_test(test_bit_rate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
