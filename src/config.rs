//! Configuration conventions shared by the three binaries, so that a site's IT person meets the
//! same rules everywhere: one TOML file, then `VIGIA_*` environment overrides (`__` between
//! sections), unknown keys refused, durations written as `"5m"` or `"2h"`, and every error naming
//! the key and the file it came from.

use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Prefix of the environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "VIGIA";

/// Environment variables with the prefix that are not configuration keys (the log filter).
const ENV_NOT_CONFIG: &[&str] = &["VIGIA_LOG"];

/// Why a configuration could not be loaded; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file was named but is not there.
    #[error("configuration file {} not found", .file.display())]
    Missing {
        /// The file that was asked for.
        file: PathBuf,
    },
    /// The file exists but cannot be read or is not valid TOML.
    #[error("{}: {reason}", .file.display())]
    Unreadable {
        /// The file.
        file: PathBuf,
        /// What went wrong, from the TOML parser or the operating system.
        reason: String,
    },
    /// A key is unknown or its value is wrong.
    #[error("{origin}: {message}")]
    Invalid {
        /// The file, or the environment variable, the bad key came from.
        origin: String,
        /// The key, the value and what was expected.
        message: String,
    },
}

impl ConfigError {
    /// An error about a value that loaded but failed a later check (e.g. two recorders with one id).
    pub fn invalid(file: &Path, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            origin: file.display().to_string(),
            message: message.into(),
        }
    }
}

/// Where a configuration comes from: a file (maybe optional) and environment overrides.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    /// The TOML file.
    pub file: PathBuf,
    /// When false, a missing file means "all defaults" (the collector's first run).
    pub required: bool,
    /// `VIGIA_*` variables to apply over the file; tests pass their own instead of mutating the process.
    pub env: Vec<(String, String)>,
    /// Keys (dotted) whose environment value is a comma-separated list.
    pub list_keys: Vec<String>,
}

impl ConfigSource {
    /// A required file with the process's own `VIGIA_*` environment.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        ConfigSource {
            file: path.into(),
            required: true,
            env: process_env(),
            list_keys: Vec::new(),
        }
    }

    /// The same source, but a missing file means defaults.
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }

    /// Replaces the environment overrides (for tests and embedding).
    pub fn with_env(mut self, env: Vec<(String, String)>) -> Self {
        self.env = env;
        self
    }

    /// Declares dotted keys whose environment value is a comma-separated list.
    pub fn with_list_keys(mut self, keys: &[&str]) -> Self {
        self.list_keys = keys.iter().map(|k| (*k).to_string()).collect();
        self
    }

    /// Reads, merges and deserializes the configuration.
    pub fn load<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        load(self)
    }
}

/// The process's `VIGIA_*` variables that are meant as configuration overrides.
pub fn process_env() -> Vec<(String, String)> {
    std::env::vars().filter(|(k, _)| is_config_var(k)).collect()
}

fn is_config_var(name: &str) -> bool {
    name.strip_prefix(ENV_PREFIX)
        .is_some_and(|rest| rest.starts_with('_'))
        && !ENV_NOT_CONFIG.contains(&name)
}

/// The dotted key an environment variable sets, e.g. `VIGIA_RULES__LATE_AFTER` → `rules.late_after`.
pub fn env_key(var: &str) -> Option<String> {
    let rest = var.strip_prefix(ENV_PREFIX)?.strip_prefix('_')?;
    Some(rest.to_ascii_lowercase().replace("__", "."))
}

fn load<T: DeserializeOwned>(src: &ConfigSource) -> Result<T, ConfigError> {
    let file_name = src.file.display().to_string();
    let mut builder = config::Config::builder();
    // Names the file itself mentions as values (`password_env = "VIGIA_SMTP_PASSWORD"`) are
    // where secrets come from, not configuration overrides.
    let mut named_in_file = Vec::new();
    match std::fs::read_to_string(&src.file) {
        Ok(text) => {
            // Parse once ourselves so syntax errors carry the file name and the line.
            let parsed = text.parse::<toml::Table>();
            if let Ok(table) = &parsed {
                collect_strings(&toml::Value::Table(table.clone()), &mut named_in_file);
            }
            if let Err(e) = parsed {
                return Err(ConfigError::Unreadable {
                    file: src.file.clone(),
                    reason: format!(
                        "not valid TOML{}: {}",
                        e.span()
                            .map(|sp| format!(
                                " at line {}",
                                text[..sp.start.min(text.len())].matches('\n').count() + 1
                            ))
                            .unwrap_or_default(),
                        e.message().trim()
                    ),
                });
            }
            builder = builder.add_source(config::File::from_str(&text, config::FileFormat::Toml));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if src.required {
                return Err(ConfigError::Missing {
                    file: src.file.clone(),
                });
            }
        }
        Err(e) => {
            return Err(ConfigError::Unreadable {
                file: src.file.clone(),
                reason: e.to_string(),
            })
        }
    }
    let env: HashMap<String, String> = src
        .env
        .iter()
        .filter(|(k, _)| is_config_var(k) && !named_in_file.contains(k))
        .cloned()
        .collect();
    let mut environment = config::Environment::with_prefix(ENV_PREFIX)
        .prefix_separator("_")
        .separator("__")
        .source(Some(env.clone()));
    if !src.list_keys.is_empty() {
        environment = environment.try_parsing(true).list_separator(",");
        for key in &src.list_keys {
            environment = environment.with_list_parse_key(key);
        }
    }
    let built = builder
        .add_source(environment)
        .build()
        .map_err(|e| ConfigError::Invalid {
            origin: file_name.clone(),
            message: e.to_string(),
        })?;
    built.try_deserialize::<T>().map_err(|e| {
        let message = tidy_message(&e.to_string());
        ConfigError::Invalid {
            origin: origin_of(&message, &env, &file_name),
            message,
        }
    })
}

fn collect_strings(v: &toml::Value, out: &mut Vec<String>) {
    match v {
        toml::Value::String(s) => out.push(s.clone()),
        toml::Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        toml::Value::Table(t) => t.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

/// Blames the environment variable when the failing key came from one, the file otherwise.
fn origin_of(message: &str, env: &HashMap<String, String>, file: &str) -> String {
    let mut vars: Vec<&String> = env.keys().collect();
    vars.sort();
    for var in vars {
        if let Some(key) = env_key(var) {
            let last = key.rsplit('.').next().unwrap_or(&key);
            if message.contains(&format!("`{key}`")) || message.contains(&format!("`{last}`")) {
                return format!("environment variable {var} (over {file})");
            }
        }
    }
    file.to_string()
}

/// The config crate words errors for programmers; say them for the person editing the file,
/// key first: "key `rules.late_after`: invalid duration ...".
fn tidy_message(raw: &str) -> String {
    let raw = dot_after_index(raw);
    if let Some(rest) = raw.strip_prefix("missing configuration field \"") {
        if let Some((key, tail)) = rest.split_once('"') {
            return format!("missing key `{key}`{tail}");
        }
    }
    let (body, key) = match raw.rsplit_once(" for key `") {
        Some((body, key)) => (body.to_string(), key.trim_end_matches('`').to_string()),
        None => (raw.to_string(), String::new()),
    };
    if let Some(rest) = body.strip_prefix("unknown field `") {
        if let Some((name, tail)) = rest.split_once('`') {
            let full = if key.is_empty() {
                name.to_string()
            } else {
                format!("{key}.{name}")
            };
            return format!("unknown key `{full}`{tail}");
        }
    }
    if key.is_empty() {
        body
    } else {
        format!("key `{key}`: {body}")
    }
}

/// The config crate writes array keys as `recorder[0]path`; people read `recorder[0].path`.
fn dot_after_index(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 4);
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == ']'
            && chars
                .peek()
                .is_some_and(|n| n.is_ascii_alphabetic() || *n == '_')
        {
            out.push('.');
        }
    }
    out
}

/// Serde helpers for human durations (`"90s"`, `"5m"`, `"2h"`, `"1d"`), refusing bare numbers.
pub mod duration {
    use serde::{de, Deserializer, Serializer};
    use std::fmt;
    use std::time::Duration;

    const EXPECTED: &str = r#"a duration such as "90s", "5m" or "2h""#;

    /// Parses one human duration, with an error that says what is accepted.
    pub fn parse(s: &str) -> Result<Duration, String> {
        humantime::parse_duration(s.trim())
            .map_err(|e| format!("invalid duration {s:?} ({e}); expected {EXPECTED}"))
    }

    /// Writes a duration the way it is read (`"5m"`).
    pub fn format(d: &Duration) -> String {
        humantime::format_duration(*d).to_string()
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

impl ByteSize {
    /// The threshold in bytes on a volume of `total` bytes.
    pub fn of_total(self, total: u64) -> u64 {
        match self {
            ByteSize::Bytes(b) => b,
            ByteSize::Percent(p) => ((total as f64) * p / 100.0) as u64,
        }
    }

    /// Parses `"20GiB"`, `"500 MB"`, `"1024"`, `"5%"`.
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
        let v: f64 = num.parse().map_err(|_| bad())?;
        let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "kb" | "k" => 1e3,
            "mb" | "m" => 1e6,
            "gb" | "g" => 1e9,
            "tb" | "t" => 1e12,
            "kib" => 1024.0,
            "mib" => 1024.0 * 1024.0,
            "gib" => 1024.0 * 1024.0 * 1024.0,
            "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            _ => return Err(bad()),
        };
        Ok(ByteSize::Bytes((v * mult) as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ByteSize::Bytes(b) => write!(f, "{}", human_bytes(*b)),
            ByteSize::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// Bytes the way a person reads them: `"1.5 GiB"`.
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

impl serde::Serialize for ByteSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ByteSize::Bytes(b) => s.serialize_u64(*b),
            ByteSize::Percent(p) => s.serialize_str(&format!("{p}%")),
        }
    }
}

/// Why a site, recorder or holder name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty names cannot identify anything.
    #[error("{what} name is empty")]
    Empty {
        /// "site", "recorder", "reader"...
        what: &'static str,
    },
    /// Names travel in certificates and keys; keep them short.
    #[error("{what} name is {len} bytes long, longer than the limit of {max}")]
    TooLong {
        /// "site", "recorder", "reader"...
        what: &'static str,
        /// The name's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Names become file names and URI parts; only a safe alphabet is allowed.
    #[error(
        "{what} name {name:?} contains {bad:?}, outside the allowed characters [A-Za-z0-9._-]"
    )]
    BadChar {
        /// "site", "recorder", "reader"...
        what: &'static str,
        /// The refused name.
        name: String,
        /// The first character outside the alphabet.
        bad: char,
    },
    /// `.` and `..` would escape the certificate folder when used as file names.
    #[error("{what} name {name:?} is not allowed")]
    Reserved {
        /// "site", "recorder", "reader"...
        what: &'static str,
        /// The refused name.
        name: String,
    },
}

/// Longest site, recorder or holder name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// Checks a site, recorder or holder name: 1–128 bytes of `[A-Za-z0-9._-]`, not `.` or `..`.
pub fn validate_name(what: &'static str, name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty { what });
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong {
            what,
            len: name.len(),
            max: MAX_NAME_LEN,
        });
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(NameError::BadChar {
            what,
            name: name.to_string(),
            bad,
        });
    }
    if name == "." || name == ".." {
        return Err(NameError::Reserved {
            what,
            name: name.to_string(),
        });
    }
    Ok(())
}
