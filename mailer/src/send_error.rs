//! Why a message did not go out, shared by every way out (SMTP, Graph, the token endpoint,
//! webhooks): a module of its own at the bottom of the mailer, so the HTTP client and the
//! OAuth2 token source can report failures without importing the SMTP module above them.

/// Why a message did not go out.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth another try later: the relay was down, slow, or answered 4xx.
    #[error("transient failure: {0}")]
    Transient(String),
    /// Will not succeed by itself: 5xx, authentication refused, a bad address.
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// The configuration cannot work (password missing, CA file unreadable).
    #[error("mail configuration: {0}")]
    Config(String),
}

impl SendError {
    /// True when retrying may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient(_))
    }
}
