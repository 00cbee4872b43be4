/* SPDX-License-Identifier: ISC */
/*
 * The request/response object and the router, driven in memory: status
 * and headers, CORS, 404, 405 with Allow, preflight, HEAD, 413, header
 * injection, query decoding, base URL derivation, safe file names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "app.h"
#include "handlers.h"
#include "conf.h"
#include "http.h"
#include "memhttp.h"
#include "media.h"

static struct app	 app;

static struct mem *
run(const char **params, const char *body)
{
	static struct mem	 m;
	struct http		*h;

	mem_free(&m);
	mem_init(&m, params, body);
	h = http_new(&mem_io, &m);
	assert_non_null(h);
	router_dispatch(&app, h);
	http_free(h);
	return &m;
}

static void
test_not_found(void **state)
{
	const char	*p[] = { "REQUEST_METHOD", "GET", "REQUEST_URI",
	    "/api/nothing?x=1", NULL };
	struct mem	*m = run(p, NULL);
	char		*v;

	(void)state;
	assert_int_equal(mem_status(m), 404);
	assert_string_equal(mem_body(m), "{\"error\":\"Route not found\"}");
	v = mem_header(m, "Access-Control-Allow-Origin");
	assert_string_equal(v, "*");
	free(v);
	v = mem_header(m, "Cache-Control");
	assert_string_equal(v, "no-store");
	free(v);
}

static void
test_method_not_allowed(void **state)
{
	const char	*p[] = { "REQUEST_METHOD", "DELETE", "REQUEST_URI",
	    "/tiktok", NULL };
	const char	*q[] = { "REQUEST_METHOD", "POST", "REQUEST_URI",
	    "/health", NULL };
	struct mem	*m;
	char		*v;

	(void)state;
	m = run(p, NULL);
	assert_int_equal(mem_status(m), 405);
	v = mem_header(m, "Allow");
	assert_string_equal(v, "POST, OPTIONS");
	free(v);
	m = run(q, NULL);
	assert_int_equal(mem_status(m), 405);
	v = mem_header(m, "Allow");
	assert_string_equal(v, "GET, HEAD, OPTIONS");
	free(v);
}

static void
test_preflight(void **state)
{
	const char	*p[] = { "REQUEST_METHOD", "OPTIONS", "REQUEST_URI",
	    "/tiktok", NULL };
	struct mem	*m = run(p, NULL);
	char		*v;

	(void)state;
	assert_int_equal(mem_status(m), 204);
	v = mem_header(m, "Access-Control-Allow-Methods");
	assert_string_equal(v, "GET, POST, OPTIONS");
	free(v);
	v = mem_header(m, "Access-Control-Allow-Headers");
	assert_string_equal(v, "Origin, Content-Type, Content-Length, "
	    "Accept-Encoding, Authorization");
	free(v);
	v = mem_header(m, "Access-Control-Expose-Headers");
	assert_string_equal(v, "Content-Disposition, X-Filename, "
	    "Content-Length, Content-Range, Accept-Ranges, ETag, "
	    "Last-Modified, RateLimit, RateLimit-Policy, Retry-After");
	free(v);
	assert_string_equal(mem_body(m), "");
}

static void
test_too_big(void **state)
{
	static char	 body[70000];
	char		 cl[16];
	const char	*p[] = { "REQUEST_METHOD", "POST", "REQUEST_URI",
	    "/tiktok", "CONTENT_LENGTH", cl, NULL };
	const char	*q[] = { "REQUEST_METHOD", "POST", "REQUEST_URI",
	    "/tiktok", NULL };
	struct mem	*m;

	(void)state;
	memset(body, 'x', sizeof(body) - 1);
	snprintf(cl, sizeof(cl), "%zu", sizeof(body) - 1);
	m = run(p, body);
	assert_int_equal(mem_status(m), 413);
	/* No Content-Length announced: the read itself is capped. */
	m = run(q, body);
	assert_int_equal(mem_status(m), 413);
}

static void
test_head_has_no_body(void **state)
{
	struct mem	 m;
	struct http	*h;
	const char	*p[] = { "REQUEST_METHOD", "HEAD", "REQUEST_URI",
	    "/x", NULL };

	(void)state;
	mem_init(&m, p, NULL);
	h = http_new(&mem_io, &m);
	assert_true(http_is_head(h));
	http_error(h, 404, "nope");
	assert_int_equal(mem_status(&m), 404);
	assert_string_equal(mem_body(&m), "");
	assert_int_equal(http_bytes_sent(h), strlen("{\"error\":\"nope\"}"));
	http_free(h);
	mem_free(&m);
}

static void
test_header_injection(void **state)
{
	struct mem	 m;
	struct http	*h;
	const char	*p[] = { NULL };

	(void)state;
	mem_init(&m, p, NULL);
	h = http_new(&mem_io, &m);
	assert_int_equal(http_header(h, "X-A", "a\r\nX-Evil: 1"), HERR_FORM);
	assert_int_equal(http_header(h, "X-A", "a\nb"), HERR_FORM);
	assert_int_equal(http_header(h, "X-A", "a\x7f"), HERR_FORM);
	assert_int_equal(http_header(h, "X A", "a"), HERR_FORM);
	assert_int_equal(http_header(h, "X:A", "a"), HERR_FORM);
	assert_int_equal(http_header(h, "X-A", "caf\xc3\xa9 \"q\""), HERR_OK);
	http_end(h);
	assert_null(strstr(m.out, "Evil"));
	/* After the first byte, no more headers. */
	assert_int_equal(http_header(h, "X-B", "b"), HERR_FORM);
	http_free(h);
	mem_free(&m);
}

static void
test_client_gone(void **state)
{
	struct mem	 m;
	struct http	*h;
	const char	*p[] = { NULL };

	(void)state;
	mem_init(&m, p, NULL);
	m.fail_after = 5;	/* four writes of headers, one of body */
	h = http_new(&mem_io, &m);
	http_header(h, "X-A", "1");
	assert_int_equal(http_write(h, "abc", 3), HERR_OK);
	assert_int_equal(http_write(h, "def", 3), HERR_HUP);
	assert_true(http_gone(h));
	assert_int_equal(http_write(h, "ghi", 3), HERR_HUP);
	http_free(h);
	mem_free(&m);
}

static void
test_query(void **state)
{
	struct mem	 m;
	struct http	*h;
	char		*v;
	const char	*p[] = { "QUERY_STRING",
	    "a=1&data=abc%2Bdef+g&empty=&url=x%3Dy&dat=no", NULL };

	(void)state;
	mem_init(&m, p, NULL);
	h = http_new(&mem_io, &m);
	v = http_query(h, "data");
	assert_string_equal(v, "abc+def g");
	free(v);
	v = http_query(h, "empty");
	assert_string_equal(v, "");
	free(v);
	v = http_query(h, "url");
	assert_string_equal(v, "x=y");
	free(v);
	assert_null(http_query(h, "da"));
	assert_null(http_query(h, "missing"));
	http_free(h);
	mem_free(&m);
}

static void
test_base_url(void **state)
{
	struct mem	 m;
	struct http	*h;
	char		*v;
	const char	*a[] = { "REQUEST_URI", "/api/v1/tiktok", "HTTP_HOST",
	    "dl.example.com:8443", "HTTPS", "on", NULL };
	const char	*b[] = { "REQUEST_URI", "/tiktok", "HTTP_HOST",
	    "evil\"host/x", "SERVER_NAME", "example.org", "SERVER_PORT",
	    "8080", NULL };
	const char	*c[] = { "REQUEST_URI", "/tiktok", "HTTP_HOST",
	    "h", NULL };

	(void)state;
	mem_init(&m, a, NULL);
	h = http_new(&mem_io, &m);
	assert_string_equal(http_route(h), "/tiktok");
	assert_string_equal(http_prefix(h), "/api/v1");
	v = http_base_url(h, NULL);
	assert_string_equal(v, "https://dl.example.com:8443/api/v1");
	free(v);
	v = http_base_url(h, "https://cdn.example.net");
	assert_string_equal(v, "https://cdn.example.net");
	free(v);
	http_free(h);
	mem_free(&m);

	mem_init(&m, b, NULL);
	h = http_new(&mem_io, &m);
	v = http_base_url(h, NULL);
	assert_string_equal(v, "http://example.org:8080");
	free(v);
	http_free(h);
	mem_free(&m);

	mem_init(&m, c, NULL);
	h = http_new(&mem_io, &m);
	v = http_base_url(h, NULL);
	assert_string_equal(v, "http://h");
	free(v);
	http_free(h);
	mem_free(&m);
}

/* ALLOWED_HOSTS: the Host, with or without its port, must be listed. */
static void
test_allowed_hosts(void **state)
{
	struct mem	 m;
	struct http	*h;
	const char	*a[] = { "REQUEST_URI", "/tiktok", "HTTP_HOST",
	    "DL.example.com:8443", NULL };
	const char	*v6[] = { "REQUEST_URI", "/tiktok", "HTTP_HOST",
	    "[::1]:8080", NULL };
	const char	*none[] = { "REQUEST_URI", "/tiktok", NULL };

	(void)state;
	mem_init(&m, a, NULL);
	h = http_new(&mem_io, &m);
	assert_true(http_host_allowed(h, NULL));
	assert_true(http_host_allowed(h, ""));
	assert_true(http_host_allowed(h, "dl.example.com"));
	assert_true(http_host_allowed(h, "other.net, dl.example.com:8443"));
	assert_false(http_host_allowed(h, "dl.example.com:80"));
	assert_false(http_host_allowed(h, "evil.example, example.com"));
	assert_false(http_host_allowed(h, "l.example.com"));
	http_free(h);
	mem_free(&m);
	mem_init(&m, v6, NULL);
	h = http_new(&mem_io, &m);
	assert_true(http_host_allowed(h, "[::1]"));
	assert_false(http_host_allowed(h, "[::2]"));
	http_free(h);
	mem_free(&m);
	mem_init(&m, none, NULL);
	h = http_new(&mem_io, &m);
	assert_false(http_host_allowed(h, "dl.example.com"));
	http_free(h);
	mem_free(&m);
}

static void
test_safe_names(void **state)
{
	char	 out[80];

	(void)state;
	media_safe_name("fake creator", out, sizeof(out));
	assert_string_equal(out, "fake_creator");
	media_safe_name("a\"b\r\nX-Evil: 1", out, sizeof(out));
	assert_string_equal(out, "a_b_X_Evil_1");
	media_safe_name("\xe5\x90\x8d\xe5\x89\x8d", out, sizeof(out));
	assert_string_equal(out, "tiktok");
	media_safe_name("../../etc/passwd", out, sizeof(out));
	assert_string_equal(out, "etc_passwd");
	media_safe_name(NULL, out, sizeof(out));
	assert_string_equal(out, "tiktok");
}

static void
test_disposition(void **state)
{
	struct mem	 m;
	struct http	*h;
	const char	*p[] = { NULL };
	char		*v;

	(void)state;
	mem_init(&m, p, NULL);
	h = http_new(&mem_io, &m);
	media_disposition(h, "J\xc3\xbcrgen \"x\"\r\n", "mp4");
	http_end(h);
	v = mem_header(&m, "Content-Disposition");
	assert_string_equal(v, "attachment; filename=\"J_rgen_x.mp4\"; "
	    "filename*=UTF-8''J%C3%BCrgen%20%22x%22%0D%0A.mp4");
	free(v);
	v = mem_header(&m, "X-Filename");
	assert_string_equal(v, "J_rgen_x.mp4");
	free(v);
	http_free(h);
	mem_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_method_not_allowed),
		cmocka_unit_test(test_preflight),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_head_has_no_body),
		cmocka_unit_test(test_header_injection),
		cmocka_unit_test(test_client_gone),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_base_url),
		cmocka_unit_test(test_allowed_hosts),
		cmocka_unit_test(test_safe_names),
		cmocka_unit_test(test_disposition),
	};

	app.conf.body_max = 65536;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
