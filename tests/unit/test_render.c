/* SPDX-License-Identifier: ISC */
/*
 * Renders (render.c): a render whose owner fails while its only
 * waiter's client leaves is freed (its work folder removed), not left
 * behind; a failure that may pass is tried once more before the waiters
 * hear of it.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <pthread.h>
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
#include "memhttp.h"
#include "render.h"

static pthread_mutex_t	 mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 cv = PTHREAD_COND_INITIALIZER;
static int		 making, asked, owner_done, makes;
static char		 tmp[64];

static void
set(int *flag)
{
	pthread_mutex_lock(&mtx);
	*flag = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mtx);
}

static void
await(int *flag)
{
	pthread_mutex_lock(&mtx);
	while (!*flag)
		pthread_cond_wait(&cv, &mtx);
	pthread_mutex_unlock(&mtx);
}

/* The owner's render: fails (not a failure worth a retry) once the
 * waiter has asked whether its client is still there. */
static int
make_fail(struct render_ctl *o, void *arg)
{
	(void)arg;
	set(&making);
	await(&asked);
	render_fail(o, FAIL_RENDER_TIMEOUT, NULL);
	return -1;
}

/* The waiter's client: asked while the render runs, it lets the owner
 * fail first, then says it has left. */
static int
waiter_gone(void *ctx)
{
	(void)ctx;
	set(&asked);
	await(&owner_done);
	return 1;
}

static const char *params[] = { "REQUEST_METHOD", "GET", "REQUEST_URI",
    "/download-slideshow", NULL };

struct side {
	struct renders	*s;
	struct http	*h;
	struct mem	 m;
	struct render	*r;
};

static void *
owner(void *arg)
{
	struct side	*a = arg;

	a->r = render_acquire(a->s, a->h, "slideshow tiktok:1", make_fail,
	    NULL);
	set(&owner_done);
	return NULL;
}

static int
folders(void)
{
	DIR		*d;
	struct dirent	*e;
	int		 n = 0;

	assert_non_null(d = opendir(tmp));
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, "render-", 7) == 0)
			n++;
	closedir(d);
	return n;
}

static void
test_failed_owner_gone_waiter(void **state)
{
	struct http_io	 gone_io = mem_io;
	struct side	 o, w;
	pthread_t	 t;

	(void)state;
	gone_io.gone = waiter_gone;
	o.s = w.s = render_new(tmp, "/bin/false", 2, 10, 60, 1 << 20);
	mem_init(&o.m, params, NULL);
	mem_init(&w.m, params, NULL);
	o.h = http_new(&mem_io, &o.m);
	w.h = http_new(&gone_io, &w.m);
	pthread_create(&t, NULL, owner, &o);
	await(&making);
	w.r = render_acquire(w.s, w.h, "slideshow tiktok:1", make_fail, NULL);
	pthread_join(t, NULL);
	assert_null(o.r);
	assert_null(w.r);
	assert_int_equal(mem_status(&o.m), 504);
	/* Freed by whoever left last: its folder is gone with it. */
	assert_int_equal(folders(), 0);
	http_free(o.h);
	http_free(w.h);
	mem_free(&o.m);
	mem_free(&w.m);
	render_free(o.s);
}

/* Fails as ffmpeg killed would, the first time only. */
static int
make_flaky(struct render_ctl *o, void *arg)
{
	FILE	*f;

	(void)arg;
	if (makes++ == 0) {
		render_fail(o, FAIL_RENDER, NULL);
		return -1;
	}
	assert_non_null(f = fopen(render_output(o, "out"), "w"));
	fputs("made", f);
	fclose(f);
	return 0;
}

static void
test_retried_once(void **state)
{
	struct renders	*s = render_new(tmp, "/bin/false", 2, 10, 60, 1 << 20);
	struct mem	 m;
	struct http	*h;
	struct render	*r;

	(void)state;
	mem_init(&m, params, NULL);
	h = http_new(&mem_io, &m);
	makes = 0;
	r = render_acquire(s, h, "slideshow tiktok:2", make_flaky, NULL);
	assert_non_null(r);
	assert_int_equal(makes, 2);
	assert_int_equal(folders(), 1);	/* the first attempt's is gone */
	render_release(s, r);
	http_free(h);
	mem_free(&m);
	render_free(s);
	assert_int_equal(folders(), 0);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "/tmp/test_render.XXXXXX");
	return mkdtemp(tmp) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	return rmdir(tmp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failed_owner_gone_waiter),
		cmocka_unit_test(test_retried_once),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
