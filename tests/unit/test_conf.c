/* SPDX-License-Identifier: ISC */
/*
 * Configuration: defaults, a serverjs-style .env file, the environment
 * winning over the file, and bad values stopped with the key named.
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

#include "conf.h"

static char	 path[64];

static void
write_file(const char *text)
{
	int	 fd;
	FILE	*f;

	strcpy(path, "/tmp/tiktok-fcgi-conf-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
}

static void
test_defaults(void **state)
{
	struct conf	 c;
	char		 err[256];

	(void)state;
	assert_int_equal(conf_load(&c, NULL, err, sizeof(err)), 0);
	assert_int_equal(c.max_workers, 20);
	assert_int_equal(c.ytdlp_timeout, 30);
	assert_int_equal(c.download_timeout, 120);
	assert_int_equal(c.token_ttl, 360);
	assert_int_equal(c.cache_ttl, 300);
	assert_int_equal(c.helpers, conf_ncpu());
	assert_null(c.encryption_key);
	assert_null(c.base_url);
	assert_int_equal(c.web_ui, 1);		/* the page at / is on */
	conf_clear(&c);
}

static void
test_file_and_env(void **state)
{
	struct conf	 c;
	char		 err[256];

	(void)state;
	write_file("# serverjs .env\n\nPORT=3021\nexport ENCRYPTION_KEY="
	    "\"s3cret value\"\nBASE_URL=https://dl.example.com/api/\n"
	    "  MAX_WORKERS = 7\nCACHE_TTL='60'\nWEB_UI=no\n");
	setenv("CACHE_TTL", "90", 1);
	assert_int_equal(conf_load(&c, path, err, sizeof(err)), 0);
	assert_string_equal(c.encryption_key, "s3cret value");
	assert_string_equal(c.base_url, "https://dl.example.com/api");
	assert_int_equal(c.max_workers, 7);
	assert_int_equal(c.cache_ttl, 90);	/* the environment wins */
	assert_int_equal(c.web_ui, 0);
	conf_clear(&c);
	unsetenv("CACHE_TTL");
	unlink(path);
}

/*
 * Lines as the dotenv package reads them (serverjs's .env): a byte order
 * mark, "export" with any spacing, trailing comments after unquoted and
 * quoted values, '#' inside quotes, back quotes, \n in double quotes.
 */
static void
test_dotenv(void **state)
{
	struct conf	 c;
	char		 err[256];

	(void)state;
	write_file("\xef\xbb\xbf" "ENCRYPTION_KEY=k3y-of-serverjs # the key\n"
	    "export\tBASE_URL = \"https://dl.example.com/a#b\"  # quoted\n"
	    "export   ALLOWED_HOSTS='a.example, b.example' #\n"
	    "COOKIES_PATH=\n"
	    "TEMP_DIR=`/tmp/tt fcgi`\n"
	    "YTDLP_PYTHONPATH=\"two\\nlines\"\n"
	    "FFMPEG=\"unterminated # cut\n");
	assert_int_equal(conf_load(&c, path, err, sizeof(err)), 0);
	assert_string_equal(c.encryption_key, "k3y-of-serverjs");
	assert_string_equal(c.base_url, "https://dl.example.com/a#b");
	assert_string_equal(c.allowed_hosts, "a.example, b.example");
	assert_string_equal(c.temp_dir, "/tmp/tt fcgi");
	assert_string_equal(c.ytdlp_pythonpath, "two\nlines");
	assert_string_equal(c.ffmpeg, "\"unterminated");
	conf_clear(&c);
	unlink(path);
}

static void
test_bad_values(void **state)
{
	struct conf	 c;
	char		 err[256];
	const char	*cases[][2] = {
		{ "MAX_WORKERS", "0" },
		{ "MAX_WORKERS", "ten" },
		{ "YTDLP_TIMEOUT", "-1" },
		{ "TOKEN_TTL", "99999999999" },
		{ "BASE_URL", "ftp://x" },
		{ "OUTBOUND_PROXY", "not a url" },
		{ "OUTBOUND_PROXY", "http://a:1,,http://b:2" },
		{ "OUTBOUND_PROXY", "socks5h://ok:1, gopher://x:2" },
		{ "EGRESS_REST", "0" },
		{ "REDIS_URL", "http://redis:6379" },
		{ "REDIS_URL", "redis://" },
		{ "REDIS_URL", "redis://h:6379/zero" },
		{ "REDIS_URL", "unix:///run/r.sock?db=x" },
		{ "REDIS_TIMEOUT", "5" },
		{ "CA_FILE", "/nonexistent/ca.pem" },
		{ "LOG_LEVEL", "loud" },
		{ "FETCH_ALLOW_PRIVATE", "maybe" },
		{ "TEMP_DIR", "relative/dir" },
	};
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		setenv(cases[i][0], cases[i][1], 1);
		assert_int_equal(conf_load(&c, NULL, err, sizeof(err)), -1);
		assert_true(strncmp(err, cases[i][0], strlen(cases[i][0]))
		    == 0);
		unsetenv(cases[i][0]);
	}
	write_file("HELPERS=lots\n");
	assert_int_equal(conf_load(&c, path, err, sizeof(err)), -1);
	assert_true(strstr(err, "HELPERS") != NULL);
	unlink(path);
	write_file("no equals sign here\n");
	assert_int_equal(conf_load(&c, path, err, sizeof(err)), -1);
	assert_true(strstr(err, ":1:") != NULL);
	unlink(path);
	assert_int_equal(conf_load(&c, "/nonexistent.conf", err,
	    sizeof(err)), -1);
}

/* A proxy URL with a password is never echoed with it. */
static void
test_secrets_not_echoed(void **state)
{
	struct conf	 c;
	char		 err[256];

	(void)state;
	setenv("OUTBOUND_PROXY", "ftp://alice:s3cret@proxy.example:1", 1);
	assert_int_equal(conf_load(&c, NULL, err, sizeof(err)), -1);
	assert_true(strncmp(err, "OUTBOUND_PROXY", 14) == 0);
	assert_null(strstr(err, "s3cret"));
	assert_null(strstr(err, "alice"));
	unsetenv("OUTBOUND_PROXY");
}

/* Egress lists and Redis addresses as operators write them. */
static void
test_egress_and_redis(void **state)
{
	struct conf	 c;
	char		 err[256];

	(void)state;
	setenv("OUTBOUND_PROXY", "socks5h://u:p@10.0.1.1:1080, "
	    "http://10.0.1.2:3128,https://p.example:443,socks4://h:1,"
	    "socks4a://h:2,socks5://h:3", 1);
	setenv("REDIS_URL", "redis://:pa%20ss@10.0.0.10:6380/3", 1);
	assert_int_equal(conf_load(&c, NULL, err, sizeof(err)), 0);
	assert_string_equal(c.redis_host, "10.0.0.10");
	assert_int_equal(c.redis_port, 6380);
	assert_int_equal(c.redis_db, 3);
	assert_string_equal(c.redis_password, "pa ss");
	assert_null(c.redis_socket);
	assert_int_equal(c.egress_rest, 60);
	assert_int_equal(c.redis_timeout_ms, 500);
	conf_clear(&c);
	setenv("REDIS_URL", "unix:///run/redis/redis.sock?db=2", 1);
	assert_int_equal(conf_load(&c, NULL, err, sizeof(err)), 0);
	assert_string_equal(c.redis_socket, "/run/redis/redis.sock");
	assert_int_equal(c.redis_db, 2);
	assert_null(c.redis_host);
	assert_null(c.redis_password);
	conf_clear(&c);
	setenv("REDIS_URL", "redis://localhost", 1);
	assert_int_equal(conf_load(&c, NULL, err, sizeof(err)), 0);
	assert_int_equal(c.redis_port, 6379);
	assert_int_equal(c.redis_db, 0);
	conf_clear(&c);
	/* A bad entry after a password: the message names neither. */
	setenv("OUTBOUND_PROXY", "socks5h://bob:hunter2@h:1,ftp://x:2", 1);
	assert_int_equal(conf_load(&c, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "entry 2"));
	assert_null(strstr(err, "hunter2"));
	unsetenv("OUTBOUND_PROXY");
	/* A port out of range is said as such, not as a missing host. */
	setenv("REDIS_URL", "redis://127.0.0.1:99999", 1);
	assert_int_equal(conf_load(&c, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "port must be a number from 1 to 65535"));
	setenv("REDIS_URL", "redis://127.0.0.1:0", 1);
	assert_int_equal(conf_load(&c, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "port must be a number from 1 to 65535"));
	unsetenv("REDIS_URL");
}

/* An empty ENCRYPTION_KEY and our examples' placeholders are refused. */
static void
test_key_refused(void **state)
{
	struct conf	 c;
	char		 err[256];

	(void)state;
	setenv("ENCRYPTION_KEY", "", 1);
	assert_int_equal(conf_load(&c, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "ENCRYPTION_KEY: empty"));
	setenv("ENCRYPTION_KEY", "change-me-to-a-long-random-string", 1);
	assert_int_equal(conf_load(&c, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "ENCRYPTION_KEY: still the example's"));
	unsetenv("ENCRYPTION_KEY");
}

/* SIGHUP's comparison: the keys that differ, and a value moved over. */
static void
test_diff_take(void **state)
{
	struct conf	 a, b;
	const char	*names[8];
	char		 err[256];
	int		 n;

	(void)state;
	assert_int_equal(conf_load(&a, NULL, err, sizeof(err)), 0);
	assert_int_equal(conf_load(&b, NULL, err, sizeof(err)), 0);
	assert_int_equal(conf_diff(&a, &b, names, 8), 0);
	conf_clear(&b);
	setenv("LOG_LEVEL", "debug", 1);
	setenv("OUTBOUND_PROXY", "http://10.0.0.1:3128", 1);
	assert_int_equal(conf_load(&b, NULL, err, sizeof(err)), 0);
	n = conf_diff(&a, &b, names, 8);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "OUTBOUND_PROXY");
	assert_string_equal(names[1], "LOG_LEVEL");
	assert_int_equal(conf_take(&a, &b, "OUTBOUND_PROXY"), 0);
	assert_string_equal(a.outbound_proxy, "http://10.0.0.1:3128");
	assert_null(b.outbound_proxy);
	assert_int_equal(conf_take(&a, &b, "LOG_LEVEL"), 0);
	assert_int_equal(a.log_level, b.log_level);
	assert_int_equal(conf_take(&a, &b, "NO_SUCH_KEY"), -1);
	assert_int_equal(conf_diff(&a, &b, names, 8), 1);	/* b's NULL */
	conf_clear(&a);
	conf_clear(&b);
	unsetenv("LOG_LEVEL");
	unsetenv("OUTBOUND_PROXY");
}

/* A short ENCRYPTION_KEY is accepted, but said to be weak. */
static void
test_weak_key(void **state)
{
	struct conf	 c;
	char		 err[256];

	(void)state;
	setenv("ENCRYPTION_KEY", "a", 1);
	assert_int_equal(conf_load(&c, NULL, err, sizeof(err)), 0);
	assert_true(c.weak_key);
	conf_clear(&c);
	setenv("ENCRYPTION_KEY", "a long random secret of 40 characters..", 1);
	assert_int_equal(conf_load(&c, NULL, err, sizeof(err)), 0);
	assert_false(c.weak_key);
	conf_clear(&c);
	unsetenv("ENCRYPTION_KEY");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_file_and_env),
		cmocka_unit_test(test_dotenv),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_secrets_not_echoed),
		cmocka_unit_test(test_egress_and_redis),
		cmocka_unit_test(test_weak_key),
		cmocka_unit_test(test_key_refused),
		cmocka_unit_test(test_diff_take),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
