//! What the running system was found to have, as plain data: filled in by
//! [`crate::io::system`], read by [`super::evaluate`].

use std::fmt;

use serde::{Serialize, Serializer};

// ===== SystemFacts =====

/// Everything `mgmd check-system` learned of the system it runs on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct SystemFacts {
    /// `/proc/sys/kernel/osrelease`.
    pub kernel_release: Option<String>,
    /// Where the probes of the kernel's multicast routing API ran.
    pub probe_namespace: ProbeNamespace,
    /// A raw IGMP socket, then `MRT_INIT` on the default table.
    pub ipv4: Probe,
    /// A raw IGMP socket, then `MRT_TABLE`: the configured table, followed
    /// by `MRT_INIT`; without one, the default table's id alone (which
    /// creates no table).
    pub tables: Probe,
    /// A raw ICMPv6 socket, then `MRT6_INIT`.
    pub ipv6: Probe,
    /// Whether `/proc/net/ip_mr_vif` exists (the kernel creates it with
    /// IPv4 multicast routing); `None` when `/proc/net` is unreadable.
    pub ip_mr_vif: Option<bool>,
    /// Whether `/proc/net/ip6_mr_vif` exists.
    pub ip6_mr_vif: Option<bool>,
    /// `net.ipv4.conf.all.mc_forwarding`, read before any probe: the
    /// number of multicast routing tables some socket owns in this network
    /// namespace.
    pub mc_forwarding: Option<u32>,
    /// Known multicast routing daemons running in this network namespace
    /// (this process left out).
    pub routers: Vec<RouterProcess>,
    /// The process id in the configuration's pid file.
    pub pid_file_pid: Option<u32>,
    /// The effective capabilities of this process (`CapEff` in
    /// `/proc/self/status`).
    pub cap_eff: Option<u64>,
    /// `net.ipv4.igmp_max_memberships`: group memberships per socket.
    pub igmp_max_memberships: Option<u32>,
    /// `net.ipv4.igmp_max_msf`: sources in one membership's filter.
    pub igmp_max_msf: Option<u32>,
    /// The configured interfaces, in the configuration's order.
    pub interfaces: Vec<InterfaceFacts>,
}

/// Where the probes ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeNamespace {
    /// A network namespace of their own (`unshare(CLONE_NEWNET)` on a
    /// thread of their own): nothing they do is seen outside it.
    Scratch,
    /// This process's namespace, because a scratch one could not be made
    /// (`unshare` failed with this errno, usually EPERM without
    /// CAP_SYS_ADMIN). A free table is owned for an instant; an owned one
    /// answers EADDRINUSE and is left alone.
    Current { unshare: Errno },
}

/// How one probe ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Probe {
    /// Every step succeeded; the socket was closed at once (which ends an
    /// ownership, as `MRT_DONE` does).
    Ok,
    /// A step failed.
    Failed { step: ProbeStep, errno: Errno },
}

impl Probe {
    pub fn failed(step: ProbeStep, errno: i32) -> Probe {
        Probe::Failed {
            step,
            errno: Errno(errno),
        }
    }

    /// The errno, if `step` failed with it.
    pub fn errno_at(self, at: ProbeStep) -> Option<i32> {
        match self {
            Probe::Failed { step, errno } if step == at => Some(errno.0),
            _ => None,
        }
    }
}

/// The steps of a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeStep {
    /// Opening the raw socket (needs CAP_NET_RAW).
    Socket,
    /// `MRT_TABLE` (needs CAP_NET_ADMIN).
    Table,
    /// `MRT_INIT` or `MRT6_INIT`.
    Init,
}

impl fmt::Display for ProbeStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProbeStep::Socket => "opening the raw socket",
            ProbeStep::Table => "MRT_TABLE",
            ProbeStep::Init => "MRT_INIT",
        })
    }
}

/// A process that may own a multicast routing table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouterProcess {
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`).
    pub name: String,
}

impl fmt::Display for RouterProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (pid {})", self.name, self.pid)
    }
}

/// One configured interface as the system has it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct InterfaceFacts {
    pub name: String,
    /// It exists in this network namespace.
    pub present: bool,
    /// The effective reverse-path filter (the larger of `conf.all` and
    /// `conf.NAME`): 0 off, 1 strict, 2 loose.
    pub rp_filter: Option<u8>,
}

// ===== Errno =====

/// An errno value; serialized as its name (`"ENOPROTOOPT"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// `ENOPROTOOPT`.
    pub fn name(self) -> String {
        format!("{:?}", nix::errno::Errno::from_raw(self.0))
    }

    pub fn is_permission(self) -> bool {
        matches!(self.0, libc::EPERM | libc::EACCES)
    }
}

impl fmt::Display for Errno {
    /// `ENOPROTOOPT (protocol not available)`; a refusal for want of
    /// privileges reads "permission denied" whichever of the two errnos
    /// the kernel chose.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_permission() {
            return write!(f, "permission denied ({})", self.name());
        }
        let desc = nix::errno::Errno::from_raw(self.0).desc();
        let mut chars = desc.chars();
        let desc: String = match chars.next() {
            Some(c) => c.to_lowercase().chain(chars).collect(),
            None => String::new(),
        };
        write!(f, "{} ({desc})", self.name())
    }
}

impl Serialize for Errno {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}
