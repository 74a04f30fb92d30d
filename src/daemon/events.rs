//! The `mgmctl events` stream: every event record goes to every
//! subscriber as one JSON line, through a queue of its own.
//!
//! A queue holds at most [`QUEUE_RECORDS`] records and takes memory only
//! for the records waiting in it (it grows in blocks as they arrive and
//! shrinks as the subscriber reads them), so a daemon nobody watches pays
//! nothing for the stream, and a record is encoded once however many
//! subscribers there are. A subscriber whose queue is full loses the
//! records that do not fit; the sequence numbers show the gap.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

use crate::ctl::proto::EventRecord;

/// How many records a subscriber may have waiting: the records of an
/// ownership move of an interface with about 16,000 memberships (about
/// four per membership).
pub const QUEUE_RECORDS: usize = 1 << 16;

/// One encoded record: a JSON line, newline included.
pub type EventLine = Arc<[u8]>;

// ===== EventBus =====

/// The subscribers of the event stream. Clones share them.
#[derive(Clone, Default)]
pub struct EventBus {
    subscribers: Arc<Mutex<Vec<mpsc::Sender<EventLine>>>>,
}

impl EventBus {
    pub fn new() -> EventBus {
        EventBus::default()
    }

    /// A new subscriber: it gets every record sent from now on.
    pub fn subscribe(&self) -> EventStream {
        self.subscribe_with(QUEUE_RECORDS)
    }

    fn subscribe_with(&self, records: usize) -> EventStream {
        let (tx, rx) = mpsc::channel(records);
        self.lock().push(tx);
        EventStream { rx }
    }

    /// Whether anyone subscribes (records need not be built otherwise).
    pub fn has_subscribers(&self) -> bool {
        self.subscribers() > 0
    }

    /// How many subscribers are listening.
    pub fn subscribers(&self) -> usize {
        let mut subs = self.lock();
        subs.retain(|s| !s.is_closed());
        subs.len()
    }

    /// Encodes `record` once and queues it for every subscriber; one whose
    /// queue is full loses it. Returns how many subscribers lost it.
    pub fn send(&self, record: &EventRecord) -> usize {
        let mut subs = self.lock();
        if subs.is_empty() {
            return 0;
        }
        let line: EventLine = match serde_json::to_vec(record) {
            Ok(mut v) => {
                v.push(b'\n');
                v.into()
            }
            Err(e) => {
                tracing::warn!(target: "ctl", "failed to encode an event record: {e}");
                return 0;
            }
        };
        let mut lost = 0;
        subs.retain(|s| match s.try_send(Arc::clone(&line)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                lost += 1;
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
        lost
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<mpsc::Sender<EventLine>>> {
        // The list stays consistent whatever a panicking holder did.
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

// ===== EventStream =====

/// One subscriber's queue.
pub struct EventStream {
    rx: mpsc::Receiver<EventLine>,
}

impl EventStream {
    /// The next line; `None` once the bus is gone (the daemon stops).
    pub async fn next(&mut self) -> Option<EventLine> {
        self.rx.recv().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64) -> EventRecord {
        EventRecord {
            t_ms: seq * 10,
            seq,
            kind: "interface".into(),
            text: format!("record {seq}"),
            data: serde_json::json!({ "seq": seq }),
        }
    }

    fn decode(line: &[u8]) -> EventRecord {
        assert_eq!(line.last(), Some(&b'\n'));
        serde_json::from_slice(&line[..line.len() - 1]).unwrap()
    }

    #[tokio::test]
    async fn every_subscriber_gets_every_record_in_order() {
        let bus = EventBus::new();
        assert!(!bus.has_subscribers());
        assert_eq!(bus.send(&record(1)), 0, "nobody listens: nothing to lose");
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        assert!(bus.has_subscribers());
        for seq in 2..=4 {
            assert_eq!(bus.send(&record(seq)), 0);
        }
        for s in [&mut a, &mut b] {
            for seq in 2..=4 {
                assert_eq!(decode(&s.next().await.unwrap()), record(seq));
            }
        }
    }

    #[tokio::test]
    async fn a_full_queue_loses_what_does_not_fit_and_the_rest_follows() {
        let bus = EventBus::new();
        let mut slow = bus.subscribe_with(2);
        let mut fast = bus.subscribe_with(8);
        let lost: usize = (1..=4).map(|seq| bus.send(&record(seq))).sum();
        assert_eq!(lost, 2, "records 3 and 4 do not fit the slow queue");
        assert_eq!(decode(&slow.next().await.unwrap()).seq, 1);
        assert_eq!(decode(&slow.next().await.unwrap()).seq, 2);
        bus.send(&record(5));
        // The gap in the sequence numbers shows the loss.
        assert_eq!(decode(&slow.next().await.unwrap()).seq, 5);
        for seq in 1..=5 {
            assert_eq!(decode(&fast.next().await.unwrap()).seq, seq);
        }
    }

    #[tokio::test]
    async fn a_subscriber_that_left_is_forgotten() {
        let bus = EventBus::new();
        let gone = bus.subscribe();
        let mut stays = bus.subscribe();
        drop(gone);
        assert_eq!(bus.send(&record(1)), 0);
        assert_eq!(bus.lock().len(), 1);
        assert_eq!(decode(&stays.next().await.unwrap()).seq, 1);
        drop(stays);
        assert!(!bus.has_subscribers());
    }

    #[tokio::test]
    async fn the_stream_ends_with_the_bus() {
        let bus = EventBus::new();
        let mut s = bus.subscribe();
        drop(bus);
        assert!(s.next().await.is_none());
    }
}
