//! Reads of the `/proc/sys/net/ipv4` settings that affect multicast
//! routing, for startup and per-interface warnings and `mgmd check-system`.

use std::fs;
use std::path::Path;

// ===== public functions =====

/// The effective reverse-path filter mode of `ifname`: the maximum of
/// `conf/all/rp_filter` and `conf/<ifname>/rp_filter` (how the kernel
/// combines them). 0 off, 1 strict, 2 loose. Strict mode drops multicast
/// from sources whose unicast route points elsewhere.
pub fn sysctl_rp_filter(ifname: &str) -> Option<u8> {
    rp_filter_in(Path::new(CONF), ifname)
}

/// `conf/<ifname>/mc_forwarding`: 1 while some socket owns the multicast
/// routing table and the interface is a VIF (read-only for users).
pub fn mc_forwarding(ifname: &str) -> Option<u8> {
    read_u8(&Path::new(CONF).join(ifname).join("mc_forwarding"))
}

/// `conf/all/mc_forwarding` as a count: the kernel adds one for each
/// multicast routing table a socket takes (`MRT_INIT`) in this network
/// namespace, and takes it back when that socket closes.
pub fn owned_tables() -> Option<u32> {
    read_parsed(&Path::new(CONF).join("all").join("mc_forwarding"))
}

/// Whether `ifname` exists in this network namespace (every interface has
/// its `conf/<ifname>` directory).
pub fn interface_present(ifname: &str) -> bool {
    valid_name(ifname) && Path::new(CONF).join(ifname).is_dir()
}

/// `net.ipv4.igmp_max_memberships`: how many groups one socket may join
/// (20 by default).
pub fn igmp_max_memberships() -> Option<u32> {
    read_parsed(&Path::new(IPV4).join("igmp_max_memberships"))
}

/// `net.ipv4.igmp_max_msf`: how many sources one membership's filter may
/// hold (10 by default).
pub fn igmp_max_msf() -> Option<u32> {
    read_parsed(&Path::new(IPV4).join("igmp_max_msf"))
}

// ===== helper functions =====

const IPV4: &str = "/proc/sys/net/ipv4";
const CONF: &str = "/proc/sys/net/ipv4/conf";

/// A name that stays one directory below `conf`.
fn valid_name(ifname: &str) -> bool {
    !(ifname.is_empty() || ifname.contains('/') || ifname == "." || ifname == "..")
}

fn rp_filter_in(conf: &Path, ifname: &str) -> Option<u8> {
    if !valid_name(ifname) {
        return None;
    }
    let all = read_u8(&conf.join("all").join("rp_filter"));
    let one = read_u8(&conf.join(ifname).join("rp_filter"));
    match (all, one) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn read_u8(path: &Path) -> Option<u8> {
    read_parsed(path)
}

fn read_parsed<T: std::str::FromStr>(path: &Path) -> Option<T> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, ifname: &str, value: &str) {
        let d = dir.join(ifname);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("rp_filter"), value).unwrap();
    }

    #[test]
    fn rp_filter_is_the_max_of_all_and_interface() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "all", "0\n");
        write(tmp.path(), "eth0", "1\n");
        write(tmp.path(), "eth1", "0\n");
        assert_eq!(rp_filter_in(tmp.path(), "eth0"), Some(1));
        assert_eq!(rp_filter_in(tmp.path(), "eth1"), Some(0));
        write(tmp.path(), "all", "2\n");
        assert_eq!(rp_filter_in(tmp.path(), "eth0"), Some(2));
        assert_eq!(rp_filter_in(tmp.path(), "missing"), Some(2));
        assert_eq!(rp_filter_in(tmp.path(), "../x"), None);
    }
}
