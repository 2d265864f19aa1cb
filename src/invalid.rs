//! The one shape of a configuration value refused by a check: the key at fault and what is
//! wrong with it. The three programs' checks return it, so a message always starts with the
//! key the person must edit (`key `smtp.host`: empty; name the mail relay`), and code that
//! needs the key (a log field, a test) reads [`Invalid::key`] instead of parsing the text.
//! [`Invalid::in_file`] turns it into the [`ConfigError`] that also names the file.
//!
//! `key` is written as the file spells it: a dotted key (`collector.url`, `recorder[0].path`),
//! a section in brackets (`[oauth2]`), or a rule between two dotted keys, `a.x and b.y` or
//! `a.x/b.y`.

use crate::config::ConfigError;
use std::fmt;
use std::path::Path;

/// A value refused after loading: which key, and the sentence saying what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The key (or section, or keys) at fault.
    pub key: String,
    /// What is wrong and what is expected, without the key.
    pub message: String,
}

impl Invalid {
    /// A refusal of `key` saying `message`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Invalid {
        Invalid {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The same refusal, naming the file (or variable) it came from.
    pub fn in_file(self, file: &Path) -> ConfigError {
        ConfigError::invalid(file, self.to_string())
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = self.key.as_str();
        if let Some(section) = key.strip_prefix('[') {
            return write!(f, "section `[{section}`: {}", self.message);
        }
        for sep in [" and ", "/"] {
            // Both sides dotted: `sites.a/b`, a site name refused for its slash, is one key.
            if let Some((a, b)) = key
                .split_once(sep)
                .filter(|(a, b)| a.contains('.') && b.contains('.'))
            {
                return write!(f, "keys `{a}`{sep}`{b}`: {}", self.message);
            }
        }
        write!(f, "key `{key}`: {}", self.message)
    }
}

impl std::error::Error for Invalid {}

#[cfg(test)]
mod tests {
    use super::Invalid;

    #[test]
    fn the_key_comes_first_as_the_file_spells_it() {
        assert_eq!(
            Invalid::new("smtp.host", "empty; name the mail relay").to_string(),
            "key `smtp.host`: empty; name the mail relay"
        );
        assert_eq!(
            Invalid::new("[oauth2]", "not used").to_string(),
            "section `[oauth2]`: not used"
        );
        assert_eq!(
            Invalid::new(
                "smtp.password_env and smtp.password_file",
                "set one, not both"
            )
            .to_string(),
            "keys `smtp.password_env` and `smtp.password_file`: set one, not both"
        );
        assert_eq!(
            Invalid::new(
                "smtp.retry_initial/smtp.retry_max",
                "need 0 < retry_initial"
            )
            .to_string(),
            "keys `smtp.retry_initial`/`smtp.retry_max`: need 0 < retry_initial"
        );
        assert_eq!(
            Invalid::new("recorder[0].path", "empty").to_string(),
            "key `recorder[0].path`: empty"
        );
        assert_eq!(
            Invalid::new("sites.a/b", "bad name").to_string(),
            "key `sites.a/b`: bad name"
        );
    }

    #[test]
    fn in_a_file_the_file_is_named_first() {
        let e = Invalid::new("site", "empty").in_file(std::path::Path::new("/etc/probe.toml"));
        assert_eq!(e.to_string(), "/etc/probe.toml: key `site`: empty");
    }
}
