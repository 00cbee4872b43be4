/*
 * The egress table read again (SIGHUP): entries kept keep their state,
 * entries gone are retired (never picked or found, never freed), new
 * ones are added, and a table that would grow past its size is refused
 * whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "egress.h"

static void
test_reload(void **state)
{
	static const unsigned char key[32] = "a key for the egress ids";
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
