#!/usr/bin/env python3
"""Multicast test host tool for mgmd's namespace tests and demo.

Runs inside a network namespace as a real kernel host:
  recv   join a group (ASM or source-specific) with real sockets, count
         sequence-numbered datagrams (missing ones and duplicates), print a
         JSON summary on exit
  send   send sequence-numbered datagrams to a group at a fixed rate
  join   hold a membership (no counting) until killed
  igmp   send a raw IGMP message (hex payload), for malformed-packet tests;
         with --src the whole IP packet is built here (any source, even
         0.0.0.0) and sent through a packet socket; --bind sends from one
         of the host's own addresses (e.g. a secondary one); --ttl applies
         to unicast destinations too
  capture  capture on an interface (AF_PACKET) until killed or --duration:
         print a JSON summary of UDP packets per source>destination and
         every IGMP message seen (time, direction, type, group, sources,
         IP TTL, TOS and whether it carried Router Alert)
  wait-report  capture IGMP reports on an interface (AF_PACKET) and print
         the capture time of the first report for a group (latency tests)
  igmp-capture  capture every IGMP message on an interface (AF_PACKET) for
         N seconds (or until SIGTERM) and print them as JSON, one record per
         group: v2 reports/leaves and v3 records with their type and sources
"""
import argparse
import json
import signal
import socket
import struct
import sys
import time

IP_ADD_SOURCE_MEMBERSHIP = 39
IP_MULTICAST_ALL = 49
SO_RCVBUFFORCE = 33


def big_rcvbuf(s, size):
    """A receive buffer of SIZE bytes whatever net.core.rmem_max says (root
    may force it), so that a receiver stalled for a while (a loaded host, a
    one-CPU kernel) loses nothing that mgmd forwarded."""
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except PermissionError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def ifindex(name):
    return socket.if_nametoindex(name)


def mreqn(group, ifname):
    return struct.pack("4s4si", socket.inet_aton(group), socket.inet_aton("0.0.0.0"), ifindex(ifname))


def join_socket(group, ifname, port, source=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
    big_rcvbuf(s, 4 << 20)
    s.bind((group, port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    if source:
        # struct ip_mreq_source { imr_multiaddr; imr_interface; imr_sourceaddr }
        addr = iface_addr(ifname)
        req = socket.inet_aton(group) + socket.inet_aton(addr) + socket.inet_aton(source)
        s.setsockopt(socket.IPPROTO_IP, IP_ADD_SOURCE_MEMBERSHIP, req)
    else:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn(group, ifname))
    return s


def iface_addr(ifname):
    import fcntl
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    SIOCGIFADDR = 0x8915
    r = fcntl.ioctl(s.fileno(), SIOCGIFADDR, struct.pack("256s", ifname.encode()[:15]))
    return socket.inet_ntoa(r[20:24])


class Stop(Exception):
    pass


def on_signal(*_):
    raise Stop()


def cmd_recv(a):
    groups = a.group
    socks = [join_socket(g, a.iface, a.port, a.source) for g in groups]
    for s in socks:
        s.setblocking(False)
    import selectors
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    per_group = {g: {"count": 0, "seqs": set(), "first_t": None, "last_t": None, "times": []} for g in groups}
    deadline = time.monotonic() + a.timeout if a.timeout else None
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if a.ready:
        open(a.ready, "w").write("ready\n")
    try:
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            for key, _ in sel.select(timeout=min(left, 0.2) if left is not None else 0.2):
                s = key.fileobj
                while True:
                    try:
                        data, _src = s.recvfrom(65535)
                    except BlockingIOError:
                        break
                    g = s.getsockname()[0]
                    st = per_group[g]
                    st["count"] += 1
                    now = time.time()
                    if st["first_t"] is None:
                        st["first_t"] = now
                    st["last_t"] = now
                    if len(data) >= 8:
                        st["seqs"].add(struct.unpack("!Q", data[:8])[0])
                    if a.times:
                        st["times"].append(now)
            if a.until_all and all(per_group[g]["count"] > 0 for g in groups):
                break
    except Stop:
        pass
    out = {}
    for g, st in per_group.items():
        seqs = sorted(st["seqs"])
        gaps = 0
        missing = 0
        gap_at = []
        for x, y in zip(seqs, seqs[1:]):
            if y - x > 1:
                gaps += 1
                missing += y - x - 1
                if len(gap_at) < 100:
                    gap_at.append([x + 1, y - 1])
        out[g] = {
            "count": st["count"],
            # Datagrams whose sequence number had already come (a second
            # router forwarding the same stream onto the link).
            "duplicates": st["count"] - len(seqs),
            "first_seq": seqs[0] if seqs else None,
            "last_seq": seqs[-1] if seqs else None,
            "missing": missing,
            "gaps": gaps,
            "gap_at": gap_at,
            "first_t": st["first_t"],
            "last_t": st["last_t"],
        }
        if a.times:
            # Arrival times (wall clock, seconds), to measure gaps in time.
            out[g]["times"] = st["times"]
    print(json.dumps(out))
    sys.stdout.flush()


def cmd_join(a):
    socks = [join_socket(g, a.iface, a.port, a.source) for g in a.group]
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if a.ready:
        open(a.ready, "w").write("ready\n")
    try:
        while True:
            time.sleep(3600)
    except Stop:
        pass
    for s in socks:
        s.close()


def cmd_send(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, a.ttl)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn("0.0.0.0", a.iface))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
    src = a.source or a.bind
    if src:
        # Send from this (secondary) address, e.g. a source outside legal-sources.
        s.bind((src, 0))
    # A stop request is noted and honoured between packets: raised in the
    # middle, it could land after a packet left and before it was counted.
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    interval = a.interval_ms / 1000.0
    start_t = time.time()
    start = time.monotonic()
    seq = 0
    sent = 0
    n = len(a.group)
    while not stopping and (a.count == 0 or seq < a.count):
        g = a.group[seq % n]
        # --per-group-seq: every group carries its own 0, 1, 2, ... so a
        # receiver of some of the groups sees no gaps.
        num = seq // n if a.per_group_seq else seq
        payload = struct.pack("!Qd", num, time.time()) + b"m" * max(0, a.size - 16)
        s.sendto(payload, (g, a.port))
        sent += 1
        seq += 1
        nxt = start + seq * interval
        d = nxt - time.monotonic()
        if d > 0:
            time.sleep(d)
    print(json.dumps({"sent": sent, "start_t": start_t}))


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return (~s) & 0xFFFF


def cmd_igmp(a):
    send_igmp(a, a.bind, a.dst, a.hex)
    # --then: more messages right after, from this process (no start-up
    # time between them, which a slow kernel would stretch to a second).
    for then in a.then or []:
        bind, dst, hexmsg = then.split(",", 2)
        time.sleep(a.then_after)
        send_igmp(a, bind or None, dst, hexmsg)


def send_igmp(a, bind, dst, hexmsg):
    payload = bytearray(bytes.fromhex(hexmsg))
    if a.fix_checksum and len(payload) >= 4:
        payload[2:4] = b"\0\0"
        payload[2:4] = struct.pack("!H", checksum(bytes(payload)))
    if a.src:
        return send_ip_packet(a, bytes(payload), dst)
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, a.ttl)
    # A unicast destination uses IP_TTL (the kernel default would be 64).
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, a.ttl)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn("0.0.0.0", a.iface))
    if bind:
        s.bind((bind, 0))
    if a.router_alert:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, b"\x94\x04\x00\x00")
    s.sendto(bytes(payload), (dst, 0))


def send_ip_packet(a, payload, dst):
    """Build the IPv4 header ourselves (source, TTL, Router Alert as asked)
    and send the packet through a packet socket, so that the kernel's IP
    layer cannot rewrite it (a raw socket's source 0.0.0.0 would be replaced
    by the interface's address)."""
    ETH_P_IP = 0x0800
    opts = b"\x94\x04\x00\x00" if a.router_alert else b""
    ihl = (20 + len(opts)) // 4
    dst = socket.inet_aton(dst)
    hdr = bytearray(
        struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0xC0, ihl * 4 + len(payload), 0, 0, a.ttl, 2, 0,
                    socket.inet_aton(a.src), dst) + opts)
    hdr[10:12] = struct.pack("!H", checksum(bytes(hdr)))
    if dst[0] >= 224 and dst[0] <= 239:
        mac = bytes([0x01, 0x00, 0x5E, dst[1] & 0x7F, dst[2], dst[3]])
    else:
        mac = b"\xff" * 6
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    s.sendto(bytes(hdr) + payload, (a.iface, ETH_P_IP, 0, 0, mac))


def has_router_alert(opts):
    """Whether IP options contain Router Alert (type 0x94, RFC 2113)."""
    while opts:
        kind = opts[0]
        if kind == 0:
            return False
        if kind == 1:
            opts = opts[1:]
            continue
        if kind == 0x94:
            return True
        if len(opts) < 2 or opts[1] < 2:
            return False
        opts = opts[opts[1]:]
    return False


def parse_igmp(igmp):
    """Decode an IGMP message into a dict (type, group, max_resp, sources)."""
    d = {"type": igmp[0] if igmp else None, "len": len(igmp)}
    if len(igmp) >= 8:
        d["max_resp"] = igmp[1]
        d["group"] = socket.inet_ntoa(igmp[4:8])
    if len(igmp) >= 12 and igmp[0] == 0x11:
        n = struct.unpack("!H", igmp[10:12])[0]
        d["version"] = 3
        d["qrv"] = igmp[8] & 7
        d["qqic"] = igmp[9]
        d["sources"] = [socket.inet_ntoa(igmp[12 + 4 * i:16 + 4 * i]) for i in range(n) if 16 + 4 * i <= len(igmp)]
    if igmp and igmp[0] == 0x22 and len(igmp) >= 8:
        d.pop("group", None)
        d.pop("max_resp", None)
        n = struct.unpack("!H", igmp[6:8])[0]
        recs, off = [], 8
        for _ in range(n):
            if off + 8 > len(igmp):
                break
            rtype, aux, ns = igmp[off], igmp[off + 1], struct.unpack("!H", igmp[off + 2:off + 4])[0]
            g = socket.inet_ntoa(igmp[off + 4:off + 8])
            srcs = [socket.inet_ntoa(igmp[off + 8 + 4 * i:off + 12 + 4 * i]) for i in range(ns)
                    if off + 12 + 4 * i <= len(igmp)]
            recs.append({"type": rtype, "group": g, "sources": srcs})
            off += 8 + 4 * ns + 4 * aux
        d["records"] = recs
    return d


def cmd_capture(a):
    """Count UDP packets per source>destination and log IGMP messages."""
    ETH_P_ALL, ETH_P_IP = 0x0003, 0x0800
    PACKET_OUTGOING = 4
    # ETH_P_ALL: a socket bound to one protocol does not see outgoing packets.
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    big_rcvbuf(s, 8 << 20)
    s.bind((a.iface, ETH_P_ALL))
    s.settimeout(0.2)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    udp, igmp = {}, []
    seqs, times = [], []
    deadline = time.monotonic() + a.duration if a.duration else None
    if a.ready:
        open(a.ready, "w").write("ready\n")
    try:
        while deadline is None or time.monotonic() < deadline:
            try:
                pkt, addr = s.recvfrom(65535)
            except socket.timeout:
                continue
            if addr[1] != ETH_P_IP or len(pkt) < 20:
                continue
            ihl = (pkt[0] & 0x0F) * 4
            src, dst = socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20])
            if pkt[9] == 17:
                k = src + ">" + dst
                udp[k] = udp.get(k, 0) + 1
                if a.udp_group and dst == a.udp_group and len(pkt) >= ihl + 16:
                    seqs.append(struct.unpack("!Q", pkt[ihl + 8:ihl + 16])[0])
                    times.append(time.time())
            elif pkt[9] == 2:
                d = parse_igmp(pkt[ihl:])
                d.update({"t": time.time(), "src": src, "dst": dst, "ttl": pkt[8],
                          "tos": pkt[1], "ra": has_router_alert(pkt[20:ihl]),
                          "out": addr[2] == PACKET_OUTGOING})
                igmp.append(d)
    except Stop:
        pass
    out = {"udp": udp, "igmp": igmp}
    if a.udp_group:
        # The stream to one group as it passed the link: sequence numbers
        # and arrival times (wall clock), whether or not a socket joined.
        s_sorted = sorted(set(seqs))
        out["stream"] = {
            "count": len(seqs),
            "duplicates": len(seqs) - len(s_sorted),
            "missing": sum(y - x - 1 for x, y in zip(s_sorted, s_sorted[1:]) if y - x > 1),
            "first_seq": s_sorted[0] if s_sorted else None,
            "last_seq": s_sorted[-1] if s_sorted else None,
            "times": times,
        }
    print(json.dumps(out))
    sys.stdout.flush()


def cmd_wait_report(a):
    """Print the wall-clock time of the first IGMP report naming the group."""
    ETH_P_IP = 0x0800
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    s.bind((a.iface, ETH_P_IP))
    s.settimeout(a.timeout)
    want = socket.inet_aton(a.group)
    if a.ready:
        open(a.ready, "w").write("ready\n")
    while True:
        try:
            pkt = s.recv(65535)
        except socket.timeout:
            print(json.dumps({"t": None}))
            return
        t = time.time()
        if len(pkt) < 20 or pkt[9] != 2:
            continue
        ihl = (pkt[0] & 0x0F) * 4
        igmp = pkt[ihl:]
        if not igmp:
            continue
        typ = igmp[0]
        if typ in (0x12, 0x16) and igmp[4:8] == want:
            print(json.dumps({"t": t, "type": typ}))
            return
        if typ == 0x22 and want in igmp[8:]:
            print(json.dumps({"t": t, "type": typ}))
            return


V3_RECORD_TYPES = {
    1: "IS_IN", 2: "IS_EX", 3: "TO_IN", 4: "TO_EX", 5: "ALLOW", 6: "BLOCK",
}


def igmp_records(igmp):
    """The records of one IGMP message: (kind, group, sources) tuples."""
    typ = igmp[0]
    if typ == 0x11:
        return [("query", socket.inet_ntoa(igmp[4:8]), [])]
    if typ in (0x12, 0x16):
        return [("v%d_report" % (1 if typ == 0x12 else 2), socket.inet_ntoa(igmp[4:8]), [])]
    if typ == 0x17:
        return [("v2_leave", socket.inet_ntoa(igmp[4:8]), [])]
    if typ != 0x22 or len(igmp) < 8:
        return [("type_0x%02x" % typ, None, [])]
    out = []
    (nrec,) = struct.unpack("!H", igmp[6:8])
    off = 8
    for _ in range(nrec):
        if off + 8 > len(igmp):
            break
        rtype, aux, nsrc = struct.unpack("!BBH", igmp[off:off + 4])
        group = socket.inet_ntoa(igmp[off + 4:off + 8])
        srcs = [socket.inet_ntoa(igmp[off + 8 + 4 * i:off + 12 + 4 * i]) for i in range(nsrc)]
        out.append((V3_RECORD_TYPES.get(rtype, "rec_%d" % rtype), group, srcs))
        off += 8 + 4 * nsrc + 4 * aux
    return out


def cmd_igmp_capture(a):
    """Print every IGMP message seen on the interface, one line per record."""
    ETH_P_IP = 0x0800
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    s.bind((a.iface, ETH_P_IP))
    s.settimeout(0.2)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    deadline = time.monotonic() + a.seconds if a.seconds else None
    if a.ready:
        open(a.ready, "w").write("ready\n")
    records = []
    try:
        while deadline is None or time.monotonic() < deadline:
            try:
                pkt, addr = s.recvfrom(65535)
            except socket.timeout:
                continue
            if len(pkt) < 20 or pkt[9] != 2:
                continue
            ihl = (pkt[0] & 0x0F) * 4
            igmp = pkt[ihl:]
            if not igmp:
                continue
            src = socket.inet_ntoa(pkt[12:16])
            direction = "out" if addr[2] == socket.PACKET_OUTGOING else "in"
            t = time.time()
            for kind, group, srcs in igmp_records(igmp):
                rec = {"t": t, "src": src, "dir": direction, "kind": kind,
                       "group": group, "sources": srcs}
                if a.lines:
                    # One JSON line per record as it is seen, for polling.
                    print(json.dumps(rec))
                    sys.stdout.flush()
                else:
                    records.append(rec)
    except Stop:
        pass
    if not a.lines:
        print(json.dumps(records))
    sys.stdout.flush()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("recv")
    r.add_argument("--iface", required=True)
    r.add_argument("--group", required=True, action="append")
    r.add_argument("--source")
    r.add_argument("--port", type=int, default=5000)
    r.add_argument("--timeout", type=float, default=0)
    r.add_argument("--until-all", action="store_true")
    r.add_argument("--ready")
    r.add_argument("--times", action="store_true", help="list every datagram's arrival time")
    j = sub.add_parser("join")
    j.add_argument("--iface", required=True)
    j.add_argument("--group", required=True, action="append")
    j.add_argument("--source")
    j.add_argument("--port", type=int, default=5000)
    j.add_argument("--ready")
    s = sub.add_parser("send")
    s.add_argument("--iface", required=True)
    s.add_argument("--group", required=True, action="append")
    s.add_argument("--port", type=int, default=5000)
    s.add_argument("--count", type=int, default=0)
    s.add_argument("--interval-ms", type=float, default=1.0)
    s.add_argument("--ttl", type=int, default=16)
    s.add_argument("--size", type=int, default=64)
    s.add_argument("--source", help="send from this local address")
    s.add_argument("--per-group-seq", action="store_true")
    s.add_argument("--bind", help="source address to send from (same as --source)")
    g = sub.add_parser("igmp")
    g.add_argument("--iface", required=True)
    g.add_argument("--dst", required=True)
    g.add_argument("--hex", required=True)
    g.add_argument("--ttl", type=int, default=1)
    g.add_argument("--router-alert", action="store_true")
    g.add_argument("--fix-checksum", action="store_true")
    g.add_argument("--src", help="build the IP header with this source (packet socket)")
    g.add_argument("--bind", help="send from this local address (raw socket)")
    g.add_argument("--then", action="append", metavar="BIND,DST,HEX",
                   help="then send this message too, from this process (repeatable; BIND may be empty)")
    g.add_argument("--then-after", type=float, default=0.0, metavar="SECONDS",
                   help="the pause before each --then message")
    c = sub.add_parser("capture")
    c.add_argument("--iface", required=True)
    c.add_argument("--duration", type=float, default=0)
    c.add_argument("--ready")
    c.add_argument("--udp-group", help="list sequence numbers and times of the UDP stream to this group")
    w = sub.add_parser("wait-report")
    w.add_argument("--iface", required=True)
    w.add_argument("--group", required=True)
    w.add_argument("--timeout", type=float, default=10)
    w.add_argument("--ready")
    c = sub.add_parser("igmp-capture")
    c.add_argument("--iface", required=True)
    c.add_argument("--seconds", type=float, default=0, help="0 = until SIGTERM")
    c.add_argument("--lines", action="store_true",
                   help="print one JSON line per record as it is seen instead of a list at the end")
    c.add_argument("--ready")
    a = p.parse_args()
    {"recv": cmd_recv, "join": cmd_join, "send": cmd_send, "igmp": cmd_igmp, "capture": cmd_capture,
     "wait-report": cmd_wait_report, "igmp-capture": cmd_igmp_capture}[a.cmd](a)


if __name__ == "__main__":
    main()
