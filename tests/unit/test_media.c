/* SPDX-License-Identifier: ISC */
/*
 * Range and If-Range (media.c): which Range headers are taken (one
 * range: "a-b", "a-" or "-n"; anything else is ignored and the whole
 * body sent), when If-Range lets a range through, and what
 * media_send_file answers for each: 206 with its Content-Range, 416
 * naming the size, 200 with the whole file, HEAD without a body.
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

#include "http.h"
#include "media.h"
#include "memhttp.h"

#define SIZE	1000

static char	 file[64];
static char	 data[SIZE];

static int
setup(void **state)
{
	int	 fd, i;

	(void)state;
	for (i = 0; i < SIZE; i++)
		data[i] = (char)(i * 7 % 251);
	snprintf(file, sizeof(file), "/tmp/test_media.XXXXXX");
	if ((fd = mkstemp(file)) == -1)
		return -1;
	if (write(fd, data, SIZE) != SIZE) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(file);
	return 0;
}

/* media_send_file for a request with these headers (NULL: not sent). */
static struct mem *
send(const char *method, const char *range, const char *ifrange)
{
	static struct mem	 m;
	static const char	*p[9];
	struct http		*h;
	int			 n = 0;

	p[n++] = "REQUEST_METHOD";
	p[n++] = method;
	if (range != NULL) {
		p[n++] = "HTTP_RANGE";
		p[n++] = range;
	}
	if (ifrange != NULL) {
		p[n++] = "HTTP_IF_RANGE";
		p[n++] = ifrange;
	}
	p[n] = NULL;
	mem_free(&m);
	mem_init(&m, p, NULL);
	h = http_new(&mem_io, &m);
	assert_non_null(h);
	media_send_file(h, file, "video/mp4", "an author", "mp4");
	http_free(h);
	return &m;
}

static void
header_is(const struct mem *m, const char *name, const char *want)
{
	char	*v = mem_header(m, name);

	if (want == NULL)
		assert_null(v);
	else {
		assert_non_null(v);
		assert_string_equal(v, want);
	}
	free(v);
}

/* A 206 for bytes first..last of the file. */
static void
partial(const struct mem *m, int first, int last)
{
	char	 want[64];

	assert_int_equal(mem_status(m), 206);
	snprintf(want, sizeof(want), "bytes %d-%d/%d", first, last, SIZE);
	header_is(m, "Content-Range", want);
	snprintf(want, sizeof(want), "%d", last - first + 1);
	header_is(m, "Content-Length", want);
	assert_non_null(mem_body(m));
	assert_int_equal(m->outlen - (size_t)(mem_body(m) - m->out),
	    last - first + 1);
	assert_memory_equal(mem_body(m), data + first, last - first + 1);
}

/* A 200 with the whole file, and no Content-Range. */
static void
whole(const struct mem *m)
{
	char	 want[16];

	assert_int_equal(mem_status(m), 200);
	header_is(m, "Content-Range", NULL);
	snprintf(want, sizeof(want), "%d", SIZE);
	header_is(m, "Content-Length", want);
	assert_non_null(mem_body(m));
	assert_int_equal(m->outlen - (size_t)(mem_body(m) - m->out), SIZE);
	assert_memory_equal(mem_body(m), data, SIZE);
}

static void
test_range_syntax(void **state)
{
	char	 longer[80];

	(void)state;
	assert_string_equal(media_range("bytes=0-99"), "bytes=0-99");
	assert_string_equal(media_range("bytes=100-"), "bytes=100-");
	assert_string_equal(media_range("bytes=-100"), "bytes=-100");
	assert_null(media_range(NULL));
	assert_null(media_range(""));
	assert_null(media_range("bytes=0-1,5-9"));	/* more than one */
	assert_null(media_range("bytes=-"));
	assert_null(media_range("bytes=5"));
	assert_null(media_range("bytes=1-2-3"));
	assert_null(media_range("bytes= 0-1"));
	assert_null(media_range("bytes=a-b"));
	assert_null(media_range("Bytes=0-1"));
	assert_null(media_range("pages=0-1"));
	snprintf(longer, sizeof(longer), "bytes=%060d-", 1);
	assert_null(media_range(longer));		/* over 64 */
}

static void
test_if_range(void **state)
{
	const char	*etag = "\"5-7\"", *date = "Tue, 01 Oct 2024 "
	    "10:00:00 GMT";

	(void)state;
	assert_true(media_if_range(NULL, etag, date));
	assert_true(media_if_range("", etag, date));
	assert_true(media_if_range("\"5-7\"", etag, date));
	assert_false(media_if_range("\"5-8\"", etag, date));
	assert_false(media_if_range("\"5-7\"", NULL, date));
	assert_false(media_if_range("W/\"5-7\"", "W/\"5-7\"", date));
	assert_true(media_if_range(date, etag, date));
	assert_false(media_if_range("Wed, 02 Oct 2024 10:00:00 GMT", etag,
	    date));
	assert_false(media_if_range(date, etag, NULL));
}

static void
test_ranges(void **state)
{
	(void)state;
	whole(send("GET", NULL, NULL));
	header_is(send("GET", NULL, NULL), "Accept-Ranges", "bytes");
	partial(send("GET", "bytes=100-199", NULL), 100, 199);
	partial(send("GET", "bytes=0-0", NULL), 0, 0);
	partial(send("GET", "bytes=990-", NULL), 990, SIZE - 1);
	partial(send("GET", "bytes=-100", NULL), SIZE - 100, SIZE - 1);
	/* Past the end: as much as there is. */
	partial(send("GET", "bytes=900-5000", NULL), 900, SIZE - 1);
	partial(send("GET", "bytes=900-1000", NULL), 900, SIZE - 1);
	partial(send("GET", "bytes=999-999", NULL), SIZE - 1, SIZE - 1);
	partial(send("GET", "bytes=-5000", NULL), 0, SIZE - 1);
	partial(send("GET", "bytes=-1001", NULL), 0, SIZE - 1);
	partial(send("GET", "bytes=-1000", NULL), 0, SIZE - 1);
}

static void
test_unsatisfiable(void **state)
{
	static const char *const bad[] = { "bytes=1000-", "bytes=5000-6000",
	    "bytes=500-100", NULL };
	struct mem	*m;
	int		 i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++) {
		m = send("GET", bad[i], NULL);
		assert_int_equal(mem_status(m), 416);
		header_is(m, "Content-Range", "bytes */1000");
		assert_non_null(strstr(mem_body(m), "not satisfiable"));
	}
}

/* What media_range refuses is ignored: the whole file, as without. */
static void
test_malformed_ignored(void **state)
{
	static const char *const bad[] = { "bytes=0-1,5-9", "bytes=-",
	    "bytes=x-9", "pages=0-9", "bytes=1-2-3", "", NULL };
	int	 i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++)
		whole(send("GET", bad[i], NULL));
}

static void
test_if_range_answers(void **state)
{
	struct mem	*m;
	char		*etag, *lastmod, weak[80];

	(void)state;
	m = send("GET", NULL, NULL);
	etag = mem_header(m, "ETag");
	lastmod = mem_header(m, "Last-Modified");
	assert_non_null(etag);
	assert_non_null(lastmod);
	assert_int_equal(etag[0], '"');

	partial(send("GET", "bytes=10-19", etag), 10, 19);
	partial(send("GET", "bytes=10-19", lastmod), 10, 19);
	/* Another version's validators: the whole file, never a piece. */
	whole(send("GET", "bytes=10-19", "\"another-version\""));
	whole(send("GET", "bytes=10-19", "Thu, 01 Jan 1970 00:00:00 GMT"));
	/* A weak tag never matches, even its own strong tag made weak. */
	snprintf(weak, sizeof(weak), "W/%s", etag);
	whole(send("GET", "bytes=10-19", weak));
	/* If-Range without Range: the whole file. */
	whole(send("GET", NULL, etag));
	free(etag);
	free(lastmod);
}

static void
test_head(void **state)
{
	struct mem	*m;

	(void)state;
	m = send("HEAD", "bytes=100-199", NULL);
	assert_int_equal(mem_status(m), 206);
	header_is(m, "Content-Range", "bytes 100-199/1000");
	header_is(m, "Content-Length", "100");
	assert_string_equal(mem_body(m), "");
	m = send("HEAD", NULL, NULL);
	assert_int_equal(mem_status(m), 200);
	header_is(m, "Content-Length", "1000");
	assert_string_equal(mem_body(m), "");
}

static void
test_gone(void **state)
{
	char		 keep[sizeof(file)];
	struct mem	*m;

	(void)state;
	memcpy(keep, file, sizeof(file));
	snprintf(file, sizeof(file), "/nonexistent/test_media");
	m = send("GET", "bytes=0-9", NULL);
	memcpy(file, keep, sizeof(file));
	assert_int_equal(mem_status(m), 500);
	header_is(m, "Content-Range", NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range_syntax),
		cmocka_unit_test(test_if_range),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_unsatisfiable),
		cmocka_unit_test(test_malformed_ignored),
		cmocka_unit_test(test_if_range_answers),
		cmocka_unit_test(test_head),
		cmocka_unit_test(test_gone),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
