//! Control messages. One request per line, one reply per line; after an
//! `events` request the server keeps the connection and writes one
//! [`EventRecord`] per line until the client goes away.
//!
//! ```text
//! -> {"version":2,"cmd":"show-groups"}
//! <- {"ok":true,"data":[...]}
//! -> {"version":2,"cmd":"take","interface":"eth1","protocol":"static"}
//! <- {"ok":false,"error":"interface eth1 is already owned by proxy"}
//! -> {"version":2,"cmd":"show-counters","interface":"lan1"}
//! <- {"ok":true,"data":{"router":{...},"io":{...},"interfaces":[...]}}
//! -> {"version":2,"cmd":"log","level":"debug","target":"mgmd::core"}
//! <- {"ok":true,"data":{"filter":"info,mgmd::core=debug"}}
//! ```
//!
//! # Versions
//!
//! Every request carries [`PROTOCOL_VERSION`]; the server answers a
//! version older than [`OLDEST_VERSION`] or newer than its own with an
//! error naming its own. Compatible changes keep
//! the version: a new request is added at the end of [`Request`] (an older
//! server answers it with `malformed request: unknown variant ...`), a
//! reply may gain fields (clients ignore fields they do not know). An
//! incompatible change (a request or reply field renamed, removed or given
//! another meaning) bumps the version. The replies' data are the router's
//! views ([`crate::core::status`]) and the daemon's own
//! ([`super::reply`]); `docs/mgmctl.md`, "Control protocol", lists the
//! requests with their fields and replies.

use serde::{Deserialize, Serialize};

/// Bumped on incompatible changes.
///
/// 2: `static-edit {edit}` became `edit {protocol, edit}`.
pub const PROTOCOL_VERSION: u32 = 2;

/// The oldest version the server still serves: every request of version 1
/// but `static-edit` means the same in version 2, so a version-1 client
/// works but for that one (answered `malformed request: unknown variant`).
pub const OLDEST_VERSION: u32 = 1;

/// How the error reply to a user the daemon does not serve begins (only
/// root and the daemon's own user may talk to it).
pub const PERMISSION_DENIED: &str = "permission denied";

/// What a client asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// Liveness and version.
    Ping,
    ShowInterfaces,
    ShowGroups,
    ShowRoutes,
    ShowProtocols,
    /// Give `interface` to routing protocol `protocol` (disable/enable
    /// sequence).
    Take {
        interface: String,
        protocol: String,
    },
    /// `protocol` gives `interface` back to IGMP alone.
    Release {
        interface: String,
        protocol: String,
    },
    /// Stream every ownership step, membership and forwarding change.
    Events,
    /// Read the configuration file again and apply it (as SIGHUP does);
    /// the reply is what changed, or why the file was refused.
    Reload,
    /// A runtime edit of `protocol`'s section (until the next reload or
    /// restart), in the protocol's own form: mgmd hands `edit` to the
    /// protocol, which reads it. The reply is as for `reload`.
    Edit {
        protocol: String,
        edit: serde_json::Value,
    },
    /// The running configuration: the file's text and what mgmd runs on,
    /// runtime edits included.
    ShowConfig,
    /// Every counter: the router's, the I/O layer's, and each interface's
    /// IGMP and VIF counters (only `interface`'s when named).
    ShowCounters {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interface: Option<String>,
    },
    /// Set the log level (`error` .. `trace`, or `off`) of everything, or
    /// of `target` only (a module path such as `mgmd::core`, or `packet`).
    Log {
        level: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
    },
    /// Restart onto the binary now installed at mgmd's path, handing the
    /// multicast routing socket and the learned state over: forwarding
    /// goes on meanwhile.
    Restart,
    /// Read the kernel's multicast routing table back and list every
    /// difference from what mgmd believes it programmed; with `repair`,
    /// repair them (as the periodic audit does).
    Verify {
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        repair: bool,
    },
}

/// A request with its protocol version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestMsg {
    pub version: u32,
    #[serde(flatten)]
    pub request: Request,
}

impl RequestMsg {
    pub fn new(request: Request) -> Self {
        RequestMsg {
            version: PROTOCOL_VERSION,
            request,
        }
    }
}

/// The answer to one request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Reply {
    Ok {
        ok: monostate::True,
        data: ReplyData,
    },
    Err {
        ok: monostate::False,
        error: String,
    },
}

impl Reply {
    pub fn ok(data: serde_json::Value) -> Self {
        Reply::Ok {
            ok: monostate::True,
            data: ReplyData::from_value(&data),
        }
    }

    /// `data` encoded straight to its JSON text: a large answer (every
    /// group, every route) never exists as a [`serde_json::Value`] tree,
    /// which takes many times the memory of its text.
    pub fn encode<T: Serialize + ?Sized>(data: &T) -> Self {
        match serde_json::value::to_raw_value(data) {
            Ok(raw) => Reply::Ok {
                ok: monostate::True,
                data: ReplyData(raw),
            },
            Err(e) => Reply::err(format!("failed to encode the reply: {e}")),
        }
    }

    pub fn err(error: impl Into<String>) -> Self {
        Reply::Err {
            ok: monostate::False,
            error: error.into(),
        }
    }

    pub fn into_result(self) -> Result<serde_json::Value, String> {
        match self {
            Reply::Ok { data, .. } => data.to_value(),
            Reply::Err { error, .. } => Err(error),
        }
    }
}

/// The data of a reply, as JSON text.
#[derive(Clone, Debug)]
pub struct ReplyData(Box<serde_json::value::RawValue>);

impl ReplyData {
    fn from_value(v: &serde_json::Value) -> ReplyData {
        // A value always encodes (its map keys are strings).
        ReplyData(
            serde_json::value::to_raw_value(v)
                .unwrap_or_else(|_| serde_json::value::RawValue::NULL.to_owned()),
        )
    }

    /// The text as a value.
    pub fn to_value(&self) -> Result<serde_json::Value, String> {
        serde_json::from_str(self.0.get()).map_err(|e| format!("malformed reply data: {e}"))
    }
}

/// The same JSON value (whatever the order of the fields in the text).
impl PartialEq for ReplyData {
    fn eq(&self, other: &ReplyData) -> bool {
        self.0.get() == other.0.get() || self.to_value() == other.to_value()
    }
}

impl Serialize for ReplyData {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ReplyData {
    /// Through a value: the untagged [`Reply`] buffers its fields, which
    /// raw text cannot be taken from.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ReplyData, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Ok(ReplyData::from_value(&v))
    }
}

/// One line of the `events` stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Milliseconds since the daemon started.
    pub t_ms: u64,
    /// Sequence number (gaps mean the client was too slow and lost events).
    pub seq: u64,
    /// Short kind: "ownership", "effect", "interface", "kernel", ...
    pub kind: String,
    /// Human-readable one-line description.
    pub text: String,
    pub data: serde_json::Value,
}

/// `true`/`false` literals for the `ok` field, so that the untagged
/// [`Reply`] picks the right variant.
pub mod monostate {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct True;
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct False;

    macro_rules! literal_bool {
        ($ty:ident, $val:expr) => {
            impl Serialize for $ty {
                fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    s.serialize_bool($val)
                }
            }
            impl<'de> Deserialize<'de> for $ty {
                fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                    if bool::deserialize(d)? == $val {
                        Ok($ty)
                    } else {
                        Err(serde::de::Error::custom(concat!(
                            "expected ",
                            stringify!($val)
                        )))
                    }
                }
            }
        };
    }
    literal_bool!(True, true);
    literal_bool!(False, false);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_wire_format() {
        let msg = RequestMsg::new(Request::Take {
            interface: "eth1".into(),
            protocol: "static".into(),
        });
        let line = serde_json::to_string(&msg).unwrap();
        assert_eq!(
            line,
            r#"{"version":2,"cmd":"take","interface":"eth1","protocol":"static"}"#
        );
        assert_eq!(serde_json::from_str::<RequestMsg>(&line).unwrap(), msg);
        let show: RequestMsg =
            serde_json::from_str(r#"{"version":2,"cmd":"show-groups"}"#).unwrap();
        assert_eq!(show.request, Request::ShowGroups);
        assert!(serde_json::from_str::<RequestMsg>(r#"{"version":2,"cmd":"reboot"}"#).is_err());
    }

    #[test]
    fn edits_are_addressed_to_a_protocol_and_opaque() {
        let line = r#"{"version":2,"cmd":"edit","protocol":"p","edit":{"any":["thing"]}}"#;
        let msg: RequestMsg = serde_json::from_str(line).unwrap();
        assert_eq!(
            msg.request,
            Request::Edit {
                protocol: "p".into(),
                edit: serde_json::json!({"any": ["thing"]}),
            }
        );
        assert_eq!(serde_json::to_string(&msg).unwrap(), line);
        // Version 1's edit request is gone (see OLDEST_VERSION).
        let old = r#"{"version":1,"cmd":"static-edit","edit":{"edit":"route-del","group":"239.1.1.1","source":null}}"#;
        let e = serde_json::from_str::<RequestMsg>(old).unwrap_err();
        assert!(e.to_string().contains("unknown variant"), "{e}");
    }

    #[test]
    fn counters_and_log_wire_format() {
        let cases = [
            (
                Request::ShowCounters { interface: None },
                r#"{"version":2,"cmd":"show-counters"}"#,
            ),
            (
                Request::ShowCounters {
                    interface: Some("lan1".into()),
                },
                r#"{"version":2,"cmd":"show-counters","interface":"lan1"}"#,
            ),
            (
                Request::Log {
                    level: "debug".into(),
                    target: Some("mgmd::core".into()),
                },
                r#"{"version":2,"cmd":"log","level":"debug","target":"mgmd::core"}"#,
            ),
            (
                Request::Log {
                    level: "info".into(),
                    target: None,
                },
                r#"{"version":2,"cmd":"log","level":"info"}"#,
            ),
        ];
        for (request, line) in cases {
            let msg = RequestMsg::new(request);
            assert_eq!(serde_json::to_string(&msg).unwrap(), line);
            assert_eq!(serde_json::from_str::<RequestMsg>(line).unwrap(), msg);
        }
        // A level is required.
        assert!(serde_json::from_str::<RequestMsg>(r#"{"version":2,"cmd":"log"}"#).is_err());
    }

    #[test]
    fn reply_round_trip_picks_the_variant() {
        let ok = serde_json::to_string(&Reply::ok(serde_json::json!([1, 2]))).unwrap();
        assert_eq!(ok, r#"{"ok":true,"data":[1,2]}"#);
        let err = serde_json::to_string(&Reply::err("no such interface")).unwrap();
        assert_eq!(err, r#"{"ok":false,"error":"no such interface"}"#);
        assert_eq!(
            serde_json::from_str::<Reply>(&err).unwrap().into_result(),
            Err("no such interface".to_string())
        );
        assert_eq!(
            serde_json::from_str::<Reply>(&ok).unwrap().into_result(),
            Ok(serde_json::json!([1, 2]))
        );
    }

    #[test]
    fn an_encoded_reply_reads_as_the_same_value_as_one_built_from_a_value() {
        #[derive(Serialize)]
        struct Group<'a> {
            interface: &'a str,
            group: &'a str,
            sources: Vec<&'a str>,
        }
        let groups = [Group {
            interface: "lan1",
            group: "239.1.1.1",
            sources: vec!["10.0.0.1"],
        }];
        let encoded = Reply::encode(&groups);
        let line = serde_json::to_string(&encoded).unwrap();
        // The fields in their declared order (a value tree sorts them; a
        // client reads either the same).
        assert_eq!(
            line,
            r#"{"ok":true,"data":[{"interface":"lan1","group":"239.1.1.1","sources":["10.0.0.1"]}]}"#
        );
        let via_value =
            serde_json::to_string(&Reply::ok(serde_json::to_value(&groups).unwrap())).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&line).unwrap(),
            serde_json::from_str::<serde_json::Value>(&via_value).unwrap()
        );
        let back: Reply = serde_json::from_str(&line).unwrap();
        assert_eq!(back, encoded);
        assert_eq!(
            back.into_result().unwrap()[0]["sources"][0],
            serde_json::json!("10.0.0.1")
        );
        // What cannot be encoded is an error reply, not a panic.
        let mut bad = std::collections::BTreeMap::new();
        bad.insert(vec![1u8], 2);
        assert!(matches!(Reply::encode(&bad), Reply::Err { .. }));
    }
}
