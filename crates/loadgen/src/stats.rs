//! Latency samples and their percentiles.
//!
//! Every sample is kept (a `u32` of microseconds each: a million requests cost
//! 4 MB) and sorted once at the end, so the percentiles are exact rather than
//! bucket approximations; at these request rates that is cheaper than being
//! clever.

use std::time::Duration;

/// Latencies of one kind of operation, in microseconds.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    micros: Vec<u32>,
}

/// What a table row shows of a [`Samples`], in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Summary {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Samples {
    pub fn record(&mut self, d: Duration) {
        // Saturate at ~71 minutes: no request lives that long (the client times out first).
        self.micros
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
    }

    pub fn merge(&mut self, other: Samples) {
        self.micros.extend(other.micros);
    }

    pub fn len(&self) -> usize {
        self.micros.len()
    }

    pub fn is_empty(&self) -> bool {
        self.micros.is_empty()
    }

    /// Sorts the samples and summarises them; `None` when there are none.
    pub fn summary(&mut self) -> Option<Summary> {
        self.micros.sort_unstable();
        let s = &self.micros;
        let ms = |us: u32| f64::from(us) / 1000.0;
        let total: u64 = s.iter().map(|&x| u64::from(x)).sum();
        Some(Summary {
            count: s.len() as u64,
            mean_ms: total as f64 / s.len().max(1) as f64 / 1000.0,
            p50_ms: ms(percentile(s, 50.0)?),
            p90_ms: ms(percentile(s, 90.0)?),
            p99_ms: ms(percentile(s, 99.0)?),
            max_ms: ms(*s.last()?),
        })
    }
}

/// The nearest-rank percentile of `sorted` (ascending): the smallest sample
/// such that at least `p` % of the samples are less than or equal to it. It is
/// always an observed value, never an interpolation, so "p99 = 4.1 ms" means
/// some request really took 4.1 ms and 99 % took no longer.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    // The tolerance keeps decimal percentages exact: 0.999 × 1000 is
    // 999.0000000000001 in binary floating point, whose ceiling is 1000.
    let rank = ((p / 100.0) * n as f64 - 1e-9).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 90.0), Some(90));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        // Not a multiple of 100: p99 of 1..=1000 is the 990th value.
        let v: Vec<u32> = (1..=1000).collect();
        assert_eq!(percentile(&v, 99.0), Some(990));
        assert_eq!(percentile(&v, 99.9), Some(999));
        // Few samples: p99 of three values is the largest.
        assert_eq!(percentile(&[5, 7, 9], 99.0), Some(9));
        assert_eq!(percentile(&[5, 7, 9], 50.0), Some(7));
        assert_eq!(percentile(&[42], 50.0), Some(42));
        assert_eq!(percentile::<u32>(&[], 50.0), None);
    }

    #[test]
    fn summary_sorts_and_converts_to_ms() {
        let mut s = Samples::default();
        assert!(s.summary().is_none());
        // Recorded out of order; 1 ms .. 100 ms.
        for i in (1..=100u64).rev() {
            s.record(Duration::from_millis(i));
        }
        let mut other = Samples::default();
        other.record(Duration::from_millis(1000));
        s.merge(other);
        let sum = s.summary().unwrap();
        assert_eq!(sum.count, 101);
        assert_eq!(sum.p50_ms, 51.0);
        assert_eq!(sum.p99_ms, 100.0);
        assert_eq!(sum.max_ms, 1000.0);
        assert!((sum.mean_ms - (5050.0 + 1000.0) / 101.0).abs() < 1e-9);
    }
}
