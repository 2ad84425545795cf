//! Request decoding: arbitrary bytes as the body of a DSS request, through
//! what the service does with it: `server::extract::decode` (JSON with the
//! path of a bad field), the `server::wire` conversions to domain requests
//! (the same functions the handlers call), and
//! the rules in `dss` against a state that already holds an intent, a
//! constraint and a subscription nearby; then the wire encoders on the
//! result. The first byte picks the endpoint ('0' PUT intent, '1' PUT
//! subscription, '2' query, '3' PUT constraint, by value mod 4), so the seed
//! corpus is readable: `0{"extents": ...}`.
//!
//! Nothing may panic (a panic is a 500 at best), a refusal must be a client
//! error naming a field, and an accepted intent must be found again by a
//! query of each of its own extents and by id.
#![no_main]

use chrono::{DateTime, TimeZone, Utc};
use dss::{Caller, Dss};
use libfuzzer_sys::fuzz_target;
use server::error::ApiError;
use server::extract::decode;
use server::wire::{self, PutConstraintIn, PutIntentIn, PutSubscriptionIn, QueryIn};
use std::sync::OnceLock;
use uuid::Uuid;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()
}

fn caller(name: &str) -> Caller {
    Caller {
        manager: name.to_string(),
        conformance_monitoring: false,
    }
}

const FIXED_INTENT: Uuid = Uuid::from_u128(0x1111_1111_1111_4111_8111_1111_1111_1111);
const FIXED_SUB: Uuid = Uuid::from_u128(0x3333_3333_3333_4333_8333_3333_3333_3333);
const FIXED_CONSTRAINT: Uuid = Uuid::from_u128(0x4444_4444_4444_4444_8444_4444_4444_4444);
const TARGET: Uuid = Uuid::from_u128(0x2222_2222_2222_4222_8222_2222_2222_2222);

fn body(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// The requests that set up the state every input is tried against:
/// another party's intent, subscription and constraint around (46, 7),
/// decoded once through the same path as the input.
struct Setup {
    intent: dss::PutOperationalIntent,
    subscription: dss::PutSubscription,
    constraint: dss::PutConstraint,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let vol = r#"{"volume": {"outline_polygon": {"vertices": [
            {"lat": 45.99, "lng": 6.99}, {"lat": 45.99, "lng": 7.01},
            {"lat": 46.01, "lng": 7.01}, {"lat": 46.01, "lng": 6.99}]},
            "altitude_lower": {"value": 0, "reference": "W84", "units": "M"},
            "altitude_upper": {"value": 120, "reference": "W84", "units": "M"}},
            "time_start": {"value": "2030-01-01T01:00:00Z", "format": "RFC3339"},
            "time_end": {"value": "2030-01-01T02:00:00Z", "format": "RFC3339"}}"#;
        let intent = format!(
            r#"{{"extents": [{vol}], "state": "Accepted", "uss_base_url": "https://other.example",
                "new_subscription": {{"uss_base_url": "https://other.example"}}}}"#
        );
        let sub = format!(
            r#"{{"extents": {vol}, "uss_base_url": "https://other.example",
                "notify_for_operational_intents": true, "notify_for_constraints": true}}"#
        );
        let c = format!(r#"{{"extents": [{vol}], "uss_base_url": "https://other.example"}}"#);
        let c: PutConstraintIn = decode(&body(&c)).unwrap();
        Setup {
            intent: wire::put_intent_request(FIXED_INTENT, None, decode(&body(&intent)).unwrap())
                .unwrap(),
            subscription: wire::put_subscription_request(
                FIXED_SUB,
                None,
                decode(&body(&sub)).unwrap(),
            )
            .unwrap(),
            constraint: dss::PutConstraint {
                id: FIXED_CONSTRAINT,
                ovn: None,
                extents: wire::extents(&c.extents).unwrap(),
                uss_base_url: c.uss_base_url,
            },
        }
    })
}

/// A fresh state holding the setup (`Dss` is not `Clone`; this costs a few
/// microseconds per input).
fn base() -> Dss {
    let s = setup();
    let mut d = Dss::new(dss::Config::default(), [7; 32]);
    let other = caller("other");
    d.put_intent(&other, now(), s.intent.clone()).unwrap();
    d.put_subscription(&other, now(), s.subscription.clone())
        .unwrap();
    d.put_constraint(&other, now(), s.constraint.clone())
        .unwrap();
    d
}

/// A refusal must be a client error that says what is wrong.
fn check_refusal(e: &ApiError) {
    let status = e.status.as_u16();
    assert!((400..500).contains(&status), "refused with {status}: {e:?}");
}

fn check_dss_error(e: &dss::DssError) {
    let api: ApiError = e.clone().into();
    check_refusal(&api);
    assert!(!e.to_string().is_empty());
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let me = caller("fuzz");
    match which % 4 {
        0 => {
            let body: PutIntentIn = match decode(bytes) {
                Ok(b) => b,
                Err(e) => return check_refusal(&e),
            };
            let req = match wire::put_intent_request(TARGET, None, body) {
                Ok(r) => r,
                Err(e) => return check_refusal(&e),
            };
            let mut d = base();
            match d.put_intent(&me, now(), req) {
                Err(e) => check_dss_error(&e),
                Ok(out) => {
                    let oi = &out.value.intent;
                    for v in oi.extents.iter() {
                        airspace::validate::validate_volume(v, &d.config().limits)
                            .expect("accepted an invalid volume");
                        let found = d.query_intents(v).expect("query of an accepted extent");
                        assert!(
                            found.iter().any(|o| o.id == TARGET),
                            "an accepted intent is not found by its own extent"
                        );
                    }
                    let got = d.get_intent(TARGET).expect("accepted intent is gone");
                    let json = serde_json::to_string(&wire::IntentChangeOut {
                        subscribers: wire::subscribers_out(&out.value.subscribers),
                        operational_intent_reference: wire::intent_out(
                            got,
                            "fuzz",
                            d.availability_of("fuzz"),
                        ),
                    })
                    .unwrap();
                    assert!(json.contains(&oi.ovn));
                }
            }
        }
        1 => {
            let body: PutSubscriptionIn = match decode(bytes) {
                Ok(b) => b,
                Err(e) => return check_refusal(&e),
            };
            let req = match wire::put_subscription_request(TARGET, None, body) {
                Ok(r) => r,
                Err(e) => return check_refusal(&e),
            };
            let mut d = base();
            match d.put_subscription(&me, now(), req) {
                Err(e) => check_dss_error(&e),
                Ok(out) => {
                    let s = &out.value.subscription;
                    let _ = serde_json::to_string(&wire::subscription_out(s, &[])).unwrap();
                    d.get_subscription(&me, TARGET)
                        .expect("accepted subscription is gone");
                }
            }
        }
        2 => {
            let q: QueryIn = match decode(bytes) {
                Ok(b) => b,
                Err(e) => return check_refusal(&e),
            };
            let Some(aoi) = q.area_of_interest.as_ref() else {
                return;
            };
            let aoi = match wire::volume4d(aoi, "area_of_interest") {
                Ok(v) => v,
                Err(e) => return check_refusal(&e),
            };
            let d = base();
            match d.query_intents(&aoi) {
                Err(e) => check_dss_error(&e),
                Ok(list) => {
                    for o in list {
                        assert!(
                            o.extents.iter().any(|v| v.intersects(&aoi)),
                            "query returned an intent that does not meet the area"
                        );
                        let _ = serde_json::to_string(&wire::intent_out(
                            o,
                            "fuzz",
                            d.availability_of(&o.manager),
                        ))
                        .unwrap();
                    }
                }
            }
            let _ = d.query_constraints(&aoi);
        }
        _ => {
            let body: PutConstraintIn = match decode(bytes) {
                Ok(b) => b,
                Err(e) => return check_refusal(&e),
            };
            let ext = match wire::extents(&body.extents) {
                Ok(x) => x,
                Err(e) => return check_refusal(&e),
            };
            let mut d = base();
            let req = dss::PutConstraint {
                id: TARGET,
                ovn: None,
                extents: ext,
                uss_base_url: body.uss_base_url,
            };
            match d.put_constraint(&me, now(), req) {
                Err(e) => check_dss_error(&e),
                Ok(out) => {
                    let _ = serde_json::to_string(&wire::constraint_out(
                        &out.value.constraint,
                        "fuzz",
                        d.availability_of("fuzz"),
                    ))
                    .unwrap();
                }
            }
        }
    }
});
