//! Hostile input through the whole decoding path — JSON decoding, wire
//! conversion, then the rules with their geometry validation — must end in a
//! value or a 4xx, never in a panic or a 5xx.

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{json, Value};
use server::extract::decode;
use server::wire::{self, PutIntentIn, PutSubscriptionIn, QueryIn};

fn caller() -> dss::Caller {
    dss::Caller {
        manager: "fuzzer".into(),
        conformance_monitoring: true,
    }
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()
}

/// Numbers a hostile client may send: ordinary, extreme, and out of range.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-200.0f64..200.0).prop_map(|x| json!(x)),
        Just(json!(0)),
        Just(json!(90.0)),
        Just(json!(-90.0)),
        Just(json!(180.0)),
        Just(json!(-180.0)),
        Just(json!(1e308)),
        Just(json!(-1e308)),
        Just(json!(5e-324)),
        Just(json!(u64::MAX)),
        Just(json!("12")),
        Just(Value::Null),
    ]
}

fn time() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({"value": "2030-01-01T00:10:00Z", "format": "RFC3339"})),
        Just(json!({"value": "2030-01-01T02:00:00.123456789+02:00", "format": "RFC3339"})),
        Just(json!({"value": "9999-12-31T23:59:59Z", "format": "RFC3339"})),
        Just(json!({"value": "0000-01-01T00:00:00Z", "format": "RFC3339"})),
        Just(json!({"value": "yesterday", "format": "RFC3339"})),
        Just(json!({"value": "2030-01-01T00:10:00Z", "format": "ISO"})),
        Just(Value::Null),
        any::<String>().prop_map(|s| json!({"value": s, "format": "RFC3339"})),
    ]
}

fn altitude() -> impl Strategy<Value = Value> {
    (
        number(),
        prop_oneof![Just("W84"), Just("AGL")],
        prop_oneof![Just("M"), Just("FT")],
    )
        .prop_map(|(v, r, u)| json!({"value": v, "reference": r, "units": u}))
}

fn vertex() -> impl Strategy<Value = Value> {
    (number(), number()).prop_map(|(lat, lng)| json!({"lat": lat, "lng": lng}))
}

fn volume4d() -> impl Strategy<Value = Value> {
    let outline = prop_oneof![
        prop::collection::vec(vertex(), 0..8)
            .prop_map(|v| json!({"outline_polygon": {"vertices": v}})),
        (vertex(), number()).prop_map(
            |(c, r)| json!({"outline_circle": {"center": c, "radius": {"value": r, "units": "M"}}})
        ),
        Just(json!({})),
    ];
    (outline, altitude(), altitude(), time(), time()).prop_map(|(mut o, lo, hi, ts, te)| {
        o["altitude_lower"] = lo;
        o["altitude_upper"] = hi;
        json!({"volume": o, "time_start": ts, "time_end": te})
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode::<PutIntentIn>(&bytes);
        let _ = decode::<QueryIn>(&bytes);
        let _ = decode::<PutSubscriptionIn>(&bytes);
    }

    #[test]
    fn structured_intents_end_in_a_value_or_a_client_error(
        extents in prop::collection::vec(volume4d(), 0..3),
        state in prop_oneof![Just("Accepted"), Just("Activated"), Just("Ended"), Just("Nonconforming")],
        key in prop::collection::vec(any::<String>(), 0..3),
    ) {
        let body = json!({
            "extents": extents, "key": key, "state": state,
            "uss_base_url": "https://uss.example",
            "new_subscription": {"uss_base_url": "https://uss.example"}
        });
        let bytes = serde_json::to_vec(&body).unwrap();
        let mut d = dss::Dss::new(dss::Config::default(), [0; 32]);
        if let Ok(req) = decode::<PutIntentIn>(&bytes) {
            let converted: Result<Vec<_>, _> = req
                .extents
                .iter()
                .enumerate()
                .map(|(i, v)| wire::volume4d(v, &format!("extents[{i}]")))
                .collect();
            if let (Ok(extents), Some(state)) = (converted, dss::OperationalIntentState::parse(&req.state)) {
                let r = d.put_intent(&caller(), now(), dss::PutOperationalIntent {
                    id: uuid::Uuid::from_u128(1),
                    ovn: None,
                    extents,
                    key: req.key.unwrap_or_default(),
                    state,
                    uss_base_url: req.uss_base_url,
                    subscription: dss::SubscriptionChoice::Implicit {
                        uss_base_url: "https://uss.example".into(),
                        notify_for_constraints: false,
                    },
                    monitoring: Default::default(),
                });
                if let Err(e) = r {
                    let status = server::error::ApiError::from(e).status;
                    prop_assert!(status.is_client_error(), "{status}");
                }
            }
        }
    }

    #[test]
    fn structured_queries_end_in_a_value_or_a_client_error(aoi in volume4d()) {
        let bytes = serde_json::to_vec(&json!({"area_of_interest": aoi})).unwrap();
        let d = dss::Dss::new(dss::Config::default(), [0; 32]);
        let parsed = decode::<QueryIn>(&bytes).ok().and_then(|q| {
            q.area_of_interest
                .as_ref()
                .and_then(|a| wire::volume4d(a, "area_of_interest").ok())
        });
        if let Some(v) = parsed {
            let _ = d.query_intents(&v);
            let _ = d.query_subscriptions(&caller(), &v, now());
        }
    }
}

/// An F3411-19 Volume4D: a polygon footprint, plain numbers and string times.
fn volume4d_19() -> impl Strategy<Value = Value> {
    let rfc = prop_oneof![
        Just(json!("2030-01-01T00:10:00Z")),
        Just(json!("2030-01-01T02:00:00.123456+02:00")),
        Just(json!("9999-12-31T23:59:59Z")),
        Just(json!("soon")),
        Just(Value::Null),
        any::<String>().prop_map(|s| json!(s)),
    ];
    (
        prop::collection::vec(vertex(), 0..8),
        number(),
        number(),
        rfc.clone(),
        rfc,
    )
        .prop_map(|(v, lo, hi, ts, te)| {
            json!({
                "spatial_volume": {"footprint": {"vertices": v}, "altitude_lo": lo, "altitude_hi": hi},
                "time_start": ts, "time_end": te
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Both F3411 versions: body decoding, then the rules, on the ISA and
    /// subscription paths; and search query strings.
    #[test]
    fn remote_id_requests_end_in_a_value_or_a_client_error(
        v22 in volume4d(),
        v19 in volume4d_19(),
        query in any::<String>(),
        numbers in prop::collection::vec(number(), 0..10),
    ) {
        use server::rid::{put_request, search_query, Api};
        let mut d = dss::Dss::new(dss::Config::default(), [0; 32]);
        let id = uuid::Uuid::from_u128(1);
        let bodies = [
            (Api::V22a, json!({"extents": v22, "uss_base_url": "https://sp.example"})),
            (Api::V19, json!({"extents": v19.clone(), "flights_url": "https://sp.example/flights",
                              "callbacks": {"identification_service_area_url": "https://dp.example"}})),
        ];
        let client_error = |e: dss::DssError| server::error::ApiError::from(e).status.is_client_error();
        for (api, body) in bodies {
            let bytes = serde_json::to_vec(&body).unwrap();
            match put_request(api, true, id, None, &bytes) {
                Ok(req) => if let Err(e) = d.put_isa("sp", now(), req) { prop_assert!(client_error(e)) },
                Err(e) => prop_assert!(e.status.is_client_error()),
            }
            match put_request(api, false, id, None, &bytes) {
                Ok(req) => if let Err(e) = d.put_rid_subscription("dp", now(), req) { prop_assert!(client_error(e)) },
                Err(e) => prop_assert!(e.status.is_client_error()),
            }
        }
        let area: Vec<String> = numbers.iter().map(|n| n.to_string().trim_matches('"').to_string()).collect();
        for q in [query, format!("area={}", area.join(","))] {
            match search_query(Some(&q)) {
                Ok((area, time)) => {
                    if let Err(e) = d.search_isas(&area, time, now()) { prop_assert!(client_error(e)) }
                    if let Err(e) = d.search_rid_subscriptions("dp", &area, now()) { prop_assert!(client_error(e)) }
                }
                Err(e) => prop_assert!(e.status.is_client_error()),
            }
        }
    }
}
