//! `mgmctl log`: the filter installed by `logging::init` changes at run
//! time. A test binary of its own: the subscriber is global to the process.

use mgmd::cli::logging::{self, LogFilterError, LogOutput};
use mgmd::config::LogLevel;
use tracing::Level;

/// One call site, asked before and after each change (the answers of a
/// call site are cached; a change must reach those already asked).
fn debug_on(target_mgmd: bool) -> bool {
    if target_mgmd {
        tracing::enabled!(target: "mgmd", Level::DEBUG)
    } else {
        tracing::enabled!(target: "packet", Level::DEBUG)
    }
}

#[test]
fn the_level_changes_at_run_time() {
    assert!(matches!(
        logging::set_level("debug", None),
        Err(LogFilterError::NotSetUp)
    ));
    logging::init(LogLevel::Info, LogOutput::Text { ansi: false }, true);
    // Whatever RUST_LOG said, start from info.
    assert_eq!(logging::set_level("info", None).unwrap(), "info");
    assert!(tracing::enabled!(target: "mgmd", Level::INFO));
    assert!(!debug_on(true));
    assert!(!debug_on(false));

    assert_eq!(
        logging::set_level("debug", Some("mgmd")).unwrap(),
        "info,mgmd=debug"
    );
    assert!(debug_on(true));
    assert!(tracing::enabled!(target: "mgmd::core::router", Level::DEBUG));
    assert!(!debug_on(false));
    assert!(tracing::enabled!(target: "packet", Level::INFO));

    assert_eq!(
        logging::set_level("warn", Some("packet")).unwrap(),
        "info,mgmd=debug,packet=warn"
    );
    assert!(!tracing::enabled!(target: "packet", Level::INFO));

    assert_eq!(logging::set_level("error", None).unwrap(), "error");
    assert!(!tracing::enabled!(target: "mgmd", Level::WARN));
    assert!(tracing::enabled!(target: "mgmd", Level::ERROR));

    // Refused changes leave the filter as it was.
    assert!(logging::set_level("loud", None).is_err());
    assert!(logging::set_level("debug", Some("a b")).is_err());
    assert!(!tracing::enabled!(target: "mgmd", Level::WARN));
    assert_eq!(logging::set_level("info", None).unwrap(), "info");
    assert!(!debug_on(true));

    // A reload that changes global.log-level sets the filter (the level
    // came from the configuration, unless RUST_LOG chose it).
    if std::env::var_os("RUST_LOG").is_none() {
        assert_eq!(
            logging::follow_config(LogLevel::Debug).unwrap().unwrap(),
            "debug"
        );
        assert!(debug_on(true));
        assert!(debug_on(false));
    }
}
