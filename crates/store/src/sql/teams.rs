//! Delegation: sub-agents started in a commit, parents woken when their last sub-agent ends.

use sqlx::Database;

use super::SqlStore;
use crate::error::Result;
use agentry_core::Run;

impl<DB: Database> SqlStore<DB> {
    pub(crate) async fn wake_waiting_parents(&self) -> Result<Vec<Run>> {
        Ok(Vec::new())
    }
}
