//! Streaming aggregates of file times: what the old tool computed from a list of every mtime
//! (oldest, newest, distinct local days), kept in constant memory per folder and camera.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use std::time::{SystemTime, UNIX_EPOCH};
use vigia::Tz;

/// A file modification time: seconds since 1970 (negative before) and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileTime {
    /// Whole seconds since 1970-01-01 UTC, negative before it.
    pub secs: i64,
    /// Nanoseconds within the second (0..1e9).
    pub nanos: u32,
}

impl FileTime {
    /// Converts a `SystemTime` (which may lie before 1970).
    pub fn from_system(t: SystemTime) -> FileTime {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => FileTime {
                secs: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                nanos: d.subsec_nanos(),
            },
            Err(e) => {
                let d = e.duration();
                let secs = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                if d.subsec_nanos() == 0 {
                    FileTime { secs, nanos: 0 }
                } else {
                    FileTime {
                        secs: secs - 1,
                        nanos: 1_000_000_000 - d.subsec_nanos(),
                    }
                }
            }
        }
    }

    /// The modification time of a file's metadata (Unix: straight from the stat buffer).
    pub fn of(meta: &std::fs::Metadata) -> Option<FileTime> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Some(FileTime {
                secs: meta.mtime(),
                nanos: u32::try_from(meta.mtime_nsec()).unwrap_or(0),
            })
        }
        #[cfg(not(unix))]
        {
            meta.modified().ok().map(FileTime::from_system)
        }
    }

    /// As a protobuf timestamp.
    pub fn to_timestamp(self) -> prost_types::Timestamp {
        prost_types::Timestamp {
            seconds: self.secs,
            nanos: i32::try_from(self.nanos).unwrap_or(0),
        }
    }

    /// As a chrono instant, when representable.
    pub fn to_chrono(self) -> Option<DateTime<Utc>> {
        DateTime::<Utc>::from_timestamp(self.secs, self.nanos)
    }
}

/// A set of local calendar days, as day numbers (days since 0001-01-01, chrono's
/// `num_days_from_ce`), kept sorted; small because recorders keep weeks, not millennia.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaySet {
    days: Vec<i32>,
}

impl DaySet {
    /// Adds a day.
    #[inline]
    pub fn insert(&mut self, day: i32) {
        // Files of one folder are mostly of one or two days: check the ends first.
        match self.days.last() {
            Some(&last) if last == day => {}
            Some(&last) if last < day => self.days.push(day),
            None => self.days.push(day),
            _ => {
                if let Err(pos) = self.days.binary_search(&day) {
                    self.days.insert(pos, day);
                }
            }
        }
    }

    /// Adds every day of another set.
    pub fn merge(&mut self, other: &DaySet) {
        if other.days.is_empty() {
            return;
        }
        if self.days.is_empty() {
            self.days.clone_from(&other.days);
            return;
        }
        // A folder of one or two days merged into its camera's set (every folder, on a tree of
        // day folders): inserted in place, without building a new vector each time.
        if other.days.len() <= 2 {
            for &d in &other.days {
                self.insert(d);
            }
            return;
        }
        let mut out = Vec::with_capacity(self.days.len() + other.days.len());
        let (mut i, mut j) = (0, 0);
        let (a, b) = (&self.days, &other.days);
        while i < a.len() && j < b.len() {
            match a[i].cmp(&b[j]) {
                std::cmp::Ordering::Less => {
                    out.push(a[i]);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    out.push(b[j]);
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    out.push(a[i]);
                    i += 1;
                    j += 1;
                }
            }
        }
        out.extend_from_slice(&a[i..]);
        out.extend_from_slice(&b[j..]);
        self.days = out;
    }

    /// Number of distinct days.
    pub fn len(&self) -> usize {
        self.days.len()
    }

    /// True when no day is recorded.
    pub fn is_empty(&self) -> bool {
        self.days.is_empty()
    }

    /// The day numbers, ascending.
    pub fn numbers(&self) -> &[i32] {
        &self.days
    }

    /// Builds a set from ascending day numbers (from the cache file); refuses unsorted input.
    pub fn from_sorted(days: Vec<i32>) -> Option<DaySet> {
        days.windows(2)
            .all(|w| w[0] < w[1])
            .then_some(DaySet { days })
    }

    /// The days as dates, ascending.
    pub fn to_dates(&self) -> Vec<NaiveDate> {
        self.days
            .iter()
            .filter_map(|&d| NaiveDate::from_num_days_from_ce_opt(d))
            .collect()
    }
}

/// Turns file times into local day numbers, remembering the last day's UTC span so that the
/// time zone rules are consulted about once per day rather than once per file.
#[derive(Debug, Clone)]
pub struct DayCalc {
    tz: Tz,
    start: i64,
    end: i64,
    day: i32,
}

impl DayCalc {
    /// A calculator for one zone.
    pub fn new(tz: Tz) -> DayCalc {
        DayCalc {
            tz,
            start: 0,
            end: 0,
            day: 0,
        }
    }

    /// The local day number of an instant, or None beyond chrono's range (±262,000 years).
    #[inline]
    pub fn day_of(&mut self, t: FileTime) -> Option<i32> {
        if t.secs >= self.start && t.secs < self.end {
            return Some(self.day);
        }
        let date = vigia::days::local_date_of_unix(t.secs, self.tz)?;
        let (start, end) = vigia::days::day_span(date, self.tz);
        let (start, end) = (start.timestamp(), end.timestamp());
        // Only cache a span that really contains the instant (odd zones, range ends).
        if t.secs >= start && t.secs < end {
            self.start = start;
            self.end = end;
            self.day = date.num_days_from_ce();
        }
        Some(date.num_days_from_ce())
    }
}

/// Figures of a set of recording files: count, bytes, oldest, newest (also among the non-empty
/// ones), distinct local days.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Agg {
    /// Number of files.
    pub files: u64,
    /// Sum of their sizes.
    pub bytes: u64,
    /// The oldest modification time.
    pub oldest: Option<FileTime>,
    /// The newest modification time.
    pub newest: Option<FileTime>,
    /// The newest modification time of a file that is not empty (size > 0): a recorder writing
    /// zero-byte files is not recording.
    pub newest_nonempty: Option<FileTime>,
    /// Distinct local days of the modification times.
    pub days: DaySet,
}

impl Agg {
    /// Counts one file.
    #[inline]
    pub fn add(&mut self, mtime: FileTime, size: u64, calc: &mut DayCalc) {
        self.files += 1;
        self.bytes = self.bytes.saturating_add(size);
        if self.oldest.is_none_or(|o| mtime < o) {
            self.oldest = Some(mtime);
        }
        if self.newest.is_none_or(|n| mtime > n) {
            self.newest = Some(mtime);
        }
        if size > 0 && self.newest_nonempty.is_none_or(|n| mtime > n) {
            self.newest_nonempty = Some(mtime);
        }
        if let Some(d) = calc.day_of(mtime) {
            self.days.insert(d);
        }
    }

    /// Adds another aggregate.
    pub fn merge(&mut self, other: &Agg) {
        self.files += other.files;
        self.bytes = self.bytes.saturating_add(other.bytes);
        if let Some(o) = other.oldest {
            if self.oldest.is_none_or(|s| o < s) {
                self.oldest = Some(o);
            }
        }
        if let Some(n) = other.newest {
            if self.newest.is_none_or(|s| n > s) {
                self.newest = Some(n);
            }
        }
        if let Some(n) = other.newest_nonempty {
            if self.newest_nonempty.is_none_or(|s| n > s) {
                self.newest_nonempty = Some(n);
            }
        }
        self.days.merge(&other.days);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_1970_system_time_keeps_its_fraction() {
        let t = UNIX_EPOCH - std::time::Duration::from_millis(1500);
        assert_eq!(
            FileTime::from_system(t),
            FileTime {
                secs: -2,
                nanos: 500_000_000
            }
        );
    }

    #[test]
    fn day_calc_splits_at_local_midnight() {
        let tz = vigia::days::parse_tz("America/Sao_Paulo").expect("zone");
        let mut c = DayCalc::new(tz);
        // 2026-11-28T02:59:59Z is 23:59:59 on the 27th in São Paulo.
        let before = c.day_of(FileTime {
            secs: 1_795_834_799,
            nanos: 0,
        });
        let after = c.day_of(FileTime {
            secs: 1_795_834_800,
            nanos: 0,
        });
        assert_eq!(after.zip(before).map(|(a, b)| a - b), Some(1));
    }

    #[test]
    fn empty_files_do_not_move_the_newest_nonempty() {
        let tz = vigia::days::parse_tz("UTC").expect("zone");
        let mut c = DayCalc::new(tz);
        let t = |secs| FileTime { secs, nanos: 0 };
        let mut a = Agg::default();
        a.add(t(100), 0, &mut c);
        assert_eq!((a.newest, a.newest_nonempty), (Some(t(100)), None));
        a.add(t(50), 7, &mut c);
        a.add(t(200), 0, &mut c);
        assert_eq!((a.newest, a.newest_nonempty), (Some(t(200)), Some(t(50))));
        let mut b = Agg::default();
        b.add(t(150), 1, &mut c);
        b.add(t(300), 0, &mut c);
        a.merge(&b);
        assert_eq!((a.newest, a.newest_nonempty), (Some(t(300)), Some(t(150))));
        assert_eq!((a.files, a.bytes), (5, 8));
    }

    #[test]
    fn day_set_merges_sorted_and_distinct() {
        let mut a = DaySet::default();
        for d in [5, 3, 5, 9] {
            a.insert(d);
        }
        let mut b = DaySet::default();
        for d in [1, 9, 4] {
            b.insert(d);
        }
        a.merge(&b);
        assert_eq!(a.numbers(), &[1, 3, 4, 5, 9]);
    }

    #[test]
    fn day_set_merge_of_one_or_two_days_inserts_in_place() {
        let set = |days: &[i32]| {
            let mut s = DaySet::default();
            for &d in days {
                s.insert(d);
            }
            s
        };
        for small in [&[0][..], &[7], &[2, 7], &[4, 11], &[9, 10], &[-1, 3]] {
            let mut a = set(&[2, 4, 9]);
            a.merge(&set(small));
            let mut want: Vec<i32> = [2, 4, 9].iter().chain(small).copied().collect();
            want.sort_unstable();
            want.dedup();
            assert_eq!(a.numbers(), &want[..], "merging {small:?}");
        }
    }
}
