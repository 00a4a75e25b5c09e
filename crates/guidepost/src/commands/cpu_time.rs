//! The CPU time this process has used, all its threads together, for the benchmark's
//! CPU per call: what a call costs Guidepost and the simulated users, apart from the
//! database server's share and from how much of the machine stood idle. (On a quiet host
//! it moved from run to run as much as calls per second did: docs/PERFORMANCE.md.)

use std::time::Duration;

/// User and system CPU time of this process so far (`getrusage(RUSAGE_SELF)`), or
/// `None` where the system does not say.
pub fn used() -> Option<Duration> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `getrusage` fills the struct it is given; it is read only when it succeeded.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return None;
        }
        usage.assume_init()
    };
    let of = |time: libc::timeval| {
        let seconds = u64::try_from(time.tv_sec).ok()?;
        let micros = u64::try_from(time.tv_usec).ok()?;
        Some(Duration::from_secs(seconds) + Duration::from_micros(micros))
    };
    Some(of(usage.ru_utime)? + of(usage.ru_stime)?)
}

/// Microseconds of CPU per unit of work between two readings of [`used`].
pub fn per_unit_micros(
    before: Option<Duration>,
    after: Option<Duration>,
    units: u64,
) -> Option<f64> {
    let spent = after?.checked_sub(before?)?;
    (units > 0).then(|| spent.as_secs_f64() * 1e6 / units as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_done_shows_in_the_cpu_time_used() {
        let before = used().expect("getrusage answers on Linux");
        let mut sum = 0u64;
        let mut after = before;
        while after <= before {
            for n in 0..1_000_000u64 {
                sum = sum.wrapping_add(std::hint::black_box(n));
            }
            after = used().unwrap();
        }
        assert!(sum > 0);
        let per = per_unit_micros(Some(before), Some(after), 4).unwrap();
        assert!(per > 0.0);
        assert_eq!(per_unit_micros(Some(before), Some(after), 0), None);
        assert_eq!(per_unit_micros(None, Some(after), 4), None);
    }
}
