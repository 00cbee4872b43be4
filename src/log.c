/* SPDX-License-Identifier: ISC */
/*
 * Logging: levels, stderr or syslog or a file, client text filtered.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int		 log_fg = 1;
static enum log_level	 log_lvl = LOG_LEVEL_INFO;
static int		 log_fd = -1;	/* file, when configured */
static char		*log_path;
static pthread_mutex_t	 log_mtx = PTHREAD_MUTEX_INITIALIZER;

static const char *const log_names[] = { "error", "warn", "info", "debug" };

/*
 * Parse a level name ("error", "warn", "info", "debug").  Returns 0 and
 * sets *lvl, or -1 for an unknown name.
 */
int
log_level_parse(const char *s, enum log_level *lvl)
{
	size_t	 i;

	for (i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++)
		if (strcasecmp(s, log_names[i]) == 0) {
			*lvl = (enum log_level)i;
			return 0;
		}
	if (strcasecmp(s, "warning") == 0) {
		*lvl = LOG_LEVEL_WARN;
		return 0;
	}
	return -1;
}

/*
 * Start logging.  In the foreground messages go to stderr; otherwise to
 * the file if one is named, else to syslog (daemon facility).  May be
 * called again (on reload); the previous destination is closed.  Returns
 * -1 when the file cannot be opened (errno says why; syslog stands in).
 */
int
log_init(int foreground, enum log_level lvl, const char *file)
{
	int	 rc = 0;

	pthread_mutex_lock(&log_mtx);
	log_fg = foreground;
	__atomic_store_n(&log_lvl, lvl, __ATOMIC_RELAXED);
	if (log_fd != -1) {
		close(log_fd);
		log_fd = -1;
	}
	free(log_path);
	log_path = NULL;
	if (file != NULL && *file != '\0') {
		log_path = strdup(file);
		log_fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		    0640);
		rc = log_fd == -1 ? -1 : 0;
	}
	if (!foreground && log_fd == -1)
		openlog("tiktok-fcgi", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	pthread_mutex_unlock(&log_mtx);
	return rc;
}

/* The level from now on (SIGHUP: LOG_LEVEL changed), for every thread. */
void
log_set_level(enum log_level lvl)
{
	__atomic_store_n(&log_lvl, lvl, __ATOMIC_RELAXED);
}

/*
 * Reopen the log file (after rotation: SIGUSR1, or SIGHUP).  Returns 0,
 * or -1 if it could not be opened (logging then falls back to syslog).
 */
int
log_reopen(void)
{
	int	 fd, rc = 0;

	pthread_mutex_lock(&log_mtx);
	if (log_path != NULL) {
		fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		    0640);
		if (fd == -1)
			rc = -1;
		if (log_fd != -1)
			close(log_fd);
		log_fd = fd;
	}
	pthread_mutex_unlock(&log_mtx);
	return rc;
}

void
log_close(void)
{
	pthread_mutex_lock(&log_mtx);
	if (log_fd != -1)
		close(log_fd);
	log_fd = -1;
	free(log_path);
	log_path = NULL;
	pthread_mutex_unlock(&log_mtx);
}

static void
vlog(enum log_level lvl, const char *fmt, va_list ap, int err)
{
	char		 msg[2048], line[2200];
	struct tm	 tm;
	time_t		 now;
	int		 pri, n;

	if (lvl > __atomic_load_n(&log_lvl, __ATOMIC_RELAXED))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (err)
		snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), ": %s",
		    strerror(err));

	/* Where to is read under the lock: a reopen may change it. */
	pthread_mutex_lock(&log_mtx);
	if (!log_fg && log_fd == -1) {
		pthread_mutex_unlock(&log_mtx);
		pri = lvl == LOG_LEVEL_ERROR ? LOG_ERR :
		    lvl == LOG_LEVEL_WARN ? LOG_WARNING :
		    lvl == LOG_LEVEL_INFO ? LOG_INFO : LOG_DEBUG;
		syslog(pri, "%s", msg);
		return;
	}
	pthread_mutex_unlock(&log_mtx);
	now = time(NULL);
	gmtime_r(&now, &tm);
	n = snprintf(line, sizeof(line),
	    "%04d-%02d-%02dT%02d:%02d:%02dZ tiktok-fcgi[%d] %s: %s\n",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)getpid(), log_names[lvl], msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	pthread_mutex_lock(&log_mtx);
	/* One write(2) a line, so that lines of threads do not interleave. */
	if (write(log_fd != -1 ? log_fd : STDERR_FILENO, line, n) == -1) {
		/* Nowhere else to say it. */
	}
	pthread_mutex_unlock(&log_mtx);
}

/*
 * The logging functions: each formats at its level and keeps errno;
 * log_warn appends strerror(errno).  One body, four names.
 */
#define LOG_FUNCTION(name, level, with_errno)				\
void									\
name(const char *fmt, ...)						\
{									\
	va_list	 ap;							\
	int	 saved = errno;						\
									\
	va_start(ap, fmt);						\
	vlog(level, fmt, ap, (with_errno) ? saved : 0);			\
	va_end(ap);							\
	errno = saved;							\
}

LOG_FUNCTION(log_warn, LOG_LEVEL_WARN, 1)
LOG_FUNCTION(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FUNCTION(log_info, LOG_LEVEL_INFO, 0)
LOG_FUNCTION(log_debug, LOG_LEVEL_DEBUG, 0)

/* Log at lvl, as the function of that level would (answer.c's table
 * says each failure's level). */
void
log_at(enum log_level lvl, const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	vlog(lvl, fmt, ap, 0);
	va_end(ap);
	errno = saved;
}

/* Log an error and exit(1).  Only for main() before threads run. */
void
log_fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_LEVEL_ERROR, fmt, ap, 0);
	va_end(ap);
	exit(1);
}

/*
 * Copy text a client controls into buf (of size sz) fit for a log line:
 * bytes outside printable ASCII become '?', and long text is cut with
 * "...".  Returns buf; NULL input gives "(null)".
 */
char *
log_filter(char *buf, size_t sz, const char *s)
{
	size_t	 i;

	if (sz == 0)
		return buf;
	if (s == NULL)
		s = "(null)";
	for (i = 0; s[i] != '\0' && i + 1 < sz; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	buf[i] = '\0';
	if (s[i] != '\0' && sz > 4)
		memcpy(buf + sz - 4, "...", 4);
	return buf;
}
