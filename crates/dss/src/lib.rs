//! The strategic rules of ASTM F3548-21, as a pure state machine.
//!
//! [`Dss`] holds every live entity (operational intents, constraints,
//! subscriptions, USS availabilities) and their spatio-temporal indexes. Each
//! operation takes the caller, the current time and a validated request, checks
//! every rule *before* touching anything, and then applies its effect as a list
//! of [`Change`]s which it also returns: the caller persists exactly those
//! changes, atomically, before it tells anyone about them. Replaying the same
//! changes through [`Dss::apply`] rebuilds the same state, which is how the
//! service restarts from its store.
//!
//! Architecture invariant: no I/O, no clock, no randomness, no async. Time comes
//! in as an argument; OVNs and generated ids are derived from a secret seed and
//! the operation's inputs, so they are unguessable to other parties yet the
//! whole crate stays deterministic and testable.

pub mod error;
pub mod model;
mod names;
pub mod rid;

pub use error::{DssError, Result};
pub use model::*;
pub use rid::{
    IdentificationServiceArea, IsaChanged, PutIsa, PutRid, PutRidSubscription, RidSubscriber,
    RidSubscription, RidSubscriptionPut,
};

use airspace::index::Index;
use airspace::validate::{validate_query_volume, validate_volume, Limits};
use airspace::{AltitudeRange, Footprint, TimeRange, Volume4D, Volumes};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use names::Names;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use steadymap::ShardedMap;
use uuid::Uuid;

/// The longest a subscription may last (F3548-21 DSS0060 / reference DSS).
pub const MAX_SUBSCRIPTION_DURATION: Duration = Duration::hours(24);
/// How far in the past a subscription may start, allowing for clock skew.
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(5);

/// How the volumes of a declaration are compared with others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConflictModel {
    /// Each extent on its own: two declarations meet only where one of their
    /// extents truly meets one of the other's in area, altitude and time.
    #[default]
    Exact,
    /// As the InterUSS reference DSS: the extents of a declaration share one
    /// altitude band and one time window (their bounds), so an intent made of
    /// a low early volume and a high late one also blocks the space between.
    /// For interoperability testing against behaviour tuned to that model.
    Reference,
}

/// Tunables of the rules.
#[derive(Debug, Clone)]
pub struct Config {
    pub limits: Limits,
    pub conflict_model: ConflictModel,
    /// Refuse `http://` base URLs, as the standard requires (USS-to-USS
    /// traffic must be encrypted); development setups may allow them.
    pub require_https: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            conflict_model: ConflictModel::Exact,
            require_https: true,
        }
    }
}

/// Who is calling: the authenticated party and what its token allows.
#[derive(Debug, Clone)]
pub struct Caller {
    pub manager: String,
    /// Holds `utm.conformance_monitoring_sa`: may put intents off-nominal.
    pub conformance_monitoring: bool,
}

/// Which subscription an operational intent relies on.
#[derive(Debug, Clone, PartialEq)]
pub enum SubscriptionChoice {
    /// None: only allowed for Accepted intents.
    None,
    /// An existing subscription of the caller that must cover the intent.
    Existing(Uuid),
    /// A new implicit subscription, created, grown and deleted with the intent.
    Implicit {
        uss_base_url: String,
        notify_for_constraints: bool,
    },
}

#[derive(Debug, Clone)]
pub struct PutOperationalIntent {
    pub id: Uuid,
    /// `None` creates; `Some(ovn)` updates the version the caller last saw.
    pub ovn: Option<Ovn>,
    pub extents: Vec<Volume4D>,
    pub key: Vec<Ovn>,
    pub state: OperationalIntentState,
    pub uss_base_url: String,
    pub subscription: SubscriptionChoice,
    pub monitoring: Monitoring,
}

#[derive(Debug, Clone)]
pub struct PutConstraint {
    pub id: Uuid,
    pub ovn: Option<Ovn>,
    pub extents: Vec<Volume4D>,
    pub uss_base_url: String,
}

#[derive(Debug, Clone)]
pub struct PutSubscription {
    pub id: Uuid,
    /// `None` creates; `Some(version)` updates.
    pub version: Option<String>,
    pub footprint: Footprint,
    pub altitude: AltitudeRange,
    pub time_start: Option<DateTime<Utc>>,
    pub time_end: Option<DateTime<Utc>>,
    pub uss_base_url: String,
    pub notify_for_operational_intents: bool,
    pub notify_for_constraints: bool,
}

/// A subscription named in a change, with its index after this dispatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub subscription_id: Uuid,
    pub notification_index: u64,
    pub uss_base_url: Name,
}

/// The effect of a write: what the response shows, and what must be persisted.
#[derive(Debug, Clone)]
pub struct Outcome<T> {
    pub value: T,
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone)]
pub struct IntentChanged {
    pub intent: OperationalIntent,
    pub subscribers: Vec<Subscriber>,
}

#[derive(Debug, Clone)]
pub struct ConstraintChanged {
    pub constraint: Constraint,
    pub subscribers: Vec<Subscriber>,
}

#[derive(Debug, Clone)]
pub struct SubscriptionPut {
    pub subscription: Subscription,
    /// Present when the subscription asks for intents: those in its area.
    pub operational_intents: Option<Vec<OperationalIntent>>,
    /// Present when the subscription asks for constraints: those in its area.
    pub constraints: Option<Vec<Constraint>>,
}

/// Counts of what an expiry sweep removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expired {
    pub operational_intents: usize,
    pub constraints: usize,
    pub subscriptions: usize,
    /// F3411 identification service areas.
    pub isas: usize,
    /// F3411 subscriptions.
    pub rid_subscriptions: usize,
}

/// The whole strategic state.
pub struct Dss {
    config: Config,
    /// Seed of OVNs, versions and generated ids (kept by the store, never shown).
    secret: [u8; 32],
    // Sharded: see `steadymap` (a whole-table resize at 1M entries stalled
    // every request for ~100 ms).
    intents: ShardedMap<Uuid, OperationalIntent>,
    constraints: ShardedMap<Uuid, Constraint>,
    subscriptions: ShardedMap<Uuid, Subscription>,
    availability: HashMap<Manager, UssAvailability>,
    intent_index: Index<Uuid>,
    constraint_index: Index<Uuid>,
    subscription_index: Index<Uuid>,
    /// Derived: the intents that rely on each subscription.
    dependents: ShardedMap<Uuid, BTreeSet<Uuid>>,
    /// Managers and base URLs, one allocation per value.
    names: Names,
    /// The F3411 Remote ID entities (see [`rid`]).
    rid: rid::Rid,
}

/// A [`Dss`] being built from a store's changes ([`Dss::restoring`]): the
/// state that applying them one by one in order would build, but the
/// entities go into their maps as they come, and [`Restore::finish`] then
/// fills the intents' and the subscriptions' indexes on two threads. For
/// start-up: at 1M intents, one `apply` after another took 19 s, most of
/// it R-tree inserts.
///
/// The indexes are filled in the order the changes came (the store's:
/// creation order), not in a Z-order of their boxes ([`Index::from_entries`]):
/// so the trees are the very ones that applying the changes one by one
/// built. (Z-ordered trees answered `loadgen`'s busy-area queries at 1M
/// intents 5–20 % slower in alternating runs; not pursued.)
///
/// Subscriptions should come before the intents that use them (as the
/// store's `scan_state` gives them), so that an intent and its implicit
/// subscription share their volumes.
pub struct Restore {
    dss: Dss,
    /// Volumes in the order they came; an entry whose entity was deleted
    /// or replaced later is skipped at the end.
    intents: Vec<(Uuid, Volumes)>,
    constraints: Vec<(Uuid, Volumes)>,
    subscriptions: Vec<(Uuid, Volumes)>,
}

impl Restore {
    pub fn add(&mut self, change: Change) {
        let dss = &mut self.dss;
        match change {
            Change::PutOperationalIntent(mut oi) => {
                oi.extents = dss.shared_extents(&oi);
                dss.names
                    .share_entity(&mut oi.manager, &mut oi.uss_base_url);
                self.intents.push((oi.id, oi.extents.clone()));
                dss.intents.insert(oi.id, oi);
            }
            Change::DeleteOperationalIntent(id) => {
                dss.intents.remove(&id);
            }
            Change::PutConstraint(mut c) => {
                dss.names.share_entity(&mut c.manager, &mut c.uss_base_url);
                self.constraints.push((c.id, c.extents.clone()));
                dss.constraints.insert(c.id, c);
            }
            Change::DeleteConstraint(id) => {
                dss.constraints.remove(&id);
            }
            Change::PutSubscription(mut s) => {
                dss.names.share_entity(&mut s.manager, &mut s.uss_base_url);
                self.subscriptions.push((s.id, s.volumes.clone()));
                dss.subscriptions.insert(s.id, s);
            }
            Change::DeleteSubscription(id) => {
                dss.subscriptions.remove(&id);
            }
            Change::PutAvailability(mut a) => {
                dss.names.share(&mut a.uss);
                dss.availability.insert(a.uss.clone(), a);
            }
            Change::PutReport(_) => {}
            // Few, and their indexes small: filled one by one.
            Change::PutIsa(_)
            | Change::DeleteIsa(_)
            | Change::PutRidSubscription(_)
            | Change::DeleteRidSubscription(_) => dss.rid.apply(&change),
        }
    }

    pub fn finish(self) -> Dss {
        let Restore {
            mut dss,
            intents,
            constraints,
            subscriptions,
        } = self;
        for oi in dss.intents.values() {
            if let Some(sub) = oi.subscription_id {
                dss.dependents
                    .get_or_insert_with(sub, BTreeSet::new)
                    .insert(oi.id);
            }
        }
        /// An index of the entries still current in `map`, in their order.
        fn fill<T>(
            entries: Vec<(Uuid, Volumes)>,
            map: &ShardedMap<Uuid, T>,
            volumes: impl Fn(&T) -> &Volumes,
        ) -> Index<Uuid> {
            let mut index = Index::new();
            for (id, v) in entries {
                if map
                    .get(&id)
                    .is_some_and(|e| Volumes::ptr_eq(volumes(e), &v))
                {
                    index.insert(id, v);
                }
            }
            index
        }
        let (intent_index, subscription_index) = std::thread::scope(|s| {
            let intents = s.spawn(|| fill(intents, &dss.intents, |oi| &oi.extents));
            let subscriptions = fill(subscriptions, &dss.subscriptions, |s| &s.volumes);
            match intents.join() {
                Ok(i) => (i, subscriptions),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        });
        dss.intent_index = intent_index;
        dss.subscription_index = subscription_index;
        dss.constraint_index = fill(constraints, &dss.constraints, |c| &c.extents);
        dss
    }
}

/// What a change touches: the new volumes, and the old ones if it replaced
/// something. Borrowed (no copy) when nothing was replaced.
fn new_and_old<'a>(new: &'a [Volume4D], old: Option<&[Volume4D]>) -> Cow<'a, [Volume4D]> {
    match old {
        None => Cow::Borrowed(new),
        Some(old) => Cow::Owned(new.iter().chain(old).cloned().collect()),
    }
}

/// The extents as the conflict model compares them.
fn modelled(model: ConflictModel, mut extents: Vec<Volume4D>) -> Vec<Volume4D> {
    if model == ConflictModel::Reference {
        let time = time_bounds(&extents);
        let lower = extents
            .iter()
            .map(|v| v.altitude.lower_m)
            .fold(f64::INFINITY, f64::min);
        let upper = extents
            .iter()
            .map(|v| v.altitude.upper_m)
            .fold(f64::NEG_INFINITY, f64::max);
        for v in &mut extents {
            v.time = time;
            v.altitude = AltitudeRange {
                lower_m: lower,
                upper_m: upper,
            };
        }
    }
    extents
}

/// What intents and constraints share for the precondition of a change.
trait Versioned {
    fn manager(&self) -> &str;
    fn ovn(&self) -> &str;
}

impl Versioned for OperationalIntent {
    fn manager(&self) -> &str {
        &self.manager
    }
    fn ovn(&self) -> &str {
        &self.ovn
    }
}

impl Versioned for Constraint {
    fn manager(&self) -> &str {
        &self.manager
    }
    fn ovn(&self) -> &str {
        &self.ovn
    }
}

/// Checks that the caller manages an entity and names its current OVN: the
/// precondition of every change and deletion of an intent or constraint.
/// Returns the entity as stored.
fn check_current<'a, T: Versioned>(
    kind: &str,
    id: Uuid,
    current: Option<&'a T>,
    caller: &Caller,
    ovn: &str,
) -> Result<&'a T> {
    if ovn.is_empty() {
        return Err(DssError::bad("ovn", "required"));
    }
    let entity = current.ok_or_else(|| DssError::NotFound(format!("{kind} {id} not found")))?;
    if entity.manager() != caller.manager {
        return Err(DssError::Forbidden(format!(
            "{kind} {id} is managed by another USS"
        )));
    }
    if entity.ovn() != ovn {
        return Err(DssError::Conflict(format!(
            "OVN {ovn} is not the current OVN of {kind} {id}"
        )));
    }
    Ok(entity)
}

/// Checks a create (no OVN) or an update (the OVN last seen) against what is
/// stored; `missing` is the error for an update of something that does not exist.
fn check_put<T: Versioned>(
    kind: &str,
    id: Uuid,
    current: Option<&T>,
    caller: &Caller,
    ovn: Option<&str>,
    missing: impl FnOnce(&str) -> DssError,
) -> Result<()> {
    match (current, ovn) {
        (Some(e), None) if e.manager() != caller.manager => Err(DssError::Forbidden(format!(
            "{kind} {id} is managed by another USS"
        ))),
        (Some(_), None) => Err(DssError::Conflict(format!("{kind} {id} already exists"))),
        (None, Some(ovn)) => Err(missing(ovn)),
        (Some(_), Some(ovn)) => check_current(kind, id, current, caller, ovn).map(|_| ()),
        (None, None) => Ok(()),
    }
}

/// A subscription's time window (F3548-21 and F3411 alike): the start
/// defaults to the old one or now, the end to the old one or start + 24 h;
/// refused if it starts more than the clock skew in the past, ends before it
/// starts, or lasts more than 24 h.
fn subscription_window(
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    old: TimeRange,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let start = match start {
        Some(s) => {
            if now - s > MAX_CLOCK_SKEW {
                return Err(DssError::bad(
                    "extents.time_start",
                    format!(
                        "a subscription may not start in the past ({} is before {})",
                        s.to_rfc3339(),
                        now.to_rfc3339()
                    ),
                ));
            }
            s
        }
        None => old.start.unwrap_or(now),
    };
    let end = end.or(old.end).unwrap_or(start + MAX_SUBSCRIPTION_DURATION);
    if end < start {
        return Err(DssError::bad(
            "extents.time_end",
            "time_end must not be before time_start",
        ));
    }
    if end - start > MAX_SUBSCRIPTION_DURATION {
        return Err(DssError::bad(
            "extents.time_end",
            "a subscription may last at most 24 hours",
        ));
    }
    Ok((start, end))
}

fn path_err(prefix: &str, e: airspace::ValidationError) -> DssError {
    DssError::bad(format!("{prefix}{}", e.field), e.reason)
}

impl Dss {
    pub fn new(config: Config, secret: [u8; 32]) -> Self {
        Dss {
            config,
            secret,
            intents: ShardedMap::new(),
            constraints: ShardedMap::new(),
            subscriptions: ShardedMap::new(),
            availability: HashMap::new(),
            intent_index: Index::new(),
            constraint_index: Index::new(),
            subscription_index: Index::new(),
            dependents: ShardedMap::new(),
            names: Names::default(),
            rid: rid::Rid::default(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A state to build from a store's changes, fed one at a time.
    pub fn restoring(config: Config, secret: [u8; 32]) -> Restore {
        Restore {
            dss: Dss::new(config, secret),
            intents: Vec::new(),
            constraints: Vec::new(),
            subscriptions: Vec::new(),
        }
    }

    // ------------------------------------------------------------------ apply

    /// Applies one change. Used by every operation and by a pool's replay of
    /// the record; a start from the store's tables goes through [`Restore`].
    pub fn apply(&mut self, change: &Change) {
        match change {
            Change::PutOperationalIntent(oi) => {
                self.unlink_dependent(oi.id);
                if let Some(sub) = oi.subscription_id {
                    self.dependents
                        .get_or_insert_with(sub, BTreeSet::new)
                        .insert(oi.id);
                }
                let mut oi = oi.clone();
                oi.extents = self.shared_extents(&oi);
                self.names
                    .share_entity(&mut oi.manager, &mut oi.uss_base_url);
                self.intent_index.insert(oi.id, oi.extents.clone());
                self.intents.insert(oi.id, oi);
            }
            Change::DeleteOperationalIntent(id) => {
                self.unlink_dependent(*id);
                self.intent_index.remove(*id);
                self.intents.remove(id);
            }
            Change::PutConstraint(c) => {
                let mut c = c.clone();
                self.names.share_entity(&mut c.manager, &mut c.uss_base_url);
                self.constraint_index.insert(c.id, c.extents.clone());
                self.constraints.insert(c.id, c);
            }
            Change::DeleteConstraint(id) => {
                self.constraint_index.remove(*id);
                self.constraints.remove(id);
            }
            Change::PutSubscription(s) => {
                let reindex = self.subscriptions.get(&s.id).is_none_or(|old| {
                    // Dispatches re-put a subscription with the same
                    // (shared) volumes: skip the deep comparison then.
                    !Volumes::ptr_eq(&old.volumes, &s.volumes) && old.volumes != s.volumes
                });
                if reindex {
                    self.subscription_index.insert(s.id, s.volumes.clone());
                }
                let mut s = s.clone();
                self.names.share_entity(&mut s.manager, &mut s.uss_base_url);
                self.subscriptions.insert(s.id, s);
            }
            Change::DeleteSubscription(id) => {
                self.subscription_index.remove(*id);
                self.subscriptions.remove(id);
            }
            Change::PutAvailability(a) => {
                let mut a = a.clone();
                self.names.share(&mut a.uss);
                self.availability.insert(a.uss.clone(), a);
            }
            Change::PutReport(_) => {}
            Change::PutIsa(_)
            | Change::DeleteIsa(_)
            | Change::PutRidSubscription(_)
            | Change::DeleteRidSubscription(_) => self.rid.apply(change),
        }
    }

    /// The intent's extents, as the very allocation its subscription holds
    /// when that has the same volumes. A write makes them shared already;
    /// this keeps them shared when the state is loaded from the store, which
    /// reads the two rows apart.
    fn shared_extents(&self, oi: &OperationalIntent) -> Volumes {
        match oi.subscription_id.and_then(|s| self.subscriptions.get(&s)) {
            Some(s) if Volumes::ptr_eq(&s.volumes, &oi.extents) => oi.extents.clone(),
            Some(s) if s.implicit && s.volumes == oi.extents => s.volumes.clone(),
            _ => oi.extents.clone(),
        }
    }

    fn unlink_dependent(&mut self, intent: Uuid) {
        if let Some(old_sub) = self.intents.get(&intent).and_then(|o| o.subscription_id) {
            if let Some(set) = self.dependents.get_mut(&old_sub) {
                set.remove(&intent);
                if set.is_empty() {
                    self.dependents.remove(&old_sub);
                }
            }
        }
    }

    fn commit<T>(&mut self, value: T, changes: Vec<Change>) -> Outcome<T> {
        for c in &changes {
            self.apply(c);
        }
        Outcome { value, changes }
    }

    // ------------------------------------------------------------------ ids

    fn derive(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.secret);
        for p in parts {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p);
        }
        h.finalize().into()
    }

    /// A new OVN: unguessable without the secret, unique per (entity, version, time).
    fn new_ovn(&self, kind: &str, id: Uuid, version: u32, now: DateTime<Utc>) -> Ovn {
        let nanos = now.timestamp_nanos_opt().unwrap_or_default();
        let d = self.derive(&[
            kind.as_bytes(),
            id.as_bytes(),
            &version.to_le_bytes(),
            &nanos.to_le_bytes(),
        ]);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d)
    }

    fn new_subscription_version(&self, id: Uuid, previous: &str, now: DateTime<Utc>) -> String {
        let nanos = now.timestamp_nanos_opt().unwrap_or_default();
        let d = self.derive(&[
            b"sub",
            id.as_bytes(),
            previous.as_bytes(),
            &nanos.to_le_bytes(),
        ]);
        // Short enough to read in a URL, long enough never to collide by chance.
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&d[..18])
    }

    fn new_implicit_subscription_id(&self, intent: Uuid, version: u32) -> Uuid {
        let d = self.derive(&[b"implicit", intent.as_bytes(), &version.to_le_bytes()]);
        let mut b = [0u8; 16];
        b.copy_from_slice(&d[..16]);
        uuid::Builder::from_random_bytes(b).into_uuid()
    }

    // ------------------------------------------------------------------ reads

    /// Every operational intent, in no particular order.
    pub fn intents(&self) -> impl Iterator<Item = &OperationalIntent> {
        self.intents.values()
    }

    pub fn intent(&self, id: Uuid) -> Option<&OperationalIntent> {
        self.intents.get(&id)
    }
    pub fn constraint(&self, id: Uuid) -> Option<&Constraint> {
        self.constraints.get(&id)
    }
    pub fn subscription(&self, id: Uuid) -> Option<&Subscription> {
        self.subscriptions.get(&id)
    }
    pub fn counts(&self) -> (usize, usize, usize) {
        (
            self.intents.len(),
            self.constraints.len(),
            self.subscriptions.len(),
        )
    }

    /// The intents that rely on a subscription, in id order.
    pub fn dependent_intents(&self, subscription: Uuid) -> Vec<Uuid> {
        self.dependents
            .get(&subscription)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    pub fn availability_of(&self, uss: &str) -> Availability {
        self.availability
            .get(uss)
            .map(|a| a.availability)
            .unwrap_or_default()
    }

    /// The stored availability record, or the default (Unknown, empty version).
    pub fn uss_availability(&self, uss: &str) -> UssAvailability {
        self.availability
            .get(uss)
            .cloned()
            .unwrap_or_else(|| UssAvailability {
                uss: uss.into(),
                availability: Availability::Unknown,
                version: String::new(),
            })
    }

    fn validate_query(&self, aoi: &Volume4D) -> Result<()> {
        validate_query_volume(aoi, &self.config.limits)
            .map_err(|e| path_err("area_of_interest.", e))
    }

    pub fn query_intents(&self, aoi: &Volume4D) -> Result<Vec<&OperationalIntent>> {
        self.validate_query(aoi)?;
        Ok(self
            .intent_index
            .query(aoi)
            .into_iter()
            .filter_map(|id| self.intents.get(&id))
            .collect())
    }

    pub fn query_constraints(&self, aoi: &Volume4D) -> Result<Vec<&Constraint>> {
        self.validate_query(aoi)?;
        Ok(self
            .constraint_index
            .query(aoi)
            .into_iter()
            .filter_map(|id| self.constraints.get(&id))
            .collect())
    }

    /// Parties with an operational intent or a subscription that meets
    /// `aoi` (anyone's: for the service's own notices, not for the API).
    pub fn parties_near(&self, aoi: &Volume4D) -> std::collections::BTreeSet<Manager> {
        let intents = self
            .intent_index
            .query(aoi)
            .into_iter()
            .filter_map(|id| self.intents.get(&id).map(|o| o.manager.clone()));
        let subs = self
            .subscription_index
            .query(aoi)
            .into_iter()
            .filter_map(|id| self.subscriptions.get(&id).map(|s| s.manager.clone()));
        intents.chain(subs).collect()
    }

    /// The caller's own subscriptions in the area that have not yet ended.
    pub fn query_subscriptions(
        &self,
        caller: &Caller,
        aoi: &Volume4D,
        now: DateTime<Utc>,
    ) -> Result<Vec<&Subscription>> {
        self.validate_query(aoi)?;
        Ok(self
            .subscription_index
            .query(aoi)
            .into_iter()
            .filter_map(|id| self.subscriptions.get(&id))
            .filter(|s| *s.manager == *caller.manager && s.time().end.is_none_or(|e| e >= now))
            .collect())
    }

    pub fn get_subscription(&self, caller: &Caller, id: Uuid) -> Result<&Subscription> {
        let s = self
            .subscriptions
            .get(&id)
            .ok_or_else(|| DssError::NotFound(format!("subscription {id} not found")))?;
        if *s.manager != *caller.manager {
            return Err(DssError::Forbidden(format!(
                "subscription {id} is managed by another USS"
            )));
        }
        Ok(s)
    }

    pub fn get_intent(&self, id: Uuid) -> Result<&OperationalIntent> {
        self.intents
            .get(&id)
            .ok_or_else(|| DssError::NotFound(format!("operational intent {id} not found")))
    }

    pub fn get_constraint(&self, id: Uuid) -> Result<&Constraint> {
        self.constraints
            .get(&id)
            .ok_or_else(|| DssError::NotFound(format!("constraint {id} not found")))
    }

    // ------------------------------------------------------------------ validation

    fn validate_base_url(&self, field: &str, url: &str) -> Result<()> {
        if url.is_empty() {
            return Err(DssError::bad(field, "required"));
        }
        let scheme_ok = if self.config.require_https {
            url.starts_with("https://")
        } else {
            url.starts_with("https://") || url.starts_with("http://")
        };
        if !scheme_ok {
            let want = if self.config.require_https {
                "https://"
            } else {
                "http:// or https://"
            };
            return Err(DssError::bad(
                field,
                format!("must be a URL starting with {want}"),
            ));
        }
        if url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(DssError::bad(field, "not a valid URL"));
        }
        Ok(())
    }

    /// Validates the extents of an intent or constraint; they must be bounded
    /// in time, end in the future, and (for intents) be bounded in altitude.
    fn validate_extents(
        &self,
        extents: &[Volume4D],
        now: DateTime<Utc>,
        require_altitude: bool,
    ) -> Result<()> {
        if extents.is_empty() {
            return Err(DssError::bad("extents", "at least one volume is required"));
        }
        for (i, v) in extents.iter().enumerate() {
            let p = format!("extents[{i}].");
            validate_volume(v, &self.config.limits).map_err(|e| path_err(&p, e))?;
            if v.time.start.is_none() {
                return Err(DssError::bad(format!("{p}time_start"), "required"));
            }
            if v.time.end.is_none() {
                return Err(DssError::bad(format!("{p}time_end"), "required"));
            }
            if require_altitude {
                if !v.altitude.lower_m.is_finite() {
                    return Err(DssError::bad(
                        format!("{p}volume.altitude_lower"),
                        "required",
                    ));
                }
                if !v.altitude.upper_m.is_finite() {
                    return Err(DssError::bad(
                        format!("{p}volume.altitude_upper"),
                        "required",
                    ));
                }
            }
        }
        let end = time_bounds(extents).end;
        if let Some(end) = end {
            if end < now {
                return Err(DssError::bad(
                    "extents",
                    format!(
                        "the latest time_end {} is in the past (now {})",
                        end.to_rfc3339(),
                        now.to_rfc3339()
                    ),
                ));
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------ notifications

    /// Subscriptions touched by a change in `volumes`, selected by `wants`.
    /// Their indices are incremented in `pending`; returns the subscribers in
    /// subscription-id order (the index answers in key order).
    fn dispatch(
        &self,
        volumes: &[Volume4D],
        wants: impl Fn(&Subscription) -> bool,
        pending: &mut HashMap<Uuid, Subscription>,
    ) -> Vec<Subscriber> {
        let mut out = Vec::new();
        for id in self.subscription_index.query_any(volumes) {
            let sub = match pending.get(&id).or_else(|| self.subscriptions.get(&id)) {
                Some(s) => s,
                None => continue,
            };
            if !wants(sub) {
                continue;
            }
            let mut s = sub.clone();
            s.notification_index += 1;
            out.push(Subscriber {
                subscription_id: s.id,
                notification_index: s.notification_index,
                uss_base_url: s.uss_base_url.clone(),
            });
            pending.insert(id, s);
        }
        out
    }

    // ------------------------------------------------------------------ intents

    /// Creates or updates an operational intent reference (F3548-21 DSS0210).
    pub fn put_intent(
        &mut self,
        caller: &Caller,
        now: DateTime<Utc>,
        req: PutOperationalIntent,
    ) -> Result<Outcome<IntentChanged>> {
        // --- stateless checks, in the order the reference DSS makes them
        self.validate_base_url("uss_base_url", &req.uss_base_url)?;
        if let SubscriptionChoice::Implicit { uss_base_url, .. } = &req.subscription {
            self.validate_base_url("new_subscription.uss_base_url", uss_base_url)?;
        }
        self.validate_extents(&req.extents, now, true)?;
        let mut req = req;
        // Shared from here on by the intent, its implicit subscription and
        // both index slots.
        let extents: Volumes =
            modelled(self.config.conflict_model, std::mem::take(&mut req.extents)).into();
        if req.ovn.is_none() && req.state != OperationalIntentState::Accepted {
            return Err(DssError::bad(
                "state",
                format!(
                    "a new operational intent must be Accepted, not {}",
                    req.state.as_str()
                ),
            ));
        }
        if req.state.requires_subscription() && req.subscription == SubscriptionChoice::None {
            return Err(DssError::bad(
                "subscription_id",
                format!(
                    "state {} requires either subscription_id or new_subscription",
                    req.state.as_str()
                ),
            ));
        }
        if req.state.requires_cmsa() && !caller.conformance_monitoring {
            return Err(DssError::Forbidden(format!(
                "state {} requires the utm.conformance_monitoring_sa scope",
                req.state.as_str()
            )));
        }

        // --- checks against the current state
        let old = self.intents.get(&req.id);
        check_put(
            "operational intent",
            req.id,
            old,
            caller,
            req.ovn.as_deref(),
            |ovn| {
                DssError::bad(
                    "ovn",
                    format!(
                        "operational intent {} does not exist, so it has no version {ovn}",
                        req.id
                    ),
                )
            },
        )?;

        let version = old.map_or(1, |o| o.version + 1);
        let previous_sub = old
            .and_then(|o| o.subscription_id)
            .and_then(|s| self.subscriptions.get(&s));
        let mut changes: Vec<Change> = Vec::new();
        let mut pending: HashMap<Uuid, Subscription> = HashMap::new();

        // --- the subscription the intent will rely on
        let attached: Option<Subscription> = match &req.subscription {
            SubscriptionChoice::None => None,
            SubscriptionChoice::Implicit {
                uss_base_url,
                notify_for_constraints,
            } => {
                let id = self.new_implicit_subscription_id(req.id, version);
                let sub = Subscription {
                    id,
                    manager: caller.manager.as_str().into(),
                    version: self.new_subscription_version(id, "", now),
                    notification_index: 0,
                    volumes: extents.clone(),
                    uss_base_url: uss_base_url.as_str().into(),
                    notify_for_operational_intents: true,
                    notify_for_constraints: *notify_for_constraints,
                    implicit: true,
                };
                Some(sub)
            }
            SubscriptionChoice::Existing(sid) => {
                let sub = self.subscriptions.get(sid).ok_or_else(|| {
                    DssError::bad(
                        "subscription_id",
                        format!("subscription {sid} does not exist"),
                    )
                })?;
                if *sub.manager != *caller.manager {
                    return Err(DssError::Forbidden(format!(
                        "subscription {sid} is managed by another USS"
                    )));
                }
                let mut sub = sub.clone();
                let only_this = self
                    .dependents
                    .get(sid)
                    .is_none_or(|d| d.iter().all(|o| *o == req.id));
                let uncovered: Vec<&Volume4D> = extents.iter().filter(|v| !sub.covers(v)).collect();
                if sub.implicit && only_this {
                    // An implicit subscription that only this intent relies
                    // on is the intent's extents: it moves with the intent
                    // instead of growing with every move, and stops hearing
                    // about the places the intent has left.
                    if *sub.volumes != *extents {
                        sub.volumes = extents.clone();
                        sub.version = self.new_subscription_version(sub.id, &sub.version, now);
                    }
                } else if !uncovered.is_empty() {
                    if !sub.implicit {
                        return Err(DssError::bad(
                            "subscription_id",
                            format!(
                                "subscription {sid} does not cover the operational intent's extents in area, altitude and time"
                            ),
                        ));
                    }
                    // Shared by other intents: it grows to cover this one too.
                    let mut grown = sub.volumes.to_vec();
                    grown.extend(uncovered.into_iter().cloned());
                    sub.volumes = grown.into();
                    sub.version = self.new_subscription_version(sub.id, &sub.version, now);
                }
                Some(sub)
            }
        };

        // --- the key: every other intent (and, for those who asked, constraint)
        // meeting the new extents must be named by its current OVN.
        if req.state.requires_key() {
            let key: BTreeSet<&str> = req.key.iter().map(String::as_str).collect();
            let missing_intents: Vec<OperationalIntent> = self
                .intent_index
                .query_any(&extents)
                .into_iter()
                .filter_map(|id| self.intents.get(&id))
                .filter(|o| o.id != req.id && !key.contains(o.ovn.as_str()))
                .filter(|o| {
                    // A Down USS's Accepted intents do not block others (SCD0005).
                    !(o.state == OperationalIntentState::Accepted
                        && self.availability_of(&o.manager) == Availability::Down)
                })
                .cloned()
                .collect();
            let missing_constraints: Vec<Constraint> = match &attached {
                Some(s) if s.notify_for_constraints => self
                    .constraint_index
                    .query_any(&extents)
                    .into_iter()
                    .filter_map(|id| self.constraints.get(&id))
                    .filter(|c| !key.contains(c.ovn.as_str()))
                    .cloned()
                    .collect(),
                _ => Vec::new(),
            };
            if !missing_intents.is_empty() || !missing_constraints.is_empty() {
                return Err(DssError::MissingOvns {
                    operational_intents: missing_intents,
                    constraints: missing_constraints,
                });
            }
        }

        // --- every check passed: build the effect
        let intent = OperationalIntent {
            id: req.id,
            manager: caller.manager.as_str().into(),
            version,
            state: req.state,
            ovn: self.new_ovn("oi", req.id, version, now),
            extents,
            uss_base_url: req.uss_base_url.into(),
            subscription_id: attached.as_ref().map(|s| s.id),
            monitoring: req.monitoring,
        };

        // The previous subscription goes if it was implicit, is being replaced
        // and this intent was the only one relying on it.
        let mut delete_previous = None;
        if let Some(prev) = previous_sub {
            let replaced = attached.as_ref().is_none_or(|a| a.id != prev.id);
            if replaced && prev.implicit {
                let deps = self.dependents.get(&prev.id);
                let only_this = deps.is_none_or(|d| d.iter().all(|&o| o == req.id));
                if only_this {
                    delete_previous = Some(prev.id);
                }
            }
        }

        if let Some(s) = &attached {
            pending.insert(s.id, s.clone());
        }
        // Notify those interested in the old or the new extents.
        let notify_volumes = new_and_old(&intent.extents, old.map(|o| &*o.extents));
        if let Some(prev) = delete_previous {
            pending.remove(&prev);
        }
        let subscribers = self.dispatch_with_new(
            &notify_volumes,
            |s| s.notify_for_operational_intents,
            &mut pending,
            attached.as_ref(),
            delete_previous,
        );

        changes.push(Change::PutOperationalIntent(intent.clone()));
        for s in pending.into_values() {
            changes.push(Change::PutSubscription(s));
        }
        if let Some(prev) = delete_previous {
            changes.push(Change::DeleteSubscription(prev));
        }
        // Subscriptions first so a replay never sees an intent pointing nowhere.
        changes.sort_by_key(|c| !matches!(c, Change::PutSubscription(_)));

        Ok(self.commit(
            IntentChanged {
                intent,
                subscribers,
            },
            changes,
        ))
    }

    /// Like [`Dss::dispatch`], but also counts a subscription created by this
    /// very operation (it is not in the index yet) and skips one being deleted.
    fn dispatch_with_new(
        &self,
        volumes: &[Volume4D],
        wants: impl Fn(&Subscription) -> bool + Copy,
        pending: &mut HashMap<Uuid, Subscription>,
        new_sub: Option<&Subscription>,
        deleted: Option<Uuid>,
    ) -> Vec<Subscriber> {
        let mut subs = self.dispatch(volumes, wants, pending);
        if let Some(del) = deleted {
            subs.retain(|s| s.subscription_id != del);
            pending.remove(&del);
        }
        if let Some(new) = new_sub {
            let meets = volumes
                .iter()
                .any(|v| new.volumes.iter().any(|s| s.intersects(v)));
            let already = subs.iter().any(|s| s.subscription_id == new.id);
            // A new subscription is not in the index yet, and one whose volumes
            // just grew may meet volumes the index (which has its old ones) missed.
            if !already && meets && wants(new) {
                let s = pending
                    .get_mut(&new.id)
                    .expect("attached subscription is pending");
                s.notification_index += 1;
                subs.push(Subscriber {
                    subscription_id: s.id,
                    notification_index: s.notification_index,
                    uss_base_url: s.uss_base_url.clone(),
                });
            }
        }
        subs.sort_by_key(|s| s.subscription_id);
        subs
    }

    /// Deletes an operational intent reference (F3548-21 DSS0210).
    pub fn delete_intent(
        &mut self,
        caller: &Caller,
        id: Uuid,
        ovn: &str,
    ) -> Result<Outcome<IntentChanged>> {
        let old =
            check_current("operational intent", id, self.intents.get(&id), caller, ovn)?.clone();
        let mut pending = HashMap::new();
        let subscribers = self.dispatch(
            &old.extents,
            |s| s.notify_for_operational_intents,
            &mut pending,
        );
        let mut changes: Vec<Change> = pending.into_values().map(Change::PutSubscription).collect();
        changes.push(Change::DeleteOperationalIntent(id));
        if let Some(sid) = old.subscription_id {
            if let Some(sub) = self.subscriptions.get(&sid) {
                let only_this = self
                    .dependents
                    .get(&sid)
                    .is_none_or(|d| d.iter().all(|&o| o == id));
                if sub.implicit && only_this {
                    changes.push(Change::DeleteSubscription(sid));
                }
            }
        }
        Ok(self.commit(
            IntentChanged {
                intent: old,
                subscribers,
            },
            changes,
        ))
    }

    // ------------------------------------------------------------------ constraints

    pub fn put_constraint(
        &mut self,
        caller: &Caller,
        now: DateTime<Utc>,
        req: PutConstraint,
    ) -> Result<Outcome<ConstraintChanged>> {
        self.validate_base_url("uss_base_url", &req.uss_base_url)?;
        self.validate_extents(&req.extents, now, false)?;
        let mut req = req;
        let extents: Volumes =
            modelled(self.config.conflict_model, std::mem::take(&mut req.extents)).into();
        let old = self.constraints.get(&req.id);
        check_put(
            "constraint",
            req.id,
            old,
            caller,
            req.ovn.as_deref(),
            |ovn| {
                DssError::Conflict(format!(
                    "constraint {} does not exist, so it has no version {ovn}",
                    req.id
                ))
            },
        )?;
        let version = old.map_or(1, |o| o.version + 1);
        let constraint = Constraint {
            id: req.id,
            manager: caller.manager.as_str().into(),
            version,
            ovn: self.new_ovn("c", req.id, version, now),
            extents,
            uss_base_url: req.uss_base_url.into(),
        };
        let volumes = new_and_old(&constraint.extents, old.map(|c| &*c.extents));
        let mut pending = HashMap::new();
        let subscribers = self.dispatch(&volumes, |s| s.notify_for_constraints, &mut pending);
        let mut changes: Vec<Change> = pending.into_values().map(Change::PutSubscription).collect();
        changes.push(Change::PutConstraint(constraint.clone()));
        Ok(self.commit(
            ConstraintChanged {
                constraint,
                subscribers,
            },
            changes,
        ))
    }

    pub fn delete_constraint(
        &mut self,
        caller: &Caller,
        id: Uuid,
        ovn: &str,
    ) -> Result<Outcome<ConstraintChanged>> {
        let old = check_current("constraint", id, self.constraints.get(&id), caller, ovn)?.clone();
        let mut pending = HashMap::new();
        let subscribers = self.dispatch(&old.extents, |s| s.notify_for_constraints, &mut pending);
        let mut changes: Vec<Change> = pending.into_values().map(Change::PutSubscription).collect();
        changes.push(Change::DeleteConstraint(id));
        Ok(self.commit(
            ConstraintChanged {
                constraint: old,
                subscribers,
            },
            changes,
        ))
    }

    // ------------------------------------------------------------------ subscriptions

    pub fn put_subscription(
        &mut self,
        caller: &Caller,
        now: DateTime<Utc>,
        req: PutSubscription,
    ) -> Result<Outcome<SubscriptionPut>> {
        self.validate_base_url("uss_base_url", &req.uss_base_url)?;
        if !req.notify_for_operational_intents && !req.notify_for_constraints {
            return Err(DssError::bad(
                "notify_for_operational_intents",
                "at least one of notify_for_operational_intents and notify_for_constraints must be true",
            ));
        }
        let old = self.subscriptions.get(&req.id);
        match (old, &req.version) {
            (None, Some(v)) => {
                return Err(DssError::bad(
                    "version",
                    format!(
                        "subscription {} does not exist, so it has no version {v}",
                        req.id
                    ),
                ));
            }
            (Some(_), None) => {
                return Err(DssError::Conflict(format!(
                    "subscription {} already exists",
                    req.id
                )));
            }
            (Some(old), Some(v)) if &old.version != v => {
                return Err(DssError::Conflict(format!(
                    "version {v} is not the current version of subscription {}",
                    req.id
                )));
            }
            (Some(old), Some(_)) if *old.manager != *caller.manager => {
                return Err(DssError::Forbidden(format!(
                    "subscription {} is managed by another USS",
                    req.id
                )));
            }
            _ => {}
        }

        let old_time = old.map(|o| o.time()).unwrap_or(TimeRange::UNBOUNDED);
        let (start, end) = subscription_window(req.time_start, req.time_end, old_time, now)?;
        let volume = Volume4D {
            footprint: req.footprint,
            altitude: req.altitude,
            time: TimeRange::new(start, end),
        };
        validate_volume(&volume, &self.config.limits).map_err(|e| path_err("extents.", e))?;

        let sub = Subscription {
            id: req.id,
            manager: caller.manager.as_str().into(),
            version: self.new_subscription_version(
                req.id,
                old.map_or("", |o| o.version.as_str()),
                now,
            ),
            notification_index: old.map_or(0, |o| o.notification_index),
            volumes: vec![volume].into(),
            uss_base_url: req.uss_base_url.into(),
            notify_for_operational_intents: req.notify_for_operational_intents,
            notify_for_constraints: req.notify_for_constraints,
            // Shaped through the subscriptions API, a subscription is its USS's
            // own from then on: it no longer follows its intent nor goes with
            // it (as in the reference DSS).
            implicit: false,
        };
        // A subscription that intents rely on must keep covering them. Its
        // start may lag theirs by the clock skew allowed when it was created
        // ("now" on the client is not "now" here), as in the reference DSS.
        if old.is_some() {
            for oid in self.dependent_intents(req.id) {
                if let Some(oi) = self.intents.get(&oid) {
                    let uncovered = oi.extents.iter().any(|v| {
                        let mut need = v.clone();
                        if let (Some(s), Some(e)) = (need.time.start, need.time.end) {
                            need.time.start = Some((s + MAX_CLOCK_SKEW).min(e));
                        }
                        !sub.covers(&need)
                    });
                    if uncovered {
                        return Err(DssError::bad(
                            "extents",
                            format!(
                                "the subscription would no longer cover operational intent {oid}, which relies on it"
                            ),
                        ));
                    }
                }
            }
        }
        let operational_intents = if sub.notify_for_operational_intents {
            Some(
                self.intent_index
                    .query_any(&sub.volumes)
                    .into_iter()
                    .filter_map(|id| self.intents.get(&id).cloned())
                    .collect(),
            )
        } else {
            None
        };
        let constraints = if sub.notify_for_constraints {
            Some(
                self.constraint_index
                    .query_any(&sub.volumes)
                    .into_iter()
                    .filter_map(|id| self.constraints.get(&id).cloned())
                    .collect(),
            )
        } else {
            None
        };
        let changes = vec![Change::PutSubscription(sub.clone())];
        Ok(self.commit(
            SubscriptionPut {
                subscription: sub,
                operational_intents,
                constraints,
            },
            changes,
        ))
    }

    pub fn delete_subscription(
        &mut self,
        caller: &Caller,
        id: Uuid,
        version: &str,
    ) -> Result<Outcome<Subscription>> {
        if version.is_empty() {
            return Err(DssError::bad("version", "required"));
        }
        let old = self
            .subscriptions
            .get(&id)
            .ok_or_else(|| DssError::NotFound(format!("subscription {id} not found")))?;
        if *old.manager != *caller.manager {
            return Err(DssError::Forbidden(format!(
                "subscription {id} is managed by another USS"
            )));
        }
        if old.version != version {
            return Err(DssError::Conflict(format!(
                "version {version} is not the current version of subscription {id}"
            )));
        }
        if let Some(deps) = self.dependents.get(&id) {
            if !deps.is_empty() {
                return Err(DssError::bad(
                    "subscriptionid",
                    format!(
                        "{} operational intent(s) rely on this subscription; it cannot be deleted",
                        deps.len()
                    ),
                ));
            }
        }
        let old = old.clone();
        Ok(self.commit(old, vec![Change::DeleteSubscription(id)]))
    }

    // ------------------------------------------------------------------ availability

    pub fn set_availability(
        &mut self,
        uss: &str,
        availability: Availability,
        old_version: &str,
        now: DateTime<Utc>,
    ) -> Result<Outcome<UssAvailability>> {
        if uss.is_empty() {
            return Err(DssError::bad("uss_id", "required"));
        }
        match self.availability.get(uss) {
            None if !old_version.is_empty() => {
                return Err(DssError::Conflict(format!(
                    "no availability is recorded for USS {uss}, so it has no version {old_version}"
                )));
            }
            Some(old) if old.version != old_version => {
                return Err(DssError::Conflict(format!(
                    "version {old_version} is not the current availability version of USS {uss}"
                )));
            }
            _ => {}
        }
        let nanos = now.timestamp_nanos_opt().unwrap_or_default();
        let d = self.derive(&[
            b"avail",
            uss.as_bytes(),
            old_version.as_bytes(),
            &nanos.to_le_bytes(),
        ]);
        let rec = UssAvailability {
            uss: uss.into(),
            availability,
            version: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&d[..18]),
        };
        Ok(self.commit(rec.clone(), vec![Change::PutAvailability(rec)]))
    }

    // ------------------------------------------------------------------ expiry

    /// Removes what ended before `cutoff`: intents and constraints whose every
    /// extent has ended, and subscriptions that ended with no intent relying on
    /// them. Nobody is notified: ending is part of what was declared.
    pub fn expire(&mut self, cutoff: DateTime<Utc>) -> Outcome<Expired> {
        let mut changes = Vec::new();
        let mut counts = Expired::default();
        let ended_intents: BTreeSet<Uuid> =
            self.intent_index.ended_before(cutoff).into_iter().collect();
        for id in &ended_intents {
            changes.push(Change::DeleteOperationalIntent(*id));
            counts.operational_intents += 1;
        }
        for id in self.constraint_index.ended_before(cutoff) {
            changes.push(Change::DeleteConstraint(id));
            counts.constraints += 1;
        }
        for id in self.subscription_index.ended_before(cutoff) {
            let still_relied_on = self
                .dependents
                .get(&id)
                .is_some_and(|d| d.iter().any(|o| !ended_intents.contains(o)));
            if !still_relied_on {
                changes.push(Change::DeleteSubscription(id));
                counts.subscriptions += 1;
            }
        }
        // Implicit subscriptions whose intents all expired go with them.
        let mut orphaned: BTreeMap<Uuid, ()> = BTreeMap::new();
        for id in &ended_intents {
            if let Some(sid) = self.intents.get(id).and_then(|o| o.subscription_id) {
                let all_gone = self
                    .dependents
                    .get(&sid)
                    .is_none_or(|d| d.iter().all(|o| ended_intents.contains(o)));
                let implicit = self.subscriptions.get(&sid).is_some_and(|s| s.implicit);
                let already = changes
                    .iter()
                    .any(|c| matches!(c, Change::DeleteSubscription(x) if *x == sid));
                if all_gone && implicit && !already {
                    orphaned.insert(sid, ());
                }
            }
        }
        for sid in orphaned.into_keys() {
            changes.push(Change::DeleteSubscription(sid));
            counts.subscriptions += 1;
        }
        let (rid, isas, rid_subscriptions) = self.rid_expired(cutoff);
        changes.extend(rid);
        counts.isas = isas;
        counts.rid_subscriptions = rid_subscriptions;
        self.commit(counts, changes)
    }
}

#[cfg(test)]
mod tests;
