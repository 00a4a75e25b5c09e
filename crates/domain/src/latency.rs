//! Latency histograms with fixed, log-spaced buckets: what the analytics rollups keep per
//! hour instead of every duration, so a report over a month reads a few counters per tool
//! and hour, and still gives p50, p95 and p99 to within one bucket (about 25 %).

/// The upper bounds of the buckets, in microseconds: the R10 series (ten steps per decade,
/// each about 1.26 times the last) from 100 µs to 80 s. A call falls in the first bucket
/// whose bound is at least its duration; slower calls fall in one last, open bucket.
pub const LATENCY_BOUNDS_US: [i64; 60] = [
    100, 125, 160, 200, 250, 315, 400, 500, 630, 800, //
    1_000, 1_250, 1_600, 2_000, 2_500, 3_150, 4_000, 5_000, 6_300, 8_000, //
    10_000, 12_500, 16_000, 20_000, 25_000, 31_500, 40_000, 50_000, 63_000, 80_000, //
    100_000, 125_000, 160_000, 200_000, 250_000, 315_000, 400_000, 500_000, 630_000,
    800_000, //
    1_000_000, 1_250_000, 1_600_000, 2_000_000, 2_500_000, 3_150_000, 4_000_000, 5_000_000,
    6_300_000, 8_000_000, //
    10_000_000, 12_500_000, 16_000_000, 20_000_000, 25_000_000, 31_500_000, 40_000_000, 50_000_000,
    63_000_000, 80_000_000,
];

/// Buckets in a histogram: one per bound and the open one above the last.
pub const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_US.len() + 1;

/// The bucket a duration falls in.
pub fn latency_bucket(duration_us: i64) -> usize {
    LATENCY_BOUNDS_US.partition_point(|&bound| bound < duration_us)
}

/// Calls counted per latency bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyHistogram {
    counts: [u64; LATENCY_BUCKETS],
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            counts: [0; LATENCY_BUCKETS],
        }
    }
}

impl LatencyHistogram {
    /// A histogram from its counts, bucket by bucket (missing buckets are empty).
    pub fn from_counts(counts: impl IntoIterator<Item = u64>) -> Self {
        let mut histogram = Self::default();
        for (slot, count) in histogram.counts.iter_mut().zip(counts) {
            *slot = count;
        }
        histogram
    }

    pub fn record(&mut self, duration_us: i64) {
        self.counts[latency_bucket(duration_us)] += 1;
    }

    pub fn add(&mut self, other: &LatencyHistogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            *mine += theirs;
        }
    }

    pub fn counts(&self) -> &[u64; LATENCY_BUCKETS] {
        &self.counts
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The nearest-rank percentile `p` (0–100), as the upper bound of the bucket it falls
    /// in, never above `max_us` (the slowest call, which the open bucket reports).
    pub fn percentile(&self, p: f64, max_us: i64) -> i64 {
        let total = self.total();
        if total == 0 {
            return 0;
        }
        let rank = ((p / 100.0) * total as f64).ceil().clamp(1.0, total as f64) as u64;
        let mut seen = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let bound = LATENCY_BOUNDS_US.get(bucket).copied().unwrap_or(max_us);
                return bound.min(max_us);
            }
        }
        max_us
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_fall_in_the_first_bucket_whose_bound_holds_them() {
        assert_eq!(latency_bucket(0), 0);
        assert_eq!(latency_bucket(100), 0);
        assert_eq!(latency_bucket(101), 1);
        assert_eq!(latency_bucket(1_000), 10);
        assert_eq!(latency_bucket(80_000_000), 59);
        assert_eq!(latency_bucket(80_000_001), 60);
    }

    #[test]
    fn bounds_rise_by_about_a_quarter() {
        for pair in LATENCY_BOUNDS_US.windows(2) {
            let ratio = pair[1] as f64 / pair[0] as f64;
            assert!((1.2..1.3).contains(&ratio), "{pair:?}");
        }
    }

    #[test]
    fn percentiles_are_bucket_bounds_capped_by_the_slowest_call() {
        let mut histogram = LatencyHistogram::default();
        for duration in 1..=100 {
            histogram.record(duration * 1_000);
        }
        assert_eq!(histogram.percentile(50.0, 100_000), 50_000);
        assert_eq!(histogram.percentile(95.0, 100_000), 100_000);
        assert_eq!(histogram.percentile(10.0, 100_000), 10_000);
        let mut slow = LatencyHistogram::default();
        slow.record(90_000_000);
        assert_eq!(slow.percentile(99.0, 90_000_000), 90_000_000);
        assert_eq!(LatencyHistogram::default().percentile(50.0, 0), 0);
    }

    #[test]
    fn histograms_add_bucket_by_bucket() {
        let mut a = LatencyHistogram::from_counts([1, 2]);
        a.add(&LatencyHistogram::from_counts([0, 1, 5]));
        assert_eq!(&a.counts()[..3], &[1, 3, 5]);
        assert_eq!(a.total(), 9);
    }
}
