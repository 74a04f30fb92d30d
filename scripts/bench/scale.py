#!/usr/bin/env python3
"""Helpers for scripts/bench/scale.sh (run inside the namespaces).

  send   cycle over every (S,G) of SOURCES x GROUPS (one socket bound to
         each source address) at RATE packets/s until stopped; print the
         packets sent
  hold   join the groups of one receiver (every STEP-th group from OFFSET,
         1,000 memberships per socket, sockets never read), create READY,
         stay joined until stopped
  watch  follow the kernel's multicast routing notifications and keep a
         status file (JSON): resolved entries, entries forwarding, entries
         whose outgoing interfaces include the LAN whose receiver joined
         the group (group index i goes to lan(i % LANS + 1)), and the first
         time (epoch seconds) the entries and the right ones reached FLOWS
  check  the same counts from one read of /proc/net/ip_mr_cache (to check
         the watcher's at the end)
"""
import argparse
import errno
import json
import os
import signal
import socket
import struct
import sys
import time

IP_MULTICAST_ALL = 49


def group_addr(base, i):
    return struct.unpack("!I", socket.inet_aton(base))[0] + i


def cmd_send(a):
    socks = []
    for src in a.source:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 8)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        s.bind((src, 0))
        socks.append(s)
    base = group_addr(a.base, 0)
    dsts = [(socket.inet_ntoa(struct.pack("!I", base + i)), 5001) for i in range(a.groups)]
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    payload = b"x" * 16
    sent = 0
    t0 = time.monotonic()
    while not stop:
        for k, d in enumerate(dsts):
            for s in socks:
                try:
                    s.sendto(payload, d)
                    sent += 1
                except OSError:
                    pass
            if k % 64 == 0:
                if stop:
                    break
                if a.rate:
                    ahead = sent / a.rate - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)
    print(json.dumps({"sent": sent, "seconds": time.monotonic() - t0}), flush=True)


def cmd_hold(a):
    idx = socket.if_nametoindex(a.iface)
    socks = []
    n = 0
    for i in range(a.offset, a.groups, a.step):
        if n % 1000 == 0:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
            socks.append(s)
        g = struct.pack("!I", group_addr(a.base, i))
        socks[-1].setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                             struct.pack("4s4si", g, b"\0" * 4, idx))
        n += 1
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    if a.ready:
        with open(a.ready, "w") as f:
            f.write("%d\n" % n)
    while not stop:
        time.sleep(0.2)


RTM_NEWROUTE, RTM_DELROUTE = 24, 25
RTNL_FAMILY_IPMR = 128
RTMGRP_IPV4_MROUTE = 0x20
RTNH_F_UNRESOLVED = 0x20
RTA_DST, RTA_SRC, RTA_MULTIPATH = 1, 2, 9
SO_RCVBUFFORCE = 33


class Table:
    """The kernel's (S,G) entries with running counts: resolved entries,
    entries forwarding, and entries forwarding to the LAN whose receiver
    joined the group."""

    def __init__(self, a):
        self.base = group_addr(a.base, 0)
        self.groups = a.groups
        self.lans = [socket.if_nametoindex("lan%d" % k) for k in range(1, a.lans + 1)]
        self.entries = {}
        self.counts = [0, 0, 0]

    def weight(self, key, resolved, oifs):
        if not resolved:
            return (0, 0, 0)
        i = key[1] - self.base
        right = 0 <= i < self.groups and self.lans[i % len(self.lans)] in oifs
        return (1, 1 if oifs else 0, 1 if right else 0)

    def set(self, key, resolved, oifs):
        old = self.entries.get(key, (0, 0, 0))
        new = self.weight(key, resolved, oifs)
        self.entries[key] = new
        self.counts = [c - o + n for c, o, n in zip(self.counts, old, new)]

    def delete(self, key):
        old = self.entries.pop(key, (0, 0, 0))
        self.counts = [c - o for c, o in zip(self.counts, old)]

    def load_proc(self):
        """Read the whole table from /proc (resynchronisation, check)."""
        vifs = {}
        with open("/proc/net/ip_mr_vif") as f:
            next(f)
            for line in f:
                p = line.split()
                vifs[int(p[0])] = socket.if_nametoindex(p[1])
        self.entries = {}
        self.counts = [0, 0, 0]
        with open("/proc/net/ip_mr_cache") as f:
            next(f)
            for line in f:
                p = line.split()
                # Addresses are printed as the raw 32-bit value in host order.
                key = (socket.ntohl(int(p[1], 16)), socket.ntohl(int(p[0], 16)))
                # Unresolved entries (queued upcalls) have no incoming VIF.
                resolved = 0 <= int(p[2]) < 32
                self.set(key, resolved, {vifs.get(int(o.split(":")[0])) for o in p[6:]})


def parse_mroute(msg):
    """(type, (source, group), resolved, {oif ifindex}) of one netlink message
    of the IPv4 multicast routing group, or None."""
    _, typ, _, _, _ = struct.unpack_from("=LHHLL", msg)
    if typ not in (RTM_NEWROUTE, RTM_DELROUTE):
        return None
    family = msg[16]
    flags = struct.unpack_from("=I", msg, 24)[0]
    if family != RTNL_FAMILY_IPMR:
        return None
    src = dst = 0
    oifs = set()
    off = 28
    while off + 4 <= len(msg):
        alen, atype = struct.unpack_from("=HH", msg, off)
        if alen < 4:
            break
        body = msg[off + 4:off + alen]
        if atype == RTA_DST:
            dst = struct.unpack("!I", body[:4])[0]
        elif atype == RTA_SRC:
            src = struct.unpack("!I", body[:4])[0]
        elif atype == RTA_MULTIPATH:
            o = 0
            while o + 8 <= len(body):
                nlen, _, _, ifindex = struct.unpack_from("=HBBi", body, o)
                if nlen < 8:
                    break
                oifs.add(ifindex)
                o += (nlen + 3) & ~3
        off += (alen + 3) & ~3
    return typ, (src, dst), not flags & RTNH_F_UNRESOLVED, oifs


def cmd_watch(a):
    """Follow the kernel's multicast routing notifications (as `ip monitor
    mroute` does; no dump, so no walk of the table and no lock the daemon
    waits for) and keep STATUS up to date: counts, and the time the
    notification with which the resolved entries and the entries
    forwarding right reached FLOWS was read. Reading is cheap (a few
    microseconds a notification, the status written at most 5 times a
    second), so the reader keeps up at the bench's priority without taking
    the CPU the daemons need. The socket's buffer is forced to 256 MiB:
    `ip monitor`'s (net.core.rmem_max) overran at 100,000 entries."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 256 << 20)
    s.bind((0, RTMGRP_IPV4_MROUTE))
    s.settimeout(0.1)
    table = Table(a)
    table.load_proc()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    status = {"entries_at": None, "right_at": None, "overruns": 0}
    written = None
    last_write = 0.0
    if a.ready:
        with open(a.ready, "w") as f:
            f.write("ready\n")

    def apply(data):
        off = 0
        while off + 16 <= len(data):
            nlen = struct.unpack_from("=L", data, off)[0]
            if nlen < 16:
                break
            m = parse_mroute(data[off:off + nlen])
            if m:
                typ, key, resolved, oifs = m
                if typ == RTM_NEWROUTE:
                    table.set(key, resolved, oifs)
                else:
                    table.delete(key)
            off += (nlen + 3) & ~3

    while not stop:
        try:
            apply(s.recv(1 << 16))
            # Then what else is queued, without waiting (at most 1,000
            # messages: a steady stream must not keep the counts unread).
            for _ in range(1000):
                apply(s.recv(1 << 16, socket.MSG_DONTWAIT))
        except (socket.timeout, BlockingIOError):
            pass
        except OSError as e:
            if e.errno != errno.ENOBUFS:
                raise
            # Notifications were lost: read the whole table again.
            status["overruns"] += 1
            table.load_proc()
        now = time.time()
        entries, forwarding, right = table.counts
        reached = False
        if status["entries_at"] is None and entries >= a.flows:
            status["entries_at"] = now
            reached = True
        if status["right_at"] is None and right >= a.flows:
            status["right_at"] = now
            reached = True
        cur = dict(status, entries=entries, forwarding=forwarding, right=right)
        if cur != written and (reached or now - last_write >= 0.2):
            with open(a.status + ".tmp", "w") as f:
                json.dump(cur, f)
            os.rename(a.status + ".tmp", a.status)
            written = cur
            last_write = now


def cmd_check(a):
    """The counts from one read of /proc (to check the watcher's)."""
    table = Table(a)
    table.load_proc()
    entries, forwarding, right = table.counts
    print(json.dumps({"entries": entries, "forwarding": forwarding, "right": right}), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument("--source", action="append", required=True)
    s.add_argument("--base", required=True)
    s.add_argument("--groups", type=int, required=True)
    s.add_argument("--rate", type=float, default=0, help="packets/s over all flows; 0 = as fast as possible")
    h = sub.add_parser("hold")
    h.add_argument("--iface", required=True)
    h.add_argument("--base", required=True)
    h.add_argument("--groups", type=int, required=True)
    h.add_argument("--offset", type=int, required=True)
    h.add_argument("--step", type=int, required=True)
    h.add_argument("--ready")
    for name in ("check", "watch"):
        c = sub.add_parser(name)
        c.add_argument("--base", required=True)
        c.add_argument("--groups", type=int, required=True)
        c.add_argument("--lans", type=int, required=True)
        if name == "watch":
            c.add_argument("--flows", type=int, required=True)
            c.add_argument("--status", required=True)
            c.add_argument("--ready")
    a = p.parse_args()
    {"send": cmd_send, "hold": cmd_hold, "check": cmd_check, "watch": cmd_watch}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
