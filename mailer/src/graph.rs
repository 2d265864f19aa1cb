//! Microsoft Graph `sendMail` as the second transport, for tenants where SMTP AUTH is off
//! entirely: the MIME message lettre builds (the same bytes SMTP would carry), base64-encoded,
//! posted as `text/plain` to `POST {graph.url}/v1.0/users/{mailbox}/sendMail` with a bearer
//! token from `[oauth2]` (scope `https://graph.microsoft.com/.default`). Graph answers
//! `202 Accepted`; 401/403 mean the app lacks `Mail.Send` (permanent), 429 and 5xx are
//! transient.

use crate::http;
use crate::send_error::SendError;
use base64::Engine as _;
use reqwest::Url;
use serde::Deserialize;
use std::time::Duration;
use vigia::units::duration;

/// Graph's public endpoint (the default of `graph.url`).
pub const GRAPH_URL: &str = "https://graph.microsoft.com";

/// The `[graph]` section as written (used when `delivery = "graph"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphConfig {
    /// Base URL of Graph (national clouds, tests); `https://graph.microsoft.com` by default.
    #[serde(default = "default_url")]
    pub url: String,
    /// Bound on one `sendMail` request.
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
}

fn default_url() -> String {
    GRAPH_URL.into()
}
fn default_timeout() -> Duration {
    Duration::from_secs(60)
}

impl Default for GraphConfig {
    fn default() -> Self {
        GraphConfig {
            url: default_url(),
            timeout: default_timeout(),
        }
    }
}

/// The URL of `sendMail` for `mailbox` under the base URL.
pub fn send_mail_url(base: &Url, mailbox: &str) -> Result<Url, SendError> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|_| SendError::Config(format!("graph.url {base} cannot take a path")))?
        .pop_if_empty()
        .extend(["v1.0", "users", mailbox, "sendMail"]);
    Ok(url)
}

/// Posts one MIME message as `mailbox`; `Ok` once Graph answered 202.
pub async fn send(
    client: &reqwest::Client,
    base: &Url,
    mailbox: &str,
    token: &str,
    mime: &[u8],
    timeout: Duration,
) -> Result<(), SendError> {
    let url = send_mail_url(base, mailbox)?;
    let what = format!("Microsoft Graph ({})", http::host_of(base));
    let body = base64::engine::general_purpose::STANDARD.encode(mime);
    let answer = client
        .post(url)
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "text/plain")
        .body(body)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| http::request_failure(&what, e))?;
    let status = answer.status().as_u16();
    if status == 202 {
        return Ok(());
    }
    let retry_after = answer
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = answer.bytes().await.unwrap_or_default();
    Err(classify(
        &what,
        mailbox,
        status,
        &body,
        retry_after.as_deref(),
    ))
}

/// Graph's refusal in words: what it said (`error.code`, `error.message`) and what to fix.
fn classify(
    what: &str,
    mailbox: &str,
    status: u16,
    body: &[u8],
    retry_after: Option<&str>,
) -> SendError {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let err = json.as_ref().and_then(|j| j.get("error"));
    let code = err
        .and_then(|e| e.get("code"))
        .and_then(|c| c.as_str())
        .unwrap_or("");
    let message = err
        .and_then(|e| e.get("message"))
        .and_then(|c| c.as_str())
        .unwrap_or("");
    let said = match (code, message) {
        ("", "") => http::excerpt(body),
        (c, "") => c.to_string(),
        ("", m) => format!("\"{m}\""),
        (c, m) => format!("{c}: \"{m}\""),
    };
    match status {
        401 | 403 => SendError::Permanent(format!(
            "{what} refused to send as {mailbox} ({status} {said}): the app registration needs the Microsoft Graph application permission Mail.Send with admin consent, and [oauth2] scope must be {GRAPH_SCOPE}",
            GRAPH_SCOPE = crate::oauth2::GRAPH_SCOPE
        )),
        404 => SendError::Permanent(format!(
            "{what} does not know the mailbox {mailbox} ({status} {said}): smtp.username (or smtp.from) must be an existing Exchange Online mailbox with a licence"
        )),
        429 | 500..=599 => SendError::Transient(format!(
            "{what} is busy or unavailable ({status} {said}){}",
            retry_after
                .map(|r| format!("; it asks to retry after {r} s"))
                .unwrap_or_default()
        )),
        _ => SendError::Permanent(format!("{what} refused the message ({status} {said})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_under_the_base_url() {
        let base = Url::parse("http://127.0.0.1:9/").expect("url");
        let url = send_mail_url(&base, "vigia@example.com").expect("url");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/v1.0/users/vigia@example.com/sendMail"
        );
        let prefixed = Url::parse("https://graph.example/proxy").expect("url");
        assert_eq!(
            send_mail_url(&prefixed, "a b@x").expect("url").path(),
            "/proxy/v1.0/users/a%20b@x/sendMail"
        );
    }

    #[test]
    fn refusals_name_the_permission() {
        let body = br#"{"error":{"code":"ErrorAccessDenied","message":"Access is denied."}}"#;
        let e = classify("Microsoft Graph (g)", "v@x", 403, body, None);
        assert!(matches!(e, SendError::Permanent(_)));
        let text = e.to_string();
        assert!(
            text.contains("Mail.Send") && text.contains("ErrorAccessDenied"),
            "{text}"
        );
        assert!(classify("g", "v@x", 429, b"", Some("30")).is_transient());
        assert!(classify("g", "v@x", 503, b"", None).is_transient());
    }
}
