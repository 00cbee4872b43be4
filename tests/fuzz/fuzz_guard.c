/* libFuzzer: the address guard, on any IPv4 or IPv6 address. */
#include <sys/socket.h>

#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "fetch.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in	 s4;
	struct sockaddr_in6	 s6;

	if (size == 4) {
		memset(&s4, 0, sizeof(s4));
		s4.sin_family = AF_INET;
		memcpy(&s4.sin_addr, data, 4);
		fetch_addr_public((struct sockaddr *)&s4);
	} else if (size == 16) {
		memset(&s6, 0, sizeof(s6));
		s6.sin6_family = AF_INET6;
		memcpy(&s6.sin6_addr, data, 16);
		fetch_addr_public((struct sockaddr *)&s6);
	}
	return 0;
}
