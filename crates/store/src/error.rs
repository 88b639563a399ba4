//! Errors of the store.

use agentry_core::{ErrorCode, RunId};

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The entity does not exist.
    #[error("{what} {id} not found")]
    NotFound {
        /// Kind of entity (`agent`, `run`, `node`).
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// A fenced call carried an epoch that is no longer the run's.
    #[error("run {run_id} is at epoch {current}, not {given}: it was reassigned")]
    StaleEpoch {
        /// The run.
        run_id: RunId,
        /// Epoch the caller gave.
        given: u64,
        /// The run's epoch now.
        current: u64,
    },
    /// The entity's state forbids the change.
    #[error("{0}")]
    Conflict(String),
    /// The database failed or is unreachable.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations could not be applied.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be decoded (a bug or manual edit).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl Error {
    /// Returns the coarse error kind.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::StaleEpoch { .. } | Self::Conflict(_) => ErrorCode::FailedPrecondition,
            Self::Database(error) if is_connection_error(error) => ErrorCode::Unavailable,
            Self::Database(_) | Self::Migrate(_) | Self::Corrupt(_) => ErrorCode::Internal,
        }
    }

    /// Returns an equivalent error (same variant and code; a database error keeps only its
    /// text), for answering every request of a group that failed as a whole.
    pub(crate) fn duplicate(&self) -> Self {
        match self {
            Self::NotFound { what, id } => Self::NotFound { what, id: id.clone() },
            Self::StaleEpoch { run_id, given, current } => {
                Self::StaleEpoch { run_id: *run_id, given: *given, current: *current }
            }
            Self::Conflict(reason) => Self::Conflict(reason.clone()),
            Self::Corrupt(reason) => Self::Corrupt(reason.clone()),
            Self::Database(error) if is_connection_error(error) => {
                Self::Database(sqlx::Error::Io(std::io::Error::other(error.to_string())))
            }
            Self::Database(_) | Self::Migrate(_) => Self::Database(sqlx::Error::Protocol(self.to_string())),
        }
    }

    /// Returns whether retrying may succeed (the database was unreachable).
    pub fn is_retryable(&self) -> bool {
        self.code().is_retryable()
    }
}

fn is_connection_error(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed)
}

/// Result of store operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
