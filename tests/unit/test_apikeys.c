/* SPDX-License-Identifier: ISC */
/*
 * API keys: the file's lines, options and comments; keys found (and
 * others not); each key's budget; a bad line refused with its number and
 * never its key; windows kept over a reload.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "apikeys.h"

#define K1	"k1-0123456789abcdef"
#define K2	"k2-0123456789abcdef"
#define K3	"k3-0123456789abcdef"

static char	 path[64];

static void
write_file(const char *text)
{
	FILE	*f;
	int	 fd;

	strcpy(path, "/tmp/tiktok-fcgi-keys-XXXXXX");
	assert_true((fd = mkstemp(path)) >= 0);
	assert_non_null(f = fdopen(fd, "w"));
	fputs(text, f);
	fclose(f);
}

static struct apikeys *
load(const char *text, char *err, size_t errsz)
{
	struct apikeys	*ks;

	write_file(text);
	ks = apikeys_load(path, err, errsz);
	unlink(path);
	return ks;
}

static void
test_file(void **state)
{
	struct apikeys		*ks;
	struct apikey		*k;
	struct limit_rate	 dflt = { 20, 60 }, none = { 0, 60 }, r;
	char			 err[256] = "";

	(void)state;
	ks = load("# keys\n\n" K1 " name=partner limit=100/60\n"
	    "   " K2 "\t# a comment after\n"
	    K3 " name=bot@example.org limit=unlimited media=5/10\n", err,
	    sizeof(err));
	if (ks == NULL)
		fail_msg("%s", err);
	assert_int_equal(apikeys_count(ks), 3);
	assert_non_null(k = apikeys_find(ks, K1));
	assert_string_equal(apikeys_name(k), "partner");
	assert_int_equal(strlen(apikeys_id(k)), 32);
	assert_int_equal(apikeys_rate(k, LIMIT_API, &dflt, &r), 1);
	assert_int_equal(r.n, 100);
	assert_int_equal(apikeys_rate(k, LIMIT_MEDIA, &none, &r), 0);
	assert_non_null(k = apikeys_find(ks, K2));
	assert_string_equal(apikeys_name(k), "line-4");
	assert_int_equal(apikeys_rate(k, LIMIT_API, &dflt, &r), 1);
	assert_int_equal(r.n, 20);
	assert_non_null(k = apikeys_find(ks, K3));
	assert_int_equal(apikeys_rate(k, LIMIT_API, &dflt, &r), 0);
	assert_int_equal(apikeys_rate(k, LIMIT_MEDIA, &none, &r), 1);
	assert_int_equal(r.n, 5);
	assert_int_equal(r.w, 10);
	assert_null(apikeys_find(ks, "k1-0123456789abcdeF"));
	assert_null(apikeys_find(ks, "k1-0123456789abcde"));
	assert_null(apikeys_find(ks, ""));
	apikeys_drop(ks);
}

static void
test_bad_lines(void **state)
{
	static const struct {
		const char	*text;
		const char	*words;
	} bad[] = {
		{ K1 "\nshort-key\n", ":2: a key must have 16" },
		{ K1 "\n" K2 " limit=20\n", ":2: \"20\" is not N/SECONDS" },
		{ K1 " size=3\n", ":1: \"size=3\" is none of" },
		{ "#\n" K1 " name=a/b\n", ":2: name= takes" },
		{ K1 "\n" K2 "\n" K1 " name=again\n", ":3: the same key as "
		    "line-1" },
		{ K1 " media=0/60\n", ":1: \"0/60\" is not N/SECONDS" },
		{ K1 " caf\xc3\xa9\n", ":1: not ASCII" },
	};
	char	 err[256];
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(load(bad[i].text, err, sizeof(err)));
		if (strstr(err, bad[i].words) == NULL ||
		    strstr(err, "API_KEYS_FILE: ") != err)
			fail_msg("case %zu: %s", i, err);
		/* The message names the line, never a key. */
		assert_null(strstr(err, "0123456789abcdef"));
	}
	assert_null(apikeys_load("/nonexistent/keys", err, sizeof(err)));
	assert_non_null(strstr(err, "No such file"));
}

static void
test_budget_and_carry(void **state)
{
	struct apikeys		*ks, *ks2;
	struct apikey		*k;
	struct limit_rate	 r = { 2, 60 };
	struct limit_verdict	 v;
	char			 err[256];

	(void)state;
	assert_non_null(ks = load(K1 "\n" K2 "\n", err, sizeof(err)));
	k = apikeys_find(ks, K1);
	apikeys_hit(k, LIMIT_API, &r, 1000, &v);
	apikeys_hit(k, LIMIT_API, &r, 1000, &v);
	assert_true(v.allowed);
	apikeys_hit(k, LIMIT_API, &r, 1000, &v);
	assert_false(v.allowed);
	/* Another key, another class: budgets of their own. */
	apikeys_hit(apikeys_find(ks, K2), LIMIT_API, &r, 1000, &v);
	assert_true(v.allowed);
	apikeys_hit(k, LIMIT_MEDIA, &r, 1000, &v);
	assert_true(v.allowed);
	/* Reloaded without K2 and with K3: K1 keeps its window. */
	assert_non_null(ks2 = load(K3 "\n" K1 "\n", err, sizeof(err)));
	apikeys_carry(ks2, ks);
	apikeys_drop(ks);
	assert_null(apikeys_find(ks2, K2));
	apikeys_hit(apikeys_find(ks2, K1), LIMIT_API, &r, 2000, &v);
	assert_false(v.allowed);
	apikeys_hit(apikeys_find(ks2, K3), LIMIT_API, &r, 2000, &v);
	assert_true(v.allowed);
	apikeys_set(apikeys_find(ks2, K3), LIMIT_API, 2, 1500);
	apikeys_hit(apikeys_find(ks2, K3), LIMIT_API, &r, 2000, &v);
	assert_false(v.allowed);
	/* Held by a request: freed by the last drop only. */
	apikeys_hold(ks2);
	apikeys_drop(ks2);
	assert_non_null(apikeys_find(ks2, K1));
	apikeys_drop(ks2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_budget_and_carry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
