/* SPDX-License-Identifier: ISC */
/*
 * Restarting without losing a request (restart.c): at SIGUSR2 the running
 * process starts a new one of the same program (as it is on disk now:
 * an upgrade takes effect) with the same arguments and environment,
 * hands it the listening socket, waits until it serves, and only then
 * stops taking connections and finishes what it has.  Connections
 * waiting in the socket's backlog are taken by one or the other; none
 * is refused.  A new process that does not come up is killed and the
 * old one goes on.  The same for every launcher that hands us a socket
 * (spawn-fcgi, tiktok-fcgi-spawn, -s, -b); under systemd the socket
 * unit keeps the socket across a restart instead.
 *
 * Used by main() only.
 */
#ifndef RESTART_H
#define RESTART_H

#include <sys/types.h>

struct app;

int	 restart_init(char *argv[]);
int	 restart_inherited(void);
void	 restart_ready(struct app *, int timeout_s);
pid_t	 restart_spawn(int listen_fd, int timeout_s);

#endif /* RESTART_H */
