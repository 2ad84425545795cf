//! The F3411 Remote ID DSS over HTTP, both API versions, against the real
//! binary: what a service provider and a display provider see.

mod common;
use chrono::{Duration, Utc};
use common::*;
use serde_json::{json, Value};

const SP: &str = "rid.service_provider";
const DP: &str = "rid.display_provider";
const WRITE19: &str = "dss.write.identification_service_areas";
const READ19: &str = "dss.read.identification_service_areas";

fn vertices(lat: f64, lng: f64, half: f64) -> Value {
    json!([
        {"lat": lat - half, "lng": lng - half},
        {"lat": lat - half, "lng": lng + half},
        {"lat": lat + half, "lng": lng + half},
        {"lat": lat + half, "lng": lng - half},
    ])
}

fn time22(t: chrono::DateTime<Utc>) -> Value {
    json!({"value": iso(t), "format": "RFC3339"})
}

/// An F3411-22a ISA body over a square, from now for `minutes`.
fn isa22(lat: f64, lng: f64, minutes: i64) -> Value {
    let now = Utc::now();
    json!({
        "extents": {
            "volume": {
                "outline_polygon": {"vertices": vertices(lat, lng, 0.01)},
                "altitude_lower": {"value": 0, "reference": "W84", "units": "M"},
                "altitude_upper": {"value": 3048, "reference": "W84", "units": "M"}
            },
            "time_start": time22(now),
            "time_end": time22(now + Duration::minutes(minutes))
        },
        "uss_base_url": "https://sp.example/rid"
    })
}

/// An F3411-19 subscription body over a square, no times (the DSS picks them).
fn sub19(lat: f64, lng: f64) -> Value {
    json!({
        "extents": {
            "spatial_volume": {"footprint": {"vertices": vertices(lat, lng, 0.05)}}
        },
        "callbacks": {"identification_service_area_url": "https://dp.example/v1/uss/identification_service_areas"}
    })
}

fn area(lat: f64, lng: f64, half: f64) -> String {
    vertices(lat, lng, half)
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{},{}", p["lat"], p["lng"]))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn isas_and_subscriptions_across_both_versions_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &[]);
    let sp = s.token("sp1", &[SP]);
    let dp19 = s.token("dp1", &[READ19]);
    let dp22 = s.token("dp1", &[DP]);

    // A display provider subscribes through F3411-19: times chosen by the DSS (24 h).
    let sub_id = new_id();
    let (st, v) = s.call(
        "PUT",
        &format!("/v1/dss/subscriptions/{sub_id}"),
        Some(&dp19),
        Some(&sub19(37.2, -80.6)),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["subscription"]["notification_index"], 0);
    assert_eq!(v["subscription"]["owner"], "dp1");
    assert_eq!(v["service_areas"], json!([]));
    let start =
        chrono::DateTime::parse_from_rfc3339(v["subscription"]["time_start"].as_str().unwrap())
            .unwrap();
    let end = chrono::DateTime::parse_from_rfc3339(v["subscription"]["time_end"].as_str().unwrap())
        .unwrap();
    assert_eq!(end - start, Duration::hours(24));

    // A service provider declares an ISA through F3411-22a and learns whom to tell.
    let isa_id = new_id();
    let (st, v) = s.call(
        "PUT",
        &format!("/rid/v2/dss/identification_service_areas/{isa_id}"),
        Some(&sp),
        Some(&isa22(37.2, -80.6, 30)),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["service_area"]["owner"], "sp1");
    assert_eq!(v["service_area"]["uss_base_url"], "https://sp.example/rid");
    assert_eq!(v["service_area"]["time_start"]["format"], "RFC3339");
    assert_eq!(
        v["subscribers"],
        json!([{"url": "https://dp.example/v1/uss/identification_service_areas",
                "subscriptions": [{"subscription_id": sub_id, "notification_index": 1}]}])
    );
    let version = v["service_area"]["version"].as_str().unwrap().to_string();

    // The same ISA through F3411-19: flights_url and plain string times.
    let (st, v) = s.call(
        "GET",
        &format!(
            "/v1/dss/identification_service_areas?area={}",
            area(37.2, -80.6, 0.05)
        ),
        Some(&dp19),
        None,
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["service_areas"].as_array().unwrap().len(), 1);
    assert_eq!(
        v["service_areas"][0]["flights_url"],
        "https://sp.example/rid"
    );
    assert!(v["service_areas"][0]["time_end"].is_string());

    // Versions: a wrong one is a 409, a malformed or empty one a 400.
    let wrong = &version[1..version.len() - 1];
    let isa_path = format!("/rid/v2/dss/identification_service_areas/{isa_id}");
    let (st, _) = s.call("DELETE", &format!("{isa_path}/{wrong}"), Some(&sp), None);
    assert_eq!(st, 409);
    let (st, v) = s.call(
        "DELETE",
        &format!("{isa_path}/not-a-version"),
        Some(&sp),
        None,
    );
    assert_eq!(st, 400, "{v}");
    let (st, v) = s.call("DELETE", &format!("{isa_path}/"), Some(&sp), None);
    assert_eq!(st, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("version"), "{v}");
    // A display provider may not change ISAs; nobody unauthenticated may read them.
    let (st, _) = s.call(
        "DELETE",
        &format!("{isa_path}/{version}"),
        Some(&dp22),
        None,
    );
    assert_eq!(st, 403);
    let (st, _) = s.call("GET", &isa_path, None, None);
    assert_eq!(st, 401);

    s.stop();
    let s = Server::start_in(dir.path(), &[]);

    // After the restart: the subscription's index and the ISA are as acknowledged.
    let (st, v) = s.call(
        "GET",
        &format!("/rid/v2/dss/subscriptions/{sub_id}"),
        Some(&dp22),
        None,
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["subscription"]["notification_index"], 1);
    assert_eq!(
        v["subscription"]["uss_base_url"],
        "https://dp.example/v1/uss/identification_service_areas"
    );
    let (st, v) = s.call("DELETE", &format!("{isa_path}/{version}"), Some(&sp), None);
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["subscribers"][0]["subscriptions"][0]["notification_index"],
        2
    );
    let (st, _) = s.call("GET", &isa_path, Some(&dp22), None);
    assert_eq!(st, 404);
}

#[test]
fn bad_requests_name_the_field_and_limits_hold() {
    let s = Server::start();
    let sp = s.token("sp1", &[SP]);
    let dp = s.token("dp1", &[DP]);
    let base = "/rid/v2/dss";

    let mut bad = isa22(37.2, -80.6, 30);
    bad["extents"]["volume"]["outline_polygon"]["vertices"][1]["lat"] = json!(130);
    let (st, v) = s.call(
        "PUT",
        &format!("{base}/identification_service_areas/{}", new_id()),
        Some(&sp),
        Some(&bad),
    );
    assert_eq!(st, 400, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("vertices[1].lat"),
        "{v}"
    );

    let mut past = isa22(37.2, -80.6, 30);
    past["extents"]["time_start"] = time22(Utc::now() - Duration::minutes(10));
    let (st, v) = s.call(
        "PUT",
        &format!("{base}/identification_service_areas/{}", new_id()),
        Some(&sp),
        Some(&past),
    );
    assert_eq!(st, 400, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("extents.time_start"),
        "{v}"
    );

    let (st, v) = s.call(
        "PUT",
        &format!("{base}/identification_service_areas/{}", new_id()),
        Some(&sp),
        Some(&json!({"uss_base_url": "https://sp.example"})),
    );
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["message"], "extents: required");

    // A search area that closes its loop, or is not numbers.
    let open = area(37.2, -80.6, 0.01);
    let first: Vec<&str> = open.split(',').take(2).collect();
    let closed = format!("{open},{}", first.join(","));
    let (st, _) = s.call(
        "GET",
        &format!("{base}/identification_service_areas?area={closed}"),
        Some(&dp),
        None,
    );
    assert_eq!(st, 400);
    let (st, v) = s.call(
        "GET",
        &format!("{base}/subscriptions?area=1,2,x,4,5,6"),
        Some(&dp),
        None,
    );
    assert_eq!(st, 400, "{v}");
    assert!(v["message"].as_str().unwrap().starts_with("area:"), "{v}");

    // F3411-19 has scopes of its own: the F3411-22a provider scope does not
    // write there.
    let now = Utc::now();
    let isa19 = json!({
        "extents": {
            "spatial_volume": {"footprint": {"vertices": vertices(37.2, -80.6, 0.01)},
                               "altitude_lo": 0, "altitude_hi": 100},
            "time_start": iso(now),
            "time_end": iso(now + Duration::minutes(30))
        },
        "flights_url": "https://sp.example/v1/uss/flights"
    });
    let path19 = format!("/v1/dss/identification_service_areas/{}", new_id());
    let (st, _) = s.call("PUT", &path19, Some(&sp), Some(&isa19));
    assert_eq!(st, 403);
    let write19 = s.token("sp1", &[WRITE19]);
    let (st, v) = s.call("PUT", &path19, Some(&write19), Some(&isa19));
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["service_area"]["flights_url"],
        "https://sp.example/v1/uss/flights"
    );
    assert_eq!(v["subscribers"], json!([]));

    // Ten subscriptions per owner over one place; the eleventh is a 429.
    let sub = |minutes: i64| {
        let now = Utc::now();
        json!({
            "extents": {
                "volume": {"outline_polygon": {"vertices": vertices(37.2, -80.6, 0.01)}},
                "time_start": time22(now),
                "time_end": time22(now + Duration::minutes(minutes))
            },
            "uss_base_url": "https://dp.example/rid"
        })
    };
    let (st, v) = s.call(
        "PUT",
        &format!("{base}/subscriptions/{}", new_id()),
        Some(&dp),
        Some(&sub(24 * 60 + 10)),
    );
    assert_eq!(st, 400, "{v}");
    for _ in 0..10 {
        let (st, v) = s.call(
            "PUT",
            &format!("{base}/subscriptions/{}", new_id()),
            Some(&dp),
            Some(&sub(30)),
        );
        assert_eq!(st, 200, "{v}");
    }
    let (st, v) = s.call(
        "PUT",
        &format!("{base}/subscriptions/{}", new_id()),
        Some(&dp),
        Some(&sub(30)),
    );
    assert_eq!(st, 429, "{v}");
    let (st, v) = s.call(
        "GET",
        &format!("{base}/subscriptions?area={}", area(37.2, -80.6, 0.01)),
        Some(&dp),
        None,
    );
    assert_eq!(st, 200);
    assert_eq!(v["subscriptions"].as_array().unwrap().len(), 10);
    // Another party sees none of them.
    let other = s.token("dp2", &[DP]);
    let (_, v) = s.call(
        "GET",
        &format!("{base}/subscriptions?area={}", area(37.2, -80.6, 0.01)),
        Some(&other),
        None,
    );
    assert_eq!(v["subscriptions"], json!([]));
}

#[test]
fn the_auxiliary_api_tells_the_version_and_validates_tokens() {
    let s = Server::start();
    let (st, v) = s.call("GET", "/aux/v1/version", None, None);
    assert_eq!(st, 200);
    assert!(
        v["version"].as_str().unwrap().starts_with("deconflict-"),
        "{v}"
    );
    let read = s.token("uss1", &[READ19]);
    let (st, _) = s.call("GET", "/aux/v1/validate_oauth", Some(&read), None);
    assert_eq!(st, 200);
    let (st, _) = s.call(
        "GET",
        "/aux/v1/validate_oauth?owner=uss1",
        Some(&read),
        None,
    );
    assert_eq!(st, 200);
    let (st, v) = s.call(
        "GET",
        "/aux/v1/validate_oauth?owner=uss2",
        Some(&read),
        None,
    );
    assert_eq!(st, 403, "{v}");
    let (st, _) = s.call("GET", "/aux/v1/validate_oauth", None, None);
    assert_eq!(st, 401);
    let other_scope = s.token("uss1", &[SP]);
    let (st, _) = s.call("GET", "/aux/v1/validate_oauth", Some(&other_scope), None);
    assert_eq!(st, 403);
}
