//! The mailer's configuration (`mailer.toml`): where the collector is, how to reach the mail
//! relay, when to send, in which language and time zone. Loaded with the shared conventions
//! (`vigia::config::ConfigSource`), then *resolved*: schedules parsed, addresses parsed, the
//! zone looked up, so that `check-config` catches every mistake before the first 07:00.

use crate::deadman::{Deadman, DeadmanConfig};
use crate::graph::GraphConfig;
use crate::oauth2::{OAuth2Config, OAuth2Settings};
use crate::webhook::{Webhook, WebhookConfig};
use lettre::message::Mailbox;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vigia::config::{ConfigError, ConfigSource};
use vigia::cron::CronSchedule;
use vigia::invalid::Invalid;
use vigia::units::duration;
use vigia::Tz;

/// Keys whose `VIGIA_*` environment value is a comma-separated list.
pub const LIST_KEYS: &[&str] = &[
    "smtp.to",
    "smtp.cc",
    "smtp.bcc",
    "alerts.to",
    "alerts.escalate_to",
];

/// The file as written (every field documented in `examples/mailer.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailerConfig {
    /// The mailer's own sled store: which digest slot went out, which alerts are open.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// IANA zone of the schedules and of every date in the email; the system's when unset.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Language of the email.
    #[serde(default)]
    pub language: Language,
    /// chrono format of a date with time; default per language (`28/11/2026 07h00` in pt-BR).
    #[serde(default)]
    pub date_format: Option<String>,
    /// chrono format of a date alone (the subject); default `%d/%m/%Y`.
    #[serde(default)]
    pub day_format: Option<String>,
    /// The collector's Query service.
    #[serde(default)]
    pub collector: CollectorConfig,
    /// The mail relay and the recipients.
    pub smtp: SmtpConfig,
    /// The daily digest.
    #[serde(default)]
    pub digest: DigestConfig,
    /// Urgent alerts (off unless a schedule is given).
    #[serde(default)]
    pub alerts: AlertsConfig,
    /// How mail leaves: `"smtp"` (the `[smtp]` relay) or `"graph"` (Microsoft Graph sendMail).
    #[serde(default)]
    pub delivery: DeliveryMethod,
    /// Microsoft Graph, with `delivery = "graph"`.
    #[serde(default)]
    pub graph: GraphConfig,
    /// OAuth2 client credentials, for `smtp.auth = ["XOAUTH2"]` or `delivery = "graph"`.
    #[serde(default)]
    pub oauth2: Option<OAuth2Config>,
    /// Webhooks told of urgent alerts and of a digest that could not be sent.
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    /// The dead-man's switch pinged after each digest (and `/fail` when it could not go).
    #[serde(default)]
    pub deadman: Option<DeadmanConfig>,
}

impl MailerConfig {
    /// Relative paths in the file are relative to its folder (`vigia::paths`), so the mailer
    /// finds its state, certificates and secret files whatever folder it was started from.
    pub fn resolve_paths(&mut self, dir: &vigia::paths::ConfigDir) {
        dir.resolve(&mut self.state_dir);
        dir.resolve(&mut self.collector.ca);
        dir.resolve(&mut self.collector.cert);
        dir.resolve(&mut self.collector.key);
        dir.resolve_opt(&mut self.smtp.password_file);
        dir.resolve_opt(&mut self.smtp.ca_file);
        if let Some(o) = &mut self.oauth2 {
            dir.resolve_opt(&mut o.client_secret_file);
        }
    }
}

/// How mail leaves the mailer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryMethod {
    /// Through the `[smtp]` relay (PLAIN, LOGIN or XOAUTH2).
    #[default]
    Smtp,
    /// Through Microsoft Graph `sendMail`, for tenants where SMTP AUTH is off.
    Graph,
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("./vigia-mailer-state")
}

/// Language of the email's labels, sentences and default date formats: the root crate's, so
/// the email's words and the verdicts' wording agree on the same two languages.
pub use vigia::wording::Language;

/// Where the collector is and the reader certificate to show it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorConfig {
    /// `https://host:port` of the collector (default `https://localhost:50051`).
    #[serde(default = "default_collector_url")]
    pub url: String,
    /// The fleet CA certificate (default `certs/ca.pem`).
    #[serde(default = "default_collector_ca")]
    pub ca: PathBuf,
    /// The mailer's reader certificate, from `vigia-collector ca issue --dir certs reader
    /// --name mailer` (default `certs/mailer.pem`).
    #[serde(default = "default_collector_cert")]
    pub cert: PathBuf,
    /// Its private key (default `certs/mailer.key`).
    #[serde(default = "default_collector_key")]
    pub key: PathBuf,
    /// Bound on connecting and on each query.
    #[serde(default = "default_collector_timeout", with = "duration")]
    pub timeout: Duration,
    /// How often `run` checks that the collector answers (gRPC health), so that an outage's
    /// start is known to this precision; `"0s"` checks only when fetching.
    #[serde(default = "default_watch_every", with = "duration")]
    pub watch_every: Duration,
    /// Sites per ListSites page (default 500, at most 1000): the fleet is read page by page,
    /// so no answer grows with the fleet.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
}

fn default_page_size() -> u32 {
    500
}

fn default_collector_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_watch_every() -> Duration {
    Duration::from_secs(300)
}
fn default_collector_url() -> String {
    "https://localhost:50051".into()
}
fn default_collector_ca() -> PathBuf {
    PathBuf::from("certs/ca.pem")
}
fn default_collector_cert() -> PathBuf {
    PathBuf::from("certs/mailer.pem")
}
fn default_collector_key() -> PathBuf {
    PathBuf::from("certs/mailer.key")
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            url: default_collector_url(),
            ca: default_collector_ca(),
            cert: default_collector_cert(),
            key: default_collector_key(),
            timeout: default_collector_timeout(),
            watch_every: default_watch_every(),
            page_size: default_page_size(),
        }
    }
}

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (port 587); credentials never go out in clear.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: a relay on the same machine or network only.
    None,
}

impl Security {
    /// The usual port for this mode.
    pub fn default_port(self) -> u16 {
        match self {
            Security::Starttls => 587,
            Security::Tls => 465,
            Security::None => 25,
        }
    }
}

/// SMTP authentication mechanism (Office 365 offers LOGIN and XOAUTH2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AuthMechanism {
    /// AUTH PLAIN.
    Plain,
    /// AUTH LOGIN.
    Login,
    /// AUTH XOAUTH2: an OAuth2 access token from `[oauth2]` instead of a password.
    Xoauth2,
}

/// The relay, the credentials (by reference only) and the recipients.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// The relay's host name (also the name its certificate must carry); unused with Graph.
    #[serde(default)]
    pub host: String,
    /// The relay's port; 587, 465 or 25 by `security` when unset.
    #[serde(default)]
    pub port: Option<u16>,
    /// `starttls`, `tls` or `none`.
    #[serde(default)]
    pub security: Security,
    /// User name for AUTH; no authentication when unset.
    #[serde(default)]
    pub username: Option<String>,
    /// Environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the password (first line).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Mechanisms to offer, in order of preference (`["PLAIN", "LOGIN"]` by default).
    #[serde(default = "default_auth")]
    pub auth: Vec<AuthMechanism>,
    /// A private CA certificate (PEM) to trust besides the public roots, for an in-house relay.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The sender, e.g. `"Vigia <vigia@example.com>"`.
    pub from: String,
    /// Recipients of the digest.
    pub to: Vec<String>,
    /// Copy recipients of the digest.
    #[serde(default)]
    pub cc: Vec<String>,
    /// Blind-copy recipients of the digest.
    #[serde(default)]
    pub bcc: Vec<String>,
    /// Bound on one SMTP conversation.
    #[serde(default = "default_smtp_timeout", with = "duration")]
    pub timeout: Duration,
    /// First wait after a transient failure; doubled each time.
    #[serde(default = "default_retry_initial", with = "duration")]
    pub retry_initial: Duration,
    /// Longest wait between two attempts.
    #[serde(default = "default_retry_max", with = "duration")]
    pub retry_max: Duration,
}

fn default_auth() -> Vec<AuthMechanism> {
    vec![AuthMechanism::Plain, AuthMechanism::Login]
}
fn default_smtp_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_retry_initial() -> Duration {
    Duration::from_secs(30)
}
fn default_retry_max() -> Duration {
    Duration::from_secs(600)
}

/// The daily digest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestConfig {
    /// Six-field cron (seconds first) in `timezone`.
    #[serde(default = "default_digest_schedule")]
    pub schedule: String,
    /// Title at the start of the subject; "CCTV audit" / "Auditoria CFTV" by language.
    #[serde(default)]
    pub title: Option<String>,
    /// Most bytes the complete report's attachments may weigh in the message (base64): past
    /// it the digest attaches the CSV alone, or nothing, and says how to get the report. 0
    /// attaches nothing. 10 MiB by default, 2 MiB with `delivery = "graph"` (Graph takes at
    /// most 4 MB per `sendMail`, and the MIME message is posted base64-encoded).
    #[serde(default)]
    pub attachment_max_bytes: Option<usize>,
}

impl Default for DigestConfig {
    fn default() -> Self {
        DigestConfig {
            schedule: default_digest_schedule(),
            title: None,
            attachment_max_bytes: None,
        }
    }
}

/// Largest accepted `digest.attachment_max_bytes`: Graph's own ceiling for one message with its
/// attachments, 150 MB; no relay takes more.
pub const MAX_ATTACHMENT_BYTES: usize = 150_000_000;

/// `digest.attachment_max_bytes` with `delivery = "graph"` when unset.
pub const GRAPH_ATTACHMENT_BYTES: usize = 2 << 20;

fn default_digest_schedule() -> String {
    "0 0 7 * * *".into()
}

/// Urgent alerts on a finding that means "not recording" (see `service::ALERTABLE`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Six-field cron of the checks, e.g. `"0 */10 * * * *"`; no alerts when unset.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Recipients of alerts; the digest's `to` when empty.
    #[serde(default)]
    pub to: Vec<String>,
    /// How long a finding must hold before it alerts (a recorder restarting is not news).
    #[serde(default = "default_hold_for", with = "duration")]
    pub hold_for: Duration,
    /// How often a finding still open is reminded; `"0s"` never.
    #[serde(default = "default_remind_every", with = "duration")]
    pub remind_every: Duration,
    /// After how long open a finding also goes to `escalate_to`; no escalation when unset.
    #[serde(default, with = "duration::option")]
    pub escalate_after: Option<Duration>,
    /// Recipients of escalations (e.g. the operations manager).
    #[serde(default)]
    pub escalate_to: Vec<String>,
}

fn default_hold_for() -> Duration {
    Duration::from_secs(600)
}
fn default_remind_every() -> Duration {
    Duration::from_secs(86_400)
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            schedule: None,
            to: Vec::new(),
            hold_for: default_hold_for(),
            remind_every: default_remind_every(),
            escalate_after: None,
            escalate_to: Vec::new(),
        }
    }
}

/// The configuration after every check, ready to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The file it came from (for messages).
    pub file: PathBuf,
    /// The configuration as written.
    pub raw: MailerConfig,
    /// The zone of schedules and dates.
    pub tz: Tz,
    /// Format of a date with time.
    pub date_format: String,
    /// Format of a date alone.
    pub day_format: String,
    /// When digests go out.
    pub digest_schedule: CronSchedule,
    /// When alert checks run, if at all.
    pub alerts_schedule: Option<CronSchedule>,
    /// Sender.
    pub from: Mailbox,
    /// Digest recipients.
    pub to: Vec<Mailbox>,
    /// Digest copy recipients.
    pub cc: Vec<Mailbox>,
    /// Digest blind-copy recipients.
    pub bcc: Vec<Mailbox>,
    /// Alert recipients.
    pub alerts_to: Vec<Mailbox>,
    /// Escalation recipients.
    pub escalate_to: Vec<Mailbox>,
    /// When findings alert, remind and escalate.
    pub alert_policy: crate::alert_policy::Policy,
    /// OAuth2 client credentials, when XOAUTH2 or Graph is used.
    pub oauth2: Option<OAuth2Settings>,
    /// Graph's base URL.
    pub graph_url: reqwest::Url,
    /// Webhooks for alerts and failed digests.
    pub webhooks: Vec<Webhook>,
    /// The dead-man's switch.
    pub deadman: Option<Deadman>,
}

/// How an SMTP password file is named in the messages about its permissions.
pub const SMTP_PASSWORD_FILE: &str = "SMTP password file, smtp.password_file";

impl Settings {
    /// Checks that the secret files the configuration names (SMTP password, OAuth2 client
    /// secret) are readable by their owner only, so `run` refuses at start rather than at the
    /// first digest; the collector key is checked when the TLS files are loaded.
    pub fn check_secret_files(&self) -> Result<(), vigia::secret_file::InsecureFile> {
        if let Some(file) = &self.raw.smtp.password_file {
            vigia::secret_file::check(file, SMTP_PASSWORD_FILE)?;
        }
        if let Some(crate::oauth2::SecretRef::File(file)) = self.oauth2.as_ref().map(|o| &o.secret)
        {
            vigia::secret_file::check(file, crate::oauth2::CLIENT_SECRET_FILE)?;
        }
        Ok(())
    }

    /// Loads and resolves a configuration, with every error naming the file and the key.
    pub fn load(source: &ConfigSource) -> Result<Settings, ConfigError> {
        let source = source.clone().with_list_keys(LIST_KEYS);
        let mut raw: MailerConfig = source.load()?;
        raw.resolve_paths(&vigia::paths::ConfigDir::of(&source.file));
        Settings::resolve(raw, &source.file)
    }

    /// Checks a configuration already deserialized (tests build one in code).
    pub fn resolve(raw: MailerConfig, file: &Path) -> Result<Settings, ConfigError> {
        let bad = |e: Invalid| e.in_file(file);
        let tz = match &raw.timezone {
            Some(name) => vigia::days::parse_tz(name)
                .map_err(|e| bad(Invalid::new("timezone", e.to_string())))?,
            None => vigia::days::system_tz(),
        };
        let date_format = raw
            .date_format
            .clone()
            .unwrap_or_else(|| raw.language.default_date_format().to_string());
        check_format(&date_format).map_err(|e| bad(Invalid::new("date_format", e.to_string())))?;
        let day_format = raw.day_format.clone().unwrap_or_else(|| "%d/%m/%Y".into());
        check_format(&day_format).map_err(|e| bad(Invalid::new("day_format", e.to_string())))?;
        let digest_schedule = CronSchedule::parse(&raw.digest.schedule)
            .map_err(|e| bad(Invalid::new("digest.schedule", e.to_string())))?;
        let alerts_schedule = match &raw.alerts.schedule {
            Some(s) => Some(
                CronSchedule::parse(s)
                    .map_err(|e| bad(Invalid::new("alerts.schedule", e.to_string())))?,
            ),
            None => None,
        };
        let graph = raw.delivery == DeliveryMethod::Graph;
        if !graph && raw.smtp.host.trim().is_empty() {
            return Err(bad(Invalid::new("smtp.host", "empty; name the mail relay")));
        }
        let from = mailbox("smtp.from", &raw.smtp.from).map_err(bad)?;
        let to = mailboxes("smtp.to", &raw.smtp.to).map_err(bad)?;
        if to.is_empty() {
            return Err(bad(Invalid::new(
                "smtp.to",
                "no recipient; the digest must go to someone",
            )));
        }
        let cc = mailboxes("smtp.cc", &raw.smtp.cc).map_err(bad)?;
        let bcc = mailboxes("smtp.bcc", &raw.smtp.bcc).map_err(bad)?;
        let escalate_to = mailboxes("alerts.escalate_to", &raw.alerts.escalate_to).map_err(bad)?;
        if raw.alerts.escalate_after.is_some() && escalate_to.is_empty() {
            return Err(bad(Invalid::new(
                "alerts.escalate_to",
                "empty while `alerts.escalate_after` is set; name who escalations go to",
            )));
        }
        let alert_policy = crate::alert_policy::Policy {
            hold_for: raw.alerts.hold_for,
            remind_every: raw.alerts.remind_every,
            escalate_after: raw.alerts.escalate_after,
        };
        let alerts_to = if raw.alerts.to.is_empty() {
            to.clone()
        } else {
            mailboxes("alerts.to", &raw.alerts.to).map_err(bad)?
        };
        let xoauth2 = !graph && raw.smtp.auth.contains(&AuthMechanism::Xoauth2);
        let oauth2 = resolve_oauth2(&raw, graph, xoauth2).map_err(bad)?;
        let graph_url = crate::http::check_url("graph.url", &raw.graph.url).map_err(bad)?;
        let webhooks = raw
            .webhooks
            .iter()
            .enumerate()
            .map(|(i, w)| Webhook::resolve(i, w))
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)?;
        let deadman = raw
            .deadman
            .as_ref()
            .map(Deadman::resolve)
            .transpose()
            .map_err(bad)?;
        if raw.smtp.password_env.is_some() && raw.smtp.password_file.is_some() {
            return Err(bad(Invalid::new(
                "smtp.password_env and smtp.password_file",
                "set one, not both",
            )));
        }
        if raw.smtp.username.is_none()
            && (raw.smtp.password_env.is_some() || raw.smtp.password_file.is_some())
        {
            return Err(bad(Invalid::new(
                "smtp.username",
                "a password is configured but no username",
            )));
        }
        if !xoauth2
            && !graph
            && raw.smtp.username.is_some()
            && raw.smtp.password_env.is_none()
            && raw.smtp.password_file.is_none()
        {
            return Err(bad(
                Invalid::new("smtp.username", "set but the password is not: set `smtp.password_env` or `smtp.password_file` (never the password itself)"),
            ));
        }
        if !graph && raw.smtp.username.is_some() && raw.smtp.security == Security::None {
            return Err(bad(Invalid::new("smtp.username and smtp.security = \"none\"", "the password would cross the network in clear; use \"starttls\" or \"tls\", or no username for an open local relay")));
        }
        if raw.smtp.username.is_some() && raw.smtp.auth.is_empty() {
            return Err(bad(Invalid::new(
                "smtp.auth",
                "empty; list PLAIN and/or LOGIN, or XOAUTH2",
            )));
        }
        if raw.smtp.retry_initial.is_zero() || raw.smtp.retry_max < raw.smtp.retry_initial {
            return Err(bad(Invalid::new(
                "smtp.retry_initial/smtp.retry_max",
                "need 0 < retry_initial <= retry_max",
            )));
        }
        if let Some(n) = raw.digest.attachment_max_bytes {
            if n > MAX_ATTACHMENT_BYTES {
                return Err(bad(Invalid::new(
                    "digest.attachment_max_bytes",
                    format!(
                    "{n} is out of range; expected 0 (attach nothing) to {MAX_ATTACHMENT_BYTES}"
                ),
                )));
            }
        }
        if !(1..=1000).contains(&raw.collector.page_size) {
            return Err(bad(Invalid::new(
                "collector.page_size",
                format!(
                    "{} is out of range; expected 1 to 1000",
                    raw.collector.page_size
                ),
            )));
        }
        if !(raw.collector.url.starts_with("https://")) {
            return Err(bad(Invalid::new(
                "collector.url",
                format!(
                    "{:?} must start with https:// (the collector speaks mutual TLS only)",
                    raw.collector.url
                ),
            )));
        }
        Ok(Settings {
            file: file.to_path_buf(),
            tz,
            date_format,
            day_format,
            digest_schedule,
            alerts_schedule,
            from,
            to,
            cc,
            bcc,
            alerts_to,
            escalate_to,
            alert_policy,
            oauth2,
            graph_url,
            webhooks,
            deadman,
            raw,
        })
    }

    /// True when SMTP authenticates with an OAuth2 token.
    pub fn uses_xoauth2(&self) -> bool {
        self.raw.delivery == DeliveryMethod::Smtp
            && self.raw.smtp.auth.contains(&AuthMechanism::Xoauth2)
    }

    /// The mailbox that sends: `smtp.username`, or the address of `smtp.from`.
    pub fn sender_mailbox(&self) -> String {
        self.raw
            .smtp
            .username
            .clone()
            .unwrap_or_else(|| self.from.email.to_string())
    }

    /// The relay's port.
    pub fn smtp_port(&self) -> u16 {
        self.raw
            .smtp
            .port
            .unwrap_or_else(|| self.raw.smtp.security.default_port())
    }

    /// The subject's title.
    pub fn title(&self) -> String {
        self.raw
            .digest
            .title
            .clone()
            .unwrap_or_else(|| crate::i18n::labels(self.raw.language).title.to_string())
    }

    /// What the renderer needs from the configuration.
    pub fn render_options(&self) -> crate::render::RenderOptions {
        crate::render::RenderOptions::new(
            self.raw.language,
            self.tz,
            &self.date_format,
            &self.day_format,
        )
        .with_title(self.title())
        .with_collector(self.raw.collector.url.clone())
        .with_attachments(self.attachment_max_bytes(), self.report_command())
    }

    /// `digest.attachment_max_bytes`, or its default for the delivery.
    pub fn attachment_max_bytes(&self) -> usize {
        self.raw
            .digest
            .attachment_max_bytes
            .unwrap_or(match self.raw.delivery {
                DeliveryMethod::Graph => GRAPH_ATTACHMENT_BYTES,
                DeliveryMethod::Smtp => crate::render::DEFAULT_ATTACHMENT_MAX_BYTES,
            })
    }

    /// The command that writes the complete report on this machine, as the digest quotes it.
    fn report_command(&self) -> String {
        format!(
            "vigia-mailer --config {} preview --out /tmp/vigia-digest.html",
            std::fs::canonicalize(&self.file)
                .unwrap_or_else(|_| self.file.clone())
                .display()
        )
    }
}

/// The `[oauth2]` section checked against what uses it (XOAUTH2 or Graph), with the delivery's
/// default scope; the password keys are refused where a token replaces them.
fn resolve_oauth2(
    raw: &MailerConfig,
    graph: bool,
    xoauth2: bool,
) -> Result<Option<OAuth2Settings>, Invalid> {
    let smtp = &raw.smtp;
    let user = if graph {
        "delivery = \"graph\""
    } else {
        "smtp.auth = [\"XOAUTH2\"]"
    };
    if xoauth2 && smtp.auth.len() > 1 {
        return Err(Invalid::new(
            "smtp.auth",
            "XOAUTH2 cannot be listed with PLAIN or LOGIN (its secret is a token, not a password); write auth = [\"XOAUTH2\"]",
        ));
    }
    if (graph || xoauth2) && (smtp.password_env.is_some() || smtp.password_file.is_some()) {
        return Err(Invalid::new(
            "smtp.password_env/smtp.password_file",
            format!("not used with {user} (the token comes from [oauth2]); remove them"),
        ));
    }
    if xoauth2 && smtp.username.is_none() {
        return Err(Invalid::new(
            "smtp.username",
            "XOAUTH2 needs the sending mailbox, e.g. username = \"vigia@contoso.com\"",
        ));
    }
    match (&raw.oauth2, graph || xoauth2) {
        (Some(o), true) => {
            let scope = if graph {
                crate::oauth2::GRAPH_SCOPE
            } else {
                crate::oauth2::OUTLOOK_SCOPE
            };
            OAuth2Settings::resolve(o, scope).map(Some)
        }
        (None, true) => Err(Invalid::new(
            "[oauth2]",
            format!("missing; {user} needs OAuth2 client credentials (tenant or token_url, client_id, client_secret_env or client_secret_file)"),
        )),
        (Some(_), false) => Err(Invalid::new(
            "[oauth2]",
            "not used; set smtp.auth = [\"XOAUTH2\"] or delivery = \"graph\", or remove the section",
        )),
        (None, false) => Ok(None),
    }
}

/// Refuses chrono formats with unknown specifiers, which would otherwise panic at send time.
fn check_format(fmt: &str) -> Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(fmt).any(|i| matches!(i, Item::Error)) {
        return Err(format!(
            "{fmt:?} is not a valid date format (chrono strftime, e.g. \"%d/%m/%Y %Hh%M\")"
        ));
    }
    Ok(())
}

fn mailbox(key: &str, s: &str) -> Result<Mailbox, Invalid> {
    s.trim()
        .parse::<Mailbox>()
        .map_err(|e| Invalid::new(key, format!("{s:?} is not an email address ({e})")))
}

fn mailboxes(key: &str, list: &[String]) -> Result<Vec<Mailbox>, Invalid> {
    list.iter().map(|s| mailbox(key, s)).collect()
}
