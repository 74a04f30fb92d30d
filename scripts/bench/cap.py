#!/usr/bin/env python3
"""Packet capture helpers for scripts/bench (AF_PACKET, inside a namespace).

  leave   capture on a receiver's interface: the first leave for GROUP sent
          (IGMPv2 leave, or an IGMPv3 record TO_IN/BLOCK for it) and the
          last UDP datagram to GROUP received; print both times as JSON,
          QUIET seconds after the leave
  blast   send COUNT IGMPv3 reports (one IS_EX({}) record each, cycling
          over GROUPS groups from BASE) as fast as possible; print the count
          and the time taken
"""
import argparse
import json
import socket
import struct
import sys
import time

ETH_P_IP = 0x0800
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def leave_records(igmp, want):
    """True if an IGMP message (from its type byte) is a leave for `want`."""
    typ = igmp[0]
    if typ == 0x17 and igmp[4:8] == want:
        return True
    if typ != 0x22 or len(igmp) < 8:
        return False
    n = struct.unpack("!H", igmp[6:8])[0]
    off = 8
    for _ in range(n):
        if off + 8 > len(igmp):
            return False
        rtype, aux, nsrc = igmp[off], igmp[off + 1], struct.unpack("!H", igmp[off + 2:off + 4])[0]
        grp = igmp[off + 4:off + 8]
        if grp == want and ((rtype == 3 and nsrc == 0) or rtype == 6):
            return True
        off += 8 + 4 * nsrc + 4 * aux
    return False


def cmd_leave(a):
    # Outgoing packets reach only ETH_P_ALL taps, so capture everything and
    # keep IPv4.
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    s.bind((a.iface, ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    want = socket.inet_aton(a.group)
    if a.ready:
        open(a.ready, "w").write("ready\n")
    t_leave = None
    t_last = None
    after = 0
    deadline = time.time() + a.timeout
    while True:
        end = deadline if t_leave is None else min(deadline, t_leave + a.quiet)
        left = end - time.time()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            pkt, addr = s.recvfrom(65535)
        except socket.timeout:
            break
        t = time.time()
        if addr[1] != ETH_P_IP or len(pkt) < 20:
            continue
        ihl = (pkt[0] & 0x0F) * 4
        proto, dst = pkt[9], pkt[16:20]
        if proto == 17 and dst == want and addr[2] != PACKET_OUTGOING:
            t_last = t
            if t_leave is not None:
                after += 1
        elif proto == 2 and t_leave is None and addr[2] == PACKET_OUTGOING:
            if leave_records(pkt[ihl:], want):
                t_leave = t
                after = 0
    print(json.dumps({"t_leave": t_leave, "t_last": t_last, "after_leave": after}))


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return (~s) & 0xFFFF


def cmd_blast(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    idx = socket.if_nametoindex(a.iface)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                 struct.pack("4s4si", b"\0" * 4, b"\0" * 4, idx))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, b"\x94\x04\x00\x00")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    base = struct.unpack("!I", socket.inet_aton(a.base))[0]
    msgs = []
    for i in range(a.groups):
        rec = struct.pack("!BBH4s", 2, 0, 0, struct.pack("!I", base + i))
        body = struct.pack("!BBHHH", 0x22, 0, 0, 0, 1) + rec
        body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
        msgs.append(body)
    dst = ("224.0.0.22", 0)
    gap = 1.0 / a.rate if a.rate else 0.0
    t0 = time.time()
    sent = 0
    for i in range(a.count):
        while True:
            try:
                s.sendto(msgs[i % a.groups], dst)
                break
            except BlockingIOError:
                time.sleep(0.0001)
        sent += 1
        if gap:
            d = t0 + sent * gap - time.time()
            if d > 0:
                time.sleep(d)
    t1 = time.time()
    print(json.dumps({"sent": sent, "t_start": t0, "t_end": t1}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    lv = sub.add_parser("leave")
    lv.add_argument("--iface", required=True)
    lv.add_argument("--group", required=True)
    lv.add_argument("--quiet", type=float, default=4.0)
    lv.add_argument("--timeout", type=float, default=30.0)
    lv.add_argument("--ready")
    b = sub.add_parser("blast")
    b.add_argument("--iface", required=True)
    b.add_argument("--count", type=int, default=50000)
    b.add_argument("--groups", type=int, default=1000)
    b.add_argument("--base", default="239.100.0.0")
    b.add_argument("--rate", type=float, default=0, help="reports/s; 0 = as fast as possible")
    a = p.parse_args()
    {"leave": cmd_leave, "blast": cmd_blast}[a.cmd](a)


if __name__ == "__main__":
    main()
