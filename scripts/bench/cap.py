#!/usr/bin/env python3
"""Packet capture helpers for scripts/bench (AF_PACKET, inside a namespace).

  join    capture on a receiver's interface with kernel timestamps, join
          GROUP, and print the time the first report for it went out, the
          time the first datagram of it arrived and that datagram's send
          time (mcast.py send stamps it), and the first datagram sent after
          the report (packets the kernel held while the route was unresolved
          arrive first)
  leave   capture on a receiver's interface: the first leave for GROUP sent
          (IGMPv2 leave, or an IGMPv3 record TO_IN/BLOCK for it) and the
          last UDP datagram to GROUP received; print both times as JSON,
          QUIET seconds after the leave
  burst   join N groups at once (one socket per 1,000 groups; with --pace K,
          K groups every 100 ms) and capture on the same interface: the
          first report sent and the first UDP datagram received for every
          group; print the times as JSON, then stay joined HOLD seconds
          (create DONE first)
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
SOL_PACKET = 263
PACKET_STATISTICS = 6
IP_MULTICAST_ALL = 49


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


SO_TIMESTAMPNS = 35


def kernel_capture(iface):
    cap = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    cap.bind((iface, ETH_P_ALL))
    cap.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    cap.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    return cap


def recv_ts(cap):
    """One packet, its sockaddr_ll and its kernel timestamp (or now)."""
    data, anc, _flags, addr = cap.recvmsg(65535, 64)
    t = time.time()
    for level, typ, d in anc:
        if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS and len(d) >= 16:
            sec, nsec = struct.unpack("qq", d[:16])
            t = sec + nsec * 1e-9
    return data, addr, t


def report_names(igmp, want):
    typ = igmp[0]
    if typ in (0x12, 0x16):
        return igmp[4:8] == want
    if typ != 0x22 or len(igmp) < 8:
        return False
    n = struct.unpack("!H", igmp[6:8])[0]
    off = 8
    for _ in range(n):
        if off + 8 > len(igmp):
            return False
        aux, nsrc = igmp[off + 1], struct.unpack("!H", igmp[off + 2:off + 4])[0]
        if igmp[off + 4:off + 8] == want:
            return True
        off += 8 + 4 * nsrc + 4 * aux
    return False


def cmd_join(a):
    cap = kernel_capture(a.iface)
    want = socket.inet_aton(a.group)
    idx = socket.if_nametoindex(a.iface)
    j = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    j.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
    j.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, struct.pack("4s4si", want, b"\0" * 4, idx))
    t_user = time.time()
    deadline = t_user + a.timeout
    t_report = t_first = sent_first = t_fresh = sent_fresh = None
    while t_fresh is None:
        left = deadline - time.time()
        if left <= 0:
            break
        cap.settimeout(left)
        try:
            pkt, addr, t = recv_ts(cap)
        except socket.timeout:
            break
        if addr[1] != ETH_P_IP or len(pkt) < 20:
            continue
        ihl = (pkt[0] & 0x0F) * 4
        proto, dst = pkt[9], pkt[16:20]
        if proto == 2 and addr[2] == PACKET_OUTGOING and t_report is None:
            if report_names(pkt[ihl:], want):
                t_report = t
        elif proto == 17 and dst == want and addr[2] != PACKET_OUTGOING and len(pkt) >= ihl + 8 + 16:
            sent = struct.unpack("!d", pkt[ihl + 16:ihl + 24])[0]
            if t_first is None:
                t_first, sent_first = t, sent
            if t_report is not None and sent >= t_report:
                t_fresh, sent_fresh = t, sent
    j.close()
    print(json.dumps({"t_user_join": t_user, "t_report": t_report, "t_first": t_first, "sent_first": sent_first,
                      "t_fresh": t_fresh, "sent_fresh": sent_fresh}))


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


def group_list(base, n):
    b = struct.unpack("!I", socket.inet_aton(base))[0]
    return [socket.inet_ntoa(struct.pack("!I", b + i)) for i in range(n)]


def cmd_burst(a):
    cap = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    cap.bind((a.iface, ETH_P_ALL))
    cap.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    groups = group_list(a.base, a.n)
    want = {socket.inet_aton(g) for g in groups}
    idx = socket.if_nametoindex(a.iface)
    first = {}
    reports = 0
    t_report = None
    # Drain what was captured before the joins.
    cap.setblocking(False)
    try:
        while True:
            cap.recv(65535)
    except BlockingIOError:
        pass
    cap.setblocking(True)
    t_join = time.time()
    socks = []
    for i, g in enumerate(groups):
        if a.pace and i and i % a.pace == 0:
            time.sleep(0.1)
        if i % 1000 == 0:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
            socks.append(s)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                     struct.pack("4s4si", socket.inet_aton(g), b"\0" * 4, idx))
    t_joined = time.time()
    deadline = t_join + a.timeout
    while len(first) < len(want):
        left = deadline - time.time()
        if left <= 0:
            break
        cap.settimeout(left)
        try:
            pkt, addr = cap.recvfrom(65535)
        except socket.timeout:
            break
        t = time.time()
        if addr[1] != ETH_P_IP or len(pkt) < 20:
            continue
        proto, dst = pkt[9], pkt[16:20]
        if proto == 17 and addr[2] != PACKET_OUTGOING:
            if dst in want and dst not in first:
                first[dst] = t
        elif proto == 2 and addr[2] == PACKET_OUTGOING:
            ihl = (pkt[0] & 0x0F) * 4
            if pkt[ihl] in (0x16, 0x22):
                reports += 1
                if t_report is None:
                    t_report = t
    st = cap.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
    _, cap_drops = struct.unpack("II", st)
    print(json.dumps({
        "n": len(want), "got": len(first), "t_join": t_join, "t_joined": t_joined,
        "t_first_report": t_report, "t_all": max(first.values()) if first else None,
        "reports_sent": reports, "capture_drops": cap_drops,
        "within_1s": sum(1 for t in first.values() if t_report and t - t_report <= 1.0),
    }), flush=True)
    if a.done:
        open(a.done, "w").write("done\n")
    # Keep the memberships (closing the sockets leaves every group).
    time.sleep(a.hold)
    for s in socks:
        s.close()


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
    jn = sub.add_parser("join")
    jn.add_argument("--iface", required=True)
    jn.add_argument("--group", required=True)
    jn.add_argument("--timeout", type=float, default=5.0)
    lv = sub.add_parser("leave")
    lv.add_argument("--iface", required=True)
    lv.add_argument("--group", required=True)
    lv.add_argument("--quiet", type=float, default=4.0)
    lv.add_argument("--timeout", type=float, default=30.0)
    lv.add_argument("--ready")
    u = sub.add_parser("burst")
    u.add_argument("--iface", required=True)
    u.add_argument("--n", type=int, required=True)
    u.add_argument("--base", required=True)
    u.add_argument("--timeout", type=float, default=30.0)
    u.add_argument("--hold", type=float, default=0.0, help="seconds to stay joined after the result")
    u.add_argument("--done", help="file to create once the result is printed")
    u.add_argument("--pace", type=int, default=0, help="join this many groups every 100 ms (0 = all at once)")
    b = sub.add_parser("blast")
    b.add_argument("--iface", required=True)
    b.add_argument("--count", type=int, default=50000)
    b.add_argument("--groups", type=int, default=1000)
    b.add_argument("--base", default="239.100.0.0")
    b.add_argument("--rate", type=float, default=0, help="reports/s; 0 = as fast as possible")
    a = p.parse_args()
    {"join": cmd_join, "leave": cmd_leave, "burst": cmd_burst, "blast": cmd_blast}[a.cmd](a)


if __name__ == "__main__":
    main()
