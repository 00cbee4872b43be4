# SPDX-License-Identifier: ISC
"""A redis-server of the test's own (the fleet's shared cache and
budgets): started on a free loopback port, asked with redis-cli, stopped
or killed by its pid.  Python stdlib only.
"""

import os
import subprocess

from harness import free_port, wait_for, which


class Redis:
    """A redis-server of the test's own on a free loopback port, no
    persistence; stopped (or killed, and started again on the same port)
    by its pid."""

    def __init__(self, tmp):
        self.bin = which('redis-server', 'REDIS_SERVER')
        self.cli = which('redis-cli')
        self.tmp = tmp
        self.port = free_port()
        self.proc = None
        self.url = 'redis://127.0.0.1:%d/0' % self.port
        self.start_args = []

    def start(self):
        self.proc = subprocess.Popen(
            [self.bin, '--port', str(self.port), '--bind', '127.0.0.1',
             '--save', '', '--appendonly', 'no', '--dir', self.tmp,
             '--daemonize', 'no'] + self.start_args,
            stdin=subprocess.DEVNULL,
            stdout=open(os.path.join(self.tmp, 'redis.log'), 'a'),
            stderr=subprocess.STDOUT)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError('redis-server exited (port %d taken?)'
                                   % self.port)
            return self.call('PING') in ('PONG', 'NOAUTH Authentication '
                                         'required.')
        wait_for(ready, 10, 'redis-server')
        return self

    def call(self, *args):
        """One command, by redis-cli; its answer as text."""
        r = subprocess.run([self.cli, '-h', '127.0.0.1', '-p',
                            str(self.port)] + [str(a) for a in args],
                           capture_output=True, text=True, timeout=10,
                           errors="replace")
        return r.stdout.strip()

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
