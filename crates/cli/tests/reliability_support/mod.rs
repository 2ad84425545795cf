//! Shared by the reliability tests (`reliability_*.rs`): a seeded random
//! generator and small HTTP helpers (the throwaway PostgreSQL database is
//! `common::pg`'s).
#![allow(dead_code)]

use serde_json::{json, Value};
use std::time::Duration;

pub use crate::common::pg::Db;

/// SplitMix64: small, seeded, reproducible. The seed comes from
/// RELIABILITY_SEED when set (to replay a failure), else from the clock, and
/// is printed.
pub struct Rng(u64);

impl Rng {
    pub fn from_env(what: &str) -> Rng {
        let seed = std::env::var("RELIABILITY_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("{what}: RELIABILITY_SEED={seed}");
        Rng(seed)
    }

    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo).max(1)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// A blocking client for load threads: each its own connection pool.
pub fn client(timeout: Duration) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .build()
        .unwrap()
}

/// An F3548 Volume4D square around (lat, lng) with a time window in minutes
/// from now, like `common::volume` but with the window given explicitly.
pub fn search_area(lat: f64, lng: f64, half_lat: f64, half_lng: f64) -> Value {
    use crate::common::iso;
    let now = chrono::Utc::now();
    json!({"area_of_interest": {
        "volume": {
            "outline_polygon": {"vertices": [
                {"lat": lat - half_lat, "lng": lng - half_lng},
                {"lat": lat - half_lat, "lng": lng + half_lng},
                {"lat": lat + half_lat, "lng": lng + half_lng},
                {"lat": lat + half_lat, "lng": lng - half_lng}
            ]},
            "altitude_lower": {"value": -1000, "reference": "W84", "units": "M"},
            "altitude_upper": {"value": 10000, "reference": "W84", "units": "M"}
        },
        "time_start": {"value": iso(now - chrono::Duration::hours(1)), "format": "RFC3339"},
        "time_end": {"value": iso(now + chrono::Duration::days(1)), "format": "RFC3339"}
    }})
}
