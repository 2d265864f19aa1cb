//! Every word of the email in each language. The English verdict sentences come verbatim from the
//! root crate (so the email reads like `grpcurl`); in Portuguese the sentence is rebuilt here from
//! the verdict's structured fields and the recorder's figures, never translated from the English.

use crate::config::Language;
use vigia::pb::{Technology, VerdictKind};

/// Fixed words of the digest and alerts.
#[derive(Debug)]
pub struct Labels {
    /// Default start of the subject.
    pub title: &'static str,
    /// Column: site.
    pub site: &'static str,
    /// Column: technology.
    pub technology: &'static str,
    /// Column: oldest recording.
    pub oldest: &'static str,
    /// Column: newest recording.
    pub newest: &'static str,
    /// Column: status.
    pub status: &'static str,
    /// Column: days recorded.
    pub days: &'static str,
    /// Column: coverage strip.
    pub last_30: &'static str,
    /// Heading of the problem table.
    pub problems: &'static str,
    /// Heading of the healthy table.
    pub healthy: &'static str,
    /// Marks days recorded under the site's minimum in the text part.
    pub below_minimum: &'static str,
    /// Footer: when the collector evaluated the fleet.
    pub evaluated_at: &'static str,
    /// Footer: who sent it.
    pub sent_by: &'static str,
    /// Footer of alerts.
    pub alert_footer: &'static str,
    /// Legend of the coverage strip.
    pub legend: &'static str,
    /// Start of an alert subject.
    pub alert_title: &'static str,
    /// Heading: new problems.
    pub new_problems: &'static str,
    /// Heading: recovered.
    pub recovered: &'static str,
    /// A value that is not known.
    pub none: &'static str,
}

const EN: Labels = Labels {
    title: "CCTV audit",
    site: "Site",
    technology: "Technology",
    oldest: "Oldest",
    newest: "Newest",
    status: "Status",
    days: "Days",
    last_30: "Last 30 days",
    problems: "Problems",
    healthy: "Recording normally",
    below_minimum: " — BELOW THE MINIMUM",
    evaluated_at: "Fleet state evaluated by the collector at",
    sent_by: "Sent by vigia-mailer. A day without this email means the mailer is broken, not that all is well.",
    alert_footer: "Sent by vigia-mailer when a site enters or leaves a condition that needs action; the daily digest lists every site.",
    legend: "green: day with recordings, red: day without",
    alert_title: "CCTV ALERT",
    new_problems: "New problems",
    recovered: "Recovered",
    none: "—",
};

const PT_BR: Labels = Labels {
    title: "Auditoria CFTV",
    site: "Local",
    technology: "Tecnologia",
    oldest: "Mais antiga",
    newest: "Mais recente",
    status: "Situação",
    days: "Dias",
    last_30: "Últimos 30 dias",
    problems: "Problemas",
    healthy: "Gravando normalmente",
    below_minimum: " — ABAIXO DO MÍNIMO",
    evaluated_at: "Situação avaliada pelo coletor em",
    sent_by: "Enviado pelo vigia-mailer. Um dia sem este e-mail significa que o envio falhou, não que está tudo bem.",
    alert_footer: "Enviado pelo vigia-mailer quando um local entra ou sai de uma situação que exige ação; o resumo diário lista todos os locais.",
    legend: "verde: dia com gravação, vermelho: dia sem gravação",
    alert_title: "ALERTA CFTV",
    new_problems: "Novos problemas",
    recovered: "Normalizados",
    none: "—",
};

/// The fixed words of a language.
pub fn labels(lang: Language) -> &'static Labels {
    match lang {
        Language::En => &EN,
        Language::PtBr => &PT_BR,
    }
}

/// A verdict kind's short name, as shown in the status column.
pub fn kind_label(lang: Language, kind: VerdictKind) -> &'static str {
    match (lang, kind) {
        (Language::En, VerdictKind::Ok) => "OK",
        (Language::En, VerdictKind::Late) => "Late",
        (Language::En, VerdictKind::ShortRetention) => "Short retention",
        (Language::En, VerdictKind::Gaps) => "Gaps",
        (Language::En, VerdictKind::CameraLate) => "Camera stopped",
        (Language::En, VerdictKind::DiskLow) => "Disk low",
        (Language::En, VerdictKind::ScanError) => "Scan error",
        (Language::En, VerdictKind::Silent) => "Silent",
        (Language::En, VerdictKind::NeverReported) => "Never reported",
        (Language::En, VerdictKind::ClockSkew) => "Clock skew",
        (Language::En, VerdictKind::Unspecified) => "Unknown",
        (Language::En, VerdictKind::CameraMissing) => "Camera missing",
        (Language::En, VerdictKind::RecorderSilent) => "Recorder silent",
        (Language::En, VerdictKind::NotWriting) => "Not writing",
        (Language::PtBr, VerdictKind::Ok) => "OK",
        (Language::PtBr, VerdictKind::Late) => "Atrasado",
        (Language::PtBr, VerdictKind::ShortRetention) => "Retenção curta",
        (Language::PtBr, VerdictKind::Gaps) => "Falhas",
        (Language::PtBr, VerdictKind::CameraLate) => "Câmera parada",
        (Language::PtBr, VerdictKind::DiskLow) => "Pouco disco",
        (Language::PtBr, VerdictKind::ScanError) => "Erro de leitura",
        (Language::PtBr, VerdictKind::Silent) => "Sem contato",
        (Language::PtBr, VerdictKind::NeverReported) => "Nunca reportou",
        (Language::PtBr, VerdictKind::ClockSkew) => "Relógio errado",
        (Language::PtBr, VerdictKind::Unspecified) => "Desconhecido",
        (Language::PtBr, VerdictKind::CameraMissing) => "Câmera sumiu",
        (Language::PtBr, VerdictKind::RecorderSilent) => "Gravador sem relatório",
        (Language::PtBr, VerdictKind::NotWriting) => "Sem vídeo",
    }
}

/// A recorder technology's name.
pub fn technology(lang: Language, t: Technology) -> &'static str {
    match (lang, t) {
        (_, Technology::Intelbras) => "Intelbras",
        (_, Technology::Digifort) => "Digifort",
        (_, Technology::Ivms) => "iVMS",
        (Language::En, Technology::Generic) => "Generic",
        (Language::PtBr, Technology::Generic) => "Genérico",
        (_, Technology::Unspecified) => "—",
    }
}

/// "3 problems, 42 sites" for the subject.
pub fn subject_counts(lang: Language, problems: usize, sites: usize) -> String {
    match lang {
        Language::En => format!(
            "{problems} problem{}, {sites} site{}",
            plural(problems),
            plural(sites)
        ),
        Language::PtBr => format!(
            "{problems} problema{}, {sites} loca{}",
            plural(problems),
            if sites == 1 { "l" } else { "is" }
        ),
    }
}

/// The subject's tail when the fleet could not be read.
pub fn subject_unreachable(lang: Language) -> &'static str {
    match lang {
        Language::En => "COLLECTOR UNREACHABLE",
        Language::PtBr => "COLETOR INACESSÍVEL",
    }
}

/// The one-line summary under the title. `by_kind` holds (kind, number of sites) by severity.
pub fn summary(
    lang: Language,
    problems: usize,
    sites: usize,
    by_kind: &[(VerdictKind, usize)],
) -> String {
    let parts: Vec<String> = by_kind
        .iter()
        .map(|(k, n)| format!("{} {n}", kind_label(lang, *k).to_lowercase()))
        .collect();
    match (lang, problems) {
        (Language::En, 0) => format!(
            "All {sites} site{} recording normally.",
            if sites == 1 { " is" } else { "s are" }
        ),
        (Language::PtBr, 0) => format!(
            "{} {sites} loca{} gravando normalmente.",
            if sites == 1 { "O" } else { "Todos os" },
            if sites == 1 { "l está" } else { "is estão" }
        ),
        (Language::En, p) => format!(
            "{p} of {sites} site{} need{} attention: {}.",
            plural(sites),
            if p == 1 { "s" } else { "" },
            parts.join(", ")
        ),
        (Language::PtBr, p) => format!(
            "{p} de {sites} loca{} precisa{} de atenção: {}.",
            if sites == 1 { "l" } else { "is" },
            if p == 1 { "" } else { "m" },
            parts.join(", ")
        ),
    }
}

/// The first line when the collector could not be read.
pub fn unreachable_line(
    lang: Language,
    url: &str,
    since: &str,
    last_ok: Option<&str>,
    error: &str,
) -> String {
    match lang {
        Language::En => format!(
            "The collector {url} is unreachable since {since}: the fleet could not be read, so this digest has no site rows.{} Error: {error}.",
            last_ok
                .map(|t| format!(" Last successful contact: {t}."))
                .unwrap_or_default()
        ),
        Language::PtBr => format!(
            "O coletor {url} está inacessível desde {since}: não foi possível ler a frota, por isso este resumo não traz os locais.{} Erro: {error}.",
            last_ok
                .map(|t| format!(" Último contato com sucesso: {t}."))
                .unwrap_or_default()
        ),
    }
}

/// "28 days recorded (minimum 30)" in the text part.
pub fn days_line(lang: Language, days: u32, min: u32) -> String {
    match lang {
        Language::En => format!("{days} day(s) recorded (minimum {min})"),
        Language::PtBr => format!("{days} dia(s) gravado(s) (mínimo {min})"),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
