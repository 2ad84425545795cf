//! The store's contract, run against every backend (`on_sqlite::*`,
//! `on_postgres::*`), then what is particular to each.
//!
//! The PostgreSQL tests create a database of their own on the server named by
//! `DECONFLICT_PG_URL` (default `postgres://postgres@127.0.0.1:5432/test`) and
//! drop it afterwards, also when the test panics. An unreachable server fails
//! them, unless `DECONFLICT_SKIP_PG=1`.

use crate::{Commit, PgStore, SqliteStore, Store};
use airspace::{AltitudeRange, Footprint, LatLng, TimeRange, Volume4D};
use chrono::{TimeZone, Utc};
use dss::{Change, Constraint};
use std::sync::mpsc;
use uuid::Uuid;

/// Opens the same storage again and again (reopening tests durability).
trait Backend {
    fn open(&self) -> Box<dyn Store>;
}

struct Sqlite(tempfile::TempDir);

impl Sqlite {
    fn new() -> Sqlite {
        Sqlite(tempfile::tempdir().unwrap())
    }
}

impl Backend for Sqlite {
    fn open(&self) -> Box<dyn Store> {
        Box::new(SqliteStore::open(self.0.path().join("d.db")).unwrap())
    }
}

/// A database of its own on the test server, dropped with this value.
pub(crate) struct TestDb {
    admin_url: String,
    name: String,
    pub(crate) url: String,
}

impl TestDb {
    /// `None` only when `DECONFLICT_SKIP_PG=1`; panics if the server is unreachable.
    pub(crate) fn create() -> Option<TestDb> {
        if std::env::var("DECONFLICT_SKIP_PG").is_ok_and(|v| v == "1") {
            eprintln!("DECONFLICT_SKIP_PG=1: PostgreSQL test skipped");
            return None;
        }
        let admin_url = std::env::var("DECONFLICT_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let mut admin =
            postgres::Client::connect(&admin_url, postgres::NoTls).unwrap_or_else(|e| {
                panic!(
                "PostgreSQL is not reachable at {admin_url}: {}. The PostgreSQL store tests need a \
                 server (DECONFLICT_PG_URL names one with the right to create databases); \
                 set DECONFLICT_SKIP_PG=1 to skip them",
                crate::postgres::describe(&e)
            )
            });
        let name = format!("deconflict_test_{:016x}", rand::random::<u64>());
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| {
                panic!(
                    "cannot create database {name}: {}",
                    crate::postgres::describe(&e)
                )
            });
        // Same server and credentials, the new database.
        let (base, query) = match admin_url.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (admin_url.as_str(), String::new()),
        };
        let server = base.rsplit_once('/').map_or(base, |(s, _)| s);
        let url = format!("{server}/{name}{query}");
        Some(TestDb {
            admin_url,
            name,
            url,
        })
    }

    pub(crate) fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let dropped =
            postgres::Client::connect(&self.admin_url, postgres::NoTls).and_then(|mut c| {
                c.batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
            });
        if let Err(e) = dropped {
            eprintln!(
                "cannot drop test database {}: {}",
                self.name,
                crate::postgres::describe(&e)
            );
        }
    }
}

struct Pg(TestDb);

impl Pg {
    fn new() -> Option<Pg> {
        TestDb::create().map(Pg)
    }
}

impl Backend for Pg {
    fn open(&self) -> Box<dyn Store> {
        Box::new(PgStore::open(&self.0.url).unwrap())
    }
}

/// Each named test function, taking `&dyn Backend`, once per backend.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $( #[test] fn $name() { super::$name(&super::Sqlite::new()); } )*
        }
        mod on_postgres {
            $( #[test] fn $name() { if let Some(b) = super::Pg::new() { super::$name(&b); } } )*
        }
    };
}

on_every_backend!(
    what_is_acknowledged_is_loaded_back_including_unbounded_altitudes,
    many_concurrent_submissions_are_grouped_and_all_acknowledged,
    record_events_and_acks_are_durable_together_and_read_back,
    a_record_index_written_twice_fails_the_whole_commit,
    changes_to_one_entity_in_one_batch_end_in_the_last_state,
    the_first_acknowledgement_counts_and_declarations_are_replaced,
    declarations_and_events_are_selected_by_time,
    a_gap_in_the_record_is_reported,
    the_record_is_scanned_in_order_across_pages,
    checkpoints_keep_the_latest,
    remote_id_entities_are_kept_updated_and_deleted,
);

fn constraint(id: u128, altitude: AltitudeRange) -> Constraint {
    let t = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    Constraint {
        id: Uuid::from_u128(id),
        manager: "alpha".into(),
        version: 1,
        ovn: "ovn-ovn-ovn-ovn-1".into(),
        extents: vec![Volume4D {
            footprint: Footprint::Circle {
                center: LatLng {
                    lat: 90.0,
                    lng: 180.0,
                },
                radius_m: 100.0,
            },
            altitude,
            time: TimeRange::new(t, t + chrono::Duration::hours(1)),
        }]
        .into(),
        uss_base_url: "https://x".into(),
    }
}

/// Two altitude bands: one constraint's two versions.
fn low() -> AltitudeRange {
    AltitudeRange {
        lower_m: 0.0,
        upper_m: 1.0,
    }
}

fn high() -> AltitudeRange {
    AltitudeRange {
        lower_m: 100.0,
        upper_m: 200.0,
    }
}

fn submit(store: &dyn Store, changes: Vec<Change>) {
    let (tx, rx) = mpsc::channel();
    store.submit(changes.into(), Box::new(move |r| tx.send(r).unwrap()));
    rx.recv().unwrap().unwrap();
}

fn what_is_acknowledged_is_loaded_back_including_unbounded_altitudes(backend: &dyn Backend) {
    let a = constraint(1, AltitudeRange::UNBOUNDED);
    let b = constraint(
        2,
        AltitudeRange {
            lower_m: -5.5,
            upper_m: f64::INFINITY,
        },
    );
    let secret;
    {
        let s = backend.open();
        secret = s.secret().unwrap();
        submit(
            &*s,
            vec![
                Change::PutConstraint(a.clone()),
                Change::PutConstraint(b.clone()),
            ],
        );
        submit(&*s, vec![Change::DeleteConstraint(Uuid::from_u128(3))]);
    }
    let s = backend.open();
    assert_eq!(s.secret().unwrap(), secret, "the OVN secret is kept");
    let mut loaded: Vec<Constraint> = s
        .load()
        .unwrap()
        .into_iter()
        .filter_map(|c| match c {
            Change::PutConstraint(c) => Some(c),
            _ => None,
        })
        .collect();
    loaded.sort_by_key(|c| c.id);
    assert_eq!(loaded, vec![a, b]);
}

fn remote_id_entities_are_kept_updated_and_deleted(backend: &dyn Backend) {
    let volume = constraint(1, low()).extents[0].clone();
    let isa = |id: u128, version: &str| dss::IdentificationServiceArea {
        id: Uuid::from_u128(id),
        manager: "sp".into(),
        version: version.into(),
        volume: volume.clone(),
        url: "https://sp.example/rid".into(),
    };
    let sub = |id: u128, index: u64| dss::RidSubscription {
        id: Uuid::from_u128(id),
        manager: "dp".into(),
        version: "1k2ab3cd4ef".into(),
        notification_index: index,
        volume: volume.clone(),
        url: "https://dp.example/rid".into(),
    };
    {
        let s = backend.open();
        submit(
            &*s,
            vec![
                Change::PutRidSubscription(sub(7, 0)),
                Change::PutIsa(isa(1, "1k2ab3cd4ef")),
                Change::PutIsa(isa(2, "1k2ab3cd4ef")),
            ],
        );
        // An ISA change and its subscriber's index in one commit.
        submit(
            &*s,
            vec![
                Change::PutRidSubscription(sub(7, 1)),
                Change::PutIsa(isa(1, "1k2ab3cd4eg")),
                Change::DeleteIsa(Uuid::from_u128(2)),
            ],
        );
    }
    let s = backend.open();
    let loaded = s.load().unwrap();
    let isas: Vec<_> = loaded
        .iter()
        .filter_map(|c| match c {
            Change::PutIsa(i) => Some(i.clone()),
            _ => None,
        })
        .collect();
    let subs: Vec<_> = loaded
        .iter()
        .filter_map(|c| match c {
            Change::PutRidSubscription(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(isas, vec![isa(1, "1k2ab3cd4eg")]);
    assert_eq!(subs, vec![sub(7, 1)]);
}

fn many_concurrent_submissions_are_grouped_and_all_acknowledged(backend: &dyn Backend) {
    let s = backend.open();
    let (tx, rx) = mpsc::channel();
    for i in 0..500u128 {
        let tx = tx.clone();
        s.submit(
            vec![Change::PutConstraint(constraint(
                i,
                AltitudeRange {
                    lower_m: 0.0,
                    upper_m: 1.0,
                },
            ))]
            .into(),
            Box::new(move |r| tx.send(r.is_ok()).unwrap()),
        );
    }
    drop(tx);
    assert_eq!(rx.iter().filter(|ok| *ok).count(), 500);
    assert_eq!(s.load().unwrap().len(), 500);
}

#[test]
fn a_newer_sqlite_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    let err = SqliteStore::open(&path).err().expect("must refuse");
    assert!(err.to_string().contains("newer"), "{err}");
}

/// The writer thread reads its map of entity rows at start, beside the
/// service's own reads. A table it cannot read (here: an id that is no UUID)
/// must fail every commit with the reason, never let one through unmapped.
#[test]
fn an_unreadable_entity_table_fails_every_commit_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    {
        let s = SqliteStore::open(&path).unwrap();
        submit(&s, vec![Change::PutConstraint(constraint(1, low()))]);
    }
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE constraints SET id = 'not-a-uuid'", [])
        .unwrap();
    let s = SqliteStore::open(&path).unwrap();
    for id in [2, 3] {
        let err = commit(
            &s,
            vec![Change::PutConstraint(constraint(id, high()))].into(),
        )
        .expect_err("a commit without the row map");
        assert!(
            err.to_string().contains("cannot read the entity rows"),
            "{err}"
        );
        assert!(err.to_string().contains("not-a-uuid"), "{err}");
    }
    s.close();
    let c = rusqlite::Connection::open(&path).unwrap();
    let rows: i64 = c
        .query_row("SELECT count(*) FROM constraints", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1, "nothing was written");
}

/// A database written by a version that keyed entity rows by id (schema 3)
/// opens with its entities, which can then be updated and deleted in place,
/// and with its declarations.
#[test]
fn a_schema_3_database_keeps_its_entities_and_they_stay_writable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    let low = low();
    let high = high();
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        for sql in &crate::sqlite::MIGRATIONS[..3] {
            c.execute_batch(sql).unwrap();
        }
        c.pragma_update(None, "user_version", 3).unwrap();
        c.execute(
            "INSERT INTO declarations (intent, version, party, declared_at, starts_at, late)
             VALUES ('i', 1, 'alpha', '2026-01-01T00:00:00.000000Z', '2026-02-01T00:00:00.000000Z', 0)",
            [],
        )
        .unwrap();
        for i in 1..=2 {
            let k = constraint(i, low);
            c.execute(
                "INSERT INTO constraints (id, manager, body) VALUES (?1, ?2, ?3)",
                rusqlite::params![
                    k.id.to_string(),
                    k.manager,
                    serde_json::to_string(&k).unwrap()
                ],
            )
            .unwrap();
        }
    }
    {
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(
            loaded_constraints(&s),
            vec![constraint(1, low), constraint(2, low)]
        );
        submit(
            &s,
            vec![
                Change::PutConstraint(constraint(1, high)),
                Change::DeleteConstraint(Uuid::from_u128(2)),
                Change::PutConstraint(constraint(3, low)),
            ],
        );
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(
        loaded_constraints(&s),
        vec![constraint(1, high), constraint(3, low)]
    );
    let c = rusqlite::Connection::open(&path).unwrap();
    let rows: i64 = c
        .query_row("SELECT count(*) FROM constraints", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 2, "an update rewrites its row instead of adding one");
    assert_eq!(
        s.declarations(
            "2025-12-31T00:00:00Z".parse().unwrap(),
            "2026-01-02T00:00:00Z".parse().unwrap()
        )
        .unwrap(),
        vec![declaration("i", 1, "alpha", "2026-01-01T00:00:00Z", false)],
        "declarations survive the migration to appended rows"
    );
}

/// A group that fails is rolled back, and the rows it would have added or
/// removed are where they were: the same changes submitted again are stored.
#[test]
fn after_a_failed_group_the_same_changes_are_stored_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    let low = low();
    let s = SqliteStore::open(&path).unwrap();
    let with_log = |idx: u64, changes: Vec<Change>| crate::Commit {
        changes,
        log: vec![(idx, b"entry".to_vec())],
        ..Default::default()
    };
    let (one, two, three) = (constraint(1, low), constraint(2, low), constraint(3, low));
    commit(
        &s,
        with_log(
            0,
            vec![
                Change::PutConstraint(one.clone()),
                Change::PutConstraint(three.clone()),
            ],
        ),
    )
    .unwrap();
    // Index 0 again: the whole commit fails, after its changes were applied.
    let again = vec![
        Change::DeleteConstraint(one.id),
        Change::PutConstraint(two.clone()),
    ];
    assert!(commit(&s, with_log(0, again.clone())).is_err());
    assert_eq!(loaded_constraints(&s), vec![one, three.clone()]);
    commit(&s, with_log(1, again)).unwrap();
    drop(s);
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(loaded_constraints(&s), vec![two, three]);
    // Each row's id column names the entity in its body.
    let c = rusqlite::Connection::open(&path).unwrap();
    let mut stmt = c.prepare("SELECT id, body FROM constraints").unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap();
    for row in rows {
        let (id, body) = row.unwrap();
        let k: Constraint = serde_json::from_str(&body).unwrap();
        assert_eq!(id, k.id.to_string());
    }
}

/// The declaration made last wins, even if the clock had gone back.
#[test]
fn the_last_declaration_made_wins_whatever_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path().join("d.db")).unwrap();
    for d in [
        declaration("i", 1, "alpha", "2026-01-01T00:00:05Z", false),
        declaration("j", 1, "alpha", "2026-01-01T00:00:04Z", false),
        declaration("i", 1, "bravo", "2026-01-01T00:00:03Z", true),
    ] {
        commit(
            &s,
            Commit {
                declarations: vec![d],
                ..Default::default()
            },
        )
        .unwrap();
    }
    assert_eq!(
        s.declarations(
            "2026-01-01T00:00:00Z".parse().unwrap(),
            "2026-01-01T00:01:00Z".parse().unwrap()
        )
        .unwrap(),
        vec![
            declaration("i", 1, "bravo", "2026-01-01T00:00:03Z", true),
            declaration("j", 1, "alpha", "2026-01-01T00:00:04Z", false),
        ]
    );
}

fn commit(store: &dyn Store, c: crate::Commit) -> crate::Result<()> {
    let (tx, rx) = mpsc::channel();
    store.submit(c, Box::new(move |r| tx.send(r).unwrap()));
    rx.recv().unwrap()
}

fn event(seq: u64, party: &str, critical: bool, at: &str) -> crate::StoredEvent {
    crate::StoredEvent {
        seq,
        party: party.into(),
        kind: "operational_intent".into(),
        critical,
        sender: Some("alpha".into()),
        created_at: at.parse().unwrap(),
        body: format!("{{\"seq\":{seq}}}"),
    }
}

fn record_events_and_acks_are_durable_together_and_read_back(backend: &dyn Backend) {
    {
        let s = backend.open();
        commit(
            &*s,
            crate::Commit {
                log: vec![(0, b"first".to_vec()), (1, b"second".to_vec())],
                events: vec![
                    event(1, "bravo", true, "2026-01-01T00:00:00Z"),
                    event(2, "charlie", false, "2026-01-01T00:00:01Z"),
                    event(3, "bravo", false, "2026-01-02T00:00:00Z"),
                ],
                ..Default::default()
            },
        )
        .unwrap();
        commit(
            &*s,
            crate::Commit {
                log: vec![(2, b"ack".to_vec())],
                acks: vec![crate::EventAck {
                    seq: 3,
                    party: "bravo".into(),
                    at: "2026-01-02T00:00:05Z".parse().unwrap(),
                }],
                ..Default::default()
            },
        )
        .unwrap();
        s.save_checkpoint(3, "note").unwrap();
        // Dropping the store waits for its writer.
    }
    let s = backend.open();
    assert_eq!(
        s.load_log().unwrap(),
        vec![b"first".to_vec(), b"second".to_vec(), b"ack".to_vec()]
    );
    assert_eq!(s.log_entries(1, 3).unwrap().len(), 2);
    assert_eq!(s.latest_checkpoint().unwrap().as_deref(), Some("note"));
    assert_eq!(s.last_event_seq().unwrap(), 3);
    let bravo = s.events_after("bravo", 0, 10).unwrap();
    assert_eq!(bravo.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 3]);
    assert_eq!(s.events_after("bravo", 1, 10).unwrap().len(), 1);
    let sent = s
        .events_sent_by("alpha", "2025-01-01T00:00:00Z".parse().unwrap(), 10)
        .unwrap();
    assert_eq!(sent.len(), 3);
    assert!(sent.iter().find(|(e, _)| e.seq == 3).unwrap().1.is_some());
    assert!(sent.iter().find(|(e, _)| e.seq == 1).unwrap().1.is_none());
    // Event 1 is critical and unacknowledged; 3 is acknowledged but not critical.
    let open: Vec<u64> = s
        .unacknowledged_critical()
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(open, [1]);
    // Retention: pruning keeps the counter, so numbers are never reused.
    assert_eq!(
        s.prune_events("2026-01-03T00:00:00Z".parse().unwrap())
            .unwrap(),
        3
    );
    assert_eq!(s.last_event_seq().unwrap(), 3);
    assert!(s.events_after("bravo", 0, 10).unwrap().is_empty());
}

fn a_record_index_written_twice_fails_the_whole_commit(backend: &dyn Backend) {
    let s = backend.open();
    commit(
        &*s,
        crate::Commit {
            log: vec![(0, b"a".to_vec())],
            ..Default::default()
        },
    )
    .unwrap();
    let r = commit(
        &*s,
        crate::Commit {
            changes: vec![Change::DeleteConstraint(Uuid::from_u128(9))],
            log: vec![(0, b"b".to_vec())],
            events: vec![event(1, "bravo", false, "2026-01-01T00:00:00Z")],
            ..Default::default()
        },
    );
    assert!(r.is_err());
    assert_eq!(s.load_log().unwrap(), vec![b"a".to_vec()]);
    assert!(s.events_after("bravo", 0, 10).unwrap().is_empty());
}

fn availability(uss: &str, version: &str) -> dss::UssAvailability {
    dss::UssAvailability {
        uss: uss.into(),
        availability: dss::Availability::Normal,
        version: version.into(),
    }
}

fn loaded_constraints(s: &dyn Store) -> Vec<Constraint> {
    let mut out: Vec<Constraint> = s
        .load()
        .unwrap()
        .into_iter()
        .filter_map(|c| match c {
            Change::PutConstraint(c) => Some(c),
            _ => None,
        })
        .collect();
    out.sort_by_key(|c| c.id);
    out
}

fn changes_to_one_entity_in_one_batch_end_in_the_last_state(backend: &dyn Backend) {
    let s = backend.open();
    let low = low();
    let high = high();
    submit(
        &*s,
        vec![
            Change::PutConstraint(constraint(1, low)),
            Change::DeleteConstraint(Uuid::from_u128(1)),
            Change::PutConstraint(constraint(1, high)),
            Change::PutConstraint(constraint(2, low)),
            Change::DeleteConstraint(Uuid::from_u128(2)),
            Change::PutAvailability(availability("uss1", "a")),
            Change::PutAvailability(availability("uss1", "b")),
        ],
    );
    // Across commits queued together (likely one batch), order holds too.
    let (tx, rx) = mpsc::channel();
    for changes in [
        vec![Change::PutConstraint(constraint(3, low))],
        vec![Change::DeleteConstraint(Uuid::from_u128(3))],
        vec![Change::PutConstraint(constraint(4, low))],
        vec![Change::PutConstraint(constraint(4, high))],
    ] {
        let tx = tx.clone();
        s.submit(changes.into(), Box::new(move |r| tx.send(r).unwrap()));
    }
    drop(tx);
    assert!(rx.iter().all(|r| r.is_ok()));
    assert_eq!(
        loaded_constraints(&*s),
        vec![constraint(1, high), constraint(4, high)]
    );
    let avail: Vec<_> = s
        .load()
        .unwrap()
        .into_iter()
        .filter_map(|c| match c {
            Change::PutAvailability(a) => Some(a),
            _ => None,
        })
        .collect();
    assert_eq!(avail, vec![availability("uss1", "b")]);
}

fn declaration(
    intent: &str,
    version: u32,
    party: &str,
    at: &str,
    late: bool,
) -> crate::Declaration {
    crate::Declaration {
        intent: intent.into(),
        version,
        party: party.into(),
        declared_at: at.parse().unwrap(),
        starts_at: "2026-02-01T00:00:00Z".parse().unwrap(),
        late,
    }
}

fn the_first_acknowledgement_counts_and_declarations_are_replaced(backend: &dyn Backend) {
    let s = backend.open();
    let ack = |at: &str| crate::EventAck {
        seq: 1,
        party: "bravo".into(),
        at: at.parse().unwrap(),
    };
    commit(
        &*s,
        Commit {
            events: vec![event(1, "bravo", true, "2026-01-01T00:00:00Z")],
            acks: vec![ack("2026-01-01T00:00:01Z"), ack("2026-01-01T00:00:02Z")],
            declarations: vec![
                declaration("i", 1, "alpha", "2026-01-01T00:00:00Z", false),
                declaration("i", 1, "bravo", "2026-01-01T00:00:03Z", true),
            ],
            ..Default::default()
        },
    )
    .unwrap();
    commit(
        &*s,
        Commit {
            acks: vec![ack("2026-01-01T00:00:09Z")],
            declarations: vec![declaration("i", 2, "alpha", "2026-01-01T00:00:04Z", false)],
            ..Default::default()
        },
    )
    .unwrap();
    let sent = s
        .events_sent_by("alpha", "2026-01-01T00:00:00Z".parse().unwrap(), 10)
        .unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1, Some(ack("2026-01-01T00:00:01Z")));
    assert!(s.unacknowledged_critical().unwrap().is_empty());
    let all = s
        .declarations(
            "2025-01-01T00:00:00Z".parse().unwrap(),
            "2027-01-01T00:00:00Z".parse().unwrap(),
        )
        .unwrap();
    assert_eq!(
        all,
        vec![
            declaration("i", 1, "bravo", "2026-01-01T00:00:03Z", true),
            declaration("i", 2, "alpha", "2026-01-01T00:00:04Z", false),
        ]
    );
}

fn declarations_and_events_are_selected_by_time(backend: &dyn Backend) {
    let s = backend.open();
    assert_eq!(s.last_event_seq().unwrap(), 0);
    let times = [
        "2026-01-01T00:00:09.999999Z",
        "2026-01-01T00:00:10Z",
        "2026-01-01T00:00:10.5Z",
        "2026-01-01T00:00:59.000001Z",
        "2026-01-01T00:01:00Z",
    ];
    commit(
        &*s,
        Commit {
            // Declared out of order: the answer is in time order.
            declarations: times
                .iter()
                .rev()
                .enumerate()
                .map(|(i, t)| declaration(&format!("i{i}"), 1, "alpha", t, false))
                .collect(),
            events: times
                .iter()
                .enumerate()
                .map(|(i, t)| event(i as u64 + 1, "bravo", false, t))
                .collect(),
            ..Default::default()
        },
    )
    .unwrap();
    let got: Vec<chrono::DateTime<Utc>> = s
        .declarations(times[1].parse().unwrap(), times[4].parse().unwrap())
        .unwrap()
        .iter()
        .map(|d| d.declared_at)
        .collect();
    let want: Vec<chrono::DateTime<Utc>> = times[1..4].iter().map(|t| t.parse().unwrap()).collect();
    assert_eq!(got, want);
    // Newest first, from `since` on, at most `limit`.
    let sent: Vec<u64> = s
        .events_sent_by("alpha", times[1].parse().unwrap(), 3)
        .unwrap()
        .iter()
        .map(|(e, _)| e.seq)
        .collect();
    assert_eq!(sent, [5, 4, 3]);
    assert_eq!(
        s.event(3).unwrap().unwrap(),
        event(3, "bravo", false, times[2])
    );
    assert_eq!(s.event(99).unwrap(), None);
    assert_eq!(s.events_after("bravo", 2, 2).unwrap().len(), 2);
    assert_eq!(s.last_event_seq().unwrap(), 5);
    assert_eq!(s.prune_events(times[2].parse().unwrap()).unwrap(), 2);
    assert_eq!(s.events_after("bravo", 0, 10).unwrap().len(), 3);
}

fn a_gap_in_the_record_is_reported(backend: &dyn Backend) {
    let s = backend.open();
    commit(
        &*s,
        Commit {
            log: vec![(0, b"a".to_vec()), (2, b"c".to_vec())],
            ..Default::default()
        },
    )
    .unwrap();
    let err = s.load_log().expect_err("a gap must be refused");
    assert!(err.to_string().contains("gap"), "{err}");
    assert_eq!(s.log_entries(0, 3).unwrap().len(), 2);
    assert_eq!(s.log_entries(1, 2).unwrap().len(), 0);
}

fn the_record_is_scanned_in_order_across_pages(backend: &dyn Backend) {
    let s = backend.open();
    // More than one of the PostgreSQL store's pages (10,000 entries).
    let n: u64 = 25_001;
    for start in (0..n).step_by(5_000) {
        let log = (start..n.min(start + 5_000))
            .map(|i| (i, i.to_string().into_bytes()))
            .collect();
        commit(
            &*s,
            Commit {
                log,
                ..Default::default()
            },
        )
        .unwrap();
    }
    let mut seen = 0u64;
    s.scan_log(&mut |idx, entry| {
        assert_eq!(idx, seen);
        assert_eq!(entry, idx.to_string().as_bytes());
        seen += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, n);
    // The callback's error ends the scan and is what it returns.
    let mut calls = 0;
    let err = s
        .scan_log(&mut |idx, _| {
            calls += 1;
            if idx == 12_345 {
                Err(crate::StoreError::Corrupt("stop here".into()))
            } else {
                Ok(())
            }
        })
        .expect_err("the callback's error is returned");
    assert!(err.to_string().contains("stop here"), "{err}");
    assert_eq!(calls, 12_346);
}

fn checkpoints_keep_the_latest(backend: &dyn Backend) {
    let s = backend.open();
    assert_eq!(s.latest_checkpoint().unwrap(), None);
    s.save_checkpoint(3, "a").unwrap();
    s.save_checkpoint(5, "b").unwrap();
    s.save_checkpoint(4, "c").unwrap();
    assert_eq!(s.latest_checkpoint().unwrap().as_deref(), Some("b"));
    s.save_checkpoint(5, "d").unwrap();
    assert_eq!(s.latest_checkpoint().unwrap().as_deref(), Some("d"));
}

/// What only the PostgreSQL store has: several instances on one database,
/// retries, reconnection, the fallback of a failed batch.
mod postgres_only {
    use super::*;
    use crate::postgres::{parse_config, Job, Writer};
    use std::sync::atomic::AtomicU64;
    use std::sync::{Arc, Barrier};
    use std::time::{Duration, Instant};

    #[test]
    fn a_newer_schema_is_refused() {
        let Some(db) = TestDb::create() else { return };
        drop(PgStore::open(&db.url).unwrap());
        db.client()
            .batch_execute("INSERT INTO schema_version (version) VALUES (99)")
            .unwrap();
        let err = PgStore::open(&db.url).err().expect("must refuse");
        assert!(err.to_string().contains("newer"), "{err}");
    }

    #[test]
    fn a_frozen_instance_holding_the_write_lock_is_fenced_off() {
        let Some(db) = TestDb::create() else { return };
        let sep = if db.url.contains('?') { '&' } else { '?' };
        let url = format!(
            "{}{sep}options=-c%20idle_in_transaction_session_timeout%3D1s",
            db.url
        );
        let frozen = PgStore::open(&url).unwrap();
        let other = PgStore::open(&url).unwrap();
        let entry = |i: u64, who: &str| crate::Commit {
            log: vec![(i, who.as_bytes().to_vec())],
            ..Default::default()
        };
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            // One instance takes the lock and freezes (its connection stays
            // open, idle in the transaction) for longer than the timeout.
            let frozen_result = s.spawn(|| {
                frozen.write_exclusive(0, &mut |tail, _| {
                    locked_tx.send(tail.len()).unwrap();
                    std::thread::sleep(Duration::from_secs(3));
                    Ok(entry(0, "frozen"))
                })
            });
            assert_eq!(locked_rx.recv().unwrap(), 0);
            // The other gets the lock once the database has ended the
            // frozen transaction, and sees nothing of it.
            let mut seen = None;
            other
                .write_exclusive(0, &mut |tail, _| {
                    seen = Some(tail.len());
                    Ok(entry(0, "other"))
                })
                .unwrap();
            assert_eq!(seen, Some(0));
            // Waking up, the frozen instance cannot commit what it prepared.
            let err = frozen_result.join().unwrap().expect_err("fenced off");
            assert!(!err.to_string().is_empty());
        });
        let log = other.load_log().unwrap();
        assert_eq!(log, vec![b"other".to_vec()]);
    }

    #[test]
    fn an_unreachable_server_is_an_error_naming_it() {
        let err = PgStore::open("postgres://postgres@127.0.0.1:1/none?connect_timeout=2")
            .err()
            .expect("nothing listens on port 1");
        assert!(err.to_string().contains("PostgreSQL error"), "{err}");
    }

    #[test]
    fn instances_starting_together_migrate_once_and_agree_on_the_secret() {
        let Some(db) = TestDb::create() else { return };
        let barrier = Barrier::new(6);
        let secrets: Vec<[u8; 32]> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..6)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        let store = PgStore::open(&db.url).unwrap();
                        store.secret().unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(secrets.iter().all(|s| *s == secrets[0]));
        let versions: Vec<i64> = db
            .client()
            .query("SELECT version FROM schema_version ORDER BY version", &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        // Each migration applied exactly once, in order.
        let all: Vec<i64> = (1..=versions.len() as i64).collect();
        assert_eq!(versions, all);
        assert!(versions.len() >= 3, "{versions:?}");
    }

    #[test]
    fn two_instances_see_each_others_commits() {
        let Some(db) = TestDb::create() else { return };
        let a = PgStore::open(&db.url).unwrap();
        let b = PgStore::open(&db.url).unwrap();
        assert_eq!(a.secret().unwrap(), b.secret().unwrap());
        submit(&a, vec![Change::PutConstraint(constraint(1, low()))]);
        assert_eq!(loaded_constraints(&b), vec![constraint(1, low())]);
        commit(
            &b,
            Commit {
                changes: vec![Change::DeleteConstraint(Uuid::from_u128(1))],
                log: vec![(0, b"from b".to_vec())],
                events: vec![event(1, "bravo", true, "2026-01-01T00:00:00Z")],
                ..Default::default()
            },
        )
        .unwrap();
        assert!(loaded_constraints(&a).is_empty());
        assert_eq!(a.load_log().unwrap(), vec![b"from b".to_vec()]);
        assert_eq!(a.unacknowledged_critical().unwrap().len(), 1);
        // The record's primary key fences a second writer: the same index
        // from the other instance fails instead of forking the record.
        let r = commit(
            &a,
            Commit {
                log: vec![(0, b"from a".to_vec())],
                ..Default::default()
            },
        );
        assert!(r.unwrap_err().to_string().contains("duplicate key"));
    }

    #[test]
    fn eight_threads_on_two_instances_are_all_acknowledged_and_loaded_back() {
        let Some(db) = TestDb::create() else { return };
        let stores = [
            PgStore::open(&db.url).unwrap(),
            PgStore::open(&db.url).unwrap(),
        ];
        const PER_THREAD: u64 = 60;
        let acked = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|s| {
            for t in 0..8u64 {
                let store = &stores[(t % 2) as usize];
                let acked = &acked;
                s.spawn(move || {
                    let (tx, rx) = mpsc::channel();
                    for i in 0..PER_THREAD {
                        let n = t * 1000 + i + 1;
                        let tx = tx.clone();
                        store.submit(
                            Commit {
                                changes: vec![Change::PutConstraint(constraint(n as u128, low()))],
                                events: vec![event(n, "bravo", i % 3 == 0, "2026-01-01T00:00:00Z")],
                                declarations: vec![declaration(
                                    &n.to_string(),
                                    1,
                                    "alpha",
                                    "2026-01-01T00:00:00Z",
                                    false,
                                )],
                                ..Default::default()
                            },
                            Box::new(move |r| tx.send(r).unwrap()),
                        );
                        // Some waiting, some piling up: batches of all sizes.
                        if i % 10 == 0 {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                    }
                    drop(tx);
                    for r in rx {
                        r.unwrap();
                        acked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                });
            }
        });
        let total = 8 * PER_THREAD as usize;
        assert_eq!(acked.into_inner() as usize, total);
        for s in &stores {
            assert_eq!(loaded_constraints(s).len(), total);
            assert_eq!(s.events_after("bravo", 0, 10_000).unwrap().len(), total);
        }
        eprintln!(
            "retries: {} and {}",
            stores[0].retries(),
            stores[1].retries()
        );
    }

    /// Waits until a session of `db` waits on a lock.
    fn wait_for_lock_wait(db: &TestDb) {
        let mut c = db.client();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                    &[],
                )
                .unwrap()
                .get(0);
            if n > 0 {
                return;
            }
            assert!(Instant::now() < deadline, "the writer never waited");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_serialization_failure_is_retried() {
        let Some(db) = TestDb::create() else { return };
        let s = PgStore::open(&db.url).unwrap();
        submit(&s, vec![Change::PutAvailability(availability("x", "1"))]);
        let mut other = db.client();
        let mut t = other
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::Serializable)
            .start()
            .unwrap();
        t.execute(
            "UPDATE uss_availability SET body = 'other' WHERE uss = 'x'",
            &[],
        )
        .unwrap();
        let (tx, rx) = mpsc::channel();
        s.submit(
            vec![Change::PutAvailability(availability("x", "2"))].into(),
            Box::new(move |r| tx.send(r).unwrap()),
        );
        // The writer blocks on the row, then fails to serialize once `t`
        // commits, and succeeds on its next attempt.
        wait_for_lock_wait(&db);
        t.commit().unwrap();
        rx.recv().unwrap().unwrap();
        assert!(s.retries() >= 1);
        let loaded: Vec<_> = s
            .load()
            .unwrap()
            .into_iter()
            .filter_map(|c| match c {
                Change::PutAvailability(a) => Some(a),
                _ => None,
            })
            .collect();
        assert_eq!(loaded, vec![availability("x", "2")]);
    }

    #[test]
    fn broken_connections_are_replaced() {
        let Some(db) = TestDb::create() else { return };
        let s = PgStore::open(&db.url).unwrap();
        submit(&s, vec![Change::PutConstraint(constraint(1, low()))]);
        assert_eq!(loaded_constraints(&s).len(), 1);
        // As a server restart would: every session of the database ends.
        let mut admin = db.client();
        let killed: i64 = admin
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .unwrap()
            .get(0);
        assert!(killed >= 2, "writer and reader sessions: {killed}");
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(loaded_constraints(&s).len(), 1, "a read reconnects");
        submit(&s, vec![Change::PutConstraint(constraint(2, low()))]);
        assert_eq!(loaded_constraints(&s).len(), 2);
        assert!(s.retries() >= 1, "the writer reconnected");
    }

    fn job(c: Commit) -> (Job, mpsc::Receiver<crate::Result<()>>) {
        let (tx, rx) = mpsc::channel();
        (
            Job {
                commit: c,
                ack: Box::new(move |r| tx.send(r).unwrap()),
            },
            rx,
        )
    }

    fn log(idx: u64, what: &str, changes: Vec<Change>) -> Commit {
        Commit {
            changes,
            log: vec![(idx, what.as_bytes().to_vec())],
            ..Default::default()
        }
    }

    #[test]
    fn a_bad_commit_fails_alone_in_its_batch_and_stops_the_writer() {
        let Some(db) = TestDb::create() else { return };
        let s = PgStore::open(&db.url).unwrap();
        commit(&s, log(0, "zero", vec![])).unwrap();
        let mut w = Writer::new(parse_config(&db.url).unwrap(), Arc::new(AtomicU64::new(0)));
        let (good, good_rx) = job(log(
            1,
            "one",
            vec![Change::PutConstraint(constraint(1, low()))],
        ));
        let (bad, bad_rx) = job(log(0, "zero again", vec![]));
        let (after, after_rx) = job(log(
            2,
            "two",
            vec![Change::PutConstraint(constraint(2, low()))],
        ));
        w.process(vec![good, bad, after]);
        good_rx.recv().unwrap().unwrap();
        let bad = bad_rx.recv().unwrap().unwrap_err().to_string();
        assert!(
            bad.contains("duplicate key") && bad.contains("23505"),
            "{bad}"
        );
        let after = after_rx.recv().unwrap().unwrap_err().to_string();
        assert!(after.contains("earlier commit"), "{after}");
        // Refused from now on: what is durable stays a prefix of what was submitted.
        let (later, later_rx) = job(log(2, "two", vec![]));
        w.process(vec![later]);
        assert!(later_rx
            .recv()
            .unwrap()
            .unwrap_err()
            .to_string()
            .contains("refused"));
        assert_eq!(
            s.load_log().unwrap(),
            vec![b"zero".to_vec(), b"one".to_vec()]
        );
        assert_eq!(loaded_constraints(&s), vec![constraint(1, low())]);
    }

    #[test]
    fn a_batch_of_good_commits_is_one_transaction() {
        let Some(db) = TestDb::create() else { return };
        let s = PgStore::open(&db.url).unwrap();
        let mut w = Writer::new(parse_config(&db.url).unwrap(), Arc::new(AtomicU64::new(0)));
        let (jobs, rxs): (Vec<_>, Vec<_>) = (0..100u64)
            .map(|i| job(log(i, &i.to_string(), vec![])))
            .unzip();
        w.process(jobs);
        for rx in rxs {
            rx.recv().unwrap().unwrap();
        }
        assert_eq!(s.load_log().unwrap().len(), 100);
    }

    #[test]
    fn it_can_be_called_from_inside_an_async_runtime() {
        let Some(db) = TestDb::create() else { return };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let s = PgStore::open(&db.url).unwrap();
            s.secret().unwrap();
            submit(&s, vec![Change::PutConstraint(constraint(1, low()))]);
            assert_eq!(loaded_constraints(&s).len(), 1);
            drop(s);
        });
    }
}

/// Under writes that never pause, the WAL still starts over (the writer
/// catches up between groups) instead of growing until a blocking RESTART.
#[test]
fn the_wal_starts_over_under_sustained_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    let limits = crate::WalLimits {
        reset_pages: 256,     // 1 MiB
        large_pages: 1 << 40, // never: only the reset may bound the WAL
    };
    let store = std::sync::Arc::new(crate::SqliteStore::open_with(&path, limits).unwrap());
    let wal = dir.path().join("d.db-wal");
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    // 4 writers, 16,000 commits of a 4 KiB record entry each: about 80 MiB
    // of WAL frames, which a WAL that never started over would hold. One
    // that does stays at a small multiple of the 1 MiB limit: the
    // checkpointer looks every 100 ms, and on a loaded machine the writer
    // may miss a few chances (its catch-up pass is skipped while the
    // checkpointer's holds the lock); 11-15 MiB on a quiet machine, 17 MiB
    // seen once in CI.
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (store, next) = (store.clone(), next.clone());
            std::thread::spawn(move || loop {
                let idx = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if idx >= 16_000 {
                    break;
                }
                let c = crate::Commit {
                    log: vec![(idx, vec![idx as u8; 4096])],
                    ..Default::default()
                };
                commit(store.as_ref(), c).unwrap();
            })
        })
        .collect();
    let mut largest = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    for w in writers {
        w.join().unwrap();
    }
    assert!(
        largest < 32 << 20,
        "the WAL grew to {largest} bytes; it should start over past 1 MiB"
    );
    let rows = store.load_log().unwrap();
    assert_eq!(rows.len(), 16_000, "every acknowledged entry is kept");
}
