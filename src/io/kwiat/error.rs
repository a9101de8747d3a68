//! [`KwiatError`]: why a Kwiat JSON data file, a batch of them or a Kwiat
//! TOML options file could not be read.
//!
//! Every error names the file; a `.jsonl` batch adds the 1-based line
//! (`batch.jsonl:3`); errors about one field add its path in the JSON
//! document (`data[4].counts[2]`), what was expected and what was found.

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// `path` or `path:line` (a `.jsonl` line, or where a syntax error is).
struct Site<'a> {
    path: &'a Path,
    line: Option<u64>,
    column: Option<u64>,
}

impl fmt::Display for Site<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        Ok(())
    }
}

fn site(path: &Path, line: Option<u64>) -> Site<'_> {
    Site {
        path,
        line,
        column: None,
    }
}

/// Why a Kwiat input (data file, batch, options file) could not be used.
///
/// Nothing is ever written when one of these is returned.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KwiatError {
    /// The file or directory could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// The text is not JSON (or not TOML, for an options file).
    #[error("{}: {what}: {message}", Site { path, line: *line, column: *column })]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem, when known.
        line: Option<u64>,
        /// 1-based column of the problem, when known.
        column: Option<u64>,
        /// `"not valid JSON"`, `"not valid TOML"`.
        what: &'static str,
        /// The parser's message.
        message: String,
    },

    /// A field is missing or holds the wrong thing.
    #[error("{}: {field}: expected {expected}, found {found}", site(path, *line))]
    Field {
        /// The file.
        path: PathBuf,
        /// The 1-based line of the sample in a `.jsonl` batch.
        line: Option<u64>,
        /// The field's path in the document, e.g. `data[4].counts[2]`.
        field: String,
        /// What the field should hold.
        expected: String,
        /// What it holds (`nothing` when missing).
        found: String,
    },

    /// A sample of a batch does not have the measurement rows of the
    /// batch's first sample.
    #[error(
        "{}: {detail}; every sample of a batch must have the measurements of the first ({first})",
        site(path, *line)
    )]
    Mismatch {
        /// The file of the differing sample.
        path: PathBuf,
        /// Its 1-based line in a `.jsonl` batch.
        line: Option<u64>,
        /// What differs.
        detail: String,
        /// Where the first sample is (`a.json`, `batch.jsonl:1`).
        first: String,
    },

    /// The file is fine as JSON but its measurements cannot be used as
    /// Kwiat's package uses them (a state without an orthogonal partner
    /// with two detectors per qubit, an incomplete setting, accidental
    /// correction for one qubit, ...).
    #[error("{}: {detail}", site(path, *line))]
    Semantics {
        /// The file.
        path: PathBuf,
        /// The 1-based line of the sample in a `.jsonl` batch.
        line: Option<u64>,
        /// What is wrong and what was expected.
        detail: String,
    },

    /// A sample of a batch whose crosstalk differs from the first
    /// sample's: the crosstalk is the run's (scales and accidentals may
    /// differ per sample).
    #[error(
        "{}: {detail}; the crosstalk is shared by a run (row scales and accidentals may differ per sample, crosstalk may not), so every sample of a batch must have the same one (run such samples as separate batches)",
        site(path, *line)
    )]
    NeedsModel {
        /// The sample's file.
        path: PathBuf,
        /// Its 1-based line in a `.jsonl` batch.
        line: Option<u64>,
        /// What differs from the first sample.
        detail: String,
    },

    /// A batch holds no samples (an empty `.jsonl` file, a directory
    /// without `.json` files).
    #[error("{}: no samples: expected {what}", path.display())]
    NoSamples {
        /// The file or directory.
        path: PathBuf,
        /// What a sample looks like here.
        what: &'static str,
    },

    /// An option of the TOML options file has a value qtomo cannot use.
    #[error("{}: option '{key}': expected {expected}, found {found}", path.display())]
    Option {
        /// The options file.
        path: PathBuf,
        /// The option's name.
        key: String,
        /// What the option should hold.
        expected: String,
        /// What it holds.
        found: String,
    },
}

#[cfg(test)]
impl KwiatError {
    /// The file (or directory) the error is about.
    pub fn path(&self) -> &Path {
        match self {
            KwiatError::Io { path, .. }
            | KwiatError::Syntax { path, .. }
            | KwiatError::Field { path, .. }
            | KwiatError::Mismatch { path, .. }
            | KwiatError::Semantics { path, .. }
            | KwiatError::NeedsModel { path, .. }
            | KwiatError::NoSamples { path, .. }
            | KwiatError::Option { path, .. } => path,
        }
    }
}

/// Where in a batch a sample came from, for errors: its file and, in a
/// `.jsonl` batch, its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file.
    pub path: PathBuf,
    /// The 1-based line in a `.jsonl` batch.
    pub line: Option<u64>,
}

impl Origin {
    /// A field error at this origin.
    pub(crate) fn field(
        &self,
        field: impl Into<String>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> KwiatError {
        KwiatError::Field {
            path: self.path.clone(),
            line: self.line,
            field: field.into(),
            expected: expected.into(),
            found: found.into(),
        }
    }

    /// A semantic error at this origin.
    pub(crate) fn semantics(&self, detail: impl Into<String>) -> KwiatError {
        KwiatError::Semantics {
            path: self.path.clone(),
            line: self.line,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        site(&self.path, self.line).fmt(f)
    }
}
