//! Errors the command line expects, each mapped to an exit code.

use crate::cli::exit_codes;
use std::path::PathBuf;
use thiserror::Error;

/// An error that ends a command with a known exit code. Everything else
/// (an `anyhow::Error` without one of these inside) exits 1.
#[derive(Debug, Error)]
pub(crate) enum CliError {
    /// Bad input data or arguments: exit 2, nothing written (exit 1 for
    /// [`InputError::Storage`](crate::io::InputError::Storage)).
    #[error(transparent)]
    Input(#[from] crate::io::InputError),
    /// A numerical-core error caused by the arguments (bad basis, target).
    #[error(transparent)]
    Tomo(#[from] crate::tomo::TomoError),
    /// A usage error with a message.
    #[error("{0}")]
    Usage(String),
    /// A file given on the command line could not be read.
    #[error("{path}: {message}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
}

impl CliError {
    /// The exit code for this error: 2, except for an input that was fine
    /// but could not be held in memory (exit 1, like other I/O errors).
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CliError::Input(e) if e.is_storage() => exit_codes::FATAL,
            _ => exit_codes::USAGE,
        }
    }
}

/// Whether an OS error says that a path given on the command line cannot
/// be used as asked: a parent that is missing or not a directory, no
/// permission, a read-only file system. For an output this is a usage
/// mistake (exit 2), not a fault of the run.
pub(crate) fn is_unusable_path(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::NotFound
            | ErrorKind::NotADirectory
            | ErrorKind::PermissionDenied
            | ErrorKind::ReadOnlyFilesystem
    )
}

/// The error and its causes as one line, `outer: cause: cause`, like
/// anyhow's `{:#}`, but a cause whose text the line already holds (an OS
/// error that a message quotes and also carries as its source) is
/// printed once.
pub(crate) fn chain_text(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if part.is_empty() || text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_text_prints_a_quoted_cause_once() {
        let os = std::io::Error::from_raw_os_error(20);
        let quoted = format!("x.csv: cannot read: {os}");
        let err = anyhow::Error::new(os).context(quoted).context("reading");
        let text = chain_text(&err);
        assert_eq!(text.matches("os error 20").count(), 1, "{text}");
        assert!(text.starts_with("reading: x.csv: cannot read: "), "{text}");
    }

    #[test]
    fn unusable_paths_are_the_user_kinds() {
        assert!(is_unusable_path(&std::io::Error::from_raw_os_error(20)));
        assert!(is_unusable_path(&std::io::Error::from_raw_os_error(13)));
        assert!(is_unusable_path(&std::io::Error::from_raw_os_error(30)));
        assert!(!is_unusable_path(&std::io::Error::from_raw_os_error(5)));
        assert!(!is_unusable_path(&std::io::Error::from_raw_os_error(28)));
    }
}
