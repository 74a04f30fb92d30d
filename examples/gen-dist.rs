//! Writes the man pages and shell completions of `mgmd` and `mgmctl` from
//! their clap definitions (`mgmd::cli`), for the Debian package:
//!
//! ```sh
//! cargo run --example gen-dist -- target/assets
//! ```
//!
//! Output: `man/mgmd.8`, `man/mgmctl.8` (and a page per `mgmctl`
//! subcommand, `man/mgmctl-show.8`...), `completions/{mgmd,mgmctl}.bash`,
//! `completions/_{mgmd,mgmctl}` (zsh) and `completions/{mgmd,mgmctl}.fish`.
//! `mgmd.toml(5)` is maintained by hand in `dist/man/mgmd.toml.5` (a test
//! checks that it names every configuration key). See `src/cli/mod.rs` for
//! why this is an example.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Command, CommandFactory};
use clap_complete::Shell;
use clap_mangen::Man;

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: gen-dist OUTPUT_DIR");
        return ExitCode::from(2);
    };
    match generate(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen-dist: {e}");
            ExitCode::FAILURE
        }
    }
}

fn generate(out: &Path) -> io::Result<()> {
    let man = out.join("man");
    let completions = out.join("completions");
    fs::create_dir_all(&man)?;
    fs::create_dir_all(&completions)?;
    for cmd in [
        mgmd::cli::mgmd::Args::command(),
        mgmd::cli::mgmctl::command(),
    ] {
        let name = cmd.get_name().to_owned();
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), &name, &mut script);
            let file = match shell {
                Shell::Zsh => format!("_{name}"),
                _ => format!("{name}.{shell}"),
            };
            fs::write(completions.join(file), script)?;
        }
        let mut cmd = cmd.disable_help_subcommand(true);
        cmd.build();
        write_pages(&cmd, &man)?;
    }
    Ok(())
}

/// One page for the command and one per subcommand (`mgmctl-show.8`...),
/// as the SUBCOMMANDS section refers to them.
fn write_pages(cmd: &Command, dir: &Path) -> io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir)?;
    }
    let man = Man::new(cmd.clone())
        .section("8")
        .manual("System Manager's Manual")
        .source(format!("mgmd {}", env!("CARGO_PKG_VERSION")));
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut page)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut page)?;
    }
    if let Some(text) = cmd.get_after_long_help() {
        page.extend(help_sections(&text.to_string()).into_bytes());
    }
    page.extend(
        ".SH \"SEE ALSO\"\n\\fBmgmd\\fR(8), \\fBmgmctl\\fR(8), \\fBmgmd.toml\\fR(5), \
         \\fBsystemd.service\\fR(5)\n"
            .as_bytes(),
    );
    let name = cmd.get_display_name().unwrap_or(cmd.get_name());
    fs::write(dir.join(format!("{name}.8")), page)
}

/// The `after_long_help` text ("HEADING:" lines, each followed by indented
/// lines laid out by hand) as man page sections with the layout kept.
fn help_sections(text: &str) -> String {
    let mut roff = String::new();
    let mut open = false;
    for line in text.lines() {
        if let Some(heading) = line.strip_suffix(':').filter(|h| is_heading(h)) {
            if open {
                roff.push_str(".fi\n");
            }
            roff.push_str(&format!(".SH \"{heading}\"\n.nf\n"));
            open = true;
        } else {
            roff.push_str(&escape(line.strip_prefix("    ").unwrap_or(line)));
            roff.push('\n');
        }
    }
    if open {
        roff.push_str(".fi\n");
    }
    roff
}

fn is_heading(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_uppercase() || c == ' ')
}

/// Text safe for roff: backslashes, leading dots and quotes, minus signs.
fn escape(line: &str) -> String {
    let s = line.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}
