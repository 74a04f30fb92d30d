//! IGMP groups as handed to the next process (the snapshot of
//! `crate::core::snapshot`): each timer as the wall-clock time it runs
//! out, in milliseconds since the Unix epoch, so that the time between two
//! processes counts as it would have counted in one. Reporters are not
//! kept: a restored group is untracked until hosts report again.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::group::{FilterMode, Group, HostSet, Source};
use crate::core::types::GroupAddr;

/// One group of an interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SavedGroup {
    pub group: GroupAddr,
    pub mode: FilterMode,
    /// When the group timer runs out (EXCLUDE mode).
    pub expires: Option<u64>,
    /// When the Older Host Present timers run out (7.3.2).
    pub v1_host: Option<u64>,
    pub v2_host: Option<u64>,
    /// Each source and when its timer runs out (`None`: blocked, EXCLUDE
    /// mode only).
    pub sources: Vec<(Ipv4Addr, Option<u64>)>,
}

/// A clock pair: `now` on the monotonic clock is `unix_ms` on the wall
/// clock.
#[derive(Clone, Copy, Debug)]
pub struct WallClock {
    pub now: Instant,
    pub unix_ms: u64,
}

impl WallClock {
    fn to_wall(self, t: Instant) -> u64 {
        let ms =
            u64::try_from(t.saturating_duration_since(self.now).as_millis()).unwrap_or(u64::MAX);
        self.unix_ms.saturating_add(ms)
    }

    /// `None` once the time has passed.
    fn to_instant(self, ms: u64) -> Option<Instant> {
        (ms > self.unix_ms).then(|| self.now + Duration::from_millis(ms - self.unix_ms))
    }
}

impl SavedGroup {
    pub(crate) fn of(g: GroupAddr, grp: &Group, clock: WallClock) -> SavedGroup {
        let wall = |t: Option<Instant>| t.map(|t| clock.to_wall(t));
        SavedGroup {
            group: g,
            mode: grp.mode,
            expires: wall(grp.timer),
            v1_host: wall(grp.v1_host),
            v2_host: wall(grp.v2_host),
            sources: grp
                .sources
                .iter()
                .map(|(s, src)| (*s, wall(src.timer)))
                .collect(),
        }
    }

    /// The group as it stands at `clock.now`, its expired timers applied
    /// (an EXCLUDE group whose timer ran out is INCLUDE with the sources
    /// still running, 6.5); `None` when nothing is left.
    pub(crate) fn group(&self, clock: WallClock) -> Option<Group> {
        let at = |ms: Option<u64>| ms.and_then(|ms| clock.to_instant(ms));
        let mut grp = Group::new(true);
        grp.hosts = HostSet::untracked();
        grp.mode = self.mode;
        grp.timer = at(self.expires);
        grp.v1_host = at(self.v1_host);
        grp.v2_host = at(self.v2_host);
        if grp.mode == FilterMode::Exclude && grp.timer.is_none() {
            grp.mode = FilterMode::Include;
        }
        for (s, ms) in &self.sources {
            match (ms, grp.mode) {
                (Some(ms), _) => {
                    if let Some(t) = clock.to_instant(*ms) {
                        grp.sources.insert(*s, Source::new(Some(t)));
                    }
                }
                (None, FilterMode::Exclude) => {
                    grp.sources.insert(*s, Source::new(None));
                }
                (None, FilterMode::Include) => {}
            }
        }
        (!grp.is_empty()).then_some(grp)
    }
}
