//! Black-box tests of the F3548-21 DSS API against the real binary.

mod common;
use common::*;
use serde_json::{json, Value};

const OIR: &str = "/dss/v1/operational_intent_references";

#[test]
fn walkthrough_conflict_key_query_subscription() {
    let s = Server::start();
    let alpha = s.token("alpha", &[SC]);
    let bravo = s.token("bravo", &[SC]);

    // Alpha declares.
    let a_id = new_id();
    let (st, a) = s.call(
        "PUT",
        &format!("{OIR}/{a_id}"),
        Some(&alpha),
        Some(&intent_body(vec![volume(46.0, 7.0, 0.01, 10, 70)], vec![])),
    );
    assert_eq!(st, 201, "{a}");
    let a_ref = &a["operational_intent_reference"];
    assert_eq!(a_ref["id"], a_id);
    assert_eq!(a_ref["manager"], "alpha");
    assert_eq!(a_ref["version"], 1);
    assert_eq!(a_ref["state"], "Accepted");
    let a_ovn = a_ref["ovn"].as_str().unwrap().to_string();
    assert!(a_ovn.len() >= 16);

    // Bravo's intersecting declaration without the key: 409 naming alpha's intent.
    let b_id = new_id();
    let b_body = intent_body(vec![volume(46.005, 7.0, 0.01, 20, 80)], vec![]);
    let (st, conflict) = s.call("PUT", &format!("{OIR}/{b_id}"), Some(&bravo), Some(&b_body));
    assert_eq!(st, 409, "{conflict}");
    let missing = conflict["missing_operational_intents"].as_array().unwrap();
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0]["id"], a_id);
    assert_eq!(missing[0]["manager"], "alpha");
    // Bravo must ask alpha for the OVN: the DSS does not reveal it.
    assert_ne!(missing[0]["ovn"], a_ovn);
    // Nothing of the refused write was stored.
    let (st, _) = s.call("GET", &format!("{OIR}/{b_id}"), Some(&bravo), None);
    assert_eq!(st, 404);

    // Querying the area shows alpha's intent, without its OVN.
    let (st, q) = s.call(
        "POST",
        &format!("{OIR}/query"),
        Some(&bravo),
        Some(&json!({"area_of_interest": volume(46.0, 7.0, 0.05, 0, 120)})),
    );
    assert_eq!(st, 200, "{q}");
    let found = q["operational_intent_references"].as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["ovn"], "Available from USS");

    // With the key, bravo's declaration is accepted; alpha's implicit
    // subscription is among the subscribers, with its next notification index.
    let b_body = intent_body(vec![volume(46.005, 7.0, 0.01, 20, 80)], vec![a_ovn.clone()]);
    let (st, b) = s.call("PUT", &format!("{OIR}/{b_id}"), Some(&bravo), Some(&b_body));
    assert_eq!(st, 201, "{b}");
    let a_sub = a_ref["subscription_id"].as_str().unwrap();
    let subs = b["subscribers"].as_array().unwrap();
    let idx: Vec<u64> = subs
        .iter()
        .flat_map(|s| s["subscriptions"].as_array().unwrap().iter())
        .filter(|x| x["subscription_id"] == a_sub)
        .map(|x| x["notification_index"].as_u64().unwrap())
        .collect();
    assert_eq!(idx, vec![2], "{b}");

    // An explicit subscription over the area starts at index 0 and lists both intents.
    let sub_id = new_id();
    let now = chrono::Utc::now();
    let (st, sub) = s.call(
        "PUT",
        &format!("/dss/v1/subscriptions/{sub_id}"),
        Some(&alpha),
        Some(&json!({
            "extents": {
                "volume": {"outline_circle": {"center": {"lat": 46.0, "lng": 7.0}, "radius": {"value": 5000, "units": "M"}},
                           "altitude_lower": {"value": 0, "reference": "W84", "units": "M"},
                           "altitude_upper": {"value": 1000, "reference": "W84", "units": "M"}},
                "time_start": {"value": iso(now), "format": "RFC3339"},
                "time_end": {"value": iso(now + chrono::Duration::hours(2)), "format": "RFC3339"}
            },
            "uss_base_url": "https://uss.example/alpha",
            "notify_for_operational_intents": true,
            "notify_for_constraints": false
        })),
    );
    assert_eq!(st, 200, "{sub}");
    assert_eq!(sub["subscription"]["notification_index"], 0);
    assert_eq!(
        sub["operational_intent_references"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Bravo deletes its intent: the explicit subscription is told (index 1).
    let b_ovn = b["operational_intent_reference"]["ovn"].as_str().unwrap();
    let (st, del) = s.call(
        "DELETE",
        &format!("{OIR}/{b_id}/{b_ovn}"),
        Some(&bravo),
        None,
    );
    assert_eq!(st, 200, "{del}");
    let got: Vec<u64> = del["subscribers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["subscriptions"].as_array().unwrap().iter())
        .filter(|x| x["subscription_id"] == sub_id.as_str())
        .map(|x| x["notification_index"].as_u64().unwrap())
        .collect();
    assert_eq!(got, vec![1], "{del}");
}

#[test]
fn authentication_401_and_403() {
    let s = Server::start();
    let body = json!({"area_of_interest": volume(46.0, 7.0, 0.01, 0, 60)});
    let path = format!("{OIR}/query");
    let (st, v) = s.call("POST", &path, None, Some(&body));
    assert_eq!(st, 401);
    assert!(v["message"].is_string());
    let (st, v) = s.call("POST", &path, Some("not.a.jwt"), Some(&body));
    assert_eq!(st, 401, "{v}");
    // A valid token without the endpoint's scope.
    let cm = s.token("alpha", &[CM]);
    let (st, v) = s.call("POST", &path, Some(&cm), Some(&body));
    assert_eq!(st, 403, "{v}");
    assert!(v["message"].as_str().unwrap().contains("scope"));

    // Who is asking is settled before what is asked: a malformed body from a
    // caller without a valid token is a 401, not a 400 about the body.
    let alpha = s.token("alpha", &[SC]);
    let bad = json!({"area_of_interest": 5});
    for token in [None, Some("not.a.jwt")] {
        let (st, v) = s.call("POST", &path, token, Some(&bad));
        assert_eq!(st, 401, "{token:?}: {v}");
    }
    let (st, v) = s.call("POST", &path, Some(&alpha), Some(&bad));
    assert_eq!(st, 400, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("area_of_interest"),
        "{v}"
    );
}

#[test]
fn development_tokens_are_minted_for_callers_without_one() {
    let s = Server::start();
    let (st, v) = s.call("GET", "/v1/dev/token", None, None);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["development"], true);
    // No token is needed here, so a bad body is a 400, never a 401.
    for (body, field) in [(json!({"sub": ""}), "sub"), (json!({"sub": 5}), "sub")] {
        let (st, v) = s.call("POST", "/v1/dev/token", None, Some(&body));
        assert_eq!(st, 400, "{v}");
        assert!(v["message"].as_str().unwrap().contains(field), "{v}");
    }
    let (st, v) = s.call(
        "POST",
        "/v1/dev/token",
        None,
        Some(&json!({"sub": "alpha"})),
    );
    assert_eq!(st, 200, "{v}");
    let token = v["token"].as_str().unwrap();
    let body = json!({"area_of_interest": volume(46.0, 7.0, 0.01, 0, 60)});
    let (st, v) = s.call("POST", &format!("{OIR}/query"), Some(token), Some(&body));
    assert_eq!(st, 200, "{v}");
}

#[test]
fn bad_input_is_a_400_naming_the_field_and_stores_nothing() {
    let s = Server::start();
    let alpha = s.token("alpha", &[SC]);
    let id = new_id();
    let path = format!("{OIR}/{id}");

    let mut body = intent_body(vec![volume(46.0, 7.0, 0.01, 10, 70)], vec![]);
    body["extents"][0]["volume"]["outline_polygon"]["vertices"][2]["lat"] = json!(91.0);
    let (st, v) = s.call("PUT", &path, Some(&alpha), Some(&body));
    assert_eq!(st, 400, "{v}");
    let m = v["message"].as_str().unwrap();
    assert!(
        m.contains("extents[0].volume.outline_polygon.vertices[2].lat"),
        "{m}"
    );

    let mut body = intent_body(vec![volume(46.0, 7.0, 0.01, 10, 70)], vec![]);
    body["extents"][0]["volume"]["altitude_lower"]["units"] = json!("FT");
    let (st, v) = s.call("PUT", &path, Some(&alpha), Some(&body));
    assert_eq!(st, 400);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("altitude_lower.units"),
        "{v}"
    );

    let mut body = intent_body(vec![volume(46.0, 7.0, 0.01, 10, 70)], vec![]);
    body["extents"][0]["time_start"]["value"] = json!("yesterday");
    let (st, v) = s.call("PUT", &path, Some(&alpha), Some(&body));
    assert_eq!(st, 400);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("extents[0].time_start"),
        "{v}"
    );

    // Wrong JSON type: the path of the field is named.
    let mut body = intent_body(vec![volume(46.0, 7.0, 0.01, 10, 70)], vec![]);
    body["extents"][0]["volume"]["altitude_upper"]["value"] = json!("high");
    let (st, v) = s.call("PUT", &path, Some(&alpha), Some(&body));
    assert_eq!(st, 400);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("extents[0].volume.altitude_upper.value"),
        "{v}"
    );

    // Too large an area (a 1°x1° box, ~8,000 km² at 46°N).
    let body = intent_body(vec![volume(46.0, 7.0, 0.5, 10, 70)], vec![]);
    let (st, v) = s.call("PUT", &path, Some(&alpha), Some(&body));
    assert_eq!(st, 400, "{v}");

    // Not JSON at all, and a bad id.
    let (st, v) = s.raw("PUT", &path, &alpha, b"{not json".to_vec());
    assert_eq!(st, 400, "{v}");
    // A valid body followed by anything else is not one JSON value.
    let mut bytes =
        serde_json::to_vec(&intent_body(vec![volume(46.0, 7.0, 0.01, 10, 70)], vec![])).unwrap();
    bytes.extend_from_slice(b" {}");
    let (st, v) = s.raw("PUT", &path, &alpha, bytes);
    assert_eq!(st, 400, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("trailing characters"),
        "{v}"
    );
    let (st, v) = s.call("GET", &format!("{OIR}/not-a-uuid"), Some(&alpha), None);
    assert_eq!(st, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("entityid"));

    // Creating as Ended is refused.
    let mut body = intent_body(vec![volume(46.0, 7.0, 0.01, 10, 70)], vec![]);
    body["state"] = json!("Ended");
    let (st, _) = s.call("PUT", &path, Some(&alpha), Some(&body));
    assert_eq!(st, 400);

    // Nothing of all that was stored.
    let (st, _) = s.call("GET", &path, Some(&alpha), None);
    assert_eq!(st, 404);
}

#[test]
fn body_over_the_limit_is_413() {
    let s = Server::start();
    let alpha = s.token("alpha", &[SC]);
    let big = vec![b' '; 2 << 20];
    let (st, v) = s.raw("POST", &format!("{OIR}/query"), &alpha, big);
    assert_eq!(st, 413, "{v}");
    assert!(v["message"].is_string());
}

#[test]
fn unknown_fields_are_accepted() {
    let s = Server::start();
    let alpha = s.token("alpha", &[SC]);
    let mut body = intent_body(vec![volume(46.0, 7.0, 0.01, 10, 70)], vec![]);
    body["old_version"] = json!(0);
    body["something_new"] = json!({"x": 1});
    let (st, v) = s.call(
        "PUT",
        &format!("{OIR}/{}", new_id()),
        Some(&alpha),
        Some(&body),
    );
    assert_eq!(st, 201, "{v}");
}

#[test]
fn everything_acknowledged_survives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start_in(tmp.path(), &[]);
    let alpha = s.token("alpha", &[SC]);
    let mut ids = Vec::new();
    for i in 0..20 {
        let id = new_id();
        let body = intent_body(
            vec![volume(46.0 + i as f64 * 0.05, 7.0, 0.01, 10, 70)],
            vec![],
        );
        let (st, v) = s.call("PUT", &format!("{OIR}/{id}"), Some(&alpha), Some(&body));
        assert_eq!(st, 201, "{v}");
        ids.push((id, v["operational_intent_reference"].clone()));
    }
    // SIGKILL: no chance to flush anything that was not already durable.
    let mut s = s;
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    drop(s);
    let s = Server::start_in(tmp.path(), &[]);
    for (id, before) in &ids {
        let (st, v) = s.call("GET", &format!("{OIR}/{id}"), Some(&alpha), None);
        assert_eq!(st, 200);
        assert_eq!(&v["operational_intent_reference"], before);
    }
}

#[test]
fn availability_and_reports() {
    let s = Server::start();
    let aa = s.token("arbiter", &[AA]);
    let (st, v) = s.call("GET", "/dss/v1/uss_availability/uss9", Some(&aa), None);
    assert_eq!(st, 200);
    assert_eq!(v["status"]["availability"], "Unknown");
    assert_eq!(v["version"], "");
    let (st, v) = s.call(
        "PUT",
        "/dss/v1/uss_availability/uss9",
        Some(&aa),
        Some(&json!({"old_version": "", "availability": "Down"})),
    );
    assert_eq!(st, 200, "{v}");
    let version = v["version"].as_str().unwrap().to_string();
    let (st, _) = s.call(
        "PUT",
        "/dss/v1/uss_availability/uss9",
        Some(&aa),
        Some(&json!({"old_version": "stale", "availability": "Normal"})),
    );
    assert_eq!(st, 409);
    let (st, v) = s.call(
        "PUT",
        "/dss/v1/uss_availability/uss9",
        Some(&aa),
        Some(&json!({"old_version": version, "availability": "Normal"})),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["status"]["availability"], "Normal");

    let sc = s.token("alpha", &[SC]);
    let (st, v) = s.call(
        "POST",
        "/dss/v1/reports",
        Some(&sc),
        Some(&json!({"exchange": {"url": "https://x", "method": "GET", "recorder_role": "Client",
                                  "request_time": {"value": "2030-01-01T00:00:00Z", "format": "RFC3339"},
                                  "request_source": "test"}})),
    );
    assert_eq!(st, 201, "{v}");
    assert!(v["report_id"].is_string());

    // Every field of the ExchangeRecord is checked against the spec's schema.
    let good = json!({"url": "https://x", "method": "GET", "recorder_role": "Client",
                      "request_time": {"value": "2030-01-01T00:00:00Z", "format": "RFC3339"},
                      "request_source": null, "headers": ["Authorization: Bearer x"],
                      "response_code": 500, "problem": "timeout"});
    let cases: [(&str, Value, &str); 10] = [
        ("problem", Value::Null, "exchange.problem"),
        ("response_time", Value::Null, "exchange.response_time"),
        ("url", json!(17), "exchange.url"),
        ("headers", json!("Authorization"), "exchange.headers"),
        ("headers", json!([1, 2]), "exchange.headers[0]"),
        ("response_code", json!("500"), "exchange.response_code"),
        ("response_code", json!(1u64 << 40), "exchange.response_code"),
        (
            "recorder_role",
            json!("Bystander"),
            "exchange.recorder_role",
        ),
        (
            "request_time",
            json!({"value": "yesterday", "format": "RFC3339"}),
            "exchange.request_time.value",
        ),
        (
            "response_time",
            json!({"value": "2030-01-01T00:00:00Z"}),
            "exchange.response_time",
        ),
    ];
    for (field, bad, named) in cases {
        let mut exchange = good.clone();
        exchange[field] = bad;
        let (st, v) = s.call(
            "POST",
            "/dss/v1/reports",
            Some(&sc),
            Some(&json!({"exchange": exchange})),
        );
        assert_eq!(st, 400, "{field}: {v}");
        assert!(
            v["message"].as_str().unwrap().contains(named),
            "{field}: {v}"
        );
    }
    for required in ["url", "method", "recorder_role", "request_time"] {
        let mut exchange = good.clone();
        exchange.as_object_mut().unwrap().remove(required);
        let (st, v) = s.call(
            "POST",
            "/dss/v1/reports",
            Some(&sc),
            Some(&json!({"exchange": exchange})),
        );
        assert_eq!(st, 400, "{required}: {v}");
        assert!(
            v["message"].as_str().unwrap().contains(required),
            "{required}: {v}"
        );
    }
    let (st, v) = s.call(
        "POST",
        "/dss/v1/reports",
        Some(&sc),
        Some(&json!({"exchange": good})),
    );
    assert_eq!(st, 201, "{v}");
    // As the InterUSS qualifier sends it: no `request_source` (the spec
    // lists it as required but never defines it).
    let mut exchange = good.clone();
    exchange.as_object_mut().unwrap().remove("request_source");
    let (st, v) = s.call(
        "POST",
        "/dss/v1/reports",
        Some(&sc),
        Some(&json!({"exchange": exchange})),
    );
    assert_eq!(st, 201, "{v}");
    // ...and the report kept says so, with every field the schema requires.
    assert!(v["exchange"]["request_source"].is_null(), "{v}");
    assert!(
        v["exchange"]
            .as_object()
            .unwrap()
            .contains_key("request_source"),
        "{v}"
    );
}

#[test]
fn health_and_metrics() {
    let s = Server::start();
    let metrics = || {
        s.http
            .get(format!("{}/metrics", s.base))
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    let alpha = s.token("alpha", &[SC]);
    let _ = s.call("GET", &format!("{OIR}/{}", new_id()), Some(&alpha), None);
    let (st, _) = s.call("GET", "/healthy", None, None);
    assert_eq!(st, 200);
    let text = metrics();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains("http_request_duration_seconds"));
    assert!(text.contains(r#"status="404""#));
    // A write: the checkpointer copies it into the database file and
    // flushes that itself, not leaving it to the writer.
    let id = new_id();
    let body = intent_body(vec![volume(46.0, 7.0, 0.01, 10, 70)], vec![]);
    let (st, _) = s.call("PUT", &format!("{OIR}/{id}"), Some(&alpha), Some(&body));
    assert_eq!(st, 201);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = metrics();
        if text.contains("sqlite_checkpoint_flush_seconds_count") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no flush of the database file after a write: {text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn sigterm_stops_gracefully_and_keeps_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start_in(tmp.path(), &[]);
    let alpha = s.token("alpha", &[SC]);
    let id = new_id();
    let body = intent_body(vec![volume(46.0, 7.0, 0.01, 10, 70)], vec![]);
    let (st, _) = s.call("PUT", &format!("{OIR}/{id}"), Some(&alpha), Some(&body));
    assert_eq!(st, 201);
    let mut s = s;
    let pid = s.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "did not stop on SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    drop(s);
    let s = Server::start_in(tmp.path(), &[]);
    let (st, _) = s.call("GET", &format!("{OIR}/{id}"), Some(&alpha), None);
    assert_eq!(st, 200);
}

#[test]
fn constraints_notify_subscribers_that_asked_for_them() {
    let s = Server::start();
    let cm = s.token("authority", &[CM]);
    let sc = s.token("alpha", &[SC, CP]);
    let sub_id = new_id();
    let now = chrono::Utc::now();
    let (st, sub) = s.call(
        "PUT",
        &format!("/dss/v1/subscriptions/{sub_id}"),
        Some(&sc),
        Some(&json!({
            "extents": {
                "volume": {"outline_circle": {"center": {"lat": 46.0, "lng": 7.0}, "radius": {"value": 3000, "units": "M"}}},
                "time_start": {"value": iso(now), "format": "RFC3339"},
                "time_end": {"value": iso(now + chrono::Duration::hours(2)), "format": "RFC3339"}
            },
            "uss_base_url": "https://uss.example/alpha",
            "notify_for_operational_intents": false,
            "notify_for_constraints": true
        })),
    );
    assert_eq!(st, 200, "{sub}");
    // A constraint without altitude bounds (unbounded) is legal.
    let mut v = volume(46.0, 7.0, 0.01, 0, 60);
    v["volume"]
        .as_object_mut()
        .unwrap()
        .remove("altitude_lower");
    v["volume"]
        .as_object_mut()
        .unwrap()
        .remove("altitude_upper");
    let cid = new_id();
    let (st, c) = s.call(
        "PUT",
        &format!("/dss/v1/constraint_references/{cid}"),
        Some(&cm),
        Some(&json!({"extents": [v], "uss_base_url": "https://authority.example"})),
    );
    assert_eq!(st, 201, "{c}");
    let subs = &c["subscribers"];
    assert_eq!(
        subs[0]["subscriptions"][0]["subscription_id"],
        sub_id.as_str(),
        "{c}"
    );
    assert_eq!(subs[0]["subscriptions"][0]["notification_index"], 1);
    // The strategic-coordination token cannot write constraints.
    let (st, _) = s.call(
        "PUT",
        &format!("/dss/v1/constraint_references/{}", new_id()),
        Some(&sc),
        Some(&json!({"extents": [volume(46.0, 7.0, 0.01, 0, 60)], "uss_base_url": "https://x.example"})),
    );
    assert_eq!(st, 403);
}

#[test]
fn ended_intents_are_removed_by_the_service() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start_in(tmp.path(), &["--expiry-interval-s", "1"]);
    let alpha = s.token("alpha", &[SC]);
    let id = new_id();
    let now = chrono::Utc::now();
    let mut v = volume(46.0, 7.0, 0.01, 0, 1);
    v["time_start"]["value"] = json!(iso(now));
    v["time_end"]["value"] = json!(iso(now + chrono::Duration::seconds(2)));
    let (st, created) = s.call(
        "PUT",
        &format!("{OIR}/{id}"),
        Some(&alpha),
        Some(&intent_body(vec![v], vec![])),
    );
    assert_eq!(st, 201, "{created}");
    let sub = created["operational_intent_reference"]["subscription_id"]
        .as_str()
        .unwrap()
        .to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (st, _) = s.call("GET", &format!("{OIR}/{id}"), Some(&alpha), None);
        if st == 404 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ended intent still there"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // Its implicit subscription went with it.
    let (st, _) = s.call(
        "GET",
        &format!("/dss/v1/subscriptions/{sub}"),
        Some(&alpha),
        None,
    );
    assert_eq!(st, 404);
}

#[test]
fn a_refused_request_with_an_unread_body_keeps_the_connection_usable() {
    // Clients send bodies on DELETE; a refusal that never reads the body must
    // not leave bytes behind on the kept-alive connection (hyper would close it
    // under the client's next request). Two requests pipelined on one socket.
    use std::io::{Read, Write};
    let s = Server::start();
    let bravo = s.token("bravo", &[SC]);
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut sock = std::net::TcpStream::connect(&addr).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let body = format!("{{\"padding\": \"{}\"}}", "x".repeat(300_000));
    let path = format!("{OIR}/{}/some-ovn-some-ovn-1", new_id());
    let mut req = Vec::new();
    for _ in 0..2 {
        req.extend_from_slice(
            format!(
                "DELETE {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {bravo}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
    }
    sock.write_all(&req).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while got.windows(12).filter(|w| w == b"HTTP/1.1 404").count() < 2 {
        match sock.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert_eq!(text.matches("HTTP/1.1 404").count(), 2, "{text}");
}
