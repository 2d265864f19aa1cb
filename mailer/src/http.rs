//! The mailer's one HTTP client (token endpoint, Microsoft Graph, webhooks, dead-man's switch):
//! reqwest over rustls on the *ring* provider, the same backend as lettre and tonic, with the
//! public web roots; redirects are not followed, so a bearer token never goes where it was not
//! configured to go. Also the rule for configured URLs (https, plain http only on loopback) and
//! the sorting of request failures into transient and permanent.

use crate::chain;
use crate::send_error::SendError;
use reqwest::Url;
use std::sync::Arc;
use std::time::Duration;
use vigia::invalid::Invalid;

/// Most bytes of an answer kept for an error message.
const ANSWER_EXCERPT: usize = 600;

/// Builds the client; `timeout` bounds each whole request.
pub fn client(timeout: Duration) -> Result<reqwest::Client, SendError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SendError::Config(format!("TLS settings for HTTPS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(15)))
        .user_agent(concat!("vigia-mailer/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SendError::Config(format!("cannot build the HTTP client: {e}")))
}

/// Parses a configured URL: `https://`, or `http://` only towards this machine (127.0.0.1,
/// ::1, localhost), where nothing crosses a network. The error names the key.
pub fn check_url(key: &str, text: &str) -> Result<Url, Invalid> {
    let url = Url::parse(text.trim())
        .map_err(|e| Invalid::new(key, format!("{text:?} is not a URL ({e})")))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(Invalid::new(key, format!(
            "{text:?} is plain http; use https:// (plain http is accepted only on 127.0.0.1, ::1 or localhost)"
        ))),
        other => Err(Invalid::new(
            key,
            format!("{text:?} has scheme {other:?}; expected https://"),
        )),
    }
}

/// True when the URL's host is this machine.
pub fn is_loopback(url: &Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(h) => h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// Sorts a failed request to `what` (e.g. "the token endpoint login.microsoftonline.com"): a
/// refused certificate is permanent, anything else on the way (refused, unreachable, timed
/// out, cut) is transient. The URL is left out of the text: it may carry a token.
pub fn request_failure(what: &str, e: reqwest::Error) -> SendError {
    let e = e.without_url();
    if let Some(problem) = chain::refused_certificate(&e) {
        return SendError::Permanent(format!(
            "the certificate of {what} is not trusted: {problem}; {}",
            chain::certificate_advice(problem)
        ));
    }
    if e.is_builder() {
        return SendError::Config(format!("cannot make the request to {what}: {e}"));
    }
    let why = if e.is_timeout() {
        "no answer in time".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "the request failed".to_string()
    };
    SendError::Transient(format!(
        "{why} to {what}: {}",
        vigia::process::error_chain(&e)
    ))
}

/// The start of an answer's body, for an error message.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(ANSWER_EXCERPT) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// The URL's host (and port when not the default), to name an endpoint without its path.
pub fn host_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => url.as_str().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback() {
        for ok in [
            "https://login.microsoftonline.com/x/oauth2/v2.0/token",
            "http://127.0.0.1:8080/token",
            "http://localhost/token",
            "http://[::1]:9/token",
        ] {
            assert!(check_url("oauth2.token_url", ok).is_ok(), "{ok}");
        }
        let err =
            check_url("oauth2.token_url", "http://auth.example.com/token").expect_err("refused");
        assert_eq!(err.key, "oauth2.token_url");
        let err = err.to_string();
        assert!(
            err.contains("`oauth2.token_url`") && err.contains("plain http"),
            "{err}"
        );
        assert!(check_url("k", "ftp://x/").is_err());
        assert!(check_url("k", "not a url").is_err());
    }

    #[test]
    fn excerpt_is_bounded() {
        let long = "é".repeat(2000);
        assert!(excerpt(long.as_bytes()).chars().count() <= ANSWER_EXCERPT + 1);
    }
}
