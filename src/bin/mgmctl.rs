//! mgmctl: the control tool for mgmd (src/cli/mgmctl). The package ships
//! it as a link to mgmd, which runs the same code when invoked by this
//! name; this binary is for `cargo run --bin mgmctl` and the tests.

fn main() -> std::process::ExitCode {
    mgmd::cli::mgmctl::main()
}
