/* SPDX-License-Identifier: ISC */
/*
 * The URL finder: every form users paste names the same post (the same
 * key and the page yt-dlp reads), and nothing else gets through.
 * Data-driven: one row per case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "posturl.h"

#define ID	"7300000000000000001"
#define PAGE	"https://www.tiktok.com/@_/video/" ID
#define UPAGE	"https://www.tiktok.com/@user.name_1/video/" ID
#define KEY	"tiktok:" ID

struct row {
	const char	*text;
	const char	*page;	/* NULL: not found */
	const char	*key;
	int		 is_short;
};

static const struct row rows[] = {
	{ "https://www.tiktok.com/@user.name_1/video/" ID, UPAGE, KEY, 0 },
	{ "   https://www.tiktok.com/@user.name_1/video/" ID "  \n", UPAGE,
	    KEY, 0 },
	{ "https://www.tiktok.com/@user.name_1/video/" ID
	    "?is_from_webapp=1&sender_device=pc&_r=1#comments", UPAGE, KEY, 0 },
	{ "Check this out https://www.tiktok.com/@user.name_1/video/" ID
	    "/ #fyp #viral", UPAGE, KEY, 0 },
	{ "(https://www.tiktok.com/@user.name_1/video/" ID ").", UPAGE, KEY,
	    0 },
	{ "https://www.tiktok.com/@user.name_1/photo/" ID, UPAGE, KEY, 0 },
	{ "https://m.tiktok.com/v/" ID ".html", PAGE, KEY, 0 },
	{ "https://m.tiktok.com/v/" ID ".html?u_code=x", PAGE, KEY, 0 },
	{ "https://m.tiktok.com/@user.name_1/video/" ID, UPAGE, KEY, 0 },
	{ "https://tiktok.com/@user.name_1/video/" ID, UPAGE, KEY, 0 },
	{ "tiktok.com/@user.name_1/video/" ID, UPAGE, KEY, 0 },
	{ "www.tiktok.com/@user.name_1/video/" ID "?lang=en", UPAGE, KEY, 0 },
	{ "https://www.tiktok.com/embed/" ID, PAGE, KEY, 0 },
	{ "https://www.tiktok.com/embed/v2/" ID "?lang=en", PAGE, KEY, 0 },
	{ "https://WWW.TIKTOK.COM/@user.name_1/video/" ID, UPAGE, KEY, 0 },
	{ "https://www.tiktok.com./@user.name_1/video/" ID, UPAGE, KEY, 0 },
	{ "https://www.tiktok.com/@/video/" ID, PAGE, KEY, 0 },
	{ "https://www.tiktok.com/@bad%20name/video/" ID, PAGE, KEY, 0 },
	{ "https://vm.tiktok.com/ZMabc123/", "https://vm.tiktok.com/ZMabc123/",
	    "https://vm.tiktok.com/ZMabc123/", 1 },
	{ "look https://vt.tiktok.com/ZSe4FqkKd/?k=1 wow",
	    "https://vt.tiktok.com/ZSe4FqkKd/",
	    "https://vt.tiktok.com/ZSe4FqkKd/", 1 },
	{ "https://www.tiktok.com/t/ZTRC5xgJp/",
	    "https://www.tiktok.com/t/ZTRC5xgJp/",
	    "https://www.tiktok.com/t/ZTRC5xgJp/", 1 },
	{ "https://www.douyin.com/video/" ID "?previous_page=app",
	    "https://www.douyin.com/video/" ID, "douyin:" ID, 0 },
	{ "https://www.douyin.com/discover?modal_id=" ID "&x=1",
	    "https://www.douyin.com/video/" ID, "douyin:" ID, 0 },
	{ "https://www.douyin.com/note/" ID,
	    "https://www.douyin.com/video/" ID, "douyin:" ID, 0 },
	{ "7.43 abc:/ 复制此链接，打开Dou音搜索 https://v.douyin.com/iRNBho6u/ "
	    "复制", "https://v.douyin.com/iRNBho6u/",
	    "https://v.douyin.com/iRNBho6u/", 1 },
	{ "https://evil.com/x and then https://www.tiktok.com/@a/video/" ID,
	    "https://www.tiktok.com/@a/video/" ID, KEY, 0 },
	/* Not ours, or not a post. */
	{ "https://evil.com/?u=https://www.tiktok.com/@a/video/1", NULL, NULL,
	    0 },
	{ "https://tiktok.com.evil.com/@a/video/1", NULL, NULL, 0 },
	{ "https://www.tiktok.com@evil.com/@a/video/1", NULL, NULL, 0 },
	{ "https://eviltiktok.com/@a/video/1", NULL, NULL, 0 },
	{ "ftp://www.tiktok.com/@a/video/1", NULL, NULL, 0 },
	{ "javascript:alert(1)//tiktok.com/@a/video/1", NULL, NULL, 0 },
	{ "nothing to see here", NULL, NULL, 0 },
	{ "", NULL, NULL, 0 },
	{ "https://www.tiktok.com/@user", NULL, NULL, 0 },
	{ "https://www.tiktok.com/tag/fyp", NULL, NULL, 0 },
	{ "https://www.tiktok.com/@a/video/12345678901234567890123456", NULL,
	    NULL, 0 },
	{ "https://vm.tiktok.com/", NULL, NULL, 0 },
};

static void
test_rows(void **state)
{
	struct posturl		 pu;
	enum posturl_err	 rc;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		rc = posturl_parse(rows[i].text, NULL, &pu);
		if (rows[i].page == NULL) {
			if (rc == POSTURL_OK)
				fail_msg("row %zu (%s): found %s", i,
				    rows[i].text, pu.page);
			assert_null(pu.page);
			continue;
		}
		if (rc != POSTURL_OK)
			fail_msg("row %zu (%s): %d", i, rows[i].text, rc);
		assert_string_equal(pu.page, rows[i].page);
		assert_string_equal(pu.key, rows[i].key);
		assert_int_equal(pu.is_short, rows[i].is_short);
		posturl_clear(&pu);
	}
}

/* A TikTok link to no single post is told apart from no link at all. */
static void
test_not_post(void **state)
{
	struct posturl	 pu;

	(void)state;
	assert_int_equal(posturl_parse("https://www.tiktok.com/@user", NULL,
	    &pu), POSTURL_NOT_POST);
	assert_int_equal(posturl_parse("see https://example.com/", NULL, &pu),
	    POSTURL_NONE);
}

/* Test hosts pass as they are, and only when listed. */
static void
test_extra_hosts(void **state)
{
	struct posturl	 pu;

	(void)state;
	assert_int_equal(posturl_parse("http://127.0.0.1:8080/x.mpd",
	    "127.0.0.1", &pu), POSTURL_OK);
	assert_string_equal(pu.page, "http://127.0.0.1:8080/x.mpd");
	posturl_clear(&pu);
	assert_int_equal(posturl_parse("http://127.0.0.2/x", "127.0.0.1",
	    &pu), POSTURL_NONE);
}

/* Very long text is looked at only so far, and never overrun. */
static void
test_long(void **state)
{
	static char	 big[100000];
	struct posturl	 pu;

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	assert_int_equal(posturl_parse(big, NULL, &pu), POSTURL_NONE);
	memcpy(big + 10, " https://www.tiktok.com/@a/video/1 ", 35);
	assert_int_equal(posturl_parse(big, NULL, &pu), POSTURL_OK);
	assert_string_equal(pu.key, "tiktok:1");
	posturl_clear(&pu);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_not_post),
		cmocka_unit_test(test_extra_hosts),
		cmocka_unit_test(test_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
