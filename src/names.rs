//! The one rule for the names Vigia is told (sites, recorders, certificate holders): 1–128
//! bytes of `[A-Za-z0-9._-]`, never `.` or `..`. A name travels everywhere — in certificates'
//! identity URIs, store keys, file names under the CA folder and metric labels — so it is
//! checked once, the same way, wherever it comes in (configuration, `ca issue`, a status on the
//! wire), and the refusal says which name and why.

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

#[cfg(test)]
mod tests {
    use super::{validate_name, NameError, MAX_NAME_LEN};

    #[test]
    fn the_safe_alphabet_passes_and_each_refusal_says_why() {
        for ok in ["loja-12", "a", "cam_01.sp", &"x".repeat(MAX_NAME_LEN)] {
            assert_eq!(validate_name("site", ok), Ok(()), "{ok:?}");
        }
        assert_eq!(
            validate_name("site", ""),
            Err(NameError::Empty { what: "site" })
        );
        assert!(matches!(
            validate_name("site", &"x".repeat(MAX_NAME_LEN + 1)),
            Err(NameError::TooLong { len: 129, .. })
        ));
        assert!(matches!(
            validate_name("reader", "ops/../x"),
            Err(NameError::BadChar { bad: '/', .. })
        ));
        assert!(matches!(
            validate_name("reader", "loja 1"),
            Err(NameError::BadChar { bad: ' ', .. })
        ));
        for reserved in [".", ".."] {
            assert!(matches!(
                validate_name("site", reserved),
                Err(NameError::Reserved { .. })
            ));
        }
    }
}
