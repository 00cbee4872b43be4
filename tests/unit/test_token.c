/* SPDX-License-Identifier: ISC */
/*
 * Download tokens: round trip, every single-bit flip rejected, malformed
 * input of every kind, expiry told apart from forgery, another key.
 * (Interoperability with serverjs is tests/integration/test_interop.py,
 * which runs serverjs's scheme in node.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "token.h"

static struct token	*tk, *other;

static int
setup(void **state)
{
	(void)state;
	tk = token_new("test-key", 360);
	other = token_new("another-key", 360);
	return tk == NULL || other == NULL;
}

static int
teardown(void **state)
{
	(void)state;
	token_free(tk);
	token_free(other);
	token_free(NULL);
	return 0;
}

static void
test_roundtrip(void **state)
{
	const char	*payloads[] = { "", "x", "{\"url\":\"https://v16m."
	    "tiktokcdn.com/a?b=c&d=e\",\"author\":\"J\xc3\xbcrgen \\\"q\\\"\"}",
	    "https://www.tiktok.com/@a/video/1", NULL };
	char		*t, *p;
	size_t		 i;

	(void)state;
	for (i = 0; payloads[i] != NULL; i++) {
		t = token_seal(tk, payloads[i]);
		assert_non_null(t);
		/* base64url, no padding */
		assert_null(strpbrk(t, "+/="));
		assert_int_equal(token_open(tk, t, &p), TOKEN_OK);
		assert_string_equal(p, payloads[i]);
		free(p);
		free(t);
	}
}

static void
test_unique(void **state)
{
	char	*a, *b;

	(void)state;
	a = token_seal(tk, "same");
	b = token_seal(tk, "same");
	assert_string_not_equal(a, b);	/* a fresh IV each time */
	free(a);
	free(b);
}

/* Decode our base64url to bytes with OpenSSL (test-side helper). */
static size_t
decode(const char *t, unsigned char *out)
{
	char	 buf[4096];
	size_t	 len = strlen(t), i, pad = 0;
	int	 n;

	for (i = 0; i < len; i++)
		buf[i] = t[i] == '-' ? '+' : t[i] == '_' ? '/' : t[i];
	while (i % 4 != 0) {
		buf[i++] = '=';
		pad++;
	}
	buf[i] = '\0';
	n = EVP_DecodeBlock(out, (unsigned char *)buf, (int)i);
	return (size_t)n - pad;
}

static char *
encode(const unsigned char *in, size_t len)
{
	char	*out = malloc(4 * ((len + 2) / 3) + 1);
	int	 n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	int	 i;

	while (n > 0 && out[n - 1] == '=')
		out[--n] = '\0';
	for (i = 0; i < n; i++)
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	return out;
}

static void
test_every_bit_flip(void **state)
{
	unsigned char	 raw[2048];
	char		*t, *f, *p;
	size_t		 len, bit;
	enum token_err	 e;

	(void)state;
	t = token_seal(tk, "{\"url\":\"https://example.com/v.mp4\"}");
	len = decode(t, raw);
	assert_true(len > 32);
	for (bit = 0; bit < len * 8; bit++) {
		raw[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		f = encode(raw, len);
		e = token_open(tk, f, &p);
		assert_int_equal(e, TOKEN_FORGED);
		assert_null(p);
		free(f);
		raw[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	}
	f = encode(raw, len);
	assert_int_equal(token_open(tk, f, &p), TOKEN_OK);
	free(p);
	free(f);
	free(t);
}

static void
test_malformed(void **state)
{
	char		*t, *p, *big;
	const char	*bad[] = { "", "!!!!", "a", "abc$", "====",
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL };
	size_t		 i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++) {
		assert_true(token_open(tk, bad[i], &p) != TOKEN_OK);
		assert_null(p);
	}
	assert_int_equal(token_open(tk, NULL, &p), TOKEN_MALFORMED);
	/* Truncated: every prefix of a real token is refused. */
	t = token_seal(tk, "payload");
	for (i = 0; i < strlen(t); i++) {
		char *pre = strndup(t, i);
		assert_true(token_open(tk, pre, &p) != TOKEN_OK);
		free(pre);
	}
	/* Oversized. */
	big = malloc(40001);
	memset(big, 'A', 40000);
	big[40000] = '\0';
	assert_int_equal(token_open(tk, big, &p), TOKEN_MALFORMED);
	free(big);
	/* Extra characters appended. */
	big = malloc(strlen(t) + 8);
	sprintf(big, "%sAAAA", t);
	assert_true(token_open(tk, big, &p) != TOKEN_OK);
	free(big);
	free(t);
}

static void
test_expiry(void **state)
{
	char	*t, *p;

	(void)state;
	t = token_seal_exp(tk, "old", token_now_ms() - 1);
	assert_int_equal(token_open(tk, t, &p), TOKEN_EXPIRED);
	assert_null(p);
	free(t);
	t = token_seal_exp(tk, "new", token_now_ms() + 60000);
	assert_int_equal(token_open(tk, t, &p), TOKEN_OK);
	free(p);
	free(t);
}

static void
test_other_key(void **state)
{
	char	*t, *p;

	(void)state;
	t = token_seal(other, "x");
	assert_int_equal(token_open(tk, t, &p), TOKEN_FORGED);
	free(t);
	/* The same secret derives the same key in another instance. */
	struct token *again = token_new("test-key", 360);
	t = token_seal(again, "shared");
	assert_int_equal(token_open(tk, t, &p), TOKEN_OK);
	assert_string_equal(p, "shared");
	free(p);
	free(t);
	token_free(again);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_unique),
		cmocka_unit_test(test_every_bit_flip),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_other_key),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
