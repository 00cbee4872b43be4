/* SPDX-License-Identifier: ISC */
/* libFuzzer: finding the post in pasted text (POST /tiktok's url). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "posturl.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct posturl	 pu;
	char		*s;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (posturl_parse(s, "127.0.0.1", &pu) == POSTURL_OK) {
		if (pu.page == NULL || pu.key == NULL)
			abort();
		posturl_clear(&pu);
	}
	free(s);
	return 0;
}
