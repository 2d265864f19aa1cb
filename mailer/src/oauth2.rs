//! OAuth2 access tokens by the client-credentials grant (RFC 6749 §4.4), for SMTP XOAUTH2 and
//! for Microsoft Graph: Office 365 turns password SMTP off by default for existing tenants at
//! the end of 2026. The `[oauth2]` section names the token endpoint (or the Entra tenant), the
//! application's client id and where its secret is (an environment variable or a file, read at
//! each token request so a rotated secret needs no restart, never the TOML).
//!
//! A token is kept in memory and reused until five minutes before its `expires_in` runs out.
//! An endpoint that cannot be reached, or answers 5xx/429, is a transient failure; a refusal
//! (`invalid_client`, a wrong tenant, a bad scope) is permanent and quotes the endpoint's
//! `error` and `error_description`, with what to fix.

use crate::http;
use crate::send_error::SendError;
use reqwest::Url;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use vigia::invalid::Invalid;
use vigia::units::duration;

/// A token is renewed when less than this is left of its lifetime.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// How a client secret file is named in the messages about its permissions.
pub const CLIENT_SECRET_FILE: &str = "OAuth2 client secret file, oauth2.client_secret_file";

/// The scope for SMTP XOAUTH2 against Office 365 (the default with `smtp.auth = ["XOAUTH2"]`).
pub const OUTLOOK_SCOPE: &str = "https://outlook.office365.com/.default";

/// The scope for Microsoft Graph (the default with `delivery = "graph"`).
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// The `[oauth2]` section as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Config {
    /// The token endpoint; set this or `tenant`.
    #[serde(default)]
    pub token_url: Option<String>,
    /// The Entra (Azure AD) tenant id or domain; fills Microsoft's token endpoint.
    #[serde(default)]
    pub tenant: Option<String>,
    /// The application (client) id.
    #[serde(default)]
    pub client_id: String,
    /// Environment variable holding the client secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// File holding the client secret (first line).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// The scope asked for; by delivery when unset (Outlook for SMTP, Graph for Graph).
    #[serde(default)]
    pub scope: Option<String>,
    /// Bound on one token request.
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

/// Where the client secret is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// An environment variable.
    Env(String),
    /// The first line of a file.
    File(PathBuf),
}

/// The `[oauth2]` section after every check.
#[derive(Debug, Clone)]
pub struct OAuth2Settings {
    /// The token endpoint.
    pub token_url: Url,
    /// The application (client) id.
    pub client_id: String,
    /// Where the secret is.
    pub secret: SecretRef,
    /// The scope asked for.
    pub scope: String,
    /// Bound on one token request.
    pub timeout: Duration,
}

/// Microsoft's token endpoint of a tenant.
pub fn microsoft_token_url(tenant: &str) -> String {
    format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token")
}

impl OAuth2Settings {
    /// Checks the section; `default_scope` is the delivery's. Errors name the key.
    pub fn resolve(raw: &OAuth2Config, default_scope: &str) -> Result<OAuth2Settings, Invalid> {
        let url_text = match (&raw.token_url, &raw.tenant) {
            (Some(_), Some(_)) => {
                return Err(Invalid::new(
                    "oauth2.token_url and oauth2.tenant",
                    "set one, not both (the tenant fills Microsoft's token URL)",
                ))
            }
            (None, None) => {
                return Err(Invalid::new(
                    "oauth2.token_url/oauth2.tenant",
                    "neither is set; give the Entra tenant id or domain (`tenant = \"contoso.onmicrosoft.com\"`) or the token endpoint",
                ))
            }
            (Some(url), None) => url.clone(),
            (None, Some(tenant)) => {
                let t = tenant.trim();
                if t.is_empty()
                    || !t
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                {
                    return Err(Invalid::new(
                        "oauth2.tenant",
                        format!("{tenant:?} is not a tenant id (a GUID) or domain (e.g. contoso.onmicrosoft.com)"),
                    ));
                }
                microsoft_token_url(t)
            }
        };
        let key = if raw.token_url.is_some() {
            "oauth2.token_url"
        } else {
            "oauth2.tenant"
        };
        let token_url = http::check_url(key, &url_text)?;
        if raw.client_id.trim().is_empty() {
            return Err(Invalid::new(
                "oauth2.client_id",
                "missing; the application (client) id from the Entra app registration's overview",
            ));
        }
        let secret = match (&raw.client_secret_env, &raw.client_secret_file) {
            (Some(_), Some(_)) => {
                return Err(Invalid::new(
                    "oauth2.client_secret_env and oauth2.client_secret_file",
                    "set one, not both",
                ))
            }
            (None, None) => {
                return Err(Invalid::new(
                    "oauth2.client_secret_env/oauth2.client_secret_file",
                    "neither is set; the client secret comes from an environment variable or a file, never the TOML",
                ))
            }
            (Some(var), None) if var.trim().is_empty() => {
                return Err(Invalid::new("oauth2.client_secret_env", "empty"))
            }
            (Some(var), None) => SecretRef::Env(var.trim().to_string()),
            (None, Some(file)) => SecretRef::File(file.clone()),
        };
        let scope = raw
            .scope
            .clone()
            .unwrap_or_else(|| default_scope.to_string());
        if scope.trim().is_empty() {
            return Err(Invalid::new("oauth2.scope", "empty"));
        }
        if raw.timeout.is_zero() {
            return Err(Invalid::new("oauth2.timeout", "must be more than 0s"));
        }
        Ok(OAuth2Settings {
            token_url,
            client_id: raw.client_id.trim().to_string(),
            secret,
            scope,
            timeout: raw.timeout,
        })
    }

    /// Reads the client secret from where the configuration points; a secret file others can
    /// read is refused (unless `--allow-insecure-keys`).
    pub fn client_secret(&self) -> Result<String, SendError> {
        match &self.secret {
            SecretRef::Env(var) => match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
                _ => Err(SendError::Config(format!(
                    "environment variable {var} (oauth2.client_secret_env) is not set"
                ))),
            },
            SecretRef::File(file) => {
                vigia::secret_file::check(file, CLIENT_SECRET_FILE)
                    .map_err(|e| SendError::Config(e.to_string()))?;
                let text = std::fs::read_to_string(file).map_err(|e| {
                    SendError::Config(format!(
                        "{} (oauth2.client_secret_file): cannot read: {e}",
                        file.display()
                    ))
                })?;
                match text.lines().next().map(str::trim) {
                    Some(line) if !line.is_empty() => Ok(line.to_string()),
                    _ => Err(SendError::Config(format!(
                        "{} (oauth2.client_secret_file) is empty",
                        file.display()
                    ))),
                }
            }
        }
    }

    /// The endpoint named for messages (host only).
    pub fn endpoint_name(&self) -> String {
        format!("the token endpoint {}", http::host_of(&self.token_url))
    }
}

#[derive(Clone)]
struct Cached {
    token: String,
    renew_at: Option<Instant>,
}

/// Hands out access tokens, asking the endpoint only when the kept one is about to expire.
pub struct TokenSource {
    settings: OAuth2Settings,
    http: reqwest::Client,
    cached: Mutex<Option<Cached>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("token_url", &self.settings.token_url.as_str())
            .field("client_id", &self.settings.client_id)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// A source with nothing kept yet.
    pub fn new(settings: OAuth2Settings, http: reqwest::Client) -> TokenSource {
        TokenSource {
            settings,
            http,
            cached: Mutex::new(None),
        }
    }

    /// The settings it asks with.
    pub fn settings(&self) -> &OAuth2Settings {
        &self.settings
    }

    /// A valid access token: the kept one, or a new one from the endpoint.
    pub async fn token(&self) -> Result<String, SendError> {
        // Held across the request: two sends at once make one request, not two.
        let mut kept = self.cached.lock().await;
        if let Some(c) = kept.as_ref() {
            if c.renew_at.is_some_and(|t| Instant::now() < t) {
                return Ok(c.token.clone());
            }
        }
        let (token, lifetime) = self.request().await?;
        let renew_at = lifetime
            .and_then(|l| l.checked_sub(REFRESH_MARGIN))
            .filter(|l| !l.is_zero())
            .map(|l| Instant::now() + l);
        tracing::debug!(endpoint = %self.settings.token_url, lifetime = ?lifetime, "new OAuth2 token");
        *kept = Some(Cached {
            token: token.clone(),
            renew_at,
        });
        Ok(token)
    }

    /// Drops the kept token (the server refused it), so the next send asks for a new one.
    pub async fn forget(&self) {
        *self.cached.lock().await = None;
    }

    async fn request(&self) -> Result<(String, Option<Duration>), SendError> {
        let s = &self.settings;
        let secret = s.client_secret()?;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", s.client_id.as_str()),
            ("client_secret", secret.as_str()),
            ("scope", s.scope.as_str()),
        ];
        let what = s.endpoint_name();
        let answer = self
            .http
            .post(s.token_url.clone())
            .form(&form)
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(s.timeout)
            .send()
            .await
            .map_err(|e| http::request_failure(&what, e))?;
        let status = answer.status();
        let body = answer
            .bytes()
            .await
            .map_err(|e| http::request_failure(&what, e))?;
        parse_answer(&what, s, status.as_u16(), &body)
    }
}

/// Reads the endpoint's answer: the token and its lifetime, or the refusal in words.
fn parse_answer(
    what: &str,
    s: &OAuth2Settings,
    status: u16,
    body: &[u8],
) -> Result<(String, Option<Duration>), SendError> {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    if status == 200 {
        let token = json
            .as_ref()
            .and_then(|j| j.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(SendError::Permanent(format!(
                "{what} answered 200 without an access_token: {}",
                http::excerpt(body)
            )));
        };
        // A number by the RFC; Microsoft's v1 endpoint sends it as a string.
        let lifetime = json
            .as_ref()
            .and_then(|j| j.get("expires_in"))
            .and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            })
            .map(Duration::from_secs);
        return Ok((token.to_string(), lifetime));
    }
    let field = |k: &str| {
        json.as_ref()
            .and_then(|j| j.get(k))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let error = field("error");
    let description =
        field("error_description").map(|d| d.lines().next().unwrap_or_default().trim().to_string());
    let quoted = match (&error, &description) {
        (Some(e), Some(d)) => format!("{e}: \"{d}\""),
        (Some(e), None) => e.clone(),
        (None, _) => format!("HTTP {status}: {}", http::excerpt(body)),
    };
    if status == 429 || status >= 500 {
        return Err(SendError::Transient(format!(
            "{what} is unavailable ({status}), will retry: {quoted}"
        )));
    }
    let codes: Vec<u64> = json
        .as_ref()
        .and_then(|j| j.get("error_codes"))
        .and_then(|c| c.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_u64()).collect())
        .unwrap_or_default();
    let fix = advice(error.as_deref(), &codes, s);
    Err(SendError::Permanent(format!(
        "{what} refused the client credentials of {}: {quoted}; {fix}",
        s.client_id
    )))
}

/// What to change for a refusal, from the OAuth2 `error` and Microsoft's `error_codes`.
fn advice(error: Option<&str>, codes: &[u64], s: &OAuth2Settings) -> String {
    let has = |c: u64| codes.contains(&c);
    if has(7000215) || has(7000222) {
        return "the client secret is wrong or expired: create a new one under the app registration's Certificates & secrets and put it where oauth2.client_secret_env/client_secret_file points".into();
    }
    if has(700016) {
        return format!(
            "no application {} in this tenant: check oauth2.client_id and oauth2.tenant",
            s.client_id
        );
    }
    if has(90002) || has(900023) {
        return "the tenant does not exist: check oauth2.tenant (the directory id or a verified domain)".into();
    }
    if has(1002012) || has(70011) {
        return format!(
            "the scope {:?} is not valid for the client-credentials grant: use {OUTLOOK_SCOPE} for SMTP or {GRAPH_SCOPE} for Graph (oauth2.scope)",
            s.scope
        );
    }
    match error {
        Some("invalid_client") | Some("unauthorized_client") => {
            "check oauth2.client_id and the client secret (oauth2.client_secret_env or oauth2.client_secret_file)".into()
        }
        Some("invalid_scope") => format!("check oauth2.scope (now {:?})", s.scope),
        Some("invalid_request") => "check oauth2.token_url/oauth2.tenant and oauth2.scope".into(),
        _ => "check the [oauth2] section (token_url or tenant, client_id, the secret, scope)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> OAuth2Settings {
        OAuth2Settings::resolve(
            &OAuth2Config {
                token_url: None,
                tenant: Some("contoso.onmicrosoft.com".into()),
                client_id: "app-1".into(),
                client_secret_env: Some("SECRET".into()),
                client_secret_file: None,
                scope: None,
                timeout: default_timeout(),
            },
            OUTLOOK_SCOPE,
        )
        .expect("valid")
    }

    #[test]
    fn tenant_fills_microsofts_url_and_the_scope_defaults() {
        let s = settings();
        assert_eq!(
            s.token_url.as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(s.scope, OUTLOOK_SCOPE);
    }

    #[test]
    fn refusal_quotes_the_description_and_says_what_to_fix() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x","error_codes":[7000215]}"#;
        let err =
            parse_answer("the token endpoint t", &settings(), 401, body).expect_err("refused");
        let text = err.to_string();
        assert!(matches!(err, SendError::Permanent(_)));
        assert!(
            text.contains("invalid_client: \"AADSTS7000215: Invalid client secret provided.\""),
            "{text}"
        );
        assert!(text.contains("Certificates & secrets"), "{text}");
        let busy = parse_answer("t", &settings(), 503, b"down").expect_err("refused");
        assert!(busy.is_transient());
    }

    #[test]
    fn lifetime_as_number_or_string() {
        let s = settings();
        let (t, l) = parse_answer("t", &s, 200, br#"{"access_token":"a","expires_in":3599}"#)
            .expect("token");
        assert_eq!((t.as_str(), l), ("a", Some(Duration::from_secs(3599))));
        let (_, l) = parse_answer("t", &s, 200, br#"{"access_token":"a","expires_in":"60"}"#)
            .expect("token");
        assert_eq!(l, Some(Duration::from_secs(60)));
        assert!(parse_answer("t", &s, 200, br#"{"token_type":"Bearer"}"#).is_err());
    }
}
