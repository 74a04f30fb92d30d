//! Time to install 10,000 forwarding entries in the kernel: a plain loop of
//! `MRT_ADD_MFC` calls (the physical limit) against mgmd's own path, the
//! router turning `NewFlow` upcalls into actions that are applied on a
//! real multicast routing socket by the kernel writer thread, as the event
//! loop does. Also shown: the same with the actions applied inline (one
//! thread), the router's own share (actions not applied), and the event
//! loop's path with a kernel route lookup for every flow (each flow has a
//! source of its own, so the daemon's one-second cache never hits).
//!
//! Runs as root in a network namespace of its own (unshared by the bench
//! thread, gone when it ends); prints a skip message otherwise.
//!
//!     cargo bench --bench mfc_install [-- FLOWS ROUNDS]

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mgmd::config::Config;
use mgmd::core::iface::{AddrFact, LinkFact};
use mgmd::core::igmp::{GroupRecord, IgmpPacket, RecordType};
use mgmd::core::input::Input;
use mgmd::core::mroute::MrtAction;
use mgmd::core::output::Output;
use mgmd::core::router::Router;
use mgmd::core::types::{FlowKey, GroupAddr, IfIndex, VifIndex, VifSet, ipv4_of};
use mgmd::io::mrt::MrtSocket;
use mgmd::io::mrt_writer::{MrtWriter, WriterReport};
use mgmd::io::netlink;
use nix::sched::{CloneFlags, unshare};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 1, 1, 1);

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

/// `n` distinct sources in 10.0.0.0/16 (the upstream subnet), one group.
fn flows(n: usize) -> Vec<FlowKey> {
    let group = GroupAddr::new(GROUP).expect("multicast group");
    (0..n)
        .map(|i| {
            let i = u32::try_from(i).expect("flow count fits u32");
            FlowKey {
                group,
                source: Ipv4Addr::from(0x0a00_0000 + 0x100 + i).into(),
            }
        })
        .collect()
}

struct Links {
    up0: IfIndex,
    lan1: IfIndex,
    lan2: IfIndex,
}

fn make_links() -> Links {
    ip(&["link", "set", "lo", "up"]);
    for (name, addr) in [
        ("up0", "10.0.0.1/16"),
        ("lan1", "10.1.0.1/24"),
        ("lan2", "10.2.0.1/24"),
    ] {
        let peer = format!("{name}p");
        ip(&["link", "add", name, "type", "veth", "peer", "name", &peer]);
        ip(&["addr", "add", addr, "dev", name]);
        ip(&["link", "set", name, "up"]);
        ip(&["link", "set", &peer, "up"]);
    }
    Links {
        up0: ifindex("up0"),
        lan1: ifindex("lan1"),
        lan2: ifindex("lan2"),
    }
}

/// One round of the raw loop: VIFs, then `flows.len()` timed `add_mfc`.
fn raw_round(sock: &MrtSocket, links: &Links, flows: &[FlowKey]) -> Duration {
    sock.add_vif(VifIndex(0), links.up0).expect("add vif 0");
    sock.add_vif(VifIndex(1), links.lan1).expect("add vif 1");
    sock.add_vif(VifIndex(2), links.lan2).expect("add vif 2");
    let oifs = VifSet::from([VifIndex(1)]);
    let t = Instant::now();
    for f in flows {
        sock.add_mfc(*f, VifIndex(0), oifs).expect("add_mfc");
    }
    t.elapsed()
}

fn config() -> Config {
    Config::parse(
        r#"
[global]
rp-filter-warning = false

[igmp]
version = 3
query-interval = "125s"

[[interface]]
name = "up0"
[[interface]]
name = "lan1"
[[interface]]
name = "lan2"
"#,
        "mfc_install.toml",
    )
    .expect("bench config")
}

fn addr(ifindex: IfIndex, a: Ipv4Addr, prefix_len: u8) -> AddrFact {
    AddrFact {
        ifindex,
        addr: a.into(),
        prefix_len,
        peer: None,
    }
}

/// Carries out outputs the way the event loop does for the kernel part;
/// returns how many kernel actions were applied.
/// How a round carries out the kernel actions.
#[derive(Clone, Copy)]
enum Apply<'a> {
    /// Not at all: the router's own cost.
    Nothing,
    /// One by one on this thread, right after each commit.
    Inline(&'a MrtSocket),
    /// Through the kernel writer thread, as the event loop does.
    Writer(&'a MrtWriter),
}

/// Carries out the kernel part of `outputs`; returns how many actions.
fn apply(how: Apply<'_>, outputs: Vec<Output>) -> usize {
    let actions: Vec<MrtAction> = outputs
        .into_iter()
        .filter_map(|o| match o {
            Output::Mrt(a) => Some(a),
            _ => None,
        })
        .collect();
    let n = actions.len();
    match how {
        Apply::Nothing => {}
        Apply::Inline(sock) => {
            for a in &actions {
                sock.apply(a)
                    .unwrap_or_else(|e| panic!("kernel refused an action: {e}"));
            }
        }
        Apply::Writer(w) => w.submit(actions),
    }
    n
}

/// Waits until the writer applied everything; fails on any refusal.
fn settle(how: Apply<'_>) {
    if let Apply::Writer(w) = how {
        w.flush().blocking_recv().expect("kernel writer alive");
    }
}

fn check_no_refusal(w: &mut MrtWriter) {
    while let Some(r) = w.try_report() {
        if let WriterReport::Rejected { action, error } = r {
            panic!("kernel refused {action}: {error}");
        }
    }
}

/// One round of mgmd's path: a fresh router learns the links and a
/// receiver on lan1 (untimed), then handles the flows' `NewFlow` upcalls,
/// `batch` at a time as the event loop drains them from the socket, with
/// every resulting action applied as `how` says (timed, until the kernel
/// has them all).
/// How a round learns the route towards each flow's source.
#[derive(Clone, Copy)]
enum Rpf<'a> {
    /// Given (the kernel's answer, known in advance).
    Given,
    /// Asked of the kernel over rtnetlink, one source after another, as
    /// the event loop does for sources it has not looked up in the last
    /// second.
    Kernel(&'a Netlink),
}

/// An rtnetlink connection and the runtime it runs on.
struct Netlink {
    rt: tokio::runtime::Runtime,
    handle: rtnetlink::Handle,
}

impl Netlink {
    fn new() -> Netlink {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let handle = rt.block_on(async {
            let (conn, handle, _) = rtnetlink::new_connection().expect("rtnetlink");
            tokio::spawn(conn);
            handle
        });
        Netlink { rt, handle }
    }

    /// The RPF interface of each source, in order.
    fn lookup(&self, sources: &[Ipv4Addr]) -> Vec<Option<IfIndex>> {
        self.rt.block_on(async {
            let mut v = Vec::with_capacity(sources.len());
            for s in sources {
                let answer = netlink::rpf_lookup(&self.handle, *s, None).await;
                v.push(answer.expect("route lookup").map(|r| r.ifindex));
            }
            v
        })
    }
}

fn mgmd_round(
    how: Apply<'_>,
    rpf: Rpf<'_>,
    links: &Links,
    flows: &[FlowKey],
    batch: usize,
) -> (Duration, usize) {
    let mut router = Router::new(config(), Instant::now());
    // As in the daemon with no `mgmctl events` subscriber and info logging.
    let out = router.step(
        Instant::now(),
        [Input::Snapshot {
            links: vec![
                LinkFact::up(links.up0, "up0"),
                LinkFact::up(links.lan1, "lan1"),
                LinkFact::up(links.lan2, "lan2"),
            ],
            addrs: vec![
                addr(links.up0, Ipv4Addr::new(10, 0, 0, 1), 16),
                addr(links.lan1, Ipv4Addr::new(10, 1, 0, 1), 24),
                addr(links.lan2, Ipv4Addr::new(10, 2, 0, 1), 24),
            ],
        }],
    );
    apply(how, out);
    let report = IgmpPacket::V3Report {
        records: vec![GroupRecord {
            record_type: RecordType::ChangeToExclude,
            group: GROUP,
            sources: vec![],
        }],
    }
    .encode();
    let out = router.step(
        Instant::now(),
        [Input::IgmpRx {
            ifindex: links.lan1,
            src: Ipv4Addr::new(10, 1, 0, 2),
            dst: Ipv4Addr::new(224, 0, 0, 22),
            ttl: 1,
            router_alert: true,
            payload: report,
        }],
    );
    apply(how, out);
    assert!(
        router
            .memberships_on(links.lan1)
            .iter()
            .any(|k| k.group.addr() == GROUP),
        "the receiver's membership was not learned"
    );

    let up0 = (0..32)
        .map(VifIndex)
        .find(|v| router.ifindex_of_vif(*v) == Some(links.up0))
        .expect("up0 is a VIF");
    let t = Instant::now();
    let mut applied = 0;
    for chunk in flows.chunks(batch) {
        // The flows are IPv4 ones (made below from 10.0.0.0/8 sources).
        let sources: Vec<Ipv4Addr> = chunk.iter().filter_map(|f| ipv4_of(f.source)).collect();
        let answers = match rpf {
            Rpf::Given => vec![Some(links.up0); chunk.len()],
            Rpf::Kernel(nl) => nl.lookup(&sources),
        };
        let upcalls = chunk.iter().zip(answers).map(|(f, rpf)| Input::NewFlow {
            flow: *f,
            vif: up0,
            rpf,
            upstream: None,
        });
        let out = router.step(Instant::now(), upcalls);
        applied += apply(how, out);
    }
    settle(how);
    let dt = t.elapsed();
    let installed = router.installed_flows().len();
    assert_eq!(installed, flows.len(), "router installed {installed} flows");
    (dt, applied)
}

/// Entries in the namespace's kernel table with an outgoing interface.
fn kernel_entries_with_oifs() -> usize {
    std::fs::read_to_string("/proc/thread-self/net/ip_mr_cache")
        .expect("read ip_mr_cache")
        .lines()
        .skip(1)
        .filter(|l| l.split_whitespace().nth(6).is_some())
        .count()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn run(n: usize, rounds: usize) {
    let links = make_links();
    let sock = Arc::new(MrtSocket::open(None).expect("open the multicast routing socket"));
    let mut writer = MrtWriter::start(Arc::clone(&sock), None).expect("start the kernel writer");
    let flows = flows(n);
    let nl = Netlink::new();
    // (label, upcalls per commit, how actions are applied, route lookups)
    let paths: [(&str, usize, Apply<'_>, Rpf<'_>); 5] = [
        (
            "mgmd as the event loop: 1024 upcalls per commit, kernel writer thread",
            1024,
            Apply::Writer(&writer),
            Rpf::Given,
        ),
        (
            "mgmd, one upcall per commit, kernel writer thread",
            1,
            Apply::Writer(&writer),
            Rpf::Given,
        ),
        (
            "mgmd, 1024 per commit, applied inline (one thread)",
            1024,
            Apply::Inline(&sock),
            Rpf::Given,
        ),
        (
            "router alone, 1024 per commit (actions produced, not applied)",
            1024,
            Apply::Nothing,
            Rpf::Given,
        ),
        (
            "as the event loop, plus a kernel route lookup (RTM_GETROUTE) per flow: every source new",
            1024,
            Apply::Writer(&writer),
            Rpf::Kernel(&nl),
        ),
    ];
    let mut raw = Vec::new();
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); paths.len()];
    println!("flows per round: {n}, rounds: {rounds} (alternating; table flushed between runs)");
    println!("round  raw ms  then each path's ms in the order of the table below");
    for r in 0..rounds {
        let dr = raw_round(&sock, &links, &flows);
        assert_eq!(kernel_entries_with_oifs(), n, "raw loop entries");
        sock.flush().expect("flush");
        raw.push(n as f64 / dr.as_secs_f64());
        let mut line = format!("{r:>5}  {:>6.2}", dr.as_secs_f64() * 1e3);
        for (i, (label, batch, how, rpf)) in paths.iter().enumerate() {
            let (d, applied) = mgmd_round(*how, *rpf, &links, &flows, *batch);
            assert!(
                applied >= n,
                "{label}: only {applied} kernel actions for {n} flows"
            );
            if !matches!(how, Apply::Nothing) {
                assert_eq!(kernel_entries_with_oifs(), n, "{label}: entries");
            }
            sock.flush().expect("flush");
            rates[i].push(n as f64 / d.as_secs_f64());
            line += &format!("  {:>6.2}", d.as_secs_f64() * 1e3);
        }
        println!("{line}");
    }
    let raw_m = median(&mut raw);
    println!();
    println!("| path | median entries/s | median time for {n} | of the raw loop's rate |");
    println!("|---|---|---|---|");
    println!(
        "| raw MRT_ADD_MFC loop | {raw_m:.0} | {:.1} ms | 100 % |",
        n as f64 / raw_m * 1e3
    );
    for ((label, _, _, _), r) in paths.iter().zip(rates.iter_mut()) {
        let m = median(r);
        println!(
            "| {label} | {m:.0} | {:.1} ms | {:.1} % |",
            n as f64 / m * 1e3,
            m / raw_m * 100.0
        );
    }
    println!(
        "target: the event-loop path at >= 80 % of the raw loop's rate ({:.1} %)",
        median(&mut rates[0]) / raw_m * 100.0
    );
    check_no_refusal(&mut writer);
}

fn main() {
    // `cargo bench` passes `--bench`; positional numbers are ours.
    let nums: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    // Under `cargo test` (no `--bench`), a small smoke run checks the
    // paths still install every entry without taking the test suite's time.
    let measuring = std::env::args().any(|a| a == "--bench");
    let (default_n, default_rounds) = if measuring { (10_000, 5) } else { (200, 1) };
    let n = nums.first().copied().unwrap_or(default_n);
    let rounds = nums.get(1).copied().unwrap_or(default_rounds);
    if !nix::unistd::geteuid().is_root() {
        println!("mfc_install: skipped (needs root for a network namespace and MRT_INIT)");
        return;
    }
    let t = std::thread::spawn(move || {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        run(n, rounds);
    });
    if let Err(p) = t.join() {
        std::panic::resume_unwind(p);
    }
}
