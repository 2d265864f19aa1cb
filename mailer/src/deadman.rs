//! The dead-man's switch: a URL pinged after each digest that went out, and `URL/fail` when a
//! digest could not be sent (the Healthchecks.io convention, also understood by Uptime Kuma's
//! push monitors and cronitor-style services). The service raises the alarm when the pings
//! stop, so a mailer that died, hangs or lost its relay is noticed by something other than
//! the mailer itself.

use crate::http;
use reqwest::Url;
use serde::Deserialize;
use std::time::Duration;
use vigia::invalid::Invalid;
use vigia::units::duration;

/// The `[deadman]` section as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadmanConfig {
    /// The ping URL, e.g. `https://hc-ping.com/<uuid>`.
    pub url: String,
    /// Bound on one ping.
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// The switch, ready to ping.
#[derive(Debug, Clone)]
pub struct Deadman {
    /// The success URL.
    pub url: Url,
    /// Bound on one ping.
    pub timeout: Duration,
}

impl Deadman {
    /// Checks the section; errors name the key.
    pub fn resolve(raw: &DeadmanConfig) -> Result<Deadman, Invalid> {
        let url = http::check_url("deadman.url", &raw.url)?;
        if raw.timeout.is_zero() {
            return Err(Invalid::new("deadman.timeout", "must be more than 0s"));
        }
        Ok(Deadman {
            url,
            timeout: raw.timeout,
        })
    }

    /// The URL for a failure: the ping URL with `/fail` appended to its path.
    pub fn fail_url(&self) -> Url {
        let mut url = self.url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().push("fail");
        }
        url
    }

    /// Pings: success, or failure with `reason` as the body (Healthchecks keeps it in its log).
    pub async fn ping(
        &self,
        client: &reqwest::Client,
        failure: Option<&str>,
    ) -> Result<(), String> {
        let (url, body) = match failure {
            None => (self.url.clone(), String::new()),
            Some(reason) => (self.fail_url(), reason.to_string()),
        };
        let name = format!("the dead-man's switch {}", http::host_of(&self.url));
        let answer = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(body)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| http::request_failure(&name, e).to_string())?;
        let status = answer.status();
        if status.is_success() {
            Ok(())
        } else {
            let body = answer.bytes().await.unwrap_or_default();
            Err(format!(
                "{name} answered {}: {}",
                status.as_u16(),
                http::excerpt(&body)
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_is_appended_to_the_path() {
        for (url, fail) in [
            ("https://hc-ping.com/abc", "https://hc-ping.com/abc/fail"),
            ("https://hc-ping.com/abc/", "https://hc-ping.com/abc/fail"),
            (
                "http://127.0.0.1:9/p/k?rid=1",
                "http://127.0.0.1:9/p/k/fail?rid=1",
            ),
        ] {
            let d = Deadman::resolve(&DeadmanConfig {
                url: url.into(),
                timeout: default_timeout(),
            })
            .expect("valid");
            assert_eq!(d.fail_url().as_str(), fail);
        }
    }
}
