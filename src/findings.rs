//! What every `check-config` reports, the same way in the three programs: `ok:` and `warning:`
//! lines on stdout, `error:` lines on stderr, a closing line, and exit 1 when anything would fail
//! at run time. A technician on site reads one format whichever program they are setting up.
//!
//! Each cause is said once because each program checks it once — a step that needs what an
//! earlier check refused is skipped, not run to fail again — not because lines of the same text
//! are merged here: merging by text would hide a check made twice, and print both when the two
//! texts differ by a word.

use std::path::Path;
use std::process::ExitCode;

use crate::tls_check::{CertFacts, CertProblem};

/// A certificate with fewer days left than this is a warning: renew it before it stops the
/// program.
pub const RENEW_DAYS: i64 = 30;

/// The findings of one check-config: lines to print, and the problems that make it fail.
#[derive(Debug, Default)]
pub struct Findings {
    /// What was found, in order (`ok: …`, `warning: …`, `error: …`).
    pub lines: Vec<String>,
    /// What would fail at run time.
    pub problems: Vec<String>,
}

impl Findings {
    /// Something checked and in order.
    pub fn ok(&mut self, line: impl Into<String>) {
        self.lines.push(format!("ok: {}", line.into()));
    }

    /// Something that works today but needs attention.
    pub fn warn(&mut self, line: impl Into<String>) {
        self.lines.push(format!("warning: {}", line.into()));
    }

    /// Something that would fail at run time.
    pub fn problem(&mut self, line: impl Into<String>) {
        let line = line.into();
        self.lines.push(format!("error: {line}"));
        self.problems.push(line);
    }

    /// A certificate check's outcome: ok with its days left, a warning with `renew` (the
    /// command that makes a new one, written from what the certificate says, e.g. its
    /// holder's name) near its end, or the problem prefixed with `key`.
    pub fn certificate(
        &mut self,
        cert: &Path,
        key: &str,
        renew: impl FnOnce(&CertFacts) -> String,
        result: Result<CertFacts, CertProblem>,
    ) -> Option<CertFacts> {
        match result {
            Ok(facts) if facts.days_left < RENEW_DAYS => {
                self.warn(format!(
                    "{}: renew it soon ({})",
                    facts.summary(cert),
                    renew(&facts)
                ));
                Some(facts)
            }
            Ok(facts) => {
                self.ok(facts.summary(cert));
                Some(facts)
            }
            Err(e) => {
                self.problem(format!("key `{key}`: {e}"));
                None
            }
        }
    }

    /// Prints the lines and the closing line; 0 when nothing would fail, 1 otherwise.
    /// `program` names what would not work ("the probe").
    pub fn finish(&self, program: &str) -> ExitCode {
        for line in &self.lines {
            if line.starts_with("error: ") {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
        }
        if self.problems.is_empty() {
            println!("check-config: everything `run` needs is in place");
            crate::exit_codes::ExitCode::Success.into()
        } else {
            eprintln!(
                "check-config: {} problem(s); {program} would not work as configured",
                self.problems.len()
            );
            crate::exit_codes::ExitCode::GeneralError.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Findings;

    #[test]
    fn every_finding_is_one_line_in_order() {
        let mut f = Findings::default();
        f.ok("a");
        f.problem("the password file is missing");
        f.warn("b");
        f.problem("the CA file is missing");
        assert_eq!(
            f.problems,
            ["the password file is missing", "the CA file is missing"]
        );
        assert_eq!(
            f.lines,
            [
                "ok: a",
                "error: the password file is missing",
                "warning: b",
                "error: the CA file is missing"
            ]
        );
    }
}
