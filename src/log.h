/* SPDX-License-Identifier: ISC */
/*
 * Logging in the manner of OpenBSD httpd's log.c: stderr in the
 * foreground, syslog otherwise (spawn-fcgi sends our stdout and stderr to
 * /dev/null), or a file.  Messages carry __func__ by convention.
 *
 * Base: used by every layer.
 */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
};

int	 log_level_parse(const char *, enum log_level *);
int	 log_init(int foreground, enum log_level, const char *file);
void	 log_set_level(enum log_level);
int	 log_reopen(void);
void	 log_close(void);
void	 log_warn(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
void	 log_at(enum log_level, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 log_fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
char	*log_filter(char *, size_t, const char *);

#endif /* LOG_H */
