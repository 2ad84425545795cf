//! Rule tests on the pure state machine: no server, no store.

use super::*;
use airspace::{AltitudeRange, Footprint, LatLng, TimeRange, Volume4D};
use chrono::{TimeZone, Utc};
use std::sync::Arc;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0).unwrap()
}

fn caller(m: &str) -> Caller {
    Caller {
        manager: m.into(),
        conformance_monitoring: false,
    }
}

/// A square of `half` degrees around (lat, lng), 0–120 m, from +10 min for 1 h.
fn vol(lat: f64, lng: f64, half: f64) -> Volume4D {
    Volume4D {
        footprint: Footprint::Polygon {
            vertices: vec![
                LatLng {
                    lat: lat - half,
                    lng: lng - half,
                },
                LatLng {
                    lat: lat - half,
                    lng: lng + half,
                },
                LatLng {
                    lat: lat + half,
                    lng: lng + half,
                },
                LatLng {
                    lat: lat + half,
                    lng: lng - half,
                },
            ],
        },
        altitude: AltitudeRange {
            lower_m: 0.0,
            upper_m: 120.0,
        },
        time: TimeRange::new(t0() + Duration::minutes(10), t0() + Duration::minutes(70)),
    }
}

fn put(id: u128, extents: Vec<Volume4D>, key: Vec<Ovn>) -> PutOperationalIntent {
    PutOperationalIntent {
        id: Uuid::from_u128(id),
        ovn: None,
        extents,
        key,
        state: OperationalIntentState::Accepted,
        uss_base_url: "https://uss.example".into(),
        subscription: SubscriptionChoice::Implicit {
            uss_base_url: "https://uss.example".into(),
            notify_for_constraints: false,
        },
        monitoring: Default::default(),
    }
}

fn dss() -> Dss {
    Dss::new(Config::default(), [7; 32])
}

/// What start-up builds from `changes` ([`Restore`]), with `dss()`'s settings.
fn restore(changes: Vec<Change>) -> Dss {
    let mut r = Dss::restoring(Config::default(), [7; 32]);
    for change in changes {
        r.add(change);
    }
    r.finish()
}

#[test]
fn intersecting_intent_needs_the_others_ovn_in_its_key() {
    let mut d = dss();
    let a = d
        .put_intent(
            &caller("alpha"),
            t0(),
            put(1, vec![vol(46.0, 7.0, 0.01)], vec![]),
        )
        .unwrap()
        .value
        .intent;
    let err = d
        .put_intent(
            &caller("bravo"),
            t0(),
            put(2, vec![vol(46.005, 7.0, 0.01)], vec![]),
        )
        .unwrap_err();
    match err {
        DssError::MissingOvns {
            operational_intents,
            constraints,
        } => {
            assert_eq!(operational_intents.len(), 1);
            assert_eq!(operational_intents[0].id, a.id);
            assert!(constraints.is_empty());
        }
        other => panic!("expected MissingOvns, got {other:?}"),
    }
    // Nothing was stored by the refused write.
    assert!(d.intent(Uuid::from_u128(2)).is_none());
    let b = d
        .put_intent(
            &caller("bravo"),
            t0(),
            put(2, vec![vol(46.005, 7.0, 0.01)], vec![a.ovn.clone()]),
        )
        .unwrap();
    assert_eq!(b.value.intent.version, 1);
}

#[test]
fn key_check_is_exact_not_by_bounding_union() {
    // Alpha declares two small squares far apart; bravo's intent sits in the gap
    // between them, inside their bounding box but touching neither.
    let mut d = dss();
    d.put_intent(
        &caller("alpha"),
        t0(),
        put(
            1,
            vec![vol(46.0, 7.0, 0.005), vol(46.0, 7.2, 0.005)],
            vec![],
        ),
    )
    .unwrap();
    d.put_intent(
        &caller("bravo"),
        t0(),
        put(2, vec![vol(46.0, 7.1, 0.005)], vec![]),
    )
    .expect("no true intersection, so no key needed");
}

#[test]
fn separated_in_time_or_altitude_needs_no_key() {
    let mut d = dss();
    d.put_intent(
        &caller("alpha"),
        t0(),
        put(1, vec![vol(46.0, 7.0, 0.01)], vec![]),
    )
    .unwrap();
    let mut later = vol(46.0, 7.0, 0.01);
    later.time = TimeRange::new(t0() + Duration::minutes(71), t0() + Duration::minutes(90));
    d.put_intent(&caller("bravo"), t0(), put(2, vec![later], vec![]))
        .unwrap();
    let mut higher = vol(46.0, 7.0, 0.01);
    higher.altitude = AltitudeRange {
        lower_m: 121.0,
        upper_m: 200.0,
    };
    d.put_intent(&caller("charlie"), t0(), put(3, vec![higher], vec![]))
        .unwrap();
}

#[test]
fn only_the_manager_may_change_or_delete() {
    let mut d = dss();
    let a = d
        .put_intent(
            &caller("alpha"),
            t0(),
            put(1, vec![vol(46.0, 7.0, 0.01)], vec![]),
        )
        .unwrap()
        .value
        .intent;
    let mut upd = put(1, vec![vol(46.0, 7.0, 0.01)], vec![]);
    upd.ovn = Some(a.ovn.clone());
    assert!(matches!(
        d.put_intent(&caller("bravo"), t0(), upd).unwrap_err(),
        DssError::Forbidden(_)
    ));
    assert!(matches!(
        d.delete_intent(&caller("bravo"), a.id, &a.ovn).unwrap_err(),
        DssError::Forbidden(_)
    ));
    assert!(matches!(
        d.delete_intent(&caller("alpha"), a.id, "wrong-ovn-wrong-ovn")
            .unwrap_err(),
        DssError::Conflict(_)
    ));
    d.delete_intent(&caller("alpha"), a.id, &a.ovn).unwrap();
    assert!(d.intent(a.id).is_none());
}

#[test]
fn implicit_subscription_follows_its_intent_and_counts_dispatches() {
    let mut d = dss();
    let out = d
        .put_intent(
            &caller("alpha"),
            t0(),
            put(1, vec![vol(46.0, 7.0, 0.01)], vec![]),
        )
        .unwrap();
    let a = out.value.intent;
    let sid = a.subscription_id.expect("implicit subscription");
    // Its own creation is the first dispatch it is named in.
    assert_eq!(out.value.subscribers.len(), 1);
    assert_eq!(out.value.subscribers[0].notification_index, 1);
    assert!(d.subscription(sid).unwrap().implicit);
    assert_eq!(d.dependent_intents(sid), vec![a.id]);

    // Bravo's write in the area notifies alpha's subscription once more.
    let b = d
        .put_intent(
            &caller("bravo"),
            t0(),
            put(2, vec![vol(46.0, 7.0, 0.01)], vec![a.ovn.clone()]),
        )
        .unwrap();
    let idx: Vec<u64> = b
        .value
        .subscribers
        .iter()
        .filter(|s| s.subscription_id == sid)
        .map(|s| s.notification_index)
        .collect();
    assert_eq!(idx, vec![2]);

    // Deleting the intent deletes its implicit subscription.
    d.delete_intent(&caller("alpha"), a.id, &a.ovn).unwrap();
    assert!(d.subscription(sid).is_none());
}

#[test]
fn an_implicit_subscription_moves_with_its_intent_and_grows_only_when_shared() {
    let mut d = dss();
    let a = d
        .put_intent(
            &caller("alpha"),
            t0(),
            put(1, vec![vol(46.0, 7.0, 0.01)], vec![]),
        )
        .unwrap()
        .value
        .intent;
    let sid = a.subscription_id.unwrap();
    let moved_to = |lat: f64, ovn: &str, id: u128| {
        let mut p = put(id, vec![vol(lat, 7.0, 0.01)], vec![]);
        p.ovn = Some(ovn.to_string());
        p.subscription = SubscriptionChoice::Existing(sid);
        p
    };
    // Moved twice: the subscription is the intent's extents each time (one
    // volume, the same allocation), not a growing list of every place.
    let mut ovn = a.ovn.clone();
    for lat in [46.1, 46.2] {
        let moved = d
            .put_intent(&caller("alpha"), t0(), moved_to(lat, &ovn, 1))
            .unwrap()
            .value
            .intent;
        let sub = d.subscription(sid).unwrap();
        assert_eq!(*sub.volumes, *moved.extents);
        assert!(Volumes::ptr_eq(
            &sub.volumes,
            &d.intent(a.id).unwrap().extents
        ));
        ovn = moved.ovn;
    }
    // It no longer hears about where the intent was.
    let there = d
        .put_intent(
            &caller("bravo"),
            t0(),
            put(9, vec![vol(46.0, 7.0, 0.01)], vec![]),
        )
        .unwrap();
    assert!(there
        .value
        .subscribers
        .iter()
        .all(|s| s.subscription_id != sid));

    // A second intent relies on it: now a move grows it, so it keeps covering both.
    let mut second = put(2, vec![vol(46.2, 7.0, 0.005)], vec![ovn.clone()]);
    second.subscription = SubscriptionChoice::Existing(sid);
    let b = d
        .put_intent(&caller("alpha"), t0(), second)
        .unwrap()
        .value
        .intent;
    let mut away = moved_to(46.3, &ovn, 1);
    away.key = vec![b.ovn.clone()];
    d.put_intent(&caller("alpha"), t0(), away).unwrap();
    let sub = d.subscription(sid).unwrap();
    assert!(sub.covers(&vol(46.2, 7.0, 0.005)) && sub.covers(&vol(46.3, 7.0, 0.01)));
}

#[test]
fn subscription_relied_on_cannot_be_deleted_or_shrunk() {
    let mut d = dss();
    let sub = d
        .put_subscription(
            &caller("alpha"),
            t0(),
            PutSubscription {
                id: Uuid::from_u128(9),
                version: None,
                footprint: vol(46.0, 7.0, 0.05).footprint,
                altitude: AltitudeRange {
                    lower_m: 0.0,
                    upper_m: 500.0,
                },
                time_start: Some(t0()),
                time_end: Some(t0() + Duration::hours(3)),
                uss_base_url: "https://uss.example".into(),
                notify_for_operational_intents: true,
                notify_for_constraints: false,
            },
        )
        .unwrap()
        .value
        .subscription;
    assert_eq!(sub.notification_index, 0);
    let mut req = put(1, vec![vol(46.0, 7.0, 0.01)], vec![]);
    req.subscription = SubscriptionChoice::Existing(sub.id);
    d.put_intent(&caller("alpha"), t0(), req).unwrap();
    let version = d.subscription(sub.id).unwrap().version.clone();
    assert!(matches!(
        d.delete_subscription(&caller("alpha"), sub.id, &version)
            .unwrap_err(),
        DssError::BadRequest { .. }
    ));
    let shrink = PutSubscription {
        id: sub.id,
        version: Some(version),
        footprint: vol(47.0, 7.0, 0.05).footprint,
        altitude: AltitudeRange {
            lower_m: 0.0,
            upper_m: 500.0,
        },
        time_start: Some(t0()),
        time_end: Some(t0() + Duration::hours(3)),
        uss_base_url: "https://uss.example".into(),
        notify_for_operational_intents: true,
        notify_for_constraints: false,
    };
    assert!(matches!(
        d.put_subscription(&caller("alpha"), t0(), shrink)
            .unwrap_err(),
        DssError::BadRequest { .. }
    ));
}

#[test]
fn replaying_the_changes_rebuilds_the_same_state() {
    let mut d = dss();
    let mut log = Vec::new();
    let a = d
        .put_intent(
            &caller("alpha"),
            t0(),
            put(1, vec![vol(46.0, 7.0, 0.01)], vec![]),
        )
        .unwrap();
    log.extend(a.changes);
    let b = d
        .put_intent(
            &caller("bravo"),
            t0(),
            put(
                2,
                vec![vol(46.0, 7.0, 0.01)],
                vec![a.value.intent.ovn.clone()],
            ),
        )
        .unwrap();
    log.extend(b.changes);
    let mut r = dss();
    for c in &log {
        r.apply(c);
    }
    for id in [1u128, 2] {
        assert_eq!(r.intent(Uuid::from_u128(id)), d.intent(Uuid::from_u128(id)));
    }
    let sid = d
        .intent(Uuid::from_u128(1))
        .unwrap()
        .subscription_id
        .unwrap();
    assert_eq!(r.subscription(sid), d.subscription(sid));
    assert_eq!(r.dependent_intents(sid), d.dependent_intents(sid));
}

#[test]
fn expiry_removes_ended_intents_and_their_implicit_subscriptions() {
    let mut d = dss();
    let a = d
        .put_intent(
            &caller("alpha"),
            t0(),
            put(1, vec![vol(46.0, 7.0, 0.01)], vec![]),
        )
        .unwrap()
        .value
        .intent;
    let sid = a.subscription_id.unwrap();
    let e = d.expire(t0() + Duration::minutes(30)).value;
    assert_eq!(e, Expired::default());
    let e = d.expire(t0() + Duration::minutes(71)).value;
    assert_eq!(e.operational_intents, 1);
    assert_eq!(e.subscriptions, 1);
    assert!(d.intent(a.id).is_none());
    assert!(d.subscription(sid).is_none());
}

#[test]
fn down_uss_accepted_intents_do_not_block() {
    let mut d = dss();
    d.put_intent(
        &caller("alpha"),
        t0(),
        put(1, vec![vol(46.0, 7.0, 0.01)], vec![]),
    )
    .unwrap();
    d.set_availability("alpha", Availability::Down, "", t0())
        .unwrap();
    d.put_intent(
        &caller("bravo"),
        t0(),
        put(2, vec![vol(46.0, 7.0, 0.01)], vec![]),
    )
    .expect("a Down USS's Accepted intent needs no key");
}

#[test]
fn reference_model_bounds_extents_in_altitude_and_time() {
    // Alpha: one low volume. Bravo: a high volume beside a low one elsewhere.
    // Exactly, bravo's high volume does not meet alpha's; in the reference
    // model bravo's extents share the band 0–500 m and so it does.
    let low = vol(46.0, 7.0, 0.01);
    let mut high = vol(46.0, 7.0, 0.01);
    high.altitude = AltitudeRange {
        lower_m: 300.0,
        upper_m: 500.0,
    };
    let far_low = vol(47.0, 7.0, 0.01);
    for (model, conflicts) in [
        (ConflictModel::Exact, false),
        (ConflictModel::Reference, true),
    ] {
        let mut d = Dss::new(
            Config {
                conflict_model: model,
                ..Config::default()
            },
            [1; 32],
        );
        d.put_intent(&caller("alpha"), t0(), put(1, vec![low.clone()], vec![]))
            .unwrap();
        let r = d.put_intent(
            &caller("bravo"),
            t0(),
            put(2, vec![high.clone(), far_low.clone()], vec![]),
        );
        assert_eq!(r.is_err(), conflicts, "{model:?}");
    }
}

#[test]
fn an_intent_shares_its_volumes_with_its_implicit_subscription_also_after_a_reload() {
    let mut d = dss();
    let out = d
        .put_intent(
            &caller("alpha"),
            t0(),
            put(1, vec![vol(46.0, 7.0, 0.01)], vec![]),
        )
        .unwrap();
    let shared = |s: &Dss| {
        let oi = s.intent(Uuid::from_u128(1)).unwrap();
        let sub = s.subscription(oi.subscription_id.unwrap()).unwrap();
        Volumes::ptr_eq(&oi.extents, &sub.volumes)
    };
    assert!(shared(&d));
    // A store hands the rows back apart, each with its own allocation, and
    // subscriptions before intents.
    let mut changes: Vec<Change> = out
        .changes
        .iter()
        .map(|c| serde_json::from_str(&serde_json::to_string(c).unwrap()).unwrap())
        .collect();
    changes.sort_by_key(|c| !matches!(c, Change::PutSubscription(_)));
    let mut r = dss();
    for c in &changes {
        r.apply(c);
    }
    assert!(shared(&r));
    assert_eq!(r.intent(Uuid::from_u128(1)), d.intent(Uuid::from_u128(1)));
    // Start-up restores in bulk, which must share them too.
    let b = restore(changes);
    assert!(shared(&b));
}

#[test]
fn a_bulk_restore_builds_the_state_that_applying_the_changes_one_by_one_does() {
    let mut d = dss();
    let alpha = caller("alpha");
    let mut history: Vec<Change> = Vec::new();
    // 20 intents on a grid, 0.05° apart, so none meets another.
    let at = |i: u128| {
        vol(
            46.0 + 0.05 * (i / 5) as f64,
            7.0 + 0.05 * (i % 5) as f64,
            0.01,
        )
    };
    for i in 1..=20u128 {
        let out = d
            .put_intent(&alpha, t0(), put(i, vec![at(i)], vec![]))
            .unwrap();
        history.extend(out.changes);
    }
    // Two removed, one moved into the place of a removed one.
    for i in [3u128, 7] {
        let ovn = d.intent(Uuid::from_u128(i)).unwrap().ovn.clone();
        history.extend(
            d.delete_intent(&alpha, Uuid::from_u128(i), &ovn)
                .unwrap()
                .changes,
        );
    }
    let mut moved = put(5, vec![at(3)], vec![]);
    moved.ovn = Some(d.intent(Uuid::from_u128(5)).unwrap().ovn.clone());
    history.extend(d.put_intent(&alpha, t0(), moved).unwrap().changes);

    let mut replayed = dss();
    for c in &history {
        replayed.apply(c);
    }
    let restored = restore(history);

    assert_eq!(restored.counts(), replayed.counts());
    assert_eq!(restored.counts().0, 18);
    for i in 1..=20u128 {
        let id = Uuid::from_u128(i);
        assert_eq!(restored.intent(id), replayed.intent(id), "intent {i}");
        if let Some(oi) = replayed.intent(id) {
            let sub = oi.subscription_id.unwrap();
            assert_eq!(restored.subscription(sub), replayed.subscription(sub));
            assert_eq!(restored.dependent_intents(sub), vec![id]);
        }
    }
    // The indexes answer alike: the whole grid, and each place on it
    // (intent 5 now where 3 was; 3's and 7's places and 5's old one empty).
    let ids = |v: Vec<&OperationalIntent>| v.iter().map(|o| o.id).collect::<Vec<_>>();
    let subs = |v: Vec<&Subscription>| v.iter().map(|s| s.id).collect::<Vec<_>>();
    for aoi in std::iter::once(vol(46.1, 7.1, 0.2)).chain((1..=20).map(at)) {
        let want = ids(replayed.query_intents(&aoi).unwrap());
        assert_eq!(ids(restored.query_intents(&aoi).unwrap()), want);
        assert_eq!(
            subs(restored.query_subscriptions(&alpha, &aoi, t0()).unwrap()),
            subs(replayed.query_subscriptions(&alpha, &aoi, t0()).unwrap())
        );
    }
    assert_eq!(
        ids(restored.query_intents(&at(3)).unwrap()),
        vec![Uuid::from_u128(5)]
    );
    assert!(restored.query_intents(&at(7)).unwrap().is_empty());
    assert!(restored.query_intents(&at(5)).unwrap().is_empty());
}

#[test]
fn entities_of_one_manager_share_one_copy_of_its_names_also_after_a_reload() {
    let mut d = dss();
    let mut changes = Vec::new();
    for (i, lat) in [(1u128, 46.0), (2, 47.0)] {
        let out = d
            .put_intent(
                &caller("alpha"),
                t0(),
                put(i, vec![vol(lat, 7.0, 0.01)], vec![]),
            )
            .unwrap();
        changes.extend(out.changes);
    }
    // One allocation for the manager and one for the base URL, whichever
    // entity (intent or subscription) holds them.
    let shared = |s: &Dss| {
        let a = s.intent(Uuid::from_u128(1)).unwrap();
        let b = s.intent(Uuid::from_u128(2)).unwrap();
        let sub = s.subscription(b.subscription_id.unwrap()).unwrap();
        assert_eq!(&*a.manager, "alpha");
        assert_eq!(&*a.uss_base_url, "https://uss.example");
        Arc::ptr_eq(&a.manager, &b.manager)
            && Arc::ptr_eq(&a.manager, &sub.manager)
            && Arc::ptr_eq(&a.uss_base_url, &b.uss_base_url)
            && Arc::ptr_eq(&a.uss_base_url, &sub.uss_base_url)
    };
    assert!(shared(&d));
    // A store hands every row back with allocations of its own.
    let changes: Vec<Change> = changes
        .iter()
        .map(|c| serde_json::from_str(&serde_json::to_string(c).unwrap()).unwrap())
        .collect();
    let mut r = dss();
    for c in &changes {
        r.apply(c);
    }
    assert!(shared(&r));
    assert!(shared(&restore(changes)));
}
