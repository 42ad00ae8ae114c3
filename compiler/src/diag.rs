//! Diagnostics: one error, where it happened, and what might help.

use std::fmt;
use std::path::{Path, PathBuf};

/// A user-facing error: `file:line:col: error: message`, then an optional hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file the error is about, if any.
    pub file: Option<PathBuf>,
    /// 1-based line and column in `file`, where known.
    pub pos: Option<(usize, usize)>,
    /// What went wrong.
    pub message: String,
    /// What could help, if we know.
    pub help: Option<String>,
    /// Whether the command line itself was wrong (exit code 2, not 1).
    pub usage: bool,
}

/// Result type of everything user input can make fail.
pub type Result<T> = std::result::Result<T, Diagnostic>;

impl Diagnostic {
    /// An error not tied to a file.
    pub fn new(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: None,
            pos: None,
            message: message.into(),
            help: None,
            usage: false,
        }
    }

    /// A usage error: the command line asks for something impossible.
    pub fn usage(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            usage: true,
            ..Diagnostic::new(message)
        }
    }

    /// An error about `file`.
    pub fn in_file(file: &Path, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: Some(file.to_path_buf()),
            ..Diagnostic::new(message)
        }
    }

    /// Attach a line and column.
    pub fn at(mut self, pos: Option<(usize, usize)>) -> Diagnostic {
        self.pos = pos;
        self
    }

    /// Attach a hint.
    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}:", file.display())?;
            if let Some((line, col)) = self.pos {
                write!(f, "{line}:{col}:")?;
            }
            f.write_str(" ")?;
        }
        write!(f, "error: {}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}
