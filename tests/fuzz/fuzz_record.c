/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer: the bytes a FastCGI peer sends, as the acceptor reads them
 * before any worker does (fcgi/record.c): the scan of a request so far,
 * and the answer to a GET_VALUES record, from a buffer of exact size.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct record_scan	 rs;
	unsigned char		*d, out[256];

	if ((d = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(d, data, size);
	record_scan(d, size, 65536, 32768, &rs);
	if (rs.verdict == RECORD_VALUES || rs.verdict == RECORD_MANAGEMENT) {
		if (rs.first > size)
			abort();	/* said whole, and it is not */
		(void)record_values(d, rs.first, 1000, out, sizeof(out));
	}
	(void)record_values(d, size, 1000, out, sizeof(out));
	free(d);
	return 0;
}
