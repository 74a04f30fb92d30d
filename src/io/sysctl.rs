//! Reads of the `/proc/sys/net/ipv4/conf` settings that affect multicast
//! routing, for startup and per-interface warnings.

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

/// `conf/all/mc_forwarding`: 1 while some socket owns the default table.
pub fn mc_forwarding_all() -> Option<u8> {
    mc_forwarding("all")
}

// ===== helper functions =====

const CONF: &str = "/proc/sys/net/ipv4/conf";

fn rp_filter_in(conf: &Path, ifname: &str) -> Option<u8> {
    if ifname.is_empty() || ifname.contains('/') || ifname == "." || ifname == ".." {
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
