//! [`AuthError`]: why the hub's authentication could not be set up (at start, or when a
//! changed auth file or JWKS is reloaded).

use std::path::PathBuf;

/// A broken auth file, JWKS or authentication setting. Each message names the file or URL and
/// the offending key, and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A file could not be read.
    #[error("reading {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The auth file is not valid TOML of the expected shape (an unknown key, a wrong type);
    /// the reason has the line and column.
    #[error("invalid auth file {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// A value of the auth file is invalid.
    #[error("invalid auth file {path}: {key}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The offending key (`token[2].sha256`, `tenants.acme.max-agents`).
        key: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The JWT signing keys (`jwt-jwks`) could not be read, fetched or used.
    #[error("JWT keys {jwks} (hub.jwt-jwks): {reason}")]
    Jwks {
        /// The JWKS file path or URL.
        jwks: String,
        /// What failed.
        reason: String,
    },
    /// A hub setting is unusable for authentication.
    #[error("{key}: {reason}")]
    Config {
        /// The hub key (`jwt-jwks`).
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
}
