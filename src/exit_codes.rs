//! The exit statuses of the three programs and the demo, in one place (fd's `exit_codes.rs` is
//! the model), so a script or a service manager reads the same number for the same outcome
//! whichever program it ran: 0 done, 1 something failed at run time (or `check-config` found a
//! problem), 2 the configuration does not load, 130 a second interrupt while draining.

use std::fmt::Display;

/// How a program ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Done as asked.
    Success,
    /// Failed at run time: an error, a problem `check-config` found, a status left in the spool.
    GeneralError,
    /// The configuration (file, `VIGIA_*` variables, or a flag naming a value) does not load.
    ConfigError,
    /// A second Ctrl-C or SIGTERM arrived while draining: stopped without waiting.
    Interrupted,
}

impl ExitCode {
    /// The number the operating system reports.
    pub fn code(self) -> u8 {
        match self {
            ExitCode::Success => 0,
            ExitCode::GeneralError => 1,
            ExitCode::ConfigError => 2,
            ExitCode::Interrupted => 130,
        }
    }

    /// True for every outcome but success.
    pub fn is_error(self) -> bool {
        self != ExitCode::Success
    }

    /// Ends the process now with this status (for a signal handler; `main` returns instead).
    pub fn exit(self) -> ! {
        std::process::exit(i32::from(self.code()))
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.code())
    }
}

impl From<ExitCode> for i32 {
    fn from(code: ExitCode) -> Self {
        i32::from(code.code())
    }
}

/// Says `invalid configuration: …` (on stderr, and in the log file when there is one) and
/// gives the status that goes with it: the one way each program ends on a bad configuration.
pub fn invalid_configuration(error: &dyn Display) -> ExitCode {
    crate::say::say_error(&format!("invalid configuration: {error}"));
    ExitCode::ConfigError
}

/// Says `error: …` the same way and gives [`ExitCode::GeneralError`].
pub fn failed(error: &dyn Display) -> ExitCode {
    crate::say::say_error(&format!("error: {error}"));
    ExitCode::GeneralError
}

#[cfg(test)]
mod tests {
    use super::ExitCode;

    #[test]
    fn the_numbers_scripts_rely_on() {
        assert_eq!(ExitCode::Success.code(), 0);
        assert_eq!(ExitCode::GeneralError.code(), 1);
        assert_eq!(ExitCode::ConfigError.code(), 2);
        assert_eq!(ExitCode::Interrupted.code(), 130);
        assert!(!ExitCode::Success.is_error());
        assert!(ExitCode::ConfigError.is_error());
        assert_eq!(i32::from(ExitCode::ConfigError), 2);
    }
}
