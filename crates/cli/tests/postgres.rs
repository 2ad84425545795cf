//! The service on PostgreSQL (`--store postgres://...`), black-box: what it
//! acknowledges survives a restart and a SIGKILL, and the record verifies.
//! PostgreSQL runs at 127.0.0.1:5432 on these machines (trust auth); each
//! test creates and drops its own database. Without a server the tests fail
//! unless DECONFLICT_SKIP_PG=1.

mod common;

use common::pg::Db;
use common::{bin, intent_body, iso, new_id, volume, Server, SC};
use std::process::Command;

#[test]
fn on_postgres_acknowledged_writes_survive_restart_and_sigkill_and_the_record_verifies() {
    let Some(db) = Db::create() else { return };
    let url = db.url();
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start_in(
        tmp.path(),
        &["--store", &url, "--checkpoint-interval-s", "0.1"],
    );
    let alpha = s.token("alpha", &[SC]);
    let bravo = s.token("bravo", &[SC]);

    let id = new_id();
    let (st, a) = s.call(
        "PUT",
        &format!("/dss/v1/operational_intent_references/{id}"),
        Some(&alpha),
        Some(&intent_body(
            vec![volume(46.0, 7.0, 0.01, 120, 180)],
            vec![],
        )),
    );
    assert_eq!(st, 201, "{a}");
    let ovn = a["operational_intent_reference"]["ovn"]
        .as_str()
        .unwrap()
        .to_string();
    // Bravo's intersecting declaration without the key: 409 naming alpha's.
    let (st, v) = s.call(
        "PUT",
        &format!("/dss/v1/operational_intent_references/{}", new_id()),
        Some(&bravo),
        Some(&intent_body(
            vec![volume(46.0, 7.0, 0.01, 120, 180)],
            vec![],
        )),
    );
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["missing_operational_intents"][0]["id"], id.as_str());

    // SIGKILL: no graceful flush. What was acknowledged is there after.
    let key = s
        .http
        .get(format!("{}/v1/log/key", s.base))
        .bearer_auth(&alpha)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let mut s = s;
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    drop(s);

    let s = Server::start_in(
        tmp.path(),
        &["--store", &url, "--checkpoint-interval-s", "0.1"],
    );
    let (st, v) = s.call(
        "GET",
        &format!("/dss/v1/operational_intent_references/{id}"),
        Some(&alpha),
        None,
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["operational_intent_reference"]["ovn"], ovn.as_str());
    // The record, rebuilt from PostgreSQL, verifies with the same key.
    let out = Command::new(bin())
        .args([
            "verify",
            "--key",
            key.trim(),
            "--server",
            &s.base,
            "--token",
            &alpha,
            "--entry",
            "0",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    s.stop();
}

#[test]
fn a_store_url_that_is_not_postgres_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--store",
            "mysql://x",
            "--data-dir",
        ])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected postgres://"));
}

#[test]
fn a_pool_of_three_instances_behaves_as_one_service() {
    let Some(db) = Db::create() else { return };
    let url = db.url();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let pool: Vec<Server> = dirs
        .iter()
        .map(|d| {
            Server::start_in(
                d.path(),
                &["--store", &url, "--checkpoint-interval-s", "0.1"],
            )
        })
        .collect();
    // Tokens: each instance has its own development key; mint per instance.
    let alpha: Vec<String> = pool.iter().map(|s| s.token("alpha", &[SC])).collect();
    let bravo: Vec<String> = pool.iter().map(|s| s.token("bravo", &[SC])).collect();

    // Alpha subscribes on instance 0.
    let sub_id = new_id();
    let now = chrono::Utc::now();
    let (st, v) = pool[0].call(
        "PUT",
        &format!("/dss/v1/subscriptions/{sub_id}"),
        Some(&alpha[0]),
        Some(&serde_json::json!({
            "extents": volume(46.0, 7.0, 0.05, 0, 600),
            "uss_base_url": "https://uss.example/alpha",
            "notify_for_operational_intents": true,
            "notify_for_constraints": false
        })),
    );
    assert_eq!(st, 200, "{v}");
    let _ = now;

    // A write acknowledged by one instance is visible on every other at once.
    let id = new_id();
    let (st, a) = pool[1].call(
        "PUT",
        &format!("/dss/v1/operational_intent_references/{id}"),
        Some(&bravo[1]),
        Some(&intent_body(
            vec![volume(46.0, 7.0, 0.01, 120, 180)],
            vec![],
        )),
    );
    assert_eq!(st, 201, "{a}");
    let ovn = a["operational_intent_reference"]["ovn"]
        .as_str()
        .unwrap()
        .to_string();
    let idx0 = a["subscribers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["subscriptions"].as_array().unwrap().clone())
        .find(|s| s["subscription_id"] == sub_id.as_str())
        .unwrap()["notification_index"]
        .as_u64()
        .unwrap();
    for (i, s) in pool.iter().enumerate() {
        let (st, v) = s.call(
            "GET",
            &format!("/dss/v1/operational_intent_references/{id}"),
            Some(&alpha[i]),
            None,
        );
        assert_eq!(st, 200, "instance {i}: {v}");
    }
    // The key check on another instance sees it: a conflicting write on
    // instance 2 without the OVN is refused, naming it.
    let (st, v) = pool[2].call(
        "PUT",
        &format!("/dss/v1/operational_intent_references/{}", new_id()),
        Some(&alpha[2]),
        Some(&intent_body(
            vec![volume(46.0, 7.0, 0.01, 120, 180)],
            vec![],
        )),
    );
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["missing_operational_intents"][0]["id"], id.as_str());
    // With the key, accepted; the subscription's notification index
    // continues from where instance 1 left it.
    let (st, v) = pool[2].call(
        "PUT",
        &format!("/dss/v1/operational_intent_references/{}", new_id()),
        Some(&alpha[2]),
        Some(&intent_body(
            vec![volume(46.0, 7.0, 0.01, 120, 180)],
            vec![ovn],
        )),
    );
    assert_eq!(st, 201, "{v}");
    let (_, s0) = pool[0].call(
        "GET",
        &format!("/dss/v1/subscriptions/{sub_id}"),
        Some(&alpha[0]),
        None,
    );
    assert_eq!(
        s0["subscription"]["notification_index"].as_u64().unwrap(),
        idx0 + 1,
        "{s0}"
    );

    // One record: the instances serve the same signed checkpoint once idle.
    std::thread::sleep(std::time::Duration::from_millis(800));
    let notes: Vec<String> = pool
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.http
                .get(format!("{}/v1/log/checkpoint", s.base))
                .bearer_auth(&alpha[i])
                .send()
                .unwrap()
                .text()
                .unwrap()
        })
        .collect();
    assert_eq!(notes[0], notes[1]);
    assert_eq!(notes[1], notes[2]);
    for s in pool {
        s.stop();
    }
}

#[test]
fn remote_id_in_a_pool_is_one_service() {
    let Some(db) = Db::create() else { return };
    let url = db.url();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let pool: Vec<Server> = dirs
        .iter()
        .map(|d| Server::start_in(d.path(), &["--store", &url]))
        .collect();
    let dp: Vec<String> = pool
        .iter()
        .map(|s| s.token("dp1", &["rid.display_provider"]))
        .collect();
    let sp: Vec<String> = pool
        .iter()
        .map(|s| s.token("sp1", &["rid.service_provider"]))
        .collect();
    let read19 = pool[0].token("dp1", &["dss.read.identification_service_areas"]);
    let square = serde_json::json!({"vertices": [
        {"lat": 37.19, "lng": -80.61}, {"lat": 37.19, "lng": -80.59},
        {"lat": 37.21, "lng": -80.59}, {"lat": 37.21, "lng": -80.61}]});
    let t = |m: i64| serde_json::json!({"value": iso(chrono::Utc::now() + chrono::Duration::minutes(m)), "format": "RFC3339"});

    let sub_id = new_id();
    let (st, v) = pool[0].call(
        "PUT",
        &format!("/rid/v2/dss/subscriptions/{sub_id}"),
        Some(&dp[0]),
        Some(
            &serde_json::json!({"extents": {"volume": {"outline_polygon": square}},
                                 "uss_base_url": "https://dp.example/rid"}),
        ),
    );
    assert_eq!(st, 200, "{v}");

    // An ISA made on instance 1 names the subscription made on instance 0.
    let isa_id = new_id();
    let (st, v) = pool[1].call(
        "PUT",
        &format!("/rid/v2/dss/identification_service_areas/{isa_id}"),
        Some(&sp[1]),
        Some(
            &serde_json::json!({"extents": {"volume": {"outline_polygon": square},
                                             "time_start": t(0), "time_end": t(30)},
                                 "uss_base_url": "https://sp.example/rid"}),
        ),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["subscribers"][0]["subscriptions"][0]["notification_index"], 1,
        "{v}"
    );
    let version = v["service_area"]["version"].as_str().unwrap().to_string();

    // Instance 0 sees it at once (through F3411-19 too), and deletes it.
    let (st, v) = pool[0].call(
        "GET",
        &format!("/v1/dss/identification_service_areas/{isa_id}"),
        Some(&read19),
        None,
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["service_area"]["version"], version.as_str());
    let sp0 = pool[0].token("sp1", &["rid.service_provider"]);
    let (st, v) = pool[0].call(
        "DELETE",
        &format!("/rid/v2/dss/identification_service_areas/{isa_id}/{version}"),
        Some(&sp0),
        None,
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["subscribers"][0]["subscriptions"][0]["notification_index"], 2,
        "{v}"
    );
    let (_, v) = pool[1].call(
        "GET",
        &format!("/rid/v2/dss/subscriptions/{sub_id}"),
        Some(&dp[1]),
        None,
    );
    assert_eq!(v["subscription"]["notification_index"], 2, "{v}");
    let (st, _) = pool[1].call(
        "GET",
        &format!("/rid/v2/dss/identification_service_areas/{isa_id}"),
        Some(&dp[1]),
        None,
    );
    assert_eq!(st, 404);
}
