/*
 * The metadata cache: single-flight under concurrency, TTL, the size
 * bound, failures not kept, canonical keys.
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
static enum pool_err	 next_err = POOL_OK;

static enum pool_err
fill(void *arg, const char *url, struct json_object **info, char **msg)
{
	(void)arg;
	pthread_mutex_lock(&mtx);
	calls++;
	pthread_mutex_unlock(&mtx);
	usleep(100000);		/* an extraction takes a while */
	if (next_err != POOL_OK) {
		*msg = strdup("no such post");
		return next_err;
	}
	*info = json_object_new_object();
	json_object_object_add(*info, "url", json_object_new_string(url));
	return POOL_OK;
}

struct arg {
	struct cache	*c;
	enum pool_err	 err;
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
	next_err = POOL_OK;
	for (i = 0; i < 50; i++) {
		a[i].c = c;
		pthread_create(&t[i], NULL, lookup, &a[i]);
	}
	for (i = 0; i < 50; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].err, POOL_OK);
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
	next_err = POOL_NOT_FOUND;
	for (i = 0; i < 10; i++) {
		a[i].c = c;
		pthread_create(&t[i], NULL, lookup, &a[i]);
	}
	for (i = 0; i < 10; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].err, POOL_NOT_FOUND);
	}
	assert_int_equal(calls, 1);	/* waiters shared the failure */
	cache_stats(c, &st);
	assert_int_equal(st.entries, 0);
	next_err = POOL_OK;
	lookup(&a[0]);
	assert_int_equal(a[0].err, POOL_OK);
	assert_int_equal(calls, 2);	/* ...but it was not kept */
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
	next_err = POOL_OK;
	for (i = 0; i < 6; i++) {
		snprintf(url, sizeof(url), "https://www.tiktok.com/@a/video/%d",
		    i);
		assert_int_equal(cache_get(c, url, url, &info, &msg), POOL_OK);
		cache_release(c, info);
	}
	cache_stats(c, &st);
	assert_true(st.entries <= 3);
	assert_int_equal(calls, 6);
	assert_int_equal(cache_get(c, url, url, &info, &msg), POOL_OK);
	cache_release(c, info);
	assert_int_equal(calls, 6);	/* the newest is kept */
	sleep(2);
	assert_int_equal(cache_get(c, url, url, &info, &msg), POOL_OK);
	cache_release(c, info);
	assert_int_equal(calls, 7);	/* expired: extracted again */
	cache_forget(c, url);
	assert_int_equal(cache_get(c, url, url, &info, &msg), POOL_OK);
	cache_release(c, info);
	assert_int_equal(calls, 8);	/* forgotten: extracted again */
	cache_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_flight),
		cmocka_unit_test(test_failures_not_kept),
		cmocka_unit_test(test_ttl_and_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
