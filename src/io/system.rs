//! What `mgmd check-system` learns of the system it runs on: the kernel's
//! multicast routing API probed, and reads of `/proc`. It gathers
//! [`SystemFacts`] and decides nothing ([`crate::system_check`] does).
//!
//! The probes open a raw socket and take a table (`MRT_INIT`), then close
//! the socket at once, which ends the ownership as `MRT_DONE` does. They
//! run on a thread of their own in a scratch network namespace
//! (`unshare(CLONE_NEWNET)`, which needs CAP_SYS_ADMIN), whose tables no
//! daemon uses. Where that is refused they run in this process's
//! namespace: a table another process owns answers EADDRINUSE and is left
//! alone; a free one is owned for an instant. Everything read from this
//! namespace is read before the probes.

use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::path::Path;

use nix::sched::{CloneFlags, unshare};
use socket2::{Domain, Protocol, Socket, Type};

use crate::io::{sys, sysctl};
use crate::system_check::{
    Errno, InterfaceFacts, Probe, ProbeNamespace, ProbeStep, RouterProcess, SystemFacts,
};

/// The command names of daemons that may own a multicast routing table.
const ROUTER_NAMES: &[&str] = &[
    "mgmd",
    "smcrouted",
    "smcroute",
    "pimd",
    "pimd-dense",
    "pim6sd",
    "pimbd",
    "igmpproxy",
    "mrouted",
    "mcproxy",
    "omcproxy",
];

/// Arguments that make an `mgmd` process something other than the daemon.
const MGMD_NOT_DAEMON: &[&str] = &["check-system", "--check", "replay"];

// ===== public functions =====

/// Everything `mgmd check-system` looks at, for a configuration using
/// `table` (`None`: the default table), naming `interfaces`, with its pid
/// file at `pid_file`.
pub fn collect(table: Option<u32>, interfaces: &[String], pid_file: &Path) -> SystemFacts {
    // Before the probes: one in this namespace owns a free table for an
    // instant, which `mc_forwarding` would count.
    let mc_forwarding = sysctl::owned_tables();
    let routers = multicast_routers();
    let interfaces = interfaces
        .iter()
        .map(|name| {
            let present = sysctl::interface_present(name);
            InterfaceFacts {
                name: name.clone(),
                present,
                rp_filter: present.then(|| sysctl::sysctl_rp_filter(name)).flatten(),
            }
        })
        .collect();
    let (probe_namespace, probes) = probe(table);
    SystemFacts {
        kernel_release: fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_owned()),
        probe_namespace,
        ipv4: probes.ipv4,
        tables: probes.tables,
        ipv6: probes.ipv6,
        ip_mr_vif: proc_net_has("ip_mr_vif"),
        ip6_mr_vif: proc_net_has("ip6_mr_vif"),
        mc_forwarding,
        routers,
        pid_file_pid: fs::read_to_string(pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok()),
        cap_eff: fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| parse_cap_eff(&s)),
        igmp_max_memberships: sysctl::igmp_max_memberships(),
        igmp_max_msf: sysctl::igmp_max_msf(),
        interfaces,
    }
}

// ===== the probes =====

struct Probes {
    ipv4: Probe,
    tables: Probe,
    ipv6: Probe,
}

/// Runs the probes on a thread of their own, in a scratch network
/// namespace when `unshare` allows it (the namespace goes with the
/// thread), else in this one.
fn probe(table: Option<u32>) -> (ProbeNamespace, Probes) {
    let spawned = std::thread::Builder::new()
        .name("check-system".into())
        .spawn(move || {
            let ns = match unshare(CloneFlags::CLONE_NEWNET) {
                Ok(()) => ProbeNamespace::Scratch,
                Err(e) => ProbeNamespace::Current {
                    unshare: Errno(e as i32),
                },
            };
            (ns, run_probes(table))
        });
    match spawned {
        Ok(handle) => handle
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
        Err(e) => {
            let ns = ProbeNamespace::Current {
                unshare: Errno(e.raw_os_error().unwrap_or(libc::EAGAIN)),
            };
            (ns, run_probes(table))
        }
    }
}

fn run_probes(table: Option<u32>) -> Probes {
    let ipv4 = probe_ipv4(None, true);
    let tables = match table {
        // What mgmd does at start: select the table, then take it.
        Some(t) => probe_ipv4(Some(t), true),
        // The default table's id: the option exists or not, and no table is
        // created (in this namespace, too).
        None => probe_ipv4(Some(sys::RT_TABLE_DEFAULT), false),
    };
    Probes {
        ipv4,
        tables,
        ipv6: probe_ipv6(),
    }
}

/// A raw IGMP socket; `MRT_TABLE` if `table`; `MRT_INIT` if `init`. The
/// socket closes on return.
fn probe_ipv4(table: Option<u32>, init: bool) -> Probe {
    let sock = match Socket::new(
        Domain::IPV4,
        Type::RAW,
        Some(Protocol::from(libc::IPPROTO_IGMP)),
    ) {
        Ok(s) => s,
        Err(e) => return failed(ProbeStep::Socket, &e),
    };
    if let Some(t) = table {
        if let Err(e) = sys::setsockopt(sock.as_fd(), libc::IPPROTO_IP, sys::MRT_TABLE, &t) {
            return failed(ProbeStep::Table, &e);
        }
    }
    if init {
        if let Err(e) = sys::setsockopt(sock.as_fd(), libc::IPPROTO_IP, sys::MRT_INIT, &1i32) {
            return failed(ProbeStep::Init, &e);
        }
    }
    Probe::Ok
}

/// A raw ICMPv6 socket, then `MRT6_INIT`.
fn probe_ipv6() -> Probe {
    let sock = match Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6)) {
        Ok(s) => s,
        Err(e) => return failed(ProbeStep::Socket, &e),
    };
    match sys::setsockopt(sock.as_fd(), libc::IPPROTO_IPV6, sys::MRT6_INIT, &1i32) {
        Ok(()) => Probe::Ok,
        Err(e) => failed(ProbeStep::Init, &e),
    }
}

fn failed(step: ProbeStep, e: &io::Error) -> Probe {
    Probe::failed(step, e.raw_os_error().unwrap_or(libc::EIO))
}

// ===== reads of /proc =====

/// Whether `/proc/net/NAME` exists; `None` when `/proc/net` itself cannot
/// be read.
fn proc_net_has(name: &str) -> Option<bool> {
    let dir = Path::new("/proc/net");
    match fs::metadata(dir.join(name)) {
        Ok(_) => Some(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound && dir.is_dir() => Some(false),
        Err(_) => None,
    }
}

/// The processes of this network namespace whose command name is a
/// multicast routing daemon's, this one and `mgmd` commands that are not
/// the daemon left out, by pid. A process whose namespace cannot be read
/// (another user's, without privileges) is listed.
fn multicast_routers() -> Vec<RouterProcess> {
    let own = std::process::id();
    let our_ns = fs::read_link("/proc/self/ns/net").ok();
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == own {
            continue;
        }
        let path = entry.path();
        let Ok(comm) = fs::read_to_string(path.join("comm")) else {
            continue;
        };
        let name = comm.trim_end();
        if !ROUTER_NAMES.contains(&name) {
            continue;
        }
        if let (Some(ours), Ok(theirs)) = (&our_ns, fs::read_link(path.join("ns/net"))) {
            if *ours != theirs {
                continue;
            }
        }
        if name == "mgmd" {
            let cmdline = fs::read(path.join("cmdline")).unwrap_or_default();
            if cmdline
                .split(|b| *b == 0)
                .any(|arg| MGMD_NOT_DAEMON.iter().any(|a| a.as_bytes() == arg))
            {
                continue;
            }
        }
        found.push(RouterProcess {
            pid,
            name: name.to_owned(),
        });
    }
    found.sort_by_key(|r| r.pid);
    found
}

/// `CapEff:\t000001ffffffffff` in `/proc/PID/status`.
fn parse_cap_eff(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_eff_is_read_from_the_status_file() {
        let status = "Name:\tmgmd\nCapInh:\t0000000000000000\nCapPrm:\t0000000000003000\n\
                      CapEff:\t0000000000003000\nCapBnd:\t000001ffffffffff\n";
        assert_eq!(parse_cap_eff(status), Some(0x3000));
        assert_eq!(parse_cap_eff("Name:\tmgmd\n"), None);
        assert_eq!(parse_cap_eff("CapEff:\tzz\n"), None);
    }

    #[test]
    fn this_process_is_not_listed_as_a_router() {
        let own = std::process::id();
        assert!(multicast_routers().iter().all(|r| r.pid != own));
    }
}
