/* SPDX-License-Identifier: ISC */
/*
 * The janitor: removes render work folders older than an hour from
 * TEMP_DIR, at start and every 15 minutes.  Never follows a symbolic
 * link, never leaves TEMP_DIR.
 *
 * Used by the app (start, stop) and the renders (janitor_remove).
 */
#ifndef JANITOR_H
#define JANITOR_H

struct janitor;

struct janitor	*janitor_start(const char *dir, int max_age_s, int every_s);
void		 janitor_stop(struct janitor *);
int		 janitor_remove(const char *path);

#endif /* JANITOR_H */
