//! Crash test: SIGKILL the service under write load, again and again, at
//! random moments, on SQLite and on PostgreSQL.
//!
//! Client threads (two parties) create, update and delete operational
//! intents, each in its own small square, and log every attempt with its
//! outcome: acknowledged (2xx, with the OVN and version returned), refused
//! (any other status: a failure here, since nothing conflicts) or unknown
//! (no answer: the server died under it). Before each kill the test saves the
//! record's signed checkpoint. After each restart:
//!
//! - every acknowledged write is there: the intent has the acknowledged OVN,
//!   or the next version when an unknown-outcome update of the same client
//!   followed it; an acknowledged delete is gone (unless an unknown write
//!   followed, which cannot happen after a delete here);
//! - nothing else is: a query of the whole area, by each party, lists no
//!   intent that no client tried to create, and an unknown create is either
//!   present at version 1 or absent;
//! - the record verifies: `deconflict verify --checkpoint <saved>` proves the
//!   new signed record extends the one signed before the kill, and the last
//!   acknowledged write's record entry is in it.
//!
//! RELIABILITY_CRASH_CYCLES (default 22) sets the number of kills;
//! RELIABILITY_SEED replays a run.

mod common;
mod reliability_support;

use common::*;
use reliability_support::*;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PARTIES: [&str; 2] = ["alpha", "bravo"];
const THREADS: usize = 4;
/// Grid of squares, one per intent: cell n is at row n / COLS, column n % COLS.
const COLS: u64 = 100;
const STEP: f64 = 0.001;
const HALF: f64 = 0.0004;
const LAT0: f64 = 45.0;
const LNG0: f64 = 8.0;

#[derive(Clone, Debug, PartialEq)]
enum State {
    Absent,
    Present { version: u64, ovn: String },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Create,
    Update,
    Delete,
}

#[derive(Clone, Debug)]
enum Outcome {
    Acked {
        state: State,
        log_index: Option<u64>,
    },
    /// No answer; why (shown through `Debug` in failure messages).
    Unknown(#[allow(dead_code)] String),
    Refused(u16, String),
}

#[derive(Clone, Debug)]
struct Attempt {
    op: Op,
    outcome: Outcome,
}

/// One intent as its client knows it: the state confirmed at the last check
/// and the attempts made since.
#[derive(Clone, Debug)]
struct Intent {
    id: String,
    party: usize,
    cell: u64,
    baseline: State,
    attempts: Vec<Attempt>,
}

impl Intent {
    /// The state the client believes in: the last acknowledged one.
    fn believed(&self) -> &State {
        self.attempts
            .iter()
            .rev()
            .find_map(|a| match &a.outcome {
                Outcome::Acked { state, .. } => Some(state),
                _ => None,
            })
            .unwrap_or(&self.baseline)
    }
}

fn cell_center(cell: u64) -> (f64, f64) {
    (
        LAT0 + (cell / COLS) as f64 * STEP,
        LNG0 + (cell % COLS) as f64 * STEP,
    )
}

#[derive(Default, Clone, Copy)]
struct Counts {
    attempted: u64,
    acked: u64,
    unknown: u64,
    refused: u64,
}

/// One load thread for one cycle: writes until `stop` or until a request
/// gets no answer; returns its intents with the attempts logged.
#[allow(clippy::too_many_arguments)]
fn load(
    base: String,
    party: usize,
    token: String,
    mut intents: Vec<Intent>,
    cells: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    seed: u64,
) -> Vec<Intent> {
    let http = client(Duration::from_secs(20));
    let mut rng = Rng::new(seed);
    let url = format!("https://uss.example/{}", PARTIES[party]);
    while !stop.load(Ordering::Relaxed) {
        let live: Vec<usize> = (0..intents.len())
            .filter(|&i| matches!(intents[i].believed(), State::Present { .. }))
            .collect();
        let op = if live.len() < 3 || rng.chance(0.45) {
            Op::Create
        } else if rng.chance(0.6) {
            Op::Update
        } else {
            Op::Delete
        };
        let i = match op {
            Op::Create => {
                intents.push(Intent {
                    id: new_id(),
                    party,
                    cell: cells.fetch_add(1, Ordering::SeqCst),
                    baseline: State::Absent,
                    attempts: Vec::new(),
                });
                intents.len() - 1
            }
            _ => live[rng.range(0, live.len() as u64) as usize],
        };
        let it = &intents[i];
        let (lat, lng) = cell_center(it.cell);
        let path = format!("{base}/dss/v1/operational_intent_references/{}", it.id);
        let ovn = match it.believed() {
            State::Present { ovn, .. } => ovn.clone(),
            State::Absent => String::new(),
        };
        let start = 120 + rng.range(0, 30) as i64;
        let mut body = intent_body(vec![volume(lat, lng, HALF, start, start + 60)], vec![]);
        body["uss_base_url"] = url.clone().into();
        body["new_subscription"]["uss_base_url"] = url.clone().into();
        let req = match op {
            Op::Create => http.put(&path).json(&body),
            Op::Update => http.put(format!("{path}/{ovn}")).json(&body),
            Op::Delete => http.delete(format!("{path}/{ovn}")),
        };
        let outcome = match req.bearer_auth(&token).send() {
            Err(e) => Outcome::Unknown(e.to_string()),
            Ok(resp) => {
                let status = resp.status().as_u16();
                let log_index = resp
                    .headers()
                    .get("x-log-index")
                    .and_then(|h| h.to_str().ok())
                    .and_then(|s| s.parse().ok());
                match resp.text() {
                    // Status line seen but the body cut off: not an answer.
                    Err(e) => Outcome::Unknown(format!("{status}, body lost: {e}")),
                    Ok(text) if (200..300).contains(&status) => {
                        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                        let oi = &v["operational_intent_reference"];
                        let state = if op == Op::Delete {
                            State::Absent
                        } else {
                            State::Present {
                                version: oi["version"].as_u64().unwrap_or(0),
                                ovn: oi["ovn"].as_str().unwrap_or("").to_string(),
                            }
                        };
                        Outcome::Acked { state, log_index }
                    }
                    Ok(text) => Outcome::Refused(status, text),
                }
            }
        };
        let unknown = matches!(outcome, Outcome::Unknown(_));
        intents[i].attempts.push(Attempt { op, outcome });
        if unknown {
            break; // the server is gone; the next cycle resolves this
        }
    }
    intents
}

/// What the server may show for `it` after a crash, given what its client
/// saw. Err: the client's own log is impossible (a refused write, etc.).
fn allowed(it: &Intent, observed: &State) -> Result<(), String> {
    let acked = it.believed().clone();
    let last_ack = it
        .attempts
        .iter()
        .rposition(|a| matches!(a.outcome, Outcome::Acked { .. }));
    let after = &it.attempts[last_ack.map_or(0, |i| i + 1)..];
    if observed == &acked {
        return Ok(());
    }
    // Only an unknown-outcome write after the last acknowledged one may
    // explain a difference, and only by its own effect.
    for a in after {
        if let Outcome::Unknown(_) = a.outcome {
            let ok = match (a.op, &acked, observed) {
                (Op::Create, State::Absent, State::Present { version: 1, .. }) => true,
                (
                    Op::Update,
                    State::Present { version: v, .. },
                    State::Present { version: w, .. },
                ) => *w == v + 1,
                (Op::Delete, State::Present { .. }, State::Absent) => true,
                _ => false,
            };
            if ok {
                return Ok(());
            }
        }
    }
    Err(format!(
        "intent {} (party {}): acknowledged state {:?}, server shows {:?}; attempts since the last check: {:?}",
        it.id, PARTIES[it.party], acked, observed, it.attempts
    ))
}

fn get_text(s: &Server, path: &str, token: &str) -> String {
    let r = s
        .http
        .get(format!("{}{path}", s.base))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "GET {path}: {}", r.status());
    r.text().unwrap()
}

/// The area holding every cell used so far.
fn whole_area(cells: u64) -> Value {
    let rows = cells / COLS + 1;
    let half_lat = rows as f64 * STEP / 2.0 + 0.002;
    search_area(
        LAT0 + rows as f64 * STEP / 2.0,
        LNG0 + COLS as f64 * STEP / 2.0,
        half_lat,
        COLS as f64 * STEP / 2.0 + 0.002,
    )
}

/// After a restart: checks every intent against its log, and that nothing
/// else exists; then makes what the server shows the new baseline.
fn check_after_restart(
    s: &Server,
    tokens: &[String],
    intents: &mut [Intent],
    gone: &HashMap<String, String>,
    cells: u64,
    cycle: usize,
) {
    // Each party's view of the whole area (it sees its own OVNs).
    let mut seen: Vec<HashMap<String, Value>> = Vec::new();
    for (p, t) in tokens.iter().enumerate() {
        let (st, v) = s.call(
            "POST",
            "/dss/v1/operational_intent_references/query",
            Some(t),
            Some(&whole_area(cells)),
        );
        assert_eq!(st, 200, "cycle {cycle}: query by {}: {v}", PARTIES[p]);
        let map: HashMap<String, Value> = v["operational_intent_references"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| (o["id"].as_str().unwrap().to_string(), o.clone()))
            .collect();
        seen.push(map);
    }
    let known: HashMap<&str, usize> = intents
        .iter()
        .map(|it| (it.id.as_str(), it.party))
        .collect();
    for (id, o) in &seen[0] {
        if let Some(why) = gone.get(id) {
            panic!("cycle {cycle}: intent {id} is back: {why}; now {o}");
        }
        assert!(
            known.contains_key(id.as_str()),
            "cycle {cycle}: intent {id} exists but no client ever tried to create it: {o}"
        );
    }
    assert_eq!(
        seen[0].len(),
        seen[1].len(),
        "cycle {cycle}: the parties see different sets"
    );
    let mut failures = Vec::new();
    for it in intents.iter_mut() {
        let observed = match seen[it.party].get(&it.id) {
            None => State::Absent,
            Some(o) => {
                if o["manager"] != PARTIES[it.party] {
                    failures.push(format!("intent {} has manager {}", it.id, o["manager"]));
                }
                State::Present {
                    version: o["version"].as_u64().unwrap(),
                    ovn: o["ovn"].as_str().unwrap().to_string(),
                }
            }
        };
        for a in &it.attempts {
            if let Outcome::Refused(st, text) = &a.outcome {
                failures.push(format!(
                    "intent {}: {:?} refused with {st}: {text}",
                    it.id, a.op
                ));
            }
        }
        if let Err(e) = allowed(it, &observed) {
            failures.push(e);
        }
        // Reads by id agree with the query for what was touched.
        if !it.attempts.is_empty() {
            let (st, v) = s.call(
                "GET",
                &format!("/dss/v1/operational_intent_references/{}", it.id),
                Some(&tokens[it.party]),
                None,
            );
            let by_id = match st {
                404 => State::Absent,
                200 => State::Present {
                    version: v["operational_intent_reference"]["version"]
                        .as_u64()
                        .unwrap(),
                    ovn: v["operational_intent_reference"]["ovn"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                },
                _ => panic!("cycle {cycle}: GET {}: {st} {v}", it.id),
            };
            if by_id != observed {
                failures.push(format!(
                    "intent {}: GET shows {by_id:?}, the query {observed:?}",
                    it.id
                ));
            }
        }
        it.baseline = observed;
        it.attempts.clear();
    }
    assert!(
        failures.is_empty(),
        "cycle {cycle}: {} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn verify_record(s: &Server, key: &str, token: &str, checkpoint: &Path, entry: Option<u64>) {
    let mut cmd = Command::new(bin());
    cmd.args([
        "verify", "--key", key, "--server", &s.base, "--token", token,
    ])
    .arg("--checkpoint")
    .arg(checkpoint);
    if let Some(e) = entry {
        cmd.args(["--entry", &e.to_string()]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "deconflict verify failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A temporary folder, kept on disk when RELIABILITY_KEEP=1.
struct Keep(Option<tempfile::TempDir>);

impl Keep {
    fn path(&self) -> &Path {
        self.0.as_ref().unwrap().path()
    }
}

impl Drop for Keep {
    fn drop(&mut self) {
        if std::env::var("RELIABILITY_KEEP").as_deref() == Ok("1") {
            let _ = self.0.take().map(|t| t.keep());
        }
    }
}

fn crash_loop(store: &[&str], name: &str) {
    let started = Instant::now();
    let cycles: usize = std::env::var("RELIABILITY_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(22);
    let mut rng = Rng::from_env(name);
    let tmp = tempfile::tempdir().unwrap();
    if std::env::var("RELIABILITY_KEEP").as_deref() == Ok("1") {
        // Keep the data folder (server logs, SQLite files) for a post-mortem.
        eprintln!("{name}: data folder kept at {}", tmp.path().display());
    }
    let tmp = Keep(Some(tmp));
    let mut args = vec!["--checkpoint-interval-s", "0.1", "--rate-limit-per-s", "0"];
    args.extend_from_slice(store);
    let mut s = Server::start_in(tmp.path(), &args);
    let tokens: Vec<String> = PARTIES.iter().map(|p| s.token(p, &[SC])).collect();
    let key = get_text(&s, "/v1/log/key", &tokens[0]).trim().to_string();
    let cells = Arc::new(AtomicU64::new(0));
    let mut per_thread: Vec<Vec<Intent>> = vec![Vec::new(); THREADS];
    let mut total = Counts::default();
    let mut restart_time = Duration::ZERO;
    // Intents confirmed absent at a check, and why.
    let mut gone: HashMap<String, String> = HashMap::new();
    for cycle in 0..cycles {
        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = per_thread
            .drain(..)
            .enumerate()
            .map(|(t, intents)| {
                let (base, token) = (s.base.clone(), tokens[t % PARTIES.len()].clone());
                let (cells, stop) = (cells.clone(), stop.clone());
                let seed = rng.next_u64();
                std::thread::spawn(move || {
                    load(base, t % PARTIES.len(), token, intents, cells, stop, seed)
                })
            })
            .collect();
        // A random moment: anywhere from just after start to well into the load.
        std::thread::sleep(Duration::from_millis(rng.range(50, 1200)));
        let checkpoint = tmp.path().join(format!("checkpoint-{cycle}"));
        let note = get_text(&s, "/v1/log/checkpoint", &tokens[0]);
        std::fs::write(&checkpoint, &note).unwrap();
        std::thread::sleep(Duration::from_millis(rng.range(0, 40)));
        s.child.kill().unwrap(); // SIGKILL
        s.child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        per_thread = handles.into_iter().map(|h| h.join().unwrap()).collect();
        drop(s);

        let mut c = Counts::default();
        let mut last_acked_entry = None;
        for it in per_thread.iter().flatten() {
            for a in &it.attempts {
                c.attempted += 1;
                match &a.outcome {
                    Outcome::Acked { log_index, .. } => {
                        c.acked += 1;
                        last_acked_entry = last_acked_entry.max(*log_index);
                    }
                    Outcome::Unknown(_) => c.unknown += 1,
                    Outcome::Refused(..) => c.refused += 1,
                }
            }
        }
        let t0 = Instant::now();
        s = Server::start_in(tmp.path(), &args);
        restart_time += t0.elapsed();
        let key_now = get_text(&s, "/v1/log/key", &tokens[0]);
        assert_eq!(key_now.trim(), key, "the record key changed");
        let mut all: Vec<Intent> = per_thread.iter().flatten().cloned().collect();
        let history: HashMap<String, String> = all
            .iter()
            .map(|it| (it.id.clone(), format!("{:?}", it.attempts)))
            .collect();
        check_after_restart(
            &s,
            &tokens,
            &mut all,
            &gone,
            cells.load(Ordering::SeqCst),
            cycle,
        );
        verify_record(&s, &key, &tokens[0], &checkpoint, last_acked_entry);
        // Hand the checked baselines back to their threads.
        let mut checked: HashMap<String, Intent> =
            all.into_iter().map(|it| (it.id.clone(), it)).collect();
        for list in per_thread.iter_mut() {
            for it in list.iter_mut() {
                *it = checked.remove(&it.id).unwrap();
            }
            // Intents that are gone stay gone: the threads forget them, the
            // checks do not.
            gone.extend(
                list.iter()
                    .filter(|it| it.baseline == State::Absent)
                    .map(|it| {
                        let why = format!(
                            "absent at the check after kill {cycle}, after these attempts: {}",
                            history[&it.id]
                        );
                        (it.id.clone(), why)
                    }),
            );
            list.retain(|it| it.baseline != State::Absent);
        }
        eprintln!(
            "{name} cycle {cycle}: {} writes attempted, {} acknowledged, {} unknown, {} refused; checkpoint size {}",
            c.attempted,
            c.acked,
            c.unknown,
            c.refused,
            note.lines().nth(1).unwrap_or("?")
        );
        total.attempted += c.attempted;
        total.acked += c.acked;
        total.unknown += c.unknown;
        total.refused += c.refused;
    }
    let live: usize = per_thread.iter().map(Vec::len).sum();
    eprintln!(
        "{name}: {cycles} SIGKILLs survived in {:.1} s (restarts {:.1} s): {} writes attempted, {} acknowledged, {} unknown outcome, {} refused, {} intents live, 0 lost",
        started.elapsed().as_secs_f64(),
        restart_time.as_secs_f64(),
        total.attempted,
        total.acked,
        total.unknown,
        total.refused,
        live
    );
    assert!(
        total.acked >= 20 * cycles as u64 / 2,
        "too little load to mean anything: {} acknowledged writes",
        total.acked
    );
    s.stop();
}

#[test]
fn sqlite_sigkill_under_write_load_loses_nothing_and_invents_nothing() {
    crash_loop(&[], "sqlite");
}

#[test]
fn postgres_sigkill_under_write_load_loses_nothing_and_invents_nothing() {
    let Some(db) = Db::create() else { return };
    let url = db.url();
    crash_loop(&["--store", &url], "postgres");
}

/// The checker itself: it must flag what a broken service would produce.
#[test]
fn the_crash_check_flags_lost_and_invented_writes() {
    let present = |version, ovn: &str| State::Present {
        version,
        ovn: ovn.into(),
    };
    let acked = |op, state| Attempt {
        op,
        outcome: Outcome::Acked {
            state,
            log_index: None,
        },
    };
    let unknown = |op| Attempt {
        op,
        outcome: Outcome::Unknown("connection reset".into()),
    };
    let intent = |baseline, attempts| Intent {
        id: "x".into(),
        party: 0,
        cell: 0,
        baseline,
        attempts,
    };
    // An acknowledged create must be there, with its OVN.
    let it = intent(State::Absent, vec![acked(Op::Create, present(1, "o1"))]);
    assert!(allowed(&it, &present(1, "o1")).is_ok());
    assert!(allowed(&it, &State::Absent).is_err(), "lost create");
    assert!(allowed(&it, &present(1, "other")).is_err(), "other OVN");
    assert!(allowed(&it, &present(2, "o2")).is_err(), "invented update");
    // An acknowledged update, then one with no answer: either version.
    let it = intent(
        present(1, "o1"),
        vec![acked(Op::Update, present(2, "o2")), unknown(Op::Update)],
    );
    assert!(allowed(&it, &present(2, "o2")).is_ok());
    assert!(allowed(&it, &present(3, "o3")).is_ok());
    assert!(allowed(&it, &present(1, "o1")).is_err(), "lost update");
    assert!(allowed(&it, &present(4, "o4")).is_err());
    assert!(allowed(&it, &State::Absent).is_err(), "invented delete");
    // An acknowledged delete must be gone.
    let it = intent(present(3, "o3"), vec![acked(Op::Delete, State::Absent)]);
    assert!(allowed(&it, &State::Absent).is_ok());
    assert!(allowed(&it, &present(3, "o3")).is_err(), "lost delete");
    // A create with no answer: present at version 1, or absent.
    let it = intent(State::Absent, vec![unknown(Op::Create)]);
    assert!(allowed(&it, &State::Absent).is_ok());
    assert!(allowed(&it, &present(1, "any")).is_ok());
    assert!(allowed(&it, &present(2, "any")).is_err());
}
