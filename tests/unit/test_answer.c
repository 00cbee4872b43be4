/* SPDX-License-Identifier: ISC */
/*
 * The failure table (answer.c): every failure has a status, words and a
 * name of its own; the ones clients and operators count on keep their
 * status, words and Retry-After; the answer is {"error": words} and
 * nothing else; details go where the words take them and nowhere else;
 * the upstream counters count what came from upstream only; and the
 * kinds ytdlp_helper.py says are the kinds the table reads.
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
#include "counters.h"
#include "http.h"
#include "memhttp.h"

/* What answer_fail(f, detail) sends, on a fresh request to /stream. */
static void
answer(struct mem *m, enum fail f, const char *detail)
{
	static const char	*p[] = { "REQUEST_METHOD", "GET",
	    "REQUEST_URI", "/stream?data=x", NULL };
	struct http		*h;

	mem_init(m, p, NULL);
	assert_non_null(h = http_new(&mem_io, m));
	answer_fail(h, f, detail);
	http_end(h);
	http_free(h);
}

/* The body is {"error": words}, one member; returns words (caller
 * frees). */
static char *
error_of(const struct mem *m)
{
	struct json_object	*o, *v;
	char			*w;

	assert_non_null(mem_body(m));
	o = json_tokener_parse(mem_body(m));
	assert_non_null(o);
	assert_true(json_object_is_type(o, json_type_object));
	assert_int_equal(json_object_object_length(o), 1);
	assert_true(json_object_object_get_ex(o, "error", &v));
	assert_true(json_object_is_type(v, json_type_string));
	w = strdup(json_object_get_string(v));
	json_object_put(o);
	return w;
}

static void
test_every_failure(void **state)
{
	char	 words[512];
	int	 f, g, st;

	(void)state;
	for (f = FAIL_OK + 1; f < FAIL_MAX; f++) {
		st = answer_status((enum fail)f);
		/* 499 (nobody waits) is never sent. */
		assert_true((st >= 400 && st <= 599) || f == FAIL_GONE);
		answer_words((enum fail)f, NULL, words, sizeof(words));
		assert_true(strlen(words) > 8);
		assert_null(strstr(words, "%s"));
		assert_non_null(answer_name((enum fail)f));
		assert_true(*answer_name((enum fail)f) != '\0');
		for (g = FAIL_OK + 1; g < f; g++)
			assert_string_not_equal(answer_name((enum fail)f),
			    answer_name((enum fail)g));
	}
	/* Not a failure: a handler's fault, answered as ours. */
	assert_int_equal(answer_status(FAIL_OK), 500);
	assert_int_equal(answer_status(FAIL_MAX), 500);
}

static void
test_statuses(void **state)
{
	static const struct {
		enum fail	 f;
		int		 status;
		const char	*retry;
	} want[] = {
		{ FAIL_NOT_FOUND, 404, NULL },
		{ FAIL_PRIVATE, 403, NULL },
		{ FAIL_BLOCKED, 503, "60" },
		{ FAIL_UNSUPPORTED, 400, NULL },
		{ FAIL_TIMEOUT, 504, NULL },
		{ FAIL_BUSY, 503, "5" },
		{ FAIL_UNREADABLE, 502, NULL },
		{ FAIL_UNREACHABLE, 503, "30" },
		{ FAIL_OTHER, 500, NULL },
		{ FAIL_NOMEM, 500, NULL },
		{ FAIL_NO_ROUTE, 404, NULL },
		{ FAIL_METHOD, 405, NULL },
		{ FAIL_KEY_UNKNOWN, 401, NULL },
		{ FAIL_LIMITED, 429, NULL },	/* admit.c says when */
		{ FAIL_BODY_TOO_LARGE, 413, NULL },
		{ FAIL_LINK_EXPIRED, 410, NULL },
		{ FAIL_LINK_INVALID, 400, NULL },
		{ FAIL_RANGE, 416, NULL },
		{ FAIL_CDN_TIMEOUT, 504, NULL },
		{ FAIL_CDN_STATUS, 502, NULL },
		{ FAIL_RENDERS_BUSY, 503, "10" },
		{ FAIL_DISK_FULL, 503, "30" },
		{ FAIL_RENDER_TIMEOUT, 504, NULL },
	};
	struct mem	 m;
	char		*retry, *w, words[512];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		answer(&m, want[i].f, NULL);
		assert_int_equal(mem_status(&m), want[i].status);
		assert_int_equal(answer_status(want[i].f), want[i].status);
		retry = mem_header(&m, "Retry-After");
		if (want[i].retry == NULL)
			assert_null(retry);
		else
			assert_string_equal(retry, want[i].retry);
		free(retry);
		w = error_of(&m);
		answer_words(want[i].f, NULL, words, sizeof(words));
		assert_string_equal(w, words);
		free(w);
		mem_free(&m);
	}
}

/* What answer_fail(f, detail) has the client read is want. */
static void
reads(enum fail f, const char *detail, const char *want)
{
	struct mem	 m;
	char		*w;

	answer(&m, f, detail);
	w = error_of(&m);
	assert_string_equal(w, want);
	free(w);
	mem_free(&m);
}

/* The words serverjs's clients and our tests know, word for word. */
static void
test_words(void **state)
{
	(void)state;
	/* yt-dlp's words are for the log only. */
	reads(FAIL_NOT_FOUND, "[TikTok] 1: Video not available", "Video not "
	    "found. Please check the URL and make sure the video exists.");
	reads(FAIL_UNREACHABLE, NULL, "TikTok could not be reached. Please "
	    "try again later.");
	reads(FAIL_LINK_EXPIRED, NULL, "Download link has expired");
	reads(FAIL_NOT_POST, NULL, "This TikTok or Douyin URL is not a single "
	    "post.");
	/* The answer is JSON whatever the detail holds. */
	reads(FAIL_OTHER, "a \"quoted\"\nline", "Extraction failed: a "
	    "\"quoted\"\nline.");
}

static void
test_details(void **state)
{
	char	 b[256];

	(void)state;
	answer_words(FAIL_BUSY, NULL, b, sizeof(b));
	assert_string_equal(b, "Server busy (no extraction slot). Please "
	    "try again shortly.");
	answer_words(FAIL_BUSY, "shutting down", b, sizeof(b));
	assert_string_equal(b, "Server busy (shutting down). Please try "
	    "again shortly.");
	answer_words(FAIL_OTHER, NULL, b, sizeof(b));
	assert_string_equal(b, "Extraction failed.");
	answer_words(FAIL_OTHER, "out of memory", b, sizeof(b));
	assert_string_equal(b, "Extraction failed: out of memory.");
	answer_words(FAIL_CDN_STATUS, "404", b, sizeof(b));
	assert_string_equal(b, "The CDN answered with status 404");
	answer_words(FAIL_CDN_PROXY, "407", b, sizeof(b));
	assert_string_equal(b, "The proxy refused the way to the CDN "
	    "(status 407)");
	answer_words(FAIL_PARAM_MISSING, "data", b, sizeof(b));
	assert_string_equal(b, "Missing data parameter");
	answer_words(FAIL_MEDIA_FETCH, "image 3: the CDN answered 404", b,
	    sizeof(b));
	assert_string_equal(b, "Could not fetch image 3: the CDN answered "
	    "404");
	answer_words(FAIL_LIMITED, "10 per 60 s for this address; try again "
	    "in 7 s", b, sizeof(b));
	assert_string_equal(b, "Too many requests: 10 per 60 s for this "
	    "address; try again in 7 s");
	/* A detail longer than the buffer is cut, never overrun. */
	memset(b, 'x', sizeof(b));
	answer_words(FAIL_OTHER, "0123456789", b, 8);
	assert_string_equal(b, "Extract");
	/* Two links that did not open, one answer wherever opened. */
	assert_int_equal(answer_token(TOKEN_OK), FAIL_OK);
	assert_int_equal(answer_token(TOKEN_EXPIRED), FAIL_LINK_EXPIRED);
	assert_int_equal(answer_token(TOKEN_FORGED), FAIL_LINK_INVALID);
	assert_int_equal(answer_token(TOKEN_MALFORMED), FAIL_LINK_INVALID);
	assert_int_equal(answer_token(TOKEN_NOMEM), FAIL_NOMEM);
}

/* The count of one upstream kind in /metrics's text. */
static unsigned long
upstream(const char *kind)
{
	char		*text = NULL, key[128];
	const char	*at;
	size_t		 len;
	FILE		*f;
	unsigned long	 n;

	assert_non_null(f = open_memstream(&text, &len));
	counters_write(f);
	fclose(f);
	snprintf(key, sizeof(key), "tiktok_fcgi_upstream_errors_total{kind="
	    "\"%s\"} ", kind);
	assert_non_null(at = strstr(text, key));
	n = strtoul(at + strlen(key), NULL, 10);
	free(text);
	return n;
}

static void
test_counters(void **state)
{
	struct mem	 m;
	unsigned long	 unreachable, unsupported, status, connect;

	(void)state;
	unreachable = upstream("extract_unreachable");
	unsupported = upstream("extract_unsupported");
	status = upstream("cdn_status");
	connect = upstream("cdn_connect");
	answer(&m, FAIL_UNREACHABLE, NULL);
	mem_free(&m);
	answer(&m, FAIL_CDN_PROXY, "407");
	mem_free(&m);
	/* The same words as unsupported, but no extraction was made. */
	answer(&m, FAIL_NOT_POST, NULL);
	mem_free(&m);
	answer(&m, FAIL_LINK_INVALID, NULL);
	mem_free(&m);
	assert_int_equal(upstream("extract_unreachable"), unreachable + 1);
	assert_int_equal(upstream("cdn_connect"), connect + 1);
	assert_int_equal(upstream("extract_unsupported"), unsupported);
	assert_int_equal(upstream("cdn_status"), status);
}

/*
 * The kinds the helper's docstring lists ("kinds: a, b, ...: as ...")
 * are the kinds the table reads, each to a failure of its own, and the
 * table reads no other: the two sides of the protocol agree.
 */
static void
test_helper_kinds(void **state)
{
	FILE		*f;
	char		 buf[65536], *at, *end, *k;
	size_t		 n;
	int		 said[FAIL_MAX] = { 0 }, e, nkinds = 0;

	(void)state;
	assert_non_null(f = fopen(HELPER_PY, "r"));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	assert_non_null(at = strstr(buf, "(kinds: "));
	at += strlen("(kinds: ");
	assert_non_null(end = strchr(at, ':'));
	*end = '\0';
	for (k = strtok(at, ", \n"); k != NULL; k = strtok(NULL, ", \n")) {
		e = answer_kind(k);
		assert_string_equal(answer_name((enum fail)e), k);
		assert_false(said[e]);
		said[e] = 1;
		nkinds++;
	}
	assert_int_equal(nkinds, 8);
	for (e = FAIL_OK + 1; e < FAIL_MAX; e++)
		if (!said[e])
			assert_int_equal(answer_kind(answer_name((enum fail)e)),
			    FAIL_OTHER);
	/* The pool's own words and unknown ones are not kinds. */
	assert_int_equal(answer_kind("busy"), FAIL_OTHER);
	assert_int_equal(answer_kind("ok"), FAIL_OTHER);
	assert_int_equal(answer_kind("nomem"), FAIL_OTHER);
	assert_int_equal(answer_kind(NULL), FAIL_OTHER);
	assert_string_equal(answer_name(FAIL_OK), "ok");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_failure),
		cmocka_unit_test(test_statuses),
		cmocka_unit_test(test_words),
		cmocka_unit_test(test_details),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_helper_kinds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
