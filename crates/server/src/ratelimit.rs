//! Per-party rate limits: a token bucket per authenticated party, checked
//! right after the token is verified. A party over its budget gets 429 with
//! `Retry-After`; other parties are unaffected.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Sustained requests per second per party; 0 turns limiting off.
    pub per_second: f64,
    /// Requests a party may make at once after being idle.
    pub burst: f64,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            per_second: 2000.0,
            burst: 4000.0,
        }
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

pub struct Limiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limiter {
    pub fn new(limit: RateLimit) -> Limiter {
        Limiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from the party's budget: `Ok`, or `Err(seconds
    /// until one is available)`.
    pub fn check(&self, party: &str) -> Result<(), u64> {
        if self.limit.per_second <= 0.0 {
            return Ok(());
        }
        self.check_at(party, Instant::now())
    }

    fn check_at(&self, party: &str, now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock();
        let b = buckets.entry(party.to_string()).or_insert(Bucket {
            tokens: self.limit.burst,
            at: now,
        });
        let dt = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + dt * self.limit.per_second).min(self.limit.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - b.tokens) / self.limit.per_second;
            Err(wait.ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_party_over_its_budget_waits_and_others_do_not() {
        let l = Limiter::new(RateLimit {
            per_second: 2.0,
            burst: 3.0,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.check_at("alpha", t0).is_ok());
        }
        assert_eq!(l.check_at("alpha", t0), Err(1));
        assert!(l.check_at("bravo", t0).is_ok());
        // Half a second later one request is available again.
        assert!(l.check_at("alpha", t0 + Duration::from_millis(500)).is_ok());
        assert!(l
            .check_at("alpha", t0 + Duration::from_millis(500))
            .is_err());
    }

    #[test]
    fn zero_turns_limiting_off() {
        let l = Limiter::new(RateLimit {
            per_second: 0.0,
            burst: 0.0,
        });
        for _ in 0..10_000 {
            assert!(l.check("alpha").is_ok());
        }
    }
}
