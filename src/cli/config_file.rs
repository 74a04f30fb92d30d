//! Reading the configuration file. `crate::config` checks text it is
//! given; the programs read the file here (the daemon's reloads read it in
//! `daemon::event_loop`), so that a read error names the file the same way
//! a validation error does.

use std::path::Path;

use crate::config::{Config, ConfigError};

/// Reads and validates the file at `path`.
pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
    load_with_text(path).map(|(c, _)| c)
}

/// Reads and validates the file at `path`; also returns its text.
pub fn load_with_text(path: impl AsRef<Path>) -> Result<(Config, String), ConfigError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Config::parse(&text, path).map(|c| (c, text))
}
