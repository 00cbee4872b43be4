/* SPDX-License-Identifier: ISC */
/*
 * The janitor.  Everything below TEMP_DIR is reached with openat(2) and
 * O_NOFOLLOW from a descriptor of TEMP_DIR itself, so a symbolic link
 * planted there is removed as a link, never followed, and ".." is never
 * taken.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "janitor.h"
#include "log.h"

#define PREFIX	"render-"

struct janitor {
	char		*dir;
	int		 max_age, every;
	int		 stop;
	pthread_t	 thread;
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cv;
};

/*
 * Remove what dfd/name is: a file or link is unlinked, a directory
 * emptied (recursively, the same way) and removed.  Returns 0 or -1.
 */
static int
remove_at(int dfd, const char *name, int depth)
{
	struct stat	 st;
	DIR		*d;
	struct dirent	*e;
	int		 fd, rc = 0;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dfd, name, 0) == -1 && errno != ENOENT ? -1 : 0;
	if (depth > 16)
		return -1;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (remove_at(dirfd(d), e->d_name, depth + 1) == -1)
			rc = -1;
	}
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) == -1 && errno != ENOENT)
		rc = -1;
	return rc;
}

/*
 * Remove a work folder made by the renderer (an absolute path to a
 * directory whose parent is TEMP_DIR).  Returns 0 or -1.
 */
int
janitor_remove(const char *path)
{
	char	*copy, *slash;
	int	 dfd, rc;

	if ((copy = strdup(path)) == NULL)
		return -1;
	if ((slash = strrchr(copy, '/')) == NULL || slash == copy) {
		free(copy);
		return -1;
	}
	*slash = '\0';
	dfd = open(copy, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rc = dfd == -1 ? -1 : remove_at(dfd, slash + 1, 0);
	if (dfd != -1)
		close(dfd);
	free(copy);
	return rc;
}

/*
 * Remove the work folders in dir (entries named render-*, directories,
 * not links) last changed more than max_age_s seconds ago.  Returns how
 * many were removed, or -1 if dir cannot be read.
 */
static int
sweep(const char *dir, int max_age_s)
{
	DIR		*d;
	struct dirent	*e;
	struct stat	 st;
	time_t		 now = time(NULL);
	int		 fd, n = 0;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, PREFIX, strlen(PREFIX)) != 0)
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
		    -1 || !S_ISDIR(st.st_mode))
			continue;
		if (now - st.st_mtime < max_age_s)
			continue;
		if (remove_at(dirfd(d), e->d_name, 0) == 0)
			n++;
		else
			log_warn("%s: %s/%s", __func__, dir, e->d_name);
	}
	closedir(d);
	return n;
}

static void *
janitor_main(void *arg)
{
	struct janitor	*j = arg;
	struct timespec	 ts;
	int		 n;

	pthread_mutex_lock(&j->mtx);
	while (!j->stop) {
		pthread_mutex_unlock(&j->mtx);
		if ((n = sweep(j->dir, j->max_age)) > 0)
			log_info("%s: removed %d old work folders", __func__,
			    n);
		pthread_mutex_lock(&j->mtx);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += j->every;
		while (!j->stop && pthread_cond_timedwait(&j->cv, &j->mtx,
		    &ts) != ETIMEDOUT)
			continue;
	}
	pthread_mutex_unlock(&j->mtx);
	return NULL;
}

/* Sweep dir now and every every_s seconds, in a thread of its own. */
struct janitor *
janitor_start(const char *dir, int max_age_s, int every_s)
{
	struct janitor	*j;

	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->dir = strdup(dir)) == NULL) {
		free(j);
		return NULL;
	}
	j->max_age = max_age_s;
	j->every = every_s;
	pthread_mutex_init(&j->mtx, NULL);
	pthread_cond_init(&j->cv, NULL);
	if (pthread_create(&j->thread, NULL, janitor_main, j) != 0) {
		free(j->dir);
		free(j);
		return NULL;
	}
	return j;
}

void
janitor_stop(struct janitor *j)
{
	if (j == NULL)
		return;
	pthread_mutex_lock(&j->mtx);
	j->stop = 1;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mtx);
	pthread_join(j->thread, NULL);
	pthread_mutex_destroy(&j->mtx);
	pthread_cond_destroy(&j->cv);
	free(j->dir);
	free(j);
}
