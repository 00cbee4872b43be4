/* SPDX-License-Identifier: ISC */
/*
 * The configuration's key table, for the parts of conf.c: conf_keys.c
 * (the table, the defaults, finding a key, the listing) and conf.c
 * (reading and checking values).  Not for other modules.
 */
#ifndef CONF_IMPL_H
#define CONF_IMPL_H

#include <stddef.h>

#include "conf.h"

enum conf_kind { K_STR, K_INT, K_BOOL, K_URL, K_FILE, K_LEVEL, K_PROXIES,
    K_REDIS, K_RATE, K_NETS };

struct conf_key {
	const char	*name;
	enum conf_kind	 kind;
	size_t		 off;		/* CONF_OFF(its field) */
	long		 min, max;	/* K_INT's bounds */
};

#define CONF_OFF(f)	offsetof(struct conf, f)

extern const struct conf_key	 conf_keys[];
extern const size_t		 conf_nkeys;

void			 conf_defaults(struct conf *);
const struct conf_key	*conf_findkey(const char *);
const char		*conf_nearkey(const char *);

#endif /* CONF_IMPL_H */
