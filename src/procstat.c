/*
 * Resident and proportional set sizes and descriptor counts from /proc
 * (Linux).  Where
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
 * Milliseconds pid's threads have run or waited to run (runnable, on a
 * run queue), summed, from /proc/PID/task/TID/schedstat; else its CPU
 * time from /proc/PID/stat.  Sampled twice, the difference over the
 * time between says how much of a processor it wants.  -1 if unknown.
 */
long long
procstat_busy_ms(pid_t pid)
{
	char			 path[320];
	DIR			*d;
	struct dirent		*e;
	FILE			*f;
	unsigned long long	 run, wait, ut, st;
	long long		 sum = 0;
	char			 line[512], *p;
	int			 n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat",
			    (int)pid, e->d_name);
			if ((f = fopen(path, "re")) == NULL)
				continue;
			if (fscanf(f, "%llu %llu", &run, &wait) == 2) {
				sum += (long long)((run + wait) / 1000000);
				n++;
			}
			fclose(f);
		}
		closedir(d);
		if (n > 0)
			return sum;
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	n = fgets(line, sizeof(line), f) != NULL;
	fclose(f);
	/* "pid (comm) state ..." (comm may hold anything): utime and stime
	 * are the 12th and 13th fields after the comm. */
	if (!n || (p = strrchr(line, ')')) == NULL ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%llu %llu", &ut, &st) != 2)
		return -1;
	return (long long)((ut + st) * 1000 / (unsigned long long)
	    sysconf(_SC_CLK_TCK));
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
