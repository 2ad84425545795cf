//! Race test: many concurrent clients of several parties declare intents in
//! one small area where every volume meets every other, each building its
//! key from what it just queried: on SQLite, on PostgreSQL, and on a pool of
//! three instances over one PostgreSQL database with the clients spread over
//! the instances.
//!
//! The OVNs of other parties are not in query answers; a client gets them
//! from a shared table standing in for the USS-to-USS channel, where each
//! client publishes its intent's OVN once the service acknowledged it. Keys
//! are therefore often stale by the time the write arrives, which is the
//! point: the service must refuse those.
//!
//! Checked from the clients' logs alone (2xx answers, the keys sent):
//!
//! - No two accepted declarations that meet were blind to each other: for
//!   accepted versions A and B of two intents, B's key holds A's OVN, or A's
//!   key holds B's, or one of the keys holds the OVN of a later version of
//!   the other intent (A was superseded before B was accepted). Under any
//!   serial order of a correct service one of these holds, and a declaration
//!   accepted with a key that missed the current OVN of anything it meets
//!   breaks all four.
//! - Notification indices never skip or repeat: the indices reported for one
//!   subscription across all answers are distinct and consecutive, end at
//!   the index the subscription shows afterwards, and the observer's
//!   subscription (which covers the area) is reported once per accepted
//!   write.
//! - The final state is exactly the last accepted version of every intent.
//!
//! RELIABILITY_RACE_ATTEMPTS (default 150) sets the writes per client.

mod common;
mod reliability_support;

use common::*;
use reliability_support::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PARTIES: usize = 4;
const CLIENTS: usize = 16;
const LAT: f64 = 46.5;
const LNG: f64 = 6.6;

/// One accepted write, as its client saw it.
#[derive(Clone, Debug)]
struct Accepted {
    id: String,
    party: usize,
    version: u64,
    ovn: String,
    key: BTreeSet<String>,
    /// (subscription id, notification index) from `subscribers`.
    notified: Vec<(String, u64)>,
}

#[derive(Default)]
struct Log {
    accepted: Vec<Accepted>,
    attempts: u64,
    conflicts: u64,
    failures: Vec<String>,
}

/// The "USS-to-USS channel": each intent's latest acknowledged version and
/// OVN, as its manager would tell any other party that asks.
type Channel = Arc<Mutex<HashMap<String, (u64, String)>>>;

fn party_name(p: usize) -> String {
    format!("party{p}")
}

fn notified(v: &Value) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for s in v["subscribers"].as_array().into_iter().flatten() {
        for sub in s["subscriptions"].as_array().into_iter().flatten() {
            out.push((
                sub["subscription_id"].as_str().unwrap_or("").to_string(),
                sub["notification_index"].as_u64().unwrap_or(u64::MAX),
            ));
        }
    }
    out
}

fn client_loop(
    base: String,
    party: usize,
    token: String,
    channel: Channel,
    log: Arc<Mutex<Log>>,
    attempts: usize,
    seed: u64,
) {
    let http = client(Duration::from_secs(30));
    let mut rng = Rng::new(seed);
    let url = format!("https://uss.example/{}", party_name(party));
    // This client's intents: id -> (ovn, subscription id).
    let mut mine: Vec<(String, String, String)> = Vec::new();
    let area = json!({"area_of_interest": volume(LAT, LNG, 0.004, 0, 240)});
    for _ in 0..attempts {
        // Read the area, then ask each manager (the channel) for its OVN.
        let q = http
            .post(format!("{base}/dss/v1/operational_intent_references/query"))
            .bearer_auth(&token)
            .json(&area)
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.json::<Value>());
        let q = match q {
            Ok(q) => q,
            Err(e) => {
                log.lock().unwrap().failures.push(format!("query: {e}"));
                return;
            }
        };
        let mut key = BTreeSet::new();
        {
            let ch = channel.lock().unwrap();
            for o in q["operational_intent_references"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let id = o["id"].as_str().unwrap_or("");
                if o["manager"] == party_name(party).as_str() {
                    key.insert(o["ovn"].as_str().unwrap_or("").to_string());
                } else if let Some((_, ovn)) = ch.get(id) {
                    key.insert(ovn.clone());
                }
            }
        }
        // Every volume meets every other: squares of ±0.002° whose centres
        // are within 0.001° of each other; overlapping times, one band.
        let lat = LAT + (rng.range(0, 1000) as f64 - 500.0) * 1e-6;
        let lng = LNG + (rng.range(0, 1000) as f64 - 500.0) * 1e-6;
        let start = 60 + rng.range(0, 10) as i64;
        let ext = vec![volume(lat, lng, 0.002, start, start + 60)];
        let mut body = intent_body(ext, key.iter().cloned().collect());
        body["uss_base_url"] = json!(url);
        let update = !mine.is_empty() && (mine.len() >= 2 || rng.chance(0.5));
        let (path, idx) = if update {
            let i = rng.range(0, mine.len() as u64) as usize;
            let (id, ovn, sub) = &mine[i];
            body.as_object_mut().unwrap().remove("new_subscription");
            body["subscription_id"] = json!(sub);
            (
                format!("{base}/dss/v1/operational_intent_references/{id}/{ovn}"),
                Some(i),
            )
        } else {
            body["new_subscription"]["uss_base_url"] = json!(url);
            (
                format!("{base}/dss/v1/operational_intent_references/{}", new_id()),
                None,
            )
        };
        let resp = http.put(&path).bearer_auth(&token).json(&body).send();
        let mut log = log.lock().unwrap();
        log.attempts += 1;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                log.failures.push(format!("PUT {path}: {e}"));
                return;
            }
        };
        let status = resp.status().as_u16();
        let v: Value = resp.json().unwrap_or(Value::Null);
        match status {
            200 | 201 => {
                let oi = &v["operational_intent_reference"];
                let a = Accepted {
                    id: oi["id"].as_str().unwrap_or("").to_string(),
                    party,
                    version: oi["version"].as_u64().unwrap_or(0),
                    ovn: oi["ovn"].as_str().unwrap_or("").to_string(),
                    key: key.clone(),
                    notified: notified(&v),
                };
                let sub = oi["subscription_id"].as_str().unwrap_or("").to_string();
                match idx {
                    Some(i) => mine[i] = (a.id.clone(), a.ovn.clone(), sub),
                    None => mine.push((a.id.clone(), a.ovn.clone(), sub)),
                }
                // Publish only after the 2xx: what the manager can vouch for.
                let mut ch = channel.lock().unwrap();
                let e = ch.entry(a.id.clone()).or_insert((0, String::new()));
                if e.0 < a.version {
                    *e = (a.version, a.ovn.clone());
                }
                log.accepted.push(a);
            }
            // A stale key: the next round queries again. (Our own OVN is
            // never stale: each intent is written by one client only.)
            409 => log.conflicts += 1,
            _ => log
                .failures
                .push(format!("PUT {path}: unexpected {status} {v}")),
        }
    }
}

/// Pairs of accepted writes (of different intents, all of which meet) that
/// were blind to each other: neither key holds the other's OVN nor the OVN
/// of a later version of the other intent. Returns them with the number of
/// pairs checked and how many of those were across parties.
fn blind_pairs(acc: &[Accepted]) -> (Vec<String>, u64, u64) {
    let mut versions: HashMap<&str, BTreeMap<u64, &str>> = HashMap::new();
    for a in acc {
        let prev = versions
            .entry(a.id.as_str())
            .or_default()
            .insert(a.version, a.ovn.as_str());
        assert!(
            prev.is_none(),
            "version {} of {} accepted twice",
            a.version,
            a.id
        );
    }
    let later_in_key = |of: &Accepted, key: &BTreeSet<String>| {
        versions[of.id.as_str()]
            .range(of.version + 1..)
            .any(|(_, ovn)| key.contains(*ovn))
    };
    let (mut pairs, mut cross_party) = (0u64, 0u64);
    let mut blind = Vec::new();
    for (i, a) in acc.iter().enumerate() {
        for b in &acc[i + 1..] {
            if a.id == b.id {
                continue;
            }
            pairs += 1;
            if a.party != b.party {
                cross_party += 1;
            }
            let ok = b.key.contains(&a.ovn)
                || a.key.contains(&b.ovn)
                || later_in_key(a, &b.key)
                || later_in_key(b, &a.key);
            if !ok {
                blind.push(format!(
                    "{} v{} ({}) and {} v{} ({}): neither key holds the other",
                    a.id,
                    a.version,
                    party_name(a.party),
                    b.id,
                    b.version,
                    party_name(b.party)
                ));
            }
        }
    }
    (blind, pairs, cross_party)
}

/// The notification indices reported for one subscription, across all
/// answers: each of 1..=now exactly once (the subscription's own creation
/// reports 1, as an implicit one does, or it starts at 0 and its first
/// dispatch is 1).
fn one_per_dispatch(mut seen: Vec<u64>, now: u64) -> Result<(), String> {
    seen.sort_unstable();
    let want: Vec<u64> = (1..=now).collect();
    if seen == want {
        return Ok(());
    }
    let mut dup: Vec<u64> = seen
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    dup.dedup();
    let missing: Vec<u64> = want
        .iter()
        .filter(|n| seen.binary_search(n).is_err())
        .copied()
        .collect();
    Err(format!(
        "expected each of 1..={now} once; repeated {dup:?}, skipped {missing:?}, reported {} times",
        seen.len()
    ))
}

/// Runs the race on `instances` servers over one store (a pool when more
/// than one: PostgreSQL only), clients spread over them.
fn race(store: &[&str], name: &str, instances: usize) {
    let started = Instant::now();
    let attempts: usize = std::env::var("RELIABILITY_RACE_ATTEMPTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(150);
    let mut rng = Rng::from_env(name);
    let mut args = vec!["--rate-limit-per-s", "0"];
    args.extend_from_slice(store);
    let tmps: Vec<_> = (0..instances)
        .map(|_| tempfile::tempdir().unwrap())
        .collect();
    let servers: Vec<Server> = tmps
        .iter()
        .map(|t| Server::start_in(t.path(), &args))
        .collect();
    // Each instance has its own development key: tokens per instance.
    let tokens_at: Vec<Vec<String>> = servers
        .iter()
        .map(|s| {
            (0..PARTIES)
                .map(|p| s.token(&party_name(p), &[SC]))
                .collect()
        })
        .collect();
    let watchers: Vec<String> = servers.iter().map(|s| s.token("watcher", &[SC])).collect();
    let s = &servers[0];
    let tokens = &tokens_at[0];
    let watcher = &watchers[0];

    // The observer's subscription over the whole area: notified of every write.
    let watch_id = new_id();
    let (st, v) = s.call(
        "PUT",
        &format!("/dss/v1/subscriptions/{watch_id}"),
        Some(watcher),
        Some(&json!({"extents": volume(LAT, LNG, 0.01, 0, 300),
                     "uss_base_url": "https://uss.example/watcher",
                     "notify_for_operational_intents": true,
                     "notify_for_constraints": false})),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["subscription"]["notification_index"], 0);

    let channel: Channel = Arc::default();
    let log: Arc<Mutex<Log>> = Arc::default();
    let handles: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let i = c % instances;
            let (base, token) = (servers[i].base.clone(), tokens_at[i][c % PARTIES].clone());
            let (channel, log) = (channel.clone(), log.clone());
            let seed = rng.next_u64();
            std::thread::spawn(move || {
                client_loop(base, c % PARTIES, token, channel, log, attempts, seed)
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let load_time = started.elapsed();
    let log = std::mem::take(&mut *log.lock().unwrap());
    assert!(
        log.failures.is_empty(),
        "{} client failures:\n{}",
        log.failures.len(),
        log.failures.join("\n")
    );
    let acc = &log.accepted;

    // --- no two accepted declarations blind to each other
    let (blind, pairs, cross_party) = blind_pairs(acc);
    assert!(
        blind.is_empty(),
        "{} pairs of intersecting intents both accepted blind to each other:\n{}",
        blind.len(),
        blind.join("\n")
    );
    let mut versions: HashMap<&str, BTreeMap<u64, &str>> = HashMap::new();
    for a in acc {
        versions
            .entry(a.id.as_str())
            .or_default()
            .insert(a.version, a.ovn.as_str());
    }

    // --- notification indices: no skip, no repeat
    let mut by_sub: HashMap<&str, Vec<u64>> = HashMap::new();
    for a in acc {
        for (sid, n) in &a.notified {
            by_sub.entry(sid.as_str()).or_default().push(*n);
        }
    }
    let watched = by_sub.get(watch_id.as_str()).cloned().unwrap_or_default();
    assert_eq!(
        watched.len(),
        acc.len(),
        "the observer's subscription was reported {} times for {} accepted writes",
        watched.len(),
        acc.len()
    );
    if let Err(e) = one_per_dispatch(watched, acc.len() as u64) {
        panic!("observer's subscription {watch_id}: {e}");
    }
    let (st, v) = s.call(
        "GET",
        &format!("/dss/v1/subscriptions/{watch_id}"),
        Some(watcher),
        None,
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["subscription"]["notification_index"],
        acc.len() as u64,
        "the observer's subscription index"
    );
    // Every implicit subscription: distinct, consecutive, ending where the
    // subscription now stands.
    let owner_of: HashMap<&str, usize> = acc.iter().map(|a| (a.id.as_str(), a.party)).collect();
    let mut implicit_checked = 0;
    for (id, latest) in &versions {
        let party = owner_of[id];
        let (st, v) = s.call(
            "GET",
            &format!("/dss/v1/operational_intent_references/{id}"),
            Some(&tokens[party]),
            None,
        );
        assert_eq!(st, 200, "accepted intent {id} is missing: {v}");
        let oi = &v["operational_intent_reference"];
        let (&last_v, &last_ovn) = latest.iter().next_back().unwrap();
        assert_eq!(oi["version"], last_v, "{id}: not its last accepted version");
        assert_eq!(oi["ovn"], last_ovn, "{id}: not its last accepted OVN");
        let sid = oi["subscription_id"].as_str().unwrap();
        let (st, v) = s.call(
            "GET",
            &format!("/dss/v1/subscriptions/{sid}"),
            Some(&tokens[party]),
            None,
        );
        assert_eq!(st, 200, "{v}");
        let now = v["subscription"]["notification_index"].as_u64().unwrap();
        let seen = by_sub.get(sid).cloned().unwrap_or_default();
        if let Err(e) = one_per_dispatch(seen, now) {
            panic!("implicit subscription {sid} of {id}: {e}");
        }
        implicit_checked += 1;
    }
    // Nothing else in the area.
    let (st, v) = s.call(
        "POST",
        "/dss/v1/operational_intent_references/query",
        Some(watcher),
        Some(&json!({"area_of_interest": volume(LAT, LNG, 0.01, 0, 300)})),
    );
    assert_eq!(st, 200, "{v}");
    let listed = v["operational_intent_references"].as_array().unwrap().len();
    assert_eq!(listed, versions.len(), "intents in the area vs accepted");

    let cross = acc
        .iter()
        .filter(|a| {
            !a.key.is_empty()
                && a.key
                    .iter()
                    .any(|k| acc.iter().any(|b| b.party != a.party && &b.ovn == k))
        })
        .count();
    eprintln!(
        "{name}: {CLIENTS} clients of {PARTIES} parties on {instances} instance(s), {} writes attempted, {} accepted ({} intents; {} with another party's OVN in the key), {} refused with 409; {pairs} pairs checked ({cross_party} across parties), {} subscriptions' indices checked; load {:.1} s, total {:.1} s",
        log.attempts,
        acc.len(),
        versions.len(),
        cross,
        log.conflicts,
        implicit_checked + 1,
        load_time.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        cross > 0 && log.conflicts > 0,
        "no contention: the test proved nothing"
    );
    // Every instance tells the same story.
    for (i, other) in servers.iter().enumerate().skip(1) {
        let (st, v) = other.call(
            "GET",
            &format!("/dss/v1/subscriptions/{watch_id}"),
            Some(&watchers[i]),
            None,
        );
        assert_eq!(st, 200, "instance {i}: {v}");
        assert_eq!(
            v["subscription"]["notification_index"],
            acc.len() as u64,
            "instance {i}: the observer's subscription index"
        );
        let (st, v) = other.call(
            "POST",
            "/dss/v1/operational_intent_references/query",
            Some(&watchers[i]),
            Some(&json!({"area_of_interest": volume(LAT, LNG, 0.01, 0, 300)})),
        );
        assert_eq!(st, 200, "{v}");
        assert_eq!(
            v["operational_intent_references"].as_array().unwrap().len(),
            versions.len(),
            "instance {i}: intents in the area vs accepted"
        );
    }
    for s in servers {
        s.stop();
    }
}

#[test]
fn sqlite_concurrent_declarations_never_both_accepted_blind() {
    race(&[], "sqlite", 1);
}

#[test]
fn postgres_concurrent_declarations_never_both_accepted_blind() {
    let Some(db) = Db::create() else { return };
    let url = db.url();
    race(&["--store", &url], "postgres", 1);
}

#[test]
fn postgres_pool_of_three_concurrent_declarations_never_both_accepted_blind() {
    let Some(db) = Db::create() else { return };
    let url = db.url();
    race(&["--store", &url], "postgres pool of 3", 3);
}

/// The checker itself: it must flag what a broken service would produce.
#[test]
fn the_blindness_check_flags_blind_and_stale_acceptances() {
    let w = |id: &str, party, version, ovn: &str, key: &[&str]| Accepted {
        id: id.into(),
        party,
        version,
        ovn: ovn.into(),
        key: key.iter().map(|k| k.to_string()).collect(),
        notified: vec![],
    };
    // Two first declarations, neither knowing the other: both accepted is wrong.
    let (blind, pairs, cross) = blind_pairs(&[w("a", 0, 1, "a1", &[]), w("b", 1, 1, "b1", &[])]);
    assert_eq!((blind.len(), pairs, cross), (1, 1, 1));
    // The later one knew the earlier: fine.
    let (blind, ..) = blind_pairs(&[w("a", 0, 1, "a1", &[]), w("b", 1, 1, "b1", &["a1"])]);
    assert!(blind.is_empty());
    // a was updated (a2, knowing b), then b updated knowing a2: fine, even
    // though b's first version never saw a2.
    let log = [
        w("a", 0, 1, "a1", &[]),
        w("b", 1, 1, "b1", &["a1"]),
        w("a", 0, 2, "a2", &["b1"]),
        w("b", 1, 2, "b2", &["a2"]),
    ];
    assert!(blind_pairs(&log).0.is_empty());
    // b updated with a stale key (a1 while a2 was current): wrong.
    let log = [
        w("a", 0, 1, "a1", &[]),
        w("b", 1, 1, "b1", &["a1"]),
        w("a", 0, 2, "a2", &["b1"]),
        w("b", 1, 2, "b2", &["a1"]),
    ];
    let (blind, ..) = blind_pairs(&log);
    assert_eq!(blind.len(), 1, "{blind:?}");
    assert!(blind[0].contains("a v2") && blind[0].contains("b v2"));
}

#[test]
fn the_index_check_flags_skips_and_repeats() {
    assert!(one_per_dispatch(vec![3, 1, 2], 3).is_ok());
    assert!(one_per_dispatch(vec![], 0).is_ok());
    assert!(one_per_dispatch(vec![1, 2, 2, 3], 3).is_err(), "repeat");
    assert!(one_per_dispatch(vec![1, 3], 3).is_err(), "skip");
    assert!(
        one_per_dispatch(vec![1, 2], 3).is_err(),
        "a dispatch not reported"
    );
    assert!(
        one_per_dispatch(vec![2, 3], 3).is_err(),
        "does not start at 1"
    );
}
