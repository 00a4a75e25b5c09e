//! What SQLite's one writer at a time per file did during `bench`'s mix: each hot writer's
//! share of the run spent holding its turn and waiting for it (`store::write_turn`; the
//! progress writes write the database, the analytics writer its own file), from
//! the target's `/metrics` before and after the mix. A PostgreSQL target takes no turns
//! and reports none.
//!
//! It tells whether the writer is what the mix waits on: a turn held most of the run
//! leaves the callers queued behind it, whatever the cores could do meanwhile.

use serde::Serialize;

use super::target::{metrics_page, value_in};

/// One writer's share of the run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct WriterShare {
    /// Turns taken during the run (a progress turn commits one group of writes).
    pub turns: u64,
    /// Time holding the turn over the run's time.
    pub held_share: f64,
    /// Time waiting for the turn over the run's time.
    pub waited_share: f64,
}

/// The progress writes' and the analytics writer's shares of the run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct WriteTurnShares {
    pub progress: WriterShare,
    pub analytics: WriterShare,
}

/// One writer's totals since the target started: turns, seconds held, seconds waited.
#[derive(Debug, Clone, Copy)]
struct WriterTotals {
    turns: f64,
    held: f64,
    waited: f64,
}

/// Both writers' totals at one moment.
#[derive(Debug, Clone, Copy)]
pub(super) struct Totals {
    progress: WriterTotals,
    analytics: WriterTotals,
}

/// The target's totals now, from one reading of its `/metrics`; `None` when it takes no
/// turns (PostgreSQL) or has no metrics.
pub(super) async fn totals(http: &reqwest::Client, base: &str) -> Option<Totals> {
    let page = metrics_page(http, base).await?;
    Some(Totals {
        progress: writer_totals(&page, "progress")?,
        analytics: writer_totals(&page, "analytics")?,
    })
}

fn writer_totals(page: &str, writer: &str) -> Option<WriterTotals> {
    let named = |name: &str| format!("guidepost_store_write_turn{name}{{writer=\"{writer}\"}}");
    Some(WriterTotals {
        turns: value_in(page, &named("s"))?,
        held: value_in(page, &named("_held_seconds"))?,
        waited: value_in(page, &named("_waited_seconds"))?,
    })
}

/// What happened between `before` and `after`, over a run of `seconds`.
pub(super) fn shares(before: Totals, after: Totals, seconds: f64) -> WriteTurnShares {
    let share = |before: WriterTotals, after: WriterTotals| WriterShare {
        turns: (after.turns - before.turns).max(0.0) as u64,
        held_share: (after.held - before.held).max(0.0) / seconds.max(f64::MIN_POSITIVE),
        waited_share: (after.waited - before.waited).max(0.0) / seconds.max(f64::MIN_POSITIVE),
    };
    WriteTurnShares {
        progress: share(before.progress, after.progress),
        analytics: share(before.analytics, after.analytics),
    }
}

/// The report's line.
pub(super) fn render(shares: &WriteTurnShares) -> String {
    let WriteTurnShares {
        progress,
        analytics,
    } = shares;
    format!(
        "SQLite's writers: progress writes held the database's write lock {:.0} % of the run \
         in {} turns and waited for it {:.0} %; the analytics writer held its own file's \
         {:.0} % in {}",
        progress.held_share * 100.0,
        progress.turns,
        progress.waited_share * 100.0,
        analytics.held_share * 100.0,
        analytics.turns
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_writers_totals_are_read_from_one_page() {
        let page = "# TYPE guidepost_store_write_turns gauge\n\
            guidepost_store_write_turns{writer=\"progress\"} 40\n\
            guidepost_store_write_turns{writer=\"analytics\"} 2\n\
            guidepost_store_write_turn_held_seconds{writer=\"progress\"} 1.5\n\
            guidepost_store_write_turn_held_seconds{writer=\"analytics\"} 0.25\n\
            guidepost_store_write_turn_waited_seconds{writer=\"progress\"} 0.5\n\
            guidepost_store_write_turn_waited_seconds{writer=\"analytics\"} 0\n";
        let progress = writer_totals(page, "progress").expect("progress");
        let analytics = writer_totals(page, "analytics").expect("analytics");
        assert_eq!(
            (progress.turns, progress.held, progress.waited),
            (40.0, 1.5, 0.5)
        );
        assert_eq!(
            (analytics.turns, analytics.held, analytics.waited),
            (2.0, 0.25, 0.0)
        );
        // A PostgreSQL target shows no turns.
        assert!(writer_totals("guidepost_store_statements_executed 9\n", "progress").is_none());
    }

    #[test]
    fn shares_are_of_the_run_between_the_two_readings() {
        let totals = |turns, held, waited| WriterTotals {
            turns,
            held,
            waited,
        };
        let before = Totals {
            progress: totals(100.0, 1.0, 0.5),
            analytics: totals(2.0, 0.25, 0.0),
        };
        let after = Totals {
            progress: totals(1100.0, 7.0, 1.5),
            analytics: totals(12.0, 1.25, 0.0),
        };
        let shares = shares(before, after, 10.0);
        assert_eq!(shares.progress.turns, 1000);
        assert!((shares.progress.held_share - 0.6).abs() < 1e-9);
        assert!((shares.progress.waited_share - 0.1).abs() < 1e-9);
        assert!((shares.analytics.held_share - 0.1).abs() < 1e-9);
        assert_eq!(
            render(&shares),
            "SQLite's writers: progress writes held the database's write lock 60 % of the run \
             in 1000 turns and waited for it 10 %; the analytics writer held its own file's \
             10 % in 10"
        );
    }
}
