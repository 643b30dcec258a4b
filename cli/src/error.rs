//! The command's one error type: a user's mistake, reported as one message on
//! stderr with exit code 2. Every module of the command returns it; library
//! errors (`agent::LoadError`, `sim`'s diagnostics) and the plots' own
//! `PlotError` convert into it with their message unchanged, or with the place
//! the user wrote the value put in front.

use std::fmt;

/// A mistake in the user's input: reported as one message, exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserError {
    pub message: String,
    /// Output produced before the mistake was found (e.g. the files that
    /// passed `check`), printed on stdout before the error.
    pub partial_stdout: String,
    /// What kind of mistake: the command treats every kind alike (exit 2);
    /// the Python package raises a different exception for each.
    pub kind: ErrorKind,
}

/// The kinds of [`UserError`] a caller may want to tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorKind {
    /// A file, value or option the user gave is wrong.
    #[default]
    Input,
    /// The inputs are well formed, but the problem has no solution: no
    /// valid placement exists, or every partition method failed.
    Infeasible,
}

impl UserError {
    pub fn new(message: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            partial_stdout: String::new(),
            kind: ErrorKind::Input,
        }
    }

    /// A problem without a solution (see [`ErrorKind::Infeasible`]).
    pub fn infeasible(message: impl Into<String>) -> Self {
        UserError {
            kind: ErrorKind::Infeasible,
            ..UserError::new(message)
        }
    }

    /// The same error, with output to print before it.
    pub fn after(mut self, stdout: String) -> Self {
        self.partial_stdout = stdout;
        self
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}

impl From<agent::LoadError> for UserError {
    fn from(e: agent::LoadError) -> Self {
        UserError::new(e.to_string())
    }
}
