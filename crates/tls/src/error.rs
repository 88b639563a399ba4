//! Errors of TLS set-up. Each names the file at fault, so that an operator knows what to fix.

use std::path::PathBuf;

/// Why a TLS configuration could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read (missing, unreadable) or written (`dev::generate`).
    #[error("{}: {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What failed, and what to do about it.
        reason: String,
    },
    /// A file was read but holds no usable PEM certificate or key, or a certificate and key
    /// that do not belong together.
    #[error("{}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The configuration as a whole is unusable (e.g. no CA certificates at all).
    #[error("TLS configuration: {0}")]
    Config(String),
}

impl TlsError {
    /// Returns a [`TlsError::Read`] of `path` from an I/O error.
    pub(crate) fn read(path: &std::path::Path, error: &std::io::Error) -> Self {
        Self::Read { path: path.to_owned(), reason: error.to_string() }
    }

    /// Returns a [`TlsError::Invalid`] of `path`.
    pub(crate) fn invalid(path: &std::path::Path, reason: impl Into<String>) -> Self {
        Self::Invalid { path: path.to_owned(), reason: reason.into() }
    }

    /// Returns the file at fault, if one is.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Self::Read { path, .. } | Self::Invalid { path, .. } => Some(path),
            Self::Config(_) => None,
        }
    }
}

/// Result of TLS set-up.
pub type Result<T, E = TlsError> = std::result::Result<T, E>;
