use super::*;

fn ip_header(opts: &[u8], proto: u8, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let ihl = 20 + opts.len();
    let total = (ihl + payload.len()) as u16;
    let mut v = vec![0x40 | (ihl / 4) as u8, 0xc0];
    v.extend(total.to_be_bytes());
    v.extend([0, 0, 0, 0, ttl, proto, 0, 0]);
    v.extend([10, 0, 1, 2]);
    v.extend([224, 0, 0, 22]);
    v.extend(opts);
    v.extend(payload);
    v
}

#[test]
fn parses_igmp_with_router_alert() {
    let pkt = ip_header(&[0x94, 4, 0, 0], 2, 1, &[0x22, 0, 0xf9, 0xfd, 0, 0, 0, 0]);
    let rx = parse_rx(&pkt, Some(IfIndex(7)));
    assert_eq!(
        rx,
        MrtRx::Igmp(IgmpRx {
            ifindex: IfIndex(7),
            src: Ipv4Addr::new(10, 0, 1, 2),
            dst: Ipv4Addr::new(224, 0, 0, 22),
            ttl: 1,
            router_alert: true,
            payload: vec![0x22, 0, 0xf9, 0xfd, 0, 0, 0, 0],
        })
    );
}

#[test]
fn router_alert_after_nop_and_other_option() {
    assert!(has_router_alert(&[1, 0x07, 3, 0, 0x94, 4, 0, 0]));
    assert!(!has_router_alert(&[1, 1, 1, 0]));
    assert!(!has_router_alert(&[0x07, 9, 0, 0])); // length overruns
    assert!(!has_router_alert(&[0, 0x94, 4, 0]));
}

#[test]
fn igmp_without_router_alert_and_trailing_padding() {
    let mut pkt = ip_header(&[], 2, 1, &[0x16, 0, 0, 0, 239, 1, 1, 1]);
    pkt.extend([0, 0]); // link padding beyond tot_len
    match parse_rx(&pkt, Some(IfIndex(3))) {
        MrtRx::Igmp(rx) => {
            assert!(!rx.router_alert);
            assert_eq!(rx.payload.len(), 8);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn parses_upcall() {
    let mut msg = vec![0u8; 28];
    msg[8] = 1;
    msg[10] = 3;
    msg[11] = 0;
    msg[12..16].copy_from_slice(&[10, 0, 1, 2]);
    msg[16..20].copy_from_slice(&[239, 2, 2, 2]);
    assert_eq!(
        parse_rx(&msg, None),
        MrtRx::Upcall(Upcall {
            kind: UpcallKind::NoCache,
            vif: VifIndex(3),
            src: Ipv4Addr::new(10, 0, 1, 2),
            dst: Ipv4Addr::new(239, 2, 2, 2),
        })
    );
    msg[8] = 2;
    msg[11] = 1;
    match parse_rx(&msg, None) {
        MrtRx::Upcall(u) => {
            // WRONGVIF: never asked for (no MRT_ASSERT), an other kind.
            assert_eq!(u.kind, UpcallKind::Other(2));
            assert_eq!(u.vif, VifIndex(259));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn malformed_inputs() {
    assert_eq!(
        parse_rx(&[0x45; 10], None),
        MrtRx::Malformed("shorter than an IP header")
    );
    let pkt = ip_header(&[], 17, 1, &[0; 8]);
    assert_eq!(
        parse_rx(&pkt, Some(IfIndex(1))),
        MrtRx::Malformed("not IGMP")
    );
    let mut bad = ip_header(&[], 2, 1, &[0; 8]);
    bad[0] = 0x4f; // IHL 60 > length
    assert_eq!(
        parse_rx(&bad, Some(IfIndex(1))),
        MrtRx::Malformed("bad IP header length")
    );
    let pkt = ip_header(&[], 2, 1, &[0; 8]);
    assert_eq!(parse_rx(&pkt, None), MrtRx::Malformed("no IP_PKTINFO"));
}

#[test]
fn errors_explain_themselves() {
    let e = MrtError::AlreadyInUse { table: None };
    assert!(
        e.to_string()
            .contains("already owns the multicast routing table")
    );
    assert!(e.to_string().contains("smcroute"));
    let a = MrtAction::AddVif {
        vif: VifIndex(32),
        ifindex: IfIndex(40),
    };
    let msg = explain(
        &a,
        libc::ENFILE,
        &io::Error::from_raw_os_error(libc::ENFILE),
    );
    assert!(msg.contains("at most 32 VIFs"), "{msg}");
}
