//! The words of every finding, in English and Brazilian Portuguese, made from the verdict's facts
//! alone (never from the raw status, never with a threshold of its own), so that `grpcurl`, the
//! email in either language and the alerts all say the same thing. Each sentence is a list of
//! clauses; each clause is one template per language over the *same* arguments, which is what
//! the test of this module checks: a pt-BR clause cannot name a fact the English one does not.
//!
//! Dates go through the caller's [`DateText`], so the email's `date_format` applies inside
//! sentences too; `detail` (for grpcurl) uses the site's zone, ISO-like.

use crate::days::{from_timestamp, parse_day, parse_tz};
use crate::pb::verdict::Facts;
use crate::pb::{ScanOutcome, Verdict, VerdictKind};
use crate::units::{human_bytes, human_duration};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use std::time::Duration;

/// How many missing days a GAPS sentence names before summarising.
pub const GAP_DAYS_NAMED: usize = 5;

/// Language of labels and sentences.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
pub enum Language {
    /// English.
    #[default]
    #[serde(rename = "en")]
    En,
    /// Brazilian Portuguese, as the old tool's email.
    #[serde(rename = "pt-BR")]
    PtBr,
}

impl Language {
    /// Both languages, for tests and for anything that must cover each.
    pub const ALL: [Language; 2] = [Language::En, Language::PtBr];

    /// The BCP 47 tag (the HTML `lang` attribute).
    pub fn tag(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::PtBr => "pt-BR",
        }
    }

    /// Default format of a date with time.
    pub fn default_date_format(self) -> &'static str {
        match self {
            Language::En => "%d/%m/%Y %H:%M",
            Language::PtBr => "%d/%m/%Y %Hh%M",
        }
    }
}

/// How a sentence writes instants and days; the mailer's formats, or the site zone's for grpcurl.
pub trait DateText {
    /// An instant, e.g. `01/12/2026 07h00`.
    fn instant(&self, t: DateTime<Utc>) -> String;
    /// A calendar day, e.g. `01/12/2026`.
    fn day(&self, d: NaiveDate) -> String;
}

/// ISO-like dates in one zone (`2026-12-01 07:00`): the `detail` sentences grpcurl shows.
#[derive(Debug, Clone, Copy)]
pub struct ZoneDates(pub Option<crate::Tz>);

impl ZoneDates {
    /// Dates in the named IANA zone, or in UTC (said so) when the name is unknown.
    pub fn named(zone: &str) -> ZoneDates {
        ZoneDates(parse_tz(zone).ok())
    }
}

impl DateText for ZoneDates {
    fn instant(&self, t: DateTime<Utc>) -> String {
        match self.0 {
            Some(tz) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
            None => t.format("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }
    fn day(&self, d: NaiveDate) -> String {
        crate::days::format_day(d)
    }
}

/// One clause: a template per language over the same arguments (`{0}`, `{1}`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// The English template.
    pub en: &'static str,
    /// The pt-BR template.
    pub pt: &'static str,
    /// The facts, already written (dates by the caller's [`DateText`]).
    pub args: Vec<String>,
}

impl Clause {
    fn new(en: &'static str, pt: &'static str, args: Vec<String>) -> Clause {
        Clause { en, pt, args }
    }

    /// The template of one language.
    pub fn template(&self, lang: Language) -> &'static str {
        match lang {
            Language::En => self.en,
            Language::PtBr => self.pt,
        }
    }

    /// The clause in one language.
    pub fn render(&self, lang: Language) -> String {
        let mut out = self.template(lang).to_string();
        for (i, a) in self.args.iter().enumerate() {
            out = out.replace(&format!("{{{i}}}"), a);
        }
        out
    }
}

/// A finding's sentence before choosing a language: an optional subject (the camera) and clauses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phrase {
    /// Written before the clauses and a colon, e.g. "camera doca".
    pub subject: Option<Clause>,
    /// Joined with "; ".
    pub clauses: Vec<Clause>,
}

impl Phrase {
    /// The sentence in one language.
    pub fn render(&self, lang: Language) -> String {
        let body: Vec<String> = self.clauses.iter().map(|c| c.render(lang)).collect();
        match &self.subject {
            Some(s) => format!("{}: {}", s.render(lang), body.join("; ")),
            None => body.join("; "),
        }
    }
}

/// A verdict's sentence in a language; the stored `detail` for verdicts without facts (from
/// collectors older than facts).
pub fn sentence(v: &Verdict, lang: Language, dates: &dyn DateText) -> String {
    match phrase(v, dates) {
        Some(p) => p.render(lang),
        None => v.detail.clone(),
    }
}

fn ts(t: &Option<prost_types::Timestamp>, dates: &dyn DateText) -> String {
    t.as_ref()
        .and_then(from_timestamp)
        .map(|t| dates.instant(t))
        .unwrap_or_else(|| "?".into())
}

fn dur(d: &Option<prost_types::Duration>) -> String {
    d.and_then(|d| Duration::try_from(d).ok())
        .map(human_duration)
        .unwrap_or_else(|| "?".into())
}

fn days_list(days: &[String], dates: &dyn DateText) -> String {
    days.iter()
        .map(|d| {
            parse_day(d)
                .map(|d| dates.day(d))
                .unwrap_or_else(|| d.clone())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn camera_subject(camera: &str) -> Option<Clause> {
    (!camera.is_empty()).then(|| Clause::new("camera {0}", "câmera {0}", vec![camera.into()]))
}

/// The clauses of a verdict's sentence; `None` when it carries no facts.
pub fn phrase(v: &Verdict, dates: &dyn DateText) -> Option<Phrase> {
    let facts = v.facts.as_ref()?;
    let one = |c: Clause| Phrase {
        subject: None,
        clauses: vec![c],
    };
    Some(match facts {
        Facts::Ok(_) => one(Clause::new(
            "recording normally",
            "gravando normalmente",
            vec![],
        )),
        Facts::NeverReported(_) => one(Clause::new(
            "expected, but has never reported",
            "esperado, mas nunca enviou relatório",
            vec![],
        )),
        Facts::Late(f) => one(Clause::new(
            "newest recording {0} ({1} before the scan)",
            "gravação mais recente em {0} ({1} antes da leitura)",
            vec![ts(&f.newest_recording, dates), dur(&f.age)],
        )),
        Facts::CameraLate(f) => Phrase {
            subject: camera_subject(&f.camera),
            clauses: vec![Clause::new(
                "stopped, newest recording {0} ({1} before the scan)",
                "parada, gravação mais recente em {0} ({1} antes da leitura)",
                vec![ts(&f.newest_recording, dates), dur(&f.age)],
            )],
        },
        Facts::CameraMissing(f) => Phrase {
            subject: camera_subject(&f.camera),
            clauses: vec![Clause::new(
                "gone from the recordings, last seen {0}",
                "sumiu das gravações, vista pela última vez em {0}",
                vec![ts(&f.last_seen, dates)],
            )],
        },
        Facts::RecorderSilent(f) => one(Clause::new(
            "recorder no longer reported for {0} (last status {1}, the site reports every {2})",
            "gravador sem relatório há {0} (último em {1}, o local reporta a cada {2})",
            vec![dur(&f.silence), ts(&f.last_seen, dates), dur(&f.interval)],
        )),
        Facts::NotWriting(f) => Phrase {
            subject: camera_subject(&f.camera),
            clauses: vec![match &f.newest_nonempty {
                Some(_) => Clause::new(
                    "files keep appearing but hold no video: newest non-empty recording {0}, newest file {1}",
                    "arquivos continuam surgindo mas sem vídeo: gravação não vazia mais recente em {0}, arquivo mais recente em {1}",
                    vec![ts(&f.newest_nonempty, dates), ts(&f.newest_file, dates)],
                ),
                None => Clause::new(
                    "every recording file is empty (newest file {0})",
                    "todos os arquivos de gravação estão vazios (arquivo mais recente em {0})",
                    vec![ts(&f.newest_file, dates)],
                ),
            }],
        },
        Facts::ShortRetention(f) => Phrase {
            subject: camera_subject(&f.camera),
            clauses: vec![Clause::new(
                "{0} day(s) recorded, fewer than the {1} required",
                "{0} dia(s) gravado(s), menos que os {1} exigidos",
                vec![f.days.to_string(), f.required.to_string()],
            )],
        },
        Facts::Gaps(f) => {
            let named: Vec<String> = f.missing_days.iter().take(GAP_DAYS_NAMED).cloned().collect();
            let rest = (f.missing_count as usize).saturating_sub(named.len());
            let list = days_list(&named, dates);
            let n = f.missing_count.to_string();
            Phrase {
                subject: camera_subject(&f.camera),
                clauses: vec![if rest > 0 {
                    Clause::new(
                        "{0} day(s) without recording: {1} and {2} more",
                        "{0} dia(s) sem gravação: {1} e mais {2}",
                        vec![n, list, rest.to_string()],
                    )
                } else {
                    Clause::new(
                        "{0} day(s) without recording: {1}",
                        "{0} dia(s) sem gravação: {1}",
                        vec![n, list],
                    )
                }],
            }
        }
        Facts::DiskLow(f) => one(Clause::new(
            "{0} free of {1} (minimum {2})",
            "{0} livres de {1} (mínimo {2})",
            vec![
                human_bytes(f.free_bytes),
                human_bytes(f.total_bytes),
                if f.min_free.is_empty() {
                    human_bytes(f.min_free_bytes)
                } else {
                    f.min_free.clone()
                },
            ],
        )),
        Facts::ScanError(f) => {
            let mut clauses = vec![match f.outcome() {
                ScanOutcome::PathMissing => Clause::new(
                    "recording folder {0} does not exist",
                    "a pasta de gravação {0} não existe",
                    vec![f.root_path.clone()],
                ),
                ScanOutcome::PermissionDenied => Clause::new(
                    "recording folder {0} cannot be read",
                    "a pasta de gravação {0} não pode ser lida",
                    vec![f.root_path.clone()],
                ),
                ScanOutcome::Empty => Clause::new(
                    "no recording files under {0}",
                    "nenhum arquivo de gravação em {0}",
                    vec![f.root_path.clone()],
                ),
                _ => Clause::new(
                    "{0} unreadable path(s), the rest was counted",
                    "{0} caminho(s) ilegível(is), o resto foi contado",
                    vec![f.error_count.to_string()],
                ),
            }];
            if let Some(e) = &f.first_error {
                clauses.push(Clause::new(
                    "first: {0} ({1})",
                    "primeiro: {0} ({1})",
                    vec![e.path.clone(), e.reason.clone()],
                ));
            }
            Phrase {
                subject: None,
                clauses,
            }
        }
        Facts::Silent(f) => one(Clause::new(
            "no report for {0} (last contact {1}, reports every {2})",
            "sem relatório há {0} (último contato em {1}, relatórios a cada {2})",
            vec![
                dur(&f.silence),
                ts(&f.last_contact, dates),
                dur(&f.interval),
            ],
        )),
        Facts::DataDropped(f) => one(Clause::new(
            "the probe's spool overflowed while it could not reach the collector: {0} status(es) lost, reported {1} ({2} in all)",
            "o spool da sonda encheu enquanto não alcançava o coletor: {0} relatório(s) perdido(s), informado em {1} ({2} no total)",
            vec![f.count.to_string(), ts(&f.reported_at, dates), f.total.to_string()],
        )),
        Facts::ClockSkew(f) => {
            let mut clauses = Vec::new();
            if f.probe_ahead.is_some() {
                clauses.push(Clause::new(
                    "probe clock {0} ahead of the collector",
                    "relógio da sonda {0} adiantado em relação ao coletor",
                    vec![dur(&f.probe_ahead)],
                ));
            }
            if f.newest_recording.is_some() {
                clauses.push(Clause::new(
                    "newest recording dated {0}, {1} after the scan",
                    "gravação mais recente datada de {0}, {1} depois da leitura",
                    vec![ts(&f.newest_recording, dates), dur(&f.newest_ahead)],
                ));
            }
            if f.implausible_oldest.is_some() {
                clauses.push(Clause::new(
                    "oldest recording dated {0} (recorder clock reset?)",
                    "gravação mais antiga datada de {0} (relógio do gravador zerado?)",
                    vec![ts(&f.implausible_oldest, dates)],
                ));
            }
            if !f.future_days.is_empty() {
                clauses.push(Clause::new(
                    "{0} day(s) with recordings after the day of the scan: {1}",
                    "{0} dia(s) com gravações depois do dia da leitura: {1}",
                    vec![
                        f.future_days.len().to_string(),
                        days_list(&f.future_days, dates),
                    ],
                ));
            }
            Phrase {
                subject: None,
                clauses,
            }
        }
    })
}

/// A verdict kind's short name, as the status column and the subject show it.
pub fn kind_label(lang: Language, kind: VerdictKind) -> &'static str {
    let (en, pt) = kind_labels(kind);
    match lang {
        Language::En => en,
        Language::PtBr => pt,
    }
}

fn kind_labels(kind: VerdictKind) -> (&'static str, &'static str) {
    match kind {
        VerdictKind::Ok => ("OK", "OK"),
        VerdictKind::Late => ("Late", "Atrasado"),
        VerdictKind::ShortRetention => ("Short retention", "Retenção curta"),
        VerdictKind::Gaps => ("Gaps", "Falhas"),
        VerdictKind::CameraLate => ("Camera stopped", "Câmera parada"),
        VerdictKind::CameraMissing => ("Camera missing", "Câmera sumiu"),
        VerdictKind::RecorderSilent => ("Recorder silent", "Gravador sem relatório"),
        VerdictKind::NotWriting => ("Not writing", "Sem vídeo"),
        VerdictKind::DiskLow => ("Disk low", "Pouco disco"),
        VerdictKind::ScanError => ("Scan error", "Erro de leitura"),
        VerdictKind::Silent => ("Silent", "Sem contato"),
        VerdictKind::NeverReported => ("Never reported", "Nunca reportou"),
        VerdictKind::ClockSkew => ("Clock skew", "Relógio errado"),
        VerdictKind::DataDropped => ("Data dropped", "Dados perdidos"),
        VerdictKind::Unspecified => ("Unknown", "Desconhecido"),
    }
}

/// The kind a set of facts belongs to (the one place that pairs them).
pub fn kind_of(facts: &Facts) -> VerdictKind {
    match facts {
        Facts::Ok(_) => VerdictKind::Ok,
        Facts::Late(_) => VerdictKind::Late,
        Facts::CameraLate(_) => VerdictKind::CameraLate,
        Facts::CameraMissing(_) => VerdictKind::CameraMissing,
        Facts::RecorderSilent(_) => VerdictKind::RecorderSilent,
        Facts::NotWriting(_) => VerdictKind::NotWriting,
        Facts::ShortRetention(_) => VerdictKind::ShortRetention,
        Facts::Gaps(_) => VerdictKind::Gaps,
        Facts::DiskLow(_) => VerdictKind::DiskLow,
        Facts::ScanError(_) => VerdictKind::ScanError,
        Facts::Silent(_) => VerdictKind::Silent,
        Facts::NeverReported(_) => VerdictKind::NeverReported,
        Facts::ClockSkew(_) => VerdictKind::ClockSkew,
        Facts::DataDropped(_) => VerdictKind::DataDropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::*;

    fn t(h: i64) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp {
            seconds: 1_800_000_000 + h * 3600,
            nanos: 0,
        })
    }

    fn d(s: i64) -> Option<prost_types::Duration> {
        Some(prost_types::Duration {
            seconds: s,
            nanos: 0,
        })
    }

    /// One verdict per shape of every kind's facts, every optional fact set.
    fn samples() -> Vec<Facts> {
        let days =
            |n: usize| -> Vec<String> { (1..=n).map(|i| format!("2026-11-{i:02}")).collect() };
        let mut out = vec![
            Facts::Ok(OkFacts {}),
            Facts::NeverReported(NeverReportedFacts {}),
            Facts::DataDropped(DataDroppedFacts {
                count: 34,
                reported_at: t(-3),
                total: 40,
            }),
            Facts::Late(LateFacts {
                newest_recording: t(-7),
                age: d(7 * 3600),
                collector_clock: true,
            }),
            Facts::CameraLate(CameraLateFacts {
                camera: "doca".into(),
                newest_recording: t(-5),
                age: d(5 * 3600),
            }),
            Facts::CameraMissing(CameraMissingFacts {
                camera: "portao".into(),
                last_seen: t(-48),
            }),
            Facts::RecorderSilent(RecorderSilentFacts {
                last_seen: t(-2),
                silence: d(7200),
                interval: d(300),
            }),
            Facts::ShortRetention(ShortRetentionFacts {
                camera: "cam2".into(),
                days: 5,
                required: 30,
            }),
            Facts::Gaps(GapsFacts {
                camera: "cam3".into(),
                missing_count: 3,
                missing_days: days(3),
            }),
            Facts::Gaps(GapsFacts {
                camera: String::new(),
                missing_count: 9,
                missing_days: days(9),
            }),
            Facts::DiskLow(DiskLowFacts {
                free_bytes: 1 << 29,
                total_bytes: 1 << 41,
                min_free_bytes: 1 << 30,
                min_free: "1.0 GiB".into(),
            }),
            Facts::Silent(SilentFacts {
                last_contact: t(-1),
                silence: d(3600),
                interval: d(300),
            }),
            Facts::ClockSkew(ClockSkewFacts {
                probe_ahead: d(7200),
                newest_recording: t(72),
                newest_ahead: d(72 * 3600),
                implausible_oldest: Some(prost_types::Timestamp {
                    seconds: -100,
                    nanos: 0,
                }),
                future_days: days(3),
            }),
        ];
        for (camera, nonempty) in [("", t(-6)), ("cam1", None)] {
            out.push(Facts::NotWriting(NotWritingFacts {
                camera: camera.into(),
                newest_nonempty: nonempty,
                newest_file: t(0),
            }));
        }
        for outcome in [
            ScanOutcome::PathMissing,
            ScanOutcome::PermissionDenied,
            ScanOutcome::Empty,
            ScanOutcome::Partial,
        ] {
            out.push(Facts::ScanError(ScanErrorFacts {
                outcome: outcome as i32,
                root_path: "D:\\Gravacoes".into(),
                first_error: Some(crate::pb::ScanError {
                    path: "D:\\Gravacoes\\cam1".into(),
                    reason: "permission denied".into(),
                }),
                error_count: 4,
            }));
        }
        out
    }

    fn placeholders(template: &str) -> Vec<usize> {
        let mut found: Vec<usize> = (0..10)
            .filter(|i| template.contains(&format!("{{{i}}}")))
            .collect();
        found.sort_unstable();
        found
    }

    #[test]
    fn every_kind_has_a_sample() {
        let kinds: Vec<VerdictKind> = samples().iter().map(kind_of).collect();
        for k in (0..=14).filter_map(|i| VerdictKind::try_from(i).ok()) {
            if k == VerdictKind::Unspecified {
                continue;
            }
            assert!(kinds.contains(&k), "no wording sample for {k:?}");
        }
    }

    #[test]
    fn english_and_portuguese_word_the_same_facts() {
        let dates = ZoneDates::named("America/Sao_Paulo");
        for facts in samples() {
            let v = crate::rules::verdict("nvr", "America/Sao_Paulo", facts.clone());
            let p = phrase(&v, &dates).expect("facts give a phrase");
            let clauses: Vec<&Clause> = p.subject.iter().chain(p.clauses.iter()).collect();
            for c in clauses {
                let want: Vec<usize> = (0..c.args.len()).collect();
                assert_eq!(
                    placeholders(c.en),
                    want,
                    "English clause {:?} vs its facts",
                    c.en
                );
                assert_eq!(
                    placeholders(c.pt),
                    want,
                    "pt-BR clause {:?} vs its facts",
                    c.pt
                );
                assert_ne!(c.en, c.pt, "a clause left untranslated: {:?}", c.en);
            }
            let en = p.render(Language::En);
            let pt = p.render(Language::PtBr);
            assert!(
                !en.contains('{') && !pt.contains('{'),
                "unfilled: {en} / {pt}"
            );
            for c in p.subject.iter().chain(p.clauses.iter()) {
                for a in &c.args {
                    assert!(
                        en.contains(a.as_str()) && pt.contains(a.as_str()),
                        "fact {a:?} missing: {en} / {pt}"
                    );
                }
            }
            assert_eq!(v.detail, en, "detail is the English sentence");
        }
    }

    #[test]
    fn dates_come_from_the_callers_formatter() {
        struct Br;
        impl DateText for Br {
            fn instant(&self, t: DateTime<Utc>) -> String {
                t.format("%d/%m/%Y %Hh%M").to_string()
            }
            fn day(&self, d: NaiveDate) -> String {
                d.format("%d/%m/%Y").to_string()
            }
        }
        let v = crate::rules::verdict(
            "nvr",
            "UTC",
            Facts::Gaps(GapsFacts {
                camera: String::new(),
                missing_count: 1,
                missing_days: vec!["2026-11-20".into()],
            }),
        );
        assert_eq!(
            sentence(&v, Language::PtBr, &Br),
            "1 dia(s) sem gravação: 20/11/2026"
        );
        assert!(v.detail.contains("2026-11-20"), "{}", v.detail);
    }

    #[test]
    fn a_verdict_without_facts_keeps_its_detail() {
        let v = Verdict {
            kind: VerdictKind::Late as i32,
            detail: "from an older collector".into(),
            ..Default::default()
        };
        assert_eq!(
            sentence(&v, Language::PtBr, &ZoneDates(None)),
            "from an older collector"
        );
    }
}
