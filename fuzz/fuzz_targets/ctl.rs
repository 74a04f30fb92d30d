//! The control protocol (`mgmd::ctl::proto`), both ends.
//!
//! Input: the bytes a client writes on a control connection. The server
//! side splits them into lines as the control server does (UTF-8 lines,
//! `\n` or `\r\n`; invalid UTF-8 ends the connection), parses each as a
//! request, and answers; the client parses that answer. Each line is also
//! read as the client reads the daemon's lines (a reply, an event record).
//! Then the same bytes drive the construction of a reply and an event
//! record with arbitrary contents, which must survive serialization.
//!
//! Checked: nothing panics; every request, reply and event record that
//! parses serializes back to one that parses equal; what the server
//! answers, the client reads back unchanged.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use mgmd::ctl::proto::{EventRecord, OLDEST_VERSION, PROTOCOL_VERSION, Reply, Request, RequestMsg};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    server_side(data);
    let mut u = Unstructured::new(data);
    if let Ok(v) = Generated::arbitrary(&mut u) {
        v.round_trip();
    }
});

fn server_side(data: &[u8]) {
    let mut lines = data.split(|b| *b == b'\n').peekable();
    while let Some(raw) = lines.next() {
        // The empty piece after a final newline is not a line.
        if raw.is_empty() && lines.peek().is_none() {
            break;
        }
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Ok(line) = std::str::from_utf8(raw) else {
            return;
        };
        client_reads(line);
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<RequestMsg>(line) {
            Err(e) => Reply::err(format!("malformed request: {e}")),
            Ok(msg) => {
                let again = serde_json::to_string(&msg).expect("a request serializes");
                assert_eq!(
                    serde_json::from_str::<RequestMsg>(&again).ok().as_ref(),
                    Some(&msg),
                    "request round trip: {again}"
                );
                if !(OLDEST_VERSION..=PROTOCOL_VERSION).contains(&msg.version) {
                    Reply::err(format!(
                        "unsupported control protocol version {} (this mgmd speaks \
                         {PROTOCOL_VERSION})",
                        msg.version
                    ))
                } else {
                    // What mgmctl would have sent for the same request.
                    let ours = RequestMsg::new(msg.request.clone());
                    let sent = serde_json::to_string(&ours).expect("a request serializes");
                    let got: RequestMsg = serde_json::from_str(&sent).expect("ours parses");
                    assert_eq!(got, ours);
                    Reply::ok(Value::String(describe(&msg.request)))
                }
            }
        };
        answer(&reply);
    }
}

/// The server writes `reply` as one line; the client reads it back.
fn answer(reply: &Reply) {
    let mut wire = serde_json::to_vec(reply).expect("a reply serializes");
    assert!(!wire.contains(&b'\n'), "a reply is one line");
    wire.push(b'\n');
    let line = std::str::from_utf8(&wire).expect("JSON is UTF-8");
    let back: Reply = serde_json::from_str(line).expect("the client reads the reply");
    assert_eq!(back.into_result(), reply.clone().into_result());
}

/// A line from the daemon, as `mgmctl` reads it.
fn client_reads(line: &str) {
    if let Ok(r) = serde_json::from_str::<Reply>(line) {
        answer(&r);
    }
    if let Ok(ev) = serde_json::from_str::<EventRecord>(line) {
        event_round_trip(&ev);
    }
}

fn event_round_trip(ev: &EventRecord) {
    let wire = serde_json::to_string(ev).expect("an event serializes");
    assert!(!wire.contains('\n'), "an event is one line");
    let back: EventRecord = serde_json::from_str(&wire).expect("the client reads the event");
    assert_eq!(&back, ev, "event round trip: {wire}");
}

fn describe(r: &Request) -> String {
    match r {
        Request::Take {
            interface,
            protocol,
        }
        | Request::Release {
            interface,
            protocol,
        } => format!("{interface} {protocol}"),
        other => format!("{other:?}"),
    }
}

// ===== generated values =====

#[derive(Debug)]
struct Generated {
    reply: Reply,
    event: EventRecord,
}

impl Generated {
    fn round_trip(&self) {
        answer(&self.reply);
        event_round_trip(&self.event);
    }
}

impl<'a> Arbitrary<'a> for Generated {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let reply = if bool::arbitrary(u)? {
            Reply::ok(json(u, 0)?)
        } else {
            Reply::err(String::arbitrary(u)?)
        };
        let event = EventRecord {
            t_ms: u64::arbitrary(u)?,
            seq: u64::arbitrary(u)?,
            kind: String::arbitrary(u)?,
            text: String::arbitrary(u)?,
            data: json(u, 0)?,
        };
        Ok(Generated { reply, event })
    }
}

/// Any JSON value (numbers as the daemon's counters, addresses and
/// times give them: integers of either sign and finite floats).
fn json(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<Value> {
    let kinds = if depth >= 4 { 6 } else { 8 };
    Ok(match u.choose_index(kinds)? {
        0 => Value::Null,
        1 => Value::Bool(bool::arbitrary(u)?),
        2 => Value::from(u64::arbitrary(u)?),
        3 => Value::from(i64::arbitrary(u)?),
        4 => serde_json::Number::from_f64(f64::arbitrary(u)?).map_or(Value::Null, Value::Number),
        5 => Value::String(String::arbitrary(u)?),
        6 => {
            let n = u.int_in_range(0..=4)?;
            Value::Array(
                (0..n)
                    .map(|_| json(u, depth + 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        _ => {
            let n = u.int_in_range(0..=4)?;
            let mut m = serde_json::Map::new();
            for _ in 0..n {
                m.insert(String::arbitrary(u)?, json(u, depth + 1)?);
            }
            Value::Object(m)
        }
    })
}
