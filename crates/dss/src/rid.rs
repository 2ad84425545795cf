//! The rules of the ASTM F3411 Remote ID DSS (F3411-19 and F3411-22a share
//! them; only their wire formats differ, and those live in `server`).
//!
//! Remote ID is the other half of the DSS: a service provider declares the
//! areas it serves live flight data for (identification service areas,
//! "ISAs"), display providers subscribe to areas, and every change of an ISA
//! names the subscriptions the changer must notify. The ISAs and RID
//! subscriptions are a namespace of their own, apart from the strategic
//! entities (as in the reference DSS, whose RID and SCD tables are apart).
//!
//! As there, an ISA and a subscription meet when their footprints and their
//! time windows do; altitude does not count (a display provider follows what
//! flies over an area). Footprints meet exactly, not by coarse cells.

use crate::{
    path_err, subscription_window, Change, Dss, DssError, Manager, Name, Outcome, Result,
    MAX_CLOCK_SKEW,
};
use airspace::index::Index;
use airspace::validate::validate_volume;
use airspace::{AltitudeRange, Footprint, TimeRange, Volume4D};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use steadymap::ShardedMap;
use uuid::Uuid;

/// Subscriptions one owner may hold over any one place (F3411 DSS0050).
pub const MAX_SUBSCRIPTIONS_PER_AREA: usize = 10;
/// How long an ended ISA is kept, still readable by id though no search
/// finds it any more, before the expiry sweep removes it.
pub const ISA_KEPT_AFTER_END: Duration = Duration::hours(1);

/// An area in which a service provider serves remote ID data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentificationServiceArea {
    pub id: Uuid,
    pub manager: Manager,
    /// Opaque; changes on every change of the ISA.
    pub version: String,
    /// Footprint, altitude band (as declared, unused for matching) and a
    /// bounded time window.
    pub volume: Volume4D,
    /// F3411-22a `uss_base_url`, F3411-19 `flights_url`.
    pub url: Name,
}

/// A display provider's interest in the ISAs of an area.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RidSubscription {
    pub id: Uuid,
    pub manager: Manager,
    pub version: String,
    /// Zero-based; +1 for every ISA change it is named in.
    pub notification_index: u64,
    pub volume: Volume4D,
    /// F3411-22a `uss_base_url`, F3411-19 `callbacks.identification_service_area_url`.
    pub url: Name,
}

/// A create (`version: None`) or an update of an ISA or a RID
/// subscription: both are a footprint, an altitude band, a time window and
/// a URL.
#[derive(Debug, Clone)]
pub struct PutRid {
    pub id: Uuid,
    pub version: Option<String>,
    pub footprint: Footprint,
    pub altitude: AltitudeRange,
    pub time_start: Option<DateTime<Utc>>,
    pub time_end: Option<DateTime<Utc>>,
    pub url: String,
}

pub type PutIsa = PutRid;
pub type PutRidSubscription = PutRid;

/// The subscriptions of one URL that a change names, with their indices
/// after it, in subscription-id order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RidSubscriber {
    pub url: Name,
    pub subscriptions: Vec<(Uuid, u64)>,
}

#[derive(Debug, Clone)]
pub struct IsaChanged {
    pub isa: IdentificationServiceArea,
    pub subscribers: Vec<RidSubscriber>,
}

#[derive(Debug, Clone)]
pub struct RidSubscriptionPut {
    pub subscription: RidSubscription,
    /// The ISAs in its area that have not ended.
    pub service_areas: Vec<IdentificationServiceArea>,
}

/// The ISAs and RID subscriptions, and their indexes.
#[derive(Default)]
pub(crate) struct Rid {
    isas: ShardedMap<Uuid, IdentificationServiceArea>,
    subscriptions: ShardedMap<Uuid, RidSubscription>,
    isa_index: Index<Uuid>,
    subscription_index: Index<Uuid>,
}

impl Rid {
    pub(crate) fn apply(&mut self, change: &Change) {
        match change {
            Change::PutIsa(isa) => {
                self.isa_index.insert(isa.id, vec![isa.volume.clone()]);
                self.isas.insert(isa.id, isa.clone());
            }
            Change::DeleteIsa(id) => {
                self.isa_index.remove(*id);
                self.isas.remove(id);
            }
            Change::PutRidSubscription(s) => {
                self.subscription_index.insert(s.id, vec![s.volume.clone()]);
                self.subscriptions.insert(s.id, s.clone());
            }
            Change::DeleteRidSubscription(id) => {
                self.subscription_index.remove(*id);
                self.subscriptions.remove(id);
            }
            _ => {}
        }
    }

    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.isas.len(), self.subscriptions.len())
    }

    /// Ids of the entities of `index` whose footprint and time window meet
    /// `footprint` during `time` (any altitude).
    fn meeting(index: &Index<Uuid>, footprint: &Footprint, time: TimeRange) -> Vec<Uuid> {
        index.query(&Volume4D {
            footprint: footprint.clone(),
            altitude: AltitudeRange::UNBOUNDED,
            time,
        })
    }
}

/// Whether `end` has passed at `now`.
fn ended(v: &Volume4D, now: DateTime<Utc>) -> bool {
    v.time.end.is_some_and(|e| e < now)
}

impl Dss {
    // ------------------------------------------------------------------ reads

    pub fn get_isa(&self, id: Uuid) -> Result<&IdentificationServiceArea> {
        self.rid.isas.get(&id).ok_or_else(|| {
            DssError::NotFound(format!("identification service area {id} not found"))
        })
    }

    /// ISAs meeting `area` during `time` that have not ended at `now`.
    pub fn search_isas(
        &self,
        area: &Footprint,
        time: TimeRange,
        now: DateTime<Utc>,
    ) -> Result<Vec<&IdentificationServiceArea>> {
        self.validate_area(area)?;
        if let (Some(s), Some(e)) = (time.start, time.end) {
            if e < s {
                return Err(DssError::bad(
                    "latest_time",
                    "must not be before earliest_time",
                ));
            }
        }
        Ok(Rid::meeting(&self.rid.isa_index, area, time)
            .into_iter()
            .filter_map(|id| self.rid.isas.get(&id))
            .filter(|isa| !ended(&isa.volume, now))
            .collect())
    }

    /// The caller's own RID subscription (403 for another's, as F3548-21's).
    pub fn get_rid_subscription(&self, caller: &str, id: Uuid) -> Result<&RidSubscription> {
        let s = self.rid_subscription(id)?;
        if *s.manager != *caller {
            return Err(DssError::Forbidden(format!(
                "subscription {id} is managed by another USS"
            )));
        }
        Ok(s)
    }

    fn rid_subscription(&self, id: Uuid) -> Result<&RidSubscription> {
        self.rid
            .subscriptions
            .get(&id)
            .ok_or_else(|| DssError::NotFound(format!("subscription {id} not found")))
    }

    /// The caller's own RID subscriptions meeting `area` that have not ended.
    pub fn search_rid_subscriptions(
        &self,
        caller: &str,
        area: &Footprint,
        now: DateTime<Utc>,
    ) -> Result<Vec<&RidSubscription>> {
        self.validate_area(area)?;
        Ok(
            Rid::meeting(&self.rid.subscription_index, area, TimeRange::UNBOUNDED)
                .into_iter()
                .filter_map(|id| self.rid.subscriptions.get(&id))
                .filter(|s| *s.manager == *caller && !ended(&s.volume, now))
                .collect(),
        )
    }

    /// (ISAs, RID subscriptions) held.
    pub fn rid_counts(&self) -> (usize, usize) {
        self.rid.counts()
    }

    fn validate_area(&self, area: &Footprint) -> Result<()> {
        airspace::validate_footprint(area, &self.config.limits).map_err(|e| {
            // A search names its area `area`; the paths of a Volume3D do not apply.
            let field = match e.field.split_once('.') {
                Some((_, rest)) if !rest.is_empty() => format!("area.{rest}"),
                _ => "area".to_string(),
            };
            DssError::bad(field, e.reason)
        })
    }

    // ------------------------------------------------------------------ ISAs

    /// Creates or updates an ISA (F3411 DSS0030); names the subscriptions
    /// that meet it, before or after, each with its index incremented.
    pub fn put_isa(
        &mut self,
        caller: &str,
        now: DateTime<Utc>,
        req: PutIsa,
    ) -> Result<Outcome<IsaChanged>> {
        self.validate_base_url("uss_base_url", &req.url)?;
        let old = self.rid.isas.get(&req.id);
        check_version(
            "identification service area",
            req.id,
            old.map(|o| (&*o.manager, o.version.as_str())),
            caller,
            req.version.as_deref(),
        )?;
        let start = match (req.time_start, old) {
            (Some(s), Some(o)) if o.volume.time.start == Some(s) => s,
            (Some(s), _) => {
                if now - s > MAX_CLOCK_SKEW {
                    return Err(DssError::bad(
                        "extents.time_start",
                        format!(
                            "{} is in the past (now {}); an identification service area may not start in the past",
                            s.to_rfc3339(),
                            now.to_rfc3339()
                        ),
                    ));
                }
                s
            }
            (None, Some(o)) => o.volume.time.start.unwrap_or(now),
            (None, None) => now,
        };
        let end = req
            .time_end
            .ok_or_else(|| DssError::bad("extents.time_end", "required"))?;
        if end < start {
            return Err(DssError::bad(
                "extents.time_end",
                "must not be before time_start",
            ));
        }
        if end < now {
            return Err(DssError::bad(
                "extents.time_end",
                format!("{} is in the past", end.to_rfc3339()),
            ));
        }
        let volume = Volume4D {
            footprint: req.footprint,
            altitude: req.altitude,
            time: TimeRange::new(start, end),
        };
        validate_volume(&volume, &self.config.limits).map_err(|e| path_err("extents.", e))?;

        let isa = IdentificationServiceArea {
            id: req.id,
            manager: caller.into(),
            version: self.new_rid_version(old.map_or("", |o| &o.version), now),
            volume,
            url: req.url.into(),
        };
        let old_volume = old.map(|o| o.volume.clone());
        let (subscribers, mut changes) = self.rid_dispatch(&isa.volume, old_volume.as_ref(), now);
        changes.push(Change::PutIsa(isa.clone()));
        Ok(self.commit(IsaChanged { isa, subscribers }, changes))
    }

    pub fn delete_isa(
        &mut self,
        caller: &str,
        now: DateTime<Utc>,
        id: Uuid,
        version: &str,
    ) -> Result<Outcome<IsaChanged>> {
        let isa = self.get_isa(id)?.clone();
        check_current(
            "identification service area",
            id,
            &isa.manager,
            &isa.version,
            caller,
            version,
        )?;
        let (subscribers, mut changes) = self.rid_dispatch(&isa.volume, None, now);
        changes.push(Change::DeleteIsa(id));
        Ok(self.commit(IsaChanged { isa, subscribers }, changes))
    }

    /// The live subscriptions meeting `volume` (or `old`), each with its
    /// index incremented, grouped by URL; and the changes that store them.
    fn rid_dispatch(
        &self,
        volume: &Volume4D,
        old: Option<&Volume4D>,
        now: DateTime<Utc>,
    ) -> (Vec<RidSubscriber>, Vec<Change>) {
        let mut ids = Rid::meeting(&self.rid.subscription_index, &volume.footprint, volume.time);
        if let Some(o) = old {
            ids.extend(Rid::meeting(
                &self.rid.subscription_index,
                &o.footprint,
                o.time,
            ));
            ids.sort_unstable();
            ids.dedup();
        }
        let mut by_url: BTreeMap<Name, Vec<(Uuid, u64)>> = BTreeMap::new();
        let mut changes = Vec::new();
        for id in ids {
            let Some(s) = self.rid.subscriptions.get(&id) else {
                continue;
            };
            if ended(&s.volume, now) {
                continue;
            }
            let mut s = s.clone();
            s.notification_index += 1;
            by_url
                .entry(s.url.clone())
                .or_default()
                .push((s.id, s.notification_index));
            changes.push(Change::PutRidSubscription(s));
        }
        let subscribers = by_url
            .into_iter()
            .map(|(url, subscriptions)| RidSubscriber { url, subscriptions })
            .collect();
        (subscribers, changes)
    }

    // ------------------------------------------------------------------ subscriptions

    /// Creates or updates a RID subscription (F3411 DSS0040); answers with
    /// the ISAs now in its area.
    pub fn put_rid_subscription(
        &mut self,
        caller: &str,
        now: DateTime<Utc>,
        req: PutRidSubscription,
    ) -> Result<Outcome<RidSubscriptionPut>> {
        self.validate_base_url("uss_base_url", &req.url)?;
        // As F3548-21's: start now, end 24 h later, and at most that. An
        // update does not keep the old window (the reference DSS does not).
        let (start, end) =
            subscription_window(req.time_start, req.time_end, TimeRange::UNBOUNDED, now)?;
        let volume = Volume4D {
            footprint: req.footprint,
            altitude: req.altitude,
            time: TimeRange::new(start, end),
        };
        validate_volume(&volume, &self.config.limits).map_err(|e| path_err("extents.", e))?;
        // The request is checked before the entity it names, so a bad one is
        // a 400 whether or not that exists.
        let old = self.rid.subscriptions.get(&req.id);
        check_version(
            "subscription",
            req.id,
            old.map(|o| (&*o.manager, o.version.as_str())),
            caller,
            req.version.as_deref(),
        )?;

        // The owner's other live subscriptions over any part of this area.
        let mine = Rid::meeting(
            &self.rid.subscription_index,
            &volume.footprint,
            TimeRange::UNBOUNDED,
        )
        .into_iter()
        .filter_map(|id| self.rid.subscriptions.get(&id))
        .filter(|s| s.id != req.id && *s.manager == *caller && !ended(&s.volume, now))
        .count();
        if mine >= MAX_SUBSCRIPTIONS_PER_AREA {
            return Err(DssError::TooMany(format!(
                "{caller} already holds {mine} subscriptions over this area; at most {MAX_SUBSCRIPTIONS_PER_AREA} are allowed"
            )));
        }

        let subscription = RidSubscription {
            id: req.id,
            manager: caller.into(),
            version: self.new_rid_version(old.map_or("", |o| &o.version), now),
            notification_index: old.map_or(0, |o| o.notification_index),
            volume,
            url: req.url.into(),
        };
        let service_areas = Rid::meeting(
            &self.rid.isa_index,
            &subscription.volume.footprint,
            subscription.volume.time,
        )
        .into_iter()
        .filter_map(|id| self.rid.isas.get(&id))
        .filter(|isa| !ended(&isa.volume, now))
        .cloned()
        .collect();
        let changes = vec![Change::PutRidSubscription(subscription.clone())];
        Ok(self.commit(
            RidSubscriptionPut {
                subscription,
                service_areas,
            },
            changes,
        ))
    }

    pub fn delete_rid_subscription(
        &mut self,
        caller: &str,
        id: Uuid,
        version: &str,
    ) -> Result<Outcome<RidSubscription>> {
        let sub = self.rid_subscription(id)?.clone();
        check_current(
            "subscription",
            id,
            &sub.manager,
            &sub.version,
            caller,
            version,
        )?;
        Ok(self.commit(sub, vec![Change::DeleteRidSubscription(id)]))
    }

    // ------------------------------------------------------------------ expiry

    /// Changes that remove the RID subscriptions ended before `cutoff` and
    /// the ISAs ended [`ISA_KEPT_AFTER_END`] before it.
    pub(crate) fn rid_expired(&self, cutoff: DateTime<Utc>) -> (Vec<Change>, usize, usize) {
        let isa_cutoff = cutoff - ISA_KEPT_AFTER_END;
        let isas: Vec<Change> = self
            .rid
            .isa_index
            .ended_before(isa_cutoff)
            .into_iter()
            .map(Change::DeleteIsa)
            .collect();
        let subs: Vec<Change> = self
            .rid
            .subscription_index
            .ended_before(cutoff)
            .into_iter()
            .map(Change::DeleteRidSubscription)
            .collect();
        let (i, s) = (isas.len(), subs.len());
        (isas.into_iter().chain(subs).collect(), i, s)
    }

    // ------------------------------------------------------------------ helpers

    /// A version as the reference DSS spells it: the time of the change in
    /// nanoseconds, in base 32 (`0-9a-v`), so a version is at least ten
    /// lowercase letters and digits that clients may put in a path. Later
    /// than the previous one even if the clock is not.
    fn new_rid_version(&self, previous: &str, now: DateTime<Utc>) -> String {
        let nanos = now.timestamp_nanos_opt().unwrap_or_default().max(0) as u64;
        let after = parse_version(previous).map_or(0, |p| p + 1);
        radix32(nanos.max(after))
    }
}

fn radix32(mut v: u64) -> String {
    const DIGITS: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let mut out = Vec::with_capacity(13);
    loop {
        out.push(DIGITS[(v % 32) as usize]);
        v /= 32;
        if v == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("ASCII digits")
}

fn parse_version(s: &str) -> Option<u64> {
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'v').contains(&b))
    {
        return None;
    }
    u64::from_str_radix(s, 32).ok()
}

/// A create must not find the entity; an update must find it at `version`,
/// managed by the caller.
fn check_version(
    kind: &str,
    id: Uuid,
    old: Option<(&str, &str)>,
    caller: &str,
    version: Option<&str>,
) -> Result<()> {
    match (old, version) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(DssError::Conflict(format!("{kind} {id} already exists"))),
        (None, Some(_)) => Err(DssError::NotFound(format!("{kind} {id} not found"))),
        (Some((manager, current)), Some(v)) => check_current(kind, id, manager, current, caller, v),
    }
}

fn check_current(
    kind: &str,
    id: Uuid,
    manager: &str,
    current: &str,
    caller: &str,
    version: &str,
) -> Result<()> {
    if manager != caller {
        return Err(DssError::Forbidden(format!(
            "{kind} {id} is managed by another USS"
        )));
    }
    if version.is_empty() {
        return Err(DssError::bad("version", "required"));
    }
    if parse_version(version).is_none() {
        return Err(DssError::bad(
            "version",
            format!("{version:?} is not a version of this service"),
        ));
    }
    if version != current {
        return Err(DssError::Conflict(format!(
            "version {version} is not the current version of {kind} {id}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, MAX_SUBSCRIPTION_DURATION};
    use airspace::LatLng;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0).unwrap()
    }

    fn dss() -> Dss {
        Dss::new(Config::default(), [7; 32])
    }

    /// A square of `half` degrees around (lat, lng).
    fn square(lat: f64, lng: f64, half: f64) -> Footprint {
        Footprint::Polygon {
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
        }
    }

    fn isa(id: u128, footprint: Footprint, minutes: i64) -> PutIsa {
        PutIsa {
            id: Uuid::from_u128(id),
            version: None,
            footprint,
            altitude: AltitudeRange {
                lower_m: 0.0,
                upper_m: 3048.0,
            },
            time_start: Some(t0()),
            time_end: Some(t0() + Duration::minutes(minutes)),
            url: "https://sp.example/rid".into(),
        }
    }

    fn sub(id: u128, footprint: Footprint) -> PutRidSubscription {
        PutRidSubscription {
            id: Uuid::from_u128(id),
            version: None,
            footprint,
            // Altitude does not count: far above the ISA, it still sees it.
            altitude: AltitudeRange {
                lower_m: 9000.0,
                upper_m: 9500.0,
            },
            time_start: None,
            time_end: None,
            url: "https://dp.example/rid".into(),
        }
    }

    #[test]
    fn subscribers_of_an_isa_change_are_named_with_their_next_index() {
        let mut d = dss();
        let s = d
            .put_rid_subscription("dp", t0(), sub(1, square(37.2, -80.6, 0.05)))
            .unwrap();
        assert_eq!(s.value.subscription.notification_index, 0);
        assert_eq!(
            s.value.subscription.volume.time.end,
            Some(t0() + MAX_SUBSCRIPTION_DURATION)
        );
        // Elsewhere: not named.
        d.put_rid_subscription("dp", t0(), sub(2, square(40.0, -80.6, 0.05)))
            .unwrap();

        let created = d
            .put_isa("sp", t0(), isa(10, square(37.2, -80.6, 0.01), 60))
            .unwrap();
        assert_eq!(created.value.subscribers.len(), 1);
        assert_eq!(
            created.value.subscribers[0].subscriptions,
            vec![(Uuid::from_u128(1), 1)]
        );
        let v1 = created.value.isa.version.clone();

        let mut update = isa(10, square(37.2, -80.6, 0.02), 61);
        update.version = Some(v1.clone());
        let updated = d.put_isa("sp", t0(), update).unwrap();
        assert_ne!(
            updated.value.isa.version, v1,
            "the version changes on update"
        );
        assert_eq!(
            updated.value.subscribers[0].subscriptions,
            vec![(Uuid::from_u128(1), 2)]
        );

        let v2 = updated.value.isa.version;
        let deleted = d.delete_isa("sp", t0(), Uuid::from_u128(10), &v2).unwrap();
        assert_eq!(
            deleted.value.subscribers[0].subscriptions,
            vec![(Uuid::from_u128(1), 3)]
        );
        assert_eq!(
            d.get_rid_subscription("dp", Uuid::from_u128(1))
                .unwrap()
                .notification_index,
            3
        );
        assert!(matches!(
            d.get_isa(Uuid::from_u128(10)),
            Err(DssError::NotFound(_))
        ));
    }

    #[test]
    fn a_subscription_answers_with_the_isas_in_its_area_even_touching_at_a_corner() {
        let mut d = dss();
        d.put_isa("sp", t0(), isa(10, square(37.2, -80.6, 0.01), 60))
            .unwrap();
        // Shares only the corner (37.21, -80.59) with the ISA.
        let corner = Footprint::Polygon {
            vertices: vec![
                LatLng {
                    lat: 37.21,
                    lng: -80.59,
                },
                LatLng {
                    lat: 37.21,
                    lng: -80.58,
                },
                LatLng {
                    lat: 37.22,
                    lng: -80.58,
                },
                LatLng {
                    lat: 37.22,
                    lng: -80.59,
                },
            ],
        };
        let put = d.put_rid_subscription("dp", t0(), sub(1, corner)).unwrap();
        assert_eq!(put.value.service_areas.len(), 1);
        let apart = d
            .put_rid_subscription("dp", t0(), sub(2, square(37.3, -80.6, 0.01)))
            .unwrap();
        assert!(apart.value.service_areas.is_empty());
    }

    #[test]
    fn searches_follow_the_time_window_and_skip_ended_isas() {
        let mut d = dss();
        let area = square(37.2, -80.6, 0.05);
        d.put_isa("sp", t0(), isa(10, square(37.2, -80.6, 0.01), 60))
            .unwrap();
        let end = t0() + Duration::minutes(60);
        let found = |d: &Dss, start, finish, now| {
            d.search_isas(&area, TimeRange { start, end: finish }, now)
                .unwrap()
                .len()
        };
        assert_eq!(found(&d, None, None, t0()), 1);
        assert_eq!(found(&d, Some(end - Duration::minutes(1)), None, t0()), 1);
        assert_eq!(found(&d, Some(end + Duration::minutes(1)), None, t0()), 0);
        assert_eq!(found(&d, None, Some(t0() + Duration::minutes(1)), t0()), 1);
        assert_eq!(found(&d, None, Some(t0() - Duration::minutes(1)), t0()), 0);
        // Ended: no search finds it, but it can still be read and deleted.
        let later = end + Duration::seconds(1);
        assert_eq!(found(&d, None, None, later), 0);
        let v = d.get_isa(Uuid::from_u128(10)).unwrap().version.clone();
        d.delete_isa("sp", later, Uuid::from_u128(10), &v).unwrap();
    }

    #[test]
    fn ended_isas_are_kept_an_hour_then_swept() {
        let mut d = dss();
        d.put_isa("sp", t0(), isa(10, square(37.2, -80.6, 0.01), 1))
            .unwrap();
        d.put_rid_subscription("dp", t0(), sub(1, square(37.2, -80.6, 0.01)))
            .unwrap();
        let end = t0() + Duration::minutes(1);
        let swept = d.expire(end + Duration::minutes(30)).value;
        assert_eq!((swept.isas, swept.rid_subscriptions), (0, 0));
        assert!(d.get_isa(Uuid::from_u128(10)).is_ok());
        let swept = d
            .expire(end + ISA_KEPT_AFTER_END + Duration::seconds(1))
            .value;
        assert_eq!(swept.isas, 1);
        assert!(d.get_isa(Uuid::from_u128(10)).is_err());
        let swept = d
            .expire(t0() + MAX_SUBSCRIPTION_DURATION + Duration::seconds(1))
            .value;
        assert_eq!(swept.rid_subscriptions, 1);
    }

    #[test]
    fn versions_are_base32_and_wrong_ones_are_told_apart_from_malformed_ones() {
        let mut d = dss();
        let created = d
            .put_isa("sp", t0(), isa(10, square(37.2, -80.6, 0.01), 60))
            .unwrap();
        let v = created.value.isa.version;
        assert!(
            v.len() >= 10
                && v.bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        );
        let id = Uuid::from_u128(10);
        let wrong = &v[1..v.len() - 1];
        assert!(matches!(
            d.delete_isa("sp", t0(), id, wrong),
            Err(DssError::Conflict(_))
        ));
        assert!(matches!(
            d.delete_isa("sp", t0(), id, ""),
            Err(DssError::BadRequest { .. })
        ));
        assert!(matches!(
            d.delete_isa("sp", t0(), id, "notacorrectversion"),
            Err(DssError::BadRequest { .. })
        ));
        assert!(matches!(
            d.delete_isa("other", t0(), id, &v),
            Err(DssError::Forbidden(_))
        ));
        // A change in the same nanosecond still gets a later version.
        let mut again = isa(10, square(37.2, -80.6, 0.01), 60);
        again.version = Some(v.clone());
        let v2 = d.put_isa("sp", t0(), again).unwrap().value.isa.version;
        assert!(parse_version(&v2) > parse_version(&v));
    }

    #[test]
    fn isa_times_and_area_are_checked() {
        let mut d = dss();
        let mut past = isa(10, square(37.2, -80.6, 0.01), 60);
        past.time_start = Some(t0() - Duration::minutes(10));
        assert!(matches!(
            d.put_isa("sp", t0(), past),
            Err(DssError::BadRequest { .. })
        ));
        // A few seconds of clock difference are fine, and kept as sent.
        let mut recent = isa(11, square(37.2, -80.6, 0.01), 60);
        recent.time_start = Some(t0() - Duration::seconds(3));
        let put = d.put_isa("sp", t0(), recent).unwrap();
        assert_eq!(
            put.value.isa.volume.time.start,
            Some(t0() - Duration::seconds(3))
        );
        let mut swapped = isa(12, square(37.2, -80.6, 0.01), 60);
        swapped.time_end = Some(t0() - Duration::minutes(1));
        swapped.time_start = Some(t0());
        assert!(d.put_isa("sp", t0(), swapped).is_err());
        let mut open = isa(13, square(37.2, -80.6, 0.01), 60);
        open.time_end = None;
        assert!(
            matches!(d.put_isa("sp", t0(), open), Err(DssError::BadRequest { ref field, .. }) if field == "extents.time_end")
        );
        let huge = isa(14, square(37.5, -80.5, 0.5), 60);
        assert!(matches!(
            d.put_isa("sp", t0(), huge),
            Err(DssError::BadRequest { .. })
        ));
        let again = isa(11, square(37.2, -80.6, 0.01), 60);
        assert!(matches!(
            d.put_isa("sp", t0(), again),
            Err(DssError::Conflict(_))
        ));
    }

    #[test]
    fn subscriptions_last_at_most_a_day_and_ten_per_owner_per_area() {
        let mut d = dss();
        let area = square(37.2, -80.6, 0.01);
        let mut long = sub(1, area.clone());
        long.time_start = Some(t0());
        long.time_end = Some(t0() + Duration::hours(24) + Duration::minutes(10));
        assert!(matches!(
            d.put_rid_subscription("dp", t0(), long.clone()),
            Err(DssError::BadRequest { .. })
        ));
        let mut day = long.clone();
        day.time_end = Some(t0() + Duration::hours(24));
        d.put_rid_subscription("dp", t0(), day).unwrap();
        // Too long is a 400 even for an id that exists (before the 409).
        assert!(matches!(
            d.put_rid_subscription("dp", t0(), long),
            Err(DssError::BadRequest { .. })
        ));
        for i in 2..=10 {
            d.put_rid_subscription("dp", t0(), sub(i, area.clone()))
                .unwrap();
        }
        assert!(matches!(
            d.put_rid_subscription("dp", t0(), sub(11, area.clone())),
            Err(DssError::TooMany(_))
        ));
        // Another owner has its own ten.
        d.put_rid_subscription("other", t0(), sub(12, area.clone()))
            .unwrap();
        // Ended ones do not count.
        let later = t0() + Duration::hours(25);
        d.put_rid_subscription("dp", later, sub(11, area.clone()))
            .unwrap();
        assert_eq!(
            d.search_rid_subscriptions("dp", &area, later)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            d.search_rid_subscriptions("dp", &area, t0()).unwrap().len(),
            11
        );
    }

    #[test]
    fn a_replay_of_the_changes_rebuilds_the_same_state() {
        let mut d = dss();
        let mut changes = Vec::new();
        changes.extend(
            d.put_rid_subscription("dp", t0(), sub(1, square(37.2, -80.6, 0.05)))
                .unwrap()
                .changes,
        );
        changes.extend(
            d.put_isa("sp", t0(), isa(10, square(37.2, -80.6, 0.01), 60))
                .unwrap()
                .changes,
        );
        let v = d.get_isa(Uuid::from_u128(10)).unwrap().version.clone();
        changes.extend(
            d.delete_isa("sp", t0(), Uuid::from_u128(10), &v)
                .unwrap()
                .changes,
        );
        changes.extend(
            d.put_isa("sp", t0(), isa(11, square(37.2, -80.6, 0.01), 60))
                .unwrap()
                .changes,
        );
        let json: Vec<Change> = changes
            .iter()
            .map(|c| serde_json::from_str(&serde_json::to_string(c).unwrap()).unwrap())
            .collect();
        let mut r = Dss::restoring(Config::default(), [7; 32]);
        for c in json {
            r.add(c);
        }
        let r = r.finish();
        assert_eq!(r.rid_counts(), (1, 1));
        assert_eq!(
            r.get_rid_subscription("dp", Uuid::from_u128(1)).unwrap(),
            d.get_rid_subscription("dp", Uuid::from_u128(1)).unwrap()
        );
        assert_eq!(
            r.get_isa(Uuid::from_u128(11)).unwrap(),
            d.get_isa(Uuid::from_u128(11)).unwrap()
        );
        let area = square(37.2, -80.6, 0.05);
        assert_eq!(
            r.search_isas(&area, TimeRange::UNBOUNDED, t0())
                .unwrap()
                .len(),
            1
        );
    }
}
