use super::*;
use crate::core::status::{
    CountersView, IgmpCountersView, IgmpStateView, InterfaceCountersView, InterfaceStateView,
};
use crate::core::types::IfIndex;

fn snapshot() -> Snapshot {
    let mut igmp = IgmpCountersView::default();
    igmp.rx.insert("v3_report".into(), 7);
    igmp.drops.insert("bad_checksum".into(), 1);
    igmp.queries_sent.insert("general".into(), 3);
    Snapshot {
        router: MetricsView {
            counters: CountersView {
                router: CounterView {
                    ownership_moves: 2,
                    ..CounterView::default()
                },
                interfaces: vec![InterfaceCountersView {
                    interface: "lan1".into(),
                    ifindex: IfIndex(3),
                    vif: None,
                    igmp: Some(igmp),
                }],
            },
            interfaces: vec![InterfaceStateView {
                interface: "lan1".into(),
                up: true,
                owner: Some("static".into()),
                igmp_state: "enabled".into(),
                igmp: Some(IgmpStateView {
                    version: 3,
                    is_querier: true,
                    groups: 4,
                    sources_forwarding: 5,
                    sources_blocked: 0,
                }),
            }],
            entries_forwarding: 6,
            entries_drop: 1,
        },
        io: IoCounters {
            upcalls_nocache: 9,
            ..IoCounters::default()
        },
        forwarded: vec![(
            "lan1".into(),
            VifCounters {
                in_packets: 0,
                in_bytes: 0,
                out_packets: 1000,
                out_bytes: 64000,
            },
        )],
    }
}

/// The samples of a Prometheus text page, by name with labels.
fn samples(text: &str) -> std::collections::BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn the_text_format_carries_every_value() {
    let text = encode(snapshot(), false).unwrap();
    let s = samples(&text);
    for (name, value) in [
        ("mgmd_ownership_moves_total", "2"),
        ("mgmd_new_flows_total", "0"),
        ("mgmd_kernel_upcalls_total{kind=\"nocache\"}", "9"),
        ("mgmd_kernel_upcalls_total{kind=\"other\"}", "0"),
        ("mgmd_forwarding_entries{kind=\"forwarding\"}", "6"),
        ("mgmd_forwarding_entries{kind=\"drop\"}", "1"),
        (
            "mgmd_forwarded_packets_total{interface=\"lan1\",direction=\"out\"}",
            "1000",
        ),
        (
            "mgmd_forwarded_bytes_total{interface=\"lan1\",direction=\"out\"}",
            "64000",
        ),
        ("mgmd_interface_up{interface=\"lan1\"}", "1"),
        (
            "mgmd_interface_info{interface=\"lan1\",owner=\"static\",igmp=\"enabled\"}",
            "1",
        ),
        ("mgmd_igmp_querier{interface=\"lan1\"}", "1"),
        ("mgmd_igmp_version{interface=\"lan1\"}", "3"),
        ("mgmd_igmp_groups{interface=\"lan1\"}", "4"),
        (
            "mgmd_igmp_sources{interface=\"lan1\",state=\"forwarding\"}",
            "5",
        ),
        (
            "mgmd_igmp_messages_total{interface=\"lan1\",direction=\"rx\",type=\"v3_report\"}",
            "7",
        ),
        (
            "mgmd_igmp_drops_total{interface=\"lan1\",reason=\"bad_checksum\"}",
            "1",
        ),
        (
            "mgmd_igmp_queries_sent_total{interface=\"lan1\",kind=\"general\"}",
            "3",
        ),
        (
            "mgmd_igmp_refused_total{interface=\"lan1\",what=\"group\"}",
            "0",
        ),
    ] {
        assert_eq!(
            s.get(name).map(String::as_str),
            Some(value),
            "{name}\n{text}"
        );
    }
    assert!(text.contains("# TYPE mgmd_ownership_moves_total counter"));
    assert!(text.contains("# TYPE mgmd_igmp_groups gauge"));
    assert!(!text.contains("# EOF"));
}

#[test]
fn every_router_counter_is_exported() {
    let fields = serde_json::to_value(CounterView::default()).unwrap();
    let exported: Vec<&str> = router_counters(&CounterView::default())
        .iter()
        .map(|(name, _, _)| *name)
        .collect();
    let fields: Vec<&str> = fields
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = exported.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, fields);
}

#[test]
fn openmetrics_on_request() {
    let text = encode(snapshot(), true).unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("# TYPE mgmd_ownership_moves counter"));
    assert!(text.contains("mgmd_ownership_moves_total 2"));
}

fn head(s: &str) -> Vec<u8> {
    s.replace('\n', "\r\n").into_bytes()
}

#[test]
fn requests_are_read() {
    let r = parse_request(&head("GET /metrics HTTP/1.1\nHost: x\nAccept: */*")).unwrap();
    assert_eq!(
        r,
        HttpRequest {
            head_only: false,
            path: "/metrics".into(),
            openmetrics: false
        }
    );
    let r = parse_request(&head(
        "HEAD /metrics?x=1 HTTP/1.0\naccept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
    ))
    .unwrap();
    assert!(r.head_only && r.openmetrics);
    assert_eq!(r.path, "/metrics");
    assert_eq!(
        parse_request(&head("POST /metrics HTTP/1.1"))
            .unwrap_err()
            .status,
        405
    );
    for bad in [
        "GET /metrics",
        "GET metrics HTTP/1.1",
        "GET /metrics SPDY/3",
        "GET  /metrics HTTP/1.1",
        "",
    ] {
        assert_eq!(
            parse_request(&head(bad)).unwrap_err().status,
            400,
            "{bad:?}"
        );
    }
    assert_eq!(parse_request(&[0xff, 0xfe]).unwrap_err().status, 400);
}

#[test]
fn responses_are_framed() {
    let r = HttpResponse::text(405, "only GET and HEAD\n");
    let bytes = String::from_utf8(r.to_bytes(false)).unwrap();
    assert!(bytes.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
    assert!(bytes.contains("Content-Length: 18\r\n"));
    assert!(bytes.contains("Allow: GET, HEAD\r\n"));
    assert!(bytes.ends_with("\r\n\r\nonly GET and HEAD\n"));
    let headless = String::from_utf8(r.to_bytes(true)).unwrap();
    assert!(headless.ends_with("\r\n\r\n"));
    assert!(headless.contains("Content-Length: 18\r\n"));
}

#[tokio::test]
async fn a_scrape_end_to_end() {
    let server = MetricsServer::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let (tx, mut rx) = mpsc::channel::<MetricsRequest>(1);
    tokio::spawn(server.serve(tx));
    // The "event loop": answers every scrape with the snapshot.
    tokio::spawn(async move {
        while let Some(req) = rx.recv().await {
            let _ = req.reply.send(snapshot());
        }
    });
    // A scraper that never sends its request holds up nobody.
    let _idle = TcpStream::connect(addr).await.unwrap();
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains(CONTENT_TYPE_TEXT));
    assert!(head.contains(&format!("Content-Length: {}", body.len())));
    assert!(body.contains("mgmd_ownership_moves_total 2"));
}
