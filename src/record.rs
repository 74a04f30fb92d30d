//! Recording and replaying the router: `mgmd --record FILE` appends every
//! router step (its inputs with their time, and the outputs it produced)
//! as JSON lines; `mgmd replay FILE` runs the router again on the same
//! inputs at the same times, without sockets or privileges, and prints the
//! outputs, or checks them against the recorded ones (`--verify`). The
//! router is deterministic, so a replay reproduces a run exactly: a bug
//! report can carry its recording, and tests keep recordings as golden
//! scenarios.
//!
//! # Format
//!
//! One JSON object per line. A run starts with a header; every step
//! follows it, in order:
//!
//! ```text
//! {"mgmd-record":1,"version":"0.1.0","config-path":"/etc/mgmd/mgmd.toml","config":"..."}
//! {"t-ns":1250000,"in":[{"link":{...}}],"out":[{"event":{...}},...]}
//! {"t-ns":1300000,"in":[{"igmp-rx":{...}},...],"out":[...]}
//! ```
//!
//! `t-ns` is the step's time in nanoseconds since the router started;
//! A step's inputs arrived together and are handled with one commit
//! ([`Router::step`]); older recordings mark such steps `"batch":true`,
//! which is read and ignored. `out` may be
//! left out (a hand-written scenario); `--verify` then has nothing to
//! compare that step with. A file may hold several runs one after another
//! (each header starts a new router).
//!
//! # The kernel trace
//!
//! A replay proves what the router decided; [`trace`] proves the kernel
//! was asked for exactly that. With `--record FILE` the kernel writer
//! appends every action it handled to `FILE.kernel` (applied, refused, or
//! skipped because it needs a VIF the kernel refused), a run for every run
//! of the recording, and `mgmd replay --kernel-trace FILE.kernel FILE`
//! checks, per run, that those actions are the steps' `mrt` outputs in
//! order (a prefix only for a run cut off by a kill) and that every
//! recorded [`Input::KernelRejected`] is the trace's next refusal.

use std::io::{self, BufRead, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::core::input::Input;
use crate::core::output::Output;
use crate::core::protocol::registry::Registry;
use crate::core::router::Router;

pub mod trace;

/// The format version in the header.
pub const FORMAT: u32 = 1;

/// The first line of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Header {
    pub mgmd_record: u32,
    /// The mgmd version that recorded it.
    pub version: String,
    /// Where the configuration came from (used in messages only).
    pub config_path: String,
    /// The configuration text the router ran on.
    pub config: String,
    /// What the command line set over it.
    #[serde(default)]
    pub overrides: crate::config::Overrides,
}

/// One router step.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Step {
    /// Nanoseconds since the router started.
    pub t_ns: u64,
    /// Written by older versions on steps of several inputs; every step's
    /// inputs are handled together now.
    #[serde(default, rename = "batch", skip_serializing)]
    pub _batch: bool,
    #[serde(rename = "in")]
    pub inputs: Vec<Input>,
    /// What the router produced, as recorded (kept as written, to be
    /// compared byte for byte).
    #[serde(default, rename = "out", skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Box<serde_json::value::RawValue>>,
}

/// Why a recording could not be read or replayed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}:{line}: {message}")]
    Bad {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path}:{line}: step {step} differs from the recording: {difference}")]
    Differs {
        path: String,
        line: usize,
        step: usize,
        difference: String,
    },
    #[error("{path}:{line}: run {run}: {message}")]
    Kernel {
        path: String,
        line: usize,
        run: usize,
        message: String,
    },
}

// ===== Recorder =====

/// Appends a run's steps to a file. Each step is written when it is done
/// (buffered per step, flushed at once), so a crash loses nothing that
/// happened before it.
pub struct Recorder {
    out: io::BufWriter<std::fs::File>,
    start: Instant,
}

impl Recorder {
    /// Opens `path` for appending and writes the run's header. `start` is
    /// the time the router was built with.
    pub fn create(
        path: &Path,
        config_path: &Path,
        config_text: &str,
        overrides: &crate::config::Overrides,
        start: Instant,
    ) -> io::Result<Recorder> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let mut r = Recorder {
            out: io::BufWriter::new(file),
            start,
        };
        let header = Header {
            mgmd_record: FORMAT,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            config_path: config_path.display().to_string(),
            config: config_text.to_owned(),
            overrides: overrides.clone(),
        };
        r.line(&header)?;
        Ok(r)
    }

    /// Records one step.
    pub fn step(&mut self, now: Instant, inputs: &[Input], outputs: &[Output]) -> io::Result<()> {
        #[derive(Serialize)]
        #[serde(rename_all = "kebab-case")]
        struct StepRef<'a> {
            t_ns: u64,
            #[serde(rename = "in")]
            inputs: &'a [Input],
            #[serde(rename = "out")]
            outputs: &'a [Output],
        }
        let t_ns =
            u64::try_from(now.saturating_duration_since(self.start).as_nanos()).unwrap_or(u64::MAX);
        self.line(&StepRef {
            t_ns,
            inputs,
            outputs,
        })
    }

    fn line<T: Serialize>(&mut self, value: &T) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, value).map_err(io::Error::other)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

// ===== replay =====

/// Reads the next line of a recording (or of its kernel trace) into
/// `text`: `None` at the end, `Some(false)` for a last line without its end
/// (written only in part: the daemon was killed while writing it).
pub(crate) fn read_line(
    reader: &mut impl BufRead,
    text: &mut String,
    path: &str,
) -> Result<Option<bool>, RecordError> {
    text.clear();
    let n = reader.read_line(text).map_err(|source| RecordError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok((n > 0).then(|| text.ends_with('\n')))
}

/// One step as replayed: its time, and the outputs the router produced
/// now and when it was recorded.
pub struct Replayed {
    /// The run it belongs to (1 for the first header's).
    pub run: usize,
    pub line: usize,
    pub step: usize,
    pub t_ns: u64,
    pub inputs: Vec<Input>,
    pub outputs: Vec<Output>,
    pub recorded: Option<Box<serde_json::value::RawValue>>,
}

/// What a replay went through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Runs (headers) read.
    pub runs: usize,
    pub steps: usize,
    /// The recording ends in a line cut short (the daemon was killed while
    /// writing it, or is still writing): that step was left out.
    pub cut_short: bool,
}

/// Replays every run of a recording, calling `each` for every step in
/// order. Stops at the first line that cannot be read or replayed.
pub fn replay(
    path: &Path,
    reader: impl BufRead,
    each: impl FnMut(&Replayed) -> Result<(), RecordError>,
) -> Result<Summary, RecordError> {
    replay_with(&Registry::default(), path, reader, each)
}

/// [`replay`] of a recording whose configuration names the protocols of
/// `registry`.
pub fn replay_with(
    registry: &Registry,
    path: &Path,
    mut reader: impl BufRead,
    mut each: impl FnMut(&Replayed) -> Result<(), RecordError>,
) -> Result<Summary, RecordError> {
    let name = path.display().to_string();
    let bad = |line: usize, message: String| RecordError::Bad {
        path: name.clone(),
        line,
        message,
    };
    let mut run: Option<(Router, Instant)> = None;
    let mut runs = 0;
    let mut steps = 0;
    let mut line = 0;
    let mut text = String::new();
    loop {
        let whole = match read_line(&mut reader, &mut text, &name)? {
            None => break,
            Some(whole) => whole,
        };
        line += 1;
        if !whole {
            // A last line without its end: written only in part.
            return Ok(Summary {
                runs,
                steps,
                cut_short: true,
            });
        }
        if text.trim().is_empty() {
            continue;
        }
        /// Tells a header from a step.
        #[derive(Deserialize)]
        struct Probe {
            #[serde(rename = "mgmd-record")]
            header: Option<serde::de::IgnoredAny>,
        }
        let probe: Probe =
            serde_json::from_str(&text).map_err(|e| bad(line, format!("not JSON: {e}")))?;
        if probe.header.is_some() {
            let header: Header = serde_json::from_str(&text)
                .map_err(|e| bad(line, format!("not a recording header: {e}")))?;
            if header.mgmd_record != FORMAT {
                return Err(bad(
                    line,
                    format!(
                        "recording format {} is not the one this mgmd reads ({FORMAT})",
                        header.mgmd_record
                    ),
                ));
            }
            let mut cfg = Config::parse_with(registry, &header.config, &header.config_path)
                .map_err(|e| bad(line, format!("the recorded configuration is refused: {e}")))?;
            header.overrides.apply(&mut cfg);
            let start = Instant::now();
            runs += 1;
            run = Some((Router::new(cfg, start), start));
            continue;
        }
        let step: Step =
            serde_json::from_str(&text).map_err(|e| bad(line, format!("not a step: {e}")))?;
        let Some((router, start)) = run.as_mut() else {
            return Err(bad(line, "a step before any header".to_owned()));
        };
        let now = *start + Duration::from_nanos(step.t_ns);
        let outputs = router.step(now, step.inputs.iter().cloned());
        steps += 1;
        each(&Replayed {
            run: runs,
            line,
            step: steps,
            t_ns: step.t_ns,
            inputs: step.inputs,
            outputs,
            recorded: step.outputs,
        })?;
    }
    Ok(Summary {
        runs,
        steps,
        cut_short: false,
    })
}

/// Compares a replayed step with its recording, byte for byte: `None` when
/// they match (or nothing was recorded), else the first difference in
/// words.
pub fn difference(step: &Replayed) -> Option<String> {
    let recorded = step.recorded.as_ref()?.get();
    let replayed = match serde_json::to_string(&step.outputs) {
        Ok(v) => v,
        Err(e) => return Some(format!("the outputs cannot be encoded: {e}")),
    };
    if replayed == recorded {
        return None;
    }
    // Name the first output that differs, each compared as written.
    let recorded: Vec<Box<serde_json::value::RawValue>> =
        serde_json::from_str(recorded).unwrap_or_default();
    let replayed: Vec<String> = step
        .outputs
        .iter()
        .map(|o| serde_json::to_string(o).unwrap_or_default())
        .collect();
    let at = recorded
        .iter()
        .zip(&replayed)
        .position(|(a, b)| a.get() != b.as_str());
    Some(match at {
        Some(i) => format!(
            "output {} was {} and is now {}",
            i + 1,
            recorded[i].get(),
            replayed[i]
        ),
        None => format!(
            "{} outputs were recorded and {} are produced now",
            recorded.len(),
            replayed.len()
        ),
    })
}
