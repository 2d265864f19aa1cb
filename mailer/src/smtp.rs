//! Talking to the mail relay with lettre: STARTTLS, implicit TLS or plain; AUTH PLAIN, LOGIN or
//! XOAUTH2 (an OAuth2 access token from [`crate::oauth2`]); an optional private CA; the
//! password read from an environment variable or a file at each send (so a rotated password
//! needs no restart). Failures are sorted into transient (retry: connection refused, timeouts,
//! TLS hiccups, 4xx) and permanent (5xx, authentication refused, a relay certificate that is
//! not trusted: report what to fix and stop), as the schedule's retry loop needs. Sorting looks
//! at the error's type along its source chain and at the reply's code, not at its wording;
//! Office 365's enhanced status codes (5.7.139, 5.7.30, 5.7.3) become a sentence naming the
//! Microsoft setting to change.

use crate::config::{AuthMechanism, Security, Settings};
use crate::render::Rendered;
use lettre::message::{header::ContentType, Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Why a message did not go out; defined below the HTTP client, named here too because SMTP is
/// where callers first meet it.
pub use crate::send_error::SendError;

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

/// Builds the MIME message: multipart/alternative with the text first and the HTML last, inside
/// multipart/mixed with the attachments when there are any.
pub fn build_message(
    from: &Mailbox,
    rcpt: &Recipients,
    mail: &Rendered,
    urgent: bool,
) -> Result<Message, SendError> {
    build_message_with(from, rcpt, mail, urgent, false)
}

/// The same, keeping the Bcc header when `keep_bcc` (Graph reads the recipients from the
/// headers; over SMTP they travel in the envelope and the header must go).
pub fn build_message_with(
    from: &Mailbox,
    rcpt: &Recipients,
    mail: &Rendered,
    urgent: bool,
    keep_bcc: bool,
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
    if keep_bcc {
        b = b.keep_bcc();
    }
    let alternative = MultiPart::alternative()
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(mail.text.clone()),
        )
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_HTML)
                .body(mail.html.clone()),
        );
    let body = if mail.attachments.is_empty() {
        alternative
    } else {
        // multipart/mixed: the two parts first, then the attached complete report.
        let mut mixed = MultiPart::mixed().multipart(alternative);
        for a in &mail.attachments {
            let ct = ContentType::parse(&a.content_type)
                .map_err(|e| SendError::Permanent(format!("attachment {}: {e}", a.name)))?;
            mixed = mixed.singlepart(Attachment::new(a.name.clone()).body(a.bytes.clone(), ct));
        }
        mixed
    };
    b.multipart(body)
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

/// How an SMTP password file is named in the messages about its permissions (kept with the
/// configuration, which checks the file at start).
pub use crate::config::SMTP_PASSWORD_FILE;

/// Reads the password from where the configuration points; a password file others can read
/// is refused (unless `--allow-insecure-keys`).
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
        // A password others can read lets any user of this machine send as the mailbox.
        vigia::secret_file::check(file, SMTP_PASSWORD_FILE)
            .map_err(|e| SendError::Config(e.to_string()))?;
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

/// Builds a transport for one attempt with the configured password (no pooled connection
/// outlives it); with XOAUTH2 use [`transport_with_token`].
pub fn transport(settings: &Settings) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
    transport_with_token(settings, None)
}

/// The relay's TLS as configured, with `smtp.ca_file` read: the part of a transport that
/// comes from files, which `check-config` proves on its own.
pub fn relay_tls(settings: &Settings) -> Result<Tls, SendError> {
    let smtp = &settings.raw.smtp;
    Ok(match smtp.security {
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
    })
}

/// Builds a transport for one attempt; `token` is the OAuth2 access token for XOAUTH2.
pub fn transport_with_token(
    settings: &Settings,
    token: Option<String>,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
    let smtp = &settings.raw.smtp;
    let tls = relay_tls(settings)?;
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.clone())
        .port(settings.smtp_port())
        .tls(tls)
        .timeout(Some(smtp.timeout));
    if let Some(user) = &smtp.username {
        let secret = if settings.uses_xoauth2() {
            token.unwrap_or_default()
        } else {
            password(settings)?.unwrap_or_default()
        };
        b = b
            .credentials(Credentials::new(user.clone(), secret))
            .authentication(
                smtp.auth
                    .iter()
                    .map(|m| match m {
                        AuthMechanism::Plain => Mechanism::Plain,
                        AuthMechanism::Login => Mechanism::Login,
                        AuthMechanism::Xoauth2 => Mechanism::Xoauth2,
                    })
                    .collect(),
            );
    }
    Ok(b.build())
}

/// Sends one message over SMTP, authenticating with `token` when XOAUTH2 is configured.
pub async fn send_with_token(
    settings: &Settings,
    message: &Message,
    token: Option<String>,
) -> Result<(), SendError> {
    let transport = transport_with_token(settings, token)?;
    match transport.send(message.clone()).await {
        Ok(_) => Ok(()),
        Err(e) => Err(classify(&e, settings)),
    }
}

/// Sorts a failure and says what to fix (also for `check-config --connect`).
pub(crate) fn classify(e: &lettre::transport::smtp::Error, settings: &Settings) -> SendError {
    let smtp = &settings.raw.smtp;
    let text = vigia::process::error_chain(e);
    if let Some(problem) = crate::chain::refused_certificate(e) {
        use crate::chain::CertTrouble;
        let fix = match crate::chain::trouble(problem) {
            CertTrouble::Issuer => format!(
                "if the relay {} uses a private CA, set smtp.ca_file to that CA's certificate (PEM)",
                smtp.host
            ),
            CertTrouble::Name => format!(
                "set smtp.host to a name the relay's certificate carries (now {:?})",
                smtp.host
            ),
            CertTrouble::Time => "the relay's certificate must be renewed".to_string(),
            CertTrouble::CaAsLeaf => format!(
                "give the relay a server certificate for {} issued by that CA, and set smtp.ca_file to the CA's certificate (PEM)",
                smtp.host
            ),
        };
        return SendError::Permanent(format!(
            "the relay's certificate is not trusted: {problem} ({}); {fix}",
            crate::chain::certificate_advice(problem),
        ));
    }
    let user = smtp.username.as_deref().unwrap_or("");
    let oauth = settings.uses_xoauth2();
    if e.is_permanent() {
        let code = e.status().map(|c| c.to_string()).unwrap_or_default();
        // The reply's text; it starts with the enhanced status code (RFC 3463), e.g. 5.7.139.
        let reply = std::error::Error::source(e)
            .map(|s| s.to_string())
            .unwrap_or_default();
        let enhanced = reply.split_whitespace().next().unwrap_or("");
        let answered = format!("(the relay answered: {code} {reply})");
        let sentence = match (code.as_str(), enhanced) {
            (_, "5.7.139") => Some(sentence_smtp_auth_disabled(user)),
            (_, "5.7.30") => Some(SENTENCE_BASIC_AUTH_OFF.to_string()),
            (_, "5.7.9") => Some(SENTENCE_APP_PASSWORD.to_string()),
            ("535", "5.7.3") if oauth => Some(sentence_token_refused(user)),
            ("535", _) if oauth => Some(format!(
                "the relay refused the OAuth2 token for {user}: check smtp.username (the sending mailbox) and the [oauth2] section"
            )),
            ("535", _) => Some(format!(
                "the relay refused the user name or password of {user}: check smtp.username and the password (smtp.password_env or smtp.password_file)"
            )),
            _ => None,
        };
        return SendError::Permanent(match sentence {
            Some(s) => format!("{s} {answered}"),
            None => text,
        });
    }
    if e.is_transient() {
        return SendError::Transient(text);
    }
    if e.is_client() {
        // Our side gave up. With XOAUTH2 this is what a bad token looks like on Gmail: it
        // answers AUTH with a 334 challenge (a JSON error) that lettre does not take; it is
        // also what a relay that offers no XOAUTH2 gives.
        if oauth {
            return SendError::Permanent(format!(
                "authentication failed: the relay refused the OAuth2 token for {user} (Gmail answers a bad or unauthorised token with a 334 challenge), or it does not offer XOAUTH2; check smtp.username, the [oauth2] section and the app's permission to send as {user} ({text})"
            ));
        }
        // E.g. no common AUTH mechanism, no STARTTLS offered.
        return SendError::Permanent(text);
    }
    // Connection refused, timeouts, TLS and network errors: the relay may come back.
    SendError::Transient(text)
}

/// Office 365, `550 5.7.30`: password SMTP is off for the tenant.
pub const SENTENCE_BASIC_AUTH_OFF: &str = "Office 365 no longer accepts a password for SMTP here (basic authentication is off for this tenant): switch to OAuth2 with smtp.auth = [\"XOAUTH2\"] and an [oauth2] section, or to delivery = \"graph\" (docs/deployment.md, Office 365)";

/// Gmail, `534 5.7.9`: the account needs an app password.
pub const SENTENCE_APP_PASSWORD: &str = "Google requires an app password for this account: turn on 2-Step Verification, create an app password (Google Account, Security, App passwords) and put it where smtp.password_env or smtp.password_file points";

/// Office 365, `535 5.7.139`: SMTP AUTH is disabled for the tenant or the mailbox.
pub fn sentence_smtp_auth_disabled(user: &str) -> String {
    format!(
        "Office 365 has SMTP AUTH disabled for the tenant or for the mailbox {user}: enable \"Authenticated SMTP\" for the mailbox (Microsoft 365 admin center, Users, the user, Mail, Manage email apps; or Set-CASMailbox -Identity {user} -SmtpClientAuthenticationDisabled $false) and, if off for the tenant, Set-TransportConfig -SmtpClientAuthenticationDisabled $false; or use delivery = \"graph\""
    )
}

/// Office 365, `535 5.7.3` with XOAUTH2: the token was refused.
pub fn sentence_token_refused(user: &str) -> String {
    format!(
        "Office 365 refused the OAuth2 token for {user}: the Entra app needs the application permission SMTP.SendAsApp (Office 365 Exchange Online) with admin consent, its service principal must be registered in Exchange (New-ServicePrincipal -AppId <client id> -ObjectId <enterprise application object id>) with access to the mailbox (Add-MailboxPermission -Identity {user} -User <service principal id> -AccessRights FullAccess), and oauth2.scope must be https://outlook.office365.com/.default"
    )
}
