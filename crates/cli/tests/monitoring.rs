//! Conformance monitoring through the real binary: an intent names its
//! aircraft, telemetry shows it leaving the volumes, the owner and the
//! parties nearby are told, the intent is marked Nonconforming as its owner
//! allowed, and returning resolves it.

mod common;

use common::{first_event_of_kind, intent_body, new_id, volume, wait_for, Server, CMSA, SC};
use serde_json::{json, Value};
use std::time::Duration;

fn report(s: &Server, token: &str, lat: f64, alt: f64) {
    let line = json!({
        "aircraft_id": "D1", "party": "alpha", "time": chrono::Utc::now(),
        "lat_deg": lat, "lon_deg": 7.0, "alt_m": alt, "east_mps": 0.0, "north_mps": 5.0
    })
    .to_string();
    let (st, v) = s.raw("POST", "/v1/traffic/telemetry", token, line.into_bytes());
    assert_eq!(st, 200, "{v}");
}

fn open(s: &Server, token: &str) -> Vec<Value> {
    let (st, v) = s.call("GET", "/v1/traffic/nonconformances", Some(token), None);
    assert_eq!(st, 200, "{v}");
    v["nonconformances"].as_array().unwrap().clone()
}

#[test]
fn leaving_the_declared_volumes_is_reported_marked_and_resolved() {
    let s = Server::start();
    let alpha = s.token("alpha", &[SC, CMSA]);
    let bravo = s.token("bravo", &[SC]);

    // Alpha's intent names drone D1 and allows marking it Nonconforming.
    let a_id = new_id();
    let mut body = intent_body(vec![volume(46.0, 7.0, 0.01, 0, 60)], vec![]);
    body["aircraft_ids"] = json!(["D1"]);
    body["mark_nonconforming"] = json!(true);
    let (st, v) = s.call(
        "PUT",
        &format!("/dss/v1/operational_intent_references/{a_id}"),
        Some(&alpha),
        Some(&body),
    );
    assert_eq!(st, 201, "{v}");
    // Bravo flies 2 km north: close enough to be told.
    let (st, _) = s.call(
        "PUT",
        &format!("/dss/v1/operational_intent_references/{}", new_id()),
        Some(&bravo),
        Some(&intent_body(vec![volume(46.03, 7.0, 0.005, 0, 60)], vec![])),
    );
    assert_eq!(st, 201);

    // Inside (with GNSS noise well within the buffer): nothing.
    report(&s, &alpha, 46.0, 50.0);
    report(&s, &alpha, 46.0101, 50.0);
    std::thread::sleep(Duration::from_millis(300));
    assert!(open(&s, &alpha).is_empty());

    // 1.1 km north of the square: non-conforming.
    report(&s, &alpha, 46.02, 50.0);
    wait_for(|| open(&s, &alpha).len() == 1, "the non-conformance");
    let n = &open(&s, &alpha)[0];
    assert_eq!(n["aircraft_id"], "D1");
    assert_eq!(n["operational_intent"], a_id.as_str());
    assert_eq!(n["owner"], "alpha");
    let out = n["horizontal_outside_m"].as_f64().unwrap();
    assert!((1050.0..1200.0).contains(&out), "{n}");

    // The intent is marked Nonconforming on alpha's behalf.
    wait_for(
        || {
            let (_, v) = s.call(
                "GET",
                &format!("/dss/v1/operational_intent_references/{a_id}"),
                Some(&bravo),
                None,
            );
            v["operational_intent_reference"]["state"] == "Nonconforming"
        },
        "the intent to be marked Nonconforming",
    );

    // Both alpha (critical) and bravo (nearby) got the event.
    let (_, sent_to) = s.call(
        "GET",
        "/v1/traffic/nonconformances?party=alpha",
        Some(&bravo),
        None,
    );
    assert_eq!(sent_to["nonconformances"].as_array().unwrap().len(), 1);
    for (token, critical) in [(&alpha, true), (&bravo, false)] {
        let events = first_event_of_kind(&s, token, "nonconformance");
        assert_eq!(events["data"]["change"], "new", "{events}");
        assert_eq!(events["critical"], critical, "{events}");
    }

    // Back inside: resolved.
    report(&s, &alpha, 46.0, 50.0);
    wait_for(|| open(&s, &alpha).is_empty(), "the resolution");

    // A bad aircraft id in a declaration is refused, naming the field.
    let mut bad = intent_body(vec![volume(45.0, 7.0, 0.01, 0, 60)], vec![]);
    bad["aircraft_ids"] = json!(["ok", ""]);
    let (st, v) = s.call(
        "PUT",
        &format!("/dss/v1/operational_intent_references/{}", new_id()),
        Some(&alpha),
        Some(&bad),
    );
    assert_eq!(st, 400);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("aircraft_ids[1]"),
        "{v}"
    );
    s.stop();
}
