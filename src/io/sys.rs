//! The kernel's multicast routing API (`linux/mroute.h`): constants and
//! structures that libc, nix and socket2 lack, and the few raw
//! `setsockopt`/`ioctl` calls they need, and the two settings of the C
//! library's allocator mgmd makes. This is the only module of mgmd with
//! `unsafe` code; every block states why it is sound.
#![allow(unsafe_code)]

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd};

use libc::{c_int, c_ulong, c_void, socklen_t};

// ===== constants (include/uapi/linux/mroute.h) =====

pub const MRT_INIT: c_int = 200;
pub const MRT_DONE: c_int = 201;
pub const MRT_ADD_VIF: c_int = 202;
pub const MRT_DEL_VIF: c_int = 203;
pub const MRT_ADD_MFC: c_int = 204;
pub const MRT_DEL_MFC: c_int = 205;
pub const MRT_TABLE: c_int = 209;
pub const MRT_FLUSH: c_int = 212;

/// The id `MRT_TABLE` gives the default table (`RT_TABLE_DEFAULT`):
/// selecting it creates no table.
pub const RT_TABLE_DEFAULT: u32 = 253;

/// `MRT6_INIT` (`include/uapi/linux/mroute6.h`), at level `IPPROTO_IPV6`
/// of a raw ICMPv6 socket.
pub const MRT6_INIT: c_int = 200;

/// `MRT_FLUSH` flags: non-static MFC entries and non-static VIFs.
pub const MRT_FLUSH_MFC: c_int = 1;
pub const MRT_FLUSH_VIFS: c_int = 4;

pub const VIFF_USE_IFINDEX: u8 = 8;

pub const IGMPMSG_NOCACHE: u8 = 1;
pub const IGMPMSG_WHOLEPKT: u8 = 3;
pub const IGMPMSG_WRVIFWHOLE: u8 = 4;

/// `SIOCPROTOPRIVATE` + 0 and + 1.
pub const SIOCGETVIFCNT: c_ulong = 0x89E0;
pub const SIOCGETSGCNT: c_ulong = 0x89E1;

/// The IPv4 Router Alert option (RFC 2113), as given to `IP_OPTIONS`.
pub const ROUTER_ALERT_OPTION: [u8; 4] = [0x94, 0x04, 0x00, 0x00];

// ===== structures =====

/// `struct vifctl`. `lcl` holds the ifindex when `flags` has
/// `VIFF_USE_IFINDEX`; addresses are network-order u32.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct VifCtl {
    pub vifi: u16,
    pub flags: u8,
    pub threshold: u8,
    pub rate_limit: u32,
    pub lcl: u32,
    pub rmt_addr: u32,
}

/// `struct mfcctl`. `origin` and `mcastgrp` are network-order u32 (build
/// them with `u32::from_ne_bytes(addr.octets())`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MfcCtl {
    pub origin: u32,
    pub mcastgrp: u32,
    pub parent: u16,
    pub ttls: [u8; 32],
    pub pkt_cnt: u32,
    pub byte_cnt: u32,
    pub wrong_if: u32,
    pub expire: i32,
}

/// `struct sioc_sg_req`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SiocSgReq {
    pub src: u32,
    pub grp: u32,
    pub pktcnt: c_ulong,
    pub bytecnt: c_ulong,
    pub wrong_if: c_ulong,
}

/// `struct sioc_vif_req`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SiocVifReq {
    pub vifi: u16,
    pub icount: c_ulong,
    pub ocount: c_ulong,
    pub ibytes: c_ulong,
    pub obytes: c_ulong,
}

// The kernel checks `optlen == sizeof(struct)` exactly.
const _: () = assert!(size_of::<VifCtl>() == 16);
const _: () = assert!(size_of::<MfcCtl>() == 60);
const _: () = assert!(size_of::<SiocSgReq>() == 8 + 3 * size_of::<c_ulong>());
const _: () = assert!(size_of::<SiocVifReq>() == 5 * size_of::<c_ulong>());

/// Plain-old-data option values: `#[repr(C)]` (or primitive) types without
/// padding-sensitive invariants or pointers, so handing their bytes to the
/// kernel is sound. Sealed to this list.
pub trait SockOptValue: Copy + private::Sealed {}

mod private {
    pub trait Sealed {}
}

macro_rules! sockopt_value {
    ($($t:ty),*) => {$(
        impl private::Sealed for $t {}
        impl SockOptValue for $t {}
    )*};
}
sockopt_value!(c_int, u32, VifCtl, MfcCtl, libc::ip_mreqn, [u8; 4]);

// ===== helper functions =====

/// `setsockopt(fd, level, name, &value, sizeof value)`.
pub fn setsockopt<T: SockOptValue>(
    fd: BorrowedFd<'_>,
    level: c_int,
    name: c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `fd` is a live descriptor for the duration of the borrow; the
    // pointer and length describe exactly one initialized `T`, which the
    // kernel only reads; `T` is plain data (sealed `SockOptValue`).
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast::<c_void>(),
            size_of::<T>() as socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `ioctl(fd, SIOCGETSGCNT, req)`: the packet, byte and wrong-interface
/// counters of one (S,G) entry.
pub fn ioctl_get_sg_count(fd: BorrowedFd<'_>, req: &mut SiocSgReq) -> io::Result<()> {
    // SAFETY: `fd` is live; `req` points to a valid, writable `sioc_sg_req`
    // of the size the kernel copies in and out for SIOCGETSGCNT.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), SIOCGETSGCNT as _, req as *mut SiocSgReq) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `ioctl(fd, SIOCGETVIFCNT, req)`: the counters of one VIF.
pub fn ioctl_get_vif_count(fd: BorrowedFd<'_>, req: &mut SiocVifReq) -> io::Result<()> {
    // SAFETY: `fd` is live; `req` points to a valid, writable `sioc_vif_req`
    // of the size the kernel copies in and out for SIOCGETVIFCNT.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), SIOCGETVIFCNT as _, req as *mut SiocVifReq) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets the receive buffer to `bytes`, beyond `net.core.rmem_max` when the
/// process has CAP_NET_ADMIN (`SO_RCVBUFFORCE`), else up to that limit.
pub fn set_rcvbuf(fd: BorrowedFd<'_>, bytes: usize) -> io::Result<()> {
    let val = c_int::try_from(bytes).unwrap_or(c_int::MAX);
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &val)
        .or_else(|_| setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &val))
}

/// What `SO_MEMINFO` tells of a socket's receive side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecvMem {
    /// Bytes queued for reading (`SK_MEMINFO_RMEM_ALLOC`).
    pub queued: u32,
    /// Messages the kernel dropped for want of room (`SK_MEMINFO_DROPS`).
    pub drops: u32,
}

/// `getsockopt(fd, SOL_SOCKET, SO_MEMINFO)`: the socket's receive queue and
/// drop count.
pub fn recv_mem(fd: BorrowedFd<'_>) -> io::Result<RecvMem> {
    // SK_MEMINFO_VARS; the kernel copies at most as many as asked for.
    let mut mem = [0u32; 9];
    let mut len = size_of_val(&mem) as socklen_t;
    // SAFETY: `fd` is live for the borrow; the pointer and `len` describe
    // `mem`, a writable array of plain integers the kernel fills and never
    // keeps; `len` is a valid in-out length.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_MEMINFO,
            mem.as_mut_ptr().cast::<c_void>(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(RecvMem {
        queued: mem[0],
        drops: mem[8],
    })
}

/// `ip_mreqn` selecting an interface by index (and source address).
pub fn ip_mreqn(ifindex: u32, address: std::net::Ipv4Addr) -> libc::ip_mreqn {
    libc::ip_mreqn {
        imr_multiaddr: libc::in_addr { s_addr: 0 },
        imr_address: libc::in_addr {
            s_addr: u32::from_ne_bytes(address.octets()),
        },
        imr_ifindex: c_int::try_from(ifindex).unwrap_or(0),
    }
}

/// Takes ownership of a descriptor this process inherited (a socket handed
/// over by the previous mgmd across `execve`, or by the service manager's
/// file descriptor store), after checking that it is open. Call it once
/// per descriptor: the caller forgets the number (removes it from the
/// environment that named it).
pub fn take_inherited_fd(raw: std::os::fd::RawFd) -> io::Result<std::os::fd::OwnedFd> {
    // SAFETY: F_GETFD only reads the descriptor's flags; an invalid number
    // fails with EBADF and nothing else happens.
    if raw < 3 || unsafe { libc::fcntl(raw, libc::F_GETFD) } < 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor {raw} is not open"),
        ));
    }
    // SAFETY: the descriptor is open (checked above), it is not one of
    // the standard streams, and nothing else in this process owns it: it
    // was inherited, and the environment variable that named it is
    // removed by the caller, so this is the one owner.
    Ok(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) })
}

/// Removes a variable from the environment. Only for `main`'s first
/// steps, before any other thread is started.
pub fn remove_env_at_start(key: &str) {
    // SAFETY: the process has one thread when this runs (the caller's
    // contract: `main` before the runtime, logging or any thread starts),
    // so nothing reads the environment concurrently.
    unsafe { std::env::remove_var(key) }
}

// ===== the C library's allocator =====

/// Allocations of at least this size get a mapping of their own, returned
/// to the kernel when freed (glibc's `M_MMAP_THRESHOLD`).
pub const HEAP_MMAP_THRESHOLD: usize = 128 * 1024;
/// Free memory at the top of the heap beyond this goes back to the kernel
/// at once (glibc's `M_TRIM_THRESHOLD`).
pub const HEAP_TRIM_THRESHOLD: usize = 128 * 1024;

/// The environment variables with which an administrator sets glibc's
/// allocator; when one is set, [`tune_heap`] leaves the allocator alone.
pub const HEAP_ENV: [&str; 3] = [
    "GLIBC_TUNABLES",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
];

/// Fixes glibc's mmap and trim thresholds at their initial values
/// ([`HEAP_MMAP_THRESHOLD`], [`HEAP_TRIM_THRESHOLD`]). By default glibc
/// raises both each time a mapped allocation is freed (up to 32 MiB and
/// 64 MiB), so after one large reply every later large buffer comes from
/// the heap and stays there once freed. Unless the environment sets the
/// allocator ([`HEAP_ENV`]). Returns whether the thresholds were set; with
/// another C library it does nothing.
pub fn tune_heap() -> bool {
    if HEAP_ENV.iter().any(|k| std::env::var_os(k).is_some()) {
        return false;
    }
    tune_heap_now()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_heap_now() -> bool {
    // SAFETY: mallopt only changes the allocator's parameters (under its
    // own lock); both values are within c_int and the range glibc accepts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, HEAP_MMAP_THRESHOLD as c_int) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, HEAP_TRIM_THRESHOLD as c_int) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_heap_now() -> bool {
    false
}

/// Returns the free pages of the heap (also those between live
/// allocations, which glibc keeps otherwise) to the kernel: for after a
/// burst of short-lived allocations, such as a large control reply. Costs a
/// walk over the free chunks. Returns whether anything was released.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn trim_heap() -> bool {
    // SAFETY: malloc_trim takes the allocator's locks itself and only
    // releases memory that no allocation uses.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Returns the free pages of the heap to the kernel (glibc only).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim_heap() -> bool {
    false
}

/// Types that own one descriptor for their whole life: created in their
/// constructor, never replaced, closed only on drop; `as_raw_fd` always
/// returns it. Sealed to this list.
pub trait OwnsFd: AsRawFd + owns_fd::Sealed {}

mod owns_fd {
    pub trait Sealed {}
}

impl owns_fd::Sealed for crate::io::mrt::MrtSocket {}
impl OwnsFd for crate::io::mrt::MrtSocket {}
// Shared ownership: the descriptor closes with the last reference.
impl owns_fd::Sealed for std::sync::Arc<crate::io::mrt::MrtSocket> {}
impl OwnsFd for std::sync::Arc<crate::io::mrt::MrtSocket> {}

/// Registers `inner` with the tokio reactor. Must be called inside a tokio
/// runtime.
pub fn async_fd<T: OwnsFd>(inner: T) -> io::Result<tokio::io::unix::AsyncFd<T>> {
    // SAFETY: `OwnsFd` types own their descriptor, which stays open and
    // unchanged until `inner` is dropped; the `AsyncFd` owns `inner`, so the
    // descriptor outlives the registration.
    unsafe { tokio::io::unix::AsyncFd::register(inner) }.map_err(io::Error::from)
}

// ===== source filters (RFC 3678) =====

/// `MCAST_MSFILTER` (`linux/in.h`): set a socket's full source filter for
/// one group membership.
pub const MCAST_MSFILTER: c_int = 48;
const MCAST_EXCLUDE: u32 = 0;
const MCAST_INCLUDE: u32 = 1;
/// `sizeof(struct __kernel_sockaddr_storage)`.
const SOCKADDR_STORAGE: usize = 128;
/// `offsetof(struct group_filter, gf_group)`: the storage is 8-aligned.
const GF_GROUP: usize = 8;
const GF_FMODE: usize = GF_GROUP + SOCKADDR_STORAGE;
const GF_NUMSRC: usize = GF_FMODE + 4;
/// `GROUP_FILTER_SIZE(0)`: where `gf_slist` starts.
const GF_SLIST: usize = GF_NUMSRC + 4;

fn put_sockaddr_in(buf: &mut [u8], at: usize, addr: std::net::Ipv4Addr) {
    buf[at..at + 2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
    // sin_port stays 0; sin_addr is in network order.
    buf[at + 4..at + 8].copy_from_slice(&addr.octets());
}

/// Build a `struct group_filter` of `GROUP_FILTER_SIZE(sources.len())`
/// bytes.
pub fn group_filter(
    ifindex: u32,
    group: std::net::Ipv4Addr,
    include: bool,
    sources: &[std::net::Ipv4Addr],
) -> Vec<u8> {
    let mut buf = vec![0u8; GF_SLIST + sources.len() * SOCKADDR_STORAGE];
    buf[0..4].copy_from_slice(&ifindex.to_ne_bytes());
    put_sockaddr_in(&mut buf, GF_GROUP, group);
    let mode = if include {
        MCAST_INCLUDE
    } else {
        MCAST_EXCLUDE
    };
    buf[GF_FMODE..GF_FMODE + 4].copy_from_slice(&mode.to_ne_bytes());
    buf[GF_NUMSRC..GF_NUMSRC + 4].copy_from_slice(&(sources.len() as u32).to_ne_bytes());
    for (i, s) in sources.iter().enumerate() {
        put_sockaddr_in(&mut buf, GF_SLIST + i * SOCKADDR_STORAGE, *s);
    }
    buf
}

/// Replace the source filter of the socket's membership of `group` on
/// `ifindex` (the socket must have joined it). The kernel caps the number
/// of sources at `net.ipv4.igmp_max_msf` (ENOBUFS beyond).
pub fn set_source_filter(
    fd: BorrowedFd<'_>,
    ifindex: u32,
    group: std::net::Ipv4Addr,
    include: bool,
    sources: &[std::net::Ipv4Addr],
) -> io::Result<()> {
    let buf = group_filter(ifindex, group, include, sources);
    // SAFETY: `fd` is live for the borrow; the pointer and length describe
    // the initialized buffer, which the kernel only reads (it copies
    // `optlen` bytes and checks `GROUP_FILTER_SIZE(gf_numsrc) <= optlen`).
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_IP,
            MCAST_MSFILTER,
            buf.as_ptr().cast::<c_void>(),
            buf.len() as socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod filter_tests {
    use super::*;

    #[test]
    fn group_filter_layout_matches_the_uapi_struct() {
        let g = std::net::Ipv4Addr::new(239, 1, 2, 3);
        let s = std::net::Ipv4Addr::new(10, 0, 0, 5);
        let buf = group_filter(7, g, true, &[s]);
        assert_eq!(buf.len(), 144 + 128);
        assert_eq!(&buf[0..4], &7u32.to_ne_bytes());
        assert_eq!(&buf[8..10], &(libc::AF_INET as u16).to_ne_bytes());
        assert_eq!(&buf[12..16], &[239, 1, 2, 3]);
        assert_eq!(&buf[136..140], &1u32.to_ne_bytes());
        assert_eq!(&buf[140..144], &1u32.to_ne_bytes());
        assert_eq!(&buf[148..152], &[10, 0, 0, 5]);
        assert_eq!(group_filter(7, g, false, &[]).len(), 144);
    }
}
