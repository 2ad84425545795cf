//! Live traffic through the real binary: telemetry posted over HTTP, an
//! SBS-1 feed over TCP, a recording replayed, and the traffic API that shows
//! aircraft, alerts and feed health.

mod common;

use common::{bin, first_event_of_kind, iso, new_id, wait_for, Server, SC};
use std::io::Write;
use std::net::TcpListener;

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

fn telemetry(id: &str, party: &str, lat: f64, lon: f64, east: f64) -> String {
    serde_json::json!({
        "aircraft_id": id, "party": party, "time": now(),
        "lat_deg": lat, "lon_deg": lon, "alt_m": 10000.0,
        "east_mps": east, "north_mps": 0.0
    })
    .to_string()
}

#[test]
fn telemetry_of_two_parties_raises_a_conflict_alert_naming_both() {
    let s = Server::start();
    let alpha = s.token("alpha", &["any"]);
    let bravo = s.token("bravo", &["any"]);
    // Head-on at 46N, 0.5 deg of longitude apart (~39 km), closing at 400 m/s.
    let (st, v) = s.raw(
        "POST",
        "/v1/traffic/telemetry",
        &alpha,
        telemetry("A1", "alpha", 46.0, 7.0, 200.0).into_bytes(),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["accepted"], 1);
    let (st, v) = s.raw(
        "POST",
        "/v1/traffic/telemetry",
        &bravo,
        telemetry("B1", "bravo", 46.0, 7.5, -200.0).into_bytes(),
    );
    assert_eq!(st, 200, "{v}");

    let (st, v) = s.call("GET", "/v1/traffic/alerts", Some(&alpha), None);
    assert_eq!(st, 200, "{v}");
    let alerts = v["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{v}");
    let a = &alerts[0];
    assert_eq!(a["aircraft_a"], "A1");
    assert_eq!(a["aircraft_b"], "B1");
    assert_eq!(a["party_a"], "alpha");
    assert_eq!(a["party_b"], "bravo");
    assert_eq!(a["kind"], "conflict");
    // ~39 km at 400 m/s: closest approach in about 97 s, head-on so dcpa ~0.
    let tcpa = a["tcpa_s"].as_f64().unwrap();
    assert!((80.0..110.0).contains(&tcpa), "{a}");
    assert!(a["dcpa_m"].as_f64().unwrap() < 100.0, "{a}");

    // Filters: by party, by kind, by area.
    let (_, v) = s.call(
        "GET",
        "/v1/traffic/alerts?party=charlie",
        Some(&alpha),
        None,
    );
    assert_eq!(v["alerts"].as_array().unwrap().len(), 0);
    let (_, v) = s.call(
        "GET",
        "/v1/traffic/alerts?kind=loss_of_separation",
        Some(&alpha),
        None,
    );
    assert_eq!(v["alerts"].as_array().unwrap().len(), 0);
    let (_, v) = s.call(
        "GET",
        "/v1/traffic/alerts?bbox=45,6,47,8",
        Some(&alpha),
        None,
    );
    assert_eq!(v["alerts"].as_array().unwrap().len(), 1);
    let (_, v) = s.call(
        "GET",
        "/v1/traffic/alerts?bbox=10,6,11,8",
        Some(&alpha),
        None,
    );
    assert_eq!(v["alerts"].as_array().unwrap().len(), 0);

    let (st, v) = s.call(
        "GET",
        "/v1/traffic/aircraft?party=bravo",
        Some(&alpha),
        None,
    );
    assert_eq!(st, 200);
    let ac = v["aircraft"].as_array().unwrap();
    assert_eq!(ac.len(), 1);
    assert_eq!(ac[0]["aircraft_id"], "B1");
    let (_, v) = s.call(
        "GET",
        "/v1/traffic/aircraft?bbox=45.9,6.9,46.1,7.1",
        Some(&alpha),
        None,
    );
    assert_eq!(v["aircraft"].as_array().unwrap().len(), 1);

    // Bravo turns away: the alert is resolved.
    let away = serde_json::json!({
        "aircraft_id": "B1", "party": "bravo", "time": now(),
        "lat_deg": 46.0, "lon_deg": 7.5, "alt_m": 10000.0,
        "ground_speed_mps": 200.0, "track_deg": 90.0
    })
    .to_string();
    let (st, _) = s.raw("POST", "/v1/traffic/telemetry", &bravo, away.into_bytes());
    assert_eq!(st, 200);
    let (_, v) = s.call("GET", "/v1/traffic/alerts", Some(&alpha), None);
    assert_eq!(v["alerts"].as_array().unwrap().len(), 0, "{v}");
    s.stop();
}

#[test]
fn bad_telemetry_is_named_by_line_and_field_and_never_stops_the_feed() {
    let s = Server::start();
    let alpha = s.token("alpha", &["any"]);
    let body = [
        telemetry("A1", "alpha", 46.0, 7.0, 100.0),
        "{not json".to_string(),
        telemetry("A2", "alpha", 95.0, 7.0, 100.0),
        telemetry("X9", "bravo", 46.0, 7.0, 100.0),
        telemetry("A3", "alpha", 46.2, 7.0, 100.0),
    ]
    .join("\n");
    let (st, v) = s.raw("POST", "/v1/traffic/telemetry", &alpha, body.into_bytes());
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["accepted"], 2, "{v}");
    let rejected = v["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 3);
    assert_eq!(rejected[0]["line"], 2);
    assert_eq!(rejected[1]["line"], 3);
    assert!(
        rejected[1]["message"]
            .as_str()
            .unwrap()
            .starts_with("lat_deg"),
        "{v}"
    );
    assert_eq!(rejected[2]["line"], 4);
    assert!(
        rejected[2]["message"]
            .as_str()
            .unwrap()
            .starts_with("party"),
        "{v}"
    );

    // Nothing usable at all: 400 naming the line and the field.
    let (st, v) = s.raw(
        "POST",
        "/v1/traffic/telemetry",
        &alpha,
        br#"{"aircraft_id":"A1","party":"alpha","time":"2026-01-01T00:00:00Z","lat_deg":46,"lon_deg":7,"alt_m":"high","east_mps":1,"north_mps":1}"#.to_vec(),
    );
    assert_eq!(st, 400, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("line 1: alt_m"),
        "{v}"
    );

    // A JSON array is accepted too.
    let arr = format!("[{}]", telemetry("A4", "alpha", 46.3, 7.0, 100.0));
    let (st, v) = s.raw("POST", "/v1/traffic/telemetry", &alpha, arr.into_bytes());
    assert_eq!(st, 200, "{v}");

    let (_, v) = s.call("GET", "/v1/traffic/aircraft", Some(&alpha), None);
    let mut ids: Vec<&str> = v["aircraft"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["aircraft_id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["A1", "A3", "A4"]);

    let (_, v) = s.call("GET", "/v1/traffic/feeds", Some(&alpha), None);
    let feed = &v["feeds"][0];
    assert_eq!(feed["kind"], "telemetry");
    assert_eq!(feed["malformed"], 4, "{v}");
    assert_eq!(feed["updates"], 3, "{v}");

    // No token: 401; bad filter: 400 naming it.
    let (st, _) = s.call("GET", "/v1/traffic/aircraft", None, None);
    assert_eq!(st, 401);
    let (st, v) = s.call("GET", "/v1/traffic/aircraft?bbox=1,2,3", Some(&alpha), None);
    assert_eq!(st, 400);
    assert!(v["message"].as_str().unwrap().starts_with("bbox"), "{v}");
    let (st, v) = s.call(
        "GET",
        "/v1/traffic/alerts?kind=near_miss",
        Some(&alpha),
        None,
    );
    assert_eq!(st, 400);
    assert!(v["message"].as_str().unwrap().starts_with("kind"), "{v}");
    s.stop();
}

fn sbs_time() -> String {
    now().format("%Y/%m/%d,%H:%M:%S%.3f").to_string()
}

/// Sends one level aircraft as SBS: its velocity (MSG 4), then its position
/// and pressure altitude (MSG 3).
fn send_sbs(
    conn: &mut impl Write,
    icao: &str,
    alt_ft: u32,
    gs_kt: u32,
    track: u32,
    at: (f64, f64),
) {
    let t = sbs_time();
    let (lat, lon) = at;
    writeln!(
        conn,
        "MSG,4,1,1,{icao},1,{t},{t},,,{gs_kt},{track}.0,,,0,,,,,0\r"
    )
    .unwrap();
    writeln!(
        conn,
        "MSG,3,1,1,{icao},1,{t},{t},,{alt_ft},,,{lat},{lon},,,0,0,0,0\r"
    )
    .unwrap();
    conn.flush().unwrap();
}

/// Waits until the service tracks `n` aircraft, and returns them.
fn wait_for_aircraft(s: &Server, token: &str, n: usize, what: &str) -> Vec<serde_json::Value> {
    wait_for(
        || {
            let (_, v) = s.call("GET", "/v1/traffic/aircraft", Some(token), None);
            v["aircraft"].as_array().is_some_and(|a| a.len() == n)
        },
        what,
    );
    let (_, v) = s.call("GET", "/v1/traffic/aircraft", Some(token), None);
    v["aircraft"].as_array().cloned().unwrap_or_default()
}

#[test]
fn an_sbs_feed_over_tcp_is_read_reconnected_and_survives_garbage() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start_in(tmp.path(), &["--sbs", &addr]);
    let token = s.token("alpha", &["any"]);

    // First connection: garbage, then a velocity and a position, then close.
    let (mut conn, _) = listener.accept().unwrap();
    let t = sbs_time();
    let lines = [
        "this is not SBS".to_string(),
        format!("MSG,4,1,1,4CA2D6,1,{t},{t},,,450,90.0,,,-640,,,,,0"),
        format!("MSG,3,1,1,4CA2D6,1,{t},{t},,37000,,,46.5,7.25,,,0,0,0,0"),
        format!("MSG,1,1,1,4CA2D6,1,{t},{t},EIN123  ,,,,,,,,,,,0"),
    ];
    for l in &lines {
        writeln!(conn, "{l}\r").unwrap();
    }
    conn.flush().unwrap();
    drop(conn);
    let aircraft = wait_for_aircraft(&s, &token, 1, "the SBS aircraft");
    let a = &aircraft[0];
    // ICAO addresses are kept in lower case, as OpenSky writes them.
    assert_eq!(a["aircraft_id"], "4ca2d6");
    assert!(
        (a["alt_m"].as_f64().unwrap() - 37000.0 * 0.3048).abs() < 200.0,
        "{a}"
    );

    // The service reconnects after the close and keeps reading.
    let (mut conn, _) = listener.accept().unwrap();
    send_sbs(&mut conn, "ABCDEF", 20000, 300, 270, (46.6, 7.3));
    wait_for_aircraft(&s, &token, 2, "the second SBS aircraft after reconnecting");
    let (_, v) = s.call("GET", "/v1/traffic/feeds", Some(&token), None);
    let feed = &v["feeds"][0];
    assert_eq!(feed["kind"], "sbs");
    assert_eq!(feed["connected"], true, "{v}");
    assert!(feed["malformed"].as_u64().unwrap() >= 1, "{v}");
    drop(conn);
    s.stop();
}

/// SBS altitudes are pressure altitudes; with the area's QNH and geoid
/// height they are served (and compared with volumes) as W84 heights.
#[test]
fn sbs_pressure_altitudes_become_w84_heights_with_the_areas_datum() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start_in(
        tmp.path(),
        &[
            "--sbs",
            &addr,
            "--sbs-qnh",
            "1033.25",
            "--sbs-geoid-height",
            "50",
        ],
    );
    let token = s.token("alpha", &["any"]);
    let (mut conn, _) = listener.accept().unwrap();
    // Level at 1,000 ft on the standard setting.
    send_sbs(&mut conn, "4CA2D6", 1000, 120, 90, (46.5, 7.25));
    let alt = wait_for_aircraft(&s, &token, 1, "the SBS aircraft")[0]["alt_m"]
        .as_f64()
        .unwrap();
    // 304.8 m of pressure altitude, ~166 m more for a QNH 20 hPa above
    // standard (ISA: ~8.3 m/hPa near the ground), 50 m of geoid.
    assert!((alt - (304.8 + 166.0 + 50.0)).abs() < 5.0, "{alt}");
    drop(conn);
    s.stop();

    // An impossible setting stops the service at start, naming the option.
    let out = std::process::Command::new(bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--sbs-qnh",
            "500",
            "--data-dir",
        ])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--sbs-qnh") && err.contains("850..1100"),
        "{err}"
    );
}

/// Subscribes the party to a 3 km circle, between two altitudes, for an hour.
fn watch(s: &Server, token: &str, lat: f64, lng: f64, lower_m: f64, upper_m: f64) {
    let now = chrono::Utc::now();
    let (st, v) = s.call(
        "PUT",
        &format!("/dss/v1/subscriptions/{}", new_id()),
        Some(token),
        Some(&serde_json::json!({
            "extents": {
                "volume": {
                    "outline_circle": {"center": {"lat": lat, "lng": lng}, "radius": {"value": 3000, "units": "M"}},
                    "altitude_lower": {"value": lower_m, "reference": "W84", "units": "M"},
                    "altitude_upper": {"value": upper_m, "reference": "W84", "units": "M"}
                },
                "time_start": {"value": iso(now), "format": "RFC3339"},
                "time_end": {"value": iso(now + chrono::Duration::hours(1)), "format": "RFC3339"}
            },
            "uss_base_url": "https://watcher.example",
            "notify_for_operational_intents": true
        })),
    );
    assert_eq!(st, 200, "{v}");
}

#[test]
fn a_loss_of_separation_is_critical_for_its_parties_and_an_advisory_for_those_nearby() {
    let s = Server::start();
    let alpha = s.token("alpha", &["any"]);
    let bravo = s.token("bravo", &["any"]);
    let charlie = s.token("charlie", &[SC]);
    watch(&s, &charlie, 46.0, 7.0, 9000.0, 11000.0);
    // Alpha's and bravo's aircraft 50 m apart at 10,000 m: separation lost.
    for (token, id, party, lon) in [
        (&alpha, "A1", "alpha", 7.0),
        (&bravo, "B1", "bravo", 7.0006),
    ] {
        let (st, v) = s.raw(
            "POST",
            "/v1/traffic/telemetry",
            token,
            telemetry(id, party, 46.0, lon, 0.0).into_bytes(),
        );
        assert_eq!(st, 200, "{v}");
    }
    let to_alpha = first_event_of_kind(&s, &alpha, "traffic_alert");
    assert_eq!(
        to_alpha["data"]["alert"]["kind"], "loss_of_separation",
        "{to_alpha}"
    );
    assert_eq!(to_alpha["critical"], true, "{to_alpha}");
    let to_charlie = first_event_of_kind(&s, &charlie, "traffic_alert");
    assert_eq!(
        to_charlie["data"]["alert"]["aircraft_a"], "A1",
        "{to_charlie}"
    );
    assert_eq!(to_charlie["critical"], false, "{to_charlie}");
    assert!(
        to_charlie["data"]["near"]["alt_m"].as_f64().is_some(),
        "{to_charlie}"
    );
    s.stop();
}

#[test]
fn a_loss_of_separation_between_surveillance_aircraft_is_told_to_parties_nearby() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start_in(tmp.path(), &["--sbs", &addr]);
    // Alpha watches the airspace around FL200 there; neither aircraft is its.
    let alpha = s.token("alpha", &[SC]);
    watch(&s, &alpha, 46.5, 7.25, 5000.0, 7000.0);

    // Two ADS-B aircraft 100 ft apart at the same position: a loss of
    // separation between aircraft of no party.
    let (mut conn, _) = listener.accept().unwrap();
    for (icao, ft) in [("4CA2D6", 20000), ("3C6444", 20100)] {
        send_sbs(&mut conn, icao, ft, 300, 90, (46.5, 7.25));
    }
    let ev = first_event_of_kind(&s, &alpha, "traffic_alert");
    let data = &ev["data"];
    assert_eq!(data["change"], "new", "{ev}");
    assert_eq!(data["alert"]["kind"], "loss_of_separation", "{ev}");
    assert!(data["alert"]["party_a"].is_null(), "{ev}");
    assert!(
        (data["near"]["lat_deg"].as_f64().unwrap() - 46.5).abs() < 0.01,
        "{ev}"
    );
    // An advisory: nobody answers for these aircraft.
    assert_eq!(ev["critical"], false, "{ev}");
    drop(conn);
    s.stop();
}

#[test]
fn a_recording_replayed_as_live_traffic_moves_aircraft() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("rec.csv");
    // Two flights converging head-on at FL350, one report every 10 s.
    let mut text = String::from(
        "timestamp,flight_id,icao24,callsign,lat_deg,lon_deg,alt_ft,gs_kt,track_deg,vrate_fpm\n",
    );
    for k in 0..30 {
        let t = 1_512_136_800 + 10 * k;
        let ts = chrono::DateTime::from_timestamp(t, 0).unwrap().to_rfc3339();
        let d = 0.05 * k as f64;
        text += &format!("{ts},F1,aaaaaa,AAA1,46.0,{:.4},35000,400,90,0\n", 6.0 + d);
        text += &format!("{ts},F2,bbbbbb,BBB2,46.0,{:.4},35000,400,270,0\n", 9.0 - d);
    }
    std::fs::write(&csv, text).unwrap();
    let s = Server::start_in(
        tmp.path(),
        &["--replay", csv.to_str().unwrap(), "--replay-speed", "20"],
    );
    let token = s.token("alpha", &["any"]);
    let lon_of_f1 = || -> Option<f64> {
        let (_, v) = s.call("GET", "/v1/traffic/aircraft", Some(&token), None);
        v["aircraft"]
            .as_array()?
            .iter()
            .find(|a| a["aircraft_id"] == "F1")
            .and_then(|a| a["lon_deg"].as_f64())
    };
    wait_for(|| lon_of_f1().is_some(), "the replayed aircraft");
    let first = lon_of_f1().unwrap();
    wait_for(
        || lon_of_f1().is_some_and(|l| l > first + 0.1),
        "the replayed aircraft to move east",
    );
    // They converge: a conflict alert appears.
    wait_for(
        || {
            let (_, v) = s.call("GET", "/v1/traffic/alerts", Some(&token), None);
            v["alerts"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|x| x["aircraft_a"] == "F1" && x["aircraft_b"] == "F2")
            })
        },
        "a conflict between the replayed flights",
    );
    s.stop();
}
