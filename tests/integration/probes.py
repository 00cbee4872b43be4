# SPDX-License-Identifier: ISC
"""What the kernel says about the processes and sockets of a test, read
from /proc and sock_diag, found by pid (never by name: other tests run
beside ours).  Python stdlib only.
"""

import os
import socket
import struct


def children_of(pid):
    """Pids whose parent is pid (from /proc)."""
    out = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(')') + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


def descendants(pid):
    """Every process below pid (children, theirs, ...)."""
    out, todo = [], children_of(pid)
    while todo:
        c = todo.pop()
        out.append(c)
        todo.extend(children_of(c))
    return out


def zombies_of(pid):
    """Zombies anywhere below pid (the app's, or the helper parent's)."""
    z = []
    for c in descendants(pid):
        try:
            with open('/proc/%d/stat' % c) as f:
                stat = f.read()
            if stat[stat.rindex(')') + 2] == 'Z':
                z.append(c)
        except OSError:
            pass
    return z


def all_dead(pids):
    """Are these processes (ours, found by pid) all gone?  A zombie
    counts as gone: its parent (init, for an orphan) reaps it."""
    for p in pids:
        try:
            with open('/proc/%d/stat' % p) as f:
                if f.read().rsplit(') ', 1)[1][0] != 'Z':
                    return False
        except OSError:
            pass
    return True


def rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def nfds(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


def tcp_conns(pid, port):
    """The TCP connections process pid holds to port on loopback (its
    descriptors' sockets, found in /proc/net/tcp and tcp6)."""
    inodes = set()
    for fd in os.listdir('/proc/%d/fd' % pid):
        try:
            t = os.readlink('/proc/%d/fd/%s' % (pid, fd))
        except OSError:
            continue
        if t.startswith('socket:['):
            inodes.add(t[8:-1])
    n = 0
    for name in ('tcp', 'tcp6'):
        with open('/proc/net/' + name) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[9] in inodes and \
                        int(cols[2].rsplit(':', 1)[1], 16) == port:
                    n += 1
    return n


def nthreads(pid):
    return len(os.listdir('/proc/%d/task' % pid))


def unix_backlogs(path):
    """The backlogs of the listening unix sockets bound at path, as the
    kernel's sock_diag netlink answers them (ss's Send-Q), so that no
    tool is needed: [] when none listens there."""
    sock_diag, by_family = 4, 20
    show_name, show_rqlen = 0x01, 0x10
    attr_name, attr_rqlen = 0, 4
    req = struct.pack('=BBHIII2I', socket.AF_UNIX, 0, 0, 1 << 10, 0,
                      show_name | show_rqlen, 0xffffffff, 0xffffffff)
    hdr = struct.pack('=IHHII', 16 + len(req), by_family, 0x301, 1, 0)
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, sock_diag)
    s.settimeout(10)
    found = []
    try:
        s.sendall(hdr + req)
        while True:
            data = s.recv(65536)
            off = 0
            while off + 16 <= len(data):
                ln, typ = struct.unpack_from('=IH', data, off)
                if typ in (2, 3):       # NLMSG_ERROR, NLMSG_DONE
                    return found
                a, name, rq = off + 32, None, None
                while a + 4 <= off + ln:
                    alen, atyp = struct.unpack_from('=HH', data, a)
                    if atyp == attr_name:
                        name = data[a + 4:a + alen].rstrip(b'\0').decode(
                            errors='replace')
                    elif atyp == attr_rqlen:
                        rq = struct.unpack_from('=II', data, a + 4)
                    a += (alen + 3) & ~3
                if name == path and rq is not None:
                    found.append(rq[1])
                off += (ln + 3) & ~3
    finally:
        s.close()
