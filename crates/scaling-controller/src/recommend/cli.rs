//! `sextant-controller recommend`: a snapshot on stdin, a decision on stdout, and the exit codes
//! of the contract. Kept here, behind readers and writers, so tests can drive it without a
//! process.

use std::io::{Read, Write};
use std::process::ExitCode;

use jiff::Timestamp;

use crate::{Error, Result};

use super::{Snapshot, recommend};

/// How `recommend` ended, which becomes the process's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// A decision was printed (exit 0).
    Decided,
    /// The snapshot was read but is invalid or cannot be decided; `{"error": …}` was printed on
    /// stdout (exit 1).
    Undecidable,
    /// The input is not a snapshot (not JSON, or the wrong shape); a message went to stderr
    /// (exit 2).
    Malformed,
}

impl Exit {
    /// The numeric exit status.
    pub fn code(self) -> u8 {
        match self {
            Exit::Decided => 0,
            Exit::Undecidable => 1,
            Exit::Malformed => 2,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// Reads one snapshot from `input`, decides, and writes the decision (or `{"error": …}`) to
/// `stdout`; malformed input is reported on `stderr`. A snapshot without `now` is decided at
/// the current time.
pub fn run(input: &mut dyn Read, stdout: &mut dyn Write, stderr: &mut dyn Write) -> Exit {
    let mut text = String::new();
    if let Err(err) = input.read_to_string(&mut text) {
        return report_malformed(stderr, &Error::Read(err));
    }
    match decide(&text) {
        Ok(json) => match writeln!(stdout, "{json}") {
            Ok(()) => Exit::Decided,
            Err(err) => report_write_failure(stderr, err),
        },
        Err(err @ (Error::Malformed(_) | Error::Read(_))) => report_malformed(stderr, &err),
        Err(err) => {
            let body = serde_json::json!({ "error": err.to_string() });
            match writeln!(stdout, "{body}") {
                Ok(()) => Exit::Undecidable,
                Err(err) => report_write_failure(stderr, err),
            }
        }
    }
}

/// The decision for `text` as a JSON line.
fn decide(text: &str) -> Result<String> {
    let snapshot = Snapshot::from_json(text, Timestamp::now())?;
    let decision = recommend(&snapshot)?;
    serde_json::to_string(&decision).map_err(|err| Error::Write(std::io::Error::other(err)))
}

/// Stdout is gone, so no JSON can be printed: say so on stderr and exit 1.
fn report_write_failure(stderr: &mut dyn Write, err: std::io::Error) -> Exit {
    let _ = writeln!(
        stderr,
        "sextant-controller recommend: {}",
        Error::Write(err)
    );
    Exit::Undecidable
}

fn report_malformed(stderr: &mut dyn Write, err: &Error) -> Exit {
    // If stderr is gone too, the exit status is all that is left to tell.
    let _ = writeln!(stderr, "sextant-controller recommend: {err}");
    Exit::Malformed
}
