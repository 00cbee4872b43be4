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
	    "  MAX_WORKERS = 7\nCACHE_TTL='60'\n");
	setenv("CACHE_TTL", "90", 1);
	assert_int_equal(conf_load(&c, path, err, sizeof(err)), 0);
	assert_string_equal(c.encryption_key, "s3cret value");
	assert_string_equal(c.base_url, "https://dl.example.com/api");
	assert_int_equal(c.max_workers, 7);
	assert_int_equal(c.cache_ttl, 90);	/* the environment wins */
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
		cmocka_unit_test(test_weak_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
