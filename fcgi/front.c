/*
 * The FastCGI adapter: the request/response interface of src/http.h
 * implemented over libfcgi's FCGX streams.  ctx is the FCGX_Request.
 */
#include "config.h"

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

const struct http_io front_io = {
	front_param,
	front_read,
	front_write,
	front_flush
};
