//! Configuration conventions shared by the three binaries, so that a site's IT person meets the
//! same rules everywhere: one TOML file, then `VIGIA_*` environment overrides (`__` between
//! sections), unknown keys refused, durations written as `"5m"` or `"2h"`, and every error naming
//! the key and the file it came from.

use serde::de::DeserializeOwned;
use std::collections::HashMap;
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
