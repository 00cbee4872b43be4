/* SPDX-License-Identifier: ISC */
/*
 * What /stream and /download read from a token's payload (target.c):
 * ours, as shape_stream_payload makes it (video: the page in url, the
 * CDN URL in cdn_url; photo: the file in url, the page in page_url),
 * serverjs's (a page and a format: extracted again), an older one of
 * ours (a CDN URL and its headers), and what is refused.
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
#include "target.h"

#define PAGE	"https://www.tiktok.com/@someone/video/7300000000000000001"
#define CDN	"https://v16m.tiktokcdn.com/video/abc?sig=1"

static const struct target	 zero;

/* A post's info with one format, as yt-dlp gives it (the fields
 * shape_stream_payload reads). */
static struct json_object *
info_with(struct json_object **fmt, const char *egress)
{
	struct json_object	*info, *hh;

	info = json_object_new_object();
	json_object_object_add(info, "uploader",
	    json_object_new_string("someone"));
	if (egress != NULL)
		json_object_object_add(info, "_egress",
		    json_object_new_string(egress));
	*fmt = json_object_new_object();
	json_object_object_add(*fmt, "url", json_object_new_string(CDN));
	json_object_object_add(*fmt, "format_id",
	    json_object_new_string("h264_540p"));
	hh = json_object_new_object();
	json_object_object_add(hh, "Referer",
	    json_object_new_string("https://www.tiktok.com/"));
	json_object_object_add(*fmt, "http_headers", hh);
	return info;
}

static const char *
header(const struct target *t, const char *name)
{
	struct json_object	*v;

	if (t->headers == NULL ||
	    !json_object_object_get_ex(t->headers, name, &v))
		return NULL;
	return json_object_get_string(v);
}

static void
test_ours_video(void **state)
{
	struct json_object	*info, *fmt;
	struct target		 t;
	char			*p;

	(void)state;
	info = info_with(&fmt, "0123456789abcdef");
	p = shape_stream_payload(info, fmt, "video", PAGE);
	assert_non_null(p);
	assert_int_equal(target_parse(p, "video", &t), 0);
	assert_string_equal(t.url, CDN);
	assert_string_equal(t.page_url, PAGE);
	assert_string_equal(t.author, "someone");
	assert_string_equal(t.type, "video");
	assert_string_equal(t.format_id, "h264_540p");
	assert_string_equal(t.egress, "0123456789abcdef");
	assert_string_equal(header(&t, "Referer"), "https://www.tiktok.com/");
	target_clear(&t);
	assert_memory_equal(&t, &zero, sizeof(t));
	free(p);
	/* mp3: its type kept, not the handler's default. */
	p = shape_stream_payload(info, fmt, "mp3", PAGE);
	assert_int_equal(target_parse(p, "video", &t), 0);
	assert_string_equal(t.type, "mp3");
	assert_string_equal(t.url, CDN);
	target_clear(&t);
	free(p);
	json_object_put(fmt);
	json_object_put(info);
}

static void
test_ours_photo(void **state)
{
	struct json_object	*info, *fmt;
	struct target		 t;
	char			*p;

	(void)state;
	info = info_with(&fmt, NULL);
	p = shape_stream_payload(info, fmt, "image", PAGE);
	assert_int_equal(target_parse(p, "video", &t), 0);
	assert_string_equal(t.url, CDN);	/* url is the file */
	assert_string_equal(t.page_url, PAGE);
	assert_string_equal(t.type, "image");
	assert_null(t.egress);
	target_clear(&t);
	free(p);
	json_object_put(fmt);
	json_object_put(info);
}

static void
test_serverjs(void **state)
{
	struct target	 t;

	(void)state;
	/* A page and a format, no headers: the CDN URL comes from
	 * extracting the page. */
	assert_int_equal(target_parse("{\"url\":\"" PAGE "\","
	    "\"format_id\":\"download\",\"author\":\"someone\"}", "video",
	    &t), 0);
	assert_null(t.url);
	assert_string_equal(t.page_url, PAGE);
	assert_string_equal(t.format_id, "download");
	assert_string_equal(t.type, "video");
	assert_null(t.headers);
	target_clear(&t);
	/* Headers that are not an object are no headers. */
	assert_int_equal(target_parse("{\"url\":\"" PAGE "\","
	    "\"format_id\":\"f\",\"http_headers\":[1]}", "video", &t), 0);
	assert_null(t.url);
	assert_string_equal(t.page_url, PAGE);
	target_clear(&t);
}

static void
test_older_ours(void **state)
{
	struct target	 t;

	(void)state;
	/* A CDN URL with its headers and format: fetched as it is. */
	assert_int_equal(target_parse("{\"url\":\"" CDN "\",\"format_id\":"
	    "\"f\",\"http_headers\":{\"Cookie\":\"a=b\"}}", "video", &t), 0);
	assert_string_equal(t.url, CDN);
	assert_null(t.page_url);
	assert_string_equal(header(&t, "Cookie"), "a=b");
	target_clear(&t);
	/* page_url names the page, whatever url says beside cdn_url. */
	assert_int_equal(target_parse("{\"url\":\"https://elsewhere/\","
	    "\"cdn_url\":\"" CDN "\",\"page_url\":\"" PAGE "\"}", "video",
	    &t), 0);
	assert_string_equal(t.url, CDN);
	assert_string_equal(t.page_url, PAGE);
	target_clear(&t);
	/* A URL alone. */
	assert_int_equal(target_parse("{\"url\":\"" CDN "\"}", "image", &t),
	    0);
	assert_string_equal(t.url, CDN);
	assert_string_equal(t.type, "image");
	assert_null(t.page_url);
	assert_null(t.format_id);
	assert_null(t.author);
	target_clear(&t);
}

static void
test_refused(void **state)
{
	static const char *const bad[] = { "", "not json", "[\"" CDN "\"]",
	    "\"" CDN "\"", "{}", "{\"url\":5}", "{\"cdn_url\":null}",
	    "{\"author\":\"a\",\"format_id\":\"f\"}",
	    "{\"url\":\"" CDN "\"", "{\"url\":\"" CDN "\",\"a\":[[[[[[[[[1]]]]"
	    "]]]]]}", NULL };
	struct target	 t;
	int		 i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++) {
		memset(&t, 0xa5, sizeof(t));
		assert_int_equal(target_parse(bad[i], "video", &t), -1);
		assert_memory_equal(&t, &zero, sizeof(t));
	}
	/* Nested as deep as the parser allows: still a payload. */
	assert_int_equal(target_parse("{\"url\":\"" CDN "\",\"a\":[[[[[[1]]]"
	    "]]]}", "video", &t), 0);
	target_clear(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ours_video),
		cmocka_unit_test(test_ours_photo),
		cmocka_unit_test(test_serverjs),
		cmocka_unit_test(test_older_ours),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
