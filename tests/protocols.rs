//! The static and proxy protocols driven together with a real group manager
//! and interface table. [`Bench`] plays the router: it runs ownership
//! changes, feeds the manager's effects back to the protocols as events,
//! carries out their actions, asks for RPF when a flow arrives and ends
//! every operation with a commit.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::Ipv4Addr;
use std::time::Instant;

mod common;

use common::link;
use mgmd::config::Config;
use mgmd::core::iface::IfaceTable;
use mgmd::core::mgm::{Effect, MembershipFlags, Mgm};
use mgmd::core::protocol::{self, HostFilter, ProtoAction, ProtoCtx, ProtoEvent, RoutingProtocol};
use mgmd::core::types::{ComponentId, FlowKey, GroupAddr, IfIndex, MembershipKey, ProtoId};

// ===== the bench =====

struct Bench {
    now: Instant,
    cfg: Config,
    ifaces: IfaceTable,
    mgm: Mgm,
    protos: Vec<(ProtoId, Box<dyn RoutingProtocol>)>,
    /// IGMP's own database, re-added after every enable.
    igmp: BTreeMap<IfIndex, BTreeSet<MembershipKey>>,
    /// Flows refused by RPF (drop entries), with their arrival interface.
    dropped: BTreeMap<FlowKey, IfIndex>,
    /// Outward actions (host memberships, flushes) since the last drain.
    out: Vec<ProtoAction>,
    /// Every event delivered to a protocol, in order.
    delivered: Vec<(ProtoId, ProtoEvent)>,
    /// Where each flow arrived and the kernel's RPF answer, to decide it
    /// again after an ownership change of its interface (as the router does).
    origins: BTreeMap<FlowKey, (IfIndex, Option<IfIndex>)>,
}

impl Bench {
    fn new(text: &str) -> Bench {
        let cfg = Config::parse(text, "test.toml").unwrap_or_else(|e| panic!("{e}"));
        let mut mgm = Mgm::new();
        let protos = protocol::build(&cfg)
            .into_iter()
            .map(|p| (mgm.register(p.name()).unwrap(), p))
            .collect();
        let mut b = Bench {
            now: Instant::now(),
            cfg,
            ifaces: IfaceTable::new(),
            mgm,
            protos,
            igmp: BTreeMap::new(),
            dropped: BTreeMap::new(),
            out: Vec::new(),
            delivered: Vec::new(),
            origins: BTreeMap::new(),
        };
        let ids: Vec<ProtoId> = b.protos.iter().map(|p| p.0).collect();
        for id in ids {
            b.deliver(id, ProtoEvent::Started);
        }
        b
    }

    fn id(&self, name: &str) -> ProtoId {
        self.protos
            .iter()
            .find(|p| p.1.name() == name)
            .map(|p| p.0)
            .unwrap_or_else(|| panic!("no protocol {name}"))
    }

    fn ctx(&self, me: ProtoId) -> ProtoCtx<'_> {
        ProtoCtx {
            now: self.now,
            me,
            ifaces: &self.ifaces,
            mgm: &self.mgm,
        }
    }

    fn status(&self, name: &str) -> serde_json::Value {
        let id = self.id(name);
        let p = &self.protos.iter().find(|p| p.0 == id).unwrap().1;
        p.status(&self.ctx(id))
    }

    // ----- operations (each ends with `commit`) -----

    /// A link appears (up): the manager learns it, IGMP starts if the
    /// config says so, the configured owner takes it.
    fn link(&mut self, ifindex: u32, name: &str) -> Vec<ProtoAction> {
        let ifindex = IfIndex(ifindex);
        self.ifaces.upsert_link(link(ifindex, name, true));
        self.mgm.interface_add(ifindex, name, true);
        let igmp = self.cfg.interface(name).is_some_and(|i| i.igmp.is_some());
        if igmp {
            let e = self.mgm.take_ownership(ComponentId::Igmp, ifindex).unwrap();
            self.process(e);
        }
        let owner = self
            .protos
            .iter()
            .find(|p| p.1.configured_interfaces().contains(name))
            .map(|p| p.0);
        if let Some(id) = owner {
            self.take(id, ifindex);
        }
        self.commit()
    }

    /// The link goes up or down.
    fn oper(&mut self, ifindex: IfIndex, up: bool) -> Vec<ProtoAction> {
        let name = self.ifaces.get(ifindex).unwrap().name.clone();
        self.ifaces.upsert_link(link(ifindex, &name, up));
        let e = self.mgm.interface_set_up(ifindex, up).unwrap();
        self.process(e);
        if let Some(id) = self.routing_owner(ifindex) {
            self.deliver(id, ProtoEvent::InterfaceChanged { ifindex });
        }
        self.commit()
    }

    /// The link is deleted.
    fn vanish(&mut self, ifindex: IfIndex) -> Vec<ProtoAction> {
        self.ifaces.remove_link(ifindex);
        self.igmp.remove(&ifindex);
        let owner = self.routing_owner(ifindex);
        let e = self.mgm.interface_remove(ifindex).unwrap();
        self.process(e);
        if let Some(id) = owner {
            self.deliver(id, ProtoEvent::InterfaceReleased { ifindex });
        }
        self.dropped.retain(|_, a| *a != ifindex);
        self.commit()
    }

    /// IGMP learns `key` on `ifindex`.
    fn igmp_join(&mut self, ifindex: IfIndex, key: MembershipKey) -> Vec<ProtoAction> {
        self.igmp.entry(ifindex).or_default().insert(key);
        let e = self
            .mgm
            .add_membership(ComponentId::Igmp, key, ifindex, MembershipFlags::JOIN)
            .unwrap();
        self.process(e);
        self.commit()
    }

    /// IGMP loses `key` on `ifindex`.
    fn igmp_leave(&mut self, ifindex: IfIndex, key: MembershipKey) -> Vec<ProtoAction> {
        self.igmp.entry(ifindex).or_default().remove(&key);
        let e = self
            .mgm
            .delete_membership(ComponentId::Igmp, key, ifindex, MembershipFlags::JOIN)
            .unwrap();
        self.process(e);
        self.commit()
    }

    /// A new flow: RPF asked of the owner of the kernel's RPF interface,
    /// else of the arrival interface's owner; then the entry (or a drop
    /// entry) and `FlowCreated` to the owner of the incoming interface.
    fn flow(&mut self, flow: FlowKey, arrival: IfIndex, rpf: Option<IfIndex>) -> Option<IfIndex> {
        let iif = self.decide(flow, arrival, rpf);
        self.commit();
        iif
    }

    /// The decision part of [`Bench::flow`], without the commit.
    fn decide(&mut self, flow: FlowKey, arrival: IfIndex, rpf: Option<IfIndex>) -> Option<IfIndex> {
        self.origins.insert(flow, (arrival, rpf));
        let asked = rpf
            .and_then(|i| self.routing_owner(i))
            .or_else(|| self.routing_owner(arrival));
        let iif = match asked {
            Some(id) => {
                let p = &self.protos.iter().find(|p| p.0 == id).unwrap().1;
                p.rpf(&self.ctx(id), flow, arrival, rpf)
            }
            None => rpf,
        };
        match iif {
            Some(iif) => {
                let e = self.mgm.create_mfe(flow, iif, None).unwrap();
                self.process(e);
                let owner = self.routing_owner(iif);
                if let Some(id) = owner {
                    self.deliver(id, ProtoEvent::FlowCreated { flow, iif });
                }
                let others: Vec<ProtoId> = self
                    .protos
                    .iter()
                    .map(|p| p.0)
                    .filter(|id| Some(*id) != owner)
                    .collect();
                for id in others {
                    self.deliver(id, ProtoEvent::FlowSeen { flow, iif });
                }
            }
            None => {
                self.dropped.insert(flow, arrival);
            }
        }
        iif
    }

    /// End of an operation: every protocol commits; returns the outward
    /// actions of the whole operation.
    fn commit(&mut self) -> Vec<ProtoAction> {
        let ids: Vec<ProtoId> = self.protos.iter().map(|p| p.0).collect();
        for id in ids {
            self.deliver(id, ProtoEvent::Commit);
        }
        std::mem::take(&mut self.out)
    }

    // ----- pieces of operations (no commit) -----

    fn take(&mut self, id: ProtoId, ifindex: IfIndex) {
        let redo = self.flows_on(ifindex);
        let e = self
            .mgm
            .take_ownership(ComponentId::Protocol(id), ifindex)
            .unwrap();
        self.process(e);
        self.deliver(id, ProtoEvent::InterfaceTaken { ifindex });
        self.redecide(redo);
    }

    fn release(&mut self, id: ProtoId, ifindex: IfIndex) {
        let redo = self.flows_on(ifindex);
        let e = self
            .mgm
            .release_ownership(ComponentId::Protocol(id), ifindex)
            .unwrap();
        self.process(e);
        self.deliver(id, ProtoEvent::InterfaceReleased { ifindex });
        self.redecide(redo);
    }

    /// Flows (entries and drop entries) coming in on `ifindex`.
    fn flows_on(&self, ifindex: IfIndex) -> Vec<FlowKey> {
        let entries = self
            .mgm
            .mfes()
            .filter(|(_, m)| m.iif() == ifindex)
            .map(|(f, _)| *f);
        let dropped = self
            .dropped
            .iter()
            .filter(|(_, a)| **a == ifindex)
            .map(|(f, _)| *f);
        entries.chain(dropped).collect()
    }

    /// After an ownership change, the flows of the interface are decided
    /// again by the new owner, as the router does.
    fn redecide(&mut self, flows: Vec<FlowKey>) {
        for f in flows {
            self.dropped.remove(&f);
            if self.mgm.mfe(f).is_some() {
                continue;
            }
            if let Some(&(arrival, rpf)) = self.origins.get(&f) {
                self.decide(f, arrival, rpf);
            }
        }
    }

    fn routing_owner(&self, ifindex: IfIndex) -> Option<ProtoId> {
        match self.mgm.owner(ifindex) {
            Ok(Some(ComponentId::Protocol(p))) => Some(p),
            _ => None,
        }
    }

    fn deliver(&mut self, id: ProtoId, ev: ProtoEvent) {
        self.delivered.push((id, ev.clone()));
        let Some(i) = self.protos.iter().position(|p| p.0 == id) else {
            return; // a protocol registered without behaviour
        };
        let ctx = ProtoCtx {
            now: self.now,
            me: id,
            ifaces: &self.ifaces,
            mgm: &self.mgm,
        };
        let actions = self.protos[i].1.handle(&ctx, ev);
        for a in actions {
            self.act(id, a);
        }
    }

    fn act(&mut self, id: ProtoId, action: ProtoAction) {
        let c = ComponentId::Protocol(id);
        let e = match action {
            ProtoAction::TakeInterface { ifindex } => {
                self.take(id, ifindex);
                Vec::new()
            }
            ProtoAction::ReleaseInterface { ifindex } => {
                self.release(id, ifindex);
                Vec::new()
            }
            ProtoAction::AddMembership {
                key,
                ifindex,
                flags,
            } => self.mgm.add_membership(c, key, ifindex, flags).unwrap(),
            ProtoAction::DeleteMembership {
                key,
                ifindex,
                flags,
            } => self.mgm.delete_membership(c, key, ifindex, flags).unwrap(),
            a @ ProtoAction::HostMembership { .. } => {
                self.out.push(a);
                Vec::new()
            }
            ProtoAction::FlushFlows { iif } => {
                self.out.push(ProtoAction::FlushFlows { iif });
                let flows: Vec<FlowKey> = self
                    .mgm
                    .mfes()
                    .filter(|(_, m)| m.iif() == iif)
                    .map(|(f, _)| *f)
                    .collect();
                self.dropped.retain(|_, a| *a != iif);
                flows
                    .into_iter()
                    .flat_map(|f| self.mgm.delete_mfe(f).unwrap())
                    .collect()
            }
        };
        self.process(e);
    }

    fn process(&mut self, effects: Vec<Effect>) {
        let mut queue: VecDeque<Effect> = effects.into();
        while let Some(effect) = queue.pop_front() {
            let more = match effect {
                Effect::EnableIgmp { ifindex } => {
                    let keys: Vec<MembershipKey> = self
                        .igmp
                        .get(&ifindex)
                        .map(|s| s.iter().copied().collect())
                        .unwrap_or_default();
                    keys.into_iter()
                        .flat_map(|k| {
                            self.mgm
                                .add_membership(
                                    ComponentId::Igmp,
                                    k,
                                    ifindex,
                                    MembershipFlags::JOIN,
                                )
                                .unwrap_or_default()
                        })
                        .collect()
                }
                Effect::JoinAlert {
                    to: ComponentId::Protocol(p),
                    key,
                    member_update,
                } => self.deliver_effects(p, ProtoEvent::JoinAlert { key, member_update }),
                Effect::PruneAlert {
                    to: ComponentId::Protocol(p),
                    key,
                    ifindex,
                    member_delete,
                } => self.deliver_effects(
                    p,
                    ProtoEvent::PruneAlert {
                        key,
                        ifindex,
                        member_delete,
                    },
                ),
                Effect::LocalJoin { to, key, ifindex } => {
                    self.deliver_effects(to, ProtoEvent::LocalJoin { key, ifindex })
                }
                Effect::LocalLeave { to, key, ifindex } => {
                    self.deliver_effects(to, ProtoEvent::LocalLeave { key, ifindex })
                }
                Effect::CreationAlert {
                    to: ComponentId::Protocol(p),
                    flow,
                    iif,
                    oifs,
                } => {
                    let disabled = match self.protos.iter().find(|x| x.0 == p) {
                        Some(x) => x.1.creation_alert(&self.ctx(p), flow, iif, &oifs),
                        None => Vec::new(),
                    };
                    disabled
                        .into_iter()
                        .flat_map(|o| self.mgm.set_oif_enabled(flow, o, false).unwrap())
                        .collect()
                }
                _ => Vec::new(),
            };
            queue.extend(more);
        }
    }

    /// Delivers an event raised by an effect. The protocol's actions are
    /// carried out at once, their effects processed recursively, so
    /// nothing is left to queue.
    fn deliver_effects(&mut self, id: ProtoId, ev: ProtoEvent) -> Vec<Effect> {
        self.deliver(id, ev);
        Vec::new()
    }

    fn oifs(&self, flow: FlowKey) -> Vec<IfIndex> {
        self.mgm
            .mfe(flow)
            .unwrap_or_else(|| panic!("no entry for {flow}"))
            .oifs()
            .to_vec()
    }

    fn events_since(&self, start: usize, id: ProtoId) -> Vec<&ProtoEvent> {
        self.delivered[start..]
            .iter()
            .filter(|(p, _)| *p == id)
            .map(|(_, e)| e)
            .collect()
    }
}

// ===== helpers =====

fn g(s: &str) -> GroupAddr {
    s.parse().unwrap()
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn flow(s: &str, grp: &str) -> FlowKey {
    FlowKey {
        source: ip(s),
        group: g(grp),
    }
}

fn any(grp: &str) -> MembershipKey {
    MembershipKey::any(g(grp))
}

fn only(s: &str, grp: &str) -> MembershipKey {
    MembershipKey::only(ip(s), g(grp))
}

fn except(s: &str, grp: &str) -> MembershipKey {
    MembershipKey::except(ip(s), g(grp))
}

fn set(list: &[&str]) -> BTreeSet<Ipv4Addr> {
    list.iter().map(|s| ip(s)).collect()
}

fn host(ifindex: IfIndex, grp: &str, filter: HostFilter) -> ProtoAction {
    ProtoAction::HostMembership {
        ifindex,
        group: g(grp),
        filter,
    }
}

fn include(list: &[&str]) -> HostFilter {
    HostFilter::Include(set(list))
}

fn exclude(list: &[&str]) -> HostFilter {
    HostFilter::Exclude(set(list))
}

fn flush(iif: IfIndex) -> ProtoAction {
    ProtoAction::FlushFlows { iif }
}

// ===== build =====

#[test]
fn build_makes_static_then_proxy() {
    let cfg = Config::parse(
        "[proxy]\nupstream = [\"wan0\"]\ndownstream = [\"lan0\"]\n\
         [static]\ninterfaces = [\"eth0\"]\n",
        "t.toml",
    )
    .unwrap();
    let names: Vec<&str> = protocol::build(&cfg).iter().map(|p| p.name()).collect();
    assert_eq!(names, ["static", "proxy"]);
    let cfg = Config::parse("[[interface]]\nname = \"eth0\"\n", "t.toml").unwrap();
    assert!(protocol::build(&cfg).is_empty());
}

#[test]
fn migration_examples_build_their_protocols() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let cfg = Config::load(dir.join("smcroute-migration.toml")).unwrap();
    let protos = protocol::build(&cfg);
    assert_eq!(protos.len(), 1);
    assert_eq!(protos[0].name(), "static");
    assert_eq!(
        protos[0].configured_interfaces(),
        ["eth0", "eth1", "eth2", "eth3", "eth4"]
            .map(String::from)
            .into()
    );
    let cfg = Config::load(dir.join("igmpproxy-migration.toml")).unwrap();
    let protos = protocol::build(&cfg);
    assert_eq!(protos.len(), 1);
    assert_eq!(protos[0].name(), "proxy");
    assert_eq!(
        protos[0].configured_interfaces(),
        ["eth0".to_string()].into()
    );
}

// ===== static =====

const STATIC: &str = r#"
[static]
interfaces = ["eth0", "eth1", "eth2", "eth3", "eth4", "eth9"]

# (S,G)
[[static.route]]
source = "10.0.0.5"
group = "239.1.1.1"
inbound = "eth0"
outbound = ["eth1", { name = "eth3", only-with-members = true }]

# (*,G/24)
[[static.route]]
group = "239.1.1.0/24"
inbound = "eth0"
outbound = ["eth2"]

# (S/24,G)
[[static.route]]
source = "10.0.0.0/24"
group = "239.1.1.1"
inbound = "eth0"
outbound = ["eth4"]

# (*,G/16) from eth4; eth9 never appears
[[static.route]]
group = "239.2.0.0/16"
inbound = "eth4"
outbound = ["eth1", "eth9"]

[[static.join]]
interface = "eth0"
group = "239.5.5.5"
source = "10.0.0.9"

[[static.join]]
interface = "eth0"
group = "239.5.5.5"
source = "10.0.0.10"

[[static.join]]
interface = "eth2"
group = "239.6.6.6"

[[interface]]
name = "eth3"

[[interface]]
name = "lan0"
"#;

const ETH0: IfIndex = IfIndex(10);
const ETH1: IfIndex = IfIndex(11);
const ETH2: IfIndex = IfIndex(12);
const ETH3: IfIndex = IfIndex(13);
const ETH4: IfIndex = IfIndex(14);
const LAN0: IfIndex = IfIndex(20);

fn static_bench() -> Bench {
    let mut b = Bench::new(STATIC);
    for (i, n) in [
        (10, "eth0"),
        (11, "eth1"),
        (12, "eth2"),
        (13, "eth3"),
        (14, "eth4"),
        (20, "lan0"),
    ] {
        b.link(i, n);
    }
    b
}

#[test]
fn static_exact_route_forwards_to_present_owned_outbounds_only() {
    let mut b = static_bench();
    let f = flow("10.0.0.5", "239.1.1.1");
    // Input: (10.0.0.5,239.1.1.1) on eth0, kernel RPF unknown.
    // Output: iif eth0; eth1 forward-only; eth3 (only-with-members) not yet.
    assert_eq!(b.flow(f, ETH0, None), Some(ETH0));
    assert_eq!(b.oifs(f), [ETH1]);
    // A receiver on eth3 brings it in through IGMP (D1), without a join
    // being recorded for static.
    b.igmp_join(ETH3, any("239.1.1.1"));
    assert_eq!(b.oifs(f), [ETH1, ETH3]);
    b.igmp_leave(ETH3, any("239.1.1.1"));
    assert_eq!(b.oifs(f), [ETH1]);
    // Forward-only adds record no membership.
    let id = b.id("static");
    assert!(
        b.mgm
            .memberships()
            .all(|m| m.by != ComponentId::Protocol(id))
    );
}

#[test]
fn static_picks_the_most_specific_route() {
    let mut b = static_bench();
    // Source prefix beats the group prefix route.
    let f = flow("10.0.0.7", "239.1.1.1");
    assert_eq!(b.flow(f, ETH0, None), Some(ETH0));
    assert_eq!(b.oifs(f), [ETH4]);
    // Other sources: only the (*,G/24) route matches.
    let f = flow("192.0.2.1", "239.1.1.1");
    assert_eq!(b.flow(f, ETH0, None), Some(ETH0));
    assert_eq!(b.oifs(f), [ETH2]);
    let f = flow("10.0.0.5", "239.1.1.77");
    assert_eq!(b.flow(f, ETH0, None), Some(ETH0));
    assert_eq!(b.oifs(f), [ETH2]);
    assert_eq!(b.status("static")["counters"]["flows_matched"], 3);
}

#[test]
fn static_absent_and_unowned_outbounds_are_skipped_until_taken() {
    let mut b = static_bench();
    let id = b.id("static");
    b.release(id, ETH1);
    b.commit();
    let f = flow("192.0.2.1", "239.2.3.4");
    assert_eq!(b.flow(f, ETH4, None), Some(ETH4));
    // eth1 is not ours, eth9 does not exist.
    assert_eq!(b.oifs(f), Vec::<IfIndex>::new());
    // Taking eth1 again adds it to the existing entry.
    b.take(id, ETH1);
    b.commit();
    assert_eq!(b.oifs(f), [ETH1]);
    let st = b.status("static");
    assert_eq!(st["routes"][3]["outbound"][1]["present"], false);
    assert_eq!(st["routes"][3]["outbound"][0]["owned"], true);
}

#[test]
fn static_rpf_falls_back_to_the_kernel_without_a_route() {
    let mut b = static_bench();
    // No route for 238.1.1.1: the kernel's answer stands.
    assert_eq!(
        b.flow(flow("10.0.0.5", "238.1.1.1"), ETH0, Some(LAN0)),
        Some(LAN0)
    );
    assert_eq!(b.flow(flow("10.0.0.6", "238.1.1.1"), ETH0, None), None);
    assert!(b.dropped.contains_key(&flow("10.0.0.6", "238.1.1.1")));
    // A route exists but not on the arrival interface eth2 (not an inbound).
    assert_eq!(b.flow(flow("10.0.0.8", "239.1.1.1"), ETH2, None), None);
    // Arrived on an IGMP-only interface, kernel RPF is the route's
    // inbound: the inbound is used.
    assert_eq!(
        b.flow(flow("10.0.0.5", "239.1.1.2"), LAN0, Some(ETH0)),
        Some(ETH0)
    );
    let st = b.status("static");
    assert_eq!(st["counters"]["rpf_by_kernel"], 3);
    assert_eq!(st["counters"]["rpf_by_route"], 1);
}

#[test]
fn static_keeps_igmp_receivers_in_new_entries() {
    let mut b = static_bench();
    // Receivers on eth3 (static-owned, IGMP on) for a group whose route
    // does not list eth3 at all.
    b.igmp_join(ETH3, any("239.1.1.50"));
    let f = flow("192.0.2.1", "239.1.1.50");
    assert_eq!(b.flow(f, ETH0, None), Some(ETH0));
    assert_eq!(b.oifs(f), [ETH2, ETH3]);
    assert!(b.mgm.mfe(f).unwrap().disabled().is_empty());
}

#[test]
fn static_joins_follow_ownership_and_send_only_net_changes() {
    let mut b = Bench::new(STATIC);
    // eth0 appears: static takes it and wishes the merged SSM join.
    let out = b.link(10, "eth0");
    assert_eq!(
        out,
        [host(ETH0, "239.5.5.5", include(&["10.0.0.9", "10.0.0.10"]))]
    );
    let out = b.link(12, "eth2");
    assert_eq!(out, [host(ETH2, "239.6.6.6", exclude(&[]))]);
    // Unrelated operations send nothing again.
    assert!(b.link(11, "eth1").is_empty());
    assert!(b.commit().is_empty());
    let st = b.status("static");
    assert_eq!(st["joins"][0]["joined"], true);
    assert_eq!(st["joins"][2]["filter"]["mode"], "exclude");
    // Release and take back within one operation: nothing.
    let id = b.id("static");
    b.release(id, ETH2);
    b.take(id, ETH2);
    assert!(b.commit().is_empty());
    // Release: withdrawn.
    b.release(id, ETH2);
    assert_eq!(b.commit(), [host(ETH2, "239.6.6.6", include(&[]))]);
    assert_eq!(b.status("static")["joins"][2]["joined"], false);
    // Vanished: withdrawn too.
    assert_eq!(b.vanish(ETH0), [host(ETH0, "239.5.5.5", include(&[]))]);
}

// ===== proxy =====

const PROXY_OPEN: &str = r#"
[proxy]
upstream = ["wan0", "wan1"]
downstream = ["lan0", "lan1", "lan2"]
"#;

const PROXY_FILTERED: &str = r#"
[proxy]
upstream = ["wan0", "wan1"]
downstream = ["lan0", "lan1", "lan2"]
upstream-allow-groups = ["239.0.0.0/8"]
upstream-deny-groups = ["239.255.0.0/16"]
downstream-deny-groups = ["239.254.0.0/16"]
legal-sources = ["10.0.0.0/8"]
"#;

const WAN0: IfIndex = IfIndex(1);
const WAN1: IfIndex = IfIndex(2);
const LAN1: IfIndex = IfIndex(21);
const LAN2: IfIndex = IfIndex(22);

fn proxy_bench(text: &str) -> Bench {
    let mut b = Bench::new(text);
    // Taken in this operation: its flows were just decided, nothing to flush.
    assert!(b.link(1, "wan0").is_empty());
    assert!(b.link(2, "wan1").is_empty());
    for (i, n) in [(20, "lan0"), (21, "lan1"), (22, "lan2")] {
        assert!(b.link(i, n).is_empty());
    }
    b
}

#[test]
fn proxy_merges_include_modes_into_their_union() {
    let mut b = proxy_bench(PROXY_OPEN);
    let out = b.igmp_join(LAN0, only("10.0.0.1", "239.1.1.1"));
    assert_eq!(out, [host(WAN0, "239.1.1.1", include(&["10.0.0.1"]))]);
    let out = b.igmp_join(LAN1, only("10.0.0.2", "239.1.1.1"));
    assert_eq!(
        out,
        [host(WAN0, "239.1.1.1", include(&["10.0.0.1", "10.0.0.2"]))]
    );
    // The same source on another interface changes nothing.
    assert!(b.igmp_join(LAN2, only("10.0.0.2", "239.1.1.1")).is_empty());
    assert!(b.igmp_leave(LAN2, only("10.0.0.2", "239.1.1.1")).is_empty());
    let out = b.igmp_leave(LAN0, only("10.0.0.1", "239.1.1.1"));
    assert_eq!(out, [host(WAN0, "239.1.1.1", include(&["10.0.0.2"]))]);
    let out = b.igmp_leave(LAN1, only("10.0.0.2", "239.1.1.1"));
    assert_eq!(out, [host(WAN0, "239.1.1.1", include(&[]))]);
}

#[test]
fn proxy_merges_exclude_with_include_and_exclude() {
    let mut b = proxy_bench(PROXY_OPEN);
    let grp = "239.1.1.1";
    assert_eq!(b.igmp_join(LAN0, any(grp)), [host(WAN0, grp, exclude(&[]))]);
    for s in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
        b.igmp_join(LAN0, except(s, grp));
    }
    assert_eq!(b.status("proxy")["membership"][grp]["mode"], "exclude");
    // A second EXCLUDE interface: the intersection of the lists.
    b.igmp_join(LAN1, except("10.0.0.2", grp));
    b.igmp_join(LAN1, except("10.0.0.3", grp));
    b.igmp_join(LAN1, except("10.0.0.4", grp));
    let out = b.igmp_join(LAN1, any(grp));
    assert_eq!(out, [host(WAN0, grp, exclude(&["10.0.0.2", "10.0.0.3"]))]);
    // An INCLUDE interface asking for 10.0.0.3 removes it from the list.
    let out = b.igmp_join(LAN2, only("10.0.0.3", grp));
    assert_eq!(out, [host(WAN0, grp, exclude(&["10.0.0.2"]))]);
    // lan0 leaves EXCLUDE mode: only lan1's list (minus lan2's source).
    b.igmp_leave(LAN0, except("10.0.0.1", grp));
    b.igmp_leave(LAN0, except("10.0.0.2", grp));
    b.igmp_leave(LAN0, except("10.0.0.3", grp));
    let out = b.igmp_leave(LAN0, any(grp));
    assert_eq!(out, [host(WAN0, grp, exclude(&["10.0.0.2", "10.0.0.4"]))]);
    // lan1 leaves too: back to INCLUDE from lan2.
    for s in ["10.0.0.2", "10.0.0.3", "10.0.0.4"] {
        b.igmp_leave(LAN1, except(s, grp));
    }
    let out = b.igmp_leave(LAN1, any(grp));
    assert_eq!(out, [host(WAN0, grp, include(&["10.0.0.3"]))]);
}

#[test]
fn proxy_never_proxies_link_local_groups() {
    let mut b = proxy_bench(PROXY_OPEN);
    assert!(b.igmp_join(LAN0, any("224.0.0.251")).is_empty());
    assert!(b.igmp_join(LAN0, only("10.0.0.1", "224.0.0.9")).is_empty());
    assert_eq!(b.status("proxy")["membership"], serde_json::json!({}));
    // 224.0.1.x is not link-local.
    assert_eq!(
        b.igmp_join(LAN0, any("224.0.1.1")),
        [host(WAN0, "224.0.1.1", exclude(&[]))]
    );
}

#[test]
fn proxy_group_filters_apply_upstream_and_downstream() {
    let mut b = proxy_bench(PROXY_FILTERED);
    // Outside upstream-allow, inside upstream-deny, inside downstream-deny.
    assert!(b.igmp_join(LAN0, any("238.1.1.1")).is_empty());
    assert!(b.igmp_join(LAN0, any("239.255.1.1")).is_empty());
    assert!(b.igmp_join(LAN0, any("239.254.1.1")).is_empty());
    assert_eq!(
        b.igmp_join(LAN0, any("239.1.1.1")),
        [host(WAN0, "239.1.1.1", exclude(&[]))]
    );
}

#[test]
fn proxy_refuses_flows_by_source_group_and_standby_upstream() {
    let mut b = proxy_bench(PROXY_FILTERED);
    b.igmp_join(LAN0, any("239.1.1.1"));
    b.igmp_join(LAN1, any("239.254.1.1"));
    // Legal source, permitted group, on the upstream: forwarded down.
    let f = flow("10.1.1.1", "239.1.1.1");
    assert_eq!(b.flow(f, WAN0, None), Some(WAN0));
    assert_eq!(b.oifs(f), [LAN0]);
    // Illegal source, even when the kernel would accept it.
    let f = flow("192.0.2.1", "239.1.1.1");
    assert_eq!(b.flow(f, WAN0, Some(WAN0)), None);
    assert!(b.mgm.mfe(f).is_none() && b.dropped.contains_key(&f));
    // Filtered group (downstream-deny), legal source.
    assert_eq!(b.flow(flow("10.1.1.1", "239.254.1.1"), WAN0, None), None);
    // Arrived on the standby upstream.
    assert_eq!(
        b.flow(flow("10.1.1.2", "239.1.1.1"), WAN1, Some(WAN1)),
        None
    );
    // Arrived on a downstream with the kernel pointing at the upstream:
    // the same checks apply.
    assert_eq!(
        b.flow(flow("192.0.2.9", "239.1.1.1"), LAN1, Some(WAN0)),
        None
    );
    let c = &b.status("proxy")["counters"];
    assert_eq!(c["flows_accepted"], 1);
    assert_eq!(c["refused_illegal_source"], 2);
    assert_eq!(c["refused_group_filtered"], 1);
    assert_eq!(c["refused_standby_upstream"], 1);
}

#[test]
fn proxy_forwards_downstream_senders_upstream() {
    // RFC 4605 4.2: a downstream sender's traffic goes to the upstream and
    // to the other downstreams with members.
    let mut b = proxy_bench(PROXY_OPEN);
    b.igmp_join(LAN1, any("239.1.1.1"));
    let f = flow("192.0.2.1", "239.1.1.1");
    assert_eq!(b.flow(f, LAN0, Some(LAN0)), Some(LAN0));
    let oifs: Vec<IfIndex> = b.mgm.mfe(f).unwrap().oifs().to_vec();
    assert_eq!(oifs, vec![WAN0, LAN1]);
    // Link-local groups stay on their link.
    let ll = flow("192.0.2.1", "224.0.0.251");
    b.flow(ll, LAN0, Some(LAN0));
    assert!(!b.mgm.mfe(ll).is_some_and(|m| m.oifs().contains(&WAN0)));
    // Traffic from upstream is not sent back up.
    let up = flow("10.9.9.9", "239.1.1.1");
    assert_eq!(b.flow(up, WAN0, Some(WAN0)), Some(WAN0));
    assert_eq!(b.mgm.mfe(up).unwrap().oifs().to_vec(), vec![LAN1]);
}

#[test]
fn proxy_rpf_leaves_other_flows_to_the_kernel() {
    let b = proxy_bench(PROXY_OPEN);
    let id = b.id("proxy");
    let p = &b.protos.iter().find(|p| p.0 == id).unwrap().1;
    let f = flow("192.0.2.1", "239.1.1.1");
    assert_eq!(p.rpf(&b.ctx(id), f, LAN0, Some(LAN1)), Some(LAN1));
    assert_eq!(p.rpf(&b.ctx(id), f, LAN0, None), None);
}

#[test]
fn proxy_fails_over_and_returns_moving_its_wishes() {
    let mut b = proxy_bench(PROXY_OPEN);
    b.igmp_join(LAN0, any("239.1.1.1"));
    b.igmp_join(LAN1, only("10.0.0.1", "239.2.2.2"));
    let f = flow("10.9.9.9", "239.1.1.1");
    assert_eq!(b.flow(f, WAN0, None), Some(WAN0));
    // wan0 goes down: wan1 takes over.
    let out = b.oper(WAN0, false);
    assert_eq!(
        out,
        [
            flush(WAN0),
            flush(WAN1),
            host(WAN0, "239.1.1.1", include(&[])),
            host(WAN0, "239.2.2.2", include(&[])),
            host(WAN1, "239.1.1.1", exclude(&[])),
            host(WAN1, "239.2.2.2", include(&["10.0.0.1"])),
        ]
    );
    assert_eq!(b.status("proxy")["upstream"], "wan1");
    // A flow now arrives on wan1 and is forwarded.
    let f1 = flow("10.9.9.8", "239.1.1.1");
    assert_eq!(b.flow(f1, WAN1, None), Some(WAN1));
    // wan0 is back: the preferred upstream takes over again, and flows on
    // wan1 are flushed to be decided again.
    let out = b.oper(WAN0, true);
    assert_eq!(
        out,
        [
            flush(WAN1),
            flush(WAN0),
            host(WAN1, "239.1.1.1", include(&[])),
            host(WAN1, "239.2.2.2", include(&[])),
            host(WAN0, "239.1.1.1", exclude(&[])),
            host(WAN0, "239.2.2.2", include(&["10.0.0.1"])),
        ]
    );
    assert!(b.mgm.mfe(f1).is_none());
    // wan0 vanishes; wan1 again. It comes back as a new link and is taken.
    // (The interface that changed owner has no flows left to flush.)
    let out = b.vanish(WAN0);
    assert_eq!(out.len(), 5);
    assert_eq!(out[..1], [flush(WAN1)]);
    let out = b.link(3, "wan0");
    assert_eq!(out[..1], [flush(WAN1)]);
    assert!(!out.contains(&flush(IfIndex(3))));
    assert!(out.contains(&host(IfIndex(3), "239.1.1.1", exclude(&[]))));
    assert!(out.contains(&host(WAN1, "239.1.1.1", include(&[]))));
    let st = b.status("proxy");
    assert_eq!(st["upstream"], "wan0");
    assert_eq!(st["counters"]["upstream_changes"], 5);
    assert_eq!(st["candidates"][1]["up"], true);
}

#[test]
fn proxy_without_any_upstream_wishes_nothing() {
    let mut b = proxy_bench(PROXY_OPEN);
    b.igmp_join(LAN0, any("239.1.1.1"));
    b.oper(WAN1, false);
    let out = b.oper(WAN0, false);
    assert_eq!(out, [flush(WAN0), host(WAN0, "239.1.1.1", include(&[]))]);
    assert!(b.igmp_join(LAN0, any("239.3.3.3")).is_empty());
    assert_eq!(b.status("proxy")["upstream"], serde_json::Value::Null);
    let out = b.oper(WAN1, true);
    assert_eq!(
        out,
        [
            flush(WAN1),
            host(WAN1, "239.1.1.1", exclude(&[])),
            host(WAN1, "239.3.3.3", exclude(&[])),
        ]
    );
}

#[test]
fn proxy_is_hitless_when_a_downstream_changes_owner() {
    let mut b = proxy_bench(PROXY_OPEN);
    let other = b.mgm.register("other").unwrap();
    let proxy = b.id("proxy");
    b.igmp_join(LAN0, any("239.1.1.1"));
    b.igmp_join(LAN0, only("10.0.0.1", "239.2.2.2"));
    let mark = b.delivered.len();
    // Another protocol takes lan0: flush, then IGMP re-adds.
    b.take(other, LAN0);
    assert!(b.commit().is_empty());
    let seen = b.events_since(mark, proxy);
    assert!(
        seen.iter()
            .any(|e| matches!(e, ProtoEvent::PruneAlert { .. }))
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, ProtoEvent::JoinAlert { .. }))
    );
    // Release and take again inside one operation.
    let mark = b.delivered.len();
    b.release(other, LAN0);
    b.take(other, LAN0);
    assert!(b.commit().is_empty());
    assert!(
        b.events_since(mark, proxy)
            .iter()
            .any(|e| matches!(e, ProtoEvent::PruneAlert { .. }))
    );
    // Memberships still count while lan0 belongs to the other protocol.
    assert_eq!(
        b.igmp_leave(LAN0, any("239.1.1.1")),
        [host(WAN0, "239.1.1.1", include(&[]))]
    );
    b.release(other, LAN0);
    assert!(b.commit().is_empty());
}
