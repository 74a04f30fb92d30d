//! Kernel wrappers (multicast routing socket, IGMP transmit, netlink) tested
//! against the real kernel, each test in a fresh network namespace of its
//! own thread. Cross-checked with `/proc/thread-self/net/ip_mr_*` and `ip`.
//! Skipped unless run as root.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use mgmd::core::mroute::{MrouteTable, MrtAction};
use mgmd::core::rib::TableAnswer;
use mgmd::core::types::{FlowKey, GroupAddr, IfIndex, MAXVIFS, VifIndex, VifSet};
use mgmd::io::mrt::{AsyncMrtSocket, IgmpRx, MrtError, MrtRx, MrtSocket, UpcallKind};
use mgmd::io::mrt_writer::{MrtWriter, WriterReport};
use mgmd::io::netlink::{self, NetEvent, NetlinkWatcher};
use mgmd::io::raw_igmp::IgmpTxSocket;
use nix::sched::{CloneFlags, setns, unshare};

// ===== harness =====

/// Asked to run (`--ignored`) without root: fail, saying why, rather than
/// pass without having run.
fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "needs root and a kernel with multicast routing: scripts/kernel-env.sh"
    );
}

/// Runs `f` on a thread of its own in a fresh network namespace, with a
/// current-thread tokio runtime. Panics propagate.
fn in_netns<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let t = std::thread::spawn(move || {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        ip(&["link", "set", "lo", "up"]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(f());
    });
    if let Err(p) = t.join() {
        std::panic::resume_unwind(p);
    }
}

/// A veth pair `a`-`b` in the calling thread's namespace, both ends up.
fn veth_up(a: &str, b: &str) {
    ip(&["link", "add", a, "type", "veth", "peer", "name", b]);
    ip(&["link", "set", a, "up"]);
    ip(&["link", "set", b, "up"]);
}

/// Runs `ip` in the calling thread's namespace; panics on failure.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ifindex(name: &str) -> IfIndex {
    IfIndex(nix::net::if_::if_nametoindex(name).unwrap_or_else(|e| panic!("{name}: {e}")))
}

fn proc_net(file: &str) -> String {
    std::fs::read_to_string(format!("/proc/thread-self/net/{file}"))
        .expect("read /proc/thread-self/net")
}

/// Data lines of `/proc/net/ip_mr_vif` (after the header).
fn mr_vifs() -> Vec<String> {
    proc_net("ip_mr_vif")
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

fn mr_cache() -> Vec<String> {
    proc_net("ip_mr_cache")
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// `/proc/net/ip_mr_cache` prints network-order u32s as host-endian hex.
fn proc_hex(addr: Ipv4Addr) -> String {
    format!("{:08X}", u32::from_ne_bytes(addr.octets()))
}

fn flow(src: [u8; 4], grp: [u8; 4]) -> FlowKey {
    FlowKey {
        source: Ipv4Addr::from(src).into(),
        group: GroupAddr::new(Ipv4Addr::from(grp)).unwrap(),
    }
}

/// A named namespace (`ip netns add`) for the far end of a veth pair,
/// deleted on drop.
struct PeerNs {
    name: String,
}

impl PeerNs {
    fn new() -> PeerNs {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "mgmd-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name]);
        PeerNs { name }
    }

    fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// Runs `f` on a thread that entered this namespace.
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let fd = std::fs::File::open(&path).expect("open netns");
            setns(&fd, CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    }
}

impl Drop for PeerNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// veth `local` (here, 10.8.0.1/24) <-> `peer` (in `ns`, 10.8.0.2/24).
fn veth_to_peer(ns: &PeerNs, local: &str, peer: &str) {
    ip(&["link", "add", local, "type", "veth", "peer", "name", peer]);
    ip(&["link", "set", peer, "netns", &ns.name]);
    ip(&["addr", "add", "10.8.0.1/24", "dev", local]);
    ip(&["link", "set", local, "up"]);
    ns.ip(&["link", "set", "lo", "up"]);
    ns.ip(&["addr", "add", "10.8.0.2/24", "dev", peer]);
    ns.ip(&["link", "set", peer, "up"]);
}

fn igmp_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn with_checksum(mut msg: Vec<u8>) -> Vec<u8> {
    let c = igmp_checksum(&msg);
    msg[2..4].copy_from_slice(&c.to_be_bytes());
    msg
}

/// Reads from the socket until `pred` matches or 5 s pass. Messages read
/// but not matched stay in `backlog` for the next call.
async fn recv_until(
    sock: &AsyncMrtSocket,
    backlog: &mut std::collections::VecDeque<MrtRx>,
    mut pred: impl FnMut(&MrtRx) -> bool,
) -> MrtRx {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(pos) = backlog.iter().position(&mut pred) {
            return backlog.remove(pos).unwrap();
        }
        let batch = tokio::time::timeout_at(deadline, sock.recv_batch(64))
            .await
            .unwrap_or_else(|_| panic!("timed out; read so far: {backlog:?}"))
            .expect("recv");
        backlog.extend(batch);
    }
}

async fn next_until(w: &mut NetlinkWatcher, mut pred: impl FnMut(&NetEvent) -> bool) -> NetEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let ev = tokio::time::timeout_at(deadline, w.next())
            .await
            .expect("timed out waiting for a netlink event")
            .expect("netlink watcher ended");
        if pred(&ev) {
            return ev;
        }
    }
}

// ===== multicast routing socket =====

#[test]
#[ignore = "needs root and a kernel with multicast routing: scripts/kernel-env.sh"]
fn mrt_owner_is_exclusive_and_vifs_mfcs_show_in_proc() {
    require_root();
    in_netns(|| async {
        veth_up("v0", "v1");
        let mrt = MrtSocket::open(None).expect("MRT_INIT");
        let err = MrtSocket::open(None).expect_err("second MRT_INIT must fail");
        assert!(matches!(err, MrtError::AlreadyInUse { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("already owns the multicast routing table")
        );
        assert!(mrt.recv_buffer_size().unwrap() >= 1 << 20);

        let (i0, i1) = (ifindex("v0"), ifindex("v1"));
        mrt.add_vif(VifIndex(0), i0).unwrap();
        mrt.add_vif(VifIndex(1), i1).unwrap();
        let vifs = mr_vifs();
        assert_eq!(vifs.len(), 2, "{vifs:?}");
        let v0: Vec<&str> = vifs[0].split_whitespace().collect();
        assert_eq!((v0[0], v0[1], v0[6]), ("0", "v0", "00008"), "{vifs:?}");
        assert!(vifs[1].contains("v1"));

        let f = flow([10, 0, 0, 2], [239, 1, 1, 1]);
        mrt.add_mfc(f, VifIndex(0), VifSet::from([VifIndex(1)]))
            .unwrap();
        let cache = mr_cache();
        assert_eq!(cache.len(), 1, "{cache:?}");
        let c: Vec<&str> = cache[0].split_whitespace().collect();
        assert_eq!(c[0], proc_hex(Ipv4Addr::new(239, 1, 1, 1)));
        assert_eq!(c[1], proc_hex(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(c[2], "0");
        assert_eq!(c[6], "1:1");
        assert_eq!(mrt.sg_count(f).unwrap().packets, 0);
        assert_eq!(mrt.vif_count(VifIndex(1)).unwrap().out_packets, 0);
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/ipv4/conf/all/mc_forwarding")
                .unwrap()
                .trim(),
            "1"
        );

        // Replacing the entry (new iif and oifs) is one MRT_ADD_MFC.
        mrt.add_mfc(f, VifIndex(1), VifSet::from([VifIndex(0)]))
            .unwrap();
        let c = mr_cache()[0]
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>();
        assert_eq!((c[2].as_str(), c[6].as_str()), ("1", "0:1"));

        mrt.del_mfc(f, VifIndex(1)).unwrap();
        assert!(mr_cache().is_empty());
        assert!(mrt.sg_count(f).is_err());
        // Deleting what is already gone is fine through apply().
        mrt.apply(&MrtAction::DelMfc {
            flow: f,
            iif_vif: VifIndex(1),
        })
        .unwrap();
        mrt.del_vif(VifIndex(1)).unwrap();
        assert_eq!(mr_vifs().len(), 1);
        mrt.apply(&MrtAction::DelVif {
            vif: VifIndex(1),
            ifindex: i1,
        })
        .unwrap();

        // MRT_FLUSH empties the table but keeps ownership.
        mrt.add_mfc(f, VifIndex(0), VifSet::EMPTY).unwrap();
        mrt.flush().unwrap();
        assert!(mr_vifs().is_empty() && mr_cache().is_empty());
        mrt.add_vif(VifIndex(0), i0).unwrap();
        mrt.add_mfc(f, VifIndex(0), VifSet::EMPTY).unwrap();

        // Closing the socket wipes the table and frees ownership. The
        // kernel frees the entries after an RCU grace period, so a busy
        // machine may show them for a moment.
        drop(mrt);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while !(mr_vifs().is_empty() && mr_cache().is_empty())
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(mr_vifs().is_empty() && mr_cache().is_empty());
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/ipv4/conf/all/mc_forwarding")
                .unwrap()
                .trim(),
            "0"
        );
        let again = MrtSocket::open(None).expect("reopen after close");
        drop(again);
    });
}

#[test]
#[ignore = "needs root and a kernel with multicast routing: scripts/kernel-env.sh"]
fn reconcile_fills_all_32_vifs_and_the_33rd_is_refused() {
    require_root();
    in_netns(|| async {
        let mut names = Vec::new();
        for i in 0..17 {
            let (a, b) = (format!("x{i}a"), format!("x{i}b"));
            ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
            names.push(a);
            names.push(b);
        }
        let all: BTreeSet<IfIndex> = names.iter().map(|n| ifindex(n)).collect();
        let mrt = MrtSocket::open(None).unwrap();
        let mut table = MrouteTable::new();
        let first: Vec<IfIndex> = all.iter().copied().take(3).collect();
        let desired = BTreeMap::from([(
            flow([10, 0, 0, 2], [239, 1, 1, 1]),
            (first[0], BTreeSet::from([first[1], first[2]])),
        )]);
        let r = table.reconcile(&desired, &all);
        assert_eq!(r.vif_exhausted.len(), all.len() - MAXVIFS);
        for a in &r.actions {
            mrt.apply(a).unwrap_or_else(|e| panic!("{a}: {e}"));
        }
        assert_eq!(mr_vifs().len(), MAXVIFS);
        assert_eq!(mr_cache().len(), 1);
        assert!(table.reconcile(&desired, &all).actions.is_empty());

        let (extra, _) = r.vif_exhausted.split_first().unwrap();
        let err = mrt
            .apply(&MrtAction::AddVif {
                vif: VifIndex(32),
                ifindex: *extra,
            })
            .expect_err("vif 32 is beyond MAXVIFS");
        assert_eq!(err.errno(), Some(libc::ENFILE));
        assert!(err.to_string().contains("at most 32 VIFs"), "{err}");

        // Dropping everything removes entries before VIFs.
        let r = table.reconcile(&BTreeMap::new(), &BTreeSet::new());
        for a in &r.actions {
            mrt.apply(a).unwrap_or_else(|e| panic!("{a}: {e}"));
        }
        assert!(mr_vifs().is_empty() && mr_cache().is_empty());
    });
}

#[test]
#[ignore = "needs root and a kernel with multicast routing: scripts/kernel-env.sh"]
fn kernel_writer_applies_in_order_and_reports_vifs_and_refusals() {
    require_root();
    in_netns(|| async {
        veth_up("w0", "w1");
        let (i0, i1) = (ifindex("w0"), ifindex("w1"));
        let sock = Arc::new(MrtSocket::open(None).unwrap());
        let mut w = MrtWriter::start(Arc::clone(&sock), None).unwrap();
        let f = flow([10, 0, 0, 2], [239, 1, 1, 1]);
        let other = flow([10, 0, 0, 3], [239, 1, 1, 1]);
        w.submit(vec![
            MrtAction::AddVif {
                vif: VifIndex(0),
                ifindex: i0,
            },
            MrtAction::AddVif {
                vif: VifIndex(1),
                ifindex: i1,
            },
            // No such device: refused, and the rest still applied...
            MrtAction::AddVif {
                vif: VifIndex(2),
                ifindex: IfIndex(999_999),
            },
            MrtAction::AddMfc {
                flow: f,
                iif_vif: VifIndex(0),
                oifs: VifSet::from([VifIndex(1)]),
            },
            // ...but not what needs the VIF that was refused.
            MrtAction::AddMfc {
                flow: other,
                iif_vif: VifIndex(0),
                oifs: VifSet::from([VifIndex(2)]),
            },
        ]);
        // A later batch comes after the first: the entry is replaced.
        w.submit(vec![MrtAction::AddMfc {
            flow: f,
            iif_vif: VifIndex(1),
            oifs: VifSet::from([VifIndex(0)]),
        }]);
        w.flush().await.unwrap();
        let mut reports = Vec::new();
        while let Some(r) = w.try_report() {
            reports.push(r);
        }
        assert!(
            matches!(
                &reports[..],
                [
                    WriterReport::VifAdded(a),
                    WriterReport::VifAdded(b),
                    WriterReport::Rejected {
                        action: MrtAction::AddVif { vif: VifIndex(2), .. },
                        ..
                    },
                    WriterReport::Rejected {
                        action: MrtAction::AddMfc { flow: x, .. },
                        error,
                    }
                ] if *a == i0 && *b == i1 && *x == other && error.contains("not attempted")
            ),
            "{reports:?}"
        );
        assert_eq!(mr_vifs().len(), 2);
        let c: Vec<String> = mr_cache()[0]
            .split_whitespace()
            .map(str::to_string)
            .collect();
        assert_eq!((c[2].as_str(), c[6].as_str()), ("1", "0:1"));
        // The writer finishes its queue when dropped; the socket stays open
        // as long as someone holds it.
        w.submit(vec![MrtAction::DelMfc {
            flow: f,
            iif_vif: VifIndex(1),
        }]);
        drop(w);
        assert!(mr_cache().is_empty());
        assert_eq!(mr_vifs().len(), 2);
        drop(sock);
    });
}

#[test]
#[ignore = "needs root and a kernel with multicast routing: scripts/kernel-env.sh"]
fn nocache_upcall_for_traffic_from_a_peer_namespace() {
    require_root();
    in_netns(|| async {
        let peer = PeerNs::new();
        veth_to_peer(&peer, "up0", "up1");
        let mrt = AsyncMrtSocket::new(MrtSocket::open(None).unwrap()).unwrap();
        mrt.get_ref().add_vif(VifIndex(0), ifindex("up0")).unwrap();
        peer.run(|| {
            let s =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
            s.set_multicast_if_v4(&Ipv4Addr::new(10, 8, 0, 2)).unwrap();
            s.set_multicast_ttl_v4(8).unwrap();
            let to = SocketAddrV4::new(Ipv4Addr::new(239, 9, 9, 9), 5000);
            for _ in 0..3 {
                s.send_to(b"data", &to.into()).unwrap();
            }
        });
        let mut backlog = Default::default();
        let rx = recv_until(&mrt, &mut backlog, |rx| matches!(rx, MrtRx::Upcall(_))).await;
        let MrtRx::Upcall(u) = rx else { unreachable!() };
        assert_eq!(u.kind, UpcallKind::NoCache);
        assert_eq!(u.vif, VifIndex(0));
        assert_eq!(u.src, Ipv4Addr::new(10, 8, 0, 2));
        assert_eq!(u.dst, Ipv4Addr::new(239, 9, 9, 9));
        assert_eq!(mrt.get_ref().drops(), 0);
    });
}

#[test]
#[ignore = "needs root and a kernel with multicast routing: scripts/kernel-env.sh"]
fn igmp_reports_arrive_with_ifindex_router_alert_and_ttl() {
    require_root();
    in_netns(|| async {
        let peer = PeerNs::new();
        veth_to_peer(&peer, "ig0", "ig1");
        let local = ifindex("ig0");
        let mrt = AsyncMrtSocket::new(MrtSocket::open(None).unwrap()).unwrap();
        // The interface is a VIF (so v2 reports reach us) and has joined
        // 224.0.0.22 (so v3 reports do).
        mrt.get_ref().add_vif(VifIndex(0), local).unwrap();
        mrt.get_ref()
            .join_group(local, GroupAddr::ALL_V3_ROUTERS)
            .unwrap();
        mrt.get_ref()
            .join_group(local, GroupAddr::ALL_V3_ROUTERS)
            .unwrap();
        mrt.get_ref()
            .join_group(local, GroupAddr::ALL_ROUTERS)
            .unwrap();

        // IGMPv3 report: one record, MODE_IS_EXCLUDE (2) for 239.6.6.6.
        let v3 = with_checksum(vec![0x22, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 239, 6, 6, 6]);
        // IGMPv2 report for 239.7.7.7, sent to the group itself.
        let v2 = with_checksum(vec![0x16, 0, 0, 0, 239, 7, 7, 7]);
        let (v3c, v2c) = (v3.clone(), v2.clone());
        peer.run(move || {
            let tx = IgmpTxSocket::open().unwrap();
            let peer_if = IfIndex(nix::net::if_::if_nametoindex("ig1").unwrap());
            let src = Ipv4Addr::new(10, 8, 0, 2);
            tx.send(peer_if, src, Ipv4Addr::new(224, 0, 0, 22), &v3c)
                .unwrap();
            tx.send(peer_if, src, Ipv4Addr::new(239, 7, 7, 7), &v2c)
                .unwrap();
        });
        let mut backlog = Default::default();
        // From the peer only: the local kernel's own reports for the groups
        // joined above are looped back to this socket too.
        let is_igmp_to = |dst: Ipv4Addr| move |rx: &MrtRx| matches!(rx, MrtRx::Igmp(i) if i.dst == dst && i.src == Ipv4Addr::new(10, 8, 0, 2));
        let rx = recv_until(&mrt, &mut backlog, is_igmp_to(Ipv4Addr::new(224, 0, 0, 22))).await;
        assert_eq!(
            rx,
            MrtRx::Igmp(IgmpRx {
                ifindex: local,
                src: Ipv4Addr::new(10, 8, 0, 2),
                dst: Ipv4Addr::new(224, 0, 0, 22),
                ttl: 1,
                router_alert: true,
                payload: v3,
            })
        );
        let rx = recv_until(&mrt, &mut backlog, is_igmp_to(Ipv4Addr::new(239, 7, 7, 7))).await;
        let MrtRx::Igmp(i) = rx else { unreachable!() };
        assert_eq!((i.ifindex, i.payload, i.router_alert), (local, v2, true));

        mrt.get_ref()
            .leave_group(local, GroupAddr::ALL_V3_ROUTERS)
            .unwrap();
        mrt.get_ref()
            .leave_group(local, GroupAddr::ALL_V3_ROUTERS)
            .unwrap();
    });
}

#[test]
#[ignore = "needs root and a kernel with multicast routing: scripts/kernel-env.sh"]
fn netlink_watcher_follows_links_renames_and_addresses() {
    require_root();
    in_netns(|| async {
        ip(&["link", "add", "n0", "type", "veth", "peer", "name", "n1"]);
        let mut w = netlink::start().await.expect("netlink watcher");
        let Some(NetEvent::Snapshot { links, addrs }) = w.next().await else {
            panic!("first event must be a snapshot");
        };
        let names: BTreeSet<&str> = links.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, BTreeSet::from(["lo", "n0", "n1"]));
        assert!(links.iter().any(|l| l.name == "lo" && l.loopback && l.up));
        assert!(
            addrs
                .iter()
                .any(|a| a.addr == Ipv4Addr::LOCALHOST && a.prefix_len == 8)
        );
        let n0 = ifindex("n0");

        ip(&["link", "set", "n0", "up"]);
        next_until(
            &mut w,
            |e| matches!(e, NetEvent::Link(l) if l.ifindex == n0 && l.up),
        )
        .await;
        ip(&["link", "set", "n1", "up"]);
        next_until(
            &mut w,
            |e| matches!(e, NetEvent::Link(l) if l.ifindex == n0 && l.up && l.running),
        )
        .await;

        ip(&["addr", "add", "10.5.0.1/24", "dev", "n0"]);
        let ev = next_until(&mut w, |e| matches!(e, NetEvent::AddrAdded(_))).await;
        let NetEvent::AddrAdded(a) = ev else {
            unreachable!()
        };
        assert_eq!(
            (a.ifindex, a.addr, a.prefix_len),
            (n0, Ipv4Addr::new(10, 5, 0, 1).into(), 24)
        );

        ip(&["link", "set", "n0", "down"]);
        next_until(
            &mut w,
            |e| matches!(e, NetEvent::Link(l) if l.ifindex == n0 && !l.up),
        )
        .await;
        ip(&["link", "set", "n0", "name", "renamed0"]);
        next_until(
            &mut w,
            |e| matches!(e, NetEvent::Link(l) if l.ifindex == n0 && l.name == "renamed0"),
        )
        .await;
        ip(&["link", "set", "renamed0", "mtu", "1400"]);
        next_until(
            &mut w,
            |e| matches!(e, NetEvent::Link(l) if l.ifindex == n0 && l.mtu == Some(1400)),
        )
        .await;

        ip(&["addr", "del", "10.5.0.1/24", "dev", "renamed0"]);
        next_until(
            &mut w,
            |e| matches!(e, NetEvent::AddrRemoved(a) if a.addr == Ipv4Addr::new(10, 5, 0, 1)),
        )
        .await;

        ip(&["link", "del", "renamed0"]);
        next_until(&mut w, |e| matches!(e, NetEvent::LinkGone { ifindex, name } if *ifindex == n0 && name == "renamed0")).await;

        // Re-created under the old name: a new ifindex.
        ip(&["link", "add", "n0", "type", "veth", "peer", "name", "n1"]);
        let ev = next_until(&mut w, |e| matches!(e, NetEvent::Link(l) if l.name == "n0")).await;
        let NetEvent::Link(l) = ev else {
            unreachable!()
        };
        assert_ne!(l.ifindex, n0);
        assert_eq!(w.resyncs(), 0);
    });
}

#[test]
#[ignore = "needs root and a kernel with multicast routing: scripts/kernel-env.sh"]
fn rpf_lookup_finds_interface_and_gateway_and_a_table_reads_alone() {
    require_root();
    in_netns(|| async {
        veth_up("r0", "r1");
        ip(&["addr", "add", "10.6.0.1/24", "dev", "r0"]);
        ip(&["route", "add", "10.7.0.0/16", "via", "10.6.0.2"]);
        let w = netlink::start().await.unwrap();
        let r0 = ifindex("r0");
        let direct = netlink::rpf_lookup(w.handle(), Ipv4Addr::new(10, 6, 0, 5), None)
            .await
            .unwrap();
        assert_eq!(direct.map(|r| (r.ifindex, r.gateway)), Some((r0, None)));
        let routed = netlink::rpf_lookup(w.handle(), Ipv4Addr::new(10, 7, 1, 1), None)
            .await
            .unwrap();
        assert_eq!(
            routed.map(|r| (r.ifindex, r.gateway)),
            Some((r0, Some(Ipv4Addr::new(10, 6, 0, 2))))
        );
        let none = netlink::rpf_lookup(w.handle(), Ipv4Addr::new(192, 0, 2, 1), None)
            .await
            .unwrap();
        assert_eq!(none, None);

        // A table's own routes, as RPF with `table` reads them.
        ip(&[
            "route",
            "add",
            "10.8.0.0/16",
            "via",
            "10.6.0.3",
            "dev",
            "r0",
            "table",
            "10",
        ]);
        ip(&["route", "add", "unreachable", "default", "table", "10"]);
        let t = netlink::dump_table(w.handle(), 10).await.unwrap();
        assert_eq!(t.len(), 2, "{t:?}");
        assert_eq!(
            t.lookup(Ipv4Addr::new(10, 8, 1, 1)),
            TableAnswer::Route {
                ifindex: r0,
                gateway: Some(Ipv4Addr::new(10, 6, 0, 3))
            }
        );
        // The main table's route is not table 10's; its default says no.
        assert_eq!(t.lookup(Ipv4Addr::new(10, 7, 1, 1)), TableAnswer::NoRoute);
        let empty = netlink::dump_table(w.handle(), 11).await.unwrap();
        assert_eq!(
            empty.lookup(Ipv4Addr::new(10, 8, 1, 1)),
            TableAnswer::NotInTable
        );
    });
}

/// 400 addresses on `dev` with one `ip -batch`: more notifications than a
/// 4 KiB netlink receive buffer holds while the runtime waits for `ip`.
fn add_400_addresses(dev: &str) {
    let batch: String = (0..400)
        .map(|i| format!("addr add 10.{}.{}.1/32 dev {dev}\n", 20 + i / 250, i % 250))
        .collect();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), batch).unwrap();
    ip(&["-batch", file.path().to_str().unwrap()]);
}

#[test]
#[ignore = "needs root and a kernel with multicast routing: scripts/kernel-env.sh"]
fn netlink_overrun_yields_a_fresh_snapshot() {
    require_root();
    in_netns(|| async {
        ip(&["link", "add", "o0", "type", "veth", "peer", "name", "o1"]);
        let mut w = netlink::start_with_rcvbuf(4096).await.unwrap();
        assert!(matches!(w.next().await, Some(NetEvent::Snapshot { .. })));
        // The runtime is blocked while `ip` runs: the notification socket
        // overflows.
        add_400_addresses("o0");
        let ev = next_until(&mut w, |e| {
            eprintln!("EV {e:?}");
            matches!(e, NetEvent::Snapshot { .. })
        })
        .await;
        let NetEvent::Snapshot { addrs, .. } = ev else {
            unreachable!()
        };
        let o0 = ifindex("o0");
        assert_eq!(addrs.iter().filter(|a| a.ifindex == o0).count(), 400);
        assert!(w.resyncs() >= 1);
    });
}

/// The event loop drops `next()` whenever another source is ready first: a
/// re-dump cut short that way is done again on the next call, not lost
/// (which left the interfaces as they were before the overrun).
#[test]
#[ignore = "needs root and a kernel with multicast routing: scripts/kernel-env.sh"]
fn a_resync_cut_short_is_done_again() {
    require_root();
    in_netns(|| async {
        ip(&["link", "add", "o0", "type", "veth", "peer", "name", "o1"]);
        let mut w = netlink::start_with_rcvbuf(4096).await.unwrap();
        assert!(matches!(w.next().await, Some(NetEvent::Snapshot { .. })));
        add_400_addresses("o0");
        // Poll once at a time (each call dropped after one poll, as the
        // event loop may drop it) until the burst is over: every re-dump
        // is started and cut short, several times.
        // After the last overrun a snapshot must still come.
        let mut last: Option<(u64, NetEvent)> = None;
        let mut quiet_since = std::time::Instant::now();
        while quiet_since.elapsed() < Duration::from_millis(300) {
            match futures::FutureExt::now_or_never(w.next()) {
                Some(Some(ev)) => {
                    quiet_since = std::time::Instant::now();
                    if matches!(ev, NetEvent::Snapshot { .. }) {
                        last = Some((w.resyncs(), ev));
                    }
                }
                Some(None) => panic!("watcher ended"),
                None => {}
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(w.resyncs() >= 1, "no overrun");
        let ev = match last {
            Some((n, ev)) if n == w.resyncs() => ev,
            _ => next_until(&mut w, |e| matches!(e, NetEvent::Snapshot { .. })).await,
        };
        let NetEvent::Snapshot { addrs, .. } = ev else {
            unreachable!()
        };
        let o0 = ifindex("o0");
        assert_eq!(addrs.iter().filter(|a| a.ifindex == o0).count(), 400);
    });
}

/// IGMP needs three memberships per interface, and a socket may hold 20
/// (`net.ipv4.igmp_max_memberships`): on the twelfth of twelve interfaces
/// the groups are joined all the same and an IGMPv3 report arrives.
#[test]
#[ignore = "needs root and a kernel with multicast routing: scripts/kernel-env.sh"]
fn igmp_reaches_the_socket_on_more_interfaces_than_one_socket_may_join() {
    require_root();
    in_netns(|| async {
        let peer = PeerNs::new();
        for i in 0..11 {
            ip(&[
                "link",
                "add",
                &format!("m{i}"),
                "type",
                "veth",
                "peer",
                "name",
                &format!("n{i}"),
            ]);
            ip(&["link", "set", &format!("m{i}"), "up"]);
            ip(&["link", "set", &format!("n{i}"), "up"]);
        }
        veth_to_peer(&peer, "m11", "n11");
        let mrt = AsyncMrtSocket::new(MrtSocket::open(None).unwrap()).unwrap();
        for i in 0..12 {
            let local = ifindex(&format!("m{i}"));
            for g in [
                GroupAddr::ALL_V3_ROUTERS,
                GroupAddr::ALL_ROUTERS,
                GroupAddr::ALL_SYSTEMS,
            ] {
                mrt.get_ref()
                    .join_group(local, g)
                    .unwrap_or_else(|e| panic!("join {g} on m{i}: {e}"));
            }
        }
        let v3 = with_checksum(vec![0x22, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 239, 6, 6, 12]);
        let v3c = v3.clone();
        peer.run(move || {
            let tx = IgmpTxSocket::open().unwrap();
            let peer_if = IfIndex(nix::net::if_::if_nametoindex("n11").unwrap());
            tx.send(
                peer_if,
                Ipv4Addr::new(10, 8, 0, 2),
                Ipv4Addr::new(224, 0, 0, 22),
                &v3c,
            )
            .unwrap();
        });
        let mut backlog = Default::default();
        let rx = recv_until(
            &mrt,
            &mut backlog,
            |rx| matches!(rx, MrtRx::Igmp(i) if i.src == Ipv4Addr::new(10, 8, 0, 2)),
        )
        .await;
        let MrtRx::Igmp(i) = rx else { unreachable!() };
        assert_eq!((i.ifindex, i.payload), (ifindex("m11"), v3));
        // Leaving all three ends the interface's memberships.
        let m11 = ifindex("m11");
        for g in [
            GroupAddr::ALL_V3_ROUTERS,
            GroupAddr::ALL_ROUTERS,
            GroupAddr::ALL_SYSTEMS,
        ] {
            mrt.get_ref().leave_group(m11, g).unwrap();
        }
        let igmp = proc_net("igmp");
        let joined_22 = igmp
            .split("\n")
            .skip_while(|l| !l.contains("m11"))
            .skip(1)
            .take_while(|l| l.starts_with('\t') || l.starts_with(' '))
            .any(|l| l.contains("160000E0"));
        assert!(!joined_22, "224.0.0.22 still joined on m11:\n{igmp}");
    });
}

#[test]
#[ignore = "needs root and a kernel with multicast routing: scripts/kernel-env.sh"]
fn a_burst_of_4000_reports_is_read_without_drops() {
    require_root();
    in_netns(|| async {
        let peer = PeerNs::new();
        veth_to_peer(&peer, "b0", "b1");
        let local = ifindex("b0");
        let mrt = AsyncMrtSocket::new(MrtSocket::open(None).unwrap()).unwrap();
        mrt.get_ref().add_vif(VifIndex(0), local).unwrap();
        mrt.get_ref()
            .join_group(local, GroupAddr::ALL_V3_ROUTERS)
            .unwrap();
        const N: usize = 4000;
        // Sent while nobody reads: everything must fit in the receive buffer.
        peer.run(|| {
            let tx = IgmpTxSocket::open().unwrap();
            let peer_if = IfIndex(nix::net::if_::if_nametoindex("b1").unwrap());
            for i in 0..N {
                let [_, _, hi, lo] = (i as u32).to_be_bytes();
                let report =
                    with_checksum(vec![0x22, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 239, 50, hi, lo]);
                loop {
                    match tx.send(
                        peer_if,
                        Ipv4Addr::new(10, 8, 0, 2),
                        Ipv4Addr::new(224, 0, 0, 22),
                        &report,
                    ) {
                        Ok(()) => break,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::yield_now()
                        }
                        Err(e) => panic!("send: {e}"),
                    }
                }
            }
        });
        let mut got = BTreeSet::new();
        while got.len() < N {
            let batch = tokio::time::timeout(Duration::from_secs(5), mrt.recv_batch(1024))
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "only {} of {N} reports read, {} dropped",
                        got.len(),
                        mrt.get_ref().drops()
                    )
                })
                .unwrap();
            for rx in batch {
                if let MrtRx::Igmp(i) = rx
                    && i.payload.len() == 16
                    && i.payload[12..14] == [239, 50]
                {
                    got.insert([i.payload[14], i.payload[15]]);
                }
            }
        }
        assert_eq!(mrt.get_ref().drops(), 0);
    });
}

#[test]
#[ignore = "needs root and a kernel with multicast routing: scripts/kernel-env.sh"]
fn kernel_drops_are_counted() {
    require_root();
    in_netns(|| async {
        let peer = PeerNs::new();
        veth_to_peer(&peer, "d0", "d1");
        let local = ifindex("d0");
        let mrt = AsyncMrtSocket::new(MrtSocket::open(None).unwrap()).unwrap();
        mrt.get_ref()
            .join_group(local, GroupAddr::ALL_V3_ROUTERS)
            .unwrap();
        // A tiny queue, and 200 reports sent while nobody reads.
        nix::sys::socket::setsockopt(mrt.get_ref(), nix::sys::socket::sockopt::RcvBuf, &2048)
            .unwrap();
        let send = |n: usize| {
            peer.run(move || {
                let tx = IgmpTxSocket::open().unwrap();
                let peer_if = IfIndex(nix::net::if_::if_nametoindex("d1").unwrap());
                let report =
                    with_checksum(vec![0x22, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 239, 60, 0, 1]);
                for _ in 0..n {
                    let _ = tx.send(
                        peer_if,
                        Ipv4Addr::new(10, 8, 0, 2),
                        Ipv4Addr::new(224, 0, 0, 22),
                        &report,
                    );
                }
            })
        };
        send(200);
        let batch = tokio::time::timeout(Duration::from_secs(5), mrt.recv_batch(1000))
            .await
            .unwrap()
            .unwrap();
        let from_peer =
            |rx: &MrtRx| matches!(rx, MrtRx::Igmp(i) if i.src == Ipv4Addr::new(10, 8, 0, 2));
        let read = batch.iter().filter(|rx| from_peer(rx)).count();
        assert!(read < 200, "{read} read");
        // The kernel stamps the drop count on packets queued after a drop.
        send(1);
        tokio::time::timeout(Duration::from_secs(5), mrt.recv_batch(1000))
            .await
            .unwrap()
            .unwrap();
        let drops = mrt.get_ref().drops();
        // Every unread report was dropped (the count may include the local
        // kernel's own looped-back reports).
        assert!(drops as usize >= 200 - read, "drops {drops}, read {read}");
    });
}

#[test]
#[ignore = "needs root and a kernel with multicast routing: scripts/kernel-env.sh"]
fn each_table_has_its_own_owner() {
    require_root();
    in_netns(|| async {
        ip(&["link", "add", "t0", "type", "veth", "peer", "name", "t1"]);
        let default = MrtSocket::open(None).unwrap();
        let ten = MrtSocket::open(Some(10)).expect("MRT_TABLE 10");
        assert_eq!(ten.table(), Some(10));
        let err = MrtSocket::open(Some(10)).expect_err("table 10 is owned");
        assert!(
            err.to_string().ends_with("multicast routing table 10"),
            "{err}"
        );
        // The same interface can be a VIF in both tables.
        default.add_vif(VifIndex(0), ifindex("t0")).unwrap();
        ten.add_vif(VifIndex(0), ifindex("t0")).unwrap();
        // /proc shows only the default table.
        ten.add_mfc(
            flow([10, 0, 0, 1], [239, 1, 1, 1]),
            VifIndex(0),
            VifSet::EMPTY,
        )
        .unwrap();
        assert!(mr_cache().is_empty());
        assert!(ten.sg_count(flow([10, 0, 0, 1], [239, 1, 1, 1])).is_ok());
    });
}
