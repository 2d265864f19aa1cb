//! Coverage strips: which of the last [`STRIP_DAYS`] days (in the site's zone, up to the day of
//! the evaluation) have recordings, for a recorder (its recorded days) or for one camera (its
//! day bitmap), so that a dead camera shows as its own red strip instead of hiding behind the
//! recorder's green one. Runs are cut at each Monday: the renderers draw a tick there.

use super::days::day_key;
use super::rows::{CameraDays, RecorderRow};
use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use std::collections::HashMap;
use vigia::days::{format_day, last_n_days, local_date, parse_tz};
use vigia::Tz;

/// Days in a coverage strip (defined with the day keys, which `rows` needs too).
pub use super::days::STRIP_DAYS;

/// One strip: a day per cell, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Strip {
    /// The camera it shows; `None` for the whole recorder.
    pub camera: Option<String>,
    /// The first day shown.
    pub first: NaiveDate,
    /// One cell per day from `first`: true when the day has recordings.
    pub cells: Vec<bool>,
}

/// Consecutive days alike, cut at Mondays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// Days with recordings (or without).
    pub recorded: bool,
    /// How many days.
    pub len: usize,
    /// Starts on a Monday that is not the strip's first day: the renderers draw a tick.
    pub tick: bool,
}

impl Strip {
    /// The last day shown.
    pub fn last(&self) -> NaiveDate {
        self.first + chrono::Days::new(self.cells.len().saturating_sub(1) as u64)
    }

    /// Days with recordings.
    pub fn recorded(&self) -> usize {
        self.cells.iter().filter(|c| **c).count()
    }

    /// True for a cell that starts a new week (a Monday that is not the first day).
    pub fn week_starts(&self, i: usize) -> bool {
        i > 0 && (self.first + chrono::Days::new(i as u64)).weekday() == Weekday::Mon
    }

    /// The runs of the strip.
    pub fn runs(&self) -> Vec<Run> {
        let mut out: Vec<Run> = Vec::new();
        for (i, &c) in self.cells.iter().enumerate() {
            let tick = self.week_starts(i);
            match out.last_mut() {
                Some(r) if r.recorded == c && !tick => r.len += 1,
                _ => out.push(Run {
                    recorded: c,
                    len: 1,
                    tick,
                }),
            }
        }
        out
    }

    /// `#` per day with recordings, `.` per day without, a space before each Monday.
    pub fn text(&self) -> String {
        let mut s = String::with_capacity(self.cells.len() + 6);
        for (i, &c) in self.cells.iter().enumerate() {
            if self.week_starts(i) {
                s.push(' ');
            }
            s.push(if c { '#' } else { '.' });
        }
        s
    }
}

/// One zone's window of days, as dates and as keys of the wire's `YYYY-MM-DD`.
struct Window {
    days: Vec<NaiveDate>,
    keys: Vec<u32>,
}

/// The windows already made, one per zone name (not one per strip).
pub struct Windows {
    today_utc: DateTime<Utc>,
    fallback: Tz,
    cache: HashMap<String, Window>,
}

impl Windows {
    /// Windows ending on the day of `today_utc` in each site's zone (`fallback` when unknown).
    pub fn new(today_utc: DateTime<Utc>, fallback: Tz) -> Windows {
        Windows {
            today_utc,
            fallback,
            cache: HashMap::new(),
        }
    }

    fn window(&mut self, zone: &str) -> &Window {
        if !self.cache.contains_key(zone) {
            let tz = parse_tz(zone).unwrap_or(self.fallback);
            let days = last_n_days(local_date(self.today_utc, tz), STRIP_DAYS);
            let keys = days
                .iter()
                .map(|d| day_key(&format_day(*d)).unwrap_or(0))
                .collect();
            self.cache.insert(zone.to_string(), Window { days, keys });
        }
        &self.cache[zone]
    }

    /// The strip of a whole recorder, from its recorded days.
    pub fn recorder(&mut self, status: &RecorderRow) -> Option<Strip> {
        let w = self.window(&status.time_zone);
        let first = *w.days.first()?;
        // Both lists are sorted: one merge pass from the window's first day.
        let start = *w.keys.first()?;
        let days = &status.recent_days;
        let from = days.partition_point(|k| *k < start);
        let mut recorded = days[from..].iter().copied().peekable();
        let cells = w
            .keys
            .iter()
            .map(|k| {
                while recorded.next_if(|r| r < k).is_some() {}
                recorded.peek() == Some(k)
            })
            .collect();
        Some(Strip {
            camera: None,
            first,
            cells,
        })
    }

    /// The strip of one camera, from its day bitmap; `None` from probes that send no days.
    pub fn camera(&mut self, status: &RecorderRow, camera: &CameraDays) -> Option<Strip> {
        let days = vigia::day_bitmap::decode(&camera.first_day, &camera.day_bitmap).ok()??;
        let w = self.window(&status.time_zone);
        let first = *w.days.first()?;
        let cells = w
            .days
            .iter()
            .map(|d| days.binary_search(d).is_ok())
            .collect();
        Some(Strip {
            camera: Some(camera.camera.clone()),
            first,
            cells,
        })
    }

    /// The strip of a camera gone from the latest scan: no day of the window has its recordings.
    pub fn absent_camera(&mut self, status: &RecorderRow, camera: &str) -> Option<Strip> {
        let w = self.window(&status.time_zone);
        Some(Strip {
            camera: Some(camera.to_string()),
            first: *w.days.first()?,
            cells: vec![false; w.days.len()],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_keys_keep_the_order_and_refuse_other_text() {
        assert_eq!(day_key("2026-11-28"), Some(20261128));
        assert!(day_key("2026-11-28") > day_key("2026-10-30"));
        for bad in ["2026-1-28", "2026/11/28", "20261128xx", "2026-11-2a", ""] {
            assert_eq!(day_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn runs_cut_at_mondays_and_text_spaces_weeks() {
        // 2026-11-01 is a Sunday: the 2nd and the 9th are Mondays.
        let first = NaiveDate::from_ymd_opt(2026, 11, 1).expect("day");
        let mut cells = vec![true; 10];
        cells[3] = false;
        let s = Strip {
            camera: None,
            first,
            cells,
        };
        assert_eq!(s.text(), "# ##.#### ##");
        let runs: Vec<(bool, usize, bool)> = s
            .runs()
            .iter()
            .map(|r| (r.recorded, r.len, r.tick))
            .collect();
        assert_eq!(
            runs,
            vec![
                (true, 1, false),
                (true, 2, true),
                (false, 1, false),
                (true, 4, false),
                (true, 2, true)
            ]
        );
        assert_eq!(s.recorded(), 9);
        assert_eq!(
            s.last(),
            NaiveDate::from_ymd_opt(2026, 11, 10).expect("day")
        );
    }
}
