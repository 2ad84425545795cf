//! The strategic entities, in domain terms (SI units, UTC, no wire format).
use airspace::{TimeRange, Volume4D, Volumes};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use uuid::Uuid;

/// A string that many entities carry with the same value (a manager, a
/// base URL). The state keeps one allocation per distinct value (see
/// `Dss::apply` and `names`).
pub type Name = Arc<str>;

/// Who manages an entity: the authenticated party (the token's subject).
pub type Manager = Name;

/// Opaque version number of an intent or constraint. Only its manager sees it.
pub type Ovn = String;

/// The states an operational intent can be stored in. `Ended` is not a state
/// the DSS stores: an intent ends by being deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OperationalIntentState {
    Accepted,
    Activated,
    Nonconforming,
    Contingent,
}

impl OperationalIntentState {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "Accepted" => Self::Accepted,
            "Activated" => Self::Activated,
            "Nonconforming" => Self::Nonconforming,
            "Contingent" => Self::Contingent,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "Accepted",
            Self::Activated => "Activated",
            Self::Nonconforming => "Nonconforming",
            Self::Contingent => "Contingent",
        }
    }

    /// Off-nominal states are entered without a key: an aircraft that has left
    /// its volumes cannot wait for others to agree (F3548-21 SCD0100).
    pub fn requires_key(self) -> bool {
        matches!(self, Self::Accepted | Self::Activated)
    }

    /// Only an Accepted intent may live without a subscription.
    pub fn requires_subscription(self) -> bool {
        self != Self::Accepted
    }

    /// Off-nominal states need the conformance-monitoring scope.
    pub fn requires_cmsa(self) -> bool {
        matches!(self, Self::Nonconforming | Self::Contingent)
    }
}

/// A USS's availability as arbitrated through the DSS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Availability {
    #[default]
    Unknown,
    Normal,
    Down,
}

impl Availability {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "" | "unknown" => Self::Unknown,
            "normal" => Self::Normal,
            "down" => Self::Down,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "Unknown",
            Self::Normal => "Normal",
            Self::Down => "Down",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationalIntent {
    pub id: Uuid,
    pub manager: Manager,
    pub version: u32,
    pub state: OperationalIntentState,
    pub ovn: Ovn,
    /// Kept one by one: conflicts are decided on each extent, never on a union box.
    pub extents: Volumes,
    pub uss_base_url: Name,
    pub subscription_id: Option<Uuid>,
    /// Not in F3548: what the service watches live traffic against.
    #[serde(default, skip_serializing_if = "Monitoring::is_empty")]
    pub monitoring: Monitoring,
}

/// Conformance monitoring of an operational intent, an extension of the
/// standard declared with it: the aircraft that fly it, and whether the
/// service may mark the intent Nonconforming on the owner's behalf when one
/// of them leaves its volumes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Monitoring {
    #[serde(default)]
    pub aircraft_ids: Vec<String>,
    #[serde(default)]
    pub mark_nonconforming: bool,
}

impl Monitoring {
    pub fn is_empty(&self) -> bool {
        self.aircraft_ids.is_empty() && !self.mark_nonconforming
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Constraint {
    pub id: Uuid,
    pub manager: Manager,
    pub version: u32,
    pub ovn: Ovn,
    pub extents: Volumes,
    pub uss_base_url: Name,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: Uuid,
    pub manager: Manager,
    /// Opaque; changes on every change of the subscription.
    pub version: String,
    /// Zero-based; +1 for every dispatch the subscription is named in.
    pub notification_index: u64,
    /// The area of interest. One volume for an explicit subscription; an
    /// implicit one is its intent's extents, and grows a volume for each
    /// extent it must come to cover when other intents rely on it too.
    pub volumes: Volumes,
    pub uss_base_url: Name,
    pub notify_for_operational_intents: bool,
    pub notify_for_constraints: bool,
    pub implicit: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UssAvailability {
    pub uss: Manager,
    pub availability: Availability,
    pub version: String,
}

/// A report of a misbehaving participant, kept as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub id: Uuid,
    pub reporter: Manager,
    pub received_at: DateTime<Utc>,
    /// The report body as JSON text; the DSS stores it, it does not interpret it.
    pub body: String,
}

/// Earliest start and latest end of a set of volumes.
pub fn time_bounds(volumes: &[Volume4D]) -> TimeRange {
    let mut start: Option<DateTime<Utc>> = None;
    let mut end: Option<DateTime<Utc>> = None;
    let mut unbounded_start = false;
    let mut unbounded_end = false;
    for v in volumes {
        match v.time.start {
            Some(s) => start = Some(start.map_or(s, |c| c.min(s))),
            None => unbounded_start = true,
        }
        match v.time.end {
            Some(e) => end = Some(end.map_or(e, |c| c.max(e))),
            None => unbounded_end = true,
        }
    }
    TimeRange {
        start: if unbounded_start { None } else { start },
        end: if unbounded_end { None } else { end },
    }
}

impl OperationalIntent {
    pub fn time(&self) -> TimeRange {
        time_bounds(&self.extents)
    }
}

impl Constraint {
    pub fn time(&self) -> TimeRange {
        time_bounds(&self.extents)
    }
}

impl Subscription {
    pub fn time(&self) -> TimeRange {
        time_bounds(&self.volumes)
    }

    /// Whether the subscription covers a volume in area, altitude and time.
    /// Exact for a single-volume (explicit) subscription; for an implicit one a
    /// volume must lie within one of its volumes, which may extend it needlessly
    /// but never misses anything.
    pub fn covers(&self, v: &Volume4D) -> bool {
        self.volumes.iter().any(|s| {
            s.time.contains(&v.time)
                && s.altitude.lower_m <= v.altitude.lower_m
                && s.altitude.upper_m >= v.altitude.upper_m
                && s.footprint.contains(&v.footprint)
        })
    }
}

/// One durable change, as the store persists it. Every operation's effect is a
/// list of these, applied atomically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Change {
    PutOperationalIntent(OperationalIntent),
    DeleteOperationalIntent(Uuid),
    PutConstraint(Constraint),
    DeleteConstraint(Uuid),
    PutSubscription(Subscription),
    DeleteSubscription(Uuid),
    PutAvailability(UssAvailability),
    PutReport(Report),
    /// F3411: an identification service area created or changed.
    PutIsa(crate::rid::IdentificationServiceArea),
    DeleteIsa(Uuid),
    /// F3411: a subscription to identification service areas.
    PutRidSubscription(crate::rid::RidSubscription),
    DeleteRidSubscription(Uuid),
}
