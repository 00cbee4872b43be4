/* SPDX-License-Identifier: ISC */
/*
 * Sealed boxes (box.h): AES-256-GCM by OpenSSL's EVP interface.
 */
#include "config.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "box.h"

#define IV_LEN	16
#define TAG_LEN	16

/*
 * Seal len bytes of plain (aad, when not NULL, authenticated with it).
 * Returns the box, *outlen bytes, which the caller frees; NULL on
 * failure.
 */
unsigned char *
box_seal(const unsigned char key[BOX_KEY_LEN], const void *aad,
    size_t aadlen, const void *plain, size_t len, size_t *outlen)
{
	EVP_CIPHER_CTX	*ctx = NULL;
	unsigned char	*buf;
	int		 n = 0, fin = 0, ok = 0;

	if (len > INT_MAX - BOX_OVERHEAD - 16 || aadlen > INT_MAX ||
	    (buf = malloc(BOX_OVERHEAD + len + 16)) == NULL)
		return NULL;
	if (RAND_bytes(buf, IV_LEN) == 1 &&
	    (ctx = EVP_CIPHER_CTX_new()) != NULL &&
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, IV_LEN,
	    NULL) == 1 &&
	    EVP_EncryptInit_ex(ctx, NULL, NULL, key, buf) == 1 &&
	    (aad == NULL || EVP_EncryptUpdate(ctx, NULL, &n, aad,
	    (int)aadlen) == 1) &&
	    EVP_EncryptUpdate(ctx, buf + BOX_OVERHEAD, &n, plain,
	    (int)len) == 1 &&
	    EVP_EncryptFinal_ex(ctx, buf + BOX_OVERHEAD + n, &fin) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN,
	    buf + IV_LEN) == 1)
		ok = 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok) {
		free(buf);
		return NULL;
	}
	*outlen = BOX_OVERHEAD + (size_t)(n + fin);
	return buf;
}

/*
 * Open a box sealed with box_seal under key and the same aad.  Returns
 * the plaintext, *outlen bytes and a NUL after them, which the caller
 * frees; NULL when the box is too short, does not authenticate
 * (tampered, another key, another aad) or on failure.
 */
char *
box_open(const unsigned char key[BOX_KEY_LEN], const void *aad,
    size_t aadlen, const void *box, size_t len, size_t *outlen)
{
	const unsigned char	*in = box;
	EVP_CIPHER_CTX		*ctx = NULL;
	unsigned char		*plain;
	int			 n = 0, fin = 0, ok = 0;

	if (len < BOX_OVERHEAD || len > INT_MAX || aadlen > INT_MAX ||
	    (plain = malloc(len - BOX_OVERHEAD + 1)) == NULL)
		return NULL;
	if ((ctx = EVP_CIPHER_CTX_new()) != NULL &&
	    EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, IV_LEN,
	    NULL) == 1 &&
	    EVP_DecryptInit_ex(ctx, NULL, NULL, key, in) == 1 &&
	    (aad == NULL || EVP_DecryptUpdate(ctx, NULL, &n, aad,
	    (int)aadlen) == 1) &&
	    EVP_DecryptUpdate(ctx, plain, &n, in + BOX_OVERHEAD,
	    (int)(len - BOX_OVERHEAD)) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
	    (void *)(uintptr_t)(in + IV_LEN)) == 1 &&
	    EVP_DecryptFinal_ex(ctx, plain + n, &fin) == 1)
		ok = 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok) {
		free(plain);
		return NULL;
	}
	*outlen = (size_t)(n + fin);
	plain[*outlen] = '\0';
	return (char *)plain;
}
