//! Configuration errors: every one names the file and, when the problem is
//! in the text, the line and column (1-based; the column counts characters).

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A position in the configuration text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// The line and column of byte `offset` in `text`. Offsets past the end
    /// (or inside a multi-byte character) are clamped to a valid position.
    pub fn of_offset(text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Why a configuration was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: failed to read configuration: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid TOML or does not fit the configuration's shape
    /// (unknown key, wrong type, missing key).
    #[error("{}:{at}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        at: Position,
        message: String,
    },
    /// The text is well-formed but a value is out of range or values
    /// contradict each other.
    #[error("{}:{at}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        at: Position,
        message: String,
    },
}

/// Something a configuration does that is allowed but does nothing useful
/// (no interface at all, a group that can never pass, a route for
/// link-local groups). Reported, never refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigWarning {
    pub path: PathBuf,
    pub at: Position,
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: warning: {}",
            self.path.display(),
            self.at,
            self.message
        )
    }
}

impl ConfigError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ConfigError::Read { path, .. }
            | ConfigError::Syntax { path, .. }
            | ConfigError::Invalid { path, .. } => path,
        }
    }

    /// Where in the file, if the error is about its text.
    pub fn position(&self) -> Option<Position> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Syntax { at, .. } | ConfigError::Invalid { at, .. } => Some(*at),
        }
    }

    /// The message without the `FILE:LINE:COL: ` prefix.
    pub fn message(&self) -> String {
        match self {
            ConfigError::Read { source, .. } => format!("failed to read configuration: {source}"),
            ConfigError::Syntax { message, .. } | ConfigError::Invalid { message, .. } => {
                message.clone()
            }
        }
    }

    /// Builds a [`ConfigError::Syntax`] from the TOML parser's error.
    pub(crate) fn from_toml(path: &Path, text: &str, err: &toml::de::Error) -> ConfigError {
        let span = err.span().unwrap_or(0..0);
        let at = Position::of_offset(text, span.start);
        let message = match err.message().trim() {
            "duplicate key" => duplicate_message(text, span),
            m => reword_toml_message(m),
        };
        ConfigError::Syntax {
            path: path.to_path_buf(),
            at,
            message,
        }
    }

    /// Builds a [`ConfigError::Invalid`] at byte range `span` of `text`.
    pub(crate) fn invalid(
        path: &Path,
        text: &str,
        span: Range<usize>,
        message: String,
    ) -> ConfigError {
        ConfigError::Invalid {
            path: path.to_path_buf(),
            at: Position::of_offset(text, span.start),
            message,
        }
    }
}

// ===== helper functions =====

/// "duplicate key `x` (first at line N)", or the same for a table header,
/// from the parser's bare "duplicate key" and the position of the second
/// definition.
fn duplicate_message(text: &str, span: Range<usize>) -> String {
    let name = text
        .get(span.clone())
        .unwrap_or("")
        .trim()
        .trim_matches('"')
        .to_owned();
    if name.is_empty() {
        return "duplicate key; each key is defined once".to_owned();
    }
    let line_start = text[..span.start.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let is_header = text[line_start..].trim_start().starts_with('[');
    // The first definition: a header naming the table, or (for a key) the
    // key at the start of an earlier line.
    let first = text[..line_start].lines().enumerate().find(|(_, l)| {
        let l = l.trim_start();
        if is_header {
            let inner = l.trim_start_matches('[').trim_end().trim_end_matches(']');
            l.starts_with('[') && inner.trim() == name
        } else {
            l.strip_prefix(name.as_str())
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        }
    });
    let first = first.map_or(String::new(), |(i, _)| {
        format!(" (first at line {})", i + 1)
    });
    if is_header {
        format!("duplicate table [{name}]{first}; each table is written once: merge them")
    } else {
        format!("duplicate key `{name}`{first}; each key is given once per table")
    }
}

/// serde speaks of "fields"; a configuration file has "keys". Also folds
/// multi-line parser messages into one line.
fn reword_toml_message(msg: &str) -> String {
    let msg = msg.trim().replace('\n', "; ");
    if let Some(rest) = msg.strip_prefix("unknown field ") {
        let rest = if rest.contains(", expected one of ") {
            rest.replacen(", expected one of ", "; allowed keys: ", 1)
        } else if rest.contains("` or `") {
            rest.replacen(", expected ", "; allowed keys: ", 1)
                .replacen("` or `", "`, `", 1)
        } else {
            rest.replacen(", expected ", "; allowed key: ", 1).replacen(
                ", there are no fields",
                "; this table takes no keys",
                1,
            )
        };
        return format!("unknown key {rest}");
    }
    if let Some(rest) = msg.strip_prefix("missing field ") {
        return format!("missing key {rest}");
    }
    if let Some(rest) = msg.strip_prefix("duplicate field ") {
        return format!("duplicate key {rest}");
    }
    if msg == "integer number overflowed" || msg.contains(" as i128") {
        return "integer out of range".to_owned();
    }
    if let Some((got, expected)) = msg.split_once(", expected ") {
        let expected = match expected {
            "i64" | "u64" | "i32" | "u32" | "u8" => "an integer",
            "a sequence" => "an array",
            e if e.starts_with("struct ") => "a table",
            e => e,
        };
        return format!("{got}; expected {expected}");
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_counts_lines_and_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(
            Position::of_offset(text, 0),
            Position { line: 1, column: 1 }
        );
        assert_eq!(
            Position::of_offset(text, 6),
            Position { line: 2, column: 1 }
        );
        // "é" is two bytes but one column: the space after it is column 3.
        assert_eq!(
            Position::of_offset(text, 9),
            Position { line: 2, column: 3 }
        );
        // Inside the multi-byte character: clamped back to its start.
        assert_eq!(
            Position::of_offset(text, 8),
            Position { line: 2, column: 2 }
        );
        assert_eq!(
            Position::of_offset(text, 999),
            Position { line: 3, column: 1 }
        );
    }

    #[test]
    fn serde_wording_becomes_config_wording() {
        assert_eq!(
            reword_toml_message("unknown field `foo`, expected one of `a`, `b`"),
            "unknown key `foo`; allowed keys: `a`, `b`"
        );
        assert_eq!(
            reword_toml_message("unknown field `foo`, expected `a`"),
            "unknown key `foo`; allowed key: `a`"
        );
        assert_eq!(
            reword_toml_message("unknown field `x`, expected `name` or `only-with-members`"),
            "unknown key `x`; allowed keys: `name`, `only-with-members`"
        );
        assert_eq!(
            reword_toml_message("missing field `group`"),
            "missing key `group`"
        );
        assert_eq!(
            reword_toml_message("invalid type: string \"3\", expected i64"),
            "invalid type: string \"3\"; expected an integer"
        );
        assert_eq!(
            reword_toml_message(
                "invalid type: integer `99999999999999999999` as i128, expected i64"
            ),
            "integer out of range"
        );
    }

    #[test]
    fn duplicates_name_the_key_and_where_it_was_first() {
        let text = "[global]\ntable = 3\ntable = 4\n";
        let second = text.rfind("table").unwrap();
        assert_eq!(
            duplicate_message(text, second..second + 5),
            "duplicate key `table` (first at line 2); each key is given once per table"
        );
        let text = "[global]\ntable = 3\n[ global ]\n";
        let second = text.rfind("global").unwrap();
        assert_eq!(
            duplicate_message(text, second..second + 6),
            "duplicate table [global] (first at line 1); each table is written once: merge them"
        );
    }
}
