/* SPDX-License-Identifier: ISC */
/*
 * Download tokens, interoperable with serverjs:
 * base64url_nopad(iv[16] || tag[16] || AES-256-GCM(key, iv, json)) where
 * json is {"data": payload, "exp": ms since epoch} and key is
 * scrypt(secret, "salt", N=16384, r=8, p=1, 32 bytes).
 *
 * Used by the app (the key), shape.c (sealing) and the download
 * handlers (opening).  Keys for other uses (token_subkey) are derived
 * from the same secret, so that a fleet sharing ENCRYPTION_KEY shares
 * them too.
 */
#ifndef TOKEN_H
#define TOKEN_H

#include <stddef.h>

struct token;

enum token_err {
	TOKEN_OK = 0,
	TOKEN_MALFORMED,	/* not base64url, too short or too long */
	TOKEN_FORGED,		/* authentication failed: tampered, other key */
	TOKEN_EXPIRED,
	TOKEN_NOMEM
};

struct token	*token_new(const char *secret, int ttl_s);
void		 token_free(struct token *);
char		*token_seal(const struct token *, const char *payload);
char		*token_seal_exp(const struct token *, const char *payload,
		    long long exp_ms);
enum token_err	 token_open(const struct token *, const char *token,
		    char **payload);
long long	 token_now_ms(void);
void		 token_subkey(const struct token *, const char *label,
		    unsigned char out[32]);

#endif /* TOKEN_H */
