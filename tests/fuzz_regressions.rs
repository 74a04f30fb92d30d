//! Regression tests for what fuzzing (`scripts/fuzz.sh`) found, one per
//! finding, each with the input that showed it.

use mgmd::ctl::proto::{EventRecord, Reply};
use serde_json::json;

/// `ctl` target: a float in a reply's data (the daemon sends durations
/// as seconds, e.g. `expires_s`) came back one unit in the last place off
/// after the client parsed it, because JSON floats were parsed only to
/// best effort.
#[test]
fn reply_and_event_floats_survive_the_round_trip() {
    for x in [2.9180816269192096e-77, 123.45678901234567, 0.1 + 0.2] {
        let reply = Reply::ok(json!({ "expires_s": x }));
        let line = serde_json::to_string(&reply).unwrap();
        let back: Reply = serde_json::from_str(&line).unwrap();
        assert_eq!(back, reply, "{line}");
        let ev = EventRecord {
            t_ms: 1,
            seq: 2,
            kind: "effect".into(),
            text: "t".into(),
            data: json!([x]),
        };
        let line = serde_json::to_string(&ev).unwrap();
        assert_eq!(
            serde_json::from_str::<EventRecord>(&line).unwrap(),
            ev,
            "{line}"
        );
    }
}
