# SPDX-License-Identifier: ISC
"""How every fake server of the tests runs, and how a test starts one.

A fake (fake_cdn.py, fake_proxy.py, fake_socks.py, fake_tiktok.py) is
run as `python3 FAKE PORTFILE ARGS...`: it listens on a free port on
loopback, writes that port to PORTFILE (whole: a temporary file renamed)
and serves until its standard input closes, that is until the test that
started it ends, however it ends; then it stops by itself.  serve() is
that, for the fake; Fake is the other side, for the test: started with a
pipe on its standard input, ready once the port file is there (with a
deadline), stopped by closing the pipe.  Python stdlib only.
"""

import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def serve(srv, portfile, tls=()):
    """The fake's side: srv (a socketserver server, bound) says its port
    in portfile, serves until standard input closes, then shuts down.
    tls: (certificate, key) to serve over TLS, or () for plain TCP."""
    if tls:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*tls)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(portfile + '.tmp', 'w') as f:
        f.write(str(srv.server_address[1]))
    os.rename(portfile + '.tmp', portfile)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        sys.stdin.read()
    finally:
        srv.shutdown()


class Fake:
    """The test's side: the fake script (a file of this folder) started
    with portfile and args, its port known.  env: its environment (None:
    ours); log: a file for what it prints (None: ours).  Raises
    RuntimeError when it exits or says no port within timeout seconds
    (it is stopped then)."""

    def __init__(self, script, portfile, *args, env=None, log=None,
                 timeout=30):
        out = open(log, 'ab') if log else None
        try:
            self.proc = subprocess.Popen(
                [sys.executable, os.path.join(HERE, script), portfile] +
                [str(a) for a in args], stdin=subprocess.PIPE, stdout=out,
                stderr=out, env=env)
        finally:
            if out:
                out.close()
        self.name = script
        end = time.monotonic() + timeout
        while True:
            if os.path.exists(portfile):
                with open(portfile) as f:
                    self.port = int(f.read())
                return
            if self.proc.poll() is not None or time.monotonic() > end:
                self.stop()
                raise RuntimeError('%s %s: no port (exit status %s)'
                                   % (script, portfile, self.proc.returncode))
            time.sleep(0.05)

    def stop(self, timeout=10):
        """Close its standard input and wait; killed if it lingers."""
        if self.proc.poll() is not None:
            return
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout)
        except (subprocess.TimeoutExpired, OSError):
            self.proc.kill()
            self.proc.wait()
