//! The hotline through the real binary: events derived from declarations,
//! streamed as Server-Sent Events, acknowledged, replayed after a restart
//! from Last-Event-ID, late declarations reported.

mod common;

use common::{intent_body, new_id, volume, wait_for, Server, SC};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::time::Duration;

/// One SSE event as read off the wire.
#[derive(Debug)]
struct Sse {
    id: u64,
    event: String,
    data: Value,
}

/// Reads SSE events from `GET /v1/events` until `want` have arrived.
fn read_events(base: &str, token: &str, last_event_id: Option<u64>, want: usize) -> Vec<Sse> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut req = client.get(format!("{base}/v1/events")).bearer_auth(token);
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id.to_string());
    }
    let resp = req.send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut out = Vec::new();
    let (mut id, mut event, mut data) = (None, String::new(), String::new());
    for line in BufReader::new(resp).lines() {
        let line = line.unwrap();
        if line.is_empty() {
            if let Some(i) = id.take() {
                out.push(Sse {
                    id: i,
                    event: std::mem::take(&mut event),
                    data: serde_json::from_str(&data).unwrap(),
                });
                data.clear();
                if out.len() == want {
                    break;
                }
            }
            continue;
        }
        if let Some(v) = line.strip_prefix("id: ").or(line.strip_prefix("id:")) {
            id = Some(v.trim().parse().unwrap());
        } else if let Some(v) = line.strip_prefix("event: ").or(line.strip_prefix("event:")) {
            event = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("data: ").or(line.strip_prefix("data:")) {
            data.push_str(v);
        }
    }
    out
}

#[test]
fn a_conflicting_declaration_reaches_the_other_party_with_the_overlap_and_is_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start_in(tmp.path(), &[]);
    let alpha = s.token("alpha", &[SC]);
    let bravo = s.token("bravo", &[SC]);

    // Alpha declares; bravo declares an overlapping intent with alpha's OVN
    // in its key (accepted: bravo has seen alpha's intent), starting in 10
    // minutes, which is less than the default notice of one hour.
    let a_id = new_id();
    let resp = s
        .http
        .put(format!(
            "{}/dss/v1/operational_intent_references/{a_id}",
            s.base
        ))
        .bearer_auth(&alpha)
        .json(&intent_body(vec![volume(46.0, 7.0, 0.01, 10, 70)], vec![]))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let index_a: u64 = resp.headers()["x-log-index"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let a: Value = resp.json().unwrap();
    let ovn_a = a["operational_intent_reference"]["ovn"]
        .as_str()
        .unwrap()
        .to_string();

    let b_id = new_id();
    let (st, v) = s.call(
        "PUT",
        &format!("/dss/v1/operational_intent_references/{b_id}"),
        Some(&bravo),
        Some(&intent_body(
            vec![volume(46.01, 7.01, 0.01, 20, 90)],
            vec![ovn_a],
        )),
    );
    assert_eq!(st, 201, "{v}");

    // Alpha's stream: the intent, the conflict (critical, with the overlap)
    // and the late notice, in sequence order.
    let events = read_events(&s.base, &alpha, None, 3);
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        kinds,
        ["operational_intent", "strategic_conflict", "late_notice"],
        "{events:?}"
    );
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    let oi = &events[0].data;
    assert_eq!(oi["sender"], "bravo");
    assert_eq!(oi["data"]["change"], "created");
    assert_eq!(oi["data"]["operational_intent"]["id"], b_id.as_str());
    assert!(oi["log_index"].as_u64().unwrap() > index_a);
    let conflict = &events[1].data;
    assert_eq!(conflict["critical"], true);
    assert_eq!(conflict["data"]["your_operational_intent"], a_id.as_str());
    assert_eq!(conflict["data"]["other_party"], "bravo");
    let overlap = &conflict["data"]["overlap"][0];
    assert_eq!(overlap["altitude"]["lower_m"], 0.0);
    assert_eq!(overlap["altitude"]["upper_m"], 120.0);
    // The common window is bravo's start to alpha's end; the common
    // footprint is the 0.01° square between the two centres.
    let start: chrono::DateTime<chrono::Utc> =
        overlap["time"]["start"].as_str().unwrap().parse().unwrap();
    let end: chrono::DateTime<chrono::Utc> =
        overlap["time"]["end"].as_str().unwrap().parse().unwrap();
    assert!(
        (end - start - chrono::Duration::minutes(50))
            .num_seconds()
            .abs()
            <= 2
    );
    let ring = overlap["footprint"][0].as_array().unwrap();
    assert_eq!(ring.len(), 4, "{overlap}");
    for p in ring {
        let (lat, lng) = (p["lat"].as_f64().unwrap(), p["lng"].as_f64().unwrap());
        assert!((46.0 - 1e-6..=46.01 + 1e-6).contains(&lat), "{p}");
        assert!((7.0 - 1e-6..=7.01 + 1e-6).contains(&lng), "{p}");
    }
    let late = &events[2].data;
    assert_eq!(late["critical"], true);
    assert_eq!(late["data"]["required_notice_s"], 3600);

    // Bravo gets its own view of the conflict, not critical for it.
    let b_events = read_events(&s.base, &bravo, None, 1);
    assert_eq!(b_events[0].event, "strategic_conflict");
    assert_eq!(b_events[0].data["data"]["other_party"], "alpha");
    assert_eq!(b_events[0].data["critical"], false);

    // Bravo sees that alpha has acknowledged nothing yet.
    let (_, sent) = s.call("GET", "/v1/events/sent", Some(&bravo), None);
    let to_alpha: Vec<&Value> = sent["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["to"] == "alpha")
        .collect();
    assert_eq!(to_alpha.len(), 3, "{sent}");
    assert!(to_alpha.iter().all(|e| e["acknowledged_at"].is_null()));

    // Only the recipient may acknowledge; then the sender sees it.
    let seq = events[1].id;
    let (st, _) = s.call("POST", &format!("/v1/events/{seq}/ack"), Some(&bravo), None);
    assert_eq!(st, 403);
    let (st, v) = s.call("POST", &format!("/v1/events/{seq}/ack"), Some(&alpha), None);
    assert_eq!(st, 200, "{v}");
    assert!(v["log_index"].as_u64().is_some());
    let (st, _) = s.call("POST", "/v1/events/999999/ack", Some(&alpha), None);
    assert_eq!(st, 404);
    let (st, v) = s.call("POST", "/v1/events/abc/ack", Some(&alpha), None);
    assert_eq!(st, 400);
    assert!(v["message"].as_str().unwrap().starts_with("seq"));
    let (_, sent) = s.call("GET", "/v1/events/sent", Some(&bravo), None);
    let acked: Vec<u64> = sent["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !e["acknowledged_at"].is_null())
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(acked, [seq]);

    // The notice report: bravo declared once, late; alpha once, late too.
    let (st, report) = s.call("GET", "/v1/reports/notice", Some(&alpha), None);
    assert_eq!(st, 200, "{report}");
    let parties = report["parties"].as_array().unwrap();
    let bravo_row = parties.iter().find(|p| p["party"] == "bravo").unwrap();
    assert_eq!(bravo_row["declarations"], 1);
    assert_eq!(bravo_row["late"], 1);
    let notice = bravo_row["min_notice_s"].as_f64().unwrap();
    assert!((1190.0..1210.0).contains(&notice), "{notice}");
    let (st, _) = s.call(
        "GET",
        "/v1/reports/notice?from=2030-01-01T00:00:00Z&to=2029-01-01T00:00:00Z",
        Some(&alpha),
        None,
    );
    assert_eq!(st, 400);

    // After a restart, a client that reconnects with Last-Event-ID gets
    // exactly what came after it, with the same numbers.
    let first = events[0].id;
    s.stop();
    let s = Server::start_in(tmp.path(), &[]);
    let again = read_events(&s.base, &alpha, Some(first), 2);
    assert_eq!(again[0].id, events[1].id);
    assert_eq!(again[1].id, events[2].id);
    assert_eq!(again[0].data, events[1].data);
    let (st, _) = s.call("GET", "/v1/events", None, None);
    assert_eq!(st, 401);
    s.stop();
}

#[test]
fn unacknowledged_critical_events_are_sent_again() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start_in(tmp.path(), &["--resend-interval-s", "1"]);
    let alpha = s.token("alpha", &[SC]);
    let bravo = s.token("bravo", &[SC]);
    let (st, a) = s.call(
        "PUT",
        &format!("/dss/v1/operational_intent_references/{}", new_id()),
        Some(&alpha),
        Some(&intent_body(
            vec![volume(47.0, 8.0, 0.01, 120, 180)],
            vec![],
        )),
    );
    assert_eq!(st, 201);
    let ovn = a["operational_intent_reference"]["ovn"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, _) = s.call(
        "PUT",
        &format!("/dss/v1/operational_intent_references/{}", new_id()),
        Some(&bravo),
        Some(&intent_body(
            vec![volume(47.0, 8.0, 0.01, 120, 180)],
            vec![ovn],
        )),
    );
    assert_eq!(st, 201);
    // Two hours of notice: no late notice; the intent and the conflict, then
    // the conflict again (critical, unacknowledged) a second later.
    let events = read_events(&s.base, &alpha, None, 3);
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "operational_intent",
            "strategic_conflict",
            "strategic_conflict"
        ]
    );
    assert_eq!(events[1].id, events[2].id);
    s.stop();
}

/// A one-thread HTTP endpoint answering each request with the next status
/// of `statuses`; returns what it received (headers and body, lower-cased
/// header names).
fn webhook_endpoint(statuses: Vec<u16>) -> (String, std::sync::mpsc::Receiver<(String, String)>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for status in statuses {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read headers, then the body by Content-Length.
            let (head, body) = loop {
                let n = conn.read(&mut chunk).unwrap();
                buf.extend_from_slice(&chunk[..n]);
                if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..p]).to_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map(|v| v.trim().parse().unwrap())
                        .unwrap_or(0);
                    while buf.len() < p + 4 + len {
                        let n = conn.read(&mut chunk).unwrap();
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    break (
                        head,
                        String::from_utf8_lossy(&buf[p + 4..p + 4 + len]).to_string(),
                    );
                }
            };
            write!(
                conn,
                "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )
            .unwrap();
            tx.send((head, body)).unwrap();
        }
    });
    (url, rx)
}

/// The service in `dir` with alpha's events POSTed to `url`, retried after
/// 0.2 s, checkpoints signed every 0.1 s.
fn start_with_webhook(dir: &std::path::Path, url: &str) -> Server {
    let hook = format!("alpha={url}");
    Server::start_in(
        dir,
        &[
            "--webhook",
            &hook,
            "--webhook-first-backoff-s",
            "0.2",
            "--checkpoint-interval-s",
            "0.1",
        ],
    )
}

#[test]
fn webhooks_are_retried_and_every_attempt_is_in_the_record() {
    let (url, received) = webhook_endpoint(vec![500, 200]);
    let tmp = tempfile::tempdir().unwrap();
    let s = start_with_webhook(tmp.path(), &url);
    let alpha = s.token("alpha", &[SC]);
    let bravo = s.token("bravo", &[SC]);
    bravo_over_alpha(&s, &alpha, &bravo, 45.0);
    // First attempt refused (500), second accepted; both carry the event.
    let (h1, b1) = received.recv_timeout(Duration::from_secs(20)).unwrap();
    let (h2, b2) = received.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(b1, b2);
    let ev: Value = serde_json::from_str(&b1).unwrap();
    assert_eq!(ev["kind"], "operational_intent");
    assert!(
        h1.contains(&format!("x-deconflict-event-id: {}", ev["seq"])),
        "{h1}"
    );
    assert!(
        h2.contains("x-deconflict-event-kind: operational_intent"),
        "{h2}"
    );
    // Both attempts are in the record.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let outcomes: Vec<String> = webhook_attempts(&s, &alpha)
            .into_iter()
            .filter(|(seq, _)| ev["seq"] == *seq)
            .map(|(_, outcome)| outcome)
            .collect();
        if outcomes == ["retrying", "delivered"] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{outcomes:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    s.stop();
}

/// (event seq, outcome) of every webhook attempt in the record.
fn webhook_attempts(s: &Server, token: &str) -> Vec<(u64, String)> {
    let (_, v) = s.call("GET", "/v1/log/entries?start=0", Some(token), None);
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(e["data"].as_str().unwrap())
                .unwrap();
            serde_json::from_slice::<Value>(&bytes).unwrap()
        })
        .filter(|e| e["kind"] == "webhook_attempt")
        .map(|e| {
            (
                e["data"]["seq"].as_u64().unwrap(),
                e["data"]["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Event seqs of the webhook attempts with this outcome, in record order.
fn attempted(s: &Server, token: &str, outcome: &str) -> Vec<u64> {
    webhook_attempts(s, token)
        .into_iter()
        .filter(|(_, o)| o == outcome)
        .map(|(seq, _)| seq)
        .collect()
}

/// Bravo declares an intent over alpha's (with its OVN): alpha is told.
fn bravo_over_alpha(s: &Server, alpha: &str, bravo: &str, lat: f64) {
    let (st, a) = s.call(
        "PUT",
        &format!("/dss/v1/operational_intent_references/{}", new_id()),
        Some(alpha),
        Some(&intent_body(vec![volume(lat, 6.0, 0.01, 120, 180)], vec![])),
    );
    assert_eq!(st, 201, "{a}");
    let ovn = a["operational_intent_reference"]["ovn"].as_str().unwrap();
    let (st, v) = s.call(
        "PUT",
        &format!("/dss/v1/operational_intent_references/{}", new_id()),
        Some(bravo),
        Some(&intent_body(
            vec![volume(lat, 6.0, 0.01, 120, 180)],
            vec![ovn.to_string()],
        )),
    );
    assert_eq!(st, 201, "{v}");
}

#[test]
fn webhook_deliveries_cut_short_by_a_stop_are_made_after_the_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let start = |url: &str| start_with_webhook(tmp.path(), url);

    // 1. Alpha's endpoint is up: its events are delivered.
    let (url, received) = webhook_endpoint(vec![200; 8]);
    let s = start(&url);
    let alpha = s.token("alpha", &[SC]);
    let bravo = s.token("bravo", &[SC]);
    bravo_over_alpha(&s, &alpha, &bravo, 45.0);
    received.recv_timeout(Duration::from_secs(20)).unwrap();
    wait_for(
        || !attempted(&s, &alpha, "delivered").is_empty(),
        "first delivery recorded",
    );
    let delivered = attempted(&s, &alpha, "delivered");
    s.stop();

    // 2. The endpoint is down: the next event is being retried when the
    //    service stops.
    let s = start("http://127.0.0.1:9/hook");
    bravo_over_alpha(&s, &alpha, &bravo, 45.5);
    wait_for(
        || !attempted(&s, &alpha, "retrying").is_empty(),
        "a retried attempt recorded",
    );
    let pending = attempted(&s, &alpha, "retrying");
    s.stop();

    // 3. Back up: the cut-short event is posted first, nothing delivered
    //    before is posted again, then new events follow in order.
    let (url, received) = webhook_endpoint(vec![200; 16]);
    let s = start(&url);
    let seq_of = |(head, body): (String, String)| {
        let ev: Value = serde_json::from_str(&body).unwrap();
        assert!(
            head.contains(&format!("x-deconflict-event-id: {}", ev["seq"])),
            "{head}"
        );
        ev["seq"].as_u64().unwrap()
    };
    let first = seq_of(received.recv_timeout(Duration::from_secs(20)).unwrap());
    assert_eq!(first, pending[0], "delivered before: {delivered:?}");
    bravo_over_alpha(&s, &alpha, &bravo, 46.0);
    let mut seen = vec![first];
    while let Ok(r) = received.recv_timeout(Duration::from_secs(3)) {
        seen.push(seq_of(r));
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order: {seen:?}");
    assert!(
        seen.iter().all(|q| !delivered.contains(q)),
        "{seen:?} vs {delivered:?}"
    );
    assert!(seen.len() >= 2, "the new event came too: {seen:?}");
    s.stop();
}

#[test]
fn under_concurrent_writes_the_stream_delivers_every_event_in_order() {
    let s = Server::start();
    let alpha = s.token("alpha", &[SC]);
    let bravo = s.token("bravo", &[SC]);
    // Alpha watches a wide area.
    let (st, v) = s.call(
        "PUT",
        &format!("/dss/v1/subscriptions/{}", new_id()),
        Some(&alpha),
        Some(&serde_json::json!({
            "extents": volume(46.0, 7.0, 0.2, 0, 600),
            "uss_base_url": "https://alpha.example",
            "notify_for_operational_intents": true,
            "notify_for_constraints": false
        })),
    );
    assert_eq!(st, 200, "{v}");
    const THREADS: usize = 16;
    const EACH: usize = 12;
    let reader = {
        let base = s.base.clone();
        let alpha = alpha.clone();
        std::thread::spawn(move || read_events(&base, &alpha, None, THREADS * EACH))
    };
    std::thread::sleep(Duration::from_millis(300));
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let (s, bravo) = (&s, &bravo);
            scope.spawn(move || {
                for k in 0..EACH {
                    // Disjoint squares: no conflicts among bravo's own.
                    let lat = 45.85 + 0.02 * t as f64;
                    let lng = 6.85 + 0.02 * k as f64;
                    let (st, v) = s.call(
                        "PUT",
                        &format!("/dss/v1/operational_intent_references/{}", new_id()),
                        Some(bravo),
                        Some(&intent_body(
                            vec![volume(lat, lng, 0.005, 120, 180)],
                            vec![],
                        )),
                    );
                    assert_eq!(st, 201, "{v}");
                }
            });
        }
    });
    let events = reader.join().unwrap();
    assert_eq!(events.len(), THREADS * EACH);
    assert!(events.windows(2).all(|w| w[0].id < w[1].id), "out of order");
    s.stop();
}
