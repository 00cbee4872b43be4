/* SPDX-License-Identifier: ISC */
/*
 * The egress table read again (SIGHUP): entries kept keep their state,
 * entries gone are retired (never picked or found, never freed), new
 * ones are added, and a table that would grow past its size is refused
 * whole.  Rest and back-off: a refused egress rests EGRESS_REST, twice
 * as long each time again up to 64 times, is not picked meanwhile, and
 * a success ends it; failures in a row refuse it only while another
 * succeeds.  The clock is the test's: proc_now_ms is wrapped at link
 * time (-Wl,--wrap=proc_now_ms in tests/Makefile.inc).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "egress.h"

static long long	 now_ms = 1000000;

long long	 __wrap_proc_now_ms(void);

long long
__wrap_proc_now_ms(void)
{
	return now_ms;
}

static const unsigned char key[32] = "a key for the egress ids";

static void
test_reload(void **state)
{
	const struct egress	*a, *b, *c;
	struct egress_stats	 st;
	char			 id_b[17], list[4096];
	int			 i;

	(void)state;
	assert_int_equal(egress_init("http://10.0.0.1:1, http://10.0.0.2:2",
	    60, key), 0);
	assert_int_equal(egress_count(), 2);
	a = egress_pick(NULL);
	b = egress_pick(a);
	assert_true(a != NULL && b != NULL && a != b);
	snprintf(id_b, sizeof(id_b), "%s", egress_id(b));
	egress_note(b, EGRESS_OK);

	/* The first leaves, a third comes: the second keeps its count. */
	assert_int_equal(egress_reload("http://10.0.0.2:2, http://10.0.0.3:3",
	    30), 0);
	assert_int_equal(egress_count(), 2);
	assert_null(egress_find(egress_id(a)));
	assert_ptr_equal(egress_find(id_b), b);
	for (i = 0; i < 10; i++)
		assert_true(egress_pick(NULL) != a);
	assert_int_equal(egress_stats(0, &st), 0);
	assert_string_equal(st.id, id_b);
	assert_int_equal(st.successes, 1);
	assert_int_equal(egress_stats(1, &st), 0);
	assert_string_equal(st.shown, "http://10.0.0.3:3");
	assert_int_equal(egress_stats(2, &st), -1);
	/* The retired one's memory stays valid for work that holds it. */
	assert_string_equal(egress_url(a), "http://10.0.0.1:1");

	/* Back again: the same entry, in service. */
	assert_int_equal(egress_reload("http://10.0.0.1:1", 30), 0);
	assert_int_equal(egress_count(), 1);
	assert_ptr_equal(egress_pick(NULL), a);

	/* None: straight out. */
	assert_int_equal(egress_reload(NULL, 30), 0);
	assert_int_equal(egress_count(), 0);
	assert_null(egress_pick(NULL));
	assert_int_equal(egress_stats(0, &st), -1);

	/* More entries over the run than the table holds: refused, and
	 * nothing changed. */
	list[0] = '\0';
	for (i = 0; i < 64; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
		    "%shttp://10.1.0.%d:1", i ? "," : "", i);
	assert_int_equal(egress_reload(list, 30), -1);
	assert_int_equal(egress_count(), 0);
	assert_int_equal(egress_reload("http://10.0.0.3:3", 30), 0);
	c = egress_pick(NULL);
	assert_non_null(c);
	assert_string_equal(egress_url(c), "http://10.0.0.3:3");
	egress_free();
}

/* Two egresses, e[0] and e[1] in the table's order. */
static void
two(const struct egress *e[2], int rest_s)
{
	struct egress_stats	 st;
	int			 i;

	assert_int_equal(egress_init("http://10.0.0.1:1, http://10.0.0.2:2",
	    rest_s, key), 0);
	for (i = 0; i < 2; i++) {
		assert_int_equal(egress_stats(i, &st), 0);
		assert_non_null(e[i] = egress_find(st.id));
	}
}

/* Egress i's rest left, in ms (0: in service). */
static long long
rest_left(int i)
{
	struct egress_stats	 st;

	assert_int_equal(egress_stats(i, &st), 0);
	assert_int_equal(st.resting, st.back_in_ms > 0);
	return st.back_in_ms;
}

static void
test_rest(void **state)
{
	const struct egress	*e[2];
	struct egress_stats	 st;
	long long		 want;
	int			 n, i;

	(void)state;
	two(e, 10);
	assert_int_equal(rest_left(0), 0);
	/* Refused again and again: 10 s, 20 s, ... 640 s (64 x), then no
	 * longer; while it rests the other is picked, every time. */
	for (n = 0; n < 9; n++) {
		egress_note(e[0], EGRESS_BLOCKED);
		want = 10000LL << (n < 6 ? n : 6);
		assert_int_equal(rest_left(0), want);
		assert_int_equal(rest_left(1), 0);
		for (i = 0; i < 4; i++)
			assert_ptr_equal(egress_pick(NULL), e[1]);
		now_ms += want - 1;
		assert_int_equal(rest_left(0), 1);
		assert_ptr_equal(egress_pick(NULL), e[1]);
		now_ms += 1;
		/* Back: the two take turns again. */
		assert_int_equal(rest_left(0), 0);
		assert_ptr_not_equal(egress_pick(NULL), egress_pick(NULL));
	}
	assert_int_equal(egress_stats(0, &st), 0);
	assert_int_equal(st.blocks, 9);
	assert_int_equal(st.successes, 0);

	/* A success ends the rest and the back-off: 10 s again. */
	egress_note(e[0], EGRESS_BLOCKED);
	assert_int_equal(rest_left(0), 640000);
	egress_note(e[0], EGRESS_OK);
	assert_int_equal(rest_left(0), 0);
	assert_ptr_not_equal(egress_pick(NULL), egress_pick(NULL));
	egress_note(e[0], EGRESS_BLOCKED);
	assert_int_equal(rest_left(0), 10000);

	/* Both resting: the one back first. */
	egress_note(e[1], EGRESS_BLOCKED);
	egress_note(e[1], EGRESS_BLOCKED);
	assert_int_equal(rest_left(1), 20000);
	assert_ptr_equal(egress_pick(NULL), e[0]);
	assert_ptr_equal(egress_pick(e[0]), e[1]);
	egress_free();
}

static void
test_failures_in_a_row(void **state)
{
	const struct egress	*e[2];
	int			 i;

	(void)state;
	two(e, 10);
	/* Failing alone: the posts' fault, not the egress's. */
	for (i = 0; i < 8; i++)
		egress_note(e[0], EGRESS_FAILED);
	assert_int_equal(rest_left(0), 0);

	/* Failing while the other succeeds: the fifth in a row refuses it. */
	egress_note(e[0], EGRESS_OK);
	now_ms += 1000;
	egress_note(e[1], EGRESS_OK);
	for (i = 0; i < 4; i++) {
		egress_note(e[0], EGRESS_FAILED);
		assert_int_equal(rest_left(0), 0);
	}
	egress_note(e[0], EGRESS_FAILED);
	assert_int_equal(rest_left(0), 10000);
	egress_free();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_rest),
		cmocka_unit_test(test_failures_in_a_row),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
