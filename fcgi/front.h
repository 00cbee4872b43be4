/* The FastCGI adapter: struct http_io over an FCGX_Request. */
#ifndef FRONT_H
#define FRONT_H

#include <fcgiapp.h>

#include "http.h"

extern const struct http_io front_io;

#endif /* FRONT_H */
