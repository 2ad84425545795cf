//! Feed parsers: text lines in, domain values out. Pure (no sockets, no
//! clock): the adapter that owns a TCP or HTTP connection hands every line
//! to a decoder here. A malformed line is counted (with its reason kept for
//! logging) and skipped; it never stops a feed.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::Deserialize;

use crate::geometry::Kinematics;
use crate::units::{PressureDatum, FPM, KT};

/// A position and velocity of one aircraft at one time, from any feed.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackUpdate {
    pub aircraft_id: String,
    /// The party that reported it (telemetry), `None` for surveillance feeds.
    pub party: Option<String>,
    pub callsign: Option<String>,
    pub time: DateTime<Utc>,
    pub state: Kinematics,
}

/// Counts of what a decoder saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedStats {
    pub lines: u64,
    pub malformed: u64,
    /// Well-formed lines that carry nothing we use (SBS `STA`, `CLK`, MSG 8…).
    pub ignored: u64,
    pub last_error: Option<String>,
}

impl FeedStats {
    fn bad(&mut self, why: String) {
        self.malformed += 1;
        self.last_error = Some(why);
    }
}

/// One SBS-1 (BaseStation, port 30003) `MSG` line, fields as the format
/// defines them (1-based): 2 transmission type, 5 hex ident, 7/8 date and
/// time generated, 11 callsign, 12 altitude (ft), 13 ground speed (kt),
/// 14 track (deg), 15 latitude, 16 longitude, 17 vertical rate (ft/min),
/// 18 squawk, 22 on ground. Empty fields are `None`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SbsMessage {
    pub transmission_type: u8,
    pub icao24: String,
    pub time: Option<DateTime<Utc>>,
    pub callsign: Option<String>,
    pub altitude_ft: Option<f64>,
    pub ground_speed_kt: Option<f64>,
    pub track_deg: Option<f64>,
    pub lat_deg: Option<f64>,
    pub lon_deg: Option<f64>,
    pub vertical_rate_fpm: Option<f64>,
    pub squawk: Option<String>,
    pub on_ground: Option<bool>,
}

/// Parses one SBS line. `Ok(None)` for well-formed lines of other message
/// kinds (`SEL`, `ID`, `AIR`, `STA`, `CLK`).
pub fn parse_sbs_line(line: &str) -> Result<Option<SbsMessage>, String> {
    let f: Vec<&str> = line.trim_end_matches(['\r', '\n']).split(',').collect();
    match f[0] {
        "MSG" => {}
        "SEL" | "ID" | "AIR" | "STA" | "CLK" => return Ok(None),
        other => return Err(format!("unknown message type {other:?}")),
    }
    if f.len() < 22 {
        return Err(format!("MSG line with {} fields, expected 22", f.len()));
    }
    let tt: u8 = f[1]
        .parse()
        .map_err(|_| format!("transmission type {:?}", f[1]))?;
    if !(1..=8).contains(&tt) {
        return Err(format!("transmission type {tt} outside 1-8"));
    }
    let icao = f[4].trim().to_ascii_lowercase();
    if icao.len() != 6 || !icao.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("hex ident {:?} is not 6 hex digits", f[4]));
    }
    let num = |k: usize, name: &str| -> Result<Option<f64>, String> {
        let s = f[k].trim();
        if s.is_empty() {
            return Ok(None);
        }
        let x: f64 = s
            .parse()
            .map_err(|_| format!("{name} {s:?} is not a number"))?;
        if x.is_finite() {
            Ok(Some(x))
        } else {
            Err(format!("{name} {s:?} is not finite"))
        }
    };
    let text = |k: usize| {
        Some(f[k].trim())
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let time = if f[6].is_empty() || f[7].is_empty() {
        None
    } else {
        let d = NaiveDate::parse_from_str(f[6], "%Y/%m/%d")
            .map_err(|e| format!("date {:?}: {e}", f[6]))?;
        let t = NaiveTime::parse_from_str(f[7], "%H:%M:%S%.f")
            .map_err(|e| format!("time {:?}: {e}", f[7]))?;
        // BaseStation writes local receiver time; receivers feeding this
        // service must run on UTC (readsb and dump1090 do by default).
        Some(NaiveDateTime::new(d, t).and_utc())
    };
    let lat = num(14, "latitude")?;
    let lon = num(15, "longitude")?;
    if lat.is_some_and(|x| !(-90.0..=90.0).contains(&x))
        || lon.is_some_and(|x| !(-180.0..=180.0).contains(&x))
    {
        return Err(format!("position {:?}, {:?} out of range", f[14], f[15]));
    }
    let on_ground = match f[21].trim() {
        "" => None,
        "0" => Some(false),
        "-1" | "1" => Some(true),
        other => return Err(format!("on-ground flag {other:?}")),
    };
    Ok(Some(SbsMessage {
        transmission_type: tt,
        icao24: icao,
        time,
        callsign: text(10),
        altitude_ft: num(11, "altitude")?,
        ground_speed_kt: num(12, "ground speed")?,
        track_deg: num(13, "track")?,
        lat_deg: lat,
        lon_deg: lon,
        vertical_rate_fpm: num(16, "vertical rate")?,
        squawk: text(17),
        on_ground,
    }))
}

#[derive(Clone, Debug, Default)]
struct SbsPartial {
    callsign: Option<String>,
    velocity: Option<(f64, f64, f64)>,
}

/// Turns an SBS stream into track updates: MSG 1 brings the callsign, MSG 4
/// the velocity, MSG 2/3 the position and altitude; an update is emitted on
/// each position once a velocity is known (ADS-B sends them separately).
///
/// SBS altitudes are barometric (pressure altitude, ft); the decoder turns
/// them into heights above the WGS84 ellipsoid with its [`PressureDatum`].
#[derive(Debug, Default)]
pub struct SbsDecoder {
    partial: HashMap<String, SbsPartial>,
    datum: PressureDatum,
    pub stats: FeedStats,
}

impl SbsDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder for a feed whose area has this QNH and geoid height.
    pub fn with_datum(datum: PressureDatum) -> Self {
        SbsDecoder {
            datum,
            ..Self::default()
        }
    }

    pub fn feed(&mut self, line: &str) -> Option<TrackUpdate> {
        self.stats.lines += 1;
        let msg = match parse_sbs_line(line) {
            Ok(Some(m)) => m,
            Ok(None) => {
                self.stats.ignored += 1;
                return None;
            }
            Err(why) => {
                self.stats.bad(why);
                return None;
            }
        };
        let p = self.partial.entry(msg.icao24.clone()).or_default();
        if let Some(cs) = &msg.callsign {
            p.callsign = Some(cs.clone());
        }
        if let (Some(gs), Some(trk)) = (msg.ground_speed_kt, msg.track_deg) {
            p.velocity = Some((gs, trk, msg.vertical_rate_fpm.unwrap_or(0.0)));
        }
        match (
            msg.lat_deg,
            msg.lon_deg,
            msg.altitude_ft,
            msg.time,
            p.velocity,
        ) {
            (Some(lat), Some(lon), Some(alt), Some(time), Some((gs, trk, vr)))
                if msg.on_ground != Some(true) =>
            {
                let t = trk.to_radians();
                Some(TrackUpdate {
                    aircraft_id: msg.icao24,
                    party: None,
                    callsign: p.callsign.clone(),
                    time,
                    state: Kinematics::from_track(
                        lat,
                        lon,
                        self.datum.height_w84_m(alt),
                        gs * KT,
                        t,
                        vr * FPM,
                    ),
                })
            }
            _ => {
                if msg.transmission_type == 8
                    || msg.transmission_type == 6
                    || msg.transmission_type == 7
                {
                    self.stats.ignored += 1;
                }
                None
            }
        }
    }
}

/// One telemetry line (JSON) that a party posts about its own aircraft, SI
/// units: `{"aircraft_id", "party", "time" (RFC 3339), "lat_deg", "lon_deg",
/// "alt_m", and either "east_mps"/"north_mps" or "ground_speed_mps"/
/// "track_deg", optional "vs_mps" (default 0)}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TelemetryLine {
    aircraft_id: String,
    party: String,
    time: DateTime<Utc>,
    lat_deg: f64,
    lon_deg: f64,
    alt_m: f64,
    east_mps: Option<f64>,
    north_mps: Option<f64>,
    ground_speed_mps: Option<f64>,
    track_deg: Option<f64>,
    #[serde(default)]
    vs_mps: f64,
    callsign: Option<String>,
    /// The operational intent the aircraft is flying, for conformance
    /// monitoring.
    intent_id: Option<String>,
}

/// A parsed telemetry line: the update and, if the party gave it, the
/// operational intent the aircraft flies.
#[derive(Clone, Debug, PartialEq)]
pub struct Telemetry {
    pub update: TrackUpdate,
    pub intent_id: Option<String>,
}

/// Parses and validates one telemetry line; the error names the field.
pub fn parse_telemetry_line(line: &str) -> Result<TrackUpdate, String> {
    parse_telemetry(line).map(|t| t.update)
}

/// Like [`parse_telemetry_line`], keeping the intent the line names.
pub fn parse_telemetry(line: &str) -> Result<Telemetry, String> {
    let mut de = serde_json::Deserializer::from_str(line);
    let t: TelemetryLine = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })?;
    de.end().map_err(|e| format!("trailing data: {e}"))?;
    if t.aircraft_id.trim().is_empty() {
        return Err("aircraft_id: empty".into());
    }
    if t.party.trim().is_empty() {
        return Err("party: empty".into());
    }
    if !(-90.0..=90.0).contains(&t.lat_deg) {
        return Err(format!("lat_deg: {} outside [-90, 90]", t.lat_deg));
    }
    if !(-180.0..=180.0).contains(&t.lon_deg) {
        return Err(format!("lon_deg: {} outside [-180, 180]", t.lon_deg));
    }
    let (east, north) = match (t.east_mps, t.north_mps, t.ground_speed_mps, t.track_deg) {
        (Some(e), Some(n), None, None) => (e, n),
        (None, None, Some(gs), Some(trk)) => {
            if gs < 0.0 {
                return Err(format!("ground_speed_mps: {gs} is negative"));
            }
            let r = trk.to_radians();
            (gs * r.sin(), gs * r.cos())
        }
        _ => {
            return Err(
                "velocity: give east_mps and north_mps, or ground_speed_mps and track_deg".into(),
            )
        }
    };
    for (name, v) in [
        ("alt_m", t.alt_m),
        ("velocity", east),
        ("velocity", north),
        ("vs_mps", t.vs_mps),
    ] {
        if !v.is_finite() {
            return Err(format!("{name}: not finite"));
        }
    }
    if t.intent_id.as_deref().is_some_and(|i| i.trim().is_empty()) {
        return Err("intent_id: empty".into());
    }
    Ok(Telemetry {
        update: TrackUpdate {
            aircraft_id: t.aircraft_id,
            party: Some(t.party),
            callsign: t.callsign,
            time: t.time,
            state: Kinematics {
                lat_deg: t.lat_deg,
                lon_deg: t.lon_deg,
                alt_m: t.alt_m,
                east_mps: east,
                north_mps: north,
                vs_mps: t.vs_mps,
            },
        },
        intent_id: t.intent_id,
    })
}

/// Telemetry lines in, updates out, malformed lines counted.
#[derive(Debug, Default)]
pub struct TelemetryDecoder {
    pub stats: FeedStats,
}

impl TelemetryDecoder {
    pub fn feed(&mut self, line: &str) -> Option<TrackUpdate> {
        self.stats.lines += 1;
        if line.trim().is_empty() {
            self.stats.ignored += 1;
            return None;
        }
        parse_telemetry_line(line)
            .map_err(|why| self.stats.bad(why))
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::FT;

    const MSG4: &str = "MSG,4,1,1,4CA2D6,1,2018/08/01,12:00:00.000,2018/08/01,12:00:00.000,,,450,90.0,,,-640,,,,,0";
    const MSG3: &str =
        "MSG,3,1,1,4CA2D6,1,2018/08/01,12:00:01.500,2018/08/01,12:00:01.500,,37000,,,46.5,7.25,,,0,0,0,0";
    const MSG1: &str =
        "MSG,1,1,1,4CA2D6,1,2018/08/01,12:00:00.000,2018/08/01,12:00:00.000,EIN123  ,,,,,,,,,,,0";

    #[test]
    fn sbs_fields_are_read_as_the_format_defines_them() {
        let m = parse_sbs_line(MSG3).unwrap().unwrap();
        assert_eq!(m.transmission_type, 3);
        assert_eq!(m.icao24, "4ca2d6");
        assert_eq!(m.altitude_ft, Some(37000.0));
        assert_eq!((m.lat_deg, m.lon_deg), (Some(46.5), Some(7.25)));
        assert_eq!(m.on_ground, Some(false));
        assert_eq!(
            m.time.unwrap().to_rfc3339(),
            "2018-08-01T12:00:01.500+00:00"
        );
        let m = parse_sbs_line(MSG4).unwrap().unwrap();
        assert_eq!(
            (m.ground_speed_kt, m.track_deg, m.vertical_rate_fpm),
            (Some(450.0), Some(90.0), Some(-640.0))
        );
        assert_eq!(
            parse_sbs_line(MSG1).unwrap().unwrap().callsign.as_deref(),
            Some("EIN123")
        );
        assert_eq!(
            parse_sbs_line(
                "STA,,5,179,400AE7,10103,2008/11/28,14:58:51.153,2008/11/28,14:58:51.153,RM"
            )
            .unwrap(),
            None
        );
    }

    #[test]
    fn sbs_altitudes_become_w84_heights_with_the_feeds_datum() {
        let datum = PressureDatum::new(1023.0, 49.0).unwrap();
        let mut plain = SbsDecoder::new();
        let mut local = SbsDecoder::with_datum(datum);
        for d in [&mut plain, &mut local] {
            d.feed(MSG4);
        }
        let as_reported = plain.feed(MSG3).unwrap().state.alt_m;
        let converted = local.feed(MSG3).unwrap().state.alt_m;
        assert_eq!(as_reported, 37000.0 * FT);
        assert_eq!(converted, datum.height_w84_m(37000.0));
        // Higher QNH: the aircraft is higher than its pressure altitude, and
        // the geoid lifts mean sea level above the ellipsoid.
        assert!(
            converted > as_reported + 49.0,
            "{converted} vs {as_reported}"
        );
    }

    #[test]
    fn sbs_decoder_merges_messages_and_counts_garbage() {
        let mut d = SbsDecoder::new();
        assert!(d.feed(MSG3).is_none(), "no velocity yet");
        assert!(d.feed(MSG1).is_none());
        assert!(d.feed(MSG4).is_none());
        for bad in [
            "",
            "MSG,3,1,1",
            "MSG,9,1,1,4CA2D6,1,2018/08/01,12:00:01.500,2018/08/01,12:00:01.500,,37000,,,46.5,7.25,,,0,0,0,0",
            "MSG,3,1,1,XYZ,1,2018/08/01,12:00:01.500,2018/08/01,12:00:01.500,,37000,,,46.5,7.25,,,0,0,0,0",
            "MSG,3,1,1,4CA2D6,1,2018/08/01,12:00:01.500,2018/08/01,12:00:01.500,,37000,,,96.5,7.25,,,0,0,0,0",
            "MSG,3,1,1,4CA2D6,1,2018/08/01,12:00:01.500,2018/08/01,12:00:01.500,,abc,,,46.5,7.25,,,0,0,0,0",
            "MSG,3,1,1,4CA2D6,1,2018/13/01,12:00:01.500,2018/08/01,12:00:01.500,,37000,,,46.5,7.25,,,0,0,0,0",
            "\u{fffd}\u{fffd}garbage",
        ] {
            assert!(d.feed(bad).is_none());
        }
        assert_eq!(d.stats.malformed, 8);
        let u = d.feed(MSG3).expect("position with known velocity");
        assert_eq!(u.callsign.as_deref(), Some("EIN123"));
        assert!((u.state.alt_m - 37000.0 * 0.3048).abs() < 1e-9);
        assert!((u.state.east_mps - 450.0 * 1852.0 / 3600.0).abs() < 1e-9);
        assert!(u.state.north_mps.abs() < 1e-9);
        assert!((u.state.vs_mps + 640.0 * 0.3048 / 60.0).abs() < 1e-12);
        assert_eq!(d.stats.lines, 12);
    }

    #[test]
    fn telemetry_lines_parse_and_errors_name_the_field() {
        let ok = r#"{"aircraft_id":"D1","party":"alpha","time":"2026-01-01T10:00:00Z","lat_deg":46.0,"lon_deg":7.0,"alt_m":120.0,"ground_speed_mps":10.0,"track_deg":0.0}"#;
        let u = parse_telemetry_line(ok).unwrap();
        assert_eq!(u.party.as_deref(), Some("alpha"));
        assert!((u.state.north_mps - 10.0).abs() < 1e-12 && u.state.east_mps.abs() < 1e-12);
        let en = r#"{"aircraft_id":"D1","party":"alpha","time":"2026-01-01T10:00:00Z","lat_deg":46.0,"lon_deg":7.0,"alt_m":120.0,"east_mps":3.0,"north_mps":4.0,"vs_mps":1.5}"#;
        assert_eq!(parse_telemetry_line(en).unwrap().state.vs_mps, 1.5);

        let mut d = TelemetryDecoder::default();
        for (line, field) in [
            (ok.replace("46.0", "91.0"), "lat_deg"),
            (ok.replace("\"ground_speed_mps\":10.0,", ""), "velocity"),
            (ok.replace("alpha", ""), "party"),
            (ok.replace("2026-01-01T10:00:00Z", "yesterday"), "time"),
            (ok.replace("}", ",\"colour\":1}"), "colour"),
            ("{not json".to_string(), ""),
        ] {
            assert!(d.feed(&line).is_none());
            let err = d.stats.last_error.clone().unwrap();
            assert!(err.contains(field), "{err} should name {field}");
        }
        assert_eq!(d.stats.malformed, 6);
        assert!(d.feed(ok).is_some());
    }
}
