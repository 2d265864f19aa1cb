//! The Vigia mailer: the daily CCTV audit digest and urgent alerts, by email.
//!
//! It reads the fleet through the collector's Query service (never its store), renders with
//! maud, and sends with lettre (SMTP, with a password or an OAuth2 token) or Microsoft Graph;
//! urgent alerts and a digest that could not be sent also go to webhooks and a dead-man's
//! switch. Its own sled store remembers which digest slot went out and which alerts are open,
//! so a restart neither repeats nor forgets. A digest goes out every day, also when all is well
//! and also when the collector is unreachable: a quiet inbox must mean a broken mailer, never a
//! healthy fleet.
//!
//! # Layers
//!
//! Bottom to top; a module imports only from the lines above it (`scripts/check-module-cycles`
//! keeps it so):
//!
//! 1. `send_error`, `chain`, `i18n`, `alert_policy`: leaves — the failure type every way out
//!    shares, certificate-chain advice, wording, the alert rules; they import nothing of ours.
//! 2. `render`: the digest and alert emails from a fleet snapshot; reads only `i18n`.
//!    Inside it: `out`, `days` → `rows` (the fleet as the digest reads it) → `changes`, `strip`
//!    → `model` → `html`, `text`, `csv` → `alert`, `fit`.
//! 3. `state`: the sled store of sent slots and open alerts; keys on `alert_policy` and `render`.
//! 4. `http`: the one HTTP client; reports failures as `send_error`.
//! 5. `oauth2`, `webhook`, `deadman`: built on `http`, each with its own config section.
//! 6. `graph`: Microsoft Graph sending, on `http` with an `oauth2` token.
//! 7. `config`: the file as written, resolved into `Settings`; gathers the sections of the
//!    layers below (and `RenderOptions`), so nothing below it needs it.
//! 8. `smtp`: lettre transport from `Settings`.
//! 9. `delivery`: chooses SMTP or Graph per `Settings` and holds the token cache.
//! 10. `fleet`, `notify`: reading the collector; webhooks and the dead-man's switch per config.
//! 11. `check`: `check-config` (may connect through `delivery` and `fleet`).
//! 12. `service`: the schedules, on top of everything.

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
pub mod send_error;
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
