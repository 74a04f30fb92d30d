#!/usr/bin/env python3
"""Ask the running kernel what mgmd's kernel-dependent work needs.

Run as root. Each check runs in a scratch network namespace of this
process's own, so a multicast routing daemon already running on the host is
neither disturbed nor mistaken for a missing feature. Prints one line per
feature: NAME yes|no REASON. Exit status 0 when every feature named on the
command line (default: all) is present, 1 when one is missing, 2 when the
probe itself cannot run (not root, no namespaces).

Features:
  netns           network namespaces (unshare CLONE_NEWNET)
  veth            veth pairs (ip link add ... type veth)
  mroute          IPv4 multicast routing: MRT_INIT on a raw IGMP socket
  mroute-tables   several IPv4 multicast routing tables: MRT_TABLE
  mroute6         IPv6 multicast routing: MRT6_INIT on a raw ICMPv6 socket
  mroute6-tables  several IPv6 multicast routing tables: MRT6_TABLE
"""

import ctypes
import errno
import os
import socket
import struct
import subprocess
import sys

CLONE_NEWNET = 0x40000000
MRT_INIT = 200  # MRT_BASE, <linux/mroute.h>
MRT_TABLE = 209  # MRT_BASE + 9
MRT6_INIT = 200  # MRT6_BASE, <linux/mroute6.h>
MRT6_TABLE = 209

CONFIG = {
    "mroute": "CONFIG_IP_MROUTE",
    "mroute-tables": "CONFIG_IP_MROUTE_MULTIPLE_TABLES",
    "mroute6": "CONFIG_IPV6_MROUTE",
    "mroute6-tables": "CONFIG_IPV6_MROUTE_MULTIPLE_TABLES",
    "veth": "CONFIG_VETH",
    "netns": "CONFIG_NET_NS",
}
ALL = list(CONFIG)


def missing(feature, err):
    why = os.strerror(err.errno) if isinstance(err, OSError) and err.errno else str(err)
    if isinstance(err, OSError) and err.errno in (errno.ENOPROTOOPT, errno.EAFNOSUPPORT):
        return f"{CONFIG[feature]} missing ({why})"
    return f"{why}"


def sockopt(family, proto, level, opts):
    """Open a raw socket and set each (option, value) in turn."""
    s = socket.socket(family, socket.SOCK_RAW, proto)
    try:
        for opt, value in opts:
            s.setsockopt(level, opt, struct.pack("I", value))
    finally:
        s.close()


def check(feature):
    try:
        if feature == "mroute":
            sockopt(socket.AF_INET, socket.IPPROTO_IGMP, socket.IPPROTO_IP, [(MRT_INIT, 1)])
        elif feature == "mroute-tables":
            sockopt(socket.AF_INET, socket.IPPROTO_IGMP, socket.IPPROTO_IP,
                    [(MRT_TABLE, 10), (MRT_INIT, 1)])
        elif feature == "mroute6":
            sockopt(socket.AF_INET6, socket.IPPROTO_ICMPV6, socket.IPPROTO_IPV6, [(MRT6_INIT, 1)])
        elif feature == "mroute6-tables":
            sockopt(socket.AF_INET6, socket.IPPROTO_ICMPV6, socket.IPPROTO_IPV6,
                    [(MRT6_TABLE, 10), (MRT6_INIT, 1)])
        elif feature == "veth":
            out = subprocess.run(
                ["ip", "link", "add", "kprobe0", "type", "veth", "peer", "name", "kprobe1"],
                capture_output=True, text=True)
            if out.returncode != 0:
                return False, f"{CONFIG[feature]} missing? ip link add: {out.stderr.strip()}"
            subprocess.run(["ip", "link", "del", "kprobe0"], capture_output=True)
        return True, ""
    except OSError as e:
        return False, missing(feature, e)


def main():
    wanted = [a for a in sys.argv[1:] if not a.startswith("-")] or ALL
    for w in wanted:
        if w not in CONFIG:
            print(f"unknown feature {w!r}; known: {' '.join(ALL)}", file=sys.stderr)
            return 2
    if os.geteuid() != 0:
        print("kernel-probe: needs root (raw sockets, a scratch namespace)", file=sys.stderr)
        return 2
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        print(f"netns no {CONFIG['netns']} missing? unshare: {os.strerror(err)}")
        return 2
    ok = True
    for w in wanted:
        present, why = (True, "") if w == "netns" else check(w)
        print(f"{w} {'yes' if present else 'no'} {why}".rstrip())
        ok &= present
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
