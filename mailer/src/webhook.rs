//! Webhooks: the second channel for what must not wait for email (urgent alerts, and "the
//! digest could not be sent"). Four kinds, each one `[[webhooks]]` entry:
//!
//! - `json`: a POST of the documented payload below, for any program that listens;
//! - `teams` and `slack`: an incoming webhook, `{"text": "..."}` (Markdown title and text);
//! - `telegram`: a bot's `sendMessage` to `chat_id`, the bot token from `bot_token_env`.
//!
//! The `json` payload (`"sites"` is empty for `digest_failed`):
//!
//! ```json
//! {"source": "vigia-mailer", "event": "alert" | "digest_failed",
//!  "title": "…the email's subject…", "text": "…the email's text part, or the reason…",
//!  "at": "2026-11-28T10:00:00Z",
//!  "sites": [{"site": "loja-12", "verdicts": ["LATE", "SILENT"], "recovered": ["CAMERA_LATE"]}]}
//! ```
//!
//! A webhook that fails is logged by the caller and never holds up the email.

use crate::http;
use reqwest::Url;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use vigia::invalid::Invalid;
use vigia::units::duration;

/// Telegram's Bot API (the default of `api_url`).
pub const TELEGRAM_API: &str = "https://api.telegram.org";

/// Longest text sent to Telegram (its limit is 4,096 characters).
const TELEGRAM_MAX_CHARS: usize = 3900;
/// Longest text sent to Teams or Slack (Teams refuses messages past ~28 KB).
const CHAT_MAX_CHARS: usize = 20_000;

/// Which kind of receiver a webhook is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookKind {
    /// A POST of Vigia's own JSON payload.
    Json,
    /// A Microsoft Teams incoming webhook.
    Teams,
    /// A Slack incoming webhook.
    Slack,
    /// A Telegram bot's `sendMessage`.
    Telegram,
}

/// One `[[webhooks]]` entry as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `json`, `teams`, `slack` or `telegram`.
    pub kind: WebhookKind,
    /// Where to POST (json, teams, slack).
    #[serde(default)]
    pub url: Option<String>,
    /// Telegram: the environment variable holding the bot token.
    #[serde(default)]
    pub bot_token_env: Option<String>,
    /// Telegram: the chat (or channel, `@name`) to write to.
    #[serde(default)]
    pub chat_id: Option<String>,
    /// Telegram: the Bot API's base URL (`https://api.telegram.org` by default).
    #[serde(default)]
    pub api_url: Option<String>,
    /// Bound on one POST.
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Where a webhook goes, after every check.
#[derive(Debug, Clone)]
pub enum Target {
    /// A URL that takes a POST (json, teams, slack).
    Url(Url),
    /// A Telegram chat through a bot.
    Telegram {
        /// The Bot API's base URL.
        api: Url,
        /// The environment variable holding the bot token (read at each message).
        token_env: String,
        /// The chat.
        chat_id: String,
    },
}

/// One webhook, ready to post to.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// Its kind.
    pub kind: WebhookKind,
    /// Where it goes.
    pub target: Target,
    /// Bound on one POST.
    pub timeout: Duration,
}

impl Webhook {
    /// Checks entry number `i` (0-based); errors name the key, e.g. `webhooks[1].url`.
    pub fn resolve(i: usize, raw: &WebhookConfig) -> Result<Webhook, Invalid> {
        let key = |k: &str| format!("webhooks[{i}].{k}");
        let target = match raw.kind {
            WebhookKind::Telegram => {
                if raw.url.is_some() {
                    return Err(Invalid::new(
                        key("url"),
                        "a telegram webhook takes bot_token_env and chat_id (and api_url), not url",
                    ));
                }
                let token_env = raw
                    .bot_token_env
                    .as_deref()
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| {
                        Invalid::new(
                            key("bot_token_env"),
                            "missing; name the environment variable holding the bot token (never the token itself)",
                        )
                    })?
                    .to_string();
                let chat_id = raw
                    .chat_id
                    .as_deref()
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| {
                        Invalid::new(
                            key("chat_id"),
                            "missing; the chat's id (e.g. -1001234567890) or @channel",
                        )
                    })?
                    .to_string();
                let api = http::check_url(
                    &key("api_url"),
                    raw.api_url.as_deref().unwrap_or(TELEGRAM_API),
                )?;
                Target::Telegram {
                    api,
                    token_env,
                    chat_id,
                }
            }
            _ => {
                for k in ["bot_token_env", "chat_id", "api_url"] {
                    let set = match k {
                        "bot_token_env" => raw.bot_token_env.is_some(),
                        "chat_id" => raw.chat_id.is_some(),
                        _ => raw.api_url.is_some(),
                    };
                    if set {
                        return Err(Invalid::new(key(k), "only for kind = \"telegram\""));
                    }
                }
                let url = raw
                    .url
                    .as_deref()
                    .ok_or_else(|| Invalid::new(key("url"), "missing; where to POST"))?;
                Target::Url(http::check_url(&key("url"), url)?)
            }
        };
        if raw.timeout.is_zero() {
            return Err(Invalid::new(key("timeout"), "must be more than 0s"));
        }
        Ok(Webhook {
            kind: raw.kind,
            target,
            timeout: raw.timeout,
        })
    }

    /// The webhook named for logs: its kind and host, never a token.
    pub fn name(&self) -> String {
        let host = match &self.target {
            Target::Url(u) => http::host_of(u),
            Target::Telegram { api, chat_id, .. } => {
                format!("{} chat {chat_id}", http::host_of(api))
            }
        };
        format!("{:?} webhook {host}", self.kind).to_lowercase()
    }
}

/// A site named in a notification, for programs reading the `json` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteNote {
    /// The site.
    pub site: String,
    /// Conditions it entered (verdict kinds without the prefix: `LATE`, `SILENT`…).
    pub verdicts: Vec<String>,
    /// Conditions it left.
    pub recovered: Vec<String>,
}

/// What happened, as every kind of webhook is told.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// `alert` or `digest_failed`.
    pub event: &'a str,
    /// One line: the alert's subject, or "the digest could not be sent".
    pub title: &'a str,
    /// The body: the alert's text part, or the reason.
    pub text: &'a str,
    /// The sites concerned (alerts).
    pub sites: &'a [SiteNote],
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// The `json` kind's payload.
#[derive(Serialize)]
struct Payload<'a> {
    source: &'static str,
    event: &'a str,
    title: &'a str,
    text: &'a str,
    at: String,
    sites: &'a [SiteNote],
}

fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Posts one event; the error says which webhook and why (for the log).
pub async fn post(client: &reqwest::Client, hook: &Webhook, ev: &Event<'_>) -> Result<(), String> {
    let name = hook.name();
    let request = match (&hook.target, hook.kind) {
        (Target::Url(url), WebhookKind::Json) => client.post(url.clone()).json(&Payload {
            source: "vigia-mailer",
            event: ev.event,
            title: ev.title,
            text: ev.text,
            at: ev.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            sites: ev.sites,
        }),
        (Target::Url(url), WebhookKind::Teams) => {
            let text = clip(&format!("**{}**\n\n{}", ev.title, ev.text), CHAT_MAX_CHARS);
            client
                .post(url.clone())
                .json(&serde_json::json!({ "text": text }))
        }
        (Target::Url(url), _) => {
            let text = clip(&format!("*{}*\n{}", ev.title, ev.text), CHAT_MAX_CHARS);
            client
                .post(url.clone())
                .json(&serde_json::json!({ "text": text }))
        }
        (
            Target::Telegram {
                api,
                token_env,
                chat_id,
            },
            _,
        ) => {
            let token = std::env::var(token_env)
                .ok()
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| {
                    format!("{name}: environment variable {token_env} (bot_token_env) is not set")
                })?;
            let mut url = api.clone();
            url.path_segments_mut()
                .map_err(|_| format!("{name}: api_url cannot take a path"))?
                .pop_if_empty()
                .extend([format!("bot{}", token.trim()).as_str(), "sendMessage"]);
            let text = clip(&format!("{}\n\n{}", ev.title, ev.text), TELEGRAM_MAX_CHARS);
            client.post(url).json(&serde_json::json!({
                "chat_id": chat_id,
                "text": text,
                "disable_web_page_preview": true,
            }))
        }
    };
    let answer = request
        .timeout(hook.timeout)
        .send()
        .await
        .map_err(|e| format!("{name}: {}", http::request_failure(&name, e)))?;
    let status = answer.status();
    let body = answer.bytes().await.unwrap_or_default();
    if !status.is_success() {
        return Err(format!(
            "{name} answered {}: {}",
            status.as_u16(),
            http::excerpt(&body)
        ));
    }
    if hook.kind == WebhookKind::Telegram {
        let ok = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|j| j.get("ok").and_then(|v| v.as_bool()));
        if ok == Some(false) {
            return Err(format!(
                "{name} refused the message: {}",
                http::excerpt(&body)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(kind: WebhookKind) -> WebhookConfig {
        WebhookConfig {
            kind,
            url: None,
            bot_token_env: None,
            chat_id: None,
            api_url: None,
            timeout: default_timeout(),
        }
    }

    #[test]
    fn entries_are_checked_with_their_key() {
        let e = Webhook::resolve(2, &raw(WebhookKind::Json)).expect_err("refused");
        assert_eq!(e.key, "webhooks[2].url");
        assert!(e.to_string().contains("`webhooks[2].url`"), "{e}");
        let mut t = raw(WebhookKind::Telegram);
        t.bot_token_env = Some("BOT".into());
        let e = Webhook::resolve(0, &t).expect_err("refused");
        assert!(e.to_string().contains("`webhooks[0].chat_id`"), "{e}");
        t.chat_id = Some("-100".into());
        let hook = Webhook::resolve(0, &t).expect("valid");
        assert!(hook.name().contains("api.telegram.org"), "{}", hook.name());
        let mut s = raw(WebhookKind::Slack);
        s.url = Some("http://hooks.example.com/x".into());
        assert!(Webhook::resolve(0, &s)
            .expect_err("refused")
            .message
            .contains("plain http"));
    }

    #[test]
    fn long_text_is_clipped() {
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("abc", 3), "abc");
    }
}
