/* SPDX-License-Identifier: ISC */
/*
 * Resident and proportional set sizes, processor time and descriptor
 * counts from /proc (Linux).  Where
 * /proc is missing both answer -1.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
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

/*
 * Proportional set size of pid in KiB (its pages, each shared one
 * divided among the processes sharing it), from /proc/PID/smaps_rollup;
 * -1 if unknown.
 */
long
procstat_pss_kb(pid_t pid)
{
	char		 path[64], line[128];
	FILE		*f;
	long		 kb = -1;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Pss: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/*
 * Processor time pid has used, user and system, all its threads, in
 * milliseconds, from /proc/PID/stat; -1 if unknown.
 */
long long
procstat_cpu_ms(pid_t pid)
{
	char			 path[64], buf[1024], *p;
	FILE			*f;
	size_t			 n;
	unsigned long long	 utime, stime;
	long			 hz = sysconf(_SC_CLK_TCK);

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (hz <= 0 || (f = fopen(path, "re")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* After the name, which may hold anything: the 3rd field on. */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 1, " %*c %*d %*d "
	    "%*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
		return -1;
	return (long long)((utime + stime) * 1000 / (unsigned long long)hz);
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
