#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""A restart loses no request, under every launcher that hands tiktok-fcgi
its socket (SIGUSR2: a new process of the program takes the socket over
once it serves, the old one finishes its requests).

Clients post and download without pause through nginx (extractions take
300 ms, so requests are always in flight), while the service is
restarted twice:

1. under spawn-fcgi (-n), by SIGUSR2;
2. by tiktok-fcgi-spawn in the background, by tiktok-fcgi-spawn -r (the
   pid file follows);
3. with its own socket (-s), by SIGUSR2: the socket file stays;
4. socket-activated (systemd keeps the socket; here the test does), by a
   stop and a start, as systemctl restart does.

Every request must succeed (lost requests: 0), the old processes exit,
and a new process that cannot come up is killed while the old one goes
on serving.
"""

import os
import signal
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BINARY, TOP_SRCDIR, check, done, wait_for  # noqa: E402
from fleet import post_and_download  # noqa: E402
from probes import all_dead, children_of  # noqa: E402
from stack import Stack  # noqa: E402

TT = 'https://www.tiktok.com/@cdn_gen_20000/video/%d'
SPAWN = os.path.join(TOP_SRCDIR, 'fcgi', 'tiktok-fcgi-spawn')
ENV = {'FAKE_DELAY_MS': '300', 'HELPERS': '2'}
NEW = []        # every process a restart started: stopped at the end


def comm(pid):
    try:
        with open('/proc/%d/comm' % pid) as f:
            return f.read().strip()
    except OSError:
        return ''


class Pid:
    """A process of ours that is not our child, as the harness's Popen."""

    def __init__(self, pid):
        self.pid = pid
        self.returncode = None

    def poll(self):
        if all_dead([self.pid]):
            self.returncode = 0
        return self.returncode

    def send_signal(self, sig):
        if self.poll() is None:
            os.kill(self.pid, sig)

    def wait(self, timeout=None):
        wait_for(lambda: self.poll() is not None, timeout or 3600,
                 'pid %d to exit' % self.pid)
        return 0

    def kill(self):
        self.send_signal(signal.SIGKILL)


class Traffic:
    """Clients posting and downloading without pause: their failures."""

    def __init__(self, s, clients=6):
        self.s, self.stop, self.lock = s, threading.Event(), threading.Lock()
        self.done, self.failed = 0, []
        self.threads = [threading.Thread(target=self.client, args=(k,))
                        for k in range(clients)]
        for t in self.threads:
            t.start()

    def client(self, k):
        i = 0
        while not self.stop.is_set():
            i += 1
            ok, st = post_and_download(self.s, 7200000000000000000 +
                                       k * 10 ** 6 + i)
            with self.lock:
                self.done += 1
                if not ok:
                    self.failed.append(st)

    def count(self):
        with self.lock:
            return self.done

    def end(self):
        self.stop.set()
        for t in self.threads:
            t.join()
        return self.done, self.failed


def restart_by_signal(s):
    """SIGUSR2 to s's app; the new process becomes s.app.  Returns it."""
    old = s.app.pid
    os.kill(old, signal.SIGUSR2)
    new = wait_for(lambda: [p for p in children_of(old)
                            if comm(p) == 'tiktok-fcgi'], 30,
                   'the new process')[0]
    NEW.append(new)
    wait_for(lambda: all_dead([old]), 90, 'the old process to finish')
    s.app = Pid(new)
    return new


def flows(t, n=30):
    base = t.count()
    wait_for(lambda: t.count() >= base + n, 120, 'requests to flow')


def run(s, restart, what):
    t = Traffic(s)
    flows(t)
    pids = [s.app.pid]
    for _ in range(2):
        pids.append(restart(s))
        flows(t)
    total, failed = t.end()
    check(failed == [] and total > 90,
          '%s: 2 restarts, %d requests, lost %d %s' % (what, total,
                                                       len(failed),
                                                       failed[:5]))
    check(all_dead(pids[:-1]) and not all_dead(pids[-1:]),
          '%s: the old processes exited, the new one serves (%s)'
          % (what, pids))
    check(s.get('/health').status == 200, '%s: /health 200 after' % what)
    return pids


try:
    # 1. spawn-fcgi -n, SIGUSR2.
    s = Stack(env=ENV)
    s.conf = os.path.join(s.tmp, 'tiktok-fcgi.conf')
    with open(s.conf, 'w') as f:
        f.write('CACHE_TTL=300\n')
    with s:
        pids = run(s, restart_by_signal, 'spawn-fcgi')
        log = s.log()
        check(log.count('taking over from the process that started us')
              == 2, 'spawn-fcgi: each new process said it took over')
        # A new process that cannot come up (its configuration broken
        # meanwhile): the old one goes on.
        with open(s.conf, 'w') as f:
            f.write('BODY_MAX=1\n')
        old = s.app.pid
        os.kill(old, signal.SIGUSR2)
        wait_for(lambda: 'did not come up' in s.log(), 120,
                 'the failed restart')
        r = s.tiktok(TT % 7200000009000000001)
        check(r.status == 200 and not all_dead([old]),
              'a new process that cannot come up: the old one serves on '
              '(%d)' % r.status)

    # 2. tiktok-fcgi-spawn in the background, -r.
    s = Stack(env=ENV)

    def start_app():
        s.applog = open(os.path.join(s.tmp, 'app.log'), 'ab')
        env = s.app_env()
        env['TIKTOK_FCGI'] = BINARY
        env['LOG_FILE'] = os.path.join(s.tmp, 'app.log')
        subprocess.run([SPAWN, '-s', s.sock], env=env, check=True,
                       stdout=s.applog, stderr=s.applog)
        pid = int(wait_for(lambda: os.path.exists(s.sock + '.pid') and
                           open(s.sock + '.pid').read().strip(), 10,
                           'the pid file'))
        s.app = Pid(pid)
        NEW.append(pid)
        wait_for(lambda: os.path.exists(s.sock), 10, 'the socket')
    s.start_app = start_app

    def restart_by_script(s):
        env = dict(os.environ, SHUTDOWN_TIMEOUT='10')
        r = subprocess.run([SPAWN, '-r', '-s', s.sock], env=env,
                           capture_output=True, text=True, timeout=120)
        new = int(open(s.sock + '.pid').read())
        check(r.returncode == 0 and 'restarted' in r.stdout and
              new != s.app.pid, 'tiktok-fcgi-spawn -r: %s%s'
              % (r.stdout.strip(), r.stderr.strip()))
        NEW.append(new)
        s.app = Pid(new)
        return new
    with s:
        run(s, restart_by_script, 'tiktok-fcgi-spawn')

    # 3. Its own socket (-s), SIGUSR2.
    s = Stack(env=ENV)
    wrapper = os.path.join(s.tmp, 'own-socket')
    with open(wrapper, 'w') as f:
        f.write('#!/bin/sh\nexec %s -f -s %s\n' % (BINARY, s.sock))
    os.chmod(wrapper, 0o755)
    s.spawn_bin = wrapper
    with s:
        inode = os.stat(s.sock).st_ino
        run(s, restart_by_signal, '-s')
        check(os.path.exists(s.sock) and os.stat(s.sock).st_ino == inode,
              '-s: the socket file stays, the same socket')
        s.stop_app()
        check(not os.path.exists(s.sock),
              '-s: and goes with the last process')
    # 4. systemd's socket activation: the socket stays with systemd (here,
    # with the test), a restart is a stop and a start (systemctl
    # restart): connections wait in the backlog meanwhile.
    s = Stack(env=ENV)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(s.sock)
    listener.listen(4096)

    def socket_activated():
        s.applog = open(os.path.join(s.tmp, 'app.log'), 'ab')

        def fd3():
            os.dup2(listener.fileno(), 3)
            os.set_inheritable(3, True)
        s.app = subprocess.Popen(
            ['sh', '-c', 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" -f', BINARY],
            env=s.app_env(), preexec_fn=fd3, close_fds=False,
            stdin=subprocess.DEVNULL, stdout=s.applog, stderr=s.applog)
        s.procs.append(s.app)
    s.start_app = socket_activated

    def systemctl_restart(s):
        s.stop_app()
        socket_activated()
        return s.app.pid
    with s:
        run(s, systemctl_restart, 'socket activation')
    listener.close()
finally:
    for p in NEW:
        if not all_dead([p]):
            os.kill(p, signal.SIGTERM)
    for p in NEW:
        try:
            wait_for(lambda: all_dead([p]), 30, 'pid %d' % p)
        except RuntimeError:
            os.kill(p, signal.SIGKILL)
done()
