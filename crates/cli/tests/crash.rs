//! Acknowledged writes survive SIGKILL under concurrent load: every intent the
//! service answered 201 for is there after a restart, unchanged.

mod common;
use common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn sigkill_under_concurrent_writes_loses_no_acknowledged_write() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start_in(tmp.path(), &[]);
    let token = s.token("alpha", &[SC]);
    let base = s.base.clone();
    let acked: Arc<Mutex<Vec<(String, serde_json::Value)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..6 {
        let (acked, stop, token, base) = (acked.clone(), stop.clone(), token.clone(), base.clone());
        workers.push(std::thread::spawn(move || {
            let http = reqwest::blocking::Client::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                // Disjoint squares: no key needed, every write should succeed.
                let lat = 40.0 + (w as f64) * 0.5 + (i % 200) as f64 * 0.002;
                let lng = 5.0 + (i / 200) as f64 * 0.002;
                let id = new_id();
                let r = http
                    .put(format!("{base}/dss/v1/operational_intent_references/{id}"))
                    .bearer_auth(&token)
                    .json(&intent_body(vec![volume(lat, lng, 0.0005, 10, 70)], vec![]))
                    .send();
                i += 1;
                match r {
                    Ok(resp) if resp.status().as_u16() == 201 => {
                        let v: serde_json::Value = resp.json().unwrap();
                        acked
                            .lock()
                            .unwrap()
                            .push((id, v["operational_intent_reference"].clone()));
                    }
                    Ok(resp) => panic!("unexpected status {}", resp.status()),
                    Err(_) => break, // the server is gone
                }
            }
        }));
    }
    let start = Instant::now();
    while acked.lock().unwrap().len() < 300 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut s = s;
    s.child.kill().unwrap(); // SIGKILL, mid-flight
    s.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    drop(s);
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 300,
        "only {} writes acknowledged",
        acked.len()
    );

    let s = Server::start_in(tmp.path(), &[]);
    for (id, before) in &acked {
        let (st, v) = s.call(
            "GET",
            &format!("/dss/v1/operational_intent_references/{id}"),
            Some(&token),
            None,
        );
        assert_eq!(st, 200, "acknowledged intent {id} lost");
        assert_eq!(&v["operational_intent_reference"], before);
    }
}
