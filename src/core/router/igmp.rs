//! IGMP glue: one [`IgmpRouter`] per interface where IGMP runs (started
//! the first time the interface is up, kept while it is down), fed the
//! packets received there; what it learns becomes the manager's
//! memberships (held back while an ownership change runs: IGMP re-adds at
//! the enable), what it sends becomes outputs.

use std::net::Ipv4Addr;
use std::time::Instant;

use super::Router;
use crate::core::event::Event;
use crate::core::igmp::{IgmpAction, IgmpEvent, IgmpRouter};
use crate::core::mgm::{MembershipFlags, MgmError};
use crate::core::output::Output;
use crate::core::protocol::ProtoEvent;
use crate::core::types::{ComponentId, IfIndex};

impl Router {
    pub(super) fn igmp_start(&mut self, now: Instant, ifindex: IfIndex) {
        if self.igmp.contains_key(&ifindex) {
            return;
        }
        let Some(link) = self.ifaces.get(ifindex) else {
            return;
        };
        let Some(cfg) = self.igmp_cfg(&link.name) else {
            return;
        };
        let (addr, subnets, mtu) = (link.primary_v4(), link.subnets_v4(), link.mtu);
        let mut r = IgmpRouter::new(cfg, addr, now);
        let mut actions = r.handle(now, IgmpEvent::SubnetsChanged(subnets));
        actions.extend(r.handle(now, IgmpEvent::MtuChanged(mtu)));
        actions.extend(r.handle(now, IgmpEvent::Timer));
        self.igmp.insert(ifindex, r);
        self.out.push(Output::ListenIgmp { ifindex, on: true });
        self.igmp_actions(now, ifindex, actions);
    }

    /// The interface went down or came back: IGMP keeps its groups and
    /// timers while it is down and starts over as querier when it is up.
    pub(super) fn igmp_link(&mut self, now: Instant, ifindex: IfIndex, up: bool) {
        let Some(r) = self.igmp.get_mut(&ifindex) else {
            return;
        };
        let event = if up {
            IgmpEvent::LinkUp
        } else {
            IgmpEvent::LinkDown
        };
        let actions = r.handle(now, event);
        self.igmp_actions(now, ifindex, actions);
    }

    /// Stops IGMP on an interface that vanished: its state dies with the
    /// link (the caller removes the interface from the manager).
    pub(super) fn igmp_stop(&mut self, now: Instant, ifindex: IfIndex) {
        let Some(mut r) = self.igmp.remove(&ifindex) else {
            return;
        };
        r.handle(now, IgmpEvent::Stop);
        self.out.push(Output::ListenIgmp { ifindex, on: false });
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn igmp_rx(
        &mut self,
        now: Instant,
        ifindex: IfIndex,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        ttl: u8,
        router_alert: bool,
        payload: Vec<u8>,
    ) {
        if self.ifaces.is_local_addr(src.into()) {
            self.counters.igmp_rx_own += 1;
            return;
        }
        if let Some(id) = self.routing_owner(ifindex) {
            self.deliver(
                now,
                id,
                ProtoEvent::IgmpRx {
                    ifindex,
                    src,
                    dst,
                    payload: payload.clone(),
                },
            );
        }
        let Some(r) = self.igmp.get_mut(&ifindex) else {
            self.counters.igmp_rx_not_enabled += 1;
            return;
        };
        let actions = r.handle(
            now,
            IgmpEvent::Rx {
                src,
                dst,
                ttl,
                router_alert,
                payload,
            },
        );
        self.igmp_actions(now, ifindex, actions);
    }

    pub(super) fn igmp_actions(
        &mut self,
        now: Instant,
        ifindex: IfIndex,
        actions: Vec<IgmpAction>,
    ) {
        for action in actions {
            let result = match action {
                IgmpAction::Send { dst, payload } => {
                    match self.ifaces.get(ifindex).and_then(|l| l.primary_v4()) {
                        Some(src) => self.out.push(Output::SendIgmp {
                            ifindex,
                            src,
                            dst,
                            payload,
                        }),
                        None => self.counters.igmp_tx_no_address += 1,
                    }
                    continue;
                }
                IgmpAction::MembershipUp(key) => {
                    self.mgm
                        .add_membership(ComponentId::Igmp, key, ifindex, MembershipFlags::JOIN)
                }
                IgmpAction::MembershipDown(key) => self.mgm.delete_membership(
                    ComponentId::Igmp,
                    key,
                    ifindex,
                    MembershipFlags::JOIN,
                ),
                IgmpAction::Log(log) => {
                    let interface = self.iface_ref(ifindex);
                    self.emit(Event::Igmp { interface, log });
                    continue;
                }
            };
            match result {
                Ok(effects) => self.process_effects(now, effects),
                // Disabled: IGMP keeps the state and re-adds at enable.
                Err(MgmError::IgmpDisabled(_)) => self.counters.igmp_changes_while_disabled += 1,
                Err(e) => self.mgm_error("IGMP membership", e),
            }
        }
        self.igmp_sync_silenced(now, ifindex);
    }

    /// RFC 4605 4.2: a proxy forwards on a downstream interface "based
    /// upon ... whether or not this proxy device is the IGMP/MLD Querier on
    /// each interface", so that a second proxy or a multicast router on
    /// the same link does not duplicate the traffic. On such an interface
    /// (see [`crate::core::protocol::registry::ProtocolConfig::querier_forwarded_interfaces`])
    /// the memberships leave the outgoing lists while another router is
    /// the elected querier, and come back when the role returns; they stay
    /// in the manager, so the proxy's merged membership still counts them
    /// (4.1). With no querier heard (also with `querier = false` or no
    /// address to query from) mgmd is the only candidate forwarder and
    /// forwards.
    pub(super) fn igmp_sync_silenced(&mut self, now: Instant, ifindex: IfIndex) {
        let Some(r) = self.igmp.get(&ifindex) else {
            return;
        };
        let Some(name) = self.ifaces.get(ifindex).map(|l| l.name.as_str()) else {
            return;
        };
        let gated = self
            .cfg
            .protocols
            .iter()
            .any(|p| p.querier_forwarded_interfaces().iter().any(|n| n == name));
        let silenced = gated && r.other_querier().is_some();
        if self
            .mgm
            .interface(ifindex)
            .is_none_or(|i| i.silenced == silenced)
        {
            return;
        }
        match self.mgm.interface_set_silenced(ifindex, silenced) {
            Ok(effects) => self.process_effects(now, effects),
            Err(e) => self.mgm_error("interface forwarding", e),
        }
    }
}
