//! The configuration file as written: serde types that mirror the TOML
//! layout, keep the position of every value that is checked later
//! (`Spanned`), and accept loosely typed values (a duration may arrive as a
//! bare number) so that validation can say exactly what is wrong with them.
//! Protocol sections keep their raw form in their own folder and use the
//! loosely typed values from here.

use serde::Deserialize;
use toml::Spanned;

pub use crate::core::config_check::{DurationInput, LimitInput, SpStr};

/// `[global]`
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawGlobal {
    pub control_socket: Option<SpStr>,
    pub pid_file: Option<SpStr>,
    pub table: Option<Spanned<i64>>,
    pub mfe_idle_timeout: Option<Spanned<DurationInput>>,
    pub log_level: Option<SpStr>,
    pub rp_filter_warning: Option<bool>,
    pub metrics_listen: Option<SpStr>,
    pub kernel_audit_interval: Option<Spanned<DurationInput>>,
}

/// Declares a struct holding every IGMP setting (all optional: absent =
/// inherited), plus any extra fields, and a method copying the IGMP
/// settings out. `[igmp]` and `[[interface]]` share the list this way;
/// serde's `flatten` cannot be used because it loses positions and
/// disables `deny_unknown_fields`.
macro_rules! with_igmp_settings {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $( $(#[$fmeta:meta])* pub $extra:ident : $ety:ty, )* }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[$fmeta])* pub $extra: $ety, )*
            pub version: Option<Spanned<i64>>,
            pub querier: Option<Spanned<bool>>,
            pub query_interval: Option<Spanned<DurationInput>>,
            pub query_response_interval: Option<Spanned<DurationInput>>,
            pub robustness: Option<Spanned<i64>>,
            pub last_member_query_interval: Option<Spanned<DurationInput>>,
            pub last_member_query_count: Option<Spanned<i64>>,
            pub startup_query_interval: Option<Spanned<DurationInput>>,
            pub startup_query_count: Option<Spanned<i64>>,
            pub immediate_leave: Option<Spanned<bool>>,
            pub max_groups: Option<Spanned<LimitInput>>,
            pub max_sources_per_group: Option<Spanned<LimitInput>>,
            pub require_router_alert: Option<Spanned<bool>>,
            pub check_source_subnet: Option<Spanned<bool>>,
            pub ssm_range: Option<Spanned<Vec<SpStr>>>,
            pub compatibility_mode: Option<Spanned<bool>>,
            pub allow_groups: Option<Spanned<Vec<SpStr>>>,
            pub deny_groups: Option<Spanned<Vec<SpStr>>>,
            pub recovery_query_response_interval: Option<Spanned<DurationInput>>,
        }

        impl $name {
            /// The IGMP settings given in this table.
            #[allow(dead_code, reason = "generated for every table; used for [[interface]]")]
            pub fn igmp_settings(&self) -> RawIgmp {
                RawIgmp {
                    version: self.version.clone(),
                    querier: self.querier.clone(),
                    query_interval: self.query_interval.clone(),
                    query_response_interval: self.query_response_interval.clone(),
                    robustness: self.robustness.clone(),
                    last_member_query_interval: self.last_member_query_interval.clone(),
                    last_member_query_count: self.last_member_query_count.clone(),
                    startup_query_interval: self.startup_query_interval.clone(),
                    startup_query_count: self.startup_query_count.clone(),
                    immediate_leave: self.immediate_leave.clone(),
                    max_groups: self.max_groups.clone(),
                    max_sources_per_group: self.max_sources_per_group.clone(),
                    require_router_alert: self.require_router_alert.clone(),
                    check_source_subnet: self.check_source_subnet.clone(),
                    ssm_range: self.ssm_range.clone(),
                    compatibility_mode: self.compatibility_mode.clone(),
                    allow_groups: self.allow_groups.clone(),
                    deny_groups: self.deny_groups.clone(),
                    recovery_query_response_interval: self
                        .recovery_query_response_interval
                        .clone(),
                }
            }
        }
    };
}

with_igmp_settings! {
    /// `[igmp]`: defaults for every interface that runs IGMP.
    #[derive(Clone, Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
    pub struct RawIgmp {}
}

impl RawIgmp {
    /// The first IGMP key set in this table, in the order of the file
    /// (for "settings given where IGMP is off").
    pub fn first_key(&self) -> Option<(&'static str, std::ops::Range<usize>)> {
        let spans: [(&'static str, Option<std::ops::Range<usize>>); 19] = [
            ("version", self.version.as_ref().map(|s| s.span())),
            ("querier", self.querier.as_ref().map(|s| s.span())),
            (
                "query-interval",
                self.query_interval.as_ref().map(|s| s.span()),
            ),
            (
                "query-response-interval",
                self.query_response_interval.as_ref().map(|s| s.span()),
            ),
            ("robustness", self.robustness.as_ref().map(|s| s.span())),
            (
                "last-member-query-interval",
                self.last_member_query_interval.as_ref().map(|s| s.span()),
            ),
            (
                "last-member-query-count",
                self.last_member_query_count.as_ref().map(|s| s.span()),
            ),
            (
                "startup-query-interval",
                self.startup_query_interval.as_ref().map(|s| s.span()),
            ),
            (
                "startup-query-count",
                self.startup_query_count.as_ref().map(|s| s.span()),
            ),
            (
                "immediate-leave",
                self.immediate_leave.as_ref().map(|s| s.span()),
            ),
            ("max-groups", self.max_groups.as_ref().map(|s| s.span())),
            (
                "max-sources-per-group",
                self.max_sources_per_group.as_ref().map(|s| s.span()),
            ),
            (
                "require-router-alert",
                self.require_router_alert.as_ref().map(|s| s.span()),
            ),
            (
                "check-source-subnet",
                self.check_source_subnet.as_ref().map(|s| s.span()),
            ),
            ("ssm-range", self.ssm_range.as_ref().map(|s| s.span())),
            (
                "compatibility-mode",
                self.compatibility_mode.as_ref().map(|s| s.span()),
            ),
            ("allow-groups", self.allow_groups.as_ref().map(|s| s.span())),
            ("deny-groups", self.deny_groups.as_ref().map(|s| s.span())),
            (
                "recovery-query-response-interval",
                self.recovery_query_response_interval
                    .as_ref()
                    .map(|s| s.span()),
            ),
        ];
        spans
            .into_iter()
            .filter_map(|(k, s)| s.map(|s| (k, s)))
            .min_by_key(|(_, s)| s.start)
    }
}

with_igmp_settings! {
    /// `[[interface]]`: one interface mgmd uses, with IGMP overrides.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    pub struct RawInterface {
        pub name: SpStr,
        #[serde(default)]
        pub igmp: Option<Spanned<bool>>,
    }
}
