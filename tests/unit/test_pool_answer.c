/* SPDX-License-Identifier: ISC */
/*
 * A helper's lines read (pool_answer.h): the handshake, "started", an
 * answer with the info of each fixture (both yt-dlp generations, video
 * and photo), failures and their kinds, and lines that break the
 * protocol.
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

#include "answer.h"
#include "pool_answer.h"

static int
parse(struct pool_answer *a, const char *line)
{
	return pool_answer_parse(a, line, strlen(line));
}

static void
test_ready(void **state)
{
	struct pool_answer	 a;

	(void)state;
	assert_int_equal(parse(&a, "{\"ready\":true,\"ytdlp\":\"2026.02.04\"}"),
	    0);
	assert_int_equal(a.what, POOL_ANSWER_READY);
	assert_string_equal(a.version, "2026.02.04");
	pool_answer_clear(&a);
	/* A version that is not a string, or not ready: broken. */
	assert_int_equal(parse(&a, "{\"ready\":true,\"ytdlp\":null}"), -1);
	assert_int_equal(parse(&a, "{\"ready\":true}"), -1);
	assert_int_equal(parse(&a, "{\"ready\":false,\"ytdlp\":\"1\"}"), -1);
}

static void
test_started(void **state)
{
	struct pool_answer	 a;

	(void)state;
	assert_int_equal(parse(&a, "{\"id\":41,\"started\":true}"), 0);
	assert_int_equal(a.what, POOL_ANSWER_STARTED);
	assert_int_equal(a.id, 41);
	pool_answer_clear(&a);
}

/* {"id": 7, "ok": true, "info": <the fixture>}: its formats come back. */
static void
test_fixtures(void **state)
{
	static const char *const names[] = { "ytdlp-2026.02.04-video.json",
	    "ytdlp-2026.02.04-photo.json", "ytdlp-2023.03.04-video.json",
	    "ytdlp-2023.03.04-photo.json" };
	struct pool_answer	 a;
	struct json_object	*f, *v;
	char			*line;
	size_t			 i;
	int			 n;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char	 path[512];

		snprintf(path, sizeof(path), "%s/%s", FIXTURES, names[i]);
		assert_non_null(f = json_object_from_file(path));
		n = asprintf(&line, "{\"id\":7,\"ok\":true,\"info\":%s}",
		    json_object_to_json_string_ext(f, JSON_C_TO_STRING_PLAIN));
		assert_true(n > 0);
		assert_int_equal(parse(&a, line), 0);
		assert_int_equal(a.what, POOL_ANSWER_DONE);
		assert_int_equal(a.id, 7);
		assert_int_equal(a.err, FAIL_OK);
		assert_non_null(a.info);
		assert_true(json_object_object_get_ex(a.info, "formats", &v));
		assert_true(json_object_array_length(v) > 0);
		assert_true(json_object_equal(a.info, f));
		pool_answer_clear(&a);
		json_object_put(f);
		free(line);
	}
}

static void
test_failures(void **state)
{
	struct pool_answer	 a;
	enum fail		 e;
	char			 line[256];

	(void)state;
	assert_int_equal(parse(&a, "{\"id\":8,\"ok\":false,\"error\":\"[TikTok]"
	    " 1: Video not available\",\"kind\":\"not_found\"}"), 0);
	assert_int_equal(a.what, POOL_ANSWER_DONE);
	assert_int_equal(a.err, FAIL_NOT_FOUND);
	assert_null(a.info);
	assert_string_equal(a.msg, "[TikTok] 1: Video not available");
	pool_answer_clear(&a);
	/* Each kind the helper says, by its name. */
	for (e = FAIL_NOT_FOUND; e <= FAIL_OTHER; e++) {
		if (e == FAIL_BUSY)
			continue;
		snprintf(line, sizeof(line), "{\"id\":9,\"ok\":false,\"error\":"
		    "\"x\",\"kind\":\"%s\"}", answer_name(e));
		assert_int_equal(parse(&a, line), 0);
		assert_int_equal(a.err, e);
		pool_answer_clear(&a);
	}
	/* The pool's own words are not a helper's kinds. */
	assert_int_equal(answer_kind("busy"), FAIL_OTHER);
	assert_int_equal(answer_kind("ok"), FAIL_OTHER);
	assert_int_equal(answer_kind("weird"), FAIL_OTHER);
	assert_int_equal(answer_kind(NULL), FAIL_OTHER);
	/* No kind, no words; "ok" without an info (a pong): a failure to
	 * whoever did not ask for a pong. */
	assert_int_equal(parse(&a, "{\"id\":10,\"ok\":false}"), 0);
	assert_int_equal(a.err, FAIL_OTHER);
	assert_string_equal(a.msg, "extraction failed");
	pool_answer_clear(&a);
	assert_int_equal(parse(&a, "{\"id\":11,\"ok\":true,\"pong\":true}"),
	    0);
	assert_int_equal(a.what, POOL_ANSWER_DONE);
	assert_null(a.info);
	pool_answer_clear(&a);
}

static void
test_broken(void **state)
{
	static const char *const bad[] = { "", "this is not json", "[1,2]",
	    "42", "{\"ok\":true,\"info\":{}}", "{\"id\":1,", "null",
	    "{\"id\":1} trailing" };
	struct pool_answer	 a;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse(&a, bad[i]), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ready),
		cmocka_unit_test(test_started),
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_broken),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
