/* SPDX-License-Identifier: ISC */
/*
 * The client's address: forms of addresses, IPv6 counted by /64,
 * TRUSTED_PROXIES lists, and X-Forwarded-For / Forwarded honoured only
 * from a trusted peer, read from the right.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client.h"

static const char *
text(const char *s)
{
	static char		 buf[CLIENT_ADDRSTRLEN];
	struct client_addr	 a;

	if (client_parse(s, strlen(s), &a) == -1)
		return "-";
	client_format(&a, buf, sizeof(buf));
	return buf;
}

static void
test_parse(void **state)
{
	(void)state;
	assert_string_equal(text("192.0.2.7"), "192.0.2.7");
	assert_string_equal(text(" 192.0.2.7 "), "192.0.2.7");
	assert_string_equal(text("192.0.2.7:8080"), "192.0.2.7");
	assert_string_equal(text("\"192.0.2.7:8080\""), "192.0.2.7");
	assert_string_equal(text("2001:db8::1"), "2001:db8::1");
	assert_string_equal(text("[2001:db8::1]"), "2001:db8::1");
	assert_string_equal(text("[2001:db8::1]:443"), "2001:db8::1");
	assert_string_equal(text("\"[2001:db8:cafe::17]:4711\""),
	    "2001:db8:cafe::17");
	assert_string_equal(text("::ffff:192.0.2.7"), "192.0.2.7");
	assert_string_equal(text("::1"), "::1");
	assert_string_equal(text("unknown"), "-");
	assert_string_equal(text("_hidden"), "-");
	assert_string_equal(text("192.0.2.300"), "-");
	assert_string_equal(text("[2001:db8::1"), "-");
	assert_string_equal(text("[2001:db8::1]x"), "-");
	assert_string_equal(text(""), "-");
	assert_string_equal(text("fe80::1%eth0"), "-");
}

static void
test_id(void **state)
{
	struct client_addr	 a, b;

	(void)state;
	client_parse("2001:db8:1:2::1", 15, &a);
	client_parse("2001:db8:1:2:ffff:ffff:ffff:ffff", 32, &b);
	assert_true(client_id(&a) == client_id(&b));
	assert_true(client_id(&a) == 0x20010db800010002ULL);
	client_parse("2001:db8:1:3::1", 15, &b);
	assert_true(client_id(&a) != client_id(&b));
	client_parse("10.1.2.3", 8, &a);
	assert_true(client_id(&a) == 0x0a010203ULL);
	assert_int_equal(a.fam, 4);
}

static void
test_nets(void **state)
{
	static const char *const bad[] = { "10.0.0.0/33", "nope",
	    "::1/129", "10.0.0.0/8,,192.168.0.0/16", "10.0.0.0/8,",
	    "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x", ",", NULL };
	struct client_nets	*n;
	struct client_addr	 a;
	char			 why[160];
	int			 i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++)
		if (client_nets_check(bad[i], why, sizeof(why)) != -1)
			fail_msg("\"%s\" was taken", bad[i]);
	assert_int_equal(client_nets_check("10.0.0.0/8, 192.168.1.1 "
	    "2001:db8::/32,::1", why, sizeof(why)), 0);
	n = client_nets_new("10.0.0.0/8, 192.168.1.1 2001:db8::/32,::1, "
	    "172.16.0.0/12");
	assert_non_null(n);
	client_parse("10.200.3.4", 10, &a);
	assert_true(client_nets_has(n, &a));
	client_parse("11.0.0.1", 8, &a);
	assert_false(client_nets_has(n, &a));
	client_parse("192.168.1.1", 11, &a);
	assert_true(client_nets_has(n, &a));
	client_parse("192.168.1.2", 11, &a);
	assert_false(client_nets_has(n, &a));
	client_parse("172.31.255.255", 14, &a);
	assert_true(client_nets_has(n, &a));
	client_parse("172.32.0.0", 10, &a);
	assert_false(client_nets_has(n, &a));
	client_parse("2001:db8:ffff::9", 16, &a);
	assert_true(client_nets_has(n, &a));
	client_parse("2001:db9::9", 11, &a);
	assert_false(client_nets_has(n, &a));
	client_parse("::ffff:10.0.0.1", 15, &a);
	assert_true(client_nets_has(n, &a));
	client_nets_free(n);
	assert_null(client_nets_new(""));
}

static const char *
resolve(const struct client_nets *n, enum client_header k,
    const char *remote, const char *hdr)
{
	static char		 buf[CLIENT_ADDRSTRLEN];
	struct client_addr	 a;

	client_resolve(n, k, remote, hdr, &a);
	client_format(&a, buf, sizeof(buf));
	return buf;
}

static void
test_resolve(void **state)
{
	struct client_nets	*n = client_nets_new("127.0.0.1, 10.0.0.0/8");

	(void)state;
	/* A header from an untrusted peer is nobody's word. */
	assert_string_equal(resolve(n, CLIENT_XFF, "127.0.0.2", "1.2.3.4"),
	    "127.0.0.2");
	assert_string_equal(resolve(NULL, CLIENT_XFF, "127.0.0.1",
	    "1.2.3.4"), "127.0.0.1");
	/* From a trusted one: the right-most that is not a proxy. */
	assert_string_equal(resolve(n, CLIENT_XFF, "127.0.0.1",
	    "203.0.113.9"), "203.0.113.9");
	assert_string_equal(resolve(n, CLIENT_XFF, "127.0.0.1",
	    "198.51.100.1, 203.0.113.9, 10.0.0.2"), "203.0.113.9");
	assert_string_equal(resolve(n, CLIENT_XFF, "127.0.0.1",
	    "10.0.0.3,10.0.0.2"), "10.0.0.3");
	assert_string_equal(resolve(n, CLIENT_XFF, "127.0.0.1",
	    "203.0.113.9, garbage, 10.0.0.2"), "10.0.0.2");
	assert_string_equal(resolve(n, CLIENT_XFF, "127.0.0.1", ""),
	    "127.0.0.1");
	assert_string_equal(resolve(n, CLIENT_XFF, "127.0.0.1",
	    "2001:db8::5, [2001:db8::6]:443"), "2001:db8::6");
	assert_string_equal(resolve(n, CLIENT_XFF, NULL, "1.2.3.4"),
	    "unknown");
	assert_string_equal(resolve(n, CLIENT_XFF, "no address", NULL),
	    "unknown");
	/* Forwarded: the for= of each element. */
	assert_string_equal(resolve(n, CLIENT_FORWARDED, "127.0.0.1",
	    "for=192.0.2.60;proto=http;by=203.0.113.43, "
	    "for=\"[2001:db8:cafe::17]:4711\""), "2001:db8:cafe::17");
	assert_string_equal(resolve(n, CLIENT_FORWARDED, "10.1.1.1",
	    "for=192.0.2.60, proto=https;For=10.0.0.7"), "192.0.2.60");
	assert_string_equal(resolve(n, CLIENT_FORWARDED, "127.0.0.1",
	    "for=192.0.2.60, for=unknown"), "127.0.0.1");
	assert_string_equal(resolve(n, CLIENT_FORWARDED, "127.0.0.1",
	    "proto=https"), "127.0.0.1");
	client_nets_free(n);
}

static void
test_header(void **state)
{
	enum client_header	 h;

	(void)state;
	assert_int_equal(client_header_parse(NULL, &h), 0);
	assert_int_equal(h, CLIENT_XFF);
	assert_int_equal(client_header_parse("x-forwarded-for", &h), 0);
	assert_int_equal(h, CLIENT_XFF);
	assert_int_equal(client_header_parse("Forwarded", &h), 0);
	assert_int_equal(h, CLIENT_FORWARDED);
	assert_int_equal(client_header_parse("X-Real-IP", &h), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_id),
		cmocka_unit_test(test_nets),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
