//! The kernel trace: what the kernel writer did with every change the
//! router asked for, next to the recording (`FILE.kernel` for `--record
//! FILE`), and the check that it is what the recording says the router
//! produced (`mgmd replay --kernel-trace FILE.kernel FILE`).
//!
//! # Format
//!
//! One JSON object per line. Each daemon run starts with a header (the
//! recording's runs and the trace's runs are in the same order); every
//! action the writer handled follows, in the order it handled them:
//!
//! ```text
//! {"mgmd-kernel-trace":1}
//! {"applied":{"add-vif":{...}}}
//! {"refused":{"action":{"add-mfc":{...}},"error":"..."}}
//! {"skipped":{"action":{"add-mfc":{...}},"error":"..."}}
//! "end"
//! ```
//!
//! `applied`: the kernel took it; `refused`: the kernel refused it;
//! `skipped`: not attempted, the kernel refused a change of a VIF it needs
//! ([`VifGate`](crate::core::mroute::VifGate)). `"end"` is written when the
//! writer stopped with the daemon; a run without it was cut off (the daemon
//! was killed, or replaced itself with `execve`).
//!
//! # The check
//!
//! Per run, the actions of the trace, in order, must be the router's `mrt`
//! outputs, in order: all of them when the run ended, a prefix of them when
//! it was cut off. Every refusal the recording holds (an
//! [`Input::KernelRejected`]) must be the trace's next refusal, with the
//! same action and error; only the last refusals of a run may have none
//! (the daemon stopped before it heard of them).

use std::fs::File;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{RecordError, Replayed};
use crate::core::input::Input;
use crate::core::mroute::MrtAction;
use crate::core::output::Output;

/// The format version in the header.
pub const FORMAT: u32 = 1;

/// The header's key, which also tells a header from an entry.
const HEADER_KEY: &str = "{\"mgmd-kernel-trace\":";

/// The first line of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Header {
    pub mgmd_kernel_trace: u32,
}

/// What the writer did with one action, or the end of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Entry {
    /// The kernel took it.
    Applied(MrtAction),
    /// The kernel refused it.
    Refused { action: MrtAction, error: String },
    /// Not attempted: the kernel refused a change of a VIF it needs.
    Skipped { action: MrtAction, error: String },
    /// The writer stopped with the daemon: nothing was left out.
    End,
}

impl Entry {
    /// The action it is about (none for the end).
    pub fn action(&self) -> Option<&MrtAction> {
        match self {
            Entry::Applied(a)
            | Entry::Refused { action: a, .. }
            | Entry::Skipped { action: a, .. } => Some(a),
            Entry::End => None,
        }
    }

    /// The action and why, when the router was told it failed.
    fn refusal(&self) -> Option<(&MrtAction, &str)> {
        match self {
            Entry::Refused { action, error } | Entry::Skipped { action, error } => {
                Some((action, error))
            }
            Entry::Applied(_) | Entry::End => None,
        }
    }
}

impl std::fmt::Display for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (what, action) = match self {
            Entry::Applied(a) => ("applied", a),
            Entry::Refused { action, .. } => ("refused", action),
            Entry::Skipped { action, .. } => ("skipped", action),
            Entry::End => return f.write_str("the end of the run"),
        };
        write!(f, "{what} {}", json(action))
    }
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Where the trace of the recording `path` is kept: `path` + `.kernel`.
pub fn path_for(recording: &Path) -> PathBuf {
    let mut p = recording.as_os_str().to_owned();
    p.push(".kernel");
    PathBuf::from(p)
}

// ===== writing =====

/// Appends a run's entries to a trace. Each line is written whole (a kill
/// leaves whole lines, at most the last one cut short); [`flush`] puts
/// what was written on disk.
///
/// [`flush`]: Trace::flush
pub struct Trace {
    out: io::BufWriter<File>,
    line: Vec<u8>,
}

impl Trace {
    /// Opens `path` for appending and writes the run's header.
    pub fn create(path: &Path) -> io::Result<Trace> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let mut t = Trace {
            out: io::BufWriter::new(file),
            line: Vec::new(),
        };
        t.line(&Header {
            mgmd_kernel_trace: FORMAT,
        })?;
        t.flush()?;
        Ok(t)
    }

    /// Appends one entry (buffered).
    pub fn entry(&mut self, entry: &Entry) -> io::Result<()> {
        self.line(entry)
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn line<T: Serialize>(&mut self, value: &T) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, value).map_err(io::Error::other)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)
    }
}

// ===== reading =====

/// One run of a trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Run {
    /// The line of its header.
    pub line: usize,
    /// Its entries with their lines, the end left out.
    pub entries: Vec<(usize, Entry)>,
    /// It ends with `"end"`.
    pub ended: bool,
}

/// Reads a whole trace. A line cut short (the daemon was killed while
/// writing it) ends its run; the next run's header may follow it on the
/// same line.
pub fn read(path: &Path, mut reader: impl BufRead) -> Result<Vec<Run>, RecordError> {
    let name = path.display().to_string();
    let bad = |line: usize, message: String| RecordError::Bad {
        path: name.clone(),
        line,
        message,
    };
    let mut runs: Vec<Run> = Vec::new();
    let mut text = String::new();
    let mut line = 0;
    loop {
        let whole = match super::read_line(&mut reader, &mut text, &name)? {
            None => break,
            Some(whole) => whole,
        };
        line += 1;
        if !whole {
            // Written only in part: the daemon was killed.
            break;
        }
        let mut rest = text.trim();
        if rest.is_empty() {
            continue;
        }
        if let Some(at) = rest.find(HEADER_KEY).filter(|at| *at > 0) {
            // A line cut short, then the next run's header.
            rest = &rest[at..];
        }
        if rest.starts_with(HEADER_KEY) {
            let header: Header = serde_json::from_str(rest)
                .map_err(|e| bad(line, format!("not a kernel trace header: {e}")))?;
            if header.mgmd_kernel_trace != FORMAT {
                return Err(bad(
                    line,
                    format!(
                        "kernel trace format {} is not the one this mgmd reads ({FORMAT})",
                        header.mgmd_kernel_trace
                    ),
                ));
            }
            runs.push(Run {
                line,
                ..Run::default()
            });
            continue;
        }
        let entry: Entry =
            serde_json::from_str(rest).map_err(|e| bad(line, format!("not a trace entry: {e}")))?;
        let Some(run) = runs.last_mut() else {
            return Err(bad(line, "an entry before any header".to_owned()));
        };
        if run.ended {
            return Err(bad(line, "an entry after the end of its run".to_owned()));
        }
        match entry {
            Entry::End => run.ended = true,
            e => run.entries.push((line, e)),
        }
    }
    Ok(runs)
}

// ===== checking =====

/// What a check of a trace found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checked {
    pub runs: usize,
    /// Actions the writer handled, in all runs.
    pub actions: usize,
    /// Of them, refused or skipped.
    pub refusals: usize,
    /// Runs cut off (no end): their trace may stop short of the outputs.
    pub cut_off: usize,
    /// Actions the router produced that a cut-off run's trace does not hold.
    pub not_reached: usize,
    /// Refusals at the end of a run that the recording has no input for.
    pub unheard: usize,
}

/// Compares a trace with a recording, step by step as the recording is
/// replayed: [`step`](Self::step) for every step, then
/// [`finish`](Self::finish).
pub struct Check {
    path: String,
    runs: Vec<Run>,
    /// The recording's run now compared (1-based; 0 before the first).
    run: usize,
    /// The next entry of that run's trace to compare an output with.
    next: usize,
    /// The next refusal a recorded one is compared with.
    next_refusal: usize,
    /// How many of the router's actions were compared in this run.
    outputs: usize,
    done: Checked,
}

impl Check {
    pub fn new(path: &Path, runs: Vec<Run>) -> Check {
        Check {
            path: path.display().to_string(),
            runs,
            run: 0,
            next: 0,
            next_refusal: 0,
            outputs: 0,
            done: Checked::default(),
        }
    }

    fn error(&self, line: usize, message: String) -> RecordError {
        RecordError::Kernel {
            path: self.path.clone(),
            line,
            run: self.run,
            message,
        }
    }

    /// Moves on to the recording's run `run` (and checks the ones before).
    fn enter(&mut self, run: usize) -> Result<(), RecordError> {
        while self.run < run {
            if self.run > 0 {
                self.end_run()?;
            }
            self.run += 1;
            self.next = 0;
            self.next_refusal = 0;
            self.outputs = 0;
            if self.run > self.runs.len() {
                let line = self.runs.last().map_or(0, |r| r.line);
                return Err(self.error(
                    line,
                    format!(
                        "the recording has run {} and the trace has {} run(s)",
                        self.run,
                        self.runs.len()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Checks one replayed step: its recorded refusals against the trace's,
    /// its `mrt` outputs against the trace's next actions.
    pub fn step(&mut self, step: &Replayed) -> Result<(), RecordError> {
        self.enter(step.run)?;
        let run = &self.runs[self.run - 1];
        for input in &step.inputs {
            let Input::KernelRejected { action, error } = input else {
                continue;
            };
            let refusal = run.entries[self.next_refusal..]
                .iter()
                .position(|(_, e)| e.refusal().is_some())
                .map(|i| self.next_refusal + i);
            let Some(at) = refusal else {
                return Err(self.error(
                    run.line,
                    format!(
                        "step {} (line {}) has the kernel's refusal of {} ({error}) and the \
                         trace has no refusal left",
                        step.step,
                        step.line,
                        json(action)
                    ),
                ));
            };
            let (line, entry) = &run.entries[at];
            if entry.refusal() != Some((action, error.as_str())) {
                return Err(self.error(
                    *line,
                    format!(
                        "step {} (line {}) has the kernel's refusal of {} ({error}) and the \
                         trace's next refusal is {entry} ({})",
                        step.step,
                        step.line,
                        json(action),
                        entry.refusal().map_or("", |r| r.1)
                    ),
                ));
            }
            if at >= self.next {
                return Err(self.error(
                    *line,
                    format!(
                        "step {} (line {}) has the kernel's refusal of {} before the router \
                         asked for it",
                        step.step,
                        step.line,
                        json(action)
                    ),
                ));
            }
            self.next_refusal = at + 1;
        }
        for output in &step.outputs {
            let Output::Mrt(action) = output else {
                continue;
            };
            self.outputs += 1;
            let Some((line, entry)) = run.entries.get(self.next) else {
                if run.ended {
                    let line = run.entries.last().map_or(run.line, |e| e.0);
                    return Err(self.error(
                        line,
                        format!(
                            "action {}: step {} (line {}) asked for {} and the kernel writer's \
                             trace ends before it",
                            self.outputs,
                            step.step,
                            step.line,
                            json(action)
                        ),
                    ));
                }
                // Cut off: the rest was never reached.
                self.done.not_reached += 1;
                continue;
            };
            if entry.action() != Some(action) {
                return Err(self.error(
                    *line,
                    format!(
                        "action {}: step {} (line {}) asked for {} and the kernel writer {entry}",
                        self.outputs,
                        step.step,
                        step.line,
                        json(action)
                    ),
                ));
            }
            self.next += 1;
        }
        Ok(())
    }

    /// The end of the run now compared: the trace holds nothing more.
    fn end_run(&mut self) -> Result<(), RecordError> {
        let run = &self.runs[self.run - 1];
        if let Some((line, entry)) = run.entries.get(self.next) {
            return Err(self.error(
                *line,
                format!(
                    "action {}: the kernel writer {entry}, which the router never asked for \
                     (it asked for {} action(s))",
                    self.next + 1,
                    self.outputs
                ),
            ));
        }
        self.done.runs += 1;
        self.done.actions += run.entries.len();
        let refusals =
            |es: &[(usize, Entry)]| es.iter().filter(|(_, e)| e.refusal().is_some()).count();
        self.done.refusals += refusals(&run.entries);
        self.done.unheard += refusals(&run.entries[self.next_refusal..]);
        if !run.ended {
            self.done.cut_off += 1;
        }
        Ok(())
    }

    /// After the last step of a recording of `runs` runs: checks what is
    /// left, and that the trace has as many runs.
    pub fn finish(mut self, runs: usize) -> Result<Checked, RecordError> {
        self.enter(runs)?;
        if self.run > 0 {
            self.end_run()?;
        }
        if self.runs.len() > runs {
            return Err(self.error(
                self.runs[runs].line,
                format!(
                    "the trace has {} runs and the recording {runs}",
                    self.runs.len()
                ),
            ));
        }
        Ok(self.done)
    }
}

#[cfg(test)]
mod tests;
