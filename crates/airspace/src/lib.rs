//! Airspace geometry: the [`Volume4D`] that every declaration is made of.
//!
//! A volume is a footprint on the WGS84 ellipsoid (polygon or circle), an
//! altitude band in metres above the ellipsoid and a UTC time window.
//! This crate validates volumes, decides exactly whether two volumes meet, and
//! keeps an in-memory spatio-temporal [`index::Index`] of them.
//!
//! Architecture invariant: pure. No I/O, no clock reads, no async. Everything
//! here is a function of its arguments, which is what lets the property tests
//! run it millions of times without a server.
//!
//! Layout:
//! - [`footprint`]: polygons and circles on the ellipsoid; exact
//!   `intersects` / `contains` / area (the method is described there).
//! - [`validate`]: checks that name the offending field in F3548 wire terms.
//! - [`index`]: an R-tree over entities made of volumes, for "who is here
//!   then?" queries on every write.
//! - `ellipsoid` and `planar` (private): the WGS84 and plane geometry the
//!   predicates are built from.

mod ellipsoid;
pub mod footprint;
pub mod index;
pub mod overlap;
mod planar;
pub mod validate;

pub use footprint::{Footprint, LatLng, PreparedFootprint};
pub use index::Index;
pub use validate::{
    validate_footprint, validate_query_volume, validate_volume, Limits, ValidationError,
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A closed interval of altitudes in metres above the WGS84 ellipsoid.
/// An unbounded side is `f64::NEG_INFINITY` / `f64::INFINITY` (queries may omit bounds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AltitudeRange {
    #[serde(with = "unbounded_below")]
    pub lower_m: f64,
    #[serde(with = "unbounded_above")]
    pub upper_m: f64,
}

// JSON has no infinity (serde_json writes it as `null` and cannot read it
// back), so an unbounded side is stored as `null` explicitly.
mod unbounded_below {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_some(v)
        } else {
            s.serialize_none()
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NEG_INFINITY))
    }
}

mod unbounded_above {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        super::unbounded_below::serialize(v, s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
    }
}

impl AltitudeRange {
    pub const UNBOUNDED: AltitudeRange = AltitudeRange {
        lower_m: f64::NEG_INFINITY,
        upper_m: f64::INFINITY,
    };

    pub fn overlaps(&self, other: &AltitudeRange) -> bool {
        self.lower_m <= other.upper_m && other.lower_m <= self.upper_m
    }

    /// Whether this range contains the whole of `other`.
    pub fn contains(&self, other: &AltitudeRange) -> bool {
        self.lower_m <= other.lower_m && other.upper_m <= self.upper_m
    }
}

/// A closed interval of UTC instants. `None` on a side means unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRange {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

impl TimeRange {
    pub const UNBOUNDED: TimeRange = TimeRange {
        start: None,
        end: None,
    };

    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        TimeRange {
            start: Some(start),
            end: Some(end),
        }
    }

    pub fn overlaps(&self, other: &TimeRange) -> bool {
        let a_before_b_end = match (self.start, other.end) {
            (Some(s), Some(e)) => s <= e,
            _ => true,
        };
        let b_before_a_end = match (other.start, self.end) {
            (Some(s), Some(e)) => s <= e,
            _ => true,
        };
        a_before_b_end && b_before_a_end
    }

    /// Whether this range contains the whole of `other`.
    pub fn contains(&self, other: &TimeRange) -> bool {
        let start_ok = match (self.start, other.start) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) => a <= b,
        };
        let end_ok = match (self.end, other.end) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) => a >= b,
        };
        start_ok && end_ok
    }
}

/// The volumes of one entity, shared rather than copied: an intent, its
/// implicit subscription and the index slots of both hold the same
/// allocation (four deep copies per intent were ~0.3 GiB at 1M intents).
pub type Volumes = std::sync::Arc<[Volume4D]>;

/// Footprint + altitude band + time window: the unit of every declaration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Volume4D {
    pub footprint: Footprint,
    pub altitude: AltitudeRange,
    pub time: TimeRange,
}

impl Volume4D {
    /// Whether the two volumes share at least one point in area, altitude and time.
    /// Cheap tests (time, altitude) first; the horizontal test is exact.
    pub fn intersects(&self, other: &Volume4D) -> bool {
        self.time.overlaps(&other.time)
            && self.altitude.overlaps(&other.altitude)
            && self.footprint.intersects(&other.footprint)
    }

    /// Whether this volume covers all of `other` in area, altitude and time
    /// (e.g. a subscription covering an operational intent).
    pub fn contains(&self, other: &Volume4D) -> bool {
        self.time.contains(&other.time)
            && self.altitude.contains(&other.altitude)
            && self.footprint.contains(&other.footprint)
    }
}
