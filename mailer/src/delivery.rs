//! How a message leaves: SMTP (password or XOAUTH2) or Microsoft Graph, chosen by `delivery`.
//! One [`Delivery`] lives as long as the mailer, so the OAuth2 token it holds is reused
//! across digests and alerts until it is about to expire.

use crate::config::{DeliveryMethod as Via, Settings};
use crate::oauth2::TokenSource;
use crate::render::Rendered;
use crate::smtp::{self, Recipients, SendError};
use lettre::Message;
use std::sync::Arc;

/// The configured way out, with its token cache.
#[derive(Debug, Clone)]
pub struct Delivery {
    settings: Arc<Settings>,
    tokens: Option<Arc<TokenSource>>,
    http: Option<reqwest::Client>,
    /// Why the HTTP client could not be built (reported at each send, not at start).
    broken: Option<String>,
}

impl Delivery {
    /// Prepares the transport the settings name (no network yet).
    pub fn new(settings: Arc<Settings>) -> Delivery {
        let mut broken = None;
        let (tokens, http) = match &settings.oauth2 {
            Some(o) => {
                let timeout = match settings.raw.delivery {
                    Via::Graph => settings.raw.graph.timeout.max(o.timeout),
                    Via::Smtp => o.timeout,
                };
                match crate::http::client(timeout) {
                    Ok(http) => {
                        let tokens = TokenSource::new(o.clone(), http.clone());
                        (Some(Arc::new(tokens)), Some(http))
                    }
                    Err(e) => {
                        broken = Some(e.to_string());
                        (None, None)
                    }
                }
            }
            None => (None, None),
        };
        Delivery {
            settings,
            tokens,
            http,
            broken,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The token source, when OAuth2 is configured (tests count its requests).
    pub fn tokens(&self) -> Option<&TokenSource> {
        self.tokens.as_deref()
    }

    /// One line on how messages go out, for `check-config` and `test-send`.
    pub fn describe(&self) -> String {
        let s = &self.settings;
        match s.raw.delivery {
            Via::Graph => format!("Microsoft Graph {} as {}", s.graph_url, s.sender_mailbox()),
            Via::Smtp => {
                let auth = match &s.raw.smtp.username {
                    None => "no authentication".to_string(),
                    Some(u) => format!(
                        "{} as {u}",
                        s.raw
                            .smtp
                            .auth
                            .iter()
                            .map(|m| format!("{m:?}").to_uppercase())
                            .collect::<Vec<_>>()
                            .join("/")
                    ),
                };
                format!(
                    "SMTP {}:{} ({}, {auth})",
                    s.raw.smtp.host,
                    s.smtp_port(),
                    format!("{:?}", s.raw.smtp.security).to_lowercase()
                )
            }
        }
    }

    /// Builds the message for this transport and sends it.
    pub async fn send(
        &self,
        rcpt: &Recipients,
        mail: &Rendered,
        urgent: bool,
    ) -> Result<(), SendError> {
        // Graph takes the recipients from the MIME headers: Bcc must stay in them (Exchange
        // removes it before delivery). Over SMTP it travels in the envelope only.
        let keep_bcc = self.settings.raw.delivery == Via::Graph;
        let message = smtp::build_message_with(&self.settings.from, rcpt, mail, urgent, keep_bcc)?;
        self.send_message(&message).await
    }

    /// Sends a message already built.
    pub async fn send_message(&self, message: &Message) -> Result<(), SendError> {
        if let Some(why) = &self.broken {
            return Err(SendError::Config(why.clone()));
        }
        match self.settings.raw.delivery {
            Via::Smtp => {
                let token = match (&self.tokens, self.settings.uses_xoauth2()) {
                    (Some(t), true) => Some(t.token().await?),
                    _ => None,
                };
                let sent = smtp::send_with_token(&self.settings, message, token).await;
                if let (Err(SendError::Permanent(_)), Some(t)) = (&sent, &self.tokens) {
                    // A refused token may have been revoked: the next attempt asks anew.
                    t.forget().await;
                }
                sent
            }
            Via::Graph => {
                let (Some(tokens), Some(http)) = (&self.tokens, &self.http) else {
                    return Err(SendError::Config(
                        "delivery = \"graph\" needs an [oauth2] section".into(),
                    ));
                };
                let token = tokens.token().await?;
                let sent = crate::graph::send(
                    http,
                    &self.settings.graph_url,
                    &self.settings.sender_mailbox(),
                    &token,
                    &message.formatted(),
                    self.settings.raw.graph.timeout,
                )
                .await;
                if let Err(SendError::Permanent(_)) = &sent {
                    tokens.forget().await;
                }
                sent
            }
        }
    }
}

/// Sends one message the configured way (SMTP or Graph) through a fresh [`Delivery`]: no token
/// is kept between calls (the service keeps one; `check-config` and tests send once).
pub async fn send(settings: &Settings, message: &Message) -> Result<(), SendError> {
    Delivery::new(Arc::new(settings.clone()))
        .send_message(message)
        .await
}
