//! The Vigia mailer: the daily CCTV audit digest and urgent alerts, by email.
//!
//! It reads the fleet through the collector's Query service (never its store), renders with
//! maud, and sends with lettre (SMTP, with a password or an OAuth2 token) or Microsoft Graph;
//! urgent alerts and a digest that could not be sent also go to webhooks and a dead-man's
//! switch. Its own sled store remembers which digest slot went out and which alerts are open,
//! so a restart neither repeats nor forgets. A digest goes out every day, also when all is well
//! and also when the collector is unreachable: a quiet inbox must mean a broken mailer, never a
//! healthy fleet.

pub mod alert_policy;
pub mod chain;
pub mod check;
pub mod config;
pub mod deadman;
pub mod delivery;
pub mod fleet;
pub mod graph;
pub mod http;
pub mod i18n;
pub mod notify;
pub mod oauth2;
pub mod render;
pub mod service;
pub mod smtp;
pub mod state;
pub mod webhook;

pub use config::{Language, Settings};
pub use render::{
    render_alert, render_digest, render_digest_since, Attachment, FleetView, RenderOptions,
    Rendered,
};
pub use service::{AlertOutcome, Fleet, Mailer, SlotOutcome};
