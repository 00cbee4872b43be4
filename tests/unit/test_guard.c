/* SPDX-License-Identifier: ISC */
/*
 * What we let through: post URLs judged by the parsed host, and the
 * addresses a CDN fetch may connect to.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "guard.h"
#include "posturl.h"

static void
test_post_urls(void **state)
{
	const char *good[] = {
	    "https://www.tiktok.com/@user/video/7300000000000000001",
	    "https://tiktok.com/@user/video/1",
	    "https://vt.tiktok.com/ZSabcdef/",
	    "https://vm.tiktok.com/ZMabc/",
	    "http://m.tiktok.com/v/1.html",
	    "https://WWW.TIKTOK.COM/@u/video/1",
	    "https://www.tiktok.com./@u/video/1",
	    "https://www.douyin.com/video/7300000000000000001",
	    "https://v.douyin.com/abc/",
	    "https://douyin.com/discover?modal_id=1",
	    NULL };
	const char *bad[] = {
	    "https://evil.com/?u=https://www.tiktok.com/@a/video/1",
	    "https://tiktok.com.evil.com/@a/video/1",
	    "https://eviltiktok.com/@a/video/1",
	    "https://www.tiktok.com@evil.com/@a/video/1",
	    "https://evil.com#tiktok.com",
	    "ftp://www.tiktok.com/@a/video/1",
	    "javascript:alert(1)//tiktok.com",
	    "www.tiktok.com/@a/video/1",
	    "https://douyin.com.cn/video/1",
	    "https://127.0.0.1/video/1",
	    "",
	    NULL };
	size_t	 i;

	(void)state;
	for (i = 0; good[i] != NULL; i++)
		assert_true(posturl_allowed(good[i], NULL));
	for (i = 0; bad[i] != NULL; i++)
		assert_false(posturl_allowed(bad[i], NULL));
	assert_true(posturl_allowed("http://127.0.0.1:8080/x.mpd",
	    "localhost, 127.0.0.1"));
	assert_false(posturl_allowed("http://127.0.0.2/x", "127.0.0.1"));
}

static int
ok4(const char *a)
{
	struct sockaddr_in	 s;

	memset(&s, 0, sizeof(s));
	s.sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, a, &s.sin_addr), 1);
	return guard_addr_public((struct sockaddr *)&s);
}

static int
ok6(const char *a)
{
	struct sockaddr_in6	 s;

	memset(&s, 0, sizeof(s));
	s.sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, a, &s.sin6_addr), 1);
	return guard_addr_public((struct sockaddr *)&s);
}

static void
test_addresses(void **state)
{
	const char *deny4[] = { "127.0.0.1", "127.1.2.3", "10.0.0.1",
	    "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
	    "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255",
	    "192.0.0.8", "198.18.0.1", "192.88.99.1", NULL };
	const char *allow4[] = { "8.8.8.8", "1.1.1.1", "172.32.0.1",
	    "23.192.0.1", "100.128.0.1", NULL };
	const char *deny6[] = { "::1", "::", "fe80::1", "fc00::1", "fd12::1",
	    "ff02::1", "::ffff:127.0.0.1", "::ffff:10.1.2.3",
	    "64:ff9b::7f00:1", "2001:db8::1", "2002:7f00:1::1",
	    "64:ff9b:1::a00:1", "64:ff9b:1::808:808", "::ffff:0:7f00:1",
	    "::ffff:0:a00:1", "2001::1", "2001:0:4136:e378::1", "100::1",
	    "2001:2::1", "2001:10::1", "2001:1f::1", "2001:20::1",
	    "2001:2f::1", "3fff::1", "3fff:fff::1", "5f00::1", "::1:2:3:4",
	    NULL };
	const char *allow6[] = { "2606:4700:4700::1111", "::ffff:8.8.8.8",
	    "2a00:1450:4001:80b::200e", "2001:4860::8888", "2001:30::1",
	    "3ffe::1", "5f01::1", "::ffff:0:808:808", NULL };
	size_t	 i;

	(void)state;
	for (i = 0; deny4[i] != NULL; i++)
		assert_false(ok4(deny4[i]));
	for (i = 0; allow4[i] != NULL; i++)
		assert_true(ok4(allow4[i]));
	for (i = 0; deny6[i] != NULL; i++)
		assert_false(ok6(deny6[i]));
	for (i = 0; allow6[i] != NULL; i++)
		assert_true(ok6(allow6[i]));
}

/*
 * What a fetch may ask for before anything is connected (with a proxy,
 * nothing else is checked): public address literals, names in the CDN
 * domains; never a name because it does not resolve here.
 */
static void
test_targets(void **state)
{
	const char *dom = "tiktokcdn.com, tiktok.com, douyinvod.com";
	const char *good[] = {
	    "https://v16m.tiktokcdn.com/abc/video.mp4?x=1",
	    "https://tiktokcdn.com/x",
	    "http://v16-webapp-prime.tiktok.com./video/tos/x",
	    "https://V3-DY.DOUYINVOD.COM:443/x",
	    "https://8.8.8.8/x", "https://[2606:4700:4700::1111]:8443/x",
	    NULL };
	const char *bad[] = {
	    "https://127.0.0.1:8080/x", "https://[::1]/x",
	    "http://169.254.169.254/latest/meta-data/",
	    "http://10.1.2.3/x", "https://[::ffff:127.0.0.1]/x",
	    "http://2130706433/x", "http://0x7f.1/x", "http://017700000001/x",
	    "https://localhost/x", "https://localhost./x",
	    "https://tiktokcdn.com.evil.com/x", "https://eviltiktokcdn.com/x",
	    "https://evil.com/?u=https://v16m.tiktokcdn.com/x",
	    "https://evil.com#.tiktokcdn.com", "https://a.tiktokcdn.com@evil.com/",
	    "https://[fe80::1%25eth0]/x", "ftp://v16m.tiktokcdn.com/x",
	    "file:///etc/passwd", "gopher://tiktokcdn.com/x",
	    "https://xn--tiktokcdn-xyz.com/x", "https://t\xc3\xafktokcdn.com/x",
	    "https://internal.example/x", "//v16m.tiktokcdn.com/x", "", NULL };
	size_t	 i;

	(void)state;
	for (i = 0; good[i] != NULL; i++)
		if (!guard_target(good[i], dom, 0))
			fail_msg("refused %s", good[i]);
	for (i = 0; bad[i] != NULL; i++)
		if (guard_target(bad[i], dom, 0))
			fail_msg("let through %s", bad[i]);
	/* FETCH_ALLOW_PRIVATE (tests): any literal, still no other name. */
	assert_true(guard_target("http://127.0.0.1:9/x", dom, 1));
	assert_true(guard_target("http://[::1]:9/x", dom, 1));
	assert_false(guard_target("http://localhost:9/x", dom, 1));
	/* No domains: literals only. */
	assert_false(guard_target("https://v16m.tiktokcdn.com/x", NULL, 0));
	assert_false(guard_target("https://v16m.tiktokcdn.com/x", "", 0));
	assert_true(guard_target("https://8.8.8.8/x", NULL, 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_post_urls),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_targets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
