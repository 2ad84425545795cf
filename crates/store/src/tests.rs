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
    store.submit(changes, Box::new(move |r| tx.send(r).unwrap()));
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
            ))],
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
