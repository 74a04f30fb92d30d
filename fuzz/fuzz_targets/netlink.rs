//! Netlink message handling: a datagram from the rtnetlink socket, taken
//! apart as the connection does (`netlink_proto::NetlinkCodec`), each
//! message translated into facts (`mgmd::io::netlink::translate`, route
//! replies through `table_route` and `rpf_info`) and the facts fed to the
//! router as the daemon's loop does; then the same messages as the reply
//! to a dump, i.e. the snapshot taken at start and after lost
//! notifications.
//!
//! Input: one datagram (one or more netlink messages), as captured.
//!
//! Checked: nothing panics; the interface table follows the facts (a link
//! fact leaves that link under that name, a deletion removes it, no name
//! is held by two links, a snapshot leaves only its links); and the
//! multicast routing socket is driven consistently: a VIF is added only
//! where none exists, deleted only where it exists, and forwarding
//! entries name only existing VIFs (the kernel drops a device's VIF
//! itself when the device goes away).
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::time::Instant;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mgmd::config::Config;
use mgmd::core::iface::{AddrFact, LinkFact};
use mgmd::core::input::Input;
use mgmd::core::mroute::MrtAction;
use mgmd::core::output::Output;
use mgmd::core::router::Router;
use mgmd::core::types::IfIndex;
use mgmd::io::netlink::{NetEvent, rpf_info, table_route, translate};
use netlink_packet_core::NetlinkPayload;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::route::RouteAttribute;
use netlink_proto::{NetlinkCodec, NetlinkMessageCodec};

/// The interfaces of the capture topology (`fuzz/seeds/capture.sh`): IGMP
/// on lan1 and lan2, a static route from st0 to st1, a proxy from wan0 to
/// dn0.
const CONFIG: &str = r#"
[[interface]]
name = "lan1"
[[interface]]
name = "lan2"

[static]
[[static.route]]
group = "239.1.1.1"
inbound = "st0"
outbound = ["st1"]

[proxy]
upstream = ["wan0"]
downstream = ["dn0"]
"#;

struct Harness {
    r: Router,
    now: Instant,
    /// The kernel's VIF table as the outputs so far left it.
    vifs: BTreeMap<u16, IfIndex>,
}

impl Harness {
    fn apply(&mut self, ev: NetEvent) {
        // As the daemon's loop maps them (RoutesChanged only schedules RPF
        // lookups there).
        let input = match ev.clone() {
            NetEvent::Link(l) => Input::Link(l),
            NetEvent::LinkGone { ifindex, .. } => Input::LinkGone { ifindex },
            NetEvent::AddrAdded(a) => Input::AddrAdded(a),
            NetEvent::AddrRemoved(a) => Input::AddrRemoved(a),
            NetEvent::Snapshot { links, addrs } => Input::Snapshot { links, addrs },
            NetEvent::RoutesChanged { .. } => return,
        };
        // The kernel deletes a device's VIF with the device.
        match &input {
            Input::LinkGone { ifindex: i } => self.vifs.retain(|_, v| v != i),
            Input::Snapshot { links, .. } => self
                .vifs
                .retain(|_, v| links.iter().any(|l| l.ifindex == *v)),
            _ => {}
        }
        let out = self.r.step(self.now, [input]);
        self.kernel(&out);
        self.check_table(&ev);
    }

    fn kernel(&mut self, out: &[Output]) {
        for o in out {
            match o {
                Output::Mrt(MrtAction::AddVif { vif, ifindex }) => {
                    let old = self.vifs.insert(vif.0, *ifindex);
                    assert_eq!(old, None, "AddVif {vif:?} over an existing VIF");
                }
                Output::Mrt(MrtAction::DelVif { vif, ifindex }) => {
                    // Deleting the VIF of a device already gone is fine:
                    // the kernel answers an error that the daemon logs.
                    if let Some(v) = self.vifs.remove(&vif.0) {
                        assert_eq!(v, *ifindex, "DelVif {vif:?} names another device");
                    }
                }
                Output::Mrt(MrtAction::AddMfc {
                    iif_vif,
                    oifs,
                    flow,
                }) => {
                    for v in std::iter::once(*iif_vif).chain(oifs.iter()) {
                        assert!(self.vifs.contains_key(&v.0), "{flow:?} uses missing {v:?}");
                    }
                }
                _ => {}
            }
        }
    }

    fn check_table(&self, ev: &NetEvent) {
        let t = self.r.ifaces();
        let names: BTreeSet<&str> = t.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names.len(), t.iter().count(), "a name held by two links");
        match ev {
            NetEvent::Link(f) => {
                assert_eq!(
                    t.get(f.ifindex).map(|l| l.name.as_str()),
                    Some(f.name.as_str())
                );
            }
            NetEvent::LinkGone { ifindex, .. } => assert!(t.get(*ifindex).is_none()),
            NetEvent::Snapshot { links, .. } => {
                for l in t.iter() {
                    assert!(
                        links
                            .iter()
                            .any(|f| f.ifindex == l.ifindex && f.name == l.name)
                    );
                }
            }
            _ => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    static CFG: OnceLock<Config> = OnceLock::new();
    let cfg = CFG
        .get_or_init(|| Config::parse(CONFIG, "fuzz.toml").expect("valid literal configuration"))
        .clone();
    let now = Instant::now();
    let mut h = Harness {
        r: Router::new(cfg, now),
        now,
        vifs: BTreeMap::new(),
    };
    let mut dump_links: Vec<LinkFact> = Vec::new();
    let mut dump_addrs: Vec<AddrFact> = Vec::new();
    let mut buf = BytesMut::from(data);
    while let Ok(Some(msg)) = NetlinkCodec::decode::<RouteNetlinkMessage>(&mut buf) {
        let NetlinkPayload::InnerMessage(m) = msg.payload else {
            continue;
        };
        if let RouteNetlinkMessage::NewRoute(r) | RouteNetlinkMessage::DelRoute(r) = &m {
            let table = r
                .attributes
                .iter()
                .find_map(|a| match a {
                    RouteAttribute::Table(t) => Some(*t),
                    _ => None,
                })
                .unwrap_or(u32::from(r.header.table));
            let _ = table_route(r, table);
            let _ = rpf_info(r);
        }
        let dumped = matches!(
            m,
            RouteNetlinkMessage::NewLink(_) | RouteNetlinkMessage::NewAddress(_)
        );
        let Some(ev) = translate(m) else {
            continue;
        };
        if dumped {
            match &ev {
                // A dump lists each link once, as it is then. (It is not
                // atomic: a rename during a dump can make two links show
                // the same name.)
                NetEvent::Link(l) => {
                    dump_links.retain(|d| d.ifindex != l.ifindex);
                    dump_links.push(l.clone());
                }
                NetEvent::AddrAdded(a) => dump_addrs.push(*a),
                _ => {}
            }
        }
        h.apply(ev);
    }
    h.apply(NetEvent::Snapshot {
        links: dump_links,
        addrs: dump_addrs,
    });
    if let Some(t) = h.r.next_deadline() {
        h.now = h.now.max(t);
        let out = h.r.step(h.now, [Input::Timer]);
        h.kernel(&out);
    }
    let out = h.r.step(h.now, [Input::Shutdown]);
    h.kernel(&out);
});
