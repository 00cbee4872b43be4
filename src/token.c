/* SPDX-License-Identifier: ISC */
/*
 * Download tokens: a sealed box (box.h: AES-256-GCM, the layout of
 * serverjs's encrypt()/decrypt(), so that either side opens the other's)
 * under a scrypt-derived key.  OpenSSL does the scrypt, the cipher and
 * the base64; we only swap the alphabet for base64url and drop the
 * padding.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>

#include <json-c/json.h>

#include "box.h"
#include "token.h"

#define KEY_LEN		BOX_KEY_LEN
#define TOKEN_MAX	16384	/* base64 characters we accept */

struct token {
	unsigned char	 key[KEY_LEN];
	int		 ttl_s;
};

long long
token_now_ms(void)
{
	struct timeval	 tv;

	gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/*
 * Derive the key once: scrypt(secret, "salt", N=16384, r=8, p=1), as
 * node's crypto.scryptSync(secret, 'salt', 32) with its defaults.
 * Returns NULL on failure.  token_free() releases it.
 */
struct token *
token_new(const char *secret, int ttl_s)
{
	struct token	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->ttl_s = ttl_s;
	if (EVP_PBE_scrypt(secret, strlen(secret),
	    (const unsigned char *)"salt", 4, 16384, 8, 1,
	    64 * 1024 * 1024, t->key, KEY_LEN) != 1) {
		free(t);
		return NULL;
	}
	return t;
}

void
token_free(struct token *t)
{
	if (t == NULL)
		return;
	OPENSSL_cleanse(t->key, sizeof(t->key));
	free(t);
}

/*
 * A key for another use, derived from the token key: HMAC-SHA256(key,
 * label).  Different labels give independent keys, none of which tells
 * the token key; the same secret gives the same keys on every instance.
 */
void
token_subkey(const struct token *t, const char *label, unsigned char out[32])
{
	unsigned int	 len = 32;

	HMAC(EVP_sha256(), t->key, KEY_LEN, (const unsigned char *)label,
	    strlen(label), out, &len);
}

/* Base64url without padding of len bytes; caller frees. */
static char *
b64url_encode(const unsigned char *in, size_t len)
{
	char	*out;
	int	 n;
	size_t	 i;

	if ((out = malloc(4 * ((len + 2) / 3) + 1)) == NULL)
		return NULL;
	n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (i = 0; i < (size_t)n; i++)
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	return out;
}

/*
 * Decode base64url (padding optional; standard '+' '/' also taken, as
 * node's Buffer.from(s, 'base64url') does).  Returns a buffer the caller
 * frees and its length, or NULL for anything that is not base64.
 */
static unsigned char *
b64url_decode(const char *in, size_t *outlen)
{
	size_t		 len = strlen(in), i, padded, pad = 0;
	char		*tmp;
	unsigned char	*out;
	int		 n;

	while (len > 0 && in[len - 1] == '=')
		len--;
	if (len == 0 || len > TOKEN_MAX || len % 4 == 1)
		return NULL;
	padded = (len + 3) / 4 * 4;
	if ((tmp = malloc(padded + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		char c = in[i];
		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '+' || c == '/')) {
			free(tmp);
			return NULL;
		}
		tmp[i] = c;
	}
	for (; i < padded; i++, pad++)
		tmp[i] = '=';
	tmp[padded] = '\0';
	if ((out = malloc(padded / 4 * 3 + 1)) == NULL) {
		free(tmp);
		return NULL;
	}
	n = EVP_DecodeBlock(out, (unsigned char *)tmp, (int)padded);
	free(tmp);
	if (n < 0) {
		free(out);
		return NULL;
	}
	*outlen = (size_t)n - pad;
	return out;
}

/*
 * Seal payload with an explicit expiry (ms since the epoch).  Returns the
 * token, which the caller frees, or NULL on failure.
 */
char *
token_seal_exp(const struct token *t, const char *payload, long long exp)
{
	struct json_object	*o;
	const char		*plain;
	size_t			 plen, blen;
	unsigned char		*box;
	char			*out = NULL;

	if ((o = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(o, "data", json_object_new_string(payload));
	json_object_object_add(o, "exp", json_object_new_int64(exp));
	plain = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE, &plen);
	if ((box = box_seal(t->key, NULL, 0, plain, plen, &blen)) != NULL)
		out = b64url_encode(box, blen);
	free(box);
	json_object_put(o);
	return out;
}

/* Seal payload to expire TOKEN_TTL seconds from now; caller frees. */
char *
token_seal(const struct token *t, const char *payload)
{
	return token_seal_exp(t, payload,
	    token_now_ms() + (long long)t->ttl_s * 1000);
}

/*
 * Open a token.  On TOKEN_OK *payload is the sealed string (caller
 * frees).  TOKEN_MALFORMED: not a token at all; TOKEN_FORGED: the tag
 * does not verify (tampered, or sealed under another key) or the
 * plaintext is not ours; TOKEN_EXPIRED: genuine but past "exp".
 */
enum token_err
token_open(const struct token *t, const char *tok, char **payload)
{
	unsigned char		*raw = NULL;
	char			*plain = NULL;
	size_t			 len = 0, n = 0;
	enum token_err		 rc = TOKEN_MALFORMED;
	struct json_object	*o = NULL, *d, *e;
	struct json_tokener	*jt = NULL;

	*payload = NULL;
	if (tok == NULL || (raw = b64url_decode(tok, &len)) == NULL)
		return TOKEN_MALFORMED;
	if (len < BOX_OVERHEAD + 2)
		goto out;
	rc = TOKEN_FORGED;
	if ((plain = box_open(t->key, NULL, 0, raw, len, &n)) == NULL)
		goto out;
	if ((jt = json_tokener_new_ex(8)) == NULL)
		goto out;
	o = json_tokener_parse_ex(jt, plain, (int)n);
	if (o == NULL || json_tokener_get_error(jt) != json_tokener_success ||
	    !json_object_object_get_ex(o, "data", &d) ||
	    !json_object_is_type(d, json_type_string) ||
	    !json_object_object_get_ex(o, "exp", &e) ||
	    !(json_object_is_type(e, json_type_int) ||
	    json_object_is_type(e, json_type_double)))
		goto out;
	if (json_object_get_double(e) < (double)token_now_ms()) {
		rc = TOKEN_EXPIRED;
		goto out;
	}
	if ((*payload = strdup(json_object_get_string(d))) == NULL) {
		rc = TOKEN_NOMEM;
		goto out;
	}
	rc = TOKEN_OK;
out:
	json_object_put(o);
	if (jt != NULL)
		json_tokener_free(jt);
	free(plain);
	free(raw);
	return rc;
}
