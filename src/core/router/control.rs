//! The operator's commands: views, and `take`/`release`, which run the
//! ownership sequence and commit like any other input.

use std::time::Instant;

use super::Router;
use crate::core::control::{Answer, Command};
use crate::core::event::OwnerOp;
use crate::core::status::OwnerView;
use crate::core::types::{IfIndex, ProtoId};

impl Router {
    pub(super) fn command(&mut self, now: Instant, c: Command) -> Result<Answer, String> {
        match c {
            Command::ShowInterfaces => Ok(Answer::Interfaces(self.show_interfaces(now))),
            Command::ShowGroups => Ok(Answer::Groups(self.show_groups(now))),
            Command::ShowRoutes => Ok(Answer::Routes(self.show_routes(now))),
            Command::ShowProtocols => Ok(Answer::Protocols(self.show_protocols(now))),
            Command::ShowCounters => Ok(Answer::Counters(Box::new(self.counters))),
            Command::Take {
                interface,
                protocol,
            } => self.owner_command(now, OwnerOp::Take, interface, &protocol),
            Command::Release {
                interface,
                protocol,
            } => self.owner_command(now, OwnerOp::Release, interface, &protocol),
            Command::Reload {
                path,
                text,
                overrides,
            } => self.reload(now, &path, &text, &overrides),
            Command::Edit { protocol, edit } => self.edit_section(now, &protocol, &edit),
            Command::ShowConfig => Ok(self.show_config()),
            Command::ShowAllCounters { interface } => self
                .show_all_counters(interface.as_deref())
                .map(|v| Answer::AllCounters(Box::new(v))),
            Command::Verify { kernel, repair } => self
                .audit_kernel(&kernel, repair)
                .map(|view| Answer::Audit(Box::new(view))),
        }
    }

    fn owner_command(
        &mut self,
        now: Instant,
        op: OwnerOp,
        interface: String,
        protocol: &str,
    ) -> Result<Answer, String> {
        let (ifindex, id) = self.resolve(&interface, protocol)?;
        self.change_owner(now, ifindex, op, id)
            .map_err(|e| self.describe_mgm_error(&e))?;
        let owner = self
            .routing_owner(ifindex)
            .map(|p| self.proto_name(p).to_owned());
        Ok(Answer::Owner(OwnerView { interface, owner }))
    }

    /// The interface and protocol a command names.
    fn resolve(&self, ifname: &str, proto: &str) -> Result<(IfIndex, ProtoId), String> {
        let ifindex = self
            .ifaces
            .by_name(ifname)
            .map(|l| l.ifindex)
            .filter(|i| self.mgm.interface(*i).is_some())
            .ok_or_else(|| {
                format!("interface {ifname} is not known to mgmd (configured and present)")
            })?;
        let id = self
            .protocols
            .iter()
            .find(|p| p.proto.name() == proto)
            .map(|p| p.id)
            .ok_or_else(|| {
                let known: Vec<&str> = self.protocols.iter().map(|p| p.proto.name()).collect();
                format!(
                    "no routing protocol named {proto} is running (running: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )
            })?;
        Ok((ifindex, id))
    }
}
