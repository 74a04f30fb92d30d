//! What hosts tell: receive checks, reports of every version and leaves,
//! translated to group records (RFC 9776 7.3.2) and applied to the group
//! state (6.4).

use std::net::Ipv4Addr;
use std::time::Instant;

use super::{IgmpAction, IgmpRouter, Origin};
use crate::core::igmp::config::IgmpVersion;
use crate::core::igmp::group::{ApplyParams, FilterMode, Group};
use crate::core::igmp::packet::{GroupRecord, IgmpPacket, RecordType};
use crate::core::igmp::stats::IgmpLog;
use crate::core::types::GroupAddr;

impl IgmpRouter {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn process_rx(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        ttl: u8,
        router_alert: bool,
        payload: &[u8],
        out: &mut Vec<IgmpAction>,
    ) {
        let pkt = match IgmpPacket::decode(payload) {
            Ok(p) => p,
            Err(e) => return self.stats.drop(e.reason()),
        };
        self.stats.rx.bump(pkt.kind());
        if ttl != 1 {
            return self.stats.drop("bad_ttl");
        }
        if self.cfg.require_router_alert && !router_alert {
            return self.stats.drop("no_router_alert");
        }
        // Our own messages looped back: recognised by exact address.
        if Some(src) == self.ifaddr {
            return self.stats.drop("own_address");
        }
        // 9.2 asks routers to ignore *reports* whose source is not on a
        // subnet of the interface (against forged reports from afar); it
        // asks nothing of queries (9.1), and a querier whose address is
        // not in our subnets (an unnumbered or misconfigured neighbour) is
        // still the querier of the link: ignoring it would give the link
        // two queriers.
        if self.cfg.check_source_subnet
            && !matches!(pkt, IgmpPacket::Query(_))
            && !src.is_unspecified()
            && !self.subnets.iter().any(|n| n.contains(&src))
        {
            return self.stats.drop("source_not_on_subnet");
        }
        match pkt {
            IgmpPacket::Query(q) => self.process_query(now, src, dst, q, out),
            IgmpPacket::V1Report { group } => {
                self.process_v1v2_report(now, src, dst, group, Origin::V1, out)
            }
            // Also on a v1 interface. RFC 2236 4 and RFC 9776 7.3.1 ask a
            // router in IGMPv1 mode to send v1 queries and to "ignore Leave
            // Group messages", nothing more; a v2 or v3 host that has not
            // heard a v1 query yet (a host that just joined) sends v2
            // reports, and ignoring them would leave its first join waiting
            // for the next query. RFC 9776 7.3.2 treats a v2 report in
            // IGMPv1 Group Compatibility Mode as IS_EX({}), as here.
            IgmpPacket::V2Report { group } => {
                self.process_v1v2_report(now, src, dst, group, Origin::V2, out)
            }
            IgmpPacket::V2Leave { group } => self.process_leave(now, src, dst, group, out),
            IgmpPacket::V3Report { records } => self.process_v3_report(now, src, dst, records, out),
        }
    }

    /// Checks shared by every report kind; `Ok` is a group we may learn.
    pub(super) fn check_group(&mut self, group: Ipv4Addr) -> Option<GroupAddr> {
        let Ok(g) = GroupAddr::new(group) else {
            self.stats.drop("bad_group");
            return None;
        };
        if g.is_link_local() {
            self.stats.drop("link_local_group");
            return None;
        }
        if !self.group_allowed(g) {
            self.stats.drop("group_denied");
            return None;
        }
        Some(g)
    }

    pub(super) fn group_allowed(&self, g: GroupAddr) -> bool {
        let Some(a) = g.v4() else {
            return false;
        };
        (self.cfg.allow_groups.is_empty() || self.cfg.allow_groups.iter().any(|n| n.contains(&a)))
            && !self.cfg.deny_groups.iter().any(|n| n.contains(&a))
    }

    pub(super) fn is_ssm(&self, g: GroupAddr) -> bool {
        g.v4()
            .is_some_and(|a| self.cfg.ssm_range.iter().any(|n| n.contains(&a)))
    }

    /// A report or leave of a version older than the interface's, with
    /// `compatibility-mode = false` (7.3.1: "a configuration option to
    /// disable use of compatibility mode to allow networks to operate only
    /// in SSM mode").
    pub(super) fn compat_disabled(&self, origin: Origin) -> bool {
        let older = match origin {
            Origin::V1 => self.cfg.version != IgmpVersion::V1,
            Origin::V2 => self.cfg.version == IgmpVersion::V3,
            Origin::V3 => false,
        };
        older && !self.cfg.compatibility_mode
    }

    pub(super) fn process_v1v2_report(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        group: Ipv4Addr,
        origin: Origin,
        out: &mut Vec<IgmpAction>,
    ) {
        let Some(g) = self.check_group(group) else {
            return;
        };
        if !self.addressed_to_interface(dst, Some(g)) {
            return self.stats.drop("bad_destination");
        }
        // 6.4: "SSM-aware routers SHOULD ignore IGMPv1/IGMPv2 Report and
        // IGMPv2 DONE messages that contain multicast addresses in the SSM
        // address range" (also RFC 4604 2.2.1). mgmd is SSM-aware on every
        // interface, whatever version it runs there: a v1/v2 interface can
        // carry no source-specific request, so it learns no SSM group.
        if self.is_ssm(g) {
            return self.stats.drop("ssm_asm_report");
        }
        if self.compat_disabled(origin) {
            return self.stats.drop("compat_disabled");
        }
        // 7.3.2: v1 and v2 reports are IS_EX({}).
        self.process_record(
            now,
            g,
            RecordType::ModeIsExclude,
            Vec::new(),
            src,
            origin,
            out,
        );
    }

    pub(super) fn process_leave(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        group: Ipv4Addr,
        out: &mut Vec<IgmpAction>,
    ) {
        if self.cfg.version == IgmpVersion::V1 {
            return self.stats.drop("unsupported_version");
        }
        let Some(g) = self.check_group(group) else {
            return;
        };
        if !self.addressed_to_interface(dst, Some(g)) {
            return self.stats.drop("bad_destination");
        }
        if self.is_ssm(g) {
            return self.stats.drop("ssm_asm_report");
        }
        if self.compat_disabled(Origin::V2) {
            return self.stats.drop("compat_disabled");
        }
        if self.groups.get(&g).is_some_and(|grp| grp.v1_host.is_some()) {
            // v1 hosts would not answer the group query. 7.3.2: in IGMPv1
            // Group Compatibility Mode "IGMPv2 Leave messages and IGMPv3
            // TO_IN() messages are also ignored"; RFC 2236 5: "If there are
            // version 1 hosts present for a particular group, a router MUST
            // ignore any Leave Group messages that it receives for that
            // group."
            return self.stats.drop("leave_in_v1_compat");
        }
        // 7.3.2: a leave is TO_IN({}).
        self.process_record(
            now,
            g,
            RecordType::ChangeToInclude,
            Vec::new(),
            src,
            Origin::V2,
            out,
        );
    }

    pub(super) fn process_v3_report(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        records: Vec<GroupRecord>,
        out: &mut Vec<IgmpAction>,
    ) {
        if self.cfg.version != IgmpVersion::V3 {
            return self.stats.drop("unsupported_version");
        }
        if !self.addressed_to_interface(dst, None) {
            return self.stats.drop("bad_destination");
        }
        for rec in records {
            self.stats.rx_records += 1;
            if let RecordType::Other(_) = rec.record_type {
                self.stats.drop("unknown_record_type");
                continue;
            }
            let Some(g) = self.check_group(rec.group) else {
                continue;
            };
            if self.is_ssm(g)
                && matches!(
                    rec.record_type,
                    RecordType::ModeIsExclude | RecordType::ChangeToExclude
                )
            {
                self.stats.drop("ssm_exclude_record");
                continue;
            }
            let mut sources = rec.sources;
            let n = sources.len();
            sources.retain(|s| !(s.is_multicast() || s.is_unspecified() || s.is_broadcast()));
            for _ in sources.len()..n {
                self.stats.drop("bad_source");
            }
            sources.sort_unstable();
            sources.dedup();
            self.process_record(now, g, rec.record_type, sources, src, Origin::V3, out);
        }
    }

    /// Apply one (possibly translated) group record.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn process_record(
        &mut self,
        now: Instant,
        g: GroupAddr,
        rt: RecordType,
        mut sources: Vec<Ipv4Addr>,
        host: Ipv4Addr,
        origin: Origin,
        out: &mut Vec<IgmpAction>,
    ) {
        let v3_router = self.cfg.version == IgmpVersion::V3;
        let track = v3_router && self.cfg.immediate_leave;
        // 7.3.2: in v1/v2 compatibility, "IGMPv3 BLOCK messages are
        // ignored, as are source-lists in TO_EX() messages"; in IGMPv1
        // Group Compatibility Mode "IGMPv2 Leave messages and IGMPv3 TO_IN()
        // messages are also ignored" (a v1 host answers no group query).
        if origin == Origin::V3
            && let Some(grp) = self.groups.get(&g)
            && grp.compat() != IgmpVersion::V3
        {
            match rt {
                RecordType::BlockOldSources => return self.stats.drop("block_in_compat"),
                RecordType::ChangeToInclude if grp.compat() == IgmpVersion::V1 => {
                    return self.stats.drop("to_in_in_v1_compat");
                }
                RecordType::ChangeToExclude => sources.clear(),
                _ => {}
            }
        }
        if !self.groups.contains_key(&g) {
            // A missing group is INCLUDE({}): only records that leave
            // state behind create it.
            let creates = match rt {
                RecordType::ModeIsExclude | RecordType::ChangeToExclude => true,
                RecordType::ModeIsInclude
                | RecordType::AllowNewSources
                | RecordType::ChangeToInclude => !sources.is_empty(),
                _ => false,
            };
            if !creates {
                return;
            }
            if let Some(max) = self.cfg.max_groups
                && self.groups.len() >= max as usize
            {
                self.stats.refused_groups += 1;
                if let Some(suppressed) = self.limit_warning.admit(now) {
                    out.push(IgmpAction::Log(IgmpLog::GroupRefused {
                        group: g,
                        limit: max,
                        suppressed,
                    }));
                }
                return;
            }
            self.groups.insert(g, Group::new(false));
            out.push(IgmpAction::Log(IgmpLog::GroupCreated { group: g }));
        }
        let timers = self.timers();
        let p = ApplyParams {
            gmi: timers.group_membership_interval(),
            max_sources: self.cfg.max_sources_per_group,
            track,
        };
        let querier = self.is_querier();
        let lmq = self.lmq();
        let immediate_v2 = self.cfg.immediate_leave && self.cfg.version == IgmpVersion::V2;
        // 7.3.2: "The IGMPv1-Host-Present Timer is set to [Older Version
        // Host Present Interval] seconds whenever an IGMPv1 Membership Report
        // is received" (the same for IGMPv2); the interval is 8.13's.
        let ohpi = timers.older_host_present_interval();
        let mut before = self.view_buffer();
        let Some(grp) = self.groups.get_mut(&g) else {
            return;
        };
        grp.view(g, &mut before);
        let compat_before = grp.compat();
        let mode_before = grp.mode;
        match origin {
            Origin::V1 if self.cfg.version != IgmpVersion::V1 => grp.v1_host = Some(now + ohpi),
            Origin::V2 if v3_router && rt != RecordType::ChangeToInclude => {
                grp.v2_host = Some(now + ohpi)
            }
            _ => {}
        }
        let res = grp.apply(now, rt, &sources, host, &p);
        self.stats.refused_sources += res.refused_sources;
        if grp.compat() != compat_before {
            out.push(IgmpAction::Log(IgmpLog::CompatChanged {
                group: g,
                compat: grp.compat(),
            }));
        }
        if grp.mode != mode_before {
            out.push(IgmpAction::Log(IgmpLog::ModeChanged {
                group: g,
                mode: grp.mode,
            }));
        }
        // "Send Q(...)" actions are the querier's (6.4.2, 6.6.3).
        let mut sends: Vec<(bool, Vec<Ipv4Addr>)> = Vec::new();
        let mut expire_now = false;
        if querier {
            let host_known = !host.is_unspecified();
            let group_left = res.query_group
                && (immediate_v2 || (track && host_known && grp.hosts.is_known_empty()));
            if group_left {
                grp.expire_group_now(now);
                expire_now = true;
            } else if res.query_group && grp.start_group_query(now, lmq) {
                sends.push((false, Vec::new()));
            }
            let mut to_query = Vec::with_capacity(res.query_sources.len());
            let no_excluders = grp.mode == FilterMode::Include || grp.hosts.is_known_empty();
            for s in res.query_sources {
                let left = track
                    && host_known
                    && no_excluders
                    && grp
                        .sources
                        .get(&s)
                        .is_some_and(|x| x.hosts.is_known_empty());
                if left {
                    grp.expire_source_now(now, s);
                    expire_now = true;
                } else {
                    to_query.push(s);
                }
            }
            let now_q = grp.start_source_query(now, lmq, &to_query);
            if !now_q.is_empty() {
                sends.push((false, now_q));
            }
        }
        for (suppress, srcs) in sends {
            self.send_specific_query(g, suppress, srcs, out);
        }
        if expire_now {
            self.expire_group(now, g, before, out);
        } else {
            self.finish_group(g, before, out);
        }
    }

    // ===== interface events =====
}
