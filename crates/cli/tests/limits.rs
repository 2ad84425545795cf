//! Per-party rate limits through the real binary.

mod common;

use common::{Server, SC};

#[test]
fn a_party_over_its_rate_limit_gets_429_with_retry_after_and_others_do_not() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start_in(
        tmp.path(),
        &["--rate-limit-per-s", "0.5", "--rate-limit-burst", "3"],
    );
    let alpha = s.token("alpha", &[SC]);
    let bravo = s.token("bravo", &[SC]);
    let get = |t: &str| {
        s.http
            .get(format!("{}/v1/traffic/aircraft", s.base))
            .bearer_auth(t)
            .send()
            .unwrap()
    };
    for _ in 0..3 {
        assert_eq!(get(&alpha).status().as_u16(), 200);
    }
    let r = get(&alpha);
    assert_eq!(r.status().as_u16(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    let body: serde_json::Value = r.json().unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("alpha"),
        "{body}"
    );
    // Another party is not affected.
    assert_eq!(get(&bravo).status().as_u16(), 200);
    s.stop();
}
