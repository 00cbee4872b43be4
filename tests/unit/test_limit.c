/* SPDX-License-Identifier: ISC */
/*
 * Budgets: N/SECONDS read and refused, a fixed window counted and
 * started again, the table's clients apart, many threads on one client
 * counted exactly, and a million distinct clients through a table of
 * 65,536 slots: its memory stays what it was made with, and a client
 * with many requests is not pushed out by a crowd with one each.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>

#include "limit.h"

static void
test_rate_parse(void **state)
{
	static const char *const bad[] = { "20", "0/60", "20/0", "x/60",
	    "20/60s", "1000001/1", "1/86401", "-1/5", " 20/60", "20/ 60",
	    "/60", "20/", "", "20/60/1", NULL };
	struct limit_rate	 r;
	char			 why[256];
	int			 i;

	(void)state;
	assert_int_equal(limit_rate_parse("20/60", &r, why, sizeof(why)), 0);
	assert_int_equal(r.n, 20);
	assert_int_equal(r.w, 60);
	assert_int_equal(limit_rate_parse("1000000/86400", &r, why,
	    sizeof(why)), 0);
	assert_int_equal(limit_rate_parse("1/1", NULL, why, sizeof(why)), 0);
	for (i = 0; bad[i] != NULL; i++) {
		why[0] = '\0';
		if (limit_rate_parse(bad[i], &r, why, sizeof(why)) != -1)
			fail_msg("\"%s\" was taken", bad[i]);
		assert_non_null(strstr(why, "N/SECONDS"));
	}
}

static void
test_window(void **state)
{
	struct limit_rate	 r = { 3, 10 };
	struct limit_window	 w = { 0, 0 };
	struct limit_verdict	 v;
	int			 i;

	(void)state;
	for (i = 0; i < 3; i++) {
		limit_window_hit(&w, &r, 5000 + i * 1000, &v);
		assert_true(v.allowed);
		assert_int_equal(v.remaining, 2 - i);
		assert_int_equal(v.reset_ms, 10000 - i * 1000);
	}
	limit_window_hit(&w, &r, 9000, &v);
	assert_false(v.allowed);
	assert_int_equal(v.remaining, 0);
	assert_int_equal(v.reset_ms, 6000);
	/* At the window's end, a fresh one. */
	limit_window_hit(&w, &r, 15000, &v);
	assert_true(v.allowed);
	assert_int_equal(v.remaining, 2);
	assert_int_equal(v.reset_ms, 10000);
	/* What the fleet counted (Redis) reads the same way. */
	limit_window_verdict(4, 2500, &r, &v);
	assert_false(v.allowed);
	assert_int_equal(v.remaining, 0);
	assert_int_equal(v.reset_ms, 2500);
}

static void
test_table_clients_apart(void **state)
{
	struct limit_table	*t = limit_table_new(1024);
	struct limit_rate	 r = { 2, 60 };
	struct limit_verdict	 v;

	(void)state;
	assert_non_null(t);
	limit_table_hit(t, 4, 0x7f000001, &r, 1000, &v);
	limit_table_hit(t, 4, 0x7f000001, &r, 1000, &v);
	assert_true(v.allowed);
	limit_table_hit(t, 4, 0x7f000001, &r, 1000, &v);
	assert_false(v.allowed);
	/* Another address, and the same number in the other family. */
	limit_table_hit(t, 4, 0x7f000002, &r, 1000, &v);
	assert_true(v.allowed);
	limit_table_hit(t, 6, 0x7f000001, &r, 1000, &v);
	assert_true(v.allowed);
	/* The fleet's count replaces ours. */
	limit_table_set(t, 4, 0x7f000002, &r, 2000, 2, 1500);
	limit_table_hit(t, 4, 0x7f000002, &r, 2000, &v);
	assert_false(v.allowed);
	assert_int_equal(v.reset_ms, 59500);
	assert_int_equal(limit_table_used(t), 3);
	limit_table_free(t);
}

struct many {
	struct limit_table	*t;
	struct limit_rate	 r;
	int			 allowed;
};

static void *
hammer(void *arg)
{
	struct many		*m = arg;
	struct limit_verdict	 v;
	int			 i, n = 0;

	for (i = 0; i < 20000; i++) {
		limit_table_hit(m->t, 4, 42, &m->r, 1000, &v);
		n += v.allowed;
		limit_table_hit(m->t, 4, 1000 + i, &m->r, 1000, &v);
	}
	__atomic_add_fetch(&m->allowed, n, __ATOMIC_RELAXED);
	return NULL;
}

/* 8 threads, 160,000 requests of one client: exactly N pass. */
static void
test_threads_exact(void **state)
{
	struct many	 m = { limit_table_new(4096), { 50000, 60 }, 0 };
	pthread_t	 th[8];
	int		 i;

	(void)state;
	for (i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hammer, &m), 0);
	for (i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(m.allowed, 50000);
	limit_table_free(m.t);
}

static long
rss_kb(void)
{
	FILE	*f = fopen("/proc/self/status", "r");
	char	 line[256];
	long	 kb = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

static void
test_million_clients(void **state)
{
	struct limit_table	*t = limit_table_new(65536);
	struct limit_rate	 r = { 5, 60 };
	struct limit_verdict	 v;
	size_t			 bytes;
	long			 before, after;
	uint32_t		 i;
	int			 k, refused = 0;
	const char		*san = getenv("SAN_CFLAGS");

	(void)state;
	assert_non_null(t);
	bytes = limit_table_bytes(t);
	assert_int_equal(limit_table_slots(t), 65536);
	before = rss_kb();
	/* A client at its limit, then a million others, one request each,
	 * over the next 50 seconds of the same windows. */
	for (k = 0; k < 5; k++)
		limit_table_hit(t, 6, 0x20010db800000001ULL, &r, 1000, &v);
	for (i = 0; i < 1000000; i++) {
		limit_table_hit(t, 4, 0x0a000000 + i * 2654435761U, &r,
		    1000 + i / 20, &v);
		refused += !v.allowed;
		assert_true(limit_table_used(t) <= limit_table_slots(t));
	}
	assert_int_equal(refused, 0);
	assert_int_equal(limit_table_used(t), limit_table_slots(t));
	assert_int_equal(limit_table_bytes(t), bytes);
	/* The busy client is still known: its sixth request is refused. */
	limit_table_hit(t, 6, 0x20010db800000001ULL, &r, 52000, &v);
	assert_false(v.allowed);
	after = rss_kb();
	printf("# 1,000,000 clients, %zu slots: table %zu KB, RSS %ld -> %ld "
	    "KB\n", limit_table_slots(t), bytes / 1024, before, after);
	/* Under a sanitizer RSS means little (shadow memory, quarantine). */
	if (san == NULL || *san == '\0')
		assert_true(after - before <= (long)(bytes / 1024) + 1024);
	limit_table_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rate_parse),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_table_clients_apart),
		cmocka_unit_test(test_threads_exact),
		cmocka_unit_test(test_million_clients),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
