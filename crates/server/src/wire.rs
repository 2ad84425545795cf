//! The F3548-21 JSON formats (utm.yaml) and their conversion to and from the
//! domain types. This is the only place where wire names, units and reference
//! systems exist; inside, everything is metres, seconds and UTC.
//!
//! Unknown fields are accepted everywhere (clients still send legacy fields such
//! as `old_version`), so no `deny_unknown_fields`.

use crate::error::ApiError;
use airspace::{AltitudeRange, Footprint, LatLng, TimeRange, Volume4D};
use chrono::{DateTime, SecondsFormat, Utc};
use dss::{Availability, Constraint, OperationalIntent, Subscriber, Subscription, UssAvailability};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// What a non-manager sees instead of an OVN (reference DSS wording).
pub const NO_OVN_PHRASE: &str = "Available from USS";
/// `subscription_id` of an intent without a subscription (required field).
pub const NULL_SUBSCRIPTION_ID: &str = "00000000-0000-4000-8000-000000000000";

// ---------------------------------------------------------------- inputs

#[derive(Debug, Deserialize)]
pub struct LatLngIn {
    pub lat: f64,
    pub lng: f64,
}

#[derive(Debug, Deserialize)]
pub struct RadiusIn {
    pub value: f64,
    pub units: String,
}

#[derive(Debug, Deserialize)]
pub struct CircleIn {
    pub center: Option<LatLngIn>,
    pub radius: Option<RadiusIn>,
}

#[derive(Debug, Deserialize)]
pub struct PolygonIn {
    pub vertices: Vec<LatLngIn>,
}

#[derive(Debug, Deserialize)]
pub struct AltitudeIn {
    pub value: f64,
    pub reference: String,
    pub units: String,
}

#[derive(Debug, Deserialize)]
pub struct TimeIn {
    pub value: String,
    pub format: String,
}

#[derive(Debug, Deserialize)]
pub struct Volume3DIn {
    pub outline_circle: Option<CircleIn>,
    pub outline_polygon: Option<PolygonIn>,
    pub altitude_lower: Option<AltitudeIn>,
    pub altitude_upper: Option<AltitudeIn>,
}

#[derive(Debug, Deserialize)]
pub struct Volume4DIn {
    pub volume: Volume3DIn,
    pub time_start: Option<TimeIn>,
    pub time_end: Option<TimeIn>,
}

#[derive(Debug, Deserialize)]
pub struct QueryIn {
    pub area_of_interest: Option<Volume4DIn>,
}

#[derive(Debug, Deserialize)]
pub struct ImplicitSubscriptionIn {
    pub uss_base_url: String,
    pub notify_for_constraints: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct PutIntentIn {
    pub extents: Vec<Volume4DIn>,
    pub key: Option<Vec<String>>,
    pub state: String,
    pub uss_base_url: String,
    pub subscription_id: Option<String>,
    pub new_subscription: Option<ImplicitSubscriptionIn>,
    /// Extension (not in F3548; other clients never send it): aircraft
    /// that fly this intent, for conformance monitoring.
    pub aircraft_ids: Option<Vec<String>>,
    /// Extension: the service may mark the intent Nonconforming when one of
    /// its aircraft leaves its volumes.
    pub mark_nonconforming: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct PutConstraintIn {
    pub extents: Vec<Volume4DIn>,
    pub uss_base_url: String,
}

#[derive(Debug, Deserialize)]
pub struct PutSubscriptionIn {
    pub extents: Volume4DIn,
    pub uss_base_url: String,
    pub notify_for_operational_intents: Option<bool>,
    pub notify_for_constraints: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct SetAvailabilityIn {
    #[serde(default)]
    pub old_version: String,
    pub availability: String,
}

/// `ErrorReport` of `POST /dss/v1/reports`, for validation only: the report
/// is kept as sent (unknown fields included), but its fields must have the
/// spec's types. Most fields are only read by serde, to check their types.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
pub struct ErrorReportIn {
    /// Assigned by the service; whatever is sent is replaced.
    pub report_id: Option<serde_json::Value>,
    pub exchange: ExchangeRecordIn,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
pub struct ExchangeRecordIn {
    pub url: String,
    pub method: String,
    #[serde(default)]
    pub headers: Vec<String>,
    pub recorder_role: String,
    pub request_time: TimeIn,
    #[serde(default)]
    pub request_body: String,
    pub response_time: Option<TimeIn>,
    #[serde(default)]
    pub response_body: String,
    #[serde(default)]
    pub response_code: i32,
    pub problem: Option<String>,
    /// Listed as required by the spec but given no schema, and not sent by
    /// the InterUSS clients (their qualifier's report has none): optional,
    /// any JSON value.
    pub request_source: Option<serde_json::Value>,
}

// ---------------------------------------------------------------- request bodies

/// Every extent of a request, in order, named `extents[i]` in errors.
pub fn extents(vs: &[Volume4DIn]) -> Result<Vec<Volume4D>, ApiError> {
    vs.iter()
        .enumerate()
        .map(|(i, v)| volume4d(v, &format!("extents[{i}]")))
        .collect()
}

/// The body of `PUT /operational_intent_references/{id}[/{ovn}]` as the
/// rules take it.
pub fn put_intent_request(
    id: Uuid,
    ovn: Option<String>,
    body: PutIntentIn,
) -> Result<dss::PutOperationalIntent, ApiError> {
    let state = dss::OperationalIntentState::parse(&body.state).ok_or_else(|| {
        ApiError::bad(
            "state",
            format!(
                "{:?} is not a state the DSS stores (Accepted, Activated, Nonconforming, Contingent)",
                body.state
            ),
        )
    })?;
    let subscription = match (&body.subscription_id, &body.new_subscription) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad(
                "subscription_id",
                "give either subscription_id or new_subscription, not both",
            ))
        }
        (Some(s), None) if !s.is_empty() => {
            dss::SubscriptionChoice::Existing(parse_uuid(s, "subscription_id")?)
        }
        (_, Some(n)) => {
            if n.uss_base_url.is_empty() {
                return Err(ApiError::bad("new_subscription.uss_base_url", "required"));
            }
            dss::SubscriptionChoice::Implicit {
                uss_base_url: n.uss_base_url.clone(),
                notify_for_constraints: n.notify_for_constraints.unwrap_or(false),
            }
        }
        _ => dss::SubscriptionChoice::None,
    };
    let aircraft_ids = body.aircraft_ids.clone().unwrap_or_default();
    for (i, a) in aircraft_ids.iter().enumerate() {
        if a.trim().is_empty() || a.len() > 64 {
            return Err(ApiError::bad(
                format!("aircraft_ids[{i}]"),
                "must be 1 to 64 characters",
            ));
        }
    }
    Ok(dss::PutOperationalIntent {
        id,
        ovn,
        extents: extents(&body.extents)?,
        key: body.key.unwrap_or_default(),
        state,
        uss_base_url: body.uss_base_url,
        subscription,
        monitoring: dss::Monitoring {
            aircraft_ids,
            mark_nonconforming: body.mark_nonconforming.unwrap_or(false),
        },
    })
}

/// The body of `PUT /subscriptions/{id}[/{version}]` as the rules take it.
pub fn put_subscription_request(
    id: Uuid,
    version: Option<String>,
    body: PutSubscriptionIn,
) -> Result<dss::PutSubscription, ApiError> {
    let e = &body.extents;
    let time_start = e
        .time_start
        .as_ref()
        .map(|t| parse_time(t, &"extents.time_start"))
        .transpose()?;
    let time_end = e
        .time_end
        .as_ref()
        .map(|t| parse_time(t, &"extents.time_end"))
        .transpose()?;
    Ok(dss::PutSubscription {
        id,
        version,
        footprint: footprint(&e.volume, &"extents.volume")?,
        altitude: altitude_range(&e.volume, &"extents.volume")?,
        time_start,
        time_end,
        uss_base_url: body.uss_base_url,
        // The reference DSS defaults both to false; then at least one must be true.
        notify_for_operational_intents: body.notify_for_operational_intents.unwrap_or(false),
        notify_for_constraints: body.notify_for_constraints.unwrap_or(false),
    })
}

// ---------------------------------------------------------------- input conversion

pub fn parse_time(t: &TimeIn, field: &dyn std::fmt::Display) -> Result<DateTime<Utc>, ApiError> {
    if t.format != "RFC3339" {
        return Err(ApiError::bad(
            format!("{field}.format"),
            format!("unsupported time format {:?}; only \"RFC3339\"", t.format),
        ));
    }
    DateTime::parse_from_rfc3339(&t.value)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| {
            ApiError::bad(
                format!("{field}.value"),
                format!("{:?} is not an RFC 3339 time: {e}", t.value),
            )
        })
}

fn altitude(a: &AltitudeIn, field: &dyn std::fmt::Display) -> Result<f64, ApiError> {
    if a.units != "M" {
        return Err(ApiError::bad(
            format!("{field}.units"),
            format!("unsupported units {:?}; only \"M\"", a.units),
        ));
    }
    if a.reference != "W84" {
        return Err(ApiError::bad(
            format!("{field}.reference"),
            format!("unsupported reference {:?}; only \"W84\"", a.reference),
        ));
    }
    Ok(a.value)
}

fn latlng(p: &LatLngIn) -> LatLng {
    LatLng {
        lat: p.lat,
        lng: p.lng,
    }
}

/// The footprint of a Volume3D; `field` is the path of the Volume3D.
pub fn footprint(v: &Volume3DIn, field: &dyn std::fmt::Display) -> Result<Footprint, ApiError> {
    match (&v.outline_circle, &v.outline_polygon) {
        (Some(_), Some(_)) => Err(ApiError::bad(
            field.to_string(),
            "give either outline_circle or outline_polygon, not both",
        )),
        (None, None) => Err(ApiError::bad(
            field.to_string(),
            "an outline_circle or an outline_polygon is required",
        )),
        (None, Some(p)) => Ok(Footprint::Polygon {
            vertices: p.vertices.iter().map(latlng).collect(),
        }),
        (Some(c), None) => {
            let center = c.center.as_ref().ok_or_else(|| {
                ApiError::bad(format!("{field}.outline_circle.center"), "required")
            })?;
            let radius = c.radius.as_ref().ok_or_else(|| {
                ApiError::bad(format!("{field}.outline_circle.radius"), "required")
            })?;
            if radius.units != "M" {
                return Err(ApiError::bad(
                    format!("{field}.outline_circle.radius.units"),
                    format!("unsupported units {:?}; only \"M\"", radius.units),
                ));
            }
            Ok(Footprint::Circle {
                center: latlng(center),
                radius_m: radius.value,
            })
        }
    }
}

pub fn altitude_range(
    v: &Volume3DIn,
    field: &dyn std::fmt::Display,
) -> Result<AltitudeRange, ApiError> {
    let lower = match &v.altitude_lower {
        Some(a) => altitude(a, &format_args!("{field}.altitude_lower"))?,
        None => f64::NEG_INFINITY,
    };
    let upper = match &v.altitude_upper {
        Some(a) => altitude(a, &format_args!("{field}.altitude_upper"))?,
        None => f64::INFINITY,
    };
    Ok(AltitudeRange {
        lower_m: lower,
        upper_m: upper,
    })
}

/// The path of a field inside `parent` (which may be the empty root).
struct Child<'a> {
    parent: &'a str,
    name: &'a str,
}

impl std::fmt::Display for Child<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.parent.is_empty() {
            f.write_str(self.name)
        } else {
            write!(f, "{}.{}", self.parent, self.name)
        }
    }
}

/// Converts a Volume4D; `field` is its path in the request (e.g. `extents[2]`).
/// Geometric validation (coordinates, polygon shape, area) is the domain's job.
pub fn volume4d(v: &Volume4DIn, field: &str) -> Result<Volume4D, ApiError> {
    // Names are spelt only if an error names them: a search area is
    // converted on every query.
    let child = |name| Child {
        parent: field,
        name,
    };
    let start = v
        .time_start
        .as_ref()
        .map(|t| parse_time(t, &child("time_start")))
        .transpose()?;
    let end = v
        .time_end
        .as_ref()
        .map(|t| parse_time(t, &child("time_end")))
        .transpose()?;
    Ok(Volume4D {
        footprint: footprint(&v.volume, &child("volume"))?,
        altitude: altitude_range(&v.volume, &child("volume"))?,
        time: TimeRange { start, end },
    })
}

pub fn parse_uuid(s: &str, field: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(s).map_err(|_| ApiError::bad(field, format!("{s:?} is not a valid UUID")))
}

// ---------------------------------------------------------------- outputs

#[derive(Debug, Serialize)]
pub struct TimeOut {
    pub value: Rfc3339,
    pub format: &'static str,
}

pub fn time_out(t: DateTime<Utc>) -> TimeOut {
    TimeOut {
        value: Rfc3339(t),
        format: "RFC3339",
    }
}

/// A time as chrono's `to_rfc3339_opts(SecondsFormat::AutoSi, true)` spells
/// it (`2026-01-02T03:04:05.120Z`: no fraction, or 3, 6 or 9 digits), written
/// straight into the response instead of into a `String` of its own: query
/// responses carry two per entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339(pub DateTime<Utc>);

impl Rfc3339 {
    /// Writes the time into `buf` (digits by hand: `fmt` machinery and
    /// serde's escaping of each formatted piece cost more than the rest of
    /// an entity's encoding). `None` for what chrono must spell: years
    /// outside 0..=9999, leap seconds.
    fn spell(&self, buf: &mut [u8; 30]) -> Option<usize> {
        use chrono::{Datelike, Timelike};
        let t = self.0.naive_utc();
        let (year, nanos) = (t.year(), t.nanosecond());
        if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
            return None;
        }
        fn digits(out: &mut [u8], mut v: u32) {
            for b in out.iter_mut().rev() {
                *b = b'0' + (v % 10) as u8;
                v /= 10;
            }
        }
        digits(&mut buf[0..4], year as u32);
        buf[4] = b'-';
        digits(&mut buf[5..7], t.month());
        buf[7] = b'-';
        digits(&mut buf[8..10], t.day());
        buf[10] = b'T';
        digits(&mut buf[11..13], t.hour());
        buf[13] = b':';
        digits(&mut buf[14..16], t.minute());
        buf[16] = b':';
        digits(&mut buf[17..19], t.second());
        let mut n = 19;
        let (value, width) = if nanos == 0 {
            (0, 0)
        } else if nanos % 1_000_000 == 0 {
            (nanos / 1_000_000, 3)
        } else if nanos % 1_000 == 0 {
            (nanos / 1_000, 6)
        } else {
            (nanos, 9)
        };
        if width > 0 {
            buf[n] = b'.';
            digits(&mut buf[n + 1..n + 1 + width], value);
            n += 1 + width;
        }
        buf[n] = b'Z';
        Some(n + 1)
    }

    fn with_str<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        let mut buf = [0u8; 30];
        match self.spell(&mut buf) {
            Some(n) => f(std::str::from_utf8(&buf[..n]).expect("ASCII digits and separators")),
            None => f(&self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        }
    }
}

impl std::fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.with_str(|s| f.write_str(s))
    }
}

impl Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.with_str(|t| s.serialize_str(t))
    }
}

/// An operational intent reference or a constraint reference as the
/// standard spells them, borrowing from the stored entity. The two differ
/// only in the members intents have and constraints lack (`state`,
/// `subscription_id`), which are left out when `None`.
#[derive(Debug, Serialize)]
pub struct ReferenceOut<'a> {
    pub id: Uuid,
    pub manager: &'a str,
    pub uss_availability: &'static str,
    pub version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'static str>,
    pub ovn: &'a str,
    pub time_start: TimeOut,
    pub time_end: TimeOut,
    pub uss_base_url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<SubscriptionRef>,
}

/// An operational intent reference.
pub type IntentOut<'a> = ReferenceOut<'a>;
/// A constraint reference (`state` and `subscription_id` are `None`).
pub type ConstraintOut<'a> = ReferenceOut<'a>;

/// An intent's subscription, or the standard's null subscription id.
#[derive(Debug, Clone, Copy)]
pub struct SubscriptionRef(pub Option<Uuid>);

impl Serialize for SubscriptionRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(id) => id.serialize(s),
            None => s.serialize_str(NULL_SUBSCRIPTION_ID),
        }
    }
}

/// The caller sees the OVN only of what it manages: others must ask its manager.
pub fn intent_out<'a>(
    o: &'a OperationalIntent,
    viewer: &str,
    availability: Availability,
) -> IntentOut<'a> {
    let t = o.time();
    IntentOut {
        id: o.id,
        manager: &o.manager,
        uss_availability: availability.as_str(),
        version: o.version,
        state: Some(o.state.as_str()),
        ovn: if *o.manager == *viewer {
            &o.ovn
        } else {
            NO_OVN_PHRASE
        },
        time_start: time_out(t.start.unwrap_or_default()),
        time_end: time_out(t.end.unwrap_or_default()),
        uss_base_url: &o.uss_base_url,
        subscription_id: Some(SubscriptionRef(o.subscription_id)),
    }
}

// ---------------------------------------------------------------- hand-written JSON
//
// Query answers are most of what the service sends, and serde's derived
// encoding spent a tenth of a query's CPU checking, byte by byte, strings
// that cannot need escaping (keys, UUIDs, times, fixed phrases). The two
// entity kinds a query lists are written here by hand, byte for byte what
// their derived `Serialize` writes (a property test holds them to it); the
// derived encoding stays for the rarer answers that embed them.

/// Writes `s` as a JSON string: copied as it is when nothing in it needs
/// escaping (the usual case), else through serde_json.
fn json_str(out: &mut Vec<u8>, s: &str) {
    // A fold without an early exit, so that the compiler checks 16 or 32
    // bytes at a time.
    let plain = !s.bytes().fold(false, |bad, b| {
        bad | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if plain {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, s).expect("a str always encodes into a Vec");
    }
}

fn json_uuid(out: &mut Vec<u8>, id: &Uuid) {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    out.push(b'"');
    out.extend_from_slice(id.hyphenated().encode_lower(&mut buf).as_bytes());
    out.push(b'"');
}

fn json_u32(out: &mut Vec<u8>, mut v: u32) {
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

impl TimeOut {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(br#"{"value":""#);
        // Digits and separators only: nothing to escape.
        self.value.with_str(|t| out.extend_from_slice(t.as_bytes()));
        out.push(b'"');
        out.extend_from_slice(br#","format":"#);
        json_str(out, self.format);
        out.push(b'}');
    }
}

impl ReferenceOut<'_> {
    /// What `serde_json::to_writer` writes for `self`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(br#"{"id":"#);
        json_uuid(out, &self.id);
        out.extend_from_slice(br#","manager":"#);
        json_str(out, self.manager);
        out.extend_from_slice(br#","uss_availability":"#);
        json_str(out, self.uss_availability);
        out.extend_from_slice(br#","version":"#);
        json_u32(out, self.version);
        if let Some(state) = self.state {
            out.extend_from_slice(br#","state":"#);
            json_str(out, state);
        }
        out.extend_from_slice(br#","ovn":"#);
        json_str(out, self.ovn);
        out.extend_from_slice(br#","time_start":"#);
        self.time_start.write_json(out);
        out.extend_from_slice(br#","time_end":"#);
        self.time_end.write_json(out);
        out.extend_from_slice(br#","uss_base_url":"#);
        json_str(out, self.uss_base_url);
        match &self.subscription_id {
            Some(SubscriptionRef(Some(id))) => {
                out.extend_from_slice(br#","subscription_id":"#);
                json_uuid(out, id);
            }
            Some(SubscriptionRef(None)) => {
                out.extend_from_slice(br#","subscription_id":"#);
                json_str(out, NULL_SUBSCRIPTION_ID);
            }
            None => {}
        }
        out.push(b'}');
    }
}

/// `{"<key>":[item,item,...]}`, each item written by `write`.
pub fn encode_list<T>(
    key: &str,
    items: impl IntoIterator<Item = T>,
    write: impl Fn(&T, &mut Vec<u8>),
) -> Encoded {
    let mut out = Vec::with_capacity(4096);
    out.push(b'{');
    json_str(&mut out, key);
    out.extend_from_slice(b":[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(&item, &mut out);
    }
    out.extend_from_slice(b"]}");
    Encoded(out.into())
}

/// `{"<key>":item}`.
pub fn encode_one<T>(key: &str, item: &T, write: impl Fn(&T, &mut Vec<u8>)) -> Encoded {
    let mut out = Vec::with_capacity(1024);
    out.push(b'{');
    json_str(&mut out, key);
    out.push(b':');
    write(item, &mut out);
    out.push(b'}');
    Encoded(out.into())
}

pub fn constraint_out<'a>(
    c: &'a Constraint,
    viewer: &str,
    availability: Availability,
) -> ConstraintOut<'a> {
    let t = c.time();
    ConstraintOut {
        id: c.id,
        manager: &c.manager,
        uss_availability: availability.as_str(),
        version: c.version,
        state: None,
        ovn: if *c.manager == *viewer {
            &c.ovn
        } else {
            NO_OVN_PHRASE
        },
        time_start: time_out(t.start.unwrap_or_default()),
        time_end: time_out(t.end.unwrap_or_default()),
        uss_base_url: &c.uss_base_url,
        subscription_id: None,
    }
}

#[derive(Debug, Serialize)]
pub struct SubscriptionOut {
    pub id: String,
    pub version: String,
    pub notification_index: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_start: Option<TimeOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_end: Option<TimeOut>,
    pub uss_base_url: String,
    pub notify_for_operational_intents: bool,
    pub notify_for_constraints: bool,
    pub implicit_subscription: bool,
    pub dependent_operational_intents: Vec<String>,
}

pub fn subscription_out(s: &Subscription, dependents: &[Uuid]) -> SubscriptionOut {
    let t = s.time();
    SubscriptionOut {
        id: s.id.to_string(),
        version: s.version.clone(),
        notification_index: s.notification_index,
        time_start: t.start.map(time_out),
        time_end: t.end.map(time_out),
        uss_base_url: s.uss_base_url.to_string(),
        notify_for_operational_intents: s.notify_for_operational_intents,
        notify_for_constraints: s.notify_for_constraints,
        implicit_subscription: s.implicit,
        dependent_operational_intents: dependents.iter().map(|d| d.to_string()).collect(),
    }
}

#[derive(Debug, Serialize)]
pub struct SubscriptionStateOut {
    pub subscription_id: String,
    pub notification_index: u64,
}

#[derive(Debug, Serialize)]
pub struct SubscriberOut {
    pub subscriptions: Vec<SubscriptionStateOut>,
    pub uss_base_url: String,
}

/// Groups the notified subscriptions by the USS that must be told.
pub fn subscribers_out(subs: &[Subscriber]) -> Vec<SubscriberOut> {
    let mut by_url: BTreeMap<&str, Vec<SubscriptionStateOut>> = BTreeMap::new();
    for s in subs {
        by_url
            .entry(&*s.uss_base_url)
            .or_default()
            .push(SubscriptionStateOut {
                subscription_id: s.subscription_id.to_string(),
                notification_index: s.notification_index,
            });
    }
    by_url
        .into_iter()
        .map(|(url, subscriptions)| SubscriberOut {
            subscriptions,
            uss_base_url: url.to_string(),
        })
        .collect()
}

#[derive(Debug, Serialize)]
pub struct AvailabilityOut {
    pub status: AvailabilityStatusOut,
    pub version: String,
}

#[derive(Debug, Serialize)]
pub struct AvailabilityStatusOut {
    pub uss: String,
    pub availability: &'static str,
}

pub fn availability_out(a: &UssAvailability) -> AvailabilityOut {
    AvailabilityOut {
        status: AvailabilityStatusOut {
            uss: a.uss.to_string(),
            availability: a.availability.as_str(),
        },
        version: a.version.clone(),
    }
}

/// A JSON response body already encoded: handlers that borrow from the
/// state encode while they hold it, then answer with the bytes.
pub struct Encoded(pub axum::body::Bytes);

/// Encodes `value` as a JSON response body.
pub fn encode<T: Serialize>(value: &T) -> Encoded {
    // These types hold no maps with non-string keys and no fallible
    // `Serialize` impls, so this cannot fail; if it ever did, the client
    // gets a 500 rather than a panic.
    // Most answers are a few kB: start there rather than grow from 128 B.
    let mut buf = Vec::with_capacity(4096);
    match serde_json::to_writer(&mut buf, value) {
        Ok(()) => Encoded(buf.into()),
        Err(e) => {
            tracing::error!(error = %e, "response encoding failed");
            Encoded(axum::body::Bytes::from_static(
                br#"{"message":"internal error: response encoding failed"}"#,
            ))
        }
    }
}

impl axum::response::IntoResponse for Encoded {
    fn into_response(self) -> axum::response::Response {
        (
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            self.0,
        )
            .into_response()
    }
}

// Response envelopes, serialized straight from these types (not through an
// intermediate `serde_json::Value`, which costs a map allocation per field on
// the hottest paths).

#[derive(Debug, Serialize)]
pub struct IntentChangeOut<'a> {
    pub subscribers: Vec<SubscriberOut>,
    pub operational_intent_reference: IntentOut<'a>,
}

#[derive(Debug, Serialize)]
pub struct ConstraintChangeOut<'a> {
    pub subscribers: Vec<SubscriberOut>,
    pub constraint_reference: ConstraintOut<'a>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn any_time() -> impl Strategy<Value = DateTime<Utc>> {
        (-70_000_000_000i64..300_000_000_000i64, 0u32..2_000_000_000)
            .prop_filter_map("a representable time", |(s, n)| {
                Utc.timestamp_opt(s, n).single()
            })
    }

    /// Any text, escapes and control characters included.
    fn any_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9:/._-]{0,40}",
            any::<String>(),
            "[\"\\\\\u{0}-\u{1f}\u{7f}é😀a]{0,8}",
        ]
    }

    /// A constraint reference has no `state` and no `subscription_id`; an
    /// intent's come where the standard's examples put them.
    #[test]
    fn references_have_the_members_of_their_kind() {
        let epoch = Utc.timestamp_opt(0, 0).unwrap();
        let mut r = ReferenceOut {
            id: Uuid::nil(),
            manager: "m",
            uss_availability: "Unknown",
            version: 1,
            state: None,
            ovn: "o",
            time_start: time_out(epoch),
            time_end: time_out(epoch),
            uss_base_url: "u",
            subscription_id: None,
        };
        let keys = |r: &ReferenceOut| {
            let mut out = Vec::new();
            r.write_json(&mut out);
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            let text = String::from_utf8(out).unwrap();
            let mut keys: Vec<(usize, String)> = v
                .as_object()
                .unwrap()
                .keys()
                .map(|k| (text.find(&format!("\"{k}\":")).unwrap(), k.clone()))
                .collect();
            keys.sort();
            keys.into_iter()
                .map(|(_, k)| k)
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(
            keys(&r),
            "id,manager,uss_availability,version,ovn,time_start,time_end,uss_base_url"
        );
        r.state = Some("Accepted");
        r.subscription_id = Some(SubscriptionRef(None));
        assert_eq!(
            keys(&r),
            "id,manager,uss_availability,version,state,ovn,time_start,time_end,uss_base_url,subscription_id"
        );
    }

    proptest! {
        /// The hand-written encoding of a listed intent or constraint is
        /// byte for byte the derived one, and so is the list envelope.
        /// `kind`: `None` for constraints (no state, no subscription),
        /// `Some(subscription)` for intents.
        #[test]
        fn references_are_written_as_serde_writes_them(
            ids in proptest::collection::vec(any::<u128>(), 0..4),
            kind in proptest::option::of(proptest::option::of(any::<u128>())),
            manager in any_text(),
            ovn in any_text(),
            url in any_text(),
            version in any::<u32>(),
            start in any_time(),
            end in any_time(),
        ) {
            let list: Vec<ReferenceOut> = ids
                .iter()
                .map(|&id| ReferenceOut {
                    id: Uuid::from_u128(id),
                    manager: &manager,
                    uss_availability: if kind.is_some() { "Unknown" } else { "Normal" },
                    version,
                    state: kind.map(|_| "Accepted"),
                    ovn: &ovn,
                    time_start: time_out(start),
                    time_end: time_out(end),
                    uss_base_url: &url,
                    subscription_id: kind.map(|sub| SubscriptionRef(sub.map(Uuid::from_u128))),
                })
                .collect();
            for o in &list {
                let mut ours = Vec::new();
                o.write_json(&mut ours);
                prop_assert_eq!(
                    String::from_utf8(ours).unwrap(),
                    serde_json::to_string(o).unwrap()
                );
            }
            let key = if kind.is_some() {
                "operational_intent_references"
            } else {
                "constraint_references"
            };
            let ours = encode_list(key, &list, |c, out| c.write_json(out));
            // The envelope the handlers derived before: one member, the list.
            let theirs = format!("{{\"{key}\":{}}}", serde_json::to_string(&list).unwrap());
            prop_assert_eq!(String::from_utf8(ours.0.to_vec()).unwrap(), theirs);
        }
    }

    proptest! {
        /// Written without an intermediate string, a time reads exactly as
        /// chrono spells it, whatever its fraction of a second.
        #[test]
        fn times_are_spelt_as_chrono_spells_them(
            secs in -70_000_000_000i64..300_000_000_000i64,
            nanos in prop_oneof![
                Just(0u32),
                (0u32..1000).prop_map(|ms| ms * 1_000_000),
                (0u32..1_000_000).prop_map(|us| us * 1_000),
                0u32..1_000_000_000,
                1_000_000_000u32..2_000_000_000,
            ],
        ) {
            let Some(t) = Utc.timestamp_opt(secs, nanos).single() else {
                return Ok(());
            };
            prop_assert_eq!(
                Rfc3339(t).to_string(),
                t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
            );
        }
    }
}
