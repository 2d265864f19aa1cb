//! Talking to the mail relay with lettre: STARTTLS, implicit TLS or plain; AUTH PLAIN or LOGIN;
//! an optional private CA; the password read from an environment variable or a file at each
//! send (so a rotated password needs no restart). Failures are sorted into transient (retry:
//! connection refused, timeouts, TLS hiccups, 4xx) and permanent (5xx, authentication refused:
//! report the server's reply and stop), as the schedule's retry loop needs.

use crate::config::{AuthMechanism, Security, Settings};
use crate::render::Rendered;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Why a message did not go out.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth another try later: the relay was down, slow, or answered 4xx.
    #[error("transient SMTP failure: {0}")]
    Transient(String),
    /// Will not succeed by itself: 5xx, authentication refused, a bad address.
    #[error("permanent SMTP failure: {0}")]
    Permanent(String),
    /// The configuration cannot work (password missing, CA file unreadable).
    #[error("SMTP configuration: {0}")]
    Config(String),
}

impl SendError {
    /// True when retrying may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient(_))
    }
}

/// The recipients of one message.
#[derive(Debug, Clone)]
pub struct Recipients {
    /// To.
    pub to: Vec<Mailbox>,
    /// Cc.
    pub cc: Vec<Mailbox>,
    /// Bcc (in the envelope only).
    pub bcc: Vec<Mailbox>,
}

/// Builds the MIME message: multipart/alternative with the text first and the HTML last.
pub fn build_message(
    from: &Mailbox,
    rcpt: &Recipients,
    mail: &Rendered,
    urgent: bool,
) -> Result<Message, SendError> {
    let mut b = Message::builder()
        .from(from.clone())
        .subject(mail.subject.clone())
        .message_id(None);
    for m in &rcpt.to {
        b = b.to(m.clone());
    }
    for m in &rcpt.cc {
        b = b.cc(m.clone());
    }
    for m in &rcpt.bcc {
        b = b.bcc(m.clone());
    }
    if urgent {
        b = b.header(Importance);
    }
    b.multipart(
        MultiPart::alternative()
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(mail.text.clone()),
            )
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(mail.html.clone()),
            ),
    )
    .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))
}

/// `Importance: high` on alerts, which Outlook and Gmail both flag.
#[derive(Clone, Debug)]
struct Importance;

impl lettre::message::header::Header for Importance {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("Importance")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Importance)
    }
    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), "high".into())
    }
}

/// Reads the password from where the configuration points.
pub fn password(settings: &Settings) -> Result<Option<String>, SendError> {
    let smtp = &settings.raw.smtp;
    if let Some(var) = &smtp.password_env {
        return std::env::var(var).map(Some).map_err(|_| {
            SendError::Config(format!(
                "environment variable {var} (smtp.password_env) is not set"
            ))
        });
    }
    if let Some(file) = &smtp.password_file {
        let text = std::fs::read_to_string(file).map_err(|e| {
            SendError::Config(format!(
                "{} (smtp.password_file): cannot read: {e}",
                file.display()
            ))
        })?;
        let line = text.lines().next().unwrap_or("").to_string();
        if line.is_empty() {
            return Err(SendError::Config(format!(
                "{} (smtp.password_file) is empty",
                file.display()
            )));
        }
        return Ok(Some(line));
    }
    Ok(None)
}

/// Builds a transport for one attempt (no pooled connection outlives it).
pub fn transport(settings: &Settings) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
    let smtp = &settings.raw.smtp;
    let tls = match smtp.security {
        Security::None => Tls::None,
        mode => {
            let mut params = TlsParameters::builder(smtp.host.clone());
            if let Some(ca) = &smtp.ca_file {
                let pem = std::fs::read(ca).map_err(|e| {
                    SendError::Config(format!("{} (smtp.ca_file): cannot read: {e}", ca.display()))
                })?;
                let cert = Certificate::from_pem(&pem).map_err(|e| {
                    SendError::Config(format!(
                        "{} (smtp.ca_file): not a PEM certificate: {e}",
                        ca.display()
                    ))
                })?;
                params = params.add_root_certificate(cert);
            }
            let params = params
                .build_rustls()
                .map_err(|e| SendError::Config(format!("TLS parameters: {e}")))?;
            if mode == Security::Tls {
                Tls::Wrapper(params)
            } else {
                Tls::Required(params)
            }
        }
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.clone())
        .port(settings.smtp_port())
        .tls(tls)
        .timeout(Some(smtp.timeout));
    if let Some(user) = &smtp.username {
        let pass = password(settings)?.unwrap_or_default();
        b = b
            .credentials(Credentials::new(user.clone(), pass))
            .authentication(
                smtp.auth
                    .iter()
                    .map(|m| match m {
                        AuthMechanism::Plain => Mechanism::Plain,
                        AuthMechanism::Login => Mechanism::Login,
                    })
                    .collect(),
            );
    }
    Ok(b.build())
}

/// Sends one message and sorts the failure.
pub async fn send(settings: &Settings, message: &Message) -> Result<(), SendError> {
    let transport = transport(settings)?;
    match transport.send(message.clone()).await {
        Ok(_) => Ok(()),
        Err(e) => Err(classify(&e)),
    }
}

fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let text = vigia::process::error_chain(e);
    if e.is_permanent() {
        SendError::Permanent(text)
    } else if e.is_client() {
        // Our side refused (e.g. no common AUTH mechanism, no STARTTLS offered).
        SendError::Permanent(text)
    } else {
        // 4xx, connection refused, timeouts, TLS and network errors: the relay may come back.
        SendError::Transient(text)
    }
}
