/*
 * Resident set size and descriptor counts from /proc (Linux).  Where
 * /proc is missing both answer -1.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <unistd.h>

#include "procstat.h"

/* Resident memory of pid in KiB, from /proc/PID/statm; -1 if unknown. */
long
procstat_rss_kb(pid_t pid)
{
	char		 path[64];
	FILE		*f;
	long		 size, resident;

	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	fclose(f);
	if (resident < 0)
		return -1;
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Open descriptors of this process; -1 if unknown. */
int
procstat_nfds(void)
{
	DIR		*d;
	struct dirent	*e;
	int		 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own descriptor */
}
