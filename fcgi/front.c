/*
 * The FastCGI adapter: the request/response interface of src/http.h
 * implemented over libfcgi's FCGX streams.  ctx is the FCGX_Request.
 */
#include "config.h"

#include <sys/socket.h>

#include <poll.h>

#include <fcgiapp.h>

#include "front.h"

static const char *
front_param(void *ctx, const char *name)
{
	return FCGX_GetParam(name, ((FCGX_Request *)ctx)->envp);
}

static ssize_t
front_read(void *ctx, void *buf, size_t len)
{
	int	 n;

	if (len > 1 << 30)
		len = 1 << 30;
	n = FCGX_GetStr(buf, (int)len, ((FCGX_Request *)ctx)->in);
	if (n < 0)
		return -1;
	return n;
}

/*
 * FCGX_PutStr buffers into FastCGI records; -1 (or a short count) means
 * the web server closed the connection: the client went away.
 */
static int
front_write(void *ctx, const void *buf, size_t len)
{
	FCGX_Request	*r = ctx;
	const char	*p = buf;
	int		 chunk, n;

	while (len > 0) {
		chunk = len > (1 << 20) ? (1 << 20) : (int)len;
		n = FCGX_PutStr(p, chunk, r->out);
		if (n != chunk)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
front_flush(void *ctx)
{
	return FCGX_FFlush(((FCGX_Request *)ctx)->out) == -1 ? -1 : 0;
}

/*
 * With keep-alive off, nginx (and the others) close the FastCGI
 * connection when their client goes away: the socket turns readable at
 * end of file.  The request body was read already, so anything readable
 * that is not data means gone.
 */
static int
front_gone(void *ctx)
{
	FCGX_Request	*r = ctx;
	struct pollfd	 pfd;
	char		 c;

	pfd.fd = r->ipcFd;
	pfd.events = POLLIN | POLLRDHUP;
	pfd.revents = 0;
	if (poll(&pfd, 1, 0) <= 0)
		return 0;
	if (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))
		return 1;
	return recv(r->ipcFd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

const struct http_io front_io = {
	front_param,
	front_read,
	front_write,
	front_flush,
	front_gone
};
