use crate::{SqliteStore, Store};
use airspace::{AltitudeRange, Footprint, LatLng, TimeRange, Volume4D};
use chrono::{TimeZone, Utc};
use dss::{Change, Constraint};
use std::sync::mpsc;
use uuid::Uuid;

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
        }],
        uss_base_url: "https://x".into(),
    }
}

fn submit(store: &SqliteStore, changes: Vec<Change>) {
    let (tx, rx) = mpsc::channel();
    store.submit(changes.into(), Box::new(move |r| tx.send(r).unwrap()));
    rx.recv().unwrap().unwrap();
}

#[test]
fn what_is_acknowledged_is_loaded_back_including_unbounded_altitudes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
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
        let s = SqliteStore::open(&path).unwrap();
        secret = s.secret().unwrap();
        submit(
            &s,
            vec![
                Change::PutConstraint(a.clone()),
                Change::PutConstraint(b.clone()),
            ],
        );
        submit(&s, vec![Change::DeleteConstraint(Uuid::from_u128(3))]);
    }
    let s = SqliteStore::open(&path).unwrap();
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

#[test]
fn many_concurrent_submissions_are_grouped_and_all_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let s = std::sync::Arc::new(SqliteStore::open(dir.path().join("d.db")).unwrap());
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
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    let err = SqliteStore::open(&path).err().expect("must refuse");
    assert!(err.to_string().contains("newer"), "{err}");
}

fn commit(store: &SqliteStore, c: crate::Commit) -> crate::Result<()> {
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

#[test]
fn record_events_and_acks_are_durable_together_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    {
        let s = SqliteStore::open(&path).unwrap();
        commit(
            &s,
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
            &s,
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
        s.close();
    }
    let s = SqliteStore::open(&path).unwrap();
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

#[test]
fn a_record_index_written_twice_fails_the_whole_commit() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path().join("d.db")).unwrap();
    commit(
        &s,
        crate::Commit {
            log: vec![(0, b"a".to_vec())],
            ..Default::default()
        },
    )
    .unwrap();
    let r = commit(
        &s,
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
