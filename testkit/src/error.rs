//! The harness's one error type.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Why a component could not be started, stopped or used.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A file or process operation failed.
    Io {
        /// What was being done.
        action: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// A program the harness needs is not installed.
    MissingProgram {
        /// Where it was looked for.
        path: PathBuf,
        /// What to install.
        hint: &'static str,
    },
    /// A helper program (initdb, psql, ...) exited unsuccessfully or did not finish in time.
    Command {
        /// The program and what it was asked to do.
        what: String,
        /// Exit status, or the timeout that ran out.
        outcome: String,
        /// What it printed on standard error.
        stderr: String,
    },
    /// The server did not become ready, or exited while starting.
    Startup {
        /// What went wrong.
        reason: String,
        /// The last lines of the server's log.
        log_tail: String,
    },
    /// The caller asked for something the harness refuses (for example an unsafe database name).
    InvalidArgument(String),
    /// Something awaited from a running peer (an event, a response, an exit) did not come in time.
    Timeout {
        /// What was awaited.
        what: String,
        /// How long it was awaited.
        waited: Duration,
        /// What the peer did meanwhile: the last lines of its log, the events it reported.
        context: String,
    },
    /// A peer answered, but refused or failed what it was asked to do.
    Refused {
        /// What was asked.
        what: String,
        /// The peer's answer.
        answer: String,
    },
    /// A file (a recording, a statistics file) does not have the expected format.
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(action: impl Into<String>, source: io::Error) -> Error {
        Error::Io { action: action.into(), source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { action, source } => write!(f, "{action}: {source}"),
            Error::MissingProgram { path, hint } => write!(f, "{} not found ({hint})", path.display()),
            Error::Command { what, outcome, stderr } => write!(f, "{what}: {outcome}\n{stderr}"),
            Error::Startup { reason, log_tail } => write!(f, "{reason}\n--- server log (tail) ---\n{log_tail}"),
            Error::InvalidArgument(reason) => f.write_str(reason),
            Error::Timeout { what, waited, context } => write!(f, "{what}: nothing within {waited:?}\n{context}"),
            Error::Refused { what, answer } => write!(f, "{what}: refused: {answer}"),
            Error::BadFile { path, reason } => write!(f, "{}: {reason}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
