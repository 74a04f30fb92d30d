//! What the two programs do before and around their real work: their
//! command lines, log set-up and detaching.
//!
//! The clap definitions of `mgmd` and `mgmctl` live here, in the library,
//! rather than in `src/bin/`, so that one definition serves three users:
//! the binaries, their tests, and `examples/gen-dist.rs`, which writes the
//! man pages (clap_mangen) and shell completions (clap_complete) that the
//! Debian package ships (`scripts/package.sh` runs it). The generator is an
//! example rather than a hidden option of the binaries so that neither
//! generator crate is linked into what runs on a router, and rather than a
//! build script so that its output lands where the packager expects it
//! instead of in a hashed `OUT_DIR`; the test build already compiles the
//! dev-dependencies it uses, so generating costs one small link.
//!
//! - [`mgmd`]: the daemon's arguments and exit codes.
//! - [`mgmctl`]: the control tool's arguments and exit codes, and its
//!   `main`, which both `mgmd` (invoked as `mgmctl`, see [`invoked_as`])
//!   and the development binary `src/bin/mgmctl.rs` call.
//! - [`logging`]: where log lines go (terminal, journal, JSON, syslog).
//! - [`detach`]: `mgmd -d`, which returns only once the daemon is ready.
//! - [`check_system`]: `mgmd check-system` and the system part of
//!   `mgmd --check`.
//! - [`config_file`]: reading the configuration file.

pub mod check_system;
pub mod config_file;
pub mod detach;
pub mod logging;
pub mod mgmctl;
pub mod mgmd;

/// Whether this process was started by the program name `name` (the last
/// component of `argv[0]`). The package installs `mgmctl` as a link to
/// `mgmd`: one program, whose two names share the standard library, serde,
/// clap and the control protocol's code (mgmctl's own code adds about
/// 0.2 MB to mgmd; a binary of its own was 1.7 MB).
pub fn invoked_as(name: &str) -> bool {
    std::env::args_os()
        .next()
        .is_some_and(|arg0| std::path::Path::new(&arg0).file_name() == Some(name.as_ref()))
}
