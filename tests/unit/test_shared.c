/* SPDX-License-Identifier: ISC */
/*
 * What the shared cache writes to Redis and how it checks what it reads
 * (shared_entry.c): entries sealed to their post and their time, missing
 * posts, locks signed and bounded, the expiry of CDN URLs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "shared_impl.h"

static const unsigned char	 k1[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char	 k2[32] = "another key, another fleet......";

static struct json_object *
post(long long expire)
{
	struct json_object	*info, *fs, *f;
	char			 url[128];

	info = json_object_new_object();
	fs = json_object_new_array();
	f = json_object_new_object();
	snprintf(url, sizeof(url), "https://cdn.example/v?a=1&expire=%lld",
	    expire);
	json_object_object_add(f, "url", json_object_new_string(url));
	json_object_object_add(f, "http_headers", json_object_new_string(
	    "Cookie: sessionid=secret"));
	json_object_array_add(fs, f);
	json_object_object_add(info, "formats", fs);
	json_object_object_add(info, "id", json_object_new_string("7"));
	return info;
}

static void
test_entries(void **state)
{
	struct json_object	*info = post(2000000000), *got;
	enum fail		 err;
	unsigned char		*e;
	size_t			 len, i;
	long long		 now = (long long)time(NULL);

	(void)state;
	e = shared_seal_entry(k1, "tiktok:7", FAIL_OK, info, now + 60, &len);
	assert_non_null(e);
	/* Sealed: the Cookie of the formats' headers is not in it. */
	for (i = 0; i + 6 <= len; i++)
		assert_false(memcmp(e + i, "secret", 6) == 0);
	assert_int_equal(shared_open_entry(k1, "tiktok:7", e, len, now, &got,
	    &err), 1);
	assert_int_equal(err, FAIL_OK);
	assert_string_equal(json_object_get_string(json_object_object_get(
	    got, "id")), "7");
	json_object_put(got);
	/* Another key, another post, an expired entry, a changed byte,
	 * plain JSON: none is taken. */
	assert_int_equal(shared_open_entry(k2, "tiktok:7", e, len, now, &got,
	    &err), 0);
	assert_int_equal(shared_open_entry(k1, "tiktok:8", e, len, now, &got,
	    &err), 0);
	assert_int_equal(shared_open_entry(k1, "tiktok:7", e, len, now + 61,
	    &got, &err), 0);
	e[len / 2] ^= 1;
	assert_int_equal(shared_open_entry(k1, "tiktok:7", e, len, now, &got,
	    &err), 0);
	assert_null(got);
	free(e);
	assert_int_equal(shared_open_entry(k1, "tiktok:7", "{\"id\":\"7\"}",
	    10, now, &got, &err), 0);
	assert_int_equal(shared_open_entry(k1, "tiktok:7", "", 0, now, &got,
	    &err), 0);
	/* A missing post and a private one. */
	e = shared_seal_entry(k1, "tiktok:9", FAIL_NOT_FOUND, NULL, now + 60,
	    &len);
	assert_int_equal(shared_open_entry(k1, "tiktok:9", e, len, now, &got,
	    &err), 1);
	assert_int_equal(err, FAIL_NOT_FOUND);
	assert_null(got);
	free(e);
	e = shared_seal_entry(k1, "tiktok:9", FAIL_PRIVATE, NULL, now + 60,
	    &len);
	assert_int_equal(shared_open_entry(k1, "tiktok:9", e, len, now, &got,
	    &err), 1);
	assert_int_equal(err, FAIL_PRIVATE);
	free(e);
	json_object_put(info);
}

static void
test_locks(void **state)
{
	char		 v[SHARED_LOCK_LEN], w[SHARED_LOCK_LEN];
	long long	 now = 1700000000000LL;

	(void)state;
	assert_int_equal(shared_lock_value(k1, "tiktok:7", now + 70000, v),
	    0);
	assert_int_equal(shared_lock_left(k1, "tiktok:7", v, strlen(v), now,
	    75000), 70000);
	/* Another key or post, past its time, or living longer than a lock
	 * may: ignored. */
	assert_int_equal(shared_lock_left(k2, "tiktok:7", v, strlen(v), now,
	    75000), -1);
	assert_int_equal(shared_lock_left(k1, "tiktok:8", v, strlen(v), now,
	    75000), -1);
	assert_int_equal(shared_lock_left(k1, "tiktok:7", v, strlen(v),
	    now + 70000, 75000), -1);
	assert_int_equal(shared_lock_left(k1, "tiktok:7", v, strlen(v), now,
	    60000), -1);
	/* The time changed, the MAC kept: ignored. */
	snprintf(w, sizeof(w), "%lld%s", now + 10000, strchr(v, '-'));
	assert_int_equal(shared_lock_left(k1, "tiktok:7", w, strlen(w), now,
	    75000), -1);
	/* What a foreign writer would put there. */
	assert_int_equal(shared_lock_left(k1, "tiktok:7", "1", 1, now, 75000),
	    -1);
	assert_int_equal(shared_lock_left(k1, "tiktok:7",
	    "0123456789abcdef0123456789abcdef", 32, now, 75000), -1);
	assert_int_equal(shared_lock_left(k1, "tiktok:7", "", 0, now, 75000),
	    -1);
}

static void
test_url_expiry(void **state)
{
	char	*u;

	(void)state;
	assert_int_equal(shared_url_expiry(
	    "https://a/b?x=1&expire=1800000000&y"), 1800000000);
	assert_int_equal(shared_url_expiry(
	    "https://a/b?x-expires=1800000001&expire=1800000002"), 1800000001);
	assert_int_equal(shared_url_expiry("https://a/b?noexpire=1800000000"),
	    0);
	/* A "URL" that starts with the parameter has no query: nothing
	 * before it is read (it was, p[-1]). */
	u = strdup("expire=1800000000");
	assert_int_equal(shared_url_expiry(u), 0);
	free(u);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entries),
		cmocka_unit_test(test_locks),
		cmocka_unit_test(test_url_expiry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
