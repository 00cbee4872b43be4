/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer: the client's address from what a client controls.  The
 * input is REMOTE_ADDR\0HEADER\0TRUSTED_PROXIES (the first byte's low
 * bit choosing X-Forwarded-For or Forwarded): the list is checked and
 * made, the client resolved and written, its id taken; a budget in
 * N/SECONDS is read from the header's text too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "limit.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char			*copy, *remote, *header, *nets, why[160];
	char			 text[CLIENT_ADDRSTRLEN];
	struct client_nets	*cn;
	struct client_addr	 ca;
	struct limit_rate	 r;
	enum client_header	 kind;

	if (size < 1 || (copy = malloc(size + 3)) == NULL)
		return 0;
	kind = (data[0] & 1) ? CLIENT_FORWARDED : CLIENT_XFF;
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = copy[size] = copy[size + 1] = '\0';
	remote = copy;
	header = remote + strlen(remote) + 1;
	nets = header + strlen(header) + 1;
	if (client_nets_check(nets, why, sizeof(why)) == 0) {
		cn = client_nets_new(nets);
		client_resolve(cn, kind, remote, header, &ca);
		client_nets_free(cn);
	} else
		client_resolve(NULL, kind, remote, header, &ca);
	client_format(&ca, text, sizeof(text));
	(void)client_id(&ca);
	(void)limit_rate_parse(header, &r, why, sizeof(why));
	free(copy);
	return 0;
}
