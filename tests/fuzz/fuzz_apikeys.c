/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer: API keys files (API_KEYS_FILE), any bytes: read, a key
 * looked for, let go.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "apikeys.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char	 path[64];
	struct apikeys	*ks;
	char		 err[512];
	FILE		*f;

	if (path[0] == '\0')
		snprintf(path, sizeof(path), "/tmp/fuzz-keys-%d", (int)getpid());
	if ((f = fopen(path, "w")) == NULL)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	if ((ks = apikeys_load(path, err, sizeof(err))) != NULL) {
		(void)apikeys_find(ks, "partner-key-0123456789abcdef");
		apikeys_drop(ks);
	}
	unlink(path);
	return 0;
}
