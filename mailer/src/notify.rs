//! What the mailer tells besides email: urgent alerts and "the digest could not be sent" go
//! to every configured webhook, and the dead-man's switch hears of each digest sent or failed.
//! Every failure here is logged and swallowed: this channel must never hold up the email.

use crate::config::{Language, Settings};
use crate::deadman::Deadman;
use crate::webhook::{self, Event, SiteNote, Webhook};
use chrono::Utc;
use tracing::{info, warn};

/// The hooks the mail service calls after sending (or failing to send).
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    http: Option<reqwest::Client>,
    webhooks: Vec<Webhook>,
    deadman: Option<Deadman>,
    language: Language,
}

impl Notifier {
    /// The webhooks and switch of the settings (nothing to do when none is configured).
    pub fn new(settings: &Settings) -> Notifier {
        let webhooks = settings.webhooks.clone();
        let deadman = settings.deadman.clone();
        let http = if webhooks.is_empty() && deadman.is_none() {
            None
        } else {
            // Each request has its own bound (webhook/deadman `timeout`); this is a backstop.
            match crate::http::client(std::time::Duration::from_secs(120)) {
                Ok(c) => Some(c),
                Err(e) => {
                    warn!(error = %e, "webhooks and the dead-man's switch are off");
                    None
                }
            }
        };
        Notifier {
            http,
            webhooks,
            deadman,
            language: settings.raw.language,
        }
    }

    /// True when there is anything to notify.
    pub fn is_active(&self) -> bool {
        self.http.is_some()
    }

    /// An alert went out by email: the webhooks hear it too (subject and text part).
    pub async fn alert(&self, subject: &str, text: &str, sites: &[SiteNote]) {
        self.to_webhooks(&Event {
            event: "alert",
            title: subject,
            text,
            sites,
            at: Utc::now(),
        })
        .await;
    }

    /// A digest could not be sent (refused, or still failing at its deadline): the webhooks
    /// are told why, and the dead-man's switch gets `/fail`.
    pub async fn digest_failed(&self, reason: &str) {
        let title = match self.language {
            Language::En => "Vigia: the digest could not be sent",
            Language::PtBr => "Vigia: o resumo diário não pôde ser enviado",
        };
        let text = match self.language {
            Language::En => format!(
                "The daily digest email could not be sent: {reason}\nThe mailer tries again at the next digest time; check its log (journalctl -u vigia-mailer) and `vigia-mailer test-send`."
            ),
            Language::PtBr => format!(
                "O e-mail do resumo diário não pôde ser enviado: {reason}\nO mailer tenta de novo no próximo horário; veja o log (journalctl -u vigia-mailer) e `vigia-mailer test-send`."
            ),
        };
        self.to_webhooks(&Event {
            event: "digest_failed",
            title,
            text: &text,
            sites: &[],
            at: Utc::now(),
        })
        .await;
        self.ping(Some(reason)).await;
    }

    /// A digest went out: the dead-man's switch is pinged.
    pub async fn digest_sent(&self) {
        self.ping(None).await;
    }

    async fn to_webhooks(&self, ev: &Event<'_>) {
        let Some(http) = &self.http else { return };
        let posts = self.webhooks.iter().map(|hook| async move {
            match webhook::post(http, hook, ev).await {
                Ok(()) => info!(webhook = %hook.name(), event = ev.event, "webhook notified"),
                Err(e) => warn!(error = %e, event = ev.event, "webhook failed"),
            }
        });
        futures::future::join_all(posts).await;
    }

    async fn ping(&self, failure: Option<&str>) {
        let (Some(http), Some(d)) = (&self.http, &self.deadman) else {
            return;
        };
        match d.ping(http, failure).await {
            Ok(()) => info!(failure = failure.is_some(), "dead-man's switch pinged"),
            Err(e) => warn!(error = %e, "dead-man's switch ping failed"),
        }
    }
}
