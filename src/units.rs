//! Quantities as people write them in a configuration — durations (`"90s"`, `"1d 12h"`) and
//! byte sizes (`"20GiB"`, `"500MB"`, `"5%"`) — read, written back and put into sentences, in one
//! place so that the three programs accept and print them alike.
//!
//! Two kinds of writing, on purpose:
//! - **exact**, for values the user configured ([`duration::format`], [`ByteSize`]'s `Display`
//!   and `Serialize`): what `check-config` prints must read like what was written and parse back
//!   to the very same value (`keep = "90d"`, `disk_min_free = "1GiB"`). Tests check the round
//!   trip on any value. humantime's own format is not used: it counts months and years of
//!   30.44 and 365.25 days, so 90 days came out as `"2months 29days 2h 52m 48s"`.
//! - **rounded**, for sentences about what was measured ([`human_duration`], [`human_bytes`]):
//!   "late by 3h 5m", "1.5 GiB recorded", where a reader wants the order of magnitude, not the
//!   last byte.

use std::fmt;
use std::time::Duration;

/// Serde helpers for human durations (`"90s"`, `"5m"`, `"2h"`, `"1d"`), refusing bare numbers.
pub mod duration {
    use serde::{de, Deserializer, Serializer};
    use std::fmt;
    use std::time::Duration;

    const EXPECTED: &str = r#"a duration such as "90s", "5m" or "2h""#;

    const NANOS_PER_WEEK: u128 = 7 * 86_400 * 1_000_000_000;

    /// The units [`format`] writes, largest first, in nanoseconds; all of them humantime reads.
    const UNITS: [(&str, u128); 7] = [
        ("d", 86_400 * 1_000_000_000),
        ("h", 3_600 * 1_000_000_000),
        ("m", 60 * 1_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ];

    /// Parses one human duration, with an error that says what is accepted.
    pub fn parse(s: &str) -> Result<Duration, String> {
        humantime::parse_duration(s.trim())
            .map_err(|e| format!("invalid duration {s:?} ({e}); expected {EXPECTED}"))
    }

    /// Writes a duration exactly, the way people write one: whole weeks as weeks (`"2w"`),
    /// otherwise days, hours, minutes, seconds and milliseconds from the largest down, the
    /// zeros left out (`"90d"`, `"1d 12h"`, `"1m 30s"`, `"250ms"`); [`parse`] reads it back
    /// to the same value.
    pub fn format(d: &Duration) -> String {
        let mut left = d.as_nanos();
        if left == 0 {
            return "0s".to_string();
        }
        if left % NANOS_PER_WEEK == 0 {
            return format!("{}w", left / NANOS_PER_WEEK);
        }
        let mut parts = Vec::new();
        for (unit, nanos) in UNITS {
            let n = left / nanos;
            if n > 0 {
                parts.push(format!("{n}{unit}"));
                left %= nanos;
            }
        }
        parts.join(" ")
    }

    struct Visitor;

    impl de::Visitor<'_> for Visitor {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(EXPECTED)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            parse(v).map_err(E::custom)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
            Err(E::custom(format!(
                "a bare number ({v}) is not a duration: write it with a unit, e.g. \"{v}s\" or \"{v}m\""
            )))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            Err(E::custom(format!(
                "a bare number ({v}) is not a duration: write it with a unit, e.g. \"{v}s\""
            )))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
            Err(E::custom(format!(
                "a bare number ({v}) is not a duration: write it with a unit, e.g. \"90s\""
            )))
        }
    }

    /// Deserializes a required duration.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(Visitor)
    }

    /// Serializes a duration as its human form.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(d))
    }

    /// The same for `Option<Duration>` fields (per-site overrides).
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};
        use std::time::Duration;

        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super")] Duration);

        /// Deserializes an optional duration.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
        }

        /// Serializes an optional duration.
        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }
    }
}

/// A byte quantity or a share of a volume, as `disk_min_free` is written: `"20GiB"`, `"500MB"`, `"5%"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ByteSize {
    /// An absolute number of bytes.
    Bytes(u64),
    /// A percentage of the volume's total size.
    Percent(f64),
}

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;

/// The units a size is written back in, largest first: binary ones before decimal ones, so
/// that a tie (the same count in both) is written the binary way. All are read by
/// [`ByteSize::parse`].
const SIZE_UNITS: [(&str, u64); 8] = [
    ("TiB", TIB),
    ("GiB", GIB),
    ("MiB", MIB),
    ("KiB", KIB),
    ("TB", 1_000_000_000_000),
    ("GB", 1_000_000_000),
    ("MB", 1_000_000),
    ("kB", 1_000),
];

impl ByteSize {
    /// The threshold in bytes on a volume of `total` bytes.
    pub fn of_total(self, total: u64) -> u64 {
        match self {
            ByteSize::Bytes(b) => b,
            ByteSize::Percent(p) => ((total as f64) * p / 100.0) as u64,
        }
    }

    /// Parses `"20GiB"`, `"500 MB"`, `"1.5GiB"`, `"1024"`, `"5%"`. Decimals are computed
    /// exactly (`"4.35GB"` is 4 350 000 000 bytes), a fraction of a byte dropped.
    pub fn parse(s: &str) -> Result<ByteSize, String> {
        let t = s.trim();
        let bad = || {
            format!("invalid size {s:?}; expected bytes with a unit such as \"20GiB\", \"500MB\", or a share such as \"5%\"")
        };
        if let Some(p) = t.strip_suffix('%') {
            let v: f64 = p.trim().parse().map_err(|_| bad())?;
            if !(0.0..=100.0).contains(&v) {
                return Err(format!(
                    "invalid size {s:?}: a percentage must be between 0 and 100"
                ));
            }
            return Ok(ByteSize::Percent(v));
        }
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kb" | "k" => 1_000,
            "mb" | "m" => 1_000_000,
            "gb" | "g" => 1_000_000_000,
            "tb" | "t" => 1_000_000_000_000,
            "kib" => KIB,
            "mib" => MIB,
            "gib" => GIB,
            "tib" => TIB,
            _ => return Err(bad()),
        };
        let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
        if (whole.is_empty() && frac.is_empty()) || frac.contains('.') {
            return Err(bad());
        }
        let too_large = || format!("invalid size {s:?}: larger than {} bytes", u64::MAX);
        let digits = |d: &str| -> Result<u128, String> {
            d.chars().try_fold(0u128, |acc, c| {
                acc.checked_mul(10)
                    .and_then(|a| a.checked_add(u128::from(c.to_digit(10).unwrap_or(0))))
                    .ok_or_else(too_large)
            })
        };
        // Digits beyond the 19th of a fraction are below a byte at any unit here.
        let frac = &frac[..frac.len().min(19)];
        let scale = 10u128.pow(frac.len() as u32);
        let bytes = digits(whole)?
            .checked_mul(u128::from(mult))
            .and_then(|w| w.checked_add(digits(frac).ok()? * u128::from(mult) / scale))
            .ok_or_else(too_large)?;
        u64::try_from(bytes)
            .map(ByteSize::Bytes)
            .map_err(|_| too_large())
    }
}

/// A number of bytes in the largest unit that divides it exactly, binary or decimal, whichever
/// makes the smaller number (`"1GiB"`, `"500MB"`, `"1536B"`): how a size was most likely
/// written, and read back by [`ByteSize::parse`] to the same value.
fn exact_bytes(b: u64) -> String {
    SIZE_UNITS
        .iter()
        .filter(|(_, size)| b > 0 && b % size == 0)
        .min_by_key(|(_, size)| b / size)
        .map(|(unit, size)| format!("{}{unit}", b / size))
        .unwrap_or_else(|| format!("{b}B"))
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ByteSize::Bytes(b) => f.write_str(&exact_bytes(*b)),
            ByteSize::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as \"20GiB\" or \"5%\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize::Bytes(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize::Bytes)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
        }
        d.deserialize_any(V)
    }
}

/// Written as the user would write it (`"1GiB"`, `"5%"`), never as a bare count of bytes.
impl serde::Serialize for ByteSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// Bytes the way a person reads them in a summary, rounded: `"1.5 GiB"`.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// A measured span in a sentence, rounded to its two largest units and the same in both
/// languages: `3h 5m`, `2d 4h`, `45s`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, mins) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    match (days, hours, mins) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::{duration, human_bytes, human_duration, ByteSize};
    use proptest::prelude::*;
    use std::time::Duration;

    #[test]
    fn durations_are_written_in_the_largest_exact_unit() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_secs(90 * 86_400), "90d"),
            (Duration::from_secs(14 * 86_400), "2w"),
            (Duration::from_secs(36 * 3600), "1d 12h"),
            (Duration::from_secs(2 * 3600), "2h"),
            (Duration::from_secs(300), "5m"),
            (Duration::from_secs(90), "1m 30s"),
            (Duration::from_secs(86_401), "1d 1s"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_millis(1500), "1s 500ms"),
            (Duration::from_nanos(1_000_001), "1ms 1ns"),
        ];
        for (d, want) in cases {
            assert_eq!(duration::format(&d), want, "{d:?}");
            assert_eq!(duration::parse(want), Ok(d), "{want}");
        }
    }

    #[test]
    fn sizes_are_written_in_the_largest_exact_unit() {
        let cases = [
            (0, "0B"),
            (1023, "1023B"),
            (1536, "1536B"),
            (1 << 30, "1GiB"),
            (20 << 30, "20GiB"),
            (500_000_000, "500MB"),
            (3 << 40, "3TiB"),
            (2_000, "2kB"),
            // 1000 KiB beats 1024 kB: the smaller number wins.
            (1_024_000, "1000KiB"),
            (u64::MAX, "18446744073709551615B"),
        ];
        for (b, want) in cases {
            assert_eq!(ByteSize::Bytes(b).to_string(), want, "{b}");
            assert_eq!(ByteSize::parse(want), Ok(ByteSize::Bytes(b)), "{want}");
        }
        assert_eq!(ByteSize::Percent(5.0).to_string(), "5%");
        assert_eq!(ByteSize::Percent(12.5).to_string(), "12.5%");
    }

    #[test]
    fn decimal_sizes_are_exact_and_overflow_is_refused() {
        assert_eq!(
            ByteSize::parse("4.35GB"),
            Ok(ByteSize::Bytes(4_350_000_000))
        );
        assert_eq!(
            ByteSize::parse("1.5 GiB"),
            Ok(ByteSize::Bytes(1_610_612_736))
        );
        assert_eq!(ByteSize::parse(".5KiB"), Ok(ByteSize::Bytes(512)));
        assert_eq!(ByteSize::parse("0.0001B"), Ok(ByteSize::Bytes(0)));
        for bad in [
            "",
            ".",
            "1.2.3GB",
            "GiB",
            "5 parsecs",
            "18446744073709551616",
            "16777216TiB",
        ] {
            assert!(ByteSize::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(ByteSize::parse("101%").is_err());
    }

    #[test]
    fn serialized_values_read_like_the_configuration() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Section {
            #[serde(with = "duration")]
            keep: Duration,
            min_free: ByteSize,
            share: ByteSize,
        }
        let s = Section {
            keep: Duration::from_secs(90 * 86_400),
            min_free: ByteSize::Bytes(1 << 30),
            share: ByteSize::Percent(5.0),
        };
        let text = toml::to_string(&s).expect("toml");
        assert_eq!(
            text,
            "keep = \"90d\"\nmin_free = \"1GiB\"\nshare = \"5%\"\n"
        );
        assert_eq!(toml::from_str::<Section>(&text).expect("read back"), s);
    }

    #[test]
    fn sentences_round_what_was_measured() {
        assert_eq!(
            human_duration(Duration::from_secs(3 * 3600 + 5 * 60 + 7)),
            "3h 5m"
        );
        assert_eq!(
            human_duration(Duration::from_secs(2 * 86_400 + 4 * 3600 + 60)),
            "2d 4h"
        );
        assert_eq!(human_duration(Duration::from_secs(45)), "45s");
        assert_eq!(human_bytes(1_610_612_736), "1.5 GiB");
        assert_eq!(human_bytes(512), "512 B");
    }

    proptest! {
        #[test]
        fn any_duration_reads_back_as_written(secs in any::<u64>(), nanos in 0u32..1_000_000_000) {
            let d = Duration::new(secs, nanos);
            let text = duration::format(&d);
            prop_assert_eq!(duration::parse(&text), Ok(d), "{}", text);
        }

        #[test]
        fn whole_days_are_written_as_days_or_weeks(n in 1u64..1_000_000) {
            let text = duration::format(&Duration::from_secs(n * 86_400));
            let want = if n % 7 == 0 { format!("{}w", n / 7) } else { format!("{n}d") };
            prop_assert_eq!(text, want);
        }

        #[test]
        fn any_size_reads_back_as_written(b in any::<u64>(), shift in 0u32..41) {
            for v in [b, (b >> shift) << shift, (b % 10_000) * 1_000u64.pow(shift % 5)] {
                let text = ByteSize::Bytes(v).to_string();
                prop_assert_eq!(ByteSize::parse(&text), Ok(ByteSize::Bytes(v)), "{}", text);
            }
        }

        #[test]
        fn any_share_reads_back_as_written(p in 0.0f64..=100.0) {
            let text = ByteSize::Percent(p).to_string();
            prop_assert_eq!(ByteSize::parse(&text), Ok(ByteSize::Percent(p)), "{}", text);
        }
    }
}
