//! Download counts. A pull is a manifest GET (by tag or digest; not HEAD) that answers
//! 200, the edge cache's answers included. Pulls are added up in memory per repository,
//! version and day and written later in one batch, so counting never adds a database
//! write to the pull itself.

use crate::oci::{Digest, RepoName};
use std::collections::BTreeMap;

pub const DAY_MS: u64 = 24 * 60 * 60 * 1000;
/// The package page's recent window.
pub const RECENT_DAYS: u32 = 30;
/// How long an isolate gathers pulls before each write: under load, one write a second
/// instead of one after another, each competing with the pulls for the database.
pub const GATHER_MS: u64 = 1_000;
/// A tally holding more keys than this is flushed at once, whatever its age.
pub const MAX_PENDING_KEYS: usize = 500;

/// Days since the Unix epoch.
pub fn day(now_ms: u64) -> u32 {
    (now_ms / DAY_MS) as u32
}

/// Pulls of one version on one day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DayCount {
    pub repo: RepoName,
    pub digest: Digest,
    pub day: u32,
    pub count: u64,
}

/// Pulls not yet written.
#[derive(Debug, Default)]
pub struct Tally {
    pending: BTreeMap<(RepoName, Digest, u32), u64>,
}

impl Tally {
    pub fn record(&mut self, repo: &RepoName, digest: &Digest, now_ms: u64) {
        *self.pending.entry((repo.clone(), digest.clone(), day(now_ms))).or_default() += 1;
    }

    /// Takes everything pending, to write.
    pub fn take(&mut self) -> Vec<DayCount> {
        std::mem::take(&mut self.pending)
            .into_iter()
            .map(|((repo, digest, day), count)| DayCount { repo, digest, day, count })
            .collect()
    }

    /// Puts back counts a write failed to store, so the next flush tries them again.
    pub fn put_back(&mut self, counts: Vec<DayCount>) {
        for c in counts {
            *self.pending.entry((c.repo, c.digest, c.day)).or_default() += c.count;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }
}

/// Downloads as pages and the API show them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Downloads {
    pub total: u64,
    pub last_30_days: u64,
}

impl Downloads {
    /// Sums per-day counts as of `today`.
    pub fn from_days(days: impl IntoIterator<Item = (u32, u64)>, today: u32) -> Downloads {
        let first_recent = today.saturating_sub(RECENT_DAYS - 1);
        days.into_iter().fold(Downloads::default(), |mut d, (day, count)| {
            d.total += count;
            if day >= first_recent {
                d.last_30_days += count;
            }
            d
        })
    }
}

/// A count as people read it: 999, 1.2k, 34k, 5.6M.
pub fn short_count(n: u64) -> String {
    let scaled = |n: u64, unit: u64, suffix: &str| {
        let tenths = n * 10 / unit;
        if tenths < 100 && !tenths.is_multiple_of(10) {
            format!("{}.{}{suffix}", tenths / 10, tenths % 10)
        } else {
            format!("{}{suffix}", n / unit)
        }
    };
    match n {
        0..=999 => n.to_string(),
        1_000..=999_999 => scaled(n, 1_000, "k"),
        1_000_000..=999_999_999 => scaled(n, 1_000_000, "M"),
        _ => scaled(n, 1_000_000_000, "G"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> RepoName {
        RepoName::parse("acme/app").unwrap()
    }
    fn d(n: u8) -> Digest {
        Digest::parse(&format!("sha256:{}", format!("{n:02x}").repeat(32))).unwrap()
    }

    #[test]
    fn pulls_add_up_per_version_and_day() {
        let mut t = Tally::default();
        for _ in 0..3 {
            t.record(&repo(), &d(1), 5 * DAY_MS + 10);
        }
        t.record(&repo(), &d(1), 6 * DAY_MS);
        t.record(&repo(), &d(2), 6 * DAY_MS);
        let counts = t.take();
        assert!(t.is_empty());
        let c = |digest, day, count| DayCount { repo: repo(), digest, day, count };
        assert_eq!(counts, vec![c(d(1), 5, 3), c(d(1), 6, 1), c(d(2), 6, 1)]);
        // A failed write loses nothing: the counts wait for the next flush.
        t.record(&repo(), &d(1), 5 * DAY_MS);
        t.put_back(counts);
        assert_eq!(t.take()[0], c(d(1), 5, 4));
    }

    #[test]
    fn totals_and_the_last_thirty_days() {
        let d = Downloads::from_days([(100, 5), (71, 2), (70, 1000)], 100);
        assert_eq!(d, Downloads { total: 1007, last_30_days: 7 });
    }

    #[test]
    fn short_counts() {
        let cases = [
            (0, "0"),
            (999, "999"),
            (1000, "1k"),
            (1250, "1.2k"),
            (34_567, "34k"),
            (5_600_000, "5.6M"),
            (2_000_000_000, "2G"),
        ];
        for (n, s) in cases {
            assert_eq!(short_count(n), s, "{n}");
        }
    }
}
