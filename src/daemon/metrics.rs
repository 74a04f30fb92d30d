//! The Prometheus endpoint (`global.metrics-listen`, off by default).
//!
//! A small HTTP/1.x responder on a TCP listener: `GET /metrics` answers
//! with the Prometheus text format (0.0.4), or OpenMetrics when the
//! scraper's `Accept` asks for it; everything else gets a short error. No
//! keep-alive: one request per connection, as scrapers are happy with.
//!
//! Each scrape asks the event loop for a [`Snapshot`] over a channel, as a
//! control request does; the loop answers from its state between two
//! steps (reading the router's views is not an input and changes nothing,
//! so recordings stay as they are) and the connection's own task encodes
//! the answer, so a slow or stuck scraper never holds up the loop. The
//! metrics are described in `docs/monitoring.md` ("Metrics").

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::core::status::{CounterView, MetricsView};
use crate::ctl::reply::{IoCounters, VifCounters};

/// Scrapes served at once; more wait for their turn to be accepted.
const MAX_CONNECTIONS: usize = 8;
/// A scraper must have sent its request, and taken the answer, by then.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest request head (request line and headers) read.
const MAX_HEAD: usize = 16 * 1024;

/// The Prometheus text format.
pub const CONTENT_TYPE_TEXT: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
/// OpenMetrics text.
pub const CONTENT_TYPE_OPENMETRICS: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the event loop sends back for one scrape.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The router's counters and state.
    pub router: MetricsView,
    /// The I/O layer's counters.
    pub io: IoCounters,
    /// The kernel's counters of each interface with a VIF, by name.
    pub forwarded: Vec<(String, VifCounters)>,
}

/// A scrape waiting for the event loop's snapshot.
pub struct MetricsRequest {
    pub reply: oneshot::Sender<Snapshot>,
}

/// The listening metrics socket.
pub struct MetricsServer {
    listener: TcpListener,
}

impl MetricsServer {
    /// Listen on `addr` (the error names the address).
    pub async fn bind(addr: SocketAddr) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("{addr}: {e}")))?;
        Ok(MetricsServer { listener })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accept scrapes forever, one task each, at most
    /// [`MAX_CONNECTIONS`] at once.
    pub async fn serve(self, requests: mpsc::Sender<MetricsRequest>) {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    let requests = requests.clone();
                    tokio::spawn(async move {
                        if let Err(e) = connection(stream, requests).await {
                            tracing::debug!(target: "metrics", %peer, "metrics connection ended: {e}");
                        }
                        drop(slot);
                    });
                }
                Err(e) => {
                    tracing::warn!(target: "metrics", "failed to accept a metrics connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

// ===== HTTP =====

/// What a request asks for, once read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    /// `HEAD`: the same answer without its body.
    pub head_only: bool,
    pub path: String,
    /// The scraper accepts OpenMetrics text.
    pub openmetrics: bool,
}

/// One answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl HttpResponse {
    fn text(status: u16, body: impl Into<String>) -> HttpResponse {
        HttpResponse {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }

    /// The bytes on the wire (without the body for `HEAD`).
    pub fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            431 => "Request Header Fields Too Large",
            503 => "Service Unavailable",
            _ => "Internal Server Error",
        };
        let mut head = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        if self.status == 405 {
            head.push_str("Allow: GET, HEAD\r\n");
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        if !head_only {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }
}

/// Reads the request line and headers of `head` (everything before the
/// blank line). Errors are the answer to send.
pub fn parse_request(head: &[u8]) -> Result<HttpRequest, HttpResponse> {
    let bad = || HttpResponse::text(400, "bad request\n");
    let text = std::str::from_utf8(head).map_err(|_| bad())?;
    let mut lines = text.split("\r\n");
    let mut parts = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Err(bad());
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Err(HttpResponse::text(405, "only GET and HEAD\n")),
    };
    let openmetrics = lines
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("accept"))
        .any(|(_, value)| value.contains("application/openmetrics-text"));
    let path = target.split(['?', '#']).next().unwrap_or(target);
    Ok(HttpRequest {
        head_only,
        path: path.to_owned(),
        openmetrics,
    })
}

async fn connection(
    mut stream: TcpStream,
    requests: mpsc::Sender<MetricsRequest>,
) -> io::Result<()> {
    let head = tokio::time::timeout(IO_TIMEOUT, read_head(&mut stream))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no request in time"))??;
    let (response, head_only) = match head {
        None => (HttpResponse::text(431, "request head too large\n"), false),
        Some(head) => match parse_request(&head) {
            Err(response) => (response, false),
            Ok(req) => (answer(&req, &requests).await, req.head_only),
        },
    };
    tokio::time::timeout(IO_TIMEOUT, async {
        stream.write_all(&response.to_bytes(head_only)).await?;
        stream.shutdown().await
    })
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the answer was not taken in time"))?
}

/// The request head, up to the blank line; `None` if longer than
/// [`MAX_HEAD`].
async fn read_head(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.truncate(end);
            return Ok(Some(buf));
        }
        if buf.len() > MAX_HEAD {
            return Ok(None);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the connection closed before the request was complete",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn answer(req: &HttpRequest, requests: &mpsc::Sender<MetricsRequest>) -> HttpResponse {
    match req.path.as_str() {
        "/metrics" => {}
        "/" => return HttpResponse::text(200, "mgmd: metrics are at /metrics\n"),
        _ => return HttpResponse::text(404, "not found; metrics are at /metrics\n"),
    }
    let (tx, rx) = oneshot::channel();
    if requests.send(MetricsRequest { reply: tx }).await.is_err() {
        return HttpResponse::text(503, "mgmd is shutting down\n");
    }
    let Ok(snapshot) = rx.await else {
        return HttpResponse::text(503, "mgmd is shutting down\n");
    };
    match encode(snapshot, req.openmetrics) {
        Ok(body) => HttpResponse {
            status: 200,
            content_type: if req.openmetrics {
                CONTENT_TYPE_OPENMETRICS
            } else {
                CONTENT_TYPE_TEXT
            },
            body,
        },
        Err(e) => HttpResponse::text(500, format!("failed to encode the metrics: {e}\n")),
    }
}

// ===== encoding =====

/// The snapshot in the Prometheus text format, or OpenMetrics.
pub fn encode(snapshot: Snapshot, openmetrics: bool) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("mgmd");
    registry.register_collector(Box::new(snapshot));
    let mut out = String::new();
    if openmetrics {
        prometheus_client::encoding::text::encode(&mut out, &registry)?;
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)?;
    }
    Ok(out)
}

/// The router's counters as metrics: name (without prefix and `_total`),
/// value, help.
fn router_counters(c: &CounterView) -> [(&'static str, u64, &'static str); 18] {
    [
        (
            "new_flows",
            c.new_flows,
            "Flows the kernel reported (NOCACHE upcalls acted on).",
        ),
        (
            "flows_refused",
            c.flows_refused,
            "New flows with no incoming interface of ours (drop entries).",
        ),
        (
            "rpf_unanswered",
            c.rpf_unanswered,
            "New flows whose RPF question the owner did not answer in time.",
        ),
        (
            "rpf_changes",
            c.rpf_changes,
            "Route changes that made flows be decided again.",
        ),
        (
            "upcalls_unknown",
            c.upcalls_unknown,
            "NOCACHE upcalls for a VIF with no interface of ours (ignored).",
        ),
        (
            "ownership_moves",
            c.ownership_moves,
            "Completed changes of an interface's routing owner.",
        ),
        (
            "reloads",
            c.reloads,
            "Configurations applied (reloads and runtime edits).",
        ),
        (
            "reloads_refused",
            c.reloads_refused,
            "Configurations refused; the running one stayed.",
        ),
        (
            "kernel_errors",
            c.kernel_errors,
            "Changes to the kernel's multicast routing table it refused (each is retried).",
        ),
        (
            "vif_limit_reached",
            c.vif_limit_reached,
            "Interfaces that got no VIF (the kernel's limit per table).",
        ),
        (
            "manager_errors",
            c.manager_errors,
            "Manager operations refused (a component acted out of turn).",
        ),
        (
            "effect_loops",
            c.effect_loops,
            "Inputs that caused too many effects (a loop between components).",
        ),
        (
            "igmp_rx_own",
            c.igmp_rx_own,
            "IGMP messages sent by mgmd and received back.",
        ),
        (
            "igmp_rx_not_enabled",
            c.igmp_rx_not_enabled,
            "IGMP messages on interfaces without IGMP.",
        ),
        (
            "igmp_tx_no_address",
            c.igmp_tx_no_address,
            "IGMP messages not sent: the interface has no IPv4 address.",
        ),
        (
            "igmp_changes_while_disabled",
            c.igmp_changes_while_disabled,
            "IGMP membership changes held back during an ownership change.",
        ),
        (
            "kernel_audits",
            c.kernel_audits,
            "Audits of the kernel's multicast routing table against mgmd's.",
        ),
        (
            "kernel_drift",
            c.kernel_drift,
            "Differences between the kernel's multicast routing table and mgmd's, found and repaired.",
        ),
    ]
}

/// One descriptor and its samples, each with its labels.
fn family<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric_type: MetricType,
    samples: impl IntoIterator<Item = (Vec<(&'static str, String)>, M)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, metric_type)?;
    for (labels, value) in samples {
        value.encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn counter(v: u64) -> ConstCounter<u64> {
    ConstCounter::new(v)
}

fn gauge(v: usize) -> ConstGauge<u64> {
    ConstGauge::new(u64::try_from(v).unwrap_or(u64::MAX))
}

fn iface(name: &str) -> Vec<(&'static str, String)> {
    vec![("interface", name.to_owned())]
}

fn iface_and(name: &str, key: &'static str, value: &str) -> Vec<(&'static str, String)> {
    vec![("interface", name.to_owned()), (key, value.to_owned())]
}

impl Collector for Snapshot {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let r = &self.router;
        let none = Vec::<(&'static str, String)>::new;
        family(
            &mut e,
            "info",
            "mgmd's version.",
            MetricType::Gauge,
            [(
                vec![("version", env!("CARGO_PKG_VERSION").to_owned())],
                gauge(1),
            )],
        )?;

        // The router's counters.
        for (name, value, help) in router_counters(&r.counters.router) {
            family(
                &mut e,
                name,
                help,
                MetricType::Counter,
                [(none(), counter(value))],
            )?;
        }

        // The I/O layer's.
        let io = &self.io;
        family(
            &mut e,
            "kernel_rx_drops",
            "Packets the kernel dropped because the routing socket's queue was full.",
            MetricType::Counter,
            [(none(), counter(io.kernel_rx_drops))],
        )?;
        family(
            &mut e,
            "netlink_resyncs",
            "Times netlink notifications were lost and interfaces re-read.",
            MetricType::Counter,
            [(none(), counter(io.netlink_resyncs))],
        )?;
        family(
            &mut e,
            "kernel_upcalls",
            "Kernel upcalls by kind.",
            MetricType::Counter,
            [("nocache", io.upcalls_nocache), ("other", io.upcalls_other)]
                .map(|(kind, v)| (vec![("kind", kind.to_owned())], counter(v))),
        )?;
        family(
            &mut e,
            "rx_malformed",
            "Datagrams on the routing socket that could not be read.",
            MetricType::Counter,
            [(none(), counter(io.rx_malformed))],
        )?;
        family(
            &mut e,
            "igmp_tx_errors",
            "IGMP messages the kernel refused to send.",
            MetricType::Counter,
            [(none(), counter(io.igmp_tx_errors))],
        )?;

        // Forwarding.
        family(
            &mut e,
            "forwarding_entries",
            "Forwarding entries: with outgoing interfaces (forwarding), or without (drop).",
            MetricType::Gauge,
            [
                ("forwarding", r.entries_forwarding),
                ("drop", r.entries_drop),
            ]
            .map(|(kind, n)| (vec![("kind", kind.to_owned())], gauge(n))),
        )?;
        let vifs = &self.forwarded;
        family(
            &mut e,
            "forwarded_packets",
            "Packets through the interface's VIF, as the kernel counts them: in (arrived \
             for a forwarding entry), out (forwarded).",
            MetricType::Counter,
            vifs.iter().flat_map(|(name, c)| {
                [("in", c.in_packets), ("out", c.out_packets)]
                    .map(|(dir, v)| (iface_and(name, "direction", dir), counter(v)))
            }),
        )?;
        family(
            &mut e,
            "forwarded_bytes",
            "Bytes through the interface's VIF, as the kernel counts them.",
            MetricType::Counter,
            vifs.iter().flat_map(|(name, c)| {
                [("in", c.in_bytes), ("out", c.out_bytes)]
                    .map(|(dir, v)| (iface_and(name, "direction", dir), counter(v)))
            }),
        )?;

        // Interfaces.
        family(
            &mut e,
            "interface_up",
            "1 when the interface is present and up.",
            MetricType::Gauge,
            r.interfaces
                .iter()
                .map(|i| (iface(&i.interface), gauge(usize::from(i.up)))),
        )?;
        family(
            &mut e,
            "interface_info",
            "The interface's routing owner (none: IGMP alone) and IGMP state (off, enabled, \
             disabled during an ownership change).",
            MetricType::Gauge,
            r.interfaces.iter().map(|i| {
                (
                    vec![
                        ("interface", i.interface.clone()),
                        ("owner", i.owner.clone().unwrap_or_else(|| "none".into())),
                        ("igmp", i.igmp_state.clone()),
                    ],
                    gauge(1),
                )
            }),
        )?;

        // IGMP state.
        let igmp = || {
            r.interfaces
                .iter()
                .filter_map(|i| i.igmp.map(|g| (i.interface.as_str(), g)))
        };
        family(
            &mut e,
            "igmp_querier",
            "1 when mgmd is the elected IGMP querier on the interface.",
            MetricType::Gauge,
            igmp().map(|(name, g)| (iface(name), gauge(usize::from(g.is_querier)))),
        )?;
        family(
            &mut e,
            "igmp_version",
            "The IGMP version the interface runs.",
            MetricType::Gauge,
            igmp().map(|(name, g)| (iface(name), gauge(usize::from(g.version)))),
        )?;
        family(
            &mut e,
            "igmp_groups",
            "Groups with members on the interface.",
            MetricType::Gauge,
            igmp().map(|(name, g)| (iface(name), gauge(g.groups))),
        )?;
        family(
            &mut e,
            "igmp_sources",
            "Sources of the interface's groups: forwarding, or blocked (EXCLUDE lists).",
            MetricType::Gauge,
            igmp().flat_map(|(name, g)| {
                [
                    ("forwarding", g.sources_forwarding),
                    ("blocked", g.sources_blocked),
                ]
                .map(|(state, n)| (iface_and(name, "state", state), gauge(n)))
            }),
        )?;

        // IGMP counters.
        let counters = || {
            r.counters
                .interfaces
                .iter()
                .filter_map(|i| i.igmp.as_ref().map(|c| (i.interface.as_str(), c)))
        };
        family(
            &mut e,
            "igmp_messages",
            "IGMP messages by direction (rx, tx) and type.",
            MetricType::Counter,
            counters().flat_map(|(name, c)| {
                [("rx", &c.rx), ("tx", &c.tx)]
                    .into_iter()
                    .flat_map(move |(dir, by_type)| {
                        by_type.iter().map(move |(t, v)| {
                            (
                                vec![
                                    ("interface", name.to_owned()),
                                    ("direction", dir.to_owned()),
                                    ("type", t.clone()),
                                ],
                                counter(*v),
                            )
                        })
                    })
            }),
        )?;
        family(
            &mut e,
            "igmp_queries_sent",
            "IGMP queries sent, by kind (general, group, group_source).",
            MetricType::Counter,
            counters().flat_map(|(name, c)| {
                c.queries_sent
                    .iter()
                    .map(move |(kind, v)| (iface_and(name, "kind", kind), counter(*v)))
            }),
        )?;
        family(
            &mut e,
            "igmp_records_received",
            "IGMPv3 group records received (valid or not).",
            MetricType::Counter,
            counters().map(|(name, c)| (iface(name), counter(c.rx_records))),
        )?;
        family(
            &mut e,
            "igmp_drops",
            "IGMP messages and records dropped, by reason.",
            MetricType::Counter,
            counters().flat_map(|(name, c)| {
                c.drops
                    .iter()
                    .map(move |(reason, v)| (iface_and(name, "reason", reason), counter(*v)))
            }),
        )?;
        family(
            &mut e,
            "igmp_refused",
            "New groups or sources refused by max-groups or max-sources-per-group.",
            MetricType::Counter,
            counters().flat_map(|(name, c)| {
                [("group", c.refused_groups), ("source", c.refused_sources)]
                    .map(|(what, v)| (iface_and(name, "what", what), counter(v)))
            }),
        )?;
        family(
            &mut e,
            "igmp_mismatched_queries",
            "IGMP queries of another version than the interface's (older or newer).",
            MetricType::Counter,
            counters().flat_map(|(name, c)| {
                [
                    ("older", c.older_version_queries),
                    ("newer", c.newer_version_queries),
                ]
                .map(|(rel, v)| (iface_and(name, "relation", rel), counter(v)))
            }),
        )?;
        Ok(())
    }
}

// ===== tests =====

#[cfg(test)]
mod tests;
