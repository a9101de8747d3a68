//! Errors the command line expects, each mapped to an exit code.

use crate::cli::exit_codes;
use std::path::PathBuf;
use thiserror::Error;

/// An error that ends a command with a known exit code. Everything else
/// (an `anyhow::Error` without one of these inside) exits 1.
#[derive(Debug, Error)]
pub enum CliError {
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
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Input(e) if e.is_storage() => exit_codes::FATAL,
            _ => exit_codes::USAGE,
        }
    }
}
