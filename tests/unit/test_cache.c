/* SPDX-License-Identifier: ISC */
/*
 * The metadata cache: single-flight under concurrency, TTL, the size
 * bound, failures not kept (but missing posts, for MISSING_TTL),
 * canonical keys, posts kept as text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "cache.h"

static int		 calls;
static pthread_mutex_t	 mtx = PTHREAD_MUTEX_INITIALIZER;
static enum fail	 next_err = FAIL_OK;
static const char	*next_info;	/* the document, or NULL: {"url"} */

struct job {
	char		*url;
	cache_done_fn	 done;
	void		*arg;
};

/* An extraction: a while later, on another thread, as the pool does. */
static void *
extract(void *p)
{
	struct job		*j = p;
	struct json_object	*info;

	usleep(100000);
	if (next_err != FAIL_OK)
		j->done(j->arg, next_err, NULL, "no such post");
	else if (next_info != NULL)
		j->done(j->arg, FAIL_OK, json_tokener_parse(next_info), NULL);
	else {
		info = json_object_new_object();
		json_object_object_add(info, "url",
		    json_object_new_string(j->url));
		j->done(j->arg, FAIL_OK, info, NULL);
	}
	free(j->url);
	free(j);
	return NULL;
}

static void
fill(void *arg, const char *key, const char *url, int fresh,
    cache_done_fn done, void *done_arg)
{
	struct job	*j = calloc(1, sizeof(*j));
	pthread_t	 t;

	(void)arg;
	(void)key;
	(void)fresh;
	pthread_mutex_lock(&mtx);
	calls++;
	pthread_mutex_unlock(&mtx);
	j->url = strdup(url);
	j->done = done;
	j->arg = done_arg;
	pthread_create(&t, NULL, extract, j);
	pthread_detach(t);
}

/* cache_lookup: each waiter told once, with a reference of its own. */
static int			 told;
static struct cache		*told_cache;

static void
on_done(void *arg, enum fail err, struct json_object *info,
    const char *msg)
{
	(void)msg;
	assert_int_equal(err, FAIL_OK);
	assert_non_null(info);
	pthread_mutex_lock(&mtx);
	told++;
	*(int *)arg += 1;
	pthread_mutex_unlock(&mtx);
	cache_release(told_cache, info);
}

static void
test_lookup_parks(void **state)
{
	struct cache		*c = cache_new(10, 60, fill, NULL);
	struct json_object	*info;
	int			 each[30], i, n;

	(void)state;
	calls = 0;
	told = 0;
	next_err = FAIL_OK;
	told_cache = c;
	memset(each, 0, sizeof(each));
	for (i = 0; i < 30; i++)
		assert_int_equal(cache_lookup(c, "tiktok:9",
		    "https://www.tiktok.com/@a/video/9", on_done, &each[i],
		    &info), 0);
	for (i = 0; i < 50; i++) {
		pthread_mutex_lock(&mtx);
		n = told;
		pthread_mutex_unlock(&mtx);
		if (n == 30)
			break;
		usleep(20000);
	}
	assert_int_equal(n, 30);
	for (i = 0; i < 30; i++)
		assert_int_equal(each[i], 1);
	assert_int_equal(calls, 1);
	/* Now a hit, answered at once. */
	assert_int_equal(cache_lookup(c, "tiktok:9", "x", on_done, NULL,
	    &info), 1);
	assert_non_null(info);
	cache_release(c, info);
	cache_free(c);
}

struct arg {
	struct cache	*c;
	enum fail	 err;
	int		 ok;
};

static void *
lookup(void *p)
{
	struct arg		*a = p;
	struct json_object	*info;
	char			*msg;

	a->err = cache_get(a->c, "tiktok:1",
	    "https://www.tiktok.com/@a/video/1", &info, &msg);
	a->ok = info != NULL;
	cache_release(a->c, info);
	free(msg);
	return NULL;
}

static void
test_single_flight(void **state)
{
	struct cache		*c = cache_new(10, 60, fill, NULL);
	pthread_t		 t[50];
	struct arg		 a[50];
	struct cache_stats	 st;
	int			 i;

	(void)state;
	calls = 0;
	next_err = FAIL_OK;
	for (i = 0; i < 50; i++) {
		a[i].c = c;
		pthread_create(&t[i], NULL, lookup, &a[i]);
	}
	for (i = 0; i < 50; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].err, FAIL_OK);
		assert_true(a[i].ok);
	}
	assert_int_equal(calls, 1);
	cache_stats(c, &st);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.hits, 49);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.inflight, 0);
	cache_free(c);
}

static void
test_failures_not_kept(void **state)
{
	struct cache		*c = cache_new(10, 60, fill, NULL);
	pthread_t		 t[10];
	struct arg		 a[10];
	struct cache_stats	 st;
	int			 i;

	(void)state;
	calls = 0;
	next_err = FAIL_NOT_FOUND;
	for (i = 0; i < 10; i++) {
		a[i].c = c;
		pthread_create(&t[i], NULL, lookup, &a[i]);
	}
	for (i = 0; i < 10; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].err, FAIL_NOT_FOUND);
	}
	assert_int_equal(calls, 1);	/* waiters shared the failure */
	cache_stats(c, &st);
	assert_int_equal(st.entries, 0);
	next_err = FAIL_OK;
	lookup(&a[0]);
	assert_int_equal(a[0].err, FAIL_OK);
	assert_int_equal(calls, 2);	/* ...but it was not kept */
	cache_free(c);
}

/* MISSING_TTL: a missing or private post is remembered, other failures
 * are not, and only for the time set. */
static void
test_missing_remembered(void **state)
{
	struct cache		*c = cache_new(10, 60, fill, NULL);
	struct json_object	*info;
	struct cache_stats	 st;
	char			*msg;
	const char		*u1 = "https://www.tiktok.com/@a/video/1";
	const char		*u2 = "https://www.tiktok.com/@a/video/2";
	const char		*u3 = "https://www.tiktok.com/@a/video/3";

	(void)state;
	cache_remember_missing(c, 1);
	calls = 0;
	next_err = FAIL_NOT_FOUND;
	assert_int_equal(cache_get(c, u1, u1, &info, &msg), FAIL_NOT_FOUND);
	free(msg);
	assert_int_equal(cache_get(c, u1, u1, &info, &msg), FAIL_NOT_FOUND);
	assert_null(info);
	free(msg);
	assert_int_equal(calls, 1);	/* the second was remembered */
	next_err = FAIL_PRIVATE;
	assert_int_equal(cache_get(c, u2, u2, &info, &msg), FAIL_PRIVATE);
	free(msg);
	next_err = FAIL_OK;
	assert_int_equal(cache_get(c, u2, u2, &info, &msg), FAIL_PRIVATE);
	free(msg);
	assert_int_equal(calls, 2);
	next_err = FAIL_TIMEOUT;	/* not a verdict on the post */
	assert_int_equal(cache_get(c, u3, u3, &info, &msg), FAIL_TIMEOUT);
	free(msg);
	next_err = FAIL_OK;
	assert_int_equal(cache_get(c, u3, u3, &info, &msg), FAIL_OK);
	cache_release(c, info);
	assert_int_equal(calls, 4);
	cache_stats(c, &st);
	assert_int_equal(st.entries, 3);
	sleep(2);			/* past MISSING_TTL: asked again */
	assert_int_equal(cache_get(c, u1, u1, &info, &msg), FAIL_OK);
	cache_release(c, info);
	assert_int_equal(calls, 5);
	cache_free(c);
}

static void
test_ttl_and_bound(void **state)
{
	struct cache		*c = cache_new(3, 1, fill, NULL);
	struct json_object	*info;
	struct cache_stats	 st;
	char			*msg, url[64];
	int			 i;

	(void)state;
	calls = 0;
	next_err = FAIL_OK;
	for (i = 0; i < 6; i++) {
		snprintf(url, sizeof(url), "https://www.tiktok.com/@a/video/%d",
		    i);
		assert_int_equal(cache_get(c, url, url, &info, &msg), FAIL_OK);
		cache_release(c, info);
	}
	cache_stats(c, &st);
	assert_true(st.entries <= 3);
	assert_int_equal(calls, 6);
	assert_int_equal(cache_get(c, url, url, &info, &msg), FAIL_OK);
	cache_release(c, info);
	assert_int_equal(calls, 6);	/* the newest is kept */
	sleep(2);
	assert_int_equal(cache_get(c, url, url, &info, &msg), FAIL_OK);
	cache_release(c, info);
	assert_int_equal(calls, 7);	/* expired: extracted again */
	assert_int_equal(cache_forget(c, url, 60000), 1);
	assert_int_equal(cache_get(c, url, url, &info, &msg), FAIL_OK);
	cache_release(c, info);
	assert_int_equal(calls, 8);	/* forgotten: extracted again */
	/* That fresh extraction is not forgotten again within the window
	 * (the same URLs would come back), after it is. */
	assert_int_equal(cache_forget(c, url, 60000), 0);
	assert_int_equal(cache_get(c, url, url, &info, &msg), FAIL_OK);
	cache_release(c, info);
	assert_int_equal(calls, 8);
	assert_int_equal(cache_forget(c, url, 0), 1);
	assert_int_equal(cache_get(c, url, url, &info, &msg), FAIL_OK);
	cache_release(c, info);
	assert_int_equal(calls, 9);
	cache_free(c);
}

/*
 * A kept post is text: a hit gives the same document back (parsed from
 * it), a second hit the very same document (kept while in demand), and
 * cache_trim drops what expired.
 */
static void
test_kept_as_text(void **state)
{
	struct cache		*c = cache_new(10, 1, fill, NULL);
	struct json_object	*a, *b, *v;
	struct cache_stats	 st;
	const char		*url = "https://www.tiktok.com/@a/video/\"7\"";
	char			*msg;

	(void)state;
	calls = 0;
	next_err = FAIL_OK;
	assert_int_equal(cache_get(c, "tiktok:7", url, &a, &msg), FAIL_OK);
	cache_release(c, a);
	assert_int_equal(cache_get(c, "tiktok:7", url, &a, &msg), FAIL_OK);
	assert_int_equal(calls, 1);
	assert_true(json_object_object_get_ex(a, "url", &v));
	assert_string_equal(json_object_get_string(v), url);
	assert_int_equal(cache_get(c, "tiktok:7", url, &b, &msg), FAIL_OK);
	assert_ptr_equal(a, b);
	cache_release(c, a);
	cache_release(c, b);
	cache_trim(c);
	cache_stats(c, &st);
	assert_int_equal(st.entries, 1);
	sleep(2);
	cache_trim(c);
	cache_stats(c, &st);
	assert_int_equal(st.entries, 0);
	cache_free(c);
}

/*
 * The formats' http_headers are kept once when they are all the same:
 * a hit parses a document equal to the one extracted, each format with
 * its headers, nothing else added; headers that differ stay as they are.
 */
static void
test_headers_kept_once(void **state)
{
	static const char *docs[] = {
		"{\"id\":\"1\",\"formats\":["
		"{\"url\":\"a\",\"http_headers\":{\"Cookie\":\"x=1\","
		"\"Referer\":\"r\"}},"
		"{\"url\":\"b\",\"http_headers\":{\"Cookie\":\"x=1\","
		"\"Referer\":\"r\"}},"
		"{\"url\":\"c\",\"http_headers\":{\"Referer\":\"r\","
		"\"Cookie\":\"x=1\"}}]}",
		"{\"id\":\"2\",\"formats\":["
		"{\"url\":\"a\",\"http_headers\":{\"Cookie\":\"x=1\"}},"
		"{\"url\":\"b\",\"http_headers\":{\"Cookie\":\"x=2\"}}]}",
		"{\"id\":\"3\",\"formats\":["
		"{\"url\":\"a\",\"http_headers\":{\"Cookie\":\"x=1\"}},"
		"{\"url\":\"b\"}]}",
	};
	struct cache		*c = cache_new(10, 60, fill, NULL);
	struct json_object	*a, *want, *f, *fs, *hh;
	char			*msg, key[16];
	size_t			 i, k;

	(void)state;
	next_err = FAIL_OK;
	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		snprintf(key, sizeof(key), "tiktok:%zu", i);
		next_info = docs[i];
		assert_int_equal(cache_get(c, key, "u", &a, &msg), FAIL_OK);
		cache_release(c, a);
		/* A hit: parsed from the kept text. */
		assert_int_equal(cache_get(c, key, "u", &a, &msg), FAIL_OK);
		want = json_tokener_parse(docs[i]);
		assert_true(json_object_equal(a, want));
		assert_false(json_object_object_get_ex(a, "_headers", NULL));
		assert_true(json_object_object_get_ex(a, "formats", &fs));
		for (k = 0; k < json_object_array_length(fs); k++) {
			f = json_object_array_get_idx(fs, k);
			if (i < 2 || k == 0) {
				assert_true(json_object_object_get_ex(f,
				    "http_headers", &hh));
				assert_true(json_object_is_type(hh,
				    json_type_object));
			}
		}
		json_object_put(want);
		cache_release(c, a);
	}
	next_info = NULL;
	cache_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_flight),
		cmocka_unit_test(test_lookup_parks),
		cmocka_unit_test(test_failures_not_kept),
		cmocka_unit_test(test_missing_remembered),
		cmocka_unit_test(test_ttl_and_bound),
		cmocka_unit_test(test_kept_as_text),
		cmocka_unit_test(test_headers_kept_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
