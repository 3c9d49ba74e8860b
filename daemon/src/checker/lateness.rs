//! Lateness of check starts against their schedule, logged every 10 s
//! (p50, p99, max): the scheduler's own health under load.
//!
//! Counted in a histogram of fixed size rather than kept and sorted: at
//! 10,000 checks a second the samples of 10 s were 0.5 MiB of the
//! checker's heap (heaptrack, issue 18) and a sort of 100,000 numbers
//! each report. Buckets are exact below 32 µs and 1/16 of their value
//! wide above (16 per power of two), and a quantile is reported as its
//! bucket's upper end: at most 6.25 % above the exact one, never below
//! it. The maximum is exact.

use std::time::Duration;

use tokio::time::Instant;

use tracing::info;

/// Sub-buckets per power of two (log2).
const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Exact buckets for 0..2*SUB, then SUB per power of two up to u32::MAX.
const BUCKETS: usize = 2 * SUB + (31 - SUB_BITS as usize) * SUB;

const REPORT_EVERY: Duration = Duration::from_secs(10);

pub(super) struct Lateness {
    counts: Box<[u32; BUCKETS]>,
    runs: u64,
    max: u32,
    since: Option<Instant>,
}

impl Default for Lateness {
    fn default() -> Self {
        Self {
            counts: Box::new([0; BUCKETS]),
            runs: 0,
            max: 0,
            since: None,
        }
    }
}

/// The bucket of `v` µs.
fn bucket(v: u32) -> usize {
    if (v as usize) < 2 * SUB {
        return v as usize;
    }
    // v >= 2*SUB: its top bit is at SUB_BITS + 1 or above.
    let top = 31 - v.leading_zeros();
    let shift = top - SUB_BITS;
    let sub = ((v >> shift) as usize) & (SUB - 1);
    (shift as usize + 1) * SUB + sub
}

/// The largest value in bucket `i`.
fn upper(i: usize) -> u32 {
    if i < 2 * SUB {
        return i as u32;
    }
    let shift = (i / SUB - 1) as u32;
    let sub = (i % SUB) as u64;
    let top = ((SUB as u64 + sub + 1) << shift) - 1;
    u32::try_from(top).unwrap_or(u32::MAX)
}

impl Lateness {
    /// A run's lateness `d`, taken at `now`.
    pub(super) fn add(&mut self, d: Duration, now: Instant) {
        let since = *self.since.get_or_insert(now);
        let v = u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
        if let Some(c) = self.counts.get_mut(bucket(v)) {
            *c = c.saturating_add(1);
        }
        self.runs += 1;
        self.max = self.max.max(v);
        if now.saturating_duration_since(since) >= REPORT_EVERY {
            info!(
                runs = self.runs,
                p50_us = self.quantile(0.5),
                p99_us = self.quantile(0.99),
                max_us = self.max,
                "check start lateness"
            );
            self.counts.fill(0);
            self.runs = 0;
            self.max = 0;
            self.since = Some(now);
        }
    }

    /// The `q` quantile (the sample of rank round((runs - 1) q), as the
    /// sorted list gave), as its bucket's upper end and at most the max.
    fn quantile(&self, q: f64) -> u32 {
        if self.runs == 0 {
            return 0;
        }
        let rank = ((self.runs - 1) as f64 * q).round() as u64;
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen > rank {
                return upper(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order_and_narrowly() {
        assert_eq!(bucket(u32::MAX), BUCKETS - 1);
        assert_eq!(upper(BUCKETS - 1), u32::MAX);
        let mut v: u64 = 0;
        while v <= u64::from(u32::MAX) {
            let x = v as u32;
            let b = bucket(x);
            assert!(upper(b) >= x, "{x} in bucket {b} ending {}", upper(b));
            assert!(
                b == 0 || upper(b - 1) < x,
                "{x}: bucket {b} starts above it"
            );
            assert!(
                u64::from(upper(b) - x) * 16 <= u64::from(x).max(16),
                "{x}: bucket too wide"
            );
            v = v * 9 / 8 + 1;
        }
    }

    /// Against the sorted samples it replaced: never below, within 1/16
    /// above, and the max exact.
    #[test]
    fn quantiles_are_within_a_sixteenth_of_the_sorted_ones() {
        let mut l = Lateness::default();
        // A spread like a loaded scheduler's: most runs a few hundred µs
        // late, a tail of tens of ms (a fixed pseudo-random sequence).
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut samples = Vec::new();
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = if x.is_multiple_of(100) {
                (x >> 20) % 50_000
            } else {
                (x >> 20) % 900
            } as u32;
            samples.push(v);
            let c = &mut l.counts[bucket(v)];
            *c += 1;
            l.runs += 1;
            l.max = l.max.max(v);
        }
        samples.sort_unstable();
        for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
            let exact = samples[((samples.len() as f64 - 1.0) * q).round() as usize];
            let got = l.quantile(q);
            assert!(
                got >= exact && u64::from(got - exact) * 16 <= u64::from(exact).max(16),
                "q {q}: {got} for {exact}"
            );
        }
        assert_eq!(l.quantile(1.0), *samples.last().unwrap());
        assert_eq!(Lateness::default().quantile(0.99), 0);
    }

    /// A report every 10 s, and the counts start again after it.
    #[test]
    fn counts_start_again_after_each_report() {
        let t0 = Instant::now();
        let mut l = Lateness::default();
        l.add(Duration::from_millis(40), t0);
        l.add(Duration::from_micros(5), t0 + Duration::from_secs(1));
        assert_eq!((l.runs, l.max), (2, 40_000));
        l.add(Duration::from_micros(7), t0 + REPORT_EVERY);
        assert_eq!((l.runs, l.max), (0, 0));
        assert!(l.counts.iter().all(|&c| c == 0));
        l.add(
            Duration::from_micros(9),
            t0 + REPORT_EVERY + Duration::from_secs(1),
        );
        assert_eq!((l.runs, l.quantile(0.5)), (1, 9));
        // Beyond u32 µs: counted at the top.
        l.add(
            Duration::from_secs(1 << 33),
            t0 + REPORT_EVERY + Duration::from_secs(2),
        );
        assert_eq!(l.max, u32::MAX);
    }
}
