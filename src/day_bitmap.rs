//! A camera's recorded days on the wire, compactly: the first day and one bit per day from it
//! (90 days in 12 bytes), so that per-camera retention and gaps cost little per status. Probe
//! and collector share this one definition.

use chrono::{Days, NaiveDate};

/// Longest span a bitmap may cover (ten years; the collector refuses longer ones).
pub const MAX_BITMAP_DAYS: usize = 3660;

/// Encodes ascending, distinct days as (first day, bitmap). Keeps only the last
/// [`MAX_BITMAP_DAYS`] of the span; `None` for no days.
pub fn encode(days: &[NaiveDate]) -> Option<(NaiveDate, Vec<u8>)> {
    let last = *days.last()?;
    let earliest = last
        .checked_sub_days(Days::new(MAX_BITMAP_DAYS as u64 - 1))
        .unwrap_or(NaiveDate::MIN);
    let first = days.iter().copied().find(|d| *d >= earliest)?;
    let span = usize::try_from((last - first).num_days()).ok()? + 1;
    let mut bits = vec![0u8; span.div_ceil(8)];
    for d in days.iter().filter(|d| **d >= first) {
        let i = usize::try_from((*d - first).num_days()).ok()?;
        bits[i / 8] |= 1 << (i % 8);
    }
    Some((first, bits))
}

/// Why a bitmap cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BitmapError {
    /// `first_day` is not `YYYY-MM-DD`.
    #[error("first_day {0:?} is not a YYYY-MM-DD date")]
    FirstDay(String),
    /// Longer than [`MAX_BITMAP_DAYS`].
    #[error("day_bitmap of {0} bytes covers more than {MAX_BITMAP_DAYS} days")]
    TooLong(usize),
    /// A bitmap without its first day, or the other way round.
    #[error("first_day and day_bitmap must be set together")]
    Half,
    /// The span runs past the calendar's end.
    #[error("day_bitmap runs past the last representable date")]
    Range,
}

/// The days of a camera's bitmap, ascending; `Ok(None)` when the probe sent none (older probes).
pub fn decode(first_day: &str, bits: &[u8]) -> Result<Option<Vec<NaiveDate>>, BitmapError> {
    match (first_day.is_empty(), bits.is_empty()) {
        (true, true) => return Ok(None),
        (true, false) | (false, true) => return Err(BitmapError::Half),
        _ => {}
    }
    let first = crate::days::parse_day(first_day)
        .ok_or_else(|| BitmapError::FirstDay(first_day.to_string()))?;
    if bits.len() > MAX_BITMAP_DAYS.div_ceil(8) {
        return Err(BitmapError::TooLong(bits.len()));
    }
    // One step per day of the span, from one set bit's day to the next (`succ_opt` is an
    // increment; adding n days, or counting from the calendar's origin, divides by years,
    // and a fleet listing decodes every camera's bitmap).
    let mut out = Vec::with_capacity(bits.iter().map(|b| b.count_ones() as usize).sum());
    let (mut day, mut at) = (first, 0usize);
    for (i, byte) in bits.iter().enumerate() {
        let mut byte = *byte;
        while byte != 0 {
            let n = i * 8 + byte.trailing_zeros() as usize;
            byte &= byte - 1;
            while at < n {
                day = day.succ_opt().ok_or(BitmapError::Range)?;
                at += 1;
            }
            out.push(day);
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        crate::days::parse_day(s).expect("test day")
    }

    #[test]
    fn round_trips_with_gaps() {
        let days = vec![
            day("2026-10-01"),
            day("2026-10-02"),
            day("2026-10-09"),
            day("2026-11-30"),
        ];
        let (first, bits) = encode(&days).expect("some days");
        assert_eq!(first, day("2026-10-01"));
        assert_eq!(bits.len(), 61usize.div_ceil(8));
        assert_eq!(decode("2026-10-01", &bits), Ok(Some(days)));
    }

    #[test]
    fn ninety_days_take_twelve_bytes() {
        let start = day("2026-09-02");
        let days: Vec<_> = (0..90)
            .filter_map(|i| start.checked_add_days(Days::new(i)))
            .collect();
        let (_, bits) = encode(&days).expect("some days");
        assert_eq!(bits.len(), 12);
    }

    #[test]
    fn keeps_only_the_last_ten_years() {
        let days = vec![day("1990-01-01"), day("2026-11-30")];
        let (first, bits) = encode(&days).expect("some days");
        assert_eq!(first, day("2026-11-30"));
        assert_eq!(bits, vec![1]);
    }

    #[test]
    fn decodes_each_set_bit_as_its_day() {
        // Against the plain definition: bit n set means first + n days.
        let first = day("2024-02-20");
        for bits in [
            vec![0b1000_0001u8, 0, 0xff, 0x10],
            vec![0xff; 12],
            vec![0, 0, 0x80],
        ] {
            let want: Vec<_> = (0..bits.len() * 8)
                .filter(|n| bits[n / 8] & (1 << (n % 8)) != 0)
                .filter_map(|n| first.checked_add_days(Days::new(n as u64)))
                .collect();
            assert_eq!(decode("2024-02-20", &bits), Ok(Some(want)));
        }
        let last = NaiveDate::MAX.format(crate::days::DAY_FORMAT).to_string();
        assert_eq!(decode(&last, &[0b10]), Err(BitmapError::Range));
    }

    #[test]
    fn bad_input_is_named() {
        assert_eq!(decode("", &[]), Ok(None));
        assert_eq!(decode("2026-01-01", &[]), Err(BitmapError::Half));
        assert_eq!(decode("", &[1]), Err(BitmapError::Half));
        assert!(matches!(
            decode("01/01/2026", &[1]),
            Err(BitmapError::FirstDay(_))
        ));
        assert!(matches!(
            decode("2026-01-01", &[1; 500]),
            Err(BitmapError::TooLong(500))
        ));
    }
}
