/* SPDX-License-Identifier: ISC */
/*
 * What /proc says about a process: resident memory (RSS, and PSS: with
 * shared pages divided among their sharers), processor time, open
 * descriptors.
 *
 * Base: used by the pool and /health.
 */
#ifndef PROCSTAT_H
#define PROCSTAT_H

#include <sys/types.h>

long	 procstat_rss_kb(pid_t);
long	 procstat_pss_kb(pid_t);
long long procstat_cpu_ms(pid_t);
int	 procstat_nfds(void);

#endif /* PROCSTAT_H */
