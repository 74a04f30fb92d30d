//! Per-group router state of RFC 9776 section 6: filter mode, group and
//! source timers, the state tables of 6.4.1/6.4.2, timer expiry (6.3,
//! 6.5) and the last-member query bookkeeping of 6.6.3. IGMPv1/v2
//! messages reach this module already translated (7.3.2).
//!
//! MLDv2 (RFC 9777 section 7) has the same state, tables and timers with
//! IPv6 sources, so the state is generic over the address of its sources
//! and reporters ([`SourceAddr`]): one implementation for both families,
//! IPv4 by default.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::config::IgmpVersion;
use super::packet::RecordType;
use crate::core::types::{GroupAddr, MembershipKey};

/// Tracked reporters per entry beyond which explicit tracking gives up
/// for that entry (it then falls back to last-member queries).
const MAX_TRACKED_HOSTS: usize = 64;

// ===== SourceAddr =====

/// The address of a source or of a reporting host: [`Ipv4Addr`] for IGMP,
/// [`Ipv6Addr`] for MLD.
pub trait SourceAddr:
    Copy + Ord + Eq + std::hash::Hash + std::fmt::Debug + Into<IpAddr> + 'static
{
    /// The unspecified address, which "may simultaneously be used by
    /// multiple systems" (RFC 9776 4.2.14): a report from it cannot be
    /// tracked to one host.
    fn is_unspecified(&self) -> bool;
}

impl SourceAddr for Ipv4Addr {
    fn is_unspecified(&self) -> bool {
        Ipv4Addr::is_unspecified(self)
    }
}

impl SourceAddr for Ipv6Addr {
    fn is_unspecified(&self) -> bool {
        Ipv6Addr::is_unspecified(self)
    }
}

// ===== FilterMode =====

/// Router filter mode of a group (RFC 9776 6.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FilterMode {
    Include,
    Exclude,
}

// ===== HostSet =====

/// Reporters known to want an entry (explicit host tracking). An entry
/// is "tracked" while every reporter had a usable address and the set
/// stayed small; only then may an empty set drop the entry at once.
#[derive(Clone, Debug)]
pub(crate) struct HostSet<A = Ipv4Addr> {
    hosts: Vec<A>,
    untracked: bool,
}

impl<A> Default for HostSet<A> {
    fn default() -> Self {
        HostSet {
            hosts: Vec::new(),
            untracked: false,
        }
    }
}

impl<A: SourceAddr> HostSet<A> {
    pub(crate) fn untracked() -> HostSet<A> {
        HostSet {
            hosts: Vec::new(),
            untracked: true,
        }
    }

    fn insert(&mut self, h: A) {
        if self.untracked {
            return;
        }
        // RFC 9776 4.2.14: 0.0.0.0 "may simultaneously be used by multiple systems".
        if h.is_unspecified() || self.hosts.len() >= MAX_TRACKED_HOSTS {
            self.untracked = true;
            self.hosts = Vec::new();
            return;
        }
        if !self.hosts.contains(&h) {
            self.hosts.push(h);
        }
    }

    fn remove(&mut self, h: A) {
        if let Some(i) = self.hosts.iter().position(|x| *x == h) {
            self.hosts.swap_remove(i);
        }
    }

    /// Known to have no reporter left.
    pub(crate) fn is_known_empty(&self) -> bool {
        !self.untracked && self.hosts.is_empty()
    }

    pub(crate) fn mark_untracked(&mut self) {
        self.untracked = true;
        self.hosts = Vec::new();
    }

    fn clear(&mut self) {
        self.hosts.clear();
    }

    pub(crate) fn hosts(&self) -> &[A] {
        &self.hosts
    }
}

// ===== Source =====

/// A source record. `timer == None` is the RFC's "timer = 0": only in
/// EXCLUDE mode, the source is blocked (the Y list).
#[derive(Clone, Debug)]
pub(crate) struct Source<A = Ipv4Addr> {
    pub(crate) timer: Option<Instant>,
    /// Group-and-source-specific query retransmissions left (6.6.3.2).
    pub(crate) retrans: u8,
    /// Hosts that included this source (explicit tracking).
    pub(crate) hosts: HostSet<A>,
}

impl<A: SourceAddr> Source<A> {
    pub(crate) fn new(timer: Option<Instant>) -> Source<A> {
        Source {
            timer,
            retrans: 0,
            hosts: HostSet::default(),
        }
    }
}

// ===== Group =====

/// Last-member query parameters (RFC 9776 8.8, 8.9, 8.10; computed by `super::timers`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lmq {
    /// Last Member Query Time = count x interval.
    pub(crate) time: Duration,
    pub(crate) interval: Duration,
    pub(crate) count: u8,
}

/// Parameters of one record application, computed by the interface.
pub(crate) struct ApplyParams {
    /// Group Membership Interval (RFC 9776 8.4, from `super::timers`).
    pub(crate) gmi: Duration,
    pub(crate) max_sources: Option<u32>,
    /// Explicit host tracking on.
    pub(crate) track: bool,
}

/// The "Send Q(G)" / "Send Q(G,X)" actions a table row asks for, plus
/// sources refused by the cap.
#[derive(Debug)]
pub(crate) struct ApplyOutcome<A = Ipv4Addr> {
    pub(crate) query_group: bool,
    pub(crate) query_sources: Vec<A>,
    pub(crate) refused_sources: u64,
}

impl<A> Default for ApplyOutcome<A> {
    fn default() -> Self {
        ApplyOutcome {
            query_group: false,
            query_sources: Vec::new(),
            refused_sources: 0,
        }
    }
}

/// Queries to send in one last-member retransmission round.
#[derive(Debug)]
pub(crate) struct Retransmission<A = Ipv4Addr> {
    /// Some(S flag) when a group-specific query is due.
    pub(crate) group: Option<bool>,
    /// Sources whose timer is above LMQT (sent with S set).
    pub(crate) suppressed: Vec<A>,
    /// Sources whose timer is at or below LMQT (S clear).
    pub(crate) plain: Vec<A>,
}

impl<A> Default for Retransmission<A> {
    fn default() -> Self {
        Retransmission {
            group: None,
            suppressed: Vec::new(),
            plain: Vec::new(),
        }
    }
}

/// What timer expiry changed.
#[derive(Debug, Default)]
pub(crate) struct ExpireOutcome {
    pub(crate) compat_changed: bool,
    pub(crate) mode_changed: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Group<A = Ipv4Addr> {
    pub(crate) mode: FilterMode,
    /// Group timer; running only in EXCLUDE mode.
    pub(crate) timer: Option<Instant>,
    pub(crate) sources: BTreeMap<A, Source<A>>,
    /// Older Host Present timers (7.3.2; RFC 2236 "v1 host present").
    pub(crate) v1_host: Option<Instant>,
    pub(crate) v2_host: Option<Instant>,
    /// Group-specific query retransmissions left (6.6.3.1).
    pub(crate) retrans: u8,
    /// Next last-member query retransmission.
    pub(crate) lmq_next: Option<Instant>,
    /// Hosts in EXCLUDE mode for this group (explicit tracking).
    pub(crate) hosts: HostSet<A>,
    /// Earliest of all the timers above: the key in the wake index.
    pub(crate) wake: Option<Instant>,
}

impl<A: SourceAddr> Group<A> {
    pub(crate) fn new(untracked: bool) -> Group<A> {
        Group {
            mode: FilterMode::Include,
            timer: None,
            sources: BTreeMap::new(),
            v1_host: None,
            v2_host: None,
            retrans: 0,
            lmq_next: None,
            hosts: if untracked {
                HostSet::untracked()
            } else {
                HostSet::default()
            },
            wake: None,
        }
    }

    /// Group Compatibility Mode (7.3.2).
    pub(crate) fn compat(&self) -> IgmpVersion {
        if self.v1_host.is_some() {
            IgmpVersion::V1
        } else if self.v2_host.is_some() {
            IgmpVersion::V2
        } else {
            IgmpVersion::V3
        }
    }

    /// INCLUDE with no sources: the group record is gone (6.5).
    pub(crate) fn is_empty(&self) -> bool {
        self.mode == FilterMode::Include && self.sources.is_empty()
    }

    /// Forwarding view (6.3): INCLUDE: (S,G) per source; EXCLUDE: (*,G)
    /// plus a block per source with timer 0. Appended in key order.
    pub(crate) fn view(&self, g: GroupAddr, out: &mut Vec<MembershipKey>) {
        match self.mode {
            FilterMode::Include => {
                out.extend(self.sources.keys().map(|s| MembershipKey::only(*s, g)));
            }
            FilterMode::Exclude => {
                out.push(MembershipKey::any(g));
                out.extend(
                    self.sources
                        .iter()
                        .filter(|(_, src)| src.timer.is_none())
                        .map(|(s, _)| MembershipKey::except(*s, g)),
                );
            }
        }
    }

    pub(crate) fn compute_wake(&self) -> Option<Instant> {
        let mut w = [self.timer, self.v1_host, self.v2_host, self.lmq_next]
            .into_iter()
            .flatten()
            .min();
        for s in self.sources.values() {
            if let Some(t) = s.timer {
                w = Some(w.map_or(t, |w| w.min(t)));
            }
        }
        w
    }

    fn insert_source(
        &mut self,
        s: A,
        timer: Option<Instant>,
        p: &ApplyParams,
        out: &mut ApplyOutcome<A>,
    ) -> bool {
        if let Some(max) = p.max_sources
            && self.sources.len() >= max as usize
        {
            out.refused_sources += 1;
            return false;
        }
        self.sources.insert(s, Source::new(timer));
        true
    }

    /// Set (A)=GMI: refresh existing sources, create missing ones.
    fn set_sources(&mut self, b: &[A], t: Instant, p: &ApplyParams, out: &mut ApplyOutcome<A>) {
        for s in b {
            match self.sources.get_mut(s) {
                Some(src) => src.timer = Some(t),
                None => {
                    self.insert_source(*s, Some(t), p, out);
                }
            }
        }
    }

    /// Apply one record from `host` per the tables of RFC 9776 6.4.1 and
    /// 6.4.2. `b` is sorted and free of duplicates. Returns the queries
    /// the row asks for; the caller sends them (querier only).
    pub(crate) fn apply(
        &mut self,
        now: Instant,
        rt: RecordType,
        b: &[A],
        host: A,
        p: &ApplyParams,
    ) -> ApplyOutcome<A> {
        use FilterMode::*;
        use RecordType::*;
        let mut out = ApplyOutcome::default();
        let gmi = now + p.gmi;
        let in_b = |s: &A| b.binary_search(s).is_ok();
        match (self.mode, rt) {
            // INCLUDE (A) IS_IN (B) / ALLOW (B) -> INCLUDE (A+B); (B)=GMI
            (Include, ModeIsInclude | AllowNewSources) => self.set_sources(b, gmi, p, &mut out),
            // INCLUDE (A) IS_EX/TO_EX (B) -> EXCLUDE (A*B, B-A); (B-A)=0;
            // Delete (A-B); [TO_EX: Send Q(G,A*B)]; Group Timer=GMI
            (Include, ModeIsExclude | ChangeToExclude) => {
                self.sources.retain(|s, _| in_b(s));
                if rt == ChangeToExclude {
                    out.query_sources = self.sources.keys().copied().collect();
                }
                for s in b {
                    if !self.sources.contains_key(s) {
                        self.insert_source(*s, None, p, &mut out);
                    }
                }
                self.mode = Exclude;
                self.timer = Some(gmi);
            }
            // INCLUDE (A) TO_IN (B) -> INCLUDE (A+B); (B)=GMI; Send Q(G,A-B)
            (Include, ChangeToInclude) => {
                out.query_sources = self.sources.keys().filter(|s| !in_b(s)).copied().collect();
                self.set_sources(b, gmi, p, &mut out);
            }
            // INCLUDE (A) BLOCK (B) -> INCLUDE (A); Send Q(G,A*B)
            (Include, BlockOldSources) => {
                out.query_sources = b
                    .iter()
                    .filter(|s| self.sources.contains_key(s))
                    .copied()
                    .collect();
            }
            // EXCLUDE (X,Y) IS_IN (A) / ALLOW (A) -> EXCLUDE (X+A, Y-A); (A)=GMI
            (Exclude, ModeIsInclude | AllowNewSources) => self.set_sources(b, gmi, p, &mut out),
            // EXCLUDE (X,Y) IS_EX (A) -> EXCLUDE (A-Y, Y*A); (A-X-Y)=GMI;
            // Delete (X-A), (Y-A); Group Timer=GMI
            // EXCLUDE (X,Y) TO_EX (A) -> same, but (A-X-Y)=Group Timer and
            // Send Q(G,A-Y)
            (Exclude, ModeIsExclude | ChangeToExclude) => {
                self.sources.retain(|s, _| in_b(s));
                let new_timer = if rt == ModeIsExclude {
                    Some(gmi)
                } else {
                    self.timer
                };
                for s in b {
                    if !self.sources.contains_key(s) {
                        self.insert_source(*s, new_timer, p, &mut out);
                    }
                }
                if rt == ChangeToExclude {
                    out.query_sources = self
                        .sources
                        .iter()
                        .filter(|(_, src)| src.timer.is_some())
                        .map(|(s, _)| *s)
                        .collect();
                }
                self.timer = Some(gmi);
            }
            // EXCLUDE (X,Y) TO_IN (A) -> EXCLUDE (X+A, Y-A); (A)=GMI;
            // Send Q(G,X-A); Send Q(G)
            (Exclude, ChangeToInclude) => {
                out.query_sources = self
                    .sources
                    .iter()
                    .filter(|(s, src)| src.timer.is_some() && !in_b(s))
                    .map(|(s, _)| *s)
                    .collect();
                self.set_sources(b, gmi, p, &mut out);
                out.query_group = true;
            }
            // EXCLUDE (X,Y) BLOCK (A) -> EXCLUDE (X+(A-Y), Y);
            // (A-X-Y)=Group Timer; Send Q(G,A-Y)
            (Exclude, BlockOldSources) => {
                let gt = self.timer;
                for s in b {
                    if !self.sources.contains_key(s) {
                        self.insert_source(*s, gt, p, &mut out);
                    }
                }
                out.query_sources = b
                    .iter()
                    .filter(|s| self.sources.get(s).is_some_and(|src| src.timer.is_some()))
                    .copied()
                    .collect();
            }
            (_, Other(_)) => {}
        }
        if p.track {
            self.track(rt, b, host);
        }
        out
    }

    /// Explicit host tracking: who still wants what after this record.
    fn track(&mut self, rt: RecordType, b: &[A], host: A) {
        use RecordType::*;
        match rt {
            ModeIsInclude | AllowNewSources => {
                if rt == ModeIsInclude {
                    self.hosts.remove(host);
                }
                for s in b {
                    if let Some(src) = self.sources.get_mut(s) {
                        src.hosts.insert(host);
                    }
                }
            }
            ModeIsExclude | ChangeToExclude => {
                self.hosts.insert(host);
                for src in self.sources.values_mut() {
                    src.hosts.remove(host);
                }
            }
            ChangeToInclude => {
                self.hosts.remove(host);
                for (s, src) in self.sources.iter_mut() {
                    if b.binary_search(s).is_ok() {
                        src.hosts.insert(host);
                    } else {
                        src.hosts.remove(host);
                    }
                }
            }
            BlockOldSources => {
                for s in b {
                    if let Some(src) = self.sources.get_mut(s) {
                        src.hosts.remove(host);
                    }
                }
            }
            Other(_) => {}
        }
    }

    /// Start explicit tracking on state learned without it.
    pub(crate) fn mark_untracked(&mut self) {
        self.hosts.mark_untracked();
        for src in self.sources.values_mut() {
            src.hosts.mark_untracked();
        }
    }

    /// "Send Q(G)" (6.6.3.1): lower the group timer to LMQT and start
    /// LMQC transmissions. Returns true when the first query goes now.
    pub(crate) fn start_group_query(&mut self, now: Instant, lmq: Lmq) -> bool {
        let low = now + lmq.time;
        match self.timer {
            Some(t) if t > low && lmq.count > 0 => {
                self.timer = Some(low);
                self.retrans = lmq.count - 1;
                self.schedule_retrans(now, lmq);
                true
            }
            _ => false,
        }
    }

    /// "Send Q(G,X)" (6.6.3.2): sources of X whose timer is above LMQT
    /// get LMQC transmissions and their timer lowered to LMQT. Returns the
    /// sources for the query sent now.
    pub(crate) fn start_source_query(&mut self, now: Instant, lmq: Lmq, x: &[A]) -> Vec<A> {
        let low = now + lmq.time;
        let mut now_q = Vec::new();
        if lmq.count == 0 {
            return now_q;
        }
        for s in x {
            if let Some(src) = self.sources.get_mut(s)
                && src.timer.is_some_and(|t| t > low)
            {
                src.timer = Some(low);
                src.retrans = lmq.count - 1;
                now_q.push(*s);
            }
        }
        if !now_q.is_empty() {
            self.schedule_retrans(now, lmq);
        }
        now_q
    }

    fn schedule_retrans(&mut self, now: Instant, lmq: Lmq) {
        if self.lmq_next.is_none() && lmq.count > 1 {
            self.lmq_next = Some(now + lmq.interval);
        }
    }

    fn has_retrans(&self) -> bool {
        self.retrans > 0 || self.sources.values().any(|s| s.retrans > 0)
    }

    /// One retransmission round at `now` (6.6.3.1/6.6.3.2), building the
    /// S-set and S-clear lists from the timers as they are now.
    pub(crate) fn retransmit(&mut self, now: Instant, lmq: Lmq) -> Retransmission<A> {
        let mut r = Retransmission::default();
        let low = now + lmq.time;
        if self.retrans > 0 {
            self.retrans -= 1;
            r.group = Some(self.timer.is_some_and(|t| t > low));
        }
        for (s, src) in self.sources.iter_mut() {
            if src.retrans == 0 {
                continue;
            }
            src.retrans -= 1;
            if src.timer.is_some_and(|t| t > low) {
                r.suppressed.push(*s);
            } else {
                r.plain.push(*s);
            }
        }
        // 6.6.3.2 note: the S-set source query may be left out when a
        // group-specific query goes at the same time.
        if r.group.is_some() {
            r.suppressed.clear();
        }
        self.lmq_next = if self.has_retrans() {
            Some(now + lmq.interval)
        } else {
            None
        };
        r
    }

    /// Stop all pending last-member retransmissions (querier role lost).
    pub(crate) fn cancel_retrans(&mut self) {
        self.retrans = 0;
        self.lmq_next = None;
        for s in self.sources.values_mut() {
            s.retrans = 0;
        }
    }

    /// Lower the group timer on a received group-specific query (6.6.1).
    pub(crate) fn lower_group_timer(&mut self, low: Instant) {
        if self.mode == FilterMode::Exclude && self.timer.is_some_and(|t| t > low) {
            self.timer = Some(low);
        }
    }

    /// Lower source timers on a received group-and-source query (6.6.1).
    pub(crate) fn lower_source_timers(&mut self, low: Instant, srcs: &[A]) {
        for s in srcs {
            if let Some(src) = self.sources.get_mut(s)
                && src.timer.is_some_and(|t| t > low)
            {
                src.timer = Some(low);
            }
        }
    }

    /// Expire every timer due at `now` (6.3, 6.5, 7.3.2).
    pub(crate) fn expire(&mut self, now: Instant) -> ExpireOutcome {
        let mut out = ExpireOutcome::default();
        let before = self.compat();
        if self.v1_host.is_some_and(|t| t <= now) {
            self.v1_host = None;
        }
        if self.v2_host.is_some_and(|t| t <= now) {
            self.v2_host = None;
        }
        out.compat_changed = before != self.compat();
        match self.mode {
            FilterMode::Include => {
                // Source timer 0 in INCLUDE: remove the source.
                self.sources
                    .retain(|_, src| src.timer.is_some_and(|t| t > now));
            }
            FilterMode::Exclude => {
                // Source timer 0 in EXCLUDE: keep it, blocked.
                for src in self.sources.values_mut() {
                    if src.timer.is_some_and(|t| t <= now) {
                        src.timer = None;
                        src.retrans = 0;
                        src.hosts.clear();
                    }
                }
                // Group timer expiry: sources with running timers go to
                // INCLUDE; the blocked ones are deleted (6.5).
                if self.timer.is_some_and(|t| t <= now) {
                    self.sources.retain(|_, src| src.timer.is_some());
                    self.mode = FilterMode::Include;
                    self.timer = None;
                    self.retrans = 0;
                    self.hosts.clear();
                    out.mode_changed = true;
                }
            }
        }
        if self.lmq_next.is_some() && !self.has_retrans() {
            self.lmq_next = None;
        }
        out
    }

    /// Make the group timer expire now (immediate leave).
    pub(crate) fn expire_group_now(&mut self, now: Instant) {
        if self.mode == FilterMode::Exclude {
            self.timer = Some(now);
        }
    }

    /// Make a source timer expire now (immediate leave).
    pub(crate) fn expire_source_now(&mut self, now: Instant, s: A) {
        if let Some(src) = self.sources.get_mut(&s)
            && src.timer.is_some()
        {
            src.timer = Some(now);
            src.retrans = 0;
        }
    }
}

// ===== tests =====

/// One test per row of RFC 9776 6.4.1 and 6.4.2: start state, record,
/// new state, timers set and queries asked for.
#[cfg(test)]
mod tests;
