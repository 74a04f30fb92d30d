#!/usr/bin/env python3
"""Turn real traffic into fuzz seeds (run by fuzz/seeds/capture.sh, as root
inside the namespaces it builds).

  netlink OUTDIR        in a fresh namespace: subscribe to link, address and
                        route notifications on an rtnetlink socket, change
                        links, addresses and routes with `ip`, and write
                        every datagram received; then the replies to link,
                        address and route dumps and to a route lookup
  igmp OUTDIR PCAP...   the IGMP messages of tcpdump captures: each distinct
                        payload for igmp_packet, and each capture as one
                        igmp_router sequence (format in fuzz/README.md)
  mld OUTDIR            in a fresh namespace: a Linux bridge querying with
                        MLDv1, then MLDv2, and a host on it joining and
                        leaving groups; each distinct MLD payload seen on
                        the host's link
  ctl SOCKET OUTDIR     talk to a running mgmd: the request lines mgmctl
                        sends (and a few it would not), the reply lines and
                        event records the daemon writes back

Every seed is named after its kind and the first bytes of its SHA-256, so
that a second capture adds only what is new.
"""
import errno
import hashlib
import ipaddress
import json
import os
import socket
import struct
import subprocess
import sys
import time


def write_seed(outdir, kind, data):
    """Write `data` unless a seed with the same contents exists."""
    os.makedirs(outdir, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()[:12]
    if any(f.endswith("-" + digest) for f in os.listdir(outdir)):
        return 0
    with open(os.path.join(outdir, "%s-%s" % (kind, digest)), "wb") as f:
        f.write(data)
    return 1


# ===== netlink =====

NETLINK_ROUTE = 0
RTMGRP_LINK, RTMGRP_IPV4_IFADDR, RTMGRP_IPV4_ROUTE, RTMGRP_IPV6_IFADDR = 0x1, 0x10, 0x40, 0x100
RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE = 18, 22, 26
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_DONE, NLMSG_ERROR = 3, 2
RTA_DST = 1
# The netlink target's longest input (scripts/fuzz.sh).
SESSION_MAX = 16384

# Each step is a list of `ip` commands run together; the datagrams that
# follow are named after the step.
NETLINK_STEPS = [
    ("link-add", ["ip link add st0 type veth peer name st0p"]),
    ("link-up", ["ip link set st0 up", "ip link set st0p up"]),
    ("addr-add", ["ip addr add 10.9.0.1/24 dev st0"]),
    ("addr-add-peer", ["ip addr add 10.9.1.1 peer 10.9.1.2/32 dev st0"]),
    ("addr-add-v6", ["ip -6 addr add 2001:db8::1/64 dev st0 nodad"]),
    ("link-add-veth", ["ip link add lan1 type veth peer name lan2"]),
    ("veth-up", ["ip link set lan1 up", "ip link set lan2 up"]),
    ("addr-add-lan1", ["ip addr add 10.0.2.1/24 dev lan1"]),
    ("link-mtu", ["ip link set lan1 mtu 1400"]),
    ("link-rename", ["ip link set lan2 down", "ip link set lan2 name dn0", "ip link set dn0 up"]),
    ("route-add", ["ip route add 10.20.0.0/16 via 10.0.2.2 dev lan1"]),
    ("route-add-table", ["ip route add 10.30.0.0/16 dev st0 table 100"]),
    ("route-add-big-table", ["ip route add 10.31.0.0/16 dev st0 table 1000"]),
    ("route-unreachable", ["ip route add unreachable 10.40.0.0/16"]),
    ("route-blackhole", ["ip route add blackhole 10.41.0.0/16 table 100"]),
    ("route-prohibit", ["ip route add prohibit 10.42.0.0/16"]),
    ("route-multipath", ["ip route add 10.50.0.0/16 nexthop via 10.0.2.2 dev lan1 "
                         "nexthop via 10.9.0.2 dev st0"]),
    ("route-del", ["ip route del 10.20.0.0/16"]),
    ("link-nomulticast", ["ip link set st0 multicast off", "ip link set st0 multicast on"]),
    ("link-down", ["ip link set st0 down"]),
    ("link-up-again", ["ip link set st0 up"]),
    ("addr-del", ["ip addr del 10.9.0.1/24 dev st0"]),
    ("link-add-del", ["ip link add wan0 type veth peer name wan0p", "ip link del wan0"]),
    ("link-add-vrf", ["ip link add red type vrf table 10", "ip link set red up",
                      "ip link set dn0 master red"]),
    ("link-add-bridge", ["ip link add br0 type bridge", "ip link set br0 up",
                         "ip addr add 10.60.0.1/24 dev br0"]),
    ("link-del-veth", ["ip link del lan1"]),
]


def nl_socket(groups=0):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((0, groups))
    return s


def drain(s, wait):
    """Every datagram that arrives within `wait` seconds of the last one."""
    out = []
    s.settimeout(wait)
    while True:
        try:
            out.append(s.recv(1 << 16))
        except socket.timeout:
            return out


def nl_request(s, msg_type, body, attrs=b"", flags=NLM_F_REQUEST | NLM_F_DUMP, seq=1):
    payload = body + attrs
    s.send(struct.pack("=IHHII", 16 + len(payload), msg_type, flags, seq, 0) + payload)
    replies = []
    s.settimeout(2)
    while True:
        d = s.recv(1 << 16)
        replies.append(d)
        # Walk the messages: a dump ends with NLMSG_DONE, a get with its one
        # answer (or an error).
        off, last = 0, None
        while off + 16 <= len(d):
            ln, ty = struct.unpack_from("=IH", d, off)
            last = ty
            off += (ln + 3) & ~3
            if ln < 16:
                break
        if not flags & NLM_F_DUMP or last in (NLMSG_DONE, NLMSG_ERROR):
            return replies


def rta(kind, data):
    ln = 4 + len(data)
    return struct.pack("=HH", ln, kind) + data + b"\0" * (((ln + 3) & ~3) - ln)


def cmd_netlink(outdir):
    ev = nl_socket(RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_IFADDR)
    n = 0
    # Consecutive datagrams joined (whole messages each, so still one valid
    # buffer): the changes in sequence, up to the fuzzer's input length.
    session = b""
    for label, cmds in NETLINK_STEPS:
        for c in cmds:
            r = subprocess.run(c.split(), capture_output=True, text=True)
            if r.returncode != 0:
                print("   (%s failed: %s)" % (c, r.stderr.strip()), file=sys.stderr)
        for d in drain(ev, 0.3):
            n += write_seed(outdir, "ev-" + label, d)
            if len(session) + len(d) > SESSION_MAX:
                n += write_seed(outdir, "session", session)
                session = b""
            session += d
    if session:
        n += write_seed(outdir, "session", session)
    req = nl_socket()
    ifinfomsg = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, 0, 0, 0)
    ifaddrmsg = struct.pack("=BBBBi", socket.AF_UNSPEC, 0, 0, 0, 0)
    rtmsg = struct.pack("=BBBBBBBBI", socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0)
    for label, t, body in [("dump-link", RTM_GETLINK, ifinfomsg),
                           ("dump-addr", RTM_GETADDR, ifaddrmsg),
                           ("dump-route", RTM_GETROUTE, rtmsg)]:
        for d in nl_request(req, t, body):
            n += write_seed(outdir, label, d)
    # A route lookup, as mgmd's RPF lookup asks (answered or refused).
    get = struct.pack("=BBBBBBBBI", socket.AF_INET, 32, 0, 0, 0, 0, 0, 0, 0)
    for label, dst in [("get-route", "10.50.1.1"), ("get-route-none", "10.99.1.1")]:
        try:
            for d in nl_request(req, RTM_GETROUTE, get, rta(RTA_DST, socket.inet_aton(dst)),
                                flags=NLM_F_REQUEST):
                n += write_seed(outdir, label, d)
        except OSError as e:
            print("   (route lookup %s: %s)" % (dst, e), file=sys.stderr)
    print("netlink: %d new seeds" % n)


# ===== IGMP from pcap =====

def pcap_packets(path):
    """(time, ip packet) of each packet in a classic pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = data[:4]
    endian = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",
              b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}[magic]
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        t = sec + frac / (1e9 if nano else 1e6)
        if linktype == 1:  # Ethernet
            if len(pkt) < 14 or pkt[12:14] != b"\x08\x00":
                continue
            yield t, pkt[14:]
        elif linktype == 113:  # Linux cooked
            if len(pkt) < 16 or pkt[14:16] != b"\x08\x00":
                continue
            yield t, pkt[16:]
        elif linktype == 276:  # Linux cooked v2
            if len(pkt) < 20 or pkt[0:2] != b"\x08\x00":
                continue
            yield t, pkt[20:]


def igmp_of(ip):
    """(src, dst, ttl, router alert, payload) of an IGMP packet, else None."""
    if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 2:
        return None
    ihl = (ip[0] & 0x0F) * 4
    total = struct.unpack("!H", ip[2:4])[0]
    opts, ra, i = ip[20:ihl], False, 0
    while i < len(opts) and opts[i] != 0:
        if opts[i] == 1:
            i += 1
            continue
        ra = ra or opts[i] == 0x94
        i += max(2, opts[i + 1] if i + 1 < len(opts) else 2)
    return (ipaddress.IPv4Address(ip[12:16]), ipaddress.IPv4Address(ip[16:20]), ip[8], ra,
            bytes(ip[ihl:total]))


def cmd_igmp(outdir, settings, router_addrs, pcaps):
    """`settings`: the igmp_router settings byte for each capture (by file
    name); `router_addrs`: addresses of the router in the capture, mapped to
    10.0.0.1 in the sequence (another querier, which wins the election)."""
    n = 0
    for p in pcaps:
        name = os.path.basename(p).rsplit(".", 1)[0]
        seq = bytearray([settings.get(name, 0)])
        hosts = {}
        last = None
        for t, ip in pcap_packets(p):
            m = igmp_of(ip)
            if m is None:
                continue
            src, dst, ttl, ra, payload = m
            kind = {0x11: "query", 0x12: "v1-report", 0x16: "v2-report", 0x17: "v2-leave",
                    0x22: "v3-report"}.get(payload[0] if payload else -1, "other")
            n += write_seed(os.path.join(outdir, "igmp_packet"), kind, payload)
            if len(payload) > 255:
                continue
            if str(src) in router_addrs:
                slot = 1
            elif src.is_unspecified:
                slot = 0
            else:
                # Hosts become 10.0.0.2, .3, .4 in order of appearance.
                slot = hosts.setdefault(str(src), 2 + min(len(hosts), 2))
            d = {"224.0.0.22": 0, "224.0.0.1": 1, "224.0.0.2": 2}.get(str(dst), 3)
            how = d | slot << 2 | (0x20 if ttl != 1 else 0) | (0 if ra else 0x40)
            wait = 0 if last is None else min(255, int(round((t - last) * 10)))
            last = t
            seq += bytes([how, wait, len(payload)]) + payload
        n += write_seed(os.path.join(outdir, "igmp_router"), "capture-" + name, bytes(seq))
    print("igmp: %d new seeds" % n)


# ===== MLD on a bridge =====

MLD_KINDS = {130: "query", 131: "v1-report", 132: "v1-done", 143: "v2-report"}
MCAST_JOIN_SOURCE_GROUP, MCAST_LEAVE_SOURCE_GROUP = 46, 47
# Every protocol: a socket bound to IPv6 alone misses what the interface
# sends (outgoing frames reach only the taps of all protocols).
ETH_P_ALL = 3


def mld_of(frame):
    """The MLD payload of an Ethernet frame (after the Hop-by-Hop Options
    header, if any), else None."""
    if len(frame) < 54 or frame[12:14] != b"\x86\xdd":
        return None
    nh, p = frame[20], frame[54:]
    while nh == 0 and len(p) >= 8:
        nh, p = p[0], p[(p[1] + 1) * 8:]
    if nh != 58 or not p or p[0] not in MLD_KINDS:
        return None
    return bytes(p)


def group_source_req(ifindex, group, source):
    """struct group_source_req: an interface and two sockaddr_storage."""
    def storage(addr):
        sin6 = struct.pack("=HHI16sI", socket.AF_INET6, 0, 0,
                           ipaddress.IPv6Address(addr).packed, 0)
        return sin6 + bytes(128 - len(sin6))
    return struct.pack("=I4x", ifindex) + storage(group) + storage(source)


def cmd_mld(outdir):
    """A Linux bridge as MLD querier (mcast_querier) and a host on one of
    its ports joining and leaving any-source and source-specific groups
    with the kernel's own MLD, in each version; every MLD message seen on
    the host's interface becomes an mld_packet seed."""
    n = 0
    for version in (1, 2):
        sh = lambda c: subprocess.run(c, shell=True, check=True)
        sh("ip link add mbr0 type bridge mcast_querier 1 mcast_mld_version %d "
           "mcast_query_interval 200 mcast_startup_query_interval 100 "
           "mcast_query_response_interval 50 mcast_last_member_interval 30" % version)
        sh("ip link add mh0 type veth peer name mp0")
        sh("ip link set mp0 master mbr0")
        sh("sysctl -qw net.ipv6.conf.mh0.force_mld_version=%d" % version)
        cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        cap.bind(("mh0", 0))
        cap.setblocking(False)
        for dev in ("mp0", "mbr0", "mh0"):
            sh("ip link set %s up" % dev)
        idx = socket.if_nametoindex("mh0")
        asm = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        ssm = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        steps = [
            (3, lambda: None),  # DAD, the querier's startup queries
            (2, lambda: asm.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                                       ipaddress.IPv6Address("ff05::1:3").packed
                                       + struct.pack("=I", idx))),
        ]
        if version == 2:
            for src in ("2001:db8::1", "2001:db8::2"):
                steps.append((2, lambda src=src: ssm.setsockopt(
                    socket.IPPROTO_IPV6, MCAST_JOIN_SOURCE_GROUP,
                    group_source_req(idx, "ff3e::1234", src))))
            # A general query answered with every group in one report.
            steps.append((3, lambda: None))
            steps.append((2, lambda: ssm.setsockopt(
                socket.IPPROTO_IPV6, MCAST_LEAVE_SOURCE_GROUP,
                group_source_req(idx, "ff3e::1234", "2001:db8::1"))))
            steps.append((2, ssm.close))
        else:
            steps.append((3, lambda: None))
        steps.append((2, asm.close))
        for wait, step in steps:
            step()
            end = time.time() + wait
            while time.time() < end:
                try:
                    frame = cap.recv(65535)
                except BlockingIOError:
                    time.sleep(0.02)
                    continue
                except OSError as e:
                    # Bound before the link came up, the socket reports
                    # that it was down once.
                    if e.errno != errno.ENETDOWN:
                        raise
                    continue
                payload = mld_of(frame)
                if payload is not None:
                    kind = MLD_KINDS[payload[0]]
                    if payload[0] == 130:
                        kind = "v1-query" if len(payload) == 24 else "v2-query"
                    n += write_seed(outdir, kind, payload)
        cap.close()
        sh("ip link del mh0")
        sh("ip link del mbr0")
    print("mld: %d new seeds" % n)


# ===== control protocol =====

REQUESTS = [
    {"cmd": "ping"},
    {"cmd": "show-interfaces"},
    {"cmd": "show-groups"},
    {"cmd": "show-routes"},
    {"cmd": "show-protocols"},
    {"cmd": "take", "interface": "lan2", "protocol": "static"},
    {"cmd": "release", "interface": "lan2", "protocol": "static"},
    {"cmd": "take", "interface": "nosuch0", "protocol": "static"},
]


def cmd_ctl(sock_path, outdir):
    n = 0
    lines = [json.dumps(dict(version=1, **r), separators=(",", ":")) for r in REQUESTS]
    # Requests mgmd refuses: another version, an unknown command, a field
    # too many, not JSON.
    lines += ['{"version":2,"cmd":"ping"}', '{"version":1,"cmd":"reboot"}',
              '{"version":1,"cmd":"ping","extra":1}', 'show groups']
    for line in lines:
        n += write_seed(outdir, "request", (line + "\n").encode())
    n += write_seed(outdir, "session", ("\n".join(lines) + "\n").encode())

    ev = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ev.connect(sock_path)
    ev.sendall(b'{"version":1,"cmd":"events"}\n')
    evf = ev.makefile("rb")
    n += write_seed(outdir, "reply-events", evf.readline())
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(sock_path)
    cf = c.makefile("rb")
    for line in lines:
        c.sendall((line + "\n").encode())
        n += write_seed(outdir, "reply", cf.readline())
    # The event records the take/release above caused.
    ev.settimeout(1)
    try:
        for _ in range(20):
            rec = evf.readline()
            if not rec:
                break
            n += write_seed(outdir, "event", rec)
    except (socket.timeout, OSError):
        pass
    print("ctl: %d new seeds" % n)


def main():
    cmd = sys.argv[1]
    if cmd == "netlink":
        cmd_netlink(sys.argv[2])
    elif cmd == "igmp":
        settings = json.loads(os.environ.get("IGMP_SETTINGS", "{}"))
        routers = set(os.environ.get("IGMP_ROUTERS", "").split())
        cmd_igmp(sys.argv[2], settings, routers, sys.argv[3:])
    elif cmd == "mld":
        cmd_mld(sys.argv[2])
    elif cmd == "ctl":
        cmd_ctl(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
