/* SPDX-License-Identifier: ISC */
/*
 * Sealed boxes: AES-256-GCM under a 32-byte key, a fresh random IV each
 * time, laid out iv[16] || tag[16] || ciphertext (the layout of
 * serverjs's tokens), with optional associated data that is
 * authenticated but not stored (what the box is for: a Redis key).
 * OpenSSL does the cipher.
 *
 * Base: used by token.c (download tokens) and the shared cache (its
 * Redis entries).
 */
#ifndef BOX_H
#define BOX_H

#include <stddef.h>

#define BOX_KEY_LEN	32
#define BOX_OVERHEAD	32	/* iv and tag */

unsigned char	*box_seal(const unsigned char key[BOX_KEY_LEN],
		    const void *aad, size_t aadlen, const void *plain,
		    size_t len, size_t *outlen);
char		*box_open(const unsigned char key[BOX_KEY_LEN],
		    const void *aad, size_t aadlen, const void *box,
		    size_t len, size_t *outlen);

#endif /* BOX_H */
