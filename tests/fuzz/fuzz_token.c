/* SPDX-License-Identifier: ISC */
/* libFuzzer: opening download tokens (any text a client sends). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct token	*tk;
	char			*s, *out = NULL;

	if (tk == NULL && (tk = token_new("fuzz key", 360)) == NULL)
		abort();
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (token_open(tk, s, &out) == TOKEN_OK)
		free(out);
	free(s);
	return 0;
}
