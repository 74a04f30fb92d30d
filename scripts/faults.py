#!/usr/bin/env python3
"""Fault injection for mgmd's namespace tests (run inside a namespace, as root).

  mfc-del / mfc-add / vif-del / vif-add
         change the kernel's multicast routing table behind its owner's
         back: any socket with CAP_NET_ADMIN may, without MRT_INIT (ipmr.c
         lets such a socket past its owner check; what it adds is marked
         static). VIFs are named by device and looked up in
         /proc/net/ip_mr_vif (the default table), or given by number.
  flood  a hostile host: COUNT reports for distinct groups (IGMPv2, IGMPv3
         joins, IGMPv3 INCLUDE records of random sources) as fast as it
         can, mixed with malformed packets and reports from random source
         addresses (through a packet socket), then prints what it sent as
         JSON
  ctl-flood  send BYTES bytes without a newline to a Unix socket; print how
         many went in and the reply line, if any
  ctl-stall  send REQUESTS requests (or subscribe to events) and never read;
         print when the daemon closed the connection
  ctl-many  open N connections at once, send a ping on each, then read
         every answer; print how many were answered and how long it took
"""
import argparse
import json
import os
import random
import resource
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcast import checksum  # noqa: E402  (the IGMP checksum, one copy)

MRT_ADD_VIF, MRT_DEL_VIF, MRT_ADD_MFC, MRT_DEL_MFC, MRT_TABLE = 202, 203, 204, 205, 209
VIFF_USE_IFINDEX = 0x8


# ----- the multicast routing table -----

def mrt_socket(table):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
    if table:
        s.setsockopt(socket.IPPROTO_IP, MRT_TABLE, struct.pack("I", table))
    return s


def vif_of(name):
    """The VIF number of a device in the default table, or a number."""
    if name.isdigit():
        return int(name)
    for line in open("/proc/net/ip_mr_vif").read().splitlines()[1:]:
        f = line.split()
        if f[1] == name:
            return int(f[0])
    sys.exit("no VIF on %s in /proc/net/ip_mr_vif" % name)


def vifctl(vif, ifindex):
    # struct vifctl: vifi u16, flags u8, threshold u8, rate_limit u32,
    # ifindex (union with lcl_addr), rmt_addr.
    return struct.pack("HBBIiI", vif, VIFF_USE_IFINDEX, 1, 0, ifindex, 0)


def mfcctl(source, group, parent, oifs):
    ttls = bytearray(32)
    for o in oifs:
        ttls[o] = 1
    # struct mfcctl: origin, mcastgrp, parent u16, ttls[32], 2 bytes of
    # padding, pkt_cnt, byte_cnt, wrong_if, expire.
    return (socket.inet_aton(source) + socket.inet_aton(group) + struct.pack("H", parent)
            + bytes(ttls) + b"\0\0" + struct.pack("IIIi", 0, 0, 0, 0))


def cmd_mfc_del(a):
    mrt_socket(a.table).setsockopt(socket.IPPROTO_IP, MRT_DEL_MFC, mfcctl(a.source, a.group, 0, []))


def cmd_mfc_add(a):
    oifs = [vif_of(o) for o in a.oif]
    mrt_socket(a.table).setsockopt(socket.IPPROTO_IP, MRT_ADD_MFC,
                                   mfcctl(a.source, a.group, vif_of(a.iif), oifs))


def cmd_vif_del(a):
    mrt_socket(a.table).setsockopt(socket.IPPROTO_IP, MRT_DEL_VIF, vifctl(vif_of(a.vif), 0))


def cmd_vif_add(a):
    mrt_socket(a.table).setsockopt(socket.IPPROTO_IP, MRT_ADD_VIF,
                                   vifctl(a.vif, socket.if_nametoindex(a.dev)))


# ----- the hostile host -----

def with_checksum(msg):
    msg = bytearray(msg)
    msg[2:4] = b"\0\0"
    msg[2:4] = struct.pack("!H", checksum(bytes(msg)))
    return bytes(msg)


def v3_report(group, mode=2, sources=()):
    """An IGMPv3 report with one record for group: by default
    EXCLUDE({}) (a join of any source), or mode 1 (INCLUDE) with sources."""
    rec = struct.pack("!BBH4s", mode, 0, len(sources), socket.inet_aton(group))
    rec += b"".join(socket.inet_aton(s) for s in sources)
    return with_checksum(struct.pack("!BBHHH", 0x22, 0, 0, 0, 1) + rec)


def v2_report(group):
    return with_checksum(struct.pack("!BBH4s", 0x16, 0, 0, socket.inet_aton(group)))


def ip_packet(src, dst, payload, ttl=1, router_alert=True):
    opts = b"\x94\x04\x00\x00" if router_alert else b""
    ihl = (20 + len(opts)) // 4
    hdr = bytearray(struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0xC0, ihl * 4 + len(payload), 0, 0,
                                ttl, 2, 0, socket.inet_aton(src), socket.inet_aton(dst)) + opts)
    hdr[10:12] = struct.pack("!H", checksum(bytes(hdr)))
    return bytes(hdr) + payload


def mcast_mac(group):
    """The Ethernet address a multicast group maps to (RFC 1112 6.4)."""
    g = socket.inet_aton(group)
    return bytes([0x01, 0x00, 0x5E, g[1] & 0x7F, g[2], g[3]])


def random_unicast(rng):
    """A unicast address from anywhere (1.0.0.0 to 223.255.255.255) but
    127/8, which the kernel drops on arrival as a martian."""
    while True:
        a = rng.randrange(0x01000000, 0xE0000000)
        if a >> 24 != 127:
            return socket.inet_ntoa(struct.pack("!I", a))


# Malformed IGMP, each kind a different reason for mgmd to drop it (the
# counter it lands in, as `mgmctl show counters` names it).
MALFORMED = {
    "short": "too_short",                      # 2 bytes
    "bad-checksum": "bad_checksum",            # a v3 report, checksum wrong
    "unknown-type": "unknown_type",            # type 0x77
    "bad-length": "bad_length",                # a query of 10 bytes
    "truncated-record": "count_overrun",       # claims 5 records, has one
    "bad-record-type": "unknown_record_type",  # a record of type 9
}


def malformed(kind, rng, group):
    g = socket.inet_aton(group)
    if kind == "short":
        return b"\x22\x00"
    if kind == "bad-checksum":
        good = v3_report(group)
        return good[:2] + bytes([good[2] ^ 0xFF, good[3]]) + good[4:]
    if kind == "unknown-type":
        return with_checksum(bytes([0x77, 0, 0, 0]) + bytes(rng.getrandbits(8) for _ in range(4)))
    if kind == "bad-length":
        return with_checksum(struct.pack("!BBH4sH", 0x11, 100, 0, g, 0))
    if kind == "truncated-record":
        return with_checksum(struct.pack("!BBHHH", 0x22, 0, 0, 0, 5) + struct.pack("!BBH4s", 2, 0, 0, g))
    if kind == "bad-record-type":
        return with_checksum(struct.pack("!BBHHH", 0x22, 0, 0, 0, 1) + struct.pack("!BBH4s", 9, 0, 0, g))
    raise ValueError(kind)


def cmd_flood(a):
    """COUNT reports for distinct groups from the host's own address, in
    turn an IGMPv3 join (EXCLUDE {}), an IGMPv2 report (to the group) and
    an IGMPv3 INCLUDE record of 1 to 4 random sources; every
    --malformed-every reports a malformed packet (the kinds in turn), every
    --random-every a report from a random source address."""
    rng = random.Random(a.seed)
    ETH_P_IP = 0x0800
    pkt = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    pkt.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    all_routers = mcast_mac("224.0.0.22")
    base = struct.unpack("!I", socket.inet_aton(a.base))[0]
    sent = {"v3_join": 0, "v2_report": 0, "v3_include": 0, "random_source": 0,
            "malformed": {k: 0 for k in MALFORMED}}
    kinds = list(MALFORMED)
    start = time.monotonic()

    def send(data, mac=all_routers):
        while True:
            try:
                pkt.sendto(data, (a.iface, ETH_P_IP, 0, 0, mac))
                return
            except BlockingIOError:
                time.sleep(0.0005)
            except OSError as e:
                if e.errno == 105:  # ENOBUFS: the device queue is full
                    time.sleep(0.0005)
                    continue
                raise

    for i in range(a.count):
        group = socket.inet_ntoa(struct.pack("!I", base + i))
        if i % 3 == 0:
            send(ip_packet(a.src, "224.0.0.22", v3_report(group)))
            sent["v3_join"] += 1
        elif i % 3 == 1:
            send(ip_packet(a.src, group, v2_report(group)), mcast_mac(group))
            sent["v2_report"] += 1
        else:
            srcs = [random_unicast(rng) for _ in range(rng.randint(1, 4))]
            send(ip_packet(a.src, "224.0.0.22", v3_report(group, 1, srcs)))
            sent["v3_include"] += 1
        if a.malformed_every and i % a.malformed_every == 0:
            kind = kinds[(i // a.malformed_every) % len(kinds)]
            send(ip_packet(a.src, "224.0.0.22", malformed(kind, rng, group)))
            sent["malformed"][kind] += 1
        if a.random_every and i % a.random_every == 0:
            # A source from nowhere near the link (not on its subnet).
            send(ip_packet(random_unicast(rng), "224.0.0.22", v3_report(group)))
            sent["random_source"] += 1
        if a.rate and i % 100 == 99:
            behind = (i + 1) / a.rate - (time.monotonic() - start)
            if behind > 0:
                time.sleep(behind)
    sent["reports"] = a.count
    sent["seconds"] = round(time.monotonic() - start, 3)
    print(json.dumps(sent))


# ----- the control socket -----

def unix(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def read_line(s, timeout):
    s.settimeout(timeout)
    buf = b""
    try:
        while not buf.endswith(b"\n"):
            d = s.recv(65536)
            if not d:
                break
            buf += d
    except (socket.timeout, ConnectionResetError):
        pass
    return buf.decode(errors="replace").strip()


def cmd_ctl_flood(a):
    s = unix(a.socket)
    chunk = b"x" * (1 << 20)
    sent = 0
    s.settimeout(a.timeout)
    try:
        while sent < a.bytes:
            sent += s.send(chunk[: min(len(chunk), a.bytes - sent)])
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
    print(json.dumps({"sent": sent, "reply": read_line(s, a.timeout)}))


def cmd_ctl_stall(a):
    s = unix(a.socket)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    start = time.monotonic()
    if a.events:
        s.sendall(b'{"version":1,"cmd":"events"}\n')
    else:
        req = ('{"version":1,"cmd":"%s"}\n' % a.request).encode()
        # Until the daemon stops taking them (its replies fill the socket).
        s.settimeout(1)
        try:
            for _ in range(a.requests):
                s.sendall(req)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
    if a.ready:
        open(a.ready, "w").write("ready\n")
    # Never read: wait until the daemon closes its end (a write fails).
    closed = None
    s.settimeout(1)
    while time.monotonic() - start < a.timeout:
        try:
            s.send(b"\n")
        except (BrokenPipeError, ConnectionResetError):
            closed = round(time.monotonic() - start, 3)
            break
        except socket.timeout:
            pass
        time.sleep(0.2)
    print(json.dumps({"closed_after_s": closed}))


def cmd_ctl_many(a):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.count + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    start = time.monotonic()
    socks = []
    for _ in range(a.count):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(a.socket)
        except BlockingIOError:
            pass
        socks.append(s)
    import selectors
    sel = selectors.DefaultSelector()
    pending = {}
    for s in socks:
        sel.register(s, selectors.EVENT_WRITE)
        pending[s] = b""
    answered = 0
    refused = 0
    deadline = start + a.timeout
    while pending and time.monotonic() < deadline:
        for key, ev in sel.select(timeout=0.5):
            s = key.fileobj
            if ev & selectors.EVENT_WRITE:
                try:
                    s.send(b'{"version":1,"cmd":"ping"}\n')
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    refused += 1
                    sel.unregister(s)
                    del pending[s]
                    continue
                sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                d = s.recv(65536)
            except OSError:
                d = b""
            if d:
                pending[s] += d
                if not pending[s].endswith(b"\n"):
                    continue
                if b'"ok":true' in pending[s]:
                    answered += 1
                else:
                    refused += 1
            else:
                refused += 1
            sel.unregister(s)
            del pending[s]
    for s in socks:
        s.close()
    print(json.dumps({"clients": a.count, "answered": answered, "failed": refused,
                      "unanswered": len(pending), "seconds": round(time.monotonic() - start, 3)}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("mfc-del")
    m.add_argument("--source", required=True)
    m.add_argument("--group", required=True)
    m.add_argument("--table", type=int)
    m = sub.add_parser("mfc-add")
    m.add_argument("--source", required=True)
    m.add_argument("--group", required=True)
    m.add_argument("--iif", required=True, help="device or VIF number")
    m.add_argument("--oif", action="append", default=[], help="device or VIF number")
    m.add_argument("--table", type=int)
    v = sub.add_parser("vif-del")
    v.add_argument("--vif", required=True, help="device or VIF number")
    v.add_argument("--table", type=int)
    v = sub.add_parser("vif-add")
    v.add_argument("--vif", type=int, required=True)
    v.add_argument("--dev", required=True)
    v.add_argument("--table", type=int)
    f = sub.add_parser("flood")
    f.add_argument("--iface", required=True)
    f.add_argument("--src", required=True, help="the host's own address")
    f.add_argument("--count", type=int, default=100000)
    f.add_argument("--base", default="232.0.0.0", help="first group")
    f.add_argument("--malformed-every", type=int, default=10)
    f.add_argument("--random-every", type=int, default=10)
    f.add_argument("--rate", type=float, default=0, help="reports per second (0: flat out)")
    f.add_argument("--seed", type=int, default=1)
    c = sub.add_parser("ctl-flood")
    c.add_argument("--socket", required=True)
    c.add_argument("--bytes", type=int, default=100 << 20)
    c.add_argument("--timeout", type=float, default=20)
    c = sub.add_parser("ctl-stall")
    c.add_argument("--socket", required=True)
    c.add_argument("--events", action="store_true")
    c.add_argument("--request", default="show-routes", help="the request sent again and again")
    c.add_argument("--requests", type=int, default=1000)
    c.add_argument("--timeout", type=float, default=30)
    c.add_argument("--ready")
    c = sub.add_parser("ctl-many")
    c.add_argument("--socket", required=True)
    c.add_argument("--count", type=int, default=1000)
    c.add_argument("--timeout", type=float, default=30)
    a = p.parse_args()
    {"mfc-del": cmd_mfc_del, "mfc-add": cmd_mfc_add, "vif-del": cmd_vif_del, "vif-add": cmd_vif_add,
     "flood": cmd_flood, "ctl-flood": cmd_ctl_flood, "ctl-stall": cmd_ctl_stall,
     "ctl-many": cmd_ctl_many}[a.cmd.replace("_", "-")](a)


if __name__ == "__main__":
    main()
