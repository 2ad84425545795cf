//! Tactical conflict detection: what is actually flying.
//!
//! Pure core (no I/O, no clock):
//! - [`geometry`]: closest point of approach for one pair, in BlueSky's
//!   model ([`geometry::bluesky_pair`], bit-for-bit with BlueSky 1.1.1's
//!   StateBased, quirks included) and in the correct one
//!   ([`geometry::default_pair`]: WGS84, tangent plane, symmetric).
//! - [`engine`]: one detection cycle over all aircraft, pruned by a
//!   time-sliced spatial grid and run on all cores; per-area minima.
//! - [`incremental`]: the live engine, one update at a time, with alert
//!   lifecycle (new / updated / resolved) carrying both parties.
//! - [`conformance`]: aircraft against the operational intents they fly
//!   (non-conformance raised and resolved).
//! - [`replay`]: losses of separation in recorded traffic.
//! - [`feeds`]: SBS-1 BaseStation and JSON-lines telemetry parsers.
//! - [`units`]: SI constants and minima parsing.
//!
//! Edges (files): [`scenario`] (BlueSky harness formats and a generator),
//! [`recording`] (the recorded-traffic CSV), and [`commands`], the library
//! side of `deconflict detect` and `deconflict replay`.

pub mod commands;
pub mod conformance;
pub mod engine;
pub mod feeds;
pub mod geometry;
pub mod incremental;
pub mod recording;
pub mod replay;
pub mod scenario;
pub mod units;

pub use commands::{
    detect_command, replay_command, DetectArgs, DetectSummary, ReplayArgs, ReplaySummary,
};
pub use conformance::{
    ConformanceEvent, ConformanceMonitor, ConformanceParams, MonitoredIntent, NonConformance,
    Resolved, ResolvedReason,
};
