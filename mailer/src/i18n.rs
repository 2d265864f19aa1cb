//! The email's own words in each language: headings, column names, the subject and summary
//! lines. Findings are never worded here: their sentences and kind labels come from
//! `vigia::wording`, the one place that words a verdict for grpcurl, the email and the alerts.

use vigia::pb::{Technology, VerdictKind};
use vigia::wording::{kind_label, Language};

/// Fixed words of the digest and alerts.
#[derive(Debug)]
pub struct Labels {
    /// Default start of the subject.
    pub title: &'static str,
    /// Column: site.
    pub site: &'static str,
    /// Column: recorder.
    pub recorder: &'static str,
    /// Column: camera.
    pub camera: &'static str,
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
    /// Column: minimum days.
    pub minimum: &'static str,
    /// Column: the finding's sentence.
    pub finding: &'static str,
    /// Column: new or open since.
    pub change: &'static str,
    /// Column: the site's note.
    pub note: &'static str,
    /// Heading of the problem sites.
    pub problems: &'static str,
    /// Heading of the problem sites listed without detail.
    pub more_problems: &'static str,
    /// Heading of the healthy sites.
    pub healthy: &'static str,
    /// Heading of the acknowledged findings.
    pub acknowledged: &'static str,
    /// Heading of the sites recovered since the previous digest.
    pub recovered_since: &'static str,
    /// Marks a finding that the previous digest did not have.
    pub new_mark: &'static str,
    /// Before the day a finding was first shown.
    pub open_since: &'static str,
    /// Before the findings of a site that cleared since the previous digest.
    pub cleared: &'static str,
    /// Before who acknowledged.
    pub acknowledged_by: &'static str,
    /// Before the acknowledgement's end.
    pub until: &'static str,
    /// Label of a recorder's strip.
    pub last_30: &'static str,
    /// Marks days recorded under the site's minimum in the text part.
    pub below_minimum: &'static str,
    /// Footer: when the collector evaluated the fleet.
    pub evaluated_at: &'static str,
    /// Footer: who sent it.
    pub sent_by: &'static str,
    /// Footer of alerts.
    pub alert_footer: &'static str,
    /// Legend of the coverage strips.
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
    recorder: "Recorder",
    camera: "Camera",
    technology: "Technology",
    oldest: "Oldest",
    newest: "Newest",
    status: "Status",
    days: "Days",
    minimum: "Minimum days",
    finding: "Finding",
    change: "Since the last digest",
    note: "Note",
    problems: "Problems",
    more_problems: "More problem sites (details in the attached report)",
    healthy: "Recording normally",
    acknowledged: "Acknowledged",
    recovered_since: "Recovered since the last digest",
    new_mark: "new",
    open_since: "still open since",
    cleared: "recovered since the last digest",
    acknowledged_by: "acknowledged by",
    until: "until",
    last_30: "last 30 days",
    below_minimum: " — BELOW THE MINIMUM",
    evaluated_at: "Fleet state evaluated by the collector at",
    sent_by: "Sent by vigia-mailer. A day without this email means the mailer is broken, not that all is well.",
    alert_footer: "Sent by vigia-mailer when a site enters or leaves a condition that needs action; the daily digest lists every site.",
    legend: "Strips: green = a day with recordings, red ✕ = a day without; a white notch starts each week (Monday).",
    alert_title: "CCTV ALERT",
    new_problems: "New problems",
    recovered: "Recovered",
    none: "—",
};

const PT_BR: Labels = Labels {
    title: "Auditoria CFTV",
    site: "Local",
    recorder: "Gravador",
    camera: "Câmera",
    technology: "Tecnologia",
    oldest: "Mais antiga",
    newest: "Mais recente",
    status: "Situação",
    days: "Dias",
    minimum: "Mínimo de dias",
    finding: "Constatação",
    change: "Desde o último resumo",
    note: "Observação",
    problems: "Problemas",
    more_problems: "Outros locais com problema (detalhes no relatório anexo)",
    healthy: "Gravando normalmente",
    acknowledged: "Reconhecidos",
    recovered_since: "Normalizados desde o último resumo",
    new_mark: "novo",
    open_since: "ainda aberto desde",
    cleared: "normalizado desde o último resumo",
    acknowledged_by: "reconhecido por",
    until: "até",
    last_30: "últimos 30 dias",
    below_minimum: " — ABAIXO DO MÍNIMO",
    evaluated_at: "Situação avaliada pelo coletor em",
    sent_by: "Enviado pelo vigia-mailer. Um dia sem este e-mail significa que o envio falhou, não que está tudo bem.",
    alert_footer: "Enviado pelo vigia-mailer quando um local entra ou sai de uma situação que exige ação; o resumo diário lista todos os locais.",
    legend: "Faixas: verde = dia com gravação, vermelho ✕ = dia sem gravação; um corte branco abre cada semana (segunda-feira).",
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

/// "3 problems (1 new), 42 sites" for the subject; `changes` is (problem sites with a new
/// finding, sites recovered) when a previous digest is known.
pub fn subject_counts(
    lang: Language,
    problems: usize,
    sites: usize,
    changes: Option<&(usize, usize)>,
) -> String {
    let change = match changes {
        None => String::new(),
        Some(&(new, recovered)) => {
            let mut parts = Vec::new();
            match lang {
                Language::En => {
                    if new > 0 {
                        parts.push(format!("{new} new"));
                    }
                    if recovered > 0 {
                        parts.push(format!("{recovered} recovered"));
                    }
                    if parts.is_empty() && problems > 0 {
                        parts.push("none new".into());
                    }
                }
                Language::PtBr => {
                    if new > 0 {
                        parts.push(format!("{new} novo{}", plural(new)));
                    }
                    if recovered > 0 {
                        parts.push(format!("{recovered} normalizado{}", plural(recovered)));
                    }
                    if parts.is_empty() && problems > 0 {
                        parts.push("nenhum novo".into());
                    }
                }
            }
            if parts.is_empty() {
                String::new()
            } else {
                format!(" ({})", parts.join(", "))
            }
        }
    };
    match lang {
        Language::En => format!(
            "{problems} problem{}{change}, {sites} site{}",
            plural(problems),
            plural(sites)
        ),
        Language::PtBr => format!(
            "{problems} problema{}{change}, {sites} loca{}",
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

/// The one-line summary under the title. `by_kind` holds (kind, number of sites) by severity;
/// `acked_only` counts the sites whose findings are all acknowledged.
pub fn summary(
    lang: Language,
    problems: usize,
    sites: usize,
    by_kind: &[(VerdictKind, usize)],
    acked_only: usize,
) -> String {
    let parts: Vec<String> = by_kind
        .iter()
        .map(|(k, n)| format!("{} {n}", kind_label(lang, *k).to_lowercase()))
        .collect();
    let mut out = match (lang, problems) {
        (Language::En, 0) if acked_only == 0 => format!(
            "All {sites} site{} recording normally.",
            if sites == 1 { " is" } else { "s are" }
        ),
        (Language::PtBr, 0) if acked_only == 0 => format!(
            "{} {sites} loca{} gravando normalmente.",
            if sites == 1 { "O" } else { "Todos os" },
            if sites == 1 { "l está" } else { "is estão" }
        ),
        (Language::En, 0) => format!("No open problem at {sites} site{}.", plural(sites)),
        (Language::PtBr, 0) => format!(
            "Nenhum problema em aberto nos {sites} loca{}.",
            if sites == 1 { "l" } else { "is" }
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
    };
    if acked_only > 0 {
        out.push(' ');
        out.push_str(&match lang {
            Language::En => format!(
                "{acked_only} site{} with acknowledged findings only.",
                plural(acked_only)
            ),
            Language::PtBr => format!(
                "{acked_only} loca{} só com constatações reconhecidas.",
                if acked_only == 1 { "l" } else { "is" }
            ),
        });
    }
    out
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

/// "28 days recorded (minimum 30)".
pub fn days_line(lang: Language, days: u32, min: u32) -> String {
    match lang {
        Language::En => format!("{days} day(s) recorded (minimum {min})"),
        Language::PtBr => format!("{days} dia(s) gravado(s) (mínimo {min})"),
    }
}

/// "45 days" in a recorder's figures.
pub fn days_short(lang: Language, days: u32) -> String {
    match lang {
        Language::En => format!("{days} day{}", plural(days as usize)),
        Language::PtBr => format!("{days} dia{}", plural(days as usize)),
    }
}

/// The label above a camera's strip.
pub fn camera_strip(lang: Language, camera: &str) -> String {
    match lang {
        Language::En => format!("camera {camera}, last 30 days"),
        Language::PtBr => format!("câmera {camera}, últimos 30 dias"),
    }
}

/// What a strip says to a screen reader: "27 of 30 days recorded".
pub fn strip_summary(lang: Language, recorded: usize, days: usize) -> String {
    match lang {
        Language::En => format!("{recorded} of {days} days recorded"),
        Language::PtBr => format!("{recorded} de {days} dias com gravação"),
    }
}

/// "and 120 more" at the end of a shortened list.
pub fn and_more(lang: Language, n: usize) -> String {
    match lang {
        Language::En => format!("and {n} more"),
        Language::PtBr => format!("e mais {n}"),
    }
}

/// Says that the body is a summary and where the rest is.
pub fn attached_notice(lang: Language, sites: usize) -> String {
    match lang {
        Language::En => format!(
            "This email is a summary, so that mail programs show it whole: the complete report of the {sites} site{} is attached (HTML, and CSV for Excel).",
            plural(sites)
        ),
        Language::PtBr => format!(
            "Este e-mail é um resumo, para que os programas de e-mail o mostrem inteiro: o relatório completo dos {sites} loca{} está anexo (HTML e CSV para Excel).",
            if sites == 1 { "l" } else { "is" }
        ),
    }
}

/// What of the complete report went with a summarised digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attached {
    /// The report as HTML and as CSV.
    Both,
    /// Only its CSV table: the HTML was over the attachment cap.
    CsvOnly,
    /// Nothing: even the CSV was over the cap (or the cap is 0).
    Nothing,
}

/// A size for people: "10.5 MB" / "10,5 MB" (decimal megabytes, as mail relays state limits).
fn megabytes(lang: Language, bytes: usize) -> String {
    let tenths = (bytes as u64 * 10).div_ceil(1_000_000);
    let (whole, tenth) = (tenths / 10, tenths % 10);
    match lang {
        Language::En => format!("{whole}.{tenth} MB"),
        Language::PtBr => format!("{whole},{tenth} MB"),
    }
}

/// Says that the body is a summary and what of the complete report is attached; when not all
/// of it, why (the `cap` of `digest.attachment_max_bytes`) and the command (`how`) that writes it
/// on the mailer's machine. Both languages state the same facts.
pub fn report_notice(
    lang: Language,
    sites: usize,
    attached: Attached,
    cap: usize,
    how: &str,
) -> String {
    if attached == Attached::Both {
        return attached_notice(lang, sites);
    }
    let cap_text = megabytes(lang, cap);
    match (lang, attached, cap) {
        (Language::En, _, 0) => format!(
            "This email is a summary, so that mail programs show it whole. The complete report of the {sites} site{} is not attached: attachments are turned off. To get it, run this on the mailer's machine (it writes the report into the same folder): {how}",
            plural(sites)
        ),
        (Language::En, Attached::CsvOnly, _) => format!(
            "This email is a summary, so that mail programs show it whole. The complete report of the {sites} site{} is too large to attach (the limit is {cap_text}): only its table is attached, as CSV for Excel. To get the complete report, run this on the mailer's machine (it writes the report into the same folder): {how}",
            plural(sites)
        ),
        (Language::En, _, _) => format!(
            "This email is a summary, so that mail programs show it whole. The complete report of the {sites} site{} is too large to attach, even as a CSV table (the limit is {cap_text}). To get it, run this on the mailer's machine (it writes the report into the same folder): {how}",
            plural(sites)
        ),
        (Language::PtBr, _, 0) => format!(
            "Este e-mail é um resumo, para que os programas de e-mail o mostrem inteiro. O relatório completo dos {sites} loca{} não vai anexo: os anexos estão desligados. Para obtê-lo, execute isto na máquina do mailer (o relatório é gravado na mesma pasta): {how}",
            if sites == 1 { "l" } else { "is" }
        ),
        (Language::PtBr, Attached::CsvOnly, _) => format!(
            "Este e-mail é um resumo, para que os programas de e-mail o mostrem inteiro. O relatório completo dos {sites} loca{} é grande demais para ir anexo (o limite é {cap_text}): só a tabela vai anexa, em CSV para Excel. Para obter o relatório completo, execute isto na máquina do mailer (o relatório é gravado na mesma pasta): {how}",
            if sites == 1 { "l" } else { "is" }
        ),
        (Language::PtBr, _, _) => format!(
            "Este e-mail é um resumo, para que os programas de e-mail o mostrem inteiro. O relatório completo dos {sites} loca{} é grande demais para ir anexo, mesmo como tabela CSV (o limite é {cap_text}). Para obtê-lo, execute isto na máquina do mailer (o relatório é gravado na mesma pasta): {how}",
            if sites == 1 { "l" } else { "is" }
        ),
    }
}

/// The start of the attachments' file names.
pub fn report_file_stem(lang: Language) -> &'static str {
    match lang {
        Language::En => "cctv-audit",
        Language::PtBr => "auditoria-cftv",
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
